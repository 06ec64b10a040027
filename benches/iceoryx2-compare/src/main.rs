//! iceoryx2's publish-subscribe ping-pong beside shmkit's SPSC queue and the
//! bare cache-line ping-pong (the hardware limit), measured in the same run, with the same
//! message sizes, iteration counts and CPU pinning as `shmkit bench`.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --manifest-path benches/iceoryx2-compare/Cargo.toml
//! cargo run --release --manifest-path benches/iceoryx2-compare/Cargo.toml -- --quick
//! ```
//!
//! The second process is this program, re-executed with `--peer`. Each
//! round measures, per size: bare, iceoryx2, shmkit queue by copy, shmkit
//! queue zero-copy (see `shq`), bare; the two bare runs are the
//! round's probe, and a round where they differ by more than 30% is dropped
//! (the VM moved its vCPUs meanwhile). Ratios are taken within a round and
//! the table shows medians over the kept rounds.
//!
//! iceoryx2 runs as its own benchmark does (`benchmarks/publish-subscribe`
//! in its repository): `ipc::Service`, one publisher and one subscriber per
//! direction, history 0, buffer 1, safe overflow, busy-spinning on
//! `receive`. Each side writes the whole payload into its loaned sample
//! (`write_from_slice`), and the answering side copies the message it got
//! into its answer, as the pipe and socket peers of `shmkit bench` do.

use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use iceoryx2::prelude::*;
use shmkit::Segment;

type Error = Box<dyn std::error::Error>;
type Result<T> = std::result::Result<T, Error>;

/// The sizes, counts and tolerance, the defaults of `shmkit bench`.
struct Settings {
    sizes: Vec<usize>,
    iters: usize,
    rounds: usize,
    tolerance: f64,
}

fn usage() -> ! {
    eprintln!("usage: iceoryx2-compare [--quick] [--rounds N] [--iters N] [--sizes 64,4096,65536]");
    std::process::exit(2)
}

fn parse_args(args: &[String]) -> Settings {
    let mut s = Settings {
        sizes: vec![64, 4096, 65536],
        iters: 5000,
        rounds: 10,
        tolerance: 0.3,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_else(|| usage());
        match a.as_str() {
            "--quick" => {
                s.iters = 200;
                s.rounds = 3;
                s.sizes = vec![64, 4096];
            }
            "--rounds" => s.rounds = value().parse().unwrap_or_else(|_| usage()),
            "--iters" => s.iters = value().parse().unwrap_or_else(|_| usage()),
            "--sizes" => {
                s.sizes = value()
                    .split(',')
                    .map(|n| n.trim().parse().unwrap_or_else(|_| usage()))
                    .collect()
            }
            _ => usage(),
        }
    }
    if s.sizes.contains(&0) || s.rounds == 0 || s.iters == 0 {
        usage();
    }
    s
}

/// The two CPUs, as `shmkit bench` chooses them: the last two this process
/// may use (CPU 0 takes most interrupts).
fn choose_cpus() -> Option<(usize, usize)> {
    let set = rustix::thread::sched_getaffinity(None).ok()?;
    let allowed: Vec<usize> = (0..rustix::thread::CpuSet::MAX_CPU)
        .filter(|&c| set.is_set(c))
        .collect();
    (allowed.len() >= 2).then(|| (allowed[allowed.len() - 2], allowed[allowed.len() - 1]))
}

fn pin(cpu: usize) -> Result<()> {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    rustix::thread::sched_setaffinity(None, &set)
        .map_err(|e| format!("pinning to CPU {cpu}: {e}").into())
}

fn spawn_peer(cpu: usize, kind: &str, size: usize, name: &str) -> Result<Child> {
    Ok(Command::new(std::env::current_exe()?)
        .args(["--peer", kind, &size.to_string(), &cpu.to_string(), name])
        .spawn()?)
}

fn reap(mut child: Child) -> Result<()> {
    let status = child.wait()?;
    if !status.success() {
        return Err(format!("peer failed: {status}").into());
    }
    Ok(())
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds")
}

/// Times `iters` round trips of `f` after `iters / 10` unrecorded ones.
fn timed(iters: usize, mut f: impl FnMut() -> Result<()>) -> Result<Histogram<u64>> {
    for _ in 0..(iters / 10).max(10) {
        f()?;
    }
    let mut hist = new_hist();
    for _ in 0..iters {
        let t = Instant::now();
        f()?;
        hist.saturating_record((t.elapsed().as_nanos() as u64).max(1));
    }
    Ok(hist)
}

// ---- the bare cache-line ping-pong (as `shmkit bench`'s bare-cache-line) ----

const STOP: u32 = u32::MAX;

fn word(seg: &Segment) -> &AtomicU32 {
    assert!(seg.len() >= 64 && (seg.as_ptr() as usize).is_multiple_of(64));
    // SAFETY:
    // - the mapping is at least 64 bytes and lives as long as `seg`, which
    //   bounds the borrow;
    // - it is page aligned, so aligned for `AtomicU32`;
    // - both processes access these bytes only atomically.
    unsafe { AtomicU32::from_ptr(seg.as_mut_ptr().cast()) }
}

fn bare(cpu: usize, iters: usize, n: usize) -> Result<Histogram<u64>> {
    let name = format!("i2c-{}-{n}", std::process::id());
    let seg = Segment::create(&name, 4096)?;
    let child = spawn_peer(cpu, "bare", 0, &name)?;
    let w = word(&seg);
    let mut seq = 0u32;
    let hist = timed(iters, || {
        let ping = seq + 1;
        w.store(ping, Ordering::Release);
        while w.load(Ordering::Acquire) != ping + 1 {
            std::hint::spin_loop();
        }
        seq = ping + 1;
        Ok(())
    })?;
    w.store(STOP, Ordering::Release);
    reap(child)?;
    Ok(hist)
}

fn bare_peer(name: &str) -> Result<()> {
    let seg = Segment::open(name)?;
    let w = word(&seg);
    let mut ping = 1u32;
    loop {
        let v = w.load(Ordering::Acquire);
        if v == ping {
            w.store(ping + 1, Ordering::Release);
            ping += 2;
        } else if v == STOP {
            return Ok(());
        } else {
            std::hint::spin_loop();
        }
    }
}

// ---- iceoryx2 publish-subscribe ping-pong ----

type Port = iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, [u8], ()>;

fn ice_service(node: &Node<ipc::Service>, name: &str) -> Result<Port> {
    Ok(node
        .service_builder(&name.try_into()?)
        .publish_subscribe::<[u8]>()
        .max_publishers(1)
        .max_subscribers(1)
        .history_size(0)
        .subscriber_max_buffer_size(1)
        .enable_safe_overflow(true)
        .open_or_create()?)
}

/// Waits until `service` has a subscriber (the peer's).
fn wait_for_subscriber(service: &Port) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while service.dynamic_config().number_of_subscribers() == 0 {
        if Instant::now() > deadline {
            return Err("the iceoryx2 peer never subscribed".into());
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    Ok(())
}

/// The iceoryx2 version in Cargo.toml, for the report.
const ICEORYX2_VERSION: &str = "0.10";

/// First byte of a message: 0 for a ping, this to make the peer exit.
const STOP_BYTE: u8 = 0xff;

fn ice(cpu: usize, size: usize, iters: usize, n: usize) -> Result<Histogram<u64>> {
    let base = format!("shmkit-compare/{}/{n}", std::process::id());
    let node = NodeBuilder::new().create::<ipc::Service>()?;
    let ping = ice_service(&node, &format!("{base}/ping"))?;
    let pong = ice_service(&node, &format!("{base}/pong"))?;
    let publisher = ping
        .publisher_builder()
        .initial_max_slice_len(size)
        .create()?;
    let subscriber = pong.subscriber_builder().create()?;
    let child = spawn_peer(cpu, "iceoryx2", size, &base)?;
    wait_for_subscriber(&ping)?;
    let msg = vec![0u8; size];
    let hist = timed(iters, || {
        publisher
            .loan_slice_uninit(size)?
            .write_from_slice(&msg)
            .send()?;
        loop {
            if let Some(sample) = subscriber.receive()? {
                std::hint::black_box(sample.payload());
                return Ok(());
            }
            std::hint::spin_loop();
        }
    })?;
    let mut stop = msg.clone();
    stop[0] = STOP_BYTE;
    publisher
        .loan_slice_uninit(size)?
        .write_from_slice(&stop)
        .send()?;
    reap(child)?;
    Ok(hist)
}

fn ice_peer(size: usize, base: &str) -> Result<()> {
    let node = NodeBuilder::new().create::<ipc::Service>()?;
    let ping = ice_service(&node, &format!("{base}/ping"))?;
    let pong = ice_service(&node, &format!("{base}/pong"))?;
    let subscriber = ping.subscriber_builder().create()?;
    let publisher = pong
        .publisher_builder()
        .initial_max_slice_len(size)
        .create()?;
    wait_for_subscriber(&pong)?;
    loop {
        let Some(sample) = subscriber.receive()? else {
            std::hint::spin_loop();
            continue;
        };
        let payload = sample.payload();
        if payload.first() == Some(&STOP_BYTE) {
            return Ok(());
        }
        publisher
            .loan_slice_uninit(payload.len())?
            .write_from_slice(payload)
            .send()?;
    }
}

// ---- shmkit's SPSC queue ping-pong ----

/// The same ping-pong through two shmkit SPSC queues (one each way), both
/// ends busy-spinning (`Wait::Spin`). By copy (`zero_copy == false`, as
/// `shmkit bench`'s `shmkit-queue-spin` row): `send`, and each side copies
/// what it receives out with `read_at`, four copies per round trip. Zero-copy,
/// the same work as the iceoryx2 row: this side writes its message in place
/// (`reserve`, `write_at`, `commit`) and releases the answer unread, the peer
/// copies the message it got straight into its answer (`Grant::copy_from`),
/// two copies per round trip.
fn shq(cpu: usize, size: usize, iters: usize, n: usize, zero_copy: bool) -> Result<Histogram<u64>> {
    use shmkit::queue::{spsc, Options, Wait};
    let base = format!("i2q-{}-{n}", std::process::id());
    let opts = Options::default().wait(Wait::Spin);
    let cap = (4 * (size + 16)).max(4096);
    let mut tx = spsc::Producer::create_with(&format!("{base}-down"), cap, &opts)?;
    let mut rx = spsc::Consumer::create_with(&format!("{base}-up"), cap, &opts)?;
    let kind = if zero_copy { "shmkit-zc" } else { "shmkit" };
    let child = spawn_peer(cpu, kind, size, &base)?;
    let msg = vec![0u8; size];
    let mut back = vec![0u8; size];
    let hist = timed(iters, || {
        if zero_copy {
            let mut g = tx.reserve(size)?;
            g.write_at(0, &msg)?;
            g.commit();
            let m = rx.read_timeout(Duration::from_secs(20))?;
            std::hint::black_box(m.len());
            m.release();
        } else {
            tx.send(&msg)?;
            let m = rx.read_timeout(Duration::from_secs(20))?;
            m.read_at(0, &mut back[..m.len().min(size)])?;
            m.release();
        }
        Ok(())
    })?;
    // Closing our ends tells the peer to stop.
    drop(tx);
    reap(child)?;
    Ok(hist)
}

fn shq_peer(size: usize, base: &str, zero_copy: bool) -> Result<()> {
    use shmkit::queue::{spsc, Options, Wait};
    let opts = Options::default().wait(Wait::Spin);
    let mut rx = spsc::Consumer::open_with(&format!("{base}-down"), &opts)?;
    let mut tx = spsc::Producer::open_with(&format!("{base}-up"), &opts)?;
    let mut buf = vec![0u8; size];
    loop {
        match rx.read() {
            Ok(m) if zero_copy => {
                let mut g = tx.reserve(m.len())?;
                g.copy_from(0, &m)?;
                g.commit();
                m.release();
            }
            Ok(m) => {
                let len = m.len().min(size);
                m.read_at(0, &mut buf[..len])?;
                m.release();
                tx.send(&buf[..len])?;
            }
            Err(shmkit::Error::Closed { .. } | shmkit::Error::PeerDied { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[(v.len() - 1) / 2]
}

fn time(ns: f64) -> String {
    if ns < 10_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

fn size_label(size: usize) -> String {
    if size >= 1024 && size.is_multiple_of(1024) {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

fn main() -> Result<()> {
    // iceoryx2 warns on every node that it found no config file and uses
    // its defaults, which is what this comparison wants.
    set_log_level_from_env_or(LogLevel::Error);
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--peer") {
        let [_, kind, size, cpu, name] = &args[..] else {
            usage()
        };
        pin(cpu.parse()?)?;
        return match kind.as_str() {
            "bare" => bare_peer(name),
            "shmkit" => shq_peer(size.parse()?, name, false),
            "shmkit-zc" => shq_peer(size.parse()?, name, true),
            _ => ice_peer(size.parse()?, name),
        };
    }
    let s = parse_args(&args);
    let Some((a, b)) = choose_cpus() else {
        return Err(
            "this comparison busy-spins, and needs two CPUs to pin its two processes to".into(),
        );
    };
    pin(a)?;
    let started = Instant::now();
    // Per size: per kept round, (bare p50, p99, p99.9, max), (iceoryx2 ...),
    // (shmkit queue by copy ...), (shmkit queue zero-copy ...).
    type Q = [f64; 4];
    let quant = |h: &Histogram<u64>| -> Q {
        [
            h.value_at_quantile(0.5) as f64,
            h.value_at_quantile(0.99) as f64,
            h.value_at_quantile(0.999) as f64,
            h.max() as f64,
        ]
    };
    let mut kept: Vec<Vec<[Q; 4]>> = vec![Vec::new(); s.sizes.len()];
    let mut dropped = 0;
    let mut n = 0;
    for _ in 0..s.rounds {
        for (k, &size) in s.sizes.iter().enumerate() {
            let before = bare(b, s.iters, n)?;
            let ice_h = ice(b, size, s.iters, n + 1)?;
            let shq_h = shq(b, size, s.iters, n + 2, false)?;
            let zc_h = shq(b, size, s.iters, n + 3, true)?;
            let after = bare(b, s.iters, n + 4)?;
            n += 5;
            let (p, q) = (before.value_at_quantile(0.5), after.value_at_quantile(0.5));
            if p.max(q) as f64 / p.min(q).max(1) as f64 > 1.0 + s.tolerance {
                dropped += 1;
                continue;
            }
            let mut both = before;
            both.add(&after)?;
            kept[k].push([quant(&both), quant(&ice_h), quant(&shq_h), quant(&zc_h)]);
        }
    }
    println!(
        "iceoryx2 {ICEORYX2_VERSION} publish-subscribe ping-pong beside shmkit's SPSC queue and the bare cache-line ping-pong, one run"
    );
    println!(
        "processes pinned to CPUs {a} and {b}; {} rounds of {} round trips per row; {dropped} of {} rounds dropped (bare probe moved > {:.0}%); took {:.1} s",
        s.rounds,
        s.iters,
        s.rounds * s.sizes.len(),
        s.tolerance * 100.0,
        started.elapsed().as_secs_f64()
    );
    println!(
        "{:<8} {:<24} {:>8} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "size", "row", "x limit", "p50", "p99", "p99.9", "max", "rounds"
    );
    for (k, &size) in s.sizes.iter().enumerate() {
        let rounds = &kept[k];
        if rounds.is_empty() {
            println!(
                "{:<8} every round dropped: the machine moved too much",
                size_label(size)
            );
            continue;
        }
        // Medians over kept rounds of p50, p99, p99.9; the max of maxes.
        let summary = |row: usize| -> Q {
            let q = |i: usize| median(rounds.iter().map(|r| r[row][i]).collect());
            let max = rounds.iter().map(|r| r[row][3]).fold(0.0, f64::max);
            [q(0), q(1), q(2), max]
        };
        let ratio = |row: usize| median(rounds.iter().map(|r| r[row][0] / r[0][0]).collect());
        let names = [
            "bare-cache-line (flag)",
            "iceoryx2 pub-sub",
            "shmkit queue (spin)",
            "shmkit queue zero-copy",
        ];
        let rows: Vec<(&str, Q, f64)> = names
            .iter()
            .enumerate()
            .map(|(row, &name)| (name, summary(row), ratio(row)))
            .collect();
        for (i, (name, q, ratio)) in rows.iter().enumerate() {
            println!(
                "{:<8} {:<24} {:>8.2} {:>9} {:>9} {:>9} {:>9} {:>7}",
                if i == 0 {
                    size_label(size)
                } else {
                    String::new()
                },
                name,
                ratio,
                time(q[0]),
                time(q[1]),
                time(q[2]),
                time(q[3]),
                if i == 0 {
                    format!("{}/{}", rounds.len(), s.rounds)
                } else {
                    String::new()
                },
            );
        }
    }
    Ok(())
}

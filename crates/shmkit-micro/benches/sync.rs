//! The synchronisation primitives, each against its baseline in the same run:
//!
//! - uncontended `lock` + `unlock`: `shmkit::sync::Mutex` against
//!   `std::sync::Mutex`;
//! - `SeqLock` read and write;
//! - cross-process wake round trip: two processes ping-pong through two
//!   `Event`s, against the same ping-pong on bare shared futex words (the
//!   limit for blocking wake-ups).
//!
//! `cargo bench -p shmkit-micro --bench sync`. The ratios, not the absolute times,
//! are what to compare: this runs on shared, noisy machines.

#![allow(missing_docs)] // criterion_group! makes an undocumented function

use std::hint::black_box;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use shmkit::sync::{Event, Mutex, SeqLock};
use shmkit::Segment;

fn uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("uncontended lock+unlock");
    let std_mutex = std::sync::Mutex::new(0u64);
    g.bench_function("std::sync::Mutex", |b| {
        b.iter(|| *black_box(&std_mutex).lock().unwrap() += 1)
    });
    let shm_mutex = Mutex::new(0u64);
    g.bench_function("shmkit::sync::Mutex", |b| {
        b.iter(|| *black_box(&shm_mutex).lock().unwrap() += 1)
    });
    g.finish();
}

fn seqlock(c: &mut Criterion) {
    let mut g = c.benchmark_group("seqlock 32 B");
    let s = SeqLock::new([0u64; 4]);
    g.bench_function("read", |b| b.iter(|| black_box(black_box(&s).read())));
    let mut w = s.writer().unwrap();
    let mut n = 0u64;
    g.bench_function("write", |b| {
        b.iter(|| {
            n += 1;
            w.write(black_box(&[n; 4]));
        })
    });
    g.finish();
}

/// Offsets in the ping-pong segment: two events, then two futex words and a
/// stop flag, each on its own cache line.
const PING_EVENT: usize = 0;
const PONG_EVENT: usize = 64;
const PING_WORD: usize = 128;
const PONG_WORD: usize = 192;
const STOP: usize = 256;

struct Words<'a> {
    ping_event: &'a Event,
    pong_event: &'a Event,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // the futex rows are Linux-only
    ping: &'a AtomicU32,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pong: &'a AtomicU32,
    stop: &'a AtomicU32,
}

fn words(seg: &Segment) -> Words<'_> {
    assert!(seg.len() >= 4096);
    let at = |off: usize| seg.as_ptr().wrapping_add(off);
    // SAFETY: for all five:
    // - each offset is 64-aligned within a page-aligned mapping of 4096
    //   bytes, which outlives the returned borrows;
    // - the segment was created zero-filled (unsignalled events, zero words),
    //   and both processes use each offset only as the one type here.
    unsafe {
        Words {
            ping_event: Event::from_ptr(at(PING_EVENT)),
            pong_event: Event::from_ptr(at(PONG_EVENT)),
            ping: AtomicU32::from_ptr(at(PING_WORD).cast_mut().cast()),
            pong: AtomicU32::from_ptr(at(PONG_WORD).cast_mut().cast()),
            stop: AtomicU32::from_ptr(at(STOP).cast_mut().cast()),
        }
    }
}

#[cfg(target_os = "linux")]
fn futex_wait(word: &AtomicU32, seen: u32) {
    // Shared futex: no FUTEX_PRIVATE_FLAG, so the other process can wake it.
    let _ = rustix::thread::futex::wait(word, rustix::thread::futex::Flags::empty(), seen, None);
}

#[cfg(target_os = "linux")]
fn futex_wake(word: &AtomicU32) {
    let _ = rustix::thread::futex::wake(word, rustix::thread::futex::Flags::empty(), 1);
}

/// The CPUs the benchmark may run on, as this process found them before it
/// pinned anything. A peer inherits the parent's affinity, by then a single
/// CPU, so the parent hands the list down in `SHMKIT_BENCH_CPUS`: asking
/// `sched_getaffinity` there would put both processes on one CPU, where a
/// wake-up is a context switch rather than a cross-CPU wake.
#[cfg(target_os = "linux")]
fn cpus() -> &'static [usize] {
    use rustix::thread::{sched_getaffinity, CpuSet};
    static CPUS: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();
    CPUS.get_or_init(|| {
        if let Ok(list) = std::env::var("SHMKIT_BENCH_CPUS") {
            return list.split(',').filter_map(|c| c.parse().ok()).collect();
        }
        match sched_getaffinity(None) {
            Ok(set) => (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect(),
            Err(_) => Vec::new(),
        }
    })
}

/// [`cpus`] as the peers get it.
#[cfg(target_os = "linux")]
fn cpu_list() -> String {
    let list: Vec<String> = cpus().iter().map(usize::to_string).collect();
    list.join(",")
}

#[cfg(not(target_os = "linux"))]
fn cpu_list() -> String {
    String::new()
}

/// Pins this thread to the `nth` allowed CPU from the end, so that the two
/// processes of a ping-pong run on different CPUs, as a cross-process wake
/// does in practice. Without that, the scheduler sometimes puts both on one
/// CPU, where a wake is a context switch, and the numbers flip between
/// regimes from round to round.
#[cfg(target_os = "linux")]
fn pin(nth: usize) -> bool {
    use rustix::thread::{sched_setaffinity, CpuSet};
    let cpus = cpus();
    if cpus.len() < 2 {
        return false;
    }
    let mut set = CpuSet::new();
    set.set(cpus[cpus.len() - 1 - nth]);
    sched_setaffinity(None, &set).is_ok()
}

#[cfg(not(target_os = "linux"))]
fn pin(_nth: usize) -> bool {
    false
}

/// The second process: answers every ping until told to stop.
fn peer(name: &str, kind: &str) {
    pin(1);
    let seg = Segment::open(name).unwrap();
    let w = words(&seg);
    match kind {
        "event" => loop {
            w.ping_event.wait().unwrap();
            if w.stop.load(Ordering::Acquire) != 0 {
                return;
            }
            w.pong_event.notify_one().unwrap();
        },
        #[cfg(target_os = "linux")]
        "futex" => {
            let mut expect = 1u32;
            loop {
                let mut seen = w.ping.load(Ordering::Acquire);
                while seen != expect && w.stop.load(Ordering::Acquire) == 0 {
                    futex_wait(w.ping, seen);
                    seen = w.ping.load(Ordering::Acquire);
                }
                if w.stop.load(Ordering::Acquire) != 0 {
                    return;
                }
                w.pong.store(expect, Ordering::Release);
                futex_wake(w.pong);
                expect = expect.wrapping_add(1);
            }
        }
        other => panic!("unknown peer kind {other}"),
    }
}

struct Peer {
    seg: Segment,
    child: Child,
}

impl Peer {
    fn start(kind: &str) -> Peer {
        let name = format!("bench-sync-{}-{kind}", std::process::id());
        let seg = Segment::create(&name, 4096).unwrap();
        let child = Command::new(std::env::current_exe().unwrap())
            .env("SHMKIT_BENCH_PEER", format!("{name}:{kind}"))
            .env("SHMKIT_BENCH_CPUS", cpu_list())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Peer { seg, child }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let w = words(&self.seg);
        w.stop.store(1, Ordering::Release);
        w.ping_event.notify_all().unwrap();
        w.ping.fetch_add(1, Ordering::Release);
        #[cfg(target_os = "linux")]
        futex_wake(w.ping);
        let _ = self.child.wait();
    }
}

/// `iters` Event round trips with the peer.
fn event_round_trips(w: &Words<'_>, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        w.ping_event.notify_one().unwrap();
        w.pong_event.wait().unwrap();
    }
    start.elapsed()
}

/// `iters` bare futex round trips with the peer; `n` is the running count.
#[cfg(target_os = "linux")]
fn futex_round_trips(w: &Words<'_>, n: &mut u32, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        *n = n.wrapping_add(1);
        w.ping.store(*n, Ordering::Release);
        futex_wake(w.ping);
        let mut seen = w.pong.load(Ordering::Acquire);
        while seen != *n {
            futex_wait(w.pong, seen);
            seen = w.pong.load(Ordering::Acquire);
        }
    }
    start.elapsed()
}

fn wake_round_trip(c: &mut Criterion) {
    if !pin(0) {
        println!(
            "note: could not pin the two processes to different CPUs; wake numbers mix regimes"
        );
    }
    let mut g = c.benchmark_group("cross-process wake round trip");
    g.measurement_time(Duration::from_secs(5));
    let event = Peer::start("event");
    let ew = words(&event.seg);
    g.bench_function("shmkit::sync::Event", |b| {
        b.iter_custom(|iters| event_round_trips(&ew, iters))
    });
    #[cfg(target_os = "linux")]
    {
        let futex = Peer::start("futex");
        let fw = words(&futex.seg);
        let mut n = 0u32;
        g.bench_function("bare futex", |b| {
            b.iter_custom(|iters| futex_round_trips(&fw, &mut n, iters))
        });
        g.finish();
        // The VM this runs on moves its virtual CPUs every few seconds, which
        // changes a round trip several-fold: the two numbers above may come
        // from different regimes. So also measure them interleaved, in short
        // alternating rounds, and report the median of the per-round ratios.
        let mut ratios = Vec::new();
        for round in 0..31 {
            // Which goes first alternates, so that neither always runs
            // right after the other's peer went to sleep.
            let (e, f) = if round % 2 == 0 {
                let e = event_round_trips(&ew, 2000);
                (e, futex_round_trips(&fw, &mut n, 2000))
            } else {
                let f = futex_round_trips(&fw, &mut n, 2000);
                (event_round_trips(&ew, 2000), f)
            };
            if std::env::var_os("SHMKIT_BENCH_VERBOSE").is_some() {
                println!("round: event {:?}/rt, futex {:?}/rt", e / 2000, f / 2000);
            }
            ratios.push(e.as_secs_f64() / f.as_secs_f64());
        }
        ratios.sort_by(f64::total_cmp);
        println!(
            "interleaved: Event / bare futex round trip = {:.2} (median of 31 alternating rounds of 2000; quartiles {:.2}..{:.2})",
            ratios[15], ratios[7], ratios[23]
        );
    }
}

/// Uncontended lock+unlock, `shmkit` over `std`, interleaved (see above).
fn uncontended_ratio() {
    let std_mutex = std::sync::Mutex::new(0u64);
    let shm_mutex = Mutex::new(0u64);
    let time = |f: &dyn Fn()| {
        let start = Instant::now();
        for _ in 0..100_000 {
            f();
        }
        start.elapsed().as_secs_f64()
    };
    let mut ratios: Vec<f64> = (0..31)
        .map(|_| {
            let s = time(&|| *black_box(&shm_mutex).lock().unwrap() += 1);
            let t = time(&|| *black_box(&std_mutex).lock().unwrap() += 1);
            s / t
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "interleaved: shmkit::sync::Mutex / std::sync::Mutex lock+unlock = {:.2} (median of 31 alternating rounds of 100000; quartiles {:.2}..{:.2})",
        ratios[15], ratios[7], ratios[23]
    );
}

criterion_group!(benches, uncontended, seqlock, wake_round_trip);

fn main() {
    if let Ok(spec) = std::env::var("SHMKIT_BENCH_PEER") {
        let (name, kind) = spec.split_once(':').unwrap();
        peer(name, kind);
        return;
    }
    benches();
    uncontended_ratio();
    Criterion::default().configure_from_args().final_summary();
}

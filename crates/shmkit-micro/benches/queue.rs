//! Queue latency and throughput, as ratios to baselines measured in the same
//! run (`cargo bench -p shmkit-micro --bench queue`):
//!
//! - round trip of a 64-byte message through two SPSC queues (busy-spin)
//!   against a bare cache-line ping-pong through a shared segment;
//! - 64-byte messages per second, one producer to one consumer;
//! - 64 KiB messages by copy, in GB/s, against single-thread `memcpy`.
//!
//! The two ends are two threads, pinned to two CPUs, mapping the segments
//! separately, which moves the same cache lines as two processes would
//! (`shmkit bench` measures the same rows across real processes, pinned). Criterion measures each row;
//! then the ratios are measured again in alternating runs within seconds of
//! each other, since this project's VMs change speed every few seconds.

#![allow(missing_docs)] // criterion_group! makes an undocumented function

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};

use shmkit::queue::spsc::{Consumer, Producer};
use shmkit::queue::{Options, Wait};
use shmkit::Segment;

fn name(tag: &str) -> String {
    format!("bench-{}-{tag}", std::process::id())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// The CPUs this process could run on before anything was pinned.
#[cfg(target_os = "linux")]
fn cpus() -> &'static [usize] {
    use rustix::thread::{sched_getaffinity, CpuSet};
    static CPUS: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();
    CPUS.get_or_init(|| match sched_getaffinity(None) {
        Ok(set) => (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect(),
        Err(_) => Vec::new(),
    })
}

/// Pins this thread to `cpu` (or, with `None`, lets it run anywhere it
/// could at the start).
#[cfg(target_os = "linux")]
fn pin(cpu: Option<usize>) {
    use rustix::thread::{sched_setaffinity, CpuSet};
    let mut set = CpuSet::new();
    match cpu {
        Some(c) => set.set(c),
        None => cpus().iter().for_each(|&c| set.set(c)),
    }
    let _ = sched_setaffinity(None, &set);
}

/// Runs `child` on a second thread and returns `main`'s result, each pinned
/// to its own CPU (the last two allowed), as `shmkit bench` pins its two
/// processes: unpinned, the scheduler sometimes puts both on one CPU and
/// the numbers flip between regimes.
fn pair<R>(child: impl FnOnce() + Send, main: impl FnOnce() -> R) -> R {
    #[cfg(target_os = "linux")]
    let cpus = cpus();
    #[cfg(target_os = "linux")]
    let two = (cpus.len() >= 2).then(|| (cpus[cpus.len() - 1], cpus[cpus.len() - 2]));
    #[cfg(target_os = "linux")]
    pin(None); // the child inherits this thread's mask
    let ready = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            #[cfg(target_os = "linux")]
            if let Some((_, c)) = two {
                pin(Some(c));
            }
            ready.store(true, Ordering::Release);
            child()
        });
        while !ready.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        #[cfg(target_os = "linux")]
        if let Some((m, _)) = two {
            pin(Some(m));
        }
        main()
    })
}

/// Nanoseconds per round trip of one cache line bounced between two threads.
fn bare_ping_pong(rounds: u64) -> f64 {
    let n = name("pp");
    let seg = Segment::create(&n, 4096).unwrap();
    let peer = Segment::open(&n).unwrap();
    // SAFETY: offset 0 and 64 are 8-aligned and inside the 4096-byte mapping,
    // which outlives both threads; every access is atomic.
    let (a, b) = unsafe {
        (
            AtomicU64::from_ptr(seg.as_mut_ptr().cast()),
            AtomicU64::from_ptr(peer.as_mut_ptr().cast()),
        )
    };
    pair(
        || {
            for i in 0..rounds {
                while b.load(Ordering::Acquire) != 2 * i + 1 {
                    std::hint::spin_loop();
                }
                b.store(2 * i + 2, Ordering::Release);
            }
        },
        || {
            let t = Instant::now();
            for i in 0..rounds {
                a.store(2 * i + 1, Ordering::Release);
                while a.load(Ordering::Acquire) != 2 * i + 2 {
                    std::hint::spin_loop();
                }
            }
            t.elapsed().as_nanos() as f64 / rounds as f64
        },
    )
}

/// As [`bare_ping_pong`], but each direction has its own line, as two
/// queues do: the floor for any pair of queues.
fn two_line_ping_pong(rounds: u64) -> f64 {
    let n = name("pp2");
    let seg = Segment::create(&n, 4096).unwrap();
    let peer = Segment::open(&n).unwrap();
    // SAFETY: offsets 0 and 128 are 8-aligned and inside the 4096-byte
    // mappings, which outlive both threads; every access is atomic.
    let (ping, pong, ping2, pong2) = unsafe {
        (
            AtomicU64::from_ptr(seg.as_mut_ptr().cast()),
            AtomicU64::from_ptr(seg.as_mut_ptr().add(128).cast()),
            AtomicU64::from_ptr(peer.as_mut_ptr().cast()),
            AtomicU64::from_ptr(peer.as_mut_ptr().add(128).cast()),
        )
    };
    pair(
        || {
            for i in 1..=rounds {
                while ping2.load(Ordering::Acquire) != i {
                    std::hint::spin_loop();
                }
                pong2.store(i, Ordering::Release);
            }
        },
        || {
            let t = Instant::now();
            for i in 1..=rounds {
                ping.store(i, Ordering::Release);
                while pong.load(Ordering::Acquire) != i {
                    std::hint::spin_loop();
                }
            }
            t.elapsed().as_nanos() as f64 / rounds as f64
        },
    )
}

/// Nanoseconds per round trip of a `len`-byte message through two SPSC
/// queues.
fn queue_round_trip(rounds: u64, len: usize) -> f64 {
    let spin = Options::default().wait(Wait::Spin);
    let (n1, n2) = (name("rt1"), name("rt2"));
    let mut rx1 = Consumer::create_with(&n1, 1 << 16, &spin).unwrap();
    let mut tx1 = Producer::open_with(&n1, &spin).unwrap();
    let mut rx2 = Consumer::create_with(&n2, 1 << 16, &spin).unwrap();
    let mut tx2 = Producer::open_with(&n2, &spin).unwrap();
    pair(
        move || {
            let mut buf = vec![0u8; len];
            for _ in 0..rounds {
                let m = rx1.read().unwrap();
                m.read_at(0, &mut buf).unwrap();
                m.release();
                tx2.send(&buf).unwrap();
            }
        },
        move || {
            let msg = vec![7u8; len];
            let mut buf = vec![0u8; len];
            let t = Instant::now();
            for _ in 0..rounds {
                tx1.send(&msg).unwrap();
                let m = rx2.read().unwrap();
                m.read_at(0, &mut buf).unwrap();
                m.release();
            }
            t.elapsed().as_nanos() as f64 / rounds as f64
        },
    )
}

/// Messages of `len` bytes per second, one producer thread to one consumer.
fn stream(len: usize, count: u64) -> f64 {
    let spin = Options::default().wait(Wait::Spin);
    let n = name(&format!("st{len}"));
    let mut rx = Consumer::create_with(&n, 4 << 20, &spin).unwrap();
    let mut tx = Producer::open_with(&n, &spin).unwrap();
    pair(
        move || {
            let msg = vec![1u8; len];
            for _ in 0..count {
                tx.send(&msg).unwrap();
            }
        },
        move || {
            let mut buf = vec![0u8; len];
            let t = Instant::now();
            for _ in 0..count {
                let m = rx.read().unwrap();
                m.read_at(0, &mut buf).unwrap();
                m.release();
            }
            count as f64 / t.elapsed().as_secs_f64()
        },
    )
}

/// Single-thread memcpy bandwidth for 64 KiB blocks, bytes per second,
/// over 32 MiB buffers (beyond the caches, as a stream of messages is).
fn memcpy_bandwidth() -> f64 {
    let blocks = (32 << 20) / (64 << 10);
    65536.0 * 1e9 / memcpy_ns_per_block(4 * blocks as u64)
}

/// Nanoseconds per 64 KiB block copied, `rounds` blocks, cycling through
/// 32 MiB buffers.
fn memcpy_ns_per_block(rounds: u64) -> f64 {
    const BLOCK: usize = 64 << 10;
    let src = vec![1u8; 32 << 20];
    let mut dst = vec![0u8; 32 << 20];
    let blocks = src.len() / BLOCK;
    let rounds = rounds as usize;
    let t = Instant::now();
    for i in 0..rounds {
        let at = (i % blocks) * BLOCK;
        dst[at..at + BLOCK].copy_from_slice(&src[at..at + BLOCK]);
        std::hint::black_box(&mut dst);
    }
    t.elapsed().as_nanos() as f64 / rounds.max(1) as f64
}

/// `per_op` (ns per operation, measured over `iters` operations) as the total
/// criterion asks for.
fn total(per_op_ns: f64, iters: u64) -> Duration {
    Duration::from_nanos((per_op_ns * iters as f64) as u64)
}

fn round_trips(c: &mut Criterion) {
    let mut g = c.benchmark_group("round trip, two threads, busy-spin");
    g.bench_function("bare cache-line ping-pong", |b| {
        b.iter_custom(|iters| total(bare_ping_pong(iters), iters))
    });
    g.bench_function("SPSC 64 B", |b| {
        b.iter_custom(|iters| total(queue_round_trip(iters, 64), iters))
    });
    g.finish();
}

fn streaming(c: &mut Criterion) {
    let mut g = c.benchmark_group("streaming by copy, two threads");
    g.throughput(Throughput::Elements(1));
    g.bench_function("SPSC 64 B messages", |b| {
        b.iter_custom(|iters| total(1e9 / stream(64, iters.max(1000)), iters))
    });
    g.throughput(Throughput::Bytes(64 << 10));
    g.bench_function("SPSC 64 KiB messages", |b| {
        b.iter_custom(|iters| total(1e9 / stream(64 << 10, iters.max(100)), iters))
    });
    g.bench_function("memcpy 64 KiB blocks", |b| {
        b.iter_custom(|iters| total(memcpy_ns_per_block(iters), iters))
    });
    g.finish();
}

criterion_group!(benches, round_trips, streaming);

/// The same figures as ratios, from runs alternating within seconds.
fn ratios(quick: bool) {
    let (rounds, count, runs) = if quick {
        (2_000, 20_000, 1)
    } else {
        (200_000, 5_000_000, 5)
    };
    let pp = median((0..runs).map(|_| bare_ping_pong(rounds)).collect());
    let rt = median((0..runs).map(|_| queue_round_trip(rounds, 64)).collect());
    let pp2 = median((0..runs).map(|_| two_line_ping_pong(rounds)).collect());
    println!("bare cache-line ping-pong: {pp:8.1} ns per round trip");
    println!(
        "two lines, one each way:   {pp2:8.1} ns per round trip ({:.2}x)",
        pp2 / pp
    );
    println!(
        "64-byte SPSC round trip:   {rt:8.1} ns per round trip ({:.2}x)",
        rt / pp
    );
    // An 8-byte record header and 56 bytes: one cache line per record.
    let rt56 = median((0..runs).map(|_| queue_round_trip(rounds, 56)).collect());
    println!(
        "56-byte SPSC round trip:   {rt56:8.1} ns per round trip ({:.2}x)",
        rt56 / pp
    );
    let rate = median((0..runs).map(|_| stream(64, count)).collect());
    println!(
        "64-byte messages:          {:8.1} million per second",
        rate / 1e6
    );
    let big = median((0..runs).map(|_| stream(64 << 10, count / 200)).collect()) * 65536.0;
    let mc = median((0..runs).map(|_| memcpy_bandwidth()).collect());
    println!(
        "64 KiB messages by copy:   {:8.2} GB/s ({:.0}% of memcpy at {:.2} GB/s)",
        big / 1e9,
        100.0 * big / mc,
        mc / 1e9
    );
}

fn main() {
    // `cargo test --benches` runs this too: keep that quick.
    let quick = std::env::args().any(|a| a == "--test") || cfg!(debug_assertions);
    if !quick {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
    ratios(quick);
}

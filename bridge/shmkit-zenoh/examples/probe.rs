//! Test and benchmark driver for the bridge (ci/bridge.sh runs it).
//!
//! ```text
//! probe pub NAME COUNT SLOTS MAX GO_FILE [LINGER_MS]
//!     create topic NAME, wait for one subscriber (the exporter) and for
//!     GO_FILE to exist, publish COUNT checksummed messages of 8..=MAX
//!     bytes, stay LINGER_MS, then close (drop). Prints "sent COUNT".
//!     (`PACE_US` as an 8th argument: a pause after every message.)
//! probe hold NAME SLOTS MAX SECS
//!     create topic NAME and hold it as its publisher for SECS.
//! probe sub NAME TIMEOUT_S [SLOW_US]
//!     open NAME (waiting for it), print "ready", read and check every
//!     message until the publisher ends or TIMEOUT_S of silence; prints
//!     "received=R missed=M end=E bad=B" (E: Closed, PeerDied, Timeout, ...).
//!     With `resume`, after PeerDied it reopens and goes on (link tests).
//! probe fake ENDPOINT PREFIX NAME COUNT
//!     a zenoh peer posing as an exporter: geometry, token, COUNT messages
//!     with sequence holes, then garbage (no attachment, a bad attachment,
//!     an oversized message), then a clean end. Prints "holes=H sent=S".
//! probe rawping ENDPOINT SIZE N [POLL_US] / rawpong ENDPOINT [POLL_US]
//!     raw zenoh round trips on keys bench/ping and bench/pong; each side
//!     polls for POLL_US (yielding the CPU) before it blocks, as
//!     `shmkit-bridge --poll-us` exporters do.
//! probe bcping NAME_OUT NAME_IN SIZE N LABEL [WAIT [SUBS]] / bcpong NAME_IN NAME_OUT [WAIT]
//!     round trips over two broadcast topics (bridged or local); WAIT is
//!     the subscribers' wait: spin, block, or (default) spin then block.
//!     bcping starts once NAME_OUT has SUBS subscribers (default 1).
//! probe rawstream ENDPOINT SIZE N WINDOW / rawsink ENDPOINT
//! probe bcstream NAME_OUT NAME_IN SIZE N WINDOW LABEL / bcsink NAME_IN NAME_OUT
//!     throughput: a stream of N numbered messages of SIZE bytes, at most
//!     WINDOW of them unacknowledged; the sink acknowledges each with the
//!     8-byte number of the newest one it got. Raw zenoh and the bridge run
//!     the same protocol, so their rates compare.
//! ```

use std::time::{Duration, Instant};

use shmkit::broadcast::{Publisher, Subscriber};
use shmkit::queue::{Options as QueueOptions, Wait as WaitFor};
use shmkit::Error;
use shmkit_zenoh::{Geometry, Header, Kind};
use zenoh::qos::CongestionControl;
use zenoh::Wait;

/// SplitMix64.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Message `i` for a topic of up to `max` bytes: `i`, then bytes that
/// follow from `i`; 8 to `max` bytes, log-uniform.
fn message(i: u64, max: usize) -> Vec<u8> {
    let h = mix(i);
    let top = 64 - (max as u64).leading_zeros();
    let bits = (h % u64::from(top.max(1))) as u32;
    let len = (8 + ((h >> 8) % (1u64 << bits)) as usize).min(max);
    let mut v = i.to_le_bytes().to_vec();
    v.extend((8..len).map(|j| (h >> (j % 56)) as u8 ^ j as u8));
    v
}

fn open_sub(name: &str, timeout: Duration) -> Subscriber {
    open_sub_with(name, timeout, WaitFor::SpinThenBlock)
}

fn open_sub_with(name: &str, timeout: Duration, wait: WaitFor) -> Subscriber {
    let opts = QueueOptions::default().wait(wait);
    let start = Instant::now();
    loop {
        match Subscriber::open_with(name, &opts) {
            Ok(s) => return s,
            Err(e) if start.elapsed() > timeout => panic!("open {name}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn session(endpoint: &str, listen: bool) -> zenoh::Session {
    let o = shmkit_zenoh::Options {
        listen: if listen {
            vec![endpoint.into()]
        } else {
            vec![]
        },
        connect: if listen {
            vec![]
        } else {
            vec![endpoint.into()]
        },
        ..Default::default()
    };
    zenoh::open(shmkit_zenoh::zenoh_config(&o).unwrap())
        .wait()
        .unwrap()
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| a.get(i).map(String::as_str).unwrap_or("");
    let num = |i: usize| arg(i).parse::<u64>().unwrap_or(0);
    match arg(0) {
        "pub" => {
            let (name, count, slots, max) = (arg(1), num(2), num(3) as usize, num(4) as usize);
            let go = std::path::Path::new(arg(5));
            let mut tx = Publisher::create(name, slots, max).unwrap();
            tx.wait_for_subscribers(1, Duration::from_secs(60)).unwrap();
            let start = Instant::now();
            while !go.exists() {
                assert!(start.elapsed() < Duration::from_secs(120), "no go file");
                std::thread::sleep(Duration::from_millis(10));
            }
            let pace = Duration::from_micros(num(7));
            for i in 0..count {
                tx.send(&message(i, max)).unwrap();
                if !pace.is_zero() {
                    std::thread::sleep(pace);
                } else if i % 100 == 99 {
                    // Pacing, so that readers on a shared 2-core machine keep up.
                    std::thread::sleep(Duration::from_micros(1000));
                }
            }
            println!("sent {count}");
            std::thread::sleep(Duration::from_millis(num(6)));
        }
        "hold" => {
            let _tx = Publisher::create(arg(1), num(2) as usize, num(3) as usize).unwrap();
            println!("holding");
            std::thread::sleep(Duration::from_secs(num(4)));
        }
        "sub" => {
            let name = arg(1);
            let timeout = Duration::from_secs(num(2));
            let slow = Duration::from_micros(num(3));
            let resume = a.iter().any(|x| x == "resume");
            let mut rx = open_sub(name, Duration::from_secs(120));
            println!("ready");
            let (mut got, mut missed, mut bad, mut expect) = (0u64, 0u64, 0u64, None::<u64>);
            let max = rx.max_message() as usize;
            let end = loop {
                match rx.recv_timeout(timeout) {
                    Ok(m) if m.len() >= 8 => {
                        let i = u64::from_le_bytes(m[..8].try_into().unwrap());
                        if m != message(i, max) || expect.is_some_and(|e| e != i) {
                            bad += 1;
                        }
                        got += 1;
                        expect = Some(i + 1);
                        if !slow.is_zero() {
                            std::thread::sleep(slow);
                        }
                    }
                    Ok(_) => bad += 1,
                    Err(Error::Lagged { missed: m, .. }) => {
                        missed += m;
                        expect = expect.map(|e| e + m);
                    }
                    Err(Error::PeerDied { .. }) if resume => {
                        println!("died received={got}");
                        // The importer makes a new topic when the link is back.
                        drop(rx);
                        std::thread::sleep(Duration::from_millis(50));
                        rx = open_sub(name, Duration::from_secs(60));
                        expect = None;
                        println!("resumed");
                    }
                    Err(e) => break format!("{e:?}").split(':').next().unwrap_or("?").to_owned(),
                }
            };
            println!("received={got} missed={missed} end={end} bad={bad}");
        }
        "fake" => {
            let (prefix, name, count) = (arg(2), arg(3), num(4));
            let s = session(arg(1), true);
            let g = Geometry {
                slots: 1024,
                max_message: 256,
                next: 0,
            };
            let _q = s
                .declare_queryable(format!("{prefix}/geo/{name}"))
                .callback(move |q| {
                    let _ = q.reply(q.key_expr().clone(), g.to_bytes().to_vec()).wait();
                })
                .wait()
                .unwrap();
            let key = format!("{prefix}/bc/{name}");
            let p = s.declare_publisher(key).wait().unwrap();
            // Wait for the importer (it subscribes, then reads our token).
            let start = Instant::now();
            while !p.matching_status().wait().unwrap().matching() {
                assert!(start.elapsed() < Duration::from_secs(60), "no importer");
                std::thread::sleep(Duration::from_millis(20));
            }
            let _t = s
                .liveliness()
                .declare_token(format!("{prefix}/alive/{name}"))
                .wait()
                .unwrap();
            std::thread::sleep(Duration::from_millis(1500));
            let put = |seq: u64, kind: Kind, payload: Vec<u8>| {
                p.put(payload)
                    .attachment(Header { seq, kind }.to_bytes().to_vec())
                    .wait()
                    .unwrap();
            };
            let (mut seq, mut holes, mut sent) = (0u64, 0u64, 0u64);
            for k in 0..count {
                if k > 0 && mix(k).is_multiple_of(7) {
                    let h = 1 + mix(k) % 5;
                    seq += h;
                    holes += h;
                }
                put(seq, Kind::Message, message(seq, 256));
                seq += 1;
                sent += 1;
            }
            // Garbage: none of it may reach a local subscriber.
            p.put(b"no attachment".to_vec()).wait().unwrap();
            p.put(b"bad attachment".to_vec())
                .attachment(b"not a header".to_vec())
                .wait()
                .unwrap();
            let mut wrong = Header {
                seq,
                kind: Kind::Message,
            }
            .to_bytes();
            wrong[0] = 99;
            p.put(b"wrong version".to_vec())
                .attachment(wrong.to_vec())
                .wait()
                .unwrap();
            // Oversized: dropped and declared missed before the next one.
            put(seq, Kind::Message, vec![0u8; 1000]);
            seq += 1;
            holes += 1;
            // Stale: behind what was carried.
            put(0, Kind::Message, message(0, 256));
            put(seq, Kind::Message, message(seq, 256));
            sent += 1;
            seq += 1;
            std::thread::sleep(Duration::from_millis(300));
            put(seq, Kind::Closed, vec![]);
            std::thread::sleep(Duration::from_millis(300));
            println!("holes={holes} sent={sent}");
        }
        "rawpong" => {
            let s = session(arg(1), true);
            let p = s.declare_publisher("bench/pong").wait().unwrap();
            let sub = s.declare_subscriber("bench/ping").wait().unwrap();
            let start = Instant::now();
            let poll = Duration::from_micros(num(2));
            while let Some(m) = polled(
                poll,
                || sub.try_recv().ok().flatten(),
                || sub.recv_timeout(Duration::from_secs(30)).ok().flatten(),
            ) {
                p.put(m.payload().clone()).wait().unwrap();
                if start.elapsed() > Duration::from_secs(600) {
                    break;
                }
            }
        }
        "rawping" => {
            let (size, n) = (num(2) as usize, num(3));
            let poll = Duration::from_micros(num(4));
            let s = session(arg(1), false);
            let p = s.declare_publisher("bench/ping").wait().unwrap();
            let sub = s.declare_subscriber("bench/pong").wait().unwrap();
            let start = Instant::now();
            while !p.matching_status().wait().unwrap().matching() {
                assert!(start.elapsed() < Duration::from_secs(60), "no pong");
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(500));
            let msg = vec![7u8; size];
            report("raw zenoh", size, n, || {
                p.put(msg.clone()).wait().unwrap();
                polled(
                    poll,
                    || sub.try_recv().ok().flatten(),
                    || sub.recv_timeout(Duration::from_secs(10)).unwrap(),
                )
                .is_some()
            });
        }
        "bcpong" => {
            let mut rx = open_sub_with(arg(1), Duration::from_secs(120), wait_arg(arg(3)));
            let mut tx = Publisher::create(arg(2), 256, 65536).unwrap();
            println!("ready");
            loop {
                match rx.recv_timeout(Duration::from_secs(30)) {
                    Ok(m) => tx.send(&m).unwrap(),
                    Err(Error::Lagged { .. }) => {}
                    Err(_) => break,
                }
            }
        }
        "bcping" => {
            let (size, n) = (num(3) as usize, num(4));
            let mut tx = Publisher::create(arg(1), 256, 65536).unwrap();
            let mut rx = open_sub_with(arg(2), Duration::from_secs(120), wait_arg(arg(6)));
            // The echo, and an exporter if one is to be measured too.
            let subs = (num(7) as usize).max(1);
            tx.wait_for_subscribers(subs, Duration::from_secs(60))
                .unwrap();
            // Let the far side attach: ping until an echo comes.
            let start = Instant::now();
            loop {
                tx.send(&[0u8; 8]).unwrap();
                if let Ok(_m) = rx.recv_timeout(Duration::from_millis(200)) {
                    break;
                }
                assert!(start.elapsed() < Duration::from_secs(60), "no echo");
            }
            std::thread::sleep(Duration::from_millis(300));
            while let Ok(Some(_)) = rx.try_recv() {}
            // Each ping carries its number, and only its own echo ends the
            // round: a late or repeated echo is not counted as a round trip.
            let mut msg = vec![7u8; size.max(8)];
            let mut round = 0u64;
            report(arg(5), size, n, || {
                round += 1;
                msg[..8].copy_from_slice(&round.to_le_bytes());
                tx.send(&msg).unwrap();
                loop {
                    match rx.recv_timeout(Duration::from_secs(10)) {
                        Ok(m) if m.get(..8) == Some(&msg[..8]) => return true,
                        Ok(_) => continue,
                        Err(Error::Lagged { .. }) => continue,
                        Err(_) => return false,
                    }
                }
            });
        }
        "rawsink" => {
            let s = session(arg(1), true);
            let p = s
                .declare_publisher("bench/pong")
                .congestion_control(CongestionControl::Block)
                .wait()
                .unwrap();
            let sub = s.declare_subscriber("bench/ping").wait().unwrap();
            let start = Instant::now();
            while let Ok(Some(m)) = sub.recv_timeout(Duration::from_secs(30)) {
                let b = m.payload().to_bytes();
                p.put(b[..8.min(b.len())].to_vec()).wait().unwrap();
                if start.elapsed() > Duration::from_secs(600) {
                    break;
                }
            }
        }
        "rawstream" => {
            let (size, n, window) = (num(2) as usize, num(3), num(4));
            let s = session(arg(1), false);
            // Lossless, as the bridge's puts are (the default drops under
            // load, and a dropped last message would stall the stream).
            let p = s
                .declare_publisher("bench/ping")
                .congestion_control(CongestionControl::Block)
                .wait()
                .unwrap();
            let sub = s.declare_subscriber("bench/pong").wait().unwrap();
            let start = Instant::now();
            while !p.matching_status().wait().unwrap().matching() {
                assert!(start.elapsed() < Duration::from_secs(60), "no sink");
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(500));
            let mut msg = vec![7u8; size.max(8)];
            stream(
                "raw zenoh",
                size,
                n,
                window,
                |i| {
                    msg[..8].copy_from_slice(&i.to_le_bytes());
                    p.put(msg.clone()).wait().unwrap();
                },
                || {
                    let m = sub.recv_timeout(Duration::from_secs(10)).ok()??;
                    let b = m.payload().to_bytes();
                    Some(u64::from_le_bytes(b.get(..8)?.try_into().ok()?))
                },
            );
        }
        "bcsink" => {
            let mut rx = open_sub(arg(1), Duration::from_secs(120));
            let mut tx = Publisher::create(arg(2), 256, 65536).unwrap();
            println!("ready");
            loop {
                match rx.recv_timeout(Duration::from_secs(30)) {
                    Ok(m) if m.len() >= 8 => tx.send(&m[..8]).unwrap(),
                    Ok(_) | Err(Error::Lagged { .. }) => {}
                    Err(_) => break,
                }
            }
        }
        "bcstream" => {
            let (size, n, window) = (num(3) as usize, num(4), num(5));
            let mut tx = Publisher::create(arg(1), 256, 65536).unwrap();
            let mut rx = open_sub(arg(2), Duration::from_secs(120));
            tx.wait_for_subscribers(1, Duration::from_secs(60)).unwrap();
            // Let the far side attach: send until an acknowledgement comes.
            let start = Instant::now();
            loop {
                tx.send(&u64::MAX.to_le_bytes()).unwrap();
                if let Ok(_m) = rx.recv_timeout(Duration::from_millis(200)) {
                    break;
                }
                assert!(start.elapsed() < Duration::from_secs(60), "no ack");
            }
            std::thread::sleep(Duration::from_millis(300));
            while let Ok(Some(_)) = rx.try_recv() {}
            let mut msg = vec![7u8; size.max(8)];
            let mut send = |i: u64| {
                msg[..8].copy_from_slice(&i.to_le_bytes());
                tx.send(&msg).unwrap();
            };
            stream(arg(6), size, n, window, &mut send, || loop {
                match rx.recv_timeout(Duration::from_secs(10)) {
                    Ok(m) if m.len() >= 8 => {
                        let i = u64::from_le_bytes(m[..8].try_into().unwrap());
                        // A late acknowledgement of the attach probe.
                        if i != u64::MAX {
                            return Some(i);
                        }
                    }
                    Ok(_) | Err(Error::Lagged { .. }) => continue,
                    Err(_) => return None,
                }
            });
        }
        other => {
            eprintln!("probe: unknown role {other:?}; see the source for usage");
            std::process::exit(2);
        }
    }
}

/// Times `n` round trips of `size` bytes; prints p50, p99 and throughput.
fn report(what: &str, size: usize, n: u64, mut round: impl FnMut() -> bool) {
    let mut t = Vec::with_capacity(n as usize);
    let all = Instant::now();
    for _ in 0..n {
        let s = Instant::now();
        assert!(round(), "round trip lost");
        t.push(s.elapsed());
    }
    let total = all.elapsed();
    t.sort();
    let p = |q: f64| t[((t.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e6;
    let mbps = (size as f64 * n as f64 * 2.0) / total.as_secs_f64() / 1e6;
    println!(
        "{what} size={size} n={n} p50_us={:.1} p99_us={:.1} round_trip_MBps={mbps:.1}",
        p(0.5),
        p(0.99)
    );
}

/// Streams `n` messages numbered 0.. with at most `window` unacknowledged
/// (`ack` returns the number of the newest message the sink got, `None` on
/// a stall); prints the rate. Acknowledgements are cumulative, so a lost
/// one is covered by the next.
fn stream(
    what: &str,
    size: usize,
    n: u64,
    window: u64,
    mut send: impl FnMut(u64),
    mut ack: impl FnMut() -> Option<u64>,
) {
    let mut done = 0u64;
    let mut wait = |done: &mut u64| {
        let i = ack().expect("stream stalled: no acknowledgement within 10 s");
        if i < n {
            *done = (*done).max(i + 1);
        }
    };
    let all = Instant::now();
    for i in 0..n {
        while i - done >= window.max(1) {
            wait(&mut done);
        }
        send(i);
    }
    while done < n {
        wait(&mut done);
    }
    let total = all.elapsed().as_secs_f64();
    println!(
        "{what} size={size} n={n} window={window} stream_MBps={:.1} msgs_per_s={:.0}",
        size as f64 * n as f64 / total / 1e6,
        n as f64 / total
    );
}

/// `try_recv` every time the CPU comes back for `poll` (yielding it between
/// looks), then `block`: the wait `shmkit-bridge --poll-us` gives its
/// exporters, for raw zenoh rows to compare with.
fn polled<T>(
    poll: Duration,
    mut try_recv: impl FnMut() -> Option<T>,
    block: impl FnOnce() -> Option<T>,
) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < poll {
        if let Some(v) = try_recv() {
            return Some(v);
        }
        std::thread::yield_now();
    }
    block()
}

/// A subscriber's wait from a probe argument: `spin`, `block`, or
/// anything else for the default (spin a little, then block).
fn wait_arg(s: &str) -> WaitFor {
    match s {
        "spin" => WaitFor::Spin,
        "block" => WaitFor::Block,
        _ => WaitFor::SpinThenBlock,
    }
}

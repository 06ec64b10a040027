//! A Rust process for the Python tests and benchmark to talk to: each role
//! opens or creates a queue by name, as any Rust program would.
//!
//! ```text
//! rust_peer publish NAME COUNT          # broadcast COUNT messages "msg-<i>"
//! rust_peer subscribe NAME COUNT        # print each of COUNT messages received
//! rust_peer spsc-send NAME COUNT        # send "msg-<i>" on an SPSC queue
//! rust_peer spsc-recv NAME COUNT        # print each of COUNT messages received
//! rust_peer bench NAME SIZE SECONDS     # native SPSC throughput, one line of JSON
//! rust_peer bench-send NAME SIZE SECONDS  # bench's producer process
//! rust_peer pingpong NAME ROUNDS        # native 64 B round trips, one line of JSON
//! rust_peer pingpong-echo NAME ROUNDS   # pingpong's echo process
//! rust_peer chan-send NAME COUNT        # create a channel of `Tick`, send COUNT of them
//! rust_peer chan-recv NAME COUNT        # open a channel of `Tick`, print COUNT of them
//! rust_peer chan-open-other NAME        # open it as a channel of `Other`: print the error
//! rust_peer seqlock-write NAME          # open a Shared<SeqLock<Quad>>, write Quad(i, i, i, i) until told
//! rust_peer seqlock-die NAME            # write Quad(1..), start a second write and stop half-way
//! ```
//!
//! Each role prints `ready` once attached, so the parent can synchronise on
//! its stdout instead of sleeping.

use std::io::Write;
use std::time::{Duration, Instant};

use shmkit::broadcast::{Publisher, Subscriber};
use shmkit::queue::spsc::{Consumer, Producer};
use shmkit::queue::{Options, Receiver, Sender};
use shmkit::sync::SeqLock;
use shmkit::Shared;

/// The value type of the typed-channel roles; the Python tests describe it
/// with the numpy dtype
/// `[("seq", "<u8"), ("price", "<f8"), ("qty", "<u4"), ("side", "u1"),
/// ("_pad", "u1", (3,)), ("levels", "<f4", (4,))]`, named `Tick`.
#[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Tick {
    seq: u64,
    price: f64,
    qty: u32,
    side: u8,
    _pad: [u8; 3],
    levels: [f32; 4],
}

impl Tick {
    fn nth(i: u64) -> Tick {
        let f = i as f32;
        Tick {
            seq: i,
            price: i as f64 * 0.5,
            qty: (i * 3) as u32,
            side: (i % 2) as u8,
            _pad: [0; 3],
            levels: [f, f + 0.25, f + 0.5, f + 0.75],
        }
    }
}

/// The value of the SeqLock roles: numpy `[("a", "<u8"), ("b", "<u8"),
/// ("c", "<u8"), ("d", "<u8")]`, named `Quad`. Every write makes all four
/// equal, so a torn read shows as unequal fields.
#[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Quad {
    a: u64,
    b: u64,
    c: u64,
    d: u64,
}

impl Quad {
    fn all(v: u64) -> Quad {
        Quad {
            a: v,
            b: v,
            c: v,
            d: v,
        }
    }
}

/// Another type, which a channel of `Tick` refuses.
#[derive(shmkit::Layout, Clone, Copy)]
#[repr(C)]
struct Other {
    seq: u64,
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn ready() {
    println!("ready");
    std::io::stdout().flush().ok();
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> Res<&str> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| format!("missing argument {i}; see the module docs for usage").into())
    };
    let role = arg(0)?;
    let name = arg(1)?;
    let timeout = Duration::from_secs(20);
    match role {
        "publish" => {
            let count: u64 = arg(2)?.parse()?;
            let mut p = Publisher::open_or_create(name, 64, 256)?;
            ready();
            p.wait_for_subscribers(1, timeout)?;
            for i in 0..count {
                p.send(format!("msg-{i}").as_bytes())?;
            }
            // Stay attached until the subscriber has had time to read: a
            // closed publisher ends its subscribers' reads.
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
        }
        "subscribe" => {
            let count: u64 = arg(2)?.parse()?;
            let mut s = Subscriber::open(name)?;
            ready();
            for _ in 0..count {
                let m = s.recv_timeout(timeout)?;
                println!("{}", String::from_utf8_lossy(&m));
            }
        }
        "spsc-send" => {
            let count: u64 = arg(2)?.parse()?;
            let mut p = Producer::open(name)?;
            ready();
            for i in 0..count {
                p.send_timeout(format!("msg-{i}").as_bytes(), timeout)?;
            }
        }
        "spsc-recv" => {
            let count: u64 = arg(2)?.parse()?;
            let mut c = Consumer::open(name)?;
            ready();
            for _ in 0..count {
                let m = c.recv_timeout(timeout)?;
                println!("{}", String::from_utf8_lossy(&m));
            }
        }
        "chan-send" => {
            let count: u64 = arg(2)?.parse()?;
            let mut tx = Sender::<Tick>::create(name, 64)?;
            ready();
            for i in 0..count {
                tx.send_timeout(&Tick::nth(i), timeout)?;
            }
            // Stay until told: the creator's exit removes the name.
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
        }
        "chan-recv" => {
            let count: u64 = arg(2)?.parse()?;
            let mut rx = Receiver::<Tick>::open(name)?;
            ready();
            for i in 0..count {
                let t = rx.recv_timeout(timeout)?;
                if t != Tick::nth(i) {
                    return Err(format!("value {i}: got {t:?}, expected {:?}", Tick::nth(i)).into());
                }
                println!("{} {} {} {} {:?}", t.seq, t.price, t.qty, t.side, t.levels);
            }
        }
        "chan-open-other" => match Receiver::<Other>::open(name) {
            Ok(_) => println!("opened"),
            Err(e @ shmkit::Error::LayoutMismatch { .. }) => {
                println!("refused LayoutMismatch: {e}")
            }
            Err(e) => println!("refused otherwise: {e}"),
        },
        "seqlock-write" => {
            // Writes Quad(i, i, i, i) for i = 1, 2, ... until a line arrives
            // on stdin, then prints `done <last i>`.
            let shared = Shared::<SeqLock<Quad>>::open(name)?;
            let mut w = shared.get().writer()?;
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = stop.clone();
            std::thread::spawn(move || {
                let mut line = String::new();
                let _ = std::io::stdin().read_line(&mut line);
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
            });
            ready();
            let start = Instant::now();
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && start.elapsed() < timeout {
                for _ in 0..64 {
                    i += 1;
                    w.write(&Quad::all(i));
                }
            }
            println!("done {i}");
        }
        "seqlock-die" => {
            let shared = Shared::<SeqLock<Quad>>::open(name)?;
            let mut w = shared.get().writer()?;
            w.write(&Quad::all(1));
            // Half of the next write's bytes, as a writer killed mid-copy
            // leaves them; the parent kills this process now.
            w.write_half_for_test(&Quad::all(2));
            println!("half");
            std::io::stdout().flush().ok();
            std::thread::sleep(Duration::from_secs(60));
        }
        "bench" => bench(name, arg(2)?.parse()?, arg(3)?.parse()?)?,
        "bench-send" => bench_send(name, arg(2)?.parse()?, arg(3)?.parse()?)?,
        "pingpong" => pingpong(name, arg(2)?.parse()?)?,
        "pingpong-echo" => pingpong_echo(name, arg(2)?.parse()?)?,
        other => return Err(format!("unknown role {other:?}").into()),
    }
    Ok(())
}

/// Native SPSC throughput with the Python row's process layout: this
/// process creates the consumer and spawns a second `rust_peer` process
/// (`bench-send`) that opens the queue by name and sends for `seconds`;
/// the clock runs from the first message to the producer's close, and the
/// consumer copies each message out into a reused buffer (`recv_into`).
fn bench(name: &str, size: usize, seconds: f64) -> Res<()> {
    let cap = (size * 64).max(1 << 20);
    let mut c = Consumer::create_with(name, cap, &Options::default())?;
    let child = std::process::Command::new(std::env::current_exe()?)
        .args(["bench-send", name, &size.to_string(), &seconds.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut buf = c.recv_timeout(Duration::from_secs(60))?;
    let start = Instant::now();
    let mut got = 1u64;
    loop {
        match c.recv_into(&mut buf) {
            Ok(()) => got += 1,
            Err(shmkit::Error::Closed { .. }) => break,
            Err(e) => return Err(e.into()),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(format!("bench-send failed: {}", out.status).into());
    }
    let sent: u64 = String::from_utf8(out.stdout)?.trim().parse()?;
    if sent != got {
        return Err(format!("bench-send sent {sent} messages but {got} arrived").into());
    }
    // The first message started the clock: it is not counted.
    println!("{{\"messages\": {}, \"seconds\": {secs}}}", got - 1);
    Ok(())
}

/// The producer process of [`bench`]: sends `size`-byte messages for
/// `seconds`, in batches of 256 between clock reads as the Python producer
/// does, closes, and prints how many it sent.
fn bench_send(name: &str, size: usize, seconds: f64) -> Res<()> {
    let mut p = Producer::open(name)?;
    let msg = vec![7u8; size];
    let dur = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < dur {
        for _ in 0..256 {
            p.send(&msg)?;
        }
        n += 256;
    }
    drop(p);
    println!("{n}");
    Ok(())
}

/// Native 64 B round trips with the Python row's process layout: this
/// process creates both queues and spawns a second `rust_peer` process
/// (`pingpong-echo`) that sends back each message it receives.
fn pingpong(name: &str, rounds: u64) -> Res<()> {
    let ping = format!("{name}a");
    let pong = format!("{name}b");
    let mut p1 = Producer::create(&ping, 1 << 16)?;
    let mut c2 = Consumer::create(&pong, 1 << 16)?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["pingpong-echo", name, &rounds.to_string()])
        .spawn()?;
    let msg = [1u8; 64];
    let mut buf = Vec::new();
    // One warm-up round trip, also waiting for the echo to attach.
    p1.send(&msg)?;
    buf.clear();
    buf.extend(c2.recv_timeout(Duration::from_secs(60))?);
    let start = Instant::now();
    for _ in 0..rounds {
        p1.send(&msg)?;
        c2.recv_into(&mut buf)?;
    }
    let secs = start.elapsed().as_secs_f64();
    let status = child.wait()?;
    if !status.success() {
        return Err(format!("pingpong-echo failed: {status}").into());
    }
    println!("{{\"rounds\": {rounds}, \"seconds\": {secs}}}");
    Ok(())
}

/// The echo process of [`pingpong`]: `rounds` + 1 messages back.
fn pingpong_echo(name: &str, rounds: u64) -> Res<()> {
    let mut c1 = Consumer::open(&format!("{name}a"))?;
    let mut p2 = Producer::open(&format!("{name}b"))?;
    let mut buf = Vec::new();
    for _ in 0..=rounds {
        c1.recv_into(&mut buf)?;
        p2.send(&buf)?;
    }
    Ok(())
}

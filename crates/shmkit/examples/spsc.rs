//! An SPSC byte queue between two processes: the first creates the queue and
//! consumes, the second (this program again) opens it by name and produces,
//! by copy and in place.
//!
//! ```text
//! cargo run -p shmkit --example spsc
//! ```

use std::process::Command;

use shmkit::queue::spsc::{Consumer, Producer};

const COUNT: u64 = 1000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, name] = args.as_slice() {
        if role == "producer" {
            return producer(name);
        }
    }

    let name = format!("ex-spsc-{}", std::process::id());
    // A 64 KiB ring. The queue's name lives as long as `rx`, which outlives
    // the producer's process below.
    let mut rx = Consumer::create(&name, 64 << 10)?;
    let mut child = Command::new(std::env::current_exe()?)
        .args(["producer", &name])
        .spawn()?;

    assert_eq!(rx.recv()?, b"hello");
    for i in 0..COUNT {
        // Read in place: the message stays in the ring until released.
        let msg = rx.read()?;
        let mut n = [0u8; 8];
        msg.read_at(0, &mut n)?;
        msg.release();
        assert_eq!(u64::from_le_bytes(n), i, "messages arrive in order");
    }
    let status = child.wait()?;
    assert!(status.success(), "the producer failed: {status}");
    println!("consumer: got `hello` and {COUNT} numbers in order");
    Ok(())
}

fn producer(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut tx = Producer::open(name)?;
    tx.send(b"hello")?; // by copy
    for i in 0..COUNT {
        let mut grant = tx.reserve(8)?; // in place: written into the ring
        grant.write_at(0, &i.to_le_bytes())?;
        grant.commit()?;
    }
    Ok(())
}

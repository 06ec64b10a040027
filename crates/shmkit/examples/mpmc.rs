//! An MPMC queue: two producer processes and one consumer. Every message goes
//! to exactly one consumer, whichever process sent it. The producers stay
//! attached until the consumer has every message, so that it never finds
//! every producer closed while one is still to come.
//!
//! ```text
//! cargo run -p shmkit --example mpmc
//! ```

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use shmkit::queue::mpmc::{Consumer, Producer};

const PER_PRODUCER: u64 = 500;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, name, first] = args.as_slice() {
        if role == "producer" {
            let first: u64 = first.parse()?;
            let mut tx = Producer::open(name)?;
            for n in first..first + PER_PRODUCER {
                tx.send(&n.to_le_bytes())?;
            }
            // Stay attached until the consumer is done: once every producer
            // has closed its end, `recv` says `Closed`, though the other
            // producer may not have attached yet.
            std::io::stdin().read_line(&mut String::new())?;
            return Ok(());
        }
    }

    let name = format!("ex-mpmc-{}", std::process::id());
    // 64 slots of up to 8 bytes each.
    let mut rx = Consumer::create(&name, 64, 8)?;
    let exe = std::env::current_exe()?;
    let children = [0, PER_PRODUCER].map(|first| {
        Command::new(&exe)
            .args(["producer", &name, &first.to_string()])
            .stdin(Stdio::piped())
            .spawn()
    });

    let mut seen = BTreeSet::new();
    for _ in 0..2 * PER_PRODUCER {
        let msg = rx.recv()?;
        let n = u64::from_le_bytes(msg.as_slice().try_into()?);
        assert!(seen.insert(n), "message {n} arrived twice");
    }
    for child in children {
        let mut child = child?;
        drop(child.stdin.take()); // end of input: the producer may go
        let status = child.wait()?;
        assert!(status.success(), "a producer failed: {status}");
    }
    assert_eq!(seen.len() as u64, 2 * PER_PRODUCER);
    assert_eq!(seen.last(), Some(&(2 * PER_PRODUCER - 1)));
    println!(
        "consumer: {} messages from two producers, each once",
        seen.len()
    );
    Ok(())
}

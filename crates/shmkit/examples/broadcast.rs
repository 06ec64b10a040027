//! Publish/subscribe: one publisher, two subscriber processes, and every
//! subscriber sees every message.
//!
//! ```text
//! cargo run -p shmkit --example broadcast
//! ```

use std::process::Command;
use std::time::Duration;

use shmkit::broadcast::{Publisher, Subscriber};

const COUNT: u32 = 20;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, name] = args.as_slice() {
        if role == "subscriber" {
            let mut sub = Subscriber::open(name)?;
            for i in 0..COUNT {
                let msg = sub.recv_timeout(Duration::from_secs(10))?;
                assert_eq!(msg, format!("tick {i}").as_bytes());
            }
            return Ok(());
        }
    }

    let name = format!("ex-broadcast-{}", std::process::id());
    // 64 slots of up to 32 bytes; a ring larger than COUNT, so that no
    // subscriber is lapped (which would be `Error::Lagged`).
    let mut topic = Publisher::create(&name, 64, 32)?;
    let exe = std::env::current_exe()?;
    let children = [(); 2].map(|()| Command::new(&exe).args(["subscriber", &name]).spawn());
    // Publish only once both subscribers are in: a late joiner starts at the
    // newest message.
    let n = topic.wait_for_subscribers(2, Duration::from_secs(10))?;
    assert_eq!(n, 2);
    for i in 0..COUNT {
        topic.send(format!("tick {i}").as_bytes())?;
    }
    for child in children {
        let status = child?.wait()?;
        assert!(status.success(), "a subscriber failed: {status}");
    }
    println!("publisher: {COUNT} messages, seen by both subscribers");
    Ok(())
}

//! A typed channel between two processes: `Sender<T>` and `Receiver<T>` carry
//! a `#[derive(shmkit::Layout)]` struct, checked against the creator's layout
//! when the second process opens the channel by name.
//!
//! ```text
//! cargo run -p shmkit --example channel
//! ```

use std::process::Command;

use shmkit::queue::{Receiver, Sender};

#[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Reading {
    sensor: u32,
    _pad: u32,
    celsius: f64,
}

const COUNT: u32 = 100;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, name] = args.as_slice() {
        if role == "sender" {
            let mut tx = Sender::<Reading>::open(name)?;
            for sensor in 0..COUNT {
                let celsius = f64::from(sensor) / 2.0;
                tx.send(&Reading {
                    sensor,
                    _pad: 0,
                    celsius,
                })?;
            }
            return Ok(());
        }
    }

    let name = format!("ex-channel-{}", std::process::id());
    let mut rx = Receiver::<Reading>::create(&name, 16)?; // room for 16 values
    let mut child = Command::new(std::env::current_exe()?)
        .args(["sender", &name])
        .spawn()?;
    for sensor in 0..COUNT {
        let got = rx.recv()?;
        assert_eq!(
            got,
            Reading {
                sensor,
                _pad: 0,
                celsius: f64::from(sensor) / 2.0
            }
        );
    }
    let status = child.wait()?;
    assert!(status.success(), "the sender failed: {status}");
    println!("receiver: {COUNT} readings, each whole and in order");
    Ok(())
}

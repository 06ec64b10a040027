//! Two processes share one segment by name, as in the textbook: the first
//! creates it and writes, the second opens it, reads, and answers.
//!
//! ```text
//! cargo run --release -p shmkit --example two_processes
//! ```

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use shmkit::Segment;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, name] = args.as_slice() {
        if role == "second" {
            return second(name);
        }
    }

    let name = format!("MyShare-{}", std::process::id());
    // The name lives as long as `seg`: this program stays alive (it waits for
    // the second below) so that the second can open it. Had it exited first,
    // the second would get `NotFound`; `Segment::options().persist(true)`
    // keeps a name past its creator until `Segment::remove`.
    let seg = Segment::create(&name, 1000)?;
    seg.write_at(0, b"Hello from the first process")?;
    println!(
        "first:  created `{name}` ({} bytes) and wrote a greeting",
        seg.len()
    );

    // Start the second program and wait until it says it has answered.
    let mut child = Command::new(std::env::current_exe()?)
        .args(["second", &name])
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    for line in BufReader::new(stdout).lines() {
        println!("{}", line?);
    }
    if !child.wait()?.success() {
        return Err("the second process failed".into());
    }

    let mut answer = [0u8; 30];
    seg.read_at(500, &mut answer)?;
    assert_eq!(&answer, b"Hello back from the second one");
    println!("first:  read back {:?}", String::from_utf8_lossy(&answer));
    Ok(())
    // `seg` is dropped here: its name is removed, as the textbook's Dispose.
}

fn second(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let seg = Segment::open(name)?;
    let mut greeting = [0u8; 28];
    seg.read_at(0, &mut greeting)?;
    assert_eq!(&greeting, b"Hello from the first process");
    println!(
        "second: opened `{name}` ({} bytes) and read {:?}",
        seg.len(),
        String::from_utf8_lossy(&greeting)
    );
    seg.write_at(500, b"Hello back from the second one")?;
    println!("second: wrote an answer at offset 500");
    Ok(())
}

//! A `SeqLock` shares a struct that one process keeps updating and another
//! reads without ever blocking the writer; every read is one whole write.
//!
//! ```text
//! cargo run -p shmkit --example seqlock
//! ```

use std::process::Command;

use shmkit::sync::SeqLock;
use shmkit::Shared;

#[derive(shmkit::Layout, Clone, Copy)]
#[repr(C)]
struct Position {
    x: u64,
    y: u64, // always x * 2, so a torn read would show
}

#[derive(shmkit::Layout)]
#[shmkit(in_place)]
#[repr(C)]
struct Board {
    pos: SeqLock<Position>,
}

const WRITES: u64 = 100_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, name] = args.as_slice() {
        if role == "writer" {
            let shared = Shared::<Board>::open(name)?;
            let mut writer = shared.get().pos.writer()?; // one writer at a time
            for x in 1..=WRITES {
                writer.write(&Position { x, y: x * 2 });
            }
            return Ok(());
        }
    }

    let name = format!("ex-seqlock-{}", std::process::id());
    let shared = Shared::<Board>::create(&name)?;
    let pos = &shared.get().pos;
    let mut child = Command::new(std::env::current_exe()?)
        .args(["writer", &name])
        .spawn()?;
    let (mut reads, mut last) = (0u64, 0u64);
    while last < WRITES {
        let p = pos.read();
        assert_eq!(p.y, p.x * 2, "a read mixed two writes");
        assert!(p.x >= last, "the value went backwards");
        last = p.x;
        reads += 1;
        if child.try_wait()?.is_some() && last < WRITES {
            last = pos.read().x; // the writer finished: its last write is there
            break;
        }
    }
    let status = child.wait()?;
    assert!(status.success(), "the writer failed: {status}");
    assert_eq!(last, WRITES);
    println!("reader: {reads} consistent reads while the other process wrote {WRITES} times");
    Ok(())
}

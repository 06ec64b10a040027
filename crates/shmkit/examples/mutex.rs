//! A `Mutex<u64>` in a typed segment shared by two processes: both count, and
//! when a holder dies with the lock (as a process killed with `kill -9`
//! does), the next locker is told and repairs the data.
//!
//! ```text
//! cargo run -p shmkit --example mutex
//! ```

use std::process::Command;

use shmkit::sync::Mutex;
use shmkit::Shared;

#[derive(shmkit::Layout)]
#[shmkit(in_place)]
#[repr(C)]
struct Counter {
    count: Mutex<u64>,
}

const ROUNDS: u64 = 10_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, name] = args.as_slice() {
        let shared = Shared::<Counter>::open(name)?;
        let count = &shared.get().count;
        if role == "count" {
            count_up(count)?;
        } else if role == "die-holding" {
            let mut guard = count.lock().map_err(shmkit::Error::from)?;
            *guard = 999; // a half-done update...
            std::process::exit(3); // ...and the process ends holding the lock
        }
        return Ok(());
    }

    let name = format!("ex-mutex-{}", std::process::id());
    let shared = Shared::<Counter>::create(&name)?; // all zeros: unlocked, 0
    let count = &shared.get().count;
    let exe = std::env::current_exe()?;

    let mut child = Command::new(&exe).args(["count", &name]).spawn()?;
    count_up(count)?;
    let status = child.wait()?;
    assert!(status.success(), "the counting child failed: {status}");
    let total = *count.lock().map_err(shmkit::Error::from)?;
    assert_eq!(total, 2 * ROUNDS, "no increment is lost");

    let status = Command::new(&exe).args(["die-holding", &name]).status()?;
    assert_eq!(status.code(), Some(3));
    // The holder is gone: `lock` says so (`Error::OwnerDied` through `?`)
    // until someone repairs the data.
    assert!(count.lock().is_err());
    let guard = count.lock_or_repair(|n| *n = 2 * ROUNDS)?;
    assert_eq!(*guard, 2 * ROUNDS);
    println!(
        "counted to {} in two processes; recovered from a dead holder",
        *guard
    );
    Ok(())
}

/// Adds one, `ROUNDS` times, each under the lock. `?` turns a dead holder
/// into `Error::OwnerDied`.
fn count_up(count: &Mutex<u64>) -> shmkit::Result<()> {
    for _ in 0..ROUNDS {
        *count.lock()? += 1;
    }
    Ok(())
}

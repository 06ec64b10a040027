//! An `Event` wakes a process blocked in another one: the first waits, the
//! second (this program again) publishes a value and notifies.
//!
//! ```text
//! cargo run -p shmkit --example event
//! ```

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use shmkit::sync::Event;
use shmkit::Shared;

#[derive(shmkit::Layout)]
#[shmkit(in_place)]
#[repr(C)]
struct Mailbox {
    value: AtomicU64,
    ready: Event, // auto-reset: each notify lets one wait through
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, name] = args.as_slice() {
        if role == "notifier" {
            let shared = Shared::<Mailbox>::open(name)?;
            let mailbox = shared.get();
            // SYNC(mailbox): the store is published by the Event's notify.
            mailbox.value.store(42, Ordering::Relaxed);
            mailbox.ready.notify_one()?;
            return Ok(());
        }
    }

    let name = format!("ex-event-{}", std::process::id());
    let shared = Shared::<Mailbox>::create(&name)?;
    let mailbox = shared.get();
    let mut child = Command::new(std::env::current_exe()?)
        .args(["notifier", &name])
        .spawn()?;
    // Blocks (a shared futex on Linux) until the other process notifies.
    let woken = mailbox.ready.wait_timeout(Duration::from_secs(10))?;
    assert!(woken, "no notify within 10 s");
    // SYNC(mailbox): the wait that returned true acquires the notifier's store.
    assert_eq!(mailbox.value.load(Ordering::Relaxed), 42);
    let status = child.wait()?;
    assert!(status.success(), "the notifier failed: {status}");
    println!("waiter: woken by the other process, which left 42");
    Ok(())
}

//! A new user's first hour, as separate processes: the programs someone
//! writes from the README alone, using only the public API the way the
//! README shows it.
//!
//! - the textbook's writer and reader as two programs (the writer stays
//!   alive, or creates with `persist` and exits first);
//! - an SPSC stream of 100,000 messages, and the same over the typed
//!   channel, the two ends meeting through `open_or_create`;
//! - one publisher with two subscriber processes that start first and wait
//!   for it (`wait_for_creator`), the publisher waiting for both
//!   (`wait_for_subscribers`);
//! - a counter under a `Mutex` incremented by two processes.
//!
//! Each program is this test binary re-run as a child; every child's exit
//! status is asserted.
#![allow(missing_docs)]

mod common;

use std::process::ExitStatus;
use std::time::Duration;

use common::{hear, role, say, unique, Child, Cleanup, QueueCleanup};
use shmkit::broadcast::{Publisher, Subscriber};
use shmkit::queue::spsc::{Consumer, Producer};
use shmkit::queue::{Options, Receiver, Sender};
use shmkit::sync::Mutex;
use shmkit::Shared;

/// Messages in each stream.
const STREAM: u64 = 100_000;

/// Messages the publisher sends: fewer than its slots, so that a subscriber
/// that keeps up with the README's defaults is never lapped.
const TOPIC_MESSAGES: u64 = 1000;

/// Increments each of the two counting processes makes.
const INCREMENTS: u64 = 5000;

/// How long a child waits for its peer before it gives up with an error.
const PATIENCE: Duration = Duration::from_secs(20);

/// The textbook's struct, as the README and docs/guide.md have it.
#[derive(shmkit::Layout, Clone, Copy)]
#[repr(C)]
struct MySharedData {
    value: i32,
    letter: u16,
    _pad: [u8; 2],
    numbers: [f32; 50],
}

/// A value for the typed channel.
#[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Reading {
    seq: u64,
    value: f64,
}

/// A counter two processes share, reached in place.
#[derive(shmkit::Layout)]
#[shmkit(in_place)]
#[repr(C)]
struct Counter {
    count: Mutex<u64>,
}

/// Asserts that a child ended by exiting with code 0, not by a signal.
fn assert_exited_ok(status: ExitStatus, who: &str) {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            None,
            "{who} was killed by a signal: {status}"
        );
    }
    assert_eq!(status.code(), Some(0), "{who} failed: {status}");
}

/// The textbook's first program: creates the struct, writes the values; held
/// (`"held"`), it stays alive until told to check what the second wrote;
/// with `"persist"` it exits and the name stays.
fn textbook_writer(name: &str, how: &str) -> shmkit::Result<()> {
    let data = if how == "persist" {
        Shared::<MySharedData>::options()
            .persist(true)
            .create(name)?
    } else {
        Shared::<MySharedData>::create(name)?
    };
    data.value().set(123)?;
    data.letter().set(u16::from(b'X'))?;
    data.numbers().at(10).set(1.45)?;
    say("written");
    if how == "persist" {
        return Ok(());
    }
    assert_eq!(hear(), "check");
    let seen = data.load().unwrap();
    say(&format!(
        "sees {} {} {}",
        seen.value, seen.letter, seen.numbers[10]
    ));
    Ok(())
}

/// The textbook's second program: opens by name, reads, writes new values.
fn textbook_reader(name: &str) -> shmkit::Result<()> {
    let data = Shared::<MySharedData>::open(name)?;
    let seen = data.load().unwrap();
    say(&format!(
        "read {} {} {}",
        seen.value, seen.letter, seen.numbers[10]
    ));
    data.value().set(456)?;
    data.letter().set(u16::from(b'Y'))?;
    data.numbers().at(10).set(2.5)?;
    Ok(())
}

fn textbook(how: &str) {
    let test = format!("the_textbook_writer_and_reader_are_two_programs_{how}");
    let name = unique("book");
    let _c = Cleanup(name.clone());
    let mut writer = Child::spawn(&test, "writer", &[&name, how]);
    assert_eq!(writer.recv(), "written");
    let mut writer = if how == "persist" {
        assert_exited_ok(writer.wait_status(), "the writer");
        None
    } else {
        Some(writer)
    };
    let mut reader = Child::spawn(&test, "reader", &[&name]);
    assert_eq!(reader.recv(), "read 123 88 1.45");
    assert_exited_ok(reader.wait_status(), "the reader");
    match writer.take() {
        None => {
            let data = Shared::<MySharedData>::open(&name).unwrap();
            assert_eq!(data.value().get().unwrap(), 456);
            shmkit::Segment::remove(&name).unwrap();
        }
        Some(mut writer) => {
            writer.send("check");
            assert_eq!(writer.recv(), "sees 456 89 2.5");
            assert_exited_ok(writer.wait_status(), "the writer");
        }
    }
}

fn child_result(result: shmkit::Result<()>) {
    if let Err(e) = result {
        say(&format!("error {e}"));
        std::process::exit(1);
    }
}

#[test]
fn the_textbook_writer_and_reader_are_two_programs_held() {
    if let Some((role, args)) = role() {
        match role.as_str() {
            "writer" => child_result(textbook_writer(&args[0], &args[1])),
            _ => child_result(textbook_reader(&args[0])),
        }
        return;
    }
    textbook("held");
}

#[test]
#[cfg_attr(
    windows,
    ignore = "Windows has no persistent names: a segment lives while a process has it open"
)]
fn the_textbook_writer_and_reader_are_two_programs_persist() {
    if let Some((role, args)) = role() {
        match role.as_str() {
            "writer" => child_result(textbook_writer(&args[0], &args[1])),
            _ => child_result(textbook_reader(&args[0])),
        }
        return;
    }
    textbook("persist");
}

/// Runs `test`'s two children, in the order given, and asserts that both
/// exit cleanly, the receiver having said `expect`.
fn run_pair(test: &str, name: &str, first: &str, second: &str, expect: &str) {
    let mut a = Child::spawn(test, first, &[name]);
    let mut b = Child::spawn(test, second, &[name]);
    let receiver = if first == "receiver" { &mut a } else { &mut b };
    assert_eq!(receiver.recv(), expect);
    assert_exited_ok(a.wait_status(), first);
    assert_exited_ok(b.wait_status(), second);
}

fn spsc_producer(name: &str) -> shmkit::Result<()> {
    let mut tx = Producer::open_or_create(name, 64 << 10)?;
    for n in 0..STREAM {
        tx.send_timeout(&n.to_le_bytes(), PATIENCE)?;
    }
    Ok(())
}

fn spsc_consumer(name: &str) -> shmkit::Result<()> {
    let mut rx = Consumer::open_or_create(name, 64 << 10)?;
    for n in 0..STREAM {
        let msg = rx.recv_timeout(PATIENCE)?;
        if msg != n.to_le_bytes() {
            say(&format!("message {n} out of order: {msg:?}"));
            std::process::exit(1);
        }
    }
    say(&format!("received {STREAM} in order"));
    Ok(())
}

#[test]
fn an_spsc_stream_of_100000_messages_arrives_in_order_between_two_programs() {
    if let Some((role, args)) = role() {
        match role.as_str() {
            "sender" => child_result(spsc_producer(&args[0])),
            _ => child_result(spsc_consumer(&args[0])),
        }
        return;
    }
    let test = "an_spsc_stream_of_100000_messages_arrives_in_order_between_two_programs";
    let expect = format!("received {STREAM} in order");
    for (first, second) in [("sender", "receiver"), ("receiver", "sender")] {
        let name = unique("spsc");
        let _c = QueueCleanup(name.clone());
        run_pair(test, &name, first, second, &expect);
    }
}

fn channel_sender(name: &str) -> shmkit::Result<()> {
    let mut tx = Sender::<Reading>::open_or_create(name, 1024)?;
    for seq in 0..STREAM {
        tx.send_timeout(
            &Reading {
                seq,
                value: seq as f64 / 2.0,
            },
            PATIENCE,
        )?;
    }
    Ok(())
}

fn channel_receiver(name: &str) -> shmkit::Result<()> {
    let mut rx = Receiver::<Reading>::open_or_create(name, 1024)?;
    for seq in 0..STREAM {
        let r = rx.recv_timeout(PATIENCE)?;
        if r != (Reading {
            seq,
            value: seq as f64 / 2.0,
        }) {
            say(&format!("value {seq} out of order: {r:?}"));
            std::process::exit(1);
        }
    }
    say(&format!("received {STREAM} in order"));
    Ok(())
}

#[test]
fn a_typed_channel_of_100000_values_arrives_in_order_between_two_programs() {
    if let Some((role, args)) = role() {
        match role.as_str() {
            "sender" => child_result(channel_sender(&args[0])),
            _ => child_result(channel_receiver(&args[0])),
        }
        return;
    }
    let test = "a_typed_channel_of_100000_values_arrives_in_order_between_two_programs";
    let expect = format!("received {STREAM} in order");
    for (first, second) in [("sender", "receiver"), ("receiver", "sender")] {
        let name = unique("chan");
        let _c = QueueCleanup(name.clone());
        run_pair(test, &name, first, second, &expect);
    }
}

fn publisher(name: &str) -> shmkit::Result<()> {
    let mut topic = Publisher::create(name, 1024, 64)?;
    topic.wait_for_subscribers(2, PATIENCE)?;
    say("both subscribers in");
    for n in 0..TOPIC_MESSAGES {
        topic.send(&n.to_le_bytes())?;
    }
    Ok(())
}

fn subscriber(name: &str) -> shmkit::Result<()> {
    let opts = Options::default().wait_for_creator(PATIENCE);
    let mut sub = Subscriber::open_with(name, &opts)?;
    for n in 0..TOPIC_MESSAGES {
        let msg = sub.recv_timeout(PATIENCE)?;
        if msg != n.to_le_bytes() {
            say(&format!("message {n} out of order: {msg:?}"));
            std::process::exit(1);
        }
    }
    say(&format!("received {TOPIC_MESSAGES} in order"));
    Ok(())
}

#[test]
fn one_publisher_reaches_two_subscriber_programs_with_every_message_in_order() {
    if let Some((role, args)) = role() {
        match role.as_str() {
            "publisher" => child_result(publisher(&args[0])),
            _ => child_result(subscriber(&args[0])),
        }
        return;
    }
    let test = "one_publisher_reaches_two_subscriber_programs_with_every_message_in_order";
    let name = unique("topic");
    let _c = QueueCleanup(name.clone());
    // The subscribers start first and wait for the publisher to create.
    let mut subs = [
        Child::spawn(test, "subscriber", &[&name]),
        Child::spawn(test, "subscriber", &[&name]),
    ];
    let mut publisher = Child::spawn(test, "publisher", &[&name]);
    assert_eq!(publisher.recv(), "both subscribers in");
    let expect = format!("received {TOPIC_MESSAGES} in order");
    for sub in &mut subs {
        assert_eq!(sub.recv(), expect);
    }
    for sub in subs {
        assert_exited_ok(sub.wait_status(), "a subscriber");
    }
    assert_exited_ok(publisher.wait_status(), "the publisher");
}

fn count(name: &str) -> shmkit::Result<()> {
    // Either program may start first and either may finish first: the name
    // persists, so a late starter finds the counter, not a fresh one. Windows
    // has no persistent names: there the parent holds the counter open while
    // the two programs run.
    let counter = Shared::<Counter>::options()
        .persist(cfg!(unix))
        .open_or_create(name)?;
    let c = counter.get();
    for _ in 0..INCREMENTS {
        *c.count.lock()? += 1;
    }
    Ok(())
}

#[test]
fn a_mutex_counter_incremented_by_two_programs_ends_at_their_sum() {
    if let Some((_, args)) = role() {
        child_result(count(&args[0]));
        return;
    }
    let test = "a_mutex_counter_incremented_by_two_programs_ends_at_their_sum";
    let name = unique("count");
    let _c = Cleanup(name.clone());
    #[cfg(windows)]
    let _held = Shared::<Counter>::create(&name).unwrap();
    let a = Child::spawn(test, "counter", &[&name]);
    let b = Child::spawn(test, "counter", &[&name]);
    assert_exited_ok(a.wait_status(), "the first counter");
    assert_exited_ok(b.wait_status(), "the second counter");
    let counter = Shared::<Counter>::open(&name).unwrap();
    assert_eq!(*counter.get().count.lock().unwrap(), 2 * INCREMENTS);
}

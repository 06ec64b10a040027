//! What an opener makes of a segment that is not a ready typed segment while
//! the process that made it is alive: never "its creator died; remove it".
//!
//! The header's magic number and version are checked before its `state`
//! word, so a scribbled header is corrupted, and a segment of zeros is "not a
//! typed segment, or not initialised yet".

mod common;

use std::time::Duration;

use common::{role, say, unique, Child, Cleanup, QueueCleanup};
use shmkit::header::init_state;
use shmkit::queue::spsc::{Consumer, Producer};
use shmkit::queue::Peer;
use shmkit::{Error, Segment, Shared};

#[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Data {
    value: u64,
    count: u32,
    _pad: u32,
}

/// Where a typed segment's `state` word is (see the header table in the
/// crate's `Shared` docs).
const STATE_OFFSET: usize = 12;

/// Advice that is wrong while the creator lives.
fn advises_removal(err: &Error) -> bool {
    let text = err.to_string();
    text.contains("died") || text.contains("remove it (")
}

#[test]
fn a_scribbled_state_word_is_corrupted_while_its_creator_lives() {
    if let Some((_, args)) = role() {
        let data = Shared::create_with(
            &args[0],
            Data {
                value: 7,
                count: 1,
                _pad: 0,
            },
        )
        .unwrap();
        say("ready");
        common::hear();
        drop(data);
        return;
    }
    let name = unique("scrib-state");
    let _c = Cleanup(name.clone());
    let mut creator = Child::spawn(
        "a_scribbled_state_word_is_corrupted_while_its_creator_lives",
        "creator",
        &[&name],
    );
    assert_eq!(creator.recv(), "ready");
    assert_eq!(
        Shared::<Data>::open(&name).unwrap().load().unwrap().value,
        7
    );
    // A scribbler writes four bytes over the state word.
    let scribbler = Segment::open(&name).unwrap();
    scribbler
        .write_at(STATE_OFFSET, &0xdead_beef_u32.to_le_bytes())
        .unwrap();
    let err = Shared::<Data>::open(&name).unwrap_err();
    assert!(matches!(err, Error::Corrupted { .. }), "{err}");
    assert!(err.to_string().contains("0xdeadbeef"), "{err}");
    assert!(!advises_removal(&err), "{err}");
    let err = init_state(&scribbler).unwrap_err();
    assert!(matches!(err, Error::Corrupted { .. }), "{err}");
    // The creator was alive all along.
    assert!(creator.exited().is_none());
    creator.send("done");
    creator.wait_ok();
}

#[test]
fn a_zero_filled_segment_of_a_live_raw_creator_is_not_typed() {
    if let Some((_, args)) = role() {
        let seg = Segment::create(&args[0], 4096).unwrap();
        say("ready");
        common::hear();
        drop(seg);
        return;
    }
    let name = unique("zeros-live");
    let _c = Cleanup(name.clone());
    let mut creator = Child::spawn(
        "a_zero_filled_segment_of_a_live_raw_creator_is_not_typed",
        "creator",
        &[&name],
    );
    assert_eq!(creator.recv(), "ready");
    let err = Shared::<Data>::open(&name).unwrap_err();
    assert!(matches!(err, Error::NotTyped { .. }), "{err}");
    assert!(err.to_string().contains("only zeros"), "{err}");
    assert!(!advises_removal(&err), "{err}");
    let seg = Segment::open(&name).unwrap();
    assert!(matches!(init_state(&seg), Err(Error::NotTyped { .. })));
    assert!(creator.exited().is_none());
    creator.send("done");
    creator.wait_ok();
}

/// Every queue and ring endpoint opening a live raw creator's segment of
/// zeros, or one whose first bytes a scribbler overwrote, is told it is no
/// queue, never that its creator died.
#[test]
fn a_zero_filled_or_scribbled_segment_opened_as_a_queue_is_not_typed() {
    if let Some((_, args)) = role() {
        let seg = Segment::create(&args[0], 64 << 10).unwrap();
        if args[1] == "scribbled" {
            seg.write_at(0, b"garbage!").unwrap();
        }
        say("ready");
        common::hear();
        drop(seg);
        return;
    }
    for content in ["zeros", "scribbled"] {
        let name = unique("zeros-queue");
        let _c = Cleanup(name.clone());
        let _q = QueueCleanup(name.clone());
        let mut creator = Child::spawn(
            "a_zero_filled_or_scribbled_segment_opened_as_a_queue_is_not_typed",
            "creator",
            &[&name, content],
        );
        assert_eq!(creator.recv(), "ready");
        let short = shmkit::queue::Options::default().open_timeout(Duration::from_millis(200));
        let errors = [
            ("spsc consumer", Consumer::open_with(&name, &short).err()),
            ("spsc producer", Producer::open_with(&name, &short).err()),
            (
                "mpmc consumer",
                shmkit::queue::mpmc::Consumer::open_with(&name, &short).err(),
            ),
            (
                "mpmc producer",
                shmkit::queue::mpmc::Producer::open_with(&name, &short).err(),
            ),
            (
                "subscriber",
                shmkit::broadcast::Subscriber::open_with(&name, &short).err(),
            ),
        ];
        for (what, err) in errors {
            let err = err.unwrap_or_else(|| panic!("{content}: {what} opened a non-queue"));
            assert!(
                matches!(err, Error::NotTyped { .. }),
                "{content}: {what}: {err}"
            );
            assert!(!advises_removal(&err), "{content}: {what}: {err}");
        }
        assert!(creator.exited().is_none());
        creator.send("done");
        creator.wait_ok();
    }
}

/// Python's `SharedMemory(create=True)` makes a zero-filled segment and keeps
/// it mapped while the interpreter lives.
#[cfg(unix)]
#[test]
fn a_zero_filled_segment_of_a_live_python_creator_is_not_typed() {
    use std::process::{Command, Stdio};
    if !common::python_has_shared_memory() {
        return;
    }
    let name = unique("zeros-py");
    let _c = Cleanup(name.clone());
    let script = "import sys\n\
                  from multiprocessing import shared_memory\n\
                  m = shared_memory.SharedMemory(name=sys.argv[1], create=True, size=4096)\n\
                  print('@shmkit-child ready', flush=True)\n\
                  sys.stdin.readline()\n\
                  m.close()\n\
                  m.unlink()\n";
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script, &name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut creator = Child::start(cmd);
    assert_eq!(creator.recv(), "ready");
    let err = Shared::<Data>::open(&name).unwrap_err();
    assert!(matches!(err, Error::NotTyped { .. }), "{err}");
    assert!(!advises_removal(&err), "{err}");
    assert!(creator.exited().is_none());
    creator.send("done");
    creator.wait_ok();
}

/// A consumer refused for a scribbled queue never attached, so the live
/// producer does not see a consumer that died.
#[test]
fn a_consumer_refused_for_a_scribbled_queue_leaves_no_trace() {
    if let Some((_, args)) = role() {
        match Consumer::open(&args[0]) {
            Err(Error::Corrupted { .. }) => say("corrupted"),
            Err(e) => say(&format!("other error: {e}")),
            Ok(mut rx) => say(&format!(
                "opened: {}",
                String::from_utf8_lossy(&rx.recv().unwrap())
            )),
        }
        return;
    }
    const HEAD: usize = 256;
    let name = unique("scrib-head");
    let _c = QueueCleanup(name.clone());
    let mut tx = Producer::create(&name, 4096).unwrap();
    let seg = Segment::open(&name).unwrap();
    seg.write_at(HEAD, &3u64.to_le_bytes()).unwrap();
    let test = "a_consumer_refused_for_a_scribbled_queue_leaves_no_trace";
    let mut consumer = Child::spawn(test, "consumer", &[&name]);
    assert_eq!(consumer.recv(), "corrupted");
    let status = consumer.wait_status();
    assert!(status.success(), "{status}");
    assert_eq!(tx.peer(), Peer::NotYet);
    // Repaired, the queue takes a consumer as if nothing had happened.
    seg.write_at(HEAD, &0u64.to_le_bytes()).unwrap();
    tx.send(b"after").unwrap();
    let mut consumer = Child::spawn(test, "consumer", &[&name]);
    assert_eq!(consumer.recv(), "opened: after");
    consumer.wait_ok();
}

/// The same for a broadcast subscriber refused for a scribbled `next`.
#[test]
fn a_subscriber_refused_for_a_scribbled_ring_leaves_no_trace() {
    use shmkit::broadcast::{Publisher, Subscriber};
    if let Some((_, args)) = role() {
        match Subscriber::open(&args[0]) {
            Err(Error::Corrupted { .. }) => say("corrupted"),
            Err(e) => say(&format!("other error: {e}")),
            Ok(mut rx) => say(&format!(
                "opened: {}",
                String::from_utf8_lossy(&rx.recv().unwrap())
            )),
        }
        return;
    }
    const NEXT: usize = 128;
    let name = unique("scrib-next");
    let _c = QueueCleanup(name.clone());
    let mut tx = Publisher::create(&name, 8, 64).unwrap();
    let seg = Segment::open(&name).unwrap();
    seg.write_at(NEXT, &u64::MAX.to_le_bytes()).unwrap();
    let test = "a_subscriber_refused_for_a_scribbled_ring_leaves_no_trace";
    let mut subscriber = Child::spawn(test, "subscriber", &[&name]);
    assert_eq!(subscriber.recv(), "corrupted");
    let status = subscriber.wait_status();
    assert!(status.success(), "{status}");
    assert_eq!(tx.peer(), Peer::NotYet);
    seg.write_at(NEXT, &0u64.to_le_bytes()).unwrap();
    tx.send(b"after").unwrap();
    let mut subscriber = Child::spawn(test, "subscriber", &[&name]);
    assert_eq!(subscriber.recv(), "opened: after");
    subscriber.wait_ok();
}

/// What a live consumer or subscriber child makes of its producer or
/// publisher role after the parent's refused open: the peer state, and
/// whether a short wait reports a dead peer. Then, told to, it receives one
/// message and reports it.
fn report_peer_then_recv<E>(
    mut end: E,
    peer: fn(&E) -> Peer,
    recv: fn(&mut E, Duration) -> shmkit::Result<Vec<u8>>,
) {
    say("ready");
    assert_eq!(common::hear(), "peer");
    let waited = match recv(&mut end, Duration::from_millis(100)) {
        Err(Error::PeerDied { .. }) => "PeerDied".to_owned(),
        Err(Error::Timeout { .. }) => "Timeout".to_owned(),
        Err(e) => format!("other error: {e}"),
        Ok(msg) => format!("message {}", String::from_utf8_lossy(&msg)),
    };
    say(&format!("{:?} {waited}", peer(&end)));
    assert_eq!(common::hear(), "recv");
    match recv(&mut end, Duration::from_secs(10)) {
        Ok(msg) => say(&format!("got {}", String::from_utf8_lossy(&msg))),
        Err(e) => say(&format!("error {e}")),
    }
}

/// A producer refused for a scribbled queue never attached, so the live
/// consumer (another process) does not see a producer that died.
#[test]
fn a_producer_refused_for_a_scribbled_queue_leaves_no_trace() {
    if let Some((_, args)) = role() {
        let rx = Consumer::create(&args[0], 4096).unwrap();
        report_peer_then_recv(rx, Consumer::peer, Consumer::recv_timeout);
        return;
    }
    const TAIL: usize = 128;
    let name = unique("scrib-tail");
    let _c = QueueCleanup(name.clone());
    let test = "a_producer_refused_for_a_scribbled_queue_leaves_no_trace";
    let mut consumer = Child::spawn(test, "consumer", &[&name]);
    assert_eq!(consumer.recv(), "ready");
    let seg = Segment::open(&name).unwrap();
    seg.write_at(TAIL, &3u64.to_le_bytes()).unwrap();
    let err = Producer::open(&name).unwrap_err();
    assert!(matches!(err, Error::Corrupted { .. }), "{err}");
    consumer.send("peer");
    assert_eq!(consumer.recv(), "NotYet Timeout");
    // Repaired, the queue takes a producer as if nothing had happened.
    seg.write_at(TAIL, &0u64.to_le_bytes()).unwrap();
    let mut tx = Producer::open(&name).unwrap();
    tx.send(b"after").unwrap();
    consumer.send("recv");
    assert_eq!(consumer.recv(), "got after");
    let status = consumer.wait_status();
    assert!(status.success(), "{status}");
}

/// The same for a broadcast publisher refused for a scribbled `next`, with
/// a live subscriber process.
#[test]
fn a_publisher_refused_for_a_scribbled_ring_leaves_no_trace() {
    use shmkit::broadcast::{Publisher, Subscriber};
    if let Some((_, args)) = role() {
        let rx = Subscriber::open_or_create(&args[0], 8, 64).unwrap();
        report_peer_then_recv(rx, Subscriber::peer, Subscriber::recv_timeout);
        return;
    }
    const NEXT: usize = 128;
    let name = unique("scrib-pub");
    let _c = QueueCleanup(name.clone());
    let test = "a_publisher_refused_for_a_scribbled_ring_leaves_no_trace";
    let mut subscriber = Child::spawn(test, "subscriber", &[&name]);
    assert_eq!(subscriber.recv(), "ready");
    let seg = Segment::open(&name).unwrap();
    seg.write_at(NEXT, &u64::MAX.to_le_bytes()).unwrap();
    let err = Publisher::open(&name).unwrap_err();
    assert!(matches!(err, Error::Corrupted { .. }), "{err}");
    subscriber.send("peer");
    assert_eq!(subscriber.recv(), "NotYet Timeout");
    seg.write_at(NEXT, &0u64.to_le_bytes()).unwrap();
    let mut tx = Publisher::open(&name).unwrap();
    tx.send(b"after").unwrap();
    subscriber.send("recv");
    assert_eq!(subscriber.recv(), "got after");
    let status = subscriber.wait_status();
    assert!(status.success(), "{status}");
}

/// A creator killed while writing its header leaves the magic number and
/// zeros after it (the header goes in word by word): that creator died
/// before publishing. Another version number, or a state word that no
/// creator writes, is damage.
#[test]
fn a_header_torn_after_the_magic_is_abandoned_and_other_words_are_corrupted() {
    let name = unique("torn");
    let _c = Cleanup(name.clone());
    let seg = Segment::create(&name, 4096).unwrap();
    seg.write_at(0, &shmkit::header::MAGIC).unwrap();
    let err = Shared::<Data>::open(&name).unwrap_err();
    assert!(matches!(err, Error::InitAbandoned { .. }), "{err}");
    seg.write_at(8, &7u32.to_le_bytes()).unwrap();
    let err = Shared::<Data>::open(&name).unwrap_err();
    assert!(
        matches!(err, Error::Corrupted { ref what, .. } if what.contains("version 7")),
        "{err}"
    );
    seg.write_at(8, &shmkit::header::VERSION.to_le_bytes())
        .unwrap();
    seg.write_at(STATE_OFFSET, &1u32.to_le_bytes()).unwrap();
    let err = Shared::<Data>::open(&name).unwrap_err();
    assert!(
        matches!(err, Error::Corrupted { ref what, .. } if what.contains("0x00000001")),
        "{err}"
    );
}

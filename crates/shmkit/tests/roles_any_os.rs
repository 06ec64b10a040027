//! Single-holder roles on every OS, with real second processes that open
//! the queue by name: two producers never both attach, and every message of
//! the one that did arrives. On Windows a role's liveness is a named event,
//! so the case of a file planted in `/dev/shm` (`tests/roles.rs`, Linux) is
//! here a role event that another process made and holds first.

mod common;

use std::time::Duration;

use common::{hear, role, say, unique, Child, KillOnDrop, QueueCleanup};
use shmkit::queue::spsc::{Consumer, Producer};

/// Messages the attached producer sends.
const MESSAGES: u64 = 200;

/// A child producer: attaches to queue `args[0]` and says how that went;
/// if attached, waits for "go", sends its messages (tagged with `args[1]`),
/// says "sent", and waits for "exit".
fn producer(args: &[String]) {
    match Producer::open(&args[0]) {
        Ok(mut tx) => {
            say("attached");
            assert_eq!(hear(), "go");
            for i in 0..MESSAGES {
                tx.send(format!("{} {i}", args[1]).as_bytes()).unwrap();
            }
            say("sent");
            assert_eq!(hear(), "exit");
        }
        Err(e) => say(&format!("error {e}")),
    }
}

/// Two producer children of `test` on queue `name`, the second started
/// while the first is attached or refused: exactly one attaches, the other
/// is refused with an error, and every message of the attached one reaches
/// `rx` in order.
fn exactly_one_producer_attaches(test: &str, name: &str, rx: &mut Consumer) {
    let mut a = KillOnDrop(Some(Child::spawn(test, "producer", &[name, "a"])));
    let first = a.get().recv();
    let mut b = KillOnDrop(Some(Child::spawn(test, "producer", &[name, "b"])));
    let second = b.get().recv();
    let (attached, tag, refused) = match (first.as_str(), second.as_str()) {
        ("attached", _) => (&mut a, "a", second),
        (_, "attached") => (&mut b, "b", first),
        _ => panic!("no producer attached: {first:?}, {second:?}"),
    };
    assert!(
        refused.starts_with("error "),
        "two producers attached to one SPSC queue: {refused:?}"
    );
    attached.get().send("go");
    for i in 0..MESSAGES {
        let m = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(String::from_utf8(m).unwrap(), format!("{tag} {i}"));
    }
    assert_eq!(attached.get().recv(), "sent");
    attached.get().send("exit");
    for mut child in [a, b] {
        let status = child.take().wait_status();
        assert_eq!(status.code(), Some(0), "a producer ended with {status:?}");
    }
}

#[test]
fn two_producers_never_both_attach_and_every_message_arrives() {
    if let Some((_, args)) = role() {
        producer(&args);
        return;
    }
    let name = unique("roles-any");
    let _q = QueueCleanup(name.clone());
    let mut rx = Consumer::create(&name, 1 << 16).unwrap();
    exactly_one_producer_attaches(
        "two_producers_never_both_attach_and_every_message_arrives",
        &name,
        &mut rx,
    );
}

/// Windows: another process makes the producer role's named event first and
/// holds it, as a planted lock file would be held. The claim in the queue's
/// header still lets exactly one producer attach.
#[cfg(windows)]
#[test]
fn a_role_event_made_by_another_process_never_lets_two_producers_attach() {
    use windows_sys::Win32::Foundation::CloseHandle;
    use windows_sys::Win32::System::Threading::CreateEventW;

    if let Some((_, args)) = role() {
        producer(&args);
        return;
    }
    let name = unique("roles-event");
    let _q = QueueCleanup(name.clone());
    let mut rx = Consumer::create(&name, 1 << 16).unwrap();
    let object: Vec<u16> = format!("Local\\shmkit-role:{name}:producer")
        .encode_utf16()
        .chain([0])
        .collect();
    // SAFETY: `object` is a NUL-terminated UTF-16 string that outlives the
    // call; null security attributes give the default DACL.
    let planted = unsafe { CreateEventW(std::ptr::null(), 1, 0, object.as_ptr()) };
    assert!(!planted.is_null(), "CreateEventW failed");
    exactly_one_producer_attaches(
        "a_role_event_made_by_another_process_never_lets_two_producers_attach",
        &name,
        &mut rx,
    );
    // SAFETY: `planted` came from `CreateEventW` above and is closed once.
    unsafe { CloseHandle(planted) };
}

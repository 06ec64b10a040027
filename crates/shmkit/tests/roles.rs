//! Single-holder roles stay single whatever files exist in the lock
//! directory or can be created there: a lock file planted by another user,
//! and a file system out of inodes, with real second processes that open
//! the queue by name.
#![cfg(target_os = "linux")]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{hear, role, say, unique, Child, KillOnDrop, QueueCleanup};
use shmkit::queue::spsc::{Consumer, Producer};
use shmkit::queue::{mpmc, Peer};
use shmkit::Error;

/// Messages each attached producer sends.
const MESSAGES: u64 = 400;

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

/// A child MPMC producer: as [`producer`], on MPMC queue `args[0]`.
fn mpmc_producer(args: &[String]) {
    let mut tx = mpmc::Producer::open(&args[0]).unwrap();
    say("attached");
    assert_eq!(hear(), "go");
    for i in 0..MESSAGES {
        tx.send(format!("{} {i}", args[1]).as_bytes()).unwrap();
    }
    say("sent");
    assert_eq!(hear(), "exit");
}

/// Whether this process is root (planting another user's file needs it);
/// prints why a test is skipped when it is not.
fn is_root() -> bool {
    let root = rustix::process::geteuid().is_root();
    if !root {
        eprintln!("skipped: planting a file owned by another user needs root");
    }
    root
}

/// Starts two producer children of `test` one after the other (the first
/// still attached while the second tries): their first lines.
fn two_producers(test: &str, name: &str) -> (KillOnDrop, String, KillOnDrop, String) {
    let mut a = KillOnDrop(Some(Child::spawn(test, "producer", &[name, "a"])));
    let first = a.get().recv();
    let mut b = KillOnDrop(Some(Child::spawn(test, "producer", &[name, "b"])));
    let second = b.get().recv();
    (a, first, b, second)
}

/// Receives the messages of one producer, tagged `tag`, all in order.
fn receive_all(rx: &mut Consumer, tag: &str) {
    for i in 0..MESSAGES {
        let m = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(String::from_utf8(m).unwrap(), format!("{tag} {i}"));
    }
}

/// Another user plants an empty `.shmkit-lock.Q.producer` (mode 0644)
/// before the queue exists. The file must not be trusted, and with it
/// untrusted nobody can hold it: the claim in shared memory still lets
/// exactly one producer attach; the second gets an error naming the file
/// and its owner, and every message of the first arrives.
#[test]
fn a_planted_lock_file_lets_exactly_one_producer_attach_and_no_message_is_lost() {
    const TEST: &str =
        "a_planted_lock_file_lets_exactly_one_producer_attach_and_no_message_is_lost";
    if let Some((_, args)) = role() {
        return producer(&args);
    }
    if !is_root() {
        return;
    }
    let name = unique("q-planted");
    let _c = QueueCleanup(name.clone());
    let planted = format!("/dev/shm/.shmkit-lock.{name}.producer");
    std::fs::write(&planted, b"").unwrap();
    let _p = PlantedFile(planted.clone());
    let uid = rustix::process::Uid::from_raw(65534);
    rustix::fs::chown(planted.as_str(), Some(uid), None).unwrap();
    rustix::fs::chmod(planted.as_str(), rustix::fs::Mode::from_raw_mode(0o644)).unwrap();

    let mut rx = Consumer::create(&name, 1 << 12).unwrap();
    let (mut a, first, b, second) = two_producers(TEST, &name);
    assert_eq!(first, "attached");
    assert!(
        second.starts_with("error ") && second.contains(&planted) && second.contains("uid 65534"),
        "the second producer: {second}"
    );
    let mut b = b;
    assert!(b.take().wait_status().success());
    // Its liveness unknown, the producer reads as alive, never as dead.
    assert_eq!(rx.peer(), Peer::Alive);
    a.get().send("go");
    receive_all(&mut rx, "a");
    assert_eq!(a.get().recv(), "sent");
    assert_eq!(rx.try_recv().unwrap(), None);
    a.get().send("exit");
    assert!(a.take().wait_status().success());
    let r = rx.recv_timeout(Duration::from_secs(5));
    assert!(matches!(r, Err(Error::Closed { .. })), "{r:?}");

    // The role was freed on drop: another producer attaches.
    let mut c = KillOnDrop(Some(Child::spawn(TEST, "producer", &[&name, "c"])));
    assert_eq!(c.get().recv(), "attached");
    c.get().send("go");
    receive_all(&mut rx, "c");
    assert_eq!(c.get().recv(), "sent");
    c.get().send("exit");
    assert!(c.take().wait_status().success());
}

/// Removes a planted file when dropped.
struct PlantedFile(String);

impl Drop for PlantedFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The part of [`no_inodes_for_lock_files_never_lets_two_producers_attach_nor_fakes_a_death`]
/// that runs in a private mount namespace whose `/dev/shm` is a small
/// tmpfs: fills its inodes once the queues and their consumers exist, then
/// starts producers.
fn out_of_inodes(test: &str) {
    let name = unique("q-inodes");
    let mut rx = Consumer::create(&name, 1 << 12).unwrap();
    let many = unique("m-inodes");
    let mut mrx = mpmc::Consumer::create(&many, 16, 64).unwrap();
    let mut filled = 0;
    while std::fs::write(format!("/dev/shm/fill-{filled}"), b"").is_ok() {
        filled += 1;
    }
    assert!(
        filled > 0 && std::fs::write("/dev/shm/one-more", b"").is_err(),
        "the inodes are used up"
    );
    let (mut a, first, b, second) = two_producers(test, &name);
    assert_eq!(first, "attached");
    assert!(
        second.starts_with("error ") && second.contains("cannot be opened"),
        "the second producer: {second}"
    );
    let mut b = b;
    assert!(b.take().wait_status().success());
    // The attached producer has no lock file: its liveness is unknown,
    // which reads as alive, never as a death.
    assert!(!std::path::Path::new(&format!("/dev/shm/.shmkit-lock.{name}.producer")).exists());
    assert_eq!(rx.peer(), Peer::Alive);
    assert_eq!(rx.try_recv().unwrap(), None);
    a.get().send("go");
    receive_all(&mut rx, "a");
    assert_eq!(a.get().recv(), "sent");
    a.get().send("exit");
    assert!(a.take().wait_status().success());
    let r = rx.recv_timeout(Duration::from_secs(5));
    assert!(matches!(r, Err(Error::Closed { .. })), "{r:?}");

    // A producer without a lock killed with kill -9: its death cannot be
    // seen, so the consumer times out (no false `PeerDied`, and no wrong
    // `Closed`), and a new producer is refused rather than made a second
    // holder.
    let mut d = KillOnDrop(Some(Child::spawn(test, "producer", &[&name, "d"])));
    assert_eq!(d.get().recv(), "attached");
    let mut d = d.take();
    d.kill9_checked();
    let r = rx.recv_timeout(Duration::from_millis(300));
    assert!(matches!(r, Err(Error::Timeout { .. })), "{r:?}");
    let mut e = KillOnDrop(Some(Child::spawn(test, "producer", &[&name, "e"])));
    let line = e.get().recv();
    assert!(
        line.starts_with("error ") && line.contains("claimed by another endpoint"),
        "{line}"
    );

    // MPMC: a producer without role or id lock files attaches and counts
    // itself lockless; the consumer reads it as alive, not dead, frees none
    // of its claims as a dead process's, and gets every message.
    let mut m = KillOnDrop(Some(Child::spawn(test, "mpmc-producer", &[&many, "m"])));
    assert_eq!(m.get().recv(), "attached");
    assert_eq!(mrx.peer(), Peer::Alive);
    assert_eq!(mrx.try_recv().unwrap(), None);
    m.get().send("go");
    for i in 0..MESSAGES {
        let msg = mrx.recv_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(String::from_utf8(msg).unwrap(), format!("m {i}"));
    }
    assert_eq!(m.get().recv(), "sent");
    m.get().send("exit");
    assert!(m.take().wait_status().success());
    let r = mrx.recv_timeout(Duration::from_secs(5));
    assert!(matches!(r, Err(Error::Closed { .. })), "{r:?}");
    say("ok");
}

/// The inodes of the lock directory are used up (by another user, say): no
/// lock file can be created. Two producers still never both attach, the
/// consumer never reads a false `PeerDied`, and no message is lost. Runs in
/// a private mount namespace (`unshare -m`) over a tmpfs `/dev/shm` with
/// few inodes; skipped, saying why, where that cannot be made.
#[test]
fn no_inodes_for_lock_files_never_lets_two_producers_attach_nor_fakes_a_death() {
    const TEST: &str = "no_inodes_for_lock_files_never_lets_two_producers_attach_nor_fakes_a_death";
    if let Some((r, args)) = role() {
        return match r.as_str() {
            "namespace" => out_of_inodes(TEST),
            "mpmc-producer" => mpmc_producer(&args),
            _ => producer(&args),
        };
    }
    let probe = Command::new("unshare")
        .args(["-m", "--propagation", "private", "true"])
        .output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: cannot make a private mount namespace (unshare -m): {probe:?}");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new("unshare");
    cmd.args([
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        "mount -t tmpfs -o nr_inodes=64,size=8m shmkit-inodes /dev/shm && exec \"$0\" \"$@\"",
    ])
    .arg(exe);
    common::child_args(&mut cmd, TEST, "namespace", &[]);
    let mut world = Child::start(cmd);
    assert_eq!(world.recv(), "ok");
    world.wait_ok();
}

/// A child's kill with SIGKILL, checked: it ended by that signal.
trait KillChecked {
    fn kill9_checked(&mut self);
}

impl KillChecked for Child {
    fn kill9_checked(&mut self) {
        use std::os::unix::process::ExitStatusExt;
        let pid = rustix::process::Pid::from_raw(self.pid() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
        let status = loop {
            if let Some(s) = self.exited() {
                break s;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(status.signal(), Some(9), "{status}");
    }
}

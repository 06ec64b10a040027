//! A peer that shrinks a mapped segment gets this process an error
//! (`Error::Truncated`), never a `SIGBUS`.
//!
//! Each table row runs a victim child that opens the objects by name and
//! waits; the parent, a real second process, truncates the file under it
//! with `ftruncate` and tells the child to make its call. The child checks
//! the error, calls again after the parent has (for the regrow cut) grown the
//! file back and written to it, checks the error again, and exits with code
//! 0. The parent asserts how it ended: no signal, code 0.
//!
//! Linux only: that is where segments are files under `/dev/shm` that a test
//! can truncate by path (macOS refuses to resize a sized shared-memory
//! object; Windows sections cannot shrink).
#![cfg(target_os = "linux")]

mod common;

use std::os::unix::process::ExitStatusExt;

use std::time::Duration;

use common::{hear, role, say, unique, Child, Cleanup, QueueCleanup};
use shmkit::queue::{mpmc, spsc, Options as QueueOptions};
use shmkit::{broadcast, Error, Segment, Shared};

/// The victim segments' size: 64 KiB.
const LEN: usize = 64 << 10;
/// Where the victim's raw accesses go: past the second page, so that the
/// mid-page cut loses it.
const OFF: usize = 32 << 10;
/// The filler messages that move the queues' positions past the second page
/// before the cut: 3 of `FILL` bytes (with the 512-byte header, the next
/// message starts beyond 8 KiB).
const FILL: usize = 3000;

/// How the parent shrinks the file under the victim.
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// `ftruncate(0)`.
    Zero,
    /// `ftruncate(4196)`: the first page (the queues' header) survives, the
    /// second is cut in the middle, the rest is gone.
    MidPage,
    /// `ftruncate(0)`, then (after the victim's first call) back to the full
    /// size, with new non-zero bytes written by the parent.
    Regrow,
    /// `ftruncate(4196)` and straight back to the full size, both before the
    /// victim's first call: no access faults, the regrown bytes are zeros.
    /// A typed segment or a queue finds it by its end marker.
    Unseen,
}

/// Every cut: for the calls on typed segments and queues, which find a
/// shrink and regrow by the end marker.
const CUTS: [Cut; 4] = [Cut::Zero, Cut::MidPage, Cut::Regrow, Cut::Unseen];

/// The cuts a call finds because an access faults: for raw segments (no end
/// marker) and the in-place types (which hold no handle to their segment,
/// so they cannot check its marker).
const FAULTING_CUTS: [Cut; 3] = [Cut::Zero, Cut::MidPage, Cut::Regrow];

impl Cut {
    fn size(self) -> u64 {
        match self {
            Cut::Zero | Cut::Regrow => 0,
            Cut::MidPage | Cut::Unseen => 4096 + 100,
        }
    }
}

fn path(name: &str) -> String {
    format!("/dev/shm/{name}")
}

/// `ftruncate` of the segment's file, as any peer allowed to open it could.
fn resize(name: &str, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path(name))
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// Asserts that `r` is `Error::Truncated` for `name`.
fn assert_truncated<T: std::fmt::Debug>(r: shmkit::Result<T>, name: &str, what: &str) {
    match r {
        Err(Error::Truncated { name: n }) if n == name => {}
        other => panic!("{what}: expected Error::Truncated for {name}, got {other:?}"),
    }
}

/// In the child: makes `call` once the parent has cut the file, twice.
fn victim(name: &str, mut call: impl FnMut() -> shmkit::Result<()>) {
    say("ready");
    assert_eq!(hear(), "go");
    assert_truncated(call(), name, "first call after the cut");
    say("truncated");
    assert_eq!(hear(), "again");
    assert_truncated(call(), name, "later call");
    say("still");
}

/// The parent's side of one table: for every cut, `setup` makes the objects
/// (kept alive while the child runs), the child runs `test`'s victim role on
/// them, and `ready` runs once the child said it is ready, before the cut.
fn table<K>(test: &str, cuts: &[Cut], setup: impl Fn(&str) -> K, ready: impl Fn(&mut K)) {
    for &cut in cuts {
        let name = unique("trunc");
        let _clean = Cleanup(name.clone());
        let _queue = QueueCleanup(name.clone());
        let mut keep = setup(&name);
        let full = std::fs::metadata(path(&name)).unwrap().len();
        let mut child = Child::spawn(test, "victim", &[&name]);
        assert_eq!(child.recv(), "ready", "{cut:?}");
        ready(&mut keep);
        resize(&name, cut.size());
        if let Cut::Unseen = cut {
            resize(&name, full);
        }
        child.send("go");
        assert_eq!(child.recv(), "truncated", "{cut:?}");
        if let Cut::Regrow = cut {
            resize(&name, full);
            let seg = Segment::open(&name).unwrap();
            seg.write_at(0, &vec![123; full as usize]).unwrap();
        }
        child.send("again");
        assert_eq!(child.recv(), "still", "{cut:?}");
        let status = child.wait_status();
        assert_eq!(
            status.signal(),
            None,
            "{cut:?}: the victim was killed by a signal"
        );
        assert_eq!(status.code(), Some(0), "{cut:?}");
        drop(keep);
    }
}

#[test]
fn segment_read_at_on_a_truncated_segment_is_an_error() {
    if let Some((_, args)) = role() {
        let seg = Segment::open(&args[0]).unwrap();
        let mut buf = [0u8; 64];
        return victim(&args[0], || seg.read_at(OFF, &mut buf));
    }
    table(
        "segment_read_at_on_a_truncated_segment_is_an_error",
        &FAULTING_CUTS,
        |name| Segment::options().persist(true).create(name, LEN).unwrap(),
        |_| {},
    );
}

#[test]
fn segment_write_at_on_a_truncated_segment_is_an_error() {
    if let Some((_, args)) = role() {
        let seg = Segment::open(&args[0]).unwrap();
        return victim(&args[0], || seg.write_at(OFF, &[9; 64]));
    }
    table(
        "segment_write_at_on_a_truncated_segment_is_an_error",
        &FAULTING_CUTS,
        |name| Segment::options().persist(true).create(name, LEN).unwrap(),
        |_| {},
    );
}

#[test]
fn read_only_segment_read_at_on_a_truncated_segment_is_an_error() {
    if let Some((_, args)) = role() {
        let seg = Segment::options().read_only(true).open(&args[0]).unwrap();
        let mut buf = [0u8; 64];
        return victim(&args[0], || seg.read_at(OFF, &mut buf));
    }
    table(
        "read_only_segment_read_at_on_a_truncated_segment_is_an_error",
        &FAULTING_CUTS,
        |name| Segment::options().persist(true).create(name, LEN).unwrap(),
        |_| {},
    );
}

/// A typed value of 32 KiB: it reaches past the cut pages.
type Big = [u64; 4096];

#[test]
fn typed_set_on_a_truncated_segment_is_an_error() {
    if let Some((_, args)) = role() {
        let s = Shared::<Big>::open(&args[0]).unwrap();
        return victim(&args[0], || s.store(&[7; 4096]));
    }
    table(
        "typed_set_on_a_truncated_segment_is_an_error",
        &CUTS,
        |name| Shared::<Big>::create_with(name, [123; 4096]).unwrap(),
        |_| {},
    );
}

#[test]
fn typed_get_on_a_truncated_segment_is_an_error() {
    if let Some((_, args)) = role() {
        let s = Shared::<Big>::open(&args[0]).unwrap();
        assert_eq!(s.place().get().unwrap()[4095], 123);
        return victim(&args[0], || s.place().get().map(drop));
    }
    table(
        "typed_get_on_a_truncated_segment_is_an_error",
        &CUTS,
        |name| Shared::<Big>::create_with(name, [123; 4096]).unwrap(),
        |_| {},
    );
}

/// A `Mutex` past the second page, reached in place.
#[derive(shmkit::Layout)]
#[shmkit(in_place)]
#[repr(C)]
struct Locked {
    pad: [std::sync::atomic::AtomicU64; 1024],
    m: shmkit::sync::Mutex<u64>,
}

/// The in-place types hold no handle to their segment, yet a `Mutex` locked
/// on a cut page says so itself (it finds its mapping in the guard's
/// registry), and `Segment::check_mapped` agrees.
#[test]
fn in_place_mutex_and_segment_check_mapped_on_a_truncated_segment_are_errors() {
    if let Some((_, args)) = role() {
        let s = Shared::<Locked>::open(&args[0]).unwrap();
        *s.get().m.lock().unwrap() += 1;
        s.segment().check_mapped().unwrap();
        return victim(&args[0], || {
            // A shrink and regrow that no access faulted on is beyond the
            // lock (it holds no handle to the segment's end marker), not
            // beyond the segment; once the segment has seen it, the lock
            // fails too (the same mapping is flagged).
            let locked = s.get().m.lock().map(|mut g| *g += 1);
            assert_truncated(s.segment().check_mapped(), &args[0], "check_mapped");
            locked
                .map_err(Error::from)
                .and_then(|()| s.segment().check_mapped())
        });
    }
    table(
        "in_place_mutex_and_segment_check_mapped_on_a_truncated_segment_are_errors",
        &CUTS,
        |name| Shared::<Locked>::create(name).unwrap(),
        |_| {},
    );
}

/// A victim consumer's role: drains the filler, then receives with `recv`.
#[test]
fn spsc_recv_timeout_on_a_truncated_queue_is_an_error() {
    if let Some((_, args)) = role() {
        let mut c = spsc::Consumer::open(&args[0]).unwrap();
        for _ in 0..3 {
            assert_eq!(c.recv().unwrap().len(), FILL);
        }
        return victim(&args[0], || {
            c.recv_timeout(Duration::from_secs(2)).map(drop)
        });
    }
    table(
        "spsc_recv_timeout_on_a_truncated_queue_is_an_error",
        &CUTS,
        |name| {
            let mut p = spsc::Producer::create(name, LEN).unwrap();
            for _ in 0..3 {
                p.send(&[1; FILL]).unwrap();
            }
            // Two messages in flight past the cut.
            p.send(b"first").unwrap();
            p.send(b"second").unwrap();
            p
        },
        |_| {},
    );
}

#[test]
fn spsc_try_send_on_a_truncated_queue_is_an_error() {
    if let Some((_, args)) = role() {
        let mut p = spsc::Producer::open(&args[0]).unwrap();
        for _ in 0..3 {
            p.send(&[1; FILL]).unwrap();
        }
        return victim(&args[0], || p.try_send(&[2; 64]));
    }
    table(
        "spsc_try_send_on_a_truncated_queue_is_an_error",
        &CUTS,
        |name| spsc::Consumer::create(name, LEN).unwrap(),
        |c| {
            for _ in 0..3 {
                assert_eq!(c.recv().unwrap().len(), FILL);
            }
        },
    );
}

/// A victim consumer's role: holds a message read before the cut, copies
/// it after.
#[test]
fn spsc_message_to_vec_on_a_truncated_queue_is_an_error() {
    if let Some((_, args)) = role() {
        let mut c = spsc::Consumer::open(&args[0]).unwrap();
        for _ in 0..3 {
            assert_eq!(c.recv().unwrap().len(), FILL);
        }
        let m = c.read().unwrap();
        assert_eq!(m.to_vec().unwrap(), b"first");
        return victim(&args[0], || m.to_vec().map(drop));
    }
    table(
        "spsc_message_to_vec_on_a_truncated_queue_is_an_error",
        &CUTS,
        |name| {
            let mut p = spsc::Producer::create(name, LEN).unwrap();
            for _ in 0..3 {
                p.send(&[1; FILL]).unwrap();
            }
            p.send(b"first").unwrap();
            p
        },
        |_| {},
    );
}

/// A victim producer's role: fills a grant past the second page before the
/// cut and commits it after; then a send on the same mapping.
#[test]
fn spsc_grant_commit_on_a_truncated_queue_is_an_error() {
    if let Some((_, args)) = role() {
        let name = &args[0];
        let mut p = spsc::Producer::open(name).unwrap();
        for _ in 0..3 {
            p.send(&[1; FILL]).unwrap();
        }
        let mut g = p.reserve(64).unwrap();
        g.write_at(0, &[2; 64]).unwrap();
        say("ready");
        assert_eq!(hear(), "go");
        assert_truncated(g.commit(), name, "commit after the cut");
        say("truncated");
        assert_eq!(hear(), "again");
        assert_truncated(p.try_send(&[3; 64]), name, "later send");
        say("still");
        return;
    }
    table(
        "spsc_grant_commit_on_a_truncated_queue_is_an_error",
        &CUTS,
        |name| spsc::Consumer::create(name, LEN).unwrap(),
        |_| {},
    );
}

#[test]
fn mpmc_try_recv_on_a_truncated_queue_is_an_error() {
    if let Some((_, args)) = role() {
        let mut c = mpmc::Consumer::open(&args[0]).unwrap();
        for _ in 0..3 {
            assert_eq!(c.recv().unwrap().len(), FILL);
        }
        return victim(&args[0], || c.try_recv().map(drop));
    }
    table(
        "mpmc_try_recv_on_a_truncated_queue_is_an_error",
        &CUTS,
        |name| {
            let mut p = mpmc::Producer::create(name, 16, FILL).unwrap();
            for _ in 0..3 {
                p.send(&[1; FILL]).unwrap();
            }
            p.send(b"first").unwrap();
            p.send(b"second").unwrap();
            p
        },
        |_| {},
    );
}

#[test]
fn broadcast_try_recv_on_a_truncated_ring_is_an_error() {
    if let Some((_, args)) = role() {
        let mut s = broadcast::Subscriber::open(&args[0]).unwrap();
        while s.try_recv().unwrap().is_some() {}
        return victim(&args[0], || s.try_recv().map(drop));
    }
    table(
        "broadcast_try_recv_on_a_truncated_ring_is_an_error",
        &CUTS,
        |name| {
            let mut p = broadcast::Publisher::create(name, 16, FILL).unwrap();
            for _ in 0..3 {
                p.send(&[1; FILL]).unwrap();
            }
            p
        },
        |p| {
            p.send(b"first").unwrap();
            p.send(b"second").unwrap();
        },
    );
}

#[test]
fn broadcast_send_on_a_truncated_ring_is_an_error() {
    if let Some((_, args)) = role() {
        let mut p = broadcast::Publisher::open(&args[0]).unwrap();
        return victim(&args[0], || p.send(&[2; 64]));
    }
    table(
        "broadcast_send_on_a_truncated_ring_is_an_error",
        &CUTS,
        |name| {
            let opts = QueueOptions::default().persist(true);
            let mut p = broadcast::Publisher::create_with(name, 16, FILL, &opts).unwrap();
            for _ in 0..3 {
                p.send(&[1; FILL]).unwrap();
            }
            drop(p);
            broadcast::Subscriber::open(name).unwrap()
        },
        |_| {},
    );
}

/// Truncations that raise no fault, found by a blocking receive before it
/// waits (`fstat`, and the queue's magic number): a cut to 100 bytes (the
/// header page survives, zeroed past the cut, so the queue looks empty) and
/// a cut to 0 grown back before the receive (fresh zero pages). Two
/// messages were in flight; without the check the receive times out.
#[test]
fn a_blocking_receive_finds_a_truncation_that_raised_no_fault() {
    if let Some((_, args)) = role() {
        let mut c = spsc::Consumer::open(&args[0]).unwrap();
        say("ready");
        assert_eq!(hear(), "go");
        for call in ["first", "later"] {
            let r = c.recv_timeout(Duration::from_secs(5));
            assert_truncated(r, &args[0], call);
        }
        say("done");
        return;
    }
    for regrow in [false, true] {
        let name = unique("nofault");
        let _clean = QueueCleanup(name.clone());
        let mut p = spsc::Producer::create(&name, LEN).unwrap();
        p.send(b"first").unwrap();
        p.send(b"second").unwrap();
        let full = std::fs::metadata(path(&name)).unwrap().len();
        let mut child = Child::spawn(
            "a_blocking_receive_finds_a_truncation_that_raised_no_fault",
            "victim",
            &[&name],
        );
        assert_eq!(child.recv(), "ready");
        if regrow {
            resize(&name, 0);
            resize(&name, full);
        } else {
            resize(&name, 100);
        }
        let start = std::time::Instant::now();
        child.send("go");
        assert_eq!(child.recv(), "done", "regrow: {regrow}");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "it waited for the timeout"
        );
        let status = child.wait_status();
        assert_eq!(status.signal(), None, "regrow {regrow}: killed by a signal");
        assert_eq!(status.code(), Some(0));
        drop(p);
    }
}

/// `Shared::open` while a peer shrinks the file, grows it back and rewrites
/// its bytes, in a loop: the size that `Segment::open` saw with `fstat` may
/// be gone by the time the header is read. Every open succeeds or fails
/// with an error; none raises a signal.
#[test]
fn shared_open_while_a_peer_shrinks_and_regrows_the_file_never_faults() {
    if let Some((_, args)) = role() {
        let (mut ok, mut truncated) = (0, 0);
        let mut other = std::collections::BTreeMap::<String, u32>::new();
        let until = std::time::Instant::now() + Duration::from_millis(500);
        while std::time::Instant::now() < until {
            match Shared::<Big>::open(&args[0]) {
                Ok(s) => match s.load() {
                    Ok(v) => {
                        assert!(v == [123; 4096] || v.iter().all(|&x| x == 0 || x == 123));
                        ok += 1;
                    }
                    Err(Error::Truncated { .. }) => truncated += 1,
                    Err(e) => panic!("load: {e:?}"),
                },
                Err(Error::Truncated { .. }) => truncated += 1,
                Err(e) => {
                    let kind = format!("{e:?}");
                    let kind = kind.split([' ', '{']).next().unwrap_or_default();
                    *other.entry(kind.to_owned()).or_default() += 1;
                }
            }
        }
        eprintln!("opens: {ok} ok, {truncated} truncated, others: {other:?}");
        say("done");
        return;
    }
    let name = unique("race");
    let _s = Shared::<Big>::create_with(&name, [123; 4096]).unwrap();
    let image = std::fs::read(path(&name)).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cutter = {
        let (stop, path) = (stop.clone(), path(&name));
        std::thread::spawn(move || {
            use std::io::{Seek, Write};
            let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
            let mut cuts = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                f.set_len(0).unwrap();
                f.set_len(image.len() as u64).unwrap();
                f.seek(std::io::SeekFrom::Start(0)).unwrap();
                f.write_all(&image).unwrap();
                cuts += 1;
            }
            cuts
        })
    };
    let mut child = Child::spawn(
        "shared_open_while_a_peer_shrinks_and_regrows_the_file_never_faults",
        "opener",
        &[&name],
    );
    assert_eq!(child.recv(), "done");
    let status = child.wait_status();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(cutter.join().unwrap() > 0);
    assert_eq!(status.signal(), None, "the opener was killed by a signal");
    assert_eq!(status.code(), Some(0));
}

/// Every case of this file in which no process should end by a signal (all
/// but the two that check a foreign `SIGBUS` still ends the process), for
/// `faults.rs`'s test that no process of the fault suites ends by a signal.
#[allow(dead_code)] // this file's own binary runs the cases as tests
pub(crate) fn cases_without_signals() {
    segment_read_at_on_a_truncated_segment_is_an_error();
    segment_write_at_on_a_truncated_segment_is_an_error();
    read_only_segment_read_at_on_a_truncated_segment_is_an_error();
    typed_set_on_a_truncated_segment_is_an_error();
    typed_get_on_a_truncated_segment_is_an_error();
    in_place_mutex_and_segment_check_mapped_on_a_truncated_segment_are_errors();
    spsc_recv_timeout_on_a_truncated_queue_is_an_error();
    spsc_try_send_on_a_truncated_queue_is_an_error();
    spsc_message_to_vec_on_a_truncated_queue_is_an_error();
    spsc_grant_commit_on_a_truncated_queue_is_an_error();
    mpmc_try_recv_on_a_truncated_queue_is_an_error();
    broadcast_try_recv_on_a_truncated_ring_is_an_error();
    broadcast_send_on_a_truncated_ring_is_an_error();
    a_blocking_receive_finds_a_truncation_that_raised_no_fault();
    shared_open_while_a_peer_shrinks_and_regrows_the_file_never_faults();
    a_sparse_segment_in_a_full_dev_shm_is_no_space_not_sigbus();
    a_read_write_open_reserves_a_sparse_segment_that_fits();
    a_users_sigbus_handler_still_runs_for_faults_outside_shmkit();
    in_place_mutex_lock_on_a_truncated_segment_is_an_error();
    in_place_mutex_try_lock_on_a_truncated_segment_is_an_error();
    in_place_mutex_lock_timeout_on_a_truncated_segment_is_an_error();
    in_place_mutex_lock_or_repair_on_a_truncated_segment_is_an_error();
    in_place_event_wait_timeout_on_a_truncated_segment_is_an_error();
    in_place_event_notify_one_on_a_truncated_segment_is_an_error();
    in_place_event_notify_all_on_a_truncated_segment_is_an_error();
    in_place_event_reset_on_a_truncated_segment_is_an_error();
    an_in_place_atomic_on_a_truncated_segment_is_found_by_sync_check_mapped();
    in_place_seqlock_read_checked_on_a_truncated_segment_is_an_error();
    in_place_seqlock_writer_on_a_truncated_segment_is_an_error();
    a_blocked_event_wait_ends_when_a_peer_truncates_the_segment();
    a_blocked_mutex_lock_ends_when_a_peer_truncates_the_segment();
}

/// How many children this thread reaped, and what breaks "every child was
/// reaped and none ended by a signal" (`common::unexpected_endings`, and
/// the children left unreaped), from this file's own copy of `common`,
/// which keeps them.
#[allow(dead_code)] // used only where `faults.rs` includes this file
pub(crate) fn take_unexpected_endings() -> (usize, Vec<String>) {
    let endings = common::take_endings();
    let mut bad = common::unexpected_endings(&endings);
    bad.extend(
        common::take_unreaped()
            .iter()
            .map(|r| format!("{r}: never reaped")),
    );
    (endings.len(), bad)
}

/// A segment made as Python's `shared_memory` and many C programs make one,
/// sized with `ftruncate` alone: sparse, its pages not yet allocated.
fn sparse_foreign_segment(name: &str, len: u64) {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path(name))
        .unwrap();
    f.set_len(len).unwrap();
}

/// Fills the filesystem of `/dev/shm` until it refuses another byte.
fn fill_dev_shm() {
    use std::io::Write;
    let mut f = std::fs::File::create("/dev/shm/filler").unwrap();
    let block = [1u8; 4096];
    loop {
        match f.write(&block) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                break;
            }
        }
    }
}

/// In a private, 1 MiB `/dev/shm`: a read-write open of a sparse 4 MiB
/// segment reserves its pages and fails with `NoSpace`, leaving the
/// segment as it was; a read-only open succeeds, and reading a hole once
/// the filesystem is full (the kernel must allocate a page to read it) is
/// `NoSpace` on that call and every later one, never a `SIGBUS`.
#[test]
fn a_sparse_segment_in_a_full_dev_shm_is_no_space_not_sigbus() {
    if let Some((_, args)) = role() {
        let name = &args[0];
        sparse_foreign_segment(name, 4 << 20);
        match Segment::open(name) {
            Err(Error::NoSpace { name: n, len, .. }) => {
                assert_eq!((n.as_str(), len), (name.as_str(), 4 << 20));
            }
            other => panic!("read-write open: expected NoSpace, got {other:?}"),
        }
        assert_eq!(std::fs::metadata(path(name)).unwrap().len(), 4 << 20);
        let ro = Segment::options().read_only(true).open(name).unwrap();
        fill_dev_shm();
        let mut buf = [0u8; 64];
        for call in ["first", "later"] {
            match ro.read_at(2 << 20, &mut buf) {
                Err(Error::NoSpace { len, .. }) => assert_eq!(len, 4 << 20),
                other => panic!("{call} read of a hole: expected NoSpace, got {other:?}"),
            }
        }
        say("ok");
        return;
    }
    let Some(mut child) = common::spawn_in_private_dev_shm(
        "a_sparse_segment_in_a_full_dev_shm_is_no_space_not_sigbus",
        "victim",
        &[&unique("sparse")],
        "1m",
    ) else {
        return;
    };
    assert_eq!(child.recv(), "ok");
    let status = child.wait_status();
    assert_eq!(status.signal(), None, "the victim was killed by a signal");
    assert_eq!(status.code(), Some(0));
}

/// In a private, 1 MiB `/dev/shm`: a read-write open of a sparse segment
/// that fits reserves all its pages, so writes to its holes succeed even
/// after the filesystem was filled (without the reservation they fail).
#[test]
fn a_read_write_open_reserves_a_sparse_segment_that_fits() {
    if let Some((_, args)) = role() {
        let name = &args[0];
        sparse_foreign_segment(name, 512 << 10);
        let seg = Segment::open(name).unwrap();
        // The reservation took the space: another file cannot have it.
        fill_dev_shm();
        seg.write_at((512 << 10) - 64, &[3; 64]).unwrap();
        seg.write_at(0, &[4; 64]).unwrap();
        say("ok");
        return;
    }
    let Some(mut child) = common::spawn_in_private_dev_shm(
        "a_read_write_open_reserves_a_sparse_segment_that_fits",
        "victim",
        &[&unique("fits")],
        "1m",
    ) else {
        return;
    };
    assert_eq!(child.recv(), "ok");
    let status = child.wait_status();
    assert_eq!(status.signal(), None, "the victim was killed by a signal");
    assert_eq!(status.code(), Some(0));
}

/// Maps two pages of a file that is not a shmkit segment, truncates the file
/// and touches the lost page: a `SIGBUS` outside shmkit's ranges.
fn fault_outside_shmkit() {
    let path = format!("/dev/shm/{}", unique("foreign"));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    file.set_len(8192).unwrap();
    // SAFETY: a fresh shared mapping of our own file; nothing else uses the
    // range.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            8192,
            libc::PROT_READ,
            libc::MAP_SHARED,
            std::os::fd::AsRawFd::as_raw_fd(&file),
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    file.set_len(0).unwrap();
    // SAFETY: the address is inside the mapping; reading it raises SIGBUS,
    // which is the point.
    let v = unsafe { std::ptr::read_volatile(p.cast::<u8>().add(4096)) };
    panic!("reading a truncated page returned {v} instead of faulting");
}

/// What the user's own handler does: ends the process with code 42.
extern "C" fn users_handler(_sig: libc::c_int) {
    // SAFETY: `_exit` is async-signal-safe.
    unsafe { libc::_exit(42) }
}

#[test]
fn a_users_sigbus_handler_still_runs_for_faults_outside_shmkit() {
    if let Some((_, args)) = role() {
        // SAFETY: a zeroed `sigaction` with a plain handler is valid, and the
        // handler only calls `_exit`.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = users_handler as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            assert_eq!(
                libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()),
                0
            );
        }
        // Mapping a segment installs shmkit's handler over the user's.
        let _seg = Segment::open(&args[0]).unwrap();
        fault_outside_shmkit();
    }
    let name = unique("user");
    let _seg = Segment::create(&name, LEN).unwrap();
    let child = Child::spawn(
        "a_users_sigbus_handler_still_runs_for_faults_outside_shmkit",
        "faulter",
        &[&name],
    );
    let status = child.wait_status();
    assert_eq!(status.signal(), None, "the fault was not passed on");
    assert_eq!(status.code(), Some(42), "the user's handler did not run");
}

#[test]
fn a_fault_outside_shmkit_still_ends_the_process_with_sigbus() {
    if let Some((_, args)) = role() {
        let _seg = Segment::open(&args[0]).unwrap();
        fault_outside_shmkit();
    }
    let name = unique("dfl");
    let _seg = Segment::create(&name, LEN).unwrap();
    let mut cmd = common::command(
        "a_fault_outside_shmkit_still_ends_the_process_with_sigbus",
        "faulter",
        &[&name],
    );
    // Under a sanitizer (ci/sanitize.sh) leave SIGBUS to shmkit's handler
    // and the default action, as in a normal build, not the sanitizer's.
    for var in ["ASAN_OPTIONS", "TSAN_OPTIONS"] {
        let given = std::env::var(var).unwrap_or_default();
        cmd.env(var, format!("{given}:handle_sigbus=0"));
    }
    let child = Child::start(cmd);
    let status = child.wait_status();
    assert_eq!(status.signal(), Some(libc::SIGBUS), "{status}");
}

/// A `SIGBUS` sent with `kill` (no fault address) is not shmkit's: with
/// the default action before shmkit's handler, it still ends the process.
/// (The child first restores the default: Rust's runtime installs a
/// `SIGBUS` handler of its own, for stack overflows, which returns from a
/// sent signal, with or without shmkit.)
#[test]
fn a_sigbus_sent_with_kill_still_ends_the_process() {
    if let Some((_, args)) = role() {
        // SAFETY: a zeroed `sigaction` is `SIG_DFL` with an empty mask.
        unsafe {
            let dfl: libc::sigaction = std::mem::zeroed();
            assert_eq!(libc::sigaction(libc::SIGBUS, &dfl, std::ptr::null_mut()), 0);
        }
        let _seg = Segment::open(&args[0]).unwrap();
        // SAFETY: `raise` has no memory-safety preconditions.
        unsafe { libc::raise(libc::SIGBUS) };
        say("survived");
        return;
    }
    let name = unique("kill");
    let _seg = Segment::create(&name, LEN).unwrap();
    let child = Child::spawn(
        "a_sigbus_sent_with_kill_still_ends_the_process",
        "victim",
        &[&name],
    );
    let status = child.wait_status();
    assert_eq!(status.signal(), Some(libc::SIGBUS), "{status}");
}

/// Every in-place sync type past the second page, so that each cut loses
/// its words.
#[derive(shmkit::Layout)]
#[shmkit(in_place)]
#[repr(C)]
struct Sync {
    pad: [std::sync::atomic::AtomicU64; 1024],
    m: shmkit::sync::Mutex<u64>,
    e: shmkit::sync::Event,
    s: shmkit::sync::SeqLock<u64>,
}

/// One row for an in-place sync call: the victim makes `call` on the
/// `Sync` value after each cut.
fn sync_row(test: &str, call: fn(&Sync) -> shmkit::Result<()>) {
    if let Some((_, args)) = role() {
        let s = Shared::<Sync>::open(&args[0]).unwrap();
        call(s.get()).unwrap();
        return victim(&args[0], || call(s.get()));
    }
    table(
        test,
        &FAULTING_CUTS,
        |name| Shared::<Sync>::create(name).unwrap(),
        |_| {},
    );
}

#[test]
fn in_place_mutex_lock_on_a_truncated_segment_is_an_error() {
    sync_row(
        "in_place_mutex_lock_on_a_truncated_segment_is_an_error",
        |s| s.m.lock().map(|mut g| *g += 1).map_err(Into::into),
    );
}

#[test]
fn in_place_mutex_try_lock_on_a_truncated_segment_is_an_error() {
    sync_row(
        "in_place_mutex_try_lock_on_a_truncated_segment_is_an_error",
        |s| s.m.try_lock().map(drop).map_err(Into::into),
    );
}

#[test]
fn in_place_mutex_lock_timeout_on_a_truncated_segment_is_an_error() {
    sync_row(
        "in_place_mutex_lock_timeout_on_a_truncated_segment_is_an_error",
        |s| {
            s.m.lock_timeout(Duration::from_millis(10))
                .map(drop)
                .map_err(Into::into)
        },
    );
}

#[test]
fn in_place_mutex_lock_or_repair_on_a_truncated_segment_is_an_error() {
    sync_row(
        "in_place_mutex_lock_or_repair_on_a_truncated_segment_is_an_error",
        |s| s.m.lock_or_repair(|n| *n = 0).map(drop),
    );
}

/// A lost mapping is an error, never a timeout: `wait_timeout` does not
/// return `Ok(false)` for it.
#[test]
fn in_place_event_wait_timeout_on_a_truncated_segment_is_an_error() {
    sync_row(
        "in_place_event_wait_timeout_on_a_truncated_segment_is_an_error",
        |s| {
            assert!(
                !s.e.wait_timeout(Duration::from_millis(5))?,
                "nobody notified"
            );
            Ok(())
        },
    );
}

#[test]
fn in_place_event_notify_one_on_a_truncated_segment_is_an_error() {
    sync_row(
        "in_place_event_notify_one_on_a_truncated_segment_is_an_error",
        |s| s.e.notify_one(),
    );
}

#[test]
fn in_place_event_notify_all_on_a_truncated_segment_is_an_error() {
    sync_row(
        "in_place_event_notify_all_on_a_truncated_segment_is_an_error",
        |s| s.e.notify_all(),
    );
}

#[test]
fn in_place_event_reset_on_a_truncated_segment_is_an_error() {
    sync_row(
        "in_place_event_reset_on_a_truncated_segment_is_an_error",
        |s| s.e.reset(),
    );
}

/// The atomics an in-place type holds cannot report a loss themselves:
/// `check_mapped` after using one tells whether it reached the segment.
#[test]
fn an_in_place_atomic_on_a_truncated_segment_is_found_by_sync_check_mapped() {
    sync_row(
        "an_in_place_atomic_on_a_truncated_segment_is_found_by_sync_check_mapped",
        |s| {
            s.pad[1023].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            shmkit::sync::check_mapped(&s.pad[1023])
        },
    );
}

#[test]
fn in_place_seqlock_read_checked_on_a_truncated_segment_is_an_error() {
    sync_row(
        "in_place_seqlock_read_checked_on_a_truncated_segment_is_an_error",
        |s| s.s.read_checked().map(drop),
    );
}

#[test]
fn in_place_seqlock_writer_on_a_truncated_segment_is_an_error() {
    sync_row(
        "in_place_seqlock_writer_on_a_truncated_segment_is_an_error",
        |s| s.s.writer().map(|mut w| w.write(&5)),
    );
}

/// The parent's side of a blocked-call test: for each cut, makes the
/// segment (and whatever `setup` keeps, such as a held lock), lets the
/// child block in its call, cuts the file (growing it straight back for
/// `Cut::Unseen`, which no access faults on), and asserts that the child's
/// call returned (it checks the error itself) within a bounded time, and
/// how the child ended.
fn blocked_call_ends<K>(test: &str, cuts: &[Cut], setup: impl Fn(&str) -> K) {
    for &cut in cuts {
        let name = unique("blocked");
        let _clean = Cleanup(name.clone());
        let shared = Shared::<Sync>::create(&name).unwrap();
        let full = std::fs::metadata(path(&name)).unwrap().len();
        let kept = setup(&name);
        let mut child = Child::spawn(test, "victim", &[&name]);
        assert_eq!(child.recv(), "ready", "{cut:?}");
        // Let the child reach its futex sleep (not needed for correctness:
        // a call that starts after the cut ends the same way).
        std::thread::sleep(Duration::from_millis(50));
        resize(&name, cut.size());
        if let Cut::Unseen = cut {
            resize(&name, full);
        }
        let start = std::time::Instant::now();
        let line = child.recv_within(Duration::from_secs(10));
        if line.as_deref() != Some("returned") {
            // A child hung in the call would outlive the test: end it.
            child.kill9();
            panic!("{cut:?}: the blocked call did not return after the cut (got {line:?})");
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{cut:?}");
        let status = child.wait_status();
        assert_eq!(status.signal(), None, "{cut:?}: killed by a signal");
        assert_eq!(status.code(), Some(0), "{cut:?}");
        drop(kept);
        drop(shared);
    }
}

/// A thread blocked in `Event::wait` (no timeout) while a peer truncates
/// the segment: nobody can notify a lost word, so the wait must end on its
/// own, with the error. After a shrink and regrow (no fault: the waiter
/// sleeps) the event is zeroed, a pending signal lost: the wait finds the
/// end marker gone after its sleep slice.
#[test]
fn a_blocked_event_wait_ends_when_a_peer_truncates_the_segment() {
    const TEST: &str = "a_blocked_event_wait_ends_when_a_peer_truncates_the_segment";
    if let Some((_, args)) = role() {
        let s = Shared::<Sync>::open(&args[0]).unwrap();
        say("ready");
        assert_truncated(s.get().e.wait(), &args[0], "wait");
        say("returned");
        return;
    }
    blocked_call_ends(TEST, &[Cut::Zero, Cut::MidPage, Cut::Unseen], |_| ());
}

/// A thread blocked in `Mutex::lock` on a live owner (the parent holds the
/// lock) while a peer cuts the segment: the lock must not be granted on
/// the zeros (after a shrink and regrow the word reads free, which would
/// put the waiter beside the owner); it ends with the error.
#[test]
fn a_blocked_mutex_lock_ends_when_a_peer_truncates_the_segment() {
    const TEST: &str = "a_blocked_mutex_lock_ends_when_a_peer_truncates_the_segment";
    if let Some((_, args)) = role() {
        let s = Shared::<Sync>::open(&args[0]).unwrap();
        say("ready");
        let r = s.get().m.lock().map(drop).map_err(Error::from);
        assert_truncated(r, &args[0], "lock");
        say("returned");
        return;
    }
    blocked_call_ends(TEST, &[Cut::Zero, Cut::MidPage, Cut::Unseen], Holder::lock);
}

/// A thread of this (live) process that holds the `Sync` mutex of a
/// segment until the holder is dropped.
struct Holder {
    release: std::sync::mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Holder {
    fn lock(name: &str) -> Holder {
        let (release, released) = std::sync::mpsc::channel();
        let (locked, is_locked) = std::sync::mpsc::channel();
        let name = name.to_owned();
        let thread = std::thread::spawn(move || {
            let s = Shared::<Sync>::open(&name).unwrap();
            let guard = s.get().m.lock().unwrap();
            locked.send(()).unwrap();
            let _ = released.recv();
            // Unlocks the (by now lost) page: harmless.
            drop(guard);
        });
        is_locked
            .recv()
            .expect("the holder thread locked the mutex");
        Holder {
            release,
            thread: Some(thread),
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.release.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A segment shrunk and grown back before anyone opens it again: a new
/// opener finds the end marker gone and refuses it as `Corrupted`, naming
/// the marker, instead of handing out a handle on the zeros.
#[test]
fn a_new_opener_of_a_segment_shrunk_and_regrown_gets_corrupted() {
    let name = unique("reopen");
    let _clean = Cleanup(name.clone());
    let _queue = QueueCleanup(name.clone());
    let typed = Shared::<Big>::create_with(&name, [123; 4096]).unwrap();
    let full = std::fs::metadata(path(&name)).unwrap().len();
    resize(&name, 4096 + 100);
    resize(&name, full);
    match Shared::<Big>::open(&name) {
        Err(Error::Corrupted { what, .. }) => assert!(what.contains("end marker"), "{what}"),
        other => panic!("typed: {other:?}"),
    }
    drop(typed);

    let q = unique("reopen-q");
    let _q = QueueCleanup(q.clone());
    let p = spsc::Producer::create(&q, LEN).unwrap();
    let full = std::fs::metadata(path(&q)).unwrap().len();
    resize(&q, 4096 + 100);
    resize(&q, full);
    match spsc::Consumer::open(&q) {
        Err(Error::Corrupted { what, .. }) => assert!(what.contains("end marker"), "{what}"),
        other => panic!("queue: {other:?}"),
    }
    drop(p);
}

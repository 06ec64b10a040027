//! The hostile environment: another user who squats the names you will use,
//! world-writable segments, symlinks planted in `/dev/shm`, a peer that
//! shrinks a segment you have mapped, a full `/dev/shm`. Each case must end in
//! its documented error (or, for the shrinking peer, in the documented
//! `SIGBUS`), never a panic, a hang or a silent success.
//!
//! The other users are real: as root, a test re-executes this binary as uid
//! 65534 (the attacker) and uid 65533 (the victim). Without root, or where
//! those users cannot run this binary, a test prints why and skips.
//! `tests/segment.rs` already covers the same checks within one user (a
//! symlink to another segment, a FIFO, a directory, a chowned segment, a
//! world-writable segment of your own, a full `/dev/shm` for raw segments);
//! this file adds the other users, every API that creates or opens a name,
//! and the cases that file does not have.
#![cfg(target_os = "linux")]
#![allow(missing_docs)] // test types

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{role, say, unique, Child, Cleanup, QueueCleanup};
use shmkit::queue::{mpmc, spsc, Options, Peer, Receiver, Sender};
use shmkit::{broadcast, Error, Segment, Shared};

/// The user who plants names.
const ATTACKER: u32 = 65534;
/// The user who wants to use them.
const VICTIM: u32 = 65533;

/// A typed value both sides agree on.
#[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct Plain {
    pub magic: u64,
    pub words: [u32; 14],
}

/// A type the victim expects where the attacker put a `Plain`.
#[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct Other {
    pub magic: u32,
    pub count: u32,
}

/// 2 MiB: more than the 1 MiB `/dev/shm` of the full-filesystem test.
#[derive(shmkit::Layout)]
#[repr(C)]
pub struct Big {
    pub words: [u64; 262_144],
}

/// 8 KiB of data: two pages and a header.
#[derive(shmkit::Layout, Clone, Copy)]
#[repr(C)]
pub struct TwoPages {
    pub words: [u64; 1024],
}

fn path(name: &str) -> String {
    format!("/dev/shm/{name}")
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Starts test `test` of this binary in `role` as user `uid` (group `uid`, no
/// supplementary groups: std drops them when root sets a uid). `None`, with
/// the reason printed, where that cannot be done.
fn spawn_as(uid: u32, test: &str, role: &str, args: &[&str]) -> Option<Child> {
    if !is_root() {
        eprintln!("skipped: running a child as uid {uid} needs root");
        return None;
    }
    let exe = std::env::current_exe().unwrap();
    let runs = Command::new(&exe)
        .arg("--list")
        .uid(uid)
        .gid(uid)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !runs {
        eprintln!("skipped: uid {uid} cannot run {}", exe.display());
        return None;
    }
    let mut cmd = common::command(test, role, args);
    cmd.uid(uid).gid(uid);
    Some(Child::start(cmd))
}

/// The error a refused call must give.
#[derive(Clone, Copy, Debug)]
enum Expect {
    AlreadyExists,
    PermissionDenied,
    UntrustedOwner { owner: u32, euid: u32 },
    InsecureMode(u32),
    Symlink,
    NoSpace,
}

/// Asserts that `result` failed with the `expected` error; `what` names the
/// call in the failure message.
#[track_caller]
fn refused<T: std::fmt::Debug>(what: &str, result: Result<T, Error>, expected: Expect) {
    let err = match result {
        Ok(v) => panic!("{what}: succeeded ({v:?}) where {expected:?} was expected"),
        Err(e) => e,
    };
    let ok = match expected {
        Expect::AlreadyExists => matches!(err, Error::AlreadyExists { .. }),
        Expect::PermissionDenied => matches!(err, Error::PermissionDenied { .. }),
        Expect::UntrustedOwner { owner, euid } => matches!(
            err,
            Error::UntrustedOwner { owner: o, euid: e, .. } if o == owner && e == euid
        ),
        Expect::InsecureMode(mode) => {
            matches!(err, Error::InsecureMode { mode: m, .. } if m == mode)
        }
        Expect::Symlink => matches!(
            err,
            Error::NotRegularFile {
                kind: "symbolic link",
                ..
            }
        ),
        Expect::NoSpace => matches!(err, Error::NoSpace { .. }),
    };
    assert!(ok, "{what}: got `{err}` ({err:?}), expected {expected:?}");
}

/// Every call that creates `name` must fail with `AlreadyExists`; every call
/// that opens it must fail with `open` (both for raw, typed and queue APIs).
fn every_api_refuses(name: &str, open: Expect) {
    let exists = Expect::AlreadyExists;
    refused("Segment::create", Segment::create(name, 64), exists);
    refused(
        "Segment::create mode 0666",
        Segment::options().mode(0o666).create(name, 64),
        exists,
    );
    refused("Shared::create", Shared::<Plain>::create(name), exists);
    refused(
        "Shared::create_raw",
        Shared::<Plain>::create_raw(name),
        exists,
    );
    refused(
        "spsc::Consumer::create",
        spsc::Consumer::create(name, 4096),
        exists,
    );
    refused(
        "spsc::Producer::create",
        spsc::Producer::create(name, 4096),
        exists,
    );
    refused(
        "mpmc::Producer::create",
        mpmc::Producer::create(name, 4, 64),
        exists,
    );
    refused(
        "broadcast::Publisher::create",
        broadcast::Publisher::create(name, 4, 64),
        exists,
    );
    refused("Sender::create", Sender::<Plain>::create(name, 4), exists);

    refused("Segment::open", Segment::open(name), open);
    refused(
        "Segment::open read-only",
        Segment::options().read_only(true).open(name),
        open,
    );
    refused(
        "Segment::open_or_create",
        Segment::open_or_create(name, 64),
        open,
    );
    refused("Shared::open", Shared::<Plain>::open(name), open);
    refused("Shared::open_raw", Shared::<Plain>::open_raw(name), open);
    refused(
        "Shared::open_or_create",
        Shared::<Plain>::open_or_create(name),
        open,
    );
    refused("spsc::Producer::open", spsc::Producer::open(name), open);
    refused("spsc::Consumer::open", spsc::Consumer::open(name), open);
    refused("mpmc::Consumer::open", mpmc::Consumer::open(name), open);
    refused(
        "broadcast::Subscriber::open",
        broadcast::Subscriber::open(name),
        open,
    );
    refused("Receiver::open", Receiver::<Plain>::open(name), open);
}

const ATTACKER_VALUE: Plain = Plain {
    magic: 0x5155_4154_5445_5253,
    words: [7; 14],
};

/// In the attacker's child: plants a raw segment of mode 0600 (`args[0]`),
/// a raw one of mode 0666 (`args[1]`) and a typed one of mode 0666
/// (`args[2]`), all persistent, each holding `ATTACKER_VALUE`.
fn plant(args: &[String]) {
    let keep = |mode| {
        let mut o = Segment::options();
        o.persist(true).mode(mode);
        o
    };
    let bytes = ATTACKER_VALUE.magic.to_le_bytes();
    keep(0o600)
        .create(&args[0], 64)
        .unwrap()
        .write_at(0, &bytes)
        .unwrap();
    keep(0o666)
        .create(&args[1], 64)
        .unwrap()
        .write_at(0, &bytes)
        .unwrap();
    Shared::<Plain>::options()
        .persist(true)
        .mode(0o666)
        .create_with(&args[2], ATTACKER_VALUE)
        .unwrap();
    say("planted");
}

/// Asserts that the attacker's segment `name` is as it was planted: same
/// owner, mode and size, the same first word.
fn assert_untouched(name: &str, mode: u32, len: u64) {
    let meta = std::fs::symlink_metadata(path(name)).unwrap();
    assert!(meta.file_type().is_file(), "{name}");
    assert_eq!(meta.uid(), ATTACKER, "{name}: owner changed");
    assert_eq!(meta.mode() & 0o777, mode, "{name}: mode changed");
    assert_eq!(meta.len(), len, "{name}: size changed");
}

/// The squatting attack: another user pre-creates the names a victim will
/// create. Every create fails with `AlreadyExists` (nothing of the
/// attacker's is opened or changed), and every open (`open_or_create`
/// included) is refused: `PermissionDenied` where the mode keeps the victim
/// out, `UntrustedOwner` where it lets the victim in. Root, who may open
/// anything, gets `UntrustedOwner` too.
#[test]
fn names_squatted_by_another_user_are_refused_by_every_api() {
    const TEST: &str = "names_squatted_by_another_user_are_refused_by_every_api";
    if let Some((role, args)) = role() {
        match role.as_str() {
            "attacker" => plant(&args),
            _ => {
                let (private, wide, typed) = (&args[0], &args[1], &args[2]);
                every_api_refuses(private, Expect::PermissionDenied);
                let untrusted = Expect::UntrustedOwner {
                    owner: ATTACKER,
                    euid: VICTIM,
                };
                every_api_refuses(wide, untrusted);
                every_api_refuses(typed, untrusted);
                // The sticky bit of /dev/shm keeps the victim from removing
                // the squatter's names: that is for their owner or root.
                refused(
                    "Segment::remove",
                    Segment::remove(private),
                    Expect::PermissionDenied,
                );
                refused(
                    "queue::remove",
                    shmkit::queue::remove(wide),
                    Expect::PermissionDenied,
                );
                say("refused");
            }
        }
        return;
    }
    let (private, wide, typed) = (unique("sq-priv"), unique("sq-wide"), unique("sq-typed"));
    let _c = [
        Cleanup(private.clone()),
        Cleanup(wide.clone()),
        Cleanup(typed.clone()),
    ];
    let names = [private.as_str(), wide.as_str(), typed.as_str()];
    let Some(mut attacker) = spawn_as(ATTACKER, TEST, "attacker", &names) else {
        return;
    };
    assert_eq!(attacker.recv(), "planted");
    attacker.wait_ok();
    let typed_len = std::fs::metadata(path(&typed)).unwrap().len();

    let Some(mut victim) = spawn_as(VICTIM, TEST, "victim", &names) else {
        return;
    };
    assert_eq!(victim.recv(), "refused");
    victim.wait_ok();

    // Root can open every file, so only the owner check stands between it
    // and the squatter's segment.
    every_api_refuses(
        &private,
        Expect::UntrustedOwner {
            owner: ATTACKER,
            euid: 0,
        },
    );
    assert_untouched(&private, 0o600, 64);
    assert_untouched(&wide, 0o666, 64);
    assert_untouched(&typed, 0o666, typed_len);
}

/// A world-writable segment made by another user: refused with
/// `UntrustedOwner`; trusting that user is not enough (`InsecureMode`, since
/// any third user could write it too); with both opt-ins it opens, and a
/// typed open still checks the layout (`LayoutMismatch` for a wrong type).
#[test]
fn a_world_writable_segment_of_another_user_needs_both_opt_ins() {
    const TEST: &str = "a_world_writable_segment_of_another_user_needs_both_opt_ins";
    if let Some((role, args)) = role() {
        match role.as_str() {
            "attacker" => plant(&args),
            _ => {
                let euid = rustix::process::geteuid().as_raw();
                check_world_writable(&args[1], &args[2], euid);
                say("checked");
            }
        }
        return;
    }
    let (private, wide, typed) = (unique("ww-priv"), unique("ww-wide"), unique("ww-typed"));
    let _c = [
        Cleanup(private.clone()),
        Cleanup(wide.clone()),
        Cleanup(typed.clone()),
    ];
    let names = [private.as_str(), wide.as_str(), typed.as_str()];
    let Some(mut attacker) = spawn_as(ATTACKER, TEST, "attacker", &names) else {
        return;
    };
    assert_eq!(attacker.recv(), "planted");
    attacker.wait_ok();
    // Another unprivileged user, and root.
    let Some(mut victim) = spawn_as(VICTIM, TEST, "victim", &names) else {
        return;
    };
    assert_eq!(victim.recv(), "checked");
    victim.wait_ok();
    check_world_writable(&wide, &typed, 0);
}

/// The checks of `a_world_writable_segment_of_another_user_needs_both_opt_ins`
/// for one opener of effective uid `euid`.
fn check_world_writable(wide: &str, typed: &str, euid: u32) {
    let untrusted = Expect::UntrustedOwner {
        owner: ATTACKER,
        euid,
    };
    refused("Segment::open", Segment::open(wide), untrusted);
    refused(
        "Segment::open with accept_mode only",
        Segment::options().accept_mode(0o666).open(wide),
        untrusted,
    );
    let err = Segment::options()
        .trust_owner(ATTACKER)
        .open(wide)
        .unwrap_err();
    assert!(
        matches!(err, Error::InsecureMode { mode: 0o666, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("accept_mode(0o666)"), "{err}");
    // Read-only changes nothing: a third user could still write under us.
    refused(
        "Segment::open read-only, trusted owner",
        Segment::options()
            .read_only(true)
            .trust_owner(ATTACKER)
            .open(wide),
        Expect::InsecureMode(0o666),
    );
    let seg = Segment::options()
        .trust_owner(ATTACKER)
        .accept_mode(0o666)
        .open(wide)
        .unwrap();
    let mut word = [0u8; 8];
    seg.read_at(0, &mut word).unwrap();
    assert_eq!(u64::from_le_bytes(word), ATTACKER_VALUE.magic);

    refused(
        "Shared::open, trusted owner",
        Shared::<Plain>::options().trust_owner(ATTACKER).open(typed),
        Expect::InsecureMode(0o666),
    );
    let shared = Shared::<Plain>::options()
        .trust_owner(ATTACKER)
        .accept_mode(0o666)
        .open(typed)
        .unwrap();
    assert_eq!(shared.load().unwrap(), ATTACKER_VALUE);
    let err = Shared::<Other>::options()
        .trust_owner(ATTACKER)
        .accept_mode(0o666)
        .open(typed)
        .unwrap_err();
    assert!(matches!(err, Error::LayoutMismatch { .. }), "{err}");
}

/// Symlinks planted under the names: to a file outside `/dev/shm` (a stand-in
/// for `/etc/passwd`) and dangling (to where a file would be created). No
/// API follows them: creates say `AlreadyExists`, opens say `NotRegularFile
/// { kind: "symbolic link" }`, the target is neither read, written,
/// truncated nor created. A queue whose role lock files are such symlinks
/// still works (its liveness locks are then unavailable) and creates nothing
/// through them.
#[test]
fn symlinks_planted_under_the_names_are_never_followed() {
    let dir = std::env::temp_dir().join(format!("shmkit-hostile-{}", unique("sl")));
    std::fs::create_dir(&dir).unwrap();
    let secret = dir.join("passwd");
    let content = b"root:x:0:0:root:/root:/bin/bash\n";
    std::fs::write(&secret, content).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let absent = dir.join("absent");

    let (to_file, dangling) = (unique("sl-file"), unique("sl-dangling"));
    let _c = [Cleanup(to_file.clone()), Cleanup(dangling.clone())];
    let plant = |link: &str, target: &std::path::Path| {
        std::os::unix::fs::symlink(target, link).unwrap();
        if is_root() {
            // Planted by another user, as in the attack.
            let nobody = Some(rustix::process::Uid::from_raw(ATTACKER));
            rustix::fs::chownat(
                rustix::fs::CWD,
                link,
                nobody,
                None,
                rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
            )
            .unwrap();
        }
    };
    plant(&path(&to_file), &secret);
    plant(&path(&dangling), &absent);

    every_api_refuses(&to_file, Expect::Symlink);
    every_api_refuses(&dangling, Expect::Symlink);
    let err = Segment::open(&to_file).unwrap_err();
    assert!(err.to_string().contains("squatting"), "{err}");

    // Role lock files planted as symlinks.
    let q = unique("sl-queue");
    let _q = QueueCleanup(q.clone());
    plant(&path(&format!(".shmkit-lock.{q}.consumer")), &secret);
    plant(&path(&format!(".shmkit-lock.{q}.producer")), &absent);
    {
        let mut rx = spsc::Consumer::create(&q, 4096).unwrap();
        let mut tx = spsc::Producer::open(&q).unwrap();
        tx.send(b"still works").unwrap();
        assert_eq!(rx.recv().unwrap(), b"still works");
    }

    assert_eq!(std::fs::read(&secret).unwrap(), content, "target changed");
    let meta = std::fs::metadata(&secret).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o644, "target's mode changed");
    assert!(!absent.exists(), "a dangling symlink's target was created");
    // The symlinks are names like any other: remove unlinks the link only.
    Segment::remove(&to_file).unwrap();
    assert!(!Segment::exists(&to_file).unwrap());
    assert_eq!(std::fs::read(&secret).unwrap(), content);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A peer shrinks a segment another process has mapped: what SECURITY.md
/// promises. Bytes still inside the file read as before; touching a page
/// past the new end is `Error::Truncated` (shmkit's `SIGBUS` guard repairs
/// the fault), and the reader lives on. The reader's `len()` keeps the size
/// it mapped: shmkit does not re-check the size on each access.
#[test]
fn a_peer_shrinking_a_mapped_segment_gives_readers_an_error_not_sigbus() {
    const PAGE: usize = 4096;
    if let Some((_, args)) = role() {
        let seg = Segment::open(&args[0]).unwrap();
        let mut buf = [0u8; 4];
        seg.read_at(3 * PAGE, &mut buf).unwrap();
        assert_eq!(&buf, b"tail");
        say("mapped");
        assert_eq!(common::hear(), "read");
        assert_eq!(seg.len(), 4 * PAGE);
        seg.read_at(0, &mut buf).unwrap();
        say(std::str::from_utf8(&buf).unwrap());
        // The page past the new end: an error, and so is every later call.
        let e = seg.read_at(3 * PAGE, &mut buf).unwrap_err();
        assert!(matches!(e, shmkit::Error::Truncated { .. }), "{e:?}");
        let e = seg.read_at(0, &mut buf).unwrap_err();
        assert!(matches!(e, shmkit::Error::Truncated { .. }), "{e:?}");
        say("survived");
        return;
    }
    let name = unique("shrink");
    let seg = Segment::create(&name, 4 * PAGE).unwrap();
    seg.write_at(0, b"head").unwrap();
    seg.write_at(3 * PAGE, b"tail").unwrap();
    let mut cmd = common::command(
        "a_peer_shrinking_a_mapped_segment_gives_readers_an_error_not_sigbus",
        "reader",
        &[&name],
    );
    // Under a sanitizer (ci/sanitize.sh) leave SIGBUS to shmkit's handler,
    // as in a normal build, instead of the sanitizer's own.
    for var in ["ASAN_OPTIONS", "TSAN_OPTIONS"] {
        let given = std::env::var(var).unwrap_or_default();
        cmd.env(var, format!("{given}:handle_sigbus=0"));
    }
    let mut reader = Child::start(cmd);
    assert_eq!(reader.recv(), "mapped");
    // The peer (any process that may write the segment) shrinks it.
    std::fs::OpenOptions::new()
        .write(true)
        .open(path(&name))
        .unwrap()
        .set_len(PAGE as u64)
        .unwrap();
    reader.send("read");
    assert_eq!(reader.recv(), "head");
    assert_eq!(reader.recv(), "survived");
    let status = reader.wait_status();
    assert_eq!(status.signal(), None, "the reader ended with {status}");
    assert_eq!(status.code(), Some(0));
    // This process still maps the whole size too; the first page still works.
    let mut buf = [0u8; 4];
    seg.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"head");
}

/// After a shrink, new opens re-validate the size and refuse: a typed segment
/// cut below what its header claims is `Corrupted`, cut below its header is
/// `NotTyped`, cut to nothing is `Empty`; a queue cut short is `Corrupted`.
/// No opener maps past the end, so none of them gets a `SIGBUS`.
#[test]
fn a_shrunk_segment_is_refused_by_new_openers() {
    fn shrink(name: &str, len: u64) {
        std::fs::OpenOptions::new()
            .write(true)
            .open(path(name))
            .unwrap()
            .set_len(len)
            .unwrap();
    }
    let quick = Duration::from_millis(50);

    let typed = unique("shrunk-typed");
    let _c = Cleanup(typed.clone());
    drop(
        Shared::<TwoPages>::options()
            .persist(true)
            .create(&typed)
            .unwrap(),
    );
    shrink(&typed, 4096);
    let err = Shared::<TwoPages>::open(&typed).unwrap_err();
    assert!(
        matches!(err, Error::Corrupted { ref what, .. } if what.contains("the segment has 4096")),
        "{err}"
    );
    // A raw open maps what is there now.
    assert_eq!(Segment::open(&typed).unwrap().len(), 4096);
    shrink(&typed, 16);
    let err = Shared::<TwoPages>::open(&typed).unwrap_err();
    assert!(matches!(err, Error::NotTyped { .. }), "{err}");
    shrink(&typed, 0);
    let err = Shared::<TwoPages>::options()
        .timeout(quick)
        .open(&typed)
        .unwrap_err();
    assert!(matches!(err, Error::Empty { .. }), "{err}");

    let q = unique("shrunk-queue");
    let _q = QueueCleanup(q.clone());
    drop(spsc::Consumer::create_with(&q, 64 << 10, &Options::default().persist(true)).unwrap());
    shrink(&q, 4096);
    let err = spsc::Producer::open(&q).unwrap_err();
    assert!(matches!(err, Error::Corrupted { .. }), "{err}");
    shrink(&q, 0);
    let err = spsc::Producer::open_with(&q, &Options::default().open_timeout(quick)).unwrap_err();
    assert!(matches!(err, Error::Empty { .. }), "{err}");
}

/// A full `/dev/shm` (a 1 MiB tmpfs in a private mount namespace) for the
/// typed and queue APIs: each creation fails with `NoSpace` and leaves
/// nothing behind, not even a role lock file. (`tests/segment.rs`
/// `linux::full_dev_shm_is_no_space_and_leaves_nothing` covers raw
/// segments.)
#[test]
fn typed_and_queue_creation_in_a_full_dev_shm_is_no_space_and_leaves_nothing() {
    if role().is_some() {
        let listing = || -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir("/dev/shm")
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(listing(), Vec::<String>::new(), "a fresh /dev/shm");
        let no_space = Expect::NoSpace;
        refused("Shared::create", Shared::<Big>::create("big"), no_space);
        refused(
            "Shared::create_raw",
            Shared::<Big>::create_raw("big"),
            no_space,
        );
        let err = Shared::<Big>::open_or_create("big").unwrap_err();
        assert!(matches!(err, Error::NoSpace { .. }), "{err}");
        assert!(err.to_string().contains("shmkit gc"), "{err}");
        refused(
            "spsc::Consumer::create",
            spsc::Consumer::create("q", 2 << 20),
            no_space,
        );
        refused(
            "spsc::Producer::create",
            spsc::Producer::create("q", 2 << 20),
            no_space,
        );
        refused(
            "mpmc::Producer::create",
            mpmc::Producer::create("q", 512, 4096),
            no_space,
        );
        refused(
            "broadcast::Publisher::create",
            broadcast::Publisher::create("q", 512, 4096),
            no_space,
        );
        refused(
            "Sender::create",
            Sender::<Plain>::create("q", 32_768),
            no_space,
        );
        assert_eq!(listing(), Vec::<String>::new(), "something was left behind");

        // Nearly full: what is left is too little for a small queue, and
        // what still fits works.
        let hog = Segment::create("hog", 960 << 10).unwrap();
        hog.write_at((960 << 10) - 1, &[1]).unwrap();
        refused(
            "small spsc",
            spsc::Consumer::create("q", 128 << 10),
            no_space,
        );
        assert_eq!(
            listing(),
            vec!["hog".to_owned()],
            "something was left behind"
        );
        let fits = Shared::<TwoPages>::create("fits").unwrap();
        fits.words().at(1023).set(9).unwrap();
        assert_eq!(fits.load().unwrap().words[1023], 9);
        say("ok");
        return;
    }
    let Some(mut child) = common::spawn_in_private_dev_shm(
        "typed_and_queue_creation_in_a_full_dev_shm_is_no_space_and_leaves_nothing",
        "creator",
        &[],
        "1m",
    ) else {
        return;
    };
    assert_eq!(child.recv(), "ok");
    child.wait_ok();
}

/// Another user plants a queue's role lock files (`/dev/shm` is
/// world-writable), mode 0666 so that anyone may open them, and holds their
/// locks forever. Such files are not the victim's own, so they are ignored:
/// the queue works, its liveness is "unknown" (waits end by their timeouts,
/// as SECURITY.md says), and a clean close is still seen. They used to make
/// every `create` fail with `RoleTaken`.
#[test]
fn role_lock_files_planted_by_another_user_are_ignored() {
    const TEST: &str = "role_lock_files_planted_by_another_user_are_ignored";
    if let Some((role, args)) = role() {
        match role.as_str() {
            "attacker" => {
                let mut held = Vec::new();
                for q in &args {
                    for r in ["consumer", "producer"] {
                        let f =
                            std::fs::File::create(path(&format!(".shmkit-lock.{q}.{r}"))).unwrap();
                        f.set_permissions(std::fs::Permissions::from_mode(0o666))
                            .unwrap();
                        rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive).unwrap();
                        held.push(f);
                    }
                }
                say("holding");
                assert_eq!(common::hear(), "done");
            }
            _ => {
                use_queue_despite_planted_locks(&args[0]);
                say("used");
            }
        }
        return;
    }
    let (for_victim, for_root) = (unique("lock-victim"), unique("lock-root"));
    let _c = [
        QueueCleanup(for_victim.clone()),
        QueueCleanup(for_root.clone()),
    ];
    let Some(mut attacker) = spawn_as(ATTACKER, TEST, "attacker", &[&for_victim, &for_root]) else {
        return;
    };
    assert_eq!(attacker.recv(), "holding");
    if let Some(mut victim) = spawn_as(VICTIM, TEST, "victim", &[&for_victim]) {
        assert_eq!(victim.recv(), "used");
        victim.wait_ok();
    }
    use_queue_despite_planted_locks(&for_root);
    attacker.send("done");
    attacker.wait_ok();
}

/// The checks of `role_lock_files_planted_by_another_user_are_ignored`.
fn use_queue_despite_planted_locks(q: &str) {
    let quick = Options::default().open_timeout(Duration::from_secs(5));
    let mut rx = spsc::Consumer::create_with(q, 4096, &quick).unwrap();
    let mut tx = spsc::Producer::open_with(q, &quick).unwrap();
    tx.send(b"through").unwrap();
    assert_eq!(rx.recv().unwrap(), b"through");
    drop(tx);
    let err = rx.recv_timeout(Duration::from_secs(5)).unwrap_err();
    assert!(matches!(err, Error::Closed { .. }), "{err}");
}

/// A queue shared with another user on purpose: the creator (root here)
/// gives it mode 0666 and trusts the other user; the other user's endpoint
/// is refused until it trusts the creator and accepts the mode, then
/// messages flow, and the creator sees the other user's endpoint die
/// (`PeerDied` after a `kill -9`, not a timeout): each side's role lock file
/// is readable by the other, and trusted.
#[test]
fn a_queue_shared_with_another_user_works_and_sees_its_death() {
    const TEST: &str = "a_queue_shared_with_another_user_works_and_sees_its_death";
    if let Some((_, args)) = role() {
        let (q, creator): (&str, u32) = (&args[0], args[1].parse().unwrap());
        refused(
            "producer open, creator not trusted",
            spsc::Producer::open(q),
            Expect::UntrustedOwner {
                owner: creator,
                euid: VICTIM,
            },
        );
        refused(
            "producer open, mode not accepted",
            spsc::Producer::open_with(q, &Options::default().trust_owner(creator)),
            Expect::InsecureMode(0o666),
        );
        let opts = Options::default().trust_owner(creator).accept_mode(0o666);
        let mut tx = spsc::Producer::open_with(q, &opts).unwrap();
        tx.send(b"from another user").unwrap();
        say("sent");
        // Until killed.
        let _ = common::hear();
        return;
    }
    let q = unique("shared-user");
    let _c = QueueCleanup(q.clone());
    let me = rustix::process::geteuid().as_raw();
    let opts = Options::default().mode(0o666).trust_owner(VICTIM);
    let mut rx = spsc::Consumer::create_with(&q, 4096, &opts).unwrap();
    let Some(mut other) = spawn_as(VICTIM, TEST, "other", &[&q, &me.to_string()]) else {
        return;
    };
    assert_eq!(other.recv(), "sent");
    let got = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(got, b"from another user");
    for (role, owner) in [("consumer", me), ("producer", VICTIM)] {
        let meta = std::fs::metadata(path(&format!(".shmkit-lock.{q}.{role}"))).unwrap();
        assert_eq!(
            (meta.uid(), meta.mode() & 0o777),
            (owner, 0o644),
            "{role}'s lock file"
        );
    }
    assert_eq!(rx.peer(), Peer::Alive);
    other.kill9();
    let err = rx.recv_timeout(Duration::from_secs(10)).unwrap_err();
    assert!(matches!(err, Error::PeerDied { .. }), "{err}");
    assert_eq!(rx.peer(), Peer::Died);
}

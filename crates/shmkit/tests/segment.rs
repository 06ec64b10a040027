//! Named segments across real processes, and every error they can give.

mod common;

use common::{role, say, unique, Child, Cleanup};
use shmkit::{Error, Segment};

/// The size that `Segment::open` reports for a segment created with `len`
/// bytes: `len` itself, except on Windows, which does not record a mapping's
/// size, so that an opener sees the mapped region, rounded up to pages.
fn opened_len(len: usize) -> usize {
    if cfg!(windows) {
        len.next_multiple_of(4096)
    } else {
        len
    }
}

/// The issue's headline: a second process opens the segment by name, reads the
/// first's bytes, and writes an answer that the first then reads.
#[test]
fn second_process_reads_first_and_first_reads_answer() {
    if let Some((_, args)) = role() {
        let seg = Segment::open(&args[0]).unwrap();
        assert_eq!(seg.len(), opened_len(1000));
        assert!(!seg.created());
        let mut buf = [0u8; 16];
        seg.read_at(0, &mut buf).unwrap();
        say(std::str::from_utf8(&buf).unwrap());
        seg.write_at(500, b"answer from child").unwrap();
        say("written");
        return;
    }
    let name = unique("xproc");
    let seg = Segment::create(&name, 1000).unwrap();
    seg.write_at(0, b"hello from first").unwrap();
    let mut child = Child::spawn(
        "second_process_reads_first_and_first_reads_answer",
        "reader",
        &[&name],
    );
    assert_eq!(child.recv(), "hello from first");
    assert_eq!(child.recv(), "written");
    child.wait_ok();
    let mut answer = [0u8; 17];
    seg.read_at(500, &mut answer).unwrap();
    assert_eq!(&answer, b"answer from child");
}

/// Eight processes call `open_or_create` at the same moment: exactly one
/// creates, and all of them see the same memory.
#[test]
fn open_or_create_stampede_has_exactly_one_creator() {
    if let Some((_, args)) = role() {
        assert_eq!(common::hear(), "go");
        let seg = Segment::open_or_create(&args[0], 4096).unwrap();
        let me: u32 = args[1].parse().unwrap();
        // Everyone marks its own byte, so the parent can see they share it.
        seg.write_at(me as usize, &[1]).unwrap();
        say(if seg.created() { "created" } else { "opened" });
        // Stay alive until told, so that the creator does not remove the name
        // before a slow sibling gets to it.
        assert_eq!(common::hear(), "exit");
        return;
    }
    let name = unique("stampede");
    let _cleanup = Cleanup(name.clone());
    const N: usize = 8;
    let mut children: Vec<Child> = (0..N)
        .map(|i| {
            Child::spawn(
                "open_or_create_stampede_has_exactly_one_creator",
                "racer",
                &[&name, &i.to_string()],
            )
        })
        .collect();
    for c in &mut children {
        c.send("go");
    }
    let answers: Vec<String> = children.iter_mut().map(Child::recv).collect();
    assert_eq!(
        answers.iter().filter(|a| *a == "created").count(),
        1,
        "{answers:?}"
    );
    assert_eq!(
        answers.iter().filter(|a| *a == "opened").count(),
        N - 1,
        "{answers:?}"
    );
    let seg = Segment::open(&name).unwrap();
    let mut marks = [0u8; N];
    seg.read_at(0, &mut marks).unwrap();
    assert_eq!(marks, [1; N]);
    for mut c in children {
        c.send("exit");
        c.wait_ok();
    }
}

/// The creator's drop removes the name; a mapping open elsewhere stays valid.
#[cfg(unix)] // Windows: `windows::a_mapping_vanishes_with_its_last_handle`
#[test]
fn creator_drop_removes_name_but_open_mappings_live_on() {
    let name = unique("lifetime");
    let seg = Segment::create(&name, 64).unwrap();
    let other = Segment::open(&name).unwrap();
    seg.write_at(0, b"kept").unwrap();
    drop(seg);
    assert!(!Segment::exists(&name).unwrap());
    let mut buf = [0u8; 4];
    other.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"kept");
    // Dropping an opener never removes anything.
    let seg = Segment::create(&name, 64).unwrap();
    drop(Segment::open(&name).unwrap());
    assert!(Segment::exists(&name).unwrap());
    drop(seg);
}

#[cfg(unix)] // Windows: `windows::persist_and_remove_are_unsupported`
#[test]
fn persist_keeps_the_name_until_remove() {
    let name = unique("persist");
    let _cleanup = Cleanup(name.clone());
    drop(Segment::options().persist(true).create(&name, 64).unwrap());
    assert!(Segment::exists(&name).unwrap());
    let mut seg = Segment::open(&name).unwrap();
    assert_eq!(seg.len(), 64);
    seg.set_persist(false); // only a creator removes: this is an opener
    drop(seg);
    assert!(Segment::exists(&name).unwrap());
    Segment::remove(&name).unwrap();
    assert!(!Segment::exists(&name).unwrap());
    assert!(matches!(
        Segment::remove(&name),
        Err(Error::NotFound { .. })
    ));
}

/// A creator whose name was removed and re-made by someone else leaves the new
/// segment alone when it drops.
#[cfg(unix)] // Windows has no remove
#[test]
fn creator_drop_spares_a_newer_segment_of_the_same_name() {
    let name = unique("spare");
    let _cleanup = Cleanup(name.clone());
    let old = Segment::create(&name, 64).unwrap();
    Segment::remove(&name).unwrap();
    let _new = Segment::options().persist(true).create(&name, 64).unwrap();
    drop(old);
    assert!(Segment::exists(&name).unwrap());
}

#[cfg(unix)] // Windows: `windows::an_opened_segment_has_a_page_rounded_len`
#[test]
fn len_is_the_size_asked_for_not_page_rounded() {
    let name = unique("len");
    let seg = Segment::create(&name, 208).unwrap();
    assert_eq!(seg.len(), 208);
    assert_eq!(Segment::open(&name).unwrap().len(), 208);
}

#[test]
fn new_segments_are_zeroed() {
    let name = unique("zero");
    let seg = Segment::create(&name, 10_000).unwrap();
    let mut buf = vec![0xAA; 10_000];
    seg.read_at(0, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0));
}

#[test]
fn unsafe_slices_see_the_same_bytes() {
    let name = unique("slices");
    let mut seg = Segment::create(&name, 16).unwrap();
    // SAFETY: this test's segment has no other user.
    unsafe { seg.as_mut_slice() }.unwrap()[3] = 42;
    // SAFETY: as above.
    assert_eq!(unsafe { seg.as_slice() }[3], 42);
    let mut reader = Segment::options().read_only(true).open(&name).unwrap();
    let refused =
        // SAFETY: a read-only segment refuses before borrowing anything.
        unsafe { reader.as_mut_slice() }.map(drop);
    assert!(matches!(refused, Err(Error::ReadOnly { .. })));
}

// ---- errors -----------------------------------------------------------------

#[test]
fn invalid_names_are_refused_before_any_system_call() {
    for bad in ["", ".x", "/x", "a/b", "a b", &"y".repeat(31)] {
        for result in [
            Segment::create(bad, 10).map(drop),
            Segment::open(bad).map(drop),
            Segment::open_or_create(bad, 10).map(drop),
            Segment::remove(bad),
            Segment::exists(bad).map(drop),
        ] {
            let err = result.unwrap_err();
            assert!(matches!(err, Error::InvalidName { .. }), "{bad:?}: {err}");
        }
    }
}

#[test]
fn invalid_sizes_leave_nothing_behind() {
    let name = unique("size");
    for len in [0, usize::MAX, isize::MAX as usize] {
        let err = Segment::create(&name, len).unwrap_err();
        assert!(matches!(err, Error::InvalidSize { .. }), "{len}: {err}");
        assert!(!Segment::exists(&name).unwrap(), "{len}");
    }
}

#[test]
fn huge_size_is_no_space_and_leaves_nothing_behind() {
    // 1 TiB: more than this machine's shared memory, within what mmap allows
    // (in a 32-bit process, more than its address space: `InvalidSize`).
    let name = unique("huge");
    let huge = usize::try_from(1u64 << 40).unwrap_or(usize::MAX);
    let err = Segment::create(&name, huge).unwrap_err();
    assert!(
        matches!(err, Error::NoSpace { .. } | Error::InvalidSize { .. }),
        "{err}"
    );
    assert!(!Segment::exists(&name).unwrap());
}

#[test]
fn invalid_mode_is_refused() {
    let name = unique("mode");
    let err = Segment::options()
        .mode(0o4755)
        .create(&name, 10)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidMode { .. }), "{err}");
    assert!(!Segment::exists(&name).unwrap());
}

#[test]
fn create_on_a_taken_name_fails_and_touches_nothing() {
    let name = unique("taken");
    let seg = Segment::create(&name, 32).unwrap();
    seg.write_at(0, b"original").unwrap();
    let err = Segment::create(&name, 64).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { ref name } if name == seg.name()));
    assert!(err.to_string().contains("Segment::open"), "{err}");
    let again = Segment::open(&name).unwrap();
    assert_eq!(again.len(), opened_len(32));
    let mut buf = [0u8; 8];
    again.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"original");
}

#[test]
fn open_of_a_missing_name_is_not_found() {
    let name = unique("missing");
    let err = Segment::open(&name).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(err.to_string().contains(&name));
}

#[test]
fn read_only_segments_refuse_writes() {
    let name = unique("ro");
    let seg = Segment::create(&name, 8).unwrap();
    seg.write_at(0, b"abc").unwrap();
    let ro = Segment::options().read_only(true).open(&name).unwrap();
    assert!(ro.is_read_only());
    let err = ro.write_at(0, b"x").unwrap_err();
    assert!(matches!(err, Error::ReadOnly { .. }), "{err}");
    let mut buf = [0u8; 3];
    ro.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"abc");
}

#[test]
fn out_of_bounds_accesses_are_refused() {
    let name = unique("oob");
    let seg = Segment::create(&name, 8).unwrap();
    for (offset, len) in [(0, 9), (8, 1), (usize::MAX, 2), (4, usize::MAX / 2)] {
        let mut buf = vec![0u8; len.min(16)];
        if len <= 16 {
            assert!(matches!(
                seg.read_at(offset, &mut buf),
                Err(Error::OutOfBounds { .. })
            ));
            assert!(matches!(
                seg.write_at(offset, &buf),
                Err(Error::OutOfBounds { .. })
            ));
        }
    }
    // Zero bytes at the very end is fine.
    seg.read_at(8, &mut []).unwrap();
}

#[test]
fn open_or_create_refuses_a_segment_too_small() {
    // A whole page, so that the sizes are exact on Windows too.
    let name = unique("small");
    let _seg = Segment::create(&name, 4096).unwrap();
    let err = Segment::open_or_create(&name, 4097).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooSmall {
                len: 4096,
                needed: 4097,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(Segment::open_or_create(&name, 8).unwrap().len(), 4096);
}

#[cfg(target_os = "linux")]
mod linux {
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
    use std::time::Duration;

    fn path(name: &str) -> String {
        format!("/dev/shm/{name}")
    }

    fn is_root() -> bool {
        rustix::process::geteuid().is_root()
    }

    #[test]
    fn default_mode_is_0600_and_mode_is_exact_whatever_the_umask() {
        if let Some((_, args)) = role() {
            rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
            let a = Segment::create(&args[0], 8).unwrap();
            let b = Segment::options().mode(0o640).create(&args[1], 8).unwrap();
            let mode = |n: &str| std::fs::metadata(path(n)).unwrap().mode() & 0o777;
            say(&format!("{:o} {:o}", mode(a.name()), mode(b.name())));
            return;
        }
        let (a, b) = (unique("umask-a"), unique("umask-b"));
        let mut child = Child::spawn(
            "linux::default_mode_is_0600_and_mode_is_exact_whatever_the_umask",
            "creator",
            &[&a, &b],
        );
        assert_eq!(child.recv(), "600 640");
        child.wait_ok();
    }

    #[test]
    fn a_symlink_under_the_name_is_refused() {
        let target = unique("target");
        let link = unique("link");
        let _t = Segment::create(&target, 8).unwrap();
        symlink(path(&target), path(&link)).unwrap();
        let _c = Cleanup(link.clone());
        let err = Segment::open(&link).unwrap_err();
        assert!(
            matches!(
                err,
                Error::NotRegularFile {
                    kind: "symbolic link",
                    ..
                }
            ),
            "{err}"
        );
        let err = Segment::create(&link, 8).unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    }

    #[test]
    fn a_fifo_under_the_name_is_refused_without_hanging() {
        let name = unique("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            path(&name),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let _c = Cleanup(name.clone());
        let err = Segment::options().read_only(true).open(&name).unwrap_err();
        assert!(
            matches!(err, Error::NotRegularFile { kind: "FIFO", .. }),
            "{err}"
        );
    }

    #[test]
    fn a_directory_under_the_name_is_refused() {
        let name = unique("dir");
        std::fs::create_dir(path(&name)).unwrap();
        let err = Segment::open(&name).unwrap_err();
        std::fs::remove_dir(path(&name)).unwrap();
        assert!(
            matches!(
                err,
                Error::NotRegularFile {
                    kind: "directory",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_world_writable_segment_needs_accept_mode() {
        let name = unique("wide");
        let _seg = Segment::options().mode(0o666).create(&name, 8).unwrap();
        let err = Segment::open(&name).unwrap_err();
        assert!(
            matches!(err, Error::InsecureMode { mode: 0o666, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("accept_mode(0o666)"), "{err}");
        Segment::options().accept_mode(0o666).open(&name).unwrap();
        // A mode the opener itself asked for is accepted too.
        Segment::options().mode(0o666).open(&name).unwrap();
        // Group-readable is no threat.
        std::fs::set_permissions(path(&name), std::fs::Permissions::from_mode(0o644)).unwrap();
        Segment::open(&name).unwrap();
    }

    #[test]
    fn a_segment_of_another_owner_needs_trust_owner() {
        if !is_root() {
            eprintln!("skipped: changing a segment's owner needs root");
            return;
        }
        let name = unique("owner");
        let _seg = Segment::create(&name, 8).unwrap();
        let nobody = rustix::process::Uid::from_raw(65534);
        rustix::fs::chown(path(&name), Some(nobody), None).unwrap();
        let err = Segment::open(&name).unwrap_err();
        assert!(
            matches!(
                err,
                Error::UntrustedOwner {
                    owner: 65534,
                    euid: 0,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("trust_owner(65534)"), "{err}");
        Segment::options().trust_owner(65534).open(&name).unwrap();
    }

    #[test]
    fn permission_denied_names_the_segment() {
        use std::os::unix::process::CommandExt;
        if let Some((_, args)) = role() {
            let err = Segment::open(&args[0]).unwrap_err();
            assert!(matches!(err, Error::PermissionDenied { .. }), "{err}");
            assert!(err.to_string().contains(&args[0]), "{err}");
            say("denied");
            return;
        }
        let name = unique("denied");
        let _seg = Segment::create(&name, 8).unwrap();
        let test = "linux::permission_denied_names_the_segment";
        let mut cmd = common::command(test, "opener", &[&name]);
        if is_root() {
            // Run the child as `nobody`; the segment is root's, mode 0600.
            cmd.uid(65534).gid(65534);
            let exe = std::env::current_exe().unwrap();
            if std::process::Command::new(&exe)
                .arg("--list")
                .uid(65534)
                .gid(65534)
                .stdout(std::process::Stdio::null())
                .status()
                .map_or(true, |s| !s.success())
            {
                eprintln!("skipped: user nobody cannot run {}", exe.display());
                return;
            }
        } else {
            std::fs::set_permissions(path(&name), std::fs::Permissions::from_mode(0o000)).unwrap();
        }
        let mut child = Child::start(cmd);
        assert_eq!(child.recv(), "denied");
        child.wait_ok();
    }

    /// Size zero while its creator lives (holds the creator's lock, as
    /// `Segment::create` does until it has sized it): waited for until the
    /// timeout. Size zero with nobody holding the lock: the creator died, and
    /// an opener says so after a short grace instead of its whole timeout.
    #[test]
    fn an_empty_segment_is_refused_after_the_timeout_or_once_its_creator_is_gone() {
        let name = unique("empty");
        let f = std::fs::File::create(path(&name)).unwrap();
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .unwrap();
        let _c = Cleanup(name.clone());
        f.lock().unwrap();
        let start = std::time::Instant::now();
        let err = Segment::options()
            .timeout(Duration::from_millis(300))
            .open(&name)
            .unwrap_err();
        assert!(matches!(err, Error::Empty { .. }), "{err}");
        assert!(start.elapsed() >= Duration::from_millis(300));

        f.unlock().unwrap();
        let start = std::time::Instant::now();
        let err = Segment::open(&name).unwrap_err();
        assert!(matches!(err, Error::Empty { .. }), "{err}");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }

    /// A creator that is slow to size its segment is waited for.
    #[test]
    fn open_waits_for_a_segment_being_sized() {
        let name = unique("sizing");
        let f = std::fs::File::create(path(&name)).unwrap();
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .unwrap();
        let _c = Cleanup(name.clone());
        // The creator's liveness lock, held until it has sized the segment.
        f.lock().unwrap();
        let sizer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            f.set_len(100).unwrap();
        });
        let seg = Segment::open(&name).unwrap();
        assert_eq!(seg.len(), 100);
        sizer.join().unwrap();
    }

    /// A full /dev/shm: a 1 MiB tmpfs mounted over it in a private mount
    /// namespace. Creation fails with `NoSpace` and leaves no name behind,
    /// instead of a SIGBUS at first touch.
    #[test]
    fn full_dev_shm_is_no_space_and_leaves_nothing() {
        if let Some((_, args)) = role() {
            let name = &args[0];
            let err = Segment::create(name, 4 << 20).unwrap_err();
            assert!(
                matches!(err, Error::NoSpace { len, .. } if len == 4 << 20),
                "{err}"
            );
            assert!(err.to_string().contains("shmkit gc"), "{err}");
            assert!(!Segment::exists(name).unwrap());
            // What fits still works, and is all there.
            let seg = Segment::create(name, 512 << 10).unwrap();
            seg.write_at((512 << 10) - 1, &[7]).unwrap();
            say("ok");
            return;
        }
        let Some(mut child) = common::spawn_in_private_dev_shm(
            "linux::full_dev_shm_is_no_space_and_leaves_nothing",
            "creator",
            &[&unique("full")],
            "1m",
        ) else {
            return;
        };
        assert_eq!(child.recv(), "ok");
        child.wait_ok();
    }

    /// A segment made by Python's `multiprocessing.shared_memory` opens by the
    /// name Python gave it.
    #[test]
    fn opens_a_segment_made_by_python() {
        if !common::python_has_shared_memory() {
            return;
        }
        let name = unique("py");
        let script = r#"
import sys
from multiprocessing import shared_memory
shm = shared_memory.SharedMemory(name=sys.argv[1], create=True, size=100)
shm.buf[:11] = b"from python"
print("ready", flush=True)
sys.stdin.readline()
print(bytes(shm.buf[50:59]).decode(), flush=True)
shm.close()
shm.unlink()
"#;
        let mut py = std::process::Command::new("python3")
            .args(["-c", script, &name])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let _c = Cleanup(name.clone());
        let mut out = std::io::BufReader::new(py.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        let seg = Segment::open(&name).unwrap();
        assert_eq!(seg.len(), 100);
        let mut buf = [0u8; 11];
        seg.read_at(0, &mut buf).unwrap();
        assert_eq!(&buf, b"from python");
        seg.write_at(50, b"from rust").unwrap();
        std::io::Write::write_all(py.stdin.as_mut().unwrap(), b"\n").unwrap();
        line.clear();
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert_eq!(line.trim(), "from rust");
        assert!(py.wait().unwrap().success());
    }
}

/// What differs on Windows: lifetime, sizes, namespaces, read-only views.
#[cfg(windows)]
mod windows {
    use super::*;

    #[test]
    fn a_mapping_vanishes_with_its_last_handle() {
        let name = unique("last-handle");
        let seg = Segment::create(&name, 64).unwrap();
        let other = Segment::open(&name).unwrap();
        seg.write_at(0, b"kept").unwrap();
        // The creator's drop removes nothing: the opener's handle keeps it.
        drop(seg);
        assert!(Segment::exists(&name).unwrap());
        let mut buf = [0u8; 4];
        Segment::open(&name).unwrap().read_at(0, &mut buf).unwrap();
        assert_eq!(&buf, b"kept");
        // The last handle takes the mapping with it.
        drop(other);
        assert!(!Segment::exists(&name).unwrap());
        let err = Segment::open(&name).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        // And the name is free for a new segment.
        drop(Segment::create(&name, 64).unwrap());
    }

    #[test]
    fn persist_and_remove_are_unsupported() {
        let name = unique("persist");
        let err = Segment::options()
            .persist(true)
            .create(&name, 64)
            .unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
        assert!(err.to_string().contains("last handle"), "{err}");
        assert!(!Segment::exists(&name).unwrap());

        let seg = Segment::create(&name, 64).unwrap();
        let err = Segment::remove(&name).unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
        assert!(err.to_string().contains("drops its Segment"), "{err}");
        assert!(Segment::exists(&name).unwrap(), "remove must touch nothing");
        drop(seg);
        let err = Segment::remove(&name).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
    }

    #[test]
    fn an_opened_segment_has_a_page_rounded_len() {
        let name = unique("len");
        let seg = Segment::create(&name, 208).unwrap();
        assert_eq!(seg.len(), 208, "the creator knows its size");
        let opened = Segment::open(&name).unwrap();
        assert_eq!(opened.len(), 4096);
        // The rounding is zeroed memory that both sides share.
        opened.write_at(4095, &[9]).unwrap();
        let mut buf = [0u8; 1];
        Segment::open(&name)
            .unwrap()
            .read_at(4095, &mut buf)
            .unwrap();
        assert_eq!(buf, [9]);
        // More than 4 GiB is asked for with the high dword too.
        let big = unique("big");
        match Segment::create(&big, (1 << 32) + 4096) {
            Ok(seg) => {
                assert_eq!(Segment::open(&big).unwrap().len(), (1 << 32) + 4096);
                seg.write_at(1 << 32, b"high").unwrap();
            }
            Err(Error::NoSpace { .. }) => eprintln!("skipped: no 4 GiB of commit here"),
            Err(e) => panic!("{e}"),
        }
    }

    /// The view of a read-only opener is mapped with `FILE_MAP_READ`: a write
    /// through its raw pointer is an access violation, not a silent success.
    /// (Under Wine the child's fault prints "Unhandled page fault ...
    /// starting debugger": that is the expected crash.)
    #[test]
    fn a_read_only_view_faults_on_write() {
        if let Some((_, args)) = role() {
            let ro = Segment::options().read_only(true).open(&args[0]).unwrap();
            let mut buf = [0u8; 2];
            ro.read_at(0, &mut buf).unwrap();
            say(std::str::from_utf8(&buf).unwrap());
            // SAFETY: deliberately wrong: the view is read-only, so this
            // store must fault and end the process.
            unsafe { ro.as_mut_ptr().write_volatile(b'X') };
            say("wrote");
            return;
        }
        let name = unique("ro-fault");
        let seg = Segment::create(&name, 8).unwrap();
        seg.write_at(0, b"ok").unwrap();
        let mut child = Child::spawn("windows::a_read_only_view_faults_on_write", "ro", &[&name]);
        assert_eq!(child.recv(), "ok");
        let status = child.wait_status();
        // STATUS_ACCESS_VIOLATION
        assert_eq!(status.code().map(|c| c as u32), Some(0xC000_0005));
        let mut buf = [0u8; 2];
        seg.read_at(0, &mut buf).unwrap();
        assert_eq!(&buf, b"ok");
    }

    /// The other direction from the headline test: a child creates, this
    /// process opens and writes, and then holds the mapping alone once the
    /// child has exited. Meanwhile its name is taken for everyone.
    #[test]
    fn a_child_creates_the_parent_opens_and_keeps_it() {
        if let Some((_, args)) = role() {
            let seg = Segment::create(&args[0], 100).unwrap();
            seg.write_at(0, b"from child").unwrap();
            say("created");
            assert_eq!(common::hear(), "check");
            let mut buf = [0u8; 11];
            seg.read_at(50, &mut buf).unwrap();
            say(std::str::from_utf8(&buf).unwrap());
            return;
        }
        let name = unique("reverse");
        let mut child = Child::spawn(
            "windows::a_child_creates_the_parent_opens_and_keeps_it",
            "creator",
            &[&name],
        );
        assert_eq!(child.recv(), "created");
        let err = Segment::create(&name, 100).unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
        let seg = Segment::open(&name).unwrap();
        assert!(!seg.created());
        let mut buf = [0u8; 10];
        seg.read_at(0, &mut buf).unwrap();
        assert_eq!(&buf, b"from child");
        seg.write_at(50, b"from parent").unwrap();
        child.send("check");
        assert_eq!(child.recv(), "from parent");
        child.wait_ok();
        // The creator is gone; this handle keeps the mapping.
        seg.read_at(0, &mut buf).unwrap();
        assert_eq!(&buf, b"from child");
        assert!(Segment::exists(&name).unwrap());
        drop(seg);
        assert!(!Segment::exists(&name).unwrap());
    }

    #[test]
    fn global_names_are_their_own_namespace() {
        let name = unique("global");
        let seg = match Segment::options().global(true).create(&name, 64) {
            Ok(seg) => seg,
            Err(err @ Error::PermissionDenied { .. }) => {
                assert!(err.to_string().contains("SeCreateGlobalPrivilege"), "{err}");
                eprintln!("skipped: no SeCreateGlobalPrivilege here");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        seg.write_at(0, b"g").unwrap();
        let mut buf = [0u8; 1];
        Segment::options()
            .global(true)
            .open(&name)
            .unwrap()
            .read_at(0, &mut buf)
            .unwrap();
        assert_eq!(&buf, b"g");
        let err = Segment::open(&name).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
    }

    #[test]
    fn wider_modes_still_make_working_segments() {
        for mode in [0o600, 0o640, 0o660, 0o644, 0o666, 0o700] {
            let name = unique("mode");
            let seg = Segment::options().mode(mode).create(&name, 8).unwrap();
            seg.write_at(0, b"m").unwrap();
            Segment::open(&name).unwrap();
            // trust_owner and accept_mode have no effect on Windows.
            Segment::options()
                .trust_owner(1234)
                .accept_mode(0o666)
                .open(&name)
                .unwrap();
        }
    }
}

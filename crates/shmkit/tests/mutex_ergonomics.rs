//! The `Mutex` used in one line with `?` and `shmkit::Error`, across real
//! processes: a holder killed with kill -9 is reported by `?` as
//! `Error::OwnerDied`, the mutex stays marked until repaired, and a live
//! holder makes `lock_timeout` time out as a timeout.
//!
//! Not built under `cfg(loom)`, where the sync types have no in-place form.
#![cfg(not(loom))]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{ExitCode, Stdio, Termination};
use std::time::Duration;

use common::{hear, role, say, unique};
use shmkit::sync::{Mutex, TryLockError};
use shmkit::{Error, Segment};

const TEST: &str = "a_killed_holder_is_owner_died_through_question_mark_until_repaired";

/// The `Mutex<u64>` at offset 0 of `seg`.
fn mutex(seg: &Segment) -> &Mutex<u64> {
    assert!(seg.len() >= std::mem::size_of::<Mutex<u64>>());
    // SAFETY:
    // - offset 0 of a mapping is page-aligned, so 8-aligned, and the segment
    //   holds at least `size_of::<Mutex<u64>>()` bytes (asserted), mapped for
    //   as long as `seg` is borrowed;
    // - the segment was created zero-filled (an unlocked mutex) and every
    //   process in this test uses offset 0 only as this `Mutex<u64>`.
    unsafe { Mutex::from_ptr(seg.as_ptr()) }
}

/// The common case, in one line per step.
fn bump(m: &Mutex<u64>) -> shmkit::Result<u64> {
    let mut n = m.lock()?;
    *n += 1;
    Ok(*n)
}

/// Ends this child as `main` would have ended it had it returned `result`
/// (`Termination::report` is what the runtime calls on `main`'s value).
fn exit_as_main(result: shmkit::Result<()>) -> ! {
    let code = result.report();
    std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 1 });
}

fn child(role: &str, name: &str) -> ! {
    let seg = Segment::open(name).unwrap();
    let m = mutex(&seg);
    match role {
        "hold" => {
            let mut g = m.lock().unwrap();
            *g = 41;
            say("locked");
            hear(); // until killed
            unreachable!("the holder is killed while it waits")
        }
        "bump" => exit_as_main(bump(m).map(|n| say(&format!("value {n}")))),
        other => panic!("unknown role {other}"),
    }
}

/// Runs a `bump` child to its end: its exit code and stderr.
fn run_bump(name: &str) -> (Option<i32>, String) {
    let out = common::command(TEST, "bump", &[name])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_killed_holder_is_owner_died_through_question_mark_until_repaired() {
    if let Some((r, args)) = role() {
        child(&r, &args[0]);
    }
    let name = unique("mutex-qm");
    let seg = Segment::create(&name, 4096).unwrap();
    let m = mutex(&seg);

    let mut holder = common::command(TEST, "hold", &[&name]).spawn().unwrap();
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    let locked = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.starts_with("@shmkit-child "));
    assert_eq!(locked.as_deref(), Some("@shmkit-child locked"));

    // A live holder: a timeout reads as one, also through `?`.
    let t = Duration::from_millis(150);
    assert!(matches!(
        m.lock_timeout(t),
        Err(TryLockError::TimedOut { waited }) if waited == t
    ));
    let timed_out = (|| -> shmkit::Result<()> {
        drop(m.lock_timeout(t)?);
        Ok(())
    })();
    assert!(
        matches!(timed_out, Err(Error::LockTimeout { waited }) if waited == t),
        "{timed_out:?}"
    );

    holder.kill().unwrap(); // SIGKILL on Unix
    let status = holder.wait().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "{status}");
    }
    #[cfg(not(unix))]
    assert!(!status.success(), "{status}");

    // A second program whose `main` does `m.lock()?`: it ends with the
    // death as its error, in words, and the mutex stays marked.
    let (code, stderr) = run_bump(&name);
    assert_eq!(code, Some(1), "stderr: {stderr}");
    assert!(
        stderr
            .contains("Error: OwnerDied: a previous owner of a shmkit Mutex<u64> died holding it"),
        "stderr: {stderr}"
    );
    assert!(stderr.contains("lock_or_repair"), "stderr: {stderr}");

    // Still marked for this process too, and the dead holder's write is there.
    match bump(m) {
        Err(Error::OwnerDied { data }) => assert_eq!(data, "u64"),
        other => panic!("expected OwnerDied again, got {other:?}"),
    }
    let g = m
        .lock_or_repair(|n| {
            assert_eq!(*n, 41, "the dead holder's write");
            *n = 0;
        })
        .unwrap();
    assert!(!g.is_inconsistent());
    drop(g);

    // Repaired: the second program's `?` now goes through.
    let (code, stderr) = run_bump(&name);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert_eq!(bump(m).unwrap(), 2);
}

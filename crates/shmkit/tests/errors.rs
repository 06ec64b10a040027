//! How errors read where users meet them: returned from `main` by a real
//! second program, and formatted with `{:?}` and `{:#?}`.

mod common;

use std::process::{ExitCode, Stdio, Termination};

use common::{role, unique, Cleanup};
use shmkit::{Error, Segment, Shared};

/// Ends this child process as `main` would have ended it had it returned
/// `result`: `Termination::report` is what the runtime calls on `main`'s
/// value (it prints `Error: {err:?}` to stderr for an `Err`).
fn exit_as_main(result: Result<(), Error>) -> ! {
    let code = result.report();
    std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 1 });
}

/// The textbook flow gone wrong: the writer has exited (its drop removed the
/// name) and the reader starts. The reader's `main` returns the error; its
/// stderr must read as the message, with the variant in front.
#[test]
fn an_error_returned_from_main_prints_its_variant_and_message() {
    if let Some((_, args)) = role() {
        exit_as_main(Segment::open(&args[0]).map(drop));
    }
    let name = unique("gone");
    {
        let writer = Segment::create(&name, 64).unwrap();
        writer.write_at(0, b"hello").unwrap();
    } // the writer "exits": its drop removes the name
    let out = common::command(
        "an_error_returned_from_main_prints_its_variant_and_message",
        "reader",
        &[&name],
    )
    .stderr(Stdio::piped())
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    let expected = format!("Error: NotFound: no segment named `{name}`: check the name");
    assert!(stderr.contains(&expected), "stderr: {stderr}");
    assert!(
        stderr.contains(".persist(true)"),
        "the lifetime rule: {stderr}"
    );
    assert!(
        !stderr.contains("NotFound {"),
        "not the derived Debug: {stderr}"
    );
}

#[derive(shmkit::Layout)]
#[repr(C)]
struct Written {
    value: i32,
    letter: u16,
    _pad: [u8; 2],
}

#[derive(shmkit::Layout)]
#[repr(C)]
struct Expected {
    value: i32,
    letter: u32,
}

/// A layout mismatch in `{:?}` is one readable line naming the first
/// difference, not the nested layout trees; `{:#?}` adds the trees.
#[test]
fn layout_mismatch_debug_names_the_difference_and_alternate_adds_the_layouts() {
    let name = unique("dbg-layout");
    let _clean = Cleanup(name.clone());
    let _w = Shared::<Written>::create(&name).unwrap();
    let e = Shared::<Expected>::open(&name).map(drop).unwrap_err();
    let short = format!("{e:?}");
    assert!(
        short.starts_with(&format!(
            "LayoutMismatch: segment `{name}` holds a different layout"
        )),
        "{short}"
    );
    assert!(short.contains("field `letter`"), "{short}");
    assert!(!short.contains("StructTy"), "{short}");
    assert_eq!(short.lines().count(), 1, "{short}");
    let long = format!("{e:#?}");
    assert!(long.starts_with(&short), "{long}");
    assert!(long.contains("expected: Struct("), "{long}");
    assert!(long.contains("found: Struct("), "{long}");
}

/// An OS error that the message does not quote is shown as the cause; one it
/// already quotes is not repeated.
#[test]
fn debug_shows_the_source_chain_once() {
    let e = Error::NoSpace {
        name: "n".into(),
        len: 8,
        source: std::io::Error::from_raw_os_error(28),
    };
    let text = format!("{e:?}");
    assert!(
        text.starts_with("NoSpace: not enough shared memory"),
        "{text}"
    );
    let cause = std::io::Error::from_raw_os_error(28).to_string();
    assert!(text.ends_with(&format!("\n  caused by: {cause}")), "{text}");
    let e = Error::Io {
        name: "n".into(),
        op: "mmap",
        source: std::io::Error::from_raw_os_error(12),
    };
    let text = format!("{e:?}");
    assert!(
        text.starts_with("Io: mmap failed for segment `n`"),
        "{text}"
    );
    assert!(!text.contains("caused by"), "{text}");
}

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

/// The value type of the channel tests' creators.
#[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct A {
    seq: u64,
    price: f64,
}

/// Another program's idea of the channel's type.
#[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Small {
    seq: u32,
    _pad: u32,
}

const CHANNEL_TEST: &str = "a_channel_of_another_type_is_a_layout_mismatch_in_a_second_program";

/// A second program opens a channel of `A` as a channel of `Small`: its
/// `main` ends with `LayoutMismatch` naming the first differing field, not
/// "corrupted ... remove it".
#[test]
fn a_channel_of_another_type_is_a_layout_mismatch_in_a_second_program() {
    if let Some((role, args)) = role() {
        match role.as_str() {
            "small-sender" => {
                exit_as_main(shmkit::queue::Sender::<Small>::open(&args[0]).map(drop))
            }
            "a-sender" => exit_as_main((|| {
                let mut tx = shmkit::queue::Sender::<A>::open(&args[0])?;
                tx.send(&A { seq: 7, price: 1.5 })
            })()),
            other => panic!("unknown role {other}"),
        }
    }
    let name = unique("chan-type");
    let mut rx = shmkit::queue::Receiver::<A>::create(&name, 8).unwrap();
    let out = common::command(CHANNEL_TEST, "small-sender", &[&name])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains(&format!(
            "Error: LayoutMismatch: segment `{name}` holds a different layout: "
        )),
        "stderr: {stderr}"
    );
    assert!(stderr.contains("field `seq`"), "stderr: {stderr}");
    assert!(!stderr.contains("corrupted"), "stderr: {stderr}");

    // In this process too, with both layouts.
    match shmkit::queue::Receiver::<Small>::open(&name) {
        Err(Error::LayoutMismatch {
            expected,
            found,
            difference,
            ..
        }) => {
            assert_eq!(*expected, <Small as shmkit::Layout>::describe());
            assert_eq!(*found, <A as shmkit::Layout>::describe());
            assert!(difference.starts_with("field `seq`"), "{difference}");
        }
        other => panic!("expected LayoutMismatch, got {other:?}"),
    }

    // The right type still goes through the same channel.
    let out = common::command(CHANNEL_TEST, "a-sender", &[&name])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(rx.recv().unwrap(), A { seq: 7, price: 1.5 });
}

/// A plain byte queue opened as a channel is not called corrupted (it is
/// alive and fine), and no advice to remove it is given.
#[test]
fn a_byte_queue_opened_as_a_channel_is_not_a_channel() {
    let name = unique("chan-bytes");
    let _rx = shmkit::queue::spsc::Consumer::create(&name, 4096).unwrap();
    let e = shmkit::queue::Sender::<A>::open(&name).unwrap_err();
    assert!(matches!(e, Error::NotAChannel { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("queue::spsc::Producer"), "{text}");
    assert!(!text.contains("remove"), "{text}");
}

const RAW_TEST: &str = "a_raw_producer_s_short_message_is_skipped_and_says_so_without_remove";

/// A raw SPSC producer in a second process writes 3 bytes, then a whole
/// value, into a typed channel: the receiver reports the short message as
/// skipped, without advice to remove the channel, and goes on.
#[test]
fn a_raw_producer_s_short_message_is_skipped_and_says_so_without_remove() {
    if let Some((_, args)) = role() {
        exit_as_main((|| {
            let mut raw = shmkit::queue::spsc::Producer::open(&args[0])?;
            raw.send(&[1, 2, 3])?;
            let mut value = [0u8; 16];
            value[..8].copy_from_slice(&9u64.to_le_bytes());
            value[8..].copy_from_slice(&2.5f64.to_le_bytes());
            raw.send(&value)
        })());
    }
    let name = unique("chan-raw");
    let mut rx = shmkit::queue::Receiver::<A>::create(&name, 8).unwrap();
    let status = common::command(RAW_TEST, "raw", &[&name]).status().unwrap();
    assert_eq!(status.code(), Some(0), "{status}");
    let e = rx.recv().unwrap_err();
    match &e {
        Error::WrongSizeMessage { name: n, len, size } => {
            assert_eq!((n.as_str(), *len, *size), (name.as_str(), 3, 16));
        }
        other => panic!("expected WrongSizeMessage, got {other:?}"),
    }
    let text = e.to_string();
    assert!(text.contains("skipped"), "{text}");
    assert!(text.contains("receive again"), "{text}");
    assert!(!text.contains("remove"), "{text}");
    assert_eq!(rx.recv().unwrap(), A { seq: 9, price: 2.5 });
}

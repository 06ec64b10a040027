//! The CLI's field decoder (`shmkit inspect`, `shmkit set`), on the library
//! functions it is built on: a layout description decoded from the input,
//! then a value decoded from the rest, row by row and leaf by leaf, a path
//! looked up, and text parsed as the type found there.
//!
//! Input: `layout_len: u16 LE`, layout, `path_len: u8`, path,
//! `text_len: u8`, text, then the value's bytes.
#![no_main]

use shmkit::layout::{Prim, Ty, Value};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((layout, rest)) = take_u16(data) else {
        return;
    };
    let Some((path, rest)) = take_u8(rest) else {
        return;
    };
    let Some((text, value)) = take_u8(rest) else {
        return;
    };
    let Ok(ty) = Ty::decode(layout) else {
        return;
    };
    let path = String::from_utf8_lossy(path);
    let text = String::from_utf8_lossy(text);

    // `inspect`: one row per field, each decoded from the value's bytes,
    // which may be fewer than the layout claims.
    for row in ty.rows() {
        if let Ok(v) = row.value(value) {
            let _ = v.short();
        }
    }
    for leaf in ty.leaves(4) {
        // Hostile field names may hold `.` or `[`, or repeat: the path may
        // then find another leaf, or none, but never one outside the value.
        if let Ok((offset, prim)) = ty.find(&leaf.path) {
            assert!(
                offset + u64::from(prim.size()) <= ty.size(),
                "{}",
                leaf.path
            );
        }
        if let Some(bytes) = value.get(leaf.offset as usize..) {
            if bytes.len() >= leaf.prim.size() as usize {
                round_trip(leaf.prim, bytes);
            }
        }
    }
    // `set`: a path, then text parsed as the type found there.
    if let Ok((offset, prim)) = ty.find(&path) {
        assert!(
            offset + u64::from(prim.size()) <= ty.size(),
            "{path} inside the value"
        );
        if let Ok(bytes) = prim.parse(&text) {
            assert_eq!(bytes.len(), prim.size() as usize);
        }
    }
});

/// An integer shown by the CLI parses back to the same bytes.
fn round_trip(prim: Prim, bytes: &[u8]) {
    let value = prim.value(bytes);
    let _ = prim.format(&bytes[..prim.size() as usize]);
    if matches!(value, Value::Unsigned(_) | Value::Signed(_)) {
        let parsed = prim
            .parse(&value.to_string())
            .expect("an integer parses back");
        assert_eq!(parsed, bytes[..prim.size() as usize], "{prim:?} {value}");
    }
}

fn take_u16(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (n, rest) = data.split_first_chunk::<2>()?;
    let n = usize::from(u16::from_le_bytes(*n)).min(rest.len());
    Some(rest.split_at(n))
}

fn take_u8(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (n, rest) = data.split_first()?;
    Some(rest.split_at(usize::from(*n).min(rest.len())))
}


//! Header and layout validation on open: the input is a whole typed segment,
//! checked step by step as `shmkit::header::read_header` checks one, then
//! shown as the CLI's `inspect` shows it. The layout bytes are also decoded
//! when their hash does not match (a hostile peer can compute the hash).
#![no_main]

use shmkit::header::{fnv1a, Header, HEADER_LEN};
use shmkit::layout::{Ty, Value};

libfuzzer_sys::fuzz_target!(|seg: &[u8]| {
    let Some(raw) = seg.first_chunk::<HEADER_LEN>() else {
        return;
    };
    let Some(header) = Header::parse(raw) else {
        return;
    };
    if header.validate(seg.len()).is_err() {
        return;
    }
    // `validate` promises every range it names lies inside the segment.
    let layout_end = HEADER_LEN + header.layout_len as usize;
    let layout = &seg[HEADER_LEN..layout_end];
    let data_end = header.data_offset as usize + header.data_size as usize;
    let data = &seg[header.data_offset as usize..data_end];
    let Ok(ty) = Ty::decode(layout) else {
        return;
    };
    if fnv1a(layout) != header.layout_hash || ty.size() != header.data_size {
        // `read_header` refuses it here; go on anyway, to reach the decoders
        // with hostile descriptions whose size still matches the data.
        if ty.size() > data.len() as u64 {
            let _ = ty.read_value(data).expect_err("too few bytes is an error");
            return;
        }
    }
    // What `shmkit inspect` does with it (crates/shmkit-cli/src/inspect.rs).
    let value = ty
        .read_value(data)
        .expect("a validated layout reads its own size");
    let _ = short(&value);
    for leaf in ty.leaves(4) {
        // Hostile field names may hold `.` or `[`, or repeat: the path may
        // then find another leaf, or none, but never one outside the value.
        if let Ok((offset, prim)) = ty.find(&leaf.path) {
            assert!(
                offset + u64::from(prim.size()) <= ty.size(),
                "{}",
                leaf.path
            );
            let _ = prim.value(&data[offset as usize..]);
        }
    }
    assert!(ty.difference(&ty).is_none());
    let _ = Ty::Prim(shmkit::layout::Prim::U32).difference(&ty);
});

/// The CLI's short form of a value (`inspect::short`).
fn short(value: &Value) -> String {
    match value {
        Value::Array(items) if items.len() > 16 => {
            let head: Vec<String> = items[..16].iter().map(short).collect();
            format!("[{}, ... {} more]", head.join(", "), items.len() - 16)
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(short).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

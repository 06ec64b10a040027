//! `header::create_described`: a typed segment from a layout known only at
//! run time, which `Shared::<T>::open` accepts exactly when `T` matches.

use shmkit::layout::{Field, Prim, StructTy, Ty};
use shmkit::{header, Error, Layout, Segment, Shared};

#[derive(shmkit::Layout, Clone, Copy)]
#[repr(C)]
struct Reading {
    id: u32,
    flags: u16,
    _pad: [u8; 2],
    values: [f64; 4],
}

fn name(tag: &str) -> String {
    format!("described-{tag}-{}", std::process::id())
}

/// `Reading`'s description, spelled by hand as a binding would build it.
fn reading_by_hand() -> Ty {
    Ty::Struct(StructTy {
        name: "Reading".into(),
        size: 40,
        align: 8,
        fields: vec![
            Field {
                name: "id".into(),
                offset: 0,
                ty: Ty::Prim(Prim::U32),
            },
            Field {
                name: "flags".into(),
                offset: 4,
                ty: Ty::Prim(Prim::U16),
            },
            Field {
                name: "_pad".into(),
                offset: 6,
                ty: Ty::Array(Box::new(Ty::Prim(Prim::U8)), 2),
            },
            Field {
                name: "values".into(),
                offset: 8,
                ty: Ty::Array(Box::new(Ty::Prim(Prim::F64)), 4),
            },
        ],
    })
}

#[test]
fn hand_built_description_matches_the_derived_one() {
    assert_eq!(reading_by_hand(), Reading::describe());
}

#[test]
fn shared_open_accepts_a_matching_type_and_reads_the_value() {
    let n = name("ok");
    let mut value = Vec::new();
    value.extend(7u32.to_le_bytes());
    value.extend(3u16.to_le_bytes());
    value.extend([0u8; 2]);
    for v in [1.5f64, 2.5, 3.5, 4.5] {
        value.extend(v.to_le_bytes());
    }
    let seg = header::create_described(&Segment::options(), &n, &reading_by_hand(), &value)
        .expect("create_described");
    let r = Shared::<Reading>::open(&n).expect("open as Reading");
    let got = r.load().expect("load");
    assert_eq!(
        (got.id, got.flags, got.values),
        (7, 3, [1.5, 2.5, 3.5, 4.5])
    );
    r.id().set(8).expect("set");
    let mut b = [0u8; 4];
    let (h, _) = header::read_header(&seg).expect("header");
    seg.read_at(h.data_offset as usize, &mut b).expect("read");
    assert_eq!(u32::from_le_bytes(b), 8);
}

#[test]
fn shared_open_refuses_another_type_with_layout_mismatch() {
    let n = name("mismatch");
    let _seg = header::create_described(&Segment::options(), &n, &reading_by_hand(), &[0u8; 40])
        .expect("create_described");
    match Shared::<[u64; 5]>::open(&n) {
        Err(Error::LayoutMismatch { difference, .. }) => assert!(!difference.is_empty()),
        other => panic!("expected LayoutMismatch, got {other:?}"),
    }
}

#[test]
fn bad_descriptions_and_values_create_nothing() {
    let n = name("bad");
    let err = header::create_described(&Segment::options(), &n, &reading_by_hand(), &[0u8; 39])
        .unwrap_err();
    assert!(matches!(err, Error::InvalidLayout { .. }), "{err:?}");
    assert!(format!("{err}").contains("39 bytes"), "{err}");

    let mut outside = reading_by_hand();
    if let Ty::Struct(s) = &mut outside {
        s.fields[3].offset = 16; // 16 + 32 > 40
    }
    let err = header::create_described(&Segment::options(), &n, &outside, &[0u8; 40]).unwrap_err();
    assert!(matches!(err, Error::InvalidLayout { .. }), "{err:?}");
    assert!(!Segment::exists(&n).unwrap());

    let err = header::create_described(
        Segment::options().read_only(true),
        &n,
        &reading_by_hand(),
        &[0u8; 40],
    )
    .unwrap_err();
    assert!(matches!(err, Error::ReadOnly { .. }), "{err:?}");
    assert!(!Segment::exists(&n).unwrap());
}

//! `#[derive(shmkit::Layout)]` on names that collide with what the expansion
//! uses: its handle parameter (`B`), common generic names (`T`), the
//! `Fields` associated type, the accessor type's old name (`TickFields`),
//! raw identifiers, fields named like `Ref`'s and arrays' own methods, local
//! constants named like the expansion's locals, and modules named like
//! generic parameters in field types. Each test builds a real segment and
//! reads back through the generated accessors what it wrote.
#![allow(non_camel_case_types, non_snake_case, non_upper_case_globals)]

use shmkit::layout::Ty;
use shmkit::{Layout, Segment, Shared};
use std::sync::atomic::{AtomicU32, Ordering};

/// A segment name no other test or run uses; removed again when dropped.
struct Name(String);

impl Name {
    fn new(tag: &str) -> Name {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let mut name = format!("dt{}-{}-{}", std::process::id(), n, tag);
        name.truncate(shmkit::MAX_NAME_LEN);
        Name(name)
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = Segment::remove(&self.0);
    }
}

/// The (name, offset) pairs and size of a derived struct's description.
fn shape<T: Layout>() -> (String, Vec<(String, u32)>, u64) {
    let ty = T::describe();
    let size = ty.size();
    match ty {
        Ty::Struct(s) => (
            s.name,
            s.fields.into_iter().map(|f| (f.name, f.offset)).collect(),
            size,
        ),
        other => panic!("a derived struct described as {other:?}"),
    }
}

fn pairs(fields: &[(&str, u32)]) -> Vec<(String, u32)> {
    fields.iter().map(|&(n, o)| (n.to_owned(), o)).collect()
}

mod named_b {
    /// Named like the handle parameter the expansion once used.
    #[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
    #[repr(C)]
    pub struct B {
        pub value: i32,
    }
}

#[test]
fn struct_named_b_with_field_value_is_described_and_accessed() {
    use named_b::B;
    assert_eq!(shape::<B>(), ("B".into(), pairs(&[("value", 0)]), 4));
    let name = Name::new("b");
    let shared = Shared::create_with(&name.0, B { value: -7 }).unwrap();
    assert_eq!(shared.value().get().unwrap(), -7);
    shared.value().set(41).unwrap();
    assert_eq!(shared.load().unwrap(), B { value: 41 });
    let opened = Shared::<B>::open(&name.0).unwrap();
    assert_eq!(opened.place().value().get().unwrap(), 41);
}

mod named_t {
    /// Named like the usual generic parameter; fields named like the
    /// methods of arrays' accessors.
    #[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
    #[repr(C)]
    pub struct T {
        pub at: u32,
        pub len: u32,
        pub items: [u16; 4],
    }
}

#[test]
fn struct_named_t_with_fields_at_and_len_is_accessed() {
    use named_t::T;
    assert_eq!(
        shape::<T>(),
        (
            "T".into(),
            pairs(&[("at", 0), ("len", 4), ("items", 8)]),
            16
        )
    );
    let name = Name::new("t");
    let shared = Shared::create_with(
        &name.0,
        T {
            at: 1,
            len: 2,
            items: [3, 4, 5, 6],
        },
    )
    .unwrap();
    assert_eq!(shared.at().get().unwrap(), 1);
    assert_eq!(shared.len().get().unwrap(), 2);
    // The array's own `at` and `len`, one level down.
    assert_eq!(shared.items().len(), 4);
    shared.items().at(2).set(50).unwrap();
    shared.len().set(20).unwrap();
    assert_eq!(
        shared.load().unwrap(),
        T {
            at: 1,
            len: 20,
            items: [3, 4, 50, 6],
        }
    );
}

mod named_fields {
    /// Named like `Layout`'s associated type, with fields named like `Ref`'s
    /// own `get` and `set`.
    #[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
    #[repr(C)]
    pub struct Fields {
        pub get: u64,
        pub set: u64,
    }
}

#[test]
fn struct_named_fields_with_fields_get_and_set_is_accessed() {
    use named_fields::Fields;
    assert_eq!(
        shape::<Fields>(),
        ("Fields".into(), pairs(&[("get", 0), ("set", 8)]), 16)
    );
    let name = Name::new("fields");
    let shared = Shared::create_with(&name.0, Fields { get: 1, set: 2 }).unwrap();
    let place = shared.place();
    // `place.get()` is `Ref::get` (the whole value); the accessors are
    // reached through the `Fields` target explicitly.
    assert_eq!(place.get().unwrap(), Fields { get: 1, set: 2 });
    let fields = &*place;
    assert_eq!(fields.get().get().unwrap(), 1);
    fields.set().set(22).unwrap();
    (*place).get().set(11).unwrap();
    assert_eq!(shared.load().unwrap(), Fields { get: 11, set: 22 });
}

mod named_like_generated {
    /// Named as the accessor type of `Tick` once was.
    #[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
    #[repr(C)]
    pub struct TickFields {
        pub count: u32,
    }

    /// Named as the accessor type of `Tick` is now, inside its expansion's
    /// block; unrelated to it.
    #[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
    #[repr(C)]
    pub struct __ShmkitTickFields {
        pub count: u32,
    }

    #[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
    #[repr(C)]
    pub struct Tick {
        pub fields: TickFields,
        pub at: u32,
    }
}

#[test]
fn struct_named_like_the_generated_accessor_type_does_not_collide() {
    use named_like_generated::{__ShmkitTickFields, Tick, TickFields};
    assert_eq!(
        shape::<Tick>(),
        ("Tick".into(), pairs(&[("fields", 0), ("at", 4)]), 8)
    );
    assert_eq!(
        shape::<__ShmkitTickFields>(),
        ("__ShmkitTickFields".into(), pairs(&[("count", 0)]), 4)
    );
    let name = Name::new("tick");
    let shared = Shared::create_with(
        &name.0,
        Tick {
            fields: TickFields { count: 3 },
            at: 9,
        },
    )
    .unwrap();
    assert_eq!(shared.fields().count().get().unwrap(), 3);
    shared.fields().count().set(4).unwrap();
    assert_eq!(shared.fields().get().unwrap(), TickFields { count: 4 });
    assert_eq!(shared.at().get().unwrap(), 9);
}

mod raw_identifiers {
    /// Raw identifiers, for the struct and its fields.
    #[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
    #[repr(C)]
    pub struct r#match {
        pub r#type: u32,
        pub r#fn: u16,
        pub _pad: u16,
    }
}

#[test]
fn raw_identifiers_are_described_without_their_prefix() {
    use raw_identifiers::r#match;
    // A peer written in another language knows the names without `r#`.
    assert_eq!(
        shape::<r#match>(),
        (
            "match".into(),
            pairs(&[("type", 0), ("fn", 4), ("_pad", 6)]),
            8
        )
    );
    let name = Name::new("raw");
    let shared = Shared::create_with(
        &name.0,
        r#match {
            r#type: 5,
            r#fn: 6,
            _pad: 0,
        },
    )
    .unwrap();
    assert_eq!(shared.r#type().get().unwrap(), 5);
    shared.r#fn().set(60).unwrap();
    assert_eq!(shared.load().unwrap().r#fn, 60);
}

mod generic_looking_paths {
    /// Modules named like generic parameters, so that `B::T::Word` in a field
    /// type looks like an associated type of a parameter `B`.
    pub mod B {
        pub mod T {
            pub type Word = u32;
        }
    }

    // Constants named like the locals of the generated `describe` and
    // `ALIGN`: a `let fields = ...` that saw them would be a refutable
    // pattern and fail to compile.
    const fields: u32 = 0;
    const align: u32 = 0;
    const _: u32 = fields + align;

    #[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
    #[repr(C)]
    pub struct Paths {
        pub word: B::T::Word,
        pub words: [self::B::T::Word; 2],
        pub fields: crate::generic_looking_paths::B::T::Word,
    }
}

#[test]
fn field_types_through_modules_named_like_generics_resolve() {
    use generic_looking_paths::Paths;
    assert_eq!(
        shape::<Paths>(),
        (
            "Paths".into(),
            pairs(&[("word", 0), ("words", 4), ("fields", 12)]),
            16
        )
    );
    let name = Name::new("paths");
    let shared = Shared::create_with(
        &name.0,
        Paths {
            word: 1,
            words: [2, 3],
            fields: 4,
        },
    )
    .unwrap();
    assert_eq!(shared.words().at(1).get().unwrap(), 3);
    shared.fields().set(40).unwrap();
    assert_eq!(shared.load().unwrap().fields, 40);
}

mod nested {
    use super::named_b::B;
    use super::named_fields::Fields;
    use super::named_t::T;

    /// The hostile structs as fields of one another.
    #[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
    #[repr(C)]
    pub struct Outer {
        pub fields: Fields,
        pub t: T,
        pub b: B,
        pub value: B,
    }
}

#[test]
fn hostile_structs_nest_and_are_reached_through_each_level() {
    use nested::Outer;
    assert_eq!(
        shape::<Outer>(),
        (
            "Outer".into(),
            pairs(&[("fields", 0), ("t", 16), ("b", 32), ("value", 36)]),
            40
        )
    );
    let name = Name::new("nested");
    let shared = Shared::<Outer>::create(&name.0).unwrap();
    shared.value().value().set(8).unwrap();
    shared.t().items().at(3).set(9).unwrap();
    (*shared.fields()).get().set(10).unwrap();
    let outer = shared.load().unwrap();
    assert_eq!(outer.value.value, 8);
    assert_eq!(outer.t.items[3], 9);
    assert_eq!(outer.fields.get, 10);
    let opened = Shared::<Outer>::open(&name.0).unwrap();
    assert_eq!(opened.load().unwrap(), outer);
}

mod in_place_t {
    use std::sync::atomic::AtomicU32;

    /// An `in_place` struct named like the usual generic parameter, with
    /// a field named like the parameter's place in the old expansion.
    #[derive(shmkit::Layout)]
    #[shmkit(in_place)]
    #[repr(C)]
    pub struct T {
        pub value: AtomicU32,
        pub B: AtomicU32,
    }
}

#[test]
fn in_place_struct_named_t_is_borrowed_in_place() {
    use in_place_t::T;
    assert_eq!(
        shape::<T>(),
        ("T".into(), pairs(&[("value", 0), ("B", 4)]), 8)
    );
    let name = Name::new("inplace");
    let shared = Shared::<T>::create(&name.0).unwrap();
    shared.get().value.store(5, Ordering::Relaxed);
    shared.B().in_place().fetch_add(2, Ordering::Relaxed);
    let opened = Shared::<T>::open(&name.0).unwrap();
    assert_eq!(opened.value().in_place().load(Ordering::Relaxed), 5);
    assert_eq!(opened.get().B.load(Ordering::Relaxed), 2);
}

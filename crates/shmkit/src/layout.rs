//! Types fit for shared memory, and the description of their layout that a
//! typed segment stores in its header.
//!
//! [`Layout`] marks a type whose every bit pattern is valid and whose layout
//! is the same in every process that agrees on its definition: fixed-width
//! integers and floats, their atomics, arrays of them, and `#[repr(C)]`
//! structs of them without padding (`#[derive(shmkit::Layout)]`). Pointers,
//! references, `bool`, `char`, enums, `usize` and `isize` are not: a peer can
//! write any bit pattern, and 32-bit and 64-bit processes must agree.
//!
//! [`Ty`] describes such a type: field names, offsets, sizes and primitive
//! types, recursively. It is stored in a typed segment's header in a fixed
//! little-endian encoding ([`Ty::encode`], [`Ty::decode`]), so that an opener
//! can check it and a tool can decode a segment's fields without the
//! program's Rust types.
//!
//! # What the derive refuses
//! Each of these fails to compile:
//!
//! A `bool` (a peer can write 2):
//! ```compile_fail
//! #[derive(shmkit::Layout)]
//! #[repr(C)]
//! struct S { flag: bool }
//! ```
//!
//! A `usize` (32-bit and 64-bit processes disagree):
//! ```compile_fail
//! #[derive(shmkit::Layout)]
//! #[repr(C)]
//! struct S { len: usize }
//! ```
//!
//! An `isize`:
//! ```compile_fail
//! #[derive(shmkit::Layout)]
//! #[repr(C)]
//! struct S { n: isize }
//! ```
//!
//! A `char`:
//! ```compile_fail
//! #[derive(shmkit::Layout)]
//! #[repr(C)]
//! struct S { c: char }
//! ```
//!
//! A raw pointer:
//! ```compile_fail
//! #[derive(shmkit::Layout)]
//! #[repr(C)]
//! struct S { p: *const u8 }
//! ```
//!
//! A reference:
//! ```compile_fail
//! #[derive(shmkit::Layout)]
//! #[repr(C)]
//! struct S { r: &'static u32 }
//! ```
//!
//! An enum field:
//! ```compile_fail
//! #[derive(Clone, Copy)] #[repr(u8)] enum E { A }
//! #[derive(shmkit::Layout)]
//! #[repr(C)]
//! struct S { e: E }
//! ```
//!
//! Padding (a `u8` followed by a `u32`):
//! ```compile_fail
//! #[derive(shmkit::Layout)]
//! #[repr(C)]
//! struct S { a: u8, b: u32 }
//! ```
//!
//! Tail padding:
//! ```compile_fail
//! #[derive(shmkit::Layout)]
//! #[repr(C)]
//! struct S { a: u64, b: u32 }
//! ```
//!
//! A `u64` after a `u32` and no padding field: x86_64 puts padding before
//! `b`, i686 (where `u64` is 4-aligned) does not. On 64-bit targets this is
//! refused as padding; on 32-bit ones because `b`'s offset, 4, is not a
//! multiple of 8. Either way no 32-bit program can make a layout that a
//! 64-bit one would read differently.
//! ```compile_fail
//! #[derive(shmkit::Layout)]
//! #[repr(C)]
//! struct S { a: u32, b: u64 }
//! ```
//!
//! The same inside an array, and with the tail (12 bytes, no tail padding on
//! i686, 16 on x86_64):
//! ```compile_fail
//! #[derive(shmkit::Layout)]
//! #[repr(C)]
//! struct S { a: u32, b: [f64; 2], c: u32 }
//! ```
//! ```compile_fail
//! #[derive(shmkit::Layout)]
//! #[repr(C)]
//! struct S { a: u32, b: u32, c: i64, d: u32 }
//! ```
//!
//! A struct without `#[repr(C)]`, whose field order Rust may change:
//! ```compile_fail
//! #[derive(shmkit::Layout)]
//! struct S { a: u32 }
//! ```
//!
//! A packed struct, whose fields are unaligned:
//! ```compile_fail
//! #[derive(shmkit::Layout)]
//! #[repr(C, packed)]
//! struct S { a: u32 }
//! ```
//!
//! An enum:
//! ```compile_fail
//! #[derive(shmkit::Layout)]
//! #[repr(C)]
//! enum E { A, B }
//! ```
//!
//! `in_place` on a struct with a plain (non-atomic) field:
//! ```compile_fail
//! #[derive(shmkit::Layout)]
//! #[shmkit(in_place)]
//! #[repr(C)]
//! struct S { a: u32 }
//! ```
//!
//! An array over 4 GiB, the most a layout description records (a derived
//! struct over 4 GiB is refused the same way):
//! ```compile_fail
//! let _ = <[u64; 1 << 29] as shmkit::Layout>::describe();
//! ```
//! while one just under compiles (on 64-bit targets: a 32-bit one holds no
//! object over 2 GiB at all):
//! ```
//! # #[cfg(target_pointer_width = "64")] {
//! let ty = <[u8; u32::MAX as usize] as shmkit::Layout>::describe();
//! assert_eq!(ty.size(), u64::from(u32::MAX));
//! # }
//! ```
//!
//! While this compiles: explicit padding, nested structs, arrays, atomics.
//! ```
//! use std::sync::atomic::AtomicU32;
//! #[derive(shmkit::Layout)]
//! #[repr(C)]
//! struct Point { x: f32, y: f32 }
//! #[derive(shmkit::Layout)]
//! #[repr(C)]
//! struct S { a: u8, _pad: [u8; 3], b: u32, points: [Point; 4], hits: AtomicU32, _pad2: u32 }
//! assert_eq!(
//!     <S as shmkit::Layout>::describe().summary(),
//!     "S"
//! );
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{
    AtomicI16, AtomicI32, AtomicI64, AtomicI8, AtomicU16, AtomicU32, AtomicU64, AtomicU8,
};

use crate::{copy, Error, Result, Segment};

/// A type that can live in shared memory and be checked when a segment is
/// opened. Derive it with `#[derive(shmkit::Layout)]` on a `#[repr(C)]`
/// struct.
///
/// # Safety
/// Implementors promise that:
/// - every bit pattern of `size_of::<Self>()` bytes is a valid `Self`, and
///   `Self` has no padding bytes;
/// - `Self` has the same layout in 32-bit and 64-bit processes, and
///   [`describe`](Layout::describe) states it truthfully (offsets, sizes,
///   primitive types);
/// - `Self::Fields<B>` is `#[repr(transparent)]` over `B`;
/// - [`ALIGN`](Layout::ALIGN) is a power of two, at least `align_of::<Self>()`
///   on every target, and equals `describe().align()`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot live in shared memory",
    label = "not fit for shared memory",
    note = "shared memory holds fixed-width integers (u8..u64, i8..i64), f32, f64, their atomics, \
            arrays of them, and #[derive(shmkit::Layout)] #[repr(C)] structs of them; \
            use u32/u64 instead of usize, and u8 instead of bool"
)]
pub unsafe trait Layout: Sized + Send + Sync + 'static {
    /// The field accessors of `Self`, wrapping a handle `B` (a [`Shared`] or
    /// a [`Ref`]) so that `data.value()` reaches field `value`.
    ///
    /// [`Shared`]: crate::Shared
    type Fields<B>;

    /// The layout description that typed segments store and check.
    fn describe() -> Ty;

    /// The alignment `Self` has where every primitive is aligned to its size
    /// (x86_64, aarch64), whatever this target gives it: a `u64` counts 8
    /// even on i686, where `align_of::<u64>()` is 4. The derive checks every
    /// field's offset against it, so that a struct has the same layout on all
    /// targets or compiles on none.
    const ALIGN: usize = std::mem::align_of::<Self>();
}

/// The largest alignment a value in a segment may have, in bytes.
///
/// A mapping starts at a page boundary, and no supported platform has pages
/// smaller than 4 KiB (Windows maps views at 64 KiB, Apple silicon uses
/// 16 KiB pages), so an offset that is a multiple of the value's alignment
/// gives an aligned address only up to 4096. A type that needs more is
/// refused when the program is built:
///
/// ```compile_fail,E0080
/// #[derive(shmkit::Layout)]
/// #[repr(C, align(8192))]
/// struct Big { words: [u64; 1024] }
/// # let name = format!("doc-align-{}", std::process::id());
/// let _ = shmkit::Shared::<Big>::create(&name);
/// ```
///
/// The raw constructors too:
///
/// ```compile_fail,E0080
/// #[derive(shmkit::Layout)]
/// #[repr(C, align(8192))]
/// struct Big { words: [u64; 1024] }
/// let _ = shmkit::Shared::<Big>::open_raw("doc-align-raw");
/// ```
///
/// While a page-aligned type is fine:
///
/// ```
/// #[derive(shmkit::Layout)]
/// #[repr(C, align(4096))]
/// struct Page { words: [u64; 512] }
/// # let name = format!("doc-align-ok-{}", std::process::id());
/// let page = shmkit::Shared::<Page>::create(&name)?;
/// let addr = page.segment().as_ptr() as usize + page.data_offset();
/// assert_eq!(addr % shmkit::layout::MAX_ALIGN, 0);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub const MAX_ALIGN: usize = 4096;

/// A [`Layout`] type that is plain data (`Copy`), so that it may be copied
/// whole in and out of shared memory ([`Ref::get`], [`Ref::set`]).
///
/// Implemented for every `Layout + Copy` type; it exists so that copying a
/// type that is used in place instead (an atomic, a `shmkit::sync` type, or a
/// struct holding one) is refused with a message that says where to go.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not plain data, so it cannot be copied in or out of shared memory",
    label = "copies need a `Copy` type",
    note = "atomics and shmkit::sync types (Mutex, SeqLock, Event), and structs holding them, are \
            used where they lie: borrow the place with `.in_place()` (or `Shared::get()` on a \
            #[shmkit(in_place)] struct) and call their methods, e.g. \
            `data.count().in_place().lock()?`"
)]
pub trait Plain: Layout + Copy {}

impl<T: Layout + Copy> Plain for T {}

/// A [`Layout`] type made only of atomics (and shmkit's own synchronisation
/// types), so that borrowing it in place as `&T` is sound even while other
/// processes write it.
///
/// Derive it with `#[derive(shmkit::Layout)]` plus `#[shmkit(in_place)]`.
///
/// # Safety
/// Every byte of `Self` may only be accessed through atomic operations (or
/// operations built on them), so that a `&Self` into memory that another
/// process writes is not a data race.
pub unsafe trait InPlace: Layout {}

/// A primitive type in a layout description.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Prim {
    /// `u8`
    U8,
    /// `i8`
    I8,
    /// `u16`
    U16,
    /// `i16`
    I16,
    /// `u32`
    U32,
    /// `i32`
    I32,
    /// `u64`
    U64,
    /// `i64`
    I64,
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// `AtomicU8`
    AtomicU8,
    /// `AtomicI8`
    AtomicI8,
    /// `AtomicU16`
    AtomicU16,
    /// `AtomicI16`
    AtomicI16,
    /// `AtomicU32`
    AtomicU32,
    /// `AtomicI32`
    AtomicI32,
    /// `AtomicU64`
    AtomicU64,
    /// `AtomicI64`
    AtomicI64,
}

/// Every primitive, in the order of their codes (code = index + 1).
const PRIMS: [Prim; 18] = [
    Prim::U8,
    Prim::I8,
    Prim::U16,
    Prim::I16,
    Prim::U32,
    Prim::I32,
    Prim::U64,
    Prim::I64,
    Prim::F32,
    Prim::F64,
    Prim::AtomicU8,
    Prim::AtomicI8,
    Prim::AtomicU16,
    Prim::AtomicI16,
    Prim::AtomicU32,
    Prim::AtomicI32,
    Prim::AtomicU64,
    Prim::AtomicI64,
];

impl Prim {
    /// Size in bytes, which is also its alignment in the description.
    ///
    /// # Example
    /// ```
    /// use shmkit::layout::Prim;
    /// assert_eq!(Prim::U16.size(), 2);
    /// assert_eq!(Prim::AtomicU64.size(), 8);
    /// assert_eq!(Prim::F32.size(), 4);
    /// ```
    pub fn size(self) -> u32 {
        use Prim::*;
        match self {
            U8 | I8 | AtomicU8 | AtomicI8 => 1,
            U16 | I16 | AtomicU16 | AtomicI16 => 2,
            U32 | I32 | F32 | AtomicU32 | AtomicI32 => 4,
            U64 | I64 | F64 | AtomicU64 | AtomicI64 => 8,
        }
    }

    /// The Rust name: `u32`, `f64`, `AtomicU64`...
    ///
    /// # Example
    /// ```
    /// use shmkit::layout::Prim;
    /// assert_eq!(Prim::F64.name(), "f64");
    /// assert_eq!(Prim::AtomicI32.name(), "AtomicI32");
    /// ```
    pub fn name(self) -> &'static str {
        use Prim::*;
        match self {
            U8 => "u8",
            I8 => "i8",
            U16 => "u16",
            I16 => "i16",
            U32 => "u32",
            I32 => "i32",
            U64 => "u64",
            I64 => "i64",
            F32 => "f32",
            F64 => "f64",
            AtomicU8 => "AtomicU8",
            AtomicI8 => "AtomicI8",
            AtomicU16 => "AtomicU16",
            AtomicI16 => "AtomicI16",
            AtomicU32 => "AtomicU32",
            AtomicI32 => "AtomicI32",
            AtomicU64 => "AtomicU64",
            AtomicI64 => "AtomicI64",
        }
    }

    fn code(self) -> u8 {
        PRIMS.iter().position(|&p| p == self).unwrap() as u8 + 1
    }

    fn from_code(code: u8) -> Option<Prim> {
        PRIMS.get(usize::from(code).checked_sub(1)?).copied()
    }

    /// Decodes a little-endian value of this type from `bytes` (exactly
    /// [`size`](Self::size) long) for display.
    ///
    /// # Panics
    /// If `bytes` is shorter than [`size`](Self::size).
    ///
    /// # Example
    /// ```
    /// use shmkit::layout::Prim;
    /// assert_eq!(Prim::I16.format(&(-2i16).to_le_bytes()), "-2");
    /// assert_eq!(Prim::F32.format(&1.45f32.to_le_bytes()), "1.45");
    /// ```
    pub fn format(self, bytes: &[u8]) -> String {
        use Prim::*;
        let b = |n: usize| -> [u8; 8] {
            let mut a = [0; 8];
            a[..n].copy_from_slice(&bytes[..n]);
            a
        };
        match self {
            U8 | AtomicU8 => bytes[0].to_string(),
            I8 | AtomicI8 => (bytes[0] as i8).to_string(),
            U16 | AtomicU16 => u16::from_le_bytes([bytes[0], bytes[1]]).to_string(),
            I16 | AtomicI16 => i16::from_le_bytes([bytes[0], bytes[1]]).to_string(),
            U32 | AtomicU32 => (u64::from_le_bytes(b(4)) as u32).to_string(),
            I32 | AtomicI32 => (u64::from_le_bytes(b(4)) as u32 as i32).to_string(),
            U64 | AtomicU64 => u64::from_le_bytes(b(8)).to_string(),
            I64 | AtomicI64 => i64::from_le_bytes(b(8)).to_string(),
            F32 => f32::from_bits(u64::from_le_bytes(b(4)) as u32).to_string(),
            F64 => f64::from_bits(u64::from_le_bytes(b(8))).to_string(),
        }
    }
}

/// The description of a [`Layout`] type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Ty {
    /// A primitive.
    Prim(Prim),
    /// `[elem; len]`.
    Array(Box<Ty>, u32),
    /// A `#[repr(C)]` struct.
    Struct(StructTy),
}

/// A struct in a layout description.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StructTy {
    /// The struct's name, without its module path (so that the same struct
    /// defined in two programs matches).
    pub name: String,
    /// `size_of`, in bytes.
    pub size: u32,
    /// Alignment in bytes: the largest of the fields' natural alignments and
    /// any `repr(align)`. The same in 32-bit and 64-bit processes.
    pub align: u32,
    /// The fields, in declaration order.
    pub fields: Vec<Field>,
}

/// A field of a [`StructTy`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    /// The field's name.
    pub name: String,
    /// Its offset from the start of the struct, in bytes.
    pub offset: u32,
    /// Its type.
    pub ty: Ty,
}

/// Nesting deeper than this is refused when decoding untrusted bytes.
const MAX_DEPTH: u32 = 32;
/// More nodes than this are refused when decoding untrusted bytes.
const MAX_NODES: usize = 100_000;

const TAG_PRIM: u8 = 1;
const TAG_ARRAY: u8 = 2;
const TAG_STRUCT: u8 = 3;

impl Ty {
    /// Size in bytes.
    ///
    /// # Example
    /// ```
    /// use shmkit::Layout;
    /// #[derive(shmkit::Layout)]
    /// #[repr(C)]
    /// struct Data { value: u32, numbers: [f32; 50] }
    /// assert_eq!(Data::describe().size(), 204);
    /// assert_eq!(<[u64; 3]>::describe().size(), 24);
    /// ```
    pub fn size(&self) -> u64 {
        match self {
            Ty::Prim(p) => u64::from(p.size()),
            Ty::Array(elem, len) => elem.size() * u64::from(*len),
            Ty::Struct(s) => u64::from(s.size),
        }
    }

    /// Alignment in bytes, the same in 32-bit and 64-bit processes.
    ///
    /// # Example
    /// ```
    /// use shmkit::Layout;
    /// #[derive(shmkit::Layout)]
    /// #[repr(C)]
    /// struct Data { a: u32, _pad: u32, b: u64 }
    /// // 8 on every target, although `u64` is only 4-aligned on i686.
    /// assert_eq!(Data::describe().align(), 8);
    /// assert_eq!(<[u16; 5]>::describe().align(), 2);
    /// ```
    pub fn align(&self) -> u32 {
        match self {
            Ty::Prim(p) => p.size(),
            Ty::Array(elem, _) => elem.align(),
            Ty::Struct(s) => s.align,
        }
    }

    /// A short name: `u32`, `[f32; 50]`, `MySharedData`.
    ///
    /// # Example
    /// ```
    /// use shmkit::Layout;
    /// #[derive(shmkit::Layout)]
    /// #[repr(C)]
    /// struct MySharedData { value: u32 }
    /// assert_eq!(MySharedData::describe().summary(), "MySharedData");
    /// assert_eq!(<[f32; 50]>::describe().summary(), "[f32; 50]");
    /// assert_eq!(u64::describe().summary(), "u64");
    /// ```
    pub fn summary(&self) -> String {
        match self {
            Ty::Prim(p) => p.name().to_owned(),
            Ty::Array(elem, len) => format!("[{}; {len}]", elem.summary()),
            Ty::Struct(s) => s.name.clone(),
        }
    }

    /// Appends the fixed little-endian encoding of `self` to `out`.
    ///
    /// ```text
    /// prim:   1, code: u8
    /// array:  2, len: u32, elem
    /// struct: 3, name, size: u32, align: u32, nfields: u32, { name, offset: u32, ty }*
    /// name:   len: u16, UTF-8 bytes
    /// ```
    ///
    /// # Example
    /// ```
    /// use shmkit::Layout;
    /// let mut out = vec![0xAA]; // appended to, not replaced
    /// <[u8; 4]>::describe().encode(&mut out);
    /// // tag 2 (array), length 4 (u32 LE), then the element: tag 1, code of u8
    /// assert_eq!(out, [0xAA, 2, 4, 0, 0, 0, 1, 1]);
    /// ```
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Ty::Prim(p) => out.extend([TAG_PRIM, p.code()]),
            Ty::Array(elem, len) => {
                out.push(TAG_ARRAY);
                out.extend(len.to_le_bytes());
                elem.encode(out);
            }
            Ty::Struct(s) => {
                out.push(TAG_STRUCT);
                encode_name(&s.name, out);
                out.extend(s.size.to_le_bytes());
                out.extend(s.align.to_le_bytes());
                out.extend((s.fields.len() as u32).to_le_bytes());
                for f in &s.fields {
                    encode_name(&f.name, out);
                    out.extend(f.offset.to_le_bytes());
                    f.ty.encode(out);
                }
            }
        }
    }

    /// The encoding as a new vector.
    ///
    /// # Example
    /// ```
    /// use shmkit::{layout::Ty, Layout};
    /// let ty = <[i32; 2]>::describe();
    /// let bytes = ty.to_bytes();
    /// assert_eq!(Ty::decode(&bytes), Ok(ty));
    /// ```
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Decodes an encoding made by [`encode`](Self::encode), from bytes that
    /// may be hostile: every length and count is checked, nesting is limited,
    /// and the whole input must be used. The result is also checked for
    /// consistency (fields inside their struct, sizes adding up), so that code
    /// decoding values with it cannot read out of bounds.
    ///
    /// # Errors
    /// A message naming what is wrong: an unknown tag or primitive code, a
    /// length past the input, nesting or node counts over the limits,
    /// trailing bytes, an oversized array, or an inconsistent struct.
    ///
    /// # Example
    /// ```
    /// use shmkit::{layout::Ty, Layout};
    /// #[derive(shmkit::Layout)]
    /// #[repr(C)]
    /// struct Point { x: f64, y: f64 }
    /// let bytes = Point::describe().to_bytes();
    /// assert_eq!(Ty::decode(&bytes), Ok(Point::describe()));
    /// // Hostile input is an error, never a panic or a huge allocation.
    /// assert!(Ty::decode(&bytes[..bytes.len() - 1]).is_err());
    /// assert!(Ty::decode(&[2, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
    /// let mut extra = bytes.clone();
    /// extra.push(0);
    /// assert!(Ty::decode(&extra).unwrap_err().contains("trailing"));
    /// ```
    pub fn decode(bytes: &[u8]) -> std::result::Result<Ty, String> {
        let mut r = Reader {
            bytes,
            at: 0,
            nodes: 0,
        };
        let ty = r.ty(0)?;
        if r.at != bytes.len() {
            return Err(format!(
                "{} trailing bytes after the layout",
                bytes.len() - r.at
            ));
        }
        ty.validate()?;
        Ok(ty)
    }

    /// How many parts [`read_value`](Self::read_value) makes (saturating):
    /// it costs time and memory in proportion.
    fn parts(&self) -> u64 {
        match self {
            Ty::Prim(_) => 1,
            Ty::Array(elem, len) => u64::from(*len)
                .saturating_mul(elem.parts())
                .saturating_add(1),
            Ty::Struct(s) => s
                .fields
                .iter()
                .fold(1u64, |n, f| n.saturating_add(f.ty.parts())),
        }
    }

    fn validate(&self) -> std::result::Result<(), String> {
        self.validate_shape()?;
        // Decoding a value makes one part per primitive, array and struct
        // in it. Arrays of zero-sized elements, or fields laid over each
        // other, can make billions of parts out of a few bytes; a type from
        // a program has at most one part per byte per nesting level. Checked
        // at every node, since the CLI decodes fields on their own.
        let parts = self.parts();
        let limit = self
            .size()
            .saturating_mul(u64::from(MAX_DEPTH) + 1)
            .saturating_add(MAX_NODES as u64);
        if parts > limit {
            return Err(format!(
                "{} of {} bytes would decode to {parts} parts: \
                 no type has that many (arrays of empty types, overlapping fields)",
                self.summary(),
                self.size()
            ));
        }
        Ok(())
    }

    /// Checks `self` and its parts, each wholly (`validate`), before `size`
    /// is computed: it could overflow otherwise.
    fn validate_shape(&self) -> std::result::Result<(), String> {
        match self {
            Ty::Prim(_) => Ok(()),
            Ty::Array(elem, len) => {
                elem.validate()?;
                if elem
                    .size()
                    .checked_mul(u64::from(*len))
                    .is_none_or(|s| s > u64::from(u32::MAX))
                {
                    return Err(format!("array [{}; {len}] is too large", elem.summary()));
                }
                Ok(())
            }
            Ty::Struct(s) => {
                if s.align == 0 || !s.align.is_power_of_two() {
                    return Err(format!("struct `{}` has alignment {}", s.name, s.align));
                }
                for f in &s.fields {
                    f.ty.validate()?;
                    let end = u64::from(f.offset) + f.ty.size();
                    if end > u64::from(s.size) {
                        return Err(format!(
                            "field `{}` of `{}` ends at {end}, past the struct's {} bytes",
                            f.name, s.name, s.size
                        ));
                    }
                }
                Ok(())
            }
        }
    }

    /// Describes the first difference between `self` (what this program
    /// expects) and `found` (what a segment holds), or `None` if they match.
    ///
    /// ```
    /// use shmkit::layout::{Field, Prim, StructTy, Ty};
    /// let s = |ty| Ty::Struct(StructTy {
    ///     name: "S".into(), size: 8, align: 4,
    ///     fields: vec![Field { name: "letter".into(), offset: 4, ty }],
    /// });
    /// assert_eq!(
    ///     s(Ty::Prim(Prim::U16)).difference(&s(Ty::Prim(Prim::U32))).unwrap(),
    ///     "field `letter`: u16 at offset 4 here, u32 at offset 4 in the segment",
    /// );
    /// ```
    pub fn difference(&self, found: &Ty) -> Option<String> {
        diff("", self, found)
    }
}

fn encode_name(name: &str, out: &mut Vec<u8>) {
    let bytes = &name.as_bytes()[..name.len().min(u16::MAX as usize)];
    out.extend((bytes.len() as u16).to_le_bytes());
    out.extend(bytes);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    nodes: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> std::result::Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| format!("layout truncated at byte {}", self.at))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> std::result::Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> std::result::Result<u16, String> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }

    fn u32(&mut self) -> std::result::Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    fn name(&mut self) -> std::result::Result<String, String> {
        let len = self.u16()?;
        let at = self.at;
        let bytes = self.take(len.into())?;
        String::from_utf8(bytes.to_vec()).map_err(|_| format!("name at byte {at} is not UTF-8"))
    }

    fn ty(&mut self, depth: u32) -> std::result::Result<Ty, String> {
        if depth > MAX_DEPTH {
            return Err(format!("layout nests deeper than {MAX_DEPTH}"));
        }
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(format!("layout has more than {MAX_NODES} nodes"));
        }
        let at = self.at;
        match self.u8()? {
            TAG_PRIM => {
                let code = self.u8()?;
                let p = Prim::from_code(code)
                    .ok_or_else(|| format!("unknown primitive code {code} at byte {at}"))?;
                Ok(Ty::Prim(p))
            }
            TAG_ARRAY => {
                let len = self.u32()?;
                Ok(Ty::Array(Box::new(self.ty(depth + 1)?), len))
            }
            TAG_STRUCT => {
                let name = self.name()?;
                let size = self.u32()?;
                let align = self.u32()?;
                let n = self.u32()?;
                // Each field takes at least 8 bytes: a hostile count cannot
                // make us allocate more than the input justifies.
                if u64::from(n) * 8 > (self.bytes.len() - self.at) as u64 {
                    return Err(format!(
                        "struct `{name}` claims {n} fields, more than the layout holds"
                    ));
                }
                let mut fields = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let name = self.name()?;
                    let offset = self.u32()?;
                    let ty = self.ty(depth + 1)?;
                    fields.push(Field { name, offset, ty });
                }
                Ok(Ty::Struct(StructTy {
                    name,
                    size,
                    align,
                    fields,
                }))
            }
            tag => Err(format!("unknown tag {tag} at byte {at}")),
        }
    }
}

fn diff(path: &str, here: &Ty, found: &Ty) -> Option<String> {
    let what = if path.is_empty() {
        "the type".to_owned()
    } else {
        format!("field `{path}`")
    };
    match (here, found) {
        (Ty::Struct(a), Ty::Struct(b)) => {
            for (i, (fa, fb)) in a.fields.iter().zip(&b.fields).enumerate() {
                let sub = if path.is_empty() {
                    fa.name.clone()
                } else {
                    format!("{path}.{}", fa.name)
                };
                if fa.name != fb.name {
                    return Some(format!(
                        "field {} of `{}`: `{}` ({} at offset {}) here, `{}` ({} at offset {}) in the segment",
                        i + 1,
                        if path.is_empty() { &a.name } else { path },
                        fa.name,
                        fa.ty.summary(),
                        fa.offset,
                        fb.name,
                        fb.ty.summary(),
                        fb.offset
                    ));
                }
                if fa.offset != fb.offset || !same_shape(&fa.ty, &fb.ty) {
                    return Some(format!(
                        "field `{sub}`: {} at offset {} here, {} at offset {} in the segment",
                        fa.ty.summary(),
                        fa.offset,
                        fb.ty.summary(),
                        fb.offset
                    ));
                }
                if let Some(d) = diff(&sub, &fa.ty, &fb.ty) {
                    return Some(d);
                }
            }
            let (na, nb) = (a.fields.len(), b.fields.len());
            if na > nb {
                let f = &a.fields[nb];
                return Some(format!(
                    "field `{}` ({} at offset {}) is here but not in the segment",
                    join(path, &f.name),
                    f.ty.summary(),
                    f.offset
                ));
            }
            if nb > na {
                let f = &b.fields[na];
                return Some(format!(
                    "field `{}` ({} at offset {}) is in the segment but not here",
                    join(path, &f.name),
                    f.ty.summary(),
                    f.offset
                ));
            }
            // Fields first: they say more than the struct's name, which may
            // differ merely because the two programs named it differently.
            if a.name != b.name {
                return Some(format!(
                    "{what}: struct `{}` here, struct `{}` in the segment",
                    a.name, b.name
                ));
            }
            if a.size != b.size || a.align != b.align {
                return Some(format!(
                    "{what}: `{}` is {} bytes aligned to {} here, {} bytes aligned to {} in the segment",
                    a.name, a.size, a.align, b.size, b.align
                ));
            }
            None
        }
        (Ty::Array(ea, la), Ty::Array(eb, lb)) if la == lb => diff(&format!("{path}[]"), ea, eb),
        _ if here == found => None,
        _ => Some(format!(
            "{what}: {} here, {} in the segment",
            here.summary(),
            found.summary()
        )),
    }
}

/// Whether two types agree at the top: same primitive, same array length and
/// element summary, or structs of the same name (compared further by `diff`).
fn same_shape(a: &Ty, b: &Ty) -> bool {
    match (a, b) {
        (Ty::Struct(x), Ty::Struct(y)) => x.name == y.name,
        (Ty::Array(x, n), Ty::Array(y, m)) => n == m && same_shape(x, y),
        _ => a == b,
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

// ---- values decoded without the Rust type ---------------------------------------

/// A value decoded from a segment's bytes with a stored [`Ty`], for tools that
/// have no Rust type for it (the `shmkit` CLI).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// An unsigned integer.
    Unsigned(u64),
    /// A signed integer.
    Signed(i64),
    /// An `f32`, kept as such so that it prints as written (`1.45`).
    F32(f32),
    /// An `f64`.
    F64(f64),
    /// An array's elements.
    Array(Vec<Value>),
    /// A struct's fields, in order.
    Struct(Vec<(String, Value)>),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Unsigned(v) => write!(f, "{v}"),
            Value::Signed(v) => write!(f, "{v}"),
            Value::F32(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Struct(fields) => {
                f.write_str("{ ")?;
                for (i, (name, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{name}: {v}")?;
                }
                f.write_str(" }")
            }
        }
    }
}

/// One primitive inside a [`Ty`]: where it is and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leaf {
    /// Its path: `value`, `numbers[10]`, `inner.x`.
    pub path: String,
    /// Its offset from the start of the value.
    pub offset: u64,
    /// Its type.
    pub prim: Prim,
}

impl Prim {
    /// Decodes one little-endian value (`bytes` holds at least
    /// [`size`](Self::size) bytes).
    ///
    /// # Panics
    /// If `bytes` is shorter than [`size`](Self::size).
    ///
    /// # Example
    /// ```
    /// use shmkit::layout::{Prim, Value};
    /// assert_eq!(Prim::I8.value(&[0xFF]), Value::Signed(-1));
    /// assert_eq!(Prim::U8.value(&[0xFF]), Value::Unsigned(255));
    /// assert_eq!(Prim::F64.value(&2.5f64.to_le_bytes()), Value::F64(2.5));
    /// ```
    pub fn value(self, bytes: &[u8]) -> Value {
        use Prim::*;
        let mut b = [0u8; 8];
        let n = self.size() as usize;
        b[..n].copy_from_slice(&bytes[..n]);
        let raw = u64::from_le_bytes(b);
        match self {
            U8 | U16 | U32 | U64 | AtomicU8 | AtomicU16 | AtomicU32 | AtomicU64 => {
                Value::Unsigned(raw)
            }
            I8 | AtomicI8 => Value::Signed(i64::from(raw as u8 as i8)),
            I16 | AtomicI16 => Value::Signed(i64::from(raw as u16 as i16)),
            I32 | AtomicI32 => Value::Signed(i64::from(raw as u32 as i32)),
            I64 | AtomicI64 => Value::Signed(raw as i64),
            F32 => Value::F32(f32::from_bits(raw as u32)),
            F64 => Value::F64(f64::from_bits(raw)),
        }
    }

    /// Parses `text` as a value of this type, range-checked, into its
    /// little-endian bytes.
    ///
    /// # Errors
    /// A message quoting `text` and the type if it is not a number of that
    /// type or is out of its range.
    ///
    /// # Example
    /// ```
    /// use shmkit::layout::Prim;
    /// assert_eq!(Prim::U16.parse(" 513 "), Ok(vec![1, 2]));
    /// assert_eq!(Prim::F32.parse("1.5"), Ok(1.5f32.to_le_bytes().to_vec()));
    /// let err = Prim::U8.parse("256").unwrap_err();
    /// assert!(err.contains("not a valid u8"), "{err}");
    /// ```
    pub fn parse(self, text: &str) -> std::result::Result<Vec<u8>, String> {
        use Prim::*;
        let text = text.trim();
        let bad = |e: &dyn fmt::Display| format!("`{text}` is not a valid {}: {e}", self.name());
        // Parses as `$t` (its own range check) into little-endian bytes.
        macro_rules! le {
            ($t:ty) => {
                text.parse::<$t>()
                    .map_err(|e| bad(&e))?
                    .to_le_bytes()
                    .to_vec()
            };
        }
        let bytes = match self {
            U8 | AtomicU8 => le!(u8),
            I8 | AtomicI8 => le!(i8),
            U16 | AtomicU16 => le!(u16),
            I16 | AtomicI16 => le!(i16),
            U32 | AtomicU32 => le!(u32),
            I32 | AtomicI32 => le!(i32),
            U64 | AtomicU64 => le!(u64),
            I64 | AtomicI64 => le!(i64),
            F32 => le!(f32),
            F64 => le!(f64),
        };
        Ok(bytes)
    }
}

impl Ty {
    /// Decodes a value of this type from `bytes`, which may be shorter than
    /// the type claims (a hostile header): then it is an error, never a panic.
    /// Call it on a [`decode`](Self::decode)d, hence validated, description.
    ///
    /// # Errors
    /// A message saying how many bytes the type needs and how many are there.
    ///
    /// # Example
    /// ```
    /// use shmkit::{layout::Value, Layout};
    /// #[derive(shmkit::Layout)]
    /// #[repr(C)]
    /// struct Pair { a: u16, b: i16 }
    /// let ty = Pair::describe();
    /// let mut bytes = 7u16.to_le_bytes().to_vec();
    /// bytes.extend((-3i16).to_le_bytes());
    /// assert_eq!(
    ///     ty.read_value(&bytes),
    ///     Ok(Value::Struct(vec![
    ///         ("a".into(), Value::Unsigned(7)),
    ///         ("b".into(), Value::Signed(-3)),
    ///     ]))
    /// );
    /// assert_eq!(ty.read_value(&bytes).unwrap().to_string(), "{ a: 7, b: -3 }");
    /// assert!(ty.read_value(&bytes[..3]).unwrap_err().contains("needs 4 bytes"));
    /// ```
    pub fn read_value(&self, bytes: &[u8]) -> std::result::Result<Value, String> {
        if (bytes.len() as u64) < self.size() {
            return Err(format!(
                "{} needs {} bytes, {} are there",
                self.summary(),
                self.size(),
                bytes.len()
            ));
        }
        Ok(match self {
            Ty::Prim(p) => p.value(bytes),
            Ty::Array(elem, len) => {
                let size = elem.size() as usize;
                let items = (0..*len as usize)
                    .map(|i| elem.read_value(&bytes[i * size..]))
                    .collect::<std::result::Result<_, _>>()?;
                Value::Array(items)
            }
            Ty::Struct(s) => {
                let fields = s
                    .fields
                    .iter()
                    .map(|f| {
                        Ok((
                            f.name.clone(),
                            f.ty.read_value(&bytes[f.offset as usize..])?,
                        ))
                    })
                    .collect::<std::result::Result<_, String>>()?;
                Value::Struct(fields)
            }
        })
    }

    /// Every primitive in this type with its path and offset, in memory
    /// order. Arrays longer than `max_array` contribute only their first
    /// `max_array` elements.
    ///
    /// # Example
    /// ```
    /// use shmkit::{layout::Prim, Layout};
    /// #[derive(shmkit::Layout)]
    /// #[repr(C)]
    /// struct Data { value: u32, numbers: [f32; 50] }
    /// let leaves = Data::describe().leaves(2);
    /// let paths: Vec<_> = leaves.iter().map(|l| (l.path.as_str(), l.offset)).collect();
    /// assert_eq!(paths, [("value", 0), ("numbers[0]", 4), ("numbers[1]", 8)]);
    /// assert_eq!(leaves[1].prim, Prim::F32);
    /// ```
    pub fn leaves(&self, max_array: usize) -> Vec<Leaf> {
        let mut out = Vec::new();
        self.collect_leaves(String::new(), 0, max_array, &mut out);
        out
    }

    fn collect_leaves(&self, path: String, offset: u64, max_array: usize, out: &mut Vec<Leaf>) {
        match self {
            Ty::Prim(p) => out.push(Leaf {
                path,
                offset,
                prim: *p,
            }),
            Ty::Array(elem, len) => {
                for i in 0..(*len as usize).min(max_array) {
                    elem.collect_leaves(
                        format!("{path}[{i}]"),
                        offset + i as u64 * elem.size(),
                        max_array,
                        out,
                    );
                }
            }
            Ty::Struct(s) => {
                for f in &s.fields {
                    let sub = if path.is_empty() {
                        f.name.clone()
                    } else {
                        format!("{path}.{}", f.name)
                    };
                    f.ty.collect_leaves(sub, offset + u64::from(f.offset), max_array, out);
                }
            }
        }
    }

    /// Finds the part of the value at `path` (`value`, `numbers[10]`,
    /// `inner.x`; `""` for the whole value), whatever its type: its offset
    /// from the start of the value and its type, or an error that says which
    /// part of the path does not exist.
    ///
    /// # Errors
    /// A message quoting the path: a missing field (listing the fields there
    /// are), an index out of bounds or not a number, or a missing `]`.
    ///
    /// # Example
    /// ```
    /// use shmkit::{layout::{Prim, Ty}, Layout};
    /// #[derive(shmkit::Layout)]
    /// #[repr(C)]
    /// struct Point { x: f32, y: f32 }
    /// #[derive(shmkit::Layout)]
    /// #[repr(C)]
    /// struct Data { value: u32, points: [Point; 4] }
    ///
    /// let ty = Data::describe();
    /// let (offset, points) = ty.locate("points").unwrap();
    /// assert_eq!(offset, 4);
    /// assert!(matches!(points, Ty::Array(_, 4)));
    /// assert_eq!(ty.locate("points[1].x").unwrap().0, 4 + 8);
    /// assert!(ty.locate("points[4]").unwrap_err().contains("out of bounds"));
    /// ```
    pub fn locate(&self, path: &str) -> std::result::Result<(u64, &Ty), String> {
        let mut ty = self;
        let mut offset = 0u64;
        let mut rest = path;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('[') {
                let (index, tail) = after
                    .split_once(']')
                    .ok_or_else(|| format!("`{path}`: missing `]`"))?;
                let Ty::Array(elem, len) = ty else {
                    return Err(format!("`{path}`: {} is not an array", ty.summary()));
                };
                let i: u32 = index
                    .trim()
                    .parse()
                    .map_err(|_| format!("`{path}`: `{index}` is not an index"))?;
                if i >= *len {
                    return Err(format!(
                        "`{path}`: index {i} is out of bounds for {}",
                        ty.summary()
                    ));
                }
                offset += u64::from(i) * elem.size();
                ty = elem;
                rest = tail;
            } else {
                let rest2 = rest.strip_prefix('.').unwrap_or(rest);
                let end = rest2.find(['.', '[']).unwrap_or(rest2.len());
                let (name, tail) = rest2.split_at(end);
                let Ty::Struct(s) = ty else {
                    return Err(format!("`{path}`: {} has no field `{name}`", ty.summary()));
                };
                let f = s.fields.iter().find(|f| f.name == name).ok_or_else(|| {
                    let names: Vec<&str> = s.fields.iter().map(|f| f.name.as_str()).collect();
                    format!(
                        "`{path}`: `{}` has no field `{name}` (fields: {})",
                        s.name,
                        names.join(", ")
                    )
                })?;
                offset += u64::from(f.offset);
                ty = &f.ty;
                rest = tail;
            }
        }
        Ok((offset, ty))
    }

    /// Finds the primitive at `path` (`value`, `numbers[10]`, `inner.x`):
    /// its offset and type, or an error that says which part of the path
    /// does not exist.
    ///
    /// # Errors
    /// As [`locate`](Self::locate), and a path that ends at an array or
    /// struct rather than one primitive.
    ///
    /// # Example
    /// ```
    /// use shmkit::{layout::Prim, Layout};
    /// #[derive(shmkit::Layout)]
    /// #[repr(C)]
    /// struct Point { x: f32, y: f32 }
    /// #[derive(shmkit::Layout)]
    /// #[repr(C)]
    /// struct Data { value: u32, points: [Point; 4] }
    /// let ty = Data::describe();
    /// assert_eq!(ty.find("points[2].y"), Ok((4 + 2 * 8 + 4, Prim::F32)));
    /// assert!(ty.find("points[4].y").unwrap_err().contains("out of bounds"));
    /// assert!(ty.find("valu").unwrap_err().contains("fields: value, points"));
    /// assert!(ty.find("points").unwrap_err().contains("not a single value"));
    /// ```
    pub fn find(&self, path: &str) -> std::result::Result<(u64, Prim), String> {
        match self.locate(path)? {
            (offset, Ty::Prim(p)) => Ok((offset, *p)),
            (_, other) => Err(format!(
                "`{path}` is a {}, not a single value: name one of its elements or fields",
                other.summary()
            )),
        }
    }
}

/// One displayed row of a typed value: a primitive or an array, with nested
/// struct fields flattened into dotted paths (what `shmkit info` and
/// `shmkit watch` show).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// `value`, `inner.x`, `numbers`; `(value)` for a value that is no struct.
    pub path: String,
    /// Offset from the start of the value.
    pub offset: u64,
    /// Its type.
    pub ty: Ty,
}

impl Row {
    /// This row's value, decoded from the whole value's bytes (which may be
    /// shorter than the layout claims: then an error, never a panic).
    ///
    /// # Errors
    /// A message if the row's offset is past `data` or its bytes are short.
    ///
    /// # Example
    /// ```
    /// use shmkit::{layout::Value, Layout};
    /// #[derive(shmkit::Layout)]
    /// #[repr(C)]
    /// struct Data { value: u32, numbers: [u8; 2], _pad: [u8; 2] }
    /// let rows = Data::describe().rows();
    /// let data = [9, 0, 0, 0, 1, 2, 0, 0];
    /// assert_eq!(rows[0].value(&data), Ok(Value::Unsigned(9)));
    /// assert_eq!(rows[1].value(&data), Ok(Value::Array(vec![Value::Unsigned(1), Value::Unsigned(2)])));
    /// assert!(rows[1].value(&data[..5]).is_err()); // too short: an error, not a panic
    /// ```
    pub fn value(&self, data: &[u8]) -> std::result::Result<Value, String> {
        let start = usize::try_from(self.offset).map_err(|_| "offset too large".to_string())?;
        let bytes = data
            .get(start..)
            .ok_or_else(|| format!("offset {start} is past the value"))?;
        self.ty.read_value(bytes)
    }
}

impl Ty {
    /// The rows of a value of this type: struct fields flattened, arrays
    /// (of primitives or of structs) kept whole.
    ///
    /// # Example
    /// ```
    /// use shmkit::Layout;
    /// #[derive(shmkit::Layout)]
    /// #[repr(C)]
    /// struct Point { x: f32, y: f32 }
    /// #[derive(shmkit::Layout)]
    /// #[repr(C)]
    /// struct Data { value: u32, pos: Point, numbers: [f32; 3] }
    /// let rows = Data::describe().rows();
    /// let paths: Vec<_> = rows.iter().map(|r| (r.path.as_str(), r.offset)).collect();
    /// assert_eq!(paths, [("value", 0), ("pos.x", 4), ("pos.y", 8), ("numbers", 12)]);
    /// assert_eq!(rows[3].ty.summary(), "[f32; 3]");
    /// assert_eq!(u64::describe().rows()[0].path, "(value)");
    /// ```
    pub fn rows(&self) -> Vec<Row> {
        fn walk(ty: &Ty, path: String, offset: u64, out: &mut Vec<Row>) {
            match ty {
                Ty::Struct(s) => {
                    for f in &s.fields {
                        let sub = if path.is_empty() {
                            f.name.clone()
                        } else {
                            format!("{path}.{}", f.name)
                        };
                        walk(&f.ty, sub, offset + u64::from(f.offset), out);
                    }
                }
                other => out.push(Row {
                    path: if path.is_empty() {
                        "(value)".into()
                    } else {
                        path
                    },
                    offset,
                    ty: other.clone(),
                }),
            }
        }
        let mut out = Vec::new();
        walk(self, String::new(), 0, &mut out);
        out
    }
}

impl Value {
    /// The value for a human: arrays longer than 16 elements are cut.
    ///
    /// # Example
    /// ```
    /// use shmkit::layout::Value;
    /// let v = Value::Array((0..20).map(Value::Unsigned).collect());
    /// assert_eq!(
    ///     v.short(),
    ///     "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, ... 4 more]"
    /// );
    /// assert_eq!(Value::F32(1.45).short(), "1.45");
    /// ```
    pub fn short(&self) -> String {
        match self {
            Value::Array(items) if items.len() > 16 => {
                let head: Vec<String> = items[..16].iter().map(Value::short).collect();
                format!("[{}, ... {} more]", head.join(", "), items.len() - 16)
            }
            Value::Array(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(Value::short)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            other => other.to_string(),
        }
    }
}

// ---- typed places -------------------------------------------------------------

/// What a handle may do to the memory it reaches: [`Writable`] or
/// [`ReadOnly`]. A [`Ref`] carries its handle's access, so that a place
/// reached through a read-only handle has no method that writes: on a
/// mapping without write permission a write faults (`SIGSEGV`, an access
/// violation on Windows) instead of returning an error.
pub trait Access: sealed::Sealed + 'static {}

/// The access of a handle on a writable mapping ([`Shared`](crate::Shared)):
/// loads, stores, read-modify-writes, and borrowing atomics in place.
#[derive(Debug)]
pub enum Writable {}

/// The access of a handle on a mapping that may be read-only
/// ([`ReadOnlyShared`](crate::ReadOnlyShared)): loads only. Copies
/// ([`Ref::get`]), atomic loads ([`Ref::load`](Ref#method.load)), and the
/// read side of the synchronisation types ([`Ref::read`](Ref#method.read) on
/// a [`SeqLock`], [`Ref::is_signalled`] on an [`Event`]), never a borrow
/// `&T`, whose `lock`, `store` or `notify_one` would write.
///
/// [`SeqLock`]: crate::sync::SeqLock
/// [`Event`]: crate::sync::Event
#[derive(Debug)]
pub enum ReadOnly {}

impl Access for Writable {}
impl Access for ReadOnly {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Writable {}
    impl Sealed for super::ReadOnly {}
}

/// A handle through which a typed place in shared memory is reached: a
/// [`Shared`](crate::Shared), a [`ReadOnlyShared`](crate::ReadOnlyShared) or
/// a [`Ref`]. Generated field accessors use it.
///
/// # Safety
/// Generated accessors build places from it without further checks, so an
/// implementor promises that [`addr`](Base::addr) is the address of a value
/// of the handle's type, aligned for it and inside
/// [`segment`](Base::segment)'s mapping for as long as the handle lives, and
/// that [`Access`](Base::Access) is [`Writable`] only if that mapping is
/// writable. So a handle that claims write access is not made in safe code:
///
/// ```compile_fail,E0200
/// use shmkit::layout::{Base, Writable};
/// struct Claim(shmkit::Segment);
/// impl Base for Claim {
///     type Access = Writable;
///     fn segment(&self) -> &shmkit::Segment { &self.0 }
///     fn addr(&self) -> *mut u8 { self.0.as_mut_ptr() }
/// }
/// ```
pub unsafe trait Base {
    /// What the handle may do: [`Writable`] only if the mapping is writable.
    type Access: Access;
    /// The segment the place lives in.
    fn segment(&self) -> &Segment;
    /// The address of the place.
    fn addr(&self) -> *mut u8;
}

/// A typed place inside a mapped segment: a field, an array element, or a
/// whole value. It reads and writes by copy ([`get`](Self::get),
/// [`set`](Self::set)) and reaches its own fields through `Deref`, so
/// `data.numbers().at(10).set(1.45)` is one line.
///
/// A `Ref` borrows the segment, so it cannot outlive the mapping. Its access
/// `A` is its handle's: a `Ref` reached through a
/// [`ReadOnlyShared`](crate::ReadOnlyShared) only reads.
///
/// # Example
/// ```
/// use shmkit::layout::Ref;
/// #[derive(shmkit::Layout, Clone, Copy)]
/// #[repr(C)]
/// struct Point { x: f32, y: f32 }
/// #[derive(shmkit::Layout)]
/// #[repr(C)]
/// struct Path { points: [Point; 8] }
///
/// // Any function can take a place, wherever it lives.
/// fn shift(p: Ref<'_, Point>, dx: f32) -> shmkit::Result<()> {
///     p.x().set(p.x().get()? + dx)
/// }
/// # let name = format!("doc-ref-{}", std::process::id());
/// let path = shmkit::Shared::<Path>::create(&name)?;
/// shift(path.points().at(3), 1.5)?;
/// assert_eq!(path.points().at(3).get()?.x, 1.5);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Ref<'a, T: Layout, A: Access = Writable> {
    seg: &'a Segment,
    ptr: NonNull<T>,
    _t: PhantomData<(T, A)>,
}

impl<'a, T: Layout, A: Access> Ref<'a, T, A> {
    /// A place of type `T` at `ptr`.
    ///
    /// # Safety
    /// `ptr` must be aligned for `T`, `ptr..ptr + size_of::<T>()` must lie
    /// inside `seg`'s mapping, and if `A` is [`Writable`] the mapping must be
    /// writable.
    #[doc(hidden)]
    pub unsafe fn new(seg: &'a Segment, ptr: *mut T) -> Self {
        Ref {
            seg,
            // SAFETY: a pointer inside a live mapping is not null (caller's
            // obligation).
            ptr: unsafe { NonNull::new_unchecked(ptr) },
            _t: PhantomData,
        }
    }

    /// The offset of this place from the start of the segment.
    ///
    /// # Example
    /// ```
    /// #[derive(shmkit::Layout)]
    /// #[repr(C)]
    /// struct Data { value: u32, numbers: [f32; 50] }
    /// # let name = format!("doc-offset-{}", std::process::id());
    /// let data = shmkit::Shared::<Data>::create(&name)?;
    /// assert_eq!(data.place().offset(), data.data_offset());
    /// assert_eq!(data.numbers().at(2).offset(), data.data_offset() + 4 + 2 * 4);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn offset(&self) -> usize {
        self.ptr.as_ptr() as usize - self.seg.as_ptr() as usize
    }
}

impl<T: Layout> Ref<'_, T, Writable> {
    /// Copies `*value` in, whatever `T` is (a typed segment's initial value,
    /// before anyone else can see it).
    ///
    /// # Safety
    /// No other thread may change `*value` during the call: it must not be
    /// reachable by any other thread (a value the caller owns, borrowed).
    pub(crate) unsafe fn set_exclusive(&self, value: &T) -> Result<()> {
        // SAFETY: `T` has no padding (`Layout`'s contract), so all of its
        // `size_of::<T>()` bytes are initialised; no other thread changes them
        // while the slice lives (the caller's obligation), whatever interior
        // mutability `T` has.
        let bytes = unsafe {
            std::slice::from_raw_parts((value as *const T).cast::<u8>(), std::mem::size_of::<T>())
        };
        self.store_bytes(bytes)
    }

    /// Copies `T`'s `bytes` into the place.
    fn store_bytes(&self, bytes: &[u8]) -> Result<()> {
        if self.seg.is_read_only() {
            return Err(Error::ReadOnly {
                name: self.seg.name().to_owned(),
            });
        }
        assert_eq!(bytes.len(), std::mem::size_of::<T>());
        // SAFETY: the destination, `size_of::<T>()` bytes at the place, lies
        // in the live, writable mapping, and this process only accesses it
        // atomically.
        unsafe { copy::store(self.ptr.as_ptr().cast(), bytes) };
        self.seg.check_mapped()
    }
}

/// Copying a whole value in or out is for plain data: `Copy` rules out
/// atomics and the synchronisation primitives (and structs holding them),
/// whose bytes other threads change through their interior mutability. A
/// copy would race those changes, and storing a `Mutex` over one that is
/// held would break its exclusion. Reach such types in place instead
/// ([`Ref::in_place`], `Shared::get`) or through their plain fields.
///
/// ```compile_fail
/// # fn f(s: &shmkit::Shared<shmkit::sync::Mutex<u64>>) {
/// s.store(&shmkit::sync::Mutex::new(7));
/// # }
/// ```
///
/// A field that is a `Mutex` is not read by copy either; the compiler's
/// message points to [`Ref::in_place`] (see [`Plain`]):
///
/// ```compile_fail
/// #[derive(shmkit::Layout)]
/// #[shmkit(in_place)]
/// #[repr(C)]
/// struct Counter { n: shmkit::sync::Mutex<u64> }
/// # fn f(c: &shmkit::Shared<Counter>) {
/// let n = c.n().get(); // error: `Mutex<u64>` is not plain data
/// # }
/// ```
///
/// ```
/// # #[derive(shmkit::Layout)]
/// # #[shmkit(in_place)]
/// # #[repr(C)]
/// # struct Counter { n: shmkit::sync::Mutex<u64> }
/// # fn f(c: &shmkit::Shared<Counter>) -> shmkit::Result<()> {
/// *c.n().in_place().lock()? += 1; // in place
/// # Ok(())
/// # }
/// ```
impl<T: Layout, A: Access> Ref<'_, T, A> {
    /// Copies the value out. Each aligned primitive is read with one atomic
    /// load, so it is never torn; a larger value may mix a peer's old and new
    /// writes (use `shmkit::sync` for consistent snapshots).
    ///
    /// # Errors
    /// [`Error::Truncated`] if another process shrank the segment under this
    /// mapping (on this or an earlier call): the bytes read were not the
    /// segment's, and no signal reached this process.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-get-{}", std::process::id());
    /// let n = shmkit::Shared::<u64>::create_with(&name, 123)?;
    /// assert_eq!(n.place().get()?, 123);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn get(&self) -> Result<T>
    where
        T: Plain,
    {
        let mut value = zeroed::<T>();
        // SAFETY: the source range lies in the live mapping (`new`'s
        // contract), and this process only accesses it atomically (`copy`),
        // with loads only, which a read-only mapping allows; any bytes read
        // make a valid `T` (`Layout`: every bit pattern is). A page lost to
        // a peer's truncation reads as zeros (the SIGBUS guard), which the
        // check below reports.
        unsafe { copy::load(self.ptr.as_ptr().cast(), bytes_of_mut(&mut value)) };
        self.seg.check_mapped()?;
        Ok(value)
    }
}

impl<T: Layout> Ref<'_, T, Writable> {
    /// Copies `value` in.
    ///
    /// # Errors
    /// [`Error::ReadOnly`] if the segment is mapped read-only;
    /// [`Error::Truncated`] if another process shrank the segment under this
    /// mapping (the value reached nobody).
    ///
    /// # Example
    /// ```
    /// #[derive(shmkit::Layout)]
    /// #[repr(C)]
    /// struct Data { value: u32, numbers: [f32; 50] }
    /// # let name = format!("doc-set-{}", std::process::id());
    /// let data = shmkit::Shared::<Data>::create(&name)?;
    /// data.value().set(123)?;
    /// data.numbers().at(10).set(1.45)?;
    /// let peer = shmkit::Shared::<Data>::open(&name)?;
    /// assert_eq!(peer.value().get()?, 123);
    /// assert_eq!(peer.numbers().at(10).get()?, 1.45);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn set(&self, value: T) -> Result<()>
    where
        T: Plain,
    {
        self.store_bytes(bytes_of(&value))
    }

    /// Copies `*value` in (without moving a large value first).
    ///
    /// # Errors
    /// [`Error::ReadOnly`] if the segment is mapped read-only.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-setref-{}", std::process::id());
    /// let big = shmkit::Shared::<[u64; 4096]>::create(&name)?;
    /// let table = Box::new([7u64; 4096]); // 32 KiB: copied from the heap, not the stack
    /// big.place().set_ref(&table)?;
    /// assert_eq!(big.at(4095).get()?, 7);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn set_ref(&self, value: &T) -> Result<()>
    where
        T: Plain,
    {
        self.store_bytes(bytes_of(value))
    }
}

impl<T: InPlace> Ref<'_, T, Writable> {
    /// Borrows a value made only of atomics in place. Only a writable handle
    /// offers it: every method of `&T` may write (a `Mutex`'s `lock`, an
    /// atomic's `store`).
    ///
    /// # Example
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use shmkit::sync::Mutex;
    /// #[derive(shmkit::Layout)]
    /// #[repr(C)]
    /// struct Data { hits: AtomicU64, total: Mutex<u64> }
    /// # let name = format!("doc-inplace-{}", std::process::id());
    /// let data = shmkit::Shared::<Data>::create(&name)?;
    /// data.hits().in_place().fetch_add(2, Ordering::Relaxed);
    /// *data.total().in_place().lock().unwrap() += 10;
    /// let peer = shmkit::Shared::<Data>::open(&name)?;
    /// assert_eq!(peer.hits().load(Ordering::Relaxed)?, 2);
    /// assert_eq!(*peer.total().in_place().lock().unwrap(), 10);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn in_place(&self) -> &T {
        // SAFETY:
        // - the pointer is aligned and inside the live mapping, which the
        //   borrow of the segment keeps alive (`new`'s contract);
        // - the mapping is writable (`new`'s contract for `Writable`), so
        //   whatever `&T`'s methods write does not fault;
        // - `T: InPlace` is only ever accessed atomically, so concurrent
        //   writes by other processes are not data races.
        unsafe { self.ptr.as_ref() }
    }
}

macro_rules! atomic_loads {
    ($($atomic:ty => $int:ty;)*) => {$(
        impl<A: Access> Ref<'_, $atomic, A> {
            /// Loads the atomic, through any handle (a read-only one too:
            /// a load never writes).
            ///
            /// # Errors
            /// [`Error::Truncated`] if another process shrank the segment
            /// under this mapping.
            ///
            /// # Example
            /// ```
            /// use std::sync::atomic::{AtomicU32, Ordering};
            // One name per type: the ten copies of this example may run in
            // one process (under Wine they do).
            #[doc = concat!(
                "# let name = format!(\"doc-", stringify!($int), "-{}\", std::process::id());"
            )]
            /// let n = shmkit::Shared::<[AtomicU32; 2]>::create(&name)?;
            /// n.at(1).in_place().store(5, Ordering::Release);
            /// let reader = shmkit::Shared::<[AtomicU32; 2]>::open_read_only(&name)?;
            /// assert_eq!(reader.at(1).load(Ordering::Acquire)?, 5);
            /// # Ok::<(), shmkit::Error>(())
            /// ```
            pub fn load(&self, order: std::sync::atomic::Ordering) -> Result<$int> {
                // SAFETY:
                // - the atomic is aligned and inside the live mapping
                //   (`new`'s contract), which the borrow keeps alive;
                // - it is accessed atomically, as by every process;
                // - a load only reads, so a read-only mapping is fine, and
                //   the reference does not leave this function.
                let value = unsafe { self.ptr.as_ref() }.load(order);
                self.seg.check_mapped()?;
                Ok(value)
            }
        }
    )*};
}

atomic_loads! {
    AtomicU8 => u8;
    AtomicI8 => i8;
    AtomicU16 => u16;
    AtomicI16 => i16;
    AtomicU32 => u32;
    AtomicI32 => i32;
    AtomicU64 => u64;
    AtomicI64 => i64;
}

/// The read side of a [`SeqLock`](crate::sync::SeqLock), through any handle:
/// its readers only load.
// Not under loom, where the sync types are not `Layout`.
#[cfg(not(loom))]
impl<T: Layout + Copy, A: Access> Ref<'_, crate::sync::SeqLock<T>, A> {
    /// As [`SeqLock::read`](crate::sync::SeqLock::read).
    ///
    /// # Example
    /// ```
    /// use shmkit::sync::{SeqLock, WriterStatus};
    /// #[derive(shmkit::Layout)]
    /// #[repr(C)]
    /// struct Data { pose: SeqLock<[f64; 3]> }
    /// # let name = format!("doc-refseq-{}-read", std::process::id());
    /// let data = shmkit::Shared::<Data>::create(&name)?;
    /// data.pose().in_place().writer()?.write(&[1.0, 2.0, 3.0]);
    /// let reader = shmkit::Shared::<Data>::open_read_only(&name)?;
    /// assert_eq!(reader.pose().read(), [1.0, 2.0, 3.0]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn read(&self) -> T {
        self.loads_only().read()
    }

    /// As [`SeqLock::try_read`](crate::sync::SeqLock::try_read).
    ///
    /// # Example
    /// ```
    /// use shmkit::sync::{SeqLock, WriterStatus};
    /// #[derive(shmkit::Layout)]
    /// #[repr(C)]
    /// struct Data { pose: SeqLock<[f64; 3]> }
    /// # let name = format!("doc-refseq-{}-tryread", std::process::id());
    /// let data = shmkit::Shared::<Data>::create(&name)?;
    /// data.pose().in_place().writer()?.write(&[1.0, 2.0, 3.0]);
    /// let reader = shmkit::Shared::<Data>::open_read_only(&name)?;
    /// assert_eq!(reader.pose().try_read(), Some([1.0, 2.0, 3.0])); // no writer racing it
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_read(&self) -> Option<T> {
        self.loads_only().try_read()
    }

    /// As [`SeqLock::read_checked`](crate::sync::SeqLock::read_checked).
    ///
    /// # Errors
    /// [`Error::WriterDied`] if the writer died in the middle of a write.
    ///
    /// # Example
    /// ```
    /// use shmkit::sync::{SeqLock, WriterStatus};
    /// #[derive(shmkit::Layout)]
    /// #[repr(C)]
    /// struct Data { pose: SeqLock<[f64; 3]> }
    /// # let name = format!("doc-refseq-{}-readchecked", std::process::id());
    /// let data = shmkit::Shared::<Data>::create(&name)?;
    /// data.pose().in_place().writer()?.write(&[1.0, 2.0, 3.0]);
    /// let reader = shmkit::Shared::<Data>::open_read_only(&name)?;
    /// assert_eq!(reader.pose().read_checked()?, [1.0, 2.0, 3.0]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn read_checked(&self) -> Result<T> {
        self.loads_only().read_checked()
    }

    /// As [`SeqLock::writer_status`](crate::sync::SeqLock::writer_status).
    ///
    /// # Example
    /// ```
    /// use shmkit::sync::{SeqLock, WriterStatus};
    /// #[derive(shmkit::Layout)]
    /// #[repr(C)]
    /// struct Data { pose: SeqLock<[f64; 3]> }
    /// # let name = format!("doc-refseq-{}-writerstatus", std::process::id());
    /// let data = shmkit::Shared::<Data>::create(&name)?;
    /// data.pose().in_place().writer()?.write(&[1.0, 2.0, 3.0]);
    /// let reader = shmkit::Shared::<Data>::open_read_only(&name)?;
    /// assert_eq!(reader.pose().writer_status(), WriterStatus::None);
    /// let pose = data.pose();
    /// let w = pose.in_place().writer()?;
    /// assert_eq!(reader.pose().writer_status(), WriterStatus::Alive);
    /// # drop(w);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn writer_status(&self) -> crate::sync::WriterStatus {
        self.loads_only().writer_status()
    }
}

/// The read side of an [`Event`](crate::sync::Event), through any handle.
// Not under loom, where the sync types are not `Layout`.
#[cfg(not(loom))]
impl<A: Access> Ref<'_, crate::sync::Event, A> {
    /// As [`Event::is_signalled`](crate::sync::Event::is_signalled).
    ///
    /// # Example
    /// ```
    /// use shmkit::sync::{Event, EventMode};
    /// #[derive(shmkit::Layout)]
    /// #[repr(C)]
    /// struct Data { ready: Event }
    /// # let name = format!("doc-refev-{}-sig", std::process::id());
    /// let data = shmkit::Shared::<Data>::create(&name)?;
    /// let reader = shmkit::Shared::<Data>::open_read_only(&name)?;
    /// assert!(!reader.ready().is_signalled());
    /// data.ready().in_place().notify_one();
    /// assert!(reader.ready().is_signalled());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is_signalled(&self) -> bool {
        self.loads_only().is_signalled()
    }

    /// As [`Event::mode`](crate::sync::Event::mode).
    ///
    /// # Example
    /// ```
    /// use shmkit::sync::{Event, EventMode};
    /// #[derive(shmkit::Layout)]
    /// #[repr(C)]
    /// struct Data { ready: Event }
    /// # let name = format!("doc-refev-{}-mode", std::process::id());
    /// let data = shmkit::Shared::<Data>::create(&name)?;
    /// let reader = shmkit::Shared::<Data>::open_read_only(&name)?;
    /// assert_eq!(reader.ready().mode(), EventMode::AutoReset);
    /// data.ready().in_place().set_mode(EventMode::ManualReset);
    /// assert_eq!(reader.ready().mode(), EventMode::ManualReset);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn mode(&self) -> crate::sync::EventMode {
        self.loads_only().mode()
    }
}

impl<T: InPlace, A: Access> Ref<'_, T, A> {
    /// The value in place, for the methods above only, each of which loads
    /// and never stores (the mapping may be read-only). Private: a caller
    /// with `&T` could call anything. (The loom build has no `SeqLock` or
    /// `Event` places, so no caller.)
    #[cfg_attr(loom, allow(dead_code))]
    fn loads_only(&self) -> &T {
        // SAFETY:
        // - the pointer is aligned and inside the live mapping (`new`'s
        //   contract), and the result borrows `self`, which borrows it;
        // - `T: InPlace` is only accessed atomically, so other processes'
        //   writes are not data races;
        // - the callers above only call methods of `T` that load, so a
        //   read-only mapping is never written.
        unsafe { self.ptr.as_ref() }
    }
}

// SAFETY: `ptr` is an aligned `T` inside `seg`'s mapping, which the borrow
// keeps alive, and `A` is `Writable` only on a writable mapping (`Ref::new`'s
// contract).
unsafe impl<T: Layout, A: Access> Base for Ref<'_, T, A> {
    type Access = A;
    fn segment(&self) -> &Segment {
        self.seg
    }
    fn addr(&self) -> *mut u8 {
        self.ptr.as_ptr().cast()
    }
}

impl<T: Layout, A: Access> std::ops::Deref for Ref<'_, T, A> {
    type Target = T::Fields<Self>;
    fn deref(&self) -> &Self::Target {
        // SAFETY: `T::Fields<B>` is `#[repr(transparent)]` over `B`
        // (`Layout`'s contract), so the two references have the same layout
        // and validity; the result borrows `self`.
        unsafe { &*(self as *const Self).cast::<Self::Target>() }
    }
}

impl<T: Layout + Copy + fmt::Debug, A: Access> fmt::Debug for Ref<'_, T, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
}

/// Builds the `Ref` of a field at `offset` from a handle.
///
/// # Safety
/// `offset` must be the offset of a field of type `F` inside the value of
/// type `T` at `base.addr()`.
#[doc(hidden)]
pub unsafe fn field<B: Base, F: Layout>(base: &B, offset: usize) -> Ref<'_, F, B::Access> {
    // SAFETY: the field lies inside the value, which lies inside the mapping,
    // and is aligned because the value is (caller's obligation); the access
    // is the handle's, which is `Writable` only on a writable mapping
    // (`Base`).
    unsafe { Ref::new(base.segment(), base.addr().add(offset).cast()) }
}

/// The accessors of a primitive: none beyond [`Ref`]'s own.
#[repr(transparent)]
pub struct NoFields<B>(B);

/// The accessors of an array `[T; N]`, reached by `Deref` from a handle to
/// the array: `data.numbers().at(10)`.
///
/// # Example
/// ```
/// # let name = format!("doc-arrayfields-{}", std::process::id());
/// let grid = shmkit::Shared::<[[u8; 3]; 2]>::create(&name)?;
/// grid.at(1).at(2).set(9)?;
/// assert_eq!(grid.load()?, [[0, 0, 0], [0, 0, 9]]);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[repr(transparent)]
pub struct ArrayFields<B, T, const N: usize>(B, PhantomData<T>);

impl<B: Base, T: Layout, const N: usize> ArrayFields<B, T, N> {
    /// Element `i`.
    ///
    /// # Panics
    /// If `i >= N`, like indexing a slice.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-at-{}", std::process::id());
    /// let nums = shmkit::Shared::<[f32; 50]>::create(&name)?;
    /// nums.at(10).set(1.45)?;
    /// assert_eq!(nums.at(10).get()?, 1.45);
    /// assert_eq!(nums.load()?[10], 1.45);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    /// Past the end it panics, as slice indexing does:
    /// ```should_panic
    /// # let name = format!("doc-at-panic-{}", std::process::id());
    /// let nums = shmkit::Shared::<[f32; 50]>::create(&name).unwrap();
    /// nums.at(50); // index 50 out of bounds for an array of 50
    /// ```
    pub fn at(&self, i: usize) -> Ref<'_, T, B::Access> {
        self.try_at(i)
            .unwrap_or_else(|| panic!("index {i} out of bounds for an array of {N}"))
    }

    /// Element `i`, or `None` if `i >= N`.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-tryat-{}", std::process::id());
    /// let nums = shmkit::Shared::<[u8; 4]>::create(&name)?;
    /// assert!(nums.try_at(3).is_some());
    /// assert!(nums.try_at(4).is_none());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_at(&self, i: usize) -> Option<Ref<'_, T, B::Access>> {
        (i < N).then(|| {
            // SAFETY: element `i < N` of a `[T; N]` at `addr` lies inside it
            // and is aligned for `T`; the access is the handle's.
            unsafe { Ref::new(self.0.segment(), self.0.addr().cast::<T>().add(i)) }
        })
    }

    /// The number of elements, `N`.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-arrlen-{}", std::process::id());
    /// let nums = shmkit::Shared::<[u16; 12]>::create(&name)?;
    /// assert_eq!(nums.len(), 12);
    /// for i in 0..nums.len() {
    ///     nums.at(i).set(i as u16)?;
    /// }
    /// assert_eq!(nums.load()?[11], 11);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        N
    }

    /// Whether `N` is zero.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-arrempty-{}", std::process::id());
    /// let nums = shmkit::Shared::<[u16; 12]>::create(&name)?;
    /// assert!(!nums.is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        N == 0
    }
}

macro_rules! prims {
    ($($t:ty => $p:ident, $inplace:tt;)*) => {$(
        // SAFETY: a fixed-width primitive (or its atomic) has no padding, every
        // bit pattern is valid, and its size does not depend on the target;
        // `ALIGN` is its size, which is at least its alignment everywhere
        // (64-bit atomics are 8-aligned everywhere; plain u64/i64/f64 are
        // 4-aligned on i686, and the derive's offset checks against `ALIGN`
        // rule out any struct whose layout that would change).
        unsafe impl Layout for $t {
            type Fields<B> = NoFields<B>;
            fn describe() -> Ty {
                Ty::Prim(Prim::$p)
            }
            const ALIGN: usize = std::mem::size_of::<$t>();
        }
        prims!(@inplace $t, $inplace);
    )*};
    (@inplace $t:ty, true) => {
        // SAFETY: an atomic is only accessed through atomic operations.
        unsafe impl InPlace for $t {}
    };
    (@inplace $t:ty, false) => {};
}

prims! {
    u8 => U8, false;
    i8 => I8, false;
    u16 => U16, false;
    i16 => I16, false;
    u32 => U32, false;
    i32 => I32, false;
    u64 => U64, false;
    i64 => I64, false;
    f32 => F32, false;
    f64 => F64, false;
    AtomicU8 => AtomicU8, true;
    AtomicI8 => AtomicI8, true;
    AtomicU16 => AtomicU16, true;
    AtomicI16 => AtomicI16, true;
    AtomicU32 => AtomicU32, true;
    AtomicI32 => AtomicI32, true;
    AtomicU64 => AtomicU64, true;
    AtomicI64 => AtomicI64, true;
}

// SAFETY: an array of `Layout` elements has no padding between elements (size
// is a multiple of alignment), every bit pattern is valid, and its layout is
// the element's repeated; `ArrayFields` is `repr(transparent)` over `B` (the
// `PhantomData` is zero-sized).
unsafe impl<T: Layout, const N: usize> Layout for [T; N] {
    type Fields<B> = ArrayFields<B, T, N>;
    fn describe() -> Ty {
        const {
            assert!(
                N <= u32::MAX as usize,
                "arrays in shared memory hold at most u32::MAX elements"
            );
            // A layout description records sizes in 32 bits, as the derive
            // refuses larger structs.
            assert!(
                std::mem::size_of::<[T; N]>() <= u32::MAX as usize,
                "arrays in shared memory are at most 4 GiB (u32::MAX bytes), \
                 the most a layout description records"
            );
        };
        Ty::Array(Box::new(T::describe()), N as u32)
    }
    const ALIGN: usize = T::ALIGN;
}

// SAFETY: an array of atomics is only accessed element by element, atomically.
unsafe impl<T: InPlace, const N: usize> InPlace for [T; N] {}

/// The bytes of a plain [`Layout`] value.
///
/// `Copy` rules out atomics (which are not `Copy`), so nothing can change the
/// bytes while they are borrowed.
pub(crate) fn bytes_of<T: Layout + Copy>(value: &T) -> &[u8] {
    // SAFETY:
    // - `T: Layout` has no padding, so all `size_of::<T>()` bytes are
    //   initialised;
    // - `T: Copy` has no interior mutability, and the borrow of `value` keeps
    //   it alive and unchanged for the slice's lifetime.
    unsafe {
        std::slice::from_raw_parts((value as *const T).cast::<u8>(), std::mem::size_of::<T>())
    }
}

/// The bytes of a plain [`Layout`] value, writable.
pub(crate) fn bytes_of_mut<T: Layout + Copy>(value: &mut T) -> &mut [u8] {
    // SAFETY:
    // - the bytes are initialised (no padding) and exclusively borrowed;
    // - any bytes written are a valid `T` (`Layout`: every bit pattern is).
    unsafe {
        std::slice::from_raw_parts_mut((value as *mut T).cast::<u8>(), std::mem::size_of::<T>())
    }
}

/// An all-zero value, valid for every [`Layout`] type.
pub(crate) fn zeroed<T: Layout>() -> T {
    // SAFETY: `T: Layout` promises every bit pattern, zero included, is valid.
    unsafe { std::mem::zeroed() }
}

/// Support for the derive macro; not public API.
#[doc(hidden)]
pub mod __private {
    pub use std::mem::{align_of, offset_of, size_of};

    /// Whether `n` is a multiple of the power of two `align`, in constant
    /// context (a function, so that no `% 1` lands in the user's code).
    pub const fn aligned(n: usize, align: usize) -> bool {
        n & (align - 1) == 0
    }

    /// The larger of two alignments, in constant context: a derived struct's
    /// `ALIGN` is its own `align_of` (for `repr(align)`) folded with its
    /// fields' `ALIGN`s.
    pub const fn max(a: usize, b: usize) -> usize {
        if a > b {
            a
        } else {
            b
        }
    }

    /// A message built in constant context, so that a derived struct's
    /// padding check can say where the padding is and how much: a `const`
    /// panic takes only a `&str`, not formatted numbers.
    pub struct Msg {
        buf: [u8; 512],
        len: usize,
    }

    impl Msg {
        const fn new() -> Msg {
            Msg {
                buf: [0; 512],
                len: 0,
            }
        }

        /// Appends `s`, whole or (past the buffer's end) not at all, so that
        /// the text stays UTF-8.
        const fn str(mut self, s: &str) -> Msg {
            let b = s.as_bytes();
            if self.len + b.len() > self.buf.len() {
                return self;
            }
            let mut i = 0;
            while i < b.len() {
                self.buf[self.len + i] = b[i];
                i += 1;
            }
            self.len += b.len();
            self
        }

        /// Appends `n` in decimal.
        const fn num(self, mut n: usize) -> Msg {
            let mut digits = [0u8; 20];
            let mut at = digits.len();
            loop {
                at -= 1;
                digits[at] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            let (_, digits) = digits.split_at(at);
            match core::str::from_utf8(digits) {
                Ok(d) => self.str(d),
                Err(_) => self,
            }
        }

        /// The text.
        pub const fn as_str(&self) -> &str {
            let (text, _) = self.buf.split_at(self.len);
            match core::str::from_utf8(text) {
                Ok(text) => text,
                Err(_) => "",
            }
        }
    }

    /// The padding check of field number `index` (`field`, at `offset`) of
    /// the derived struct `name`, whose previous field (`prev`) ends at
    /// `end`: `None` if the field starts there, else a message that says
    /// where the gap is, how large, and which field fills it.
    pub const fn gap_before(
        name: &str,
        prev: &str,
        field: &str,
        index: usize,
        end: usize,
        offset: usize,
    ) -> Option<Msg> {
        if offset <= end {
            return None;
        }
        let gap = offset - end;
        Some(
            Msg::new()
                .str("`")
                .str(name)
                .str("` has ")
                .num(gap)
                .str(if gap == 1 { " byte of " } else { " bytes of " })
                .str("padding at offset ")
                .num(end)
                .str(", before field `")
                .str(field)
                .str("` (at offset ")
                .num(offset)
                .str("), whose contents a peer could see or set: add `_pad")
                .num(index - 1)
                .str(": [u8; ")
                .num(gap)
                .str("]` between `")
                .str(prev)
                .str("` and `")
                .str(field)
                .str("`, or order fields from largest to smallest alignment"),
        )
    }

    /// The tail padding check of the derived struct `name` of `size` bytes,
    /// whose last field, number `index` (`last`), ends at `end`.
    pub const fn gap_after(
        name: &str,
        last: &str,
        index: usize,
        end: usize,
        size: usize,
    ) -> Option<Msg> {
        if size <= end {
            return None;
        }
        let gap = size - end;
        Some(
            Msg::new()
                .str("`")
                .str(name)
                .str("` has ")
                .num(gap)
                .str(if gap == 1 { " byte of " } else { " bytes of " })
                .str("tail padding at offset ")
                .num(end)
                .str(", after its last field `")
                .str(last)
                .str("` (its size is ")
                .num(size)
                .str("), whose contents a peer could see or set: add `_pad")
                .num(index)
                .str(": [u8; ")
                .num(gap)
                .str("]` at the end"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `{a: u32, b: u64}`: the padding hint says where, how much, and the
    /// field that fills it; a field right after the previous one has none.
    #[test]
    fn interior_padding_hint_names_the_field_offset_and_size() {
        #[repr(C)]
        struct P {
            a: u32,
            b: u64,
        }
        let end = std::mem::offset_of!(P, a) + 4;
        let offset = std::mem::offset_of!(P, b);
        let msg = __private::gap_before("P", "a", "b", 1, end, offset);
        if offset == 4 {
            // u64 is 4-aligned here (i686): no padding, the alignment check
            // refuses it instead.
            assert!(msg.is_none());
            eprintln!("skipped the padding message: no padding on this target (u64 4-aligned)");
            return;
        }
        assert_eq!(
            msg.expect("padding").as_str(),
            "`P` has 4 bytes of padding at offset 4, before field `b` (at offset 8), whose \
             contents a peer could see or set: add `_pad0: [u8; 4]` between `a` and `b`, or \
             order fields from largest to smallest alignment"
        );
        assert!(__private::gap_before("P", "", "a", 0, 0, 0).is_none());
    }

    /// `{a: u64, b: u32}`: 4 bytes of tail padding on 64-bit targets.
    #[test]
    fn tail_padding_hint_names_the_size_and_the_last_field() {
        #[repr(C)]
        struct T {
            a: u64,
            b: u32,
        }
        let end = std::mem::offset_of!(T, b) + 4;
        let size = std::mem::size_of::<T>();
        let msg = __private::gap_after("T", "b", 1, end, size);
        if size == 12 {
            assert!(msg.is_none());
            eprintln!("skipped the tail message: no tail padding on this target (u64 4-aligned)");
            return;
        }
        assert_eq!(
            msg.expect("tail padding").as_str(),
            "`T` has 4 bytes of tail padding at offset 12, after its last field `b` (its size \
             is 16), whose contents a peer could see or set: add `_pad1: [u8; 4]` at the end"
        );
        assert!(__private::gap_after("T", "b", 1, 16, 16).is_none());
    }

    /// The message is evaluated where the derive evaluates it: in a constant.
    #[test]
    fn padding_hints_build_in_constant_context() {
        const M: Option<__private::Msg> = __private::gap_before("S", "x", "y", 3, 1, 1234);
        let text = match &M {
            Some(m) => m.as_str(),
            None => panic!("a gap"),
        };
        assert!(
            text.starts_with("`S` has 1233 bytes of padding at offset 1,"),
            "{text}"
        );
        assert!(
            text.contains("add `_pad2: [u8; 1233]` between `x` and `y`"),
            "{text}"
        );
        // Long names are left out whole, never cut inside a character.
        let long = "é".repeat(300);
        let m = __private::gap_after(&long, "z", 0, 1, 2).unwrap();
        assert!(
            m.as_str().starts_with("`` has 1 byte of tail"),
            "{}",
            m.as_str()
        );
    }

    fn sample() -> Ty {
        Ty::Struct(StructTy {
            name: "Outer".into(),
            size: 24,
            align: 8,
            fields: vec![
                Field {
                    name: "a".into(),
                    offset: 0,
                    ty: Ty::Prim(Prim::U64),
                },
                Field {
                    name: "inner".into(),
                    offset: 8,
                    ty: Ty::Struct(StructTy {
                        name: "Inner".into(),
                        size: 8,
                        align: 4,
                        fields: vec![
                            Field {
                                name: "x".into(),
                                offset: 0,
                                ty: Ty::Prim(Prim::F32),
                            },
                            Field {
                                name: "y".into(),
                                offset: 4,
                                ty: Ty::Prim(Prim::I32),
                            },
                        ],
                    }),
                },
                Field {
                    name: "arr".into(),
                    offset: 16,
                    ty: Ty::Array(Box::new(Ty::Prim(Prim::U16)), 4),
                },
            ],
        })
    }

    #[test]
    fn encoding_round_trips() {
        let ty = sample();
        assert_eq!(Ty::decode(&ty.to_bytes()).unwrap(), ty);
        for p in PRIMS {
            assert_eq!(Ty::decode(&Ty::Prim(p).to_bytes()).unwrap(), Ty::Prim(p));
        }
    }

    #[test]
    fn decoding_refuses_every_truncation_and_trailing_bytes() {
        let bytes = sample().to_bytes();
        for n in 0..bytes.len() {
            assert!(Ty::decode(&bytes[..n]).is_err(), "prefix {n}");
        }
        let mut more = bytes.clone();
        more.push(0);
        assert!(Ty::decode(&more).unwrap_err().contains("trailing"));
    }

    #[test]
    fn decoding_refuses_hostile_counts_depth_and_inconsistency() {
        // A struct claiming four billion fields.
        let mut b = vec![TAG_STRUCT, 1, 0, b'S'];
        b.extend(8u32.to_le_bytes());
        b.extend(4u32.to_le_bytes());
        b.extend(u32::MAX.to_le_bytes());
        assert!(Ty::decode(&b).unwrap_err().contains("claims"));
        // Arrays nested 1000 deep.
        let mut deep = Vec::new();
        for _ in 0..1000 {
            deep.push(TAG_ARRAY);
            deep.extend(1u32.to_le_bytes());
        }
        deep.extend([TAG_PRIM, 1]);
        assert!(Ty::decode(&deep).unwrap_err().contains("deeper"));
        // A field past the end of its struct.
        let mut bad = sample();
        if let Ty::Struct(s) = &mut bad {
            s.size = 10;
        }
        assert!(Ty::decode(&bad.to_bytes())
            .unwrap_err()
            .contains("past the struct"));
        // An array whose size overflows.
        let huge = Ty::Array(
            Box::new(Ty::Array(Box::new(Ty::Prim(Prim::U64)), u32::MAX)),
            u32::MAX,
        );
        assert!(Ty::decode(&huge.to_bytes()).is_err());
        assert!(Ty::decode(&[9]).unwrap_err().contains("unknown tag"));
        assert!(Ty::decode(&[TAG_PRIM, 200])
            .unwrap_err()
            .contains("primitive"));
    }

    fn with_field(i: usize, f: impl FnOnce(&mut Field)) -> Ty {
        let mut ty = sample();
        if let Ty::Struct(s) = &mut ty {
            f(&mut s.fields[i]);
        }
        ty
    }

    #[test]
    fn differences_name_the_first_field_that_differs() {
        let here = sample();
        assert_eq!(here.difference(&sample()), None);
        let retyped = with_field(0, |f| f.ty = Ty::Prim(Prim::I64));
        assert_eq!(
            here.difference(&retyped).unwrap(),
            "field `a`: u64 at offset 0 here, i64 at offset 0 in the segment"
        );
        let renamed = with_field(0, |f| f.name = "b".into());
        assert!(here
            .difference(&renamed)
            .unwrap()
            .contains("`a` (u64 at offset 0) here, `b`"));
        let resized = with_field(2, |f| f.ty = Ty::Array(Box::new(Ty::Prim(Prim::U16)), 3));
        assert_eq!(
            here.difference(&resized).unwrap(),
            "field `arr`: [u16; 4] at offset 16 here, [u16; 3] at offset 16 in the segment"
        );
        let moved = with_field(2, |f| f.offset = 18);
        assert!(here
            .difference(&moved)
            .unwrap()
            .contains("offset 16 here, [u16; 4] at offset 18"));
        let nested = with_field(1, |f| {
            if let Ty::Struct(s) = &mut f.ty {
                s.fields[1].ty = Ty::Prim(Prim::U32);
            }
        });
        assert_eq!(
            here.difference(&nested).unwrap(),
            "field `inner.y`: i32 at offset 4 here, u32 at offset 4 in the segment"
        );
        let mut fewer = sample();
        if let Ty::Struct(s) = &mut fewer {
            s.fields.pop();
        }
        assert!(here
            .difference(&fewer)
            .unwrap()
            .contains("`arr` ([u16; 4] at offset 16) is here but not in the segment"));
        assert!(fewer
            .difference(&here)
            .unwrap()
            .contains("is in the segment but not here"));
        assert!(here
            .difference(&Ty::Prim(Prim::U8))
            .unwrap()
            .contains("the type: Outer here, u8 in the segment"));
    }

    #[test]
    fn values_leaves_and_paths() {
        let ty = sample();
        let mut bytes = vec![0u8; 24];
        bytes[..8].copy_from_slice(&7u64.to_le_bytes());
        bytes[12..16].copy_from_slice(&(-3i32).to_le_bytes());
        bytes[18..20].copy_from_slice(&9u16.to_le_bytes());
        let v = ty.read_value(&bytes).unwrap();
        assert_eq!(
            v.to_string(),
            "{ a: 7, inner: { x: 0, y: -3 }, arr: [0, 9, 0, 0] }"
        );
        assert!(ty.read_value(&bytes[..23]).is_err());
        let paths: Vec<String> = ty
            .leaves(2)
            .into_iter()
            .map(|l| format!("{}@{}", l.path, l.offset))
            .collect();
        assert_eq!(
            paths,
            ["a@0", "inner.x@8", "inner.y@12", "arr[0]@16", "arr[1]@18"]
        );
        assert_eq!(ty.find("arr[1]").unwrap(), (18, Prim::U16));
        assert_eq!(ty.find("inner.y").unwrap(), (12, Prim::I32));
        assert!(ty.find("arr[4]").unwrap_err().contains("out of bounds"));
        assert!(ty
            .find("nope")
            .unwrap_err()
            .contains("fields: a, inner, arr"));
        assert!(ty.find("inner").unwrap_err().contains("not a single value"));
        assert!(ty.find("a[0]").unwrap_err().contains("not an array"));
        assert_eq!(Prim::U8.parse("255").unwrap(), [255]);
        assert!(Prim::U8.parse("256").is_err());
        assert_eq!(Prim::F32.parse("2.5").unwrap(), 2.5f32.to_le_bytes());
    }

    /// Found by `cargo fuzz` (header_layout, field_decoder): a few layout
    /// bytes whose value took `read_value` minutes and gigabytes.
    #[test]
    fn decode_refuses_layouts_whose_values_outgrow_their_bytes() {
        let empty = Ty::Struct(StructTy {
            name: "E".into(),
            size: 0,
            align: 1,
            fields: vec![],
        });
        let zero_sized = Ty::Array(Box::new(empty.clone()), u32::MAX);
        let err = Ty::decode(&zero_sized.to_bytes()).unwrap_err();
        assert!(err.contains("would decode to"), "{err}");

        // The same, as a field of a large struct (the CLI decodes fields on
        // their own).
        let inside = Ty::Struct(StructTy {
            name: "S".into(),
            size: 1 << 30,
            align: 1,
            fields: vec![Field {
                name: "grid".into(),
                offset: 0,
                ty: Ty::Array(
                    Box::new(Ty::Array(Box::new(Ty::Prim(Prim::U16)), 0)),
                    1 << 29,
                ),
            }],
        });
        let err = Ty::decode(&inside.to_bytes()).unwrap_err();
        assert!(err.contains("would decode to"), "{err}");

        // 1000 fields laid over the same 8 bytes, in an array of 100_000.
        let field = |i: usize| Field {
            name: format!("f{i}"),
            offset: 0,
            ty: Ty::Prim(Prim::U64),
        };
        let overlapping = Ty::Struct(StructTy {
            name: "O".into(),
            size: 8,
            align: 8,
            fields: (0..1000).map(field).collect(),
        });
        let many = Ty::Array(Box::new(overlapping), 100_000);
        let err = Ty::decode(&many.to_bytes()).unwrap_err();
        assert!(err.contains("would decode to"), "{err}");

        // Real types still decode, down to a few empty ones.
        for ok in [
            sample(),
            Ty::Array(Box::new(Ty::Prim(Prim::U8)), 1 << 24),
            Ty::Array(Box::new(empty), 1000),
            Ty::Array(Box::new(Ty::Array(Box::new(sample()), 64)), 64),
        ] {
            assert_eq!(Ty::decode(&ok.to_bytes()).unwrap(), ok);
        }
    }

    #[test]
    fn rows_flatten_structs_and_keep_arrays_whole() {
        let rows: Vec<(String, u64)> = sample()
            .rows()
            .into_iter()
            .map(|r| (r.path, r.offset))
            .collect();
        assert_eq!(
            rows,
            [
                ("a".into(), 0),
                ("inner.x".into(), 8),
                ("inner.y".into(), 12),
                ("arr".into(), 16)
            ]
        );
        assert_eq!(Ty::Prim(Prim::U8).rows()[0].path, "(value)");
        let row = &sample().rows()[3];
        assert!(row.value(&[0; 20]).is_err(), "two bytes short of the array");
        let long = Value::Array((0..20).map(Value::Unsigned).collect());
        assert_eq!(
            long.short(),
            "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, ... 4 more]"
        );
    }

    /// `ALIGN` is the description's alignment, the same on every target
    /// (this test also runs on i686, where `align_of::<u64>()` is 4).
    #[test]
    fn align_is_the_64_bit_alignment_on_every_target() {
        fn check<T: Layout>(align: usize) {
            assert_eq!(T::ALIGN, align, "{}", std::any::type_name::<T>());
            assert_eq!(T::describe().align() as usize, align);
            assert!(std::mem::align_of::<T>() <= T::ALIGN);
        }
        check::<u8>(1);
        check::<i16>(2);
        check::<f32>(4);
        check::<u64>(8);
        check::<f64>(8);
        check::<[i64; 3]>(8);
        check::<AtomicU64>(8);
        check::<[AtomicU32; 5]>(4);
        #[cfg(not(loom))]
        {
            check::<crate::sync::Mutex<u64>>(8);
            check::<crate::sync::Mutex<[u32; 2]>>(8);
            check::<crate::sync::SeqLock<[u32; 1]>>(8);
            check::<crate::sync::Event>(8);
        }
    }

    #[test]
    fn prim_values_format_little_endian() {
        assert_eq!(Prim::I32.format(&(-5i32).to_le_bytes()), "-5");
        assert_eq!(Prim::F32.format(&1.45f32.to_le_bytes()), "1.45");
        assert_eq!(Prim::U16.format(&88u16.to_le_bytes()), "88");
        assert_eq!(Prim::F64.format(&2.5f64.to_le_bytes()), "2.5");
    }
}

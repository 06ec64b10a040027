//! Tests of `#[derive(shmkit::Layout)]` from outside shmkit, as a user crate
//! sees it: `tests/hostile_names.rs` derives it on structs, fields and paths
//! whose names collide with what a careless expansion would generate, and
//! the doctests below check what the derive refuses at compile time.
//!
//! A layout description records sizes and offsets as `u32`, so a struct
//! larger than 4 GiB is refused rather than described with a truncated size:
//!
//! ```compile_fail,E0080
//! #[derive(shmkit::Layout)]
//! #[repr(C)]
//! struct Huge {
//!     words: [u64; 1 << 29], // exactly 4 GiB: one byte over u32::MAX
//! }
//! ```
//!
//! while the largest size a description holds is accepted and reported
//! exactly (nothing of that size is ever built: `describe` only reads the
//! type's size):
//!
//! ```
//! use shmkit::Layout;
//!
//! #[derive(shmkit::Layout)]
//! #[repr(C)]
//! struct Largest {
//!     bytes: [u8; u32::MAX as usize],
//! }
//! assert_eq!(Largest::describe().size(), u64::from(u32::MAX));
//! ```

//! The one place the messaging code takes its atomics from (crossbeam's
//! `mod primitive`), so that a loom build can swap them in one line.

pub(crate) use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

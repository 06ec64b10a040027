//! The one place the messaging code takes its atomics from (crossbeam's
//! `mod primitive`): loom's under `cfg(loom)`, so that the index protocols
//! can be model-checked (see `queue::loom_tests`).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

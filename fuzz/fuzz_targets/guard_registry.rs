//! The `SIGBUS` guard's registry of mapped ranges against a model:
//! registrations, removals and lookups in any order (`shmkit::__fuzz::guard_registry`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shmkit::__fuzz::guard_registry(data));

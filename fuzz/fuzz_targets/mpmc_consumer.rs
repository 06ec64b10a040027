//! The MPMC consumer reading a ring whose bytes, and scribbles between
//! calls, are attacker-chosen (input format: `shmkit::__fuzz`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shmkit::__fuzz::mpmc_consumer(data));

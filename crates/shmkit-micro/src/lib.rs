//! shmkit's criterion micro-benchmarks live in `benches/` of this crate
//! (`cargo bench -p shmkit-micro --bench queue`, `--bench sync`); the crate
//! itself is empty. It exists so that the benchmarks link the library as a
//! user would, without the failpoints its own tests compile in.

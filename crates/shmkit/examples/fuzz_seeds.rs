//! Writes the seed corpus of the fuzz targets in `fuzz/` (run from the
//! repository root):
//!
//! ```text
//! cargo run -p shmkit --features fuzzing --example fuzz_seeds -- fuzz/corpus
//! ```
//!
//! Each seed is a small valid input: a typed segment's bytes, a layout with a
//! value, or a queue written by a real producer on heap memory.

use std::path::Path;

use shmkit::layout::Layout;
use shmkit::{Segment, Shared};

#[derive(shmkit::Layout, Clone, Copy)]
#[repr(C)]
struct Inner {
    x: f64,
    flags: [u8; 4],
    count: i32,
}

#[derive(shmkit::Layout, Clone, Copy)]
#[repr(C)]
struct Sample {
    value: i32,
    letter: u16,
    _pad: [u8; 2],
    numbers: [f32; 6],
    inner: Inner,
    grid: [[u16; 3]; 2],
    _pad2: [u8; 4],
    total: u64,
}

/// The bytes of a typed segment holding `value`, as another process sees them.
fn segment_bytes<T: Layout + Copy>(value: T) -> Vec<u8> {
    let name = format!("fuzz-seed-{}", std::process::id());
    let shared = Shared::create_with(&name, value).expect("create the seed segment");
    let seg = Segment::open(&name).expect("open the seed segment");
    let mut bytes = vec![0u8; seg.len()];
    seg.read_at(0, &mut bytes).expect("read the seed segment");
    drop(seg);
    drop(shared);
    bytes
}

/// A `field_decoder` input: layout, a path, a text to parse, value bytes.
fn field_input<T: Layout>(path: &str, text: &str, value: &[u8]) -> Vec<u8> {
    let layout = T::describe().to_bytes();
    let mut v = (layout.len() as u16).to_le_bytes().to_vec();
    v.extend(layout);
    v.push(path.len() as u8);
    v.extend(path.as_bytes());
    v.push(text.len() as u8);
    v.extend(text.as_bytes());
    v.extend(value);
    v
}

fn write(dir: &Path, target: &str, seeds: Vec<Vec<u8>>) {
    let dir = dir.join(target);
    std::fs::create_dir_all(&dir).expect("create the corpus directory");
    for (i, seed) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i}")), seed).expect("write a seed");
    }
    println!("{target}: {} seeds", seeds.len());
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus".into());
    let dir = Path::new(&dir);
    let sample = Sample {
        value: -7,
        letter: 65,
        _pad: [0; 2],
        numbers: [1.45, -0.0, 3.0, f32::MAX, 0.1, 2.5],
        inner: Inner {
            x: 0.5,
            flags: [1, 2, 3, 4],
            count: 42,
        },
        grid: [[1, 2, 3], [4, 5, 6]],
        _pad2: [0; 4],
        total: u64::MAX,
    };
    write(
        dir,
        "header_layout",
        vec![
            segment_bytes(sample),
            segment_bytes(123u32),
            segment_bytes([7i16; 5]),
        ],
    );
    let value: Vec<u8> = (0..96u8).collect();
    write(
        dir,
        "field_decoder",
        vec![
            field_input::<Sample>("inner.count", "42", &value),
            field_input::<Sample>("numbers[3]", "1.45", &value),
            field_input::<Sample>("grid[1][2]", "65535", &value[..8]),
            field_input::<[u64; 3]>("[2]", "-1", &value),
            field_input::<u8>("", "255", &[9]),
        ],
    );
    write(dir, "spsc_consumer", shmkit::__fuzz::spsc_seeds());
    write(dir, "mpmc_consumer", shmkit::__fuzz::mpmc_seeds());
    write(
        dir,
        "broadcast_subscriber",
        shmkit::__fuzz::broadcast_seeds(),
    );
}

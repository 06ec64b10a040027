//! Values in shared memory are aligned at their real address, in every
//! process, up to `shmkit::layout::MAX_ALIGN` (a type that needs more does
//! not compile: see the `compile_fail` examples of `MAX_ALIGN`).

mod common;

use common::{role, say, unique, Child, Cleanup};
use shmkit::layout::MAX_ALIGN;
use shmkit::Shared;

#[derive(shmkit::Layout, Clone, Copy)]
#[repr(C, align(4096))]
struct Page {
    words: [u64; 512],
}

#[derive(shmkit::Layout, Clone, Copy)]
#[repr(C, align(256))]
struct Line {
    a: u64,
    _rest: [u8; 248],
}

fn page(seed: u64) -> Page {
    let mut words = [0u64; 512];
    for (i, w) in words.iter_mut().enumerate() {
        *w = seed ^ i as u64;
    }
    Page { words }
}

fn addr<T: shmkit::Layout>(s: &Shared<T>) -> usize {
    s.segment().as_ptr() as usize + s.data_offset()
}

/// Many runs, because a page-aligned mapping puts a value that needs more
/// than its offset provides at an aligned address only in some of them.
const RUNS: usize = 12;

#[test]
fn page_aligned_values_are_aligned_in_every_process_and_every_run() {
    if let Some((_, args)) = role() {
        let typed = Shared::<Page>::open(&args[0]).unwrap();
        let raw = Shared::<Page>::open_raw(&args[1]).unwrap();
        let line = Shared::<Line>::open(&args[2]).unwrap();
        say(&format!(
            "{} {} {} {} {}",
            addr(&typed) % 4096,
            addr(&raw) % 4096,
            addr(&line) % 256,
            typed.load().unwrap().words[511],
            line.a().get().unwrap(),
        ));
        return;
    }
    assert_eq!(MAX_ALIGN, 4096);
    for run in 0..RUNS as u64 {
        let (typed_name, raw_name, line_name) = (unique("al-t"), unique("al-r"), unique("al-l"));
        let _c = (
            Cleanup(typed_name.clone()),
            Cleanup(raw_name.clone()),
            Cleanup(line_name.clone()),
        );
        let typed = Shared::create_with(&typed_name, page(run)).unwrap();
        let raw = Shared::<Page>::create_raw(&raw_name).unwrap();
        raw.store(&page(run)).unwrap();
        let line = Shared::<Line>::create(&line_name).unwrap();
        line.a().set(run).unwrap();
        assert_eq!(addr(&typed) % 4096, 0);
        assert_eq!(addr(&raw) % 4096, 0);
        assert_eq!(addr(&line) % 256, 0);
        let mut child = Child::spawn(
            "page_aligned_values_are_aligned_in_every_process_and_every_run",
            "opener",
            &[&typed_name, &raw_name, &line_name],
        );
        assert_eq!(
            child.recv(),
            format!("0 0 0 {} {run}", run ^ 511),
            "run {run}"
        );
        child.wait_ok();
    }
}

//! Typed segments across real processes: values crossing, the stampede, a
//! creator killed before "ready", and every kind of layout mismatch.
#![allow(missing_docs)] // test types

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{role, say, unique, Child, Cleanup};
use shmkit::{Error, Segment, Shared};

/// The textbook's struct: 4 + 2 + 2 (explicit padding) + 200 = 208 bytes.
#[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct MySharedData {
    pub value: i32,
    pub letter: u16,
    pub _pad: [u8; 2],
    pub numbers: [f32; 50],
}

const _: () = assert!(std::mem::size_of::<MySharedData>() == 208);

/// The same struct, defined again elsewhere (another program would): it must
/// match.
mod again {
    #[derive(shmkit::Layout)]
    #[repr(C)]
    pub struct MySharedData {
        pub value: i32,
        pub letter: u16,
        pub _pad: [u8; 2],
        pub numbers: [f32; 50],
    }
}

/// Variants that must not match, one per kind of difference.
mod variants {
    #[derive(shmkit::Layout)]
    #[repr(C)]
    pub struct Retyped {
        pub value: i32,
        pub letter: u32,
        pub numbers: [f32; 50],
    }
    #[derive(shmkit::Layout)]
    #[repr(C)]
    pub struct Renamed {
        pub value: i32,
        pub character: u16,
        pub _pad: [u8; 2],
        pub numbers: [f32; 50],
    }
    #[derive(shmkit::Layout)]
    #[repr(C)]
    pub struct Reordered {
        pub letter: u16,
        pub _pad: [u8; 2],
        pub value: i32,
        pub numbers: [f32; 50],
    }
    #[derive(shmkit::Layout)]
    #[repr(C)]
    pub struct Resized {
        pub value: i32,
        pub letter: u16,
        pub _pad: [u8; 2],
        pub numbers: [f32; 40],
    }
    #[derive(shmkit::Layout)]
    #[repr(C)]
    pub struct Extended {
        pub value: i32,
        pub letter: u16,
        pub _pad: [u8; 2],
        pub numbers: [f32; 50],
        pub extra: u32,
    }
}

fn sample() -> MySharedData {
    let mut numbers = [0.0; 50];
    numbers[10] = 1.45;
    MySharedData {
        value: 123,
        letter: u16::from(b'X'),
        _pad: [0; 2],
        numbers,
    }
}

#[test]
fn values_cross_between_processes_both_ways() {
    if let Some((_, args)) = role() {
        let data = Shared::<again::MySharedData>::open(&args[0]).unwrap();
        say(&format!(
            "{} {} {}",
            data.value().get().unwrap(),
            char::from(data.letter().get().unwrap() as u8),
            data.numbers().at(10).get().unwrap()
        ));
        data.value().set(456).unwrap();
        data.letter().set(u16::from(b'Y')).unwrap();
        data.numbers().at(10).set(2.5).unwrap();
        say("written");
        return;
    }
    let name = unique("typed");
    let data = Shared::create_with(&name, sample()).unwrap();
    let mut child = Child::spawn(
        "values_cross_between_processes_both_ways",
        "reader",
        &[&name],
    );
    assert_eq!(child.recv(), "123 X 1.45");
    assert_eq!(child.recv(), "written");
    child.wait_ok();
    let now = data.load().unwrap();
    assert_eq!(
        (now.value, now.letter, now.numbers[10]),
        (456, u16::from(b'Y'), 2.5)
    );
}

/// Sixteen processes released at once call `open_or_create_with`: exactly one
/// initialises, and every one sees its value, never the zeroes before it.
#[test]
fn stampede_of_16_has_one_initialiser_and_all_see_its_value() {
    if let Some((_, args)) = role() {
        assert_eq!(common::hear(), "go");
        let data = Shared::<MySharedData>::options()
            .open_or_create_with(&args[0], || {
                // Widen the race window: the others must wait for "ready".
                std::thread::sleep(Duration::from_millis(50));
                sample()
            })
            .unwrap();
        let v = data.load().unwrap();
        say(&format!(
            "{} {} {}",
            data.segment().created(),
            v.value,
            v.numbers[10]
        ));
        assert_eq!(common::hear(), "exit");
        return;
    }
    let name = unique("stampede16");
    let _c = Cleanup(name.clone());
    let test = "stampede_of_16_has_one_initialiser_and_all_see_its_value";
    let mut kids: Vec<Child> = (0..16)
        .map(|_| Child::spawn(test, "racer", &[&name]))
        .collect();
    for k in &mut kids {
        k.send("go");
    }
    let answers: Vec<String> = kids.iter_mut().map(Child::recv).collect();
    assert_eq!(
        answers.iter().filter(|a| a.starts_with("true ")).count(),
        1,
        "{answers:?}"
    );
    assert!(
        answers.iter().all(|a| a.ends_with(" 123 1.45")),
        "{answers:?}"
    );
    for mut k in kids {
        k.send("exit");
        k.wait_ok();
    }
}

/// A creator killed with SIGKILL before it publishes "ready": an opener that
/// is already waiting, and one that comes later, both get `InitAbandoned`
/// promptly instead of spinning.
#[test]
fn creator_killed_before_ready_gives_init_abandoned() {
    if let Some((_, args)) = role() {
        let r = Shared::<MySharedData>::create_with(&args[0], sample());
        unreachable!("the failpoint stops this process before ready: {r:?}");
    }
    let name = unique("abandoned");
    let _c = Cleanup(name.clone());
    let test = "creator_killed_before_ready_gives_init_abandoned";
    let mut cmd = common::command(test, "creator", &[&name]);
    cmd.env("SHMKIT_FAILPOINT", "shared-before-ready");
    let mut creator = Child::start(cmd);
    assert_eq!(creator.recv(), "failpoint shared-before-ready");
    // A waiter that starts while the creator is alive, mid-initialisation.
    let waiter_name = name.clone();
    let waiter = std::thread::spawn(move || {
        let start = std::time::Instant::now();
        let r = Shared::<MySharedData>::options()
            .timeout(Duration::from_secs(30))
            .open(&waiter_name);
        (r.map(drop), start.elapsed())
    });
    std::thread::sleep(Duration::from_millis(200));
    creator.kill9();
    let (r, waited) = waiter.join().unwrap();
    assert!(matches!(r, Err(Error::InitAbandoned { .. })), "{r:?}");
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    // On POSIX the name outlives its creator; on Windows the mapping died
    // with the last handle.
    let err = Shared::<MySharedData>::open(&name).unwrap_err();
    if cfg!(unix) {
        assert!(matches!(err, Error::InitAbandoned { .. }), "{err}");
        assert!(err.to_string().contains("remove it"), "{err}");
    } else {
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
    }
}

/// A creator that is alive but slow gets waited for, up to the timeout.
#[test]
fn slow_creator_gives_init_timeout() {
    if let Some((_, args)) = role() {
        let _ = Shared::<MySharedData>::create_with(&args[0], sample());
        unreachable!();
    }
    let name = unique("slow");
    let _c = Cleanup(name.clone());
    let mut cmd = common::command("slow_creator_gives_init_timeout", "creator", &[&name]);
    cmd.env("SHMKIT_FAILPOINT", "shared-before-ready");
    let mut creator = Child::start(cmd);
    assert_eq!(creator.recv(), "failpoint shared-before-ready");
    let err = Shared::<MySharedData>::options()
        .timeout(Duration::from_millis(300))
        .open(&name)
        .unwrap_err();
    creator.kill9();
    assert!(matches!(err, Error::InitTimeout { .. }), "{err}");
}

/// Each kind of difference, made by a real second process, gives a message
/// naming the first difference.
#[test]
fn layout_mismatch_names_each_kind_of_difference() {
    if let Some((kind, args)) = role() {
        let name = &args[0];
        fn keep<T: 'static>(r: shmkit::Result<T>) -> Box<dyn std::any::Any> {
            Box::new(r.unwrap())
        }
        let _seg = match kind.as_str() {
            "retyped" => keep(Shared::<variants::Retyped>::create(name)),
            "renamed" => keep(Shared::<variants::Renamed>::create(name)),
            "reordered" => keep(Shared::<variants::Reordered>::create(name)),
            "resized" => keep(Shared::<variants::Resized>::create(name)),
            "extended" => keep(Shared::<variants::Extended>::create(name)),
            other => panic!("unknown kind {other}"),
        };
        say("created");
        common::hear();
        return;
    }
    let cases = [
        ("retyped", "field `letter`: u16 at offset 4 here, u32 at offset 4 in the segment"),
        ("renamed", "field 2 of `MySharedData`: `letter` (u16 at offset 4) here, `character` (u16 at offset 4) in the segment"),
        ("reordered", "field 1 of `MySharedData`: `value` (i32 at offset 0) here, `letter` (u16 at offset 0) in the segment"),
        ("resized", "field `numbers`: [f32; 50] at offset 8 here, [f32; 40] at offset 8 in the segment"),
        ("extended", "field `extra` (u32 at offset 208) is in the segment but not here"),
    ];
    for (kind, message) in cases {
        let name = unique(kind);
        let mut child = Child::spawn(
            "layout_mismatch_names_each_kind_of_difference",
            kind,
            &[&name],
        );
        assert_eq!(child.recv(), "created");
        let err = Shared::<MySharedData>::open(&name).unwrap_err();
        child.send("exit");
        child.wait_ok();
        assert!(matches!(err, Error::LayoutMismatch { .. }), "{kind}: {err}");
        assert!(err.to_string().contains(message), "{kind}: {err}");
    }
}

/// A struct of atomics is borrowed in place and used by two processes at once.
#[derive(shmkit::Layout)]
#[shmkit(in_place)]
#[repr(C)]
pub struct Counters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
}

#[test]
fn in_place_atomics_are_shared_between_processes() {
    const N: u64 = if cfg!(miri) { 10 } else { 100_000 };
    if let Some((_, args)) = role() {
        let c = Shared::<Counters>::open(&args[0]).unwrap();
        for _ in 0..N {
            c.get().hits.fetch_add(1, Ordering::Relaxed);
        }
        return;
    }
    let name = unique("atomics");
    let c = Shared::<Counters>::create(&name).unwrap();
    let child = Child::spawn(
        "in_place_atomics_are_shared_between_processes",
        "adder",
        &[&name],
    );
    for _ in 0..N {
        c.get().hits.fetch_add(1, Ordering::Relaxed);
    }
    child.wait_ok();
    assert_eq!(c.get().hits.load(Ordering::Relaxed), 2 * N);
    assert_eq!(c.hits().in_place().load(Ordering::Relaxed), 2 * N);
}

#[test]
fn a_plain_segment_is_not_typed() {
    let name = unique("plain");
    let seg = Segment::create(&name, 4096).unwrap();
    seg.write_at(0, b"not a header").unwrap();
    let err = Shared::<MySharedData>::open(&name).unwrap_err();
    assert!(matches!(err, Error::NotTyped { .. }), "{err}");
    let tiny = unique("tiny");
    let _t = Segment::create(&tiny, 10).unwrap();
    let err = Shared::<MySharedData>::open(&tiny).unwrap_err();
    // Windows reports an opened mapping's size rounded up to a page, so the
    // ten bytes look like a zero-filled page there: not typed either.
    assert!(matches!(err, Error::NotTyped { .. }), "{err}");
    // A zero-filled segment that no typed creator holds is not typed (or not
    // initialised yet), which is no reason to remove it.
    let zero = unique("zeros");
    let _z = Segment::create(&zero, 4096).unwrap();
    let err = Shared::<MySharedData>::open(&zero).unwrap_err();
    assert!(matches!(err, Error::NotTyped { .. }), "{err}");
}

#[test]
fn a_scribbled_header_is_corrupted_not_a_crash() {
    let name = unique("scribble");
    let data = Shared::create_with(&name, sample()).unwrap();
    let seg = data.segment();
    // data_offset past the end, layout_len huge, data_size wrong, hash wrong.
    for (offset, bytes) in [
        (16, u32::MAX.to_le_bytes().to_vec()),
        (20, u32::MAX.to_le_bytes().to_vec()),
        (24, 1u64.to_le_bytes().to_vec()),
        (48, 7u64.to_le_bytes().to_vec()),
        (64, vec![0xFF; 4]),
    ] {
        let mut saved = vec![0; bytes.len()];
        seg.read_at(offset, &mut saved).unwrap();
        seg.write_at(offset, &bytes).unwrap();
        let err = Shared::<MySharedData>::open(&name).unwrap_err();
        assert!(
            matches!(err, Error::Corrupted { .. }),
            "offset {offset}: {err}"
        );
        seg.write_at(offset, &saved).unwrap();
    }
    // Another format version is not corruption: it names both versions.
    seg.write_at(8, &(shmkit::header::VERSION + 1).to_le_bytes())
        .unwrap();
    match Shared::<MySharedData>::open(&name) {
        Err(Error::FormatVersion {
            found, expected, ..
        }) if found == expected + 1 => {}
        other => panic!("another version: {other:?}"),
    }
    seg.write_at(8, &shmkit::header::VERSION.to_le_bytes())
        .unwrap();
    assert_eq!(
        Shared::<MySharedData>::open(&name).unwrap().load().unwrap(),
        sample()
    );
}

#[test]
fn read_only_typed_segments_only_read() {
    let name = unique("typed-ro");
    let _data = Shared::create_with(&name, sample()).unwrap();
    // Writing through a read-only handle does not compile (see the
    // `compile_fail` examples of `ReadOnlyShared`); reading works.
    let ro = Shared::<MySharedData>::open_read_only(&name).unwrap();
    assert!(ro.segment().is_read_only());
    assert_eq!(ro.value().get().unwrap(), 123);
    assert_eq!(ro.load().unwrap(), sample());
}

#[test]
fn array_access_checks_its_bounds() {
    let name = unique("bounds");
    let data = Shared::<MySharedData>::create(&name).unwrap();
    assert_eq!(data.numbers().len(), 50);
    assert!(data.numbers().try_at(50).is_none());
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        data.numbers().at(50).get().unwrap()
    }));
    assert!(caught.is_err());
}

/// Raw segments put `T` at offset 0, for other languages: here Python's
/// `struct` module writes the textbook's 208 bytes.
#[cfg(unix)]
#[test]
fn raw_segments_interoperate_with_python() {
    if !common::python_has_shared_memory() {
        return;
    }
    let name = unique("pyraw");
    let _c = Cleanup(name.clone());
    let data = Shared::<MySharedData>::create_raw(&name).unwrap();
    data.store(&sample()).unwrap();
    let script = r#"
import struct, sys
from multiprocessing import shared_memory
shm = shared_memory.SharedMemory(name=sys.argv[1])
# Python before 3.13 unlinks segments it merely attached to when it exits,
# unless told otherwise.
from multiprocessing import resource_tracker
resource_tracker.unregister(shm._name, "shared_memory")
value, letter = struct.unpack_from("<iH", shm.buf, 0)
n10 = struct.unpack_from("<f", shm.buf, 8 + 40)[0]
print(value, chr(letter), round(n10, 2))
struct.pack_into("<i", shm.buf, 0, 789)
shm.close()
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, &name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "123 X 1.45");
    assert_eq!(data.value().get().unwrap(), 789);
    let raw = Shared::<MySharedData>::open_raw(&name).unwrap();
    assert_eq!(raw.value().get().unwrap(), 789);
    let small = unique("rawsmall");
    let _s = Segment::create(&small, 100).unwrap();
    assert!(matches!(
        Shared::<MySharedData>::open_raw(&small),
        Err(Error::TooSmall { .. })
    ));
}

/// 4 MiB of data: larger than the stack of the thread that creates it.
#[derive(shmkit::Layout)]
#[repr(C)]
pub struct Huge {
    pub words: [u64; 524_288],
}

/// Creating, opening and `open_or_create` of a typed segment never put a `T`
/// on the stack: a value larger than the stack used to overflow it in
/// `create` (found by `tests/hostile.rs`), though `create` only writes zeros.
#[test]
fn a_typed_segment_larger_than_the_stack_creates_and_opens() {
    let name = unique("huge");
    let second = unique("huge-ooc");
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            let huge = Shared::<Huge>::create(&name).unwrap();
            huge.words().at(524_287).set(7).unwrap();
            let opened = Shared::<Huge>::open(&name).unwrap();
            assert_eq!(opened.words().at(524_287).get().unwrap(), 7);
            let same = Shared::<Huge>::open_or_create(&name).unwrap();
            assert!(!same.segment().created());
            assert_eq!(same.words().at(0).get().unwrap(), 0);
            let made = Shared::<Huge>::open_or_create(&second).unwrap();
            assert!(made.segment().created());
            assert_eq!(made.words().at(524_287).get().unwrap(), 0);
            let raw = Shared::<Huge>::create_raw(&unique("huge-raw")).unwrap();
            assert_eq!(raw.segment().len(), 4 << 20);
        })
        .unwrap()
        .join()
        .unwrap();
}

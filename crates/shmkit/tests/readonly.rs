//! A read-only handle (`Shared::open_read_only`, `open_raw_read_only`) maps
//! its segment without write permission, so any write through it would kill
//! this process with `SIGSEGV` (an access violation on Windows). Its type
//! offers loads only (the `compile_fail` examples of `ReadOnlyShared` show
//! what it refuses); these tests show that what it offers works on a live
//! segment that another process writes.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use common::{hear, role, say, unique, Child, Cleanup};
use shmkit::sync::{Event, EventMode, Mutex, SeqLock, WriterStatus};
use shmkit::{Error, Shared};

#[derive(shmkit::Layout)]
#[shmkit(in_place)]
#[repr(C)]
struct Board {
    hits: AtomicU64,
    snapshot: SeqLock<[u64; 2]>,
    ready: Event,
    guard: Mutex<u64>,
}

#[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Plain {
    value: u64,
    numbers: [u32; 4],
}

const TEST: &str = "a_read_only_handle_reads_a_live_segment_written_by_another_process";

#[test]
fn a_read_only_handle_reads_a_live_segment_written_by_another_process() {
    if let Some((_, args)) = role() {
        let board = Shared::<Board>::create(&args[0]).unwrap();
        let plain = Shared::create_with(
            &args[1],
            Plain {
                value: 7,
                numbers: [1, 2, 3, 4],
            },
        )
        .unwrap();
        let raw = Shared::<[u32; 4]>::create_raw(&args[2]).unwrap();
        raw.store(&[10, 20, 30, 40]).unwrap();
        let b = board.get();
        b.hits.fetch_add(41, Ordering::Relaxed);
        b.snapshot.writer().unwrap().write(&[1, 2]);
        b.ready.set_mode(EventMode::ManualReset);
        b.ready.notify_all().unwrap();
        *b.guard.lock().unwrap() = 5;
        say("ready");
        assert_eq!(hear(), "bump");
        b.hits.fetch_add(1, Ordering::Relaxed);
        b.snapshot.writer().unwrap().write(&[3, 4]);
        b.ready.reset().unwrap();
        plain.value().set(8).unwrap();
        raw.place().at(3).set(41).unwrap();
        say("bumped");
        assert_eq!(hear(), "done");
        drop((board, plain, raw));
        return;
    }
    let names = [unique("ro-board"), unique("ro-plain"), unique("ro-raw")];
    let _c = names.clone().map(Cleanup);
    let mut owner = Child::spawn(TEST, "owner", &[&names[0], &names[1], &names[2]]);
    assert_eq!(owner.recv(), "ready");

    let board = Shared::<Board>::open_read_only(&names[0]).unwrap();
    let plain = Shared::<Plain>::open_read_only(&names[1]).unwrap();
    let raw = Shared::<[u32; 4]>::open_raw_read_only(&names[2]).unwrap();
    // Really read-only: a write through any of these would fault.
    for seg in [board.segment(), plain.segment(), raw.segment()] {
        assert!(seg.is_read_only());
    }

    let check = |hits: u64, pair: [u64; 2], signalled: bool, value: u64, last: u32| {
        assert_eq!(board.hits().load(Ordering::Relaxed).unwrap(), hits);
        assert_eq!(board.snapshot().read(), pair);
        assert_eq!(board.snapshot().try_read(), Some(pair));
        assert_eq!(board.snapshot().read_checked().unwrap(), pair);
        assert_eq!(board.snapshot().writer_status(), WriterStatus::None);
        assert_eq!(board.ready().is_signalled(), signalled);
        assert_eq!(board.ready().mode(), EventMode::ManualReset);
        assert_eq!(plain.value().get().unwrap(), value);
        assert_eq!(plain.numbers().at(2).get().unwrap(), 3);
        assert_eq!(
            plain.load().unwrap(),
            Plain {
                value,
                numbers: [1, 2, 3, 4]
            }
        );
        assert_eq!(raw.place().at(3).get().unwrap(), last);
        assert_eq!(raw.load().unwrap(), [10, 20, 30, last]);
    };
    check(41, [1, 2], true, 7, 40);
    // The owner writes on; the reader sees it.
    owner.send("bump");
    assert_eq!(owner.recv(), "bumped");
    check(42, [3, 4], false, 8, 41);

    assert!(owner.exited().is_none(), "the owner is alive throughout");
    owner.send("done");
    owner.wait_ok();
}

/// A read-only handle is its own type: a `Shared`, whose `get` hands out
/// `&T` with methods that write, is never made on a read-only mapping.
#[test]
fn read_only_handles_are_their_own_type_and_writable_ones_stay_writable() {
    let name = unique("ro-types");
    let _c = Cleanup(name.clone());
    let board = Shared::<Board>::create(&name).unwrap();
    assert!(!board.segment().is_read_only());
    // The writable handle keeps every method.
    board.get().hits.store(3, Ordering::Relaxed);
    board.hits().in_place().fetch_add(1, Ordering::Relaxed);
    *board.get().guard.lock().unwrap() += 1;
    assert_eq!(board.hits().load(Ordering::Relaxed).unwrap(), 4);
    let reader: shmkit::ReadOnlyShared<Board> = Shared::open_read_only(&name).unwrap();
    assert_eq!(reader.hits().load(Ordering::Relaxed).unwrap(), 4);
    assert_eq!(reader.data_offset(), board.data_offset());
    // A read-only open of a segment of another layout is refused as a
    // writable one is.
    let err = Shared::<Plain>::open_read_only(&name).unwrap_err();
    assert!(matches!(err, Error::LayoutMismatch { .. }), "{err}");
}

//! A `SeqLock` in a segment whose words a scribbler process writes: the
//! writer word and the sequence word, by real second processes that open
//! the segment by name.
#![cfg(not(loom))]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::{hear, role, say, unique, Child, Cleanup};
use shmkit::sync::{SeqLock, WriterStatus};
use shmkit::{Segment, Shared};

/// Words per value: large enough that a read's copy takes a while.
const WORDS: usize = 256;
type Value = [u64; WORDS];

/// Writes the little-endian `word` at `off` of segment `name` (a scribbler
/// child).
fn scribble(name: &str, off: usize, word: u64) {
    let seg = Segment::open(name).unwrap();
    seg.write_at(off, &word.to_le_bytes()).unwrap();
}

/// A peer writes the writer word as thread id 0 with a nonzero tag: no
/// writer has such a word, so it reads as a dead writer and a new writer
/// takes over (it used to read as `WriterBusy { tid: 0 }` for good).
#[test]
fn a_writer_word_scribbled_to_thread_id_zero_is_taken_over() {
    const TEST: &str = "a_writer_word_scribbled_to_thread_id_zero_is_taken_over";
    if let Some((_, args)) = role() {
        let off: usize = args[1].parse().unwrap();
        scribble(&args[0], off + 8, 0xABCD_u64 << 32);
        say("scribbled");
        return;
    }
    let name = unique("seq-tid0");
    let _c = Cleanup(name.clone());
    let shared = Shared::<SeqLock<[u64; 4]>>::create(&name).unwrap();
    let s = shared.get();
    s.writer().unwrap().write(&[1; 4]);
    let off = shared.data_offset().to_string();
    let mut child = Child::spawn(TEST, "scribbler", &[&name, &off]);
    assert_eq!(child.recv(), "scribbled");
    child.wait_ok();
    assert_eq!(s.writer_status(), WriterStatus::Died);
    let mut w = s
        .writer()
        .expect("a writer word without a thread id is no writer");
    assert_eq!(s.writer_status(), WriterStatus::Alive);
    w.write(&[2; 4]);
    assert_eq!(s.read(), [2; 4]);
}

/// Scribbles of the sequence word, and bursts of writes between them.
const ROUNDS: u64 = 300;
/// Writes per burst.
const BURST: u64 = 50;

/// A writer process holds the writer role throughout and writes in bursts;
/// between two bursts, a scribbler process sets the sequence word to 0, then
/// to `u64::MAX`, `u64::MAX - 3` and on down (odd and even values near the
/// limit); this process reads all along: every value
/// read is one write's, never a mix. The writer goes on from its own
/// sequence number (it used to go on from the scribbled one, writing into
/// the slot that `seq` called complete), and readers check theirs modulo
/// 2^64 (a saturating check accepted any copy once `seq` was near the
/// limit). A scribble that lands in the middle of a write can still make a
/// read overlapping that write accept a mix (see the `SeqLock` module doc),
/// which is why the scribbles here fall between bursts.
#[test]
fn seq_scribbled_to_zero_or_the_limit_under_a_live_writer_never_yields_a_torn_read() {
    const TEST: &str =
        "seq_scribbled_to_zero_or_the_limit_under_a_live_writer_never_yields_a_torn_read";
    if let Some((r, args)) = role() {
        let shared = Shared::<SeqLock<Value>>::open(&args[0]).unwrap();
        if r == "scribbler" {
            let seg = Segment::open(&args[0]).unwrap();
            loop {
                let line = hear();
                let Ok(seq) = line.parse::<u64>() else { break };
                seg.write_at(shared.data_offset(), &seq.to_le_bytes())
                    .unwrap();
                say("scribbled");
            }
            return;
        }
        let mut w = shared.get().writer().unwrap();
        let mut i = 0;
        say("writer");
        while hear() == "burst" {
            for _ in 0..BURST {
                i += 1;
                w.write(&[i; WORDS]);
            }
            say("idle");
        }
        return;
    }
    let name = unique("seq-scrib");
    let _c = Cleanup(name.clone());
    let shared = Shared::<SeqLock<Value>>::create(&name).unwrap();
    let s = shared.get();
    let mut writer = Child::spawn(TEST, "writer", &[&name]);
    assert_eq!(writer.recv(), "writer");
    let mut scribbler = Child::spawn(TEST, "scribbler", &[&name]);
    writer.send("burst");
    assert_eq!(writer.recv(), "idle");
    let stop = AtomicBool::new(false);
    let (reads, torn) = (AtomicU64::new(0), AtomicU64::new(0));
    std::thread::scope(|sc| {
        for _ in 0..2 {
            sc.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let v = s.read();
                    reads.fetch_add(1, Ordering::Relaxed);
                    if v.iter().any(|&x| x != v[0]) {
                        torn.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        for round in 0..ROUNDS {
            writer.send("burst");
            assert_eq!(writer.recv(), "idle");
            // Never a value at most two past an earlier one (nor 0 while
            // a reader may hold the initial 0, which the first burst ends):
            // a read that a preemption stretches over both would accept
            // (the case of the module doc's "What holds").
            let seq = if round == 0 {
                0
            } else {
                u64::MAX - 3 * (round - 1)
            };
            scribbler.send(&seq.to_string());
            assert_eq!(scribbler.recv(), "scribbled");
        }
        writer.send("burst");
        assert_eq!(writer.recv(), "idle");
        stop.store(true, Ordering::Relaxed);
    });
    writer.send("end");
    writer.wait_ok();
    scribbler.send("end");
    scribbler.wait_ok();
    let (reads, torn) = (reads.into_inner(), torn.into_inner());
    assert!(reads > 0, "no read finished");
    assert_eq!(torn, 0, "{torn} of {reads} reads were torn");
    // The last burst's last value, whole.
    assert_eq!(s.read(), [(ROUNDS + 2) * BURST; WORDS]);
}

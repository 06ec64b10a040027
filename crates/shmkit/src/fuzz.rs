//! Entry points for `cargo fuzz` (the `fuzz/` directory), compiled only with
//! the `fuzzing` feature: not part of the API.
//!
//! Each consumer driver takes one input laid out as
//!
//! ```text
//! len: u32 LE          the region's length (clamped to 1 MiB)
//! image: len bytes     the region's bytes, zero where the input runs out
//! ops: the rest        one byte per step, then its arguments
//! ```
//!
//! The image goes through the same header checks as `open`; a consumer then
//! attaches and runs the ops: `0` receive by copy, `1` read in place (SPSC)
//! or receive again, `2` scribble (`offset: u16 LE`, `n: u8`, `n` bytes)
//! into the ring as a hostile peer would between two calls, `3` ask about
//! the peer. Then it drains, a bounded number of times. The property is
//! only that nothing panics, reads out of bounds or loops forever.

use crate::queue::region::Region;
use crate::{broadcast, queue};

/// The `SIGBUS` guard's registry against a model: the input is ops of
/// 9 bytes (`op: u8`, `a: u32 LE`, `b: u32 LE`): op % 3 == 0 registers
/// `a..a + b` (b > 0), 1 unregisters the `a`-th live range, 2 looks up
/// address `a`. A lookup must find a live range containing the address
/// exactly when the model has one. Every range is unregistered at the end,
/// so the static registry starts each input empty.
#[cfg(unix)]
pub fn guard_registry(data: &[u8]) {
    use crate::os::guard::{unregister, Registry, Slot};
    static R: Registry = Registry::new();
    let mut live: Vec<(usize, usize, &'static Slot)> = Vec::new();
    for op in data.chunks_exact(9).take(4096) {
        let a = u32::from_le_bytes([op[1], op[2], op[3], op[4]]) as usize;
        let b = u32::from_le_bytes([op[5], op[6], op[7], op[8]]) as usize;
        match op[0] % 3 {
            0 if b > 0 => live.push((a, b, R.register(a, b, false, -1))),
            1 if !live.is_empty() => {
                let (_, _, slot) = live.swap_remove(a % live.len());
                unregister(slot);
            }
            2 => {
                let inside = |s: usize, l: usize| a.wrapping_sub(s) < l;
                match R.find(a) {
                    Some(slot) => {
                        assert!(live.iter().any(|&(_, _, l)| std::ptr::eq(l, slot)));
                        let (s, l) = slot.range();
                        assert!(inside(s, l), "found a range without the address");
                    }
                    None => assert!(!live.iter().any(|&(s, l, _)| inside(s, l))),
                }
            }
            _ => {}
        }
    }
    for (_, _, slot) in live {
        unregister(slot);
    }
}

/// The largest region a fuzz input may ask for.
const MAX_LEN: usize = 1 << 20;
/// Receives after the ops, at most.
const DRAIN: usize = 64;

/// Splits an input into (region length, image, ops).
fn split(data: &[u8]) -> Option<(usize, &[u8], &[u8])> {
    let (len, rest) = data.split_first_chunk::<4>()?;
    let len = (u32::from_le_bytes(*len) as usize).min(MAX_LEN);
    let (image, ops) = rest.split_at(len.min(rest.len()));
    Some((len, image, ops))
}

/// Writes the bytes of a scribble op into the region, clipped to its end;
/// returns the ops after it.
fn scribble<'a>(region: &Region, ops: &'a [u8]) -> &'a [u8] {
    let [a, b, n, rest @ ..] = ops else {
        return &[];
    };
    let off = usize::from(u16::from_le_bytes([*a, *b]));
    let (bytes, rest) = rest.split_at(usize::from(*n).min(rest.len()));
    let end = (off + bytes.len()).min(region.len());
    if off < end {
        region.store(off, &bytes[..end - off]);
    }
    rest
}

/// Runs the ops against `step` (which gets the op byte) until they end.
fn run(region: &Region, mut ops: &[u8], mut step: impl FnMut(u8)) {
    while let [op, rest @ ..] = ops {
        ops = rest;
        if op % 4 == 2 {
            ops = scribble(region, ops);
        } else {
            step(op % 4);
        }
    }
    for _ in 0..DRAIN {
        step(0);
    }
}

/// An SPSC consumer on an attacker-chosen ring (see the module docs).
pub fn spsc_consumer(data: &[u8]) {
    let Some((len, image, ops)) = split(data) else {
        return;
    };
    let Ok((mut c, region)) = queue::spsc::fuzz::consumer(image, len) else {
        return;
    };
    run(&region, ops, |op| match op {
        0 => {
            let _ = c.try_recv();
        }
        1 => {
            if let Ok(Some(m)) = c.try_read() {
                let mut buf = [0u8; 16];
                let n = m.len().min(buf.len());
                m.read_at(m.len() - n, &mut buf[..n]).unwrap();
                let _ = m.to_vec();
                // Dropped unreleased: read again next time.
            }
        }
        _ => {
            let _ = c.peer();
        }
    });
}

/// An MPMC consumer on an attacker-chosen queue (see the module docs).
pub fn mpmc_consumer(data: &[u8]) {
    let Some((len, image, ops)) = split(data) else {
        return;
    };
    let Ok((mut c, region)) = queue::mpmc::fuzz::consumer(image, len) else {
        return;
    };
    let mut buf = Vec::new();
    run(&region, ops, |op| match op {
        0 | 1 => {
            if let Ok(Some(m)) = c.try_recv() {
                buf = m;
            }
        }
        _ => {
            let _ = c.peer();
        }
    });
    drop(buf);
}

/// A broadcast subscriber on an attacker-chosen ring (see the module docs).
pub fn broadcast_subscriber(data: &[u8]) {
    let Some((len, image, ops)) = split(data) else {
        return;
    };
    let Ok((mut s, region)) = broadcast::fuzz::subscriber(image, len) else {
        return;
    };
    run(&region, ops, |op| match op {
        0 | 1 => {
            let (before, gaps) = (s.cursor(), broadcast::fuzz::gaps(&s));
            if let Err(crate::Error::Lagged { missed, .. }) = s.try_recv() {
                // A lap moves the cursor past what was overwritten; a gap a
                // publisher declared moves the gap baseline on (the message
                // itself comes next). Either way the same loss is not
                // reported again.
                assert!(
                    missed > 0 && (s.cursor() > before || broadcast::fuzz::gaps(&s) != gaps),
                    "a lag moves the cursor or the gap baseline on"
                );
            }
        }
        _ => {
            let _ = s.peer();
        }
    });
}

/// Frames a seed input: `len`, the image, then `ops`.
fn frame(image: Vec<u8>, ops: &[u8]) -> Vec<u8> {
    let mut v = (image.len() as u32).to_le_bytes().to_vec();
    v.extend(image);
    v.extend(ops);
    v
}

/// Seed inputs for [`spsc_consumer`]: rings written by a real producer.
pub fn spsc_seeds() -> Vec<Vec<u8>> {
    let msgs: [&[u8]; 4] = [b"hello", b"", &[7; 20], b"world!!!"];
    vec![
        frame(queue::spsc::fuzz::seed(64, &msgs[..2], 0), &[0, 1, 0]),
        frame(queue::spsc::fuzz::seed(64, &msgs, 2), &[1, 0, 0]),
        frame(
            queue::spsc::fuzz::seed(128, &msgs, 3),
            &[2, 0, 2, 1, 0xff, 0],
        ),
    ]
}

/// Seed inputs for [`mpmc_consumer`].
pub fn mpmc_seeds() -> Vec<Vec<u8>> {
    let msgs: [&[u8]; 3] = [b"one", b"", &[9; 40]];
    vec![
        frame(queue::mpmc::fuzz::seed(2, 8, &msgs[..2], 0), &[0, 0]),
        frame(queue::mpmc::fuzz::seed(4, 48, &msgs, 1), &[0, 3, 0]),
    ]
}

/// Seed inputs for [`broadcast_subscriber`].
pub fn broadcast_seeds() -> Vec<Vec<u8>> {
    let msgs: [&[u8]; 5] = [b"a", b"bb", &[3; 24], b"", b"last"];
    vec![
        frame(broadcast::fuzz::seed(2, 24, &msgs[..1]), &[0, 0]),
        frame(broadcast::fuzz::seed(2, 24, &msgs), &[0, 3, 0]),
        frame(broadcast::fuzz::seed(4, 32, &msgs), &[0]),
    ]
}

//! Import: remote messages published into a local topic of the same
//! geometry, with gaps declared and ends carried.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shmkit::broadcast::Publisher;
use zenoh::sample::{Sample, SampleKind};
use zenoh::{Session, Wait};

use crate::{Geometry, Header, Kind, Stats};

/// What the zenoh callbacks hand the worker, in arrival order.
enum Event {
    Sample(Sample),
    /// The exporter's liveliness token appeared (true) or went (false).
    Alive(bool),
}

/// Events queued at most; a full queue holds the zenoh callback back, and
/// with it the exporter (its puts block), whose own subscriber then lags:
/// loss is counted there, never here.
const QUEUE: usize = 1024;

/// How long after the exporter's token goes an end put may still come.
const END_GRACE: Duration = Duration::from_millis(300);

/// The local end of an imported topic.
struct Local {
    tx: Publisher,
    geometry: Geometry,
    /// The sequence number the next remote message should have (`None`:
    /// take the first one as it comes).
    expect: Option<u64>,
    /// No message published yet. The geometry's `next` is the exporter's
    /// count when it answered, but messages sent before that may already
    /// be here (queued while the topic was being made): the first one
    /// handled may lower `expect`, so they are delivered, not dropped as
    /// stale.
    fresh: bool,
}

/// What the data callback and the worker share.
///
/// While the local topic exists and nothing is queued, the data callback
/// publishes each message itself: no thread hop and no wake-up of the
/// worker per message. Everything else (the first message, which makes the
/// local topic; liveness; messages behind queued ones) goes through the
/// worker's queue, so that messages are published in arrival order.
struct Shared {
    local: Option<Local>,
    /// Whether the exporter was last seen alive (by its token or by a
    /// message): a local topic is (re)made only then.
    wanted: bool,
    /// Samples handed to the worker and not yet handled by it.
    queued: u64,
    /// Set at the stop: the callback drops what comes, and never blocks on
    /// a queue that nobody reads any more.
    closing: bool,
}

/// Imports remote topic `name` until `stop`.
pub(crate) fn run(
    session: &Session,
    prefix: &str,
    name: &str,
    stats: &Arc<Stats>,
    stop: &AtomicBool,
) {
    let (tx_ev, rx_ev) = sync_channel::<Event>(QUEUE);
    let shared = Arc::new(Mutex::new(Shared {
        local: None,
        wanted: true,
        queued: 0,
        closing: false,
    }));
    let t = tx_ev.clone();
    let (sh, st) = (shared.clone(), stats.clone());
    let data = session
        .declare_subscriber(format!("{prefix}/bc/{name}"))
        .callback(move |s| {
            let mut g = sh.lock().unwrap();
            if g.closing {
                return;
            }
            if g.queued == 0 && g.local.is_some() {
                // A local topic exists, so `open` is never called.
                if let Some(w) = on_sample(&s, &mut g.local, &st, &mut || None) {
                    g.wanted = w;
                }
                return;
            }
            g.queued += 1;
            drop(g);
            let _ = t.send(Event::Sample(s));
        })
        .wait();
    let _data = match data {
        Ok(d) => d,
        Err(e) => return stats.problem("failed", format!("zenoh subscriber: {e}")),
    };
    let alive = session
        .liveliness()
        .declare_subscriber(format!("{prefix}/alive/{name}"))
        .history(true)
        .callback(move |s| {
            let _ = tx_ev.send(Event::Alive(s.kind() == SampleKind::Put));
        })
        .wait();
    let _alive = match alive {
        Ok(a) => a,
        Err(e) => return stats.problem("failed", format!("zenoh liveliness subscriber: {e}")),
    };
    let geo_key = format!("{prefix}/geo/{name}");
    let mut next_try = Instant::now();
    // When the token went: the local topic is abandoned at this instant
    // unless an end put comes first.
    let mut gone: Option<Instant> = None;
    // The local topic is made by this thread only, outside the lock: the
    // geometry query waits for a reply that comes through zenoh's receive
    // path, which the data callback would hold up while it waits for the
    // lock.
    let lacks_local = || {
        let g = shared.lock().unwrap();
        g.local.is_none() && g.wanted
    };
    stats.set_state("waiting for the exporter");
    while !stop.load(Ordering::SeqCst) {
        if lacks_local() {
            let mut l = None;
            try_open(&mut l, &mut next_try, session, &geo_key, name, stats);
            if l.is_some() {
                shared.lock().unwrap().local = l;
            }
        }
        if gone.is_some_and(|at| Instant::now() >= at) {
            gone = None;
            if let Some(l) = shared.lock().unwrap().local.take() {
                // No end was announced: the exporter or its publisher
                // died, or the link was lost for the lease.
                l.tx.abandon();
                stats.set_state("exporter gone (died or link lost past the lease)");
            }
        }
        let ev = match rx_ev.recv_timeout(Duration::from_millis(50)) {
            Ok(ev) => ev,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        match ev {
            Event::Alive(true) => {
                shared.lock().unwrap().wanted = true;
                gone = None;
                next_try = Instant::now();
            }
            Event::Alive(false) => {
                shared.lock().unwrap().wanted = false;
                // Zenoh carries the token's end and the data on different
                // priorities, so an end put sent before the token went may
                // come after it: wait a little for it before calling the
                // topic dead.
                gone.get_or_insert(Instant::now() + END_GRACE);
            }
            Event::Sample(s) => {
                // A message with no local topic makes one (outside the
                // lock, as above); an end or garbage does not.
                let message = matches!(
                    s.attachment().map(|a| Header::parse(&a.to_bytes())),
                    Some(Ok(Header {
                        kind: Kind::Message,
                        ..
                    }))
                );
                let mut made = None;
                if message && shared.lock().unwrap().local.is_none() {
                    try_open(&mut made, &mut next_try, session, &geo_key, name, stats);
                }
                let mut g = shared.lock().unwrap();
                g.queued -= 1;
                if let Some(w) = on_sample(&s, &mut g.local, stats, &mut || made.take()) {
                    g.wanted = w;
                }
            }
        }
    }
    // A clean stop: local subscribers get `Closed`.
    let mut g = shared.lock().unwrap();
    g.closing = true;
    drop(g.local.take());
}

/// Makes the local topic if it is time to try again (at most every half
/// second while it fails).
fn try_open(
    local: &mut Option<Local>,
    next_try: &mut Instant,
    session: &Session,
    geo_key: &str,
    name: &str,
    stats: &Stats,
) {
    if Instant::now() < *next_try {
        return;
    }
    *local = open_local(session, geo_key, name, stats);
    if local.is_some() {
        stats.set_state("live");
    } else {
        *next_try = Instant::now() + Duration::from_millis(500);
    }
}

/// Handles one put on the data key; `open` makes the local topic if there
/// is none. Returns whether the put shows the exporter wants a local topic
/// (a message: `Some(true)`) or ended it (`Some(false)`); `None` for a put
/// dropped as garbage, which says nothing.
fn on_sample(
    s: &Sample,
    local: &mut Option<Local>,
    stats: &Stats,
    open: &mut dyn FnMut() -> Option<Local>,
) -> Option<bool> {
    let header = match s.attachment().map(|a| Header::parse(&a.to_bytes())) {
        Some(Ok(h)) => h,
        Some(Err(why)) => {
            stats.garbage.fetch_add(1, Ordering::Relaxed);
            stats.problem(&current(stats), format!("dropped a put: {why}"));
            return None;
        }
        None => {
            stats.garbage.fetch_add(1, Ordering::Relaxed);
            stats.problem(
                &current(stats),
                "dropped a put without an attachment (not from a shmkit bridge)".into(),
            );
            return None;
        }
    };
    match header.kind {
        Kind::Closed => {
            if let Some(l) = local.take() {
                trailing_gap(l, header.seq, stats);
                stats.set_state("remote publisher closed");
            }
            Some(false)
        }
        Kind::Died => {
            if let Some(mut l) = local.take() {
                l = trailing_gap(l, header.seq, stats);
                l.tx.abandon();
                stats.set_state("remote publisher died");
            }
            Some(false)
        }
        Kind::Message => {
            if local.is_none() {
                *local = open();
            }
            let Some(l) = local.as_mut() else {
                return Some(true);
            };
            let payload = s.payload().to_bytes();
            if payload.len() as u64 > l.geometry.max_message {
                // Not published: `expect` stays, so the next message
                // declares this one missed.
                stats.oversized.fetch_add(1, Ordering::Relaxed);
                stats.problem(
                    "live",
                    format!(
                        "dropped message {}: {} bytes, the topic carries up to {}",
                        header.seq,
                        payload.len(),
                        l.geometry.max_message
                    ),
                );
                return Some(true);
            }
            if l.fresh {
                l.fresh = false;
                if l.expect.is_some_and(|e| header.seq < e) {
                    l.expect = Some(header.seq);
                }
            }
            let gap = match l.expect {
                None => 0,
                Some(e) if header.seq >= e => header.seq - e,
                Some(e) => {
                    stats.stale.fetch_add(1, Ordering::Relaxed);
                    stats.problem(
                        "live",
                        format!("dropped message {}: expected {e} or later", header.seq),
                    );
                    return Some(true);
                }
            };
            match l
                .tx
                .send_after_gap(gap.min(u64::from(u32::MAX)) as u32, &payload)
            {
                Ok(()) => {
                    l.expect = Some(header.seq + 1);
                    stats.messages.fetch_add(1, Ordering::Relaxed);
                    stats.missed.fetch_add(gap, Ordering::Relaxed);
                }
                Err(e) => stats.problem("live", format!("local publish: {e}")),
            }
            Some(true)
        }
    }
}

/// Declares the messages missed after the last one carried, which an end
/// put numbered `next` shows (the exporter was lapped just before the end).
fn trailing_gap(mut l: Local, next: u64, stats: &Stats) -> Local {
    if let Some(e) = l.expect {
        if next > e {
            let gap = next - e;
            l.tx.declare_gap(gap.min(u64::from(u32::MAX)) as u32);
            stats.missed.fetch_add(gap, Ordering::Relaxed);
        }
    }
    l
}

fn current(stats: &Stats) -> String {
    stats.state.lock().unwrap().0.clone()
}

/// Asks the exporter for the geometry and makes or opens the local topic
/// with it. `None` (with the reason in the status) if no exporter answers,
/// the answer is bad, or the local topic cannot be used.
fn open_local(session: &Session, geo_key: &str, name: &str, stats: &Stats) -> Option<Local> {
    let replies = match session
        .get(geo_key)
        .timeout(Duration::from_millis(1000))
        .wait()
    {
        Ok(r) => r,
        Err(e) => {
            stats.problem("waiting for the exporter", format!("geometry query: {e}"));
            return None;
        }
    };
    let mut geometry = None;
    while let Ok(reply) = replies.recv() {
        match reply.result() {
            Ok(sample) => match Geometry::parse(&sample.payload().to_bytes()) {
                Ok(g) => {
                    geometry = Some(g);
                    break;
                }
                Err(why) => {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                    stats.problem("refused", format!("geometry from the exporter: {why}"));
                }
            },
            Err(e) => stats.problem(
                "waiting for the exporter",
                format!(
                    "geometry query answered with an error: {:?}",
                    e.payload().to_bytes()
                ),
            ),
        }
    }
    let Some(g) = geometry else {
        if current(stats) != "refused" {
            stats.set_state("waiting for the exporter");
        }
        return None;
    };
    // An existing local topic is checked before attaching to it, so that a
    // refusal leaves it as it was.
    if let Ok(seg) = shmkit::Segment::open(name) {
        if let Some(Ok(info)) = shmkit::queue::inspect(&seg) {
            if info.kind != "broadcast"
                || info.capacity != g.slots
                || info.max_message != g.max_message
            {
                stats.refused.fetch_add(1, Ordering::Relaxed);
                stats.problem(
                    "refused",
                    format!(
                        "geometry mismatch: local {name} is a {} of {} slots for up to {} bytes, \
                         the remote topic has {} slots for up to {} bytes; use another name, or \
                         once no process uses the local one, remove it",
                        info.kind, info.capacity, info.max_message, g.slots, g.max_message
                    ),
                );
                return None;
            }
        }
    }
    match Publisher::open_or_create(name, g.slots as usize, g.max_message as usize) {
        // Counted from the exporter's next message on: what it misses from
        // there, at its start too, reaches local subscribers as a gap.
        Ok(tx) if tx.slots() == g.slots && tx.max_message() == g.max_message => Some(Local {
            tx,
            geometry: g,
            expect: Some(g.next),
            fresh: true,
        }),
        Ok(tx) => {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            stats.problem(
                "refused",
                format!(
                    "geometry mismatch: local {name} has {} slots for up to {} bytes, the remote \
                     {} for up to {}",
                    tx.slots(),
                    tx.max_message(),
                    g.slots,
                    g.max_message
                ),
            );
            None
        }
        Err(e) => {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            stats.problem("refused", format!("local topic {name}: {e}"));
            None
        }
    }
}

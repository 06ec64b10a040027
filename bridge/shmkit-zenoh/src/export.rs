//! Export: one more subscriber of a local topic, one put per message.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shmkit::broadcast::Subscriber;
use shmkit::queue::Peer;
use shmkit::Error;
use zenoh::qos::CongestionControl;
use zenoh::{Session, Wait};

use crate::{pause, Geometry, Header, Kind, Stats};

/// How long one receive waits before the stop flag is looked at again.
const POLL: Duration = Duration::from_millis(100);

/// The next local message (or what ended the wait): looked for every
/// time the CPU comes back for `poll` (see [`Options::export_poll`]), then
/// waited for, parked, for at most [`POLL`].
///
/// [`Options::export_poll`]: crate::Options::export_poll
fn next_message(rx: &mut Subscriber, poll: Duration) -> shmkit::Result<Vec<u8>> {
    if !poll.is_zero() {
        let start = Instant::now();
        loop {
            match rx.try_recv() {
                Ok(Some(m)) => return Ok(m),
                Ok(None) if start.elapsed() < poll => std::thread::yield_now(),
                Ok(None) => break,
                Err(e) => return Err(e),
            }
        }
    }
    rx.recv_timeout(POLL)
}

/// Exports local topic `name` until `stop`; exporters poll for `poll`
/// after each message.
pub(crate) fn run(
    session: &Session,
    prefix: &str,
    name: &str,
    stats: &Stats,
    stop: &AtomicBool,
    poll: Duration,
) {
    let data_key = format!("{prefix}/bc/{name}");
    let alive_key = format!("{prefix}/alive/{name}");
    let geometry: Arc<Mutex<Option<Geometry>>> = Arc::default();
    let publisher = match session
        .declare_publisher(data_key.clone())
        .congestion_control(CongestionControl::Block)
        .wait()
    {
        Ok(p) => p,
        Err(e) => return stats.problem("failed", format!("zenoh publisher on {data_key}: {e}")),
    };
    // The next message's sequence number, for importers that start now.
    let next = Arc::new(AtomicU64::new(0));
    let (geo, nx) = (geometry.clone(), next.clone());
    let queryable = session
        .declare_queryable(format!("{prefix}/geo/{name}"))
        .callback(move |q| {
            let g = *geo.lock().unwrap();
            if let Some(mut g) = g {
                g.next = nx.load(Ordering::SeqCst);
                let _ = q.reply(q.key_expr().clone(), g.to_bytes().to_vec()).wait();
            }
        })
        .wait();
    let _queryable = match queryable {
        Ok(q) => q,
        Err(e) => return stats.problem("failed", format!("zenoh queryable: {e}")),
    };
    let end = |kind: Kind, seq: u64| {
        let _ = publisher
            .put(Vec::<u8>::new())
            .attachment(Header { seq, kind }.to_bytes().to_vec())
            .wait();
    };
    // Outer loop: (re)open the local topic.
    'open: while !stop.load(Ordering::SeqCst) {
        let mut rx = match Subscriber::open(name) {
            Ok(rx) => rx,
            Err(e) => {
                // Counted once per refusal, not per retry.
                let why = format!("local topic {name}: {e}");
                let again = stats.state.lock().unwrap().1.as_deref() == Some(why.as_str());
                if !again {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                }
                stats.problem("refused", why);
                if pause(stop, Duration::from_millis(500)) {
                    return;
                }
                continue;
            }
        };
        // The number of the next message, counting what this subscriber was
        // lapped past and what upstream declared missed.
        let mut seq = rx.cursor();
        next.store(seq, Ordering::SeqCst);
        *geometry.lock().unwrap() = Some(Geometry {
            slots: rx.slots(),
            max_message: rx.max_message(),
            next: seq,
        });
        let mut token = None;
        stats.set_state("waiting for the local publisher");
        'recv: loop {
            if stop.load(Ordering::SeqCst) {
                if token.take().is_some() {
                    end(Kind::Closed, seq);
                }
                return;
            }
            if token.is_none() && rx.peer() == Peer::Alive {
                match session.liveliness().declare_token(alive_key.clone()).wait() {
                    Ok(t) => token = Some(t),
                    Err(e) => stats.problem("live", format!("liveliness token: {e}")),
                }
                stats.set_state("live");
            }
            match next_message(&mut rx, poll) {
                Ok(buf) => {
                    // The Vec moves into the put: no second copy.
                    let r = publisher
                        .put(buf)
                        .attachment(
                            Header {
                                seq,
                                kind: Kind::Message,
                            }
                            .to_bytes()
                            .to_vec(),
                        )
                        .wait();
                    if let Err(e) = r {
                        stats.problem("live", format!("zenoh put: {e}"));
                    }
                    seq += 1;
                    next.store(seq, Ordering::SeqCst);
                    stats.messages.fetch_add(1, Ordering::Relaxed);
                }
                Err(Error::Lagged { missed, .. }) => {
                    seq += missed;
                    next.store(seq, Ordering::SeqCst);
                    stats.missed.fetch_add(missed, Ordering::Relaxed);
                }
                Err(Error::Timeout { .. }) => {}
                Err(e) => {
                    let (kind, state) = match e {
                        Error::Closed { .. } => (Kind::Closed, "local publisher closed"),
                        Error::PeerDied { .. } => (Kind::Died, "local publisher died"),
                        _ => (Kind::Died, "local topic unreadable"),
                    };
                    if token.take().is_some() {
                        end(kind, seq);
                    }
                    if kind == Kind::Died && state == "local topic unreadable" {
                        stats.problem(state, e.to_string());
                    } else {
                        stats.set_state(state);
                    }
                    // Wait for a publisher to take the same ring over (the
                    // cursor goes on), or for a new ring under the name.
                    loop {
                        if pause(stop, Duration::from_millis(200)) {
                            return;
                        }
                        if rx.peer() == Peer::Alive {
                            continue 'recv;
                        }
                        if let Ok(fresh) = Subscriber::open(name) {
                            if fresh.peer() != Peer::Closed && fresh.peer() != Peer::Died {
                                drop(fresh);
                                continue 'open;
                            }
                        }
                    }
                }
            }
        }
    }
}

//! Carries shmkit broadcast topics between hosts over Eclipse Zenoh.
//!
//! A local publisher and its local subscribers change nothing: on the
//! publishing host the bridge *exports* a topic as one more
//! [`Subscriber`](shmkit::broadcast::Subscriber), so the publisher never
//! waits for remote readers; on another host a bridge *imports* it into a
//! local broadcast topic of the same geometry, which local subscribers read
//! as any other.
//!
//! # What goes over the wire
//! For an exported topic `NAME` under prefix `P`:
//!
//! | key            | what                                                     |
//! |----------------|----------------------------------------------------------|
//! | `P/bc/NAME`    | one put per message; payload = the message bytes         |
//! | `P/geo/NAME`   | a queryable answering the geometry (see [`Geometry`])    |
//! | `P/alive/NAME` | a liveliness token, held while the local publisher lives |
//!
//! Each put carries a 13-byte attachment ([`Header`]): the bridge format
//! version (u32 LE, [`FORMAT`]), the message's sequence number (u64 LE) and
//! its kind (u8: 0 a message, 1 the publisher closed, 2 it died). Sequence
//! numbers count every message the local topic had, so messages the
//! exporter was lapped past leave a hole the importer sees; the importer
//! declares each hole with
//! [`Publisher::send_after_gap`](shmkit::broadcast::Publisher::send_after_gap),
//! and local subscribers get [`Lagged`](shmkit::Error::Lagged) with the
//! exact count, whether the messages were lost on the exporting host, on
//! the link, or dropped by the importer as too large.
//!
//! # Ends
//! A local publisher that closes or dies is announced by a put of kind 1
//! or 2, then the token goes. The importer ends its local topic as the
//! remote one ended: it drops its publisher (local subscribers get
//! [`Closed`](shmkit::Error::Closed)) or
//! [abandons](shmkit::broadcast::Publisher::abandon) it (they get
//! [`PeerDied`](shmkit::Error::PeerDied)). A token that goes without such
//! a put (the exporting bridge was killed, or the link was silent for the
//! lease) reads as a death too. When the token comes back, the importer
//! creates its local topic again and traffic resumes.
//!
//! # Bad input
//! Nothing from the network is trusted: a put without a valid attachment
//! (a foreign publisher on the key), a message larger than the topic's
//! largest, a sequence number that goes back, a geometry that is out of
//! range or differs from an existing local topic are dropped or refused and
//! counted in [`TopicStatus`]; none stops the bridge.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use zenoh::{Config, Session, Wait};

mod export;
mod import;

/// The bridge's wire format version, carried in every put's attachment.
pub const FORMAT: u32 = 1;

/// The largest slot count and message size an importer accepts from a
/// remote geometry (as shmkit's own limits).
const MAX_SLOTS: u64 = 1 << 24;
const MAX_MESSAGE: u64 = 1 << 30;

/// The kind of a put, in its attachment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A message of the topic.
    Message = 0,
    /// The local publisher closed cleanly.
    Closed = 1,
    /// The local publisher died (or the topic became unreadable).
    Died = 2,
}

/// A put's attachment: format version, sequence number, kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The number of the message (or, for an end, of the next one).
    pub seq: u64,
    /// What the put is.
    pub kind: Kind,
}

impl Header {
    /// Its 13 bytes.
    pub fn to_bytes(self) -> [u8; 13] {
        let mut b = [0u8; 13];
        b[..4].copy_from_slice(&FORMAT.to_le_bytes());
        b[4..12].copy_from_slice(&self.seq.to_le_bytes());
        b[12] = self.kind as u8;
        b
    }

    /// Decodes an attachment; `Err` says why it is not one of ours.
    ///
    /// # Errors
    /// A wrong length, format version or kind.
    pub fn parse(b: &[u8]) -> Result<Header, String> {
        if b.len() != 13 {
            return Err(format!("attachment of {} bytes, not 13", b.len()));
        }
        let version = u32::from_le_bytes(b[..4].try_into().unwrap());
        if version != FORMAT {
            return Err(format!(
                "bridge format version {version}, this bridge reads {FORMAT}"
            ));
        }
        let kind = match b[12] {
            0 => Kind::Message,
            1 => Kind::Closed,
            2 => Kind::Died,
            k => return Err(format!("unknown kind {k}")),
        };
        Ok(Header {
            seq: u64::from_le_bytes(b[4..12].try_into().unwrap()),
            kind,
        })
    }
}

/// A topic's geometry, as the exporter's queryable answers it: format
/// version (u32 LE), slots (u64 LE), largest message (u64 LE), and the
/// sequence number of the next message the exporter will put (u64 LE), from
/// which an importer that starts now counts what it misses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Slot count (a power of two).
    pub slots: u64,
    /// The largest message, in bytes.
    pub max_message: u64,
    /// The sequence number of the exporter's next message.
    pub next: u64,
}

impl Geometry {
    /// Its 28 bytes.
    pub fn to_bytes(self) -> [u8; 28] {
        let mut b = [0u8; 28];
        b[..4].copy_from_slice(&FORMAT.to_le_bytes());
        b[4..12].copy_from_slice(&self.slots.to_le_bytes());
        b[12..20].copy_from_slice(&self.max_message.to_le_bytes());
        b[20..28].copy_from_slice(&self.next.to_le_bytes());
        b
    }

    /// Decodes and checks a geometry reply.
    ///
    /// # Errors
    /// A wrong length or version, or a geometry out of shmkit's range.
    pub fn parse(b: &[u8]) -> Result<Geometry, String> {
        if b.len() != 28 {
            return Err(format!("geometry of {} bytes, not 28", b.len()));
        }
        let version = u32::from_le_bytes(b[..4].try_into().unwrap());
        if version != FORMAT {
            return Err(format!(
                "bridge format version {version}, this bridge reads {FORMAT}"
            ));
        }
        let g = Geometry {
            slots: u64::from_le_bytes(b[4..12].try_into().unwrap()),
            max_message: u64::from_le_bytes(b[12..20].try_into().unwrap()),
            next: u64::from_le_bytes(b[20..28].try_into().unwrap()),
        };
        if !g.slots.is_power_of_two() || g.slots > MAX_SLOTS || g.max_message > MAX_MESSAGE {
            return Err(format!(
                "{} slots for messages of up to {} bytes is out of range",
                g.slots, g.max_message
            ));
        }
        Ok(g)
    }
}

/// How the bridge meets its peers, and what it carries.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Endpoints to listen on (`tcp/IP:PORT`); nothing else is listened on.
    pub listen: Vec<String>,
    /// Endpoints to connect to (retried in the background until they answer).
    pub connect: Vec<String>,
    /// Local topics to carry out.
    pub export: Vec<String>,
    /// Remote topics to carry in.
    pub import: Vec<String>,
    /// Key prefix (default `shmkit`).
    pub prefix: Option<String>,
    /// A zenoh configuration file (JSON5): TLS, authentication, and any
    /// other zenoh setting; the options above override its endpoints.
    pub config: Option<std::path::PathBuf>,
    /// The link lease in milliseconds (zenoh's default is 10 000): how
    /// long a silent link lasts before the peer is declared gone.
    pub lease_ms: Option<u64>,
    /// How long an exporter keeps looking for the next local message after
    /// each one, yielding the CPU between looks, before it parks (zero, the
    /// default: it parks at once, after the subscriber's usual short spin).
    /// Polling trades otherwise idle CPU time for latency: a parked
    /// exporter costs the local publisher a wake-up per message, and a
    /// wake-up of a sleeping CPU is slow on many virtual machines. See
    /// docs/bridge.md for what it buys and costs.
    pub export_poll: Duration,
}

/// The zenoh configuration the bridge opens its session with: the file if
/// one is given, then peer mode, the endpoints given (and only those),
/// multicast and gossip scouting off, background reconnection, the lease.
///
/// # Errors
/// A configuration file that cannot be read, or a value zenoh refuses.
pub fn zenoh_config(o: &Options) -> Result<Config, String> {
    let mut c = match &o.config {
        Some(p) => Config::from_file(p).map_err(|e| format!("config file {}: {e}", p.display()))?,
        None => Config::default(),
    };
    let json = |v: &[String]| {
        let items: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
        format!("[{}]", items.join(","))
    };
    let mut set = |k: &str, v: String| {
        c.insert_json5(k, &v)
            .map_err(|e| format!("zenoh setting {k} = {v}: {e}"))
    };
    set("mode", "\"peer\"".into())?;
    set("listen/endpoints", json(&o.listen))?;
    set("connect/endpoints", json(&o.connect))?;
    // Endpoints that do not answer yet are retried in the background (an
    // infinite global timeout with no exit on failure), also after a lost
    // link.
    set("connect/timeout_ms", "-1".into())?;
    set("connect/exit_on_failure", "false".into())?;
    set(
        "connect/retry",
        "{period_init_ms: 100, period_max_ms: 500, period_increase_factor: 2}".into(),
    )?;
    set("scouting/multicast/enabled", "false".into())?;
    set("scouting/gossip/enabled", "false".into())?;
    if let Some(ms) = o.lease_ms {
        set("transport/link/tx/lease", ms.to_string())?;
    }
    Ok(c)
}

/// Which way a topic goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// A local topic carried out.
    Export,
    /// A remote topic carried in.
    Import,
}

/// Counters and state of one topic, shared with its worker thread.
#[derive(Debug, Default)]
struct Stats {
    /// Messages carried.
    messages: AtomicU64,
    /// Messages known missed: lapped locally (export), or declared to local
    /// subscribers as gaps (import).
    missed: AtomicU64,
    /// Puts dropped: too large for the local topic.
    oversized: AtomicU64,
    /// Puts dropped: no valid attachment (not from a shmkit bridge).
    garbage: AtomicU64,
    /// Puts dropped: sequence number behind one already carried.
    stale: AtomicU64,
    /// Times the topic was refused (unknown name, geometry mismatch, ...).
    refused: AtomicU64,
    /// What the topic is doing, and the last problem.
    state: Mutex<(String, Option<String>)>,
}

impl Stats {
    fn set_state(&self, state: &str) {
        self.state.lock().unwrap().0 = state.to_owned();
    }

    fn problem(&self, state: &str, why: String) {
        let mut s = self.state.lock().unwrap();
        s.0 = state.to_owned();
        s.1 = Some(why);
    }
}

/// A snapshot of one topic's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicStatus {
    /// The topic's name.
    pub name: String,
    /// Export or import.
    pub direction: Direction,
    /// What it is doing (`live`, `waiting`, `refused`, `closed`, `died`...).
    pub state: String,
    /// Messages carried.
    pub messages: u64,
    /// Messages known missed (see the crate docs).
    pub missed: u64,
    /// Puts dropped as larger than the topic's largest message.
    pub oversized: u64,
    /// Puts dropped as not from a shmkit bridge.
    pub garbage: u64,
    /// Puts dropped as behind one already carried.
    pub stale: u64,
    /// Times the topic was refused.
    pub refused: u64,
    /// The last problem, if any.
    pub last_error: Option<String>,
}

impl TopicStatus {
    /// One status line.
    pub fn line(&self) -> String {
        let dir = match self.direction {
            Direction::Export => "export",
            Direction::Import => "import",
        };
        let mut s = format!(
            "{dir} {}: {} messages={} missed={} oversized={} garbage={} stale={} refused={}",
            self.name,
            self.state,
            self.messages,
            self.missed,
            self.oversized,
            self.garbage,
            self.stale,
            self.refused
        );
        if let Some(e) = &self.last_error {
            s.push_str(&format!(" last_error={e:?}"));
        }
        s
    }

    /// One JSON object, on one line.
    pub fn json(&self) -> String {
        let dir = match self.direction {
            Direction::Export => "export",
            Direction::Import => "import",
        };
        let err = match &self.last_error {
            Some(e) => json_string(e),
            None => "null".into(),
        };
        format!(
            "{{\"direction\":\"{dir}\",\"name\":{},\"state\":{},\"messages\":{},\"missed\":{},\
             \"oversized\":{},\"garbage\":{},\"stale\":{},\"refused\":{},\"last_error\":{err}}}",
            json_string(&self.name),
            json_string(&self.state),
            self.messages,
            self.missed,
            self.oversized,
            self.garbage,
            self.stale,
            self.refused
        )
    }
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Topic {
    name: String,
    direction: Direction,
    stats: Arc<Stats>,
    worker: Option<JoinHandle<()>>,
}

/// A running bridge: one zenoh session, one worker thread per topic.
pub struct Bridge {
    session: Session,
    stop: Arc<AtomicBool>,
    topics: Vec<Topic>,
}

impl Bridge {
    /// Opens the zenoh session and starts exporting and importing. Topics
    /// that cannot be carried yet (an unknown name, no exporter answering)
    /// are retried and show in [`status`](Self::status).
    ///
    /// # Errors
    /// No topic, no endpoint, a name shmkit refuses, a bad configuration,
    /// or a session zenoh cannot open (an endpoint it cannot listen on).
    pub fn start(o: &Options) -> Result<Bridge, String> {
        if o.export.is_empty() && o.import.is_empty() {
            return Err("nothing to carry: give --export NAME or --import NAME".into());
        }
        if o.listen.is_empty() && o.connect.is_empty() && o.config.is_none() {
            return Err("no endpoint: give --listen tcp/IP:PORT or --connect tcp/IP:PORT".into());
        }
        let prefix = o.prefix.clone().unwrap_or_else(|| "shmkit".into());
        if prefix.is_empty()
            || prefix.starts_with('/')
            || prefix.ends_with('/')
            || prefix.contains(['*', '$', '?', '#', '@'])
        {
            return Err(format!(
                "prefix {prefix:?}: give key chunks separated by '/', without '*', '$', '?', '#' or '@'"
            ));
        }
        for name in o.export.iter().chain(&o.import) {
            check_name(name)?;
        }
        let config = zenoh_config(o)?;
        let session = zenoh::open(config)
            .wait()
            .map_err(|e| format!("zenoh session: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut topics = Vec::new();
        for (names, direction) in [
            (&o.export, Direction::Export),
            (&o.import, Direction::Import),
        ] {
            for name in names {
                let stats = Arc::new(Stats::default());
                stats.set_state("starting");
                let (s, st, sp, n, p) = (
                    session.clone(),
                    stats.clone(),
                    stop.clone(),
                    name.clone(),
                    prefix.clone(),
                );
                let poll = o.export_poll;
                let worker = std::thread::Builder::new()
                    .name(format!("{direction:?} {name}"))
                    .spawn(move || match direction {
                        Direction::Export => export::run(&s, &p, &n, &st, &sp, poll),
                        Direction::Import => import::run(&s, &p, &n, &st, &sp),
                    })
                    .map_err(|e| format!("thread for {name}: {e}"))?;
                topics.push(Topic {
                    name: name.clone(),
                    direction,
                    stats,
                    worker: Some(worker),
                });
            }
        }
        Ok(Bridge {
            session,
            stop,
            topics,
        })
    }

    /// A snapshot of every topic's counters and state.
    pub fn status(&self) -> Vec<TopicStatus> {
        self.topics
            .iter()
            .map(|t| {
                let s = &t.stats;
                let (state, last_error) = s.state.lock().unwrap().clone();
                TopicStatus {
                    name: t.name.clone(),
                    direction: t.direction,
                    state,
                    messages: s.messages.load(Ordering::Relaxed),
                    missed: s.missed.load(Ordering::Relaxed),
                    oversized: s.oversized.load(Ordering::Relaxed),
                    garbage: s.garbage.load(Ordering::Relaxed),
                    stale: s.stale.load(Ordering::Relaxed),
                    refused: s.refused.load(Ordering::Relaxed),
                    last_error,
                }
            })
            .collect()
    }

    /// Stops cleanly: exporters announce a clean close to their importers,
    /// importers close their local topics (local subscribers get
    /// [`Closed`](shmkit::Error::Closed)), then the session closes.
    pub fn stop(mut self) -> Vec<TopicStatus> {
        self.stop.store(true, Ordering::SeqCst);
        for t in &mut self.topics {
            if let Some(w) = t.worker.take() {
                let _ = w.join();
            }
        }
        let status = self.status();
        let _ = self.session.close().wait();
        status
    }
}

/// Checks a topic name as shmkit would, and that it makes one key chunk.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.contains(['/', '*', '$', '?', '#', '@']) {
        return Err(format!(
            "topic name {name:?}: give a shmkit segment name (no '/', '*', '$', '?', '#', '@')"
        ));
    }
    if name.len() > shmkit::MAX_NAME_LEN {
        return Err(format!(
            "topic name {name:?} is longer than shmkit's {} characters",
            shmkit::MAX_NAME_LEN
        ));
    }
    Ok(())
}

/// Sleeps `d` in steps, returning early (true) once `stop` is set.
fn pause(stop: &AtomicBool, d: Duration) -> bool {
    let end = std::time::Instant::now() + d;
    loop {
        if stop.load(Ordering::SeqCst) {
            return true;
        }
        let now = std::time::Instant::now();
        if now >= end {
            return false;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(20)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_garbage_is_refused() {
        let h = Header {
            seq: 0x0102_0304_0506_0708,
            kind: Kind::Died,
        };
        assert_eq!(Header::parse(&h.to_bytes()), Ok(h));
        assert!(Header::parse(b"hello").unwrap_err().contains("13"));
        let mut b = h.to_bytes();
        b[0] = 9;
        assert!(Header::parse(&b).unwrap_err().contains("version 9"));
        let mut b = h.to_bytes();
        b[12] = 7;
        assert!(Header::parse(&b).unwrap_err().contains("kind 7"));
    }

    #[test]
    fn geometry_round_trips_and_out_of_range_is_refused() {
        let g = Geometry {
            slots: 256,
            max_message: 65536,
            next: 77,
        };
        assert_eq!(Geometry::parse(&g.to_bytes()), Ok(g));
        for bad in [(3, 10), (1 << 25, 10), (4, (1 << 30) + 1), (0, 10)] {
            let b = Geometry {
                slots: bad.0,
                max_message: bad.1,
                next: 0,
            }
            .to_bytes();
            assert!(Geometry::parse(&b).is_err(), "{bad:?}");
        }
        assert!(Geometry::parse(&[0; 3]).is_err());
    }

    #[test]
    fn status_json_escapes_and_names_every_counter() {
        let s = TopicStatus {
            name: "a\"b".into(),
            direction: Direction::Import,
            state: "live".into(),
            messages: 1,
            missed: 2,
            oversized: 3,
            garbage: 4,
            stale: 5,
            refused: 6,
            last_error: Some("x\ny".into()),
        };
        assert_eq!(
            s.json(),
            "{\"direction\":\"import\",\"name\":\"a\\\"b\",\"state\":\"live\",\"messages\":1,\
             \"missed\":2,\"oversized\":3,\"garbage\":4,\"stale\":5,\"refused\":6,\
             \"last_error\":\"x\\u000ay\"}"
        );
    }

    #[test]
    fn bad_names_and_prefixes_are_refused_before_any_session() {
        let o = Options {
            listen: vec!["tcp/127.0.0.1:0".into()],
            export: vec!["a/b".into()],
            ..Options::default()
        };
        assert!(Bridge::start(&o).err().unwrap().contains("topic name"));
        let o = Options {
            export: vec!["ok".into()],
            prefix: Some("x/*".into()),
            ..o
        };
        assert!(Bridge::start(&o).err().unwrap().contains("prefix"));
        let o = Options {
            listen: vec![],
            prefix: None,
            ..o
        };
        assert!(Bridge::start(&o).err().unwrap().contains("no endpoint"));
    }
}

//! Reading segments for inspection: any owner, any mode, read-only, and
//! decoding typed segments from the layout stored in their header.

use std::time::Duration;

use anyhow::{Context, Result};
use shmkit::header::{init_state, read_header, Header, InitState, MAGIC};
use shmkit::layout::{Ty, Value};
use shmkit::{Error, Segment};

/// A typed segment's header, layout and state.
pub struct Typed {
    /// The validated header.
    pub header: Header,
    /// The stored layout description.
    pub ty: Ty,
    /// Ready, initialising or abandoned.
    pub state: InitState,
}

/// What shmkit can tell about a segment's contents.
pub enum Kind {
    /// Made by shmkit's typed API.
    Typed(Typed),
    /// A shmkit queue (SPSC, MPMC or broadcast).
    Queue(shmkit::queue::Info),
    /// A shmkit header that does not hold together.
    Corrupted(String),
    /// Anything else: raw bytes.
    Raw,
}

/// Maps `name` read-only, whoever owns it and whatever its mode: looking is
/// harmless, and this is a debugging tool.
pub fn open_read_only(name: &str, owner: Option<u32>) -> Result<Segment, Error> {
    let mut opts = Segment::options();
    opts.read_only(true)
        .accept_mode(0o777)
        .timeout(Duration::ZERO);
    if let Some(uid) = owner {
        opts.trust_owner(uid);
    }
    opts.open(name)
}

/// Maps `name` for writing, with the library's default checks on owner and
/// mode (writing into a stranger's segment is refused unless trusted).
pub fn open_writable(name: &str) -> Result<Segment> {
    Segment::options()
        .timeout(Duration::ZERO)
        .open(name)
        .with_context(|| format!("opening segment `{name}` for writing"))
}

/// Classifies a mapped segment.
pub fn kind(seg: &Segment) -> Kind {
    match shmkit::queue::inspect(seg) {
        Some(Ok(info)) => return Kind::Queue(info),
        Some(Err(why)) => return Kind::Corrupted(format!("queue header: {why}")),
        None => {}
    }
    let mut magic = [0u8; 8];
    if seg.len() < shmkit::header::HEADER_LEN || seg.read_at(0, &mut magic).is_err() {
        return Kind::Raw;
    }
    let state = init_state(seg).unwrap_or(InitState::Unknown);
    if magic != MAGIC {
        // A typed creator still writing holds its liveness lock before the
        // magic number is in place.
        if magic == [0; 8] && state == InitState::Initialising {
            return Kind::Corrupted("being initialised; no header yet".into());
        }
        return Kind::Raw;
    }
    match read_header(seg) {
        Ok((header, ty)) => Kind::Typed(Typed { header, ty, state }),
        Err(e) => Kind::Corrupted(e.to_string()),
    }
}

/// Copies the value's bytes out of the segment.
pub fn value_bytes(seg: &Segment, t: &Typed) -> Result<Vec<u8>> {
    let mut data = vec![0u8; t.header.data_size as usize];
    seg.read_at(t.header.data_offset as usize, &mut data)?;
    Ok(data)
}

/// A value as JSON.
pub fn json(value: &Value) -> serde_json::Value {
    match value {
        Value::Unsigned(v) => (*v).into(),
        Value::Signed(v) => (*v).into(),
        // f32 through its shortest decimal form, so 1.45 stays 1.45.
        Value::F32(v) => v
            .to_string()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(serde_json::Value::Null, Into::into),
        Value::F64(v) => {
            serde_json::Number::from_f64(*v).map_or(serde_json::Value::Null, Into::into)
        }
        Value::Array(items) => items.iter().map(json).collect(),
        Value::Struct(fields) => fields
            .iter()
            .map(|(k, v)| (k.clone(), json(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    }
}

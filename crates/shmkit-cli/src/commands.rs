//! `ls`, `info`, `dump`, `create`, `rm`, `gc`, `set`.

use std::ffi::OsStr;
use std::time::UNIX_EPOCH;

use anyhow::{bail, Context, Result};
use serde_json::json;
use shmkit::Segment;

use crate::inspect::{self, Kind};
use crate::scan::{self, Entry};
use crate::show;

/// Everything `ls` and `info` say about one segment, as JSON (the stable
/// schema documented in docs/cli.md).
fn entry_json(e: &Entry, kind: Option<&Kind>) -> serde_json::Value {
    let shmkit = match kind {
        Some(Kind::Typed(t)) => json!({
            "type": t.ty.summary(),
            "layout": layout_summary(&t.ty),
            "state": t.state.as_str(),
            "creator_pid": t.header.creator_pid,
            "data_offset": t.header.data_offset,
            "data_size": t.header.data_size,
        }),
        Some(Kind::Queue(q)) => json!({
            "queue": q.kind,
            "capacity": q.capacity,
            "max_message": q.max_message,
            "used": q.used,
            "state": if q.ready { "ready" } else { "initialising" },
        }),
        Some(Kind::Corrupted(why)) => json!({ "error": why }),
        _ => serde_json::Value::Null,
    };
    json!({
        "name": e.name.to_string_lossy(),
        "size": e.size,
        "uid": e.uid,
        "owner": scan::user_name(e.uid),
        "mode": format!("{:04o}", e.mode),
        "regular": e.regular,
        "modified_unix": e.modified.and_then(|m| m.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_secs()),
        "users": e.users.iter().map(|u| json!({ "pid": u.pid, "command": u.command })).collect::<Vec<_>>(),
        "shmkit": shmkit,
    })
}

/// `MySharedData: 208 B, 4 fields`.
fn layout_summary(ty: &shmkit::layout::Ty) -> String {
    match ty {
        shmkit::layout::Ty::Struct(s) => format!(
            "{}: {}, {} fields",
            s.name,
            show::size(u64::from(s.size)),
            s.fields.len()
        ),
        other => format!("{}: {}", other.summary(), show::size(other.size())),
    }
}

fn users_cell(e: &Entry) -> String {
    if e.users.is_empty() {
        return "-".into();
    }
    e.users
        .iter()
        .map(|u| format!("{}/{}", u.pid, show::escape(OsStr::new(&u.command))))
        .collect::<Vec<_>>()
        .join(",")
}

/// Classifies an entry by mapping it read-only, if it has a portable name.
fn classify(e: &Entry) -> Option<Kind> {
    let name = e.name.to_str()?;
    if !e.regular {
        return None;
    }
    let seg = inspect::open_read_only(name, Some(e.uid)).ok()?;
    Some(inspect::kind(&seg))
}

/// `spsc queue: 4 KiB ring (16 B used), messages up to 4080 B`.
fn queue_summary(q: &shmkit::queue::Info) -> String {
    let room = match q.kind {
        "spsc" => format!(
            "{} ring ({} used)",
            show::size(q.capacity),
            show::size(q.used)
        ),
        "broadcast" => format!("{} slots ({} held)", q.capacity, q.used),
        _ => format!("{} slots ({} waiting)", q.capacity, q.used),
    };
    format!(
        "{} queue: {room}, messages up to {} B{}",
        q.kind,
        q.max_message,
        if q.ready { "" } else { " (initialising)" }
    )
}

/// The queue a role lock file belongs to: `.shmkit-lock.NAME.ROLE`, where
/// ROLE is `producer`, `consumer`, `publisher` or `subscriber`, optionally
/// followed by `.ID` (MPMC endpoints and broadcast subscribers), and NAME
/// may itself hold dots.
fn lock_file_queue(name: &OsStr) -> Option<&str> {
    const ROLES: [&str; 4] = ["producer", "consumer", "publisher", "subscriber"];
    let rest = name.to_str()?.strip_prefix(".shmkit-lock.")?;
    let (head, last) = rest.rsplit_once('.')?;
    let (queue, role) = if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) {
        head.rsplit_once('.')?
    } else {
        (head, last)
    };
    (ROLES.contains(&role) && !queue.is_empty()).then_some(queue)
}

fn kind_cell(kind: Option<&Kind>) -> String {
    match kind {
        Some(Kind::Typed(t)) => format!("{} ({})", layout_summary(&t.ty), t.state.as_str()),
        Some(Kind::Queue(q)) => queue_summary(q),
        Some(Kind::Corrupted(why)) => format!("shmkit, corrupted: {why}"),
        Some(Kind::Raw) => "raw".into(),
        None => "-".into(),
    }
}

pub fn ls(as_json: bool, all: bool) -> Result<()> {
    let (mut entries, blind) = scan::list()?;
    // Queues' role lock files are not segments: those of a live queue are
    // left out, those whose queue is gone (orphans) are counted, or listed
    // with --all.
    let orphans: Vec<Entry> = entries
        .iter()
        .filter(|e| lock_file_queue(&e.name).is_some_and(|q| !entries.iter().any(|s| s.name == *q)))
        .cloned()
        .collect();
    entries.retain(|e| lock_file_queue(&e.name).is_none());
    let kinds: Vec<Option<Kind>> = entries.iter().map(classify).collect();
    if as_json {
        let list: Vec<_> = entries
            .iter()
            .zip(&kinds)
            .map(|(e, k)| entry_json(e, k.as_ref()))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "segments": list,
                "orphaned_lock_files": orphans.iter().map(|e| json!({
                    "name": e.name.to_string_lossy(),
                    "users": e.users.iter().map(|u| json!({ "pid": u.pid, "command": u.command })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "unreadable_processes": blind.unreadable.iter().map(|u| u.pid).collect::<Vec<_>>(),
            }))?
        );
        return Ok(());
    }
    let row = |e: &Entry, contents: String| {
        vec![
            show::escape(&e.name),
            show::size(e.size),
            scan::user_name(e.uid),
            format!("{:04o}", e.mode),
            show::age(e.modified),
            users_cell(e),
            contents,
        ]
    };
    let mut rows: Vec<Vec<String>> = entries
        .iter()
        .zip(&kinds)
        .map(|(e, k)| row(e, kind_cell(k.as_ref())))
        .collect();
    if all {
        rows.extend(orphans.iter().map(|e| {
            row(
                e,
                format!(
                    "role lock file of removed queue `{}`",
                    show::escape(OsStr::new(lock_file_queue(&e.name).unwrap_or("?")))
                ),
            )
        }));
    }
    show::table(
        &[
            "NAME",
            "SIZE",
            "OWNER",
            "MODE",
            "AGE",
            "USERS (pid/command)",
            "CONTENTS",
        ],
        &rows,
    );
    if entries.is_empty() {
        println!("(no shared memory segments in {})", scan_dir());
    }
    if !orphans.is_empty() && !all {
        println!(
            "note: {} role lock file(s) of removed queues: `shmkit ls --all` lists them, \
             `shmkit gc` removes those no process holds",
            orphans.len()
        );
    }
    if !blind.unreadable.is_empty() {
        println!(
            "note: {} process(es) could not be inspected, so their uses are not shown: {}",
            blind.unreadable.len(),
            pids(&blind.unreadable)
        );
    }
    Ok(())
}

fn scan_dir() -> &'static str {
    #[cfg(target_os = "linux")]
    return scan::SHM_DIR;
    #[cfg(not(target_os = "linux"))]
    return "this OS's shared memory";
}

/// Every `Mutex`, `Event` and `SeqLock` inside `ty` at `base`: its path and
/// what its words (copied out in `data`) say, in words.
fn sync_states(
    ty: &shmkit::layout::Ty,
    path: &str,
    base: u64,
    data: &[u8],
    out: &mut Vec<(String, String, String)>,
) {
    use shmkit::layout::Ty;
    use shmkit::sync::words::{self, Holder};
    let word = |at: u64, len: usize| -> Option<u64> {
        let at = usize::try_from(base + at).ok()?;
        let mut b = [0u8; 8];
        b[..len].copy_from_slice(data.get(at..at + len)?);
        Some(u64::from_le_bytes(b))
    };
    let holder = |h: Holder| match h {
        Holder::None => "no holder".to_owned(),
        Holder::Alive { tid } => format!("held by thread {tid} (alive)"),
        Holder::Died { tid } => {
            format!("held by thread {tid}, which died (the next taker recovers it)")
        }
        _ => "holder unknown".to_owned(),
    };
    let shown = if path.is_empty() { "(the value)" } else { path };
    match ty {
        Ty::Struct(st) if st.name == "Mutex" => {
            let Some(w) = word(0, 8) else { return };
            let (h, inconsistent) = words::mutex_state(w);
            let mut text = match h {
                Holder::None => "unlocked".to_owned(),
                h => holder(h),
            };
            if inconsistent {
                text.push_str("; data left by a dead owner, not yet marked consistent");
            }
            out.push((shown.to_owned(), "Mutex".into(), text));
        }
        Ty::Struct(st) if st.name == "Event" => {
            let Some(w) = word(0, 4) else { return };
            let text = if words::event_signalled(w as u32) {
                "signalled"
            } else {
                "not signalled"
            };
            out.push((shown.to_owned(), "Event".into(), text.into()));
        }
        Ty::Struct(st) if st.name == "SeqLock" => {
            let (Some(seq), Some(w)) = (word(0, 8), word(8, 8)) else {
                return;
            };
            let (h, writing) = words::seqlock_state(seq, w);
            let mut text = match h {
                Holder::None => "no writer".to_owned(),
                h => holder(h).replace("held by", "writer:"),
            };
            if writing {
                text.push_str("; a write is in progress (or was cut short)");
            }
            out.push((shown.to_owned(), "SeqLock".into(), text));
        }
        Ty::Struct(st) => {
            for f in &st.fields {
                let p = if path.is_empty() {
                    f.name.clone()
                } else {
                    format!("{path}.{}", f.name)
                };
                sync_states(&f.ty, &p, base + u64::from(f.offset), data, out);
            }
        }
        Ty::Array(elem, len) => {
            // Arrays of sync values are listed up to a readable number.
            for i in 0..(*len).min(64) {
                sync_states(
                    elem,
                    &format!("{path}[{i}]"),
                    base + u64::from(i) * elem.size(),
                    data,
                    out,
                );
            }
        }
        Ty::Prim(_) => {}
    }
}

pub fn info(name: &str, as_json: bool) -> Result<()> {
    let e = scan::find(name)?;
    let seg = inspect::open_read_only(name, Some(e.uid))
        .with_context(|| format!("opening segment `{name}`"))?;
    let kind = inspect::kind(&seg);
    let mut fields = Vec::new();
    let mut syncs = Vec::new();
    if let Kind::Typed(t) = &kind {
        let data = inspect::value_bytes(&seg, t)?;
        sync_states(&t.ty, "", 0, &data, &mut syncs);
        for row in t.ty.rows() {
            let value = row.value(&data);
            fields.push((row, value));
        }
    }
    if as_json {
        let mut j = entry_json(&e, Some(&kind));
        j["fields"] = fields
            .iter()
            .map(|(row, v)| {
                json!({
                    "path": row.path,
                    "type": row.ty.summary(),
                    "offset": row.offset,
                    "value": v.as_ref().map(inspect::json).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect();
        j["sync"] = syncs
            .iter()
            .map(|(path, ty, state)| json!({ "path": path, "type": ty, "state": state }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&j)?);
        return Ok(());
    }
    println!("name:      {}", show::escape(&e.name));
    println!("size:      {} ({} bytes)", show::size(e.size), e.size);
    if e.uid == u32::MAX {
        println!("owner:     unknown (this OS cannot list shared memory objects)");
    } else {
        println!("owner:     {} (uid {})", scan::user_name(e.uid), e.uid);
        println!("mode:      {:04o}", e.mode);
    }
    println!("age:       {}", show::age(e.modified));
    println!("users:     {}", users_cell(&e));
    match &kind {
        Kind::Typed(t) => {
            println!("contents:  shmkit typed segment, {}", layout_summary(&t.ty));
            println!("state:     {}", t.state.as_str());
            println!(
                "creator:   pid {} (for display; liveness is decided by a lock)",
                t.header.creator_pid
            );
            println!(
                "data:      {} bytes at offset {}",
                t.header.data_size, t.header.data_offset
            );
            println!();
            let rows: Vec<Vec<String>> = fields
                .iter()
                .map(|(row, v)| {
                    vec![
                        row.path.clone(),
                        row.ty.summary(),
                        row.offset.to_string(),
                        match v {
                            Ok(v) => v.short(),
                            Err(e) => format!("<{e}>"),
                        },
                    ]
                })
                .collect();
            show::table(&["FIELD", "TYPE", "OFFSET", "VALUE"], &rows);
            if !syncs.is_empty() {
                println!();
                let rows: Vec<Vec<String>> = syncs
                    .iter()
                    .map(|(p, ty, st)| vec![p.clone(), ty.clone(), st.clone()])
                    .collect();
                show::table(&["SYNC", "TYPE", "STATE"], &rows);
            }
        }
        Kind::Queue(q) => {
            println!("contents:  shmkit {}", queue_summary(q));
            print_endpoints(name);
        }
        Kind::Corrupted(why) => println!("contents:  shmkit header, corrupted: {why}"),
        Kind::Raw => println!("contents:  raw bytes (no shmkit header): see `shmkit dump {name}`"),
    }
    Ok(())
}

/// A queue's attached endpoints: for each of its role lock files, the
/// processes holding its lock (endpoints hold it for their lifetime).
#[cfg(target_os = "linux")]
fn print_endpoints(queue: &str) {
    let Ok((entries, _)) = scan::list() else {
        return;
    };
    let mut rows = Vec::new();
    for e in entries
        .iter()
        .filter(|e| lock_file_queue(&e.name) == Some(queue))
    {
        let role = e.name.to_string_lossy();
        let role = role
            .rsplit_once(&format!("{queue}."))
            .map_or("?", |r| r.1)
            .to_owned();
        let holders = scan::flock_holders(e.id);
        let cell = if holders.is_empty() {
            "none (no live endpoint)".to_owned()
        } else {
            holders
                .iter()
                .map(|(pid, _)| {
                    let comm =
                        std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                    format!(
                        "pid {pid} ({}, alive)",
                        show::escape(OsStr::new(comm.trim_end()))
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        rows.push(vec![role, cell]);
    }
    println!();
    if rows.is_empty() {
        println!("endpoints: none (no role lock files)");
    } else {
        show::table(&["ROLE", "ENDPOINTS (holding the role's lock)"], &rows);
    }
}

#[cfg(not(target_os = "linux"))]
fn print_endpoints(_queue: &str) {
    println!("endpoints: not shown (this OS offers no list of file locks)");
}

pub fn dump(name: &str, offset: u64, len: Option<u64>) -> Result<()> {
    let e = scan::find(name).ok();
    let seg = inspect::open_read_only(name, e.map(|e| e.uid))
        .with_context(|| format!("opening segment `{name}`"))?;
    let size = seg.len() as u64;
    if offset > size {
        bail!("offset {offset} is past the end of `{name}` ({size} bytes)");
    }
    let len = len.unwrap_or(size - offset).min(size - offset);
    let mut data = vec![0u8; len as usize];
    seg.read_at(offset as usize, &mut data)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    hexdump(&mut out, offset, &data)?;
    Ok(())
}

/// `xxd`-style lines; runs of identical lines collapse into `*`.
pub fn hexdump(out: &mut impl std::io::Write, base: u64, data: &[u8]) -> std::io::Result<()> {
    let mut previous: Option<&[u8]> = None;
    let mut starred = false;
    for (i, chunk) in data.chunks(16).enumerate() {
        if previous == Some(chunk) && chunk.len() == 16 {
            if !starred {
                writeln!(out, "*")?;
                starred = true;
            }
            continue;
        }
        starred = false;
        previous = Some(chunk);
        let mut hex = String::new();
        for (j, b) in chunk.iter().enumerate() {
            hex.push_str(&format!("{b:02x}"));
            if j % 2 == 1 {
                hex.push(' ');
            }
        }
        let ascii: String = chunk
            .iter()
            .map(|&b| {
                if (0x20..0x7f).contains(&b) {
                    char::from(b)
                } else {
                    '.'
                }
            })
            .collect();
        writeln!(out, "{:08x}: {hex:<40} {ascii}", base + (i * 16) as u64)?;
    }
    if data.len() > 16 && starred {
        writeln!(out, "{:08x}", base + data.len() as u64)?;
    }
    Ok(())
}

pub fn create(name: &str, size: &str, mode: &str) -> Result<()> {
    let len = show::parse_size(size).map_err(anyhow::Error::msg)?;
    let mode = u32::from_str_radix(mode.trim_start_matches("0o"), 8)
        .map_err(|_| anyhow::anyhow!("`{mode}` is not an octal mode such as 600 or 640"))?;
    let len = usize::try_from(len).context("size too large for this platform")?;
    let seg = Segment::options()
        .persist(true)
        .mode(mode)
        .create(name, len)?;
    println!(
        "created `{}` ({}, mode {:04o}); remove it with `shmkit rm {}`",
        seg.name(),
        show::size(len as u64),
        mode,
        seg.name()
    );
    Ok(())
}

/// Removes a name whatever characters it has (but never a path).
fn remove_name(name: &OsStr) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        let bytes = name.as_encoded_bytes();
        if bytes.is_empty() || bytes.contains(&b'/') || bytes == b"." || bytes == b".." {
            bail!("`{}` is not a segment name", show::escape(name));
        }
        let path = std::path::Path::new(scan::SHM_DIR).join(name);
        std::fs::remove_file(&path)
            .with_context(|| format!("removing `{}`", show::escape(name)))?;
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let name = name.to_str().context("not a valid name")?;
        Segment::remove(name)?;
        Ok(())
    }
}

pub fn rm(name: &str, force: bool) -> Result<()> {
    let e = scan::find(name)?;
    if !e.users.is_empty() && !force {
        bail!(
            "`{}` is still used by {}: stop those processes first, or pass --force (their mappings stay valid; only the name goes)",
            show::escape(&e.name),
            e.users.iter().map(|u| format!("pid {} ({})", u.pid, show::escape(OsStr::new(&u.command)))).collect::<Vec<_>>().join(", ")
        );
    }
    let queue = match classify(&e) {
        Some(Kind::Queue(_)) => e.name.to_str(),
        _ => None,
    };
    remove_name(&e.name)?;
    println!("removed `{}`", show::escape(&e.name));
    if let Some(queue) = queue {
        remove_role_locks(queue)?;
    }
    Ok(())
}

/// Removes the role lock files of queue `queue` that no live process holds
/// open (endpoints keep theirs open and `flock`ed for their lifetime, so a
/// held file belongs to a live endpoint and stays).
#[cfg(target_os = "linux")]
fn remove_role_locks(queue: &str) -> Result<()> {
    let (entries, blind) = scan::list()?;
    for e in entries
        .iter()
        .filter(|e| lock_file_queue(&e.name) == Some(queue))
    {
        let name = show::escape(&e.name);
        if !e.users.is_empty() {
            println!("kept    `{name}`: held by {}", users_cell(e));
        } else if !blind.unreadable.is_empty() {
            println!(
                "kept    `{name}`: process(es) {} could not be inspected and may hold it",
                pids(&blind.unreadable)
            );
        } else {
            remove_name(&e.name)?;
            println!("removed `{name}`");
        }
    }
    Ok(())
}

/// Without a listing of users there is no telling which lock file a live
/// endpoint holds, so all stay.
#[cfg(not(target_os = "linux"))]
fn remove_role_locks(queue: &str) -> Result<()> {
    #[cfg(unix)]
    println!(
        "note: the role lock files of `{queue}` (/tmp/.shmkit-lock.{queue}.*) are left: this OS \
         cannot tell which ones a live endpoint holds"
    );
    #[cfg(not(unix))]
    let _ = queue;
    Ok(())
}

fn pids(users: &[scan::User]) -> String {
    users
        .iter()
        .map(|u| format!("{} ({})", u.pid, show::escape(OsStr::new(&u.command))))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn gc(dry_run: bool, all: bool, ignore_unreadable: bool) -> Result<()> {
    let (entries, blind) = scan::list()?;
    if !blind.unreadable.is_empty() {
        if !ignore_unreadable {
            bail!(
                "process(es) {} could not be inspected, so a segment they use could look unused: run as root, \
                 or pass --ignore-unreadable if you know they use no shared memory",
                pids(&blind.unreadable)
            );
        }
        println!(
            "note: not inspected, assumed to use no segment: {}",
            pids(&blind.unreadable)
        );
    }
    // Decide everything first, then act: the dry run prints the same plan
    // the real run carries out.
    let (segments, locks): (Vec<&Entry>, Vec<&Entry>) = entries
        .iter()
        .partition(|e| lock_file_queue(&e.name).is_none());
    let mut doomed: Vec<&Entry> = Vec::new();
    for e in segments {
        let name = show::escape(&e.name);
        if !e.users.is_empty() {
            println!("keep    {name}: used by {}", users_cell(e));
            continue;
        }
        let shmkit_made = matches!(
            classify(e),
            Some(Kind::Typed(_) | Kind::Queue(_) | Kind::Corrupted(_))
        );
        if !shmkit_made && !all {
            println!("keep    {name}: not made by shmkit (use --all to remove such segments too)");
            continue;
        }
        doomed.push(e);
    }
    // A role lock file goes when no process holds it open and its queue is
    // gone or goes in this pass. One held open belongs to a live endpoint
    // (or a peer probing it) and stays.
    let mut doomed_locks: Vec<&Entry> = Vec::new();
    for e in locks {
        let Some(queue) = lock_file_queue(&e.name) else {
            continue;
        };
        let queue_goes = doomed.iter().any(|d| d.name == *queue);
        let queue_gone = !queue_goes && !entries.iter().any(|d| d.name == *queue);
        if !queue_goes && !queue_gone {
            continue;
        }
        if !e.users.is_empty() {
            println!(
                "keep    {}: role lock file held by {}",
                show::escape(&e.name),
                users_cell(e)
            );
            continue;
        }
        doomed_locks.push(e);
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    for e in &doomed {
        if !dry_run {
            remove_name(&e.name)?;
        }
        println!(
            "{verb} {}: no live process maps or holds it",
            show::escape(&e.name)
        );
    }
    for e in &doomed_locks {
        if !dry_run {
            match remove_name(&e.name) {
                Ok(()) => {}
                // Removed meanwhile, by its queue's last endpoint say.
                Err(err)
                    if err.chain().any(|c| {
                        c.downcast_ref::<std::io::Error>()
                            .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
                    }) => {}
                Err(err) => return Err(err),
            }
        }
        println!(
            "{verb} {}: role lock file of a removed queue, held by no process",
            show::escape(&e.name)
        );
    }
    println!(
        "{} segment(s) and {} role lock file(s) {}",
        doomed.len(),
        doomed_locks.len(),
        if dry_run {
            "would be removed"
        } else {
            "removed"
        }
    );
    Ok(())
}

/// If `path` leads into a field of a `Mutex`, `SeqLock` or `Event` inside
/// `ty`: that sync value's path and type name, and whether the field is one
/// of its words (else it is data the value guards). Told apart by the names
/// the library's layout descriptions give these types.
fn sync_guard(ty: &shmkit::layout::Ty, path: &str) -> Option<(String, String, bool)> {
    use shmkit::layout::Ty;
    let mut ty = ty;
    let mut walked = String::new();
    let mut rest = path.trim();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let (index, tail) = after.split_once(']')?;
            let Ty::Array(elem, _) = ty else { return None };
            walked.push_str(&format!("[{}]", index.trim()));
            ty = elem;
            rest = tail;
            continue;
        }
        let rest2 = rest.strip_prefix('.').unwrap_or(rest);
        let end = rest2.find(['.', '[']).unwrap_or(rest2.len());
        let (field, tail) = rest2.split_at(end);
        let Ty::Struct(st) = ty else { return None };
        let f = st.fields.iter().find(|f| f.name == field)?;
        if matches!(st.name.as_str(), "Mutex" | "SeqLock" | "Event") {
            let word = matches!(field, "word" | "seq" | "writer" | "state" | "mode");
            let at = if walked.is_empty() {
                "the value".to_owned()
            } else {
                format!("`{walked}`")
            };
            return Some((at, st.name.clone(), word));
        }
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(field);
        ty = &f.ty;
        rest = tail;
    }
    None
}

pub fn set(name: &str, assignments: &[String], ignore_locks: bool) -> Result<()> {
    let seg = inspect::open_writable(name)?;
    let t = match inspect::kind(&seg) {
        Kind::Typed(t) => t,
        Kind::Queue(_) => bail!("`{name}` is a shmkit queue, not a typed segment: it has no fields to set (send messages with the library)"),
        Kind::Corrupted(why) => bail!("`{name}` has a corrupted shmkit header: {why}"),
        Kind::Raw => bail!("`{name}` has no shmkit header, so its fields are unknown: write raw bytes with the library instead"),
    };
    if t.state != shmkit::header::InitState::Ready {
        bail!(
            "`{name}` is {}, not ready: refusing to write into it",
            t.state.as_str()
        );
    }
    // Parse and check every assignment before writing any.
    let mut writes = Vec::new();
    for a in assignments {
        let (path, value) = a
            .split_once('=')
            .with_context(|| format!("`{a}` is not FIELD=VALUE"))?;
        let (offset, prim) = t.ty.find(path.trim()).map_err(anyhow::Error::msg)?;
        if let (Some((at, sync, word)), false) = (sync_guard(&t.ty, path), ignore_locks) {
            if word {
                bail!(
                    "`{}` is a word of the {sync} {at}: writing it can leave the lock held or \
                     the waiters asleep for good; pass --ignore-locks if that is what you mean",
                    path.trim()
                );
            }
            bail!(
                "`{}` is data guarded by the {sync} {at}: shmkit set cannot take that lock, so it \
                 refuses to write behind it; write it from a program that takes the lock, or pass \
                 --ignore-locks if no process uses it",
                path.trim()
            );
        }
        let bytes = prim.parse(value).map_err(anyhow::Error::msg)?;
        writes.push((
            path.trim().to_owned(),
            t.header.data_offset as usize + offset as usize,
            bytes,
            prim,
        ));
    }
    for (path, at, bytes, prim) in &writes {
        seg.write_at(*at, bytes)?;
        println!("{path} = {} ({})", prim.value(bytes), prim.name());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::lock_file_queue;
    use std::ffi::OsStr;

    #[test]
    fn a_lock_file_names_its_queue_whatever_its_role_and_id() {
        fn q(f: &str) -> Option<&str> {
            lock_file_queue(OsStr::new(f))
        }
        assert_eq!(q(".shmkit-lock.Q.producer"), Some("Q"));
        assert_eq!(q(".shmkit-lock.Q.consumer.3"), Some("Q"));
        assert_eq!(q(".shmkit-lock.Q.subscriber.1023"), Some("Q"));
        assert_eq!(q(".shmkit-lock.a.b.publisher"), Some("a.b"));
        assert_eq!(q(".shmkit-lock.a.b.producer.12"), Some("a.b"));
        assert_eq!(q(".shmkit-lock.Q.other"), None);
        assert_eq!(q(".shmkit-lock.producer"), None);
        assert_eq!(q("Q.producer"), None);
    }
}

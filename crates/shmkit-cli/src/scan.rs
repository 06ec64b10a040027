//! What the OS knows about shared memory: the objects in `/dev/shm`, and
//! which processes map or hold them (what `lsof` and `fuser` read from
//! `/proc/PID/maps` and `/proc/PID/fd`).

#[cfg(target_os = "linux")]
use std::collections::HashMap;
use std::ffi::OsString;
use std::time::SystemTime;

use anyhow::{bail, Result};

/// One process that maps or holds a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Its process id.
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`), untrusted.
    pub command: String,
}

/// One object in the shared-memory namespace.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The name as the file system has it: any bytes but `/` and NUL.
    pub name: OsString,
    /// Size in bytes.
    pub size: u64,
    /// Owner's user id.
    pub uid: u32,
    /// Permission bits.
    pub mode: u32,
    /// Whether it is a regular file (a shared-memory object) at all.
    pub regular: bool,
    /// Last modification.
    pub modified: Option<SystemTime>,
    /// Device and inode, to match against `/proc`.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // filled only where listing works
    pub id: (u64, u64),
    /// The processes that map it or hold it open.
    pub users: Vec<User>,
}

/// What a scan could not see.
#[derive(Debug, Default)]
pub struct Blind {
    /// Processes whose maps and fds could not be read (another user's, when
    /// not root; or one the kernel hides even from root).
    pub unreadable: Vec<User>,
}

#[cfg(target_os = "linux")]
pub const SHM_DIR: &str = "/dev/shm";

/// Every object in `/dev/shm`, with its users.
#[cfg(target_os = "linux")]
pub fn list() -> Result<(Vec<Entry>, Blind)> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mut entries = Vec::new();
    for item in std::fs::read_dir(SHM_DIR)? {
        let item = item?;
        // lstat: a symlink is listed as what it is, never followed.
        let Ok(meta) = item.path().symlink_metadata() else {
            continue; // removed meanwhile
        };
        entries.push(Entry {
            name: item.file_name(),
            size: meta.len(),
            uid: meta.uid(),
            mode: meta.permissions().mode() & 0o7777,
            regular: meta.file_type().is_file(),
            modified: meta.modified().ok(),
            id: (meta.dev(), meta.ino()),
            users: Vec::new(),
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let (users, blind) = users()?;
    for e in &mut entries {
        if let Some(u) = users.get(&e.id) {
            e.users = u.clone();
        }
    }
    Ok((entries, blind))
}

#[cfg(not(target_os = "linux"))]
pub fn list() -> Result<(Vec<Entry>, Blind)> {
    bail!(
        "this OS offers no way to list shared memory objects (macOS keeps POSIX shared memory \
         in a namespace no call enumerates; Windows names live in the object manager): \
         `shmkit info NAME` and `shmkit dump NAME` work when you know the name"
    )
}

/// One entry by name.
#[cfg(target_os = "linux")]
pub fn find(name: &str) -> Result<Entry> {
    // `/dev/shm/NAME` or `/NAME` (the shm_open spelling) name a segment
    // too, but commands take the name alone.
    if let Some(bare) = name
        .strip_prefix(SHM_DIR)
        .and_then(|n| n.strip_prefix('/'))
        .or_else(|| name.strip_prefix('/'))
        .filter(|n| !n.is_empty() && !n.contains('/'))
    {
        bail!(
            "`{}` is a path: give the segment's name alone, `{}`",
            crate::show::escape(name.as_ref()),
            crate::show::escape(bare.as_ref())
        );
    }
    let (entries, _) = list()?;
    match entries.into_iter().find(|e| e.name == *name) {
        Some(e) => Ok(e),
        None => bail!(
            "no segment named `{}`: see `shmkit ls`",
            crate::show::escape(name.as_ref())
        ),
    }
}

/// The users of each (device, inode).
#[cfg(target_os = "linux")]
type UsersById = HashMap<(u64, u64), Vec<User>>;

/// For every (device, inode) mapped or held open by a live process, those
/// processes. This process itself is left out.
#[cfg(target_os = "linux")]
fn users() -> Result<(UsersById, Blind)> {
    use std::os::unix::fs::MetadataExt;
    let shm_dev = std::fs::metadata(SHM_DIR)?.dev();
    let me = std::process::id();
    let mut found: HashMap<(u64, u64), Vec<User>> = HashMap::new();
    let mut blind = Blind::default();
    for item in std::fs::read_dir("/proc")? {
        let Ok(item) = item else { continue };
        let Some(pid) = item
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let dir = item.path();
        let command = std::fs::read_to_string(dir.join("comm"))
            .map(|c| c.trim_end().to_owned())
            .unwrap_or_default();
        let mut inodes = Vec::new();
        let mut readable = false;
        // Mappings: "addr perms offset dev inode path"; a shared-memory
        // mapping's path starts with /dev/shm/ (and may end in " (deleted)").
        if let Ok(maps) = std::fs::read_to_string(dir.join("maps")) {
            readable = true;
            for line in maps.lines() {
                let mut parts = line.split_whitespace();
                let inode = parts.nth(4).and_then(|i| i.parse::<u64>().ok());
                let path = parts.next().unwrap_or("");
                if let (Some(inode), true) = (inode, path.starts_with("/dev/shm/")) {
                    inodes.push((shm_dev, inode));
                }
            }
        }
        // Open descriptors: their (device, inode), which stat follows to.
        if let Ok(fds) = std::fs::read_dir(dir.join("fd")) {
            readable = true;
            for fd in fds.flatten() {
                if let Ok(meta) = std::fs::metadata(fd.path()) {
                    if meta.dev() == shm_dev {
                        inodes.push((meta.dev(), meta.ino()));
                    }
                }
            }
        }
        // A process that exited meanwhile is no user of anything.
        if !readable && dir.exists() {
            blind.unreadable.push(User {
                pid,
                command: command.clone(),
            });
        }
        inodes.sort_unstable();
        inodes.dedup();
        for id in inodes {
            found.entry(id).or_default().push(User {
                pid,
                command: command.clone(),
            });
        }
    }
    Ok((found, blind))
}

/// The processes holding an `flock` on the file with this (device, inode),
/// from `/proc/locks`: pid and whether the lock is exclusive. The kernel
/// drops a process's locks when it dies, so every holder listed is alive.
#[cfg(target_os = "linux")]
pub fn flock_holders(id: (u64, u64)) -> Vec<(u32, bool)> {
    let (dev, ino) = id;
    // The kernel's split of a dev_t into major and minor numbers.
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let want = format!("{major:02x}:{minor:02x}:{ino}");
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    locks
        .lines()
        .filter_map(|line| {
            // `1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF`; waiters
            // (`1: -> FLOCK ...`) hold nothing and are skipped.
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.get(1) != Some(&"FLOCK") || f.get(5) != Some(&want.as_str()) {
                return None;
            }
            Some((f.get(4)?.parse().ok()?, f.get(3) == Some(&"WRITE")))
        })
        .collect()
}

/// The name of user `uid`, from `/etc/passwd`, or the number.
pub fn user_name(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|line| {
            let mut f = line.split(':');
            let name = f.next()?;
            let id: u32 = f.nth(1)?.parse().ok()?;
            (id == uid).then(|| name.to_owned())
        })
        .unwrap_or_else(|| uid.to_string())
}

/// One entry by name. Without a listing, what the OS tells through an opened
/// segment is all there is: size, and nothing about owner, mode or users.
#[cfg(not(target_os = "linux"))]
pub fn find(name: &str) -> Result<Entry> {
    use anyhow::Context;
    let seg = crate::inspect::open_read_only(name, None)
        .with_context(|| format!("opening segment `{name}`"))?;
    Ok(Entry {
        name: name.into(),
        size: seg.len() as u64,
        uid: u32::MAX,
        mode: 0,
        regular: true,
        modified: None,
        id: (0, 0),
        users: Vec::new(),
    })
}

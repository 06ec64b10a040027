//! `shmkit watch`: a live view of a typed segment's fields, refreshed in
//! place like `top`, with how often each one changes.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::inspect::{self, Kind};
use crate::{scan, show};

/// Per row: the last bytes seen, and how many times they changed.
struct Track {
    last: Vec<u8>,
    changes: u64,
}

pub fn watch(name: &str, interval: Duration, count: Option<u64>) -> Result<()> {
    let owner = scan::find(name).ok().map(|e| e.uid);
    let seg = inspect::open_read_only(name, owner)
        .with_context(|| format!("opening segment `{name}`"))?;
    let t = match inspect::kind(&seg) {
        Kind::Typed(t) => t,
        Kind::Queue(_) => bail!(
            "`{name}` is a shmkit queue, not a typed segment: it has no fields to watch (`shmkit info {name}` shows its size)"
        ),
        Kind::Corrupted(why) => bail!("`{name}` has a corrupted shmkit header: {why}"),
        Kind::Raw => bail!(
            "`{name}` has no shmkit header, so its fields are unknown: use `shmkit dump {name}`"
        ),
    };
    let rows = t.ty.rows();
    let mut tracks: Vec<Option<Track>> = rows.iter().map(|_| None).collect();
    let interactive = term::Raw::enable();
    let to_tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let start = Instant::now();
    let mut frame = 0u64;
    loop {
        let data = inspect::value_bytes(&seg, &t)?;
        let elapsed = start.elapsed().as_secs_f64().max(1e-9);
        let mut table = Vec::new();
        for (row, track) in rows.iter().zip(&mut tracks) {
            let at = row.offset as usize;
            let bytes = data
                .get(at..at + row.ty.size() as usize)
                .unwrap_or(&[])
                .to_vec();
            match track {
                Some(tr) if tr.last != bytes => {
                    tr.changes += 1;
                    tr.last = bytes;
                }
                Some(_) => {}
                None => {
                    *track = Some(Track {
                        last: bytes,
                        changes: 0,
                    })
                }
            }
            let changes = track.as_ref().map_or(0, |t| t.changes);
            let value = match row.value(&data) {
                Ok(v) => v.short(),
                Err(e) => format!("<{e}>"),
            };
            table.push(vec![
                row.path.clone(),
                row.ty.summary(),
                value,
                changes.to_string(),
                format!("{:.1}/s", changes as f64 / elapsed),
            ]);
        }
        let mut out = std::io::stdout().lock();
        if to_tty {
            // Home the cursor and clear: redraw in place.
            write!(out, "\x1b[H\x1b[2J")?;
        } else if frame > 0 {
            writeln!(out)?;
        }
        writeln!(
            out,
            "shmkit watch {} - {} - sampled every {:?} - {}",
            show::escape(name.as_ref()),
            t.ty.summary(),
            interval,
            if interactive.is_some() {
                "q or Ctrl-C to quit"
            } else {
                "Ctrl-C to quit"
            }
        )?;
        // A view of a name that is gone, or that nobody else uses any
        // more, would look live while nothing can change it.
        if let Some(note) = staleness(name) {
            writeln!(out, "{note}")?;
        }
        drop(out);
        // Values are compared at each refresh, so several changes between
        // two refreshes count as one: the columns say so.
        show::table(
            &["FIELD", "TYPE", "VALUE", "CHANGES SEEN", "SEEN/s"],
            &table,
        );
        std::io::stdout().flush()?;
        frame += 1;
        if count.is_some_and(|c| frame >= c) {
            break;
        }
        match &interactive {
            Some(raw) => {
                if raw.quit_pressed(interval) {
                    break;
                }
            }
            None => std::thread::sleep(interval),
        }
    }
    Ok(())
}

/// Why the values on screen may be stale, if they may: the segment's name
/// is gone, or (where users can be listed) no other process maps or holds
/// it, so nothing changes it any more.
fn staleness(name: &str) -> Option<String> {
    let shown = show::escape(name.as_ref());
    match scan::find(name) {
        Err(_) => Some(format!(
            "note: the name `{shown}` is gone (removed, or its creator ended): \
             these are the last values of the mapping this view holds"
        )),
        #[cfg(target_os = "linux")]
        Ok(e) if e.users.is_empty() => Some(format!(
            "note: no other process maps or holds `{shown}` (its creator ended?): \
             nothing changes these values now"
        )),
        Ok(_) => None,
    }
}

#[cfg(unix)]
mod term {
    use std::time::Duration;

    use rustix::termios::{self, LocalModes, OptionalActions, Termios};

    /// The terminal in non-canonical mode without echo or signals, so that
    /// `q` and Ctrl-C arrive as keys and the view exits cleanly. The previous
    /// settings come back on drop, also when unwinding.
    pub struct Raw {
        saved: Termios,
    }

    impl Raw {
        /// `None` when standard input is not a terminal.
        pub fn enable() -> Option<Raw> {
            let stdin = std::io::stdin();
            if !termios::isatty(&stdin) {
                return None;
            }
            let saved = termios::tcgetattr(&stdin).ok()?;
            let mut raw = saved.clone();
            raw.local_modes
                .remove(LocalModes::ICANON | LocalModes::ECHO | LocalModes::ISIG);
            termios::tcsetattr(&stdin, OptionalActions::Now, &raw).ok()?;
            Some(Raw { saved })
        }

        /// Waits up to `timeout` for a key; true if it was `q`, `Q` or Ctrl-C.
        pub fn quit_pressed(&self, timeout: Duration) -> bool {
            use rustix::event::{poll, PollFd, PollFlags, Timespec};
            let stdin = std::io::stdin();
            let deadline = std::time::Instant::now() + timeout;
            loop {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                let ts = Timespec {
                    tv_sec: left.as_secs() as _,
                    tv_nsec: left.subsec_nanos() as _,
                };
                let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
                match poll(&mut fds, Some(&ts)) {
                    Ok(0) => return false,
                    Ok(_) => {
                        let mut buf = [0u8; 16];
                        match rustix::io::read(&stdin, &mut buf) {
                            // End of input: nobody can press q any more.
                            Ok(0) => return true,
                            Ok(n) => {
                                if buf[..n].iter().any(|&b| matches!(b, b'q' | b'Q' | 0x03)) {
                                    return true;
                                }
                            }
                            Err(_) => return true,
                        }
                    }
                    Err(rustix::io::Errno::INTR) => {}
                    Err(_) => return true,
                }
                if left.is_zero() {
                    return false;
                }
            }
        }
    }

    impl Drop for Raw {
        fn drop(&mut self) {
            let _ = termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
        }
    }
}

#[cfg(not(unix))]
mod term {
    use std::time::Duration;

    /// No raw mode here: Ctrl-C ends the view.
    pub struct Raw;

    impl Raw {
        pub fn enable() -> Option<Raw> {
            None
        }
        pub fn quit_pressed(&self, _timeout: Duration) -> bool {
            false
        }
    }
}

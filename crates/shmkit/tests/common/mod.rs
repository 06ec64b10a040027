//! Helpers for tests that run real second processes.
//!
//! A test re-executes its own test binary, asking libtest to run only itself
//! (`--exact NAME`), with the environment variable `SHMKIT_ROLE` set. The test
//! function checks [`role`] first and, in the child, plays that role instead.
//! Parent and child talk over the child's stdin and stdout, one line at a time,
//! so that they synchronise on messages and never on sleeps.
#![allow(dead_code)] // each test binary uses a different subset

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// Lines the child means for the parent carry this prefix; everything else on
/// its stdout is libtest's own chatter.
const PREFIX: &str = "@shmkit-child ";

/// How long a parent waits for one line before it declares the child hung.
const LINE_TIMEOUT: Duration = Duration::from_secs(60);

/// A segment name no other test, and no other run of this test, uses:
/// the pid and a counter, then a tag, cut to the 30-character limit.
pub fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let mut name = format!("t{}-{}-{}", std::process::id(), n, tag);
    name.truncate(shmkit::MAX_NAME_LEN);
    name
}

/// Removes a name when dropped, so that a failing test leaves nothing behind.
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = shmkit::Segment::remove(&self.0);
    }
}

/// In a child: its role and arguments. `None` in the parent.
pub fn role() -> Option<(String, Vec<String>)> {
    let role = std::env::var("SHMKIT_ROLE").ok()?;
    let args = std::env::var("SHMKIT_ARGS").unwrap_or_default();
    let args = if args.is_empty() {
        Vec::new()
    } else {
        args.split('\x1f').map(str::to_owned).collect()
    };
    Some((role, args))
}

/// In a child: sends one line to the parent.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{PREFIX}{line}").unwrap();
    out.flush().unwrap();
}

/// In a child: waits for one line from the parent.
pub fn hear() -> String {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    line.trim_end().to_owned()
}

/// A command that re-runs test `test` of this binary as a child in `role`.
pub fn command(test: &str, role: &str, args: &[&str]) -> Command {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    child_args(&mut cmd, test, role, args);
    cmd
}

/// The path libtest gives the tests of the file that declared this module:
/// empty for a test binary's own file, `NAME::` for a file that another
/// test file includes as module `NAME` (as `faults.rs` includes
/// `truncate.rs`), so that `--exact` finds the test there too.
fn test_path_prefix() -> String {
    // "crate::…::common": drop the crate and this module.
    let path: Vec<&str> = module_path!().split("::").collect();
    let within = &path[1..path.len() - 1];
    within.iter().map(|m| format!("{m}::")).collect()
}

/// Adds the libtest arguments and role variables to `cmd`, whose program (or
/// a wrapper's last argument) is this test binary.
pub fn child_args(cmd: &mut Command, test: &str, role: &str, args: &[&str]) {
    let test = format!("{}{test}", test_path_prefix());
    cmd.args([&test, "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env("SHMKIT_ROLE", role)
        .env("SHMKIT_ARGS", args.join("\x1f"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
}

/// How a child ended, as the parent that reaped it saw it.
#[derive(Clone, Debug)]
pub struct Ending {
    /// The test the child re-ran, and its role in it.
    pub role: String,
    pub status: ExitStatus,
    /// Whether the parent killed it on purpose ([`Child::kill9`]).
    pub killed: bool,
}

thread_local! {
    /// The endings of the children this thread reaped, oldest first. Per
    /// thread: libtest runs each test on a thread of its own, so a test sees
    /// only its own children.
    static ENDINGS: RefCell<Vec<Ending>> = const { RefCell::new(Vec::new()) };
}

thread_local! {
    /// The children whose handle this thread dropped while they still ran
    /// (never reaped, so how they end is not known), by test and role.
    static UNREAPED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// The endings of the children this thread reaped since the last call.
pub fn take_endings() -> Vec<Ending> {
    ENDINGS.with(|e| std::mem::take(&mut *e.borrow_mut()))
}

/// The children this thread dropped, still running, since the last call.
pub fn take_unreaped() -> Vec<String> {
    UNREAPED.with(|u| std::mem::take(&mut *u.borrow_mut()))
}

/// The signal that ended a process, if one did.
#[cfg(unix)]
pub fn signal_of(status: ExitStatus) -> Option<i32> {
    std::os::unix::process::ExitStatusExt::signal(&status)
}

/// Windows has no signals: a process always ends with a code.
#[cfg(not(unix))]
pub fn signal_of(_status: ExitStatus) -> Option<i32> {
    None
}

/// `SIGKILL`'s number, what [`Child::kill9`] sends on Unix.
pub const SIGKILL: i32 = 9;

/// The endings that break "no child ended by a signal, except by the
/// `SIGKILL` its parent sent on purpose", one line each: a child ended by
/// any signal that was not killed on purpose, and a child killed on purpose
/// that did not end by `SIGKILL` (it had died another way before).
pub fn unexpected_endings(endings: &[Ending]) -> Vec<String> {
    let mut bad = Vec::new();
    for e in endings {
        let signal = signal_of(e.status);
        let fine = if e.killed && cfg!(unix) {
            signal == Some(SIGKILL)
        } else {
            signal.is_none()
        };
        if !fine {
            let how = if e.killed {
                "killed on purpose"
            } else {
                "not killed"
            };
            bad.push(format!("{} ({how}): ended with {}", e.role, e.status));
        }
    }
    bad
}

/// A running child and the lines it sends.
pub struct Child {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    lines: mpsc::Receiver<String>,
    /// Its test and role, for [`Ending`].
    role: String,
    /// Whether its ending is in [`ENDINGS`] already.
    recorded: bool,
}

/// Spawns `cmd`, trying again a few times: under Wine, process creation
/// fails now and then while many children start at once
/// (`ERROR_INTERNAL_ERROR`), which says nothing about the code under test.
/// A spawn that keeps failing is the test's failure.
fn spawn(cmd: &mut Command) -> std::process::Child {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Ok(child) => return child,
            Err(e) if tries < 5 => {
                tries += 1;
                eprintln!("spawning a child failed ({e}); trying again ({tries} of 5)");
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(e) => panic!("spawn child process: {e}"),
        }
    }
}

impl Child {
    /// Starts `cmd` (from [`command`]) and collects its lines.
    pub fn start(mut cmd: Command) -> Child {
        let role = cmd
            .get_envs()
            .find(|(k, _)| *k == "SHMKIT_ROLE")
            .and_then(|(_, v)| v)
            .map_or_else(String::new, |v| v.to_string_lossy().into_owned());
        let args: Vec<_> = cmd.get_args().collect();
        let test = args.windows(2).find(|w| w[1] == "--exact").map(|w| w[0]);
        let role = match test {
            Some(test) => format!("{} as {role}", test.to_string_lossy()),
            None => role,
        };
        let mut child = spawn(&mut cmd);
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let msg = match line.strip_prefix(PREFIX) {
                    Some(msg) => msg.to_owned(),
                    // The library's failpoints announce themselves this way.
                    None => match line.strip_prefix("@shmkit-failpoint ") {
                        Some(point) => format!("failpoint {point}"),
                        None => continue,
                    },
                };
                if tx.send(msg).is_err() {
                    break;
                }
            }
        });
        Child {
            child,
            stdin,
            lines,
            role,
            recorded: false,
        }
    }

    /// Notes how the child ended in [`ENDINGS`], once.
    fn record(&mut self, status: ExitStatus, killed: bool) {
        if !self.recorded {
            self.recorded = true;
            let role = self.role.clone();
            let _ = ENDINGS.try_with(|e| {
                e.borrow_mut().push(Ending {
                    role,
                    status,
                    killed,
                })
            });
        }
    }

    /// Kills the child with `SIGKILL` (on purpose), reaps it and records it.
    fn kill_and_reap(&mut self) {
        self.child.kill().unwrap();
        if let Ok(status) = self.child.wait() {
            self.record(status, true);
        }
    }

    /// Spawns test `test` of this binary in `role`.
    pub fn spawn(test: &str, role: &str, args: &[&str]) -> Child {
        Child::start(command(test, role, args))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends one line to the child.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for the child's next line. Panics if the child exits first or
    /// stays silent for a minute.
    pub fn recv(&mut self) -> String {
        match self.lines.recv_timeout(LINE_TIMEOUT) {
            Ok(line) => line,
            Err(e) => {
                let _ = self.child.kill();
                let status = self.child.wait();
                if let Ok(status) = status {
                    self.record(status, false);
                }
                panic!("child sent no line ({e:?}); it ended with {status:?}");
            }
        }
    }

    /// Waits at most `timeout` for the child's next line; `None` if none
    /// came (the child is left running).
    pub fn recv_within(&mut self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// Waits at most `timeout` for the child to exit; kills it and returns
    /// `None` if it is still running then (it hung).
    pub fn wait_within(mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        drop(self.stdin.take());
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.record(status, false);
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                // Hung: killed, but not as a test's purpose.
                let _ = self.child.kill();
                if let Ok(status) = self.child.wait() {
                    self.record(status, false);
                }
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for the child to exit and asserts that it succeeded.
    pub fn wait_ok(mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        self.record(status, false);
        assert!(status.success(), "child failed: {status}");
    }

    /// Waits for the child to exit and returns how it ended.
    pub fn wait_status(mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        self.record(status, false);
        status
    }

    /// How the child ended, if it has (without waiting).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        let status = self.child.try_wait().unwrap();
        if let Some(status) = status {
            self.record(status, false);
        }
        status
    }

    /// Kills the child with SIGKILL, reaps it, and returns the lines it
    /// sent that were not received yet.
    pub fn kill9_then_lines(mut self) -> Vec<String> {
        self.kill_and_reap();
        // The reader thread ends at the end of the pipe.
        let mut lines = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(LINE_TIMEOUT) {
            lines.push(line);
        }
        lines
    }

    /// Kills the child with SIGKILL and reaps it.
    pub fn kill9(mut self) {
        self.kill_and_reap();
    }
}

/// Whether `python3` with `multiprocessing.shared_memory` is here; prints why
/// a test is skipped when it is not.
pub fn python_has_shared_memory() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "from multiprocessing import shared_memory"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: python3 with multiprocessing.shared_memory is not available");
    }
    ok
}

/// Starts test `test` of this binary in `role`, inside a private mount
/// namespace whose `/dev/shm` is a fresh tmpfs of `size` (e.g. "1m"): the
/// child sees only what it makes there, and the machine's own segments are
/// out of its reach. `None`, with the reason printed, where that cannot be
/// done (not root, or no `unshare`).
#[cfg(target_os = "linux")]
pub fn spawn_in_private_dev_shm(
    test: &str,
    role: &str,
    args: &[&str],
    size: &str,
) -> Option<Child> {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: a private /dev/shm needs root");
        return None;
    }
    let probe = Command::new("unshare").args(["-m", "true"]).status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("skipped: `unshare -m` is not available here");
        return None;
    }
    let mount = format!("mount -t tmpfs -o size={size} shmkit-test /dev/shm && exec \"$0\" \"$@\"");
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", &mount])
        .arg(std::env::current_exe().unwrap());
    child_args(&mut cmd, test, role, args);
    Some(Child::start(cmd))
}

/// A child whose handle is dropped unreaped: recorded if it has ended, else
/// noted as unreaped.
impl Drop for Child {
    fn drop(&mut self) {
        if self.recorded {
            return;
        }
        match self.child.try_wait() {
            Ok(Some(status)) => self.record(status, false),
            _ => {
                let role = self.role.clone();
                // `try_with`: a handle dropped as the thread ends finds the
                // list gone, and has no test left to tell.
                let _ = UNREAPED.try_with(|u| u.borrow_mut().push(role));
            }
        }
    }
}

/// Removes a queue (SPSC, MPMC or broadcast) and its lock files when dropped.
pub struct QueueCleanup(pub String);

impl Drop for QueueCleanup {
    fn drop(&mut self) {
        let _ = shmkit::queue::remove(&self.0);
    }
}

/// SplitMix64: the deterministic generator of test message lengths and
/// contents.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Kills the child if the test fails before it does (a looping child, or
/// one sleeping at a failpoint, would otherwise outlive the test and keep
/// its output pipes open).
pub struct KillOnDrop(pub Option<Child>);

impl KillOnDrop {
    pub fn get(&mut self) -> &mut Child {
        self.0.as_mut().unwrap()
    }

    pub fn kill9(&mut self) {
        self.0.take().unwrap().kill9();
    }

    /// The child, no longer killed on drop.
    pub fn take(&mut self) -> Child {
        self.0.take().unwrap()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = self.0.take() {
            child.kill9();
        }
    }
}

/// xorshift64*: the scribblers' and random kills' seeded generator.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(mix(seed) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A count from the environment variable `var`, or `default`.
pub fn env_count(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

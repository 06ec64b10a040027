//! Runs every example in `crates/shmkit/examples/` as a user would, and
//! asserts that it succeeds. Each example starts its own second process (it
//! re-executes itself), checks what that process did, and exits non-zero on
//! failure.
//!
//! In a host build the examples are built first with the cargo that runs
//! this test (`cargo build -p shmkit --examples`, same profile and target
//! directory; a no-op after `cargo test`, which builds them too), so that a
//! filtered run such as `cargo test -p shmkit --test examples` never runs a
//! stale binary. In a cross build (`--target`: the 32-bit and Wine runs) the
//! examples that `cargo test` built beside this test are run; if there are
//! none (`cargo test --tests` builds no examples), each test prints that it
//! skipped and why.
#![allow(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long one example may run before it counts as hung.
const DEADLINE: Duration = Duration::from_secs(120);

/// Where the examples are, and whether this test built them (so that each
/// must be there), or why they cannot be run.
fn examples_dir() -> &'static Result<(PathBuf, bool), String> {
    static DIR: OnceLock<Result<(PathBuf, bool), String>> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        // target/[TRIPLE/]PROFILE/deps/examples-HASH
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .ok_or("the test binary is not in PROFILE/deps")?;
        let dir = profile_dir.join("examples");
        let target_dir = profile_dir.parent().ok_or("no target directory")?;
        // Cargo tags its target directory and, in a cross build, the
        // `TRIPLE` directory inside it too: a tagged parent means `--target`.
        let tagged = |dir: &Path| dir.join("CACHEDIR.TAG").exists();
        let host_build = tagged(target_dir) && !target_dir.parent().is_some_and(tagged);
        match std::env::var_os("CARGO") {
            Some(cargo) if host_build => {
                build(&cargo, target_dir, profile_dir)?;
                Ok((dir, true))
            }
            _ if dir.is_dir() => Ok((dir, false)),
            _ => Err(format!(
                "no examples built in {} (a cross build run with `--tests`, or without cargo); \
                 `cargo test -p shmkit` builds and runs them",
                dir.display()
            )),
        }
    })
}

/// `cargo build -p shmkit --examples` into the target directory and profile
/// of this test binary.
fn build(cargo: &std::ffi::OsStr, target_dir: &Path, profile_dir: &Path) -> Result<(), String> {
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--quiet",
        "-p",
        "shmkit",
        "--examples",
        "--target-dir",
    ])
    .arg(target_dir);
    match profile_dir.file_name().and_then(|p| p.to_str()) {
        Some("debug") => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(other) => {
            cmd.args(["--profile", other]);
        }
        None => return Err("no profile directory".into()),
    }
    let status = cmd.status().map_err(|e| format!("running cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`cargo build -p shmkit --examples` failed: {status}"
        ))
    }
}

/// Runs example `name`, asserts that it exits with success within
/// [`DEADLINE`] and that its output has `expect` in it.
fn run(name: &str, expect: &str) {
    let (dir, built_here) = match examples_dir() {
        Ok((dir, built_here)) => (dir, *built_here),
        Err(why) if why.starts_with("no examples built") => {
            println!("skipped: example `{name}`: {why}");
            return;
        }
        Err(why) => panic!("cannot build the examples: {why}"),
    };
    let exe = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !exe.is_file() && !built_here {
        // A cross build run with `--tests` (the sanitizer run) makes the
        // directory but builds no example.
        println!(
            "skipped: example `{name}`: not built in {} (a cross build run with `--tests`); \
             `cargo test -p shmkit` builds and runs it",
            dir.display()
        );
        return;
    }
    assert!(exe.is_file(), "no example binary at {}", exe.display());
    let mut child = Command::new(&exe)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", exe.display()));
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("example `{name}` ran longer than {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "example `{name}` failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains(expect),
        "example `{name}` did not print {expect:?}:\n{stdout}"
    );
}

#[test]
fn segment() {
    run(
        "two_processes",
        "first:  read back \"Hello back from the second one\"",
    );
}

#[test]
fn typed_struct() {
    run("textbook", "first:  Value is now 456");
}

#[test]
fn spsc() {
    run("spsc", "consumer: got `hello` and 1000 numbers in order");
}

#[test]
fn typed_channel() {
    run("channel", "receiver: 100 readings");
}

#[test]
fn mpmc() {
    run("mpmc", "consumer: 1000 messages from two producers");
}

#[test]
fn broadcast() {
    run(
        "broadcast",
        "publisher: 20 messages, seen by both subscribers",
    );
}

#[test]
fn mutex() {
    run("mutex", "counted to 20000 in two processes");
}

#[test]
fn event() {
    run("event", "waiter: woken by the other process, which left 42");
}

#[test]
fn seqlock() {
    run(
        "seqlock",
        "consistent reads while the other process wrote 100000 times",
    );
}

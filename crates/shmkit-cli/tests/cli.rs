//! Every `shmkit` command, run as the real binary against real segments:
//! shmkit's own, and raw ones made by Python and by hand.
#![cfg(target_os = "linux")]
#![allow(missing_docs)] // test types

#[path = "../../shmkit/tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{role, say, unique, Child, Cleanup};
use shmkit::Shared;

#[derive(shmkit::Layout, Clone, Copy)]
#[repr(C)]
struct MySharedData {
    value: i32,
    letter: u16,
    _pad: [u8; 2],
    numbers: [f32; 50],
}

fn sample() -> MySharedData {
    let mut numbers = [0.0; 50];
    numbers[10] = 1.45;
    MySharedData {
        value: 123,
        letter: u16::from(b'X'),
        _pad: [0; 2],
        numbers,
    }
}

fn shmkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shmkit"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = shmkit(args);
    assert!(
        out.status.success(),
        "shmkit {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a failing command: exit code 1 and a one-line message.
fn fails(args: &[&str]) -> String {
    let out = shmkit(args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "shmkit {args:?}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    err
}

/// A Python process that creates a raw segment, writes into it, and holds it
/// until told to go.
struct Python(std::process::Child);

impl Python {
    fn start(name: &str) -> Python {
        let script = r#"
import sys
from multiprocessing import shared_memory
shm = shared_memory.SharedMemory(name=sys.argv[1], create=True, size=4096)
shm.buf[:16] = b"made by python!!"
print("ready", flush=True)
sys.stdin.readline()
shm.close()
shm.unlink()
"#;
        let mut child = Command::new("python3")
            .args(["-c", script, name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        Python(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.0.stdin.as_mut().unwrap().write_all(b"\n");
        let _ = self.0.wait();
    }
}

#[test]
fn ls_lists_typed_and_python_segments_with_their_users() {
    let typed = unique("ls-typed");
    let _data = Shared::create_with(&typed, sample()).unwrap();
    let me = std::process::id().to_string();
    let text = ok(&["ls"]);
    let line = text
        .lines()
        .find(|l| l.starts_with(&typed))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("MySharedData: 208 B, 4 fields (ready)"),
        "{line}"
    );
    assert!(
        line.contains(&format!("{me}/")),
        "this test maps it: {line}"
    );
    assert!(
        line.contains("0600") && line.contains("root") || !is_root(),
        "{line}"
    );
    assert!(text.lines().next().unwrap().starts_with("NAME"), "{text}");

    let json: serde_json::Value = serde_json::from_str(&ok(&["ls", "--json"])).unwrap();
    let seg = json["segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == typed.as_str())
        .unwrap();
    assert_eq!(seg["mode"], "0600");
    assert_eq!(seg["shmkit"]["type"], "MySharedData");
    assert_eq!(seg["shmkit"]["state"], "ready");
    assert!(seg["users"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["pid"].as_u64() == Some(std::process::id().into())));

    if !common::python_has_shared_memory() {
        return;
    }
    let raw = unique("ls-py");
    let py = Python::start(&raw);
    let text = ok(&["ls"]);
    let line = text
        .lines()
        .find(|l| l.starts_with(&raw))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("4.0 KiB") && line.contains("raw"), "{line}");
    assert!(line.contains(&format!("{}/python3", py.pid())), "{line}");
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[test]
fn info_decodes_the_fields_of_a_typed_segment() {
    let name = unique("info");
    let _data = Shared::create_with(&name, sample()).unwrap();
    let text = ok(&["info", &name]);
    for expected in [
        "state:     ready",
        "MySharedData: 208 B, 4 fields",
        "FIELD",
        "value    i32",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    let value_line = text.lines().find(|l| l.starts_with("value ")).unwrap();
    assert!(value_line.ends_with(" 123"), "{value_line}");
    let numbers = text.lines().find(|l| l.starts_with("numbers ")).unwrap();
    assert!(
        numbers.contains("1.45") && numbers.contains("34 more"),
        "{numbers}"
    );

    let json: serde_json::Value = serde_json::from_str(&ok(&["info", &name, "--json"])).unwrap();
    let fields = json["fields"].as_array().unwrap();
    assert_eq!(fields[0]["path"], "value");
    assert_eq!(fields[0]["value"], 123);
    assert_eq!(fields[1]["value"], 88);
    assert_eq!(fields[3]["type"], "[f32; 50]");
    assert_eq!(fields[3]["value"][10], 1.45);
    assert_eq!(json["shmkit"]["data_size"], 208);

    let err = fails(&["info", &unique("nothing")]);
    assert!(
        err.contains("no segment named") && err.contains("shmkit ls"),
        "{err}"
    );
}

#[test]
fn info_and_dump_read_a_raw_python_segment() {
    if !common::python_has_shared_memory() {
        return;
    }
    let name = unique("py-dump");
    let _py = Python::start(&name);
    let info = ok(&["info", &name]);
    assert!(info.contains("raw bytes (no shmkit header)"), "{info}");
    let dump = ok(&["dump", &name]);
    let first = dump.lines().next().unwrap();
    assert_eq!(
        first,
        "00000000: 6d61 6465 2062 7920 7079 7468 6f6e 2121  made by python!!"
    );
    // The zero pages collapse, and the end offset closes the dump.
    assert_eq!(dump.lines().nth(2), Some("*"), "{dump}");
    assert_eq!(dump.lines().last(), Some("00001000"));
    let part = ok(&["dump", &name, "--offset", "5", "--len", "3"]);
    assert_eq!(
        part,
        "00000005: 6279 20                                  by \n"
    );
    // One number syntax everywhere: hex offsets, unit lengths.
    let hex = ok(&["dump", &name, "--offset", "0x5", "--len", "3"]);
    assert_eq!(hex, part);
    let kib = ok(&["dump", &name, "--offset", "0x10", "--len", "1K"]);
    assert!(kib.starts_with("00000010: "), "{kib}");
    assert_eq!(kib.lines().last(), Some("00000410"), "{kib}");
    let err = fails(&["dump", &name, "--offset", "5000"]);
    assert!(err.contains("past the end"), "{err}");
}

#[test]
fn create_then_rm() {
    let name = unique("create");
    let _c = Cleanup(name.clone());
    let text = ok(&["create", &name, "--size", "4K", "--mode", "640"]);
    assert!(text.contains("4.0 KiB") && text.contains("0640"), "{text}");
    let info = ok(&["info", &name]);
    assert!(
        info.contains("mode:      0640") && info.contains("4096 bytes"),
        "{info}"
    );
    let err = fails(&["create", &name, "--size", "4K"]);
    assert!(err.contains("already exists"), "{err}");
    assert!(fails(&["create", &unique("bad"), "--size", "0"]).contains("at least 1"));
    assert!(fails(&["create", "bad/name", "--size", "1"]).contains("invalid segment name"));
    let err = fails(&["rm", &format!("/dev/shm/{name}")]);
    assert!(
        err.contains("is a path") && err.contains(&format!("`{name}`")),
        "{err}"
    );
    assert!(
        shmkit::Segment::exists(&name).unwrap(),
        "a path removes nothing"
    );
    assert!(ok(&["rm", &name]).contains("removed"));
    assert!(!shmkit::Segment::exists(&name).unwrap());
    assert!(fails(&["rm", &name]).contains("no segment named"));
}

#[test]
fn rm_refuses_a_segment_a_live_process_maps_unless_forced() {
    let name = unique("rm-live");
    let _c = Cleanup(name.clone());
    // `shmkit demo write` holds the segment until it reads a line.
    let mut writer = Command::new(env!("CARGO_BIN_EXE_shmkit"))
        .args(["demo", "write", &name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(writer.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let err = fails(&["rm", &name]);
    assert!(
        err.contains(&format!("pid {} (shmkit)", writer.id())),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    assert!(shmkit::Segment::exists(&name).unwrap());
    assert!(ok(&["rm", &name, "--force"]).contains("removed"));
    assert!(!shmkit::Segment::exists(&name).unwrap());
    // The writer's mapping outlives the name: it still reads its values.
    writer.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(writer.wait().unwrap().success());
    assert!(rest.contains("Value is 123"), "{rest}");
}

#[test]
fn rm_of_a_queue_removes_its_lock_files_but_not_a_live_endpoints() {
    let exists = |p: &str| std::path::Path::new(p).exists();
    let opts = shmkit::queue::Options::default().persist(true);
    // Nobody left: the queue's lock file goes with it.
    let queue = unique("rm-queue");
    drop(shmkit::queue::spsc::Consumer::create_with(&queue, 4096, &opts).unwrap());
    let consumer_lock = format!("/dev/shm/.shmkit-lock.{queue}.consumer");
    assert!(exists(&consumer_lock));
    let text = ok(&["rm", &queue]);
    assert!(!shmkit::Segment::exists(&queue).unwrap(), "{text}");
    assert!(!exists(&consumer_lock), "the unheld lock file goes: {text}");
    assert!(
        text.contains(&format!("removed `.shmkit-lock.{queue}.consumer`")),
        "{text}"
    );

    // This process stays a live producer, holding its role's lock file.
    let queue = unique("rm-queue-live");
    let producer = shmkit::queue::spsc::Producer::create_with(&queue, 4096, &opts).unwrap();
    let producer_lock = format!("/dev/shm/.shmkit-lock.{queue}.producer");
    assert!(exists(&producer_lock));
    let text = ok(&["rm", &queue, "--force"]);
    assert!(!shmkit::Segment::exists(&queue).unwrap(), "{text}");
    assert!(exists(&producer_lock), "a live endpoint's stays: {text}");
    assert!(
        text.contains(&format!(
            "kept    `.shmkit-lock.{queue}.producer`: held by {}/",
            std::process::id()
        )),
        "{text}"
    );
    drop(producer);
    let _ = std::fs::remove_file(&producer_lock);
    let _ = std::fs::remove_file(format!("/dev/shm/.shmkit-lock.{queue}.consumer"));
}

#[test]
fn set_writes_fields_checked_against_the_stored_layout() {
    let name = unique("set");
    let data = Shared::create_with(&name, sample()).unwrap();
    let text = ok(&["set", &name, "value=7", "numbers[10]=2.5"]);
    assert!(
        text.contains("value = 7 (i32)") && text.contains("numbers[10] = 2.5 (f32)"),
        "{text}"
    );
    assert_eq!(data.value().get().unwrap(), 7);
    assert_eq!(data.numbers().at(10).get().unwrap(), 2.5);
    // All assignments are checked before any is written.
    let err = fails(&["set", &name, "value=9", "letter=70000"]);
    assert!(err.contains("not a valid u16"), "{err}");
    assert_eq!(data.value().get().unwrap(), 7);
    let err = fails(&["set", &name, "colour=1"]);
    assert!(
        err.contains("no field `colour`") && err.contains("value, letter, _pad, numbers"),
        "{err}"
    );
    let err = fails(&["set", &name, "numbers[50]=1"]);
    assert!(err.contains("out of bounds"), "{err}");
    let err = fails(&["set", &name, "numbers=1"]);
    assert!(err.contains("not a single value"), "{err}");
    let raw = unique("set-raw");
    let _r = shmkit::Segment::create(&raw, 64).unwrap();
    assert!(fails(&["set", &raw, "x=1"]).contains("no shmkit header"));
}

#[derive(shmkit::Layout)]
#[shmkit(in_place)]
#[repr(C)]
struct Guarded {
    count: shmkit::sync::Mutex<u64>,
    ready: shmkit::sync::Event,
    plain: std::sync::atomic::AtomicU64,
}

#[test]
fn set_refuses_lock_words_and_guarded_data_unless_told() {
    let name = unique("set-sync");
    let data = Shared::<Guarded>::create(&name).unwrap();
    let err = fails(&["set", &name, "count.word=5"]);
    assert!(
        err.contains("a word of the Mutex `count`") && err.contains("--ignore-locks"),
        "{err}"
    );
    let err = fails(&["set", &name, "count.data=5"]);
    assert!(err.contains("data guarded by the Mutex `count`"), "{err}");
    let err = fails(&["set", &name, "ready.state=1"]);
    assert!(err.contains("a word of the Event `ready`"), "{err}");
    // Nothing was written: the lock is still free and holds 0.
    assert_eq!(*data.get().count.try_lock().unwrap(), 0);
    assert!(ok(&["set", &name, "plain=3"]).contains("plain = 3"));
    // With the flag, the intent is explicit.
    assert!(ok(&["set", &name, "count.data=5", "--ignore-locks"]).contains("count.data = 5"));
    assert_eq!(*data.get().count.try_lock().unwrap(), 5);
}

#[test]
fn info_shows_mutex_holder_and_event_state() {
    let name = unique("info-sync");
    let data = Shared::<Guarded>::create(&name).unwrap();
    let line = |text: &str, field: &str| {
        text.lines()
            .find(|l| l.starts_with(field) && (l.contains("Mutex") || l.contains("Event")))
            .unwrap_or_else(|| panic!("no {field} line: {text}"))
            .to_owned()
    };
    let text = ok(&["info", &name]);
    assert!(line(&text, "count").ends_with("unlocked"), "{text}");
    assert!(line(&text, "ready").ends_with("not signalled"), "{text}");
    data.get().ready.notify_one().unwrap();
    assert!(data.get().ready.is_signalled());
    let guard = data.get().count.lock().unwrap();
    let text = ok(&["info", &name]);
    assert!(
        line(&text, "count").contains("held by thread ")
            && line(&text, "count").contains("(alive)"),
        "{text}"
    );
    assert!(line(&text, "ready").ends_with(" signalled"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&ok(&["info", &name, "--json"])).unwrap();
    assert_eq!(json["sync"][0]["path"], "count");
    drop(guard);
}

#[test]
fn info_shows_a_mutex_whose_holder_was_killed() {
    if let Some((_, args)) = role() {
        let data = Shared::<Guarded>::open(&args[0]).unwrap();
        let guard = data.get().count.lock().unwrap();
        say("locked");
        common::hear();
        drop(guard);
        unreachable!("killed while holding the lock");
    }
    let name = unique("info-dead");
    let _data = Shared::<Guarded>::create(&name).unwrap();
    let mut holder = Child::start(common::command(
        "info_shows_a_mutex_whose_holder_was_killed",
        "hold",
        &[&name],
    ));
    assert_eq!(holder.recv(), "locked");
    holder.kill9();
    let text = ok(&["info", &name]);
    let line = text
        .lines()
        .find(|l| l.starts_with("count") && l.contains("Mutex"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("which died"), "{text}");
}

#[test]
fn info_shows_a_queues_live_endpoints() {
    let queue = unique("info-queue");
    let _q = common::QueueCleanup(queue.clone());
    let _rx = shmkit::queue::spsc::Consumer::create(&queue, 4096).unwrap();
    let text = ok(&["info", &queue]);
    let me = std::process::id();
    let consumer = text
        .lines()
        .find(|l| l.starts_with("consumer "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(consumer.contains(&format!("pid {me} (")), "{text}");
    assert!(consumer.contains("alive"), "{text}");
    assert!(text.contains("4.0 KiB ring (0 B used)"), "{text}");

    // Two messages waiting: the fill level says so, in text and JSON.
    let mut tx = shmkit::queue::spsc::Producer::open(&queue).unwrap();
    tx.send(&[7u8; 100]).unwrap();
    tx.send(&[7u8; 100]).unwrap();
    let text = ok(&["info", &queue]);
    assert!(!text.contains("(0 B used)"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&ok(&["info", &queue, "--json"])).unwrap();
    let used = json["shmkit"]["used"]
        .as_u64()
        .unwrap_or_else(|| panic!("{json}"));
    assert!(
        (200..=4096).contains(&used),
        "two 100-byte records and headers: {json}"
    );
}

#[test]
fn watch_shows_fields_and_counts_changes() {
    let name = unique("watch");
    let data = Shared::create_with(&name, sample()).unwrap();
    let mut watcher = Command::new(env!("CARGO_BIN_EXE_shmkit"))
        .args(["watch", &name, "--interval", "100ms", "--count", "8"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(watcher.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with("shmkit watch"), "{line}");
    // Change `value` while the watcher runs: once per frame at most.
    for v in 0..4 {
        data.value().set(1000 + v).unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(watcher.wait().unwrap().success());
    let last_value = rest.lines().rfind(|l| l.starts_with("value ")).unwrap();
    let cells: Vec<&str> = last_value.split_whitespace().collect();
    assert_eq!(cells[2], "1003", "{last_value}");
    let changes: u64 = cells[3].parse().unwrap();
    assert!((2..=4).contains(&changes), "{last_value}");
    let letter = rest.lines().rfind(|l| l.starts_with("letter ")).unwrap();
    assert_eq!(letter.split_whitespace().nth(3), Some("0"), "{letter}");
    assert!(
        line.contains("sampled every") && rest.contains("CHANGES SEEN"),
        "the counts are labelled as sampled: {line}{rest}"
    );
    assert!(!rest.contains("note: "), "the segment is live: {rest}");
}

#[test]
fn watch_says_when_the_name_is_gone() {
    let name = unique("watch-gone");
    let data = Shared::create_with(&name, sample()).unwrap();
    let mut watcher = Command::new(env!("CARGO_BIN_EXE_shmkit"))
        .args(["watch", &name, "--interval", "100ms", "--count", "6"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(watcher.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    shmkit::Segment::remove(&name).unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(watcher.wait().unwrap().success());
    drop(data);
    let last = rest.rsplit("shmkit watch").next().unwrap();
    assert!(
        last.contains(&format!("note: the name `{name}` is gone")),
        "{rest}"
    );
}

/// In a real terminal (a pty made by `script`), `q` quits cleanly.
#[test]
fn watch_quits_on_q_in_a_terminal() {
    if !Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        eprintln!("skipped: `script` (util-linux) is not available to make a pty");
        return;
    }
    let name = unique("watch-q");
    let _data = Shared::create_with(&name, sample()).unwrap();
    let cmd = format!(
        "{} watch {name} --interval 100ms",
        env!("CARGO_BIN_EXE_shmkit")
    );
    let mut term = Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(term.stdout.take().unwrap());
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("FIELD") {
        let buf = out.fill_buf().unwrap();
        assert!(
            !buf.is_empty(),
            "watch ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(buf);
        let n = buf.len();
        out.consume(n);
    }
    assert!(String::from_utf8_lossy(&seen).contains("q or Ctrl-C to quit"));
    term.stdin.as_mut().unwrap().write_all(b"q").unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = term.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "watch did not quit on q"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn names_with_escape_sequences_print_harmlessly() {
    let name = format!("evil\x1b[2J\x1b[31m{}\nnext", std::process::id());
    let path = format!("/dev/shm/{name}");
    std::fs::write(&path, b"x").unwrap();
    let text = shmkit(&["ls"]);
    std::fs::remove_file(&path).ok();
    assert!(text.status.success());
    assert!(
        !text.stdout.contains(&0x1b),
        "no raw escape byte reaches the terminal"
    );
    let shown = format!("evil\\x1b[2J\\x1b[31m{}\\x0anext", std::process::id());
    assert!(
        String::from_utf8_lossy(&text.stdout).contains(&shown),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
}

#[test]
fn usage_errors_exit_2_and_help_has_examples() {
    assert_eq!(shmkit(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(shmkit(&["rm"]).status.code(), Some(2));
    assert_eq!(
        shmkit(&["watch", "x", "--interval", "soon"]).status.code(),
        Some(2)
    );
    for cmd in [
        "ls", "info", "dump", "create", "rm", "gc", "watch", "set", "demo",
    ] {
        let help = ok(&[cmd, "--help"]);
        assert!(help.contains("Examples:"), "{cmd} --help:\n{help}");
    }
}

/// `gc` in a private mount namespace with a fresh tmpfs on /dev/shm, so that
/// it sees only this test's segments and never touches the machine's own.
#[test]
fn gc_removes_only_unused_shmkit_segments() {
    if let Some((_, args)) = role() {
        gc_scenario(&args[0]);
        say("done");
        return;
    }
    let Some(mut child) = common::spawn_in_private_dev_shm(
        "gc_removes_only_unused_shmkit_segments",
        "scenario",
        &[&unique("gc")],
        "64m",
    ) else {
        return;
    };
    assert_eq!(child.recv(), "done");
    child.wait_ok();
}

fn gc_scenario(base: &str) {
    let used = format!("{base}-used");
    let killed = format!("{base}-killed");
    let abandoned = format!("{base}-aband");
    let raw = format!("{base}-raw");
    // In use: a live `shmkit demo write` maps it.
    let mut writer = Command::new(env!("CARGO_BIN_EXE_shmkit"))
        .args(["demo", "write", &used])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(writer.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    // A creator killed with SIGKILL after "ready": the name stays, unused.
    let mut victim = Command::new(env!("CARGO_BIN_EXE_shmkit"))
        .args(["demo", "write", &killed])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    BufReader::new(victim.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    victim.kill().unwrap();
    victim.wait().unwrap();
    // A creator killed before "ready" (failpoint), shown as abandoned.
    abandon(&abandoned);
    // A raw segment nobody uses.
    drop(
        shmkit::Segment::options()
            .persist(true)
            .create(&raw, 100)
            .unwrap(),
    );
    // A queue kept after its creator left (persist), with its role lock
    // file; and a lock file whose queue is gone.
    let queue = format!("{base}-queue");
    let opts = shmkit::queue::Options::default().persist(true);
    drop(shmkit::queue::spsc::Consumer::create_with(&queue, 4096, &opts).unwrap());
    let queue_lock = format!("/dev/shm/.shmkit-lock.{queue}.consumer");
    assert!(std::path::Path::new(&queue_lock).exists());
    let orphan = format!(".shmkit-lock.{base}-gone.producer");
    std::fs::write(format!("/dev/shm/{orphan}"), b"").unwrap();
    // A queue whose header a peer scribbled (an unknown kind): corrupted,
    // still shmkit's, removed with its lock file in the same pass.
    let scribbled = format!("{base}-scrib");
    drop(shmkit::queue::spsc::Producer::create_with(&scribbled, 4096, &opts).unwrap());
    shmkit::Segment::open(&scribbled)
        .unwrap()
        .write_at(16, &99u32.to_le_bytes())
        .unwrap();
    let scribbled_lock = format!("/dev/shm/.shmkit-lock.{scribbled}.producer");
    assert!(std::path::Path::new(&scribbled_lock).exists());

    let ls = ok(&["ls"]);
    assert!(
        ls.lines()
            .any(|l| l.starts_with(&abandoned) && l.contains("(abandoned)")),
        "{ls}"
    );
    assert!(
        ls.lines().any(|l| l.starts_with(&queue)
            && l.contains("spsc queue: 4.0 KiB ring (0 B used), messages up to 4080 B")),
        "{ls}"
    );
    assert!(
        !ls.contains(".shmkit-lock."),
        "lock files are no segments: {ls}"
    );
    assert!(
        ls.contains("note: 1 role lock file(s) of removed queues"),
        "the orphan is counted: {ls}"
    );
    let ls_all = ok(&["ls", "--all"]);
    assert!(
        ls_all.lines().any(|l| l.starts_with(&orphan)
            && l.contains(&format!("role lock file of removed queue `{base}-gone`"))),
        "{ls_all}"
    );
    assert!(
        !ls_all.contains(&format!(".shmkit-lock.{queue}.")),
        "a live queue's lock file is no orphan: {ls_all}"
    );
    assert!(
        ls.lines().any(|l| l.starts_with(&scribbled)
            && l.contains("shmkit, corrupted: queue header: unknown queue kind 99")),
        "{ls}"
    );
    let info = ok(&["info", &queue, "--json"]);
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["shmkit"]["queue"], "spsc");
    assert_eq!(info["shmkit"]["capacity"], 4096);
    assert_eq!(info["shmkit"]["state"], "ready");

    // Processes outside this mount namespace cannot reach its private
    // tmpfs, so any that cannot be inspected (the sandbox's init, say) are
    // safely ignored here.
    let dry = ok(&["gc", "--dry-run", "--ignore-unreadable"]);
    assert!(dry.contains(&format!("would remove {killed}")), "{dry}");
    assert!(dry.contains(&format!("would remove {abandoned}")), "{dry}");
    assert!(dry.contains(&format!("would remove {queue}")), "{dry}");
    assert!(
        dry.contains(&format!("would remove {orphan}: role lock file")),
        "{dry}"
    );
    assert!(dry.contains(&format!("keep    {used}: used by")), "{dry}");
    assert!(
        dry.contains(&format!("keep    {raw}: not made by shmkit")),
        "{dry}"
    );
    assert!(
        shmkit::Segment::exists(&killed).unwrap(),
        "dry run removes nothing"
    );

    let gc = ok(&["gc", "--ignore-unreadable"]);
    assert!(
        gc.contains("4 segment(s) and 3 role lock file(s) removed"),
        "{gc}"
    );
    // The dry run listed exactly what the real run removed.
    let planned: Vec<String> = dry
        .lines()
        .filter_map(|l| l.strip_prefix("would remove "))
        .map(|l| l.split(':').next().unwrap().to_owned())
        .collect();
    let done: Vec<String> = gc
        .lines()
        .filter_map(|l| l.strip_prefix("removed "))
        .map(|l| l.split(':').next().unwrap().to_owned())
        .collect();
    assert_eq!(planned, done, "dry run:\n{dry}\nreal run:\n{gc}");
    assert!(
        dry.contains("4 segment(s) and 3 role lock file(s) would be removed"),
        "{dry}"
    );
    assert!(!shmkit::Segment::exists(&scribbled).unwrap());
    assert!(!std::path::Path::new(&scribbled_lock).exists(), "{gc}");
    assert!(!shmkit::Segment::exists(&queue).unwrap());
    assert!(!std::path::Path::new(&queue_lock).exists(), "{gc}");
    assert!(
        !std::path::Path::new(&format!("/dev/shm/{orphan}")).exists(),
        "{gc}"
    );
    assert!(!shmkit::Segment::exists(&killed).unwrap());
    assert!(!shmkit::Segment::exists(&abandoned).unwrap());
    assert!(shmkit::Segment::exists(&used).unwrap());
    assert!(shmkit::Segment::exists(&raw).unwrap());

    let all = ok(&["gc", "--all", "--ignore-unreadable"]);
    assert!(all.contains(&format!("removed {raw}")), "{all}");
    assert!(shmkit::Segment::exists(&used).unwrap());

    writer.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    assert!(writer.wait().unwrap().success());
}

/// Starts a creator that stops at the failpoint before "ready", and kills it
/// with SIGKILL there.
fn abandon(name: &str) {
    let mut cmd = common::command("creator_role_for_gc", "creator", &[name]);
    cmd.env("SHMKIT_FAILPOINT", "shared-before-ready");
    let mut creator = Child::start(cmd);
    assert_eq!(creator.recv(), "failpoint shared-before-ready");
    creator.kill9();
}

/// Only a child role: creates a typed segment (stopped by a failpoint).
#[test]
fn creator_role_for_gc() {
    if let Some((_, args)) = role() {
        let r = Shared::create_with(&args[0], sample());
        unreachable!("the failpoint stops this process: {r:?}");
    }
    // As a plain test: the failpoint feature is on in tests, and unnamed
    // points never fire.
    let name = unique("no-failpoint");
    assert!(Shared::create_with(&name, sample()).is_ok());
}

//! `shmkit demo`, run as the real binary.

use std::io::Write;
use std::process::{Command, Stdio};

fn shmkit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shmkit"))
}

#[test]
fn demo_shows_values_crossing_between_two_processes() {
    let out = shmkit().arg("demo").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let first_pid = lines[0]
        .split("(pid ")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let second_pid = lines[1]
        .split("(pid ")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    assert_ne!(first_pid, second_pid, "two processes:\n{text}");
    for expected in [
        "second: Value is 123",
        "second: Letter is X",
        "second: 11th Number is 1.45",
        "first:  Value is 456",
        "first:  Letter is Y",
        "first:  11th Number is 2.5",
    ] {
        assert!(
            lines.contains(&expected),
            "missing {expected:?} in:\n{text}"
        );
    }
}

#[test]
fn demo_halves_run_by_hand() {
    let name = format!("cli-demo-{}", std::process::id());
    let mut writer = shmkit()
        .args(["demo", "write", &name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the writer to have written, by reading its first line.
    let mut out = std::io::BufReader::new(writer.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert!(line.starts_with("Written to shared memory"), "{line}");

    let read = shmkit()
        .args(["demo", "read", "--answer", &name])
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let text = String::from_utf8(read.stdout).unwrap();
    assert!(
        text.contains("Value is 123") && text.contains("Letter is X"),
        "{text}"
    );

    writer.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(writer.wait().unwrap().success());
    assert!(
        rest.contains("Value is 456") && rest.contains("11th Number is 2.5"),
        "{rest}"
    );
    // The writer created the segment without --persist: it is gone now.
    let gone = shmkit().args(["demo", "read", &name]).output().unwrap();
    assert_eq!(gone.status.code(), Some(1));
    let err = String::from_utf8(gone.stderr).unwrap();
    assert!(err.contains("no segment named"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let out = shmkit().args(["demo", "read"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

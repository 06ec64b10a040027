//! `shmkit bridge`: runs `shmkit-bridge` from next to `shmkit` or from
//! PATH with the arguments given, and passes its exit code on; without it,
//! says how to install it and fails.
#![cfg(unix)]
#![allow(missing_docs)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_shmkit"))
}

/// A fresh directory for a fake PATH.
fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("shmkit-bridge-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Whether a real bridge sits next to `shmkit` (then it, not PATH, is run).
fn bridge_beside_shmkit() -> bool {
    let beside = exe().with_file_name("shmkit-bridge").is_file();
    if beside {
        println!(
            "skipped: a shmkit-bridge next to {} would be run",
            exe().display()
        );
    }
    beside
}

#[test]
fn bridge_without_the_program_says_how_to_install_it_and_fails() {
    if bridge_beside_shmkit() {
        return;
    }
    let empty = temp_dir("none");
    let out = Command::new(exe())
        .args(["bridge", "--listen", "tcp/127.0.0.1:7447", "--export", "x"])
        .env("PATH", &empty)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&empty);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cargo install --path bridge/shmkit-zenoh"),
        "{err}"
    );
    assert!(err.contains("shmkit-bridge"), "{err}");
}

#[test]
fn bridge_runs_the_program_on_path_with_every_argument_and_its_exit_code() {
    if bridge_beside_shmkit() {
        return;
    }
    let dir = temp_dir("fake");
    let fake = dir.join("shmkit-bridge");
    std::fs::write(
        &fake,
        "#!/bin/sh\nfor a in \"$@\"; do echo \"arg:$a\"; done\nexit 7\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let args = [
        "--connect",
        "tcp/10.0.0.1:7447",
        "--import",
        "a",
        "b",
        "--json",
        "--help",
    ];
    let out = Command::new(exe())
        .arg("bridge")
        .args(args)
        .env("PATH", &dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    let got: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("arg:"))
        .collect();
    assert_eq!(got, args, "{text}");
    assert_eq!(out.status.code(), Some(7));
}

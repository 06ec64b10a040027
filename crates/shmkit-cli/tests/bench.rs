//! `shmkit bench`, run as the real binary with tiny counts: every row is
//! there and its numbers hang together. Speed is never asserted here.
#![cfg(target_os = "linux")]

use std::process::{Command, Stdio};
use std::sync::Mutex;

use serde_json::Value;

/// Runs `shmkit bench --quick --json` with `extra` arguments, optionally
/// under `taskset -c CPUS`, and parses its output.
fn bench(extra: &[&str], cpus: Option<&str>) -> Value {
    // One bench at a time: two of them busy-spinning on the same two pinned
    // CPUs would only wait for each other.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let exe = env!("CARGO_BIN_EXE_shmkit");
    let mut cmd = match cpus {
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpus, exe]);
            c
        }
        None => Command::new(exe),
    };
    let child = cmd
        .args(["bench", "--quick", "--json"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running shmkit bench");
    // taskset execs shmkit, so this is the bench's pid, which names its queues.
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "shmkit bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The run leaves /dev/shm as it found it: no queue or lock file of its own.
    let left: Vec<String> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(&format!("skq{pid}-")))
        .collect();
    assert!(left.is_empty(), "shmkit bench left {left:?} in /dev/shm");
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

/// The latency rows that busy-spin, in table order (skipped without pinning).
const SPINNING_ROWS: [&str; 8] = [
    "bare-cache-line",
    "bare-two-lines",
    "bare-seq-ring",
    "bare-queue-model",
    "shmkit-queue-spin",
    "shmkit-queue-zero-copy",
    "shmkit-seqlock",
    "shmkit-mutex",
];

/// The other latency rows, in table order.
const BLOCKING_ROWS: [&str; 14] = [
    "bare-futex",
    "shmkit-event",
    "shmkit-queue-spin-block",
    "shmkit-queue-block",
    "shmkit-waitset-64",
    "shmkit-async-tokio",
    "shmkit-async-idle",
    "shmkit-broadcast-1",
    "shmkit-broadcast-2",
    "shmkit-broadcast-4",
    "pipe",
    "uds",
    "tokio-uds",
    "tcp",
];

fn names(group: &Value) -> Vec<&str> {
    group["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect()
}

/// Checks one latency group: percentiles ordered and positive, the limit
/// at ratio 1, every classic IPC at or above the best one. The p50 is
/// interpolated within the clock's step `tick` and the other percentiles
/// are not, so it may pass p99 by up to half a step and the nanosecond of
/// rounding (when nearly all samples fall in one step).
fn check_latency(group: &Value, tick: f64) {
    let rounds = &group["rounds"];
    assert!(num(rounds, "total") >= 1.0 && num(rounds, "kept") <= num(rounds, "total"));
    for row in group["rows"].as_array().unwrap() {
        let (p50, p99, p999, max) = (
            num(row, "p50_ns"),
            num(row, "p99_ns"),
            num(row, "p999_ns"),
            num(row, "max_ns"),
        );
        assert!(p50 > 0.0, "{row}");
        assert!(p50 <= p99 + tick / 2.0 + 1.0, "{row}");
        assert!(p99 <= p999 && p999 <= max, "{row}");
        match row["class"].as_str().unwrap() {
            "limit" => assert_eq!(num(row, "x_limit"), 1.0, "{row}"),
            "classic-ipc" => {
                assert!(num(row, "x_best_ipc") >= 1.0 - 1e-9, "{row}");
                assert!(num(row, "x_limit") > 0.0, "{row}");
            }
            _ => assert!(num(row, "x_best_ipc") > 0.0, "{row}"),
        }
        // The ratio's quartiles over rounds bracket its median.
        let q = row["x_limit_quartiles"].as_array().expect("quartiles");
        let (q1, q3) = (q[0].as_f64().unwrap(), q[1].as_f64().unwrap());
        assert!(
            q1 <= num(row, "x_limit") && num(row, "x_limit") <= q3,
            "{row}"
        );
        if row["class"] == "limit" {
            assert_eq!((q1, q3), (1.0, 1.0), "{row}");
        }
    }
}

/// Checks one throughput group: rates positive, memcpy at ratio 1, every
/// classic IPC at or below the best one.
fn check_throughput(group: &Value) {
    for row in group["rows"].as_array().unwrap() {
        assert!(num(row, "gb_per_s") > 0.0, "{row}");
        assert!(num(row, "msgs_per_s") > 0.0, "{row}");
        let x_memcpy = num(row, "x_memcpy");
        match row["class"].as_str().unwrap() {
            "limit" => assert_eq!(x_memcpy, 1.0, "{row}"),
            "classic-ipc" => {
                assert!(x_memcpy > 0.0, "{row}");
                assert!(num(row, "x_best_ipc") <= 1.0 + 1e-9, "{row}");
            }
            "shmkit" => {
                assert!(x_memcpy > 0.0, "{row}");
                assert!(num(row, "x_best_ipc") > 0.0, "{row}");
            }
            other => panic!("unexpected class {other}"),
        }
        let q = row["x_memcpy_quartiles"].as_array().expect("quartiles");
        let (q1, q3) = (q[0].as_f64().unwrap(), q[1].as_f64().unwrap());
        assert!(q1 <= x_memcpy && x_memcpy <= q3, "{row}");
    }
}

#[test]
fn quick_json_has_every_row_with_sane_values_and_plot_writes_svg() {
    let dir = std::env::temp_dir().join(format!("shmkit-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("latency.svg");
    let v = bench(&["--plot", svg.to_str().unwrap()], None);

    let cpus = num(&v["machine"], "cpus");
    let pinned = !v["machine"]["pinned"].is_null();
    let latency = v["latency"].as_array().unwrap();
    let sizes: Vec<f64> = latency.iter().map(|g| num(g, "size")).collect();
    assert_eq!(sizes, [64.0, 4096.0]);
    for g in latency {
        let mut want = BLOCKING_ROWS.to_vec();
        if pinned {
            want.splice(0..0, SPINNING_ROWS);
        }
        assert_eq!(names(g), want);
        check_latency(g, num(&v["machine"], "clock_tick_ns"));
    }
    let throughput = v["throughput"].as_array().unwrap();
    let sizes: Vec<f64> = throughput.iter().map(|g| num(g, "size")).collect();
    assert_eq!(sizes, [64.0, 65536.0]);
    for g in throughput {
        assert_eq!(
            names(g),
            ["memcpy", "shmkit-queue", "shmkit-mpmc", "pipe", "uds"]
        );
        check_throughput(g);
    }
    if cpus >= 2.0 && !pinned {
        // Pinning failed: that must be said, not hidden.
        assert!(v["machine"]["busy_spin_skipped"].is_string());
    }

    let text = std::fs::read_to_string(&svg).expect("--plot wrote the file");
    assert!(
        text.starts_with("<svg"),
        "not an SVG: {}",
        &text[..80.min(text.len())]
    );
    for name in ["bare-futex", "pipe", "uds", "tcp", "64 B", "4 KiB"] {
        assert!(text.contains(name), "{name} missing from the plot");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn one_cpu_skips_busy_spinning_rows_and_says_why() {
    if Command::new("taskset").arg("-V").output().is_err() {
        eprintln!("taskset not installed: skipped");
        return;
    }
    // The first CPU this test may use.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let allowed = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim();
    let first = allowed.split(|c: char| !c.is_ascii_digit()).next().unwrap();
    let v = bench(&["--only", "latency", "--sizes", "64"], Some(first));
    assert_eq!(num(&v["machine"], "cpus"), 1.0);
    assert!(v["machine"]["pinned"].is_null());
    let why = v["machine"]["busy_spin_skipped"].as_str().unwrap();
    assert!(why.contains("only 1 CPU"), "{why}");
    let skipped = v["skipped"].as_array().unwrap();
    assert!(skipped
        .iter()
        .any(|s| s["name"] == "bare-cache-line" && s["reason"].as_str().unwrap().contains("CPU")));
    let g = &v["latency"][0];
    assert_eq!(names(g), BLOCKING_ROWS);
    // No limit row: no ratio to it, and no probe, so no round dropped.
    for row in g["rows"].as_array().unwrap() {
        assert!(row["x_limit"].is_null(), "{row}");
        assert!(row["x_limit_quartiles"].is_null(), "{row}");
    }
    assert_eq!(num(&g["rounds"], "kept"), num(&g["rounds"], "total"));
    assert!(v["throughput"].as_array().unwrap().is_empty());
}

#[test]
fn no_pin_says_busy_spinning_rows_are_skipped() {
    let v = bench(&["--only", "throughput", "--sizes", "4K"], None);
    assert!(v["latency"].as_array().unwrap().is_empty());
    assert_eq!(
        names(&v["throughput"][0]),
        ["memcpy", "shmkit-queue", "shmkit-mpmc", "pipe", "uds"]
    );
    let v = bench(&["--only", "latency", "--sizes", "64", "--no-pin"], None);
    assert!(v["machine"]["pinned"].is_null());
    assert!(v["machine"]["busy_spin_skipped"]
        .as_str()
        .unwrap()
        .contains("--no-pin"));
}

/// A row with a largest message (`bare-seq-ring`, 512 KiB rings) is left
/// out of bigger sizes' groups, and the run says so.
#[test]
fn rows_skip_sizes_they_cannot_carry_and_say_so() {
    let v = bench(
        &[
            "--only", "latency", "--sizes", "4K,600K", "--rounds", "1", "--iters", "20",
        ],
        None,
    );
    if v["machine"]["pinned"].is_null() {
        eprintln!("busy-spinning rows do not run on this machine: skipped");
        return;
    }
    let groups = v["latency"].as_array().unwrap();
    assert!(names(&groups[0]).contains(&"bare-seq-ring"));
    assert!(!names(&groups[1]).contains(&"bare-seq-ring"));
    assert!(names(&groups[1]).contains(&"shmkit-queue-spin"));
    let skipped = v["skipped"].as_array().unwrap();
    assert!(
        skipped
            .iter()
            .any(|s| s["name"] == "bare-seq-ring at 600 KiB"
                && s["reason"].as_str().unwrap().contains("at most")),
        "{skipped:?}"
    );
}

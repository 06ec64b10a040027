//! `shmkit bench`: shmkit's alternatives and the hardware limit, measured
//! side by side in one run, on the machine in front of the user.
//!
//! - `run.rs`: the peer process, pinning, rounds, probes and statistics
//!   (why the numbers can be trusted on a noisy VM: see its module docs).
//! - `transports.rs`: the candidates, one small struct each; the extension
//!   point is the `Transport` trait (latency rows) and the `Stream` trait
//!   (throughput rows). `shmkit_rows.rs` holds shmkit's own rows, and
//!   `model.rs` the queue's protocol without its checks (a reference row).
//! - `report.rs`: the table, the JSON and the plot.
//! - `linux.rs` / `other.rs`: CPU pinning and the futex, which only Linux
//!   has here.
//!
//! Windows has no bench yet: the command says so.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};

#[cfg(unix)]
mod async_rows;
#[cfg(unix)]
mod model;
#[cfg(unix)]
#[cfg_attr(target_os = "linux", path = "linux.rs")]
#[cfg_attr(not(target_os = "linux"), path = "other.rs")]
mod os;
#[cfg(unix)]
mod report;
#[cfg(unix)]
mod run;
#[cfg(unix)]
mod shmkit_rows;
#[cfg(unix)]
mod transports;

/// `shmkit bench`'s options.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Tiny counts, for tests: the numbers mean little.
    #[arg(long)]
    quick: bool,
    /// Rounds per group (default 10; 3 with --quick).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    rounds: Option<u32>,
    /// Round trips recorded per latency row per round (default 5000; 200
    /// with --quick).
    #[arg(long, value_parser = clap::value_parser!(u32).range(10..=100_000_000))]
    iters: Option<u32>,
    /// Message sizes, comma-separated, e.g. 64,4K,64K (default: 64 B, 4 KiB,
    /// 64 KiB for latency; those and 1 MiB for throughput).
    #[arg(long, value_delimiter = ',', value_parser = parse_size)]
    sizes: Option<Vec<usize>>,
    /// Run only one table.
    #[arg(long, value_enum)]
    only: Option<Only>,
    /// Machine-readable output (schema in docs/benchmarks.md); no progress bar.
    #[arg(long)]
    json: bool,
    /// Also draw the latency distributions into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// How far the bare ping-pong probe may move across a round, in percent,
    /// before the round is dropped.
    #[arg(long, default_value_t = 30.0)]
    tolerance: f64,
    /// Do not pin the two processes to CPUs (busy-spinning rows are then
    /// skipped).
    #[arg(long)]
    no_pin: bool,
}

/// Which table to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Only {
    /// Round-trip latency.
    Latency,
    /// Streaming throughput.
    Throughput,
}

fn parse_size(text: &str) -> Result<usize, String> {
    let n = crate::show::parse_size(text)?;
    if n > 1 << 30 {
        return Err(format!("`{text}` is too big for a message (at most 1 GiB)"));
    }
    Ok(n as usize)
}

/// Runs `shmkit bench` and prints its report.
///
/// # Errors
/// If a peer cannot be started or fails, or the plot cannot be written.
#[cfg(unix)]
pub fn run(args: BenchArgs) -> Result<()> {
    use std::io::IsTerminal;

    anyhow::ensure!(
        args.tolerance > 0.0,
        "--tolerance must be a positive percentage"
    );
    let q = args.quick;
    let default_lat = vec![64, 4 << 10, 64 << 10];
    let default_tp = vec![64, 4 << 10, 64 << 10, 1 << 20];
    let (latency_sizes, throughput_sizes) = match &args.sizes {
        Some(s) => (s.clone(), s.clone()),
        None if q => (vec![64, 4 << 10], vec![64, 64 << 10]),
        None => (default_lat, default_tp),
    };
    let iters = args
        .iters
        .map_or(if q { 200 } else { 5000 }, |n| n as usize);
    let settings = run::Settings {
        rounds: args.rounds.map_or(if q { 3 } else { 10 }, |n| n as usize),
        iters,
        warmup: (iters / 10).max(10),
        latency_sizes,
        throughput_sizes,
        stream_bytes: if q { 1 << 20 } else { 32 << 20 },
        stream_max_msgs: if q { 2_000 } else { 20_000 },
        memcpy_bytes: if q { 4 << 20 } else { 64 << 20 },
        probe_iters: if q { 200 } else { 1000 },
        tolerance: args.tolerance / 100.0,
        latency: args.only != Some(Only::Throughput),
        throughput: args.only != Some(Only::Latency),
        progress: !args.json && std::io::stderr().is_terminal(),
    };
    let outcome = run::run(&settings, !args.no_pin)?;
    // Every link is closed and its peer reaped once the run returns Ok (after
    // an error a peer may still run, so its files stay for `shmkit gc`).
    shmkit_rows::remove_lock_files();
    let summary = report::summarize(&outcome);
    if let Some(path) = &args.plot {
        report::plot(&summary, path)?;
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report::to_json(&outcome, &summary))?
        );
    } else {
        print!("{}", report::table(&outcome, &summary));
        if let Some(path) = &args.plot {
            println!("Latency plot: {}", path.display());
        }
    }
    Ok(())
}

/// `shmkit bench` on an OS without it.
///
/// # Errors
/// Always: not supported on this OS.
#[cfg(not(unix))]
pub fn run(_args: BenchArgs) -> Result<()> {
    anyhow::bail!(
        "shmkit bench is not supported on this OS yet (it runs on Linux, macOS and FreeBSD)"
    )
}

/// The second process of `shmkit bench`: `shmkit __bench-peer ...`.
///
/// # Errors
/// If the candidate is unknown or its channel fails.
#[cfg(unix)]
pub fn peer(args: Vec<String>) -> Result<()> {
    run::peer(&args)
}

/// The second process of `shmkit bench`, on an OS without it.
///
/// # Errors
/// Always: not supported on this OS.
#[cfg(not(unix))]
pub fn peer(_args: Vec<String>) -> Result<()> {
    anyhow::bail!("shmkit bench is not supported on this OS yet")
}

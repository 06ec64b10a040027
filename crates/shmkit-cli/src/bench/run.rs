//! Rounds, probes and statistics: how `shmkit bench` keeps a noisy machine
//! from lying.
//!
//! The host of a VM moves its virtual CPUs every few seconds, and every
//! number moves with them (the bare round trip jumps between about 60, 130
//! and 490 ns here). So nothing is measured once, minutes away from what it
//! is compared with. Instead:
//! - Work is cut into short *rounds*. One latency round, for one message
//!   size, measures every latency row once; one throughput round, for one
//!   size, measures memcpy and every stream once. Rounds of all groups
//!   alternate, and the order of rows within a round reverses every round.
//! - Each round is bracketed by a *probe*: a short bare cache-line
//!   ping-pong before and after. When the two probes' medians differ by more
//!   than the tolerance, the machine moved during the round, and the round
//!   is dropped (and counted as dropped).
//! - Ratios are taken within a round (a row over the limit measured seconds
//!   before), and the report gives medians over the kept rounds.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};

use super::os;
use super::transports::{self, Class, Link, Stream, Transport};

/// How the peer process is started: `shmkit __bench-peer [--cpu=N] NAME ARGS`.
pub struct Peer {
    exe: PathBuf,
    cpu: Option<usize>,
}

impl Peer {
    /// Starts the peer for candidate `name`, with the given stdin and stdout
    /// (stderr is inherited, for its error messages).
    ///
    /// # Errors
    /// If the process cannot be started.
    pub fn spawn(&self, name: &str, args: &[String], stdin: Stdio, stdout: Stdio) -> Result<Child> {
        let mut cmd = Command::new(&self.exe);
        cmd.arg("__bench-peer");
        if let Some(cpu) = self.cpu {
            cmd.arg(format!("--cpu={cpu}"));
        }
        cmd.arg(name).args(args).stdin(stdin).stdout(stdout);
        cmd.spawn()
            .with_context(|| format!("starting the {name} peer ({})", self.exe.display()))
    }
}

/// The peer's entry point: `shmkit __bench-peer [--cpu=N] NAME ARGS...`.
pub fn peer(args: &[String]) -> Result<()> {
    let mut args = args;
    if let Some(cpu) = args.first().and_then(|a| a.strip_prefix("--cpu=")) {
        os::pin(cpu.parse().context("bad --cpu")?)?;
        args = &args[1..];
    }
    let (name, rest) = args.split_first().context("expected a candidate name")?;
    transports::serve(name, rest)
}

/// What to measure and how much.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Rounds per group.
    pub rounds: usize,
    /// Recorded round trips per latency row per round.
    pub iters: usize,
    /// Unrecorded round trips first.
    pub warmup: usize,
    /// Message sizes of the latency table.
    pub latency_sizes: Vec<usize>,
    /// Message sizes of the throughput table.
    pub throughput_sizes: Vec<usize>,
    /// Bytes streamed per throughput row per round (fewer messages for big
    /// messages), and the most messages.
    pub stream_bytes: usize,
    /// The most messages per throughput row per round.
    pub stream_max_msgs: usize,
    /// Bytes of the memcpy measurement.
    pub memcpy_bytes: usize,
    /// Round trips of each probe.
    pub probe_iters: usize,
    /// How far (as a fraction) the probe may move before a round is dropped.
    pub tolerance: f64,
    /// Run the latency table.
    pub latency: bool,
    /// Run the throughput table.
    pub throughput: bool,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

/// What the run found out about the machine.
#[derive(Clone, Debug)]
pub struct Machine {
    /// The CPU model.
    pub cpu_model: String,
    /// CPUs this process may use.
    pub cpus: usize,
    /// The kernel.
    pub kernel: String,
    /// The CPUs the two processes were pinned to, if pinning worked.
    pub pinned: Option<(usize, usize)>,
    /// Why busy-spinning rows are skipped, if they are.
    pub no_spin: Option<String>,
    /// Warnings for the report.
    pub notes: Vec<String>,
    /// The cost of one `Instant::now()`, in ns (part of every latency sample).
    pub clock_ns: f64,
    /// The step in which the clock advances, in ns (1 for a clock finer
    /// than 4 ns): every latency sample is a multiple of it, give or take
    /// the nanosecond the conversion rounds.
    pub clock_tick_ns: u64,
}

/// One latency row measured in one round.
#[derive(Clone)]
pub struct LatencySample {
    /// All the round trips, in ns.
    pub hist: Histogram<u64>,
}

impl LatencySample {
    /// The value at quantile `q` in ns.
    pub fn at(&self, q: f64) -> u64 {
        self.hist.value_at_quantile(q)
    }

    /// The median in ns, interpolated within the clock's `tick` (see
    /// [`grouped_median`]).
    pub fn p50(&self, tick: u64) -> f64 {
        grouped_median(&self.hist, tick)
    }
}

/// The median of samples taken with a clock that advances in steps of
/// `tick` ns, as the median of grouped data: each sample stands for the
/// step around it (snapped to the nearest multiple of `tick`, since the
/// conversion to ns can add or drop one), and the median is interpolated
/// within the step that holds the middle sample, by how far into that
/// step's samples the middle falls.
///
/// A plain median can only be one of the steps: with a 10 ns step and a
/// round trip near 125 ns it reads 120 or 130 depending on which side of
/// the middle a few samples fall, and a ratio of two such medians moves in
/// jumps of about 0.08. With `tick` 1 this is the plain median, give or
/// take half a nanosecond.
pub fn grouped_median(hist: &Histogram<u64>, tick: u64) -> f64 {
    let n = hist.len();
    if n == 0 {
        return 0.0;
    }
    let tick = tick.max(1);
    let half = n as f64 / 2.0;
    // Values recorded exactly (below 2048 at three significant digits) snap
    // to the tick's grid, one ns either side counting with the step; wider
    // histogram buckets keep their own middle and width.
    let exact = |v: u64| hist.lowest_equivalent(v) == hist.highest_equivalent(v);
    let bin = |v: u64| -> (u64, f64) {
        if exact(v) {
            ((v + tick / 2) / tick * tick, tick as f64)
        } else {
            let width = hist.highest_equivalent(v) - hist.lowest_equivalent(v) + 1;
            (hist.median_equivalent(v), width as f64)
        }
    };
    let mut below = 0u64;
    let mut values = hist.iter_recorded().peekable();
    while let Some(v) = values.next() {
        let (middle, width) = bin(v.value_iterated_to());
        let mut count = v.count_at_value();
        while let Some(next) = values.peek() {
            let nv = next.value_iterated_to();
            if !exact(nv) || bin(nv).0 != middle {
                break;
            }
            count += next.count_at_value();
            values.next();
        }
        if (below + count) as f64 >= half {
            let into = (half - below as f64) / count as f64;
            return middle as f64 - width / 2.0 + width * into;
        }
        below += count;
    }
    hist.max() as f64
}

/// One throughput row measured in one round.
#[derive(Clone, Copy, Debug)]
pub struct ThroughputSample {
    /// Messages per second.
    pub msgs_per_s: f64,
    /// Bytes per second.
    pub bytes_per_s: f64,
}

/// One round of one group.
pub struct Round<S> {
    /// Probe medians before and after, in ns (none when busy-spinning is
    /// impossible).
    pub probe: Option<(u64, u64)>,
    /// Whether the round is kept (the probe did not move).
    pub kept: bool,
    /// Per row (by index into the group's rows), its sample.
    pub samples: Vec<Option<S>>,
}

/// All rounds of one latency size.
pub struct LatencyGroup {
    /// The message size.
    pub size: usize,
    /// The rows' names, classes and whether they carry the message.
    pub rows: Vec<(&'static str, Class, bool)>,
    /// The rounds.
    pub rounds: Vec<Round<LatencySample>>,
}

/// All rounds of one throughput size. Row 0 is memcpy.
pub struct ThroughputGroup {
    /// The message size.
    pub size: usize,
    /// The rows' names and classes.
    pub rows: Vec<(&'static str, Class)>,
    /// The rounds.
    pub rounds: Vec<Round<ThroughputSample>>,
}

/// Everything one run measured.
pub struct Outcome {
    /// The machine.
    pub machine: Machine,
    /// The settings used.
    pub settings: Settings,
    /// Latency, per size.
    pub latency: Vec<LatencyGroup>,
    /// Throughput, per size.
    pub throughput: Vec<ThroughputGroup>,
    /// Rows not run, with the reason.
    pub skipped: Vec<(String, String)>,
    /// The whole run's wall-clock time.
    pub elapsed: Duration,
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Looks at the machine and pins this process, choosing two CPUs.
fn survey(pin: bool) -> Machine {
    let cpu_model = read_trimmed("/proc/cpuinfo")
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let kernel = read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_else(|| "unknown".to_owned());
    let allowed = os::allowed_cpus();
    let cpus = if allowed.is_empty() {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        allowed.len()
    };
    let mut notes = Vec::new();
    let mut pinned = None;
    let mut no_spin = None;
    if cpus < 2 {
        no_spin = Some(format!(
            "only {cpus} CPU available: a busy-spinning peer would wait for the scheduler, not for the other core"
        ));
    } else if !pin {
        no_spin = Some("--no-pin: processes not pinned apart".to_owned());
    } else if allowed.len() < 2 {
        no_spin = Some(match os::pin(0) {
            Err(e) => format!("could not pin the two processes to different CPUs: {e:#}"),
            Ok(()) => "could not read which CPUs this process may use".to_owned(),
        });
    } else {
        // The last two allowed CPUs: CPU 0 takes most interrupts.
        let (a, b) = (allowed[allowed.len() - 2], allowed[allowed.len() - 1]);
        match os::pin(b).and_then(|()| os::pin(a)) {
            Ok(()) => pinned = Some((a, b)),
            Err(e) => {
                no_spin = Some(format!(
                    "could not pin the two processes to different CPUs: {e:#}"
                ))
            }
        }
    }
    if let Some(why) = &no_spin {
        notes.push(format!(
            "busy-spinning rows skipped, and no probe (no round dropped): {why}"
        ));
    }
    Machine {
        cpu_model,
        cpus,
        kernel,
        pinned,
        no_spin,
        notes,
        clock_ns: clock_cost(),
        clock_tick_ns: clock_tick(),
    }
}

/// The step in which `Instant` advances, in ns; 1 if it is finer than 4 ns.
///
/// One clock read costs more than a step on some machines (here 23 ns
/// against 10), so consecutive reads never differ by a single step. The
/// reads are spread by a varying gap instead, and the step is the largest
/// `t` (4 to 64) that 99% of the differences are a multiple of, give or
/// take the nanosecond the conversion rounds. The gaps vary by several
/// steps, so a multiple of the step (or the cost of a read) does not pass.
fn clock_tick() -> u64 {
    let base = Instant::now();
    let mut last = 0u64;
    let mut gap = 1u32;
    let mut diffs = Vec::with_capacity(4000);
    for i in 0..4001 {
        gap = gap.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        for k in 0..(gap >> 26) {
            std::hint::black_box(k);
        }
        let now = base.elapsed().as_nanos() as u64;
        if i > 0 {
            diffs.push(now - last);
        }
        last = now;
    }
    tick_of(&diffs)
}

/// The largest `t` in 4..=64 that 99% of `diffs` are within one of a
/// multiple of, or 1.
fn tick_of(diffs: &[u64]) -> u64 {
    (4..=64)
        .rev()
        .find(|&t| {
            let on_grid = diffs
                .iter()
                .filter(|&&d| {
                    let r = d % t;
                    r <= 1 || r == t - 1
                })
                .count();
            on_grid * 100 >= diffs.len() * 99
        })
        .unwrap_or(1)
}

/// The median cost of one `Instant::now()`, in ns.
fn clock_cost() -> f64 {
    let mut costs: Vec<f64> = (0..101)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..100 {
                std::hint::black_box(Instant::now());
            }
            t.elapsed().as_nanos() as f64 / 100.0
        })
        .collect();
    median(&mut costs).unwrap_or(0.0)
}

/// The median (the lower middle one for an even count), or `None` if empty.
pub fn median(values: &mut [f64]) -> Option<f64> {
    quantile(values, 0.5)
}

/// The `q`-quantile (`0 <= q <= 1`) by nearest rank from below: the
/// value at index `floor((n - 1) * q)` of the sorted values, so that
/// `quantile(v, 0.5)` is the lower middle one. `None` if empty.
pub fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let i = ((values.len() - 1) as f64 * q.clamp(0.0, 1.0)).floor() as usize;
    Some(values[i])
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

/// Runs `iters` recorded round trips (after `warmup` unrecorded ones).
fn measure_latency(
    t: &dyn Transport,
    peer: &Peer,
    size: usize,
    warmup: usize,
    iters: usize,
) -> Result<LatencySample> {
    let mut link: Box<dyn Link> = t.connect(peer, size)?;
    let mut hist = new_hist();
    let result = (|| {
        link.round_trips(warmup, &mut |_| {})?;
        link.round_trips(iters, &mut |d| {
            hist.saturating_record((d.as_nanos() as u64).max(1));
        })?;
        Ok::<(), anyhow::Error>(())
    })();
    let closed = link.close();
    result.with_context(|| format!("measuring {}", t.name()))?;
    closed?;
    Ok(LatencySample { hist })
}

/// Streams a warm-up batch, then a timed batch of messages of `size` bytes.
fn measure_stream(
    s: &dyn Stream,
    peer: &Peer,
    size: usize,
    settings: &Settings,
) -> Result<ThroughputSample> {
    let count = (settings.stream_bytes / size.max(1)).clamp(4, settings.stream_max_msgs);
    let warm = (count / 8).max(1);
    let msg = vec![0xa5u8; size.max(1)];
    let mut sink = s.connect(peer, size, &[warm, count])?;
    let result = (|| {
        for _ in 0..warm {
            sink.send(&msg)?;
        }
        sink.wait_ack()?;
        let start = Instant::now();
        for _ in 0..count {
            sink.send(&msg)?;
        }
        sink.wait_ack()?;
        Ok::<f64, anyhow::Error>(start.elapsed().as_secs_f64())
    })();
    let closed = sink.close();
    let secs = result.with_context(|| format!("streaming through {}", s.name()))?;
    closed?;
    Ok(ThroughputSample {
        msgs_per_s: count as f64 / secs,
        bytes_per_s: (count * size) as f64 / secs,
    })
}

/// Single-thread memcpy bandwidth: copies `src` into `dst` (both already
/// touched), `copy_from_slice` hidden from the optimiser.
fn measure_memcpy(src: &[u8], dst: &mut [u8]) -> ThroughputSample {
    let start = Instant::now();
    std::hint::black_box(&mut *dst).copy_from_slice(std::hint::black_box(src));
    std::hint::black_box(&mut *dst);
    let secs = start.elapsed().as_secs_f64();
    ThroughputSample {
        msgs_per_s: 1.0 / secs,
        bytes_per_s: src.len() as f64 / secs,
    }
}

/// What one round of one group is.
enum Job {
    Latency(usize),
    Throughput(usize),
}

/// Runs the whole benchmark.
///
/// # Errors
/// If a peer cannot be started or fails; a row that cannot run on this
/// machine is skipped with a reason instead.
pub fn run(settings: &Settings, pin: bool) -> Result<Outcome> {
    let started = Instant::now();
    let machine = survey(pin);
    let peer = Peer {
        exe: std::env::current_exe().context("finding this program to start the peer process")?,
        cpu: machine.pinned.map(|(_, b)| b),
    };
    let spin_ok = machine.no_spin.is_none();
    let mut skipped = Vec::new();
    let lat_rows: Vec<&dyn Transport> = transports::latency()
        .into_iter()
        .filter(|t| {
            let why = t
                .unsupported()
                .map(str::to_owned)
                .or_else(|| t.busy_spins().then(|| machine.no_spin.clone()).flatten());
            if let Some(why) = why {
                skipped.push((t.name().to_owned(), why));
                false
            } else {
                true
            }
        })
        .collect();
    let streams = transports::streams();

    let mut jobs = Vec::new();
    if settings.latency {
        jobs.extend(settings.latency_sizes.iter().map(|&s| Job::Latency(s)));
    }
    if settings.throughput {
        jobs.extend(
            settings
                .throughput_sizes
                .iter()
                .map(|&s| Job::Throughput(s)),
        );
    }
    // The rows of one size: those that carry messages that big.
    let rows_for = |size: usize| -> Vec<&dyn Transport> {
        lat_rows
            .iter()
            .copied()
            .filter(|t| t.max_size().is_none_or(|m| size <= m))
            .collect()
    };
    if settings.latency {
        for &size in &settings.latency_sizes {
            for t in &lat_rows {
                if let Some(max) = t.max_size().filter(|&m| size > m) {
                    skipped.push((
                        format!("{} at {}", t.name(), size_label(size)),
                        format!("it carries at most {}", size_label(max)),
                    ));
                }
            }
        }
    }
    let mut latency: Vec<LatencyGroup> = settings
        .latency_sizes
        .iter()
        .filter(|_| settings.latency)
        .map(|&size| LatencyGroup {
            size,
            rows: rows_for(size)
                .iter()
                .map(|t| (t.name(), t.class(), t.sized()))
                .collect(),
            rounds: Vec::new(),
        })
        .collect();
    let mut throughput: Vec<ThroughputGroup> = settings
        .throughput_sizes
        .iter()
        .filter(|_| settings.throughput)
        .map(|&size| ThroughputGroup {
            size,
            rows: std::iter::once(("memcpy", Class::Limit))
                .chain(streams.iter().map(|s| (s.name(), s.class())))
                .collect(),
            rounds: Vec::new(),
        })
        .collect();

    let probes = if spin_ok { 2 } else { 0 };
    let steps: usize = jobs
        .iter()
        .map(|j| match j {
            Job::Latency(size) => rows_for(*size).len() + probes,
            Job::Throughput(_) => streams.len() + 1 + probes,
        })
        .sum::<usize>()
        * settings.rounds;
    let bar = if settings.progress {
        let bar = ProgressBar::new(steps as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
            )
            .expect("valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };

    let mut src = vec![
        0u8;
        if settings.throughput {
            settings.memcpy_bytes
        } else {
            0
        }
    ];
    src.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
    let mut dst = vec![1u8; src.len()];
    if settings.throughput {
        measure_memcpy(&src, &mut dst); // touches every page
    }

    let probe = |bar: &ProgressBar| -> Result<Option<u64>> {
        if !spin_ok {
            return Ok(None);
        }
        bar.set_message("probe");
        let s = measure_latency(
            &transports::BARE_CACHE_LINE,
            &peer,
            0,
            settings.probe_iters / 4,
            settings.probe_iters,
        )?;
        bar.inc(1);
        Ok(Some(s.at(0.5)))
    };
    let keep = |before: Option<u64>, after: Option<u64>| match (before, after) {
        (Some(a), Some(b)) => {
            let (lo, hi) = (a.min(b).max(1) as f64, a.max(b) as f64);
            hi / lo <= 1.0 + settings.tolerance
        }
        _ => true,
    };

    for round in 0..settings.rounds {
        let reverse = round % 2 == 1;
        let (mut li, mut ti) = (0, 0);
        for job in &jobs {
            let before = probe(&bar)?;
            match *job {
                Job::Latency(size) => {
                    let lat_rows = rows_for(size);
                    let mut samples = vec![None; lat_rows.len()];
                    let mut order: Vec<usize> = (0..lat_rows.len()).collect();
                    if reverse {
                        order.reverse();
                    }
                    for i in order {
                        let t = lat_rows[i];
                        bar.set_message(format!("{} {}", t.name(), size_label(size)));
                        samples[i] = Some(measure_latency(
                            t,
                            &peer,
                            size,
                            settings.warmup,
                            settings.iters,
                        )?);
                        bar.inc(1);
                    }
                    let after = probe(&bar)?;
                    latency[li].rounds.push(Round {
                        probe: before.zip(after),
                        kept: keep(before, after),
                        samples,
                    });
                    li += 1;
                }
                Job::Throughput(size) => {
                    let n = streams.len() + 1;
                    let mut samples = vec![None; n];
                    let mut order: Vec<usize> = (0..n).collect();
                    if reverse {
                        order.reverse();
                    }
                    for i in order {
                        if i == 0 {
                            bar.set_message("memcpy");
                            samples[0] = Some(measure_memcpy(&src, &mut dst));
                        } else {
                            let s = streams[i - 1];
                            bar.set_message(format!("{} stream {}", s.name(), size_label(size)));
                            samples[i] = Some(measure_stream(s, &peer, size, settings)?);
                        }
                        bar.inc(1);
                    }
                    let after = probe(&bar)?;
                    throughput[ti].rounds.push(Round {
                        probe: before.zip(after),
                        kept: keep(before, after),
                        samples,
                    });
                    ti += 1;
                }
            }
        }
    }
    bar.finish_and_clear();
    Ok(Outcome {
        machine,
        settings: settings.clone(),
        latency,
        throughput,
        skipped,
        elapsed: started.elapsed(),
    })
}

/// A size for people: 64 B, 4 KiB, 1 MiB.
pub fn size_label(size: usize) -> String {
    if size >= 1 << 20 && size % (1 << 20) == 0 {
        format!("{} MiB", size >> 20)
    } else if size >= 1 << 10 && size % (1 << 10) == 0 {
        format!("{} KiB", size >> 10)
    } else {
        format!("{size} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: &[(u64, u64)]) -> Histogram<u64> {
        let mut h = new_hist();
        for &(v, n) in values {
            h.record_n(v, n).unwrap();
        }
        h
    }

    #[test]
    fn quantiles_take_the_nearest_rank_from_below() {
        let mut v = vec![5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(quantile(&mut v, 0.25), Some(2.0));
        assert_eq!(median(&mut v), Some(3.0));
        assert_eq!(quantile(&mut v, 0.75), Some(4.0));
        assert_eq!(quantile(&mut v, 1.0), Some(5.0));
        // An even count: the lower middle one.
        let mut w = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(median(&mut w), Some(2.0));
        assert_eq!(quantile(&mut w, 0.75), Some(3.0));
        assert_eq!(quantile(&mut [], 0.5), None);
    }

    #[test]
    fn a_coarse_clock_step_is_found_and_a_fine_clock_reads_one() {
        // A 10 ns step, read 23 to 90 ns apart, the conversion adding 1 now
        // and then.
        let coarse: Vec<u64> = (0..2000u64)
            .map(|i| 30 + (i % 7) * 10 + (i % 3 == 0) as u64)
            .collect();
        assert_eq!(tick_of(&coarse), 10);
        // A few outliers (preemption) do not hide it.
        let mut noisy = coarse.clone();
        noisy.extend([123_457, 3_333_335]);
        assert_eq!(tick_of(&noisy), 10);
        // A 1 ns clock over the same gaps.
        let fine: Vec<u64> = (0..2000u64).map(|i| 23 + (i * 37) % 67).collect();
        assert_eq!(tick_of(&fine), 1);
    }

    #[test]
    fn the_median_is_interpolated_within_the_clock_step() {
        // All in one step: its middle.
        assert_eq!(grouped_median(&hist(&[(120, 100)]), 10), 120.0);
        // Half and half across two steps: their boundary.
        assert_eq!(grouped_median(&hist(&[(120, 50), (130, 50)]), 10), 125.0);
        // A quarter below: a third of the way into the upper step.
        let m = grouped_median(&hist(&[(120, 25), (130, 75)]), 10);
        assert!((m - (125.0 + 10.0 / 3.0)).abs() < 1e-9, "{m}");
        // Values one ns off the grid count with their step.
        let m = grouped_median(&hist(&[(120, 10), (121, 15), (130, 40), (131, 35)]), 10);
        assert!((m - (125.0 + 10.0 / 3.0)).abs() < 1e-9, "{m}");
        // With a fine clock it is the plain median, within half a ns.
        let uniform: Vec<(u64, u64)> = (100..=200).map(|v| (v, 1)).collect();
        let m = grouped_median(&hist(&uniform), 1);
        assert!((m - 150.0).abs() <= 0.5, "{m}");
        assert_eq!(grouped_median(&new_hist(), 10), 0.0);
    }

    #[test]
    fn a_plain_median_jumps_where_the_interpolated_one_moves_a_little() {
        // Two samples crossing the middle move a plain median a whole step.
        let (a, b) = (hist(&[(120, 51), (130, 49)]), hist(&[(120, 49), (130, 51)]));
        assert_eq!(a.value_at_quantile(0.5), 120);
        assert_eq!(b.value_at_quantile(0.5), 130);
        let (ma, mb) = (grouped_median(&a, 10), grouped_median(&b, 10));
        assert!(ma < mb && mb - ma < 0.5, "{ma} {mb}");
    }
}

//! What a run prints: the statistics over rounds, the table, the JSON and
//! the SVG plot.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde_json::{json, Value};

use super::run::{median, quantile, size_label, Outcome, Round};
use super::transports::Class;

/// How many rounds of a group were measured, kept, and used.
pub struct Rounds {
    /// Rounds measured.
    pub total: usize,
    /// Rounds whose probe stayed within the tolerance.
    pub kept: usize,
    /// Whether every round moved, so all of them are used (and the numbers
    /// are marked unstable).
    pub unstable: bool,
}

/// One latency row, summarised over the used rounds of its group.
pub struct LatencyRow {
    /// The row's name.
    pub name: &'static str,
    /// Its class.
    pub class: Class,
    /// Whether the row carries the message (`false`: a flag only).
    pub sized: bool,
    /// Medians over rounds of each round's percentile, in ns (each round's
    /// p50 interpolated within the clock's step, `run::grouped_median`);
    /// `max` is the largest round trip of all used rounds.
    pub p50: f64,
    /// See `p50`.
    pub p99: f64,
    /// See `p50`.
    pub p999: f64,
    /// See `p50`.
    pub max: f64,
    /// Median over rounds of p50 / the limit's p50 in the same round.
    pub x_limit: Option<f64>,
    /// The lower and upper quartiles over rounds of that ratio: how much
    /// it moved from round to round.
    pub x_limit_quartiles: Option<(f64, f64)>,
    /// Median over rounds of p50 / the best classic IPC's p50.
    pub x_best_ipc: Option<f64>,
    /// All used rounds' round trips, for the plot.
    pub hist: Histogram<u64>,
}

/// One throughput row, summarised over the used rounds of its group.
pub struct ThroughputRow {
    /// The row's name.
    pub name: &'static str,
    /// Its class.
    pub class: Class,
    /// Medians over rounds.
    pub msgs_per_s: f64,
    /// See `msgs_per_s`.
    pub gb_per_s: f64,
    /// Median over rounds of bytes/s / memcpy's bytes/s in the same round.
    pub x_memcpy: Option<f64>,
    /// The lower and upper quartiles over rounds of that ratio.
    pub x_memcpy_quartiles: Option<(f64, f64)>,
    /// Median over rounds of bytes/s / the best classic IPC's bytes/s.
    pub x_best_ipc: Option<f64>,
}

/// The summary of a whole run.
pub struct Summary {
    /// Per latency group: its rounds and rows.
    pub latency: Vec<(usize, Rounds, Vec<LatencyRow>)>,
    /// Per throughput group: its rounds and rows.
    pub throughput: Vec<(usize, Rounds, Vec<ThroughputRow>)>,
}

/// The rounds to use: the kept ones, or all if none was kept.
fn used<S>(rounds: &[Round<S>]) -> (Rounds, Vec<&Round<S>>) {
    let kept: Vec<&Round<S>> = rounds.iter().filter(|r| r.kept).collect();
    let info = Rounds {
        total: rounds.len(),
        kept: kept.len(),
        unstable: kept.is_empty() && !rounds.is_empty(),
    };
    if kept.is_empty() {
        (info, rounds.iter().collect())
    } else {
        (info, kept)
    }
}

/// Median over rounds of `f(round)`, skipping rounds where it is `None`.
fn median_of<S>(rounds: &[&Round<S>], f: impl Fn(&Round<S>) -> Option<f64>) -> Option<f64> {
    let mut v: Vec<f64> = rounds.iter().filter_map(|r| f(r)).collect();
    median(&mut v)
}

/// The lower and upper quartiles over rounds of `f(round)`, skipping
/// rounds where it is `None`.
fn quartiles_of<S>(
    rounds: &[&Round<S>],
    f: impl Fn(&Round<S>) -> Option<f64>,
) -> Option<(f64, f64)> {
    let mut v: Vec<f64> = rounds.iter().filter_map(|r| f(r)).collect();
    Some((quantile(&mut v, 0.25)?, quantile(&mut v, 0.75)?))
}

/// Median over rounds of row `i`'s `value` over the best classic IPC row's
/// in the same round (`best` picks the better of two values); `None`
/// without classic IPC rows.
fn x_best_of<S>(
    rounds: &[&Round<S>],
    ipc: &[usize],
    i: usize,
    value: impl Fn(&Round<S>, usize) -> Option<f64>,
    best: fn(f64, f64) -> f64,
) -> Option<f64> {
    if ipc.is_empty() {
        return None;
    }
    median_of(rounds, |r| {
        let b = ipc.iter().filter_map(|&j| value(r, j)).reduce(best)?;
        Some(value(r, i)? / b)
    })
}

/// Computes the rows from the rounds.
pub fn summarize(out: &Outcome) -> Summary {
    let latency = out
        .latency
        .iter()
        .map(|g| {
            let (info, rounds) = used(&g.rounds);
            let tick = out.machine.clock_tick_ns;
            let p50 = |r: &Round<_>, i: usize| -> Option<f64> {
                let s: &Option<super::run::LatencySample> = &r.samples[i];
                s.as_ref().map(|s| s.p50(tick))
            };
            let limit = g.rows.iter().position(|r| r.1 == Class::Limit);
            let ipc: Vec<usize> = (0..g.rows.len())
                .filter(|&i| g.rows[i].1 == Class::ClassicIpc)
                .collect();
            let rows = g
                .rows
                .iter()
                .enumerate()
                .map(|(i, &(name, class, sized))| {
                    let q = |q: f64| {
                        median_of(&rounds, |r| r.samples[i].as_ref().map(|s| s.at(q) as f64))
                            .unwrap_or(0.0)
                    };
                    let x_limit = |r: &Round<_>| Some(p50(r, i)? / p50(r, limit?)?);
                    let mut hist = Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
                        .expect("valid histogram bounds");
                    for r in &rounds {
                        if let Some(s) = &r.samples[i] {
                            hist.add(&s.hist).expect("same bounds");
                        }
                    }
                    LatencyRow {
                        name,
                        class,
                        sized,
                        p50: median_of(&rounds, |r| p50(r, i)).unwrap_or(0.0),
                        p99: q(0.99),
                        p999: q(0.999),
                        max: hist.max() as f64,
                        x_limit: median_of(&rounds, x_limit),
                        x_limit_quartiles: quartiles_of(&rounds, x_limit),
                        // The lowest p50 is the best.
                        x_best_ipc: x_best_of(&rounds, &ipc, i, p50, f64::min),
                        hist,
                    }
                })
                .collect();
            (g.size, info, rows)
        })
        .collect();
    let throughput = out
        .throughput
        .iter()
        .map(|g| {
            let (info, rounds) = used(&g.rounds);
            let bps = |r: &Round<super::run::ThroughputSample>, i: usize| {
                r.samples[i].map(|s| s.bytes_per_s)
            };
            let ipc: Vec<usize> = (0..g.rows.len())
                .filter(|&i| g.rows[i].1 == Class::ClassicIpc)
                .collect();
            let rows = g
                .rows
                .iter()
                .enumerate()
                .map(|(i, &(name, class))| {
                    // Row 0 is memcpy.
                    let x_memcpy = |r: &Round<_>| Some(bps(r, i)? / bps(r, 0)?);
                    ThroughputRow {
                        name,
                        class,
                        msgs_per_s: median_of(&rounds, |r| r.samples[i].map(|s| s.msgs_per_s))
                            .unwrap_or(0.0),
                        gb_per_s: median_of(&rounds, |r| bps(r, i)).unwrap_or(0.0) / 1e9,
                        x_memcpy: median_of(&rounds, x_memcpy),
                        x_memcpy_quartiles: quartiles_of(&rounds, x_memcpy),
                        // The highest bytes/s is the best.
                        x_best_ipc: x_best_of(&rounds, &ipc, i, bps, f64::max),
                    }
                })
                .collect();
            (g.size, info, rows)
        })
        .collect();
    Summary {
        latency,
        throughput,
    }
}

/// A duration in ns for people.
fn time(ns: f64) -> String {
    if ns < 10_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

/// A ratio's quartiles, `q1-q3`, small ones to three decimals (to fit
/// the column).
fn spread(q: Option<(f64, f64)>) -> String {
    let one = |r: f64| {
        if r < 0.1 {
            format!("{r:.3}")
        } else {
            ratio(Some(r))
        }
    };
    match q {
        None => "-".to_owned(),
        Some((a, b)) => format!("{}-{}", one(a), one(b)),
    }
}

fn ratio(r: Option<f64>) -> String {
    match r {
        None => "-".to_owned(),
        Some(r) if r >= 100.0 => format!("{r:.0}"),
        Some(r) if r >= 10.0 => format!("{r:.1}"),
        Some(r) if r >= 0.1 => format!("{r:.2}"),
        Some(r) => format!("{r:.4}"),
    }
}

fn rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1} k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

fn rounds_label(r: &Rounds) -> String {
    if r.unstable {
        format!("0/{} (all used)", r.total)
    } else {
        format!("{}/{}", r.kept, r.total)
    }
}

/// The human-readable report.
pub fn table(out: &Outcome, sum: &Summary) -> String {
    let m = &out.machine;
    let s = &out.settings;
    let mut t = String::new();
    let pinning = match m.pinned {
        Some((a, b)) => format!("processes pinned to CPUs {a} and {b}"),
        None => "processes NOT pinned".to_owned(),
    };
    let _ = writeln!(
        t,
        "shmkit bench: {}, {} CPUs, kernel {}; {pinning}",
        m.cpu_model, m.cpus, m.kernel
    );
    let _ = writeln!(
        t,
        "{} rounds; {} round trips per latency row per round (after {} warm-up); took {:.1} s",
        s.rounds,
        s.iters,
        s.warmup,
        out.elapsed.as_secs_f64()
    );
    if !sum.latency.is_empty() {
        let _ = writeln!(
            t,
            "\nRound-trip latency: medians over kept rounds (max: of all kept rounds); ratios taken within each round,\n\
             `x limit` with its quartiles over rounds"
        );
        let _ = writeln!(
            t,
            "{:<8} {:<24} {:>8} {:>11} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7}",
            "size",
            "row",
            "x limit",
            "(quartiles)",
            "x best IPC",
            "p50",
            "p99",
            "p99.9",
            "max",
            "rounds"
        );
        for (size, info, rows) in &sum.latency {
            for (k, r) in rows.iter().enumerate() {
                let label = if k == 0 {
                    size_label(*size)
                } else {
                    String::new()
                };
                let name = if r.sized {
                    r.name.to_owned()
                } else {
                    format!("{} (flag)", r.name)
                };
                let _ = writeln!(
                    t,
                    "{:<8} {:<24} {:>8} {:>11} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7}",
                    label,
                    name,
                    ratio(r.x_limit),
                    spread(r.x_limit_quartiles),
                    ratio(r.x_best_ipc),
                    time(r.p50),
                    time(r.p99),
                    time(r.p999),
                    time(r.max),
                    if k == 0 {
                        rounds_label(info)
                    } else {
                        String::new()
                    }
                );
            }
        }
    }
    if !sum.throughput.is_empty() {
        let _ = writeln!(
            t,
            "\nThroughput, one process streaming to the other: medians over kept rounds; ratios taken within each round,\n\
             `x memcpy` with its quartiles over rounds"
        );
        let _ = writeln!(
            t,
            "{:<8} {:<24} {:>8} {:>11} {:>10} {:>10} {:>9} {:>7}",
            "size", "row", "x memcpy", "(quartiles)", "x best IPC", "msgs/s", "GB/s", "rounds"
        );
        for (size, info, rows) in &sum.throughput {
            for (k, r) in rows.iter().enumerate() {
                let label = if k == 0 {
                    size_label(*size)
                } else {
                    String::new()
                };
                let (name, msgs) = if r.class == Class::Limit {
                    (
                        format!("memcpy ({})", size_label(s.memcpy_bytes)),
                        "-".to_owned(),
                    )
                } else {
                    (r.name.to_owned(), rate(r.msgs_per_s))
                };
                let _ = writeln!(
                    t,
                    "{:<8} {:<24} {:>8} {:>11} {:>10} {:>10} {:>9.2} {:>7}",
                    label,
                    name,
                    ratio(r.x_memcpy),
                    spread(r.x_memcpy_quartiles),
                    ratio(r.x_best_ipc),
                    msgs,
                    r.gb_per_s,
                    if k == 0 {
                        rounds_label(info)
                    } else {
                        String::new()
                    }
                );
            }
        }
    }
    let _ = writeln!(t);
    let groups: Vec<&Rounds> = sum
        .latency
        .iter()
        .map(|g| &g.1)
        .chain(sum.throughput.iter().map(|g| &g.1))
        .collect();
    let total: usize = groups.iter().map(|g| g.total).sum();
    let kept: usize = groups.iter().map(|g| g.kept).sum();
    if m.no_spin.is_none() {
        let _ = writeln!(
            t,
            "Rounds dropped because the bare ping-pong probe moved more than {:.0}% across them: {} of {}.",
            s.tolerance * 100.0,
            total - kept,
            total
        );
        if groups.iter().any(|g| g.unstable) {
            let _ = writeln!(
                t,
                "WARNING: in some groups every round moved; their numbers use all rounds and are unreliable."
            );
        }
    }
    let _ = writeln!(
        t,
        "Each latency sample includes one clock read (about {:.0} ns here).",
        m.clock_ns
    );
    if m.clock_tick_ns > 1 {
        let _ = writeln!(
            t,
            "The clock advances in steps of {} ns here: p50s (and the ratios) are interpolated within the step.",
            m.clock_tick_ns
        );
    }
    for note in &m.notes {
        let _ = writeln!(t, "NOTE: {note}");
    }
    for (name, why) in &out.skipped {
        let _ = writeln!(t, "Not measured: {name}: {why}");
    }
    t
}

fn opt(v: Option<f64>) -> Value {
    v.map_or(Value::Null, |v| json!(v))
}

/// The machine-readable report (schema in docs/benchmarks.md).
pub fn to_json(out: &Outcome, sum: &Summary) -> Value {
    let m = &out.machine;
    let s = &out.settings;
    let rounds = |r: &Rounds| json!({"total": r.total, "kept": r.kept, "unstable": r.unstable});
    let probes = |rs: Vec<Option<(u64, u64)>>| -> Value {
        rs.into_iter()
            .map(|p| p.map_or(Value::Null, |(a, b)| json!([a, b])))
            .collect()
    };
    json!({
        "machine": {
            "cpu": m.cpu_model,
            "cpus": m.cpus,
            "kernel": m.kernel,
            "pinned": m.pinned.map(|(a, b)| json!([a, b])),
            "busy_spin_skipped": m.no_spin,
            "clock_ns": m.clock_ns,
            "clock_tick_ns": m.clock_tick_ns,
            "notes": m.notes,
        },
        "settings": {
            "rounds": s.rounds,
            "iters": s.iters,
            "warmup": s.warmup,
            "latency_sizes": s.latency_sizes,
            "throughput_sizes": s.throughput_sizes,
            "memcpy_bytes": s.memcpy_bytes,
            "probe_iters": s.probe_iters,
            "tolerance": s.tolerance,
        },
        "elapsed_s": out.elapsed.as_secs_f64(),
        "latency": sum.latency.iter().zip(&out.latency).map(|((size, info, rows), g)| json!({
            "size": size,
            "rounds": rounds(info),
            "probes_ns": probes(g.rounds.iter().map(|r| r.probe).collect()),
            "rows": rows.iter().map(|r| json!({
                "name": r.name,
                "class": r.class.as_str(),
                "carries_message": r.sized,
                "p50_ns": r.p50,
                "p99_ns": r.p99,
                "p999_ns": r.p999,
                "max_ns": r.max,
                "x_limit": opt(r.x_limit),
                "x_limit_quartiles": r.x_limit_quartiles.map(|(a, b)| json!([a, b])),
                "x_best_ipc": opt(r.x_best_ipc),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "throughput": sum.throughput.iter().zip(&out.throughput).map(|((size, info, rows), g)| json!({
            "size": size,
            "rounds": rounds(info),
            "probes_ns": probes(g.rounds.iter().map(|r| r.probe).collect()),
            "rows": rows.iter().map(|r| json!({
                "name": r.name,
                "class": r.class.as_str(),
                "msgs_per_s": r.msgs_per_s,
                "gb_per_s": r.gb_per_s,
                "x_memcpy": opt(r.x_memcpy),
                "x_memcpy_quartiles": r.x_memcpy_quartiles.map(|(a, b)| json!([a, b])),
                "x_best_ipc": opt(r.x_best_ipc),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "skipped": out.skipped.iter().map(|(n, w)| json!({"name": n, "reason": w})).collect::<Vec<_>>(),
    })
}

/// Draws the latency distribution of every row, one panel per message size:
/// latency (log scale) against the percentile, HdrHistogram style (the
/// x axis counts nines: 90%, 99%, 99.9%, ...).
///
/// # Errors
/// If the file cannot be written.
pub fn plot(sum: &Summary, path: &Path) -> Result<()> {
    use plotters::prelude::*;

    let groups: Vec<_> = sum.latency.iter().filter(|g| !g.2.is_empty()).collect();
    anyhow::ensure!(
        !groups.is_empty(),
        "--plot needs latency rows (not --only throughput)"
    );
    let width = 640 * groups.len().min(3) as u32;
    let height = 480 * groups.len().div_ceil(3) as u32;
    let root = SVGBackend::new(path, (width, height)).into_drawing_area();
    let draw = || -> Result<(), Box<dyn std::error::Error>> {
        root.fill(&WHITE)?;
        let cols = groups.len().min(3);
        let panels = root.split_evenly((groups.len().div_ceil(3), cols));
        const NINES: f64 = 4.0;
        for ((size, _, rows), area) in groups.iter().copied().zip(panels.iter()) {
            let lo = rows.iter().map(|r| r.hist.min().max(1)).min().unwrap_or(1) as f64;
            let hi = rows
                .iter()
                .map(|r| r.hist.max())
                .max()
                .unwrap_or(10)
                .max(10) as f64;
            let mut chart = ChartBuilder::on(area)
                .caption(
                    format!("round trip, {} messages", size_label(*size)),
                    ("sans-serif", 18),
                )
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(64)
                .build_cartesian_2d(0.0..NINES, (lo * 0.8..hi * 1.25).log_scale())?;
            chart
                .configure_mesh()
                .x_desc("percentile")
                .y_desc("round trip")
                .x_labels(5)
                .x_label_formatter(&|x| match x.round() as i64 {
                    0 => "0%".into(),
                    1 => "90%".into(),
                    2 => "99%".into(),
                    3 => "99.9%".into(),
                    4 => "99.99%".into(),
                    _ => String::new(),
                })
                .y_label_formatter(&|y| time(*y))
                .draw()?;
            for (k, r) in rows.iter().enumerate() {
                let color = Palette99::pick(k).stroke_width(2);
                let points: Vec<(f64, f64)> = (0..=(NINES * 40.0) as usize)
                    .map(|i| {
                        let x = i as f64 / 40.0;
                        let q = 1.0 - 10f64.powf(-x);
                        (x, r.hist.value_at_quantile(q).max(1) as f64)
                    })
                    .collect();
                chart
                    .draw_series(LineSeries::new(points, color))?
                    .label(r.name)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], Palette99::pick(k))
                    });
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperLeft)
                .draw()?;
        }
        root.present()?;
        Ok(())
    };
    draw()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("drawing the plot into {}", path.display()))
}

//! `shmkit`: see, debug and clean up shared memory on this machine.

use std::time::Duration;

use clap::{Parser, Subcommand};

mod bench;
mod bridge;
mod commands;
mod demo;
mod inspect;
mod scan;
mod show;
mod watch;

/// See, debug and clean up shared memory: every segment on the machine,
/// shmkit's own or not.
#[derive(Parser)]
#[command(name = "shmkit", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every shared memory segment: size, owner, mode, age, the
    /// processes that map or hold it, and for shmkit's typed segments their
    /// type and state.
    ///
    /// Examples:
    ///   shmkit ls
    ///   shmkit ls --json | jq '.segments[] | select(.users == [])'
    ///   shmkit ls --all
    #[command(verbatim_doc_comment)]
    Ls {
        /// Machine-readable output (schema in docs/cli.md).
        #[arg(long)]
        json: bool,
        /// Also list the role lock files of removed queues (else counted).
        #[arg(long)]
        all: bool,
    },
    /// Everything about one segment; for a typed segment, each field with its
    /// current value, decoded from the layout stored in its header.
    ///
    /// Examples:
    ///   shmkit info MyShare
    ///   shmkit info MyShare --json
    #[command(verbatim_doc_comment)]
    Info {
        /// The segment's name.
        name: String,
        /// Machine-readable output (schema in docs/cli.md).
        #[arg(long)]
        json: bool,
    },
    /// Hex and ASCII dump, like xxd; identical lines collapse into `*`.
    ///
    /// Examples:
    ///   shmkit dump MyShare
    ///   shmkit dump MyShare --offset 0x40 --len 1K
    #[command(verbatim_doc_comment)]
    Dump {
        /// The segment's name.
        name: String,
        /// Where to start: bytes, 0x hex, or with K, M, G (as --size).
        #[arg(long, default_value = "0", value_parser = show::parse_bytes)]
        offset: u64,
        /// How many bytes, same syntax (default: to the end).
        #[arg(long, value_parser = show::parse_bytes)]
        len: Option<u64>,
    },
    /// Create a raw segment that stays until `shmkit rm`.
    ///
    /// Examples:
    ///   shmkit create scratch --size 4KiB
    ///   shmkit create shared-with-group --size 1M --mode 660
    #[command(verbatim_doc_comment)]
    Create {
        /// The segment's name (1-30 of A-Z a-z 0-9 . _ -).
        name: String,
        /// Size: bytes, 0x hex, or with K, M, G (binary units).
        #[arg(long)]
        size: String,
        /// Permission bits, in octal.
        #[arg(long, default_value = "600")]
        mode: String,
    },
    /// Remove a segment's name. Refuses while a live process maps or holds
    /// it, naming the process, unless --force.
    ///
    /// Examples:
    ///   shmkit rm scratch
    ///   shmkit rm stuck --force
    #[command(verbatim_doc_comment)]
    Rm {
        /// The segment's name.
        name: String,
        /// Remove it even though processes use it (their mappings stay valid).
        #[arg(long)]
        force: bool,
    },
    /// Remove shmkit-made segments that no live process maps or holds
    /// (decided from /proc, never from a recorded pid).
    ///
    /// Examples:
    ///   shmkit gc --dry-run
    ///   shmkit gc --all
    #[command(verbatim_doc_comment)]
    Gc {
        /// Only say what would be removed.
        #[arg(long)]
        dry_run: bool,
        /// Also remove unused segments made by other programs.
        #[arg(long)]
        all: bool,
        /// Go on even if some processes cannot be inspected (their use of
        /// shared memory is then unknown).
        #[arg(long)]
        ignore_unreadable: bool,
    },
    /// A live view of a typed segment's fields, refreshed in place, with how
    /// often each changes. Quit with q or Ctrl-C.
    ///
    /// Examples:
    ///   shmkit watch MyShare
    ///   shmkit watch MyShare --interval 100ms
    #[command(verbatim_doc_comment)]
    Watch {
        /// The segment's name.
        name: String,
        /// Time between refreshes, e.g. 500ms or 2s.
        #[arg(long, default_value = "500ms", value_parser = parse_interval)]
        interval: Duration,
        /// Stop after this many refreshes (default: until q or Ctrl-C).
        #[arg(long)]
        count: Option<u64>,
    },
    /// Write fields of a typed segment, checked against its stored layout.
    ///
    /// Examples:
    ///   shmkit set MyShare value=7 numbers[10]=2.5
    #[command(verbatim_doc_comment)]
    Set {
        /// The segment's name.
        name: String,
        /// FIELD=VALUE pairs; all are checked before any is written.
        #[arg(required = true)]
        assignments: Vec<String>,
        /// Also write the words of a Mutex, SeqLock or Event, and the data
        /// they guard, bypassing their protocol (refused otherwise): a
        /// process may then wait forever or read torn data.
        #[arg(long)]
        ignore_locks: bool,
    },
    /// Play the textbook's scenario: one process writes a struct into shared
    /// memory, a second one reads it and answers.
    ///
    /// Examples:
    ///   shmkit demo                      # both halves, as two real processes
    ///   shmkit demo write MyShare        # terminal 1: create and write, wait for Enter
    ///   shmkit demo read MyShare         # terminal 2: open by name and read
    #[command(verbatim_doc_comment)]
    Demo {
        #[command(subcommand)]
        half: Option<demo::Half>,
    },
    /// Measure round-trip latency and throughput between two processes
    /// pinned to different CPUs: the bare cache-line ping-pong (the hardware
    /// limit), a bare futex ping-pong, pipe, Unix socket and TCP, with
    /// memcpy for scale, interleaved in short rounds.
    ///
    /// Examples:
    ///   shmkit bench
    ///   shmkit bench --sizes 64,4K --only latency --plot latency.svg
    ///   shmkit bench --quick --json
    #[command(verbatim_doc_comment)]
    Bench(bench::BenchArgs),
    /// Carry broadcast topics to and from other hosts over Zenoh: runs the
    /// `shmkit-bridge` program (installed apart, with
    /// `cargo install --path bridge/shmkit-zenoh`) with these arguments.
    ///
    /// Examples:
    ///   shmkit bridge --listen tcp/10.0.0.1:7447 --export camera
    ///   shmkit bridge --connect tcp/10.0.0.1:7447 --import camera
    ///   shmkit bridge --help
    #[command(verbatim_doc_comment, disable_help_flag = true)]
    Bridge {
        /// Arguments for shmkit-bridge (see `shmkit bridge --help`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// The second process of `shmkit bench` (started by it).
    #[command(name = "__bench-peer", hide = true)]
    BenchPeer {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else {
        (t, 1e-3)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 500ms or 2s"))?;
    if !(0.001..=3600.0).contains(&(v * scale)) {
        return Err(format!("`{text}` is out of range (1ms to 1h)"));
    }
    Ok(Duration::from_secs_f64(v * scale))
}

/// Dies quietly on a closed pipe (`shmkit ls | head`), as Unix tools do,
/// instead of Rust's default of ignoring SIGPIPE and panicking in `println!`.
#[cfg(unix)]
fn default_sigpipe() {
    // SAFETY:
    // - `signal` with `SIG_DFL` installs no handler code, so there is no
    //   async-signal-safety obligation;
    // - it runs first thing in `main`, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> std::process::ExitCode {
    #[cfg(unix)]
    default_sigpipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bridge { args } => return bridge::run(args),
        Command::Ls { json, all } => commands::ls(json, all),
        Command::Info { name, json } => commands::info(&name, json),
        Command::Dump { name, offset, len } => commands::dump(&name, offset, len),
        Command::Create { name, size, mode } => commands::create(&name, &size, &mode),
        Command::Rm { name, force } => commands::rm(&name, force),
        Command::Gc {
            dry_run,
            all,
            ignore_unreadable,
        } => commands::gc(dry_run, all, ignore_unreadable),
        Command::Watch {
            name,
            interval,
            count,
        } => watch::watch(&name, interval, count),
        Command::Set {
            name,
            assignments,
            ignore_locks,
        } => commands::set(&name, &assignments, ignore_locks),
        Command::Demo { half } => demo::run(half),
        Command::Bench(args) => bench::run(args),
        Command::BenchPeer { args } => bench::peer(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line that says what to do.
            let text = format!("{e:#}").replace('\n', " ");
            eprintln!("shmkit: {text}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! `shmkit-bridge`: carries shmkit broadcast topics between hosts over
//! Zenoh. See the library docs and docs/bridge.md.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use shmkit_zenoh::{Bridge, Options};

const USAGE: &str = "usage: shmkit-bridge (--listen tcp/IP:PORT | --connect tcp/IP:PORT)... \
[--export NAME...] [--import NAME...] [--prefix P] [--config FILE] [--lease-ms MS] \
[--poll-us US] [--status-ms MS] [--json]

  --listen EP      listen on EP (only there); repeatable
  --connect EP     connect to EP, retrying in the background; repeatable
  --export NAME... carry local broadcast topics out
  --import NAME... carry remote broadcast topics in
  --prefix P       zenoh key prefix (default shmkit)
  --config FILE    zenoh configuration (JSON5): TLS, authentication, ...
  --lease-ms MS    link lease: a silent link is declared lost after MS (default 10000)
  --poll-us US     exporters poll US microseconds for the next message (yielding
                   the CPU) before they park: lower latency for otherwise idle CPU
                   time (default 0, at most 1000000)
  --status-ms MS   print changed status lines every MS (default 1000)
  --json           status lines as JSON objects
Multicast and gossip scouting are off: the bridge meets only the peers named.";

struct Args {
    opts: Options,
    json: bool,
    status_every: Duration,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut o = Options::default();
    let mut json = false;
    let mut status_every = Duration::from_millis(1000);
    let mut list: Option<&str> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        let ms = |flag: &str, v: String| {
            v.parse::<u64>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("{flag} {v:?}: give a positive number of milliseconds"))
        };
        match a.as_str() {
            "--listen" => o.listen.push(value(a)?),
            "--connect" => o.connect.push(value(a)?),
            "--prefix" => o.prefix = Some(value(a)?),
            "--config" => o.config = Some(value(a)?.into()),
            "--lease-ms" => o.lease_ms = Some(ms(a, value(a)?)?),
            "--status-ms" => status_every = Duration::from_millis(ms(a, value(a)?)?),
            "--poll-us" => {
                let v = value(a)?;
                let us = v
                    .parse::<u64>()
                    .ok()
                    .filter(|&n| n <= 1_000_000)
                    .ok_or_else(|| format!("{a} {v:?}: give 0 to 1000000 microseconds"))?;
                o.export_poll = Duration::from_micros(us);
            }
            "--json" => json = true,
            "--export" | "--import" => {
                list = Some(if a == "--export" { "export" } else { "import" });
                continue;
            }
            "-h" | "--help" => return Err(USAGE.into()),
            s if s.starts_with('-') => return Err(format!("unknown flag {s}\n{USAGE}")),
            name => {
                match list {
                    Some("export") => o.export.push(name.to_owned()),
                    Some(_) => o.import.push(name.to_owned()),
                    None => {
                        return Err(format!(
                            "{name:?}: name a topic after --export or --import\n{USAGE}"
                        ))
                    }
                }
                // Still in the list.
                continue;
            }
        }
        list = None;
    }
    for ep in o.listen.iter().chain(&o.connect) {
        if !ep.contains('/') {
            return Err(format!("endpoint {ep:?}: give it as tcp/IP:PORT"));
        }
    }
    Ok(Args {
        opts: o,
        json,
        status_every,
    })
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            let help = argv.iter().any(|a| a == "-h" || a == "--help");
            if help {
                println!("{e}");
                return ExitCode::SUCCESS;
            }
            eprintln!("shmkit-bridge: {e}");
            return ExitCode::from(2);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    if let Err(e) = ctrlc::set_handler(move || s.store(true, Ordering::SeqCst)) {
        eprintln!("shmkit-bridge: cannot catch Ctrl-C: {e}");
        return ExitCode::FAILURE;
    }
    let bridge = match Bridge::start(&args.opts) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("shmkit-bridge: {e}");
            return ExitCode::FAILURE;
        }
    };
    let print = |lines: &[String]| {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
        let _ = out.flush();
    };
    let render = |st: &[shmkit_zenoh::TopicStatus]| -> Vec<String> {
        st.iter()
            .map(|t| if args.json { t.json() } else { t.line() })
            .collect()
    };
    let mut last: Vec<String> = Vec::new();
    let tick = Duration::from_millis(20);
    let mut waited = Duration::ZERO;
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(tick);
        waited += tick;
        if waited >= args.status_every {
            waited = Duration::ZERO;
            let now = render(&bridge.status());
            let changed: Vec<String> = now
                .iter()
                .enumerate()
                .filter(|(i, l)| last.get(*i) != Some(l))
                .map(|(_, l)| l.clone())
                .collect();
            print(&changed);
            last = now;
        }
    }
    let fin = render(&bridge.stop());
    print(&fin);
    if args.json {
        print(&["{\"stopped\":true}".to_owned()]);
    } else {
        print(&["stopped".to_owned()]);
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Args, String> {
        parse(&s.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
    }

    #[test]
    fn poll_us_is_parsed_and_bounded() {
        let a = args("--listen tcp/127.0.0.1:7447 --export t --poll-us 250").unwrap();
        assert_eq!(a.opts.export_poll, Duration::from_micros(250));
        let a = args("--listen tcp/127.0.0.1:7447 --export t").unwrap();
        assert_eq!(a.opts.export_poll, Duration::ZERO);
        for bad in ["1000001", "-5", "soon", ""] {
            let e = args(&format!(
                "--listen tcp/127.0.0.1:7447 --poll-us {bad} --export t"
            ))
            .err()
            .unwrap_or_else(|| panic!("--poll-us {bad:?} accepted"));
            assert!(e.contains("--poll-us"), "{e}");
        }
    }
}

//! `shmkit bridge`: runs the `shmkit-bridge` binary, which carries
//! broadcast topics between hosts over Zenoh. It is a separate program
//! (crate `shmkit-zenoh`, in `bridge/`) so that this command and the
//! library never depend on Zenoh.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

/// The bridge program's file name.
fn program() -> String {
    format!("shmkit-bridge{}", std::env::consts::EXE_SUFFIX)
}

/// Where the bridge is: next to this `shmkit` binary first, then on PATH.
fn find() -> Option<PathBuf> {
    let name = program();
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(&name)));
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(&name)).collect())
        .unwrap_or_default();
    beside.into_iter().chain(on_path).find(|p| p.is_file())
}

/// Runs the bridge with `args`, as its own process (on Unix it replaces
/// this one, so Ctrl-C and signals reach it directly); its exit code is
/// this command's.
pub(crate) fn run(args: Vec<OsString>) -> ExitCode {
    let Some(exe) = find() else {
        eprintln!(
            "shmkit: `shmkit bridge` runs the {} program, which is not installed (neither next \
             to this shmkit nor on PATH); install it from a shmkit checkout with \
             `cargo install --path bridge/shmkit-zenoh`, then run this again",
            program()
        );
        return ExitCode::FAILURE;
    };
    let mut cmd = Command::new(&exe);
    cmd.args(&args);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let e = cmd.exec();
        eprintln!("shmkit: cannot run {}: {e}", exe.display());
        ExitCode::FAILURE
    }
    #[cfg(not(unix))]
    match cmd.status() {
        Ok(s) => ExitCode::from(s.code().map_or(1, |c| c.clamp(0, 255) as u8)),
        Err(e) => {
            eprintln!("shmkit: cannot run {}: {e}", exe.display());
            ExitCode::FAILURE
        }
    }
}

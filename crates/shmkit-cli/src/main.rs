//! `shmkit`: the command-line tool.

use clap::{Parser, Subcommand};

mod demo;

/// Shared memory between processes: try it, and (soon) list, inspect and
/// clean up the segments on this machine.
#[derive(Parser)]
#[command(name = "shmkit", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo { half } => demo::run(half),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shmkit: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! Project automation for Waymark, run as `cargo xtask <command>`.
//!
//! The `ci` command is the whole CI pipeline that `.ci/run` runs; `tidy` runs
//! the repository hygiene and dependency-direction checks that `cargo test`
//! also enforces; `bench` measures the workflow engine against the storage
//! floor (never part of `ci`).

// xtask is a terminal program: printing to stdout and stderr is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod ci;
mod clients;
mod deps;
mod tidy;
mod util;

use std::process::ExitCode;

use util::{Error, Result};

const HELP: &str = "\
Usage: cargo xtask <command>

Commands:
  ci     Run the CI pipeline: PostgreSQL, fmt, clippy, build, tests, doctests,
         the Python MCP end-to-end tests, the TypeScript SDK client, the MCP
         Inspector CLI and the official MCP conformance suite, stopping at the
         first failure.
  tidy   Run the tidy and dependency-direction checks and print what they find.
  bench  Measure the workflow engine's per-step overhead against a bare commit
         of the same event, interleaved, on SQLite and PostgreSQL (when
         reachable), with fsyncs counted under strace (docs/BENCHMARKS.md).
         Options: --quick, --json, --no-fsync, --backend sqlite|postgres|all,
         --reps N, --block N, --pg-url URL, --dir DIR.
  help   Print this message.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprintln!("{HELP}");
        return ExitCode::from(2);
    };
    if command == "bench" {
        return finish(bench::run(&util::repo_root(), rest));
    }
    let run: fn() -> Result<()> = match command.as_str() {
        "ci" => || ci::run(&util::repo_root()),
        "tidy" => tidy,
        "help" | "--help" | "-h" => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        other => {
            eprintln!("error: unknown command `{other}`\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    if !rest.is_empty() {
        eprintln!("error: `{command}` takes no arguments, got `{}`\n\n{HELP}", rest.join(" "));
        return ExitCode::from(2);
    }
    finish(run())
}

/// Turns a command's result into the exit code, printing the error.
fn finish(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the tidy and dependency checks, printing every finding.
fn tidy() -> Result<()> {
    let root = util::repo_root();
    let findings = tidy::check(&root)?;
    for finding in &findings {
        println!("{finding}");
    }
    let graph = deps::Graph::from_metadata(&util::cargo_metadata(&root, false)?)?;
    let violations = deps::check(&graph);
    for violation in &violations {
        println!("deps: {violation}");
    }
    let missing = deps::missing_packages(&graph);
    if !missing.is_empty() {
        println!("note: dependency rules skipped for packages not in the workspace yet: {}", missing.join(", "));
    }
    let problems = findings.len() + violations.len();
    if problems == 0 {
        println!("tidy: ok");
        Ok(())
    } else {
        Err(Error::new(format!(
            "tidy found {problems} problem(s): {} in files, {} in dependencies",
            findings.len(),
            violations.len()
        )))
    }
}

//! `engine_step`: the durable-workflow engine's per-step overhead against the storage floor,
//! measured interleaved on the same database and sync mode (goals D1–D3 of
//! `shared/reference/perf-reliability.md` §5.2). See `docs/BENCHMARKS.md`.
//!
//! - The floor: one `ActivityCompleted` history row per transaction, through the store port
//!   (`begin`, `append_events`, `commit`), on the store's own writer; and the same row with raw
//!   sqlx on a connection of its own, to show what the port and sea-orm cost.
//! - The step: a workflow type registered only here runs K no-op activities in sequence on the
//!   real engine (`waymark_engine::Engine` with its workers, production defaults). Each
//!   activity result is one step: `ActivityCompleted`, the next `ActivityScheduled` and its
//!   `ActivityStarted` (eager dispatch), the run row, the task, activity and attempt rows.
//! - A wrapper store (`timed.rs`) times every transaction from `begin()` to the return of
//!   `commit()` and lists its port calls, so floor and step are measured at the same points.
//!
//! `cargo xtask bench [--quick] [--json]` runs this twice: once under strace to count fsyncs
//! per block (`--fsync-pass`), then for the timings (`--fsyncs FILE` adds the counts).
//! `cargo bench -p waymark-core --bench engine_step -- --quick` prints the report without them.

// A terminal program: printing is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod pgtrace;
mod report;
mod timed;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::report::Series;
use crate::timed::TxKind;
use crate::workload::{Bench, BlockKind};

const USAGE: &str = "\
Usage: engine_step --bench [options]   (or: cargo xtask bench [--quick] [--json])

  --quick            5 repetitions of 200 (default: 10 of 500)
  --reps N           repetitions (each: a bare block, a workflow, a raw block)
  --block N          commits per floor block = steps per workflow
  --backend B        sqlite, postgres or all (default; PostgreSQL only when reachable)
  --pg-url URL       default: $WAYMARK_BENCH_POSTGRES_URL, $WAYMARK_TEST_POSTGRES_URL or
                     postgres://postgres@127.0.0.1:5432/test (a schema of its own, dropped after)
  --dir DIR          where the SQLite file goes (default: the system temp directory)
  --json             print the summary as JSON
  --fsyncs FILE      fsync counts from the counting pass, added to the report
  --fsync-pass       the counting pass: write block windows to --windows-out, print no report
  --windows-out FILE
  --pg-strace-log FILE  counting pass: strace the bench's PostgreSQL backends into FILE";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    All,
    Sqlite,
    Postgres,
}

#[derive(Debug)]
struct Args {
    bench: bool,
    quick: bool,
    json: bool,
    which: Which,
    reps: usize,
    block: usize,
    pg_url: String,
    dir: PathBuf,
    fsync_pass: bool,
    windows_out: Option<PathBuf>,
    pg_strace_log: Option<PathBuf>,
    fsyncs: Option<PathBuf>,
}

fn parse(raw: &[String]) -> Result<Args, String> {
    let pg_url = std::env::var("WAYMARK_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("WAYMARK_TEST_POSTGRES_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let mut args = Args {
        bench: false,
        quick: false,
        json: false,
        which: Which::All,
        reps: 0,
        block: 0,
        pg_url,
        dir: std::env::temp_dir(),
        fsync_pass: false,
        windows_out: None,
        pg_strace_log: None,
        fsyncs: None,
    };
    let mut it = raw.iter();
    let value = |flag: &str, it: &mut std::slice::Iter<'_, String>| {
        it.next().cloned().ok_or_else(|| format!("{flag} needs a value"))
    };
    let number = |flag: &str, text: String| {
        text.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| format!("{flag} needs a positive number"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--bench" => args.bench = true,
            "--quick" => args.quick = true,
            "--json" => args.json = true,
            "--fsync-pass" => args.fsync_pass = true,
            "--reps" => args.reps = number(arg, value(arg, &mut it)?)?,
            "--block" => args.block = number(arg, value(arg, &mut it)?)?,
            "--pg-url" => args.pg_url = value(arg, &mut it)?,
            "--dir" => args.dir = PathBuf::from(value(arg, &mut it)?),
            "--windows-out" => args.windows_out = Some(PathBuf::from(value(arg, &mut it)?)),
            "--fsyncs" => args.fsyncs = Some(PathBuf::from(value(arg, &mut it)?)),
            "--pg-strace-log" => args.pg_strace_log = Some(PathBuf::from(value(arg, &mut it)?)),
            "--backend" => {
                args.which = match value(arg, &mut it)?.as_str() {
                    "all" => Which::All,
                    "sqlite" => Which::Sqlite,
                    "postgres" => Which::Postgres,
                    other => return Err(format!("unknown backend {other:?} (sqlite, postgres, all)")),
                }
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if args.reps == 0 {
        args.reps = if args.quick { 5 } else { 10 };
    }
    if args.block == 0 {
        args.block = if args.quick { 200 } else { 500 };
    }
    if args.fsync_pass && args.windows_out.is_none() {
        return Err("--fsync-pass needs --windows-out".to_owned());
    }
    Ok(args)
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&raw) {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("error: {message}\n");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if !args.bench {
        // `cargo test --all-targets` runs bench targets without `--bench`: nothing to do.
        eprintln!(
            "engine_step: a benchmark; run `cargo xtask bench` or `cargo bench -p waymark-core --bench engine_step`"
        );
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The 1-minute load average and the CPU count: other processes share the machine.
fn load() -> Value {
    let average = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()));
    json!({ "load_average_1m": average, "cpus": std::thread::available_parallelism().map_or(0, usize::from) })
}

async fn run(args: &Args) -> Result<(), String> {
    let load_before = load();
    let mut measured = Vec::new();
    let mut windows = Vec::new();
    let mut pg_trace = json!({ "unavailable": "PostgreSQL was not measured" });
    let mut notes = Vec::new();
    if args.which != Which::Postgres {
        let bench = Bench::sqlite(&args.dir).await.map_err(|e| format!("sqlite: {e}"))?;
        measured.push(measure(bench, args, &mut windows, &mut pg_trace).await?);
        notes.push(
            "sqlite NORMAL: not measured: waymark-store opens SQLite with synchronous=FULL only \
             (crates/waymark-store/src/lib.rs, sqlite_pool); measuring NORMAL needs a store option"
                .to_owned(),
        );
    }
    if args.which != Which::Sqlite {
        match Bench::postgres(&args.pg_url).await {
            Ok(bench) => measured.push(measure(bench, args, &mut windows, &mut pg_trace).await?),
            Err(e) if args.which == Which::Postgres => return Err(format!("postgres: {e}")),
            Err(e) => {
                let url = waymark_store::redact_url(&args.pg_url);
                eprintln!("postgres: skipped, {url} is not usable: {e}");
                notes.push(format!("postgres: skipped, {url} is not usable: {e}"));
            }
        }
    }
    if args.fsync_pass {
        let path = args.windows_out.as_ref().ok_or("--fsync-pass needs --windows-out")?;
        let document = json!({ "windows": windows, "pg": pg_trace });
        let text = serde_json::to_string_pretty(&document).map_err(|e| e.to_string())?;
        return std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()));
    }
    let fsyncs = match &args.fsyncs {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Some(serde_json::from_str::<Value>(&text).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        None => None,
    };
    let config = json!({
        "reps": args.reps,
        "block": args.block,
        "quick": args.quick,
        "workflows_at_once": 1,
        "engine_config": "EngineConfig::default() (lease 30 s, poll 1 s, 16 activity slots, sweep 5 s)",
        "latency": "from before begin() to the return of commit(), through the same wrapper for floor and step",
        "ratio_p50": "per repetition: step p50 / bare p50; median (min-max) over repetitions",
        "load_before": load_before,
        "load_after": load(),
    });
    let summary = report::summarize(&measured, config, fsyncs.as_ref(), &notes);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?);
    } else {
        print!("{}", report::render(&summary));
    }
    Ok(())
}

/// Warms up, then runs the repetitions: a bare block, a workflow and a raw block each, their
/// order rotating so that none always follows another. In the counting pass on PostgreSQL,
/// the bench's backends are traced during the repetitions (`pgtrace`); `pg_trace` says how.
async fn measure(
    mut bench: Bench,
    args: &Args,
    windows: &mut Vec<Value>,
    pg_trace: &mut Value,
) -> Result<Series, String> {
    eprintln!("{}: warming up ({})", bench.label, bench.location);
    bench.warm_up(args.block.min(50)).await?;
    let traced = bench.backend_pids().await?;
    let mut tracer = None;
    if let (true, "postgres", Some(log)) = (args.fsync_pass, bench.backend, &args.pg_strace_log) {
        match pgtrace::Tracer::attach(&traced, log) {
            Ok(t) => tracer = Some(t),
            Err(e) => *pg_trace = json!({ "unavailable": e }),
        }
    }
    let kinds = [BlockKind::Bare, BlockKind::Step, BlockKind::Raw];
    let mut reps = Vec::with_capacity(args.reps);
    for rep in 0..args.reps {
        let mut blocks = Vec::with_capacity(kinds.len());
        for i in 0..kinds.len() {
            let kind = kinds[(i + rep) % kinds.len()];
            let block = bench.block(kind, args.block).await?;
            let write_commits = block.records.iter().filter(|r| r.kind != TxKind::ReadOnly).count();
            windows.push(json!({
                "series": bench.label,
                "kind": kind.as_str(),
                "start_us": block.start_us,
                "end_us": block.end_us,
                "units": block.units,
                "write_commits": write_commits,
            }));
            blocks.push(block);
        }
        let p50 = |kind: BlockKind, tx: TxKind| {
            let mut v: Vec<f64> = blocks
                .iter()
                .filter(|b| b.kind == kind)
                .flat_map(|b| &b.records)
                .filter(|r| r.kind == tx)
                .map(|r| r.latency().as_secs_f64() * 1e6)
                .collect();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
        };
        eprintln!(
            "{}: rep {}/{}: bare p50 {:.0} µs, step p50 {:.0} µs, raw p50 {:.0} µs",
            bench.label,
            rep + 1,
            args.reps,
            p50(BlockKind::Bare, TxKind::Bare),
            p50(BlockKind::Step, TxKind::Step),
            p50(BlockKind::Raw, TxKind::Raw),
        );
        reps.push(blocks);
    }
    if let Some(tracer) = tracer {
        tracer.detach()?;
        let after = bench.backend_pids().await?;
        let untraced: Vec<i32> = after.iter().copied().filter(|pid| !traced.contains(pid)).collect();
        *pg_trace = json!({ "traced_backends": traced, "untraced_backends": untraced });
    }
    let series = Series {
        label: bench.label.clone(),
        backend: bench.backend,
        sync: bench.sync.clone(),
        location: bench.location.clone(),
        reps,
    };
    bench.close().await;
    Ok(series)
}

//! `cargo xtask bench`: the workflow engine's per-step overhead against the storage floor
//! (the `engine_step` bench of `waymark-core`, see `docs/BENCHMARKS.md`), with fsyncs counted.
//!
//! 1. Build the bench in release mode (`cargo bench --no-run`).
//! 2. The counting pass: run it under `strace -f --seccomp-bpf -e trace=fsync,fdatasync,pwrite64`
//!    with `--fsync-pass`; it writes the wall-clock window of every block, and each traced
//!    syscall is charged to the block whose window holds its timestamp. Tracing slows the
//!    traced syscalls, so this pass's timings are thrown away. PostgreSQL's fsyncs happen in
//!    the server, not in the bench, so for PostgreSQL the bench attaches a second strace to
//!    the backends serving its own connections (`--pg-strace-log`) during its blocks.
//! 3. The timing pass: run it again, untraced, with the counts merged into its report.
//!
//! Never part of `cargo xtask ci`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::util::{self, Cmd, Error, Result};

/// How the counts are taken, as the report states it.
const METHOD: &str = "strace -f --seccomp-bpf -e trace=fsync,fdatasync,pwrite64 on the bench process, a separate \
                      pass of the same blocks whose timings are discarded; each syscall is charged to the block \
                      whose wall-clock window holds it";

/// How PostgreSQL's counts are taken.
const PG_METHOD: &str = "strace -p on the PostgreSQL backends serving the bench's connections (found by \
                         application_name) during the counting pass; the WAL writer and the checkpointer are not \
                         traced; each syscall is charged to the block whose wall-clock window holds it";

/// The options `cargo xtask bench` passes on to the bench.
const PASSED_FLAGS: [&str; 2] = ["--quick", "--json"];
const PASSED_OPTIONS: [&str; 5] = ["--backend", "--reps", "--block", "--pg-url", "--dir"];

/// Runs the bench: build, counting pass (unless `--no-fsync`), timing pass.
pub(crate) fn run(root: &Path, args: &[String]) -> Result<()> {
    let mut passed: Vec<String> = Vec::new();
    let mut count_fsyncs = true;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if PASSED_FLAGS.contains(&arg.as_str()) {
            passed.push(arg.clone());
        } else if PASSED_OPTIONS.contains(&arg.as_str()) {
            let value = it.next().ok_or_else(|| Error::new(format!("{arg} needs a value")))?;
            passed.extend([arg.clone(), value.clone()]);
        } else if arg == "--no-fsync" {
            count_fsyncs = false;
        } else {
            return Err(Error::new(format!(
                "unknown argument `{arg}`; `cargo xtask bench` takes --quick, --json, --no-fsync, --backend B, \
                 --reps N, --block N, --pg-url URL, --dir DIR"
            )));
        }
    }
    let exe = build(root)?;
    let metadata = util::cargo_metadata(root, true)?;
    let target = metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| Error::new("`cargo metadata` printed no target_directory"))?;
    let work = target.join("xtask").join("bench");
    fs::create_dir_all(&work).map_err(|e| Error::new(format!("cannot create {}: {e}", work.display())))?;
    let counts = if count_fsyncs {
        count(root, &exe, &passed, &work)
    } else {
        json!({ "unavailable": "not counted (--no-fsync)", "pg": { "unavailable": "not counted (--no-fsync)" } })
    };
    let counts_path = work.join("fsyncs.json");
    let text = serde_json::to_string_pretty(&counts).map_err(|e| Error::new(e.to_string()))?;
    fs::write(&counts_path, text).map_err(|e| Error::new(format!("cannot write {}: {e}", counts_path.display())))?;
    Cmd::new(&exe, "engine_step")
        .arg("--bench")
        .args(&passed)
        .arg("--fsyncs")
        .arg(&counts_path)
        .current_dir(root.join("crates/waymark-core"))
        .run()
}

/// Builds the bench in release mode and returns its executable.
fn build(root: &Path) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let shown = "cargo bench -p waymark-core --bench engine_step --no-run --message-format=json-render-diagnostics";
    eprintln!("==> {shown}");
    let output = Command::new(cargo)
        .args(["bench", "-p", "waymark-core", "--bench", "engine_step", "--no-run"])
        .arg("--message-format=json-render-diagnostics")
        .current_dir(root)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Error::new(format!("cannot start `{shown}`: {e}")))?;
    if !output.status.success() {
        return Err(Error::new(format!("`{shown}` failed ({})", output.status)));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "engine_step")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| Error::new(format!("`{shown}` named no engine_step executable")))
}

/// The counting pass; never fails the bench: a problem becomes the reason the counts are
/// unavailable.
fn count(root: &Path, exe: &Path, passed: &[String], work: &Path) -> Value {
    let unavailable = |reason: String| json!({ "unavailable": reason, "pg": { "unavailable": reason } });
    if !Cmd::new("strace", "strace").arg("-V").succeeds() {
        return unavailable("strace is not installed (`apt-get install strace`), so fsyncs were not counted".into());
    }
    let log = work.join("strace.log");
    let pg_log = work.join("strace-pg.log");
    let _ = fs::remove_file(&pg_log);
    let windows_path = work.join("windows.json");
    let timing_only = ["--json"];
    let traced = Cmd::new("strace", "strace")
        .args(["-f", "--seccomp-bpf", "-qq", "-e", "signal=none", "-e", "trace=fsync,fdatasync,pwrite64"])
        .args(["-ttt", "-y", "-s", "0", "-o"])
        .arg(&log)
        .arg(exe)
        .arg("--bench")
        .args(passed.iter().filter(|a| !timing_only.contains(&a.as_str())))
        .args(["--fsync-pass", "--windows-out"])
        .arg(&windows_path)
        .arg("--pg-strace-log")
        .arg(&pg_log)
        .current_dir(root.join("crates/waymark-core"))
        .run();
    if let Err(e) = traced {
        return unavailable(format!("the counting pass under strace failed: {e}"));
    }
    let logs: Vec<&Path> = [log.as_path(), pg_log.as_path()].into_iter().filter(|p| p.is_file()).collect();
    match attribute(&windows_path, &logs) {
        Ok(counts) => counts,
        Err(e) => unavailable(format!("cannot read the counting pass: {e}")),
    }
}

/// A block's wall-clock window from the counting pass.
#[derive(Debug)]
struct Window {
    key: (String, String),
    start_us: u64,
    end_us: u64,
}

/// What was counted for one block kind of one series.
#[derive(Debug, Default)]
struct Counts {
    units: u64,
    write_commits: u64,
    fsync: u64,
    wal: u64,
    db: u64,
    other: u64,
    wal_bytes: u64,
    db_bytes: u64,
}

impl Counts {
    fn add(&mut self, syscall: &Syscall) {
        let file = FileKind::of(&syscall.path);
        if syscall.name == "pwrite64" {
            match file {
                FileKind::Wal => self.wal_bytes += syscall.bytes,
                FileKind::Db => self.db_bytes += syscall.bytes,
                FileKind::Other => {}
            }
            return;
        }
        self.fsync += 1;
        match file {
            FileKind::Wal => self.wal += 1,
            FileKind::Db => self.db += 1,
            FileKind::Other => self.other += 1,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "units": self.units,
            "write_commits": self.write_commits,
            "fsync": self.fsync,
            "wal": self.wal,
            "db": self.db,
            "other": self.other,
            "wal_bytes": self.wal_bytes,
            "db_bytes": self.db_bytes,
        })
    }
}

/// Which file a syscall touched, by its path (strace `-y`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    /// The write-ahead log: SQLite's `-wal` file (commits, and the checkpoint's first sync),
    /// PostgreSQL's `pg_wal` segments.
    Wal,
    /// The SQLite database file (written and synced only by checkpoints), PostgreSQL's data
    /// files.
    Db,
    /// Anything else (a directory, a journal).
    Other,
}

impl FileKind {
    fn of(path: &str) -> Self {
        if path.ends_with("-wal") || path.contains("/pg_wal/") {
            Self::Wal
        } else if path.ends_with(".db") || path.contains("/base/") || path.contains("/global/") {
            Self::Db
        } else {
            Self::Other
        }
    }
}

/// Charges every traced syscall of the logs to its block.
fn attribute(windows_path: &Path, logs: &[&Path]) -> Result<Value> {
    let text = fs::read_to_string(windows_path)
        .map_err(|e| Error::new(format!("cannot read {}: {e}", windows_path.display())))?;
    let document: Value =
        serde_json::from_str(&text).map_err(|e| Error::new(format!("{}: {e}", windows_path.display())))?;
    let mut counts: BTreeMap<(String, String), Counts> = BTreeMap::new();
    let mut windows = Vec::new();
    for w in document["windows"].as_array().into_iter().flatten() {
        let key = (w["series"].as_str().unwrap_or("?").to_owned(), w["kind"].as_str().unwrap_or("?").to_owned());
        let entry = counts.entry(key.clone()).or_default();
        entry.units += w["units"].as_u64().unwrap_or(0);
        entry.write_commits += w["write_commits"].as_u64().unwrap_or(0);
        windows.push(Window {
            key,
            start_us: w["start_us"].as_u64().unwrap_or(0),
            end_us: w["end_us"].as_u64().unwrap_or(0),
        });
    }
    windows.sort_by_key(|w| w.start_us);
    let mut outside = Counts::default();
    for log in logs {
        let file = fs::File::open(log).map_err(|e| Error::new(format!("cannot read {}: {e}", log.display())))?;
        for line in BufReader::new(file).lines() {
            let line = line.map_err(|e| Error::new(format!("cannot read {}: {e}", log.display())))?;
            let Some(syscall) = Syscall::parse(&line) else { continue };
            let at = windows.partition_point(|w| w.start_us <= syscall.at_us);
            let window = at.checked_sub(1).map(|i| &windows[i]).filter(|w| syscall.at_us <= w.end_us);
            match window {
                Some(w) => counts.entry(w.key.clone()).or_default().add(&syscall),
                None => outside.add(&syscall),
            }
        }
    }
    let mut series = serde_json::Map::new();
    for ((name, kind), c) in &counts {
        let entry = series.entry(name.clone()).or_insert_with(|| json!({}));
        entry[kind.as_str()] = c.to_json();
    }
    Ok(json!({
        "method": METHOD,
        "pg_method": PG_METHOD,
        "series": series,
        "outside_windows": outside.to_json(),
        "pg": document["pg"],
    }))
}

/// One traced syscall: its entry time, name, file and (for writes) byte count.
#[derive(Debug, PartialEq, Eq)]
struct Syscall {
    at_us: u64,
    name: String,
    path: String,
    bytes: u64,
}

impl Syscall {
    /// Parses an entry line of `strace -f -ttt -y -s 0`, such as
    /// `123 1795277967.936899 fdatasync(4</tmp/b.db-wal>) = 0` or an `<unfinished ...>` one
    /// (the PID is optional). `<... resumed>` lines, exits and signals are `None`.
    fn parse(line: &str) -> Option<Self> {
        let mut fields = line.split_whitespace();
        let first = fields.next()?;
        let time = if first.contains('.') { first } else { fields.next()? };
        let rest = line[line.find(time)? + time.len()..].trim_start();
        let (name, args) = rest.split_once('(')?;
        if !matches!(name, "fsync" | "fdatasync" | "pwrite64") {
            return None;
        }
        let (secs, micros) = time.split_once('.')?;
        let micros = format!("{micros:0<6}");
        let at_us = secs.parse::<u64>().ok()? * 1_000_000 + micros.get(..6)?.parse::<u64>().ok()?;
        let open = args.find('<')?;
        let close = args[open..].find(['>']).map(|i| open + i)?;
        let path = args[open + 1..close].to_owned();
        let bytes = if name == "pwrite64" {
            args[close + 1..].split(',').nth(2).and_then(|count| count.trim().parse().ok()).unwrap_or(0)
        } else {
            0
        };
        Some(Self { at_us, name: name.to_owned(), path, bytes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strace_lines_are_parsed() {
        let sync = Syscall::parse("6853  1795277967.936899 fdatasync(4</tmp/b/bench.db-wal>) = 0").unwrap();
        assert_eq!(sync.at_us, 1_795_277_967_936_899);
        assert_eq!((sync.name.as_str(), sync.path.as_str()), ("fdatasync", "/tmp/b/bench.db-wal"));
        let write =
            Syscall::parse(r#"77 1795277967.5 pwrite64(9</tmp/b/bench.db>, ""..., 4096, 8192) = 4096"#).unwrap();
        assert_eq!((write.at_us, write.bytes, FileKind::of(&write.path)), (1_795_277_967_500_000, 4096, FileKind::Db));
        let unfinished =
            Syscall::parse(r#"77 1795277967.5 pwrite64(9</x/bench.db-wal>, ""..., 24, 32 <unfinished ...>"#).unwrap();
        assert_eq!((unfinished.bytes, FileKind::of(&unfinished.path)), (24, FileKind::Wal));
        assert_eq!(Syscall::parse("77 1795277967.6 <... pwrite64 resumed>) = 24"), None);
        assert_eq!(Syscall::parse("77 1795277967.7 +++ exited with 0 +++"), None);
        assert_eq!(FileKind::of("/tmp"), FileKind::Other);
        let pg = Syscall::parse(
            "1795277967.5 fdatasync(5</var/lib/postgresql/15/main/pg_wal/000000010000000000000042>) = 0",
        );
        assert_eq!(pg.map(|s| FileKind::of(&s.path)), Some(FileKind::Wal));
    }

    #[test]
    fn syscalls_are_charged_to_their_window() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let windows = dir.join("windows.json");
        let log = dir.join("strace.log");
        let document = json!({
            "windows": [
                { "series": "sqlite FULL", "kind": "bare", "start_us": 100, "end_us": 200, "units": 2, "write_commits": 2 },
                { "series": "sqlite FULL", "kind": "step", "start_us": 300, "end_us": 400, "units": 1, "write_commits": 3 },
            ],
            "pg": null,
        });
        fs::write(&windows, document.to_string()).unwrap();
        fs::write(
            &log,
            "1 0.000150 fdatasync(3</d/bench.db-wal>) = 0\n\
             1 0.000160 fdatasync(3</d/bench.db-wal>) = 0\n\
             1 0.000350 pwrite64(3</d/bench.db-wal>, \"\"..., 4096, 0) = 4096\n\
             1 0.000360 fdatasync(3</d/bench.db-wal>) = 0\n\
             1 0.000370 fdatasync(4</d/bench.db>) = 0\n\
             1 0.000500 fdatasync(3</d/bench.db-wal>) = 0\n",
        )
        .unwrap();
        let counted = attribute(&windows, &[log.as_path()]).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        let bare = &counted["series"]["sqlite FULL"]["bare"];
        let step = &counted["series"]["sqlite FULL"]["step"];
        assert_eq!((bare["fsync"].as_u64(), bare["wal"].as_u64(), bare["units"].as_u64()), (Some(2), Some(2), Some(2)));
        assert_eq!(
            (step["fsync"].as_u64(), step["db"].as_u64(), step["wal_bytes"].as_u64()),
            (Some(2), Some(1), Some(4096))
        );
        assert_eq!(counted["outside_windows"]["fsync"].as_u64(), Some(1));
    }
}

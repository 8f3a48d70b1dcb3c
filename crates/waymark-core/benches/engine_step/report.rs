//! Statistics over the blocks, the JSON summary (`--json`) and the human report rendered from
//! that same summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::timed::{TxKind, TxRecord};
use crate::workload::{Block, BlockKind};

/// The goals of perf-reliability.md §5.2 this bench reports on.
const D1_P50_MAX: f64 = 1.5;
const D1_P99_MAX: f64 = 2.0;
const D2_MIN: f64 = 0.7;
const D3_MAX: f64 = 1.0;

/// Everything measured on one database.
#[derive(Debug)]
pub(crate) struct Series {
    pub(crate) label: String,
    pub(crate) backend: &'static str,
    pub(crate) sync: String,
    pub(crate) location: String,
    /// One entry per repetition: its blocks, in the order they ran.
    pub(crate) reps: Vec<Vec<Block>>,
}

impl Series {
    fn blocks(&self, kind: BlockKind) -> impl Iterator<Item = &Block> {
        self.reps.iter().flatten().filter(move |b| b.kind == kind)
    }

    fn records(&self, block: BlockKind, tx: TxKind) -> Vec<&TxRecord> {
        self.blocks(block).flat_map(|b| b.records.iter().filter(move |r| r.kind == tx)).collect()
    }
}

fn micros(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

#[allow(clippy::cast_precision_loss)]
fn mean(values: &[f64]) -> f64 {
    if values.is_empty() { f64::NAN } else { values.iter().sum::<f64>() / values.len() as f64 }
}

fn spread(values: &[f64]) -> Value {
    let s = sorted(values.to_vec());
    json!({ "median": pct(&s, 0.5), "min": s.first(), "max": s.last() })
}

/// Latency statistics of transactions (begin to commit return), plus the commit call alone.
fn latency(records: &[&TxRecord]) -> Value {
    let all = sorted(records.iter().map(|r| micros(r.latency())).collect());
    let commit = sorted(records.iter().map(|r| micros(r.commit)).collect());
    json!({
        "n": all.len(),
        "p50_us": pct(&all, 0.5),
        "p90_us": pct(&all, 0.9),
        "p99_us": pct(&all, 0.99),
        "max_us": all.last(),
        "mean_us": mean(&all),
        "commit_p50_us": pct(&commit, 0.5),
        "commit_p99_us": pct(&commit, 0.99),
    })
}

/// Time between consecutive commits of `tx` within each block, pooled: everything a unit of
/// work costs, including what happens outside its transaction.
fn cycle(blocks: &[&Block], tx: TxKind) -> Value {
    let mut gaps = Vec::new();
    for block in blocks {
        let mut ends: Vec<_> = block.records.iter().filter(|r| r.kind == tx).map(|r| r.ended).collect();
        ends.sort();
        gaps.extend(ends.windows(2).map(|w| micros(w[1] - w[0])));
    }
    let gaps = sorted(gaps);
    json!({ "p50_us": pct(&gaps, 0.5), "p99_us": pct(&gaps, 0.99) })
}

#[allow(clippy::cast_precision_loss)]
fn per_second(block: &Block) -> f64 {
    block.units as f64 / block.elapsed.as_secs_f64()
}

/// The most common list of port calls among `records`, with how many share it.
fn signature(records: &[&TxRecord]) -> (Vec<&'static str>, usize) {
    let mut counts: BTreeMap<&Vec<&'static str>, usize> = BTreeMap::new();
    for r in records {
        *counts.entry(&r.calls).or_default() += 1;
    }
    counts.into_iter().max_by_key(|(_, n)| *n).map(|(calls, n)| (calls.clone(), n)).unwrap_or_default()
}

/// The p50 of each part of the transactions that share the most common list of calls:
/// `begin`, each call in order, `commit`, and `engine` (the rest: work between the calls).
fn breakdown(records: &[&TxRecord]) -> Value {
    let (calls, _) = signature(records);
    let same: Vec<&&TxRecord> = records.iter().filter(|r| r.calls == calls).collect();
    let p50 = |values: Vec<f64>| pct(&sorted(values), 0.5);
    let mut parts = vec![json!({ "part": "begin", "p50_us": p50(same.iter().map(|r| micros(r.begin)).collect()) })];
    for (i, call) in calls.iter().enumerate() {
        let at = p50(same.iter().map(|r| micros(r.call_times[i])).collect());
        parts.push(json!({ "part": call, "p50_us": at }));
    }
    parts.push(json!({ "part": "commit", "p50_us": p50(same.iter().map(|r| micros(r.commit)).collect()) }));
    let rest = same.iter().map(|r| {
        let accounted = r.begin + r.commit + r.call_times.iter().sum::<std::time::Duration>();
        micros(r.latency().saturating_sub(accounted))
    });
    parts.push(json!({ "part": "engine", "p50_us": p50(rest.collect()) }));
    Value::from(parts)
}

/// The JSON summary of every series.
pub(crate) fn summarize(series: &[Series], config: Value, fsyncs: Option<&Value>, notes: &[String]) -> Value {
    let measured: Vec<Value> = series.iter().map(|s| summarize_series(s, fsyncs)).collect();
    json!({ "bench": "engine_step", "config": config, "series": measured, "notes": notes })
}

#[allow(clippy::cast_precision_loss)]
fn summarize_series(series: &Series, fsyncs: Option<&Value>) -> Value {
    let bare = series.records(BlockKind::Bare, TxKind::Bare);
    let step = series.records(BlockKind::Step, TxKind::Step);
    let raw = series.records(BlockKind::Raw, TxKind::Raw);
    let step_blocks: Vec<&Block> = series.blocks(BlockKind::Step).collect();
    let bare_blocks: Vec<&Block> = series.blocks(BlockKind::Bare).collect();
    let raw_blocks: Vec<&Block> = series.blocks(BlockKind::Raw).collect();

    // Per repetition: the p50 ratio and the throughput ratio.
    let mut per_rep = Vec::new();
    let mut ratios = Vec::new();
    let mut throughput = Vec::new();
    for blocks in &series.reps {
        let of = |kind: BlockKind| blocks.iter().find(|b| b.kind == kind);
        let (Some(b), Some(s)) = (of(BlockKind::Bare), of(BlockKind::Step)) else { continue };
        let p50 = |block: &Block, tx: TxKind| {
            pct(&sorted(block.records.iter().filter(|r| r.kind == tx).map(|r| micros(r.latency())).collect()), 0.5)
        };
        let (bare_p50, step_p50) = (p50(b, TxKind::Bare), p50(s, TxKind::Step));
        let (bare_rate, step_rate) = (per_second(b), per_second(s));
        ratios.push(step_p50 / bare_p50);
        throughput.push(step_rate / bare_rate);
        per_rep.push(json!({
            "bare_p50_us": bare_p50,
            "step_p50_us": step_p50,
            "ratio_p50": step_p50 / bare_p50,
            "bare_commits_per_s": bare_rate,
            "steps_per_s": step_rate,
            "throughput_ratio": step_rate / bare_rate,
        }));
    }

    let bare_stats = latency(&bare);
    let step_stats = latency(&step);
    let raw_stats = latency(&raw);
    let p = |v: &Value, key: &str| v[key].as_f64().unwrap_or(f64::NAN);
    let ratio_p99 = p(&step_stats, "p99_us") / p(&bare_stats, "p99_us");

    let steps: usize = step_blocks.iter().map(|b| b.units).sum();
    let count = |kind: TxKind| step_blocks.iter().flat_map(|b| &b.records).filter(|r| r.kind == kind).count();
    let write_commits = count(TxKind::Step) + count(TxKind::OtherWrite);
    let rollbacks: u64 = step_blocks.iter().map(|b| b.rollbacks).sum();
    let (step_calls, sharing) = signature(&step);
    let statements: Vec<f64> = step.iter().map(|r| r.calls.len() as f64).collect();
    let events: Vec<f64> = step.iter().map(|r| r.events as f64).collect();
    let other: Vec<&TxRecord> = step_blocks
        .first()
        .map(|b| b.records.iter().filter(|r| r.kind == TxKind::OtherWrite).collect())
        .unwrap_or_default();

    let rate = |blocks: &[&Block]| {
        let units: usize = blocks.iter().map(|b| b.units).sum();
        let secs: f64 = blocks.iter().map(|b| b.elapsed.as_secs_f64()).sum();
        units as f64 / secs
    };
    let fsync = fsync_summary(series, fsyncs);
    let fsync_per_step = fsync["step"]["per_unit"].as_f64();
    // D3 counts fsyncs per acknowledged engine transaction: each step, and a workflow's start
    // and first decision (two per workflow, charged to its steps in `fsync_per_step`).
    let fsync_per_write_tx = fsync["step"]["per_write_tx"].as_f64();
    let ratio_p50 = spread(&ratios);
    let throughput_ratio = spread(&throughput);
    let goal = |value: Option<f64>, limit: f64, at_most: bool| match value {
        Some(v) if v.is_finite() => {
            json!({ "value": v, "limit": limit, "ok": if at_most { v <= limit } else { v >= limit } })
        }
        _ => json!({ "value": null, "limit": limit, "ok": null }),
    };
    json!({
        "label": series.label,
        "backend": series.backend,
        "sync": series.sync,
        "location": series.location,
        "bare": bare_stats,
        "step": step_stats,
        "raw": raw_stats,
        "bare_cycle": cycle(&bare_blocks, TxKind::Bare),
        "step_cycle": cycle(&step_blocks, TxKind::Step),
        "bare_commits_per_s": rate(&bare_blocks),
        "steps_per_s": rate(&step_blocks),
        "raw_commits_per_s": rate(&raw_blocks),
        "ratio_p50": ratio_p50,
        "ratio_p99": ratio_p99,
        "throughput_ratio": throughput_ratio,
        "per_rep": per_rep,
        "steps": steps,
        "tx_per_step": write_commits as f64 / steps as f64,
        "other_write_tx_per_workflow": (write_commits - count(TxKind::Step)) as f64 / step_blocks.len() as f64,
        "read_only_commits_per_step": count(TxKind::ReadOnly) as f64 / steps as f64,
        "rollbacks_per_step": rollbacks as f64 / steps as f64,
        "statements_per_step": mean(&statements),
        "events_per_step": mean(&events),
        "step_calls": step_calls,
        "step_breakdown": breakdown(&step),
        "bare_breakdown": breakdown(&bare),
        "raw_breakdown": breakdown(&raw),
        "step_calls_share": sharing as f64 / step.len().max(1) as f64,
        "other_write_txs": other.iter().map(|r| json!({ "calls": r.calls, "events": r.events })).collect::<Vec<_>>(),
        "fsync": fsync,
        "fsync_per_step": fsync_per_step,
        "goals": {
            "D1_p50": goal(ratio_p50["median"].as_f64(), D1_P50_MAX, true),
            "D1_p99": goal(Some(ratio_p99), D1_P99_MAX, true),
            "D2_throughput": goal(throughput_ratio["median"].as_f64(), D2_MIN, false),
            "D3_fsync": goal(fsync_per_write_tx, D3_MAX, true),
        },
    })
}

/// The fsync counts `cargo xtask bench` measured in its counting pass, per unit of work.
#[allow(clippy::cast_precision_loss)]
fn fsync_summary(series: &Series, fsyncs: Option<&Value>) -> Value {
    let Some(fsyncs) = fsyncs else {
        return json!({ "unavailable": "not counted: run `cargo xtask bench` (it counts fsyncs in a second pass)" });
    };
    if series.backend == "postgres"
        && let Some(reason) = fsyncs["pg"]["unavailable"].as_str()
    {
        return json!({ "unavailable": reason });
    }
    if let Some(reason) = fsyncs["unavailable"].as_str() {
        return json!({ "unavailable": reason });
    }
    let counted = &fsyncs["series"][series.label.as_str()];
    if counted.is_null() {
        return json!({ "unavailable": "the counting pass has no windows for this series" });
    }
    let kind = |name: &str| {
        let v = &counted[name];
        let units = v["units"].as_f64().unwrap_or(f64::NAN);
        let f = |key: &str| v[key].as_f64().unwrap_or(0.0);
        json!({
            "units": v["units"],
            "fsync": v["fsync"],
            "per_unit": f("fsync") / units,
            "write_commits": v["write_commits"],
            "per_write_tx": f("fsync") / f("write_commits"),
            "wal_per_unit": f("wal") / units,
            "db_per_unit": f("db") / units,
            "other_per_unit": f("other") / units,
            "wal_kib_per_unit": f("wal_bytes") / 1024.0 / units,
            "db_kib_per_unit": f("db_bytes") / 1024.0 / units,
        })
    };
    let source = if series.backend == "postgres" { &fsyncs["pg_method"] } else { &fsyncs["method"] };
    json!({
        "source": source,
        "untraced_backends": fsyncs["pg"]["untraced_backends"],
        "bare": kind("bare"),
        "step": kind("step"),
        "raw": kind("raw"),
        "outside_windows": fsyncs["outside_windows"],
    })
}

fn dur(us: Option<f64>) -> String {
    match us {
        Some(us) if us < 1000.0 => format!("{us:.0} µs"),
        Some(us) if us < 10_000.0 => format!("{:.1} ms", us / 1000.0),
        Some(us) => format!("{:.0} ms", us / 1000.0),
        None => "n/a".to_owned(),
    }
}

fn num(value: &Value, digits: usize) -> String {
    value.as_f64().filter(|v| v.is_finite()).map_or_else(|| "n/a".to_owned(), |v| format!("{v:.digits$}"))
}

fn thousands(value: &Value) -> String {
    let Some(v) = value.as_f64().filter(|v| v.is_finite()) else { return "n/a".to_owned() };
    let digits = format!("{v:.0}");
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn verdict(goal: &Value) -> &'static str {
    match goal["ok"].as_bool() {
        Some(true) => "ok",
        Some(false) => "MISS",
        None => "n/a",
    }
}

/// The human report.
pub(crate) fn render(summary: &Value) -> String {
    let mut out = String::new();
    let c = &summary["config"];
    let _ = writeln!(
        out,
        "engine_step: {} reps × ({} bare commits, 1 workflow of {} steps, {} raw commits), interleaved, \
         rotating order; 1 workflow at a time",
        c["reps"], c["block"], c["block"], c["block"]
    );
    let _ = writeln!(
        out,
        "machine: {} CPUs, load average {} before, {} after (other processes share the CPUs and the disk)",
        c["load_before"]["cpus"],
        num(&c["load_before"]["load_average_1m"], 2),
        num(&c["load_after"]["load_average_1m"], 2),
    );
    for s in summary["series"].as_array().into_iter().flatten() {
        render_series(&mut out, s);
    }
    for note in summary["notes"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "note: {}", note.as_str().unwrap_or_default());
    }
    out
}

fn render_series(out: &mut String, s: &Value) {
    let us = |v: &Value| v.as_f64().filter(|v| v.is_finite());
    let fsync_step = num(&s["fsync_per_step"], 2);
    let _ = writeln!(
        out,
        "{}: bare commit p50 {} p99 {} | engine step p50 {} p99 {} | ratio p50 {}× ({}–{}) | tx/step {} | fsync/step {}",
        s["label"].as_str().unwrap_or("?"),
        dur(us(&s["bare"]["p50_us"])),
        dur(us(&s["bare"]["p99_us"])),
        dur(us(&s["step"]["p50_us"])),
        dur(us(&s["step"]["p99_us"])),
        num(&s["ratio_p50"]["median"], 2),
        num(&s["ratio_p50"]["min"], 2),
        num(&s["ratio_p50"]["max"], 2),
        num(&s["tx_per_step"], 2),
        fsync_step,
    );
    let _ = writeln!(out, "  where: {}", s["location"].as_str().unwrap_or("?"));
    let _ = writeln!(
        out,
        "  p99 ratio {}× · throughput {} steps/s vs {} commits/s = {}× ({}–{}) · cycle p50 {} vs {} (p99 {} vs {})",
        num(&s["ratio_p99"], 2),
        thousands(&s["steps_per_s"]),
        thousands(&s["bare_commits_per_s"]),
        num(&s["throughput_ratio"]["median"], 2),
        num(&s["throughput_ratio"]["min"], 2),
        num(&s["throughput_ratio"]["max"], 2),
        dur(us(&s["step_cycle"]["p50_us"])),
        dur(us(&s["bare_cycle"]["p50_us"])),
        dur(us(&s["step_cycle"]["p99_us"])),
        dur(us(&s["bare_cycle"]["p99_us"])),
    );
    let calls: Vec<&str> = s["step_calls"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let _ = writeln!(
        out,
        "  step tx: {} statements + commit, {} events ({:.0}% of steps): {}",
        num(&s["statements_per_step"], 1),
        num(&s["events_per_step"], 1),
        s["step_calls_share"].as_f64().unwrap_or(0.0) * 100.0,
        calls.join(" "),
    );
    for (name, key) in [("step", "step_breakdown"), ("bare", "bare_breakdown"), ("raw", "raw_breakdown")] {
        let parts: Vec<String> = s[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| format!("{} {}", p["part"].as_str().unwrap_or("?"), num(&p["p50_us"], 0)))
            .collect();
        let _ = writeln!(out, "  {name} tx p50 parts (µs): {}", parts.join(" · "));
    }
    let _ = writeln!(
        out,
        "  other write tx per workflow {} (start, first decision) · read-only commits/step {} · \
         rollbacks/step {} (idle polls)",
        num(&s["other_write_tx_per_workflow"], 1),
        num(&s["read_only_commits_per_step"], 3),
        num(&s["rollbacks_per_step"], 3),
    );
    let _ = writeln!(
        out,
        "  raw sqlx floor (own connection, no port, no sea-orm): p50 {} p99 {} · {} commits/s · port floor / raw p50 {}×",
        dur(us(&s["raw"]["p50_us"])),
        dur(us(&s["raw"]["p99_us"])),
        thousands(&s["raw_commits_per_s"]),
        num(
            &Value::from(
                s["bare"]["p50_us"].as_f64().unwrap_or(f64::NAN) / s["raw"]["p50_us"].as_f64().unwrap_or(f64::NAN)
            ),
            2
        ),
    );
    let f = &s["fsync"];
    if let Some(reason) = f["unavailable"].as_str() {
        let _ = writeln!(out, "  fsync: unavailable: {reason}");
    } else {
        let _ = writeln!(
            out,
            "  fsync (strace): bare {}/commit (wal {} + db {}) · step {}/step = {} per engine write tx (wal {} + db {}) · \
             raw {}/commit · {}",
            num(&f["bare"]["per_unit"], 3),
            num(&f["bare"]["wal_per_unit"], 3),
            num(&f["bare"]["db_per_unit"], 3),
            num(&f["step"]["per_unit"], 3),
            num(&f["step"]["per_write_tx"], 3),
            num(&f["step"]["wal_per_unit"], 3),
            num(&f["step"]["db_per_unit"], 3),
            num(&f["raw"]["per_unit"], 3),
            if s["backend"] == "sqlite" { "db-file syncs are checkpoints" } else { "wal = pg_wal segment files" },
        );
        if s["backend"] == "sqlite" {
            let _ = writeln!(
                out,
                "  bytes written: WAL {} KiB/commit vs {} KiB/step · checkpoint (db file) {} KiB/commit vs {} KiB/step",
                num(&f["bare"]["wal_kib_per_unit"], 1),
                num(&f["step"]["wal_kib_per_unit"], 1),
                num(&f["bare"]["db_kib_per_unit"], 1),
                num(&f["step"]["db_kib_per_unit"], 1),
            );
        } else {
            let untraced = f["untraced_backends"].as_array().map_or(0, Vec::len);
            let _ = writeln!(
                out,
                "  fsyncs counted in the bench's own backends only (not the WAL writer, not the checkpointer); \
                 backends opened after tracing began, not traced: {untraced}"
            );
        }
    }
    let g = &s["goals"];
    let _ = writeln!(
        out,
        "  goals: D1 p50 ≤{D1_P50_MAX}× {} · D1 p99 ≤{D1_P99_MAX}× {} · D2 throughput ≥{D2_MIN}× {} · \
         D3 ≤{D3_MAX} fsync per engine write tx {}",
        verdict(&g["D1_p50"]),
        verdict(&g["D1_p99"]),
        verdict(&g["D2_throughput"]),
        verdict(&g["D3_fsync"]),
    );
}

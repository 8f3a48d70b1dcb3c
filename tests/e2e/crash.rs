//! Issue 5's reliability tests, with `waymark serve` as real processes:
//!
//! - **Kill and restart** (SQLite and PostgreSQL): workflows are started over MCP HTTP while
//!   the server is SIGKILLed at random points (seeded; `WAYMARK_CRASH_SEED` replays a run) and
//!   restarted on the same database. Afterwards every acknowledged start (one whose HTTP
//!   response arrived) must have completed with the right output and a clean history: no
//!   acknowledged start lost, no event or activity result written twice.
//! - **Two processes on one PostgreSQL**: both serve and run workers; one is SIGKILLed while
//!   activities run, and the survivor must take over each of its attempts within two lease
//!   periods and finish every workflow, each activity result recorded once.
//!
//! The database is prepared in this process (a fresh SQLite file, or a fresh PostgreSQL
//! schema the binaries reach through `options[search_path]` in the URL). Every server's
//! stderr goes to a file in the test's temporary directory; on failure the tails are printed.

#![allow(clippy::print_stderr, reason = "the tests print a summary and, on failure, the servers' logs")]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};
use waymark_core::{Service, ServiceConfig};
use waymark_testkit::{Backend, TestDatabase};

use crate::support::{try_http, waymark_bin};

// ---------------------------------------------------------------------------------------------
// The tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_sqlite_kill_restart_loses_nothing() {
    kill_restart(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_postgres_kill_restart_loses_nothing() {
    kill_restart(Backend::Postgres).await;
}

/// The lease of the kill-and-restart test, in seconds.
const CRASH_LEASE_SECONDS: f64 = 1.0;
/// Concurrent clients starting workflows, each pausing this long (ms) between starts.
const STARTERS: u64 = 4;
const PAUSE_MS: (u64, u64) = (10, 120);
/// How long the final check waits for every workflow to complete.
const COMPLETION_DEADLINE: Duration = Duration::from_secs(60);

async fn kill_restart(backend: Backend) {
    let started = Instant::now();
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let name = format!("{backend:?}").to_lowercase();
    eprintln!("crash[{name}]: seed {seed} (set WAYMARK_CRASH_SEED={seed} to replay the same kill schedule)");
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = Logs::default();
    let _tails = logs.guard();
    let db = Db::prepare(backend).await;
    let key = db.key().await;
    db.close().await;
    let config = write_config(dir.path(), CRASH_LEASE_SECONDS);

    // Starters: keep starting workflows against whichever server is up.
    let (addr_tx, addr_rx) = tokio::sync::watch::channel::<Option<SocketAddr>>(None);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicU64::new(0));
    let mut starters = Vec::new();
    for s in 0..STARTERS {
        let (addr_rx, ledger, stop, counter, key) =
            (addr_rx.clone(), Arc::clone(&ledger), Arc::clone(&stop), Arc::clone(&counter), key.clone());
        let mut rng = StdRng::seed_from_u64(seed ^ (0x9e37_79b9 * (s + 1)));
        starters.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Some(addr) = *addr_rx.borrow() else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let kind = if n % 8 == 3 { Kind::Elapsed } else { Kind::Simple };
                let id = format!("crash-{n:04}");
                ledger.lock().unwrap().attempted.push((id.clone(), kind));
                let args = json!({ "workflow": kind.key(), "instance_id": id });
                match call_tool(addr, &key, "start_workflow", args).await {
                    Ok(view) => {
                        let ok = view["workflow_id"] == id.as_str()
                            && view["command"]["outcome"] == "started_new"
                            && view["run_id"].is_string();
                        let mut ledger = ledger.lock().unwrap();
                        if ok {
                            let run_id = view["run_id"].as_str().unwrap_or_default().to_owned();
                            ledger.acknowledged.push(Started { id, kind, run_id });
                        } else {
                            ledger.refused.push(format!("{id}: unexpected start result {view}"));
                        }
                    }
                    Err(CallError::NoResponse(why)) => ledger.lock().unwrap().unanswered.push(format!("{id}: {why}")),
                    Err(CallError::Refused(e)) => ledger.lock().unwrap().refused.push(format!("{id}: {e}")),
                }
                tokio::time::sleep(Duration::from_millis(rng.random_range(PAUSE_MS.0..PAUSE_MS.1))).await;
            }
        }));
    }

    // Kill at random points, restarting on the same database each time.
    let kills = rng.random_range(4..7);
    let mut kill_delays = Vec::new();
    let mut server = None;
    for round in 0..=kills {
        let s = Server::start(dir.path(), &format!("serve-{round}"), &db.url, &config, "crash", &logs).await;
        addr_tx.send_replace(Some(s.addr));
        if round == kills {
            server = Some(s);
            break;
        }
        let delay = Duration::from_millis(rng.random_range(100..3200));
        kill_delays.push(delay.as_millis());
        tokio::time::sleep(delay).await;
        let mut s = s;
        s.kill();
        addr_tx.send_replace(None);
    }
    let server = server.expect("the last server");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    for starter in starters {
        starter.await.expect("starter");
    }
    let load_secs = started.elapsed().as_secs_f64();

    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    assert!(
        ledger.refused.is_empty(),
        "starts answered with an error (not a crash: the server answered): {:#?}",
        ledger.refused
    );
    let acked: HashMap<&str, &Started> = ledger.acknowledged.iter().map(|s| (s.id.as_str(), s)).collect();
    assert!(acked.len() >= 20, "too few acknowledged starts to mean anything: {}", acked.len());
    let targets: Vec<(String, Kind, Option<String>)> = ledger
        .attempted
        .iter()
        .map(|(id, kind)| (id.clone(), *kind, acked.get(id.as_str()).map(|s| s.run_id.clone())))
        .collect();

    // Every acknowledged start completes with a clean history; an unacknowledged one either
    // does not exist or completes the same way.
    let checks = check_all(server.addr, &key, targets, COMPLETION_DEADLINE).await;
    let mut failures = Vec::new();
    let mut retried = [0, 0];
    let mut persisted_unacked = 0;
    for (id, kind, run_id, check) in &checks {
        match check {
            Ok(Some(attempts)) => {
                retried[usize::from(*kind == Kind::Elapsed)] += attempts.len() - kind.activities();
                if run_id.is_none() {
                    persisted_unacked += 1;
                }
            }
            Ok(None) if run_id.is_some() => failures.push(format!("{id}: acknowledged start lost (found: false)")),
            Ok(None) => {}
            Err(e) => failures.push(e.clone()),
        }
    }
    let panics = logs.grep("panicked");
    failures.extend(panics.into_iter().map(|l| format!("a server panicked: {l}")));
    let elapsed = ledger.acknowledged.iter().filter(|s| s.kind == Kind::Elapsed).count();
    eprintln!(
        "crash[{name}]: {kills} kills (after {kill_delays:?} ms), {} acknowledged starts ({elapsed} elapsed), {} unacknowledged \
         ({persisted_unacked} of them persisted and completed); retried activity attempts: {} in simple, {} in elapsed; \
         load {load_secs:.1}s, total {:.1}s",
        ledger.acknowledged.len(),
        ledger.unanswered.len(),
        retried[0],
        retried[1],
        started.elapsed().as_secs_f64()
    );
    assert_eq!(ledger.attempted.len(), ledger.acknowledged.len() + ledger.unanswered.len());
    assert!(failures.is_empty(), "{} problems:\n{}", failures.len(), failures.join("\n"));
    server.stop_gracefully().await;
    db.cleanup().await;
}

/// The lease of the two-process test, in seconds.
const TWO_LEASE_SECONDS: f64 = 2.0;
/// Its poll interval (the `[engine]` setting every test here uses).
const POLL_MS: i64 = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_two_processes_share_postgres_and_take_over() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = Logs::default();
    let _tails = logs.guard();
    let db = Db::prepare(Backend::Postgres).await;
    let config = write_config(dir.path(), TWO_LEASE_SECONDS);
    let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();

    // A bootstraps the empty database; B finds it initialized and makes no key.
    let a = Server::start(&dir_a, "serve-a", &db.url, &config, "proc-a", &logs).await;
    let bootstrap = std::fs::read_to_string(dir_a.join(".waymark/bootstrap-key")).expect("A wrote the bootstrap key");
    let bootstrap = bootstrap.trim().to_owned();
    let b = Server::start(&dir_b, "serve-b", &db.url, &config, "proc-b", &logs).await;
    assert!(!dir_b.join(".waymark/bootstrap-key").exists(), "the second process must not bootstrap again");
    for s in [&a, &b] {
        call_tool(s.addr, &bootstrap, "list_workflows", json!({}))
            .await
            .unwrap_or_else(|e| panic!("{}: the bootstrap key works on both processes: {e:?}", s.name));
    }
    // The bootstrap key allows 100 calls a minute; the checks below need more.
    let key = db.key().await;

    // Twelve `elapsed` (3 s activities), started through both processes.
    let ids: Vec<String> = (0..12).map(|i| format!("two-{i:02}")).collect();
    let mut run_ids = HashMap::new();
    for (i, id) in ids.iter().enumerate() {
        let s = if i % 2 == 0 { &a } else { &b };
        let view = call_tool(s.addr, &key, "start_workflow", json!({ "workflow": "elapsed", "instance_id": id }))
            .await
            .unwrap_or_else(|e| panic!("start {id} through {}: {e:?}", s.name));
        assert_eq!(view["command"]["outcome"], "started_new", "{view}");
        run_ids.insert(id.clone(), view["run_id"].as_str().expect("run_id").to_owned());
    }

    // Wait until every activity has an attempt, then kill the process running the most.
    let deadline = Instant::now() + Duration::from_secs(15);
    let in_flight = loop {
        let mut running: Vec<Attempt> = Vec::new();
        let mut all = true;
        for id in &ids {
            let history = history(a.addr, &key, id).await;
            let attempts = attempts_in(&history).unwrap_or_else(|e| panic!("{id}: {e}"));
            let open: Vec<Attempt> = attempts.into_iter().filter(|t| !t.completed).collect();
            all &= !open.is_empty();
            running.extend(open);
        }
        if all {
            break running;
        }
        assert!(Instant::now() < deadline, "not every activity started within 15 s: {running:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let on = |s: &Server| in_flight.iter().filter(|t| t.worker_id.starts_with(&s.worker_prefix())).count();
    let (mut victim, survivor) = if on(&a) >= on(&b) { (a, b) } else { (b, a) };
    let victim_prefix = victim.worker_prefix();
    let survivor_prefix = survivor.worker_prefix();
    let victim_running = on(&victim);
    assert!(victim_running > 0, "the victim runs activities: {in_flight:#?}");
    assert!(
        in_flight.iter().all(|t| t.worker_id.starts_with(&victim_prefix) || t.worker_id.starts_with(&survivor_prefix)),
        "worker ids name the processes (HOSTNAME-pid-…): {in_flight:#?}"
    );
    let killed_at = now_ms();
    victim.kill();
    let kill_secs = started.elapsed().as_secs_f64();

    // Everything completes on the survivor, each died attempt taken over in time.
    let targets = ids.iter().map(|id| (id.clone(), Kind::Elapsed, run_ids.get(id).cloned())).collect();
    let checks = check_all(survivor.addr, &key, targets, Duration::from_secs(45)).await;
    let lease_ms = (TWO_LEASE_SECONDS * 1000.0) as i64;
    let bound_ms = 2 * lease_ms + POLL_MS + 100;
    let mut failures = Vec::new();
    let mut takeovers = Vec::new();
    for (id, _, _, check) in &checks {
        let attempts = match check {
            Ok(Some(attempts)) => attempts,
            Ok(None) => {
                failures.push(format!("{id}: acknowledged start lost"));
                continue;
            }
            Err(e) => {
                failures.push(e.clone());
                continue;
            }
        };
        for (i, attempt) in attempts.iter().enumerate() {
            if attempt.worker_id.starts_with(&victim_prefix) && attempt.completed && attempt.completed_ms > killed_at {
                failures.push(format!("{id}: the killed process recorded a result after its death: {attempt:?}"));
            }
            if !attempt.worker_id.starts_with(&victim_prefix) || attempt.completed {
                continue;
            }
            // This attempt died with the victim: the next one must be the survivor's, in time.
            match attempts.get(i + 1) {
                Some(next) if next.execution == attempt.execution && next.worker_id.starts_with(&survivor_prefix) => {
                    let after = next.started_ms - killed_at;
                    if !(-50..=bound_ms).contains(&after) {
                        failures.push(format!(
                            "{id}: attempt {} taken over {after} ms after the kill; expected within 0..={bound_ms} ms \
                             (two leases of {lease_ms} ms, plus the poll interval): {next:?}",
                            attempt.number
                        ));
                    }
                    takeovers.push(after);
                }
                other => failures.push(format!(
                    "{id}: the killed process's attempt {attempt:?} was not taken over by the survivor \
                     ({survivor_prefix}…); next attempt: {other:?}"
                )),
            }
        }
    }
    if takeovers.len() < victim_running {
        failures.push(format!(
            "{} attempts were running on the killed process, only {} were taken over: {takeovers:?}",
            victim_running,
            takeovers.len()
        ));
    }
    failures.extend(logs.grep("panicked").into_iter().map(|l| format!("a server panicked: {l}")));
    eprintln!(
        "crash[two-processes]: killed {} ({victim_running} of {} running attempts) {kill_secs:.1}s in; \
         {} attempts taken over by {} after {:?} ms (bound {bound_ms} ms); total {:.1}s",
        victim.name,
        in_flight.len(),
        takeovers.len(),
        survivor.name,
        takeovers,
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{} problems:\n{}", failures.len(), failures.join("\n"));
    survivor.stop_gracefully().await;
    db.close().await;
    db.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// Workflows and their checks

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Simple,
    Elapsed,
}

impl Kind {
    fn key(self) -> &'static str {
        match self {
            Self::Simple => "simple",
            Self::Elapsed => "elapsed",
        }
    }

    /// The history of a successful run, without `ActivityStarted` (a crash may add attempts).
    fn expected(self) -> &'static [&'static str] {
        match self {
            Self::Simple => &[
                "StartAccepted",
                "WorkflowStarted",
                "ActivityScheduled",
                "ActivityCompleted",
                "ActivityScheduled",
                "ActivityCompleted",
                "WorkflowCompleted",
            ],
            Self::Elapsed => &[
                "StartAccepted",
                "WorkflowStarted",
                "SideEffectRecorded",
                "ActivityScheduled",
                "ActivityCompleted",
                "SideEffectRecorded",
                "WorkflowCompleted",
            ],
        }
    }

    fn activities(self) -> usize {
        match self {
            Self::Simple => 2,
            Self::Elapsed => 1,
        }
    }

    fn check_output(self, output: &Value) -> Result<(), String> {
        match self {
            Self::Simple if output == "workflow_activity_other" => Ok(()),
            Self::Elapsed => {
                let n = output
                    .as_str()
                    .and_then(|s| s.strip_prefix("Elapsed Time: "))
                    .and_then(|s| s.strip_suffix(" seconds"))
                    .and_then(|n| n.parse::<i64>().ok());
                match n {
                    Some(n) if n >= 3 => Ok(()),
                    _ => Err(format!("output {output}, expected \"Elapsed Time: N seconds\" with N >= 3")),
                }
            }
            Self::Simple => Err(format!("output {output}, expected \"workflow_activity_other\"")),
        }
    }
}

#[derive(Clone, Debug)]
struct Started {
    id: String,
    kind: Kind,
    run_id: String,
}

/// What the starters did.
#[derive(Debug, Default)]
struct Ledger {
    /// Every start sent, acknowledged or not.
    attempted: Vec<(String, Kind)>,
    /// Starts whose response arrived.
    acknowledged: Vec<Started>,
    /// Starts the server answered with an error.
    refused: Vec<String>,
    /// Starts with no (complete) response, and why.
    unanswered: Vec<String>,
}

/// One activity attempt, from its `ActivityStarted` (and `ActivityCompleted`, if it won).
#[derive(Clone, Debug)]
struct Attempt {
    execution: String,
    number: u64,
    attempt_id: String,
    worker_id: String,
    started_ms: i64,
    completed: bool,
    completed_ms: i64,
}

type Check = Result<Option<Vec<Attempt>>, String>;

/// Waits (until `deadline` from now, shared) for each workflow to close, then checks it:
/// `Ok(None)` when it does not exist, `Ok(Some(attempts))` when it completed cleanly.
/// `run_id` is the acknowledged run, if the start was acknowledged.
async fn check_all(
    addr: SocketAddr,
    key: &str,
    targets: Vec<(String, Kind, Option<String>)>,
    deadline: Duration,
) -> Vec<(String, Kind, Option<String>, Check)> {
    let until = Instant::now() + deadline;
    let lanes = 4;
    let mut chunks: Vec<Vec<(String, Kind, Option<String>)>> = vec![Vec::new(); lanes];
    for (i, t) in targets.into_iter().enumerate() {
        chunks[i % lanes].push(t);
    }
    let mut tasks = Vec::new();
    for chunk in chunks {
        let key = key.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for (id, kind, run_id) in chunk {
                let check = check_one(addr, &key, &id, kind, run_id.as_deref(), until).await;
                out.push((id, kind, run_id, check));
            }
            out
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("check lane"));
    }
    all.sort_by(|x, y| x.0.cmp(&y.0));
    all
}

async fn check_one(addr: SocketAddr, key: &str, id: &str, kind: Kind, run_id: Option<&str>, until: Instant) -> Check {
    let tag = |msg: String| format!("{id} ({}): {msg}", kind.key());
    let result = loop {
        let wait = until.saturating_duration_since(Instant::now()).as_secs().min(25);
        let result = call_tool(addr, key, "get_workflow_result", json!({ "workflow_id": id, "wait_seconds": wait }))
            .await
            .map_err(|e| tag(format!("get_workflow_result failed: {e:?}")))?;
        if result["found"] != true {
            return if run_id.is_some() { Err(tag(format!("acknowledged start lost: {result}"))) } else { Ok(None) };
        }
        let terminal = matches!(result["status"].as_str(), Some("completed" | "failed" | "cancelled" | "terminated"));
        if terminal || wait == 0 {
            break result;
        }
    };
    if let Some(run_id) = run_id
        && result["run_id"] != run_id
    {
        return Err(tag(format!("run {} is not the acknowledged run {run_id}", result["run_id"])));
    }
    if result["status"] != "completed" {
        return Err(tag(format!(
            "not completed within the deadline: status {}, task_problem {}, wait_kind {}, error {}",
            result["status"], result["task_problem"], result["wait_kind"], result["error"]
        )));
    }
    kind.check_output(&result["output"]).map_err(tag)?;
    let history = history(addr, key, id).await;
    check_history(kind, &history).map(Some).map_err(tag)
}

async fn history(addr: SocketAddr, key: &str, id: &str) -> Value {
    call_tool(addr, key, "get_workflow_history", json!({ "workflow_id": id, "limit": 100, "include_payloads": true }))
        .await
        .unwrap_or_else(|e| panic!("get_workflow_history {id}: {e:?}"))
}

/// The whole history is there, numbered 1..=n, in the expected order with no event twice;
/// each activity scheduled once, its attempts numbered 1, 2, … and completed once, by its
/// last attempt.
fn check_history(kind: Kind, history: &Value) -> Result<Vec<Attempt>, String> {
    if history["found"] != true {
        return Err(format!("history not found: {history}"));
    }
    let events = history["events"].as_array().ok_or("no events")?;
    let count = history["history_event_count"].as_u64().unwrap_or(0);
    if count != events.len() as u64 || history["returned_event_count"] != count {
        return Err(format!("{count} events in the history, {} returned (limit 100)", events.len()));
    }
    for (i, e) in events.iter().enumerate() {
        if e["sequence"] != i as u64 + 1 {
            return Err(format!("sequence {} at position {}: not contiguous from 1", e["sequence"], i + 1));
        }
    }
    let types: Vec<&str> = events.iter().map(|e| e["event_type"].as_str().unwrap_or("?")).collect();
    let without_starts: Vec<&str> = types.iter().copied().filter(|t| *t != "ActivityStarted").collect();
    if without_starts != kind.expected() {
        return Err(format!("history {types:?}; without ActivityStarted expected {:?}", kind.expected()));
    }
    let attempts = attempts_in(history)?;
    let mut per_execution: HashMap<&str, Vec<&Attempt>> = HashMap::new();
    for a in &attempts {
        per_execution.entry(&a.execution).or_default().push(a);
    }
    if per_execution.len() != kind.activities() {
        return Err(format!(
            "{} activities started, expected {}: {attempts:#?}",
            per_execution.len(),
            kind.activities()
        ));
    }
    for (execution, list) in per_execution {
        let won: Vec<_> = list.iter().filter(|a| a.completed).collect();
        if won.len() != 1 || !list.last().is_some_and(|a| a.completed) {
            return Err(format!("activity {execution}: the result must come from its last attempt, once: {list:#?}"));
        }
    }
    Ok(attempts)
}

/// The activity attempts of a history (`ActivityStarted`, matched with `ActivityCompleted`),
/// checking scheduling, numbering and that no result is recorded twice.
fn attempts_in(history: &Value) -> Result<Vec<Attempt>, String> {
    let mut scheduled: Vec<String> = Vec::new();
    let mut completed: Vec<String> = Vec::new();
    let mut attempts: Vec<Attempt> = Vec::new();
    for e in history["events"].as_array().ok_or("no events")? {
        let kind = e["event_type"].as_str().unwrap_or("?");
        if !matches!(kind, "ActivityScheduled" | "ActivityStarted" | "ActivityCompleted") {
            continue;
        }
        let p = payload(e)?;
        let execution = p["activity_execution_id"].as_str().ok_or_else(|| format!("{kind} without id: {p}"))?;
        let recorded = e["recorded_at"].as_str().and_then(parse_iso_ms).ok_or_else(|| format!("recorded_at {e}"))?;
        match kind {
            "ActivityScheduled" => {
                if scheduled.iter().any(|s| s == execution) {
                    return Err(format!("activity {execution} scheduled twice"));
                }
                scheduled.push(execution.to_owned());
            }
            "ActivityStarted" => {
                if !scheduled.iter().any(|s| s == execution) || completed.iter().any(|c| c == execution) {
                    return Err(format!("ActivityStarted for {execution} outside its scheduled..completed span"));
                }
                let previous = attempts.iter().filter(|a| a.execution == execution).count() as u64;
                let number = p["attempt_number"].as_u64().unwrap_or(0);
                if number != previous + 1 {
                    return Err(format!("activity {execution}: attempt {number} after {previous} attempts"));
                }
                attempts.push(Attempt {
                    execution: execution.to_owned(),
                    number,
                    attempt_id: p["activity_attempt_id"].as_str().unwrap_or_default().to_owned(),
                    worker_id: p["worker_id"].as_str().unwrap_or_default().to_owned(),
                    started_ms: recorded,
                    completed: false,
                    completed_ms: 0,
                });
            }
            _ => {
                if completed.iter().any(|c| c == execution) {
                    return Err(format!("activity {execution}: result recorded twice"));
                }
                completed.push(execution.to_owned());
                let attempt_id = p["activity_attempt_id"].as_str().unwrap_or_default();
                let attempt = attempts
                    .iter_mut()
                    .find(|a| a.attempt_id == attempt_id)
                    .ok_or_else(|| format!("activity {execution} completed by an attempt never started: {p}"))?;
                attempt.completed = true;
                attempt.completed_ms = recorded;
            }
        }
    }
    Ok(attempts)
}

fn payload(event: &Value) -> Result<Value, String> {
    let preview = &event["payload_preview"];
    if preview["truncated"] != false {
        return Err(format!("payload preview missing or truncated: {event}"));
    }
    serde_json::from_str(preview["preview"].as_str().unwrap_or_default())
        .map_err(|e| format!("payload preview is not JSON ({e}): {event}"))
}

// ---------------------------------------------------------------------------------------------
// Databases and servers

/// A fresh database for the binaries, prepared (created and migrated) in this process.
struct Db {
    test: TestDatabase,
    service: Service,
    /// The URL the binaries get.
    url: String,
}

impl Db {
    async fn prepare(backend: Backend) -> Self {
        let test = TestDatabase::new(backend);
        let service = Service::open(ServiceConfig::new(test.config.clone()))
            .await
            .unwrap_or_else(|e| panic!("cannot open a {backend:?} test database (is PostgreSQL running?): {e:?}"));
        let url = match &test.config.schema {
            // The binary takes only a URL: the schema goes in as the connection's search_path.
            Some(schema) => {
                let sep = if test.config.url.contains('?') { '&' } else { '?' };
                format!("{}{sep}options[search_path]={schema}", test.config.url)
            }
            None => test.config.url.clone(),
        };
        Self { test, service, url }
    }

    /// A read+write key on the workspace `default` (created if needed) with room for many calls.
    async fn key(&self) -> String {
        self.service.ensure_workspace("default").await.expect("workspace");
        let created = self
            .service
            .create_key(waymark_core::auth::NewKey {
                workspace: "default".into(),
                name: "crash-test".into(),
                scopes: waymark_core::parse_scopes("read,write").expect("scopes"),
                expires_in_days: None,
                rate_limit_per_minute: 1_000_000,
                tools: None,
            })
            .await
            .expect("key");
        created.key
    }

    /// Closes this process's connections (the servers own the database from here).
    async fn close(&self) {
        self.service.shutdown().await;
    }

    async fn cleanup(self) {
        drop(self.service);
        self.test.cleanup().await;
    }
}

fn write_config(dir: &Path, lease_seconds: f64) -> PathBuf {
    let path = dir.join("waymark.toml");
    let text = format!(
        "[engine]\nlease_seconds = {lease_seconds:?}\npoll_interval_ms = {POLL_MS}\nsweep_interval_seconds = 1.0\n"
    );
    std::fs::write(&path, text).expect("write waymark.toml");
    path
}

/// One `waymark serve` process, its stderr in a file.
struct Server {
    name: String,
    child: Child,
    addr: SocketAddr,
    host: String,
}

impl Server {
    /// Starts `waymark serve` in `cwd` on `url` and waits until it listens. `host` becomes its
    /// `HOSTNAME`, so its worker id is `host-pid-…`.
    async fn start(cwd: &Path, name: &str, url: &str, config: &Path, host: &str, logs: &Logs) -> Self {
        let log = cwd.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let mut command = Command::new(waymark_bin());
        for var in ["WAYMARK_LISTEN", "WAYMARK_LOG_FORMAT", "WAYMARK_TEMPLATES_DIR", "WAYMARK_API_KEY"] {
            command.env_remove(var);
        }
        let child = command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .current_dir(cwd)
            .env("WAYMARK_DATABASE_URL", url)
            .env("WAYMARK_CONFIG", config)
            .env("WAYMARK_LOG", "info")
            .env("HOSTNAME", host)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn waymark serve");
        logs.add(log.clone());
        let mut server =
            Self { name: name.to_owned(), child, addr: "0.0.0.0:0".parse().unwrap(), host: host.to_owned() };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(rest) = text.split("MCP over HTTP on http://").nth(1) {
                server.addr = rest.split('/').next().unwrap().parse().expect("listen address");
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("{name} exited at start ({status}):\n{text}");
            }
            assert!(Instant::now() < deadline, "{name} did not listen within 30 s:\n{text}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The prefix of this process's worker id.
    fn worker_prefix(&self) -> String {
        format!("{}-{}-", self.host, self.child.id())
    }

    /// SIGKILL, and reap.
    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    /// SIGTERM; it must exit 0 within 20 s.
    async fn stop_gracefully(mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "{} did not stop cleanly on SIGTERM: {status}", self.name);
                return;
            }
            assert!(Instant::now() < deadline, "{} did not stop within 20 s of SIGTERM", self.name);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The servers' log files; their tails are printed when the test panics.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<PathBuf>>>);

struct LogTails(Logs);

impl Logs {
    fn add(&self, path: PathBuf) {
        self.0.lock().unwrap().push(path);
    }

    fn guard(&self) -> LogTails {
        LogTails(self.clone())
    }

    /// Lines of any log containing `needle`.
    fn grep(&self, needle: &str) -> Vec<String> {
        let paths = self.0.lock().unwrap().clone();
        paths
            .iter()
            .flat_map(|p| {
                let text = std::fs::read_to_string(p).unwrap_or_default();
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                text.lines().filter(|l| l.contains(needle)).map(|l| format!("{name}: {l}")).collect::<Vec<_>>()
            })
            .collect()
    }
}

impl Drop for LogTails {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let paths = self.0.0.lock().map(|p| p.clone()).unwrap_or_default();
        for path in paths {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(40)..];
            eprintln!("---- {} (last {} of {} lines)\n{}", path.display(), tail.len(), lines.len(), tail.join("\n"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// MCP over HTTP that survives a dead server

#[derive(Debug)]
enum CallError {
    /// No (complete) response: the server died or was not there.
    NoResponse(String),
    /// The server answered with an error.
    Refused(String),
}

/// `tools/call` with a bearer key; returns `structuredContent`.
async fn call_tool(addr: SocketAddr, key: &str, tool: &str, arguments: Value) -> Result<Value, CallError> {
    let body = json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": { "name": tool, "arguments": arguments }
    })
    .to_string();
    let bearer = format!("Bearer {key}");
    let headers = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
        ("MCP-Protocol-Version", "2025-11-25"),
        ("Authorization", bearer.as_str()),
    ];
    let response =
        match tokio::time::timeout(Duration::from_secs(40), try_http(addr, "POST", "/mcp", &headers, body.as_bytes()))
            .await
        {
            Ok(Ok(response)) => response,
            Ok(Err(why)) => return Err(CallError::NoResponse(why)),
            Err(_) => return Err(CallError::NoResponse("timed out".into())),
        };
    let status = response.status;
    let message = serde_json::from_str::<Value>(&response.body).ok().or_else(|| {
        response
            .body
            .lines()
            .rev()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|v| v.get("id").is_some())
    });
    let Some(message) = message else {
        return Err(CallError::Refused(format!("HTTP {status}: {}", response.body)));
    };
    let result = &message["result"];
    if status != 200 || result["isError"] == true || result.get("structuredContent").is_none() {
        return Err(CallError::Refused(format!("HTTP {status}: {message}")));
    }
    Ok(result["structuredContent"].clone())
}

// ---------------------------------------------------------------------------------------------
// Small helpers: a seeded RNG, wall-clock milliseconds

/// The seed: `WAYMARK_CRASH_SEED`, else from the clock (printed, to replay a failure).
fn seed() -> u64 {
    std::env::var("WAYMARK_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1) % 1_000_000_007
    })
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// An RFC 3339 timestamp (`recorded_at`) as milliseconds since the epoch.
fn parse_iso_ms(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_millis())
}

/// The history checks reject what they are there to catch (each case breaks one rule).
#[test]
fn history_checks_catch_gaps_duplicates_and_stale_results() {
    let scheduled = |a: &str| ("ActivityScheduled", json!({ "activity_execution_id": a }));
    let started = |a: &str, n: u64, t: &str| {
        (
            "ActivityStarted",
            json!({ "activity_execution_id": a, "attempt_number": n, "activity_attempt_id": t, "worker_id": "w-1-x" }),
        )
    };
    let completed =
        |a: &str, t: &str| ("ActivityCompleted", json!({ "activity_execution_id": a, "activity_attempt_id": t }));
    let plain = |t: &'static str| (t, json!({}));
    let history = |events: &[(&str, Value)]| {
        let events: Vec<Value> = events
            .iter()
            .enumerate()
            .map(|(i, (t, p))| {
                json!({
                    "sequence": i + 1,
                    "event_type": t,
                    "recorded_at": format!("2026-01-01T00:00:{:02}.000Z", i),
                    "payload_preview": { "truncated": false, "preview": p.to_string() }
                })
            })
            .collect();
        json!({ "found": true, "history_event_count": events.len(), "returned_event_count": events.len(), "events": events })
    };
    let good = vec![
        plain("StartAccepted"),
        plain("WorkflowStarted"),
        scheduled("a1"),
        started("a1", 1, "t1"),
        completed("a1", "t1"),
        scheduled("a2"),
        started("a2", 1, "t2"),
        completed("a2", "t2"),
        plain("WorkflowCompleted"),
    ];
    assert_eq!(check_history(Kind::Simple, &history(&good)).map(|a| a.len()), Ok(2));
    let mut retried = good.clone();
    retried.insert(4, started("a1", 2, "t1b"));
    retried[5] = completed("a1", "t1b");
    assert_eq!(
        check_history(Kind::Simple, &history(&retried)).map(|a| a.len()),
        Ok(3),
        "a retry after a crash is fine"
    );

    let mut bad: Vec<(&str, Vec<(&str, Value)>)> = Vec::new();
    let mut stale = retried.clone();
    stale[5] = completed("a1", "t1");
    bad.push(("a result from an attempt that was taken over", stale));
    let mut twice = good.clone();
    twice.insert(5, completed("a1", "t1"));
    bad.push(("an activity result recorded twice", twice));
    let mut done_twice = good.clone();
    done_twice.push(plain("WorkflowCompleted"));
    bad.push(("a run completed twice", done_twice));
    let mut same = good.clone();
    same[5] = scheduled("a1");
    bad.push(("one activity scheduled twice", same));
    let mut skipped = good.clone();
    skipped[3] = started("a1", 2, "t1");
    bad.push(("attempt numbers with a gap", skipped));
    let mut lost = good.clone();
    lost.remove(7);
    bad.push(("a lost activity result", lost));
    for (what, events) in bad {
        assert!(check_history(Kind::Simple, &history(&events)).is_err(), "{what} must be caught");
    }
    let mut gap = history(&good);
    gap["events"][4]["sequence"] = json!(6);
    assert!(check_history(Kind::Simple, &gap).is_err(), "a sequence gap must be caught");
    let mut cut = history(&good);
    cut["history_event_count"] = json!(120);
    assert!(check_history(Kind::Simple, &cut).is_err(), "a history longer than what was read must be caught");
    assert!(Kind::Elapsed.check_output(&json!("Elapsed Time: 2 seconds")).is_err());
    assert!(Kind::Elapsed.check_output(&json!("Elapsed Time: 4 seconds")).is_ok());
    assert!(Kind::Simple.check_output(&json!("workflow_activity")).is_err());
}

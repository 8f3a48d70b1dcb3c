//! The workload: a workflow type that runs K no-op activities in sequence (registered only
//! here), the floor's single-event commits (through the store port, and raw sqlx on its own
//! connection), and the databases they run on.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sea_orm::sqlx::{self, ConnectOptions as _, Connection as _};
use serde_json::json;
use waymark_engine::event::{ActivityCompleted, ActivityRef, Event};
use waymark_engine::ids::{Namespace, RunId, ulid};
use waymark_engine::store::{EngineStore, EngineTx as _, StoredEvent};
use waymark_engine::{
    Activity, ActivityContext, ActivityError, Clock as _, Engine, EngineConfig, Registry, RunStatus, StartRequest,
    SystemClock, WorkerHandle, Workflow, WorkflowContext, WorkflowResult,
};
use waymark_store::{DatabaseConfig, Store};

use crate::timed::{TimedStore, TxKind, TxRecord};

/// A no-op activity: returns its input.
struct Noop;

#[async_trait::async_trait]
impl Activity for Noop {
    const TYPE: &'static str = "bench_noop";
    type Input = u64;
    type Output = u64;

    async fn run(&self, _ctx: &ActivityContext, input: u64) -> Result<u64, ActivityError> {
        Ok(input)
    }
}

/// Runs `input` no-op activities one after the other: every activity result is one step.
struct Chain;

#[async_trait::async_trait]
impl Workflow for Chain {
    const TYPE: &'static str = "bench_chain";
    const DESCRIPTION: &'static str = "Benchmark: K no-op activities in sequence.";
    type Input = u64;
    type Output = u64;

    async fn run(&self, ctx: &WorkflowContext, steps: u64) -> WorkflowResult<u64> {
        let mut sum = 0;
        for i in 0..steps {
            sum += ctx.activity::<Noop>(i).await?;
        }
        Ok(sum)
    }
}

/// What a block measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlockKind {
    /// Single-event commits through the store port (the floor).
    Bare,
    /// One workflow of K steps through the engine.
    Step,
    /// Single-event commits with raw sqlx on a connection of its own.
    Raw,
}

impl BlockKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Bare => "bare",
            Self::Step => "step",
            Self::Raw => "raw",
        }
    }
}

/// One block: what committed in it and its wall-clock window.
#[derive(Debug)]
pub(crate) struct Block {
    pub(crate) kind: BlockKind,
    /// Unix time in microseconds (the clock strace's `-ttt` prints), at the start and end.
    pub(crate) start_us: u64,
    pub(crate) end_us: u64,
    pub(crate) elapsed: Duration,
    /// Commits (bare, raw) or steps (step).
    pub(crate) units: usize,
    /// Every transaction committed in the block, the engine's included.
    pub(crate) records: Vec<TxRecord>,
    /// Transactions rolled back in the block (idle workers finding nothing).
    pub(crate) rollbacks: u64,
}

enum Raw {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// A database with the engine (workers running) and the floor's writers on it.
pub(crate) struct Bench {
    /// `sqlite FULL`, `postgres sync on`.
    pub(crate) label: String,
    pub(crate) backend: &'static str,
    pub(crate) sync: String,
    /// Where the data lives (a file, or a server and schema).
    pub(crate) location: String,
    store: Store,
    timed: Arc<TimedStore>,
    engine: Engine,
    workers: Option<WorkerHandle>,
    raw: Raw,
    namespace: Namespace,
    floor_run: RunId,
    floor_seq: u64,
    raw_run: RunId,
    raw_seq: u64,
    pg_cleanup: Option<(String, String)>,
    /// PostgreSQL: the `application_name` of every connection of the bench.
    application_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

fn wall_us() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(0))
}

fn err(what: &str) -> impl FnOnce(String) -> String + '_ {
    move |e| format!("{what}: {e}")
}

impl Bench {
    /// A fresh SQLite file under `base` (WAL, `synchronous=FULL`, the store's own settings).
    pub(crate) async fn sqlite(base: &Path) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("waymark-bench-")
            .tempdir_in(base)
            .map_err(|e| format!("cannot create a directory under {}: {e}", base.display()))?;
        let path = dir.path().join("bench.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let store = Store::connect(&DatabaseConfig::new(url)).await.map_err(|e| e.to_string()).map_err(err("open"))?;
        store.migrate().await.map_err(|e| e.to_string()).map_err(err("migrate"))?;
        // The raw floor's own connection, with the store's settings.
        let raw = SqliteConnectOptions::new()
            .filename(&path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .connect()
            .await
            .map_err(|e| format!("raw sqlite connection: {e}"))?;
        Self::start(
            "sqlite FULL".to_owned(),
            "sqlite",
            "FULL".to_owned(),
            path.display().to_string(),
            store,
            Raw::Sqlite(raw),
            None,
            Some(dir),
        )
        .await
    }

    /// A fresh schema on the PostgreSQL server at `url`. Every connection carries the
    /// `application_name` `waymark_bench_<pid>`, so the counting pass can find its backends.
    pub(crate) async fn postgres(url: &str) -> Result<Self, String> {
        let schema = format!("waymark_bench_{}", std::process::id());
        let application_name = schema.clone();
        let separator = if url.contains('?') { '&' } else { '?' };
        let named = format!("{url}{separator}application_name={application_name}");
        let config = DatabaseConfig { url: named.clone(), schema: Some(schema.clone()) };
        let store = Store::connect(&config).await.map_err(|e| e.to_string())?;
        store.migrate().await.map_err(|e| e.to_string()).map_err(err("migrate"))?;
        let options = PgConnectOptions::from_str(&named)
            .map_err(|e| format!("raw postgres url: {e}"))?
            .options([("search_path", schema.as_str())]);
        let mut raw = options.connect().await.map_err(|e| format!("raw postgres connection: {e}"))?;
        let sync: String = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(&mut raw)
            .await
            .map_err(|e| format!("SHOW synchronous_commit: {e}"))?;
        let location = format!("{} schema {schema}", waymark_store::redact_url(url));
        Self::start(
            format!("postgres sync {sync}"),
            "postgres",
            sync,
            location,
            store,
            Raw::Postgres(raw),
            Some((url.to_owned(), schema)),
            None,
        )
        .await
        .map(|bench| Self { application_name: Some(application_name), ..bench })
    }

    #[allow(clippy::too_many_arguments)]
    async fn start(
        label: String,
        backend: &'static str,
        sync: String,
        location: String,
        store: Store,
        raw: Raw,
        pg_cleanup: Option<(String, String)>,
        dir: Option<tempfile::TempDir>,
    ) -> Result<Self, String> {
        let timed = Arc::new(TimedStore::new(Arc::new(store.clone())));
        let registry = Registry::new().workflow(Chain).activity(Noop);
        // The production defaults (`waymark serve` uses `EngineConfig::default()` unless
        // `waymark.toml` says otherwise).
        let config = EngineConfig { worker_id: format!("bench-{}", std::process::id()), ..EngineConfig::default() };
        let port: Arc<dyn EngineStore> = Arc::clone(&timed) as Arc<dyn EngineStore>;
        let engine = Engine::new(port, registry, Arc::new(SystemClock), config);
        let workers = engine.spawn_workers().await;
        let now = SystemClock.now();
        Ok(Self {
            label,
            backend,
            sync,
            location,
            store,
            timed,
            engine,
            workers: Some(workers),
            raw,
            namespace: Namespace::new("bench"),
            floor_run: RunId::generate(now),
            floor_seq: 0,
            raw_run: RunId::generate(now),
            raw_seq: 0,
            pg_cleanup,
            application_name: None,
            _dir: dir,
        })
    }

    /// One block of each kind, not recorded: connections, statement caches and pages warm.
    pub(crate) async fn warm_up(&mut self, n: usize) -> Result<(), String> {
        self.block(BlockKind::Bare, n).await?;
        self.block(BlockKind::Step, n).await?;
        self.block(BlockKind::Raw, n).await?;
        Ok(())
    }

    pub(crate) async fn block(&mut self, kind: BlockKind, n: usize) -> Result<Block, String> {
        let _ = self.timed.recorder.drain();
        let start_us = wall_us();
        let t0 = Instant::now();
        let mut raw_records = match kind {
            BlockKind::Bare => {
                self.bare(n).await?;
                Vec::new()
            }
            BlockKind::Step => {
                self.workflow(n).await?;
                Vec::new()
            }
            BlockKind::Raw => self.raw(n).await?,
        };
        let elapsed = t0.elapsed();
        let end_us = wall_us();
        let (mut records, rollbacks) = self.timed.recorder.drain();
        records.append(&mut raw_records);
        if kind == BlockKind::Step {
            let steps = records.iter().filter(|r| r.kind == TxKind::Step).count();
            if steps != n {
                return Err(format!("{}: a workflow of {n} activities made {steps} step transactions", self.label));
            }
        }
        Ok(Block { kind, start_us, end_us, elapsed, units: n, records, rollbacks })
    }

    /// The floor: `n` transactions of one `ActivityCompleted` row each, through the port.
    async fn bare(&mut self, n: usize) -> Result<(), String> {
        for _ in 0..n {
            self.floor_seq += 1;
            let event = floor_event(&self.floor_run, self.floor_seq);
            let mut tx = self.timed.begin_as(TxKind::Bare).await.map_err(|e| e.to_string())?;
            tx.append_events(std::slice::from_ref(&event)).await.map_err(|e| e.to_string())?;
            tx.commit().await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// One workflow of `n` no-op activities, from start to its close.
    async fn workflow(&mut self, n: usize) -> Result<(), String> {
        let request = StartRequest {
            workflow_type: Chain::TYPE.to_owned(),
            input: json!(n),
            source: "library".to_owned(),
            ..StartRequest::default()
        };
        let started = self.engine.start(&self.namespace, request).await.map_err(|e| e.to_string())?;
        let run = self
            .engine
            .wait_closed(&self.namespace, &started.run_id, Duration::from_secs(600))
            .await
            .map_err(|e| e.to_string())?;
        match run {
            Some(run) if run.status == RunStatus::Completed => Ok(()),
            Some(run) => Err(format!("{}: the workflow ended {:?}", self.label, run.status)),
            None => Err(format!("{}: the workflow run vanished", self.label)),
        }
    }

    /// `n` raw sqlx transactions of one `ActivityCompleted` row each, on the raw connection.
    async fn raw(&mut self, n: usize) -> Result<Vec<TxRecord>, String> {
        const SQLITE: &str = "INSERT INTO wf_history_events (id, run_id, sequence, event_type, payload, recorded_at) \
                              VALUES (?, ?, ?, ?, ?, ?)";
        const POSTGRES: &str = "INSERT INTO wf_history_events (id, run_id, sequence, event_type, payload, \
                                recorded_at) VALUES ($1, $2, $3, $4, $5, $6)";
        let mut records = Vec::with_capacity(n);
        for _ in 0..n {
            self.raw_seq += 1;
            let event = floor_event(&self.raw_run, self.raw_seq);
            let payload = event.payload.to_string();
            let sequence = i64::try_from(event.sequence).unwrap_or(i64::MAX);
            let began = Instant::now();
            let (begin, insert);
            let commit_start = match &mut self.raw {
                Raw::Sqlite(conn) => {
                    let mut tx = conn.begin().await.map_err(|e| e.to_string())?;
                    begin = began.elapsed();
                    let insert_start = Instant::now();
                    sqlx::query(SQLITE)
                        .bind(&event.id)
                        .bind(event.run_id.as_str())
                        .bind(sequence)
                        .bind(&event.event_type)
                        .bind(&payload)
                        .bind(event.recorded_at)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| e.to_string())?;
                    insert = insert_start.elapsed();
                    let commit_start = Instant::now();
                    tx.commit().await.map_err(|e| e.to_string())?;
                    commit_start
                }
                Raw::Postgres(conn) => {
                    let mut tx = conn.begin().await.map_err(|e| e.to_string())?;
                    begin = began.elapsed();
                    let insert_start = Instant::now();
                    sqlx::query(POSTGRES)
                        .bind(&event.id)
                        .bind(event.run_id.as_str())
                        .bind(sequence)
                        .bind(&event.event_type)
                        .bind(&payload)
                        .bind(event.recorded_at)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| e.to_string())?;
                    insert = insert_start.elapsed();
                    let commit_start = Instant::now();
                    tx.commit().await.map_err(|e| e.to_string())?;
                    commit_start
                }
            };
            let ended = Instant::now();
            records.push(TxRecord {
                kind: TxKind::Raw,
                began,
                ended,
                commit: ended - commit_start,
                begin,
                calls: vec!["insert"],
                call_times: vec![insert],
                events: 1,
            });
        }
        Ok(records)
    }

    /// The PIDs of the PostgreSQL backends serving this bench (the store's pool and the raw
    /// connection), found by their `application_name`; empty on SQLite.
    pub(crate) async fn backend_pids(&mut self) -> Result<Vec<i32>, String> {
        let (Raw::Postgres(conn), Some(app)) = (&mut self.raw, &self.application_name) else { return Ok(Vec::new()) };
        sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE application_name = $1 ORDER BY pid")
            .bind(app.as_str())
            .fetch_all(conn)
            .await
            .map_err(|e| format!("pg_stat_activity: {e}"))
    }

    /// Stops the workers, closes the pools and drops a PostgreSQL schema.
    pub(crate) async fn close(mut self) {
        if let Some(workers) = self.workers.take() {
            workers.shutdown(Duration::from_secs(2)).await;
        }
        let _ = match self.raw {
            Raw::Sqlite(conn) => conn.close().await,
            Raw::Postgres(conn) => conn.close().await,
        };
        self.store.close().await;
        if let Some((url, schema)) = &self.pg_cleanup
            && let Err(e) = waymark_store::drop_pg_schema(url, schema).await
        {
            eprintln!("warning: could not drop schema {schema}: {e}");
        }
    }
}

/// An `ActivityCompleted` row shaped like the engine's for a `bench_noop` result: the same
/// table, columns and payload keys, ids of the same length, a result of the same size.
fn floor_event(run_id: &RunId, sequence: u64) -> StoredEvent {
    let now = SystemClock.now();
    let event = Event::ActivityCompleted(ActivityCompleted {
        activity: ActivityRef {
            activity_execution_id: ulid(now),
            activity_type: Noop::TYPE.to_owned(),
            sequence: sequence * 3,
        },
        activity_attempt_id: ulid(now),
        attempt_number: 1,
        result: json!(sequence),
    });
    StoredEvent {
        id: ulid(now),
        run_id: run_id.clone(),
        sequence,
        event_type: event.event_type().to_owned(),
        payload: event.payload(),
        recorded_at: now,
    }
}

//! [`Service`]: the one facade every transport and library caller goes through.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use waymark_domain::Timestamp;
use waymark_domain::dependency::Registry;
use waymark_engine::store::EngineStore;
use waymark_engine::{Engine, WorkerHandle};
use waymark_store::{Backend, DatabaseConfig, Store};

use crate::audit::{AuditLog, Redactor};
use crate::auth::{DEFAULT_AUTH_CACHE_TTL, KeyCache};
use crate::breaker::{BreakerPolicy, BreakerState, BreakerStatus, Breakers};
use crate::catalogue::Catalogue;
use crate::clock::{Clock, SystemClock};
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::template::TemplateLibrary;
use crate::workflow::{WorkflowsConfig, builtin};
use crate::{CustomDependency, DATABASE};
use crate::{ErrorCode, ServiceError, tools};

/// How to build a [`Service`].
#[derive(Clone)]
pub struct ServiceConfig {
    /// Where the data lives.
    pub database: DatabaseConfig,
    /// Per-tool deadline overrides (tool name → deadline); the default is 30 s.
    pub tool_timeouts: HashMap<String, Duration>,
    /// How long a verified API key is trusted without a database read (revocation delay).
    pub auth_cache_ttl: Duration,
    /// The user's plan templates (`*.yaml`), besides the built-in ones.
    pub templates_dir: Option<std::path::PathBuf>,
    /// Tool dependencies (defaults: the original's registrations, adjusted to
    /// argument-passed `session_id`).
    pub dependencies: Registry,
    /// Validators for `custom` dependencies, by name (a `custom` dependency without one fails).
    pub custom_dependencies: BTreeMap<String, CustomDependency>,
    /// Circuit-breaker thresholds.
    pub breaker_policy: BreakerPolicy,
    /// Workflow types besides the built-in ones, the MCP allow-list, and the engine's
    /// leases, polling and limits.
    pub workflows: WorkflowsConfig,
    /// What the audit log never stores (built-in credential shapes plus the operator's
    /// `[audit] redact_patterns`).
    pub redactor: Redactor,
}

impl std::fmt::Debug for ServiceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceConfig")
            .field("database", &waymark_store::redact_url(&self.database.url))
            .field("tool_timeouts", &self.tool_timeouts)
            .field("auth_cache_ttl", &self.auth_cache_ttl)
            .field("templates_dir", &self.templates_dir)
            .field("custom_dependencies", &self.custom_dependencies.keys().collect::<Vec<_>>())
            .field("breaker_policy", &self.breaker_policy)
            .field("workflows", &self.workflows)
            .finish_non_exhaustive()
    }
}

impl ServiceConfig {
    /// Defaults for a database.
    pub fn new(database: DatabaseConfig) -> Self {
        Self {
            database,
            tool_timeouts: HashMap::new(),
            auth_cache_ttl: DEFAULT_AUTH_CACHE_TTL,
            templates_dir: None,
            dependencies: Registry::with_defaults(),
            custom_dependencies: BTreeMap::new(),
            breaker_policy: BreakerPolicy::default(),
            workflows: WorkflowsConfig::default(),
            redactor: Redactor::default(),
        }
    }
}

/// The facade. Cheap to clone; all clones share one store, catalogue and audit writer.
///
/// Methods are grouped by resource in their own modules (`plan`, `phase`, `task`, `auth`);
/// each takes the caller's [`crate::Principal`] first and scopes every query by its workspace.
#[derive(Clone, Debug)]
pub struct Service {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) catalogue: Catalogue,
    pub(crate) audit: AuditLog,
    pub(crate) keys: KeyCache,
    pub(crate) templates: TemplateLibrary,
    pub(crate) limiter: RateLimiter,
    pub(crate) breakers: Breakers,
    pub(crate) metrics: Metrics,
    pub(crate) dependencies: Registry,
    pub(crate) engine: Engine,
    pub(crate) redactor: Redactor,
    pub(crate) config: ServiceConfig,
}

/// Whether the service can serve traffic (`/readyz`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// The database answered.
    pub database_reachable: bool,
    /// Migrations not yet applied (0 when current).
    pub pending_migrations: usize,
    /// The database circuit breaker is open (or testing with its one trial call): tool calls
    /// are refused with `service_unavailable` meanwhile.
    pub database_breaker_open: bool,
}

impl Readiness {
    /// Reachable, current, and the database breaker closed.
    pub fn is_ready(self) -> bool {
        self.database_reachable && self.pending_migrations == 0 && !self.database_breaker_open
    }
}

impl Service {
    /// Connects, migrates to the latest schema and starts the audit writer. Must be called on
    /// a tokio runtime.
    ///
    /// # Errors
    /// `service_unavailable` when the database cannot be reached; `internal` when a migration
    /// fails.
    pub async fn open(config: ServiceConfig) -> Result<Self, ServiceError> {
        Self::open_with_clock(config, Arc::new(SystemClock)).await
    }

    /// [`Service::open`] with an injected clock (tests use a virtual one).
    ///
    /// # Errors
    /// As [`Service::open`].
    pub async fn open_with_clock(config: ServiceConfig, clock: Arc<dyn Clock>) -> Result<Self, ServiceError> {
        let store = Store::connect(&config.database).await.map_err(|e| {
            tracing::error!(error = %e, "cannot open the database");
            ServiceError::new(
                ErrorCode::ServiceUnavailable,
                format!("Cannot reach the database at {}", waymark_store::redact_url(&config.database.url)),
            )
        })?;
        store.migrate().await?;
        let catalogue = Catalogue::new(tools::all(), &config.tool_timeouts);
        let audit = AuditLog::start(store.clone());
        let templates = TemplateLibrary::load(config.templates_dir.as_deref());
        for problem in templates.problems() {
            tracing::warn!(%problem, "template skipped");
        }
        let registry = builtin::registry(Arc::clone(&clock)).merge(config.workflows.registry.clone());
        let engine_store: Arc<dyn EngineStore> = Arc::new(store.clone());
        let engine = Engine::new(engine_store, registry, Arc::clone(&clock), config.workflows.engine.clone());
        let breakers = Breakers::new(config.breaker_policy);
        breakers.register(DATABASE);
        let service = Self {
            inner: Arc::new(Inner {
                store,
                clock,
                catalogue,
                audit,
                keys: KeyCache::default(),
                templates,
                limiter: RateLimiter::default(),
                breakers,
                metrics: Metrics::default(),
                dependencies: config.dependencies.clone(),
                engine,
                redactor: config.redactor.clone(),
                config,
            }),
        };
        service.publish_breakers();
        Ok(service)
    }

    /// The tool catalogue, in `tools/list` order.
    pub fn catalogue(&self) -> &Catalogue {
        &self.inner.catalogue
    }

    /// "Now", from the injected clock.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self.inner.store.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// Checks the database for `/readyz`.
    pub async fn readiness(&self) -> Readiness {
        let database_reachable = self.inner.store.ping().await.is_ok();
        let pending_migrations = if database_reachable {
            self.inner.store.pending_migrations().await.unwrap_or(usize::MAX)
        } else {
            usize::MAX
        };
        let database_breaker_open = self
            .inner
            .breakers
            .status(self.now())
            .iter()
            .any(|b| b.service == DATABASE && b.state != BreakerState::Closed);
        Readiness { database_reachable, pending_migrations, database_breaker_open }
    }

    /// The database's id: random, written once when the database was created, the same for
    /// every process on this database (`/readyz` reports it so `waymark status` can tell whether
    /// the server on a port serves its database).
    ///
    /// # Errors
    /// `service_unavailable` or `internal` when it cannot be read.
    pub async fn database_id(&self) -> Result<String, ServiceError> {
        Ok(self.inner.store.database_id().await?)
    }

    /// The metrics page (OpenMetrics text, `/metrics`).
    pub fn metrics_text(&self) -> String {
        self.publish_breakers();
        self.inner.metrics.engine(self.inner.engine.stats());
        self.inner.metrics.encode()
    }

    /// Every circuit breaker's state.
    pub fn breakers(&self) -> Vec<BreakerStatus> {
        self.inner.breakers.status(self.now())
    }

    /// The tool dependencies in force.
    pub fn dependencies(&self) -> &Registry {
        &self.inner.dependencies
    }

    /// Waits until every audit row recorded so far is committed.
    pub async fn flush_audit(&self) {
        self.inner.audit.flush().await;
    }

    /// Starts this process's workflow workers (workflow tasks, activities, timers, the
    /// repair sweep). `waymark serve` calls it once; stop them with
    /// [`WorkerHandle::shutdown`].
    pub async fn spawn_workflow_workers(&self) -> WorkerHandle {
        self.inner.engine.spawn_workers().await
    }

    /// Flushes the audit log. Call before the process exits.
    pub async fn shutdown(&self) {
        self.flush_audit().await;
    }

    /// While set, every commit waits until its future is dropped (feature `test-hooks`).
    #[cfg(feature = "test-hooks")]
    pub fn park_commits(&self, park: bool) {
        self.inner.store.hooks().park_commits(park);
    }

    /// While set, every new transaction fails as if the database were unreachable (feature
    /// `test-hooks`).
    #[cfg(feature = "test-hooks")]
    pub fn make_database_unreachable(&self, unreachable: bool) {
        self.inner.store.hooks().make_unreachable(unreachable);
    }

    /// How many commits wait on [`Self::park_commits`] now (feature `test-hooks`).
    #[cfg(feature = "test-hooks")]
    pub fn parked_commits(&self) -> usize {
        self.inner.store.hooks().parked_commits()
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }
}

//! Prometheus metrics (`/metrics`, OpenMetrics text): tool calls by tool and outcome, call
//! latency, rate-limit rejections, breaker states, and the workflow engine's work. Labels never carry a workspace, a key or
//! arguments, so the page holds no tenant data.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// The process's metrics.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    calls: Family<Labels, Counter>,
    latency: Family<Labels, Histogram>,
    rate_limited: Family<Labels, Counter>,
    breaker: Family<Labels, Gauge>,
    workflow_work: Family<Labels, Counter>,
    running_activities: Gauge,
    /// The engine counters already added to `workflow_work`.
    engine_seen: std::sync::Mutex<waymark_engine::EngineStats>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("waymark");
        let calls = Family::<Labels, Counter>::default();
        registry.register("tool_calls", "Tool calls by tool and outcome (success, error, cancelled)", calls.clone());
        let latency = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
        });
        registry.register("tool_call_duration_seconds", "Tool call latency in seconds, by tool", latency.clone());
        let rate_limited = Family::<Labels, Counter>::default();
        registry.register("rate_limited", "Tool calls refused by a key's rate limit, by tool", rate_limited.clone());
        let breaker = Family::<Labels, Gauge>::default();
        registry.register(
            "circuit_breaker_state",
            "Circuit breaker state by service: 0 closed, 1 half-open, 2 open",
            breaker.clone(),
        );
        let workflow_work = Family::<Labels, Counter>::default();
        registry.register(
            "workflow_work",
            "Workflow engine work done by this process, by kind (steps, workflow_tasks, replays, cache_hits, blocked, activity_attempts, activities_completed, activity_retries, activities_failed, timers_fired, runs_closed)",
            workflow_work.clone(),
        );
        let running_activities = Gauge::default();
        registry.register(
            "workflow_running_activities",
            "Activity attempts running in this process",
            running_activities.clone(),
        );
        Self {
            registry,
            calls,
            latency,
            rate_limited,
            breaker,
            workflow_work,
            running_activities,
            engine_seen: std::sync::Mutex::default(),
        }
    }
}

impl Metrics {
    pub(crate) fn call(&self, tool: &str, outcome: &str, seconds: f64) {
        self.calls.get_or_create(&vec![("tool".into(), tool.into()), ("outcome".into(), outcome.into())]).inc();
        self.latency.get_or_create(&vec![("tool".into(), tool.into())]).observe(seconds);
    }

    pub(crate) fn rate_limited(&self, tool: &str) {
        self.rate_limited.get_or_create(&vec![("tool".into(), tool.into())]).inc();
    }

    pub(crate) fn breaker(&self, service: &str, state: i64) {
        self.breaker.get_or_create(&vec![("service".into(), service.into())]).set(state);
    }

    /// Brings the workflow counters up to the engine's `stats`.
    pub(crate) fn engine(&self, stats: waymark_engine::EngineStats) {
        let mut seen = self.engine_seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let kinds = [
            ("steps", stats.steps, seen.steps),
            ("workflow_tasks", stats.workflow_tasks, seen.workflow_tasks),
            ("replays", stats.replays, seen.replays),
            ("cache_hits", stats.cache_hits, seen.cache_hits),
            ("blocked", stats.blocked, seen.blocked),
            ("activity_attempts", stats.activity_attempts, seen.activity_attempts),
            ("activities_completed", stats.activities_completed, seen.activities_completed),
            ("activity_retries", stats.activity_retries, seen.activity_retries),
            ("activities_failed", stats.activities_failed, seen.activities_failed),
            ("timers_fired", stats.timers_fired, seen.timers_fired),
            ("runs_closed", stats.runs_closed, seen.runs_closed),
        ];
        for (kind, now, before) in kinds {
            let counter = self.workflow_work.get_or_create(&vec![("kind".into(), kind.into())]);
            counter.inc_by(now.saturating_sub(before));
        }
        self.running_activities.set(i64::try_from(stats.running_activities).unwrap_or(i64::MAX));
        *seen = stats;
    }

    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

//! The workflows that ship in the binary (ENGINE.md "Workflows that ship in the binary"):
//! `simple` and `elapsed`, the seed's smoke workflows (reference §5). Both need no
//! credentials.

use std::sync::Arc;
use std::time::Duration;

use waymark_engine::{
    Activity, ActivityContext, ActivityError, Clock, Registry, Workflow, WorkflowContext, WorkflowResult,
};

/// `simple`: an activity returning `"activity"`, then one echoing `"other"`; outputs
/// `"workflow_activity_other"` (seed §5.1). Its history is exactly StartAccepted,
/// WorkflowStarted, (ActivityScheduled, ActivityStarted, ActivityCompleted) × 2,
/// WorkflowCompleted.
#[derive(Debug)]
pub struct Simple;

#[async_trait::async_trait]
impl Workflow for Simple {
    const TYPE: &'static str = "simple";
    const DESCRIPTION: &'static str = "Deterministic activity chain: one activity returns \"activity\", a second echoes \"other\"; the output is \"workflow_activity_other\". No arguments, no credentials: the smoke test.";
    type Input = ();
    type Output = String;

    async fn run(&self, ctx: &WorkflowContext, _input: ()) -> WorkflowResult<String> {
        let first = ctx.activity::<SimpleActivity>(()).await?;
        let second = ctx.activity::<SimpleOtherActivity>("other".to_owned()).await?;
        Ok(format!("workflow_{first}_{second}"))
    }
}

/// `simple`'s first activity: returns `"activity"`.
#[derive(Debug)]
pub struct SimpleActivity;

#[async_trait::async_trait]
impl Activity for SimpleActivity {
    const TYPE: &'static str = "simple_activity";
    type Input = ();
    type Output = String;

    async fn run(&self, _ctx: &ActivityContext, _input: ()) -> Result<String, ActivityError> {
        Ok("activity".to_owned())
    }
}

/// `simple`'s second activity: echoes its argument.
#[derive(Debug)]
pub struct SimpleOtherActivity;

#[async_trait::async_trait]
impl Activity for SimpleOtherActivity {
    const TYPE: &'static str = "simple_other_activity";
    type Input = String;
    type Output = String;

    async fn run(&self, _ctx: &ActivityContext, input: String) -> Result<String, ActivityError> {
        Ok(input)
    }
}

/// `elapsed`: records the start time as a side effect, runs an activity that sleeps 3 s,
/// records the end time, and outputs `"Elapsed Time: N seconds"` (N ≥ 3; seed §5.2). Replays
/// never re-read the clock: both times come from history.
#[derive(Debug)]
pub struct Elapsed {
    clock: Arc<dyn Clock>,
}

#[async_trait::async_trait]
impl Workflow for Elapsed {
    const TYPE: &'static str = "elapsed";
    const DESCRIPTION: &'static str = "Durable time and side effects: records the start time, runs an activity that sleeps 3 seconds, records the end time; the output is \"Elapsed Time: N seconds\" with N >= 3. No arguments, no credentials.";
    type Input = ();
    type Output = String;

    async fn run(&self, ctx: &WorkflowContext, _input: ()) -> WorkflowResult<String> {
        let clock = Arc::clone(&self.clock);
        let start: i64 = ctx.side_effect(move || clock.now().timestamp())?;
        ctx.activity::<SleepActivity>(3).await?;
        let clock = Arc::clone(&self.clock);
        let end: i64 = ctx.side_effect(move || clock.now().timestamp())?;
        Ok(format!("Elapsed Time: {} seconds", end - start))
    }
}

/// `elapsed`'s activity: sleeps the given number of seconds (on the engine clock).
#[derive(Debug)]
pub struct SleepActivity;

#[async_trait::async_trait]
impl Activity for SleepActivity {
    const TYPE: &'static str = "sleep_activity";
    type Input = u64;
    type Output = ();

    async fn run(&self, ctx: &ActivityContext, seconds: u64) -> Result<(), ActivityError> {
        ctx.sleep(Duration::from_secs(seconds)).await;
        Ok(())
    }
}

/// The built-in workflow and activity types, reading time from `clock`.
pub fn registry(clock: Arc<dyn Clock>) -> Registry {
    Registry::new()
        .workflow(Simple)
        .activity(SimpleActivity)
        .activity(SimpleOtherActivity)
        .workflow(Elapsed { clock })
        .activity(SleepActivity)
}

//! A worked example of bringing your own workflows to Waymark: an approval that prepares a
//! ticket, waits for an `approve` signal (with the decision) or a timeout on a durable timer,
//! and ships on approval.
//!
//! The binary (`src/main.rs`) is the whole `waymark` command line plus this registry:
//! `waymark-approval serve`, `waymark-approval mcp stdio`,
//! `waymark-approval workflow start approval --arg '"deploy v2"' --wait`. To let MCP clients
//! start it, expose it in `waymark.toml`:
//!
//! ```toml
//! [workflows.approval]
//! expose = true
//! safe_for_smoke = true
//! ```

use std::time::Duration;

use futures::future::{Either, select};
use serde::{Deserialize, Serialize};
use waymark_engine::{Activity, ActivityContext, ActivityError, Registry, Workflow, WorkflowContext, WorkflowResult};

/// What `approval` takes: the request, and how long to wait for a decision.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
pub struct ApprovalInput {
    /// What needs approval, for example "deploy v2".
    pub request: String,
    /// Hours to wait for a decision before the request expires (default 24).
    #[serde(default = "default_hours")]
    pub timeout_hours: u64,
}

fn default_hours() -> u64 {
    24
}

/// The `approve` signal's payload.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Decision {
    /// Approved or rejected.
    pub approved: bool,
    /// Who decided.
    pub by: String,
}

/// The approval workflow.
#[derive(Debug)]
pub struct Approval;

#[async_trait::async_trait]
impl Workflow for Approval {
    const TYPE: &'static str = "approval";
    const DESCRIPTION: &'static str = "Prepares a ticket for a request, waits for the `approve` signal ({approved, by}) or timeout_hours, and ships it when approved.";
    const SIGNALS: &'static [&'static str] = &["approve"];
    type Input = ApprovalInput;
    type Output = String;

    async fn run(&self, ctx: &WorkflowContext, input: ApprovalInput) -> WorkflowResult<String> {
        let ticket = ctx.activity::<Prepare>(input.request.clone()).await?;
        let decision = ctx.wait_signal::<Decision>("approve");
        let timeout = ctx.sleep(Duration::from_secs(input.timeout_hours * 3600));
        // `select` polls the signal first, so a decision and a timeout recorded in the same
        // step resolve the same way on every replay.
        match select(decision, timeout).await {
            Either::Left((decision, _)) => {
                let decision = decision?;
                if decision.approved {
                    let shipped = ctx.activity::<Ship>(ticket).await?;
                    Ok(format!("{shipped} (approved by {})", decision.by))
                } else {
                    Ok(format!("{ticket} rejected by {}", decision.by))
                }
            }
            Either::Right((slept, _)) => {
                slept?;
                Ok(format!("{ticket} expired: no decision within {} h", input.timeout_hours))
            }
        }
    }
}

/// Opens a ticket for the request.
#[derive(Debug)]
pub struct Prepare;

#[async_trait::async_trait]
impl Activity for Prepare {
    const TYPE: &'static str = "approval_prepare";
    type Input = String;
    type Output = String;

    async fn run(&self, _ctx: &ActivityContext, request: String) -> Result<String, ActivityError> {
        Ok(format!("ticket for {request}"))
    }
}

/// Ships an approved ticket.
#[derive(Debug)]
pub struct Ship;

#[async_trait::async_trait]
impl Activity for Ship {
    const TYPE: &'static str = "approval_ship";
    type Input = String;
    type Output = String;

    async fn run(&self, _ctx: &ActivityContext, ticket: String) -> Result<String, ActivityError> {
        Ok(format!("shipped {ticket}"))
    }
}

/// The example's workflow and activity types.
pub fn registry() -> Registry {
    Registry::new().workflow(Approval).activity(Prepare).activity(Ship)
}

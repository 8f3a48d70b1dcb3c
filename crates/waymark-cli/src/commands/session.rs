//! `session list`, `session show`, `session sweep`.

use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};
use waymark_core::session::{SessionListParams, SessionReplayParams};
use waymark_core::{Service, Transport};

use super::{Failure, Outcome};
use crate::args::SessionCommand;
use crate::exit;
use crate::render::{json as print_json, next_page, opt, table};

fn text(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

pub(super) async fn run(service: &Service, cmd: &SessionCommand, json: bool, out: &mut dyn Write) -> Outcome {
    match cmd {
        SessionCommand::List { workspace, status, plan, limit, cursor } => {
            let me = service.owner_principal(workspace, Transport::Cli).await?;
            let status = match status {
                Some(raw) => Some(
                    serde_json::from_value(Value::String(raw.clone())).map_err(|e| Failure::Usage(e.to_string()))?,
                ),
                None => None,
            };
            let params = SessionListParams {
                status,
                plan_slug: plan.clone(),
                limit: Some((*limit).clamp(1, 1000)),
                cursor: cursor.clone(),
            };
            let list = service.session_list(&me, params).await?;
            if json {
                print_json(out, &list)?;
            } else {
                let rows = list
                    .sessions
                    .iter()
                    .map(|s| {
                        vec![
                            s.session_id.clone(),
                            s.agent_type.clone(),
                            text(&s.status),
                            opt(s.plan.as_deref()),
                            s.duration.clone(),
                            s.last_active_at.clone(),
                            if s.has_handoff { "yes".into() } else { "-".into() },
                        ]
                    })
                    .collect();
                table(out, &["session", "agent", "status", "plan", "duration", "last active", "handoff"], rows)?;
                if list.sessions.is_empty() {
                    writeln!(out, "No sessions in workspace {workspace}.")?;
                }
                next_page(out, list.next_cursor.as_deref())?;
            }
        }
        SessionCommand::Show { id, workspace } => {
            let me = service.owner_principal(workspace, Transport::Cli).await?;
            let params = SessionReplayParams { session_id: id.clone(), ..SessionReplayParams::default() };
            let replay = service.session_replay(&me, params).await?.replay_context;
            if json {
                print_json(out, &replay)?;
                return Ok(exit::SUCCESS);
            }
            writeln!(
                out,
                "Session {} ({}), {}, {}",
                replay.session_id,
                replay.agent_type,
                text(&replay.status),
                replay.duration
            )?;
            if let Some(plan) = &replay.plan {
                writeln!(out, "Plan: {} ({})", plan.slug, plan.title)?;
            }
            writeln!(out, "Started {}, last active {}", replay.started_at, replay.last_active_at)?;
            writeln!(out, "Progress: {}", replay.progress_summary.summary)?;
            if let Some(notes) = &replay.handoff_notes {
                writeln!(out, "\nHandoff: {}", notes.summary)?;
                for step in &notes.next_steps {
                    writeln!(out, "  next: {step}")?;
                }
                for blocker in &notes.blockers {
                    writeln!(out, "  blocker: {blocker}")?;
                }
            }
            if let Some(summary) = &replay.final_summary {
                writeln!(out, "\nFinal summary: {summary}")?;
            }
            if !replay.recent_actions.is_empty() {
                writeln!(out, "\nRecent actions (newest first):")?;
                let rows = replay
                    .recent_actions
                    .iter()
                    .map(|a| vec![a.timestamp.clone(), text(&a.kind), a.message.clone()])
                    .collect();
                table(out, &["time", "type", "message"], rows)?;
            }
            if !replay.artifacts.is_empty() {
                writeln!(out, "\nArtifacts:")?;
                let rows = replay.artifacts.iter().map(|a| vec![text(&a.action), a.path.clone()]).collect();
                table(out, &["action", "path"], rows)?;
            }
        }
        SessionCommand::Sweep { idle_hours } => {
            let swept = service.sweep_stale_sessions(Duration::from_secs(idle_hours.saturating_mul(3600))).await?;
            if json {
                print_json(out, &json!({ "swept": swept, "idle_hours": idle_hours }))?;
            } else {
                writeln!(out, "Marked {swept} session(s) idle for more than {idle_hours} h as failed.")?;
            }
        }
    }
    Ok(exit::SUCCESS)
}

//! `audit tail [--follow]`.

use std::io::{self, Write};
use std::time::Duration;

use waymark_core::Service;
use waymark_core::audit::{AuditEntryView, AuditQuery};

use super::Outcome;
use crate::args::AuditCommand;
use crate::exit;
use crate::render::{opt, table};

fn audit_rows(entries: &[AuditEntryView]) -> Vec<Vec<String>> {
    entries
        .iter()
        .rev()
        .map(|e| {
            vec![
                e.occurred_at.clone(),
                opt(e.workspace.as_deref()),
                e.transport.clone(),
                e.tool.clone(),
                e.outcome.clone(),
                opt(e.error_code.as_deref()),
                format!("{} ms", e.duration_ms),
            ]
        })
        .collect()
}

pub(super) async fn run(service: &Service, cmd: &AuditCommand, json: bool, out: &mut dyn Write) -> Outcome {
    match cmd {
        AuditCommand::Tail { limit, tool, workspace, follow } => {
            tail(service, *limit, tool, workspace, *follow, json, out).await
        }
        AuditCommand::Stats { days, tool, workspace } => {
            let stats = service.audit_stats(*days, workspace.as_deref(), tool.as_deref()).await?;
            if json {
                crate::render::json(out, &stats)?;
            } else {
                let rows = stats
                    .iter()
                    .map(|s| {
                        vec![
                            s.day.clone(),
                            opt(s.workspace.as_deref()),
                            s.tool.clone(),
                            s.calls.to_string(),
                            s.errors.to_string(),
                            format!("{} ms", s.avg_duration_ms),
                        ]
                    })
                    .collect();
                table(out, &["day", "workspace", "tool", "calls", "errors", "avg"], rows)?;
                if stats.is_empty() {
                    writeln!(out, "No tool calls in the last {days} day(s).")?;
                }
            }
            Ok(exit::SUCCESS)
        }
    }
}

async fn tail(
    service: &Service,
    limit: u64,
    tool: &Option<String>,
    workspace: &Option<String>,
    follow: bool,
    json: bool,
    out: &mut dyn Write,
) -> Outcome {
    let mut query = AuditQuery { workspace: workspace.clone(), tool: tool.clone(), after_id: None, limit };
    let headers = ["time", "workspace", "transport", "tool", "outcome", "code", "duration"];
    let entries = service.audit_tail(&query).await?;
    if json {
        for e in entries.iter().rev() {
            writeln!(out, "{}", serde_json::to_string(e).map_err(io::Error::other)?)?;
        }
    } else {
        table(out, &headers, audit_rows(&entries))?;
    }
    if !follow {
        return Ok(exit::SUCCESS);
    }
    query.after_id = entries.first().map(|e| e.id.clone());
    query.limit = 1000;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let new = service.audit_tail(&query).await?;
        if let Some(newest) = new.first() {
            query.after_id = Some(newest.id.clone());
        }
        for e in new.iter().rev() {
            if json {
                writeln!(out, "{}", serde_json::to_string(e).map_err(io::Error::other)?)?;
            } else {
                writeln!(out, "{}", audit_rows(std::slice::from_ref(e))[0].join("  "))?;
            }
        }
        out.flush()?;
    }
}

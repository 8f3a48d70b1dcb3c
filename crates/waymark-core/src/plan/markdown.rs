//! `plan_get` with `format: markdown`: the original's layout (seed-000 §2.2), with task
//! progress added to the status line.

use std::fmt::Write;

use serde_json::Value;
use waymark_domain::{PhaseStatus, TaskStatus};

use super::Loaded;
use crate::view::{object, progress};

fn phase_icon(status: PhaseStatus) -> &'static str {
    match status {
        PhaseStatus::Completed => "✅",
        PhaseStatus::InProgress => "🔄",
        PhaseStatus::Blocked => "🚫",
        PhaseStatus::Skipped => "⏭️",
        PhaseStatus::Pending => "⬜",
    }
}

fn task_icon(status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Completed => "✅",
        TaskStatus::InProgress => "🔄",
        TaskStatus::Blocked => "🚫",
        TaskStatus::Skipped => "⏭️",
        TaskStatus::Pending => "⬜",
    }
}

/// Renders a plan as markdown.
pub(super) fn render(loaded: &Loaded) -> String {
    let Loaded { plan, phases, tasks } = loaded;
    let p = progress(phases, tasks);
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", plan.title);
    if let Some(description) = plan.description.as_deref().filter(|d| !d.trim().is_empty()) {
        let _ = writeln!(out, "{description}\n");
    }
    let _ = writeln!(
        out,
        "**Status:** {} | **Progress:** {}% ({}/{} tasks, {}/{} phases)\n",
        plan.status.as_str(),
        p.percentage,
        p.tasks.completed + p.tasks.skipped,
        p.tasks.total,
        p.phases.completed + p.phases.skipped,
        p.phases.total
    );
    let context = object(&plan.context);
    if !context.is_empty() {
        out.push_str("## Context\n\n");
        match context.get("markdown") {
            Some(Value::String(md)) => {
                let _ = writeln!(out, "{}\n", md.trim_end());
            }
            _ => {
                let pretty = serde_json::to_string_pretty(&Value::Object(context)).unwrap_or_default();
                let _ = writeln!(out, "```json\n{pretty}\n```\n");
            }
        }
    }
    if !phases.is_empty() {
        out.push_str("## Phases\n\n");
    }
    for phase in phases {
        let _ = writeln!(out, "### {} Phase {}: {}\n", phase_icon(phase.status), phase.order, phase.name);
        if let Some(description) = phase.description.as_deref().filter(|d| !d.trim().is_empty()) {
            let _ = writeln!(out, "{description}\n");
        }
        let own: Vec<_> = tasks.iter().filter(|t| t.phase_id == phase.id).collect();
        for task in &own {
            let _ = writeln!(out, "- {} {}", task_icon(task.status), task.name);
        }
        if !own.is_empty() {
            out.push('\n');
        }
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out.push('\n');
    out
}

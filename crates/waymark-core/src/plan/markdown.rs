//! `plan_get` with `format: markdown`: the original's layout (seed-000 §2.2), with task
//! progress added to the status line, bounded like the JSON: the header on the first page,
//! then the phases that fit, with a line naming the call for whatever was left out.

use std::fmt::Write;

use serde_json::Value;
use waymark_domain::{PhaseStatus, TaskStatus};

use super::Outline;
use crate::view::budget::clip;
use crate::view::{PhaseView, object, progress};

/// Bytes of the plan's description and context on the markdown page.
const DESCRIPTION_BYTES: usize = 4_000;
const CONTEXT_BYTES: usize = 16_000;

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

/// The title, description, status line and context (a later page: the title only).
pub(super) fn header(o: &Outline, continued: bool, truncated: &mut bool) -> String {
    let Outline { plan, phases, counts } = o;
    let mut out = String::new();
    if continued {
        let _ = writeln!(out, "# {} (continued)\n", plan.title);
        out.push_str("## Phases\n\n");
        return out;
    }
    let p = progress(phases, counts);
    let _ = writeln!(out, "# {}\n", plan.title);
    if let Some(description) = plan.description.as_deref().filter(|d| !d.trim().is_empty()) {
        let (description, cut) = clip(description, DESCRIPTION_BYTES);
        *truncated |= cut;
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
        let text = match context.get("markdown") {
            Some(Value::String(md)) => md.trim_end().to_owned(),
            _ => {
                let pretty = serde_json::to_string_pretty(&Value::Object(context)).unwrap_or_default();
                format!("```json\n{pretty}\n```")
            }
        };
        let (text, cut) = clip(&text, CONTEXT_BYTES);
        *truncated |= cut;
        let _ = writeln!(out, "{text}\n");
    }
    if !phases.is_empty() {
        out.push_str("## Phases\n\n");
    }
    out
}

/// One phase with the tasks its view shows, and the call for the rest.
pub(super) fn phase(slug: &str, view: &PhaseView) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### {} Phase {}: {}\n", phase_icon(view.status.0), view.order, view.name);
    if let Some(description) = view.description.as_deref().filter(|d| !d.trim().is_empty()) {
        let _ = writeln!(out, "{description}\n");
    }
    for task in &view.tasks {
        let _ = writeln!(out, "- {} {}", task_icon(task.status.0), task.name);
    }
    if let Some(next) = &view.tasks_next_cursor {
        let shown = view.tasks.len() as u32;
        let _ = writeln!(
            out,
            "- … {} more tasks: phase_get {{\"plan_slug\": \"{slug}\", \"phase\": {}, \"cursor\": \"{next}\"}}",
            view.task_progress.total.saturating_sub(shown + view.tasks.first().map_or(0, |t| t.index)),
            view.order
        );
    }
    if !view.tasks.is_empty() {
        out.push('\n');
    }
    out
}

/// The line naming the call for the phases after `last`.
pub(super) fn more_phases(out: &mut String, slug: &str, left: usize, last: u32, next: &str) {
    let _ = writeln!(
        out,
        "… {left} more phases after phase {last}: plan_get {{\"slug\": \"{slug}\", \"format\": \"markdown\", \"cursor\": \"{next}\"}}"
    );
}

/// Ends the document with exactly one newline.
pub(super) fn finish(mut out: String) -> String {
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out.push('\n');
    out
}

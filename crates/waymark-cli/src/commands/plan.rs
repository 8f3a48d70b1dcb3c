//! `plan list`, `plan show`.

use std::io::Write;

use serde_json::Value;
use waymark_core::plan::{PlanFormat, PlanGetParams, PlanListParams};
use waymark_core::{Service, Transport};

use super::{Failure, Outcome};
use crate::args::PlanCommand;
use crate::exit;
use crate::render::{json as print_json, next_page, table};

pub(super) async fn run(service: &Service, cmd: &PlanCommand, json: bool, out: &mut dyn Write) -> Outcome {
    match cmd {
        PlanCommand::List { workspace, status, include_archived, limit, cursor } => {
            let me = service.owner_principal(workspace, Transport::Cli).await?;
            let status = match status {
                Some(raw) => Some(
                    serde_json::from_value(Value::String(raw.clone())).map_err(|e| Failure::Usage(e.to_string()))?,
                ),
                None => None,
            };
            let params = PlanListParams {
                status,
                include_archived: Some(*include_archived),
                limit: Some((*limit).clamp(1, 1000)),
                cursor: cursor.clone(),
            };
            let list = service.plan_list(&me, params).await?;
            if json {
                print_json(out, &list)?;
            } else {
                let rows = list
                    .plans
                    .iter()
                    .map(|p| {
                        let status = serde_json::to_value(p.status)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default();
                        vec![
                            p.slug.clone(),
                            p.title.clone(),
                            status,
                            format!("{}%", p.progress.percentage),
                            format!(
                                "{}/{}",
                                p.progress.tasks.completed + p.progress.tasks.skipped,
                                p.progress.tasks.total
                            ),
                            p.updated_at.clone(),
                        ]
                    })
                    .collect();
                table(out, &["slug", "title", "status", "progress", "tasks", "updated"], rows)?;
                if list.plans.is_empty() {
                    writeln!(out, "No plans in workspace {workspace}.")?;
                }
                next_page(out, list.next_cursor.as_deref())?;
            }
        }
        PlanCommand::Show { slug, workspace, cursor } => {
            let me = service.owner_principal(workspace, Transport::Cli).await?;
            let format = if json { PlanFormat::Json } else { PlanFormat::Markdown };
            let params = PlanGetParams { slug: slug.clone(), format: Some(format), cursor: cursor.clone() };
            let view = service.plan_get(&me, params).await?;
            match (&view.plan, &view.markdown) {
                (Some(plan), _) => {
                    // The plan itself, as before; on a large plan also where the next page starts.
                    let mut plan = serde_json::to_value(plan).map_err(|e| Failure::Usage(e.to_string()))?;
                    if let (Some(next), Some(fields)) = (&view.next_cursor, plan.as_object_mut()) {
                        fields.insert("next_cursor".into(), Value::String(next.clone()));
                    }
                    print_json(out, &plan)?;
                }
                (None, Some(markdown)) => {
                    write!(out, "{markdown}")?;
                    next_page(out, view.next_cursor.as_deref())?;
                }
                (None, None) => {}
            }
        }
    }
    Ok(exit::SUCCESS)
}

//! `state list`, `state get`.

use std::io::Write;

use waymark_core::state::{StateGetParams, StateListParams};
use waymark_core::{Service, Transport};

use super::Outcome;
use crate::args::StateCommand;
use crate::exit;
use crate::render::{json as print_json, next_page, opt, table};

pub(super) async fn run(service: &Service, cmd: &StateCommand, json: bool, out: &mut dyn Write) -> Outcome {
    match cmd {
        StateCommand::List { plan, workspace, category, limit, cursor } => {
            let me = service.owner_principal(workspace, Transport::Cli).await?;
            let params = StateListParams {
                plan_slug: plan.clone(),
                category: category.clone(),
                limit: Some((*limit).clamp(1, 1000)),
                cursor: cursor.clone(),
            };
            let list = service.state_list(&me, params).await?;
            if json {
                print_json(out, &list)?;
            } else {
                let rows = list
                    .states
                    .iter()
                    .map(|s| {
                        let mut value = s.value.to_string();
                        if value.chars().count() > 60 {
                            value = format!("{}…", value.chars().take(59).collect::<String>());
                        }
                        vec![
                            s.key.clone(),
                            s.category.clone(),
                            opt(s.description.as_deref()),
                            value,
                            s.updated_at.clone(),
                        ]
                    })
                    .collect();
                table(out, &["key", "category", "description", "value", "updated"], rows)?;
                if list.states.is_empty() {
                    writeln!(out, "No values stored with plan {plan}.")?;
                }
                next_page(out, list.next_cursor.as_deref())?;
            }
        }
        StateCommand::Get { plan, key, workspace } => {
            let me = service.owner_principal(workspace, Transport::Cli).await?;
            let params = StateGetParams { plan_slug: plan.clone(), key: key.clone(), cursor: None };
            let mut got = service.state_get(&me, params).await?;
            // A value too large for one result comes in parts: read them all and print it whole.
            if let Some(first) = got.value_text.take() {
                let mut text = first;
                let mut next = got.next_cursor.take();
                while let Some(cursor) = next {
                    let params = StateGetParams { plan_slug: plan.clone(), key: key.clone(), cursor: Some(cursor) };
                    let part = service.state_get(&me, params).await?;
                    text.push_str(part.value_text.as_deref().unwrap_or_default());
                    next = part.next_cursor;
                }
                got.state.value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
                got.state.truncated = false;
                got.value_size_bytes = None;
            }
            if json {
                print_json(out, &got)?;
            } else {
                match got.state.value.as_str() {
                    Some(text) => writeln!(out, "{text}")?,
                    None => print_json(out, &got.state.value)?,
                }
            }
        }
    }
    Ok(exit::SUCCESS)
}

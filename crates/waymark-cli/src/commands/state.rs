//! `state list`, `state get`.

use std::io::Write;

use waymark_core::state::{StateKeyParams, StateListParams};
use waymark_core::{Service, Transport};

use super::Outcome;
use crate::args::StateCommand;
use crate::exit;
use crate::render::{json as print_json, opt, table};

pub(super) async fn run(service: &Service, cmd: &StateCommand, json: bool, out: &mut dyn Write) -> Outcome {
    match cmd {
        StateCommand::List { plan, workspace, category } => {
            let me = service.owner_principal(workspace, Transport::Cli).await?;
            let params = StateListParams {
                plan_slug: plan.clone(),
                category: category.clone(),
                limit: Some(1000),
                cursor: None,
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
            }
        }
        StateCommand::Get { plan, key, workspace } => {
            let me = service.owner_principal(workspace, Transport::Cli).await?;
            let got = service.state_get(&me, StateKeyParams { plan_slug: plan.clone(), key: key.clone() }).await?;
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

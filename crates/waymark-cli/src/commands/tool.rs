//! `tool list`, `tool call`.

use std::io::Write;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use waymark_core::{CallError, Service, Transport};

use super::{Failure, Outcome};
use crate::args::ToolCommand;
use crate::exit;
use crate::render::{json as print_json, table};

pub(super) async fn run(service: &Service, cmd: &ToolCommand, json: bool, out: &mut dyn Write) -> Outcome {
    match cmd {
        ToolCommand::List => {
            let tools = service.catalogue().tools();
            if json {
                let list: Vec<Value> = tools
                    .iter()
                    .map(|t| {
                        json!({
                            "name": t.name,
                            "category": t.category.as_str(),
                            "scope": t.scope.as_str(),
                            "description": t.description,
                            "annotations": t.annotations,
                            "inputSchema": *t.input_schema,
                            "outputSchema": *t.output_schema,
                        })
                    })
                    .collect();
                print_json(out, &list)?;
            } else {
                let rows = tools
                    .iter()
                    .map(|t| {
                        vec![
                            t.name.to_owned(),
                            t.category.as_str().to_owned(),
                            t.scope.as_str().to_owned(),
                            t.description.to_owned(),
                        ]
                    })
                    .collect();
                table(out, &["name", "category", "scope", "description"], rows)?;
            }
            Ok(exit::SUCCESS)
        }
        ToolCommand::Call { name, args, workspace } => {
            let arguments: Value =
                serde_json::from_str(args).map_err(|e| Failure::Usage(format!("--args is not valid JSON: {e}")))?;
            if service.catalogue().get(name).is_none() {
                return Err(Failure::Usage(format!("Unknown tool: {name} (see `waymark tool list`)")));
            }
            let me = service.owner_principal(workspace, Transport::Cli).await?;
            let result = match service.call_tool(&me, name, arguments, &CancellationToken::new()).await {
                Ok(result) => result,
                Err(CallError::UnknownTool(name)) => {
                    return Err(Failure::Usage(format!("Unknown tool: {name} (see `waymark tool list`)")));
                }
                Err(CallError::Cancelled) => return Ok(exit::FAILURE),
            };
            service.flush_audit().await;
            print_json(out, &Value::Object(result.structured.clone()))?;
            Ok(if result.is_error { exit::FAILURE } else { exit::SUCCESS })
        }
    }
}

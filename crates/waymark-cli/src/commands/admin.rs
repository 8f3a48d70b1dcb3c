//! `migrate`, `status`, `workspace …`, `key …`.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use serde_json::{Value, json};
use waymark_core::Service;
use waymark_core::auth::{DEFAULT_RATE_LIMIT, NewKey};

use super::{Failure, Outcome};
use crate::args::{KeyCommand, WorkspaceCommand};
use crate::exit;
use crate::render::{json as print_json, opt, table};

pub(super) async fn migrate(service: &Service, json: bool, out: &mut dyn Write) -> Outcome {
    let ready = service.readiness().await;
    if json {
        print_json(out, &json!({ "backend": service.backend(), "pending_migrations": ready.pending_migrations }))?;
    } else {
        writeln!(out, "The {} database schema is up to date.", service.backend())?;
    }
    Ok(exit::SUCCESS)
}

/// Where `status` looks for a server when neither `--server` nor `server.listen` says.
pub(super) const DEFAULT_SERVER: &str = "127.0.0.1:7410";

/// The address to connect to for a listen address: a server on a wildcard address
/// (`0.0.0.0`, `[::]`) is reached on loopback.
fn connect_address(listen: &str) -> String {
    match listen.parse::<SocketAddr>() {
        Ok(addr) if addr.ip().is_unspecified() => {
            let ip = if addr.is_ipv4() { IpAddr::V4(Ipv4Addr::LOCALHOST) } else { IpAddr::V6(Ipv6Addr::LOCALHOST) };
            SocketAddr::new(ip, addr.port()).to_string()
        }
        _ => listen.to_owned(),
    }
}

/// Asks the server at `address` (`HOST:PORT`, names resolved) for `/readyz` (its readiness,
/// database id and circuit breakers); `None` when nothing answers with JSON within a second.
async fn probe_server(address: &str) -> Option<Value> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
        let request = format!("GET /readyz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.ok()?;
        let text = String::from_utf8_lossy(&raw);
        let (_, body) = text.split_once("\r\n\r\n")?;
        serde_json::from_str::<Value>(body).ok()
    };
    tokio::time::timeout(Duration::from_secs(1), attempt).await.ok().flatten()
}

pub(super) async fn status(
    service: &Service,
    database_url: &str,
    server: &str,
    json: bool,
    out: &mut dyn Write,
) -> Outcome {
    let ready = service.readiness().await;
    let workspaces = service.list_workspaces().await?;
    let database_id = service.database_id().await?;
    let address = connect_address(server);
    let answer = probe_server(&address).await;
    let serves_this_database =
        answer.as_ref().map(|r| r.get("database_id").and_then(Value::as_str) == Some(database_id.as_str()));
    let ours = answer.as_ref().filter(|_| serves_this_database == Some(true));
    let value = json!({
        "version": waymark_core::VERSION,
        "backend": service.backend(),
        "database": waymark_core::redact_database_url(database_url),
        "database_id": database_id,
        "database_reachable": ready.database_reachable,
        "pending_migrations": ready.pending_migrations,
        "workspaces": workspaces.len(),
        "tools": service.catalogue().tools().len(),
        "templates": service.templates().templates().len(),
        "server": {
            "address": address,
            "running": ours.is_some(),
            "serves_this_database": serves_this_database,
            "status": ours.and_then(|r| r.get("status")).cloned(),
            "breakers": ours.and_then(|r| r.get("breakers")).cloned(),
        },
    });
    if json {
        print_json(out, &value)?;
        return Ok(exit::SUCCESS);
    }
    let mut rows: Vec<Vec<String>> = value
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| *k != "server")
                .map(|(k, v)| vec![k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)])
                .collect()
        })
        .unwrap_or_default();
    match (&answer, ours) {
        (_, Some(r)) => {
            let status = r.get("status").and_then(Value::as_str).unwrap_or("unknown");
            rows.push(vec!["server".into(), format!("running at {address} ({status})")]);
            for b in r.get("breakers").and_then(Value::as_array).into_iter().flatten() {
                rows.push(vec![
                    format!("breaker {}", b.get("service").and_then(Value::as_str).unwrap_or("?")),
                    format!(
                        "{} ({}/{} failures)",
                        b.get("state").and_then(Value::as_str).unwrap_or("?"),
                        b.get("failures").unwrap_or(&Value::Null),
                        b.get("threshold").unwrap_or(&Value::Null)
                    ),
                ]);
            }
        }
        (Some(_), None) => rows
            .push(vec!["server".into(), format!("not running at {address}: the server there serves another database")]),
        (None, None) => rows.push(vec!["server".into(), format!("not running at {address}")]),
    }
    table(out, &["field", "value"], rows)?;
    Ok(exit::SUCCESS)
}

pub(super) async fn workspace(service: &Service, cmd: &WorkspaceCommand, json: bool, out: &mut dyn Write) -> Outcome {
    match cmd {
        WorkspaceCommand::Create { name } => {
            let ws = service.create_workspace(name).await?;
            if json {
                print_json(out, &ws)?;
            } else {
                writeln!(out, "Created workspace {} ({}).", ws.name, ws.id)?;
            }
        }
        WorkspaceCommand::List => {
            let list = service.list_workspaces().await?;
            if json {
                print_json(out, &list)?;
            } else {
                let rows = list.into_iter().map(|w| vec![w.name, w.id, w.created_at]).collect();
                table(out, &["name", "id", "created"], rows)?;
            }
        }
    }
    Ok(exit::SUCCESS)
}

pub(super) async fn key(service: &Service, cmd: &KeyCommand, json: bool, out: &mut dyn Write) -> Outcome {
    match cmd {
        KeyCommand::Create { workspace, scopes, name, expires_in, rate_limit, tools } => {
            let scopes = waymark_core::parse_scopes(scopes).map_err(Failure::Service)?;
            let created = service
                .create_key(NewKey {
                    workspace: workspace.clone(),
                    name: name.clone(),
                    scopes,
                    expires_in_days: *expires_in,
                    rate_limit_per_minute: if *rate_limit == 0 { DEFAULT_RATE_LIMIT } else { *rate_limit },
                    tools: tools.clone(),
                })
                .await?;
            if json {
                let mut value = serde_json::to_value(&created.view).map_err(io::Error::other)?;
                value["key"] = Value::String(created.key);
                print_json(out, &value)?;
            } else {
                writeln!(out, "{}", created.key)?;
                writeln!(
                    out,
                    "\nAPI key {} for workspace {} (scopes {}). Store it now: it cannot be shown again.",
                    created.view.id, created.view.workspace, created.view.scopes
                )?;
            }
        }
        KeyCommand::List { workspace } => {
            let keys = service.list_keys(workspace.as_deref()).await?;
            if json {
                print_json(out, &keys)?;
            } else {
                let rows = keys
                    .into_iter()
                    .map(|k| {
                        vec![
                            k.id,
                            k.workspace,
                            k.name,
                            k.prefix,
                            k.scopes,
                            k.status.to_owned(),
                            k.created_at,
                            opt(k.expires_at.as_deref()),
                        ]
                    })
                    .collect();
                table(out, &["id", "workspace", "name", "prefix", "scopes", "status", "created", "expires"], rows)?;
            }
        }
        KeyCommand::Revoke { id } => {
            let key = service.revoke_key(id).await?;
            if json {
                print_json(out, &key)?;
            } else {
                writeln!(out, "Revoked {} ({}, workspace {}).", key.id, key.name, key.workspace)?;
            }
        }
    }
    Ok(exit::SUCCESS)
}

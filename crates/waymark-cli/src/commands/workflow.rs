//! `workflow list`, `start [--wait]`, `result`, `history [--follow]`, `show`, and the
//! operator's `signal`, `cancel`, `terminate` and `repair`.
//!
//! Reads go through the service methods behind the MCP workflow tools, so `--json` prints what
//! an agent sees; `show`, `--wait` and `--follow` use the core's operator reads for what the
//! tools do not carry (activities with their attempts, the events after a sequence).
//! `start --wait` runs the workflow workers in this process while it waits, so the run
//! completes without a `waymark serve`.

use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::time::Instant;
use waymark_core::workflow::{
    ArgumentView, CommandView, FailureView, GetWorkflowHistoryParams, GetWorkflowResultParams, HistoryEventView,
    ListWorkflowsParams, OperatorCommand, StartWorkflowParams, StartWorkflowView, WorkflowResultView, WorkflowShowView,
};
use waymark_core::{ErrorCode, Principal, Service, ServiceError, Transport};
use waymark_engine::{CommandOutcome, CommandStatus, DuplicateStartPolicy, RunStatus};

use super::{Failure, Outcome};
use crate::args::{DuplicatePolicy, WorkflowCommand, WorkflowStartArgs};
use crate::exit;
use crate::render::{json as print_json, opt, table};

/// Recorded as the source of every command the CLI sends.
const SOURCE: &str = "cli";
/// How often `--wait` and `--follow` look for new events.
const POLL: Duration = Duration::from_millis(250);
/// How long `start --wait` lets running activities finish before it hands their leases back.
const WORKER_GRACE: Duration = Duration::from_secs(2);
/// Events read at a time while following a run.
const EVENTS_PER_READ: u64 = 1000;

pub(super) async fn run(
    service: &Service,
    cmd: &WorkflowCommand,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Outcome {
    match cmd {
        WorkflowCommand::List { workspace, recent, limit, status, cursor } => {
            list(service, workspace, (*recent, cursor.clone()), *limit, status.as_deref(), json, out).await
        }
        WorkflowCommand::Start(args) => start(service, args, json, out, err).await,
        WorkflowCommand::Result { workflow_id, run, wait, workspace } => {
            let me = service.owner_principal(workspace, Transport::Cli).await?;
            let params = GetWorkflowResultParams {
                workflow_id: workflow_id.clone(),
                run_id: run.clone(),
                wait_seconds: Some(*wait),
                ..GetWorkflowResultParams::default()
            };
            let mut view = service.get_workflow_result(&me, params.clone()).await?;
            whole_output(service, &me, &params, &mut view).await?;
            if json {
                print_json(out, &view)?;
            } else {
                print_result(out, &view)?;
            }
            if !view.found {
                writeln!(err, "error: {}", not_found_message(workflow_id, run.as_deref()))?;
                return Ok(exit::FAILURE);
            }
            result_exit_code(&view, *wait, err)
        }
        WorkflowCommand::History { workflow_id, run, limit, payloads, follow, workspace } => {
            let me = service.owner_principal(workspace, Transport::Cli).await?;
            let page = HistoryRequest { workflow_id, run: run.as_deref(), limit: *limit, payloads: *payloads };
            history(service, &me, &page, *follow, json, out, err).await
        }
        WorkflowCommand::Show { workflow_id, run, workspace } => {
            let me = service.owner_principal(workspace, Transport::Cli).await?;
            show(service, &me, workflow_id, run.as_deref(), json, out).await
        }
        WorkflowCommand::Signal { workflow_id, name, arg, workspace } => {
            let arguments = arg.as_deref().map(|raw| parse_json("--arg", raw)).transpose()?.unwrap_or(Value::Null);
            let me = service.owner_principal(workspace, Transport::Cli).await?;
            let receipt = service.workflow_signal(&me, workflow_id, name, arguments, SOURCE).await?;
            print_receipt(workflow_id, "signal", receipt, json, out, err)
        }
        WorkflowCommand::Cancel { workflow_id, reason, workspace } => {
            let me = service.owner_principal(workspace, Transport::Cli).await?;
            let receipt =
                service.workflow_operate(&me, workflow_id, OperatorCommand::Cancel, reason.as_deref(), SOURCE).await?;
            print_receipt(workflow_id, "cancel", receipt, json, out, err)
        }
        WorkflowCommand::Terminate { workflow_id, reason, workspace } => {
            let me = service.owner_principal(workspace, Transport::Cli).await?;
            let receipt = service
                .workflow_operate(&me, workflow_id, OperatorCommand::Terminate, reason.as_deref(), SOURCE)
                .await?;
            print_receipt(workflow_id, "terminate", receipt, json, out, err)
        }
        WorkflowCommand::Repair { workflow_id, workspace } => {
            let me = service.owner_principal(workspace, Transport::Cli).await?;
            let receipt = service.workflow_operate(&me, workflow_id, OperatorCommand::Repair, None, SOURCE).await?;
            print_receipt(workflow_id, "repair", receipt, json, out, err)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Arguments

/// Parses one JSON value given on the command line; bad JSON is a usage error.
fn parse_json(flag: &str, raw: &str) -> Result<Value, Failure> {
    serde_json::from_str(raw).map_err(|e| {
        Failure::Usage(format!("{flag} {raw} is not valid JSON ({e}); strings need quotes, e.g. {flag} '\"text\"'"))
    })
}

/// Parses a JSON object given on the command line.
fn parse_object(flag: &str, raw: &str) -> Result<Map<String, Value>, Failure> {
    match parse_json(flag, raw)? {
        Value::Object(map) => Ok(map),
        _ => Err(Failure::Usage(format!("{flag} must be a JSON object, e.g. {flag} '{{\"key\":\"value\"}}'"))),
    }
}

/// Parses `--search-attr KEY=JSON` flags into one object.
fn parse_search_attributes(raw: &[String]) -> Result<Option<Map<String, Value>>, Failure> {
    if raw.is_empty() {
        return Ok(None);
    }
    let mut attributes = Map::new();
    for item in raw {
        let Some((key, value)) = item.split_once('=').filter(|(k, _)| !k.trim().is_empty()) else {
            return Err(Failure::Usage(format!(
                "--search-attr {item} is not KEY=JSON, e.g. --search-attr 'region=\"eu\"'"
            )));
        };
        let value = serde_json::from_str(value).map_err(|e| {
            Failure::Usage(format!(
                "--search-attr {item}: the value is not valid JSON ({e}); strings need quotes, e.g. {key}='\"text\"'"
            ))
        })?;
        attributes.insert(key.trim().to_owned(), value);
    }
    Ok(Some(attributes))
}

fn parse_status(raw: &str) -> Result<RunStatus, Failure> {
    RunStatus::parse(raw).ok_or_else(|| {
        let all: Vec<&str> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
        Failure::Usage(format!("--status must be one of: {}", all.join(", ")))
    })
}

fn not_found_message(workflow_id: &str, run: Option<&str>) -> String {
    match run {
        Some(run) => format!("Workflow {workflow_id} has no run {run}."),
        None => format!("Workflow {workflow_id} not found."),
    }
}

/// `workflow result`'s exit code: 0 when the run completed, 1 when it closed otherwise
/// (failed, cancelled, terminated, timed out), [`exit::STILL_OPEN`] when it is still open.
fn result_exit_code(view: &WorkflowResultView, waited: u32, err: &mut dyn Write) -> Outcome {
    let Some(d) = &view.details else { return Ok(exit::FAILURE) };
    let id = &view.workflow_id;
    match RunStatus::parse(&d.status) {
        Some(RunStatus::Completed) => Ok(exit::SUCCESS),
        Some(status) if status.is_terminal() => {
            let reason = d.closed_reason.map(|r| r.as_str()).filter(|r| *r != d.status);
            match reason {
                Some(reason) => writeln!(err, "error: workflow {id} ended {status} ({reason}), not completed.")?,
                None => writeln!(err, "error: workflow {id} ended {status}, not completed.")?,
            }
            Ok(exit::FAILURE)
        }
        _ => {
            let waited = if waited == 0 { String::new() } else { format!(" after waiting {waited} s") };
            writeln!(
                err,
                "Workflow {id} is still {}{waited}; it goes on (`waymark workflow result {id} --wait 25` waits for it).",
                d.status
            )?;
            Ok(exit::STILL_OPEN)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering

/// A value as one line of compact JSON.
fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// `text` cut to `max` characters, with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    format!("{}…", text.chars().take(max.saturating_sub(1)).collect::<String>())
}

fn yes_no(flag: bool) -> String {
    if flag { "yes".to_owned() } else { "no".to_owned() }
}

fn argument_list(arguments: &[ArgumentView]) -> String {
    if arguments.is_empty() {
        return "-".to_owned();
    }
    let shown: Vec<String> =
        arguments.iter().map(|a| format!("{}{}: {}", a.name, if a.required { "" } else { "?" }, a.kind)).collect();
    shown.join(", ")
}

/// `get_workflow_result` as field/value rows; nothing when not found.
fn print_result(out: &mut dyn Write, view: &WorkflowResultView) -> io::Result<()> {
    let Some(d) = &view.details else { return Ok(()) };
    let run_id = opt(view.run_id.as_deref());
    let mut rows = vec![vec!["workflow_id".to_owned(), view.workflow_id.clone()]];
    if d.current_run_is_selected {
        rows.push(vec!["run_id".to_owned(), run_id]);
    } else {
        rows.push(vec![
            "run_id".to_owned(),
            format!("{run_id} (not the current run: {})", opt(d.current_run_id.as_deref())),
        ]);
    }
    rows.push(vec!["type".to_owned(), d.workflow_type.clone()]);
    let status = match d.closed_reason.map(|r| r.as_str()).filter(|r| *r != d.status) {
        Some(reason) => format!("{} ({reason})", d.status),
        None => d.status.clone(),
    };
    rows.push(vec!["status".to_owned(), status]);
    if let Some(wait) = d.wait_kind {
        rows.push(vec!["waiting for".to_owned(), wait.to_string()]);
    }
    if let Some(problem) = d.task_problem {
        rows.push(vec![
            "task_problem".to_owned(),
            format!("{problem} (fix the cause, then `waymark workflow repair {}`)", view.workflow_id),
        ]);
    }
    if let Some(key) = &d.business_key {
        rows.push(vec!["business_key".to_owned(), key.clone()]);
    }
    if let Some(output) = &d.output {
        rows.push(vec!["output".to_owned(), compact(output)]);
    }
    if let Some(e) = &d.error {
        let mut text = format!("{}: {}", e.exception_type.as_deref().unwrap_or("Error"), e.message);
        match (e.source_kind.as_deref().filter(|k| *k != "workflow"), e.source_id.as_deref()) {
            (Some(kind), Some(id)) => text.push_str(&format!(" (from {kind} {id})")),
            (Some(kind), None) => text.push_str(&format!(" (from {kind})")),
            (None, _) => {}
        }
        rows.push(vec!["error".to_owned(), text]);
    }
    if let Some(at) = &d.started_at {
        rows.push(vec!["started".to_owned(), at.clone()]);
    }
    if let Some(at) = &d.closed_at {
        rows.push(vec!["closed".to_owned(), at.clone()]);
    }
    table(out, &["field", "value"], rows)
}

fn print_receipt(
    workflow_id: &str,
    command_type: &'static str,
    command: CommandView,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Outcome {
    let view = ReceiptView { workflow_id: workflow_id.to_owned(), command_type, command };
    if json {
        print_json(out, &view)?;
    } else {
        let c = &view.command;
        let rows = vec![
            vec!["workflow_id".to_owned(), view.workflow_id.clone()],
            vec!["command".to_owned(), command_type.to_owned()],
            vec!["id".to_owned(), c.id.clone()],
            vec!["status".to_owned(), c.status.to_string()],
            vec!["outcome".to_owned(), c.outcome.to_string()],
            vec!["rejection_reason".to_owned(), opt(c.rejection_reason.as_deref())],
            vec!["sequence".to_owned(), c.sequence.map_or_else(|| "-".to_owned(), |s| s.to_string())],
        ];
        table(out, &["field", "value"], rows)?;
    }
    if view.command.status == CommandStatus::Rejected {
        let reason = view.command.rejection_reason.as_deref().unwrap_or(view.command.outcome.as_str());
        writeln!(err, "error: the {command_type} was rejected: {reason}")?;
        return Ok(exit::FAILURE);
    }
    Ok(exit::SUCCESS)
}

/// A command receipt (`signal`, `cancel`, `terminate`, `repair` with `--json`).
#[derive(Serialize)]
struct ReceiptView {
    /// The workflow the command went to.
    workflow_id: String,
    /// `signal`, `cancel`, `terminate` or `repair`.
    command_type: &'static str,
    /// The recorded command.
    #[serde(flatten)]
    command: CommandView,
}

/// An output too large for one MCP result comes in parts: an operator gets it whole.
async fn whole_output(
    service: &Service,
    me: &Principal,
    params: &GetWorkflowResultParams,
    view: &mut WorkflowResultView,
) -> Result<(), Failure> {
    let Some(details) = view.details.as_mut() else { return Ok(()) };
    let Some(mut text) = details.output_text.take() else { return Ok(()) };
    let mut next = details.next_cursor.take();
    while let Some(cursor) = next {
        let part = GetWorkflowResultParams { cursor: Some(cursor), wait_seconds: None, ..params.clone() };
        // A run gone between two parts: keep what the first result said.
        let Some(part) = service.get_workflow_result(me, part).await?.details else { return Ok(()) };
        text.push_str(part.output_text.as_deref().unwrap_or_default());
        next = part.next_cursor;
    }
    details.output = Some(serde_json::from_str(&text).unwrap_or(Value::String(text)));
    details.output_size_bytes = None;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// list

async fn list(
    service: &Service,
    workspace: &str,
    (recent, cursor): (bool, Option<String>),
    limit: u32,
    status: Option<&str>,
    json: bool,
    out: &mut dyn Write,
) -> Outcome {
    let status = status.map(parse_status).transpose()?;
    let me = service.owner_principal(workspace, Transport::Cli).await?;
    let params = ListWorkflowsParams {
        show_recent: recent || status.is_some() || cursor.is_some(),
        limit: Some(limit),
        status,
        cursor,
    };
    let list = service.list_workflows(&me, params).await?;
    if json {
        print_json(out, &list)?;
        return Ok(exit::SUCCESS);
    }
    let rows = list
        .available_workflows
        .iter()
        .map(|w| {
            vec![w.key.clone(), shorten(&w.description, 72), argument_list(&w.arguments), yes_no(w.safe_for_smoke)]
        })
        .collect();
    table(out, &["key", "description", "arguments", "smoke-safe"], rows)?;
    if list.available_workflows.is_empty() {
        writeln!(out, "No workflow is exposed to MCP ([workflows.<key>] in waymark.toml).")?;
    }
    let mut cli_only: Vec<String> = service
        .workflow_types()
        .into_iter()
        .filter(|key| !list.available_workflows.iter().any(|w| &w.key == key))
        .collect();
    cli_only.sort_unstable();
    if !cli_only.is_empty() {
        writeln!(out, "Also registered, not exposed to MCP (the CLI can start them): {}", cli_only.join(", "))?;
    }
    if let Some(runs) = &list.recent_workflows {
        writeln!(out, "\nRecent runs:")?;
        let rows = runs
            .iter()
            .map(|r| {
                vec![
                    r.workflow_id.clone(),
                    r.run_id.clone(),
                    r.workflow_type.clone(),
                    r.status.to_string(),
                    r.history_event_count.to_string(),
                    r.updated_at.clone(),
                ]
            })
            .collect();
        table(out, &["workflow_id", "run_id", "type", "status", "events", "updated"], rows)?;
        if runs.is_empty() {
            match status {
                Some(status) => writeln!(out, "No {status} workflow runs in workspace {workspace}.")?,
                None => writeln!(out, "No workflow runs in workspace {workspace}.")?,
            }
        }
        crate::render::next_page(out, list.next_cursor.as_deref())?;
    }
    Ok(exit::SUCCESS)
}

// ---------------------------------------------------------------------------------------------
// start

async fn start(
    service: &Service,
    args: &WorkflowStartArgs,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Outcome {
    let (arguments, named) = match &args.args_json {
        Some(raw) => (None, Some(parse_object("--args-json", raw)?)),
        None if args.args.is_empty() => (None, None),
        None => (Some(args.args.iter().map(|raw| parse_json("--arg", raw)).collect::<Result<Vec<_>, _>>()?), None),
    };
    let memo = args.memo.as_deref().map(|raw| parse_object("--memo", raw)).transpose()?;
    let search_attributes = parse_search_attributes(&args.search_attrs)?;
    let me = service.owner_principal(&args.workspace, Transport::Cli).await?;
    let params = StartWorkflowParams {
        workflow: args.workflow.clone(),
        arguments,
        args: named,
        instance_id: args.instance_id.clone(),
        business_key: args.business_key.clone(),
        memo,
        search_attributes,
        duplicate_start_policy: Some(match args.duplicate_policy {
            DuplicatePolicy::RejectDuplicate => DuplicateStartPolicy::RejectDuplicate,
            DuplicatePolicy::ReturnExistingActive => DuplicateStartPolicy::ReturnExistingActive,
        }),
        ..StartWorkflowParams::default()
    };
    let started = service.workflow_start(&me, params, SOURCE).await.map_err(explain_duplicate)?;
    if args.wait {
        return wait(service, &me, &started, Duration::from_secs(args.timeout), json, out, err).await;
    }
    if json {
        print_json(out, &started)?;
    } else {
        let rows = vec![
            vec!["workflow_id".to_owned(), started.workflow_id.clone()],
            vec!["run_id".to_owned(), started.run_id.clone()],
            vec!["type".to_owned(), started.workflow_type.clone()],
            vec!["status".to_owned(), started.status.to_string()],
            vec!["outcome".to_owned(), started.command.outcome.to_string()],
        ];
        table(out, &["field", "value"], rows)?;
        writeln!(
            out,
            "A running `waymark serve` executes it. Follow it: waymark workflow history {} --follow",
            started.workflow_id
        )?;
    }
    Ok(exit::SUCCESS)
}

/// Adds the existing run and its status to a rejected duplicate start.
fn explain_duplicate(mut e: ServiceError) -> ServiceError {
    if e.code != ErrorCode::Conflict {
        return e;
    }
    let detail = |key: &str| e.details.as_ref().and_then(|d| d.get(key)).and_then(Value::as_str).map(str::to_owned);
    if let (Some(run), Some(status)) = (detail("run_id"), detail("status")) {
        e.message = format!("{} Its run {run} is {status}.", e.message);
    }
    e
}

/// `start --wait`: runs the workers here, prints each new event on stderr, then the result.
async fn wait(
    service: &Service,
    me: &Principal,
    started: &StartWorkflowView,
    timeout: Duration,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Outcome {
    let run_id = started.run_id.clone();
    writeln!(
        err,
        "Workflow {} (run {}) {}; running it in this process (Ctrl-C stops waiting).",
        started.workflow_id,
        started.run_id,
        if started.command.outcome == CommandOutcome::StartedNew { "started" } else { "already running" },
    )?;
    let workers = service.spawn_workflow_workers().await;
    let deadline = Instant::now() + timeout;
    let watched = {
        let mut progress =
            |e: &HistoryEventView| -> io::Result<()> { writeln!(err, "{:>5}  {}", e.sequence, e.event_type) };
        let follow =
            Follow { run_id: &run_id, after: 0, deadline: Some(deadline), interruptible: true, payloads: false };
        watch(service, me, &follow, &mut progress).await
    };
    let params = GetWorkflowResultParams {
        workflow_id: started.workflow_id.clone(),
        run_id: Some(started.run_id.clone()),
        ..GetWorkflowResultParams::default()
    };
    let result = service.get_workflow_result(me, params).await;
    workers.shutdown(WORKER_GRACE).await;
    let (watched, view) = (watched?, result?);
    if json {
        print_json(out, &view)?;
    } else {
        print_result(out, &view)?;
    }
    let status = view.details.as_ref().map_or("unknown", |d| d.status.as_str());
    let follow = format!(
        "it goes on: `waymark workflow result {} --wait 25` follows it, and a running `waymark serve` executes it",
        started.workflow_id
    );
    match watched {
        Watched::Closed(RunStatus::Completed) => Ok(exit::SUCCESS),
        Watched::Closed(closed) => {
            writeln!(err, "error: workflow {} ended {closed}, not completed.", started.workflow_id)?;
            Ok(exit::FAILURE)
        }
        Watched::TimedOut => {
            writeln!(
                err,
                "error: timed out after {} s; workflow {} is {status}; {follow}.",
                timeout.as_secs(),
                started.workflow_id
            )?;
            Ok(exit::STILL_OPEN)
        }
        Watched::Interrupted => {
            writeln!(err, "error: interrupted; workflow {} is {status}; {follow}.", started.workflow_id)?;
            Ok(exit::FAILURE)
        }
        Watched::Gone => {
            writeln!(err, "error: {}", not_found_message(&started.workflow_id, None))?;
            Ok(exit::FAILURE)
        }
    }
}

/// How watching a run ended.
enum Watched {
    /// The run closed, with this status, and every event up to its last was passed on.
    Closed(RunStatus),
    /// The run does not exist (any more) in this workspace.
    Gone,
    /// The deadline passed first.
    TimedOut,
    /// Ctrl-C.
    Interrupted,
}

/// What [`watch`] follows.
struct Follow<'a> {
    run_id: &'a str,
    /// Events after this sequence.
    after: u64,
    /// Stop waiting then.
    deadline: Option<Instant>,
    /// Stop on Ctrl-C.
    interruptible: bool,
    /// Include payload previews.
    payloads: bool,
}

/// Passes every event of the run after `follow.after` to `on_event` as it is recorded, until
/// the run closes, the deadline passes, or (when interruptible) Ctrl-C.
async fn watch(
    service: &Service,
    me: &Principal,
    follow: &Follow<'_>,
    on_event: &mut dyn FnMut(&HistoryEventView) -> io::Result<()>,
) -> Result<Watched, Failure> {
    let interrupt = async {
        if follow.interruptible && tokio::signal::ctrl_c().await.is_ok() {
            return;
        }
        std::future::pending::<()>().await;
    };
    let mut interrupt = std::pin::pin!(interrupt);
    let mut last = follow.after;
    loop {
        // The run is read before its events, so a run seen closed has all its events here.
        let read = match service.workflow_events_after(me, follow.run_id, last, EVENTS_PER_READ, follow.payloads).await
        {
            Ok(read) => read,
            Err(e) if e.code == ErrorCode::NotFound => return Ok(Watched::Gone),
            Err(e) => return Err(e.into()),
        };
        for event in &read.events {
            on_event(event)?;
            last = event.sequence;
        }
        if read.status.is_terminal() && last >= read.last_sequence {
            return Ok(Watched::Closed(read.status));
        }
        if read.events.len() as u64 == EVENTS_PER_READ {
            continue;
        }
        let pause = match follow.deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(Watched::TimedOut);
                }
                left.min(POLL)
            }
            None => POLL,
        };
        // Returns at once when the run closes in this process, else after `pause`.
        tokio::select! {
            waited = service.workflow_wait_closed(me, follow.run_id, pause) => waited?,
            () = &mut interrupt => return Ok(Watched::Interrupted),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// history

/// Which page `history` shows.
struct HistoryRequest<'a> {
    workflow_id: &'a str,
    run: Option<&'a str>,
    limit: u32,
    payloads: bool,
}

fn event_row(event: &HistoryEventView) -> Vec<String> {
    let payload = match &event.payload_preview {
        Some(preview) => preview.preview.clone(),
        None => shorten(&event.payload_keys.join(", "), 80),
    };
    vec![
        event.sequence.to_string(),
        event.event_type.clone(),
        event.recorded_at.clone(),
        format!("{} B", event.payload_size_bytes),
        payload,
    ]
}

/// One line of `history --follow`: JSON, or a row in fixed-width columns (rows arrive one by one,
/// so they cannot be laid out as a table).
fn event_line(event: &HistoryEventView, json: bool) -> io::Result<String> {
    if json {
        return serde_json::to_string(event).map_err(io::Error::other);
    }
    Ok(follow_columns(&event_row(event)))
}

fn follow_columns(row: &[String]) -> String {
    let cell = |i: usize| row.get(i).map_or("", String::as_str);
    // The widest event type (ActivityHeartbeatRecorded) and timestamp fit.
    format!("{:<8}  {:<25}  {:<24}  {:<8}  {}", cell(0), cell(1), cell(2), cell(3), cell(4)).trim_end().to_owned()
}

async fn history(
    service: &Service,
    me: &Principal,
    request: &HistoryRequest<'_>,
    follow: bool,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Outcome {
    let params = GetWorkflowHistoryParams {
        workflow_id: Some(request.workflow_id.to_owned()),
        run_id: request.run.map(str::to_owned),
        limit: Some(request.limit),
        include_payloads: request.payloads,
        cursor: None,
    };
    let page = service.get_workflow_history(me, params).await?;
    let Some(details) = &page.details else {
        if json && !follow {
            print_json(out, &page)?;
        }
        writeln!(err, "error: {}", not_found_message(request.workflow_id, request.run))?;
        return Ok(exit::FAILURE);
    };
    let headers = ["sequence", "event", "recorded", "size", if request.payloads { "payload" } else { "payload keys" }];
    if json && !follow {
        print_json(out, &page)?;
        return Ok(exit::SUCCESS);
    }
    if json {
        for event in &details.events {
            writeln!(out, "{}", event_line(event, true)?)?;
        }
    } else {
        writeln!(
            out,
            "Workflow {} ({}), run {}: {}, {} events",
            request.workflow_id,
            details.workflow_type,
            opt(page.run_id.as_deref()),
            details.status,
            details.history_event_count
        )?;
        if follow {
            writeln!(out, "{}", follow_columns(&headers.map(str::to_uppercase)))?;
            for event in &details.events {
                writeln!(out, "{}", event_line(event, false)?)?;
            }
        } else {
            table(out, &headers, details.events.iter().map(event_row).collect())?;
        }
        if details.returned_event_count < details.history_event_count {
            writeln!(
                out,
                "Showing the last {} of {} events (--limit up to 100; --json gives next_cursor for earlier ones).",
                details.returned_event_count, details.history_event_count
            )?;
        }
    }
    if !follow {
        if !details.failures.is_empty() {
            writeln!(out, "\nFailures (newest first):")?;
            table(out, &["time", "source", "category", "type", "message"], failure_rows(&details.failures))?;
        }
        return Ok(exit::SUCCESS);
    }
    out.flush()?;
    let run_id = page.run_id.clone().unwrap_or_default();
    let after = details.events.last().map_or(0, |e| e.sequence);
    let watched = {
        let mut print = |e: &HistoryEventView| -> io::Result<()> {
            writeln!(out, "{}", event_line(e, json)?)?;
            out.flush()
        };
        let follow =
            Follow { run_id: &run_id, after, deadline: None, interruptible: false, payloads: request.payloads };
        watch(service, me, &follow, &mut print).await?
    };
    match watched {
        Watched::Closed(status) => {
            writeln!(err, "Run {run_id} closed: {status}.")?;
            Ok(if status == RunStatus::Completed { exit::SUCCESS } else { exit::FAILURE })
        }
        Watched::Gone | Watched::TimedOut | Watched::Interrupted => {
            writeln!(err, "error: {}", not_found_message(request.workflow_id, request.run))?;
            Ok(exit::FAILURE)
        }
    }
}

fn failure_rows(failures: &[FailureView]) -> Vec<Vec<String>> {
    failures
        .iter()
        .map(|f| {
            vec![
                f.created_at.clone(),
                match &f.source_id {
                    Some(id) => format!("{} {id}", f.source_kind),
                    None => f.source_kind.clone(),
                },
                f.category.to_string(),
                f.exception_type.clone(),
                f.message.clone(),
            ]
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// show

async fn show(
    service: &Service,
    me: &Principal,
    workflow_id: &str,
    run: Option<&str>,
    json: bool,
    out: &mut dyn Write,
) -> Outcome {
    let view = service.workflow_show(me, workflow_id, run).await?;
    if json {
        print_json(out, &view)?;
    } else {
        print_show(out, &view)?;
    }
    Ok(exit::SUCCESS)
}

fn print_show(out: &mut dyn Write, view: &WorkflowShowView) -> io::Result<()> {
    let Some(d) = &view.result.details else { return Ok(()) };
    let workflow_id = &view.result.workflow_id;
    let run_id = opt(view.result.run_id.as_deref());
    writeln!(out, "Workflow {workflow_id} ({}): {}", d.workflow_type, d.status)?;
    let current = if d.current_run_is_selected {
        "the current run".to_owned()
    } else {
        format!("the current run is {}", opt(d.current_run_id.as_deref()))
    };
    writeln!(out, "Run {run_id} (run {}, {current})", view.run_number)?;
    if let Some(from) = &view.continued_from_run_id {
        writeln!(out, "Continues run {from}")?;
    }
    if let Some(reason) = d.closed_reason.filter(|r| r.as_str() != d.status) {
        writeln!(out, "Closed because: {reason}")?;
    }
    if let Some(wait) = d.wait_kind {
        writeln!(out, "Waiting for: {wait}")?;
    }
    if let Some(problem) = d.task_problem {
        writeln!(out, "Task problem: {problem} (fix the cause, then `waymark workflow repair {workflow_id}`)")?;
    }
    if let Some(key) = &d.business_key {
        writeln!(out, "Business key: {key}")?;
    }
    let mut times = vec![format!("Created {}", opt(d.created_at.as_deref()))];
    times.extend(d.started_at.as_ref().map(|t| format!("started {t}")));
    times.extend(d.closed_at.as_ref().map(|t| format!("closed {t}")));
    times.extend(d.updated_at.as_ref().map(|t| format!("updated {t}")));
    writeln!(out, "{}", times.join(", "))?;
    if let Some(at) = &view.run_deadline_at {
        writeln!(out, "Run deadline: {at}")?;
    }
    if let Some(at) = &view.execution_deadline_at {
        writeln!(out, "Execution deadline: {at}")?;
    }
    writeln!(out, "History: {} events, {} B", view.history_event_count, view.history_size_bytes)?;
    if view.pending_commands > 0 {
        writeln!(out, "Pending commands: {}", view.pending_commands)?;
    }
    writeln!(out, "Input: {}", shorten(&compact(&view.input), 200))?;
    if let Some(output) = &d.output {
        writeln!(out, "Output: {}", compact(output))?;
    }
    if let Some(e) = &d.error {
        writeln!(out, "Error: {}: {}", e.exception_type.as_deref().unwrap_or("Error"), e.message)?;
    }
    if !d.memo.is_empty() {
        writeln!(out, "Memo: {}", compact(&serde_json::to_value(&d.memo).unwrap_or_default()))?;
    }
    if !d.search_attributes.is_empty() {
        writeln!(
            out,
            "Search attributes: {}",
            compact(&serde_json::to_value(&d.search_attributes).unwrap_or_default())
        )?;
    }
    if !d.visibility_labels.is_empty() {
        writeln!(out, "Labels: {}", compact(&serde_json::to_value(&d.visibility_labels).unwrap_or_default()))?;
    }
    if view.activities.is_empty() {
        writeln!(out, "\nNo activities.")?;
    } else {
        writeln!(out, "\nActivities:")?;
        let mut rows = Vec::new();
        for a in &view.activities {
            let activity = [a.activity_type.clone(), a.status.to_owned()];
            if a.attempts.is_empty() {
                rows.push(activity.clone().into_iter().chain(std::iter::repeat_n("-".to_owned(), 6)).collect());
            }
            for (i, t) in a.attempts.iter().enumerate() {
                let lead = if i == 0 { activity.clone() } else { [String::new(), String::new()] };
                rows.push(
                    lead.into_iter()
                        .chain([
                            t.attempt_number.to_string(),
                            t.status.to_owned(),
                            t.worker_id.clone(),
                            t.started_at.clone(),
                            opt(t.closed_at.as_deref()),
                            opt(t.failure.as_deref()),
                        ])
                        .collect(),
                );
            }
        }
        table(
            out,
            &["activity", "status", "attempt", "attempt status", "worker", "started", "closed", "failure"],
            rows,
        )?;
    }
    if !view.failures.is_empty() {
        writeln!(out, "\nFailures (newest first):")?;
        table(out, &["time", "source", "category", "type", "message"], failure_rows(&view.failures))?;
    }
    Ok(())
}

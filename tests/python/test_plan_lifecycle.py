#!/usr/bin/env python3
"""End-to-end: the official MCP Python SDK drives a plan's whole lifecycle against `waymark`.

Runs the same lifecycle twice, each on its own plan:
  * over streamable HTTP (`waymark serve`, bearer key) with the SDK in mode "legacy",
    then a short check in mode "2026-07-28" to prove both protocol eras;
  * over stdio (`waymark mcp stdio` with WAYMARK_API_KEY) with the SDK in mode "auto".

Standalone script (no pytest): exit code 0 means pass. Needs WAYMARK_BIN (absolute path of
the binary). Every process it starts is stopped before it exits, pass or fail.

Output schemas: the SDK (mcp 2.3.0) validates `structuredContent` against the tool's
`outputSchema` itself, but only for results that are not `isError`. This script validates
every result (errors too) with `jsonschema`, which the SDK already depends on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import anyio
import httpx2
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for

from mcp import Client, MCPError
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

STEP_TIMEOUT = 30.0  # every single wait: a tool call, a listing, a handshake
FLOW_TIMEOUT = 150.0  # one whole client session
READY_TIMEOUT = 20.0  # the HTTP server answering /readyz
STOP_TIMEOUT = 15.0  # the HTTP server exiting after SIGTERM

EXPECTED_TOOLS = {
    "plan_create",
    "plan_publish",
    "plan_get",
    "plan_list",
    "plan_update_status",
    "plan_archive",
    "phase_add",
    "phase_get",
    "phase_update_status",
    "phase_add_checkpoint",
    "task_update",
    "task_toggle",
    "task_add",
    "session_start",
    "session_end",
    "session_log",
    "session_handoff",
    "session_resume",
    "session_replay",
    "session_continue",
    "session_artifact",
    "session_list",
    "session_heartbeat",
    "state_set",
    "state_get",
    "state_list",
    "state_delete",
    "template_list",
    "template_preview",
    "template_create_plan",
    "list_workflows",
    "start_workflow",
    "get_workflow_result",
    "get_workflow_history",
}

READ_ONLY_TOOLS = [
    "get_workflow_history",
    "get_workflow_result",
    "list_workflows",
    "phase_get",
    "plan_get",
    "plan_list",
    "session_list",
    "session_replay",
    "state_get",
    "state_list",
    "template_list",
    "template_preview",
]


class TestFailure(Exception):
    """An expectation of this test did not hold."""


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise TestFailure(msg)


def step(label: str, what: str) -> None:
    print(f"{label}: {what} ok", flush=True)


# --------------------------------------------------------------------------------------------
# A client connection that validates every tool result
# --------------------------------------------------------------------------------------------


class Conn:
    """One connected SDK `Client`, with the tools' output schemas and checked calls."""

    def __init__(self, client: Client, label: str) -> None:
        self.client = client
        self.label = label
        self.validators: dict[str, Any] = {}

    async def list_and_check_tools(self) -> None:
        try:
            listing = await asyncio.wait_for(self.client.list_tools(), STEP_TIMEOUT)
        except (asyncio.TimeoutError, TimeoutError) as e:
            raise TestFailure(f"{self.label}: tools/list: no answer within {STEP_TIMEOUT:.0f} s") from e
        check(listing.next_cursor is None, f"{self.label}: tools/list unexpectedly paginated")
        names = [t.name for t in listing.tools]
        check(len(names) == len(set(names)), f"{self.label}: duplicate tool names: {names}")
        check(
            set(names) == EXPECTED_TOOLS,
            f"{self.label}: tools differ: missing {sorted(EXPECTED_TOOLS - set(names))}, "
            f"unexpected {sorted(set(names) - EXPECTED_TOOLS)}",
        )
        for tool in listing.tools:
            where = f"{self.label}: tool {tool.name}"
            check(isinstance(tool.input_schema, dict), f"{where}: no inputSchema")
            check(tool.input_schema.get("type") == "object", f"{where}: inputSchema type is not object")
            check(isinstance(tool.output_schema, dict), f"{where}: no outputSchema")
            check(tool.annotations is not None, f"{where}: no annotations")
            check(
                tool.annotations.read_only_hint is not None,
                f"{where}: annotations carry no readOnlyHint",
            )
            check(bool(tool.description), f"{where}: no description")
            for kind, schema in (("inputSchema", tool.input_schema), ("outputSchema", tool.output_schema)):
                cls = validator_for(schema)
                try:
                    cls.check_schema(schema)
                except Exception as e:  # jsonschema.SchemaError
                    raise TestFailure(f"{where}: {kind} is not a valid JSON Schema: {e}") from e
            cls = validator_for(tool.output_schema)
            self.validators[tool.name] = cls(tool.output_schema)
        read_only = sorted(t.name for t in listing.tools if t.annotations.read_only_hint)
        check(read_only == READ_ONLY_TOOLS, f"{self.label}: readOnlyHint tools are {read_only}")

    async def call(self, name: str, args: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """Calls a tool; checks the result against its outputSchema; returns (is_error, structured)."""
        where = f"{self.label}: {name}({json.dumps(args, ensure_ascii=False)})"
        try:
            result = await asyncio.wait_for(self.client.call_tool(name, args), STEP_TIMEOUT)
        except (asyncio.TimeoutError, TimeoutError) as e:
            raise TestFailure(f"{where}: no answer within {STEP_TIMEOUT:.0f} s") from e
        sc = result.structured_content
        check(isinstance(sc, dict), f"{where}: no structuredContent object (got {sc!r})")
        validator = self.validators.get(name)
        check(validator is not None, f"{where}: no outputSchema known (list tools first)")
        error = best_match(validator.iter_errors(sc))
        if error is not None:
            raise TestFailure(f"{where}: structuredContent does not match outputSchema: {error.message}\n{sc}")
        is_error = bool(result.is_error)
        check(
            sc.get("success") is (not is_error),
            f"{where}: success={sc.get('success')!r} but isError={result.is_error!r}",
        )
        texts = [c.text for c in result.content if getattr(c, "type", None) == "text"]
        check(len(texts) >= 1, f"{where}: no text content block")
        if is_error:
            # An error's text is its message for the agent to read, not the JSON.
            check(sc["error"] in texts[0], f"{where}: error text {texts[0]!r} lacks the message {sc['error']!r}")
        else:
            try:
                text_json = json.loads(texts[0])
            except ValueError as e:
                raise TestFailure(f"{where}: text content is not JSON: {texts[0][:200]!r}") from e
            check(text_json == sc, f"{where}: text content differs from structuredContent")
        return is_error, sc

    async def ok(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        is_error, sc = await self.call(name, args)
        if is_error:
            raise TestFailure(
                f"{self.label}: {name} failed: {sc.get('code')}: {sc.get('error')} "
                f"(details {sc.get('details')}) args={args}"
            )
        return sc

    async def err(self, name: str, args: dict[str, Any], code: str) -> dict[str, Any]:
        is_error, sc = await self.call(name, args)
        check(is_error, f"{self.label}: {name} should have failed with {code} but succeeded: {sc}")
        check(
            sc.get("code") == code,
            f"{self.label}: {name} failed with {sc.get('code')!r} ({sc.get('error')}), expected {code!r}",
        )
        check(isinstance(sc.get("error"), str) and sc["error"], f"{self.label}: {name}: empty error message")
        return sc


# --------------------------------------------------------------------------------------------
# The lifecycle
# --------------------------------------------------------------------------------------------


async def all_plan_slugs(c: Conn, **args: Any) -> list[str]:
    """Every slug plan_list returns, following next_cursor."""
    slugs: list[str] = []
    cursor = None
    for _ in range(50):
        call_args = dict(args, limit=50)
        if cursor is not None:
            call_args["cursor"] = cursor
        sc = await c.ok("plan_list", call_args)
        slugs += [p["slug"] for p in sc["plans"]]
        cursor = sc.get("next_cursor")
        if cursor is None:
            check(sc["total"] == len(slugs), f"{c.label}: plan_list{args} total {sc['total']} but {len(slugs)} listed")
            return slugs
    raise TestFailure(f"{c.label}: plan_list never reached its last page")


def task_of(plan: dict[str, Any], order: int, index: int) -> dict[str, Any]:
    phase = next((p for p in plan["phases"] if p["order"] == order), None)
    check(phase is not None, f"plan_get has no phase {order}")
    task = next((t for t in phase["tasks"] if t["index"] == index), None)
    check(task is not None, f"plan_get phase {order} has no task {index}")
    return task


async def lifecycle(c: Conn, slug: str) -> None:
    L = c.label
    title = f"Python SDK lifecycle ({slug})"

    # Create: three phases, 2 depends on 1 (by order), 3 on 2 (by name).
    sc = await c.ok(
        "plan_create",
        {
            "title": title,
            "slug": slug,
            "description": "Driven end to end by the official MCP Python SDK.",
            "context": {"suite": "tests/python", "transport": L, "attempt": 1},
            "phases": [
                {"name": "Design", "description": "Decide.", "tasks": ["Sketch the API", "Write the schema"]},
                {"name": "Build", "tasks": ["Implement", "Test"], "dependencies": [1]},
                {"name": "Ship", "tasks": ["Release"], "dependencies": ["Build"]},
            ],
        },
    )
    plan = sc["plan"]
    check(plan["slug"] == slug, f"{L}: created slug {plan['slug']!r}, asked {slug!r}")
    check(plan["title"] == title, f"{L}: created title {plan.get('title')!r}")
    check(plan["status"] == "draft", f"{L}: new plan status {plan['status']!r}, expected draft")
    check(plan["phases"] == 3 and plan["tasks"] == 5, f"{L}: counts {plan['phases']}/{plan['tasks']}, expected 3/5")
    step(L, "create (draft, 3 phases, 5 tasks)")

    # Starting a phase of a draft plan is refused.
    await c.err("phase_update_status", {"plan_slug": slug, "phase": 1, "status": "in_progress"}, "invalid_transition")
    step(L, "start before publish refused (invalid_transition)")

    sc = await c.ok("plan_publish", {"slug": slug})
    check(
        sc["plan"]["status"] == "active" and sc["plan"]["previous_status"] == "draft",
        f"{L}: publish gave {sc['plan']}",
    )
    step(L, "publish")

    # The dependent phase cannot start before its dependency.
    sc = await c.err(
        "phase_update_status", {"plan_slug": slug, "phase": 2, "status": "in_progress"}, "dependency_not_met"
    )
    blockers = (sc.get("details") or {}).get("dependency_blockers")
    check(isinstance(blockers, list) and blockers, f"{L}: dependency_not_met without details.dependency_blockers: {sc}")
    check(
        [b.get("phase_order") for b in blockers] == [1],
        f"{L}: dependency_blockers should name phase 1 only: {blockers}",
    )
    step(L, "start dependent phase first refused (dependency_not_met)")

    sc = await c.ok("phase_update_status", {"plan_slug": slug, "phase": 1, "status": "in_progress"})
    check(sc["phase"]["status"] == "in_progress", f"{L}: phase 1 status {sc['phase']}")
    check(sc["phase"]["previous_status"] == "pending", f"{L}: phase 1 previous status {sc['phase']}")
    check(sc["plan"]["status"] == "active", f"{L}: plan status after starting phase 1: {sc['plan']}")
    step(L, "start phase 1")

    # Update one task (status + notes) by index, toggle another, by phase name.
    sc = await c.ok(
        "task_update",
        {"plan_slug": slug, "phase": 1, "task_index": 0, "status": "completed", "notes": "Sketched in docs/api.md"},
    )
    t = sc["task"]
    check(t["index"] == 0 and t["name"] == "Sketch the API", f"{L}: task_update hit {t}")
    check(t["status"] == "completed" and t["notes"] == "Sketched in docs/api.md", f"{L}: task_update gave {t}")
    check(sc["plan_progress"]["tasks"]["completed"] == 1, f"{L}: progress after one task: {sc['plan_progress']}")
    step(L, "task_update (completed + notes)")

    sc = await c.ok("task_toggle", {"plan_slug": slug, "phase": "Design", "task_index": 1})
    check(sc["task"]["name"] == "Write the schema", f"{L}: task_toggle hit {sc['task']}")
    check(sc["task"]["status"] == "completed", f"{L}: toggled pending task is {sc['task']['status']}")
    sc = await c.ok("task_toggle", {"plan_slug": slug, "phase": "Design", "task_index": 1})
    check(sc["task"]["status"] == "pending", f"{L}: toggling back gave {sc['task']['status']}")
    check(sc["plan_progress"]["tasks"]["completed"] == 1, f"{L}: progress after toggling twice: {sc['plan_progress']}")
    step(L, "task_toggle (pending -> completed -> pending)")

    # A task added to phase 2.
    sc = await c.ok("task_add", {"plan_slug": slug, "phase": 2, "name": "Document", "description": "User docs."})
    check(sc["task"]["name"] == "Document" and sc["task"]["index"] == 2, f"{L}: task_add gave {sc['task']}")
    check(sc["task"]["status"] == "pending", f"{L}: new task status {sc['task']['status']}")
    check(sc["plan_progress"]["tasks"]["total"] == 6, f"{L}: total after task_add: {sc['plan_progress']}")
    step(L, "task_add")

    # A checkpoint with a context object, read back through phase_get.
    ctx = {"commit": "abc123", "files": ["docs/api.md"], "nested": {"ok": True, "n": 3}}
    sc = await c.ok(
        "phase_add_checkpoint", {"plan_slug": slug, "phase": 1, "note": "API sketched, schema next", "context": ctx}
    )
    cps = sc["checkpoints"]
    check(len(cps) == 1, f"{L}: expected one checkpoint, got {cps}")
    check(cps[0]["note"] == "API sketched, schema next" and cps[0]["context"] == ctx, f"{L}: checkpoint {cps[0]}")
    sc = await c.ok("phase_get", {"plan_slug": slug, "phase": "Design"})
    ph = sc["phase"]
    check(ph["status"] == "in_progress", f"{L}: phase_get status {ph.get('status')}")
    check([cp["id"] for cp in ph["checkpoints"]] == [cps[0]["id"]], f"{L}: phase_get checkpoints {ph['checkpoints']}")
    check(ph["checkpoints"][0]["context"] == ctx, f"{L}: phase_get checkpoint context {ph['checkpoints'][0]}")
    check(
        [(t["name"], t["status"]) for t in ph["tasks"]]
        == [("Sketch the API", "completed"), ("Write the schema", "pending")],
        f"{L}: phase_get tasks {ph['tasks']}",
    )
    step(L, "checkpoint with context + phase_get")

    # Markdown: title and check marks.
    sc = await c.ok("plan_get", {"slug": slug, "format": "markdown"})
    md = sc.get("markdown")
    check(isinstance(md, str), f"{L}: plan_get markdown missing: {sc}")
    check(md.startswith(f"# {title}"), f"{L}: markdown does not start with the title:\n{md}")
    check("- ✅ Sketch the API" in md, f"{L}: markdown lacks ✅ for the completed task:\n{md}")
    check("- ⬜ Write the schema" in md and "- ⬜ Document" in md, f"{L}: markdown lacks ⬜ for pending tasks:\n{md}")
    step(L, "plan_get markdown (title, ✅, ⬜)")

    # Pause and resume through plan_update_status.
    sc = await c.ok("plan_update_status", {"slug": slug, "status": "paused"})
    check(sc["plan"]["status"] == "paused" and sc["plan"]["previous_status"] == "active", f"{L}: pause {sc['plan']}")
    sc = await c.ok("plan_update_status", {"slug": slug, "status": "active"})
    check(sc["plan"]["status"] == "active" and sc["plan"]["previous_status"] == "paused", f"{L}: resume {sc['plan']}")
    step(L, "plan_update_status (pause, resume)")

    # Finish phase 1.
    await c.ok("task_toggle", {"plan_slug": slug, "phase": 1, "task_index": 1})
    sc = await c.ok(
        "phase_update_status", {"plan_slug": slug, "phase": 1, "status": "completed", "notes": "Design done"}
    )
    check(sc["phase"]["status"] == "completed", f"{L}: phase 1 completion {sc['phase']}")
    check(sc["plan"]["status"] == "active", f"{L}: plan after phase 1 of 3: {sc['plan']}")
    step(L, "complete phase 1")

    # Phase 2: its tasks by task_id, read from plan_get json.
    sc = await c.ok("plan_get", {"slug": slug})
    full = sc["plan"]
    check(full["status"] == "active", f"{L}: plan_get status {full['status']}")
    check([p["status"] for p in full["phases"]] == ["completed", "pending", "pending"], f"{L}: phases {full['phases']}")
    ids = [task_of(full, 2, i)["id"] for i in range(3)]
    await c.ok("phase_update_status", {"plan_slug": slug, "phase": 2, "status": "in_progress"})
    for tid in ids:
        sc = await c.ok("task_update", {"plan_slug": slug, "phase": 2, "task_id": tid, "status": "completed"})
        check(sc["task"]["id"] == tid and sc["task"]["status"] == "completed", f"{L}: task by id {sc['task']}")
    sc = await c.ok("phase_update_status", {"plan_slug": slug, "phase": "Build", "status": "completed"})
    check(sc["plan"]["status"] == "active", f"{L}: plan after phase 2 of 3: {sc['plan']}")
    step(L, "complete phase 2 (tasks by task_id)")

    # Phase 3, the last: the plan completes in the same call.
    await c.ok("phase_update_status", {"plan_slug": slug, "phase": 3, "status": "in_progress"})
    await c.ok("task_update", {"plan_slug": slug, "phase": 3, "task_index": 0, "status": "completed"})
    sc = await c.ok("phase_update_status", {"plan_slug": slug, "phase": 3, "status": "completed"})
    check(sc["phase"]["status"] == "completed", f"{L}: phase 3 completion {sc['phase']}")
    check(sc["plan"]["status"] == "completed", f"{L}: plan status after the last phase: {sc['plan']}")
    sc = await c.ok("plan_get", {"slug": slug, "format": "json"})
    full = sc["plan"]
    check(full["status"] == "completed", f"{L}: plan_get status after the last phase: {full['status']}")
    tasks = full["progress"]["tasks"]
    check(tasks["total"] == 6 and tasks["completed"] == 6, f"{L}: final task progress {tasks}")
    check(full["progress"]["percentage"] == 100, f"{L}: final percentage {full['progress']}")
    check(all(p["status"] == "completed" for p in full["phases"]), f"{L}: final phases {full['phases']}")
    step(L, "complete phase 3 -> plan completed")

    # Archive; listings; writes refused.
    sc = await c.ok("plan_archive", {"slug": slug, "reason": "Done; archived by the Python e2e test"})
    check(sc["plan"]["status"] == "archived", f"{L}: archive gave {sc['plan']}")
    check(bool(sc["plan"].get("archived_at")), f"{L}: archive without archived_at: {sc['plan']}")
    step(L, "archive")

    check(slug not in await all_plan_slugs(c), f"{L}: plan_list without include_archived lists {slug}")
    check(slug in await all_plan_slugs(c, include_archived=True), f"{L}: plan_list include_archived lacks {slug}")
    check(slug in await all_plan_slugs(c, status="archived"), f"{L}: plan_list status=archived lacks {slug}")
    step(L, "plan_list (archived hidden, include_archived shows it)")

    await c.err("task_toggle", {"plan_slug": slug, "phase": 1, "task_index": 0}, "invalid_transition")
    step(L, "write on archived plan refused (invalid_transition)")

    try:
        await asyncio.wait_for(c.client.call_tool("no_such_tool", {}), STEP_TIMEOUT)
    except MCPError as e:
        check(e.code == -32602, f"{L}: unknown tool gave JSON-RPC code {e.code}, expected -32602")
        check("Unknown tool" in str(e.error.message), f"{L}: unknown tool message {e.error.message!r}")
    else:
        raise TestFailure(f"{L}: calling an unknown tool did not raise")
    step(L, "unknown tool -> JSON-RPC -32602")


# --------------------------------------------------------------------------------------------
# Transports
# --------------------------------------------------------------------------------------------


async def session_and_state_lifecycle(c: Conn, slug: str) -> None:
    """The original's documented session loop, with session_id passed as an argument: a plan
    from a built-in template, then start, log, artifact, handoff, continue as another agent,
    replay, end; and the workspace-state tools on the same plan."""
    L = c.label
    templates = await c.ok("template_list", {})
    feature = next((t for t in templates["templates"] if t["slug"] == "feature-development"), None)
    check(feature is not None, f"{L}: template_list lacks feature-development: {templates}")
    check(".yaml" not in json.dumps(templates), f"{L}: template_list must not show file paths")
    variables = {v["name"]: v["example"] for v in feature["variables"] if v["default"] is None}
    await c.err("template_preview", {"template": "feature-development", "variables": {}}, "validation_error")
    preview = await c.ok("template_preview", {"template": "feature-development", "variables": variables})
    check("{{" not in json.dumps(preview), f"{L}: preview left placeholders: {preview}")
    created = await c.ok(
        "template_create_plan",
        {"template": "feature-development", "variables": variables, "slug": slug, "activate": True},
    )
    check(created["plan"]["status"] == "active", f"{L}: template plan not active: {created}")
    check(created["plan"]["total_tasks"] > 0, f"{L}: template plan has no tasks: {created}")
    step(L, "template_list, template_preview (refused, then ok), template_create_plan")

    started = await c.ok("session_start", {"agent_type": "claude", "plan_slug": slug, "context": {"goal": "ship"}})
    sid = started["session"]["session_id"]
    check(sid.startswith("sess_"), f"{L}: session id {sid!r}")
    check(started["session"]["plan"] == slug, f"{L}: session plan {started['session']}")
    await c.ok("session_log", {"session_id": sid, "message": "Read the design doc", "type": "progress"})
    await c.ok("session_log", {"session_id": sid, "message": "Flag wired", "type": "checkpoint", "data": {"flag": "on"}})
    await c.err("session_log", {"session_id": sid, "message": "x", "type": "warning"}, "validation_error")
    await c.ok("session_artifact", {"session_id": sid, "path": "src/flag.rs", "action": "created", "description": "flag"})
    await c.ok("session_heartbeat", {"session_id": sid})
    handoff = await c.ok(
        "session_handoff",
        {"session_id": sid, "summary": "Flag in place", "next_steps": ["write tests"], "context_for_next": {"branch": "f"}},
    )
    ctx = handoff["handoff_context"]
    check(len(ctx["recent_actions"]) == 2 and ctx["recent_actions"][0]["message"] == "Flag wired", f"{L}: {ctx}")
    check(ctx["plan"]["slug"] == slug and "progress" in ctx["plan"], f"{L}: handoff plan {ctx.get('plan')}")
    step(L, "session_start, session_log, session_artifact, session_heartbeat, session_handoff")

    cont = await c.ok("session_continue", {"previous_session_id": sid, "agent_type": "codex"})
    new_sid = cont["session"]["session_id"]
    check(cont["continued_from"] == sid and cont["previous_agent"] == "claude", f"{L}: {cont}")
    check(cont["handoff_notes"]["next_steps"] == ["write tests"], f"{L}: inherited notes {cont['handoff_notes']}")
    await c.ok("session_log", {"session_id": new_sid, "message": "Tests written", "type": "decision"})
    replay = (await c.ok("session_replay", {"session_id": sid}))["replay_context"]
    check(replay["status"] == "handed_off", f"{L}: previous session status {replay['status']}")
    check(replay["final_summary"] == "Handed off to codex", f"{L}: {replay['final_summary']}")
    check(isinstance(replay["checkpoints"], list) and len(replay["checkpoints"]) == 1, f"{L}: {replay['checkpoints']}")
    check(isinstance(replay["artifacts_by_action"]["created"], list), f"{L}: artifacts_by_action not arrays")
    check(replay["progress_summary"]["summary"] == "2 actions recorded, 1 checkpoints, 0 errors", f"{L}: {replay}")
    ended = await c.ok("session_end", {"session_id": new_sid, "status": "completed", "summary": "done"})
    check(ended["session"]["status"] == "completed", f"{L}: {ended}")
    await c.err("session_log", {"session_id": new_sid, "message": "late"}, "invalid_transition")
    listed = await c.ok("session_list", {"plan_slug": slug})
    check(listed["total"] == 2, f"{L}: session_list on the plan: {listed}")
    step(L, "session_continue as another agent, session_replay, session_end, final is final")

    await c.ok("state_set", {"plan_slug": slug, "key": "decision.flag", "value": {"name": "f", "on": True}})
    got = await c.ok("state_get", {"plan_slug": slug, "key": "decision.flag"})
    check(got["value"] == {"name": "f", "on": True} and got["category"] == "general", f"{L}: state_get {got}")
    states = await c.ok("state_list", {"plan_slug": slug})
    check(states["total"] == 1, f"{L}: state_list {states}")
    await c.ok("state_delete", {"plan_slug": slug, "key": "decision.flag"})
    await c.err("state_get", {"plan_slug": slug, "key": "decision.flag"}, "not_found")
    step(L, "state_set, state_get (flat), state_list, state_delete")


@contextlib.contextmanager
def flow_deadline(label: str) -> Iterator[None]:
    """Bounds one whole client session, so a hang fails with a clear message."""
    try:
        with anyio.fail_after(FLOW_TIMEOUT):
            yield
    except TimeoutError as e:
        raise TestFailure(f"{label}: the session did not finish within {FLOW_TIMEOUT:.0f} s") from e


def http_client(key: str) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {key}"},
        timeout=httpx2.Timeout(STEP_TIMEOUT),
        trust_env=False,  # never route 127.0.0.1 through a proxy from the environment
    )


async def http_flows(url: str, key: str) -> None:
    label = "http legacy"
    with flow_deadline(label):
        async with http_client(key) as http:
            async with Client(
                streamable_http_client(url, http_client=http), mode="legacy", read_timeout_seconds=STEP_TIMEOUT
            ) as client:
                check(
                    client.protocol_version != "2026-07-28",
                    f"{label}: negotiated {client.protocol_version}, expected a handshake-era version",
                )
                step(label, f"connect (protocol {client.protocol_version})")
                conn = Conn(client, label)
                await conn.list_and_check_tools()
                step(label, f"list_tools ({len(EXPECTED_TOOLS)} tools, schemas, annotations)")
                await lifecycle(conn, "py-e2e-http")
                await session_and_state_lifecycle(conn, "py-e2e-http-sessions")

    label = "http 2026-07-28"
    with flow_deadline(label):
        async with http_client(key) as http:
            async with Client(
                streamable_http_client(url, http_client=http), mode="2026-07-28", read_timeout_seconds=STEP_TIMEOUT
            ) as client:
                check(client.protocol_version == "2026-07-28", f"{label}: protocol {client.protocol_version}")
                conn = Conn(client, label)
                await conn.list_and_check_tools()
                step(label, f"list_tools ({len(EXPECTED_TOOLS)} tools, schemas, annotations)")
                sc = await conn.ok("plan_get", {"slug": "py-e2e-http"})
                check(sc["plan"]["status"] == "archived", f"{label}: plan_get gave status {sc['plan']['status']}")
                step(label, "plan_get of the archived plan")


async def stdio_refuses_a_bad_key(binary: str, db_url: str, cwd: Path) -> None:
    """With a wrong WAYMARK_API_KEY the stdio server must refuse to serve (so the key is used)."""
    label = "stdio bad key"
    params = StdioServerParameters(
        command=binary,
        args=["--database-url", db_url, "mcp", "stdio"],
        env={"WAYMARK_API_KEY": "wm_not_a_real_key", "WAYMARK_LOG": "warn"},
        cwd=str(cwd),
    )
    errlog_path = cwd / "stdio-bad-key.stderr"
    with flow_deadline(label), open(errlog_path, "w") as errlog:
        try:
            async with Client(stdio_client(params, errlog=errlog), mode="auto", read_timeout_seconds=STEP_TIMEOUT):
                pass
        except Exception as e:  # the SDK reports the closed connection, usually inside an ExceptionGroup
            leaves = leaf_exceptions(e)
            check(
                all(isinstance(x, MCPError) for x in leaves),
                f"{label}: unexpected failure {[repr(x) for x in leaves]}",
            )
        else:
            raise TestFailure(f"{label}: the SDK connected with a wrong WAYMARK_API_KEY")
    stderr = errlog_path.read_text(errors="replace")
    check("refused" in stderr, f"{label}: the server's stderr does not say the key was refused: {stderr!r}")
    step(label, "wrong WAYMARK_API_KEY refused before serving")


async def stdio_flow(binary: str, db_url: str, key: str, cwd: Path) -> None:
    await stdio_refuses_a_bad_key(binary, db_url, cwd)
    label = "stdio auto"
    params = StdioServerParameters(
        command=binary,
        args=["--database-url", db_url, "mcp", "stdio"],
        env={"WAYMARK_API_KEY": key, "WAYMARK_LOG": "warn"},
        cwd=str(cwd),
    )
    with flow_deadline(label):
        async with Client(params, mode="auto", read_timeout_seconds=STEP_TIMEOUT) as client:
            step(label, f"connect (protocol {client.protocol_version})")
            conn = Conn(client, label)
            await conn.list_and_check_tools()
            step(label, f"list_tools ({len(EXPECTED_TOOLS)} tools, schemas, annotations)")
            await lifecycle(conn, "py-e2e-stdio")
            await session_and_state_lifecycle(conn, "py-e2e-stdio-sessions")
            # Same key, same database: the plan made over HTTP is in this workspace too.
            slugs = await all_plan_slugs(conn, include_archived=True)
            check("py-e2e-http" in slugs, f"{label}: the key's workspace lacks the HTTP plan: {slugs}")
            step(label, "sees the HTTP run's plan (same workspace)")


# --------------------------------------------------------------------------------------------
# The HTTP server process
# --------------------------------------------------------------------------------------------


def die_with_parent() -> None:
    """In the child before exec: get SIGTERM if this script dies (even by SIGKILL)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env() -> dict[str, str]:
    """This environment without WAYMARK_* settings, so only the command line configures the server."""
    return {k: v for k, v in os.environ.items() if not k.startswith("WAYMARK_")}


def http_status(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None) -> int:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def wait_ready(proc: subprocess.Popen, base: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise TestFailure(f"waymark serve exited early with code {proc.returncode}")
        try:
            if http_status(base + "/readyz") == 200:
                return
        except OSError as e:
            last = e
        time.sleep(0.1)
    raise TestFailure(f"waymark serve not ready within {READY_TIMEOUT:.0f} s (last error: {last})")


def stop_server(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise TestFailure(f"waymark serve ignored SIGTERM for {STOP_TIMEOUT:.0f} s; killed it")
    return proc.returncode


def check_unauthenticated(base: str) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-11-25",
    }
    status = http_status(base + "/mcp", "POST", body, headers)
    check(status == 401, f"POST /mcp without a key answered {status}, expected 401")
    status = http_status(base + "/mcp", "POST", body, dict(headers, Authorization="Bearer wm_not_a_real_key"))
    check(status == 401, f"POST /mcp with a wrong key answered {status}, expected 401")
    step("http", "POST /mcp without a key / with a wrong key -> 401")


# --------------------------------------------------------------------------------------------


def leaf_exceptions(e: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, or `e` itself."""
    inner = getattr(e, "exceptions", None)
    if isinstance(inner, (list, tuple)) and inner:
        return [leaf for x in inner for leaf in leaf_exceptions(x)]
    return [e]


def main() -> int:
    binary = os.environ.get("WAYMARK_BIN")
    if not binary:
        print("FAIL: set WAYMARK_BIN to the absolute path of the waymark binary", file=sys.stderr)
        return 2
    binary = os.path.abspath(binary)
    if not os.access(binary, os.X_OK):
        print(f"FAIL: WAYMARK_BIN={binary} is not an executable file", file=sys.stderr)
        return 2

    # A SIGTERM to this script unwinds through the finally blocks below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    started = time.monotonic()
    proc: subprocess.Popen | None = None
    with tempfile.TemporaryDirectory(prefix="waymark-py-e2e-") as tmp_name:
        tmp = Path(tmp_name)
        log_path = tmp / "server.log"
        db_url = f"sqlite://{tmp / 'w.db'}?mode=rwc"
        try:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            with open(log_path, "wb") as log:
                proc = subprocess.Popen(
                    [binary, "--database-url", db_url, "serve", "--listen", f"127.0.0.1:{port}"],
                    cwd=tmp,
                    env=server_env(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=die_with_parent,
                )
            wait_ready(proc, base)
            key_file = tmp / ".waymark" / "bootstrap-key"
            check(key_file.is_file(), f"no bootstrap key at {key_file}")
            key = key_file.read_text().strip()
            check(key != "" and "\n" not in key, "bootstrap key file is not one non-empty line")
            step("http", f"server ready on {base}, bootstrap key read")

            check_unauthenticated(base)
            asyncio.run(http_flows(base + "/mcp", key))
            asyncio.run(stdio_flow(binary, db_url, key, tmp))

            rc = stop_server(proc)
            check(rc == 0, f"waymark serve exited with code {rc} after SIGTERM, expected 0")
            step("http", "server stopped by SIGTERM (exit 0)")
        except Exception as e:  # TestFailure, SDK errors, timeouts, and groups of them
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
            log_tail = log_path.read_text(errors="replace")[-4000:] if log_path.exists() else "(no log)"
            print(f"\n--- waymark serve log (tail) ---\n{log_tail}", file=sys.stderr)
            for leaf in leaf_exceptions(e):
                if not isinstance(leaf, TestFailure):
                    traceback.print_exception(leaf)
                print(f"FAIL: {type(leaf).__name__}: {leaf}", file=sys.stderr)
            return 1
        finally:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()

    print(f"OK ({time.monotonic() - started:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""End-to-end: the seed's safe agent loop, driven by the official MCP Python SDK.

The loop of the Durable Workflow MCP surface (seed reference §5.3), on each backend (SQLite,
and PostgreSQL in a fresh database) and each transport (`waymark serve` over streamable HTTP
at /mcp/workflows, and `waymark mcp stdio`):

  1. list_workflows {show_recent: true, limit: 5}
  2. start_workflow {workflow: "simple", business_key: "demo-001"}
  3. get_workflow_result {workflow_id} until completed; output "workflow_activity_other"
  4. get_workflow_history {run_id, limit: 25}: the nine events, in order

Every result is validated against the tool's outputSchema (the `Conn` of
test_plan_lifecycle.py). Standalone script: exit code 0 means pass. Needs WAYMARK_BIN; the
PostgreSQL half needs `psql` and the server of WAYMARK_TEST_POSTGRES_URL (default
postgres://postgres@127.0.0.1:5432/test), and fails (never skips) when it is unreachable.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

import test_plan_lifecycle as base
from test_plan_lifecycle import Conn, TestFailure, check, flow_deadline, step

WORKFLOW_TOOLS = {"list_workflows", "start_workflow", "get_workflow_result", "get_workflow_history"}

SIMPLE_HISTORY = [
    "StartAccepted",
    "WorkflowStarted",
    "ActivityScheduled",
    "ActivityStarted",
    "ActivityCompleted",
    "ActivityScheduled",
    "ActivityStarted",
    "ActivityCompleted",
    "WorkflowCompleted",
]

RESULT_DEADLINE = 30.0  # the whole wait for `completed`


async def list_workflow_tools(conn: Conn, expected: set[str]) -> None:
    """Lists the tools, keeps their output schemas, and checks the surface serves `expected`."""
    listing = await asyncio.wait_for(conn.client.list_tools(), base.STEP_TIMEOUT)
    names = {t.name for t in listing.tools}
    check(names == expected, f"{conn.label}: tools {sorted(names)}, expected {sorted(expected)}")
    for tool in listing.tools:
        check(isinstance(tool.output_schema, dict), f"{conn.label}: {tool.name} has no outputSchema")
        conn.validators[tool.name] = base.validator_for(tool.output_schema)(tool.output_schema)


async def agent_loop(c: Conn) -> None:
    """The seed's loop, checking what an agent relies on at each step."""
    L = c.label
    listed = await c.ok("list_workflows", {"show_recent": True, "limit": 5})
    simple = next((w for w in listed["available_workflows"] if w["key"] == "simple"), None)
    check(simple is not None, f"{L}: simple is not offered: {listed['available_workflows']}")
    check(simple["safe_for_smoke"] is True and simple["requires"] == [], f"{L}: simple is not smoke-safe: {simple}")
    check(simple["arguments"] == [], f"{L}: simple takes arguments: {simple['arguments']}")
    check(simple["expected_history"] == SIMPLE_HISTORY, f"{L}: expected_history {simple['expected_history']}")
    check(listed["workflow_id_kind"] == "workflow_instance_id", f"{L}: {listed['workflow_id_kind']}")
    check(listed["run_id_kind"] == "workflow_run_id", f"{L}: {listed['run_id_kind']}")
    check("completed" in listed["status_values"], f"{L}: status_values {listed['status_values']}")
    check(isinstance(listed["recent_workflows"], list), f"{L}: recent_workflows missing with show_recent")
    step(L, "list_workflows {show_recent: true, limit: 5}")

    started = await c.ok("start_workflow", {"workflow": "simple", "business_key": "demo-001"})
    workflow_id = started["workflow_id"]
    check(started["running"] is True, f"{L}: a new run is not running: {started}")
    check(started["status"] in ("pending", "waiting", "running"), f"{L}: status after start {started['status']}")
    check(started["command"]["outcome"] == "started_new", f"{L}: start outcome {started['command']}")
    check(started["business_key"] == "demo-001", f"{L}: business_key {started['business_key']!r}")
    step(L, f"start_workflow simple -> {workflow_id}")

    deadline = time.monotonic() + RESULT_DEADLINE
    polls = 0
    while True:
        polls += 1
        result = await c.ok("get_workflow_result", {"workflow_id": workflow_id, "wait_seconds": 2})
        check(result["found"] is True, f"{L}: get_workflow_result did not find {workflow_id}: {result}")
        if result["status"] == "completed":
            break
        check(result["running"] is True, f"{L}: the run closed as {result['status']}: {result.get('error')}")
        if time.monotonic() > deadline:
            raise TestFailure(f"{L}: not completed within {RESULT_DEADLINE:.0f} s: {result}")
    check(result["output"] == "workflow_activity_other", f"{L}: output {result['output']!r}")
    check(result["error"] is None and result["current_run_is_selected"] is True, f"{L}: {result}")
    run_id = result["run_id"]
    step(L, f"get_workflow_result until completed ({polls} polls): workflow_activity_other")

    history = await c.ok("get_workflow_history", {"run_id": run_id, "limit": 25})
    types = [e["event_type"] for e in history["events"]]
    check(types == SIMPLE_HISTORY, f"{L}: history {types}")
    check([e["sequence"] for e in history["events"]] == list(range(1, 10)), f"{L}: sequences {history['events']}")
    check(history["history_event_count"] == 9 and history["payload_preview_limit_bytes"] == 4096, f"{L}: {history}")
    check(history["failures"] == [], f"{L}: failures {history['failures']}")
    step(L, "get_workflow_history {run_id, limit: 25}: the nine events in order")

    again = await c.ok("list_workflows", {"show_recent": True, "limit": 5})
    mine = [r for r in again["recent_workflows"] if r["workflow_id"] == workflow_id]
    check(len(mine) == 1 and mine[0]["status"] == "completed", f"{L}: recent_workflows {again['recent_workflows']}")
    step(L, "list_workflows shows the completed run")


async def over_http(url: str, key: str, label: str) -> None:
    with flow_deadline(label):
        async with base.http_client(key) as http:
            async with Client(
                streamable_http_client(url, http_client=http), mode="legacy", read_timeout_seconds=base.STEP_TIMEOUT
            ) as client:
                conn = Conn(client, label)
                await list_workflow_tools(conn, WORKFLOW_TOOLS)
                await agent_loop(conn)


async def over_stdio(binary: str, db_url: str, key: str, cwd: Path, label: str) -> None:
    params = StdioServerParameters(
        command=binary,
        args=["--database-url", db_url, "mcp", "stdio"],
        env={"WAYMARK_API_KEY": key, "WAYMARK_LOG": "warn"},
        cwd=str(cwd),
    )
    with flow_deadline(label):
        async with Client(params, mode="auto", read_timeout_seconds=base.STEP_TIMEOUT) as client:
            conn = Conn(client, label)
            await list_workflow_tools(conn, base.EXPECTED_TOOLS)
            await agent_loop(conn)


def run_backend(binary: str, name: str, db_url: str, tmp: Path) -> None:
    """Starts `waymark serve` on `db_url`, runs the loop over HTTP and stdio, stops it."""
    log_path = tmp / f"server-{name}.log"
    proc: subprocess.Popen | None = None
    try:
        port = base.free_port()
        url = f"http://127.0.0.1:{port}"
        workdir = tmp / name
        workdir.mkdir()
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [binary, "--database-url", db_url, "serve", "--listen", f"127.0.0.1:{port}"],
                cwd=workdir,
                env=base.server_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=base.die_with_parent,
            )
        base.wait_ready(proc, url)
        key = (workdir / ".waymark" / "bootstrap-key").read_text().strip()
        step(name, f"server ready on {url}")
        asyncio.run(over_http(url + "/mcp/workflows", key, f"{name} http /mcp/workflows"))
        rc = base.stop_server(proc)
        check(rc == 0, f"{name}: waymark serve exited with {rc} after SIGTERM")
        # stdio on its own: the stdio server runs the workers itself.
        asyncio.run(over_stdio(binary, db_url, key, workdir, f"{name} stdio"))
    except BaseException:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        tail = log_path.read_text(errors="replace")[-4000:] if log_path.exists() else "(no log)"
        print(f"\n--- waymark serve log ({name}, tail) ---\n{tail}", file=sys.stderr)
        raise


def psql(url: str, sql: str) -> None:
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], check=True, capture_output=True, timeout=30)


def main() -> int:
    binary = os.environ.get("WAYMARK_BIN")
    if not binary or not os.access(binary, os.X_OK):
        print("FAIL: set WAYMARK_BIN to the absolute path of the waymark binary", file=sys.stderr)
        return 2
    binary = os.path.abspath(binary)
    started = time.monotonic()
    admin_url = os.environ.get("WAYMARK_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
    database = f"wmk_py_loop_{uuid.uuid4().hex[:12]}"
    created = False
    with tempfile.TemporaryDirectory(prefix="waymark-py-loop-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            run_backend(binary, "sqlite", f"sqlite://{tmp / 'w.db'}?mode=rwc", tmp)
            try:
                psql(admin_url, f'CREATE DATABASE "{database}"')
            except (subprocess.CalledProcessError, FileNotFoundError, subprocess.TimeoutExpired) as e:
                detail = getattr(e, "stderr", b"") or b""
                raise TestFailure(f"cannot create a PostgreSQL database on {admin_url}: {e} {detail.decode(errors='replace')}") from e
            created = True
            pg_url = admin_url.rsplit("/", 1)[0] + f"/{database}"
            run_backend(binary, "postgres", pg_url, tmp)
        except Exception as e:
            for leaf in base.leaf_exceptions(e):
                if not isinstance(leaf, TestFailure):
                    traceback.print_exception(leaf)
                print(f"FAIL: {type(leaf).__name__}: {leaf}", file=sys.stderr)
            return 1
        finally:
            if created:
                try:
                    psql(admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                except Exception as e:  # cleanup only: report, do not mask the result
                    print(f"warning: could not drop database {database}: {e}", file=sys.stderr)
    print(f"OK ({time.monotonic() - started:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

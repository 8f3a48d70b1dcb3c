// End to end: the official MCP TypeScript SDK client (@modelcontextprotocol/client, pinned in
// package.json) drives the real `waymark` binary over streamable HTTP (bearer key) and over
// stdio, in the modes 'legacy' (initialize handshake), 'auto' (server/discover probe, then
// 2026-07-28) and { pin: '2026-07-28' }.
//
// In every mode: tools/list (exactly the 34 catalogue tools, each with an object inputSchema,
// an outputSchema and annotations), plan_create, plan_get, session_start, list_workflows, an unknown slug
// (isError with structuredContent.code "not_found"), and an unknown tool (JSON-RPC -32602).
// Every structuredContent, errors included, is checked against the tool's outputSchema with
// the SDK's own Ajv validator (the SDK itself checks successful results only).
//
// `cargo xtask ci` (step ts-client) starts `waymark serve` and runs this script with:
//   WAYMARK_BIN                absolute path of the waymark binary (stdio is spawned from it)
//   WAYMARK_TEST_URL           the server's MCP endpoint, http://127.0.0.1:<port>/mcp
//   WAYMARK_TEST_KEY           the server's bootstrap key (workspace `default`, read+write)
//   WAYMARK_TEST_DATABASE_URL  the server's SQLite database, shared with the stdio servers
//   WAYMARK_TEST_DIR           a scratch directory (working directory of the stdio servers)
// Exit code 0 means pass. Every stdio server it starts is closed before it exits.

import { Client, ProtocolError, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/client/stdio';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/client/validators/ajv';

const STEP_TIMEOUT_MS = 30_000; // every single request, and connecting
const EXPECTED_TOOLS = [
  'get_workflow_history', 'get_workflow_result', 'list_workflows',
  'phase_add', 'phase_add_checkpoint', 'phase_get', 'phase_update_status',
  'plan_archive', 'plan_create', 'plan_get', 'plan_list', 'plan_publish', 'plan_update_status',
  'session_artifact', 'session_continue', 'session_end', 'session_handoff', 'session_heartbeat',
  'session_list', 'session_log', 'session_replay', 'session_resume', 'session_start',
  'start_workflow', 'state_delete', 'state_get', 'state_list', 'state_set',
  'task_add', 'task_toggle', 'task_update',
  'template_create_plan', 'template_list', 'template_preview',
];
const MODERN = '2026-07-28';

class TestFailure extends Error {}

function check(cond, message) {
  if (!cond) throw new TestFailure(message);
}

function env(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`FAIL: ${name} is not set (cargo xtask ci sets it; see the comment at the top)`);
    process.exit(2);
  }
  return value;
}

async function within(label, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new TestFailure(`${label}: no answer within ${STEP_TIMEOUT_MS / 1000} s`)), STEP_TIMEOUT_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** One connected client, with the tools' compiled output schemas. */
class Conn {
  constructor(client, label) {
    this.client = client;
    this.label = label;
    this.validators = new Map();
    this.ajv = new AjvJsonSchemaValidator();
  }

  step(what) {
    console.log(`${this.label}: ${what} ok`);
  }

  async listTools() {
    const { tools, nextCursor } = await within(`${this.label}: tools/list`, this.client.listTools(undefined, { timeout: STEP_TIMEOUT_MS }));
    check(nextCursor === undefined, `${this.label}: tools/list was paginated`);
    const names = tools.map((t) => t.name);
    check(new Set(names).size === names.length, `${this.label}: duplicate tool names: ${names}`);
    const sorted = [...names].sort();
    check(
      JSON.stringify(sorted) === JSON.stringify(EXPECTED_TOOLS),
      `${this.label}: expected the ${EXPECTED_TOOLS.length} catalogue tools, got ${names.length}: ` +
        `missing [${EXPECTED_TOOLS.filter((n) => !names.includes(n))}], unexpected [${names.filter((n) => !EXPECTED_TOOLS.includes(n))}]`,
    );
    for (const tool of tools) {
      const where = `${this.label}: tool ${tool.name}`;
      check(tool.inputSchema?.type === 'object', `${where}: inputSchema type is not object`);
      check(tool.outputSchema && typeof tool.outputSchema === 'object', `${where}: no outputSchema`);
      check(typeof tool.annotations?.readOnlyHint === 'boolean', `${where}: annotations carry no readOnlyHint`);
      check(Boolean(tool.description), `${where}: no description`);
      try {
        this.validators.set(tool.name, this.ajv.getValidator(tool.outputSchema));
      } catch (e) {
        throw new TestFailure(`${where}: outputSchema does not compile: ${e.message}`);
      }
    }
    this.step(`tools/list (${tools.length} tools, schemas, annotations)`);
  }

  /** Calls a tool and checks the result's shape; returns { isError, sc }. */
  async call(name, args) {
    const where = `${this.label}: ${name}(${JSON.stringify(args)})`;
    const result = await within(where, this.client.callTool({ name, arguments: args }, { timeout: STEP_TIMEOUT_MS }));
    const sc = result.structuredContent;
    check(sc && typeof sc === 'object' && !Array.isArray(sc), `${where}: no structuredContent object (got ${JSON.stringify(sc)})`);
    const validate = this.validators.get(name);
    check(validate, `${where}: no outputSchema known (list tools first)`);
    const verdict = validate(sc);
    check(verdict.valid, `${where}: structuredContent does not match outputSchema: ${verdict.errorMessage}\n${JSON.stringify(sc)}`);
    const isError = result.isError === true;
    check(sc.success === !isError, `${where}: success=${sc.success} but isError=${result.isError}`);
    const texts = (result.content ?? []).filter((c) => c.type === 'text').map((c) => c.text);
    check(texts.length >= 1, `${where}: no text content block`);
    if (isError) {
      check(texts[0].includes(sc.error), `${where}: error text ${JSON.stringify(texts[0])} lacks the message ${JSON.stringify(sc.error)}`);
    } else {
      let parsed;
      try {
        parsed = JSON.parse(texts[0]);
      } catch {
        throw new TestFailure(`${where}: text content is not JSON: ${texts[0].slice(0, 200)}`);
      }
      check(JSON.stringify(parsed) === JSON.stringify(sc), `${where}: text content differs from structuredContent`);
    }
    return { isError, sc };
  }

  async ok(name, args) {
    const { isError, sc } = await this.call(name, args);
    check(!isError, `${this.label}: ${name} failed: ${sc.code}: ${sc.error} (details ${JSON.stringify(sc.details)})`);
    return sc;
  }

  async err(name, args, code) {
    const { isError, sc } = await this.call(name, args);
    check(isError, `${this.label}: ${name} should have failed with ${code} but succeeded: ${JSON.stringify(sc)}`);
    check(sc.code === code, `${this.label}: ${name} failed with ${sc.code} (${sc.error}), expected ${code}`);
    check(typeof sc.error === 'string' && sc.error.length > 0, `${this.label}: ${name}: empty error message`);
    return sc;
  }
}

async function exercise(conn, slug) {
  const L = conn.label;
  await conn.listTools();

  const title = `TypeScript SDK (${L})`;
  let sc = await conn.ok('plan_create', {
    title,
    slug,
    description: 'Created by the official MCP TypeScript SDK client.',
    context: { suite: 'tests/node', mode: L },
    phases: [{ name: 'Build', tasks: ['Write', 'Test'] }, { name: 'Ship', tasks: ['Release'], dependencies: [1] }],
  });
  check(sc.plan.slug === slug, `${L}: created slug ${sc.plan.slug}, asked ${slug}`);
  check(sc.plan.status === 'draft', `${L}: new plan status ${sc.plan.status}, expected draft`);
  check(sc.plan.phases === 2 && sc.plan.tasks === 3, `${L}: counts ${sc.plan.phases}/${sc.plan.tasks}, expected 2/3`);
  conn.step('plan_create');

  sc = await conn.ok('plan_get', { slug });
  check(sc.plan.title === title, `${L}: plan_get title ${sc.plan.title}`);
  check(sc.plan.phases.length === 2 && sc.plan.phases[0].tasks.length === 2, `${L}: plan_get phases ${JSON.stringify(sc.plan.phases)}`);
  sc = await conn.ok('plan_get', { slug, format: 'markdown' });
  check(typeof sc.markdown === 'string' && sc.markdown.startsWith(`# ${title}`), `${L}: markdown ${sc.markdown}`);
  conn.step('plan_get (json, markdown)');

  sc = await conn.ok('session_start', { agent_type: 'typescript-sdk', plan_slug: slug, context: { goal: 'ship' } });
  check(typeof sc.session.session_id === 'string' && sc.session.session_id.startsWith('sess_'), `${L}: session id ${sc.session.session_id}`);
  check(sc.session.plan === slug, `${L}: session plan ${JSON.stringify(sc.session)}`);
  conn.step('session_start');

  sc = await conn.ok('list_workflows', {});
  check(sc.available_workflows.some((w) => w.key === 'simple'), `${L}: list_workflows lacks simple: ${JSON.stringify(sc.available_workflows)}`);
  conn.step('list_workflows');

  await conn.err('plan_get', { slug: `${slug}-missing` }, 'not_found');
  conn.step('plan_get of an unknown slug (isError, code not_found)');

  try {
    await within(`${L}: unknown tool`, conn.client.callTool({ name: 'no_such_tool', arguments: {} }, { timeout: STEP_TIMEOUT_MS }));
    throw new TestFailure(`${L}: calling an unknown tool succeeded`);
  } catch (e) {
    if (e instanceof TestFailure) throw e;
    check(e instanceof ProtocolError && e.code === -32602, `${L}: unknown tool gave ${e?.constructor?.name} ${e?.code}: ${e?.message}, expected JSON-RPC -32602`);
  }
  conn.step('unknown tool (JSON-RPC -32602)');
}

const MODES = [
  ['legacy', 'legacy'],
  ['auto', 'auto'],
  ['pin', { pin: MODERN }],
];

async function session(label, mode, transport, slug) {
  const client = new Client({ name: 'waymark-ci-ts-client', version: '0.0.0' }, { versionNegotiation: { mode } });
  try {
    await within(`${label}: connect`, client.connect(transport, { timeout: STEP_TIMEOUT_MS }));
    const version = client.getNegotiatedProtocolVersion();
    if (mode === 'legacy') {
      check(version !== MODERN && /^\d{4}-\d{2}-\d{2}$/.test(version ?? ''), `${label}: legacy mode negotiated ${version}`);
    } else {
      check(version === MODERN, `${label}: negotiated ${version}, expected ${MODERN}`);
    }
    console.log(`${label}: connect (protocol ${version}) ok`);
    await exercise(new Conn(client, label), slug);
  } finally {
    await client.close().catch(() => {});
  }
}

async function main() {
  const bin = env('WAYMARK_BIN');
  const url = env('WAYMARK_TEST_URL');
  const key = env('WAYMARK_TEST_KEY');
  const databaseUrl = env('WAYMARK_TEST_DATABASE_URL');
  const dir = env('WAYMARK_TEST_DIR');
  const started = Date.now();

  for (const [name, mode] of MODES) {
    const transport = new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${key}` } },
    });
    await session(`http ${name}`, mode, transport, `ts-http-${name}`);
  }

  for (const [name, mode] of MODES) {
    // 'auto' acts as the workspace owner (no key, --workspace default); the others use the key.
    const owner = name === 'auto';
    const transport = new StdioClientTransport({
      command: bin,
      args: ['--database-url', databaseUrl, 'mcp', 'stdio', ...(owner ? ['--workspace', 'default'] : [])],
      env: { ...getDefaultEnvironment(), WAYMARK_LOG: 'warn,rmcp=error', ...(owner ? {} : { WAYMARK_API_KEY: key }) },
      cwd: dir,
      stderr: 'inherit',
    });
    await session(`stdio ${name}${owner ? ' (owner)' : ' (key)'}`, mode, transport, `ts-stdio-${name}`);
  }

  console.log(`OK (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

main().catch((e) => {
  if (!(e instanceof TestFailure)) console.error(e);
  console.error(`FAIL: ${e.message}`);
  process.exit(1);
});

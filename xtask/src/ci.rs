//! The `cargo xtask ci` pipeline, the one thing `.ci/run` runs.
//!
//! The steps run in order and the first failure stops the run. A summary of
//! every step's elapsed time is printed at the end, failed or not.

use std::ffi::OsString;
use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::clients::{self, Node};
use crate::util::{self, Cmd, Error, Result, secs};

/// Where the tests expect PostgreSQL.
const POSTGRES_ADDR: ([u8; 4], u16) = ([127, 0, 0, 1], 5432);

/// The database URL the tests use unless the caller sets another.
const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// How long one TCP connection attempt to PostgreSQL may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long to wait for PostgreSQL after starting its clusters.
const POSTGRES_START_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest one Python end-to-end test file may run.
const PYTHON_TEST_TIMEOUT: Duration = Duration::from_secs(300);

/// Where Debian keeps one directory per installed PostgreSQL version.
const POSTGRES_CONFIG_DIR: &str = "/etc/postgresql";

/// The Python end-to-end tests, relative to the repository root.
const PYTHON_TESTS_DIR: &str = "tests/python";

/// How one step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Passed,
    Failed,
}

/// The state shared by the steps of one CI run.
#[derive(Debug)]
struct Ci {
    root: PathBuf,
    /// Variables set for every child process from the step that sets them on.
    env: Vec<(String, OsString)>,
    target_dir: Option<PathBuf>,
    timings: Vec<(&'static str, Duration, Outcome)>,
    /// End-to-end programs that passed: Python test files, the TypeScript client, Inspector
    /// invocations and conformance runs.
    e2e_passed: usize,
    /// The server binary the end-to-end steps drive (set by the build step).
    waymark_bin: Option<PathBuf>,
    /// Node 22 and the npm packages (set by the node-deps step).
    node: Option<Node>,
}

/// Runs the whole pipeline in the repository at `root`.
pub(crate) fn run(root: &Path) -> Result<()> {
    let mut ci = Ci {
        root: root.to_path_buf(),
        env: Vec::new(),
        target_dir: None,
        timings: Vec::new(),
        e2e_passed: 0,
        waymark_bin: None,
        node: None,
    };
    let start = Instant::now();
    let result = ci.steps();
    ci.print_summary(start.elapsed(), result.is_ok());
    result
}

impl Ci {
    fn steps(&mut self) -> Result<()> {
        self.step("postgres", Self::ensure_postgres)?;
        self.step("fmt", |ci| ci.cargo().args(["fmt", "--all", "--", "--check"]).run())?;
        self.step("clippy", Self::clippy)?;
        self.step("build", Self::build_server)?;
        self.step("tests", Self::tests)?;
        self.step("doctests", |ci| {
            ci.cargo().env("INSTA_UPDATE", "no").env("CI", "true").args(["test", "--workspace", "--doc"]).run()
        })?;
        self.step("python-e2e", Self::python_e2e)?;
        self.step("node-deps", Self::node_deps)?;
        self.step("ts-client", Self::ts_client)?;
        self.step("inspector", Self::inspector)?;
        // Last: building the fixtures binary relinks target/debug/waymark (see the step).
        self.step("conformance", Self::conformance)?;
        Ok(())
    }

    /// Runs one step, recording its time and outcome.
    fn step(&mut self, name: &'static str, body: impl FnOnce(&mut Self) -> Result<()>) -> Result<()> {
        eprintln!();
        eprintln!("### step {name}");
        let start = Instant::now();
        let result = body(self);
        let outcome = if result.is_ok() { Outcome::Passed } else { Outcome::Failed };
        self.timings.push((name, start.elapsed(), outcome));
        result.map_err(|e| Error::new(format!("step {name} failed: {e}")))
    }

    fn print_summary(&self, total: Duration, passed: bool) {
        println!();
        println!("==> ci summary");
        for (name, elapsed, outcome) in &self.timings {
            let label = match outcome {
                Outcome::Passed => "ok",
                Outcome::Failed => "FAILED",
            };
            println!("    {label:<7}{name:<12}{:>9}", secs(*elapsed));
        }
        println!("    {:<19}{:>9}", "total", secs(total));
        if passed {
            println!("e2e: {} passed, 0 failed", self.e2e_passed);
        }
    }

    /// A cargo command that carries the variables set by earlier steps.
    fn cargo(&self) -> Cmd {
        Cmd::cargo().current_dir(&self.root).quiet_envs(&self.env)
    }

    /// Makes sure PostgreSQL answers on 127.0.0.1:5432, starting the local
    /// clusters when it does not, and points the tests at it.
    fn ensure_postgres(&mut self) -> Result<()> {
        if std::env::var_os("WAYMARK_TEST_POSTGRES_URL").is_none() {
            eprintln!("WAYMARK_TEST_POSTGRES_URL={POSTGRES_URL}");
            self.env.push(("WAYMARK_TEST_POSTGRES_URL".to_owned(), POSTGRES_URL.into()));
        }
        let addr = SocketAddr::from(POSTGRES_ADDR);
        if postgres_answers(addr) {
            eprintln!("PostgreSQL answers on {addr}");
            return Ok(());
        }
        eprintln!("PostgreSQL does not answer on {addr}; starting its clusters");
        let versions = postgres_versions()?;
        let mut started = false;
        for version in &versions {
            let start = Cmd::new("pg_ctlcluster", "pg_ctlcluster")
                .args(["--skip-systemctl-redirect", version, "main", "start"])
                .run();
            match start {
                Ok(()) => {
                    started = true;
                    break;
                }
                Err(e) => eprintln!("warning: {e}"),
            }
        }
        let deadline = Instant::now() + POSTGRES_START_TIMEOUT;
        loop {
            if postgres_answers(addr) {
                eprintln!("PostgreSQL answers on {addr}");
                return Ok(());
            }
            if Instant::now() >= deadline {
                break;
            }
            thread::sleep(Duration::from_millis(500));
        }
        let tried = versions.join(", ");
        Err(Error::new(if started {
            format!(
                "PostgreSQL was started (versions tried: {tried}) but does not answer on {addr} \
                 after {}; check its logs under /var/log/postgresql",
                secs(POSTGRES_START_TIMEOUT)
            )
        } else {
            format!(
                "PostgreSQL does not answer on {addr} and no cluster could be started \
                 (versions tried: {tried}); start it with \
                 `pg_ctlcluster --skip-systemctl-redirect <version> main start`"
            )
        }))
    }

    fn clippy(&mut self) -> Result<()> {
        let mut cmd = self.cargo().args(["clippy", "--workspace", "--all-targets"]);
        if self.root.join("Cargo.lock").is_file() {
            cmd = cmd.arg("--locked");
        }
        cmd.args(["--", "-D", "warnings"]).run()
    }

    /// Builds the server binary and points the later steps at it.
    fn build_server(&mut self) -> Result<()> {
        self.cargo().args(["build", "-p", "waymark", "--bin", "waymark"]).run()?;
        let bin = self.target_dir()?.join("debug").join(format!("waymark{}", std::env::consts::EXE_SUFFIX));
        if !bin.is_file() {
            return Err(Error::new(format!("the build succeeded but {} does not exist", bin.display())));
        }
        eprintln!("WAYMARK_BIN={}", bin.display());
        self.env.push(("WAYMARK_BIN".to_owned(), bin.clone().into()));
        self.waymark_bin = Some(bin);
        Ok(())
    }

    fn tests(&mut self) -> Result<()> {
        let nextest = self.cargo().args(["nextest", "--version"]).succeeds();
        let cmd = self.cargo().env("INSTA_UPDATE", "no").env("CI", "true");
        if nextest {
            cmd.args(["nextest", "run", "--workspace"]).run()
        } else {
            eprintln!("cargo-nextest is not installed; using cargo test");
            cmd.args(["test", "--workspace"]).run()
        }
    }

    /// Runs the Python MCP client end-to-end tests against the built server.
    fn python_e2e(&mut self) -> Result<()> {
        let tests_dir = self.root.join(PYTHON_TESTS_DIR);
        if !tests_dir.is_dir() {
            return Err(Error::new(format!("{PYTHON_TESTS_DIR} is missing; it holds the Python MCP end-to-end tests")));
        }
        let requirements_rel = format!("{PYTHON_TESTS_DIR}/requirements.txt");
        let requirements = fs::read(self.root.join(&requirements_rel)).map_err(|e| {
            Error::new(format!(
                "{requirements_rel} is missing or unreadable ({e}); it pins the Python test dependencies"
            ))
        })?;

        let venv = self.target_dir()?.join("xtask").join("venv");
        let python = venv.join("bin").join("python");
        if !python.is_file() {
            if let Some(parent) = venv.parent() {
                fs::create_dir_all(parent)
                    .map_err(|e| Error::new(format!("cannot create {}: {e}", parent.display())))?;
            }
            Cmd::new("python3", "python3").args(["-m", "venv"]).arg(&venv).run()?;
        }

        let stamp = venv.join(".requirements-stamp");
        if fs::read(&stamp).is_ok_and(|old| old == requirements) {
            eprintln!("{requirements_rel} is unchanged since the last install; skipping pip");
        } else {
            let pip = venv.join("bin").join("pip");
            Cmd::new(&pip, &pip.display().to_string())
                .args(["install", "--disable-pip-version-check", "-q", "-r"])
                .arg(&requirements_rel)
                .current_dir(&self.root)
                .run()?;
            fs::write(&stamp, &requirements)
                .map_err(|e| Error::new(format!("cannot write {}: {e}", stamp.display())))?;
        }

        let tests = python_test_files(&tests_dir)?;
        if tests.is_empty() {
            return Err(Error::new(format!("no {PYTHON_TESTS_DIR}/test_*.py files were found")));
        }
        for test in &tests {
            Cmd::new(&python, &python.display().to_string())
                .arg(format!("{PYTHON_TESTS_DIR}/{test}"))
                .env("PYTHONUNBUFFERED", "1")
                .quiet_envs(&self.env)
                .current_dir(&self.root)
                .timeout(PYTHON_TEST_TIMEOUT)
                .run()?;
            self.e2e_passed += 1;
        }
        Ok(())
    }

    /// Installs Node 22 and the npm packages of `tests/node` under `<target>/xtask`, or
    /// reuses them while the committed manifests are unchanged.
    fn node_deps(&mut self) -> Result<()> {
        let xtask_dir = self.target_dir()?.join("xtask");
        self.node = Some(Node::install(&self.root, &xtask_dir)?);
        Ok(())
    }

    /// The TypeScript SDK client against the normal binary, over HTTP and stdio.
    fn ts_client(&mut self) -> Result<()> {
        let (node, bin) = self.clients()?;
        self.e2e_passed += clients::ts_client(&node, &bin)?;
        Ok(())
    }

    /// The MCP Inspector CLI against the normal binary, over stdio and HTTP.
    fn inspector(&mut self) -> Result<()> {
        let (node, bin) = self.clients()?;
        self.e2e_passed += clients::inspector(&node, &bin)?;
        Ok(())
    }

    /// The official conformance suite against a `conformance-fixtures` build.
    ///
    /// Building with the feature relinks `target/debug/waymark`, so the fixtures binary is
    /// copied to `<target>/xtask/waymark-conformance` and the normal binary is rebuilt at once,
    /// before the suite runs and whether or not the fixtures build succeeded. Both builds share
    /// every dependency, so on a warm cache the rebuild is only a relink and leaves
    /// `target/debug/waymark` (what `WAYMARK_BIN` and developers use) the product binary.
    fn conformance(&mut self) -> Result<()> {
        let (node, bin) = self.clients()?;
        // The same targets and dependency features as the clippy step, so only the crates the
        // feature touches are checked again.
        let mut clippy =
            self.cargo().args(["clippy", "--workspace", "--all-targets", "--features", "waymark/conformance-fixtures"]);
        if self.root.join("Cargo.lock").is_file() {
            clippy = clippy.arg("--locked");
        }
        clippy.args(["--", "-D", "warnings"]).timeout(clients::CARGO_TIMEOUT).run()?;
        let fixtures =
            self.target_dir()?.join("xtask").join(format!("waymark-conformance{}", std::env::consts::EXE_SUFFIX));
        let built = self
            .cargo()
            .args(["build", "-p", "waymark", "--bin", "waymark", "--features", "conformance-fixtures"])
            .timeout(clients::CARGO_TIMEOUT)
            .run()
            .and_then(|()| {
                eprintln!("copying {} to {}", bin.display(), fixtures.display());
                fs::copy(&bin, &fixtures)
                    .map(drop)
                    .map_err(|e| Error::new(format!("cannot copy {} to {}: {e}", bin.display(), fixtures.display())))
            });
        let restored =
            self.cargo().args(["build", "-p", "waymark", "--bin", "waymark"]).timeout(clients::CARGO_TIMEOUT).run();
        built?;
        restored?;
        self.e2e_passed += clients::conformance(&self.root, &node, &fixtures)?;
        Ok(())
    }

    /// What the client steps need from the earlier ones.
    fn clients(&self) -> Result<(Node, PathBuf)> {
        let node = self.node.clone().ok_or_else(|| Error::new("the node-deps step has not run"))?;
        let bin = self.waymark_bin.clone().ok_or_else(|| Error::new("the build step has not run"))?;
        Ok((node, bin))
    }

    /// Returns cargo's target directory, asking `cargo metadata` once.
    fn target_dir(&mut self) -> Result<PathBuf> {
        if let Some(dir) = &self.target_dir {
            return Ok(dir.clone());
        }
        let metadata = util::cargo_metadata(&self.root, true)?;
        let dir = metadata["target_directory"]
            .as_str()
            .map(PathBuf::from)
            .ok_or_else(|| Error::new("`cargo metadata` printed no target_directory"))?;
        self.target_dir = Some(dir.clone());
        Ok(dir)
    }
}

/// Tells whether something accepts TCP connections on `addr`.
fn postgres_answers(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).is_ok()
}

/// Lists the installed PostgreSQL versions, newest name last.
fn postgres_versions() -> Result<Vec<String>> {
    let entries = fs::read_dir(POSTGRES_CONFIG_DIR).map_err(|e| {
        Error::new(format!(
            "PostgreSQL does not answer on 127.0.0.1:5432 and {POSTGRES_CONFIG_DIR} cannot be \
             read ({e}); is PostgreSQL installed?"
        ))
    })?;
    let mut versions: Vec<String> = entries
        .filter_map(std::result::Result::ok)
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    versions.sort();
    if versions.is_empty() {
        return Err(Error::new(format!(
            "PostgreSQL does not answer on 127.0.0.1:5432 and {POSTGRES_CONFIG_DIR} holds no cluster"
        )));
    }
    Ok(versions)
}

/// Lists the `test_*.py` files directly in `dir`, sorted by name.
fn python_test_files(dir: &Path) -> Result<Vec<String>> {
    let entries = fs::read_dir(dir).map_err(|e| Error::new(format!("cannot list {}: {e}", dir.display())))?;
    let mut tests: Vec<String> = entries
        .filter_map(std::result::Result::ok)
        .filter(|entry| entry.path().is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("test_") && name.ends_with(".py"))
        .collect();
    tests.sort();
    Ok(tests)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_test_files_are_filtered_and_sorted() {
        let dir = std::env::temp_dir().join(format!("xtask-ci-test-{}", std::process::id()));
        fs::create_dir_all(dir.join("test_dir.py")).unwrap();
        for name in ["test_b.py", "test_a.py", "helper.py", "test_c.txt", "conftest.py"] {
            fs::write(dir.join(name), "").unwrap();
        }
        let found = python_test_files(&dir);
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found.unwrap(), ["test_a.py", "test_b.py"]);
    }
}

//! Shared helpers: the error type, the repository root, `cargo metadata` and
//! running external commands with a visible header and timing.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// An error that ends the current xtask command with a message for the user.
#[derive(Debug)]
pub(crate) struct Error(String);

impl Error {
    /// Creates an error from a message that says what failed and, where it
    /// helps, what to do about it.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// The result type used throughout xtask.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// Returns the repository root, which is the parent of xtask's own directory.
pub(crate) fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().map_or_else(|| manifest_dir.to_path_buf(), Path::to_path_buf)
}

/// Returns the cargo binary to run: the one that started us when known.
fn cargo_program() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"))
}

/// Formats a duration as seconds with one decimal, such as `12.3s`.
pub(crate) fn secs(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

/// Runs `cargo metadata --format-version 1` in `root` and parses its output.
///
/// With `no_deps` the resolve graph is left out, which is much cheaper; without
/// it every feature of every workspace member is enabled so that optional
/// dependencies are seen too.
pub(crate) fn cargo_metadata(root: &Path, no_deps: bool) -> Result<serde_json::Value> {
    let mut cmd = Cmd::cargo().args(["metadata", "--format-version", "1"]).current_dir(root);
    cmd = if no_deps { cmd.arg("--no-deps") } else { cmd.arg("--all-features") };
    let stdout = cmd.output()?;
    serde_json::from_str(&stdout).map_err(|e| Error::new(format!("cannot parse the output of `cargo metadata`: {e}")))
}

/// An external command with a printable form, run with inherited output.
#[derive(Debug)]
pub(crate) struct Cmd {
    command: Command,
    shown_env: Vec<String>,
    shown_args: Vec<String>,
    timeout: Option<Duration>,
    output_file: Option<PathBuf>,
}

impl Cmd {
    /// Starts a command for `program`, shown in headers as `label`.
    pub(crate) fn new(program: impl AsRef<OsStr>, label: &str) -> Self {
        Self {
            command: Command::new(program),
            shown_env: Vec::new(),
            shown_args: vec![label.to_owned()],
            timeout: None,
            output_file: None,
        }
    }

    /// Starts a cargo command, using the cargo that runs xtask when known.
    pub(crate) fn cargo() -> Self {
        Self::new(cargo_program(), "cargo")
    }

    /// Adds one argument.
    pub(crate) fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.shown_args.push(quote(arg.as_ref()));
        self.command.arg(arg);
        self
    }

    /// Adds one argument that is shown as `shown`, for a secret such as a key.
    pub(crate) fn arg_masked(mut self, arg: impl AsRef<OsStr>, shown: &str) -> Self {
        self.shown_args.push(quote(OsStr::new(shown)));
        self.command.arg(arg);
        self
    }

    /// Adds several arguments.
    pub(crate) fn args<I, S>(self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        args.into_iter().fold(self, Self::arg)
    }

    /// Sets an environment variable that is shown in the header line.
    pub(crate) fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.shown_env.push(format!("{key}={}", quote(value.as_ref())));
        self.command.env(key, value);
        self
    }

    /// Sets environment variables that apply to every step and so are not
    /// repeated in each header line.
    pub(crate) fn quiet_envs(mut self, vars: &[(String, OsString)]) -> Self {
        for (key, value) in vars {
            self.command.env(key, value);
        }
        self
    }

    /// Sets the working directory.
    pub(crate) fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.command.current_dir(dir);
        self
    }

    /// Sends the command's standard output and error to `path` (created or truncated) instead
    /// of the terminal; [`Cmd::run`] names the file.
    pub(crate) fn output_to(mut self, path: impl AsRef<Path>) -> Self {
        self.output_file = Some(path.as_ref().to_path_buf());
        self
    }

    /// Kills the command and fails when it runs longer than `timeout`.
    pub(crate) fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Returns the command as it is shown to the user.
    pub(crate) fn display(&self) -> String {
        let mut parts = self.shown_env.clone();
        parts.extend(self.shown_args.iter().cloned());
        parts.join(" ")
    }

    /// Runs the command with a header line and its elapsed time afterwards,
    /// failing unless it exits successfully.
    pub(crate) fn run(mut self) -> Result<()> {
        let shown = self.display();
        eprintln!("==> {shown}");
        if let Some(path) = &self.output_file {
            eprintln!("    output: {}", path.display());
            let file = File::create(path).map_err(|e| Error::new(format!("cannot create {}: {e}", path.display())))?;
            let copy = file.try_clone().map_err(|e| Error::new(format!("cannot reopen {}: {e}", path.display())))?;
            self.command.stdout(copy).stderr(file);
        }
        let start = Instant::now();
        let mut child = self
            .command
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| Error::new(format!("cannot start `{shown}`: {e}")))?;
        let status = match self.timeout {
            None => child.wait(),
            Some(limit) => loop {
                match child.try_wait() {
                    Ok(Some(status)) => break Ok(status),
                    Ok(None) if start.elapsed() >= limit => {
                        // The kill can fail only when the child has just exited, which is fine.
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(Error::new(format!("`{shown}` timed out after {} and was killed", secs(limit))));
                    }
                    Ok(None) => thread::sleep(Duration::from_millis(100)),
                    Err(e) => break Err(e),
                }
            },
        }
        .map_err(|e| Error::new(format!("cannot wait for `{shown}`: {e}")))?;
        let elapsed = secs(start.elapsed());
        if status.success() {
            eprintln!("    finished in {elapsed}");
            Ok(())
        } else {
            Err(Error::new(format!("`{shown}` failed ({status}) after {elapsed}")))
        }
    }

    /// Runs the command silently and returns its standard output, failing
    /// with its standard error unless it exits successfully.
    pub(crate) fn output(mut self) -> Result<String> {
        let shown = self.display();
        let output = self
            .command
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::new(format!("cannot start `{shown}`: {e}")))?;
        if !output.status.success() {
            return Err(Error::new(format!(
                "`{shown}` failed ({}):\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim_end()
            )));
        }
        String::from_utf8(output.stdout).map_err(|e| Error::new(format!("`{shown}` printed invalid UTF-8: {e}")))
    }

    /// Runs the command silently and tells whether it exited successfully.
    pub(crate) fn succeeds(mut self) -> bool {
        self.command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }
}

/// Quotes an argument for display when it is empty or holds a space or quote.
fn quote(arg: &OsStr) -> String {
    let text = arg.to_string_lossy();
    if text.is_empty() || text.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
        format!("'{}'", text.replace('\'', r"'\''"))
    } else {
        text.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_shows_env_program_and_quoted_args() {
        let cmd = Cmd::new("cargo", "cargo").env("CI", "true").args(["fmt", "--all", "--", "--check"]).arg("two words");
        assert_eq!(cmd.display(), "CI=true cargo fmt --all -- --check 'two words'");
    }

    #[test]
    fn masked_arguments_are_not_shown() {
        let cmd = Cmd::new("curl", "curl")
            .arg("--header")
            .arg_masked("Authorization: Bearer wmk_secret", "Authorization: Bearer ***");
        assert_eq!(cmd.display(), "curl --header 'Authorization: Bearer ***'");
    }

    #[test]
    fn output_goes_to_the_file() {
        let path = std::env::temp_dir().join(format!("xtask-util-output-{}.log", std::process::id()));
        Cmd::new("sh", "sh").args(["-c", "echo out; echo err >&2"]).output_to(&path).run().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(text.contains("out") && text.contains("err"), "{text}");
    }

    #[test]
    fn failing_command_is_an_error() {
        let err = Cmd::new("sh", "sh").args(["-c", "exit 3"]).run().unwrap_err();
        assert!(err.to_string().contains("sh -c 'exit 3'"), "{err}");
    }

    #[test]
    fn timeout_kills_the_child() {
        let start = Instant::now();
        let err = Cmd::new("sleep", "sleep").arg("30").timeout(Duration::from_millis(300)).run().unwrap_err();
        assert!(err.to_string().contains("timed out"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn repo_root_holds_the_workspace_manifest() {
        assert!(repo_root().join("Cargo.toml").is_file());
        assert!(repo_root().join("xtask").is_dir());
    }
}

//! PostgreSQL's fsyncs happen in the server, not in the bench: in the counting pass the bench
//! attaches strace to the backends that serve its own connections (found by
//! `application_name`) for the measured blocks, then detaches. Other clients' backends, the
//! WAL writer and the checkpointer are not traced.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `strace -p` on some backends.
pub(crate) struct Tracer {
    child: Child,
}

impl Tracer {
    /// Attaches to `pids`, writing to `log` (same format as the xtask's own trace), and waits
    /// until strace reports every process attached.
    pub(crate) fn attach(pids: &[i32], log: &Path) -> Result<Self, String> {
        if pids.is_empty() {
            return Err("no PostgreSQL backend carries the bench's application_name".to_owned());
        }
        let mut command = Command::new("strace");
        command.args(["-f", "-e", "signal=none", "-e", "trace=fsync,fdatasync,pwrite64", "-ttt", "-y", "-s", "0"]);
        command.arg("-o").arg(log);
        for pid in pids {
            command.arg("-p").arg(pid.to_string());
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start strace: {e}"))?;
        let stderr = child.stderr.take().ok_or("strace has no stderr")?;
        let (attached, wait) = mpsc::channel();
        let expected = pids.len();
        std::thread::spawn(move || {
            let mut seen = 0;
            let mut text = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("attached") {
                    seen += 1;
                    if seen == expected {
                        let _ = attached.send(Ok(()));
                    }
                } else {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
            let _ = attached.send(Err(text));
        });
        match wait.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(Self { child }),
            Ok(Err(text)) => {
                let _ = child.wait();
                Err(format!("strace could not attach: {}", text.trim()))
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err("strace did not attach within 10 s".to_owned())
            }
        }
    }

    /// Detaches (SIGINT makes strace let go of the backends) and waits for strace to exit.
    pub(crate) fn detach(mut self) -> Result<(), String> {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .map_err(|e| format!("cannot signal strace: {e}"))?;
        if !status.success() {
            let _ = self.child.kill();
        }
        self.child.wait().map(drop).map_err(|e| format!("cannot wait for strace: {e}"))
    }
}

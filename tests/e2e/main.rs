//! End-to-end scenarios across crates: the `firebell` binary driven through its console, and
//! several replicas sharing one real `redis-server`.

mod alertmanager;
mod chaos;
mod console;
mod delivery;
mod hardening;
mod matrix;
mod oncall;
mod operations;
mod plugins;
mod replicas;
mod scheduler;
mod slack;
mod statuspage;
mod stopping;
mod topologies;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// How long a process or a server has to do what a test waits for.
const PATIENCE: Duration = Duration::from_secs(30);

/// A `firebell` process driven line by line through its console.
pub(crate) struct Firebell {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Firebell {
    pub(crate) fn start(config: &Path) -> Self {
        Self::start_with(config, &[])
    }

    /// Starts it with extra command-line arguments.
    pub(crate) fn start_with(config: &Path, args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_firebell"))
            .arg("--config")
            .arg(config)
            .args(args)
            .env("FIREBELL_LOG", "error")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("firebell starts");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, stdin, lines, seen: Vec::new() }
    }

    pub(crate) fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("line written");
        stdin.flush().expect("flushed");
    }

    /// Waits for a printed line containing `text`.
    pub(crate) fn expect(&mut self, text: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no line with {text:?} within {PATIENCE:?}; printed:\n{}", self.seen.join("\n"));
    }
}

impl Drop for Firebell {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `url` answers with a success.
pub(crate) async fn wait_until_ready(client: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if client.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not answer within {PATIENCE:?}");
}

/// A `firebell` process serving chat platforms rather than a console, logging warnings to the
/// test's output; killed on drop.
struct Daemon {
    child: Child,
}

impl Daemon {
    fn start(config: &Path) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_firebell"))
            .arg("--config")
            .arg(config)
            .env("FIREBELL_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("firebell starts");
        Self { child }
    }

    /// Sends `signal` (`STOP`, `CONT`, `TERM`) to the process.
    fn signal(&self, signal: &str) {
        let sent = Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status();
        assert!(sent.is_ok_and(|status| status.success()), "kill -{signal}");
    }

    /// Waits up to `patience` for the process to end; its exit status, if it did.
    fn wait_for_exit(&mut self, patience: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `wmcs` team of the end-to-end tests: its rooms and two people, alice and bob, on any
/// transport (`rooms` and `people` are written `transport:id`).
fn team_toml(admin_rooms: &[String], public_room: &str, alice: &str, bob: &str) -> String {
    let quoted: Vec<String> = admin_rooms.iter().map(|room| format!("\"{room}\"")).collect();
    format!(
        r##"[[teams]]
id = "wmcs"
name = "WMCS"
admin_rooms = [{admin}]
public_rooms = ["{public_room}"]
public_topic = "Wikimedia Cloud Services"
[[teams.members]]
name = "alice"
timezone = "Europe/Madrid"
ids = ["{alice}"]
[[teams.members]]
name = "bob"
timezone = "America/New_York"
ids = ["{bob}"]
"##,
        admin = quoted.join(", ")
    )
}

//! End-to-end scenarios across crates: the `firebell` binary driven through its console, and
//! several replicas sharing one real `redis-server`.

mod alertmanager;
mod chaos;
mod console;
mod delivery;
mod hardening;
mod matrix;
mod plugins;
mod replicas;
mod scheduler;
mod slack;

use std::path::Path;
use std::process::{Child, Command, Stdio};

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
    fn wait_for_exit(&mut self, patience: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + patience;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
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

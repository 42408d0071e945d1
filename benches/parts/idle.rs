//! What the `firebell` binary takes at idle, as an operator sees it: its resident memory (the
//! bot's own, anonymous, and the pages of the binary and libraries, file) a few seconds after
//! start, with the console and the memory store, and on Matrix with its SQLite stores against a
//! real Synapse (when `scripts/synapse install` has installed one); and the binary's size.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use firebell_testkit::{Synapse, TestDir};

/// Resident memory of a process, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Resident {
    /// Everything resident.
    pub total: u64,
    /// The process's own memory (heap, stacks).
    pub anonymous: u64,
    /// Pages of files: the binary and its libraries.
    pub file: u64,
}

impl std::fmt::Display for Resident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mb = |bytes: u64| bytes as f64 / 1_000_000.0;
        write!(f, "RSS {:.1} MB (anonymous {:.1} MB, file {:.1} MB)", mb(self.total), mb(self.anonymous), mb(self.file))
    }
}

/// Resident memory of `pid`, from `/proc/<pid>/status`.
fn resident(pid: u32) -> Resident {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kb = |field: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    Resident { total: kb("VmRSS:"), anonymous: kb("RssAnon:"), file: kb("RssFile:") + kb("RssShmem:") }
}

/// The environment that gives the bot back mimalloc's transparent huge pages, as it ran before
/// it was built without them (`no_thp`): the "before" of the idle figures, in the same run.
pub const WITH_HUGE_PAGES: (&str, &str) = ("MIMALLOC_ALLOW_THP", "1");

fn start(config: &Path, env: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_firebell"))
        .arg("--config")
        .arg(config)
        .envs(env.iter().copied())
        .env("FIREBELL_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("firebell starts")
}

/// Resident memory of the bot after `settle` at idle, then it is stopped.
fn idle(config: &Path, settle: Duration, env: &[(&str, &str)]) -> Resident {
    let mut child = start(config, env);
    std::thread::sleep(settle);
    let measured = resident(child.id());
    let _ = child.kill();
    let _ = child.wait();
    measured
}

/// The binary's size, in bytes.
pub fn binary_size() -> u64 {
    std::fs::metadata(env!("CARGO_BIN_EXE_firebell")).map_or(0, |meta| meta.len())
}

/// Idle with the console and the memory store (the config of the README's first command),
/// with the environment `env`.
pub fn console(env: &[(&str, &str)]) -> Resident {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    idle(&config, Duration::from_secs(3), env)
}

/// Idle on Matrix with its SQLite stores, logged in, synced and in its rooms on a real Synapse;
/// `None` when Synapse is not installed.
pub async fn matrix(env: &[(&str, &str)]) -> Option<Resident> {
    if !Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/synapse/bin/python").exists() {
        return None;
    }
    let synapse = Synapse::shared();
    let bot = synapse.register(&format!("firebell{}", env.len())).await;
    let alice = synapse.register("alice").await;
    let admin = alice.create_room("WMCS admin", &[bot.user_id.as_str()], false).await;
    let dir = TestDir::new("bench-idle-matrix");
    let config = format!(
        r##"
[console]
enabled = false
[matrix]
enabled = true
homeserver = "{homeserver}"
user_id = "{user}"
password = "{password}"
store = "{dir}/matrix"
[[teams]]
id = "wmcs"
name = "WMCS"
admin_rooms = ["matrix:{admin}"]
[[teams.members]]
name = "alice"
timezone = "Europe/Madrid"
ids = ["matrix:{alice}"]
"##,
        homeserver = synapse.url(),
        user = bot.user_id,
        password = bot.password,
        dir = dir.path().display(),
        alice = alice.user_id,
    );
    let path = dir.join("firebell.toml");
    std::fs::write(&path, config).expect("config written");
    let mut child = start(&path, env);
    alice.wait_for_member(&admin, &bot.user_id).await;
    let answered = alice.ask(&admin, &bot.user_id, "!help", 1).await;
    assert!(!answered.is_empty(), "the bot answers on Matrix");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let measured = resident(child.id());
    let _ = child.kill();
    let _ = child.wait();
    Some(measured)
}

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

/// Bytes in MiB, the unit `ps`, `top` and `/proc` count resident memory in (KiB pages).
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

impl std::fmt::Display for Resident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (total, anonymous, file) = (mib(self.total), mib(self.anonymous), mib(self.file));
        write!(f, "RSS {total:.1} MiB (anonymous {anonymous:.1} MiB, file {file:.1} MiB)")
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

/// The `firebell` binary measured: this build's, or an older one for a before-and-after in one
/// run (`FIREBELL_BENCH_BEFORE=/path/to/an/older/firebell`).
#[derive(Debug, Clone, Copy)]
pub enum Build<'a> {
    /// This build's binary.
    This,
    /// Another one.
    At(&'a Path),
}

impl Build<'_> {
    fn path(&self) -> &Path {
        match self {
            Build::This => Path::new(env!("CARGO_BIN_EXE_firebell")),
            Build::At(path) => path,
        }
    }

    /// The binary's size, in bytes.
    pub fn size(&self) -> u64 {
        std::fs::metadata(self.path()).map_or(0, |meta| meta.len())
    }
}

fn start(build: Build<'_>, config: &Path) -> Child {
    Command::new(build.path())
        .arg("--config")
        .arg(config)
        .env("FIREBELL_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("firebell starts")
}

/// Resident memory of the bot after `settle` at idle, then it is stopped.
fn idle(build: Build<'_>, config: &Path, settle: Duration) -> Resident {
    let mut child = start(build, config);
    std::thread::sleep(settle);
    let measured = resident(child.id());
    let _ = child.kill();
    let _ = child.wait();
    measured
}

/// Idle with the console and the memory store (the config of the README's first command).
pub fn console(build: Build<'_>) -> Resident {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    idle(build, &config, Duration::from_secs(3))
}

/// Idle on Matrix with its SQLite stores, logged in, synced and in its rooms on a real Synapse;
/// `None` when Synapse is not installed.
pub async fn matrix(build: Build<'_>) -> Option<Resident> {
    if !Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/synapse/bin/python").exists() {
        return None;
    }
    let synapse = Synapse::shared();
    let bot = synapse.register("firebell").await;
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
    let mut child = start(build, &path);
    alice.wait_for_member(&admin, &bot.user_id).await;
    let answered = alice.ask(&admin, &bot.user_id, "!help", 1).await;
    assert!(!answered.is_empty(), "the bot answers on Matrix");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let measured = resident(child.id());
    let _ = child.kill();
    let _ = child.wait();
    Some(measured)
}

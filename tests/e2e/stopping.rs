//! SIGTERM ends the process within `shutdown_grace` (here 2 s) in every state it can be in:
//! waiting for the store, connecting to a chat platform, running with the console's stdin still
//! open, and exits 0.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use firebell_testkit::{TestDir, free_port};

/// A config with a grace of 2 s and the console on, or, with `matrix` set, the console off and
/// Matrix on, at a homeserver that never answers.
fn config(dir: &Path, matrix: Option<&TcpListener>) -> std::path::PathBuf {
    let (console, room, extra) = match matrix {
        None => (true, "console:#wikimedia-cloud-admin".to_owned(), String::new()),
        Some(silent) => (
            false,
            "matrix:!admin:localhost".to_owned(),
            format!(
                "[matrix]\nenabled = true\nhomeserver = \"http://{}\"\nuser_id = \"@firebell:localhost\"\npassword = \"x\"\nstore = \"{}\"",
                silent.local_addr().expect("address"),
                dir.join("matrix").display()
            ),
        ),
    };
    let text = format!(
        r##"
[console]
enabled = {console}
[bot]
shutdown_grace = "2s"
{extra}
[[teams]]
id = "wmcs"
name = "WMCS"
admin_rooms = ["{room}"]
[[teams.members]]
name = "alice"
timezone = "Europe/Madrid"
ids = ["console:alice"]
"##
    );
    let path = dir.join("firebell.toml");
    std::fs::write(&path, text).expect("config written");
    path
}

fn start(config: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_firebell"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("FIREBELL_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("firebell starts")
}

/// Sends SIGTERM after `after` and returns how long the process took to end, and its status.
fn terminate_after(mut child: Child, after: Duration) -> (Duration, std::process::ExitStatus) {
    std::thread::sleep(after);
    assert!(child.try_wait().expect("wait").is_none(), "still running before the signal");
    let sent = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().expect("kill runs");
    assert!(sent.success());
    let signalled = Instant::now();
    while signalled.elapsed() < Duration::from_secs(10) {
        if let Some(status) = child.try_wait().expect("wait") {
            // Stdin stays open until here: the process must not wait for it.
            drop(child.stdin.take());
            return (signalled.elapsed(), status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    panic!("still running 10 s after SIGTERM");
}

fn assert_stopped_in_time((took, status): (Duration, std::process::ExitStatus), state: &str) {
    assert!(status.success(), "{state}: exit status {status:?}");
    assert!(took < Duration::from_secs(3), "{state}: took {took:?} after SIGTERM, more than the grace of 2 s and 1 s");
}

#[test]
fn sigterm_ends_the_console_while_its_stdin_is_still_open() {
    let dir = TestDir::new("stop-console");
    let child = start(&config(dir.path(), None), &[]);
    assert_stopped_in_time(terminate_after(child, Duration::from_secs(1)), "running with stdin open");
}

#[test]
fn sigterm_ends_the_wait_for_an_unreachable_store() {
    let dir = TestDir::new("stop-store");
    let closed = format!("redis://127.0.0.1:{}", free_port());
    let silent = TcpListener::bind("127.0.0.1:0").expect("bound");
    for (matrix, state) in [(None, "waiting for Redis, console on"), (Some(&silent), "waiting for Redis, console off")]
    {
        let child = start(&config(dir.path(), matrix), &["--store", &closed]);
        assert_stopped_in_time(terminate_after(child, Duration::from_millis(2500)), state);
    }
}

#[test]
fn sigterm_ends_the_connection_to_a_homeserver_that_never_answers() {
    let dir = TestDir::new("stop-matrix");
    // A socket that takes connections and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bound");
    let child = start(&config(dir.path(), Some(&silent)), &[]);
    assert_stopped_in_time(terminate_after(child, Duration::from_secs(2)), "connecting to Matrix");
}

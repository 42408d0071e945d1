//! The `firebell` binary, driven through stdin like a user would, on both stores.

use std::io::Write;
use std::process::{Command, Stdio};

use firebell_testkit::{RedisServer, TestDir};

const SESSION: &str = include_str!("session.txt");
const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml");

/// Runs `firebell` on the example config with a manual clock, feeding `script` to stdin.
pub(crate) fn firebell(store: Option<&str>, script: &str) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_firebell"));
    command.args(["--config", CONFIG, "--clock", "2026-11-21T03:00:00Z"]);
    if let Some(url) = store {
        command.args(["--store", url]);
    }
    let mut child =
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("firebell starts");
    child.stdin.take().expect("stdin").write_all(script.as_bytes()).expect("script written");
    let output = child.wait_with_output().expect("firebell ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "firebell failed: {stderr}");
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// Asserts that `expected` lines appear in `output`, in this order.
fn assert_in_order(output: &str, expected: &[&str]) {
    let mut lines = output.lines();
    for line in expected {
        assert!(lines.any(|l| l == *line), "missing or out of order: {line:?}\n--- output ---\n{output}");
    }
}

const ADMIN: &str = "[#wikimedia-cloud-admin] firebell: ";

#[test]
fn a_whole_incident_runs_through_the_console() {
    let output = firebell(None, SESSION);
    let admin = |text: &str| format!("{ADMIN}{text}");
    assert_in_order(
        &output,
        &[
            "[#wikimedia-cloud] firebell: Your declaration D1 \"Toolforge webservices return 502\" waits for a member of team WMCS to confirm it; they have been asked.",
            &admin(
                "visitor asks to declare an incident: \"Toolforge webservices return 502\" (user-facing). A team member confirms with !incident confirm D1 or rejects with !incident reject D1.",
            ),
            &admin(
                "WMCS-1 declared: \"2026-11-21 [WMCS] Toolforge webservices return 502\" (sev 2, user-facing). No IC yet: a team member takes the role with !ic. Keep the status doc current with !incident update <text>.",
            ),
            "[#wikimedia-cloud] topic: Ongoing incident: Toolforge webservices return 502",
            "[#wikimedia-cloud] firebell: @visitor: your declaration D1 was confirmed by bob.",
            &admin("alice is now the IC of WMCS-1."),
            &admin("alice is the IC of WMCS-1."),
            &admin("WMCS-1 status doc updated."),
            &admin("WMCS-1: noted, carol is doing: checking haproxy on tools-proxy-9"),
            &admin("WMCS-1 task 1 for @dave: check the k8s ingress pods"),
            &admin("Logged in the server admin log for tools; also in the timeline of WMCS-1."),
            &admin("error: expected @user, got \"bob\"; usage: !ic handoff [ID] @user"),
            &admin(
                "@bob: alice offers you the IC role for WMCS-1. Reply !ic accept or !ic decline within 10m; until then alice stays IC.",
            ),
            &admin("bob is now the IC of WMCS-1, taking over from @alice."),
            &admin("You are the IC of WMCS-1."),
            &admin("WMCS-1 task 1 done."),
            &admin("WMCS-1 follow-up recorded, tracked in T12345."),
            &admin(
                "error: unknown subcommand \"frobnicate\"; expected one of: !incident declare, !incident confirm, !incident reject, !incident update, !incident snooze, !incident doing, !incident task, !incident done, !incident note, !incident followup, !incident show, !incident list, !incident resolve, !incident report, !incident status, !incident disclose",
            ),
            &admin("WMCS-1 · 2026-11-21 [WMCS] Toolforge webservices return 502"),
            &admin("IC: bob (since 03:03 UTC)"),
            &admin("Status (03:43 UTC, bob): webservices answering again; monitoring"),
            &admin("WMCS-1 resolved by bob after 43m. You are no longer the IC. Good job!"),
            &admin("## Summary"),
            &admin("haproxy ran out of file descriptors; raised the limit"),
            &admin("## Incident coordinators"),
            &admin("- alice: 2026-11-21 03:00 UTC – 2026-11-21 03:03 UTC"),
            &admin("- bob: 2026-11-21 03:03 UTC – 2026-11-21 03:43 UTC"),
            &admin("- 2026-11-21 03:00 alice: offered the IC role to bob"),
            &admin("- 2026-11-21 03:03 bob: accepted the IC role from alice and became the IC"),
            &admin("## Admin log"),
            &admin("- 2026-11-21 03:00 carol: [tools] restarted haproxy on tools-proxy-9"),
            &admin("## Follow-ups"),
            &admin("- [ ] alert on proxy 5xx rate (T12345)"),
            "[#wikimedia-cloud] firebell: WMCS-1 \"Toolforge webservices return 502\" is resolved (after 43m).",
            "[#wikimedia-cloud] topic: Wikimedia Cloud Services support | Status: all systems normal",
            &admin("- WMCS-1 2026-11-21 [WMCS] Toolforge webservices return 502 (resolved after 43m)"),
            "[#random] firebell: this room is not configured for any team, so only !help works here; an admin can add it to a team's admin_rooms or public_rooms in the config",
        ],
    );
    assert!(!output.contains("frobnicate\n"), "a wrong command changes nothing");
    let wrong = output.lines().filter(|l| l.contains("error:")).count();
    assert_eq!(wrong, 2, "exactly the two wrong commands got errors:\n{output}");
}

#[test]
fn the_same_session_on_redis_prints_the_same_and_a_second_process_sees_it() {
    let server = RedisServer::start();
    let on_memory = firebell(None, SESSION);
    let on_redis = firebell(Some(&server.url()), SESSION);
    assert_eq!(on_memory, on_redis);

    let second = firebell(Some(&server.url()), "!incident declare ToolsDB is read-only\n");
    assert!(second.starts_with(&format!("{ADMIN}WMCS-2 declared")), "{second}");
    let third = firebell(Some(&server.url()), "bob: !incident list\nbob: !ic\n");
    assert_eq!(
        third,
        format!(
            "{ADMIN}Open incidents of team WMCS:\n\
             {ADMIN}- WMCS-2 2026-11-21 [WMCS] ToolsDB is read-only (IC alice, open for <1m)\n\
             {ADMIN}Recently resolved:\n\
             {ADMIN}- WMCS-1 2026-11-21 [WMCS] Toolforge webservices return 502 (resolved after 43m)\n\
             {ADMIN}alice is the IC of WMCS-2.\n"
        )
    );
}

#[test]
fn a_bad_config_or_store_stops_with_one_line() {
    let output = Command::new(env!("CARGO_BIN_EXE_firebell"))
        .args(["--config", CONFIG, "--store", "postgres://localhost"])
        .output()
        .expect("firebell runs");
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "firebell: store URL: expected memory://, redis://HOST:PORT[/DB], rediss://…, redis+sentinel://HOST:PORT,…/MASTER or redis+cluster://HOST:PORT,…, got \"postgres://localhost\"\n"
    );
}

#[test]
fn reminders_show_up_while_the_console_sleeps() {
    let dir = TestDir::new("sleep");
    let config = dir.join("fast.toml");
    let text = std::fs::read_to_string(CONFIG)
        .expect("example config")
        .replace("reminder_interval = \"30m\"", "reminder_interval = \"1s\"")
        .replace("tick = \"500ms\"", "tick = \"100ms\"");
    std::fs::write(&config, text).expect("config written");
    let mut child = Command::new(env!("CARGO_BIN_EXE_firebell"))
        .args(["--config".as_ref(), config.as_os_str()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("firebell starts");
    let script = "!incident declare Ceph down\n/sleep 2500ms\n!incident list\n";
    child.stdin.take().expect("stdin").write_all(script.as_bytes()).expect("script written");
    let output = String::from_utf8(child.wait_with_output().expect("firebell ends").stdout).expect("utf-8");
    let lines: Vec<&str> = output.lines().collect();
    let position =
        |text: &str| lines.iter().position(|l| l.contains(text)).unwrap_or_else(|| panic!("{text:?} in\n{output}"));
    let declared = position("WMCS-1 declared");
    let (first, second) = (position("Reminder 1 for WMCS-1"), position("Reminder 2 for WMCS-1"));
    let listed = position("Open incidents of team WMCS:");
    assert!(declared < first && first < second && second < listed, "reminders come during the pause:\n{output}");
}

#[test]
fn silly_sleeps_and_broken_bytes_get_one_line_each_and_the_session_goes_on() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_firebell"));
    command.args(["--config", CONFIG, "--clock", "2026-11-21T03:00:00Z"]);
    let mut child =
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("firebell starts");
    let mut script = b"/sleep 300000y\n!incident list\n".to_vec();
    script.extend_from_slice(b"!incident declare caf\xe9 down\n/sleep 30days\n!incident list\n");
    child.stdin.take().expect("stdin").write_all(&script).expect("script written");
    let output = child.wait_with_output().expect("firebell ends");
    assert!(output.status.success(), "no panic: {}", String::from_utf8_lossy(&output.stderr));
    let output = String::from_utf8(output.stdout).expect("utf-8 output");
    let errors: Vec<&str> = output.lines().filter(|line| line.starts_with("[console] error:")).collect();
    assert_eq!(
        errors,
        [
            "[console] error: /sleep expects a duration like 2s or 30m, up to 30 days, got \"300000y\"",
            "[console] error: line 3 is not valid UTF-8; it was skipped",
        ]
    );
    let lists = output.lines().filter(|line| line.contains("has no open incident")).count();
    assert_eq!(lists, 2, "the session went on after each:\n{output}");
}

#[test]
fn an_events_claim_is_kept_as_long_as_its_platform_may_deliver_it_again() {
    let server = RedisServer::start();
    firebell(Some(&server.url()), "!incident declare ToolsDB is read-only\n");
    let cli = |args: &[&str]| {
        let output = Command::new("redis-cli").args(["-p", &server.port().to_string()]).args(args).output();
        String::from_utf8_lossy(&output.expect("redis-cli runs").stdout).trim().to_owned()
    };
    let claims = cli(&["--scan", "--pattern", "firebell:{wmcs}:seen:console:*"]);
    let claim = claims.lines().next().expect("the command's claim");
    let ttl: u64 = cli(&["ttl", claim]).parse().expect("a TTL");
    assert!((3000..=3600).contains(&ttl), "a console line is remembered for an hour, not a day: {ttl} s");
}

//! On-call schedules through the binary: shift notices once across two replicas on one
//! `redis-server` while one is killed, the calendar feed over HTTP read by an independent parser
//! (Python's `icalendar`), wrong tokens, and an import from another tool's export over HTTP.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, Utc};
use firebell_plugin_oncall::schedule::Schedule;
use firebell_testkit::{RedisServer, TestDir, free_port};

use crate::Firebell;
use crate::scheduler::Replica;

/// A roster of ten people (p0…p9, p0 the admin), with what `extra` adds to the bot (`[http]`)
/// and `team` to the team (a schedule).
fn config(dir: &Path, extra: &str, team: &str) -> PathBuf {
    let members: String = (0..10)
        .map(|n| {
            let admin = if n == 0 { "admin = true\n" } else { "" };
            format!(
                "[[teams.members]]\nname = \"p{n}\"\ntimezone = \"Europe/Madrid\"\nids = [\"console:p{n}\"]\n{admin}"
            )
        })
        .collect();
    let text = format!(
        r##"
[console]
user = "p0"
room = "#wikimedia-cloud-admin"

[scheduler]
tick = "100ms"
reclaim_after = "2s"

{extra}

[[teams]]
id = "wmcs"
name = "WMCS"
admin_rooms = ["console:#wikimedia-cloud-admin"]

[teams.settings.oncall]
remind_before = "0s"

{team}

{members}"##
    );
    let path = dir.join("oncall.toml");
    std::fs::write(&path, text).expect("config written");
    path
}

#[test]
fn shift_notices_go_out_once_each_with_two_replicas_while_one_is_killed() {
    let server = RedisServer::start();
    let config = config(server.dir(), "", "");
    // Ten back-to-back overrides of 2 seconds, p0 … p9, from 8 seconds from now.
    let first = Utc::now() + chrono::Duration::seconds(8);
    let overrides: String = (0..10)
        .map(|n| {
            let start = first + chrono::Duration::seconds(2 * n);
            format!("!oncall override @p{n} from {} UTC for 2s\n", start.format("%H:%M:%S"))
        })
        .collect();
    let a = Replica::start(&config, &server.url(), &format!("{overrides}/sleep 36s\n"));
    let b = Replica::start(&config, &server.url(), "/sleep 60s\n");
    std::thread::sleep(Duration::from_secs(16));
    let from_b = b.kill();
    let from_a = a.finish();
    let made = from_a.iter().filter(|line| line.contains("is on call from")).count();
    assert_eq!(made, 10, "{from_a:#?}");
    let mut starts: BTreeMap<String, usize> = BTreeMap::new();
    let mut handovers: BTreeMap<String, usize> = BTreeMap::new();
    for line in from_a.iter().chain(&from_b) {
        let person = line.trim_start_matches("[@").split(']').next().unwrap_or_default().to_owned();
        if line.contains("You are on call for WMCS now") {
            *starts.entry(person).or_default() += 1;
        } else if line.contains("Your on-call shift for WMCS is over") {
            *handovers.entry(person).or_default() += 1;
        }
    }
    let everyone: BTreeMap<String, usize> = (0..10).map(|n| (format!("p{n}"), 1)).collect();
    assert_eq!(starts, everyone, "each shift start told once:\nA: {from_a:#?}\nB: {from_b:#?}");
    assert_eq!(handovers, everyone, "each outgoing person told once");
    assert!(
        from_a
            .iter()
            .chain(&from_b)
            .any(|l| l.contains("[@p0] firebell: Your on-call shift for WMCS is over: p1 takes over")),
        "the outgoing person is told who takes over"
    );
    let by_b = from_b.iter().filter(|l| l.contains("You are on call for WMCS now")).count();
    eprintln!("shift notices: {} by the killed replica, {} by the other", by_b, 10 - by_b);
}

/// A schedule in Madrid time with two layers, as in the README.
const SCHEDULE: &str = r#"
[teams.config.oncall]
timezone = "Europe/Madrid"

[[teams.config.oncall.layers]]
name = "primary"
rotation = "daily"
handoff = "09:00"
start = "2026-11-30"
participants = ["p1", "p2", "p3"]

[[teams.config.oncall.layers]]
name = "daytime"
rotation = "weekly"
handoff = "09:00"
start = "2026-11-30"
participants = ["p4", "p5"]
only = ["weekdays 09:00-17:00 Asia/Kolkata"]
"#;

/// The same schedule as the plugin keeps it.
fn schedule() -> Schedule {
    serde_json::from_value(serde_json::json!({
        "timezone": "Europe/Madrid",
        "layers": [
            { "name": "primary", "rotation": "daily", "handoff": "09:00", "start": "2026-11-30",
              "participants": ["p1", "p2", "p3"] },
            { "name": "daytime", "rotation": "weekly", "handoff": "09:00", "start": "2026-11-30",
              "participants": ["p4", "p5"], "restrictions": ["weekdays 09:00-17:00 Asia/Kolkata"] },
        ]
    }))
    .expect("a schedule")
}

/// The `[http]` table of a server on `port`, reached at `public`.
fn http(port: u16) -> String {
    format!("[http]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://localhost:{port}/\"\n")
}

/// Events as Python's icalendar reads them: (summary, start, end) by UID.
fn read_with_icalendar(dir: &Path, body: &str) -> BTreeMap<String, (String, DateTime<Utc>, DateTime<Utc>)> {
    let file = dir.join("feed.ics");
    std::fs::write(&file, body).expect("feed written");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ical-events");
    let output = Command::new(script).arg(&file).output().expect("scripts/ical-events runs");
    assert!(output.status.success(), "icalendar refused the feed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).expect("a JSON event");
            let time = |key: &str| DateTime::parse_from_rfc3339(event[key].as_str().unwrap()).unwrap().to_utc();
            (
                event["uid"].as_str().unwrap().to_owned(),
                (event["summary"].as_str().unwrap().to_owned(), time("start"), time("end")),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_calendar_feed_parses_with_icalendar_matches_the_schedule_and_shrugs_off_wrong_tokens() {
    let dir = TestDir::new("oncall-feed");
    let port = free_port();
    let config = config(dir.path(), &http(port), SCHEDULE);
    let mut bot = Firebell::start(&config);
    let client = reqwest::Client::new();
    crate::wait_until_ready(&client, &format!("http://127.0.0.1:{port}/health/live")).await;
    bot.say("/user p2");
    bot.say("!oncall ical");
    let link_line = bot.expect(&format!("- everyone: http://localhost:{port}/oncall/wmcs.ics?token="));
    let link = link_line.split("- everyone: ").nth(1).unwrap().trim().replace("localhost", "127.0.0.1");
    let token = link.rsplit('=').next().unwrap().to_owned();
    let fetch = |url: String| {
        let client = client.clone();
        async move {
            let response = client.get(url).send().await.expect("an answer");
            let status = response.status().as_u16();
            let kind = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
            (status, kind, response.text().await.expect("a body"))
        }
    };
    let (status, kind, first) = fetch(link.clone()).await;
    assert_eq!((status, kind.as_deref()), (200, Some("text/calendar; charset=utf-8")));
    let events = read_with_icalendar(dir.path(), &first);
    let now = Utc::now();
    let computed = schedule().shifts(&[], now - chrono::Duration::days(40), now + chrono::Duration::days(100));
    assert!(events.len() > 90, "three months of shifts: {}", events.len());
    for (uid, (summary, start, end)) in &events {
        let person = summary.trim_start_matches("On call: ").split(' ').next().unwrap();
        let matching = computed.iter().find(|s| s.start == *start && s.person == person);
        let shift = matching.unwrap_or_else(|| panic!("{uid} {summary} {start}..{end} is no computed shift"));
        assert!(*end == shift.end || *end > now + chrono::Duration::days(89), "{uid} ends when the shift does");
    }
    let (_, _, second) = fetch(link.clone()).await;
    let again = read_with_icalendar(dir.path(), &second);
    assert_eq!(events.keys().collect::<Vec<_>>(), again.keys().collect::<Vec<_>>(), "the same UIDs");

    // 1,000 wrong tokens, 50 at a time, while the owner keeps fetching.
    let wrong: Vec<String> =
        (0..1000).map(|n| format!("http://127.0.0.1:{port}/oncall/wmcs.ics?token={n:040}")).collect();
    let mut answers = Vec::new();
    for batch in wrong.chunks(50) {
        let owner = fetch(link.clone());
        let others = futures_util::future::join_all(batch.iter().cloned().map(fetch));
        let (owner, others) = tokio::join!(owner, others);
        assert_eq!(owner.0, 200, "the owner's feed keeps working");
        answers.extend(others);
    }
    assert!(
        answers.iter().all(|(status, _, body)| *status == 404 && body == "not found\n"),
        "wrong tokens reveal nothing"
    );
    let (status, _, body) = fetch(format!("http://127.0.0.1:{port}/oncall/wmcs/p2.ics?token={token}")).await;
    assert_eq!(status, 200);
    assert!(body.contains("SUMMARY:On call: p2 (WMCS)") && !body.contains("p1 (WMCS)"), "only p2's shifts");
    bot.say("!oncall ical revoke");
    bot.expect("Your calendar link is revoked");
    assert_eq!(fetch(link).await.0, 404, "a revoked token");
}

/// A PagerDuty schedule export in the shape PagerDuty serves it.
fn pagerduty_export(start: DateTime<Utc>) -> String {
    let at = |hours: i64| (start + chrono::Duration::hours(hours)).format("%Y%m%dT%H%M%SZ").to_string();
    let event = |n: i64, who: &str, email: &str| {
        format!(
            "BEGIN:VEVENT\r\nUID:Q1ABCD{n}@pagerduty.com\r\nDTSTART:{}\r\nDTEND:{}\r\nSUMMARY:On Call - {who} - Primary\r\n\
             ATTENDEE;CN={who}:mailto:{email}\r\nURL:https://acme.pagerduty.com/schedules/PABC123\r\nEND:VEVENT\r\n",
            at(n * 24),
            at(n * 24 + 24)
        )
    };
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//PagerDuty Inc.//PagerDuty Calendar//EN\r\nX-WR-CALNAME:Primary\r\n{}{}{}END:VCALENDAR\r\n",
        event(0, "P1 Smith", "p1@example.com"),
        event(1, "Pat Seven", "pat.seven@example.com"),
        event(2, "P3 Jones", "p3.jones@example.com"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_of_a_pagerduty_export_over_http_becomes_overrides_or_says_why_not() {
    use axum::routing::get;
    let start = Utc::now() + chrono::Duration::hours(1);
    let export = pagerduty_export(start);
    let app = axum::Router::new()
        .route(
            "/pd.ics",
            get(move || {
                let export = export.clone();
                async move { export }
            }),
        )
        .route("/page.html", get(|| async { "<html><body>Log in</body></html>" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = TestDir::new("oncall-import");
    let port = free_port();
    let config = config(dir.path(), &http(port), "");
    let mut bot = Firebell::start(&config);
    bot.say(&format!("!oncall import http://{address}/pd.ics"));
    bot.expect("Reading the calendar; I will say what it holds.");
    let refused = bot.expect("Nothing imported");
    assert!(refused.contains("1 of 3 shifts name people not on the roster: Pat Seven"), "{refused}");
    assert!(refused.contains("--names \"Pat Seven=rostername\""), "{refused}");
    bot.say(&format!("!oncall import http://{address}/pd.ics --names \"Pat Seven=p7\""));
    let imported = bot.expect("Imported");
    assert!(imported.contains("Imported 3 shifts of the next 90 days as overrides (p1, p3, p7)"), "{imported}");
    bot.say("!oncall overrides");
    bot.expect("Overrides for WMCS");
    bot.expect(": p1 from");
    bot.say(&format!("!oncall import http://{address}/pd.ics --names \"Pat Seven=p7\""));
    bot.expect("Imported 3 shifts");
    bot.say("!oncall schedule 4d");
    let first = bot.expect("(override)");
    assert!(first.contains("p1 (override)"), "{first}");
    bot.say(&format!("!oncall import http://{address}/page.html"));
    bot.expect("Nothing imported: expected an iCalendar file");
    bot.say(&format!("!oncall import http://{address}/missing.ics"));
    bot.expect("Nothing imported: the calendar could not be fetched: the server answered 404 Not Found.");
    bot.say("!oncall import ftp://example.org/x.ics");
    bot.expect("expected the export's https:// (or webcal://) URL");
}

/// A push endpoint whose first answer takes 4 seconds: (idempotency key, body) of every post.
async fn slow_push_endpoint() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::http::HeaderMap;
    let keys = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = keys.clone();
    let app = axum::Router::new().fallback(axum::routing::post(move |headers: HeaderMap| {
        let seen = seen.clone();
        async move {
            let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            let first = {
                let mut seen = seen.lock().unwrap();
                seen.push(key);
                seen.len() == 1
            };
            if first {
                tokio::time::sleep(Duration::from_secs(4)).await;
            }
            "ok"
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/"), keys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_cut_short_by_a_killed_replica_is_sent_again_under_the_same_idempotency_key() {
    let (push_url, keys) = slow_push_endpoint().await;
    let server = RedisServer::start();
    let fast = "[scheduler]\ntick = \"100ms\"\nreclaim_after = \"2s\"\ndelivery_grace = \"2s\"\n";
    let (port_a, port_b) = (free_port(), free_port());
    let config_a = config(server.dir(), &http(port_a), "[teams.settings.paging]\noncall = \"p1\"\n");
    let p1 = "ids = [\"console:p1\"]\n";
    let config_a_text = std::fs::read_to_string(&config_a)
        .unwrap()
        .replace("[scheduler]\ntick = \"100ms\"\nreclaim_after = \"2s\"\n", fast)
        .replace(p1, &format!("{p1}push = {{ url = \"{push_url}\", topic = \"p1-pages\" }}\n"));
    assert!(config_a_text.contains("delivery_grace") && config_a_text.contains("p1-pages"), "{config_a_text}");
    std::fs::write(&config_a, &config_a_text).unwrap();
    let config_b = server.dir().join("b.toml");
    std::fs::write(&config_b, config_a_text.replace(&format!("127.0.0.1:{port_a}"), &format!("127.0.0.1:{port_b}")))
        .unwrap();
    let a = Replica::start(&config_a, &server.url(), "/sleep 60s\n");
    let b = Replica::start(&config_b, &server.url(), "/sleep 30s\n");
    let client = reqwest::Client::new();
    crate::wait_until_ready(&client, &format!("http://127.0.0.1:{port_a}/health/live")).await;
    crate::wait_until_ready(&client, &format!("http://127.0.0.1:{port_b}/health/live")).await;
    let alert = serde_json::json!({ "version": "4", "status": "firing", "receiver": "firebell", "alerts": [{
        "status": "firing", "labels": { "alertname": "ToolsDBDown", "team": "wmcs", "severity": "page" },
        "annotations": { "summary": "ToolsDB is not answering" }, "startsAt": Utc::now().to_rfc3339(),
        "fingerprint": "f00d" }] });
    let taken =
        client.post(format!("http://127.0.0.1:{port_a}/alertmanager")).body(alert.to_string()).send().await.unwrap();
    assert_eq!(taken.status(), 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while keys.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let from_a = a.kill();
    assert!(!keys.lock().unwrap().is_empty(), "replica A started the push: {from_a:#?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while keys.lock().unwrap().len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let from_b = b.kill();
    let keys = keys.lock().unwrap().clone();
    assert_eq!(keys.len(), 2, "sent again once by the other replica's watchdog: {keys:?}\nB: {from_b:#?}");
    assert!(!keys[0].is_empty() && keys[0] == keys[1], "under one idempotency key: {keys:?}");
}

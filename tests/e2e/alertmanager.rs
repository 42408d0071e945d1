//! Paging end to end with a real Prometheus Alertmanager (Debian's `prometheus-alertmanager`):
//! an alert pushed to Alertmanager reaches Firebell through its webhook receiver, pages the
//! on-call person, escalates, and `!ack` creates the silence in Alertmanager.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use firebell_core::adapter::Service;
use firebell_plugin_paging::alertmanager::Silences;
use firebell_testkit::{TestDir, free_port};

const PATIENCE: Duration = Duration::from_secs(30);

/// The Alertmanager binary: `$ALERTMANAGER`, or Debian's `prometheus-alertmanager`.
fn alertmanager_binary() -> String {
    std::env::var("ALERTMANAGER").unwrap_or_else(|_| "prometheus-alertmanager".into())
}

/// A real Alertmanager whose webhook receiver points at Firebell, killed on drop.
struct Alertmanager {
    child: Child,
    url: String,
}

impl Alertmanager {
    fn start(dir: &Path, firebell_port: u16) -> Self {
        let port = free_port();
        let config = format!(
            "route:\n  receiver: firebell\n  group_by: ['alertname']\n  group_wait: 1s\n  group_interval: 1s\n  \
             repeat_interval: 1h\nreceivers:\n  - name: firebell\n    webhook_configs:\n      - url: \
             http://127.0.0.1:{firebell_port}/alertmanager\n        send_resolved: true\n"
        );
        std::fs::write(dir.join("alertmanager.yml"), config).expect("config written");
        let child = Command::new(alertmanager_binary())
            .arg(format!("--config.file={}", dir.join("alertmanager.yml").display()))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot run {}: {err}; install it (apt-get install prometheus-alertmanager)",
                    alertmanager_binary()
                )
            });
        Self { child, url: format!("http://127.0.0.1:{port}") }
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `firebell` process driven line by line through its console.
struct Firebell {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Firebell {
    fn start(config: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_firebell"))
            .arg("--config")
            .arg(config)
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

    fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("line written");
        stdin.flush().expect("flushed");
    }

    /// Waits for a printed line containing `text`.
    fn expect(&mut self, text: &str) -> String {
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

async fn wait_until_ready(client: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if client.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not answer within {PATIENCE:?}");
}

#[tokio::test]
async fn an_alert_from_alertmanager_pages_escalates_and_is_silenced_by_ack() {
    let dir = TestDir::new("am");
    let firebell_port = free_port();
    let alertmanager = Alertmanager::start(dir.path(), firebell_port);
    let config = format!(
        r##"
[console]
user = "alice"
room = "#wikimedia-cloud-admin"
[http]
listen = "127.0.0.1:{firebell_port}"
[alertmanager]
url = "{am}"
[scheduler]
tick = "100ms"
[[teams]]
id = "wmcs"
name = "WMCS"
admin_rooms = ["console:#wikimedia-cloud-admin"]
[teams.settings.paging]
oncall = "alice"
escalate_timezone_after = "3s"
escalate_all_after = "1h"
[[teams.members]]
name = "alice"
timezone = "Europe/Madrid"
ids = ["console:alice"]
[[teams.members]]
name = "carol"
timezone = "Europe/Madrid"
ids = ["console:carol"]
[[teams.members]]
name = "bob"
timezone = "America/New_York"
ids = ["console:bob"]
"##,
        am = alertmanager.url
    );
    std::fs::write(dir.join("firebell.toml"), config).expect("config written");
    let mut firebell = Firebell::start(&dir.join("firebell.toml"));
    let client = reqwest::Client::new();
    wait_until_ready(&client, &format!("http://127.0.0.1:{firebell_port}/health")).await;
    wait_until_ready(&client, &format!("{}/-/ready", alertmanager.url)).await;

    let bad =
        client.post(format!("http://127.0.0.1:{firebell_port}/alertmanager")).body("{\"version\":\"3\"}").send().await;
    let bad = bad.expect("answered");
    assert_eq!(bad.status(), 400);
    let reason = bad.text().await.expect("body");
    assert!(reason.starts_with("bad payload: ") && reason.trim_end().lines().count() == 1, "{reason}");

    let alert = serde_json::json!([{
        "labels": {"alertname": "ToolsDBDown", "team": "wmcs", "severity": "page", "instance": "clouddb1001"},
        "annotations": {"summary": "ToolsDB is not answering"},
    }]);
    let pushed = client
        .post(format!("{}/api/v2/alerts", alertmanager.url))
        .header("content-type", "application/json")
        .body(alert.to_string())
        .send()
        .await
        .expect("pushed");
    assert!(pushed.status().is_success(), "alert pushed: {}", pushed.status());

    let page = firebell.expect("PAGE P1 [FIRING]");
    assert_eq!(
        page,
        "[#wikimedia-cloud-admin] firebell: PAGE P1 [FIRING] ToolsDB is not answering — @alice is on call. Reply !ack P1"
    );
    let escalation = firebell.expect("is not acknowledged after");
    assert!(
        escalation.ends_with("Paging everyone in alice's timezone (UTC+01:00): @carol Reply !ack P1"),
        "{escalation}"
    );
    firebell.say("!ack P1");
    let ack = firebell.expect("alice paged:");
    assert_eq!(
        ack,
        "[#wikimedia-cloud-admin] firebell: alice paged: ToolsDB is not answering (P1 acknowledged, silenced in Alertmanager for 2h)"
    );

    let deadline = Instant::now() + PATIENCE;
    let silence = loop {
        let listed = client.get(format!("{}/api/v2/silences", alertmanager.url)).send().await.expect("silences listed");
        let silences: serde_json::Value = serde_json::from_str(&listed.text().await.expect("body")).expect("JSON");
        let found = silences.as_array().into_iter().flatten().find(|s| s["comment"] == "ACK! alice").cloned();
        if let Some(silence) = found {
            break silence;
        }
        assert!(Instant::now() < deadline, "no silence with comment ACK! alice: {silences}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(silence["status"]["state"], "active");
    assert!(silence["createdBy"].as_str().is_some_and(|by| by.starts_with("firebell ")), "{silence}");
    let matchers = silence["matchers"].as_array().expect("matchers");
    assert!(matchers.iter().any(|m| m["name"] == "alertname" && m["value"] == "ToolsDBDown"), "{silence}");
}

#[tokio::test]
async fn a_silence_call_tried_again_finds_its_silence() {
    let dir = TestDir::new("am-silences");
    let alertmanager = Alertmanager::start(dir.path(), free_port());
    let client = reqwest::Client::new();
    wait_until_ready(&client, &format!("{}/-/ready", alertmanager.url)).await;
    let silences = Silences::new(&alertmanager.url);
    let now = chrono::Utc::now();
    let request = serde_json::json!({
        "matchers": [{ "name": "alertname", "value": "ToolsDBDown", "isRegex": false, "isEqual": true }],
        "startsAt": now.to_rfc3339(),
        "endsAt": (now + chrono::Duration::hours(2)).to_rfc3339(),
        "createdBy": "firebell",
        "comment": "ACK! alice",
    })
    .to_string();
    silences.call("console:e1#1", &request).await.expect("created");
    silences.call("console:e1#1", &request).await.expect("found");
    silences.call("console:e2#1", &request).await.expect("another ack, another silence");
    let listed = client.get(format!("{}/api/v2/silences", alertmanager.url)).send().await.expect("silences listed");
    let listed: serde_json::Value = serde_json::from_str(&listed.text().await.expect("body")).expect("JSON");
    let creators: Vec<&str> =
        listed.as_array().expect("a list").iter().filter_map(|s| s["createdBy"].as_str()).collect();
    assert_eq!(creators.len(), 2, "{listed}");
    assert!(creators.contains(&"firebell console:e1#1") && creators.contains(&"firebell console:e2#1"), "{creators:?}");
    let bad = silences.call("console:e3#1", "{not json").await.expect_err("refused");
    assert_eq!(bad.to_string().lines().count(), 1, "{bad}");
}

//! Paging end to end with a real Prometheus Alertmanager (Debian's `prometheus-alertmanager`):
//! an alert pushed to Alertmanager reaches Firebell through its webhook receiver (with the
//! credentials of its `http_config`), pages the on-call person, escalates; `!ack` creates the
//! silence in Alertmanager, on all the alert's labels, only for an alert Alertmanager reports as
//! firing; the acknowledged page resolves when its alert does, and a new firing pages again.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use firebell_core::adapter::Service;
use firebell_core::ids::RoomRef;
use firebell_plugin_paging::alertmanager::AlertmanagerClient;
use firebell_plugin_paging::calls::{Request, Response};
use firebell_testkit::{TestDir, free_port};

use crate::{Firebell, wait_until_ready};

const PATIENCE: Duration = Duration::from_secs(30);
/// The bearer token Alertmanager sends and Firebell expects.
const TOKEN: &str = "a-webhook-token-of-some-length";

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
             http://127.0.0.1:{firebell_port}/alertmanager\n        send_resolved: true\n        http_config:\n          \
             authorization:\n            credentials: {TOKEN}\n"
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

/// Firebell's config for these tests: the console, the webhook with its token, Alertmanager.
fn firebell_config(dir: &Path, firebell_port: u16, alertmanager: &str) -> std::path::PathBuf {
    let config = format!(
        r##"
[console]
user = "alice"
room = "#wikimedia-cloud-admin"
[http]
listen = "127.0.0.1:{firebell_port}"
webhook_token = "{TOKEN}"
[alertmanager]
url = "{alertmanager}"
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
check_every = "1s"
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
"##
    );
    let path = dir.join("firebell.toml");
    std::fs::write(&path, config).expect("config written");
    path
}

/// Pushes alerts to Alertmanager, as Prometheus does.
async fn push(client: &reqwest::Client, alertmanager: &str, alerts: serde_json::Value) {
    let pushed = client
        .post(format!("{alertmanager}/api/v2/alerts"))
        .header("content-type", "application/json")
        .body(alerts.to_string())
        .send()
        .await
        .expect("pushed");
    assert!(pushed.status().is_success(), "alerts pushed: {}", pushed.status());
}

/// Alertmanager's silences.
async fn silences(client: &reqwest::Client, alertmanager: &str) -> Vec<serde_json::Value> {
    let listed = client.get(format!("{alertmanager}/api/v2/silences")).send().await.expect("silences listed");
    let silences: serde_json::Value = serde_json::from_str(&listed.text().await.expect("body")).expect("JSON");
    silences.as_array().cloned().unwrap_or_default()
}

/// Waits until a silence of Alertmanager fits `wanted`, and returns it.
async fn silence_where(
    client: &reqwest::Client,
    alertmanager: &str,
    wanted: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let listed = silences(client, alertmanager).await;
        if let Some(silence) = listed.iter().find(|s| wanted(s)) {
            return silence.clone();
        }
        assert!(Instant::now() < deadline, "no such silence: {listed:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The ToolsDB alert, firing until `ends`.
fn toolsdb(ends: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    serde_json::json!([{
        "labels": {"alertname": "ToolsDBDown", "team": "wmcs", "severity": "page", "instance": "clouddb1001"},
        "annotations": {"summary": "ToolsDB is not answering"},
        "endsAt": ends.to_rfc3339(),
    }])
}

#[tokio::test]
async fn an_alert_from_alertmanager_pages_is_silenced_by_ack_and_resolves_with_its_alert() {
    let dir = TestDir::new("am");
    let firebell_port = free_port();
    let alertmanager = Alertmanager::start(dir.path(), firebell_port);
    let mut firebell = Firebell::start(&firebell_config(dir.path(), firebell_port, &alertmanager.url));
    let client = reqwest::Client::new();
    let webhook = format!("http://127.0.0.1:{firebell_port}/alertmanager");
    wait_until_ready(&client, &format!("http://127.0.0.1:{firebell_port}/health")).await;
    wait_until_ready(&client, &format!("{}/-/ready", alertmanager.url)).await;

    let anonymous = client.post(&webhook).body("{\"version\":\"4\"}").send().await.expect("answered");
    assert_eq!(anonymous.status(), 401, "no credentials, no page");
    let wrong = client.post(&webhook).bearer_auth("guess").body("{}").send().await.expect("answered");
    assert_eq!(wrong.status(), 401);
    let bad = client.post(&webhook).bearer_auth(TOKEN).body("{\"version\":\"3\"}").send().await.expect("answered");
    assert_eq!(bad.status(), 400);
    let reason = bad.text().await.expect("body");
    assert!(reason.starts_with("bad payload: ") && reason.trim_end().lines().count() == 1, "{reason}");

    let ends = chrono::Utc::now() + chrono::Duration::seconds(12);
    push(&client, &alertmanager.url, toolsdb(ends)).await;
    let page = firebell.expect("PAGE P1 [FIRING]");
    assert_eq!(
        page,
        "[#wikimedia-cloud-admin] firebell: PAGE P1 [FIRING] ToolsDB is not answering — @alice is on call (reached by direct message (console)). Reply !ack P1"
    );
    let escalation = firebell.expect("is not acknowledged after");
    assert!(
        escalation.ends_with("Paging everyone in alice's timezone (UTC+01:00): @carol Reply !ack P1"),
        "{escalation}"
    );
    firebell.say("!ack P1");
    assert_eq!(
        firebell.expect("alice paged:"),
        "[#wikimedia-cloud-admin] firebell: alice paged: ToolsDB is not answering (P1 acknowledged)"
    );
    let silenced = firebell.expect("silenced in Alertmanager");
    assert!(silenced.ends_with("on all 4 labels of its alert."), "{silenced}");
    let silence = silence_where(&client, &alertmanager.url, |s| s["comment"] == "ACK! alice").await;
    assert_eq!(silence["status"]["state"], "active");
    assert!(silence["createdBy"].as_str().is_some_and(|by| by.starts_with("firebell ")), "{silence}");
    let matchers = silence["matchers"].as_array().expect("matchers");
    assert_eq!(matchers.len(), 4, "every label Alertmanager knows the alert by: {silence}");

    let resolved = firebell.expect("P1 [RESOLVED]");
    assert!(resolved.contains("no longer firing in Alertmanager"), "{resolved}");
    let id = silence["id"].as_str().expect("an id").to_owned();
    silence_where(&client, &alertmanager.url, |s| s["id"] == id.as_str() && s["status"]["state"] == "expired").await;

    push(&client, &alertmanager.url, toolsdb(chrono::Utc::now() + chrono::Duration::minutes(5))).await;
    firebell.expect("PAGE P2 [FIRING] ToolsDB is not answering");
}

#[tokio::test]
async fn a_forged_alert_is_acknowledged_but_silences_nothing() {
    let dir = TestDir::new("am-forged");
    let firebell_port = free_port();
    let alertmanager = Alertmanager::start(dir.path(), firebell_port);
    let mut firebell = Firebell::start(&firebell_config(dir.path(), firebell_port, &alertmanager.url));
    let client = reqwest::Client::new();
    wait_until_ready(&client, &format!("http://127.0.0.1:{firebell_port}/health")).await;
    wait_until_ready(&client, &format!("{}/-/ready", alertmanager.url)).await;
    push(&client, &alertmanager.url, toolsdb(chrono::Utc::now() + chrono::Duration::minutes(5))).await;
    firebell.expect("PAGE P1 [FIRING]");
    let forged = r#"{"version":"4","status":"firing","receiver":"firebell","alerts":[{"status":"firing",
        "labels":{"alertname":"ToolsDBDown","team":"wmcs","severity":"page"},"annotations":{"summary":"forged"},
        "startsAt":"2026-11-21T03:00:00Z","fingerprint":"0123456789abcdef"}]}"#;
    let webhook = format!("http://127.0.0.1:{firebell_port}/alertmanager");
    let taken = client.post(&webhook).bearer_auth(TOKEN).body(forged).send().await.expect("answered");
    assert_eq!(taken.status(), 200);
    firebell.expect("PAGE P2 [FIRING] forged");
    firebell.say("!ack P2");
    firebell.expect("alice paged: forged (P2 acknowledged)");
    firebell.expect("P2: Alertmanager does not report this alert as firing");
    assert!(silences(&client, &alertmanager.url).await.is_empty(), "the real alert is not muted");
}

#[tokio::test]
async fn a_group_of_a_thousand_alerts_pages_every_one() {
    let dir = TestDir::new("am-storm");
    let firebell_port = free_port();
    let alertmanager = Alertmanager::start(dir.path(), firebell_port);
    let mut firebell = Firebell::start(&firebell_config(dir.path(), firebell_port, &alertmanager.url));
    let client = reqwest::Client::new();
    wait_until_ready(&client, &format!("http://127.0.0.1:{firebell_port}/health")).await;
    wait_until_ready(&client, &format!("{}/-/ready", alertmanager.url)).await;
    let description = "d".repeat(2300);
    let alerts: Vec<serde_json::Value> = (0..1000)
        .map(|n| {
            serde_json::json!({
                "labels": {"alertname": "NodeDown", "team": "wmcs", "severity": "page", "instance": format!("cloudvirt{n:04}")},
                "annotations": {"summary": format!("cloudvirt{n:04} is down"), "description": description},
                "endsAt": (chrono::Utc::now() + chrono::Duration::minutes(5)).to_rfc3339(),
            })
        })
        .collect();
    let alerts = serde_json::Value::Array(alerts);
    assert!(alerts.to_string().len() > 2_400_000, "larger than the 2 MB that used to get 413");
    push(&client, &alertmanager.url, alerts).await;
    firebell.expect("PAGE P1000 [FIRING]");
}

#[tokio::test]
async fn a_silence_call_tried_again_finds_its_silence() {
    let dir = TestDir::new("am-silences");
    let alertmanager = Alertmanager::start(dir.path(), free_port());
    let client = reqwest::Client::new();
    wait_until_ready(&client, &format!("{}/-/ready", alertmanager.url)).await;
    push(&client, &alertmanager.url, toolsdb(chrono::Utc::now() + chrono::Duration::minutes(5))).await;
    let listed = client.get(format!("{}/api/v2/alerts", alertmanager.url)).send().await.expect("alerts listed");
    let listed: serde_json::Value = serde_json::from_str(&listed.text().await.expect("body")).expect("JSON");
    let fingerprint = listed[0]["fingerprint"].as_str().expect("a fingerprint").to_owned();
    let client_api = AlertmanagerClient::new(&alertmanager.url);
    let now = chrono::Utc::now();
    let request = |fingerprint: &str| {
        serde_json::to_string(&Request::Silence {
            page: 1,
            fingerprint: fingerprint.to_owned(),
            alertname: "ToolsDBDown".into(),
            starts_at: now,
            ends_at: now + chrono::Duration::hours(2),
            comment: "ACK! alice".into(),
            room: RoomRef::console("#admin"),
            thread: None,
        })
        .expect("serializes")
    };
    let first = client_api.call("console:e1#1", &request(&fingerprint)).await.expect("created");
    let again = client_api.call("console:e1#1", &request(&fingerprint)).await.expect("found");
    assert_eq!(first, again, "the same silence: {first}");
    client_api.call("console:e2#1", &request(&fingerprint)).await.expect("another ack, another silence");
    let unknown = client_api.call("console:e3#1", &request("feedfacefeedface")).await.expect("answered");
    assert_eq!(serde_json::from_str::<Response>(&unknown).expect("a response"), Response::NotFiring);
    let listed = silences(&client, &alertmanager.url).await;
    let creators: Vec<&str> = listed.iter().filter_map(|s| s["createdBy"].as_str()).collect();
    assert_eq!(creators.len(), 2, "{listed:?}");
    assert!(creators.contains(&"firebell console:e1#1") && creators.contains(&"firebell console:e2#1"), "{creators:?}");
    let bad = client_api.call("console:e4#1", "{not json").await.expect_err("refused");
    assert_eq!(bad.to_string().lines().count(), 1, "{bad}");
}

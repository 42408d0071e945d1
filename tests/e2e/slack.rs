//! Slack end to end: the `firebell` binary against a Slack-faithful fake Web API, driven with
//! requests signed exactly as Slack signs them (HTTP mode) and with Socket Mode envelopes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use firebell_testkit::{Call, FakeSlack, RedisServer, TestDir, free_port, slack_signature, trigger_id, unix_now};
use serde_json::{Value, json};

pub(crate) const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
pub(crate) const ADMIN: &str = "C0ADMIN";
pub(crate) const PUBLIC: &str = "C0PUBLIC";

/// A `firebell` process on Slack only, killed on drop, and the port of its HTTP server.
pub(crate) struct Bot {
    pub(crate) process: crate::Daemon,
    pub(crate) port: u16,
}

/// A fake Slack workspace with the team's channels and people, and a folder for configs.
pub(crate) struct Workspace {
    pub(crate) fake: FakeSlack,
    pub(crate) dir: TestDir,
    pub(crate) client: reqwest::Client,
}

impl Workspace {
    pub(crate) async fn new(name: &str) -> Self {
        let fake = FakeSlack::start().await;
        fake.add_user("U0ALICE", "Alice", false);
        fake.add_user("U0BOB", "Bob", false);
        fake.add_user("U0VIC", "Vic Visitor", false);
        fake.add_user("U0BOSS", "Boss", true);
        let dir = TestDir::new(&format!("slack-{name}"));
        Self { fake, dir, client: reqwest::Client::new() }
    }

    pub(crate) fn config_with(&self, name: &str, mode: &str, port: u16, store: &str, extra: &str) -> PathBuf {
        let config = format!(
            r##"
[store]
url = "{store}"
namespace = "slack-test"
[console]
enabled = false
[http]
listen = "127.0.0.1:{port}"
[slack]
enabled = true
mode = "{mode}"
bot_token = "xoxb-fake"
app_token = "xapp-fake"
signing_secret = "{SECRET}"
api_url = "{api}"
channel_pace = "1s"
{team}
{extra}
"##,
            api = self.fake.api_url(),
            team = crate::team_toml(
                &[format!("slack:{ADMIN}")],
                &format!("slack:{PUBLIC}"),
                "slack:U0ALICE",
                "slack:U0BOB"
            ),
        );
        let path = self.dir.join(format!("{name}.toml"));
        std::fs::write(&path, config).expect("config written");
        path
    }

    pub(crate) async fn start(&self, name: &str, mode: &str, store: &str) -> Bot {
        self.start_with(name, mode, store, "").await
    }

    pub(crate) async fn start_with(&self, name: &str, mode: &str, store: &str, extra: &str) -> Bot {
        let port = free_port();
        let config = self.config_with(name, mode, port, store, extra);
        let bot = spawn(&config, port);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while self.client.get(format!("http://127.0.0.1:{port}/health")).send().await.is_err() {
            assert!(std::time::Instant::now() < deadline, "firebell did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bot
    }

    /// Posts `body` to `path` with Slack's signature headers (timestamped `age` ago).
    pub(crate) async fn signed(
        &self,
        bot: &Bot,
        path: &str,
        content_type: &str,
        body: String,
        age: u64,
    ) -> reqwest::Response {
        let timestamp = unix_now() - age;
        self.client
            .post(format!("http://127.0.0.1:{}{path}", bot.port))
            .header("content-type", content_type)
            .header("x-slack-request-timestamp", timestamp.to_string())
            .header("x-slack-signature", slack_signature(SECRET, timestamp, &body))
            .body(body)
            .send()
            .await
            .expect("firebell answers")
    }

    /// A slash command as Slack posts it.
    pub(crate) async fn command(&self, bot: &Bot, user: &str, command: &str, text: &str) -> reqwest::Response {
        let form = command_form(user, ADMIN, command, text, &trigger_id());
        self.signed(bot, "/slack/commands", "application/x-www-form-urlencoded", form, 0).await
    }

    /// A message event as Slack posts it, retried `retry` times.
    pub(crate) async fn event(&self, bot: &Bot, event_id: &str, event: Value, retry: Option<u32>) -> reqwest::Response {
        let body = json!({
            "token": "gIkuvaNzQIHg97ATvDxqgjtO", "team_id": "T0FAKE", "context_team_id": "T0FAKE", "api_app_id": "A0FAKE",
            "event": event, "type": "event_callback", "event_id": event_id, "event_time": unix_now(),
            "authorizations": [{ "enterprise_id": null, "team_id": "T0FAKE", "user_id": "UBOT", "is_bot": true,
                                 "is_enterprise_install": false }],
            "is_ext_shared_channel": false, "event_context": "4-eyJldCI6Im1lc3NhZ2UifQ"
        })
        .to_string();
        let timestamp = unix_now();
        let mut request = self
            .client
            .post(format!("http://127.0.0.1:{}/slack/events", bot.port))
            .header("content-type", "application/json")
            .header("x-slack-request-timestamp", timestamp.to_string())
            .header("x-slack-signature", slack_signature(SECRET, timestamp, &body));
        if let Some(retry) = retry {
            request =
                request.header("x-slack-retry-num", retry.to_string()).header("x-slack-retry-reason", "http_timeout");
        }
        request.body(body).send().await.expect("firebell answers")
    }

    /// Posts a signed event to the replica on `port` as Slack does: it gives up after 3 seconds
    /// (then Slack delivers it again). The answer's status, or `None` when nothing answered.
    pub(crate) async fn try_event(
        &self,
        port: u16,
        event_id: &str,
        event: Value,
        retry: u32,
    ) -> Option<reqwest::StatusCode> {
        let body = json!({ "token": "x", "team_id": "T0FAKE", "api_app_id": "A0FAKE", "event": event,
            "type": "event_callback", "event_id": event_id, "event_time": unix_now() })
        .to_string();
        let timestamp = unix_now();
        let mut request = self
            .client
            .post(format!("http://127.0.0.1:{port}/slack/events"))
            .timeout(Duration::from_secs(3))
            .header("content-type", "application/json")
            .header("x-slack-request-timestamp", timestamp.to_string())
            .header("x-slack-signature", slack_signature(SECRET, timestamp, &body));
        if retry > 0 {
            request =
                request.header("x-slack-retry-num", retry.to_string()).header("x-slack-retry-reason", "http_error");
        }
        request.body(body).send().await.ok().map(|response| response.status())
    }

    /// The messages the bot posted (waiting for at least `count`), as (channel, text) pairs.
    pub(crate) async fn posted(&self, count: usize) -> Vec<(String, String)> {
        self.fake.wait_for("chat.postMessage", count).await.iter().map(posted).collect()
    }

    /// Waits until the bot posted `count` messages and a moment more, and returns them all.
    pub(crate) async fn settled(&self, count: usize) -> Vec<(String, String)> {
        self.posted(count).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        self.fake.calls("chat.postMessage").iter().map(posted).collect()
    }
}

pub(crate) fn spawn(config: &Path, port: u16) -> Bot {
    Bot { process: crate::Daemon::start(config), port }
}

fn posted(call: &Call) -> (String, String) {
    (
        call.args["channel"].as_str().unwrap_or_default().to_owned(),
        call.args["text"].as_str().unwrap_or_default().to_owned(),
    )
}

pub(crate) fn command_form(user: &str, channel: &str, command: &str, text: &str, trigger: &str) -> String {
    serde_urlencoded::to_string([
        ("token", "gIkuvaNzQIHg97ATvDxqgjtO"),
        ("team_id", "T0FAKE"),
        ("team_domain", "fake"),
        ("channel_id", channel),
        ("channel_name", "wikimedia-cloud-admin"),
        ("user_id", user),
        ("user_name", &user.to_lowercase()),
        ("command", command),
        ("text", text),
        ("api_app_id", "A0FAKE"),
        ("is_enterprise_install", "false"),
        ("response_url", "https://hooks.slack.com/commands/T0FAKE/1/x"),
        ("trigger_id", trigger),
    ])
    .expect("a form")
}

pub(crate) fn message(user: &str, text: &str, ts: &str, thread: Option<&str>) -> Value {
    let mut event = json!({ "type": "message", "user": user, "text": text, "ts": ts, "team": "T0FAKE",
        "channel": ADMIN, "event_ts": ts, "channel_type": "channel", "client_msg_id": format!("m-{ts}") });
    if let Some(thread) = thread {
        event["thread_ts"] = json!(thread);
    }
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_incident_runs_over_slash_commands() {
    let slack = Workspace::new("workflow").await;
    let bot = slack.start("a", "http", "memory://").await;

    let echo = slack.command(&bot, "U0ALICE", "/incident", "declare Ceph cluster down --user-facing --sev 2").await;
    assert_eq!(echo.status(), 200);
    let echo: Value = serde_json::from_str(&echo.text().await.unwrap()).unwrap();
    assert_eq!(echo["response_type"], "in_channel");
    assert_eq!(echo["text"], "`/incident declare Ceph cluster down --user-facing --sev 2`");
    let declared = slack.posted(1).await;
    assert_eq!(declared[0].0, ADMIN);
    assert!(
        declared[0].1.starts_with("WMCS-1 declared: \"") && declared[0].1.contains("alice is the IC."),
        "{declared:?}"
    );
    let topic = slack.fake.wait_for("conversations.setTopic", 1).await;
    assert_eq!(
        (topic[0].args["channel"].as_str(), topic[0].args["topic"].as_str()),
        (Some(PUBLIC), Some("Ongoing incident: Ceph cluster down"))
    );

    slack.command(&bot, "U0BOB", "/ic", "").await;
    assert_eq!(slack.posted(2).await[1].1, "alice is the IC of WMCS-1.");
    slack.command(&bot, "U0ALICE", "/ic", "handoff <@U0BOB|bob>").await;
    let offer = slack.fake.wait_for("chat.postMessage", 3).await[2].clone();
    assert!(
        offer.args["text"].as_str().unwrap().starts_with("<@U0BOB>: alice offers you the IC role for WMCS-1."),
        "{:?}",
        offer.args
    );
    let blocks: Value = match &offer.args["blocks"] {
        Value::String(json) => serde_json::from_str(json).unwrap(),
        blocks => blocks.clone(),
    };
    assert_eq!(blocks[1]["elements"][0]["value"], "!ic accept WMCS-1", "an Accept button");
    slack.command(&bot, "U0BOB", "/ic", "accept").await;
    assert_eq!(slack.posted(4).await[3].1, "bob is now the IC of WMCS-1, taking over from <@U0ALICE>.");
    slack
        .command(
            &bot,
            "U0ALICE",
            "/log",
            "admin restarted ceph-osd@12 &amp; checked <https://grafana/d/ceph|the board>",
        )
        .await;
    assert_eq!(slack.posted(5).await[4].1, "Logged in the server admin log for admin; also in the timeline of WMCS-1.");
    slack.command(&bot, "U0VIC", "/incident", "note customers report 502s").await;
    assert_eq!(slack.posted(6).await[5].1, "WMCS-1: note added to the timeline.");
    slack.command(&bot, "U0BOB", "/incident", "resolve journal disk failed").await;
    let all = slack.posted(8).await;
    assert!(all[6].1.starts_with("WMCS-1 resolved by bob after"), "{all:?}");
    let report = &all[7].1;
    assert!(report.starts_with("*Incident report (draft): "), "{report}");
    assert!(report.contains("[admin] restarted ceph-osd@12 &amp; checked https://grafana/d/ceph"), "{report}");
    assert!(report.contains("bob: accepted the IC role from alice and became the IC"), "{report}");
    assert!(report.contains("Vic Visitor: customers report 502s"), "display names come from users.info: {report}");
    let topics = slack.fake.wait_for("conversations.setTopic", 2).await;
    assert_eq!(topics[1].args["topic"], "Wikimedia Cloud Services");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_events_are_handled_once_and_threads_are_kept() {
    let slack = Workspace::new("events").await;
    let bot = slack.start("a", "http", "memory://").await;
    let check = json!({ "token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification" });
    let answer = slack.signed(&bot, "/slack/events", "application/json", check.to_string(), 0).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), r#"{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#);

    let list = message("U0ALICE", "!incident list", "1700000100.000100", None);
    assert_eq!(slack.event(&bot, "Ev0LIST", list.clone(), None).await.status(), 200);
    assert_eq!(slack.event(&bot, "Ev0LIST", list, Some(1)).await.status(), 200);
    slack.event(&bot, "Ev0CHAT", message("U0ALICE", "good morning", "1700000101.000100", None), None).await;
    assert_eq!(slack.settled(1).await, [(ADMIN.to_owned(), "Team WMCS has no open incident.".to_owned())], "once");

    let threaded = message("U0BOB", "!incident list", "1700000200.000200", Some("1700000150.000100"));
    slack.event(&bot, "Ev0THREAD", threaded, None).await;
    let reply = slack.fake.wait_for("chat.postMessage", 2).await[1].clone();
    assert_eq!(reply.args["thread_ts"], "1700000150.000100", "the answer goes to the thread");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_and_stale_requests_are_refused() {
    let slack = Workspace::new("signatures").await;
    let bot = slack.start("a", "http", "memory://").await;
    let form = command_form("U0ALICE", ADMIN, "/incident", "declare forged", &trigger_id());
    let timestamp = unix_now();
    let forged = slack
        .client
        .post(format!("http://127.0.0.1:{}/slack/commands", bot.port))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", timestamp.to_string())
        .header("x-slack-signature", slack_signature("not-the-secret", timestamp, &form))
        .body(form.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let stale = slack.signed(&bot, "/slack/commands", "application/x-www-form-urlencoded", form.clone(), 10 * 60).await;
    assert_eq!(stale.status(), 401, "older than five minutes");
    let unsigned =
        slack.client.post(format!("http://127.0.0.1:{}/slack/events", bot.port)).body("{}").send().await.unwrap();
    assert_eq!(unsigned.status(), 401);
    let reason = unsigned.text().await.unwrap();
    assert_eq!(reason, "missing X-Slack-Signature or X-Slack-Request-Timestamp\n");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(slack.fake.calls("chat.postMessage").is_empty(), "nothing happened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_button_click_acknowledges_a_page_and_workspace_admins_are_team_admins() {
    let slack = Workspace::new("buttons").await;
    let bot = slack.start("a", "http", "memory://").await;
    let alert = json!({ "version": "4", "status": "firing", "receiver": "firebell", "alerts": [{
        "status": "firing", "labels": { "alertname": "ToolsDBDown", "team": "wmcs", "severity": "page" },
        "annotations": { "summary": "ToolsDB is down" }, "startsAt": "2026-11-21T03:00:00Z",
        "fingerprint": "f00d" }] });
    slack
        .client
        .post(format!("http://127.0.0.1:{}/alertmanager", bot.port))
        .body(alert.to_string())
        .send()
        .await
        .unwrap();
    let page = slack.fake.wait_for("chat.postMessage", 1).await[0].clone();
    assert!(
        page.args["text"].as_str().unwrap().starts_with(
            "PAGE P1 [FIRING] ToolsDB is down — <@U0ALICE> is on call (reached by direct message (slack))."
        )
    );
    let blocks: Value = match &page.args["blocks"] {
        Value::String(json) => serde_json::from_str(json).unwrap(),
        blocks => blocks.clone(),
    };
    let button = blocks[1]["elements"][0].clone();
    assert_eq!((button["text"]["text"].as_str(), button["value"].as_str()), (Some("Ack"), Some("!ack P1")));
    let click = json!({
        "type": "block_actions", "user": { "id": "U0BOB", "username": "bob", "name": "bob", "team_id": "T0FAKE" },
        "api_app_id": "A0FAKE", "token": "x", "trigger_id": trigger_id(), "team": { "id": "T0FAKE", "domain": "fake" },
        "container": { "type": "message", "message_ts": "1700000001.000001", "channel_id": ADMIN, "is_ephemeral": false },
        "channel": { "id": ADMIN, "name": "wikimedia-cloud-admin" },
        "message": { "type": "message", "ts": "1700000001.000001", "text": "PAGE P1", "user": "UBOT", "bot_id": "BBOT" },
        "response_url": "https://hooks.slack.com/actions/T0FAKE/1/x",
        "actions": [{ "action_id": button["action_id"], "block_id": "b1", "text": button["text"], "value": "!ack P1",
                      "type": "button", "action_ts": "1700000002.000002" }]
    });
    let form = serde_urlencoded::to_string([("payload", click.to_string())]).unwrap();
    let clicked = slack.signed(&bot, "/slack/interactions", "application/x-www-form-urlencoded", form, 0).await;
    assert_eq!(clicked.status(), 200);
    let posted = slack.posted(3).await;
    assert!(
        posted.iter().any(|(_, text)| text == "bob paged: ToolsDB is down (P1 acknowledged)"),
        "the page, alice's direct message and the acknowledgement: {posted:?}"
    );

    let refused = slack.command(&bot, "U0BOB", "/plugins", "disable sal").await;
    assert_eq!(refused.text().await.unwrap(), "", "a refused command is not echoed to the channel");
    let whispered = &slack.fake.wait_for_whispers(1).await[0];
    assert_eq!(
        (whispered.user.as_str(), whispered.text.as_str()),
        ("U0BOB", "only team admins may run !plugins disable"),
        "only its sender sees the refusal"
    );
    slack.command(&bot, "U0BOSS", "/plugins", "disable sal").await;
    assert_eq!(slack.posted(4).await[3].1, "Plugin sal disabled for team wmcs.", "a workspace admin is a team admin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_waited_out_and_two_replicas_share_a_channels_pace() {
    let redis = RedisServer::start();
    let slack = Workspace::new("pace").await;
    let (a, b) = (slack.start("a", "http", &redis.url()).await, slack.start("b", "http", &redis.url()).await);
    slack.fake.rate_limit("chat.postMessage", 1);
    for (n, bot) in [&a, &b, &a, &b].into_iter().enumerate() {
        slack.command(bot, "U0ALICE", "/incident", &format!("declare outage {n}")).await;
    }
    let posted = slack.settled(4).await;
    assert_eq!(posted.len(), 4, "each answered once, the rate-limited one too: {posted:?}");
    let times: Vec<_> = slack.fake.calls("chat.postMessage").iter().map(|call| call.at).collect();
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(900), "one message a second per channel across replicas: {gap:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_acknowledged_by_a_replica_that_dies_is_answered_by_another() {
    let redis = RedisServer::start();
    let slack = Workspace::new("takeover").await;
    let grace = "[scheduler]\ndelivery_grace = \"3s\"";
    let dying = slack.start_with("a", "http", &redis.url(), grace).await;
    let _other = slack.start_with("b", "http", &redis.url(), grace).await;
    slack.fake.rate_limit("chat.postMessage", 1);
    let ack = slack.command(&dying, "U0ALICE", "/incident", "declare Ceph down").await;
    assert_eq!(ack.status(), 200, "acknowledged");
    let acknowledged = std::time::Instant::now();
    drop(dying); // SIGKILL, while its answer waits out the rate limit (a second)
    let posted = slack.settled(1).await;
    assert_eq!(posted.len(), 1, "answered once: {posted:?}");
    let answered = slack.fake.calls("chat.postMessage")[0].at;
    assert!(answered - acknowledged >= Duration::from_millis(2500), "by the other replica, after the grace");
    assert_eq!(posted[0].0, ADMIN);
    assert!(posted[0].1.starts_with("WMCS-1 declared"), "{posted:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_mode_envelopes_are_acknowledged_and_handled_once() {
    let slack = Workspace::new("socket").await;
    let _bot = slack.start("a", "socket", "memory://").await;
    slack.fake.wait_for("apps.connections.open", 1).await;
    let trigger = trigger_id();
    let payload: Value = serde_urlencoded::from_str::<Vec<(String, String)>>(&command_form(
        "U0ALICE",
        ADMIN,
        "/incident",
        "list",
        &trigger,
    ))
    .unwrap()
    .into_iter()
    .map(|(key, value)| (key, Value::String(value)))
    .collect::<serde_json::Map<_, _>>()
    .into();
    let envelope = |id: &str| json!({ "envelope_id": id, "payload": payload, "type": "slash_commands", "accepts_response_payload": true });
    slack.fake.send_envelope(envelope("env-1"));
    let ack = slack.fake.wait_for_ack("env-1").await;
    assert_eq!(ack["payload"]["text"], "`/incident list`");
    slack.fake.send_envelope(envelope("env-1-redelivered"));
    slack.fake.wait_for_ack("env-1-redelivered").await;
    assert_eq!(
        slack.settled(1).await,
        [(ADMIN.to_owned(), "Team WMCS has no open incident.".to_owned())],
        "handled once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_gets_a_channel_and_people_get_direct_messages() {
    let slack = Workspace::new("channels").await;
    let bot = slack.start_with("a", "http", "memory://", "[teams.settings.incident]\nincident_rooms = true").await;
    slack.command(&bot, "U0ALICE", "/incident", "declare Ceph cluster down!").await;
    let created = slack.fake.wait_for("conversations.create", 1).await;
    let name = created[0].args["name"].as_str().unwrap().to_owned();
    assert!(name.starts_with("wmcs-1-") && name.ends_with("-wmcs-ceph-cluster-down"), "{name}");
    assert!(name.len() <= 80 && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
    let invited = slack.fake.wait_for("conversations.invite", 1).await;
    let users = &invited[0].args["users"];
    assert!(users == &json!(["U0ALICE"]) || users == "U0ALICE", "the declarer is invited: {users}");
    let posted = slack.posted(3).await;
    let channel = invited[0].args["channel"].as_str().unwrap();
    assert!(posted.contains(&(ADMIN.to_owned(), format!("WMCS-1 has its own room: <#{channel}>"))), "{posted:?}");
    assert!(posted.iter().any(|(to, text)| to == channel && text.starts_with("This room is for WMCS-1")), "{posted:?}");

    slack.command(&bot, "U0ALICE", "/page", "<@U0BOB|bob> the switch is down").await;
    let posted = slack.posted(5).await;
    assert!(
        posted.contains(&("U0BOB".to_owned(), format!("alice pages you from <#{ADMIN}>: the switch is down"))),
        "{posted:?}"
    );
}

/// A slash command in the public channel, as Slack posts it.
fn public_command(user: &str, command: &str, text: &str) -> String {
    command_form(user, PUBLIC, command, text, &trigger_id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_stay_with_their_sender_and_slacks_checks_are_answered() {
    let slack = Workspace::new("hardening").await;
    let bot = slack.start("a", "http", "memory://").await;
    let form = public_command("U0ALICE", "/incident", "declare SECRET ssh keys leaked --security");
    let refused = slack.signed(&bot, "/slack/commands", "application/x-www-form-urlencoded", form, 0).await;
    assert_eq!(refused.status(), 200);
    assert_eq!(refused.text().await.unwrap(), "", "nothing of a refused command is shown to the channel");
    let whisper = &slack.fake.wait_for_whispers(1).await[0];
    assert_eq!((whisper.channel.as_str(), whisper.user.as_str()), (PUBLIC, "U0ALICE"));
    assert!(whisper.text.starts_with("security incidents are declared in the team's admin room"), "{whisper:?}");
    assert!(slack.fake.history().iter().all(|m| !m.text.contains("SECRET")), "the title never reaches the channel");

    let check = slack.client.post(format!("http://127.0.0.1:{}/slack/commands", bot.port));
    let check = check.header("content-type", "application/x-www-form-urlencoded").body("ssl_check=1&token=x");
    assert_eq!(check.send().await.unwrap().status(), 200, "Slack's certificate check");

    let echo = slack.command(&bot, "U0ALICE", "/firebell-status", "clear").await;
    let echo: Value = serde_json::from_str(&echo.text().await.unwrap()).unwrap();
    assert_eq!(echo["text"], "`/firebell-status clear`", "Slack's /status is ours as /firebell-status");
    let done = slack.posted(1).await;
    assert_eq!(done[0].1, format!("Topic of <#{PUBLIC}> set."), "rooms by their link, not their id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_app_token_stops_the_bot_at_start() {
    let slack = Workspace::new("revoked").await;
    let config = slack.config_with("a", "socket", free_port(), "memory://", "");
    let revoked = std::fs::read_to_string(&config).expect("config").replace("xapp-fake", "xapp-revoked");
    std::fs::write(&config, revoked).expect("config written");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_firebell")).arg("--config").arg(&config).output();
    let output = output.expect("firebell runs");
    assert!(!output.status.success(), "refused at start");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the app-level token (xapp-…) is refused: ") && stderr.contains("invalid_auth"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_outage_at_start_is_waited_out_in_both_modes() {
    let slack = Workspace::new("outage-at-start").await;
    slack.fake.fail("apps.connections.open", 2);
    let socket = slack.start("socket", "socket", "memory://").await;
    assert!(!slack.fake.calls("apps.connections.open").is_empty(), "opened once Slack answered");
    slack.fake.fail("auth.test", 2);
    let http = slack.start("http", "http", "memory://").await;
    drop((socket, http));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_unreachable_at_start_is_waited_for_with_one_readable_line_per_try() {
    let slack = Workspace::new("unreachable-at-start").await;
    let config = slack.config_with("a", "http", free_port(), "memory://", "");
    let closed = format!("http://127.0.0.1:{}/api", free_port());
    let text = std::fs::read_to_string(&config).expect("config").replace(&slack.fake.api_url(), &closed);
    std::fs::write(&config, text).expect("config written");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_firebell"))
        .arg("--config")
        .arg(&config)
        .env("FIREBELL_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("firebell starts");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(child.try_wait().expect("wait").is_none(), "it waits for Slack instead of stopping");
    let _ = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let output = child.wait_with_output().expect("ends");
    assert!(output.status.success(), "a SIGTERM while waiting ends it cleanly: {:?}", output.status);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tries: Vec<&str> = stderr.lines().filter(|line| line.contains("Slack does not answer at start")).collect();
    assert!(tries.len() >= 2, "{stderr}");
    assert!(tries.iter().all(|line| line.contains("Slack cannot be reached (the connection failed)")), "{stderr}");
    assert!(!stderr.contains("hyper_util"), "no raw client error: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_in_a_channel_the_bot_is_not_in_is_answered_by_a_direct_message_saying_why() {
    let slack = Workspace::new("not-in-channel").await;
    let bot = slack.start("a", "http", "memory://").await;
    slack.fake.keep_out(ADMIN);
    slack.command(&bot, "U0ALICE", "/incident", "list").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let told = loop {
        let direct: Vec<_> = slack.fake.history().into_iter().filter(|m| m.channel.starts_with('D')).collect();
        if !direct.is_empty() {
            break direct;
        }
        assert!(std::time::Instant::now() < deadline, "the sender was never told");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0].text.contains(&format!("<#{ADMIN}>")) && told[0].text.contains("invite it with /invite"),
        "{}",
        told[0].text
    );
    assert_eq!(told[0].channel, "DU0ALICE", "a direct message to the sender");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ics_file_uploaded_with_oncall_import_as_its_caption_becomes_overrides() {
    let slack = Workspace::new("upload").await;
    let bot = slack.start("a", "http", "memory://").await;
    let start = chrono::Utc::now() + chrono::Duration::hours(1);
    let at = |hours: i64| (start + chrono::Duration::hours(hours)).format("%Y%m%dT%H%M%SZ").to_string();
    let export = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Grafana Labs//Grafana OnCall//EN\r\n\
         BEGIN:VEVENT\r\nUID:oncall-1\r\nDTSTART:{}\r\nDTEND:{}\r\nSUMMARY:[L1] bob\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nUID:oncall-2\r\nDTSTART:{}\r\nDTEND:{}\r\nSUMMARY:[L1] alice\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        at(0),
        at(12),
        at(12),
        at(24)
    );
    let mut upload = message("U0BOSS", "!oncall import", "1700000300.000300", None);
    upload["subtype"] = json!("file_share");
    upload["files"] = json!([slack.fake.upload("rota.ics", &export)]);
    assert_eq!(slack.event(&bot, "Ev0FILE", upload, None).await.status(), 200);
    let posted = slack.posted(2).await;
    assert_eq!(posted[0].1, "Reading rota.ics; I will say what it holds.");
    assert!(posted[1].1.starts_with("Imported 2 shifts of the next 90 days as overrides (alice, bob)"), "{posted:?}");
    let downloads = slack.fake.calls("chat.postMessage").len();
    assert_eq!(downloads, 2, "answered once");
    let mut bare = message("U0BOSS", "!oncall import", "1700000400.000400", None);
    bare["client_msg_id"] = json!("m-bare");
    slack.event(&bot, "Ev0BARE", bare, None).await;
    let said = slack.fake.wait_for_whispers(1).await;
    assert!(
        said[0].text.contains("expected the export's https:// (or webcal://) URL, or its .ics file uploaded"),
        "{said:?}"
    );
}

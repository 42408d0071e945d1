//! Paging through the real dispatcher, scheduler and console adapter: alerts from the
//! Alertmanager receiver, acknowledgement, escalation, false alarms, bringing people in.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use firebell_core::adapter::{AdapterError, Service};
use firebell_core::async_trait;
use firebell_plugin_paging::calls::{Request, Response};

use firebell_core::ids::{RoomRef, TeamId};
use firebell_core::state::{Choices, FRAMEWORK, PluginChoice, encode};
use firebell_core::store::{Guard, StreamRange, Write};
use firebell_plugin_paging::alertmanager::{ReceiveError, Receiver, ReceiverOptions};
use firebell_plugin_paging::{Alert, AlertStatus, PagingPlugin};
use firebell_plugin_sal::LogEntry;
use firebell_testkit::{Harness, SRE_ADMIN, WMCS_ADMIN, text};

fn bot(silences: bool) -> Harness {
    Harness::builder()
        .plugin(Arc::new(PagingPlugin::new(silences)))
        .plugin(Arc::new(firebell_plugin_sal::SalPlugin))
        .build()
}

/// A bot whose `!ack` silences alerts in `alertmanager`.
fn silencing(alertmanager: &Arc<Alertmanager>) -> Harness {
    Harness::builder()
        .plugin(Arc::new(PagingPlugin::new(true)))
        .plugin(Arc::new(firebell_plugin_sal::SalPlugin))
        .service(alertmanager.clone())
        .build()
}

fn receiver(bot: &Harness, fallback: Option<&str>) -> Receiver {
    Receiver::new(bot.bot().clone(), ReceiverOptions::open("team", fallback.map(RoomRef::console)))
}

fn admin(text: &str) -> String {
    format!("[{WMCS_ADMIN}] firebell: {text}")
}

fn minutes(n: u64) -> Duration {
    Duration::from_secs(60 * n)
}

/// An Alertmanager version 4 payload with one alert, firing since 02:59:30.
fn payload(status: &str, team: &str, severity: &str, fingerprint: &str) -> String {
    payload_since(status, team, severity, fingerprint, "2026-11-21T02:59:30Z")
}

fn payload_since(status: &str, team: &str, severity: &str, fingerprint: &str, since: &str) -> String {
    format!(
        r#"{{"version":"4","groupKey":"{{}}:{{alertname=\"ToolsDBDown\"}}","truncatedAlerts":0,"status":"{status}",
        "receiver":"firebell","groupLabels":{{}},"commonLabels":{{}},"commonAnnotations":{{}},"externalURL":"http://am",
        "alerts":[{{"status":"{status}","labels":{{"alertname":"ToolsDBDown","instance":"clouddb1001","team":"{team}",
        "severity":"{severity}"}},"annotations":{{"summary":"ToolsDB is not answering"}},
        "startsAt":"{since}","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus/graph",
        "fingerprint":"{fingerprint}"}}]}}"#
    )
}

const PAGE: &str = "PAGE P1 [FIRING] ToolsDB is not answering — @alice is on call (reached by direct message (console)). Reply !ack P1";
/// The direct message that reaches alice for page `n`.
fn reached(n: u32) -> String {
    format!(
        "[@alice] firebell: You are paged for WMCS: P{n} ToolsDB is not answering. Reply !ack P{n} in the team's room."
    )
}
const LABELS: &str = "alertname=ToolsDBDown instance=clouddb1001 severity=page team=wmcs";

async fn fire(bot: &Harness, receiver: &Receiver, fingerprint: &str) -> Vec<String> {
    let body = payload("firing", "wmcs", "page", fingerprint);
    let (received, lines) = bot.printed(receiver.receive(body.as_bytes())).await;
    assert_eq!(received.expect("taken"), 1);
    lines
}

#[tokio::test]
async fn a_paging_alert_opens_one_page_that_escalates_by_timezone_then_to_everyone() {
    let bot = bot(false);
    let receiver = receiver(&bot, None);
    assert_eq!(fire(&bot, &receiver, "f1").await, [admin(PAGE), admin(LABELS), reached(1)]);
    assert!(fire(&bot, &receiver, "f1").await.is_empty(), "firing again opens no second page");
    let quiet = payload("firing", "wmcs", "warning", "f2");
    assert!(bot.printed(receiver.receive(quiet.as_bytes())).await.1.is_empty(), "only the paging severity pages");
    assert!(bot.advance(minutes(9)).await.is_empty());
    let paged = |name: &str| {
        format!(
            "[@{name}] firebell: You are paged for WMCS: P1 ToolsDB is not answering. Reply !ack P1 in the team's room."
        )
    };
    assert_eq!(
        bot.advance(minutes(1)).await,
        [
            admin(
                "P1 is not acknowledged after 10m. Paging everyone in alice's timezone (UTC+01:00): @carol Reply !ack P1"
            ),
            paged("carol")
        ]
    );
    assert_eq!(
        bot.advance(minutes(20)).await,
        [
            admin(
                "P1 is not acknowledged after 30m. Paging everyone on team WMCS: @alice @bob @carol @dave Reply !ack P1"
            ),
            paged("alice"),
            paged("bob"),
            paged("carol"),
            paged("dave")
        ]
    );
    assert_eq!(
        text(&bot.say("bob", WMCS_ADMIN, "!ack").await),
        "bob paged: ToolsDB is not answering (P1 acknowledged)"
    );
}

/// A stand-in for Alertmanager's API, answering the plugin's calls from what a test says fires.
#[derive(Default)]
struct Alertmanager {
    firing: Mutex<Vec<String>>,
    calls: Mutex<Vec<Request>>,
}

#[async_trait]
impl Service for Alertmanager {
    fn name(&self) -> &str {
        "alertmanager"
    }

    async fn call(&self, _: &str, request: &str) -> Result<String, AdapterError> {
        let request: Request = serde_json::from_str(request).expect("a request");
        self.calls.lock().unwrap().push(request.clone());
        let firing = |fingerprint: &str| self.firing.lock().unwrap().iter().any(|f| f == fingerprint);
        let response = match request {
            Request::Silence { fingerprint, .. } if firing(&fingerprint) => Response::Silenced {
                silence: format!("s-{fingerprint}"),
                labels: BTreeMap::from([("a".into(), "b".into())]),
            },
            Request::Check { fingerprint, alertname, .. } if firing(&fingerprint) => {
                let alert = Alert {
                    status: AlertStatus::Firing,
                    fingerprint,
                    alertname,
                    summary: "ToolsDB is not answering".into(),
                    labels: BTreeMap::from([("severity".into(), "page".into())]),
                    starts_at: "2026-11-21T04:30:00Z".parse().unwrap(),
                    generator_url: String::new(),
                };
                Response::Firing { alert }
            }
            Request::Expire { .. } => Response::Expired,
            _ => Response::NotFiring,
        };
        Ok(serde_json::to_string(&response).unwrap())
    }
}

#[tokio::test]
async fn an_ack_stops_the_escalation_silences_the_alert_and_follows_it_until_it_resolves() {
    let alertmanager = Arc::new(Alertmanager::default());
    alertmanager.firing.lock().unwrap().push("f1".into());
    let bot = silencing(&alertmanager);
    let receiver = receiver(&bot, None);
    fire(&bot, &receiver, "f1").await;
    bot.advance(minutes(2)).await;
    assert_eq!(
        bot.say("bob", WMCS_ADMIN, "!ack P1").await,
        [
            admin("bob paged: ToolsDB is not answering (P1 acknowledged)"),
            admin("P1 silenced in Alertmanager until 05:02 UTC, on all 1 labels of its alert."),
        ],
        "\"silenced\" once the silence exists"
    );
    let first = alertmanager.calls.lock().unwrap()[0].clone();
    let Request::Silence { fingerprint, comment, starts_at, ends_at, .. } = &first else {
        panic!("a silence first");
    };
    assert_eq!((fingerprint.as_str(), comment.as_str()), ("f1", "ACK! bob"));
    assert_eq!(
        (starts_at.to_rfc3339(), ends_at.to_rfc3339()),
        ("2026-11-21T03:02:00+00:00".into(), "2026-11-21T05:02:00+00:00".into())
    );
    assert!(bot.advance(minutes(60)).await.is_empty(), "no escalation after the ack, and the alert still fires");
    assert_eq!(text(&bot.say("carol", WMCS_ADMIN, "!ack P1").await), "P1 was acknowledged by bob at 03:02 UTC");
    assert_eq!(
        text(&bot.say("carol", WMCS_ADMIN, "!page list").await),
        "Open pages of team WMCS:\n- P1 [ACKED by bob at 03:02 UTC] ToolsDB is not answering (opened 03:00 UTC, on call alice)"
    );
    alertmanager.firing.lock().unwrap().clear();
    assert_eq!(
        bot.advance(minutes(1)).await,
        [admin("P1 [RESOLVED] ToolsDB is not answering (after 1h 3m, no longer firing in Alertmanager)")],
        "the silence hid the resolved notification; the follow-up found it"
    );
    let last = alertmanager.calls.lock().unwrap().last().cloned();
    assert!(
        matches!(last, Some(Request::Expire { ref silence, .. }) if silence == "s-f1"),
        "the silence is lifted, so that a new firing pages: {last:?}"
    );
    assert!(bot.advance(minutes(10)).await.is_empty(), "the resolved alert is watched");
    alertmanager.firing.lock().unwrap().push("f1".into());
    let again = bot.advance(minutes(1)).await;
    assert_eq!(
        again[0],
        admin(
            "PAGE P2 [FIRING] ToolsDB is not answering — @alice is on call (reached by direct message (console)). Reply !ack P2"
        ),
        "firing again pages at once, although Alertmanager would report it only after its repeat_interval"
    );
    assert!(bot.advance(minutes(2)).await.iter().all(|line| !line.contains("PAGE")), "once");
}

#[tokio::test]
async fn an_ack_of_an_alert_alertmanager_does_not_know_silences_nothing() {
    let alertmanager = Arc::new(Alertmanager::default());
    let bot = silencing(&alertmanager);
    let receiver = receiver(&bot, None);
    fire(&bot, &receiver, "forged").await;
    assert_eq!(
        text(&bot.say("bob", WMCS_ADMIN, "!ack").await),
        "bob paged: ToolsDB is not answering (P1 acknowledged)\nP1: Alertmanager does not report this alert as firing \
         (it resolved, or it did not come from Alertmanager), so nothing was silenced. It is silenced if it fires \
         again while acknowledged."
    );
    assert_eq!(
        bot.advance(minutes(1)).await,
        [admin("P1 [RESOLVED] ToolsDB is not answering (after 1m, no longer firing in Alertmanager)")]
    );
}

#[tokio::test]
async fn a_resolved_alert_resolves_its_page() {
    let bot = bot(false);
    let receiver = receiver(&bot, None);
    fire(&bot, &receiver, "f1").await;
    bot.advance(minutes(4)).await;
    let resolved = payload("resolved", "wmcs", "page", "f1");
    let (_, lines) = bot.printed(receiver.receive(resolved.as_bytes())).await;
    assert_eq!(lines, [admin("P1 [RESOLVED] ToolsDB is not answering (after 4m)")]);
    assert!(bot.advance(minutes(60)).await.is_empty(), "no escalation once resolved");
    assert_eq!(text(&bot.say("bob", WMCS_ADMIN, "!ack").await), "there is no open page");
    let again = payload_since("firing", "wmcs", "page", "f1", "2026-11-21T03:30:00Z");
    let (_, lines) = bot.printed(receiver.receive(again.as_bytes())).await;
    assert_eq!(lines[0], admin(&PAGE.replace("P1", "P2")), "firing again later opens a new page");
}

#[tokio::test]
async fn a_false_alarm_closes_the_page_and_notes_to_adjust_monitoring() {
    let bot = bot(false);
    let receiver = receiver(&bot, None);
    fire(&bot, &receiver, "f1").await;
    assert_eq!(
        text(&bot.say("dave", WMCS_ADMIN, "!page falsealarm").await),
        "P1 closed as a false alarm by dave. Noted in the alerts admin log: adjust monitoring for ToolsDBDown."
    );
    assert!(bot.advance(minutes(60)).await.is_empty());
    let team = TeamId::new("wmcs").unwrap();
    let log = bot.store().stream(&team, "sal", "log:alerts", StreamRange::Latest(10)).await.unwrap();
    let log: Vec<LogEntry> = log.iter().map(|entry| serde_json::from_str(&entry.data).unwrap()).collect();
    assert_eq!(log[0].message, "false alarm P1 (ToolsDBDown): adjust monitoring");
    assert_eq!(text(&bot.say("dave", WMCS_ADMIN, "!page falsealarm P1").await), "no open page P1");
}

#[tokio::test]
async fn several_pages_need_a_name() {
    let bot = bot(false);
    let receiver = receiver(&bot, None);
    fire(&bot, &receiver, "f1").await;
    fire(&bot, &receiver, "f2").await;
    assert_eq!(
        text(&bot.say("bob", WMCS_ADMIN, "!ack").await),
        "several pages are open (P1, P2); name one, e.g. !ack P2"
    );
    assert_eq!(
        text(&bot.say("bob", WMCS_ADMIN, "!ack X2").await),
        "error: expected a page like P12, got \"X2\"; usage: !ack [page]"
    );
    assert!(text(&bot.say("bob", WMCS_ADMIN, "!ack p2").await).starts_with("bob paged:"));
    assert!(text(&bot.say("bob", WMCS_ADMIN, "!ack").await).starts_with("bob paged:"), "the only firing one");
}

#[tokio::test]
async fn people_and_other_teams_can_be_brought_in() {
    let bot = bot(false);
    assert_eq!(
        bot.say("alice", WMCS_ADMIN, "!page @bob the NFS server is stuck").await,
        [
            admin("@bob: alice pages you: the NFS server is stuck"),
            "[@bob] firebell: alice pages you from #wikimedia-cloud-admin: the NFS server is stuck".to_owned()
        ]
    );
    assert_eq!(
        bot.say("alice", WMCS_ADMIN, "!page team sre the core routers drop packets").await,
        [
            admin("Paged team SRE."),
            format!(
                "[{SRE_ADMIN}] firebell: PAGE from team WMCS (alice): the core routers drop packets. Reply in #wikimedia-cloud-admin — @erin is on call (reached by direct message (console))."
            ),
            "[@erin] firebell: Team WMCS pages team SRE (alice): the core routers drop packets.".to_owned(),
        ]
    );
    let sre = TeamId::new("sre").unwrap();
    let chosen = |enabled: Option<bool>| {
        let settings = BTreeMap::from([("oncall".to_owned(), "frank".to_owned())]);
        let choice = PluginChoice { plugin: "paging".into(), enabled, settings };
        [Write::Put { namespace: FRAMEWORK.into(), record: encode(&Choices::default().with(choice)) }]
    };
    bot.store().apply(Some(&sre), Guard::NONE, &chosen(None)).await.unwrap();
    let paged = bot.say("alice", WMCS_ADMIN, "!page team sre still dropping").await;
    assert!(paged[1].contains("@frank is on call (reached by"), "the other team's chat-made settings count: {paged:?}");
    bot.store().apply(Some(&sre), Guard::NONE, &chosen(Some(false))).await.unwrap();
    assert_eq!(
        text(&bot.say("alice", WMCS_ADMIN, "!page team sre hello?").await),
        "team SRE has paging turned off, so it cannot be paged through Firebell; reach them in their rooms"
    );
    assert_eq!(
        text(&bot.say("alice", WMCS_ADMIN, "!page team netops help").await),
        "error: unknown team \"netops\"; expected one of sre; usage: !page team <team> [text]"
    );
    assert_eq!(
        text(&bot.say("visitor", WMCS_ADMIN, "!page @bob x").await),
        "only team members may run !page; you are not on team wmcs's roster"
    );
}

#[tokio::test]
async fn bad_payloads_change_nothing_and_unknown_teams_go_to_the_fallback_room() {
    let bot = bot(false);
    let receiver = receiver(&bot, Some("#ops"));
    let bad = receiver.receive(br#"{"version":"4","alerts":[{"status":"firing"}]}"#).await;
    assert!(matches!(bad, Err(ReceiveError::BadPayload(ref reason)) if reason.contains("missing field")), "{bad:?}");
    let team = TeamId::new("wmcs").unwrap();
    assert!(bot.store().recent(&team, "paging", "page", 10).await.unwrap().is_empty(), "nothing stored");
    let stray = payload("firing", "netops", "page", "f9");
    let (result, lines) = bot.printed(receiver.receive(stray.as_bytes())).await;
    result.unwrap();
    assert_eq!(
        lines,
        [
            "[#ops] firebell: Alert ToolsDBDown [FIRING] ToolsDB is not answering belongs to no known team (team=netops); add a team label naming a team."
        ]
    );
    assert!(bot.printed(receiver.receive(stray.as_bytes())).await.1.is_empty(), "a retried delivery is posted once");
}

#[tokio::test]
async fn paging_another_team_when_there_is_none_says_so() {
    let only_wmcs = firebell_testkit::sample_teams().into_iter().take(1).collect();
    let alone = Harness::builder().plugin(Arc::new(PagingPlugin::new(false))).teams(only_wmcs).build();
    assert_eq!(
        text(&alone.say("alice", WMCS_ADMIN, "!page team sre help").await),
        "error: unknown team \"sre\"; team wmcs is the only team configured, so there is no other team to page; \
         usage: !page team <team> [text]"
    );
    let two = bot(false);
    assert_eq!(
        text(&two.say("alice", WMCS_ADMIN, "!page team nope help").await),
        "error: unknown team \"nope\"; expected one of sre; usage: !page team <team> [text]"
    );
}

#[tokio::test]
async fn an_acknowledged_alert_that_alertmanager_lost_is_silenced_once_when_it_fires_again() {
    let alertmanager = Arc::new(Alertmanager::default());
    let bot = silencing(&alertmanager);
    let receiver = receiver(&bot, None);
    fire(&bot, &receiver, "f1").await;
    // Alertmanager restarted between the alert and the acknowledgement: it knows no alert.
    let acked = text(&bot.say("bob", WMCS_ADMIN, "!ack").await);
    assert!(
        acked.ends_with("so nothing was silenced. It is silenced if it fires again while acknowledged."),
        "{acked}"
    );
    // Prometheus sends the alert again; Alertmanager knows it again. The bot follows the
    // acknowledged page's alert every minute: it finds it firing without a silence.
    alertmanager.firing.lock().unwrap().push("f1".into());
    let silenced = text(&bot.advance(minutes(1)).await);
    assert_eq!(silenced, "P1 silenced in Alertmanager until 05:01 UTC, on all 1 labels of its alert.");
    assert!(bot.advance(minutes(5)).await.is_empty(), "once: the page has its silence");
    assert!(fire_again(&bot, &receiver, "2026-11-21T03:10:00Z").await.is_empty(), "a new firing is silenced already");
    let silences =
        alertmanager.calls.lock().unwrap().iter().filter(|call| matches!(call, Request::Silence { .. })).count();
    assert_eq!(silences, 2, "the acknowledgement's, and one more when the alert came back");
}

#[tokio::test]
async fn a_new_firing_of_an_acknowledged_alert_without_a_silence_is_silenced_once() {
    let alertmanager = Arc::new(Alertmanager::default());
    let bot = silencing(&alertmanager);
    let receiver = receiver(&bot, None);
    fire(&bot, &receiver, "f1").await;
    bot.say("bob", WMCS_ADMIN, "!ack").await;
    alertmanager.firing.lock().unwrap().push("f1".into());
    let silenced = text(&fire_again(&bot, &receiver, "2026-11-21T03:00:10Z").await);
    assert_eq!(silenced, "P1 silenced in Alertmanager until 05:00 UTC, on all 1 labels of its alert.");
    assert!(fire_again(&bot, &receiver, "2026-11-21T03:00:20Z").await.is_empty(), "once");
}

/// Alertmanager notifies that `f1` fires, since `since`.
async fn fire_again(bot: &Harness, receiver: &Receiver, since: &str) -> Vec<String> {
    let body = payload_since("firing", "wmcs", "page", "f1", since);
    let (received, lines) = bot.printed(receiver.receive(body.as_bytes())).await;
    assert_eq!(received.expect("taken"), 1);
    lines
}

/// What a push endpoint (ntfy, Gotify, or this test's) received: the path, the idempotency key
/// and the JSON body.
type Received = Arc<Mutex<Vec<(String, String, serde_json::Value)>>>;

/// A push endpoint on a free loopback port: `/ok` takes pushes, `/fail` answers 500.
async fn push_endpoint() -> (String, Received) {
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode, Uri};
    let received = Received::default();
    let take = |State(received): State<Received>, uri: Uri, headers: HeaderMap, body: String| async move {
        let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let json = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
        received.lock().unwrap().push((uri.path().to_owned(), key, json));
        if uri.path() == "/fail" { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK }
    };
    let app = axum::Router::new().fallback(axum::routing::post(take)).with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), received)
}

#[tokio::test]
async fn a_page_at_3am_reaches_whoever_the_schedule_names_by_direct_message_and_push_once_then_escalates() {
    use firebell_core::team::Push;
    use firebell_plugin_paging::push::PushClient;
    let (url, received) = push_endpoint().await;
    let mut teams = firebell_testkit::sample_teams();
    let schedule = serde_json::json!({
        "timezone": "Europe/Madrid",
        "layers": [{ "name": "primary", "rotation": "weekly", "handoff": "09:00", "start": "2026-11-16",
                     "participants": ["bob"] }]
    });
    teams[0].config.insert("oncall".into(), schedule);
    teams[0].members[1].push = Some(Push { url: format!("{url}/ok"), topic: Some("bob-pages".into()) });
    teams[0].members[2].push = Some(Push { url: format!("{url}/fail"), topic: None });
    let bot = Harness::builder()
        .teams(teams)
        .plugin(Arc::new(PagingPlugin::new(false)))
        .plugin(Arc::new(firebell_plugin_sal::SalPlugin))
        .plugin(Arc::new(firebell_plugin_oncall::OncallPlugin))
        .service(Arc::new(PushClient::new(Duration::from_millis(5))))
        .build();
    let receiver = receiver(&bot, None);
    let host = url.trim_start_matches("http://");
    assert_eq!(
        fire(&bot, &receiver, "f1").await,
        [
            admin(&format!(
                "PAGE P1 [FIRING] ToolsDB is not answering — @bob is on call (reached by direct message (console), push ({host})). Reply !ack P1"
            )),
            admin(LABELS),
            "[@bob] firebell: You are paged for WMCS: P1 ToolsDB is not answering. Reply !ack P1 in the team's room."
                .to_owned(),
        ],
        "the schedule's person, not the first on the roster"
    );
    {
        let pushes = received.lock().unwrap();
        assert_eq!(pushes.len(), 1, "{pushes:?}");
        let (path, key, body) = &pushes[0];
        assert_eq!(path, "/ok");
        assert!(!key.is_empty(), "an idempotency key");
        assert_eq!(body["topic"], "bob-pages");
        assert_eq!(body["title"], "P1 ToolsDB is not answering [WMCS]");
        assert_eq!(body["priority"], 5);
        assert!(body["message"].as_str().unwrap().starts_with("You are paged for WMCS: P1"), "{body}");
    }
    let escalated = bot.advance(minutes(10)).await;
    assert_eq!(
        escalated[0],
        admin(
            "P1 is not acknowledged after 10m. Paging everyone in bob's timezone (UTC-05:00): nobody else shares that timezone; the whole team is paged next. Reply !ack P1"
        )
    );
    let everyone = bot.advance(minutes(20)).await;
    assert_eq!(
        everyone[0],
        admin("P1 is not acknowledged after 30m. Paging everyone on team WMCS: @alice @bob @carol @dave Reply !ack P1")
    );
    for person in ["alice", "bob", "carol", "dave"] {
        let told =
            everyone.iter().filter(|line| line.starts_with(&format!("[@{person}] firebell: You are paged"))).count();
        assert_eq!(told, 1, "{person}: {everyone:#?}");
    }
    assert!(
        everyone
            .contains(&admin(&format!("P1: the push to carol ({host}) failed: answered 500 Internal Server Error: ."))),
        "a failed push is said: {everyone:#?}"
    );
    let pushes = received.lock().unwrap();
    let keys: Vec<&String> = pushes.iter().map(|(_, key, _)| key).collect();
    assert_eq!(pushes.iter().filter(|(path, ..)| path == "/ok").count(), 2, "bob again with everyone: {keys:?}");
    assert_eq!(pushes.iter().filter(|(path, ..)| path == "/fail").count(), 3, "three tries for carol");
    let ok_keys: Vec<&String> = pushes.iter().filter(|(path, ..)| path == "/ok").map(|(_, key, _)| key).collect();
    assert_ne!(ok_keys[0], ok_keys[1], "each push has its own action id");
}

#[tokio::test]
async fn a_teams_escalation_policy_decides_who_is_reached_and_when() {
    use firebell_core::team::SettingValue;
    let mut teams = firebell_testkit::sample_teams();
    let policy = SettingValue::Text("2m oncall, 5m admins, 10m dave, 20m everyone".into());
    teams[0].settings.insert("paging".into(), [("escalation".to_owned(), policy)].into_iter().collect());
    let bot = Harness::builder()
        .teams(teams)
        .plugin(Arc::new(PagingPlugin::new(false)))
        .plugin(Arc::new(firebell_plugin_sal::SalPlugin))
        .build();
    let receiver = receiver(&bot, None);
    fire(&bot, &receiver, "f1").await;
    let step = |lines: Vec<String>| lines.into_iter().next().unwrap_or_default();
    assert_eq!(
        step(bot.advance(minutes(2)).await),
        admin("P1 is not acknowledged after 2m. Paging alice again: @alice Reply !ack P1")
    );
    assert_eq!(
        step(bot.advance(minutes(3)).await),
        admin("P1 is not acknowledged after 5m. Paging the admins of team WMCS: @alice Reply !ack P1")
    );
    let dave = bot.advance(minutes(5)).await;
    assert_eq!(dave[0], admin("P1 is not acknowledged after 10m. Paging dave: @dave Reply !ack P1"));
    assert!(dave[1].starts_with("[@dave] firebell: You are paged for WMCS: P1"), "{dave:?}");
    assert_eq!(
        text(&bot.say("dave", WMCS_ADMIN, "!ack").await),
        "dave paged: ToolsDB is not answering (P1 acknowledged)"
    );
    assert!(bot.advance(minutes(30)).await.is_empty(), "an acknowledged page escalates no further");
}

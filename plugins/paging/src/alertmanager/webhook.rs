//! The Alertmanager webhook: `POST /alertmanager` with Alertmanager's version 4 payload.
//!
//! Configure Alertmanager with a webhook receiver pointing at `http://<firebell>/alertmanager`,
//! with the credentials of `[http]` in its `http_config` (a bearer token and/or basic auth); a
//! request without them gets `401`. Each alert is routed to the team named by its `team` label
//! (configurable) and decided (its page opened, kept in the store) before the answer `200`;
//! the pages are sent after. A payload that is not Alertmanager's version 4 JSON gets `400` with
//! a one-line reason and nothing is stored; one larger than the body limit gets `413`; when the
//! store cannot keep the alerts, `503`, so that Alertmanager tries again. An alert for an unknown
//! team is logged and posted to the fallback room, if one is set.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use firebell_core::ids::RoomRef;
use firebell_core::message::{Action, Message};
use firebell_core::plugin::Event;
use firebell_runtime::bot::Bot;
use firebell_runtime::dispatcher::Dispatched;
use serde::Deserialize;
use subtle::ConstantTimeEq as _;

use crate::PLUGIN;
use crate::page::{Alert, AlertStatus};

/// Alertmanager's webhook payload, version 4.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    version: String,
    alerts: Vec<PayloadAlert>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PayloadAlert {
    status: String,
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    starts_at: DateTime<Utc>,
    #[serde(default, rename = "generatorURL")]
    generator_url: String,
    fingerprint: String,
}

/// Reads an Alertmanager webhook body. The error says, in one line, what is wrong.
pub fn parse(body: &[u8]) -> Result<Vec<Alert>, String> {
    let payload: Payload =
        serde_json::from_slice(body).map_err(|err| format!("not an Alertmanager webhook payload: {err}"))?;
    if payload.version != "4" {
        return Err(format!("unsupported payload version {:?} (expected \"4\")", payload.version));
    }
    if payload.alerts.is_empty() {
        return Err("the payload has no alerts".into());
    }
    payload.alerts.into_iter().enumerate().map(|(index, alert)| read_alert(index + 1, alert)).collect()
}

fn read_alert(number: usize, alert: PayloadAlert) -> Result<Alert, String> {
    let status = match alert.status.as_str() {
        "firing" => AlertStatus::Firing,
        "resolved" => AlertStatus::Resolved,
        other => return Err(format!("alert {number}: status {other:?} (expected firing or resolved)")),
    };
    if alert.fingerprint.trim().is_empty() {
        return Err(format!("alert {number}: empty fingerprint"));
    }
    let alertname = alert.labels.get("alertname").cloned().ok_or(format!("alert {number}: no alertname label"))?;
    let summary = ["summary", "description"]
        .iter()
        .find_map(|key| alert.annotations.get(*key))
        .cloned()
        .unwrap_or_else(|| alertname.clone());
    Ok(Alert {
        status,
        fingerprint: alert.fingerprint,
        alertname,
        summary,
        labels: alert.labels,
        starts_at: alert.starts_at,
        generator_url: alert.generator_url,
    })
}

/// The credentials Alertmanager's `http_config` must send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookAuth {
    /// `Authorization: Bearer <token>` (Alertmanager's `authorization.credentials`).
    pub bearer_token: Option<String>,
    /// `Authorization: Basic …` (Alertmanager's `basic_auth`): username and password.
    pub basic: Option<(String, String)>,
    /// With no credentials set, whether requests without any are taken (only sensible when
    /// the server listens on a loopback address); else every request is refused.
    pub anonymous: bool,
}

impl WebhookAuth {
    /// Whether any credentials are required.
    pub fn is_required(&self) -> bool {
        self.bearer_token.is_some() || self.basic.is_some()
    }

    /// Whether `headers` carry credentials that are accepted (compared in constant time).
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        if !self.is_required() {
            return self.anonymous;
        }
        let Some(given) = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()) else {
            return false;
        };
        let (scheme, credentials) = given.split_once(' ').unwrap_or((given, ""));
        let same = |a: &str, b: &str| bool::from(a.as_bytes().ct_eq(b.as_bytes()));
        match scheme.to_ascii_lowercase().as_str() {
            "bearer" => self.bearer_token.as_deref().is_some_and(|token| same(credentials.trim(), token)),
            "basic" => self.basic.as_ref().is_some_and(|(user, password)| {
                let expected = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                same(credentials.trim(), &expected)
            }),
            _ => false,
        }
    }
}

/// How alerts are received and routed.
#[derive(Debug, Clone)]
pub struct ReceiverOptions {
    /// The label naming the team (`team`).
    pub team_label: String,
    /// Where alerts for no known team are posted.
    pub fallback_room: Option<RoomRef>,
    /// The credentials a request must carry.
    pub auth: WebhookAuth,
    /// The largest body taken, in bytes; Alertmanager does not retry a `413`, so this must fit
    /// the largest group of alerts it sends (about 2.3 KB per alert).
    pub body_limit: usize,
}

impl ReceiverOptions {
    /// The default body limit: 16 MiB, about 7,000 alerts in one notification.
    pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024 * 1024;

    /// Routing by `team_label`, open to anyone, with the default body limit.
    pub fn open(team_label: &str, fallback_room: Option<RoomRef>) -> Self {
        Self {
            team_label: team_label.to_owned(),
            fallback_room,
            auth: WebhookAuth { anonymous: true, ..WebhookAuth::default() },
            body_limit: Self::DEFAULT_BODY_LIMIT,
        }
    }
}

/// Why a webhook delivery was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// The payload is malformed; nothing was stored.
    #[error("bad payload: {0}")]
    BadPayload(String),
    /// The store failed; Alertmanager should retry.
    #[error("cannot handle alerts now: {0}")]
    Unavailable(String),
}

/// Receives Alertmanager webhooks for a bot.
pub struct Receiver {
    bot: Arc<Bot>,
    options: ReceiverOptions,
}

impl Receiver {
    /// A receiver handing alerts to `bot`.
    pub fn new(bot: Arc<Bot>, options: ReceiverOptions) -> Self {
        Self { bot, options }
    }

    /// Handles one webhook body to the end: every alert becomes a paging event of its team,
    /// handled once, and what it sends is sent. Returns how many alerts it held.
    pub async fn receive(&self, body: &[u8]) -> Result<usize, ReceiveError> {
        let (count, taken) = self.take(body).await?;
        for dispatched in &taken {
            self.bot.deliver(dispatched).await;
        }
        Ok(count)
    }

    /// Decides every alert of one webhook body and keeps what it sends in the store, without
    /// sending it yet: once this returns, the alerts are safe even if this replica dies.
    pub async fn take(&self, body: &[u8]) -> Result<(usize, Vec<Dispatched>), ReceiveError> {
        let alerts = parse(body).map_err(ReceiveError::BadPayload)?;
        let mut taken = Vec::with_capacity(alerts.len());
        for alert in &alerts {
            taken.push(self.route(alert).await?);
        }
        Ok((alerts.len(), taken))
    }

    async fn route(&self, alert: &Alert) -> Result<Dispatched, ReceiveError> {
        let status = match alert.status {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        };
        let id = format!("alertmanager:{}:{}:{status}", alert.fingerprint, alert.starts_at.timestamp_millis());
        let label = alert.labels.get(&self.options.team_label);
        let team = label.and_then(|name| self.bot.dispatcher().teams().get(name)).map(|team| team.id.clone());
        let Some(team) = team else {
            return self.unrouted(alert, label.map(String::as_str), &id).await;
        };
        let data = serde_json::to_string(alert).expect("alerts serialize");
        let event = Event { id: format!("{id}:{team}"), team, plugin: PLUGIN.into(), kind: "alert".into(), data };
        self.bot.dispatcher().dispatch_event(&event).await.map_err(|err| ReceiveError::Unavailable(err.to_string()))
    }

    async fn unrouted(&self, alert: &Alert, label: Option<&str>, id: &str) -> Result<Dispatched, ReceiveError> {
        let given = label.map_or_else(
            || format!("no {} label", self.options.team_label),
            |l| format!("{}={l}", self.options.team_label),
        );
        tracing::warn!(alert = %alert.alertname, %given, "alert for no known team");
        let Some(room) = &self.options.fallback_room else { return Ok(Dispatched::default()) };
        let text = format!(
            "Alert {} [{}] {} belongs to no known team ({given}); add a {} label naming a team.",
            alert.alertname,
            if alert.status == AlertStatus::Firing { "FIRING" } else { "RESOLVED" },
            alert.summary,
            self.options.team_label
        );
        let action = Action::Send { room: room.clone(), message: Message::text(text), thread: None };
        self.bot
            .dispatcher()
            .announce(&format!("{id}:unrouted"), vec![action])
            .await
            .map_err(|err| ReceiveError::Unavailable(err.to_string()))
    }
}

/// The HTTP routes of the receiver: `POST /alertmanager`, with its credentials and body limit.
pub fn router(receiver: Arc<Receiver>) -> Router {
    let limit = receiver.options.body_limit;
    Router::new().route("/alertmanager", post(webhook)).layer(DefaultBodyLimit::max(limit)).with_state(receiver)
}

async fn webhook(State(receiver): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    if !receiver.options.auth.admits(&headers) {
        tracing::warn!("refused an Alertmanager webhook without the configured credentials");
        let reason = if receiver.options.auth.is_required() {
            "missing or wrong credentials: send those of [http] webhook_token or webhook_username and webhook_password"
        } else {
            "this webhook listens on a public address and takes alerts only with credentials: set [http] \
             webhook_token (or webhook_username and webhook_password) and send them from Alertmanager's http_config"
        };
        return (StatusCode::UNAUTHORIZED, format!("{reason}\n"));
    }
    match receiver.take(&body).await {
        Ok((count, taken)) => {
            for dispatched in taken {
                receiver.bot.deliver_in_background(dispatched);
            }
            (StatusCode::OK, format!("ok: {count} alerts\n"))
        }
        Err(err @ ReceiveError::BadPayload(_)) => (StatusCode::BAD_REQUEST, format!("{err}\n")),
        Err(err @ ReceiveError::Unavailable(_)) => (StatusCode::SERVICE_UNAVAILABLE, format!("{err}\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(alerts: &str) -> String {
        format!(
            r#"{{"version":"4","groupKey":"{{}}:{{}}","status":"firing","receiver":"firebell","alerts":[{alerts}]}}"#
        )
    }

    const ALERT: &str = r#"{"status":"firing","labels":{"alertname":"ToolsDBDown","team":"wmcs","severity":"page"},
        "annotations":{"summary":"ToolsDB is down"},"startsAt":"2026-11-21T03:00:00.123Z",
        "endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus/graph","fingerprint":"abc123"}"#;

    #[test]
    fn reads_version_4_payloads() {
        let alerts = parse(payload(ALERT).as_bytes()).unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].summary, "ToolsDB is down");
        assert_eq!(alerts[0].status, AlertStatus::Firing);
        assert_eq!(alerts[0].labels["team"], "wmcs");
    }

    #[test]
    fn bad_payloads_say_what_is_wrong_in_one_line() {
        let err = parse(b"{not json").unwrap_err();
        assert!(err.starts_with("not an Alertmanager webhook payload:") && !err.contains('\n'), "{err}");
        let err = parse(payload(ALERT).replace(r#""version":"4""#, r#""version":"3""#).as_bytes()).unwrap_err();
        assert_eq!(err, "unsupported payload version \"3\" (expected \"4\")");
        assert_eq!(parse(payload("").as_bytes()).unwrap_err(), "the payload has no alerts");
        let bad = ALERT.replace(r#""status":"firing""#, r#""status":"exploded""#);
        assert_eq!(
            parse(payload(&bad).as_bytes()).unwrap_err(),
            "alert 1: status \"exploded\" (expected firing or resolved)"
        );
        let nameless = ALERT.replace(r#""alertname":"ToolsDBDown","#, "");
        assert_eq!(parse(payload(&nameless).as_bytes()).unwrap_err(), "alert 1: no alertname label");
    }

    #[test]
    fn webhooks_carry_the_configured_credentials() {
        let headers = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            headers
        };
        let bearer = WebhookAuth { bearer_token: Some("t0ken".into()), ..WebhookAuth::default() };
        assert!(bearer.admits(&headers("Bearer t0ken")));
        assert!(!bearer.admits(&headers("Bearer t0ke")));
        assert!(!bearer.admits(&HeaderMap::new()));
        let basic = WebhookAuth { basic: Some(("am".into(), "pw".into())), ..WebhookAuth::default() };
        assert!(basic.admits(&headers("Basic YW06cHc=")), "am:pw");
        assert!(!basic.admits(&headers("Basic YW06cHg=")));
        assert!(!basic.admits(&headers("Bearer YW06cHc=")));
        let open = WebhookAuth { anonymous: true, ..WebhookAuth::default() };
        assert!(open.admits(&HeaderMap::new()), "a loopback server without credentials");
        assert!(!WebhookAuth::default().admits(&headers("Bearer anything")), "a public one takes nothing");
    }

    mod properties {
        //! Whatever arrives at the webhook, the decoder answers without panicking: alerts, or one
        //! line saying what is wrong. `FIREBELL_FUZZ_CASES` sets the number of cases.

        use proptest::prelude::*;
        use serde_json::{Value, json};

        use super::super::parse;

        fn cases() -> u32 {
            std::env::var("FIREBELL_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(3000)
        }

        /// JSON values of any shape, a few levels deep.
        fn any_json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(|n| json!(n)),
                any::<f64>().prop_map(|n| json!(n)),
                "\\PC{0,16}".prop_map(Value::String),
                Just(json!("2026-11-21T03:00:00Z")),
                Just(json!("firing")),
                Just(json!("4")),
            ];
            leaf.prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    proptest::collection::btree_map("[a-zA-Z]{1,10}", inner, 0..4)
                        .prop_map(|map| Value::Object(map.into_iter().collect())),
                ]
            })
        }

        /// A real payload with one field replaced by anything.
        fn mutated() -> impl Strategy<Value = Vec<u8>> {
            let fields =
                ["version", "status", "labels", "annotations", "startsAt", "fingerprint", "alerts", "generatorURL"];
            (0..fields.len(), any_json()).prop_map(move |(field, value)| {
                let mut alert = json!({"status": "firing", "labels": {"alertname": "X", "team": "wmcs"},
                    "annotations": {"summary": "s"}, "startsAt": "2026-11-21T03:00:00Z", "fingerprint": "f"});
                let mut payload = json!({"version": "4", "status": "firing", "alerts": []});
                match fields[field] {
                    "version" | "alerts" => payload[fields[field]] = value,
                    other => alert[other] = value,
                }
                if fields[field] != "alerts" {
                    payload["alerts"] = json!([alert]);
                }
                payload.to_string().into_bytes()
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn any_bytes_are_alerts_or_one_line_of_why(body in proptest::collection::vec(any::<u8>(), 0..512)) {
                if let Err(why) = parse(&body) {
                    prop_assert!(!why.contains('\n'), "{why}");
                }
            }

            #[test]
            fn any_json_is_alerts_or_one_line_of_why(value in any_json()) {
                if let Err(why) = parse(value.to_string().as_bytes()) {
                    prop_assert!(!why.contains('\n'), "{why}");
                }
            }

            #[test]
            fn a_payload_with_one_wrong_field_is_alerts_or_one_line_of_why(body in mutated()) {
                match parse(&body) {
                    Ok(alerts) => prop_assert!(alerts.iter().all(|alert| !alert.fingerprint.trim().is_empty())),
                    Err(why) => prop_assert!(!why.contains('\n'), "{why}"),
                }
            }
        }
    }
}

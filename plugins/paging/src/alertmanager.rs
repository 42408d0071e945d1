//! Prometheus Alertmanager: the webhook receiver that turns alerts into paging events, and the
//! client that creates silences when a page is acknowledged.
//!
//! Configure Alertmanager with a webhook receiver pointing at `http://<firebell>/alertmanager`.
//! Each alert is routed to the team named by its `team` label (configurable). A payload that is
//! not Alertmanager's version 4 JSON gets `400` with a one-line reason and nothing is stored; an
//! alert for an unknown team is logged and posted to the fallback room, if one is set.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use chrono::{DateTime, Utc};
use firebell_core::adapter::{AdapterError, Service};
use firebell_core::async_trait;
use firebell_core::bot::Bot;
use firebell_core::ids::RoomRef;
use firebell_core::message::{Action, Message};
use firebell_core::plugin::Event;
use serde::Deserialize;

use crate::SILENCE_SERVICE;
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

/// How alerts are routed.
#[derive(Debug, Clone)]
pub struct ReceiverOptions {
    /// The label naming the team (`team`).
    pub team_label: String,
    /// Where alerts for no known team are posted.
    pub fallback_room: Option<RoomRef>,
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

    /// Handles one webhook body: every alert becomes a paging event of its team, handled once.
    /// Returns how many alerts it held.
    pub async fn receive(&self, body: &[u8]) -> Result<usize, ReceiveError> {
        let alerts = parse(body).map_err(ReceiveError::BadPayload)?;
        for alert in &alerts {
            self.route(alert).await?;
        }
        Ok(alerts.len())
    }

    async fn route(&self, alert: &Alert) -> Result<(), ReceiveError> {
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
        let event = Event { id: format!("{id}:{team}"), team, plugin: "paging".into(), kind: "alert".into(), data };
        self.bot.handle_event(&event).await.map_err(|err| ReceiveError::Unavailable(err.to_string()))
    }

    async fn unrouted(&self, alert: &Alert, label: Option<&str>, id: &str) -> Result<(), ReceiveError> {
        let given = label.map_or_else(
            || format!("no {} label", self.options.team_label),
            |l| format!("{}={l}", self.options.team_label),
        );
        tracing::warn!(alert = %alert.alertname, %given, "alert for no known team");
        let Some(room) = &self.options.fallback_room else { return Ok(()) };
        let text = format!(
            "Alert {} [{}] {} belongs to no known team ({given}); add a {} label naming a team.",
            alert.alertname,
            if alert.status == AlertStatus::Firing { "FIRING" } else { "RESOLVED" },
            alert.summary,
            self.options.team_label
        );
        let action = Action::Send { room: room.clone(), message: Message::text(text), thread: None };
        let envelopes = self
            .bot
            .dispatcher()
            .announce(&format!("{id}:unrouted"), vec![action])
            .await
            .map_err(|err| ReceiveError::Unavailable(err.to_string()))?;
        self.bot.deliver(&envelopes).await;
        Ok(())
    }
}

/// The HTTP routes of the receiver: `POST /alertmanager`.
pub fn router(receiver: Arc<Receiver>) -> Router {
    Router::new().route("/alertmanager", post(webhook)).with_state(receiver)
}

async fn webhook(State(receiver): State<Arc<Receiver>>, body: Bytes) -> (StatusCode, String) {
    match receiver.receive(&body).await {
        Ok(count) => (StatusCode::OK, format!("ok: {count} alerts\n")),
        Err(err @ ReceiveError::BadPayload(_)) => (StatusCode::BAD_REQUEST, format!("{err}\n")),
        Err(err @ ReceiveError::Unavailable(_)) => (StatusCode::SERVICE_UNAVAILABLE, format!("{err}\n")),
    }
}

/// Creates Alertmanager silences (`POST /api/v2/silences`) for the `alertmanager` service
/// calls that `!ack` makes. Each silence is created by `firebell <action id>`, so that a call
/// tried again (a replica died between creating the silence and recording it) finds the silence
/// instead of creating a second one.
pub struct Silences {
    client: reqwest::Client,
    base: String,
}

impl Silences {
    /// A client for the Alertmanager at `base` (`http://127.0.0.1:9093`).
    pub fn new(base: &str) -> Self {
        Self { client: reqwest::Client::new(), base: base.trim_end_matches('/').to_owned() }
    }

    /// Whether a silence made by `creator` is pending or active.
    async fn exists(&self, creator: &str) -> Result<bool, AdapterError> {
        let response = self.client.get(format!("{}/api/v2/silences", self.base)).send().await.map_err(unreachable)?;
        let body = answer(response).await?;
        let silences: Vec<serde_json::Value> = serde_json::from_str(&body)
            .map_err(|err| AdapterError::Platform(format!("alertmanager listed silences oddly: {err}")))?;
        Ok(silences.iter().any(|silence| silence["createdBy"] == creator && silence["status"]["state"] != "expired"))
    }
}

#[async_trait]
impl Service for Silences {
    fn name(&self) -> &str {
        SILENCE_SERVICE
    }

    async fn call(&self, action_id: &str, request: &str) -> Result<(), AdapterError> {
        let mut silence: serde_json::Value = serde_json::from_str(request)
            .map_err(|err| AdapterError::Platform(format!("not a silence request: {err}")))?;
        let creator = format!("firebell {action_id}");
        if self.exists(&creator).await? {
            tracing::info!(action = action_id, "silence created before");
            return Ok(());
        }
        silence["createdBy"] = creator.into();
        let response = self
            .client
            .post(format!("{}/api/v2/silences", self.base))
            .header("content-type", "application/json")
            .body(silence.to_string())
            .send()
            .await
            .map_err(unreachable)?;
        answer(response).await?;
        tracing::info!(action = action_id, "silence created");
        Ok(())
    }
}

fn unreachable(err: reqwest::Error) -> AdapterError {
    AdapterError::Platform(format!("alertmanager unreachable: {err}"))
}

/// The body of a successful answer, or the error Alertmanager gave.
async fn answer(response: reqwest::Response) -> Result<String, AdapterError> {
    let status = response.status();
    let body = response.text().await.map_err(unreachable)?;
    if status.is_success() {
        return Ok(body);
    }
    Err(AdapterError::Platform(format!("alertmanager answered {status}: {}", body.trim())))
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
}

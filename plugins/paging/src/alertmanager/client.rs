//! The Alertmanager API client behind the paging plugin's calls: silences made only for alerts
//! Alertmanager itself reports as firing, on all their labels; checks whether an alert still
//! fires; silences expired when their alert is over.

use std::collections::BTreeMap;
use std::time::Duration;

use firebell_core::adapter::{AdapterError, Service};
use firebell_core::async_trait;
use serde::Deserialize;
use serde_json::json;

use crate::SILENCE_SERVICE;
use crate::calls::{Request, Response};
use crate::page::{Alert, AlertStatus};

/// How long one request to Alertmanager may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// An alert as `GET /api/v2/alerts` lists it (the parts used here).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedAlert {
    fingerprint: String,
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    starts_at: chrono::DateTime<chrono::Utc>,
    #[serde(default, rename = "generatorURL")]
    generator_url: String,
    status: ListedStatus,
}

impl ListedAlert {
    /// The alert as the paging plugin knows alerts.
    fn into_alert(self) -> Alert {
        let alertname = self.labels.get("alertname").cloned().unwrap_or_default();
        let summary = ["summary", "description"]
            .iter()
            .find_map(|key| self.annotations.get(*key))
            .cloned()
            .unwrap_or_else(|| alertname.clone());
        Alert {
            status: AlertStatus::Firing,
            fingerprint: self.fingerprint,
            alertname,
            summary,
            labels: self.labels,
            starts_at: self.starts_at,
            generator_url: self.generator_url,
        }
    }
}

#[derive(Debug, Deserialize)]
struct ListedStatus {
    state: String,
}

/// A silence as `GET /api/v2/silences` lists it (the parts used here).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedSilence {
    id: String,
    created_by: String,
    matchers: Vec<ListedMatcher>,
    status: ListedStatus,
}

#[derive(Debug, Deserialize)]
struct ListedMatcher {
    name: String,
    value: String,
}

/// The Alertmanager the paging plugin's calls go to (the `alertmanager` service). Every call is
/// safe to try again: a silence is created by `firebell <action id>`, so a call tried again (a
/// replica died between creating it and recording it) finds it instead of making a second.
pub struct AlertmanagerClient {
    client: reqwest::Client,
    base: String,
}

impl AlertmanagerClient {
    /// A client for the Alertmanager at `base` (`http://127.0.0.1:9093`).
    pub fn new(base: &str) -> Self {
        let client = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().unwrap_or_default();
        Self { client, base: base.trim_end_matches('/').to_owned() }
    }

    /// The alert with `fingerprint`, if Alertmanager reports it as firing (active or
    /// suppressed by a silence or an inhibition).
    async fn firing(&self, alertname: &str, fingerprint: &str) -> Result<Option<ListedAlert>, AdapterError> {
        let filter = format!("alertname=\"{}\"", alertname.replace('\\', "\\\\").replace('"', "\\\""));
        let url = reqwest::Url::parse_with_params(&format!("{}/api/v2/alerts", self.base), [("filter", &filter)])
            .map_err(|err| AdapterError::Refused(format!("bad Alertmanager URL {}: {err}", self.base)))?;
        let response = self.client.get(url).send().await.map_err(unreachable)?;
        let alerts: Vec<ListedAlert> = decode(response, "listed alerts").await?;
        Ok(alerts.into_iter().find(|alert| {
            alert.fingerprint == fingerprint && matches!(alert.status.state.as_str(), "active" | "suppressed")
        }))
    }

    /// The pending or active silence made by `creator`, if any.
    async fn silence_by(&self, creator: &str) -> Result<Option<ListedSilence>, AdapterError> {
        let response = self.client.get(format!("{}/api/v2/silences", self.base)).send().await.map_err(unreachable)?;
        let silences: Vec<ListedSilence> = decode(response, "listed silences").await?;
        Ok(silences.into_iter().find(|s| s.created_by == creator && s.status.state != "expired"))
    }

    async fn silence(&self, action_id: &str, request: &Request) -> Result<Response, AdapterError> {
        let Request::Silence { fingerprint, alertname, starts_at, ends_at, comment, .. } = request else {
            unreachable!("only silence requests come here")
        };
        let creator = format!("firebell {action_id}");
        if let Some(made) = self.silence_by(&creator).await? {
            tracing::info!(action = action_id, silence = %made.id, "silence created before");
            let labels = made.matchers.into_iter().map(|m| (m.name, m.value)).collect();
            return Ok(Response::Silenced { silence: made.id, labels });
        }
        let Some(alert) = self.firing(alertname, fingerprint).await? else {
            tracing::info!(action = action_id, %fingerprint, "not silenced: Alertmanager does not report the alert as firing");
            return Ok(Response::NotFiring);
        };
        let matchers: Vec<_> = alert
            .labels
            .iter()
            .map(|(name, value)| json!({ "name": name, "value": value, "isRegex": false, "isEqual": true }))
            .collect();
        let silence = json!({
            "matchers": matchers,
            "startsAt": starts_at.to_rfc3339(),
            "endsAt": ends_at.to_rfc3339(),
            "createdBy": creator,
            "comment": comment,
        });
        let response = self
            .client
            .post(format!("{}/api/v2/silences", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(silence.to_string())
            .send()
            .await
            .map_err(unreachable)?;
        #[derive(Deserialize)]
        struct Created {
            #[serde(rename = "silenceID")]
            silence_id: String,
        }
        let created: Created = decode(response, "the new silence").await?;
        tracing::info!(action = action_id, silence = %created.silence_id, "silence created");
        Ok(Response::Silenced { silence: created.silence_id, labels: alert.labels })
    }

    async fn expire(&self, silence: &str) -> Result<Response, AdapterError> {
        let response =
            self.client.delete(format!("{}/api/v2/silence/{silence}", self.base)).send().await.map_err(unreachable)?;
        let status = response.status();
        if status.is_success() || status == reqwest::StatusCode::NOT_FOUND {
            return Ok(Response::Expired);
        }
        let body = response.text().await.unwrap_or_default();
        if body.contains("already expired") {
            return Ok(Response::Expired);
        }
        Err(AdapterError::Platform(format!("alertmanager answered {status}: {}", body.trim())))
    }
}

#[async_trait]
impl Service for AlertmanagerClient {
    fn name(&self) -> &str {
        SILENCE_SERVICE
    }

    async fn call(&self, action_id: &str, request: &str) -> Result<String, AdapterError> {
        let request: Request = serde_json::from_str(request)
            .map_err(|err| AdapterError::Refused(format!("not an Alertmanager request: {err}")))?;
        let response = match &request {
            Request::Silence { .. } => self.silence(action_id, &request).await?,
            Request::Check { fingerprint, alertname, .. } => match self.firing(alertname, fingerprint).await? {
                Some(alert) => Response::Firing { alert: alert.into_alert() },
                None => Response::NotFiring,
            },
            Request::Expire { silence, .. } => self.expire(silence).await?,
        };
        Ok(serde_json::to_string(&response).expect("responses serialize"))
    }
}

fn unreachable(err: reqwest::Error) -> AdapterError {
    AdapterError::Platform(format!("alertmanager unreachable: {err}"))
}

/// The JSON body of a successful answer, or the error Alertmanager gave.
async fn decode<T: serde::de::DeserializeOwned>(response: reqwest::Response, what: &str) -> Result<T, AdapterError> {
    let status = response.status();
    let body = response.text().await.map_err(unreachable)?;
    if !status.is_success() {
        return Err(AdapterError::Platform(format!("alertmanager answered {status}: {}", body.trim())));
    }
    serde_json::from_str(&body)
        .map_err(|err| AdapterError::Platform(format!("alertmanager sent unreadable {what}: {err}")))
}

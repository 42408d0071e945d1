//! Pages pushed to a person's phone: a JSON notification posted to the URL the roster gives for
//! them, in the shape both ntfy (its root URL, with `topic`) and Gotify (`/message?token=…`)
//! take as it is. The plugin decides a [`Push`]; the [`PushClient`] service posts it, once.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use firebell_core::adapter::{AdapterError, Service};
use firebell_core::async_trait;
use firebell_core::ids::TeamId;
use firebell_core::message::{Action, Notify};
use firebell_core::team::Member;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::PLUGIN;

/// The name of the push service.
pub const PUSH_SERVICE: &str = "push";

/// The counter of pushes, by outcome (`delivered`, `failed`).
pub const PUSHES: &str = "firebell_pushes_total";

/// How long one post may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One page pushed to one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Push {
    /// The page (`3` for P3).
    pub page: u64,
    /// Who it is for, by roster name.
    pub person: String,
    /// Where it is posted.
    pub url: String,
    /// The ntfy topic, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// The notification's title.
    pub title: String,
    /// Its text.
    pub message: String,
}

impl Push {
    /// The push of page `page` to `member`, when the roster gives them a push URL.
    pub fn to(member: &Member, page: u64, title: String, message: String) -> Option<Self> {
        let push = member.push.as_ref()?;
        Some(Self {
            page,
            person: member.name.clone(),
            url: push.url.clone(),
            topic: push.topic.clone(),
            title,
            message,
        })
    }

    /// The call that posts it; how it went comes back to the paging plugin of `team`.
    pub fn call(&self, team: &TeamId) -> Action {
        Action::Call {
            service: PUSH_SERVICE.into(),
            request: serde_json::to_string(self).expect("pushes serialize"),
            notify: Some(Notify::new(team, PLUGIN)),
        }
    }

    /// The JSON body: ntfy reads `topic`, both read `title`, `message` and `priority`.
    fn body(&self) -> serde_json::Value {
        let mut body =
            json!({ "title": self.title, "message": self.message, "priority": 5, "tags": ["rotating_light"] });
        if let Some(topic) = &self.topic {
            body["topic"] = json!(topic);
        }
        body
    }

    /// Where it goes, without the query (which may hold a Gotify token), for messages.
    pub fn host(&self) -> &str {
        let rest = self.url.split_once("://").map_or(self.url.as_str(), |(_, rest)| rest);
        rest.split(['/', '?']).next().unwrap_or(rest)
    }
}

/// How a push went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Pushed {
    /// The endpoint took it.
    Delivered,
    /// It did not, after a few tries: why.
    Failed {
        /// The endpoint's answer, or why it could not be reached.
        reason: String,
    },
}

/// The service that posts pushes (`push`). Each post carries its action id as an
/// `Idempotency-Key` header, so a post tried again after a replica died is recognisable; a
/// passing failure (unreachable, 5xx, 429) is tried three times within about ten seconds, then
/// reported as failed rather than kept trying while the page waits.
pub struct PushClient {
    /// Made at the first push: an HTTP client loads its TLS roots, which an idle bot need not hold.
    client: std::sync::OnceLock<reqwest::Client>,
    pauses: ExponentialBuilder,
}

impl Default for PushClient {
    fn default() -> Self {
        Self::new(Duration::from_secs(1))
    }
}

impl PushClient {
    /// A client whose first pause between tries is `first_pause` (doubling).
    pub fn new(first_pause: Duration) -> Self {
        let client = std::sync::OnceLock::new();
        let pauses = ExponentialBuilder::default().with_min_delay(first_pause).with_max_times(2).with_jitter();
        metrics::describe_counter!(PUSHES, "Pages pushed to a person's phone (ntfy, Gotify), by outcome.");
        for outcome in ["delivered", "failed"] {
            metrics::counter!(PUSHES, "outcome" => outcome).increment(0);
        }
        Self { client, pauses }
    }

    async fn post(&self, action_id: &str, push: &Push) -> Result<(), Failure> {
        let client =
            self.client.get_or_init(|| reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().unwrap_or_default());
        let response = client
            .post(&push.url)
            .header("Idempotency-Key", action_id)
            .header("X-Firebell-Action", action_id)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(push.body().to_string())
            .send()
            .await
            .map_err(|err| Failure::Passing(format!("unreachable: {}", without_url(&err))))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body: String = response.text().await.unwrap_or_default().chars().take(200).collect();
        let reason = format!("answered {status}: {}", body.trim());
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            Err(Failure::Passing(reason))
        } else {
            Err(Failure::Final(reason))
        }
    }
}

/// Why a post failed: worth another try, or not.
#[derive(Debug)]
enum Failure {
    Passing(String),
    Final(String),
}

/// A reqwest error without its URL (which may hold a token).
fn without_url(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection refused or failed"
    } else {
        "request failed"
    };
    kind.to_owned()
}

#[async_trait]
impl Service for PushClient {
    fn name(&self) -> &str {
        PUSH_SERVICE
    }

    async fn call(&self, action_id: &str, request: &str) -> Result<String, AdapterError> {
        let push: Push =
            serde_json::from_str(request).map_err(|err| AdapterError::Refused(format!("not a push: {err}")))?;
        let tried = (|| self.post(action_id, &push))
            .retry(self.pauses)
            .when(|failure| matches!(failure, Failure::Passing(_)))
            .await;
        let pushed = match tried {
            Ok(()) => {
                metrics::counter!(PUSHES, "outcome" => "delivered").increment(1);
                Pushed::Delivered
            }
            Err(Failure::Passing(reason) | Failure::Final(reason)) => {
                metrics::counter!(PUSHES, "outcome" => "failed").increment(1);
                tracing::warn!(action = action_id, host = push.host(), %reason, "a page could not be pushed");
                Pushed::Failed { reason }
            }
        };
        Ok(serde_json::to_string(&pushed).expect("push outcomes serialize"))
    }
}

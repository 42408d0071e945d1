//! Slack over HTTP: the Events API, slash commands and interactivity, on the bot's server. Every
//! request must carry Slack's v0 signature (HMAC-SHA256 of `v0:timestamp:body` with the signing
//! secret, compared in constant time) from the last five minutes; anything else gets `401` and
//! nothing happens. A good request is acknowledged as soon as its command is decided and its
//! answer kept in the store (milliseconds), and the answer is sent after. An event that cannot
//! be decided (the store does not answer), or that arrives while the bot shuts down, gets `503`
//! so that Slack delivers it again, to another replica; a slash command, which Slack does not
//! deliver again, is answered with a notice for its sender.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use firebell_runtime::bot::Bot;
use slack_morphism::prelude::*;
use slack_morphism::signature_verifier::SlackEventSignatureVerifier;
use tokio::sync::watch;

use crate::inbound::{from_command, from_event, from_interaction};
use crate::socket::answer;
use crate::{Accepted, SlackAdapter};

/// What the routes share.
struct Routes {
    adapter: Arc<SlackAdapter>,
    bot: Arc<Bot>,
    verifier: SlackEventSignatureVerifier,
    stopping: watch::Receiver<bool>,
}

/// The HTTP routes: `POST /slack/events`, `/slack/commands`, `/slack/interactions`. Once
/// `stopping` turns true, events get `503` so that Slack sends them to another replica.
pub fn routes(
    adapter: Arc<SlackAdapter>,
    bot: Arc<Bot>,
    signing_secret: &str,
    stopping: watch::Receiver<bool>,
) -> Router {
    let verifier = SlackEventSignatureVerifier::new(&SlackSigningSecret::new(signing_secret.to_owned()));
    let state = Arc::new(Routes { adapter, bot, verifier, stopping });
    Router::new()
        .route("/slack/events", post(events))
        .route("/slack/commands", post(commands))
        .route("/slack/interactions", post(interactions))
        .with_state(state)
}

/// A refusal: the status and a one-line reason.
type Refusal = (StatusCode, String);

fn refuse(status: StatusCode, reason: impl std::fmt::Display) -> Refusal {
    (status, format!("{reason}\n"))
}

impl Routes {
    /// Checks the request's signature and age; the error is the refusal to send.
    fn verify(&self, headers: &HeaderMap, body: &Bytes) -> Result<(), Refusal> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (Some(signature), Some(timestamp)) = (
            header(SlackEventSignatureVerifier::SLACK_SIGNED_HASH_HEADER),
            header(SlackEventSignatureVerifier::SLACK_SIGNED_TIMESTAMP),
        ) else {
            return Err(refuse(StatusCode::UNAUTHORIZED, "missing X-Slack-Signature or X-Slack-Request-Timestamp"));
        };
        let body = std::str::from_utf8(body).map_err(|_| refuse(StatusCode::BAD_REQUEST, "the body is not UTF-8"))?;
        self.verifier.verify(signature, body, timestamp).map_err(|err| {
            tracing::warn!(error = %err, "refused a Slack request");
            refuse(StatusCode::UNAUTHORIZED, format!("bad Slack signature: {err}"))
        })
    }
}

async fn events(State(routes): State<Arc<Routes>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refusal) = routes.verify(&headers, &body) {
        return refusal.into_response();
    }
    let event: SlackPushEvent = match serde_json::from_slice(&body) {
        Ok(event) => event,
        Err(err) => return refuse(StatusCode::BAD_REQUEST, format!("not a Slack event: {err}")).into_response(),
    };
    match event {
        SlackPushEvent::UrlVerification(check) => {
            let answer = serde_json::json!({ "challenge": check.challenge });
            ([(header::CONTENT_TYPE, "application/json")], answer.to_string()).into_response()
        }
        SlackPushEvent::EventCallback(callback) => {
            let Some(incoming) = from_event(&callback, &routes.adapter.me, &routes.adapter.options.command_prefix)
            else {
                return StatusCode::OK.into_response();
            };
            if *routes.stopping.borrow() {
                return refuse(StatusCode::SERVICE_UNAVAILABLE, "this replica is shutting down").into_response();
            }
            match routes.adapter.accept(&routes.bot, incoming).await {
                Accepted::Kept { .. } => StatusCode::OK.into_response(),
                Accepted::Failed(notice) => refuse(StatusCode::SERVICE_UNAVAILABLE, notice).into_response(),
            }
        }
        SlackPushEvent::AppRateLimited(limited) => {
            tracing::warn!(?limited, "Slack is rate limiting the app's events");
            StatusCode::OK.into_response()
        }
    }
}

async fn commands(State(routes): State<Arc<Routes>>, headers: HeaderMap, body: Bytes) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if form.get("ssl_check").is_some_and(|check| check == "1") {
        return StatusCode::OK.into_response();
    }
    if let Err(refusal) = routes.verify(&headers, &body) {
        return refusal.into_response();
    }
    let command: SlackCommandEvent = match serde_urlencoded::from_bytes(&body) {
        Ok(command) => command,
        Err(err) => {
            return refuse(StatusCode::BAD_REQUEST, format!("not a Slack slash command: {err}")).into_response();
        }
    };
    let taken =
        routes.adapter.accept(&routes.bot, from_command(&command, &routes.adapter.options.command_prefix)).await;
    match answer(&command, &taken) {
        Some(answer) => {
            ([(header::CONTENT_TYPE, "application/json")], serde_json::to_string(&answer).expect("responses serialize"))
                .into_response()
        }
        None => StatusCode::OK.into_response(),
    }
}

async fn interactions(State(routes): State<Arc<Routes>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refusal) = routes.verify(&headers, &body) {
        return refusal.into_response();
    }
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let Some(payload) = form.get("payload") else {
        return refuse(StatusCode::BAD_REQUEST, "an interaction needs a payload field").into_response();
    };
    let event: SlackInteractionEvent = match serde_json::from_str(payload) {
        Ok(event) => event,
        Err(err) => return refuse(StatusCode::BAD_REQUEST, format!("not a Slack interaction: {err}")).into_response(),
    };
    if let Some(incoming) = from_interaction(&event)
        && let Accepted::Failed(notice) = routes.adapter.accept(&routes.bot, incoming).await
    {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, notice).into_response();
    }
    StatusCode::OK.into_response()
}

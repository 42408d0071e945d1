//! Slack over Socket Mode: the bot opens websockets to Slack (as many as configured) and receives
//! the same slash commands, events and clicks there.
//!
//! Each envelope is acknowledged once its command is decided and its answer kept in the store,
//! and only then: when the store does not answer, an event is left unacknowledged so that Slack
//! delivers it again (a slash command, which Slack does not deliver again, gets an ephemeral
//! notice instead). A connection that fails is opened again after 1 s, backing off to 30 s; one
//! that Slack asks to refresh is replaced at once. On shutdown the sockets are closed, so that
//! Slack sends new envelopes to the other replicas.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use firebell_runtime::bot::Bot;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::inbound::{from_command, from_event, from_interaction};
use crate::{Accepted, SlackAdapter, SlackError};

/// The first wait after a failed connection.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between two connection attempts.
const MOST_BACKOFF: Duration = Duration::from_secs(30);

/// The answer to a slash command: an in-channel echo of the command, so that the room sees what
/// was asked; nothing for a refusal (its answer reaches the sender alone); the notice when it
/// could not be taken.
pub(crate) fn answer(command: &SlackCommandEvent, accepted: &Accepted) -> Option<SlackCommandEventResponse> {
    match accepted {
        Accepted::Kept { private: false } => {
            let text = format!("`{} {}`", command.command.0, command.text.as_deref().unwrap_or_default().trim());
            let echo = SlackCommandEventResponse::new(SlackMessageContent::new().with_text(text.replace(" `", "`")));
            Some(echo.with_response_type(SlackMessageResponseType::InChannel))
        }
        Accepted::Kept { private: true } => None,
        Accepted::Failed(notice) => Some(
            SlackCommandEventResponse::new(SlackMessageContent::new().with_text(notice.clone()))
                .with_response_type(SlackMessageResponseType::Ephemeral),
        ),
    }
}

/// Checks an app-level token by opening (and dropping) a Socket Mode URL, so that a bad token
/// stops the bot at start instead of failing every reconnection.
pub(crate) async fn check_app_token(client: &SlackHyperClient, app_token: &str) -> Result<(), SlackError> {
    crate::patiently("the app-level token (xapp-…)", || open_url(client, app_token)).await.map(drop)
}

async fn open_url(client: &SlackHyperClient, app_token: &str) -> Result<String, SlackClientError> {
    let token = SlackApiToken::new(app_token.to_owned().into());
    let opened = client.open_session(&token).apps_connections_open(&SlackApiAppsConnectionOpenRequest::new()).await?;
    Ok(opened.url.0.to_string())
}

/// Listens over Socket Mode until `stop` turns true.
pub async fn run_socket_mode(
    adapter: Arc<SlackAdapter>,
    bot: Arc<Bot>,
    stop: watch::Receiver<bool>,
) -> Result<(), SlackError> {
    let app_token =
        adapter.options.app_token.clone().ok_or_else(|| SlackError::Config("Socket Mode needs an app token".into()))?;
    let mut connections = tokio::task::JoinSet::new();
    for number in 0..adapter.options.socket_connections.max(1) {
        let connection =
            Connection { adapter: adapter.clone(), bot: bot.clone(), app_token: app_token.clone(), number };
        connections.spawn(connection.run(stop.clone()));
    }
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Counts an open socket in the adapter's `open_sockets` while it lives.
struct OpenSocket<'a>(&'a AtomicUsize);

impl<'a> OpenSocket<'a> {
    fn count(open: &'a AtomicUsize) -> Self {
        open.fetch_add(1, Ordering::Relaxed);
        Self(open)
    }
}

impl Drop for OpenSocket<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One Socket Mode connection, opened again whenever it ends, until the bot stops.
struct Connection {
    adapter: Arc<SlackAdapter>,
    bot: Arc<Bot>,
    app_token: String,
    number: u32,
}

impl Connection {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut backoff = FIRST_BACKOFF;
        while !*stop.borrow() {
            match self.serve(&mut stop).await {
                Ok(()) => backoff = FIRST_BACKOFF,
                Err(err) => {
                    tracing::warn!(connection = self.number, error = %err, wait = ?backoff, "Slack Socket Mode connection failed; reconnecting");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => {}
                    }
                    backoff = (backoff * 2).min(MOST_BACKOFF);
                }
            }
        }
    }

    /// Opens a socket and serves it until Slack closes it, asks for a refresh, or the bot stops.
    async fn serve(&self, stop: &mut watch::Receiver<bool>) -> Result<(), String> {
        let url = open_url(&self.adapter.client, &self.app_token).await.map_err(|err| crate::readable(&err))?;
        let (socket, _) = tokio_tungstenite::connect_async(url.as_str()).await.map_err(|err| err.to_string())?;
        let _open = OpenSocket::count(&self.adapter.open_sockets);
        let (mut writer, mut reader) = socket.split();
        let (acks, mut to_send) = mpsc::unbounded_channel::<Value>();
        loop {
            tokio::select! {
                frame = reader.next() => match frame {
                    Some(Ok(Frame::Text(text))) => {
                        if !self.on_frame(&text, &acks) {
                            let _ = writer.send(Frame::Close(None)).await;
                            return Ok(());
                        }
                    }
                    Some(Ok(Frame::Ping(data))) => writer.send(Frame::Pong(data)).await.map_err(|err| err.to_string())?,
                    Some(Ok(Frame::Close(_))) | None => return Ok(()),
                    Some(Ok(_)) => {}
                    Some(Err(err)) => return Err(err.to_string()),
                },
                Some(ack) = to_send.recv() => {
                    writer.send(Frame::Text(ack.to_string().into())).await.map_err(|err| err.to_string())?;
                }
                _ = stop.changed() => {
                    let _ = writer.send(Frame::Close(None)).await;
                    return Ok(());
                }
            }
        }
    }

    /// Handles one frame; `false` when Slack asks for the connection to be replaced.
    fn on_frame(&self, text: &str, acks: &mpsc::UnboundedSender<Value>) -> bool {
        let frame: Value = serde_json::from_str(text).unwrap_or_default();
        let id = frame["envelope_id"].as_str().unwrap_or_default().to_owned();
        let ack = move |extra: Option<Value>| {
            let mut ack = json!({ "envelope_id": id });
            if let Some(payload) = extra {
                ack["payload"] = payload;
            }
            ack
        };
        let (adapter, bot, acks) = (self.adapter.clone(), self.bot.clone(), acks.clone());
        match frame["type"].as_str().unwrap_or_default() {
            "hello" => {}
            "disconnect" => {
                tracing::info!(reason = %frame["reason"], "Slack asks for a new Socket Mode connection");
                return false;
            }
            "events_api" => {
                let event: Option<SlackPushEventCallback> = decode(&frame);
                let incoming = event.and_then(|event| from_event(&event, &adapter.me, &adapter.options.command_prefix));
                tokio::spawn(async move {
                    if taken(&adapter, &bot, incoming).await {
                        let _ = acks.send(ack(None));
                    }
                });
            }
            "interactive" => {
                let click: Option<SlackInteractionEvent> = decode(&frame);
                let incoming = click.as_ref().and_then(from_interaction);
                tokio::spawn(async move {
                    if taken(&adapter, &bot, incoming).await {
                        let _ = acks.send(ack(None));
                    }
                });
            }
            "slash_commands" => {
                let Some(command) = decode::<SlackCommandEvent>(&frame) else {
                    let _ = acks.send(ack(None));
                    return true;
                };
                let incoming = from_command(&command, &adapter.options.command_prefix);
                tokio::spawn(async move {
                    let accepted = adapter.accept(&bot, incoming).await;
                    let payload = answer(&command, &accepted).map(|a| serde_json::to_value(a).unwrap_or_default());
                    let _ = acks.send(ack(payload));
                });
            }
            other => {
                tracing::warn!(kind = other, "unknown Socket Mode frame; acknowledged and dropped");
                if frame["envelope_id"].is_string() {
                    let _ = acks.send(ack(None));
                }
            }
        }
        true
    }
}

/// The payload of a Socket Mode envelope, if it reads as `T`.
fn decode<T: serde::de::DeserializeOwned>(frame: &Value) -> Option<T> {
    serde_json::from_value(frame["payload"].clone())
        .inspect_err(|err| tracing::warn!(error = %err, "unreadable Socket Mode payload; acknowledged and dropped"))
        .ok()
}

/// Whether an envelope may be acknowledged: nothing in it for the bot, or its command decided
/// and kept. A command that could not be taken is left to Slack to deliver again.
async fn taken(adapter: &Arc<SlackAdapter>, bot: &Arc<Bot>, incoming: Option<crate::inbound::Incoming>) -> bool {
    match incoming {
        Some(incoming) => matches!(adapter.accept(bot, incoming).await, Accepted::Kept { .. }),
        None => true,
    }
}

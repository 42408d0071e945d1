//! Slack over Socket Mode: the bot opens websockets to Slack (as many as configured) and receives
//! the same slash commands, events and clicks there. slack-morphism acknowledges an envelope when
//! its callback returns, so each callback returns as soon as the command is decided and its
//! answer kept in the store, and the answer is sent after.

use std::sync::Arc;

use firebell_core::bot::Bot;
use slack_morphism::prelude::*;
use tokio::sync::watch;

use crate::inbound::{from_command, from_event, from_interaction};
use crate::{SlackAdapter, SlackError};

/// What the callbacks need, kept in slack-morphism's user state.
#[derive(Clone)]
struct Handler {
    adapter: Arc<SlackAdapter>,
    bot: Arc<Bot>,
}

async fn handler(states: &SlackClientEventsUserState) -> Option<Handler> {
    states.read().await.get_user_state::<Handler>().cloned()
}

/// The in-channel answer to a slash command: the command, so that the room sees what was asked.
pub(crate) fn echo(command: &SlackCommandEvent) -> SlackCommandEventResponse {
    let text = format!("`{} {}`", command.command.0, command.text.as_deref().unwrap_or_default().trim());
    SlackCommandEventResponse::new(SlackMessageContent::new().with_text(text.replace(" `", "`")))
        .with_response_type(SlackMessageResponseType::InChannel)
}

async fn on_command(
    event: SlackCommandEvent,
    _: Arc<SlackHyperClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    if let Some(handler) = handler(&states).await {
        let incoming = from_command(&event, &handler.adapter.options.command_prefix);
        handler.adapter.accept(&handler.bot, incoming).await;
    }
    Ok(echo(&event))
}

async fn on_event(
    event: SlackPushEventCallback,
    _: Arc<SlackHyperClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    if let Some(handler) = handler(&states).await
        && let Some(incoming) = from_event(&event, &handler.adapter.me, &handler.adapter.options.command_prefix)
    {
        handler.adapter.accept(&handler.bot, incoming).await;
    }
    Ok(())
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _: Arc<SlackHyperClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    if let Some(handler) = handler(&states).await
        && let Some(incoming) = from_interaction(&event)
    {
        handler.adapter.accept(&handler.bot, incoming).await;
    }
    Ok(())
}

/// Listens over Socket Mode until `stop` turns true.
pub async fn run_socket_mode(
    adapter: Arc<SlackAdapter>,
    bot: Arc<Bot>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), SlackError> {
    let app_token =
        adapter.options.app_token.clone().ok_or_else(|| SlackError::Config("Socket Mode needs an app token".into()))?;
    let callbacks = SlackSocketModeListenerCallbacks::new()
        .with_command_events(on_command)
        .with_push_events(on_event)
        .with_interaction_events(on_interaction);
    let environment = Arc::new(
        SlackClientEventsListenerEnvironment::new(adapter.client.clone())
            .with_user_state(Handler { adapter: adapter.clone(), bot }),
    );
    let config = SlackClientSocketModeConfig::new()
        .with_max_connections_count(adapter.options.socket_connections)
        .with_initial_backoff_in_seconds(1);
    let listener = SlackClientSocketModeListener::new(&config, environment, callbacks);
    listener
        .listen_for(&SlackApiToken::new(app_token.into()))
        .await
        .map_err(|err| SlackError::Socket(err.to_string()))?;
    listener.start().await;
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            break;
        }
    }
    listener.shutdown().await;
    Ok(())
}

//! The chat adapter trait: the one seam between the core and a chat platform.
//!
//! An adapter translates and nothing more. Inbound, it turns platform events into
//! [`Inbound`](crate::message::Inbound) messages and hands them to the [`Bot`](crate::bot::Bot);
//! outbound, it performs [`Action`]s. It holds no incident logic.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ids::{RoomRef, Transport, UserRef};
use crate::message::{Action, Envelope, Message, RoomSpec};

/// What a platform can do, so that the core can choose how to say things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Replies can go into a thread.
    pub threads: bool,
    /// Rooms have a topic the bot can set.
    pub topics: bool,
    /// The bot can create rooms.
    pub create_rooms: bool,
    /// The bot can message a user privately.
    pub direct_messages: bool,
    /// Messages can carry clickable buttons.
    pub buttons: bool,
    /// The longest topic the platform accepts, in characters.
    pub max_topic_chars: usize,
    /// The most text one message may carry, in bytes; longer messages are sent in parts.
    pub max_message_bytes: usize,
    /// How long the platform may deliver the same event again (its retries, the copy another
    /// replica reads late): an event's claim is kept this long, within `[bot] dedup_window`.
    pub redelivery_window: std::time::Duration,
}

/// Why an adapter could not perform an action.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The platform has no such feature (see [`Capabilities`]).
    #[error("{transport} cannot {what}")]
    Unsupported {
        /// The transport.
        transport: Transport,
        /// What was asked, e.g. "set a topic".
        what: &'static str,
    },
    /// An action calls a service that is not configured.
    #[error("no service {0:?} is configured")]
    NoService(String),
    /// The platform asked us to slow down; try again after the given delay.
    #[error("rate limited, retry after {0:?}")]
    RateLimited(std::time::Duration),
    /// The platform refused the action for good (the bot is not in the room, may not do it, or
    /// the action is malformed): trying again changes nothing, so it is not retried.
    #[error("refused: {0}")]
    Refused(String),
    /// Anything else the platform or the network reported.
    #[error("{0}")]
    Platform(String),
}

/// A chat platform as the core sees it: the outbound actions and what the platform supports.
///
/// Every method receives the action's stable id (`action_id`) so that a platform with
/// idempotent sends (Matrix transaction ids) can make a retried send a no-op.
#[async_trait]
pub trait ChatAdapter: Send + Sync {
    /// The transport this adapter serves.
    fn transport(&self) -> Transport;

    /// What this platform supports.
    fn capabilities(&self) -> Capabilities;

    /// Whether the adapter is connected to its platform now (its sync or its sockets are up):
    /// what readiness and the `firebell_adapter_connected` metric report.
    fn is_connected(&self) -> bool {
        true
    }

    /// How `room` is linked to in text others read (a report, a timeline): by default its id.
    fn room_link(&self, room: &RoomRef) -> String {
        room.id.clone()
    }

    /// Posts `message` in `room`, inside `thread` when given.
    async fn send_message(
        &self,
        action_id: &str,
        room: &RoomRef,
        message: &Message,
        thread: Option<&str>,
    ) -> Result<(), AdapterError>;

    /// Posts `message` in `room` so that only `user` sees it where the platform can; by default
    /// an ordinary message.
    async fn send_ephemeral(
        &self,
        action_id: &str,
        room: &RoomRef,
        user: &UserRef,
        message: &Message,
        thread: Option<&str>,
    ) -> Result<(), AdapterError> {
        let _ = user;
        self.send_message(action_id, room, message, thread).await
    }

    /// Whether the platform shows that the action `action_id` (`action`) was performed since
    /// `since`: a replica may have performed it and died before recording it, and an action
    /// found need not be performed again. Platforms that cannot tell answer `false`.
    async fn find_sent(&self, action_id: &str, action: &Action, since: DateTime<Utc>) -> Result<bool, AdapterError> {
        let _ = (action_id, action, since);
        Ok(false)
    }

    /// Sets the topic of `room`.
    async fn set_topic(&self, action_id: &str, room: &RoomRef, topic: &str) -> Result<(), AdapterError> {
        let _ = (action_id, room, topic);
        Err(AdapterError::Unsupported { transport: self.transport(), what: "set a topic" })
    }

    /// Creates a room and returns its reference.
    async fn create_room(&self, action_id: &str, spec: &RoomSpec) -> Result<RoomRef, AdapterError> {
        let _ = (action_id, spec);
        Err(AdapterError::Unsupported { transport: self.transport(), what: "create a room" })
    }

    /// Invites `user` to `room`.
    async fn invite(&self, action_id: &str, room: &RoomRef, user: &UserRef) -> Result<(), AdapterError> {
        let _ = (action_id, room, user);
        Err(AdapterError::Unsupported { transport: self.transport(), what: "invite" })
    }

    /// Sends `message` privately to `user`.
    async fn direct_message(&self, action_id: &str, user: &UserRef, message: &Message) -> Result<(), AdapterError> {
        let _ = (action_id, user, message);
        Err(AdapterError::Unsupported { transport: self.transport(), what: "send direct messages" })
    }
}

/// A service outside the chat that plugins call through [`Action::Call`] (Alertmanager).
#[async_trait]
pub trait Service: Send + Sync {
    /// The name actions address it by.
    fn name(&self) -> &str;

    /// Performs one call and returns the service's answer. `action_id` is stable across
    /// retries: a call tried again must not do twice what it did once.
    async fn call(&self, action_id: &str, request: &str) -> Result<String, AdapterError>;
}

/// The name of the service through which the adapter of `transport` fetches the files people
/// attach (`files:slack`): its request is a [`FetchRequest`], its answer a [`Fetched`].
pub fn files_service(transport: Transport) -> String {
    format!("files:{}", transport.as_str())
}

/// What a fetching service is asked: the `url` (or another source, such as an attachment's) of
/// a file. Other fields of the request, for the plugin that asked, are left alone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct FetchRequest {
    /// Where the file is.
    pub url: String,
}

/// What a fetching service answers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Fetched {
    /// The file's text (invalid UTF-8 replaced).
    Body {
        /// The text.
        text: String,
    },
    /// Why it could not be fetched, in one line.
    Failed {
        /// The reason.
        reason: String,
    },
}

/// The most bytes a fetched file may have.
pub const MOST_FETCHED_BYTES: usize = 4 << 20;

/// The adapters of one bot, one per transport, and its services; routes each action to the
/// right one.
#[derive(Clone, Default)]
pub struct Adapters {
    by_transport: HashMap<Transport, Arc<dyn ChatAdapter>>,
    services: HashMap<String, Arc<dyn Service>>,
}

impl Adapters {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the adapter for its transport.
    pub fn with(mut self, adapter: Arc<dyn ChatAdapter>) -> Self {
        self.by_transport.insert(adapter.transport(), adapter);
        self
    }

    /// Adds (or replaces) a service under its name.
    pub fn with_service(mut self, service: Arc<dyn Service>) -> Self {
        self.services.insert(service.name().to_owned(), service);
        self
    }

    /// The adapter for `transport`, if one is configured.
    pub fn get(&self, transport: Transport) -> Option<&Arc<dyn ChatAdapter>> {
        self.by_transport.get(&transport)
    }

    /// Whether the platform of `envelope` shows it performed since `since` (see
    /// [`ChatAdapter::find_sent`]).
    pub async fn find_sent(&self, envelope: &Envelope, since: DateTime<Utc>) -> Result<bool, AdapterError> {
        match envelope.action.transport().and_then(|transport| self.get(transport)) {
            Some(adapter) => adapter.find_sent(&envelope.id, &envelope.action, since).await,
            None => Ok(false),
        }
    }

    /// Each adapter's transport and whether it is connected now.
    pub fn connections(&self) -> Vec<(Transport, bool)> {
        let mut connections: Vec<(Transport, bool)> =
            self.by_transport.iter().map(|(transport, adapter)| (*transport, adapter.is_connected())).collect();
        connections.sort_by_key(|(transport, _)| transport.as_str());
        connections
    }

    /// How `room` is linked to in text, as its platform writes it.
    pub fn room_link(&self, room: &RoomRef) -> String {
        self.get(room.transport).map_or_else(|| room.id.clone(), |adapter| adapter.room_link(room))
    }

    /// The most text one message may carry on `transport` (unlimited without an adapter).
    pub fn max_message_bytes(&self, transport: Transport) -> usize {
        self.get(transport).map_or(usize::MAX, |adapter| adapter.capabilities().max_message_bytes)
    }

    /// Performs one action through the adapter of its transport, or the service it calls.
    pub async fn perform(&self, envelope: &Envelope) -> Result<Performed, AdapterError> {
        let id = envelope.id.as_str();
        let Some(transport) = envelope.action.transport() else {
            let Action::Call { service, request, .. } = &envelope.action else {
                unreachable!("only calls have no transport")
            };
            let service = self.services.get(service).ok_or_else(|| AdapterError::NoService(service.clone()))?;
            return service.call(id, request).await.map(Performed::Called);
        };
        let adapter = self
            .get(transport)
            .ok_or(AdapterError::Unsupported { transport, what: "be reached: no adapter is configured" })?;
        let done = match &envelope.action {
            Action::Send { room, message, thread } => adapter.send_message(id, room, message, thread.as_deref()).await,
            Action::Ephemeral { room, user, message, thread } => {
                adapter.send_ephemeral(id, room, user, message, thread.as_deref()).await
            }
            Action::SetTopic { room, topic } => {
                let topic = clip(topic, adapter.capabilities().max_topic_chars);
                adapter.set_topic(id, room, &topic).await
            }
            Action::CreateRoom { spec, .. } => return adapter.create_room(id, spec).await.map(Performed::RoomCreated),
            Action::Invite { room, user } => adapter.invite(id, room, user).await,
            Action::DirectMessage { user, message } => adapter.direct_message(id, user, message).await,
            Action::Call { .. } => unreachable!("calls have no transport"),
        };
        done.map(|()| Performed::Done)
    }
}

/// What performing an action gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Performed {
    /// It was done.
    Done,
    /// The room an [`Action::CreateRoom`] made.
    RoomCreated(RoomRef),
    /// The answer of the service an [`Action::Call`] called.
    Called(String),
}

/// Shortens `text` to at most `max` characters, ending with an ellipsis when cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut clipped: String = text.chars().take(max.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}

#[cfg(test)]
mod tests {
    use super::clip;

    #[test]
    fn clip_keeps_short_text_and_marks_cut_text() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("abcdefghij", 5), "abcd…");
        assert_eq!(clip("abcdefghij", 5).chars().count(), 5);
    }
}

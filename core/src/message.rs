//! What comes in from a chat platform and what the bot sends back.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{Person, RoomRef, Transport, UserRef};

/// One chat message as an adapter hands it to the dispatcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// The platform's stable id for this event (Matrix `event_id`, Slack `event_id` or
    /// `trigger_id`, a console line id). Two replicas seeing the same id handle it once.
    pub event_id: String,
    /// The room the message was posted in.
    pub room: RoomRef,
    /// Who posted it.
    pub sender: UserRef,
    /// The sender's display name as the platform reports it, if it does.
    pub sender_name: Option<String>,
    /// Whether the platform says the sender administers this room or workspace (a Matrix power
    /// level at or above the configured threshold, a Slack workspace admin). Such senders count
    /// as team admins in the room's team.
    pub sender_is_platform_admin: bool,
    /// The message text, with mentions written in the transport's mention grammar.
    pub text: String,
    /// The mentions in `text`, as the adapter read them in its platform's grammar.
    pub mentions: Vec<Mention>,
    /// When the platform says the message was sent.
    pub ts: DateTime<Utc>,
    /// The thread the message belongs to, when the platform has threads.
    pub thread: Option<String>,
    /// The files that came with it: an upload whose caption is the command.
    pub attachments: Vec<Attachment>,
}

/// A file that came with a message. Its adapter fetches it through its files service (see
/// [`files_service`](crate::adapter::files_service)), with the platform's credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The file's name, as uploaded (`schedule.ics`).
    pub name: String,
    /// Its size in bytes, when the platform says.
    #[serde(default)]
    pub size: Option<u64>,
    /// Where its adapter fetches it: Slack's `url_private_download`, Matrix's `mxc://` URI.
    pub source: String,
}

/// A mention of a person in a message, as its adapter read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    /// The mention as typed (`@bob`, `@bob:example.org`, `<@U0123|bob>`), one word of the text.
    pub token: String,
    /// The person mentioned.
    pub user: UserRef,
    /// The name the mention carries, if the platform writes one in it.
    pub name: Option<String>,
}

impl Inbound {
    /// The transport this message came from.
    pub fn transport(&self) -> Transport {
        self.room.transport
    }
}

/// One piece of a message: text in markdown, or a mention that notifies a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Span {
    /// Markdown text.
    Text(String),
    /// A mention of a person; adapters render it so that the person is notified.
    Mention(Person),
    /// A reference to a room; adapters render it as a link where they can.
    Room(RoomRef),
}

/// A button under a message; clicking it runs `command` as the clicking user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    /// What the button says.
    pub label: String,
    /// The command it runs, e.g. `!ack P12`.
    pub command: String,
}

/// A message in a transport-neutral form: markdown text with mentions, and optional buttons.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The content, in order.
    pub spans: Vec<Span>,
    /// Buttons for platforms that have them; others show the commands in text instead.
    pub buttons: Vec<Button>,
}

impl Message {
    /// A message with one piece of markdown text.
    pub fn text(text: impl Into<String>) -> Self {
        Self::default().and(text)
    }

    /// Appends markdown text.
    pub fn and(mut self, text: impl Into<String>) -> Self {
        self.spans.push(Span::Text(text.into()));
        self
    }

    /// Appends a mention of `person`.
    pub fn mention(mut self, person: &Person) -> Self {
        self.spans.push(Span::Mention(person.clone()));
        self
    }

    /// Appends a reference to `room`.
    pub fn room(mut self, room: &RoomRef) -> Self {
        self.spans.push(Span::Room(room.clone()));
        self
    }

    /// Adds links to `rooms`, separated by commas.
    pub fn rooms(self, rooms: &[RoomRef]) -> Self {
        rooms.iter().enumerate().fold(
            self,
            |message, (index, room)| {
                if index == 0 { message.room(room) } else { message.and(", ").room(room) }
            },
        )
    }

    /// Adds a button that runs `command`.
    pub fn button(mut self, label: impl Into<String>, command: impl Into<String>) -> Self {
        self.buttons.push(Button { label: label.into(), command: command.into() });
        self
    }

    /// The people this message mentions.
    pub fn mentioned(&self) -> impl Iterator<Item = &Person> {
        self.spans.iter().filter_map(|span| match span {
            Span::Mention(person) => Some(person),
            Span::Text(_) | Span::Room(_) => None,
        })
    }

    /// The message in parts of at most about `max_bytes` bytes of text each (a platform's limit
    /// for one message), cut between lines where it can; the buttons go with the last part. A
    /// message that fits is one part.
    pub fn split(&self, max_bytes: usize) -> Vec<Message> {
        let max_bytes = max_bytes.max(64);
        let mut parts = vec![Message::default()];
        let mut size = 0;
        for span in &self.spans {
            let Span::Text(text) = span else {
                size += span_size(span);
                parts.last_mut().expect("a part").spans.push(span.clone());
                continue;
            };
            for piece in cut(text, max_bytes) {
                if size > 0 && size + piece.len() > max_bytes {
                    parts.push(Message::default());
                    size = 0;
                }
                size += piece.len();
                parts.last_mut().expect("a part").spans.push(Span::Text(piece.to_owned()));
            }
        }
        parts.retain(|part| !part.spans.is_empty());
        if parts.is_empty() {
            parts.push(Message::default());
        }
        parts.last_mut().expect("a part").buttons = self.buttons.clone();
        parts
    }

    /// The message as plain text, with mentions as `@name` and rooms by id (for logs and tests;
    /// adapters write it in their platform's grammar with [`Message::render`]).
    pub fn to_plain(&self) -> String {
        self.render(|person| format!("@{}", person.name), |room| room.id.clone())
    }

    /// The message as text, with mentions and room links written by `mention` and `room` (each
    /// adapter in its platform's grammar).
    pub fn render(&self, mention: impl Fn(&Person) -> String, room: impl Fn(&RoomRef) -> String) -> String {
        self.spans
            .iter()
            .map(|span| match span {
                Span::Text(text) => text.clone(),
                Span::Mention(person) => mention(person),
                Span::Room(linked) => room(linked),
            })
            .collect()
    }
}

/// About how much room a span takes in a message.
fn span_size(span: &Span) -> usize {
    match span {
        Span::Text(text) => text.len(),
        Span::Mention(person) => person.name.len() + person.user.id.len(),
        Span::Room(room) => room.id.len() * 2,
    }
}

/// `text` in pieces that end at line ends, each at most `max_bytes` (a longer line is cut at
/// character boundaries).
fn cut(text: &str, max_bytes: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    for line in text.split_inclusive('\n') {
        let mut rest = line;
        while rest.len() > max_bytes {
            let mut at = max_bytes;
            while !rest.is_char_boundary(at) {
                at -= 1;
            }
            pieces.push(&rest[..at]);
            rest = &rest[at..];
        }
        if !rest.is_empty() {
            pieces.push(rest);
        }
    }
    pieces
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_plain())
    }
}

/// What a new room should look like, for [`Action::CreateRoom`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSpec {
    /// A stable key for the room, unique per incident, from which adapters derive aliases.
    pub key: String,
    /// The human name (the status doc title for an incident room).
    pub name: String,
    /// The room's topic.
    pub topic: String,
    /// People to invite.
    pub invite: Vec<UserRef>,
    /// Whether the room must stay private (security incidents).
    pub private: bool,
    /// Who hears about the new room: an event of kind `room-created` goes to this plugin of
    /// this team, with the room spec's key and the new room (see [`RoomCreated`]).
    pub notify: Option<Notify>,
}

/// Who hears how an action turned out: one plugin of one team, through an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notify {
    /// The team.
    pub team: crate::ids::TeamId,
    /// The plugin.
    pub plugin: String,
}

impl Notify {
    /// `plugin` of `team` hears about it.
    pub fn new(team: &crate::ids::TeamId, plugin: &str) -> Self {
        Self { team: team.clone(), plugin: plugin.to_owned() }
    }
}

/// The data of the `call-result` event a [`Action::Call`]'s `notify` plugin receives: what it
/// asked and what the service answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallResult {
    /// The request, as the action carried it.
    pub request: String,
    /// The service's answer.
    pub response: String,
}

/// The data of the `room-created` event a [`RoomSpec::notify`] plugin receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomCreated {
    /// The spec's key.
    pub key: String,
    /// The new room.
    pub room: RoomRef,
    /// A link to it, as its platform writes one.
    #[serde(default)]
    pub link: String,
}

/// Something the bot does on a chat platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Posts a message in a room, in a thread when `thread` is set.
    Send {
        /// Where to post.
        room: RoomRef,
        /// What to post.
        message: Message,
        /// The thread to answer in, when the command came from a thread.
        thread: Option<String>,
    },
    /// Says something in a room that only `user` needs to see (a refusal, an error): on
    /// platforms that can (Slack), only they see it; elsewhere it is an ordinary reply.
    Ephemeral {
        /// Where.
        room: RoomRef,
        /// Who sees it.
        user: UserRef,
        /// What to say.
        message: Message,
        /// The thread, when the command came from one.
        thread: Option<String>,
    },
    /// Sets a room's topic.
    SetTopic {
        /// The room.
        room: RoomRef,
        /// The new topic; empty clears it.
        topic: String,
    },
    /// Creates a room on the transport of `like`.
    CreateRoom {
        /// A room on the transport where the new room is to be made.
        like: RoomRef,
        /// How the new room should look.
        spec: RoomSpec,
    },
    /// Invites a user to a room.
    Invite {
        /// The room.
        room: RoomRef,
        /// Who to invite.
        user: UserRef,
    },
    /// Sends a private message to a user.
    DirectMessage {
        /// Who to write to.
        user: UserRef,
        /// What to say.
        message: Message,
    },
    /// Calls a service outside the chat (create an Alertmanager silence), through the
    /// [`Service`](crate::adapter::Service) registered under that name.
    Call {
        /// The service's name (`alertmanager`).
        service: String,
        /// The request, in the service's own format (usually JSON).
        request: String,
        /// Who hears the answer: an event of kind `call-result` (see [`CallResult`]).
        #[serde(default)]
        notify: Option<Notify>,
    },
}

impl Action {
    /// The transport whose adapter performs this action; `None` for service calls.
    pub fn transport(&self) -> Option<Transport> {
        match self {
            Action::Send { room, .. }
            | Action::Ephemeral { room, .. }
            | Action::SetTopic { room, .. }
            | Action::Invite { room, .. }
            | Action::CreateRoom { like: room, .. } => Some(room.transport),
            Action::DirectMessage { user, .. } => Some(user.transport),
            Action::Call { .. } => None,
        }
    }
}

/// An action with the stable id derived from its cause, so that a retried send is recognised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// `<cause>#<index>`: the same cause always yields the same ids.
    pub id: String,
    /// What to do.
    pub action: Action,
}

impl Envelope {
    /// Gives each action of one cause its stable id.
    pub fn number(cause: &str, actions: Vec<Action>) -> Vec<Envelope> {
        actions
            .into_iter()
            .enumerate()
            .map(|(index, action)| Envelope { id: format!("{cause}#{index}"), action })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_writes_mentions_in_the_transport_grammar() {
        let bob = Person::console("bob");
        let message = Message::text("hello ").mention(&bob).and("!");
        assert_eq!(message.to_plain(), "hello @bob!");
        assert_eq!(message.mentioned().count(), 1);
    }

    #[test]
    fn long_messages_split_between_lines_and_keep_everything() {
        let bob = Person::console("bob");
        let lines: String = (0..300).map(|n| format!("line {n:03} of a long report\n")).collect();
        let message = Message::text(lines.clone()).mention(&bob).and(" ✓ done").button("Ack", "!ack");
        let parts = message.split(1000);
        assert!(parts.len() >= 8, "{}", parts.len());
        assert!(parts.iter().all(|p| p.to_plain().len() <= 1000 + 20), "each part fits");
        let joined: String = parts.iter().map(Message::to_plain).collect();
        assert_eq!(joined, message.to_plain(), "nothing lost, nothing doubled");
        assert!(parts[..parts.len() - 1].iter().all(|p| p.buttons.is_empty()));
        assert_eq!(parts.last().unwrap().buttons.len(), 1);
        assert!(parts[0].to_plain().ends_with('\n'), "cut between lines");
        assert_eq!(Message::text("short").split(1000), [Message::text("short")]);
        let wide = "é".repeat(1000);
        assert!(Message::text(wide).split(100).iter().all(|p| p.to_plain().len() <= 100), "at character boundaries");
    }

    #[test]
    fn envelopes_get_stable_ids_from_their_cause() {
        let room = RoomRef::console("#a");
        let actions = vec![
            Action::SetTopic { room: room.clone(), topic: "x".into() },
            Action::SetTopic { room, topic: "y".into() },
        ];
        let ids: Vec<_> = Envelope::number("console:e1", actions).into_iter().map(|e| e.id).collect();
        assert_eq!(ids, ["console:e1#0", "console:e1#1"]);
    }
}

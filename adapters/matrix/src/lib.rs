//! Firebell's Matrix adapter, on matrix-sdk. It translates and nothing more:
//!
//! - **In**: a sync loop that survives errors (backoff up to a minute), resumes from its saved
//!   token, and hands every `m.text` message from someone else to the bot, but never one sent
//!   before the bot started (no answers to the backlog, on first start or after a restart).
//!   Invites to rooms of a configured team are accepted; others are declined. Pills in messages
//!   become user ids; reply fallbacks are dropped; a message in a thread keeps its thread.
//!   Whoever the room's power levels make an admin (`admin_power_level`) counts as a team admin.
//! - **Out**: notices with an HTML body rendered from the markdown and real mention pills (with
//!   `m.mentions`, so people are notified), replies in the thread of the command, topics, rooms,
//!   invites, direct messages. Each send carries a transaction id derived from its action id, so
//!   a retried send is not doubled. Rate limits come back as [`AdapterError::RateLimited`].
//!
//! Encrypted rooms are not read (the end-to-end encryption stack is left out); the first time the
//! bot meets one, it says so in the room, once across replicas.
//!
//! Replicas sync in parallel, each with its own saved session; every message is claimed in the
//! store before it is handled, so one replica answers. A killed replica needs no takeover: the
//! others already see every message.

pub mod files;
mod inbound;
mod outbound;
mod recall;
mod session;
mod sync;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use firebell_core::adapter::{AdapterError, Capabilities, ChatAdapter};
use firebell_core::async_trait;
use firebell_core::chrono::{DateTime, Utc};
use firebell_core::ids::{RoomRef, Transport, UserRef};
use firebell_core::message::{Action, Inbound, Mention, Message, RoomSpec, Span};
use firebell_core::team::Teams;
use firebell_runtime::bot::Bot;
use matrix_sdk::config::RequestConfig;
use matrix_sdk::room::Room;
use matrix_sdk::ruma::api::client::room::create_room::v3::{Request as CreateRoom, RoomPreset};
use matrix_sdk::ruma::api::error::{ErrorKind, RetryAfter};
use matrix_sdk::ruma::events::Mentions;
use matrix_sdk::ruma::events::relation::Thread;
use matrix_sdk::ruma::events::room::message::{Relation, RoomMessageEventContent};
use matrix_sdk::ruma::events::room::power_levels::UserPowerLevel;
use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId, OwnedTransactionId, OwnedUserId, RoomAliasId, RoomId, UserId};
use matrix_sdk::{Client, RoomMemberships, RoomState};
use tokio::sync::watch;

use self::inbound::TextMessage;
use self::session::SavedSession;

/// Checks a Matrix room as written in the config: a room id (`!id:server`) or alias
/// (`#name:server`).
pub fn check_room(id: &str) -> Result<(), String> {
    if RoomId::parse(id).is_ok() || RoomAliasId::parse(id).is_ok() {
        return Ok(());
    }
    Err(format!("expected a Matrix room id like \"!AbCd:example.org\" or alias like \"#ops:example.org\", got {id:?}"))
}

/// The mentions in a Matrix message's text: each word that is a full user id
/// (`@bob:example.org`; a pill reads as its user id).
pub fn mentions(text: &str) -> Vec<Mention> {
    text.split_whitespace()
        .filter(|token| UserId::parse(*token).is_ok())
        .map(|token| Mention { token: token.to_owned(), user: UserRef::new(Transport::Matrix, token), name: None })
        .collect()
}

/// Checks a Matrix user as written in the config (`@alice:example.org`).
pub fn check_user(id: &str) -> Result<(), String> {
    match UserId::parse(id) {
        Ok(_) => Ok(()),
        Err(_) => Err(format!("expected a Matrix user id like \"@alice:example.org\", got {id:?}")),
    }
}

/// How to reach and log in to the homeserver.
#[derive(Debug, Clone)]
pub struct MatrixOptions {
    /// The homeserver's URL (`https://matrix.example.org`).
    pub homeserver: String,
    /// The bot's user id (`@firebell:example.org`).
    pub user_id: String,
    /// The password, to log in once and keep the session.
    pub password: Option<String>,
    /// An access token, instead of a password.
    pub access_token: Option<String>,
    /// The name of the device a password login creates.
    pub device_name: String,
    /// Where the session and the sync token are kept, so that a restart reuses the device.
    pub store: PathBuf,
    /// Members at or above this power level in a team's room count as team admins.
    pub admin_power_level: i64,
}

/// Why the Matrix adapter stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    /// The options are not usable.
    #[error("matrix: {0}")]
    Config(String),
    /// Logging in or restoring the session failed.
    #[error("matrix: cannot log in as {user}: {reason}")]
    Login {
        /// The bot's user id.
        user: String,
        /// What the homeserver said.
        reason: String,
    },
    /// The homeserver no longer accepts the session (logged out, token revoked).
    #[error("matrix: the session was revoked; log in again (remove {0})")]
    LoggedOut(String),
    /// The session store could not be written.
    #[error("matrix: cannot keep the session in {path}: {reason}")]
    Store {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// The Matrix adapter: a logged-in client, and how configured room aliases map to room ids.
pub struct MatrixAdapter {
    client: Client,
    me: OwnedUserId,
    /// When this replica started: messages sent before are backlog and never answered.
    started_ms: u64,
    options: MatrixOptions,
    saved: Mutex<SavedSession>,
    aliases: Mutex<HashMap<OwnedRoomId, String>>,
    /// The names of the rooms this replica created, known before their state is synced.
    created: Mutex<HashMap<OwnedRoomId, String>>,
    /// Turns true once the first sync was handled.
    synced: watch::Sender<bool>,
    /// Whether the last sync reached the homeserver.
    connected: std::sync::atomic::AtomicBool,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

fn platform(err: matrix_sdk::Error) -> AdapterError {
    match err.client_api_error_kind() {
        Some(ErrorKind::LimitExceeded(limit)) => {
            let wait = match limit.retry_after {
                Some(RetryAfter::Delay(wait)) => wait,
                Some(RetryAfter::DateTime(at)) => at.duration_since(SystemTime::now()).unwrap_or_default(),
                None => Duration::from_secs(1),
            };
            AdapterError::RateLimited(wait)
        }
        Some(ErrorKind::Forbidden) => AdapterError::Refused(format!("the homeserver forbids it: {err}")),
        Some(ErrorKind::TooLarge) => AdapterError::Refused(format!("the homeserver finds it too large: {err}")),
        Some(ErrorKind::NotFound | ErrorKind::InvalidParam | ErrorKind::BadJson | ErrorKind::NotJson) => {
            AdapterError::Refused(err.to_string())
        }
        _ => AdapterError::Platform(err.to_string()),
    }
}

impl MatrixAdapter {
    /// Logs in (or restores the saved session, keeping the same device) and checks that the
    /// homeserver accepts it.
    pub async fn connect(options: MatrixOptions) -> Result<Self, MatrixError> {
        let started_ms = now_ms();
        let me = UserId::parse(&options.user_id).map_err(|err| {
            MatrixError::Config(format!("user_id {:?} is not a Matrix user id: {err}", options.user_id))
        })?;
        std::fs::create_dir_all(&options.store)
            .map_err(|err| MatrixError::Store { path: options.store.display().to_string(), reason: err.to_string() })?;
        let client = Client::builder()
            .homeserver_url(&options.homeserver)
            // The low-memory settings: a 500 KB page cache per connection and one connection per
            // core, where the defaults take 2 MB each for four per core. The bot reads little.
            .sqlite_store_with_config_and_cache_path(
                matrix_sdk::SqliteStoreConfig::with_low_memory_config(options.store.join("state")),
                None::<&std::path::Path>,
            )
            .request_config(RequestConfig::new().retry_limit(3).timeout(Duration::from_secs(60)))
            .build()
            .await
            .map_err(|err| MatrixError::Config(format!("homeserver {:?}: {err}", options.homeserver)))?;
        let saved = session::log_in(&client, &options, &me).await?;
        Ok(Self {
            client,
            me,
            started_ms,
            options,
            saved: Mutex::new(saved),
            aliases: Mutex::new(HashMap::new()),
            created: Mutex::new(HashMap::new()),
            synced: watch::channel(false).0,
            connected: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The service that fetches the files people upload with a command (`files:matrix`).
    pub fn files(&self) -> files::MatrixFiles {
        files::MatrixFiles::new(self.client.clone())
    }

    /// The device this replica uses.
    pub fn device_id(&self) -> String {
        self.client.device_id().map(|id| id.to_string()).unwrap_or_default()
    }

    /// The room ids of every configured Matrix team room; aliases are resolved and remembered.
    async fn team_rooms(&self, teams: &Teams) -> HashSet<OwnedRoomId> {
        let configured: Vec<RoomRef> = teams
            .iter()
            .flat_map(|team| team.admin_rooms.iter().chain(&team.public_rooms))
            .filter(|room| room.transport == Transport::Matrix)
            .cloned()
            .collect();
        let mut ids = HashSet::new();
        for room in &configured {
            match self.room_id(&room.id).await {
                Ok(id) => {
                    ids.insert(id);
                }
                Err(err) => tracing::error!(room = %room, error = %err, "configured Matrix room not found"),
            }
        }
        ids
    }

    /// The room id of a configured room: itself, or what its alias resolves to.
    async fn room_id(&self, room: &str) -> Result<OwnedRoomId, AdapterError> {
        if let Ok(id) = RoomId::parse(room) {
            return Ok(id);
        }
        let alias = RoomAliasId::parse(room)
            .map_err(|err| AdapterError::Platform(format!("{room:?} is neither a room id nor an alias: {err}")))?;
        let known = self
            .aliases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(_, a)| **a == room)
            .map(|(id, _)| id.clone());
        if let Some(id) = known {
            return Ok(id);
        }
        let resolved =
            self.client.resolve_room_alias(&alias).await.map_err(|err| AdapterError::Platform(err.to_string()))?;
        self.aliases.lock().unwrap_or_else(|p| p.into_inner()).insert(resolved.room_id.clone(), room.to_owned());
        Ok(resolved.room_id)
    }

    /// The reference the config uses for a room: its alias if configured so, else its id.
    fn room_ref(&self, id: &RoomId) -> RoomRef {
        let alias = self.aliases.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned();
        RoomRef::new(Transport::Matrix, alias.unwrap_or_else(|| id.to_string()))
    }

    async fn joined_room(&self, room: &RoomRef) -> Result<Room, AdapterError> {
        let id = self.room_id(&room.id).await?;
        self.client
            .get_room(&id)
            .filter(|room| room.state() == RoomState::Joined)
            .ok_or_else(|| AdapterError::Refused(format!("the bot is not in room {}; invite it to the room", room.id)))
    }

    /// The direct-message room with `user`: the one the bot has (its state is kept across
    /// restarts), else a new one.
    async fn direct_room(&self, user: &UserId) -> Result<Room, AdapterError> {
        match self.client.get_dm_room(user) {
            Some(room) => Ok(room),
            None => self.client.create_dm(user).await.map_err(platform),
        }
    }

    async fn inbound(&self, room: &Room, message: TextMessage) -> Inbound {
        let sender = UserId::parse(&message.sender).ok();
        let mut admin = false;
        let mut name = None;
        if let Some(user) = &sender {
            admin = match room.get_user_power_level(user).await {
                Ok(UserPowerLevel::Infinite) => true,
                Ok(UserPowerLevel::Int(level)) => i64::from(level) >= self.options.admin_power_level,
                Ok(_) | Err(_) => false,
            };
            name = room.get_member_no_sync(user).await.ok().flatten().and_then(|m| m.display_name().map(str::to_owned));
        }
        let ts = DateTime::<Utc>::from_timestamp_millis(message.sent_ms as i64).unwrap_or_else(Utc::now);
        Inbound {
            event_id: message.event_id,
            room: self.room_ref(room.room_id()),
            sender: UserRef::new(Transport::Matrix, message.sender),
            sender_name: name,
            sender_is_platform_admin: admin,
            mentions: mentions(&message.text),
            text: message.text,
            ts,
            thread: message.thread,
            attachments: message.attachments,
        }
    }

    /// Says once (across replicas) that the bot cannot read this encrypted room.
    async fn say_encrypted_once(&self, bot: &Bot, room: &Room) {
        let text = "This room is end-to-end encrypted, and Firebell does not read encrypted rooms: \
                    its commands are not seen here. Use an unencrypted room for Firebell.";
        let action = Action::Send { room: self.room_ref(room.room_id()), message: Message::text(text), thread: None };
        let key = format!("matrix:encrypted:{}", room.room_id());
        match bot.dispatcher().announce(&key, vec![action]).await {
            Ok(envelopes) => bot.deliver(&envelopes).await,
            Err(err) => tracing::warn!(error = %err, "cannot tell an encrypted room about itself"),
        }
    }

    /// The names of the Matrix rooms `message` refers to, by the reference it holds.
    async fn room_names(&self, message: &Message) -> HashMap<String, String> {
        let mut names = HashMap::new();
        for span in &message.spans {
            let Span::Room(room) = span else { continue };
            if room.transport != Transport::Matrix || names.contains_key(&room.id) {
                continue;
            }
            let Ok(id) = self.room_id(&room.id).await else { continue };
            let created = self.created.lock().unwrap_or_else(|p| p.into_inner()).get(&id).cloned();
            let known = match self.client.get_room(&id) {
                Some(found) => found.name().or(found.canonical_alias().map(|alias| alias.to_string())),
                None => None,
            };
            if let Some(name) = created.or(known) {
                names.insert(room.id.clone(), name);
            }
        }
        names
    }

    async fn send(
        &self,
        room: &Room,
        action_id: &str,
        message: &Message,
        thread: Option<&str>,
    ) -> Result<(), AdapterError> {
        let rendered = outbound::render(message, &self.room_names(message).await);
        let mut content = RoomMessageEventContent::notice_html(rendered.body, rendered.html);
        let mentioned: Vec<OwnedUserId> = rendered.mentions.iter().filter_map(|id| UserId::parse(id).ok()).collect();
        content.mentions = Some(Mentions::with_user_ids(mentioned));
        if let Some(root) = thread.and_then(|t| OwnedEventId::try_from(t).ok()) {
            content.relates_to = Some(Relation::Thread(Thread::plain(root.clone(), root)));
        }
        let mut raw = serde_json::to_value(&content).map_err(|err| AdapterError::Refused(err.to_string()))?;
        raw[recall::ACTION_FIELD] = action_id.into();
        let txn = OwnedTransactionId::from(action_id.to_owned());
        room.send_raw("m.room.message", raw).with_transaction_id(&txn).await.map(|_| ()).map_err(platform)
    }
}

#[async_trait]
impl ChatAdapter for MatrixAdapter {
    fn transport(&self) -> Transport {
        Transport::Matrix
    }

    fn is_connected(&self) -> bool {
        self.connected.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn room_link(&self, room: &RoomRef) -> String {
        format!("https://matrix.to/#/{}", room.id)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            threads: true,
            topics: true,
            create_rooms: true,
            direct_messages: true,
            buttons: false,
            max_topic_chars: 1000,
            max_message_bytes: 16_000,
            // A replica that was away reads what it missed when it syncs again.
            redelivery_window: Duration::from_secs(24 * 3600),
        }
    }

    async fn send_message(
        &self,
        action_id: &str,
        room: &RoomRef,
        message: &Message,
        thread: Option<&str>,
    ) -> Result<(), AdapterError> {
        let room = self.joined_room(room).await?;
        self.send(&room, action_id, message, thread).await
    }

    async fn set_topic(&self, _: &str, room: &RoomRef, topic: &str) -> Result<(), AdapterError> {
        let room = self.joined_room(room).await?;
        room.set_room_topic(topic).await.map(|_| ()).map_err(|err| match platform(err) {
            AdapterError::Platform(reason) => {
                AdapterError::Platform(format!("cannot set the topic (the bot needs power to change it): {reason}"))
            }
            other => other,
        })
    }

    async fn create_room(&self, _: &str, spec: &RoomSpec) -> Result<RoomRef, AdapterError> {
        let mut request = CreateRoom::new();
        request.name = Some(spec.name.clone());
        request.topic = Some(spec.topic.clone());
        request.invite = spec.invite.iter().filter_map(|user| UserId::parse(&user.id).ok()).collect();
        request.preset = Some(RoomPreset::PrivateChat);
        let room = self.client.create_room(request).await.map_err(platform)?;
        self.created.lock().unwrap_or_else(|p| p.into_inner()).insert(room.room_id().to_owned(), spec.name.clone());
        Ok(RoomRef::new(Transport::Matrix, room.room_id().to_string()))
    }

    async fn invite(&self, _: &str, room: &RoomRef, user: &UserRef) -> Result<(), AdapterError> {
        let room = self.joined_room(room).await?;
        let user = UserId::parse(&user.id).map_err(|err| AdapterError::Platform(err.to_string()))?;
        match room.invite_user_by_id(&user).await {
            Err(err) if err.to_string().contains("already in the room") => Ok(()),
            done => done.map_err(platform),
        }
    }

    async fn direct_message(&self, action_id: &str, user: &UserRef, message: &Message) -> Result<(), AdapterError> {
        let user = UserId::parse(&user.id).map_err(|err| AdapterError::Refused(err.to_string()))?;
        let room = self.direct_room(&user).await?;
        let _ = room.members(RoomMemberships::JOIN).await;
        self.send(&room, action_id, message, None).await
    }

    async fn find_sent(&self, action_id: &str, action: &Action, since: DateTime<Utc>) -> Result<bool, AdapterError> {
        let room = match action {
            Action::Send { room, .. } | Action::Ephemeral { room, .. } => self.joined_room(room).await?,
            Action::DirectMessage { user, .. } => {
                let user = UserId::parse(&user.id).map_err(|err| AdapterError::Refused(err.to_string()))?;
                match self.client.get_dm_room(&user) {
                    Some(room) => room,
                    None => return Ok(false),
                }
            }
            Action::SetTopic { room, topic } => {
                let room = self.joined_room(room).await?;
                let wanted = firebell_core::adapter::clip(topic, self.capabilities().max_topic_chars);
                return Ok(room.topic().is_some_and(|current| current == wanted));
            }
            _ => return Ok(false),
        };
        recall::sent_in(&room, &self.me, action_id, since).await
    }
}

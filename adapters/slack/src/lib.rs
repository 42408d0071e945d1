//! Firebell's Slack adapter, on slack-morphism. It translates and nothing more:
//!
//! - **In**, by Socket Mode (no public URL) or over HTTP (Events API, slash commands and
//!   interactivity on the bot's server, every request checked against Slack's v0 signature):
//!   slash commands (`/incident declare …` is `!incident declare …`), `!` commands in channel
//!   messages, and clicks on Firebell's buttons. Each is acknowledged at once and handled after,
//!   claimed by Slack's own id for it (`trigger_id`, `event_id`) so that Slack's retries and other
//!   replicas handle it once. Senders are looked up (`users.info`, cached) for their display name
//!   and whether they administer the workspace.
//! - **Out**: Block Kit messages in mrkdwn, with `<@U…>` mentions and buttons, in the thread of
//!   the command; `conversations.setTopic`, `.create`, `.invite`; direct messages. Messages to a
//!   channel keep Slack's pace of about one a second, shared by every replica through the store;
//!   `429 Retry-After` answers come back as [`AdapterError::RateLimited`].

pub mod files;
mod http;
mod inbound;
pub mod manifest;
mod outbound;
mod recall;
mod socket;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use firebell_core::adapter::{AdapterError, Capabilities, ChatAdapter};
use firebell_core::async_trait;
use firebell_core::chrono::{DateTime, Utc};
use firebell_core::ids::{RoomRef, Transport, UserRef};
use firebell_core::message::{Action, Inbound, Message, RoomSpec};
use firebell_core::store::Store;
use firebell_runtime::bot::Bot;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

pub use self::http::routes;
pub use self::socket::run_socket_mode;

use self::inbound::Incoming;

/// How long an acknowledgement waits for its command to be decided, trying again while the
/// store does not answer; Slack gives up on an acknowledgement after 3 seconds.
const DECIDE_PATIENCE: Duration = Duration::from_millis(2400);
/// How long what Slack says of a user (name, workspace admin) is believed.
const USER_FACTS_KEPT: Duration = Duration::from_secs(300);

fn slack_id(id: &str, first: &[char]) -> bool {
    id.len() >= 3 && id.starts_with(first) && id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Checks a Slack channel as written in the config: its id (`C0123ABCD`), not its name.
pub fn check_room(id: &str) -> Result<(), String> {
    if slack_id(id, &['C', 'G', 'D']) {
        return Ok(());
    }
    Err(format!("expected a Slack channel id like \"C0123ABCD\" (not its #name), got {id:?}"))
}

/// Checks a Slack user as written in the config: their member id (`U0123ABCD`).
pub fn check_user(id: &str) -> Result<(), String> {
    if slack_id(id, &['U', 'W']) {
        return Ok(());
    }
    Err(format!("expected a Slack member id like \"U0123ABCD\" (not a name), got {id:?}"))
}

/// How Slack reaches the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlackMode {
    /// Socket Mode: the bot opens websockets to Slack (needs an app-level token).
    Socket,
    /// HTTP: Slack posts to the bot's server (needs the signing secret and a public URL).
    Http,
}

/// How to reach Slack.
#[derive(Debug, Clone)]
pub struct SlackOptions {
    /// The bot token (`xoxb-…`).
    pub bot_token: String,
    /// The app-level token (`xapp-…`), for Socket Mode.
    pub app_token: Option<String>,
    /// The signing secret, for HTTP.
    pub signing_secret: Option<String>,
    /// Socket Mode or HTTP.
    pub mode: SlackMode,
    /// How many Socket Mode connections this replica keeps (Slack allows 10 per app).
    pub socket_connections: u32,
    /// Slack's Web API URL (`https://slack.com/api`).
    pub api_url: String,
    /// The least time between two messages to one channel, across replicas.
    pub channel_pace: Duration,
    /// The command prefix slash commands are rewritten with (`!`).
    pub command_prefix: String,
}

/// Why the Slack adapter could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    /// The options are not usable.
    #[error("slack: {0}")]
    Config(String),
    /// Slack refused a token.
    #[error("slack: {0}")]
    Auth(String),
    /// Socket Mode could not connect.
    #[error("slack: socket mode: {0}")]
    Socket(String),
}

/// What is known of a Slack user, and when Slack said it.
#[derive(Debug, Clone)]
struct UserFacts {
    name: Option<String>,
    admin: bool,
    learned: std::time::Instant,
}

/// How a message from Slack was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Accepted {
    /// Decided and kept: acknowledge it. `private` when the answer is for the sender only (a
    /// refusal), so that the command is not echoed to the channel either.
    Kept {
        /// Whether the answer is for the sender only.
        private: bool,
    },
    /// Not decided (the store does not answer): do not acknowledge it as taken. Slack retries
    /// an event; a slash command, which Slack does not retry, gets this text.
    Failed(String),
}

/// The Slack adapter: a Web API client for the bot token, and what it learned of users.
pub struct SlackAdapter {
    client: Arc<SlackHyperClient>,
    token: SlackApiToken,
    options: SlackOptions,
    store: Arc<dyn Store>,
    me: String,
    users: Mutex<HashMap<String, UserFacts>>,
    /// This replica's own pace per channel, used when the shared one in the store cannot be
    /// reached (a failure notice must go out when the store is down).
    local_pace: Mutex<HashMap<String, tokio::time::Instant>>,
    /// Reads the history, to find messages posted before.
    history: recall::History,
    /// How many Socket Mode sockets are open now.
    open_sockets: std::sync::atomic::AtomicUsize,
}

/// The longest wait for a channel's pace slot that a send waits out on its own; a longer one
/// goes back to the bot as a rate limit, to wait within its deadline.
const PACE_WAITED_HERE: Duration = Duration::from_millis(50);

/// Slack's error codes that pass: the same call may work in a moment.
const PASSING_ERRORS: &[&str] =
    &["internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"];

/// What a Slack error code means for the action: most are for good (`not_in_channel`,
/// `channel_not_found`, `msg_too_long`, …), a few pass.
pub(crate) fn classify(code: &str) -> AdapterError {
    let reason = match code {
        "not_in_channel" => "the bot is not in that channel; invite it with /invite @Firebell".to_owned(),
        "channel_not_found" => "there is no such channel, or the bot cannot see it".to_owned(),
        "is_archived" => "the channel is archived".to_owned(),
        other => format!("Slack answered {other}"),
    };
    if PASSING_ERRORS.contains(&code) { AdapterError::Platform(reason) } else { AdapterError::Refused(reason) }
}

/// Slack's error codes that say a token is refused for good: the bot cannot start with it.
const TOKEN_REFUSALS: &[&str] =
    &["invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "not_allowed_token_type"];

/// `err` as a person reads it: what Slack said, or why it could not be reached.
pub(crate) fn readable(err: &SlackClientError) -> String {
    match err {
        SlackClientError::ApiError(api) => format!("Slack answered {}", api.code),
        SlackClientError::HttpError(http) => format!("Slack answered HTTP {}", http.status_code),
        SlackClientError::RateLimitError(_) => "Slack asks to slow down (429)".to_owned(),
        SlackClientError::HttpProtocolError(_) | SlackClientError::EndOfStream(_) => {
            "Slack cannot be reached (the connection failed)".to_owned()
        }
        other => other.to_string().lines().next().unwrap_or_default().to_owned(),
    }
}

/// Calls Slack at start until it answers: a refused token (`invalid_auth`, `not_authed`, …)
/// stops the bot at once, with one line; an outage (Slack unreachable, a `500`, `ok:false
/// internal_error`) is waited out with backoff, one readable line per try, as the store is.
pub(crate) async fn patiently<T, Call, Answer>(token: &str, mut call: Call) -> Result<T, SlackError>
where
    Call: FnMut() -> Answer,
    Answer: Future<Output = Result<T, SlackClientError>>,
{
    let mut wait = Duration::from_secs(1);
    loop {
        match call().await {
            Ok(answer) => return Ok(answer),
            Err(SlackClientError::ApiError(api)) if TOKEN_REFUSALS.contains(&api.code.as_str()) => {
                return Err(SlackError::Auth(format!("{token} is refused: Slack answered {}", api.code)));
            }
            Err(err) => {
                tracing::warn!(?wait, "Slack does not answer at start ({}); trying again", readable(&err));
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(30));
            }
        }
    }
}

fn platform(err: SlackClientError) -> AdapterError {
    match err {
        SlackClientError::RateLimitError(limit) => {
            AdapterError::RateLimited(limit.retry_after.unwrap_or(Duration::from_secs(1)))
        }
        SlackClientError::ApiError(api) => classify(&api.code),
        SlackClientError::HttpError(http) if http.status_code.is_client_error() => {
            AdapterError::Refused(format!("Slack answered {}", http.status_code))
        }
        other => AdapterError::Platform(other.to_string()),
    }
}

impl SlackAdapter {
    /// Checks the bot token with `auth.test` and learns the bot's own user id. The store keeps
    /// the shared pace of messages per channel.
    pub async fn connect(options: SlackOptions, store: Arc<dyn Store>) -> Result<Self, SlackError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|err| SlackError::Config(format!("no TLS roots: {err}")))?
            .https_or_http()
            .enable_http1()
            .build();
        let api_url = options.api_url.trim_end_matches('/');
        let connector = SlackClientHyperConnector::with_connector(https).with_slack_api_url(api_url);
        let client = Arc::new(SlackClient::new(connector));
        let token = SlackApiToken::new(options.bot_token.clone().into());
        let me =
            patiently("the bot token (xoxb-…)", || async { client.open_session(&token).auth_test().await }).await?;
        if options.mode == SlackMode::Socket {
            socket::check_app_token(&client, options.app_token.as_deref().unwrap_or_default()).await?;
        }
        let history = recall::History::new(&options.api_url, &options.bot_token);
        Ok(Self {
            client,
            token,
            history,
            options,
            store,
            me: me.user_id.0,
            users: Mutex::new(HashMap::new()),
            local_pace: Mutex::new(HashMap::new()),
            open_sockets: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// The service that fetches the files people upload with a command (`files:slack`).
    pub fn files(&self) -> files::SlackFiles {
        files::SlackFiles::new(&self.options.api_url, &self.options.bot_token)
    }

    /// How Slack reaches this adapter.
    pub fn mode(&self) -> SlackMode {
        self.options.mode
    }

    fn session(&self) -> SlackClientSession<'_, SlackClientHyperHttpsConnector> {
        self.client.open_session(&self.token)
    }

    /// What Slack says about `user`, looked up again after [`USER_FACTS_KEPT`] (a workspace
    /// admin may stop being one).
    async fn user(&self, user: &str) -> UserFacts {
        let known = self.users.lock().unwrap_or_else(|p| p.into_inner()).get(user).cloned();
        if let Some(known) = known.filter(|facts| facts.learned.elapsed() < USER_FACTS_KEPT) {
            return known;
        }
        let request = SlackApiUsersInfoRequest::new(SlackUserId(user.to_owned()));
        let facts = match self.session().users_info(&request).await {
            Ok(answer) => {
                let found = answer.user;
                let profile = found.profile.as_ref();
                let display = profile.and_then(|p| p.display_name.clone()).filter(|name| !name.is_empty());
                let real = found.real_name.clone().or_else(|| profile.and_then(|p| p.real_name.clone()));
                let flags = &found.flags;
                UserFacts {
                    name: display.or(real).or(found.name.clone()),
                    admin: flags.is_admin.unwrap_or(false) || flags.is_owner.unwrap_or(false),
                    learned: std::time::Instant::now(),
                }
            }
            Err(err) => {
                tracing::warn!(%user, error = %err, "cannot look up a Slack user");
                return UserFacts { name: None, admin: false, learned: std::time::Instant::now() };
            }
        };
        self.users.lock().unwrap_or_else(|p| p.into_inner()).insert(user.to_owned(), facts.clone());
        facts
    }

    /// The message as the bot sees it, with what Slack says about its sender.
    async fn inbound(&self, incoming: Incoming) -> Inbound {
        let facts = self.user(&incoming.user).await;
        Inbound {
            event_id: incoming.event_id,
            room: RoomRef::new(Transport::Slack, incoming.channel),
            sender: UserRef::new(Transport::Slack, incoming.user),
            sender_name: facts.name,
            sender_is_platform_admin: facts.admin,
            mentions: inbound::mentions(&incoming.text),
            text: incoming.text,
            ts: incoming.ts,
            thread: incoming.thread,
            attachments: incoming.attachments,
        }
    }

    /// Takes a message over before Slack gets its acknowledgement: decides it (trying again
    /// for up to [`DECIDE_PATIENCE`] while the store does not answer) and keeps its answer in the
    /// store, so that from the acknowledgement on, the answer comes even if this replica dies.
    /// The answer is sent after, in a task the bot's shutdown waits for.
    async fn accept(self: &Arc<Self>, bot: &Arc<Bot>, incoming: Incoming) -> Accepted {
        let (adapter, owner) = (self.clone(), bot.clone());
        let answered_in_response = incoming.slash_command;
        let (decided, taken) = tokio::sync::oneshot::channel();
        bot.track(async move {
            let inbound = adapter.inbound(incoming).await;
            match owner.decide(&inbound, DECIDE_PATIENCE).await {
                Ok(dispatched) => {
                    let _ = decided.send(Accepted::Kept { private: dispatched.is_private() });
                    owner.deliver(&dispatched).await;
                }
                Err(err) => {
                    let notice = Bot::failure(&inbound, &err);
                    let text = match notice.envelopes.first().map(|e| &e.action) {
                        Some(Action::Ephemeral { message, .. }) => outbound::mrkdwn(message),
                        _ => err.to_string(),
                    };
                    let _ = decided.send(Accepted::Failed(text));
                    if !answered_in_response {
                        owner.deliver(&notice).await;
                    }
                }
            }
        });
        taken.await.unwrap_or_else(|_| Accepted::Failed("error: Firebell stopped while taking your command".into()))
    }

    /// How long `action_id` waits for its slot in the channel's pace, shared by every replica
    /// through the store (a send tried again keeps its slot); when the store does not answer,
    /// this replica keeps the pace on its own and waits here (so that a notice that the store is
    /// down still goes out).
    async fn pace_wait(&self, channel: &str, action_id: &str) -> Duration {
        let every = self.options.channel_pace;
        match self.store.pace(&format!("slack:{channel}"), every, action_id).await {
            Ok(wait) => wait,
            Err(err) => {
                tracing::warn!(%channel, error = %err, "the shared pace is out of reach; keeping it on this replica");
                let wait = {
                    let mut paces = self.local_pace.lock().unwrap_or_else(|p| p.into_inner());
                    let now = tokio::time::Instant::now();
                    let slot = paces.get(channel).copied().filter(|next| *next > now).unwrap_or(now);
                    paces.insert(channel.to_owned(), slot + every);
                    slot - now
                };
                tokio::time::sleep(wait).await;
                Duration::ZERO
            }
        }
    }

    async fn post(
        &self,
        action_id: &str,
        channel: &str,
        message: &Message,
        thread: Option<&str>,
    ) -> Result<(), AdapterError> {
        let wait = self.pace_wait(channel, action_id).await;
        if wait > PACE_WAITED_HERE {
            // The bot waits for the slot within its delivery's deadline, or leaves the send to
            // the delivery watchdog, which finds the slot kept.
            firebell_runtime::metrics::rate_limit_wait("slack");
            return Err(AdapterError::RateLimited(wait));
        }
        tokio::time::sleep(wait).await;
        let content = content(message)?.with_metadata(recall::metadata(action_id));
        let mut request = SlackApiChatPostMessageRequest::new(SlackChannelId(channel.to_owned()), content);
        request.thread_ts = thread.map(|ts| SlackTs(ts.to_owned()));
        self.session().chat_post_message(&request).await.map(|_| ()).map_err(platform)
    }
}

/// A message as Slack's message content: mrkdwn text and Block Kit blocks.
fn content(message: &Message) -> Result<SlackMessageContent, AdapterError> {
    let rendered = outbound::render(message);
    let blocks: Vec<SlackBlock> = serde_json::from_value(rendered.blocks)
        .map_err(|err| AdapterError::Refused(format!("unrepresentable message: {err}")))?;
    Ok(SlackMessageContent::new().with_text(rendered.text).with_blocks(blocks))
}

#[async_trait]
impl ChatAdapter for SlackAdapter {
    fn transport(&self) -> Transport {
        Transport::Slack
    }

    fn is_connected(&self) -> bool {
        self.options.mode == SlackMode::Http || self.open_sockets.load(std::sync::atomic::Ordering::Relaxed) > 0
    }

    fn room_link(&self, room: &RoomRef) -> String {
        format!("<#{}>", room.id)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            threads: true,
            topics: true,
            create_rooms: true,
            direct_messages: true,
            buttons: true,
            max_topic_chars: 250,
            max_message_bytes: 12_000,
            // Slack retries an event three times within minutes; slash commands not at all.
            redelivery_window: Duration::from_secs(3600),
        }
    }

    async fn send_message(
        &self,
        action_id: &str,
        room: &RoomRef,
        message: &Message,
        thread: Option<&str>,
    ) -> Result<(), AdapterError> {
        self.post(action_id, &room.id, message, thread).await
    }

    async fn find_sent(&self, action_id: &str, action: &Action, since: DateTime<Utc>) -> Result<bool, AdapterError> {
        match action {
            Action::Send { room, thread, .. } => {
                self.history.contains(&room.id, thread.as_deref(), action_id, since).await
            }
            Action::DirectMessage { user, .. } => {
                let channel = self.history.direct_channel(&user.id).await?;
                self.history.contains(&channel, None, action_id, since).await
            }
            Action::SetTopic { room, topic } => {
                let wanted = firebell_core::adapter::clip(topic, self.capabilities().max_topic_chars);
                Ok(self.history.topic(&room.id).await? == wanted)
            }
            _ => Ok(false),
        }
    }

    async fn send_ephemeral(
        &self,
        action_id: &str,
        room: &RoomRef,
        user: &UserRef,
        message: &Message,
        thread: Option<&str>,
    ) -> Result<(), AdapterError> {
        if user.transport != Transport::Slack {
            return self.post(action_id, &room.id, message, thread).await;
        }
        let request = SlackApiChatPostEphemeralRequest {
            thread_ts: thread.map(|ts| SlackTs(ts.to_owned())),
            ..SlackApiChatPostEphemeralRequest::new(
                SlackChannelId(room.id.clone()),
                SlackUserId(user.id.clone()),
                content(message)?,
            )
        };
        self.session().chat_post_ephemeral(&request).await.map(|_| ()).map_err(platform)
    }

    async fn set_topic(&self, _: &str, room: &RoomRef, topic: &str) -> Result<(), AdapterError> {
        let request = SlackApiConversationsSetTopicRequest::new(SlackChannelId(room.id.clone()), topic.to_owned());
        self.session().conversations_set_topic(&request).await.map(|_| ()).map_err(platform)
    }

    async fn create_room(&self, action_id: &str, spec: &RoomSpec) -> Result<RoomRef, AdapterError> {
        let name = outbound::channel_name(&spec.key, &spec.name);
        let request = SlackApiConversationsCreateRequest::new(name).with_is_private(spec.private);
        let created = self.session().conversations_create(&request).await.map_err(platform)?;
        let room = RoomRef::new(Transport::Slack, created.channel.id.0);
        self.set_topic(action_id, &room, &spec.topic).await?;
        let users: Vec<SlackUserId> =
            spec.invite.iter().filter(|u| u.transport == Transport::Slack).map(|u| SlackUserId(u.id.clone())).collect();
        if !users.is_empty() {
            let request = SlackApiConversationsInviteRequest::new(SlackChannelId(room.id.clone()), users);
            self.session().conversations_invite(&request).await.map_err(platform)?;
        }
        Ok(room)
    }

    async fn invite(&self, _: &str, room: &RoomRef, user: &UserRef) -> Result<(), AdapterError> {
        let request = SlackApiConversationsInviteRequest::new(
            SlackChannelId(room.id.clone()),
            vec![SlackUserId(user.id.clone())],
        );
        match self.session().conversations_invite(&request).await {
            Err(SlackClientError::ApiError(err)) if err.code == "already_in_channel" => Ok(()),
            done => done.map(|_| ()).map_err(platform),
        }
    }

    async fn direct_message(&self, action_id: &str, user: &UserRef, message: &Message) -> Result<(), AdapterError> {
        self.post(action_id, &user.id, message, None).await
    }
}

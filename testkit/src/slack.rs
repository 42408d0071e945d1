//! A fake Slack for tests: the Web API methods Firebell uses, answering in Slack's real JSON
//! shapes (`auth.test`, `chat.postMessage`, `chat.postEphemeral`, `conversations.history`,
//! `.replies`, `.info`, `.setTopic`, `.create`, `.invite`, `users.info`,
//! `apps.connections.open`), a Socket Mode websocket, and requests signed exactly as Slack signs
//! them. Slack's own API cannot be reached from here; this is the one fake the project allows,
//! and it behaves like Slack: channels keep their history (threads apart, as Slack's history
//! shows only the top level and `conversations.replies` a thread), messages keep their
//! `metadata` (shown with `include_all_metadata`), a message over Slack's limits (40,000
//! characters, 50 blocks, 3,000 characters a section) is refused as Slack refuses it, a channel
//! the bot was not invited to answers `not_in_channel`, and a test can slow its answers down
//! (the message is kept at once, the answer comes later, as when Slack is slow), answer `500`,
//! or rate limit it.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const PATIENCE: Duration = Duration::from_secs(30);

/// One Web API call the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    /// The method, e.g. `chat.postMessage`.
    pub method: String,
    /// Its arguments, from the query, the form or the JSON body.
    pub args: Value,
    /// When it arrived.
    pub at: Instant,
}

/// A Slack user the fake knows.
#[derive(Debug, Clone)]
pub struct FakeUser {
    /// `U0…`.
    pub id: String,
    /// The display name.
    pub name: String,
    /// Whether they administer the workspace.
    pub admin: bool,
}

/// A message as Slack keeps it in a channel.
#[derive(Debug, Clone)]
pub struct Posted {
    /// The channel (or a user id, for a direct message).
    pub channel: String,
    /// Its `ts`, Slack's id for it.
    pub ts: String,
    /// The thread it is in, if any.
    pub thread_ts: Option<String>,
    /// Its fallback text.
    pub text: String,
    /// Its blocks.
    pub blocks: Value,
    /// Its metadata, as posted.
    pub metadata: Value,
}

/// An ephemeral message: shown to one user, kept nowhere.
#[derive(Debug, Clone)]
pub struct Whisper {
    /// The channel.
    pub channel: String,
    /// Who sees it.
    pub user: String,
    /// What it says.
    pub text: String,
}

#[derive(Default)]
struct Shared {
    calls: Vec<Call>,
    users: HashMap<String, FakeUser>,
    limited: HashMap<String, u32>,
    failing: HashMap<String, u32>,
    acks: Vec<Value>,
    next: u64,
    history: Vec<Posted>,
    whispers: Vec<Whisper>,
    topics: HashMap<String, String>,
    outside: Vec<String>,
    delay: Duration,
    files: HashMap<String, String>,
}

/// The fake Slack: a Web API and a Socket Mode endpoint on a loopback port.
pub struct FakeSlack {
    address: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    envelopes: mpsc::UnboundedSender<Value>,
    kick: tokio::sync::broadcast::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Fake {
    address: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    envelopes: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Value>>>,
    kick: tokio::sync::broadcast::Sender<()>,
}

impl FakeSlack {
    /// Starts the fake on a free loopback port.
    pub async fn start() -> FakeSlack {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let address = listener.local_addr().expect("address");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (sender, receiver) = mpsc::unbounded_channel();
        let (kick, _) = tokio::sync::broadcast::channel(4);
        let envelopes = Arc::new(tokio::sync::Mutex::new(receiver));
        let fake = Fake { address, shared: shared.clone(), envelopes, kick: kick.clone() };
        let routes = Router::new()
            .route("/api/{method}", any(api))
            .route("/socket", get(socket))
            .route("/files-pri/{file}/download/{name}", get(download))
            .with_state(fake);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, routes).await;
        });
        FakeSlack { address, shared, envelopes: sender, kick, task }
    }

    /// Keeps an uploaded file and gives its object as a `file_share` message lists it, with a
    /// `url_private_download` served by the fake (to a bearer token only, as Slack does).
    pub fn upload(&self, name: &str, content: &str) -> Value {
        let mut shared = lock(&self.shared);
        shared.next += 1;
        let id = format!("F0{}", shared.next);
        shared.files.insert(id.clone(), content.to_owned());
        let url = format!("http://{}/files-pri/T0FAKE-{id}/download/{name}", self.address);
        json!({ "id": id, "name": name, "title": name, "mimetype": "text/calendar", "filetype": "ics",
                "pretty_type": "iCalendar", "user": "U0ALICE", "size": content.len(),
                "url_private": url.replace("/download/", "/"), "url_private_download": url })
    }

    /// The Web API URL to configure: `http://127.0.0.1:PORT/api`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.address)
    }

    /// Makes a user known to `users.info`.
    pub fn add_user(&self, id: &str, name: &str, admin: bool) {
        let user = FakeUser { id: id.into(), name: name.into(), admin };
        lock(&self.shared).users.insert(id.into(), user);
    }

    /// Answers the next `times` calls of `method` with `429 Too Many Requests, Retry-After: 1`.
    pub fn rate_limit(&self, method: &str, times: u32) {
        lock(&self.shared).limited.insert(method.into(), times);
    }

    /// Answers the next `times` calls of `method` with `500 Internal Server Error`, changing
    /// nothing, as Slack does when it has trouble of its own.
    pub fn fail(&self, method: &str, times: u32) {
        lock(&self.shared).failing.insert(method.into(), times);
    }

    /// Makes every answer that posts something come `delay` late: the message is kept at once
    /// (other callers see it in the history), the answer waits, as when Slack is slow.
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.shared).delay = delay;
    }

    /// Closes every Socket Mode connection, as Slack does when it moves an app to another host.
    pub fn drop_sockets(&self) {
        let _ = self.kick.send(());
    }

    /// Makes `channel` one the bot was not invited to: posting there answers `not_in_channel`.
    pub fn keep_out(&self, channel: &str) {
        lock(&self.shared).outside.push(channel.to_owned());
    }

    /// Every message kept, in order, threads included.
    pub fn history(&self) -> Vec<Posted> {
        lock(&self.shared).history.clone()
    }

    /// Every ephemeral message, in order.
    pub fn whispers(&self) -> Vec<Whisper> {
        lock(&self.shared).whispers.clone()
    }

    /// Waits until at least `count` messages were kept; returns them all.
    pub async fn wait_for_messages(&self, count: usize) -> Vec<Posted> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let history = self.history();
            if history.len() >= count {
                return history;
            }
            assert!(Instant::now() < deadline, "{} messages kept, not {count}", history.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until at least `count` ephemeral messages were shown; returns them all.
    pub async fn wait_for_whispers(&self, count: usize) -> Vec<Whisper> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let whispers = self.whispers();
            if whispers.len() >= count {
                return whispers;
            }
            assert!(Instant::now() < deadline, "{} ephemeral messages, not {count}", whispers.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every call of `method` so far.
    pub fn calls(&self, method: &str) -> Vec<Call> {
        lock(&self.shared).calls.iter().filter(|call| call.method == method).cloned().collect()
    }

    /// Waits until `method` was called at least `count` times; returns the calls.
    pub async fn wait_for(&self, method: &str, count: usize) -> Vec<Call> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let calls = self.calls(method);
            if calls.len() >= count {
                return calls;
            }
            assert!(Instant::now() < deadline, "{method} called {} times, not {count}", calls.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends a Socket Mode envelope to one connected client.
    pub fn send_envelope(&self, envelope: Value) {
        self.envelopes.send(envelope).expect("the fake is running");
    }

    /// Waits for the acknowledgement of envelope `id` and returns it.
    pub async fn wait_for_ack(&self, id: &str) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let acks = lock(&self.shared).acks.clone();
            if let Some(ack) = acks.into_iter().find(|ack| ack["envelope_id"] == id) {
                return ack;
            }
            assert!(Instant::now() < deadline, "envelope {id} was not acknowledged");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The arguments of a call, wherever Slack clients put them.
fn args(query: Option<String>, headers: &HeaderMap, body: &Bytes) -> Value {
    let mut args = serde_json::Map::new();
    let mut add_form = |form: &[u8]| {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(form).unwrap_or_default();
        for (key, value) in pairs {
            args.insert(key, Value::String(value));
        }
    };
    if let Some(query) = query {
        add_form(query.as_bytes());
    }
    let json = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.contains("json"));
    if json {
        if let Ok(Value::Object(body)) = serde_json::from_slice(body) {
            args.extend(body);
        }
    } else {
        add_form(body);
    }
    Value::Object(args)
}

async fn api(
    State(fake): State<Fake>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let args = args(query, &headers, &body);
    let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let authed = token.len() > "Bearer ".len() && !token.contains("-revoked");
    let (answer, delay) = {
        let mut shared = lock(&fake.shared);
        if let Some(left) = shared.limited.get_mut(&method).filter(|left| **left > 0) {
            *left -= 1;
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "1")],
                json!({ "ok": false, "error": "ratelimited" }).to_string(),
            )
                .into_response();
        }
        if let Some(left) = shared.failing.get_mut(&method).filter(|left| **left > 0) {
            *left -= 1;
            return (StatusCode::INTERNAL_SERVER_ERROR, "<html>500 Internal Server Error</html>").into_response();
        }
        shared.calls.push(Call { method: method.clone(), args: args.clone(), at: Instant::now() });
        shared.next += 1;
        let answer = if authed {
            answer(&method, &args, &mut shared, fake.address)
        } else if token.contains("-revoked") {
            json!({ "ok": false, "error": "invalid_auth" })
        } else {
            json!({ "ok": false, "error": "not_authed" })
        };
        let posts = matches!(method.as_str(), "chat.postMessage" | "chat.postEphemeral" | "conversations.setTopic");
        (answer, if posts { shared.delay } else { Duration::ZERO })
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    ([(header::CONTENT_TYPE, "application/json; charset=utf-8")], answer.to_string()).into_response()
}

/// The fake's state, also after a test thread panicked while holding it.
fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A JSON argument that clients send either as JSON or as a string of JSON in a form.
fn json_arg(value: &Value) -> Value {
    match value {
        Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        other => other.clone(),
    }
}

fn text_arg(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// Why Slack would refuse to post this message, if it would: its limits on text and blocks.
fn too_big(text: &str, blocks: &Value) -> Option<&'static str> {
    if text.chars().count() > 40_000 {
        return Some("msg_too_long");
    }
    let blocks = blocks.as_array().map(Vec::as_slice).unwrap_or_default();
    let long_section =
        blocks.iter().any(|block| block["text"]["text"].as_str().is_some_and(|text| text.chars().count() > 3000));
    (blocks.len() > 50 || long_section).then_some("invalid_blocks")
}

/// A message as `conversations.history` and `.replies` show it.
fn shown(message: &Posted, with_metadata: bool) -> Value {
    let mut shown = json!({ "type": "message", "subtype": "bot_message", "text": message.text, "ts": message.ts,
        "bot_id": "BBOT", "user": "UBOT", "blocks": message.blocks });
    if let Some(thread) = &message.thread_ts {
        shown["thread_ts"] = json!(thread);
    }
    if with_metadata && !message.metadata.is_null() {
        shown["metadata"] = message.metadata.clone();
    }
    shown
}

/// A number argument, sent as a number or as text.
fn number_arg(value: &Value) -> Option<f64> {
    value.as_f64().or_else(|| value.as_str().and_then(|text| text.parse().ok()))
}

/// Messages newest first, as Slack lists them: at most `limit`, none older than `oldest`.
fn listed(messages: Vec<&Posted>, args: &Value) -> Value {
    let limit = number_arg(&args["limit"]).unwrap_or(100.0) as usize;
    let oldest = number_arg(&args["oldest"]).unwrap_or(0.0);
    let with_metadata = args["include_all_metadata"] == "true" || args["include_all_metadata"] == true;
    let fitting: Vec<&Posted> = messages.into_iter().filter(|m| m.ts.parse::<f64>().unwrap_or(0.0) >= oldest).collect();
    let newest: Vec<Value> = fitting.iter().rev().take(limit).map(|m| shown(m, with_metadata)).collect();
    json!({ "ok": true, "messages": newest, "has_more": fitting.len() > limit })
}

/// The channel of direct messages with a user (`D` and the user's id), or the channel itself.
fn direct_channel(channel: &str) -> String {
    if channel.starts_with('U') { format!("D{channel}") } else { channel.to_owned() }
}

/// What Slack answers to `method`, in its JSON shapes.
fn answer(method: &str, args: &Value, shared: &mut Shared, address: SocketAddr) -> Value {
    let ts = format!("{}.{:06}", unix_now(), shared.next % 1_000_000);
    let channel_id = direct_channel(&text_arg(&args["channel"]));
    let channel = |id: &str, name: Option<&str>| {
        json!({ "id": id, "name": name, "created": 1_700_000_000, "creator": "UBOT", "is_channel": true,
                "is_private": args["is_private"] == "true" || args["is_private"] == true, "is_archived": false })
    };
    let outside = shared.outside.contains(&channel_id);
    match method {
        "auth.test" => json!({ "ok": true, "url": "https://fake.slack.com/", "team": "Fake Team", "user": "firebell",
                               "team_id": "T0FAKE", "user_id": "UBOT", "bot_id": "BBOT", "is_enterprise_install": false }),
        "chat.postMessage" | "chat.postEphemeral" if outside => json!({ "ok": false, "error": "not_in_channel" }),
        "chat.postMessage" => {
            let (text, blocks) = (text_arg(&args["text"]), json_arg(&args["blocks"]));
            if let Some(error) = too_big(&text, &blocks) {
                return json!({ "ok": false, "error": error });
            }
            let thread_ts = args["thread_ts"].as_str().map(str::to_owned);
            let metadata = json_arg(&args["metadata"]);
            let message = Posted { channel: channel_id.clone(), ts: ts.clone(), thread_ts, text, blocks, metadata };
            shared.history.push(message.clone());
            json!({ "ok": true, "channel": channel_id, "ts": ts, "message": shown(&message, false) })
        }
        "chat.postEphemeral" => {
            let text = text_arg(&args["text"]);
            if let Some(error) = too_big(&text, &json_arg(&args["blocks"])) {
                return json!({ "ok": false, "error": error });
            }
            shared.whispers.push(Whisper { channel: channel_id, user: text_arg(&args["user"]), text });
            json!({ "ok": true, "message_ts": ts })
        }
        "conversations.history" | "conversations.replies" | "conversations.info" | "conversations.setTopic"
            if outside =>
        {
            json!({ "ok": false, "error": "not_in_channel" })
        }
        "conversations.history" => {
            let top = shared
                .history
                .iter()
                .filter(|m| m.channel == channel_id && m.thread_ts.as_ref().is_none_or(|thread| *thread == m.ts));
            listed(top.collect(), args)
        }
        "conversations.replies" => {
            let root = text_arg(&args["ts"]);
            let thread = shared
                .history
                .iter()
                .filter(|m| m.channel == channel_id && (m.ts == root || m.thread_ts.as_deref() == Some(root.as_str())));
            let mut listed = listed(thread.collect(), args);
            if let Some(messages) = listed["messages"].as_array_mut() {
                messages.reverse();
            }
            listed
        }
        "conversations.info" => {
            let topic = shared.topics.get(&channel_id).cloned().unwrap_or_default();
            let mut info = channel(&channel_id, None);
            info["topic"] = json!({ "value": topic, "creator": "UBOT", "last_set": 0 });
            json!({ "ok": true, "channel": info })
        }
        "conversations.setTopic" => {
            let topic = text_arg(&args["topic"]);
            shared.topics.insert(channel_id, topic.clone());
            json!({ "ok": true, "topic": topic })
        }
        "conversations.open" => {
            json!({ "ok": true, "channel": { "id": direct_channel(&text_arg(&args["users"])) } })
        }
        "conversations.create" => {
            let id = format!("C0NEW{}", shared.next);
            json!({ "ok": true, "channel": channel(&id, args["name"].as_str()) })
        }
        "conversations.invite" => {
            json!({ "ok": true, "channel": channel(args["channel"].as_str().unwrap_or_default(), None) })
        }
        "users.info" => match shared.users.get(args["user"].as_str().unwrap_or_default()) {
            Some(user) => json!({ "ok": true, "user": {
                "id": user.id, "team_id": "T0FAKE", "name": user.name.to_lowercase(), "real_name": user.name,
                "is_admin": user.admin, "is_owner": false, "is_bot": false, "deleted": false, "tz": "Europe/Madrid",
                "profile": { "display_name": user.name, "real_name": user.name } } }),
            None => json!({ "ok": false, "error": "user_not_found" }),
        },
        "apps.connections.open" => json!({ "ok": true, "url": format!("ws://{address}/socket") }),
        _ => json!({ "ok": false, "error": "unknown_method" }),
    }
}

/// A file's download, as `files.slack.com` serves it: to a bearer token; without one, Slack's
/// sign-in page (HTML, 200), which is what a bot without `files:read` gets.
async fn download(
    State(fake): State<Fake>,
    Path((file, _name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let authorized = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("Bearer xoxb-"));
    if !authorized {
        return "<!DOCTYPE html><html><body>Sign in to Slack</body></html>".into_response();
    }
    let id = file.rsplit('-').next().unwrap_or_default();
    match lock(&fake.shared).files.get(id) {
        Some(content) => content.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn socket(State(fake): State<Fake>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| serve_socket(fake, socket))
}

/// Says hello, then hands this connection envelopes and records its acknowledgements.
async fn serve_socket(fake: Fake, mut socket: WebSocket) {
    let hello = json!({ "type": "hello", "num_connections": 1,
        "debug_info": { "host": "fake-slack", "build_number": 1, "approximate_connection_time": 18060 },
        "connection_info": { "app_id": "A0FAKE" } });
    if socket.send(Message::Text(hello.to_string().into())).await.is_err() {
        return;
    }
    let mut pending: VecDeque<Value> = VecDeque::new();
    let mut kicked = fake.kick.subscribe();
    loop {
        let envelope = async {
            match pending.pop_front() {
                Some(envelope) => Some(envelope),
                None => fake.envelopes.lock().await.recv().await,
            }
        };
        tokio::select! {
            _ = kicked.recv() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            envelope = envelope => {
                let Some(envelope) = envelope else { return };
                if socket.send(Message::Text(envelope.to_string().into())).await.is_err() {
                    return;
                }
            }
            received = socket.recv() => match received {
                Some(Ok(Message::Text(text))) => {
                    if let Ok(ack) = serde_json::from_str::<Value>(&text) {
                        lock(&fake.shared).acks.push(ack);
                    }
                }
                Some(Ok(_)) => {}
                _ => return,
            },
        }
    }
}

/// Signs a request body as Slack does: `v0=` and the hex HMAC-SHA256 of `v0:{timestamp}:{body}`.
pub fn slack_signature(secret: &str, timestamp: u64, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key fits");
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("v0={hex}")
}

/// Now, in Unix seconds, as Slack's `X-Slack-Request-Timestamp`.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// Trigger ids like Slack's, unique per test process.
pub fn trigger_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("13345224609.738474920.{:032x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

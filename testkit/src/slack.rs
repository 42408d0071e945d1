//! A fake Slack for tests: the Web API methods Firebell uses, answering in Slack's real JSON
//! shapes (`auth.test`, `chat.postMessage`, `conversations.setTopic`, `.create`, `.invite`,
//! `users.info`, `apps.connections.open`), a Socket Mode websocket, and requests signed exactly
//! as Slack signs them. Slack's own API cannot be reached from here; this is the one fake the
//! project allows, and it speaks Slack's wire format.

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

#[derive(Default)]
struct Shared {
    calls: Vec<Call>,
    users: HashMap<String, FakeUser>,
    limited: HashMap<String, u32>,
    acks: Vec<Value>,
    next: u64,
}

/// The fake Slack: a Web API and a Socket Mode endpoint on a loopback port.
pub struct FakeSlack {
    address: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    envelopes: mpsc::UnboundedSender<Value>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Fake {
    address: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    envelopes: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Value>>>,
}

impl FakeSlack {
    /// Starts the fake on a free loopback port.
    pub async fn start() -> FakeSlack {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let address = listener.local_addr().expect("address");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (sender, receiver) = mpsc::unbounded_channel();
        let fake = Fake { address, shared: shared.clone(), envelopes: Arc::new(tokio::sync::Mutex::new(receiver)) };
        let routes = Router::new().route("/api/{method}", any(api)).route("/socket", get(socket)).with_state(fake);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, routes).await;
        });
        FakeSlack { address, shared, envelopes: sender, task }
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
    let authed =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).is_some_and(|v| v.len() > "Bearer ".len());
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
    shared.calls.push(Call { method: method.clone(), args: args.clone(), at: Instant::now() });
    shared.next += 1;
    let answer = if authed {
        answer(&method, &args, &mut shared, fake.address)
    } else {
        json!({ "ok": false, "error": "not_authed" })
    };
    ([(header::CONTENT_TYPE, "application/json; charset=utf-8")], answer.to_string()).into_response()
}

/// What Slack answers to `method`, in its JSON shapes.
/// The fake's state, also after a test thread panicked while holding it.
fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn answer(method: &str, args: &Value, shared: &mut Shared, address: SocketAddr) -> Value {
    let ts = format!("1700000000.{:06}", shared.next);
    let channel = |id: &str, name: Option<&str>| {
        json!({ "id": id, "name": name, "created": 1_700_000_000, "creator": "UBOT", "is_channel": true,
                "is_private": args["is_private"] == "true" || args["is_private"] == true, "is_archived": false })
    };
    match method {
        "auth.test" => json!({ "ok": true, "url": "https://fake.slack.com/", "team": "Fake Team", "user": "firebell",
                               "team_id": "T0FAKE", "user_id": "UBOT", "bot_id": "BBOT", "is_enterprise_install": false }),
        "chat.postMessage" => json!({ "ok": true, "channel": args["channel"], "ts": ts,
            "message": { "type": "message", "subtype": "bot_message", "text": args["text"], "ts": ts,
                         "bot_id": "BBOT", "user": "UBOT", "blocks": args["blocks"] } }),
        "conversations.setTopic" => json!({ "ok": true, "topic": args["topic"] }),
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
    loop {
        let envelope = async {
            match pending.pop_front() {
                Some(envelope) => Some(envelope),
                None => fake.envelopes.lock().await.recv().await,
            }
        };
        tokio::select! {
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

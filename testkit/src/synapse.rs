//! A real Synapse homeserver for tests, and plain-HTTP Matrix users to talk to the bot with.
//!
//! Synapse is installed by `scripts/synapse install` (from PyPI, into `.cache/synapse`, once) and
//! started by `scripts/synapse run` on a free loopback port with open registration and raised
//! rate limits. One homeserver serves every test of a test binary ([`Synapse::shared`]); it stops
//! by itself when the test process ends.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long Synapse may take to start, and the bot to answer.
const PATIENCE: Duration = Duration::from_secs(60);

/// A running Synapse.
pub struct Synapse {
    _child: Child,
    port: u16,
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("the testkit lives in the workspace").to_owned()
}

impl Synapse {
    /// The homeserver shared by every test of this test binary, started on first use.
    pub fn shared() -> &'static Synapse {
        static SHARED: OnceLock<Synapse> = OnceLock::new();
        SHARED.get_or_init(Synapse::start)
    }

    fn start() -> Synapse {
        let port = crate::free_port();
        let dir = std::env::temp_dir().join(format!("firebell-synapse-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("synapse folder");
        let script = workspace_root().join("scripts/synapse");
        let child = Command::new(&script)
            .arg("run")
            .arg(&dir)
            .arg(port.to_string())
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run {}: {err}", script.display()));
        let synapse = Synapse { _child: child, port };
        let deadline = Instant::now() + PATIENCE;
        while !synapse.healthy() {
            assert!(Instant::now() < deadline, "Synapse did not start; see {}", dir.join("homeserver.log").display());
            std::thread::sleep(Duration::from_millis(200));
        }
        synapse
    }

    fn healthy(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let request = format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n", self.port);
        let mut answer = String::new();
        stream.write_all(request.as_bytes()).is_ok()
            && stream.read_to_string(&mut answer).is_ok()
            && answer.ends_with("OK")
    }

    /// The homeserver's URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Registers a server admin (with the shared registration secret) and returns them.
    pub async fn register_admin(&self, name: &str) -> MatrixUser {
        use hmac::{Hmac, Mac};
        static ADMINS: AtomicU64 = AtomicU64::new(0);
        let unique = format!("{name}-{}-{}", std::process::id(), ADMINS.fetch_add(1, Ordering::Relaxed));
        let password = format!("{unique}-password");
        let client = reqwest::Client::new();
        let url = format!("{}/_synapse/admin/v1/register", self.url());
        let nonce = send(client.get(&url), None, None).await["nonce"].as_str().expect("a nonce").to_owned();
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"firebell-test-registration").expect("any key fits");
        mac.update(format!("{nonce}\0{unique}\0{password}\0admin").as_bytes());
        let mac: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let body = json!({ "nonce": nonce, "username": unique, "password": password, "admin": true, "mac": mac });
        let answer = post(&client, &url, None, &body).await;
        MatrixUser {
            user_id: answer["user_id"].as_str().unwrap_or_else(|| panic!("admin registered: {answer}")).to_owned(),
            password,
            token: answer["access_token"].as_str().expect("a token").to_owned(),
            base: self.url(),
            client,
            transactions: AtomicU64::new(0),
        }
    }

    /// Registers a new user whose name starts with `name` (made unique) and logs them in.
    pub async fn register(&self, name: &str) -> MatrixUser {
        static USERS: AtomicU64 = AtomicU64::new(0);
        let unique = format!("{name}-{}-{}", std::process::id(), USERS.fetch_add(1, Ordering::Relaxed));
        let password = format!("{unique}-password");
        let client = reqwest::Client::new();
        let body = json!({ "username": unique, "password": password, "auth": { "type": "m.login.dummy" } });
        let answer = post(&client, &format!("{}/_matrix/client/v3/register", self.url()), None, &body).await;
        let token = answer["access_token"].as_str().unwrap_or_else(|| panic!("registered: {answer}")).to_owned();
        MatrixUser {
            user_id: answer["user_id"].as_str().expect("user id").to_owned(),
            password,
            token,
            base: self.url(),
            client,
            transactions: AtomicU64::new(0),
        }
    }
}

async fn post(client: &reqwest::Client, url: &str, token: Option<&str>, body: &Value) -> Value {
    send(client.post(url), token, Some(body)).await
}

async fn send(request: reqwest::RequestBuilder, token: Option<&str>, body: Option<&Value>) -> Value {
    let mut request = request.header("content-type", "application/json");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = request.send().await.expect("homeserver answers");
    let text = response.text().await.expect("a body");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// A person on the homeserver, talking plain client-server API.
pub struct MatrixUser {
    /// `@alice-…:localhost`.
    pub user_id: String,
    /// Their password.
    pub password: String,
    token: String,
    base: String,
    client: reqwest::Client,
    transactions: AtomicU64,
}

fn encode(part: &str) -> String {
    part.replace('!', "%21").replace('#', "%23").replace(':', "%3A").replace('$', "%24").replace('@', "%40")
}

impl MatrixUser {
    /// The access token of the device the user was registered with.
    pub fn access_token(&self) -> &str {
        &self.token
    }

    fn url(&self, path: &str) -> String {
        format!("{}/_matrix/client/v3/{path}", self.base)
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        post(&self.client, &self.url(path), Some(&self.token), &body).await
    }

    async fn put(&self, path: &str, body: Value) -> Value {
        send(self.client.put(self.url(path)), Some(&self.token), Some(&body)).await
    }

    async fn get(&self, path: &str) -> Value {
        send(self.client.get(self.url(path)), Some(&self.token), None).await
    }

    /// Creates a private room named `name`, inviting `invite`; returns its id. With
    /// `encrypted`, the room is end-to-end encrypted from the start.
    pub async fn create_room(&self, name: &str, invite: &[&str], encrypted: bool) -> String {
        let mut body = json!({ "name": name, "preset": "private_chat", "invite": invite });
        if encrypted {
            body["initial_state"] = json!([{
                "type": "m.room.encryption", "state_key": "", "content": { "algorithm": "m.megolm.v1.aes-sha2" }
            }]);
        }
        let answer = self.post("createRoom", body).await;
        answer["room_id"].as_str().unwrap_or_else(|| panic!("room created: {answer}")).to_owned()
    }

    /// Invites `user` to `room`.
    pub async fn invite(&self, room: &str, user: &str) {
        self.post(&format!("rooms/{}/invite", encode(room)), json!({ "user_id": user })).await;
    }

    /// Joins `room`.
    pub async fn join(&self, room: &str) {
        self.post(&format!("join/{}", encode(room)), json!({})).await;
    }

    /// Sends a text message; returns its event id.
    pub async fn say(&self, room: &str, text: &str) -> String {
        self.send_content(room, json!({ "msgtype": "m.text", "body": text })).await
    }

    /// Sends a text message in the thread of `root`; returns its event id.
    pub async fn say_in_thread(&self, room: &str, root: &str, text: &str) -> String {
        let relation = json!({ "rel_type": "m.thread", "event_id": root, "is_falling_back": true,
            "m.in_reply_to": { "event_id": root } });
        self.send_content(room, json!({ "msgtype": "m.text", "body": text, "m.relates_to": relation })).await
    }

    /// Uploads a file to the homeserver's media repository; returns its `mxc://` URI.
    pub async fn upload(&self, name: &str, content_type: &str, bytes: &[u8]) -> String {
        let url = format!("{}/_matrix/media/v3/upload?filename={name}", self.base);
        let request = self.client.post(url).header("content-type", content_type).bearer_auth(&self.token);
        let response = request.body(bytes.to_vec()).send().await.expect("homeserver answers");
        let answer: Value = serde_json::from_str(&response.text().await.unwrap_or_default()).unwrap_or(Value::Null);
        answer["content_uri"].as_str().unwrap_or_else(|| panic!("uploaded: {answer}")).to_owned()
    }

    /// Sends a file with a caption (MSC2530: `filename` the file's name, `body` the caption);
    /// returns the event's id.
    pub async fn send_file(&self, room: &str, name: &str, mxc: &str, size: usize, caption: &str) -> String {
        let content = json!({ "msgtype": "m.file", "body": caption, "filename": name, "url": mxc,
            "info": { "mimetype": "text/calendar", "size": size } });
        self.send_content(room, content).await
    }

    /// Sends any message content; returns its event id.
    pub async fn send_content(&self, room: &str, content: Value) -> String {
        let txn = format!("t{}", self.transactions.fetch_add(1, Ordering::Relaxed));
        let answer = self.put(&format!("rooms/{}/send/m.room.message/{txn}", encode(room)), content).await;
        answer["event_id"].as_str().unwrap_or_else(|| panic!("sent: {answer}")).to_owned()
    }

    /// Every message event in `room`, oldest first.
    pub async fn messages(&self, room: &str) -> Vec<Value> {
        let answer = self.get(&format!("rooms/{}/messages?dir=b&limit=500", encode(room))).await;
        let mut events: Vec<Value> = answer["chunk"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|event| event["type"] == "m.room.message")
            .cloned()
            .collect();
        events.reverse();
        events
    }

    /// The messages `sender` sent in `room`, oldest first.
    pub async fn messages_from(&self, room: &str, sender: &str) -> Vec<Value> {
        self.messages(room).await.into_iter().filter(|event| event["sender"] == sender).collect()
    }

    /// Waits until `sender` has sent more than `seen` messages in `room`; returns all of them.
    pub async fn wait_for_messages(&self, room: &str, sender: &str, seen: usize) -> Vec<Value> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let messages = self.messages_from(room, sender).await;
            if messages.len() > seen {
                return messages;
            }
            assert!(Instant::now() < deadline, "no new message from {sender} in {room} (had {seen})");
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Says `text` in `room` and waits for `bot`'s answers; returns the bodies of the new
    /// messages once `bot` has sent at least `answers` new ones.
    pub async fn ask(&self, room: &str, bot: &str, text: &str, answers: usize) -> Vec<String> {
        let seen = self.messages_from(room, bot).await.len();
        self.say(room, text).await;
        let deadline = Instant::now() + PATIENCE;
        loop {
            let all = self.messages_from(room, bot).await;
            if all.len() >= seen + answers {
                return all[seen..]
                    .iter()
                    .map(|event| event["content"]["body"].as_str().unwrap_or_default().to_owned())
                    .collect();
            }
            assert!(Instant::now() < deadline, "{bot} did not answer {text:?} in {room}");
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// The topic of `room`.
    pub async fn topic(&self, room: &str) -> Option<String> {
        let answer = self.get(&format!("rooms/{}/state/m.room.topic", encode(room))).await;
        answer["topic"].as_str().map(str::to_owned)
    }

    /// Waits until `room`'s topic is `topic`.
    pub async fn wait_for_topic(&self, room: &str, topic: &str) {
        let deadline = Instant::now() + PATIENCE;
        while self.topic(room).await.as_deref() != Some(topic) {
            assert!(
                Instant::now() < deadline,
                "the topic of {room} did not become {topic:?}: {:?}",
                self.topic(room).await
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// As a server admin: limits how many messages `user` may send (per second, and in a burst).
    pub async fn limit_messages(&self, user: &str, per_second: u32, burst: u32) {
        let url = format!("{}/_synapse/admin/v1/users/{}/override_ratelimit", self.base, encode(user));
        let body = json!({ "messages_per_second": per_second, "burst_count": burst });
        let answer = post(&self.client, &url, Some(&self.token), &body).await;
        assert_eq!(answer["messages_per_second"], json!(per_second), "rate limit set: {answer}");
    }

    /// Gives `user` power level `level` in `room` (50: moderator, who may change the topic).
    pub async fn set_power_level(&self, room: &str, user: &str, level: i64) {
        let path = format!("rooms/{}/state/m.room.power_levels", encode(room));
        let mut levels = self.get(&path).await;
        levels["users"][user] = json!(level);
        self.put(&path, levels).await;
    }

    /// Waits until `user` has joined `room`.
    pub async fn wait_for_member(&self, room: &str, user: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let answer = self.get(&format!("rooms/{}/joined_members", encode(room))).await;
            if answer["joined"].get(user).is_some() {
                return;
            }
            assert!(Instant::now() < deadline, "{user} did not join {room}: {answer}");
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Waits for an invite from `inviter` and returns the room it is for. After a first full
    /// sync it syncs incrementally: Synapse answers repeated full syncs from a cache for a while,
    /// which would hide a new invite.
    pub async fn wait_for_invite(&self, inviter: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        let mut since: Option<String> = None;
        loop {
            let path = match &since {
                None => "sync?timeout=0".to_owned(),
                Some(token) => format!("sync?timeout=1000&since={}", encode(token)),
            };
            let sync = self.get(&path).await;
            since = sync["next_batch"].as_str().map(str::to_owned).or(since);
            let invites = sync["rooms"]["invite"].as_object().cloned().unwrap_or_default();
            let from = invites.into_iter().find(|(_, room)| {
                room["invite_state"]["events"].as_array().into_iter().flatten().any(|event| event["sender"] == inviter)
            });
            if let Some((room, _)) = from {
                return room;
            }
            assert!(Instant::now() < deadline, "no invite from {inviter}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The membership of `user` in `room` (`join`, `invite`, `leave`, …), as this user sees it.
    pub async fn membership(&self, room: &str, user: &str) -> Option<String> {
        let answer = self.get(&format!("rooms/{}/state/m.room.member/{}", encode(room), encode(user))).await;
        answer["membership"].as_str().map(str::to_owned)
    }

    /// The devices of this user.
    pub async fn devices(&self) -> Vec<String> {
        let answer = self.get("devices").await;
        answer["devices"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["device_id"].as_str())
            .map(str::to_owned)
            .collect()
    }

    /// A user with this account's identity and another access token (a new login).
    pub async fn log_in_again(&self) -> MatrixUser {
        let body = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": self.user_id },
            "password": self.password });
        let answer = post(&self.client, &self.url("login"), None, &body).await;
        MatrixUser {
            user_id: self.user_id.clone(),
            password: self.password.clone(),
            token: answer["access_token"].as_str().unwrap_or_else(|| panic!("logged in: {answer}")).to_owned(),
            base: self.base.clone(),
            client: self.client.clone(),
            transactions: AtomicU64::new(0),
        }
    }
}

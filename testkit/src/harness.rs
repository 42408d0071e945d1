//! A harness that makes a plugin test a few lines: feed messages as users in rooms, read what the
//! bot printed (through the real console adapter), move the clock (running the jobs that fall due).
//!
//! ```no_run
//! # async fn example() {
//! use std::sync::Arc;
//! use firebell_testkit::Harness;
//! # /// Mine.
//! # #[derive(firebell_core::declare::PluginInfo)]
//! # #[plugin(name = "mine")]
//! # struct MyPlugin;
//! # #[firebell_core::async_trait]
//! # impl firebell_core::plugin::Plugin for MyPlugin {
//! #     async fn run(&self, _: &firebell_core::plugin::Context<'_>, _: &firebell_core::plugin::Invocation)
//! #         -> Result<firebell_core::plugin::Outcome, firebell_core::plugin::PluginError> { Ok(Default::default()) }
//! # }
//! let bot = Harness::builder().plugin(Arc::new(MyPlugin)).build();
//! let lines = bot.say("alice", "#wikimedia-cloud-admin", "!help").await;
//! assert!(lines[0].starts_with("[#wikimedia-cloud-admin] firebell:"));
//! # }
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use firebell_console::ConsoleAdapter;
use firebell_core::adapter::{Adapters, Service};
use firebell_core::chrono_tz::Tz;
use firebell_core::clock::{Clock, ManualClock};
use firebell_core::ids::{RoomRef, TeamId, UserRef};
use firebell_core::message::{Action, Inbound};
use firebell_core::plugin::{Plugin, Registry, WebResponse};
use firebell_core::store::Store;
use firebell_core::team::{Member, Team, Teams};
use firebell_runtime::bot::Bot;
use firebell_runtime::dispatcher::{DispatchOptions, Dispatcher};
use firebell_runtime::scheduler::{Scheduler, SchedulerOptions};
use firebell_store_memory::MemoryStore;

/// The admin room of the sample team `wmcs`.
pub const WMCS_ADMIN: &str = "#wikimedia-cloud-admin";
/// The public room of the sample team `wmcs`.
pub const WMCS_PUBLIC: &str = "#wikimedia-cloud";
/// The admin room of the sample team `sre`.
pub const SRE_ADMIN: &str = "#sre";

/// The public URL the harness's bot gives in links (`[http] public_url`).
pub const WEB_URL: &str = "https://firebell.example.org";

/// Where the harness clock starts: 2026-11-21 03:00 UTC, the hour pages like to come.
pub fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T03:00:00Z").expect("valid time").to_utc()
}

fn member(name: &str, timezone: Tz, admin: bool) -> Member {
    Member { name: name.to_owned(), timezone, ids: vec![UserRef::console(name)], admin, push: None }
}

/// Two sample teams. `wmcs` (admin room `#wikimedia-cloud-admin`, public room
/// `#wikimedia-cloud`) has alice (admin), bob, carol and dave; `sre` (room `#sre`) has erin
/// (admin) and frank. Anyone else, like `visitor`, is on no roster.
pub fn sample_teams() -> Vec<Team> {
    use firebell_core::chrono_tz::{America, Asia, Europe};
    let wmcs = Team {
        id: TeamId::new("wmcs").expect("valid id"),
        name: "WMCS".into(),
        admin_rooms: vec![RoomRef::console(WMCS_ADMIN)],
        public_rooms: vec![RoomRef::console(WMCS_PUBLIC)],
        public_topic: "Wikimedia Cloud Services | status: all systems normal".into(),
        members: vec![
            member("alice", Europe::Madrid, true),
            member("bob", America::New_York, false),
            member("carol", Europe::Madrid, false),
            member("dave", Asia::Kolkata, false),
        ],
        plugins: None,
        settings: BTreeMap::new(),
        config: BTreeMap::new(),
    };
    let sre = Team {
        id: TeamId::new("sre").expect("valid id"),
        name: "SRE".into(),
        admin_rooms: vec![RoomRef::console(SRE_ADMIN)],
        public_rooms: vec![],
        public_topic: String::new(),
        members: vec![member("erin", Europe::Berlin, true), member("frank", America::Los_Angeles, false)],
        plugins: None,
        settings: BTreeMap::new(),
        config: BTreeMap::new(),
    };
    vec![wmcs, sre]
}

/// The text of a console line, without its `[target] label: ` prefix.
pub fn body(line: &str) -> &str {
    let after_target = line.split_once("] ").map_or(line, |(_, rest)| rest);
    let after_label = after_target.split_once(':').map_or(after_target, |(_, rest)| rest);
    after_label.strip_prefix(' ').unwrap_or(after_label)
}

/// The bodies of console lines, joined with newlines: a multi-line message as it was sent.
pub fn text(lines: &[String]) -> String {
    lines.iter().map(|line| body(line)).collect::<Vec<_>>().join("\n")
}

/// Collects what the console adapter prints; while `down`, refuses to, like a platform that
/// is unreachable.
#[derive(Clone, Default)]
struct Output {
    printed: Arc<Mutex<Vec<u8>>>,
    down: Arc<AtomicBool>,
}

impl Output {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.printed.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.down.load(Ordering::Relaxed) {
            return Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the platform is down"));
        }
        self.printed.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Builds a [`Harness`].
pub struct HarnessBuilder {
    plugins: Vec<(Arc<dyn Plugin>, bool)>,
    teams: Vec<Team>,
    store: Option<Arc<dyn Store>>,
    services: Vec<Arc<dyn Service>>,
    link_secret: Option<Vec<u8>>,
}

impl HarnessBuilder {
    /// Signs links to pages that are not public with `secret` (`[http] link_secret`).
    pub fn link_secret(mut self, secret: &str) -> Self {
        self.link_secret = Some(secret.as_bytes().to_vec());
        self
    }

    /// Adds a plugin.
    pub fn plugin(mut self, plugin: Arc<dyn Plugin>) -> Self {
        self.plugins.push((plugin, false));
        self
    }

    /// Adds a plugin that administers the bot itself, as the binary adds `admin` (see
    /// [`Registry::register_trusted`]).
    pub fn trusted_plugin(mut self, plugin: Arc<dyn Plugin>) -> Self {
        self.plugins.push((plugin, true));
        self
    }

    /// Adds every plugin of `registry`, trusted as it trusts them (as the binary's standard
    /// plugins are: `firebell::standard_plugins()`).
    pub fn plugins_of(mut self, registry: &Registry) -> Self {
        for plugin in registry.plugins() {
            self.plugins.push((plugin.clone(), registry.is_trusted(plugin.name())));
        }
        self
    }

    /// Replaces the sample teams.
    pub fn teams(mut self, teams: Vec<Team>) -> Self {
        self.teams = teams;
        self
    }

    /// Adds a service that plugins call through `Action::Call` (a stand-in for Alertmanager).
    pub fn service(mut self, service: Arc<dyn Service>) -> Self {
        self.services.push(service);
        self
    }

    /// Uses `store` instead of a fresh memory store (e.g. a Redis store shared with another
    /// harness, as a second replica).
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Builds the harness.
    ///
    /// # Panics
    /// When two plugins share a name or a command, or the teams share a room.
    pub fn build(self) -> Harness {
        let clock = ManualClock::new(start_time());
        let output = Output::default();
        let console = Arc::new(ConsoleAdapter::new(Box::new(output.clone()), "firebell"));
        let store = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        let mut registry = Registry::new();
        for (plugin, trusted) in self.plugins {
            let registered = if trusted { registry.register_trusted(plugin) } else { registry.register(plugin) };
            registered.expect("plugins have distinct names and commands");
        }
        let teams = Teams::new(self.teams).expect("valid teams");
        let clock_handle: Arc<dyn Clock> = Arc::new(clock.clone());
        let options = DispatchOptions {
            web_url: WEB_URL.to_owned(),
            link_secret: self.link_secret,
            ..DispatchOptions::default()
        };
        let dispatcher = Dispatcher::new(store, clock_handle, teams, registry, options);
        let adapters = self.services.into_iter().fold(Adapters::new().with(console), Adapters::with_service);
        let bot = Arc::new(Bot::new(dispatcher, adapters));
        static INSTANCES: AtomicU64 = AtomicU64::new(0);
        let instance = INSTANCES.fetch_add(1, Ordering::Relaxed);
        let scheduler = Scheduler::new(bot.clone(), format!("harness{instance}"), SchedulerOptions::default());
        Harness { bot, scheduler, clock, output, instance, events: AtomicU64::new(0) }
    }
}

/// A bot on the console adapter with a manual clock, for tests.
pub struct Harness {
    bot: Arc<Bot>,
    scheduler: Scheduler,
    clock: ManualClock,
    output: Output,
    instance: u64,
    events: AtomicU64,
}

impl Harness {
    /// Starts building a harness with the sample teams and a memory store.
    pub fn builder() -> HarnessBuilder {
        HarnessBuilder {
            plugins: Vec::new(),
            teams: sample_teams(),
            store: None,
            services: Vec::new(),
            link_secret: None,
        }
    }

    /// A message from `user` in `room`, with a fresh event id, for [`Harness::send`] when a
    /// test needs to change something about it (say, `sender_is_platform_admin`).
    pub fn message(&self, user: &str, room: &str, text: &str) -> Inbound {
        let event = self.events.fetch_add(1, Ordering::Relaxed);
        Inbound {
            event_id: format!("harness{}-{event}", self.instance),
            room: RoomRef::console(room),
            sender: UserRef::console(user),
            sender_name: None,
            sender_is_platform_admin: false,
            mentions: firebell_console::mentions(text),
            text: text.to_owned(),
            ts: self.clock.now(),
            thread: None,
            attachments: Vec::new(),
        }
    }

    /// Sends `text` as `user` in `room` and returns the console lines the bot printed in answer.
    pub async fn say(&self, user: &str, room: &str, text: &str) -> Vec<String> {
        self.send(self.message(user, room, text)).await
    }

    /// Sends `text` as `user` in `room` and returns the actions the bot performed in answer
    /// (they are printed to the transcript as well).
    ///
    /// # Panics
    /// When the store fails.
    pub async fn act(&self, user: &str, room: &str, text: &str) -> Vec<Action> {
        let dispatched = self.bot.dispatcher().dispatch(&self.message(user, room, text)).await.expect("dispatch");
        self.bot.deliver(&dispatched).await;
        dispatched.envelopes.into_iter().map(|envelope| envelope.action).collect()
    }

    /// Tells the plugins that hear the start that the bot started (as a replica does), and
    /// returns the console lines printed meanwhile.
    pub async fn start(&self) -> Vec<String> {
        let (_, printed) = self.printed(self.bot.announce_start("harness", self.instance)).await;
        printed
    }

    /// A `GET` of a plugin's web page, as the HTTP server hands it over: `path` with its query.
    pub async fn get(&self, path_and_query: &str) -> WebResponse {
        self.get_as(path_and_query, None).await
    }

    /// A `GET` as a trusted reverse proxy forwards it for `user` (`[http] trusted_user_header`).
    pub async fn get_as(&self, path_and_query: &str, user: Option<&str>) -> WebResponse {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let query = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (key.to_owned(), value.to_owned())
            })
            .collect();
        self.bot.dispatcher().serve_web(path, query, user.map(str::to_owned)).await
    }

    /// Hands a prepared message to the bot and returns the console lines it printed in answer.
    pub async fn send(&self, inbound: Inbound) -> Vec<String> {
        let before = self.output.text().len();
        self.bot.handle(inbound).await;
        self.output.text()[before..].lines().map(str::to_owned).collect()
    }

    /// Runs `work` and returns its output with the console lines printed meanwhile (for events
    /// and other causes that do not come from a chat line).
    pub async fn printed<T>(&self, work: impl Future<Output = T>) -> (T, Vec<String>) {
        let before = self.output.text().len();
        let output = work.await;
        (output, self.output.text()[before..].lines().map(str::to_owned).collect())
    }

    /// Everything printed so far.
    pub fn transcript(&self) -> String {
        self.output.text()
    }

    /// Moves the clock forward by `by`, running every job that falls due on the way at its due
    /// time, and returns the console lines the bot printed meanwhile.
    ///
    /// # Panics
    /// When the store fails.
    pub async fn advance(&self, by: Duration) -> Vec<String> {
        let before = self.output.text().len();
        let until = self.clock.now() + chrono::Duration::from_std(by).expect("a sane duration");
        self.scheduler.run_until(&self.clock, until).await.expect("scheduler pass");
        self.output.text()[before..].lines().map(str::to_owned).collect()
    }

    /// Talks to the bot on stdin and stdout, to try a plugin out: each line is a message in the
    /// `wmcs` admin room from alice, or from whoever is named before a colon (`bob: !ic`);
    /// `/wait 30m` moves the clock, running the jobs that fall due.
    pub async fn chat(&self) {
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let printed = match line.strip_prefix("/wait ").map(|span| humantime::parse_duration(span.trim())) {
                Some(Ok(by)) => self.advance(by).await,
                Some(Err(err)) => vec![format!("error: /wait expects a duration like 30m: {err}")],
                None => match line.split_once(": ").filter(|(user, _)| !user.contains([' ', '!'])) {
                    Some((user, text)) => self.say(user, WMCS_ADMIN, text).await,
                    None => self.say("alice", WMCS_ADMIN, &line).await,
                },
            };
            printed.iter().for_each(|line| println!("{line}"));
        }
    }

    /// Runs the jobs due now, and returns the console lines the bot printed.
    ///
    /// # Panics
    /// When the store fails.
    pub async fn run_due(&self) -> Vec<String> {
        self.advance(Duration::ZERO).await
    }

    /// Makes every send fail, as if the chat platform were unreachable (`true`), or work again.
    pub fn set_platform_down(&self, down: bool) {
        self.output.down.store(down, Ordering::Relaxed);
    }

    /// The clock.
    pub fn clock(&self) -> &ManualClock {
        &self.clock
    }

    /// The bot.
    pub fn bot(&self) -> &Arc<Bot> {
        &self.bot
    }

    /// The scheduler, which runs due jobs when the clock is advanced.
    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        self.bot.dispatcher().store()
    }
}

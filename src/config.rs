//! The configuration file: reading it, and refusing it with an error that names the file, the
//! key and what was expected.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use firebell_core::ids::Transport;
use firebell_core::plugin::Registry;
use firebell_core::team::{Team, Teams};
use firebell_plugin_paging::alertmanager::{ReceiverOptions, WebhookAuth};
use serde::{Deserialize, Deserializer};

/// The whole configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How the bot presents itself and reads commands.
    #[serde(default)]
    pub bot: BotConfig,
    /// Where shared state lives.
    #[serde(default)]
    pub store: StoreConfig,
    /// The console adapter.
    #[serde(default)]
    pub console: ConsoleConfig,
    /// The scheduler of timed work.
    #[serde(default)]
    pub scheduler: SchedulerConfig,
    /// The HTTP server (webhooks).
    #[serde(default)]
    pub http: HttpConfig,
    /// Prometheus Alertmanager.
    #[serde(default)]
    pub alertmanager: AlertmanagerConfig,
    /// The Matrix adapter.
    #[serde(default)]
    pub matrix: MatrixConfig,
    /// The Slack adapter.
    #[serde(default)]
    pub slack: SlackConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// The teams.
    #[serde(default)]
    pub teams: Vec<Team>,
}

/// `[bot]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BotConfig {
    /// The name the bot signs its messages with.
    pub name: String,
    /// The prefix of commands in messages.
    pub command_prefix: String,
    /// Whether an unknown command gets an answer.
    pub answer_unknown_commands: bool,
    /// How long an event id is remembered to drop platform retries and other replicas' copies.
    #[serde(deserialize_with = "duration")]
    pub dedup_window: Duration,
    /// How long a stopping bot (SIGTERM) gives what is in flight to finish.
    #[serde(deserialize_with = "duration")]
    pub shutdown_grace: Duration,
}

impl Default for BotConfig {
    fn default() -> Self {
        Self {
            name: "firebell".into(),
            command_prefix: "!".into(),
            answer_unknown_commands: true,
            dedup_window: Duration::from_secs(24 * 3600),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// `[log]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// How log lines are written on stderr.
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One line of text per event, coloured on a terminal.
    #[default]
    Text,
    /// One JSON object per event and line, for a log pipeline.
    Json,
}

/// `[store]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `memory://`, `redis://[USER:PASSWORD@]HOST:PORT[/DB]`, or `rediss://…` for TLS.
    pub url: String,
    /// The prefix of every Redis key, so that several bots can share one server.
    pub namespace: String,
    /// With `rediss://`: a PEM file of the certificate authorities that may sign the server's
    /// certificate, instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// With `redis+sentinel://`: the sentinels' own password, when they have `requirepass` (or
    /// `FIREBELL_SENTINEL_PASSWORD`). The URL's password is the master's.
    pub sentinel_password: Option<String>,
    /// The ACL user of `sentinel_password`, when the sentinels use one.
    pub sentinel_user: Option<String>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: "memory://".into(),
            namespace: "firebell".into(),
            ca_file: None,
            sentinel_password: None,
            sentinel_user: None,
        }
    }
}

impl StoreConfig {
    /// The sentinels' password: `FIREBELL_SENTINEL_PASSWORD` when set, else the file's.
    pub fn sentinel_password(&self) -> Option<String> {
        let from_env = std::env::var("FIREBELL_SENTINEL_PASSWORD").ok().filter(|value| !value.is_empty());
        from_env.or_else(|| self.sentinel_password.clone())
    }
}

/// `[console]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Whether the console adapter reads stdin.
    pub enabled: bool,
    /// Who plain lines come from at first.
    pub user: String,
    /// Which room plain lines go to at first.
    pub room: String,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self { enabled: true, user: "alice".into(), room: "#wikimedia-cloud-admin".into() }
    }
}

/// `[http]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Where the HTTP server listens (`127.0.0.1:8080`); no server when unset.
    pub listen: Option<std::net::SocketAddr>,
    /// The bearer token Alertmanager's webhook must send (or `FIREBELL_WEBHOOK_TOKEN`).
    pub webhook_token: Option<String>,
    /// The basic-auth username Alertmanager's webhook must send.
    pub webhook_username: Option<String>,
    /// The basic-auth password Alertmanager's webhook must send (or `FIREBELL_WEBHOOK_PASSWORD`).
    pub webhook_password: Option<String>,
    /// The largest request body, in MiB.
    pub body_limit_mb: usize,
    /// The address people reach this server at (`https://firebell.example.org`, behind a
    /// reverse proxy), for the links the bot gives (calendar feeds); `http://<listen>` when unset.
    pub public_url: Option<String>,
    /// The key (at least 32 characters; or `FIREBELL_LINK_SECRET`) that signs the expiring links to
    /// pages that are not public, such as an incident's live page; the same on every replica.
    pub link_secret: Option<String>,
    /// The header a trusted reverse proxy sets to the signed-in person (`X-Forwarded-User`), a
    /// roster name or account: team members then read pages that are not public without a
    /// signed link. Set it only when every request passes through that proxy.
    pub trusted_user_header: Option<String>,
    /// How long a public page (the status page) is kept and served again by a replica.
    #[serde(deserialize_with = "duration")]
    pub page_cache: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: None,
            webhook_token: None,
            webhook_username: None,
            webhook_password: None,
            body_limit_mb: ReceiverOptions::DEFAULT_BODY_LIMIT >> 20,
            public_url: None,
            link_secret: None,
            trusted_user_header: None,
            page_cache: Duration::from_secs(5),
        }
    }
}

impl HttpConfig {
    /// The credentials Alertmanager must send, with secrets from the environment when set there.
    /// Without any, only a server on a loopback address takes alerts.
    pub fn webhook_auth(&self) -> WebhookAuth {
        let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        let password = env("FIREBELL_WEBHOOK_PASSWORD").or_else(|| self.webhook_password.clone());
        WebhookAuth {
            bearer_token: env("FIREBELL_WEBHOOK_TOKEN").or_else(|| self.webhook_token.clone()),
            basic: self.webhook_username.clone().zip(password),
            anonymous: self.listen.is_none_or(|address| address.ip().is_loopback()),
        }
    }

    /// The key that signs links to pages that are not public, from the environment or the file.
    pub fn link_secret(&self) -> Option<String> {
        std::env::var("FIREBELL_LINK_SECRET")
            .ok()
            .filter(|secret| !secret.is_empty())
            .or_else(|| self.link_secret.clone())
    }

    /// The base URL links to this server start with, without a trailing `/`; empty without a
    /// server.
    pub fn web_url(&self) -> String {
        match (&self.public_url, self.listen) {
            (Some(url), _) => url.trim_end_matches('/').to_owned(),
            (None, Some(listen)) => format!("http://{listen}"),
            (None, None) => String::new(),
        }
    }

    fn check(&self) -> Result<(), (String, String)> {
        if let Some(url) = self.public_url.as_ref().filter(|url| !is_http_url(url) || url.contains(['?', '#'])) {
            let message =
                format!("expected the server's public base URL, like \"https://firebell.example.org\", got {url:?}");
            return Err(("http.public_url".into(), message));
        }
        if self.link_secret().is_some_and(|secret| secret.len() < 32) {
            return Err((
                "http.link_secret".into(),
                "expected a key of at least 32 characters (or FIREBELL_LINK_SECRET)".into(),
            ));
        }
        if let Some(header) =
            self.trusted_user_header.as_ref().filter(|h| axum::http::HeaderName::try_from(h.as_str()).is_err())
        {
            return Err((
                "http.trusted_user_header".into(),
                format!("expected a header name like \"X-Forwarded-User\", got {header:?}"),
            ));
        }
        if self.page_cache > Duration::from_secs(300) {
            return Err(("http.page_cache".into(), "expected at most 5m, like \"5s\"; \"0s\" keeps nothing".into()));
        }
        if !(1..=1024).contains(&self.body_limit_mb) {
            let message = format!("expected a size in MiB from 1 to 1024, got {}", self.body_limit_mb);
            return Err(("http.body_limit_mb".into(), message));
        }
        let auth = self.webhook_auth();
        if self.webhook_username.is_some() != auth.basic.is_some() {
            let message = "expected both webhook_username and webhook_password (or FIREBELL_WEBHOOK_PASSWORD)".into();
            return Err(("http.webhook_username".into(), message));
        }
        if auth.bearer_token.as_deref().is_some_and(|token| token.len() < 16) {
            return Err(("http.webhook_token".into(), "expected a token of at least 16 characters".into()));
        }
        Ok(())
    }
}

/// `[alertmanager]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertmanagerConfig {
    /// Alertmanager's URL, for the silences `!ack` creates; no silences when unset.
    pub url: Option<String>,
    /// The alert label that names the team an alert pages.
    pub team_label: String,
    /// Where alerts for no known team are posted, if anywhere.
    pub fallback_room: Option<firebell_core::ids::RoomRef>,
}

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        Self { url: None, team_label: "team".into(), fallback_room: None }
    }
}

/// `[matrix]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatrixConfig {
    /// Whether the bot connects to Matrix.
    pub enabled: bool,
    /// The homeserver's URL.
    pub homeserver: String,
    /// The bot's user id.
    pub user_id: String,
    /// The bot's password (or set `FIREBELL_MATRIX_PASSWORD`).
    pub password: Option<String>,
    /// An access token instead of a password (or set `FIREBELL_MATRIX_ACCESS_TOKEN`).
    pub access_token: Option<String>,
    /// The name of the device a password login creates.
    pub device_name: String,
    /// Where the session and sync token are kept.
    pub store: PathBuf,
    /// Members at or above this power level in a team's room count as team admins.
    pub admin_power_level: i64,
}

impl Default for MatrixConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            homeserver: String::new(),
            user_id: String::new(),
            password: None,
            access_token: None,
            device_name: "firebell".into(),
            store: "firebell-matrix".into(),
            admin_power_level: 50,
        }
    }
}

impl MatrixConfig {
    /// The adapter's options, with secrets from the environment when set there.
    pub fn options(&self) -> firebell_matrix::MatrixOptions {
        let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        firebell_matrix::MatrixOptions {
            homeserver: self.homeserver.clone(),
            user_id: self.user_id.clone(),
            password: env("FIREBELL_MATRIX_PASSWORD").or_else(|| self.password.clone()),
            access_token: env("FIREBELL_MATRIX_ACCESS_TOKEN").or_else(|| self.access_token.clone()),
            device_name: self.device_name.clone(),
            store: self.store.clone(),
            admin_power_level: self.admin_power_level,
        }
    }

    fn check(&self) -> Result<(), (String, String)> {
        if !self.enabled {
            return Ok(());
        }
        if !is_http_url(&self.homeserver) {
            return Err(("matrix.homeserver".into(), format!("expected https://HOST, got {:?}", self.homeserver)));
        }
        if !(1..=MATRIX_MOST_POWER).contains(&self.admin_power_level) {
            let message = format!(
                "expected a power level from 1 to {MATRIX_MOST_POWER} (0 would make every member an admin), got {}",
                self.admin_power_level
            );
            return Err(("matrix.admin_power_level".into(), message));
        }
        if self.store.as_os_str().is_empty() {
            return Err(("matrix.store".into(), "expected a folder for the session, like \"firebell-matrix\"".into()));
        }
        if !(self.user_id.starts_with('@') && self.user_id.contains(':')) {
            return Err(("matrix.user_id".into(), format!("expected @name:server, got {:?}", self.user_id)));
        }
        let options = self.options();
        if options.password.is_none() && options.access_token.is_none() {
            let message = "expected a password or an access_token (or FIREBELL_MATRIX_PASSWORD)".to_owned();
            return Err(("matrix.password".into(), message));
        }
        Ok(())
    }
}

/// The highest power level Matrix allows (the largest integer JSON carries exactly).
const MATRIX_MOST_POWER: i64 = (1 << 53) - 1;

/// `[slack]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfig {
    /// Whether the bot connects to Slack.
    pub enabled: bool,
    /// `socket` (Socket Mode) or `http` (Events API and slash commands on `[http] listen`).
    pub mode: String,
    /// The bot token, `xoxb-…` (or `FIREBELL_SLACK_BOT_TOKEN`).
    pub bot_token: Option<String>,
    /// The app-level token for Socket Mode, `xapp-…` (or `FIREBELL_SLACK_APP_TOKEN`).
    pub app_token: Option<String>,
    /// The signing secret for HTTP (or `FIREBELL_SLACK_SIGNING_SECRET`).
    pub signing_secret: Option<String>,
    /// How many Socket Mode connections this replica keeps (Slack allows 10 per app).
    pub socket_connections: u32,
    /// Slack's Web API URL.
    pub api_url: String,
    /// The least time between two messages to one channel, across replicas.
    #[serde(deserialize_with = "duration")]
    pub channel_pace: Duration,
}

impl Default for SlackConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            mode: "socket".into(),
            bot_token: None,
            app_token: None,
            signing_secret: None,
            socket_connections: 2,
            api_url: "https://slack.com/api".into(),
            channel_pace: Duration::from_secs(1),
        }
    }
}

impl SlackConfig {
    /// The adapter's options, with secrets from the environment when set there.
    pub fn options(&self, bot: &BotConfig) -> firebell_slack::SlackOptions {
        let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        firebell_slack::SlackOptions {
            bot_token: env("FIREBELL_SLACK_BOT_TOKEN").or_else(|| self.bot_token.clone()).unwrap_or_default(),
            app_token: env("FIREBELL_SLACK_APP_TOKEN").or_else(|| self.app_token.clone()),
            signing_secret: env("FIREBELL_SLACK_SIGNING_SECRET").or_else(|| self.signing_secret.clone()),
            mode: if self.mode == "http" { firebell_slack::SlackMode::Http } else { firebell_slack::SlackMode::Socket },
            socket_connections: self.socket_connections,
            api_url: self.api_url.clone(),
            channel_pace: self.channel_pace,
            command_prefix: bot.command_prefix.clone(),
        }
    }

    fn check(&self, bot: &BotConfig) -> Result<(), (String, String)> {
        if !self.enabled {
            return Ok(());
        }
        let options = self.options(bot);
        let fail = |key: &str, message: &str| Err((format!("slack.{key}"), message.to_owned()));
        if !is_http_url(&self.api_url) {
            return fail("api_url", "expected Slack's Web API URL, https://slack.com/api");
        }
        if self.channel_pace > Duration::from_secs(60) {
            return fail("channel_pace", "expected at most 1m between two messages to a channel");
        }
        if !options.bot_token.is_empty() && !options.bot_token.starts_with("xoxb-") {
            return fail(
                "bot_token",
                "expected a bot token starting with xoxb- (OAuth & Permissions, Bot User OAuth Token)",
            );
        }
        if self.mode == "socket" && options.app_token.as_deref().is_some_and(|token| !token.starts_with("xapp-")) {
            return fail(
                "app_token",
                "expected an app-level token starting with xapp- (Basic Information, App-Level Tokens)",
            );
        }
        match self.mode.as_str() {
            "socket" if options.app_token.is_none() => {
                fail("app_token", "Socket Mode needs an app-level token (xapp-…)")
            }
            "http" if options.signing_secret.is_none() => {
                fail("signing_secret", "HTTP mode needs the app's signing secret")
            }
            "socket" | "http" if options.bot_token.is_empty() => fail("bot_token", "expected the bot token (xoxb-…)"),
            "socket" | "http" if !(1..=10).contains(&self.socket_connections) => {
                fail("socket_connections", "expected 1 to 10 (Slack allows 10 connections per app)")
            }
            "socket" | "http" => Ok(()),
            other => Err(("slack.mode".into(), format!("expected \"socket\" or \"http\", got {other:?}"))),
        }
    }
}

/// `[scheduler]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// How often each replica looks for due jobs.
    #[serde(deserialize_with = "duration")]
    pub tick: Duration,
    /// How long a job taken by a replica may stay unfinished before another replica takes it over.
    #[serde(deserialize_with = "duration")]
    pub reclaim_after: Duration,
    /// How many times a failing job is tried before it goes to the dead-letter queue.
    pub max_attempts: u32,
    /// How long the replica that handled a command has to send the answer before another
    /// replica sends what is left.
    #[serde(deserialize_with = "duration")]
    pub delivery_grace: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        let defaults = firebell_runtime::scheduler::SchedulerOptions::default();
        Self {
            tick: defaults.tick,
            reclaim_after: defaults.reclaim_after,
            max_attempts: defaults.max_attempts,
            delivery_grace: firebell_runtime::dispatcher::DispatchOptions::default().delivery_grace,
        }
    }
}

impl SchedulerConfig {
    /// The scheduler's options.
    pub fn options(&self) -> firebell_runtime::scheduler::SchedulerOptions {
        firebell_runtime::scheduler::SchedulerOptions {
            tick: self.tick,
            reclaim_after: self.reclaim_after,
            max_attempts: self.max_attempts,
            ..Default::default()
        }
    }
}

fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(&text)
        .map_err(|_| serde::de::Error::custom(format!("expected a duration like 30m or 24h, got {text:?}")))
}

/// A configuration the bot cannot run with.
#[derive(Debug)]
pub struct ConfigError {
    file: PathBuf,
    key: Option<String>,
    line: Option<usize>,
    message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ", key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    fn new(file: &Path, key: Option<String>, message: impl Into<String>) -> Self {
        Self { file: file.to_owned(), key, line: None, message: message.into() }
    }
}

/// Reads and checks the configuration in `file` against the plugins in `registry`.
pub fn load(file: &Path, registry: &Registry) -> Result<(Config, Teams), ConfigError> {
    let text = std::fs::read_to_string(file)
        .map_err(|err| ConfigError::new(file, None, format!("cannot read the config file: {err}")))?;
    let config = parse(file, &text)?;
    let teams = check(file, &text, &config, registry)?;
    Ok((config, teams))
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
    let deserializer = toml::Deserializer::parse(text).map_err(|err| ConfigError {
        line: err.span().map(|span| line_of(text, span.start)),
        ..ConfigError::new(file, None, format!("not valid TOML: {}", err.message()))
    })?;
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let key = err.path().to_string();
        let inner = err.into_inner();
        let line = inner.span().map(|span| line_of(text, span.start)).or_else(|| line_of_key(text, &key));
        ConfigError { line, ..ConfigError::new(file, (key != ".").then_some(key), inner.message().to_owned()) }
    })
}

/// The line where `key` (a path like `teams[0].members[1].ids`) is written in `text`, or where
/// its closest written parent is (a missing key is reported where it belongs).
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(text).ok()?;
    let mut table: Option<&DeTable<'_>> = Some(root.get_ref());
    let mut value: Option<&toml::Spanned<DeValue<'_>>> = None;
    let mut found = None;
    for segment in key.split('.').filter(|segment| !segment.is_empty()) {
        let (name, indexes) = segment.split_once('[').map_or((segment, ""), |(name, rest)| (name, rest));
        let table_here = table.or_else(|| value.and_then(|v| v.get_ref().as_table()));
        let Some((name_span, entry)) =
            table_here.and_then(|t| t.iter().find(|(k, _)| k.get_ref() == name)).map(|(k, v)| (k.span(), v))
        else {
            break;
        };
        found = Some(name_span.start);
        value = Some(entry);
        table = None;
        for index in indexes.split('[').filter_map(|i| i.trim_end_matches(']').parse::<usize>().ok()) {
            let Some(item) = value.and_then(|v| v.get_ref().as_array()).and_then(|items| items.get(index)) else {
                return found.map(|offset| line_of(text, offset));
            };
            found = Some(item.span().start);
            value = Some(item);
        }
    }
    found.map(|offset| line_of(text, offset))
}

/// One thing wrong with a configuration: the key path and what was expected there.
type Problem = (String, String);

fn problem(key: impl Into<String>, message: impl Into<String>) -> Problem {
    (key.into(), message.into())
}

/// Checks what the types alone cannot: every value within its bounds, known plugins and
/// settings, rooms and accounts written as their platform writes them, usable teams.
fn check(file: &Path, text: &str, config: &Config, registry: &Registry) -> Result<Teams, ConfigError> {
    check_all(config, registry).map_err(|(key, message)| ConfigError {
        line: line_of_key(text, &key),
        ..ConfigError::new(file, Some(key), message)
    })
}

fn check_all(config: &Config, registry: &Registry) -> Result<Teams, Problem> {
    check_bot(&config.bot)?;
    check_store_url(&config.store.url).map_err(|message| problem("store.url", message))?;
    check_namespace(&config.store.namespace)?;
    if config.store.sentinel_user.is_some() && config.store.sentinel_password().is_none() {
        let message = "expected sentinel_password (or FIREBELL_SENTINEL_PASSWORD) with sentinel_user";
        return Err(problem("store.sentinel_user", message));
    }
    check_console(&config.console)?;
    check_scheduler(&config.scheduler)?;
    check_alertmanager(&config.alertmanager)?;
    config.http.check().map_err(|(key, message)| problem(key, message))?;
    config.matrix.check().map_err(|(key, message)| problem(key, message))?;
    config.slack.check(&config.bot).map_err(|(key, message)| problem(key, message))?;
    if config.slack.enabled && config.slack.mode == "http" && config.http.listen.is_none() {
        return Err(problem(
            "slack.mode",
            "[slack] mode = \"http\" needs [http] listen, where Slack posts its requests",
        ));
    }
    for (index, team) in config.teams.iter().enumerate() {
        check_team(config, registry, index, team)?;
    }
    Teams::new(config.teams.clone()).map_err(|err| problem(err.key, err.message))
}

/// Checks that `value` is within `min..=max`; the error names the key.
fn within<T: PartialOrd + fmt::Debug>(key: &str, value: T, min: T, max: T, what: &str) -> Result<(), Problem> {
    if (min..=max).contains(&value) { Ok(()) } else { Err(problem(key, format!("expected {what}, got {value:?}"))) }
}

fn duration_within(key: &str, value: Duration, min: Duration, max: Duration) -> Result<(), Problem> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    let show = firebell_core::settings::show_duration;
    Err(problem(key, format!("expected a duration from {} to {}, got {}", show(min), show(max), show(value))))
}

fn check_bot(bot: &BotConfig) -> Result<(), Problem> {
    if bot.name.trim().is_empty() || bot.name.contains('\n') || bot.name.chars().count() > 80 {
        return Err(problem("bot.name", format!("expected a one-line name of 1 to 80 characters, got {:?}", bot.name)));
    }
    let prefix = &bot.command_prefix;
    let usable = (1..=3).contains(&prefix.chars().count())
        && !prefix.chars().any(|c| c.is_alphanumeric() || c.is_whitespace() || c == '@' || c == '#');
    if !usable {
        return Err(problem(
            "bot.command_prefix",
            format!("expected 1 to 3 punctuation characters like \"!\", got {prefix:?}"),
        ));
    }
    duration_within("bot.shutdown_grace", bot.shutdown_grace, Duration::ZERO, Duration::from_secs(600))?;
    duration_within("bot.dedup_window", bot.dedup_window, Duration::from_secs(3600), Duration::from_secs(30 * 86_400))
}

fn check_namespace(namespace: &str) -> Result<(), Problem> {
    let usable = !namespace.is_empty()
        && namespace.len() <= 64
        && !namespace.contains(|c: char| c.is_whitespace() || c == '{' || c == '}');
    if usable {
        return Ok(());
    }
    Err(problem(
        "store.namespace",
        format!("expected a word of 1 to 64 characters without {{ or }}, got {namespace:?}"),
    ))
}

fn check_console(console: &ConsoleConfig) -> Result<(), Problem> {
    firebell_console::check_user(&console.user).map_err(|message| problem("console.user", message))?;
    firebell_console::check_room(&console.room).map_err(|message| problem("console.room", message))
}

fn check_scheduler(scheduler: &SchedulerConfig) -> Result<(), Problem> {
    duration_within("scheduler.tick", scheduler.tick, Duration::from_millis(10), Duration::from_secs(60))?;
    duration_within(
        "scheduler.reclaim_after",
        scheduler.reclaim_after,
        Duration::from_secs(1),
        Duration::from_secs(3600),
    )?;
    if scheduler.reclaim_after < scheduler.tick * 2 {
        return Err(problem("scheduler.reclaim_after", "expected at least twice the scheduler's tick"));
    }
    within("scheduler.max_attempts", scheduler.max_attempts, 1, 100, "a number of attempts from 1 to 100")?;
    duration_within(
        "scheduler.delivery_grace",
        scheduler.delivery_grace,
        Duration::from_secs(1),
        Duration::from_secs(3600),
    )
}

fn check_alertmanager(alertmanager: &AlertmanagerConfig) -> Result<(), Problem> {
    if let Some(url) = &alertmanager.url
        && !is_http_url(url)
    {
        return Err(problem("alertmanager.url", format!("expected http://HOST:PORT, got {url:?}")));
    }
    let label = &alertmanager.team_label;
    if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(problem(
            "alertmanager.team_label",
            format!("expected an alert label name like \"team\", got {label:?}"),
        ));
    }
    match &alertmanager.fallback_room {
        Some(room) => check_room(room).map_err(|message| problem("alertmanager.fallback_room", message)),
        None => Ok(()),
    }
}

/// Whether `url` is an http(s) URL with a host.
fn is_http_url(url: &str) -> bool {
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
    rest.is_some_and(|rest| !rest.is_empty() && !rest.starts_with(['/', ':']) && !rest.contains(char::is_whitespace))
}

/// Checks a room as its platform writes it.
fn check_room(room: &firebell_core::ids::RoomRef) -> Result<(), String> {
    match room.transport {
        Transport::Console => firebell_console::check_room(&room.id),
        Transport::Matrix => firebell_matrix::check_room(&room.id),
        Transport::Slack => firebell_slack::check_room(&room.id),
    }
}

/// Checks an account as its platform writes it.
fn check_user(user: &firebell_core::ids::UserRef) -> Result<(), String> {
    match user.transport {
        Transport::Console => firebell_console::check_user(&user.id),
        Transport::Matrix => firebell_matrix::check_user(&user.id),
        Transport::Slack => firebell_slack::check_user(&user.id),
    }
}

/// Whether the adapter of `transport` is enabled.
fn enabled(config: &Config, transport: Transport) -> bool {
    match transport {
        Transport::Console => config.console.enabled,
        Transport::Matrix => config.matrix.enabled,
        Transport::Slack => config.slack.enabled,
    }
}

fn check_team(config: &Config, registry: &Registry, index: usize, team: &Team) -> Result<(), Problem> {
    let key = |rest: &str| format!("teams[{index}]{rest}");
    let known: Vec<&str> = registry.plugins().iter().map(|p| p.name()).collect();
    for (number, name) in team.plugins.iter().flatten().enumerate() {
        if !known.contains(&name.as_str()) {
            let message = format!("unknown plugin {name:?}; expected one of {}", known.join(", "));
            return Err(problem(key(&format!(".plugins[{number}]")), message));
        }
    }
    for (plugin, values) in &team.settings {
        let key = |rest: &str| key(&format!(".settings.{plugin}{rest}"));
        let Some(plugin) = registry.plugin(plugin) else {
            return Err(problem(key(""), format!("unknown plugin; expected one of {}", known.join(", "))));
        };
        for (name, value) in values {
            let Some(spec) = plugin.settings().iter().find(|s| s.key == name) else {
                let declared: Vec<&str> = plugin.settings().iter().map(|s| s.key).collect();
                let expected = if declared.is_empty() { "none".to_owned() } else { declared.join(", ") };
                return Err(problem(
                    key(&format!(".{name}")),
                    format!("unknown setting; {} has: {expected}", plugin.name()),
                ));
            };
            spec.kind
                .check(&value.to_string(), Some(team))
                .map_err(|message| problem(key(&format!(".{name}")), message))?;
        }
    }
    for (plugin, config) in &team.config {
        let key = key(&format!(".config.{plugin}"));
        let Some(found) = registry.plugin(plugin) else {
            return Err(problem(key, format!("unknown plugin; expected one of {}", known.join(", "))));
        };
        found.check_config(team, config).map_err(|message| problem(key, message))?;
    }
    let rooms = team
        .admin_rooms
        .iter()
        .enumerate()
        .map(|(n, room)| (format!(".admin_rooms[{n}]"), room))
        .chain(team.public_rooms.iter().enumerate().map(|(n, room)| (format!(".public_rooms[{n}]"), room)));
    for (at, room) in rooms {
        check_room(room).map_err(|message| problem(key(&at), message))?;
    }
    for (number, member) in team.members.iter().enumerate() {
        if let Some(push) = member.push.as_ref().filter(|push| !is_http_url(&push.url)) {
            let message = format!("expected an http:// or https:// URL to post pages to, got {:?}", push.url);
            return Err(problem(key(&format!(".members[{number}].push.url")), message));
        }
        for (id_number, user) in member.ids.iter().enumerate() {
            check_user(user)
                .map_err(|message| problem(key(&format!(".members[{number}].ids[{id_number}]")), message))?;
        }
    }
    let reachable = team.admin_rooms.iter().any(|room| enabled(config, room.transport));
    if !team.admin_rooms.is_empty() && !reachable {
        let transports: Vec<&str> = team.admin_rooms.iter().map(|room| room.transport.as_str()).collect();
        return Err(problem(
            key(".admin_rooms"),
            format!(
                "no admin room is on an enabled adapter (these are on {}); enable one, e.g. [{}] enabled = true",
                transports.join(", "),
                transports[0]
            ),
        ));
    }
    Ok(())
}

/// Checks a store URL's scheme; the error says what was expected.
pub fn check_store_url(url: &str) -> Result<(), String> {
    let schemes = ["redis://", "rediss://", "redis+sentinel://", "redis+cluster://"];
    let known = url == "memory://" || schemes.iter().any(|scheme| url.starts_with(scheme));
    if known {
        Ok(())
    } else {
        Err(format!(
            "expected memory://, redis://HOST:PORT[/DB], rediss://…, redis+sentinel://HOST:PORT,…/MASTER or \
             redis+cluster://HOST:PORT,…, got {url:?}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Registry {
        crate::standard_plugins()
    }

    #[test]
    fn http_and_alertmanager_are_optional_and_checked() {
        let err = load_text("[http]\nlisten = \"localhost\"\n").unwrap_err();
        assert!(err.starts_with("test.toml line 2, key `http.listen`: invalid socket address"), "{err}");
        let err = load_text("[alertmanager]\nurl = \"127.0.0.1:9093\"\n").unwrap_err();
        assert_eq!(err, "test.toml line 2, key `alertmanager.url`: expected http://HOST:PORT, got \"127.0.0.1:9093\"");
        assert!(load_text("[http]\nlisten = \"127.0.0.1:0\"\n[alertmanager]\nurl = \"http://am:9093\"\n").is_ok());
    }

    #[test]
    fn matrix_needs_a_homeserver_a_user_and_a_secret_when_enabled() {
        let err = load_text("[matrix]\nenabled = true\nhomeserver = \"matrix.org\"\n").unwrap_err();
        assert_eq!(err, "test.toml line 3, key `matrix.homeserver`: expected https://HOST, got \"matrix.org\"");
        let err = load_text("[matrix]\nenabled = true\nhomeserver = \"https://hs\"\nuser_id = \"bot\"\n").unwrap_err();
        assert_eq!(err, "test.toml line 4, key `matrix.user_id`: expected @name:server, got \"bot\"");
        assert!(load_text("[matrix]\nenabled = false\n").is_ok(), "checked only when enabled");
    }

    fn load_text(text: &str) -> Result<Teams, String> {
        let file = Path::new("test.toml");
        let config = parse(file, text).map_err(|e| e.to_string())?;
        check(file, text, &config, &registry()).map_err(|e| e.to_string())
    }

    const TEAM: &str = r##"
[[teams]]
id = "wmcs"
name = "WMCS"
admin_rooms = ["console:#admin"]
"##;

    #[test]
    fn a_team_without_a_roster_says_so_instead_of_listing_nobody() {
        let text = format!("{TEAM}[teams.settings.paging]\noncall = \"alice\"\n");
        let err = load_text(&text).unwrap_err();
        assert!(err.ends_with("expected \"\" (team wmcs's roster is empty: add [[teams.members]] to the config to name someone), got \"alice\""), "{err}");
        assert!(!err.contains("()"), "{err}");
    }

    #[test]
    fn the_example_config_loads() {
        let (config, teams) = load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml")), &registry())
            .expect("config.example.toml is valid");
        assert_eq!(config.store.url, "memory://");
        assert!(config.console.enabled);
        let (team, _) = teams.for_room(&"console:#wikimedia-cloud-admin".parse().unwrap()).expect("admin room");
        assert_eq!(team.id.as_str(), "wmcs");
        assert!(teams.for_room(&"console:#wikimedia-cloud".parse().unwrap()).is_some());
    }

    #[test]
    fn errors_name_the_file_the_key_and_what_was_expected() {
        let err = load_text("[store]\nurl = \"redis+sentinel://h:1/m\"\nsentinel_user = \"bot\"\n").unwrap_err();
        assert_eq!(
            err,
            "test.toml line 3, key `store.sentinel_user`: expected sentinel_password (or FIREBELL_SENTINEL_PASSWORD) with sentinel_user"
        );
        let err = load_text("[store]\nurl = \"postgres://x\"\n").unwrap_err();
        assert_eq!(
            err,
            "test.toml line 2, key `store.url`: expected memory://, redis://HOST:PORT[/DB], rediss://…, redis+sentinel://HOST:PORT,…/MASTER or redis+cluster://HOST:PORT,…, got \"postgres://x\""
        );
        let err = load_text(&format!(
            "{TEAM}[[teams.members]]\nname = \"a\"\ntimezone = \"Mars/Base\"\nids = [\"console:a\"]\n"
        ))
        .unwrap_err();
        assert!(
            err.starts_with("test.toml line 8, key `teams[0].members[0].timezone`: expected an IANA timezone like \"Europe/Madrid\", got \"Mars/Base\""),
            "{err}"
        );
        let err = load_text(&format!("{TEAM}plugins = [\"pager\"]\n")).unwrap_err();
        assert!(err.contains("key `teams[0].plugins[0]`: unknown plugin \"pager\"; expected one of"), "{err}");
        let err = load_text(&format!("{TEAM}[teams.settings.incident]\nhandoff_offer_ttl = \"soon\"\n")).unwrap_err();
        assert!(err.contains("key `teams[0].settings.incident.handoff_offer_ttl`: expected a duration"), "{err}");
        let err = load_text("[bot]\ndedup_window = 5\n").unwrap_err();
        assert!(err.contains("key `bot.dedup_window`"), "{err}");
        let err = load_text("[bot]\nnmae = \"x\"\n").unwrap_err();
        assert!(err.contains("unknown field `nmae`"), "{err}");
        let err = load_text("[[teams]]\nid = \"WMCS\"\nname = \"x\"\n").unwrap_err();
        assert!(err.contains("key `teams[0].id`: expected a team id"), "{err}");
        let err = load_text(&format!("{TEAM}public_rooms = [\"irc:#x\"]\n")).unwrap_err();
        assert!(err.contains("key `teams[0].public_rooms[0]`: unknown transport \"irc\""), "{err}");
        let err = load_text("[scheduler]\ndelivery_grace = \"0s\"\n").unwrap_err();
        assert!(err.contains("key `scheduler.delivery_grace`: expected a duration from 1s to 1h"), "{err}");
        let err = load_text("not = [toml").unwrap_err();
        assert!(err.starts_with("test.toml line 1: not valid TOML"), "{err}");
    }

    /// A team with two members, for the broken configs to break.
    /// An on-call schedule with one layer, with `line` added or replacing the line of its key.
    fn layer(line: &str) -> String {
        let mut lines = vec![
            "rotation = \"weekly\"",
            "handoff = \"09:00\"",
            "start = \"2026-11-30\"",
            "participants = [\"alice\", \"bob\"]",
        ];
        let key = line.split(' ').next().unwrap_or_default();
        lines.retain(|existing| !existing.starts_with(&format!("{key} ")));
        lines.push(line);
        format!(
            "[teams.config.oncall]\ntimezone = \"Europe/Madrid\"\n[[teams.config.oncall.layers]]\nname = \"primary\"\n{}\n",
            lines.join("\n")
        )
    }

    #[test]
    fn an_on_call_schedule_in_the_config_is_checked_with_the_roster() {
        let roster = |extra: &str| format!("{ROSTER}{extra}");
        assert!(load_text(&roster(&layer("only = [\"weekdays 08:00-17:00\"]"))).is_ok());
        let err = load_text(&roster(&layer("rotation = \"fortnightly\""))).unwrap_err();
        assert!(err.contains("key `teams[0].config.oncall`: layers[0].rotation: expected a rotation"), "{err}");
        let err = load_text(&roster(&layer("participants = [\"mallory\"]"))).unwrap_err();
        assert!(err.contains("mallory"), "{err}");
        let err = load_text(&roster("[teams.config.incident]\nx = 1\n")).unwrap_err();
        assert!(err.ends_with("this plugin takes no configuration table"), "{err}");
    }

    const ROSTER: &str = r##"
[[teams]]
id = "wmcs"
name = "WMCS"
admin_rooms = ["console:#admin"]
public_rooms = ["console:#public"]
[[teams.members]]
name = "alice"
timezone = "Europe/Madrid"
ids = ["console:alice"]
[[teams.members]]
name = "bob"
timezone = "Europe/Madrid"
ids = ["console:bob"]
"##;

    #[test]
    fn broken_configs_are_refused_with_line_key_and_expectation() {
        let roster = |extra: &str| format!("{ROSTER}{extra}");
        let swap = |from: &str, to: &str| ROSTER.replacen(from, to, 1);
        let cases: Vec<(String, &str)> = vec![
            ("[bot]\ncommand_prefix = \"\"\n".into(), "bot.command_prefix"),
            ("[bot]\ncommand_prefix = \"x\"\n".into(), "bot.command_prefix"),
            ("[bot]\ncommand_prefix = \"! \"\n".into(), "bot.command_prefix"),
            ("[bot]\nname = \"\"\n".into(), "bot.name"),
            ("[bot]\ndedup_window = \"0s\"\n".into(), "bot.dedup_window"),
            ("[bot]\ndedup_window = \"300000y\"\n".into(), "bot.dedup_window"),
            ("[store]\nnamespace = \"\"\n".into(), "store.namespace"),
            ("[store]\nnamespace = \"a{b}\"\n".into(), "store.namespace"),
            ("[console]\nuser = \"\"\n".into(), "console.user"),
            ("[console]\nroom = \"ops\"\n".into(), "console.room"),
            ("[scheduler]\ntick = \"0s\"\n".into(), "scheduler.tick"),
            ("[scheduler]\ntick = \"300000y\"\n".into(), "scheduler.tick"),
            ("[scheduler]\nreclaim_after = \"0s\"\n".into(), "scheduler.reclaim_after"),
            ("[scheduler]\nmax_attempts = 0\n".into(), "scheduler.max_attempts"),
            ("[scheduler]\nmax_attempts = -1\n".into(), "scheduler.max_attempts"),
            ("[scheduler]\ndelivery_grace = \"300000y\"\n".into(), "scheduler.delivery_grace"),
            ("[alertmanager]\nurl = \"http://\"\n".into(), "alertmanager.url"),
            ("[alertmanager]\nteam_label = \"\"\n".into(), "alertmanager.team_label"),
            ("[alertmanager]\nfallback_room = \"matrix:ops\"\n".into(), "alertmanager.fallback_room"),
            ("[matrix]\nenabled = true\nhomeserver = \"https://hs\"\nuser_id = \"@bot:hs\"\npassword = \"x\"\nadmin_power_level = 0\n".into(), "matrix.admin_power_level"),
            ("[slack]\nenabled = true\nbot_token = \"xoxb-1\"\napp_token = \"xoxb-2\"\n".into(), "slack.app_token"),
            ("[slack]\nenabled = true\nbot_token = \"token\"\napp_token = \"xapp-1\"\n".into(), "slack.bot_token"),
            ("[slack]\nenabled = true\nmode = \"http\"\nbot_token = \"xoxb-1\"\nsigning_secret = \"s\"\n".into(), "slack.mode"),
            ("[slack]\nenabled = true\nbot_token = \"xoxb-1\"\napp_token = \"xapp-1\"\nsocket_connections = 0\n".into(), "slack.socket_connections"),
            (roster("[teams.settings.incident]\nhandoff_after = \"300000y\"\n"), "teams[0].settings.incident.handoff_after"),
            (roster("[teams.settings.incident]\nreminder_interval = \"0s\"\n"), "teams[0].settings.incident.reminder_interval"),
            (roster("[teams.settings.incident]\nsnooze_max = \"0s\"\n"), "teams[0].settings.incident.snooze_max"),
            (roster("[teams.settings.incident]\nhandoff_offer_ttl = -5\n"), "teams[0].settings.incident.handoff_offer_ttl"),
            (roster("[teams.settings.oncall]\nworkday_start = 99\n"), "teams[0].settings.oncall.workday_start"),
            (roster("[teams.settings.oncall]\nworkday_end = 0\n"), "teams[0].settings.oncall.workday_end"),
            (roster("[teams.settings.paging]\npage_severity = \"\"\n"), "teams[0].settings.paging.page_severity"),
            (roster("[teams.settings.paging]\noncall = \"bobb\"\n"), "teams[0].settings.paging.oncall"),
            (roster("[teams.settings.paging]\nsilence_for = \"1s\"\n"), "teams[0].settings.paging.silence_for"),
            (roster("[teams.settings.paging]\nnope = 1\n"), "teams[0].settings.paging.nope"),
            (swap("admin_rooms = [\"console:#admin\"]\n", "admin_rooms = []\n"), "teams[0].admin_rooms"),
            (swap("admin_rooms = [\"console:#admin\"]\n", ""), "teams[0].admin_rooms"),
            (swap("ids = [\"console:bob\"]", "ids = []"), "teams[0].members[1].ids"),
            (swap("ids = [\"console:bob\"]", "ids = [\"console:alice\"]"), "teams[0].members[1].ids[0]"),
            (swap("name = \"bob\"", "name = \"Alice\""), "teams[0].members[1].name"),
            (swap("name = \"bob\"", "name = \"bob smith\""), "teams[0].members[1].name"),
            (swap("name = \"WMCS\"", "name = \"\""), "teams[0].name"),
            (swap("ids = [\"console:bob\"]", "ids = [\"matrix:bob\"]"), "teams[0].members[1].ids[0]"),
            (swap("ids = [\"console:bob\"]", "ids = [\"slack:bob\"]"), "teams[0].members[1].ids[0]"),
            (swap("\"console:#admin\"]", "\"matrix:admin\"]"), "teams[0].admin_rooms[0]"),
            (swap("\"console:#public\"]", "\"slack:#public\"]"), "teams[0].public_rooms[0]"),
            (swap("\"console:#public\"]", "\"console:#admin\"]"), "teams[0].public_rooms[0]"),
            (swap("timezone = \"Europe/Madrid\"\nids = [\"console:bob\"]", "timezone = \"Mars\"\nids = [\"console:bob\"]"), "teams[0].members[1].timezone"),
            (format!("{ROSTER}{}", ROSTER.replace("console:#admin", "console:#other").replace("console:#public", "console:#p2")), "teams[1].id"),
            (format!("[console]\nenabled = false\n{ROSTER}"), "teams[0].admin_rooms"),
            (swap("name = \"WMCS\"\n", "name = \"WMCS\"\nplugins = [\"incident\", \"pager\"]\n"), "teams[0].plugins[1]"),
            (roster("nickname = \"bobby\"\n"), "teams[0].members[1]"),
            (roster("push = { url = \"ftp://x\" }\n"), "teams[0].members[1].push.url"),
            (format!("[http]\npublic_url = \"firebell.example.org\"\n{ROSTER}"), "http.public_url"),
            (roster(&layer("rotation = \"fortnightly\"")), "teams[0].config.oncall"),
            (roster(&layer("handoff = \"9am\"")), "teams[0].config.oncall"),
            (roster(&layer("participants = [\"mallory\"]")), "teams[0].config.oncall"),
            (roster(&layer("only = [\"someday 08:00-17:00\"]")), "teams[0].config.oncall"),
            (roster(&layer("nmae = \"x\"")), "teams[0].config.oncall"),
            (roster("[teams.config.oncall]\ntimezone = \"Mars/Olympus\"\n"), "teams[0].config.oncall"),
            (roster("[teams.config.pager]\nx = 1\n"), "teams[0].config.pager"),
            (roster("[teams.config.incident]\nx = 1\n"), "teams[0].config.incident"),
        ];
        for (text, key) in &cases {
            let err = load_text(text).expect_err(&format!("refused: {key}\n{text}"));
            assert!(err.contains(&format!("key `{key}")), "{key}: {err}");
            assert!(err.starts_with("test.toml line "), "{key} has no line: {err}");
            assert!(!err.contains('\n'), "{key}: one line: {err}");
        }
        assert!(load_text(ROSTER).is_ok());
    }
}

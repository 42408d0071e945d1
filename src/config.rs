//! The configuration file: reading it, and refusing it with an error that names the file, the
//! key and what was expected.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use firebell_core::plugin::Registry;
use firebell_core::team::{Team, Teams};
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
}

impl Default for BotConfig {
    fn default() -> Self {
        Self {
            name: "firebell".into(),
            command_prefix: "!".into(),
            answer_unknown_commands: true,
            dedup_window: Duration::from_secs(24 * 3600),
        }
    }
}

/// `[store]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `memory://` or `redis://HOST:PORT[/DB]`.
    pub url: String,
    /// The prefix of every Redis key, so that several bots can share one server.
    pub namespace: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { url: "memory://".into(), namespace: "firebell".into() }
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
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Where the HTTP server listens (`127.0.0.1:8080`); no server when unset.
    pub listen: Option<std::net::SocketAddr>,
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
        if !(self.homeserver.starts_with("http://") || self.homeserver.starts_with("https://")) {
            return Err(("matrix.homeserver".into(), format!("expected https://HOST, got {:?}", self.homeserver)));
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
        let defaults = firebell_core::scheduler::SchedulerOptions::default();
        Self {
            tick: defaults.tick,
            reclaim_after: defaults.reclaim_after,
            max_attempts: defaults.max_attempts,
            delivery_grace: firebell_core::dispatcher::DispatchOptions::default().delivery_grace,
        }
    }
}

impl SchedulerConfig {
    /// The scheduler's options.
    pub fn options(&self) -> firebell_core::scheduler::SchedulerOptions {
        firebell_core::scheduler::SchedulerOptions {
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
    let teams = check(file, &config, registry)?;
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
        ConfigError {
            line: inner.span().map(|span| line_of(text, span.start)),
            ..ConfigError::new(file, (key != ".").then_some(key), inner.message().to_owned())
        }
    })
}

/// Checks what the types alone cannot: known plugins and settings, rooms, URLs.
fn check(file: &Path, config: &Config, registry: &Registry) -> Result<Teams, ConfigError> {
    let fail = |key: String, message: String| ConfigError::new(file, Some(key), message);
    let known: Vec<&str> = registry.plugins().iter().map(|p| p.name()).collect();
    check_store_url(&config.store.url).map_err(|message| fail("store.url".into(), message))?;
    if let Some(url) = &config.alertmanager.url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(fail("alertmanager.url".into(), format!("expected http://HOST:PORT, got {url:?}")));
    }
    config.matrix.check().map_err(|(key, message)| fail(key, message))?;
    config.slack.check(&config.bot).map_err(|(key, message)| fail(key, message))?;
    if config.scheduler.tick.is_zero() || config.scheduler.max_attempts == 0 {
        return Err(fail("scheduler".into(), "expected a tick above 0s and max_attempts of at least 1".into()));
    }
    if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&config.scheduler.delivery_grace) {
        return Err(fail(
            "scheduler.delivery_grace".into(),
            "expected between 1s and 1h: longer than sending an answer takes".into(),
        ));
    }
    if !config.console.room.starts_with('#') {
        return Err(fail(
            "console.room".into(),
            format!("expected a room like \"#wikimedia-cloud-admin\", got {:?}", config.console.room),
        ));
    }
    for (index, team) in config.teams.iter().enumerate() {
        for name in team.plugins.iter().flatten() {
            if !known.contains(&name.as_str()) {
                let message = format!("unknown plugin {name:?}; expected one of {}", known.join(", "));
                return Err(fail(format!("teams[{index}].plugins"), message));
            }
        }
        for (plugin, values) in &team.settings {
            let key = |rest: &str| format!("teams[{index}].settings.{plugin}{rest}");
            let Some(plugin) = registry.plugin(plugin) else {
                return Err(fail(key(""), format!("unknown plugin; expected one of {}", known.join(", "))));
            };
            for (name, value) in values {
                let Some(spec) = plugin.settings().iter().find(|s| s.key == name) else {
                    let declared: Vec<&str> = plugin.settings().iter().map(|s| s.key).collect();
                    let expected = if declared.is_empty() { "none".to_owned() } else { declared.join(", ") };
                    return Err(fail(
                        key(&format!(".{name}")),
                        format!("unknown setting; {} has: {expected}", plugin.name()),
                    ));
                };
                spec.kind.check(&value.to_string()).map_err(|message| fail(key(&format!(".{name}")), message))?;
            }
        }
    }
    Teams::new(config.teams.clone()).map_err(|err| fail("teams".into(), err.to_string()))
}

/// Checks a store URL's scheme; the error says what was expected.
pub fn check_store_url(url: &str) -> Result<(), String> {
    let known = url == "memory://" || url.starts_with("redis://") || url.starts_with("rediss://");
    if known { Ok(()) } else { Err(format!("expected memory:// or redis://HOST:PORT[/DB], got {url:?}")) }
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
        assert_eq!(err, "test.toml, key `alertmanager.url`: expected http://HOST:PORT, got \"127.0.0.1:9093\"");
        assert!(load_text("[http]\nlisten = \"127.0.0.1:0\"\n[alertmanager]\nurl = \"http://am:9093\"\n").is_ok());
    }

    #[test]
    fn matrix_needs_a_homeserver_a_user_and_a_secret_when_enabled() {
        let err = load_text("[matrix]\nenabled = true\nhomeserver = \"matrix.org\"\n").unwrap_err();
        assert_eq!(err, "test.toml, key `matrix.homeserver`: expected https://HOST, got \"matrix.org\"");
        let err = load_text("[matrix]\nenabled = true\nhomeserver = \"https://hs\"\nuser_id = \"bot\"\n").unwrap_err();
        assert_eq!(err, "test.toml, key `matrix.user_id`: expected @name:server, got \"bot\"");
        assert!(load_text("[matrix]\nenabled = false\n").is_ok(), "checked only when enabled");
    }

    fn load_text(text: &str) -> Result<Teams, String> {
        let file = Path::new("test.toml");
        let config = parse(file, text).map_err(|e| e.to_string())?;
        check(file, &config, &registry()).map_err(|e| e.to_string())
    }

    const TEAM: &str = r##"
[[teams]]
id = "wmcs"
name = "WMCS"
admin_rooms = ["console:#admin"]
"##;

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
        let err = load_text("[store]\nurl = \"postgres://x\"\n").unwrap_err();
        assert_eq!(
            err,
            "test.toml, key `store.url`: expected memory:// or redis://HOST:PORT[/DB], got \"postgres://x\""
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
        assert!(err.contains("key `teams[0].plugins`: unknown plugin \"pager\"; expected one of"), "{err}");
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
        assert!(err.contains("key `scheduler.delivery_grace`: expected between 1s and 1h"), "{err}");
        let err = load_text("not = [toml").unwrap_err();
        assert!(err.starts_with("test.toml line 1: not valid TOML"), "{err}");
    }
}

//! [`App`]: the whole `firebell` binary as a library, for a binary of your own with your own
//! plugins beside the standard ones:
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use firebell_core::prelude::*;
//!
//! /// Says hello.
//! #[derive(PluginInfo)]
//! #[plugin(name = "hello", commands = Hello)]
//! struct HelloPlugin;
//!
//! /// Says hello back.
//! #[derive(Command)]
//! #[command(word = "hello", permission = TeamRooms)]
//! struct Hello;
//!
//! #[async_trait]
//! impl Plugin for HelloPlugin {
//!     async fn run(&self, ctx: &Context<'_>, _: &Invocation) -> Result<Outcome, PluginError> {
//!         Ok(Outcome::act(ctx.reply(Message::text(format!("Hello, {}!", ctx.sender)))))
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     firebell::App::new().plugin(Arc::new(HelloPlugin)).run().await
//! }
//! ```
//!
//! It reads the same command line and config file, connects the same adapters, serves the same
//! HTTP endpoints and metrics, and stops the same way on SIGTERM as `firebell` itself.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use clap::Parser;
use firebell_console::{ConsoleAdapter, ConsoleOptions};
use firebell_core::adapter::Adapters;
use firebell_core::clock::{Clock, ManualClock, SystemClock};
use firebell_core::ids::Transport;
use firebell_core::plugin::{Plugin, RegisterError, Registry};
use firebell_core::store::Store;
use firebell_matrix::MatrixAdapter;
use firebell_plugin_paging::alertmanager::{AlertmanagerClient, ReceiverOptions};
use firebell_runtime::bot::Bot;
use firebell_runtime::dispatcher::{DispatchOptions, Dispatcher};
use firebell_runtime::metered::MeteredStore;
use firebell_runtime::scheduler::{Scheduler, replica_name};
use firebell_slack::{SlackAdapter, SlackMode};
use firebell_store_redis::RedisStoreError;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{self, Config, LogFormat};
use crate::{OpenStoreError, http, open_store, plugins};

/// The Firebell application: the standard plugins and yours, run as the `firebell` binary runs.
#[derive(Default)]
pub struct App {
    plugins: Vec<Arc<dyn Plugin>>,
}

impl App {
    /// The application with the standard plugins only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a plugin of your own; it is registered after the standard ones, and its name and
    /// commands must differ from theirs.
    pub fn plugin(mut self, plugin: Arc<dyn Plugin>) -> Self {
        self.plugins.push(plugin);
        self
    }

    /// Every plugin: the standard ones (with `!ack` silencing alerts when `silences` is set) and
    /// the ones added.
    pub fn registry(&self, silences: bool) -> Result<Registry, RegisterError> {
        let mut registry = plugins(silences);
        for plugin in &self.plugins {
            registry.register(plugin.clone())?;
        }
        Ok(registry)
    }

    /// Runs with the process's command line until SIGTERM or ctrl-c; an error ends it with
    /// one line on stderr and exit code 1.
    pub async fn run(self) -> ExitCode {
        self.run_with(std::env::args_os()).await
    }

    /// Runs with the command line `args` (the program's name first).
    pub async fn run_with(self, args: impl IntoIterator<Item = OsString>) -> ExitCode {
        let cli = match Cli::try_parse_from(args) {
            Ok(cli) => cli,
            Err(err) => err.exit(),
        };
        match run(&self, cli).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("firebell: {err:#}");
                ExitCode::FAILURE
            }
        }
    }
}

/// What is logged unless `FIREBELL_LOG` says otherwise: Firebell's own news (a start and a stop
/// line, takeovers, refusals) and everyone's warnings, without matrix-sdk's reports of benign
/// answers (a 404 while looking up account data) that our own errors already cover.
const DEFAULT_LOG: &str = "warn,firebell=info,matrix_sdk::http_client=off,matrix_sdk_base::room=error";

/// Firebell: a chatops bot for incident response.
#[derive(Debug, Parser)]
#[command(name = "firebell", version, about)]
struct Cli {
    /// What to do instead of running the bot.
    #[command(subcommand)]
    task: Option<Task>,
    /// The configuration file (see config.example.toml).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where shared state lives: memory:// or redis://HOST:PORT[/DB]; overrides [store] url.
    #[arg(long, global = true, value_name = "URL")]
    store: Option<String>,
    /// Runs on a manual clock starting at this UTC time (RFC 3339); the console's /sleep then
    /// moves it forward instead of waiting. For demos and reproducible transcripts.
    #[arg(long, value_name = "TIME")]
    clock: Option<DateTime<Utc>>,
    /// Prints the Slack app manifest and exits: for Socket Mode, or for HTTP when given the
    /// bot's public base URL.
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "")]
    slack_manifest: Option<String>,
    /// How log lines are written on stderr: `text` or `json` (one object per line); overrides
    /// [log] format.
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<LogFormat>,
}

/// Something the binary does instead of running the bot.
#[derive(Debug, clap::Subcommand)]
enum Task {
    /// Rewrites every record kept in an older shape in its current one (with its new index
    /// keys), in batches, then exits. Safe while replicas run; run it after upgrading them all.
    Migrate {
        /// How many records one atomic step rewrites.
        #[arg(long, default_value_t = 100)]
        batch: usize,
    },
}

/// Starts logging to stderr in `format`, at `FIREBELL_LOG`'s levels or [`DEFAULT_LOG`]'s; colour
/// only when stderr is a terminal.
fn start_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FIREBELL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.with_ansi(colour).init(),
        LogFormat::Json => logs.json().flatten_event(true).with_current_span(false).init(),
    }
}

/// The adapters that connected, by kind.
struct Connected {
    console: Option<Arc<ConsoleAdapter>>,
    matrix: Option<Arc<MatrixAdapter>>,
    slack: Option<Arc<SlackAdapter>>,
}

impl Connected {
    async fn connect(config: &Config, store: &Arc<dyn Store>) -> anyhow::Result<Self> {
        let console = config.console.enabled.then(|| Arc::new(ConsoleAdapter::stdout(config.bot.name.clone())));
        let matrix = match config.matrix.enabled {
            true => Some(Arc::new(MatrixAdapter::connect(config.matrix.options()).await?)),
            false => None,
        };
        let slack = match config.slack.enabled {
            true => Some(Arc::new(SlackAdapter::connect(config.slack.options(&config.bot), store.clone()).await?)),
            false => None,
        };
        Ok(Self { console, matrix, slack })
    }

    /// The names of the connected adapters.
    fn names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.console.is_some() {
            names.push("console");
        }
        if self.matrix.is_some() {
            names.push("matrix");
        }
        if self.slack.is_some() {
            names.push("slack");
        }
        names
    }

    fn adapters(&self) -> Adapters {
        let mut adapters = Adapters::new();
        if let Some(console) = &self.console {
            adapters = adapters.with(console.clone());
        }
        if let Some(matrix) = &self.matrix {
            adapters = adapters.with(matrix.clone());
        }
        if let Some(slack) = &self.slack {
            adapters = adapters.with(slack.clone());
        }
        adapters
    }
}

async fn run(app: &App, cli: Cli) -> anyhow::Result<()> {
    if let Some(url) = &cli.slack_manifest {
        let url = Some(url).filter(|u| !u.is_empty()).map(String::as_str);
        print!("{}", firebell_slack::manifest::manifest(&app.registry(false)?, "Firebell", url)?);
        return Ok(());
    }
    let config_file = cli.config.clone().context("--config FILE is required")?;
    let shutdown = Shutdown::listen()?;
    let (config, teams) = config::load(&config_file, &app.registry(false)?)?;
    start_logging(cli.log_format.unwrap_or(config.log.format));
    let registry = app.registry(config.alertmanager.url.is_some())?;
    if let Some(Task::Migrate { batch }) = cli.task {
        return migrate(&config, &cli, &registry, &teams, batch).await;
    }
    let url = cli.store.as_deref().unwrap_or(&config.store.url);
    let Some(store) = open_store_patiently(url, &config.store, &shutdown).await? else {
        return Ok(());
    };
    let metrics = config.http.listen.is_some().then(install_metrics).transpose()?;
    if metrics.is_some() {
        let plugins: Vec<&str> = registry.plugins().iter().map(|plugin| plugin.name()).collect();
        let enabled =
            [(config.console.enabled, "console"), (config.matrix.enabled, "matrix"), (config.slack.enabled, "slack")];
        let transports: Vec<&str> = enabled.into_iter().filter(|(on, _)| *on).map(|(_, name)| name).collect();
        firebell_runtime::metrics::start_at_zero(&plugins, &transports);
    }
    let store: Arc<dyn Store> = Arc::new(MeteredStore::new(store));

    let manual_clock = cli.clock.map(ManualClock::new);
    let clock: Arc<dyn Clock> = match &manual_clock {
        Some(clock) => Arc::new(clock.clone()),
        None => Arc::new(SystemClock),
    };
    let connected = tokio::select! {
        connected = Connected::connect(&config, &store) => connected?,
        () = shutdown.requested() => {
            tracing::info!("firebell stopped while connecting to its chat platforms");
            return Ok(());
        }
    };
    if connected.console.is_none() && connected.matrix.is_none() && connected.slack.is_none() {
        bail!("{}: no adapter is enabled; enable [console], [matrix] or [slack]", config_file.display());
    }
    let mut adapters = connected.adapters();
    let redelivery_windows = Transport::ALL
        .into_iter()
        .filter_map(|transport| adapters.get(transport).map(|a| (transport, a.capabilities().redelivery_window)))
        .collect();
    let options = DispatchOptions {
        prefix: config.bot.command_prefix.clone(),
        claim_ttl: config.bot.dedup_window,
        redelivery_windows,
        answer_unknown_commands: config.bot.answer_unknown_commands,
        delivery_grace: config.scheduler.delivery_grace,
        web_url: config.http.web_url(),
        web_cache: config.http.page_cache,
        link_secret: config.http.link_secret().map(String::into_bytes),
        trusted_user_header: config.http.trusted_user_header.clone(),
        ..DispatchOptions::default()
    };
    let dispatcher = Dispatcher::new(store.clone(), clock, teams, registry, options);
    if let Some(url) = &config.alertmanager.url {
        adapters = adapters.with_service(Arc::new(AlertmanagerClient::new(url)));
    }
    if let Some(slack) = &connected.slack {
        adapters = adapters.with_service(Arc::new(slack.files()));
    }
    if let Some(matrix) = &connected.matrix {
        adapters = adapters.with_service(Arc::new(matrix.files()));
    }
    adapters = adapters
        .with_service(Arc::new(firebell_plugin_paging::push::PushClient::default()))
        .with_service(Arc::new(firebell_plugin_oncall::import::CalendarFetcher::default()));
    let bot = Arc::new(Bot::new(dispatcher, adapters));
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        store = %firebell_store_redis::redacted(url),
        adapters = %connected.names().join(","),
        teams = bot.dispatcher().teams().iter().count(),
        http = %config.http.listen.map_or("off".to_owned(), |address| address.to_string()),
        "firebell started"
    );
    let (stop, stopped) = watch::channel(false);
    let (exit, exited) = watch::channel(false);
    serve_http(&config, &bot, connected.slack.as_ref(), metrics, stopped.clone(), exited).await?;

    let boot = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    bot.announce_start(&replica_name(), boot).await;
    let scheduler = Arc::new(Scheduler::new(bot.clone(), replica_name(), config.scheduler.options()));
    let mut tasks = JoinSet::new();
    if manual_clock.is_none() {
        let (scheduler, mut stopped) = (scheduler.clone(), stopped.clone());
        let matrix_synced = connected.matrix.as_ref().map(|matrix| matrix.synced());
        tasks.spawn(async move {
            // No timed work before Matrix knows its rooms: a reminder or a topic would fail.
            if let Some(mut synced) = matrix_synced {
                tokio::select! {
                    _ = synced.wait_for(|synced| *synced) => {}
                    _ = stopped.wait_for(|stopped| *stopped) => return Ok(()),
                }
            }
            scheduler.run(stopped).await;
            Ok(())
        });
    }
    if let Some(matrix) = connected.matrix.clone() {
        let (bot, stopped) = (bot.clone(), stopped.clone());
        tasks.spawn(async move { matrix.run(bot, stopped).await.map_err(anyhow::Error::from) });
    }
    if let Some(slack) = connected.slack.clone().filter(|slack| slack.mode() == SlackMode::Socket) {
        let (bot, stopped) = (bot.clone(), stopped.clone());
        tasks.spawn(
            async move { firebell_slack::run_socket_mode(slack, bot, stopped).await.map_err(anyhow::Error::from) },
        );
    }
    let result = match connected.console {
        Some(console) => {
            let options = ConsoleOptions {
                user: config.console.user,
                room: config.console.room,
                manual_clock: manual_clock.map(|clock| (clock, scheduler)),
            };
            tokio::select! {
                ended = firebell_console::run(&bot, &console, stdin_lines(), options) => ended.context("console stopped"),
                () = shutdown.requested() => Ok(()),
            }
        }
        None => until_stopped(&mut tasks, &shutdown).await,
    };
    let stopped_cleanly = shut_down(stop, tasks, &bot, config.bot.shutdown_grace).await;
    let _ = exit.send(true);
    result.and(stopped_cleanly)
}

/// `firebell migrate`: rewrites the records kept in an older shape, and says how many.
async fn migrate(
    config: &Config,
    cli: &Cli,
    registry: &Registry,
    teams: &firebell_core::team::Teams,
    batch: usize,
) -> anyhow::Result<()> {
    let url = cli.store.as_deref().unwrap_or(&config.store.url);
    let store = open_store(url, &config.store).await?;
    let done = firebell_runtime::migrate::migrate(store.as_ref(), registry, teams, batch).await?;
    println!(
        "firebell migrate: {} records read, {} rewritten in their current shape, {} unreadable, {} of a newer version (left as they are)",
        done.read, done.rewritten, done.unreadable, done.newer
    );
    Ok(())
}

/// Opens the store; while Redis cannot be reached (it is starting, or restarting), tries again
/// with backoff instead of giving up. `None` when the bot was stopped meanwhile.
async fn open_store_patiently(
    url: &str,
    options: &config::StoreConfig,
    shutdown: &Shutdown,
) -> anyhow::Result<Option<Arc<dyn Store>>> {
    let mut wait = std::time::Duration::from_secs(1);
    loop {
        let opened = tokio::select! {
            opened = open_store(url, options) => opened,
            () = shutdown.requested() => return Ok(None),
        };
        match opened {
            Ok(store) => return Ok(Some(store)),
            Err(OpenStoreError::Redis(err @ RedisStoreError::Unreachable { .. })) => {
                tracing::warn!(error = %err, ?wait, "the store cannot be reached yet; trying again");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    () = shutdown.requested() => {
                        tracing::info!("firebell stopped while waiting for the store");
                        return Ok(None);
                    }
                }
                wait = (wait * 2).min(std::time::Duration::from_secs(30));
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// Stops taking new events and timed work, then gives what is in flight (answers being sent,
/// job runs) up to `grace` to finish; what is left stays in the store for another replica.
async fn shut_down(
    stop: watch::Sender<bool>,
    mut tasks: JoinSet<anyhow::Result<()>>,
    bot: &Bot,
    grace: std::time::Duration,
) -> anyhow::Result<()> {
    tracing::debug!(?grace, "stopping: no new events; finishing what is in flight");
    let started = tokio::time::Instant::now();
    let _ = stop.send(true);
    let mut outcome = Ok(());
    let joined = tokio::time::timeout(grace, async {
        while let Some(done) = tasks.join_next().await {
            if let Err(err) = done.context("a task stopped abnormally").and_then(|ended| ended) {
                outcome = Err(err);
            }
        }
    })
    .await;
    if joined.is_err() {
        tracing::warn!("a task did not stop within the grace; leaving it");
    }
    let left = bot.drain(grace.saturating_sub(started.elapsed())).await;
    if left > 0 {
        tracing::warn!(left, "firebell stopped; deliveries still going were left to the other replicas' watchdogs");
    } else {
        tracing::info!(took = ?started.elapsed(), "firebell stopped; everything in flight was finished");
    }
    outcome
}

/// SIGTERM or ctrl-c, listened for from the start to the end of the process: every state it can
/// be in (waiting for the store, connecting to a platform, running, draining) waits on it, so a
/// signal is never missed between two waits.
#[derive(Clone)]
struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Starts listening.
    fn listen() -> anyhow::Result<Self> {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot listen for SIGTERM")?;
        let (requested, listened) = watch::channel(false);
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            let _ = requested.send(true);
        });
        Ok(Self(listened))
    }

    /// Waits until a stop was asked for (at once if it was already).
    async fn requested(&self) {
        let mut listened = self.0.clone();
        let _ = listened.wait_for(|requested| *requested).await;
    }
}

/// Standard input, read on a thread of its own: a read pending in tokio's blocking pool would
/// hold the process at exit until a line came, so a SIGTERM with stdin still open would log
/// "stopped" and run on.
fn stdin_lines() -> impl tokio::io::AsyncBufRead + Unpin {
    use tokio::io::AsyncWriteExt;
    let (mut writer, reader) = tokio::io::duplex(64 * 1024);
    let runtime = tokio::runtime::Handle::current();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 8192];
        let mut stdin = std::io::stdin().lock();
        while let Ok(read @ 1..) = std::io::Read::read(&mut stdin, &mut buffer) {
            if runtime.block_on(writer.write_all(&buffer[..read])).is_err() {
                break;
            }
        }
    });
    tokio::io::BufReader::new(reader)
}

/// Starts the HTTP server when configured: the Alertmanager webhook, and Slack in HTTP mode.
async fn serve_http(
    config: &Config,
    bot: &Arc<Bot>,
    slack: Option<&Arc<SlackAdapter>>,
    metrics: Option<PrometheusHandle>,
    stopped: watch::Receiver<bool>,
    exited: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let slack_http = slack.filter(|slack| slack.mode() == SlackMode::Http);
    let Some(listen) = config.http.listen else {
        if slack_http.is_some() {
            bail!("[slack] mode = \"http\" needs [http] listen, where Slack posts its requests");
        }
        return Ok(());
    };
    let alerts = ReceiverOptions {
        team_label: config.alertmanager.team_label.clone(),
        fallback_room: config.alertmanager.fallback_room.clone(),
        auth: config.http.webhook_auth(),
        body_limit: config.http.body_limit_mb << 20,
    };
    if !alerts.auth.is_required() && !alerts.auth.anonymous {
        tracing::warn!(%listen, "the Alertmanager webhook refuses every alert: it listens on a public address without credentials; set [http] webhook_token");
    }
    let mut routes = http::routes(bot.clone(), alerts, metrics);
    if let Some(slack) = slack_http {
        let secret = config.slack.options(&config.bot).signing_secret.unwrap_or_default();
        routes = routes.merge(firebell_slack::routes(slack.clone(), bot.clone(), &secret, stopped));
    }
    http::serve(listen, routes, http::Limits::default(), exited).await?;
    Ok(())
}

/// Installs the Prometheus recorder every metric goes to, with histogram buckets for the
/// latencies; its handle renders them for `GET /metrics`.
fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    use firebell_runtime::metrics::{
        COMMAND_LATENCY, JOB_LATENESS, LATENCY_BUCKETS, LATENESS_BUCKETS, STORE_ROUND_TRIP, describe,
    };
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(COMMAND_LATENCY.into()), LATENCY_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(STORE_ROUND_TRIP.into()), LATENCY_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(JOB_LATENESS.into()), LATENESS_BUCKETS)?
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    describe();
    Ok(handle)
}

/// Waits for SIGTERM or ctrl-c, or for a background task to stop on its own (an error).
async fn until_stopped(tasks: &mut JoinSet<anyhow::Result<()>>, shutdown: &Shutdown) -> anyhow::Result<()> {
    let task_stopped = async {
        match tasks.join_next().await {
            Some(done) => done.context("a task stopped abnormally")?,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = shutdown.requested() => Ok(()),
        stopped = task_stopped => stopped,
    }
}

//! The `firebell` binary: reads the config, opens the store, wires plugins and adapters, runs.
//! Errors end the process with one line on stderr and exit code 1.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use clap::Parser;
use firebell::{config, http, open_store, plugins, standard_plugins};
use firebell_console::{ConsoleAdapter, ConsoleOptions};
use firebell_core::adapter::Adapters;
use firebell_core::bot::Bot;
use firebell_core::clock::{Clock, ManualClock, SystemClock};
use firebell_core::dispatcher::{DispatchOptions, Dispatcher};
use firebell_core::scheduler::{Scheduler, replica_name};
use firebell_matrix::{MatrixAdapter, MatrixError};
use firebell_plugin_paging::alertmanager::{ReceiverOptions, Silences};
use tokio::sync::watch;

/// What is logged unless `FIREBELL_LOG` says otherwise: warnings, without matrix-sdk's reports
/// of benign answers (a 404 while looking up account data) that our own errors already cover.
const DEFAULT_LOG: &str = "warn,matrix_sdk::http_client=off,matrix_sdk_base::room=error";

/// Firebell: a chatops bot for incident response.
#[derive(Debug, Parser)]
#[command(name = "firebell", version, about)]
struct Cli {
    /// The configuration file (see config.example.toml).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Where shared state lives: memory:// or redis://HOST:PORT[/DB]; overrides [store] url.
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// Runs on a manual clock starting at this UTC time (RFC 3339); the console's /sleep then
    /// moves it forward instead of waiting. For demos and reproducible transcripts.
    #[arg(long, value_name = "TIME")]
    clock: Option<DateTime<Utc>>,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("firebell: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FIREBELL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();

    let cli = Cli::parse();
    let (config, teams) = config::load(&cli.config, &standard_plugins())?;
    let registry = plugins(config.alertmanager.url.is_some());
    let url = cli.store.as_deref().unwrap_or(&config.store.url);
    let store = open_store(url, &config.store.namespace).await?;

    let manual_clock = cli.clock.map(ManualClock::new);
    let clock: Arc<dyn Clock> = match &manual_clock {
        Some(clock) => Arc::new(clock.clone()),
        None => Arc::new(SystemClock),
    };
    let options = DispatchOptions {
        prefix: config.bot.command_prefix.clone(),
        claim_ttl: config.bot.dedup_window,
        answer_unknown_commands: config.bot.answer_unknown_commands,
        ..DispatchOptions::default()
    };
    let dispatcher = Dispatcher::new(store, clock, teams, registry, options);

    let console = config.console.enabled.then(|| Arc::new(ConsoleAdapter::stdout(config.bot.name.clone())));
    let matrix = match config.matrix.enabled {
        true => Some(Arc::new(MatrixAdapter::connect(config.matrix.options()).await?)),
        false => None,
    };
    let mut adapters = Adapters::new();
    if let Some(console) = &console {
        adapters = adapters.with(console.clone());
    }
    if let Some(matrix) = &matrix {
        adapters = adapters.with(matrix.clone());
    }
    if console.is_none() && matrix.is_none() {
        bail!("{}: no adapter is enabled; enable [console] or [matrix]", cli.config.display());
    }
    if let Some(url) = &config.alertmanager.url {
        adapters = adapters.with_service(Arc::new(Silences::new(url)));
    }
    let bot = Arc::new(Bot::new(dispatcher, adapters));
    if let Some(listen) = config.http.listen {
        let alerts = ReceiverOptions {
            team_label: config.alertmanager.team_label.clone(),
            fallback_room: config.alertmanager.fallback_room.clone(),
        };
        http::serve(listen, http::routes(bot.clone(), alerts)).await?;
    }

    let scheduler = Arc::new(Scheduler::new(bot.clone(), replica_name(), config.scheduler.options()));
    let (stop, stopped) = watch::channel(false);
    let mut background = Vec::new();
    if manual_clock.is_none() {
        let (scheduler, stopped) = (scheduler.clone(), stopped.clone());
        background.push(tokio::spawn(async move { scheduler.run(stopped).await }));
    }
    let mut matrix_task = matrix.map(|matrix| {
        let (bot, stopped) = (bot.clone(), stopped.clone());
        tokio::spawn(async move { matrix.run(bot, stopped).await })
    });
    let result = match console {
        Some(console) => {
            let options = ConsoleOptions {
                user: config.console.user,
                room: config.console.room,
                manual_clock: manual_clock.map(|clock| (clock, scheduler)),
            };
            let stdin = tokio::io::BufReader::new(tokio::io::stdin());
            firebell_console::run(&bot, &console, stdin, options).await.context("console stopped")
        }
        None => until_stopped(matrix_task.as_mut()).await,
    };
    let _ = stop.send(true);
    for task in background {
        task.await.context("the scheduler stopped abnormally")?;
    }
    if let Some(task) = matrix_task.filter(|task| !task.is_finished()) {
        task.await.context("the Matrix adapter stopped abnormally")??;
    }
    result
}

/// Waits for SIGTERM or ctrl-c, or for the Matrix adapter to stop on its own (an error).
async fn until_stopped(matrix: Option<&mut tokio::task::JoinHandle<Result<(), MatrixError>>>) -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let matrix_stopped = async {
        match matrix {
            Some(task) => task.await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => Ok(()),
        _ = terminate.recv() => Ok(()),
        stopped = matrix_stopped => Ok(stopped.context("the Matrix adapter stopped abnormally")??),
    }
}

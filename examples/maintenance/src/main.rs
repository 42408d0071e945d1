//! A plugin shipped in a binary of its own through `firebell::App`: maintenance windows, one per
//! component, ended by hand or when their time is up. Run it as you run `firebell`:
//! `cargo run -p firebell-example-maintenance -- --config config.example.toml`, then
//! `!maintenance start db 2h upgrading PostgreSQL`, `!maintenance list`, `!maintenance end db`.
use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use firebell_core::declare::{Command, Commands, PluginInfo, Settings};
use firebell_core::plugin::{Context, Invocation, Outcome, Plugin, PluginError, TeamContext};
use firebell_core::{async_trait, clock::after, job::Job, job::JobData, message::Message, state::Index, state::Record};
use serde::{Deserialize, Serialize};

/// Maintenance windows: planned work on a component, announced and ended on time.
#[derive(PluginInfo)]
#[plugin(name = "maintenance", commands = MaintenanceCommand, settings = MaintenanceSettings, records = [Window])]
pub struct MaintenancePlugin;
/// Starts a maintenance window on a component, e.g. `db 1h 30m upgrading PostgreSQL`.
#[derive(Command)]
#[command(word = "maintenance", sub = "start", permission = TeamMembers)]
struct Start {
    #[arg(word)]
    component: String,
    #[arg(duration, name = "for")]
    duration: Duration,
    #[arg(text)]
    text: Option<String>,
}
/// Ends a component's maintenance window now.
#[derive(Command)]
#[command(word = "maintenance", sub = "end", permission = TeamMembers)]
struct End {
    #[arg(word)]
    component: String,
}
/// Lists the maintenance windows going on.
#[derive(Command)]
#[command(word = "maintenance", sub = "list", permission = TeamRooms)]
struct List {}
#[derive(Commands)]
enum MaintenanceCommand {
    Start(Start),
    End(End),
    List(List),
}
/// How long windows may be.
#[derive(Settings)]
struct MaintenanceSettings {
    /// The longest a maintenance window may last.
    #[setting(default = "4h", min = "1m", max = "7days")]
    longest: Duration,
}
/// A window going on; its id is its component, so there is one per component at a time.
#[derive(Serialize, Deserialize)]
struct Window {
    component: String,
    until: DateTime<Utc>,
    text: String,
}
/// The windows going on, under one empty key.
const ACTIVE: Index<Window, str> = Index::new("active");
impl Record for Window {
    const KIND: &'static str = "window";
    fn id(&self) -> String {
        self.component.clone()
    }
    fn indexes(&self) -> Vec<(&'static str, String)> {
        vec![ACTIVE.entry("")]
    }
}
/// The job that ends a window when its time is up.
#[derive(Serialize, Deserialize)]
struct Expire;
impl JobData for Expire {
    const KIND: &'static str = "expire";
}

#[async_trait]
impl Plugin for MaintenancePlugin {
    async fn run(&self, ctx: &Context<'_>, command: &Invocation) -> Result<Outcome, PluginError> {
        let say = |text: String| Outcome::act(ctx.reply(Message::text(text)));
        match command.parse()? {
            MaintenanceCommand::Start(Start { component, duration, text }) => {
                let longest = ctx.settings.read::<MaintenanceSettings>().longest;
                if duration > longest {
                    return Err(PluginError::Usage(format!("at most {}", humantime::format_duration(longest))));
                }
                if let Some(window) = ctx.state.get::<Window>(&component).await? {
                    return Err(PluginError::Refused(format!("{component} is in maintenance until {}", window.until)));
                }
                let window = Window { until: after(ctx.now, duration), text: text.unwrap_or_default(), component };
                let expire = ctx.schedule(&window.component, window.until, &Expire);
                Ok(say(format!("{} in maintenance until {}. {}", window.component, window.until, window.text))
                    .write(ctx.state.put(&window))
                    .write(expire))
            }
            MaintenanceCommand::End(End { component }) => match ctx.state.get::<Window>(&component).await? {
                None => Err(PluginError::Refused(format!("{component} is not in maintenance"))),
                Some(_) => Ok(say(format!("{component}: maintenance over."))
                    .write(ctx.state.remove::<Window>(&component))
                    .write(ctx.cancel::<Expire>(&component))),
            },
            MaintenanceCommand::List(List {}) => {
                let windows: Vec<Window> = ctx.state.find_by(&ACTIVE, "").await?;
                let lines: Vec<String> = windows.iter().map(|w| format!("{} until {}", w.component, w.until)).collect();
                Ok(say(if lines.is_empty() { "No maintenance going on.".into() } else { lines.join("\n") }))
            }
        }
    }

    async fn run_job(&self, ctx: &TeamContext<'_>, job: &Job) -> Result<Outcome, PluginError> {
        let (Some(Expire), Some(window)) = (job.data::<Expire>()?, ctx.state.get::<Window>(job.about()).await?) else {
            return Ok(Outcome::default());
        };
        let over = Message::text(format!("{}: maintenance over (its time is up).", window.component));
        Ok(Outcome::default().write(ctx.state.remove::<Window>(&window.component)).and_all(ctx.tell_admin_rooms(&over)))
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    firebell::App::new().plugin(Arc::new(MaintenancePlugin)).run().await
}

#[tokio::test]
async fn a_window_is_one_per_component_and_ends_once_on_time() {
    let bot = firebell_testkit::Harness::builder().plugin(Arc::new(MaintenancePlugin)).build();
    let say =
        |line: &'static str| async { firebell_testkit::text(&bot.say("bob", "#wikimedia-cloud-admin", line).await) };
    assert_eq!(
        say("!maintenance start db 1h 30m upgrading").await,
        "db in maintenance until 2026-11-21 04:30:00 UTC. upgrading"
    );
    assert_eq!(say("!maintenance start db 1h").await, "db is in maintenance until 2026-11-21 04:30:00 UTC");
    assert_eq!(
        say("!maintenance start web 5h").await,
        "error: at most 4h; usage: !maintenance start <component> <for> [text]"
    );
    assert_eq!(say("!maintenance list").await, "db until 2026-11-21 04:30:00 UTC");
    assert_eq!(
        firebell_testkit::text(&bot.advance(Duration::from_secs(90 * 60)).await),
        "db: maintenance over (its time is up)."
    );
    assert!(bot.advance(Duration::from_secs(3600)).await.is_empty(), "once");
    assert_eq!(say("!maintenance end db").await, "db is not in maintenance");
    assert!(
        firebell::App::new().plugin(Arc::new(MaintenancePlugin)).registry(false).is_ok(),
        "beside the standard plugins"
    );
}

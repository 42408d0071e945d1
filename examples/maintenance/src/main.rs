//! A plugin in a binary of its own, through `firebell::App`: maintenance windows, ended by hand or on time. Run
//! `cargo run -p firebell-example-maintenance -- --config config.example.toml`, then `!maintenance start db 2h`.
use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use firebell_core::prelude::*;
use serde::{Deserialize, Serialize};

/// Maintenance windows: planned work on a component, announced and ended on time.
#[derive(PluginInfo)]
#[plugin(name = "maintenance", commands = MaintenanceCommand, settings = MaintenanceSettings, records = [Window])]
pub struct MaintenancePlugin;
/// Starts a maintenance window on a component, e.g. `db 1h 30m upgrading PostgreSQL`.
#[derive(Command)]
#[command(word = "maintenance", sub = "start", permission = TeamMembers)]
struct Start {
    component: String,
    #[arg(name = "for")]
    duration: Duration,
    #[arg(text)]
    text: Option<String>,
}
/// Ends a component's maintenance window now.
#[derive(Command)]
#[command(word = "maintenance", sub = "end", permission = TeamMembers)]
struct End {
    component: String,
}
/// Lists the maintenance windows going on.
#[derive(Command)]
#[command(word = "maintenance", sub = "list", permission = TeamRooms)]
struct List;
#[derive(Commands)]
enum MaintenanceCommand {
    Start(Start),
    End(End),
    List(List),
}
#[derive(Settings)]
struct MaintenanceSettings {
    /// The longest a maintenance window may last.
    #[setting(default = "4h", min = "1m", max = "7days")]
    longest: Duration,
}
/// A window going on; its id is its component, so there is one per component at a time.
#[derive(Serialize, Deserialize, Record)]
#[record(kind = "window", id = component, listed = [ACTIVE])]
struct Window {
    component: String,
    until: DateTime<Utc>,
    text: String,
}
/// The windows going on, all under the empty key.
const ACTIVE: Index<Window, str> = Index::new("active");
/// The job that ends a window when its time is up.
#[derive(Serialize, Deserialize, JobData)]
#[job(kind = "expire")]
struct Expire;

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
                let changes = [ctx.state.put(&window), ctx.schedule(&window.component, window.until, &Expire)];
                Ok(say(format!("{} in maintenance until {}. {}", window.component, window.until, window.text))
                    .writes(changes))
            }
            MaintenanceCommand::End(End { component }) => match ctx.state.get::<Window>(&component).await? {
                None => Err(PluginError::Refused(format!("{component} is not in maintenance"))),
                Some(_) => Ok(say(format!("{component}: maintenance over."))
                    .writes([ctx.state.remove::<Window>(&component), ctx.cancel::<Expire>(&component)])),
            },
            MaintenanceCommand::List(List) => {
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
    use firebell_testkit::{Harness, WMCS_ADMIN, text};
    let bot = Harness::builder().plugin(Arc::new(MaintenancePlugin)).build();
    let say = |line: &'static str| async { text(&bot.say("bob", WMCS_ADMIN, line).await) };
    let until = "until 2026-11-21 04:30:00 UTC";
    assert_eq!(say("!maintenance start db 1h 30m upgrading").await, format!("db in maintenance {until}. upgrading"));
    assert_eq!(say("!maintenance start db 1h").await, format!("db is in maintenance {until}"), "one per component");
    let usage = "usage: !maintenance start <component> <for> [text]";
    assert_eq!(say("!maintenance start web 5h").await, format!("error: at most 4h; {usage}"));
    assert_eq!(say("!maintenance list").await, format!("db {until}"));
    assert_eq!(text(&bot.advance(Duration::from_secs(90 * 60)).await), "db: maintenance over (its time is up).");
    assert!(bot.advance(Duration::from_secs(3600)).await.is_empty(), "once");
    assert_eq!(say("!maintenance end db").await, "db is not in maintenance");
    assert!(firebell::App::new().plugin(Arc::new(MaintenancePlugin)).registry(false).is_ok(), "with the others");
}

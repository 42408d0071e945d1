//! The server admin log (SAL): `!log <project> <message>` records what was done, by whom and
//! when. Entries made while the team has open incidents also land in those incidents' timelines,
//! so the report shows them. `!sal <project>` reads the latest entries back.

use firebell_core::async_trait;
use firebell_core::declare::{Command, Commands, PluginInfo};
use firebell_core::incident::{EntryKind, TimelineEntry};
use firebell_core::message::Message;
use firebell_core::plugin::{Context, Invocation, Outcome, Plugin, PluginError};
use firebell_core::store::{LogEntry, Write};

/// How many entries `!sal` shows.
const SHOWN_ENTRIES: usize = 10;

/// The server admin log: record every action taken on production systems.
#[derive(Debug, Clone, Copy, Default, PluginInfo)]
#[plugin(name = "sal", commands = SalCommand)]
pub struct SalPlugin;

/// Logs what you did to the server admin log (and to open incidents' timelines).
#[derive(Command)]
#[command(word = "log", permission = TeamRooms)]
struct Log {
    #[arg(word)]
    project: String,
    #[arg(text)]
    message: String,
}

/// Shows the latest server admin log entries of a project.
#[derive(Command)]
#[command(word = "sal", permission = TeamRooms)]
struct Sal {
    #[arg(word)]
    project: String,
}

#[derive(Commands)]
enum SalCommand {
    Log(Log),
    Sal(Sal),
}

#[async_trait]
impl Plugin for SalPlugin {
    async fn run(&self, ctx: &Context<'_>, command: &Invocation) -> Result<Outcome, PluginError> {
        match command.parse()? {
            SalCommand::Log(Log { project, message }) => Ok(log(ctx, &project, &message)),
            SalCommand::Sal(Sal { project }) => show(ctx, &project).await,
        }
    }
}

fn log(ctx: &Context<'_>, project: &str, message: &str) -> Outcome {
    let entry =
        LogEntry { at: ctx.now, by: ctx.sender.clone(), project: project.to_owned(), message: message.to_owned() };
    let mut outcome = Outcome::default().write(Write::AppendAdminLog(entry));
    for incident in &ctx.snapshot.open {
        let text = format!("[{project}] {message}");
        let entry = TimelineEntry::new(ctx.now, &ctx.sender, EntryKind::AdminLog, text);
        outcome = outcome.write(Write::AppendToOpenTimeline { number: incident.number, entry });
    }
    let shown: Vec<String> = ctx.visible_open_incidents().map(|i| i.key()).collect();
    let also = match shown.as_slice() {
        [] => String::new(),
        keys => format!("; also in the timeline of {}", keys.join(", ")),
    };
    outcome.and(ctx.reply(Message::text(format!("Logged in the server admin log for {project}{also}."))))
}

async fn show(ctx: &Context<'_>, project: &str) -> Result<Outcome, PluginError> {
    let team = ctx.require_team()?;
    let entries = ctx.store.admin_log(&team.id, project, SHOWN_ENTRIES).await?;
    if entries.is_empty() {
        let text = format!(
            "The server admin log for {project} is empty; add to it with {}log {project} <message>.",
            ctx.prefix
        );
        return Ok(Outcome::act(ctx.reply(Message::text(text))));
    }
    let mut lines = vec![format!("Latest server admin log entries for {project} (UTC):")];
    lines.extend(entries.iter().map(|e| format!("- {} {}: {}", e.at.format("%Y-%m-%d %H:%M"), e.by, e.message)));
    Ok(Outcome::act(ctx.reply(Message::text(lines.join("\n")))))
}

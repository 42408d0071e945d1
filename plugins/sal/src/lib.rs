//! The server admin log (SAL): `!log <project> <message>` records what was done, by whom and
//! when. Entries made while the team has open incidents also land in those incidents' timelines,
//! so the report shows them. `!sal <project>` reads the latest entries back.

use chrono::{DateTime, Utc};
use firebell_core::async_trait;
use firebell_core::declare::{Command, Commands, PluginInfo};
use firebell_core::ids::Person;
use firebell_core::message::Message;
use firebell_core::plugin::{Context, Invocation, Outcome, Plugin, PluginError};
use firebell_core::state::{Change, Reads, State};
use firebell_core::store::StreamRange;
use firebell_plugin_incident::{EntryKind, TimelineEntry, add_to_timeline, open_incidents_of};
use serde::{Deserialize, Serialize};

/// How many entries `!sal` shows.
const SHOWN_ENTRIES: usize = 10;
/// How many entries a project's log keeps.
const KEPT_ENTRIES: u64 = 100_000;
/// The SAL's namespace.
pub const NAMESPACE: &str = "sal";

/// One line of a team's server admin log (`!log <project> <message>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// When it was logged.
    pub at: DateTime<Utc>,
    /// Who logged it.
    pub by: Person,
    /// The project it is about (`admin`, `tools`).
    pub project: String,
    /// What was done.
    pub message: String,
}

fn stream(project: &str) -> String {
    format!("log:{project}")
}

/// The writes that add `entry` to the team's server admin log, for any plugin (paging logs the
/// silences it makes).
pub fn log_entry(reads: &Reads<'_>, entry: &LogEntry) -> [Change; 2] {
    let sal = State::new(reads, NAMESPACE);
    [sal.append(&stream(&entry.project), entry), sal.trim(&stream(&entry.project), KEPT_ENTRIES)]
}

/// The server admin log: record every action taken on production systems.
#[derive(Debug, Clone, Copy, Default, PluginInfo)]
#[plugin(name = "sal", commands = SalCommand, shared_streams = ["log:"])]
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
            SalCommand::Log(Log { project, message }) => log(ctx, &project, &message).await,
            SalCommand::Sal(Sal { project }) => show(ctx, &project).await,
        }
    }
}

async fn log(ctx: &Context<'_>, project: &str, message: &str) -> Result<Outcome, PluginError> {
    let entry =
        LogEntry { at: ctx.now, by: ctx.sender.clone(), project: project.to_owned(), message: message.to_owned() };
    let mut outcome = Outcome { writes: log_entry(ctx.reads, &entry).into(), actions: Vec::new() };
    let open = open_incidents_of(ctx.reads).await?;
    for incident in &open {
        let text = format!("[{project}] {message}");
        let entry = TimelineEntry::new(ctx.now, &ctx.sender, EntryKind::AdminLog, text);
        outcome = outcome.write(add_to_timeline(ctx.reads, incident.number, &entry));
    }
    let shown: Vec<String> = open.iter().filter(|i| i.is_public() || !ctx.is_public_room()).map(|i| i.key()).collect();
    let also = match shown.as_slice() {
        [] => String::new(),
        keys => format!("; also in the timeline of {}", keys.join(", ")),
    };
    Ok(outcome.and(ctx.reply(Message::text(format!("Logged in the server admin log for {project}{also}.")))))
}

async fn show(ctx: &Context<'_>, project: &str) -> Result<Outcome, PluginError> {
    ctx.require_team()?;
    let entries: Vec<LogEntry> = ctx.state.stream(&stream(project), StreamRange::Latest(SHOWN_ENTRIES)).await?;
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

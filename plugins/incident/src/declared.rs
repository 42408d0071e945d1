//! The incident plugin's commands and settings, declared once, typed.

use std::time::Duration;

use firebell_core::declare::{Command, Commands, Settings};
use firebell_core::ids::Person;

/// Declares an incident; you become IC if you are on the team and there is none.
#[derive(Command)]
#[command(word = "incident", sub = "declare", permission = TeamRooms)]
pub(crate) struct Declare {
    #[arg(text)]
    pub(crate) title: String,
    #[arg(flag)]
    pub(crate) user_facing: bool,
    #[arg(flag)]
    pub(crate) security: bool,
    #[arg(option = "N")]
    pub(crate) sev: Option<String>,
}

/// Declares an incident someone off the roster asked for (D3).
#[derive(Command)]
#[command(word = "incident", sub = "confirm", permission = TeamMembers)]
pub(crate) struct Confirm {
    #[arg(word)]
    pub(crate) declaration: Option<String>,
}

/// Turns down an incident someone off the roster asked for (D3).
#[derive(Command)]
#[command(word = "incident", sub = "reject", permission = TeamMembers)]
pub(crate) struct Reject {
    #[arg(word)]
    pub(crate) declaration: Option<String>,
    #[arg(text)]
    pub(crate) reason: Option<String>,
}

/// Makes you the IC if there is none; else says who is.
#[derive(Command)]
#[command(word = "ic", permission = TeamMembers)]
pub(crate) struct Ic {
    #[arg(incident)]
    pub(crate) id: Option<u64>,
}

/// Offers the IC role to someone; you stay IC until they accept.
#[derive(Command)]
#[command(word = "ic", sub = "handoff", permission = IncidentCoordinator)]
pub(crate) struct Handoff {
    #[arg(incident)]
    pub(crate) id: Option<u64>,
    #[arg(user)]
    pub(crate) user: Person,
}

/// Accepts the IC role offered to you.
#[derive(Command)]
#[command(word = "ic", sub = "accept", permission = TeamMembers)]
pub(crate) struct Accept {
    #[arg(incident)]
    pub(crate) id: Option<u64>,
}

/// Declines the IC role offered to you.
#[derive(Command)]
#[command(word = "ic", sub = "decline", permission = TeamMembers)]
pub(crate) struct Decline {
    #[arg(incident)]
    pub(crate) id: Option<u64>,
}

/// Writes the current status in the status doc.
#[derive(Command)]
#[command(word = "incident", sub = "update", permission = TeamMembers)]
pub(crate) struct Update {
    #[arg(incident)]
    pub(crate) id: Option<u64>,
    #[arg(text)]
    pub(crate) text: String,
}

/// Postpones the status reminders, e.g. for 1h.
#[derive(Command)]
#[command(word = "incident", sub = "snooze", permission = IncidentCoordinator)]
pub(crate) struct Snooze {
    #[arg(incident)]
    pub(crate) id: Option<u64>,
    #[arg(duration, name = "for")]
    pub(crate) span: Duration,
}

/// Tells everyone what you are working on.
#[derive(Command)]
#[command(word = "incident", sub = "doing", permission = TeamMembers)]
pub(crate) struct Doing {
    #[arg(incident)]
    pub(crate) id: Option<u64>,
    #[arg(text)]
    pub(crate) text: String,
}

/// Adds a task, assigned to someone if you mention them.
#[derive(Command)]
#[command(word = "incident", sub = "task", permission = TeamMembers)]
pub(crate) struct Task {
    #[arg(incident)]
    pub(crate) id: Option<u64>,
    #[arg(text)]
    pub(crate) text: String,
    #[arg(user)]
    pub(crate) user: Option<Person>,
}

/// Marks a task done.
#[derive(Command)]
#[command(word = "incident", sub = "done", permission = TeamMembers)]
pub(crate) struct Done {
    #[arg(incident)]
    pub(crate) id: Option<u64>,
    #[arg(number)]
    pub(crate) task: u64,
}

/// Adds a note to the timeline.
#[derive(Command)]
#[command(word = "incident", sub = "note", permission = TeamRooms)]
pub(crate) struct Note {
    #[arg(incident)]
    pub(crate) id: Option<u64>,
    #[arg(text)]
    pub(crate) text: String,
}

/// Records work to do after the incident, with its ticket.
#[derive(Command)]
#[command(word = "incident", sub = "followup", permission = TeamMembers)]
pub(crate) struct Followup {
    #[arg(incident)]
    pub(crate) id: Option<u64>,
    #[arg(text)]
    pub(crate) text: String,
    #[arg(ticket)]
    pub(crate) ticket: Option<String>,
}

/// Shows the status doc.
#[derive(Command)]
#[command(word = "incident", sub = "show", permission = TeamRooms)]
pub(crate) struct Show {
    #[arg(incident)]
    pub(crate) id: Option<u64>,
}

/// Lists open and recently resolved incidents.
#[derive(Command)]
#[command(word = "incident", sub = "list", permission = TeamRooms)]
pub(crate) struct List {}

/// Resolves the incident and drafts its report: its IC, or any team member while it has none.
#[derive(Command)]
#[command(word = "incident", sub = "resolve", permission = IncidentCoordinator)]
pub(crate) struct Resolve {
    #[arg(incident)]
    pub(crate) id: Option<u64>,
    #[arg(text)]
    pub(crate) summary: Option<String>,
}

/// Drafts the incident report in markdown.
#[derive(Command)]
#[command(word = "incident", sub = "report", permission = TeamRooms)]
pub(crate) struct Report {
    #[arg(incident)]
    pub(crate) id: Option<u64>,
}

/// Every command of the incident plugin, in the order `!help` lists them.
#[derive(Commands)]
pub(crate) enum IncidentCommand {
    Declare(Declare),
    Confirm(Confirm),
    Reject(Reject),
    Ic(Ic),
    Handoff(Handoff),
    Accept(Accept),
    Decline(Decline),
    Update(Update),
    Snooze(Snooze),
    Doing(Doing),
    Task(Task),
    Done(Done),
    Note(Note),
    Followup(Followup),
    Show(Show),
    List(List),
    Resolve(Resolve),
    Report(Report),
}

/// A team's timed rules and incident rooms.
#[derive(Settings)]
pub(crate) struct IncidentSettings {
    /// How long an IC handoff offer waits to be accepted.
    #[setting(default = "10m", min = "1s", max = "1day")]
    pub(crate) handoff_offer_ttl: Duration,
    /// How often the IC is reminded to update the status doc and the announcement list.
    #[setting(default = "30m", min = "1s", max = "1day")]
    pub(crate) reminder_interval: Duration,
    /// How long unresolved before the IC is reminded to send a follow-up.
    #[setting(default = "3h", min = "1s", max = "7days")]
    pub(crate) followup_after: Duration,
    /// How long as IC before a handoff is suggested.
    #[setting(default = "4h", min = "1s", max = "7days")]
    pub(crate) handoff_after: Duration,
    /// The longest the IC may snooze reminders.
    #[setting(default = "24h", min = "1m", max = "7days")]
    pub(crate) snooze_max: Duration,
    /// Whether each declared incident gets its own room, with the declarer and the IC invited.
    #[setting(default = false)]
    pub(crate) incident_rooms: bool,
}

//! The incident model and its rules, as pure state transitions.
//!
//! Every transition checks the workflow's rules (from the WMCS incident response process) and
//! either changes the incident and returns what to write in its timeline, or refuses with a
//! [`Refusal`] that says why, changing nothing. No I/O happens here; the store makes each
//! transition atomic and the plugins turn the results into messages.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use firebell_core::clock::stored;
use firebell_core::ids::{Person, RoomRef, TeamId};
use firebell_core::state::{Index, Record};

// Fields that are empty, false or zero are left out of the stored JSON (a small incident's
// record is read and written on every command) and read back as their defaults.

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One term of one person as incident coordinator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IcTerm {
    /// The coordinator.
    pub person: Person,
    /// When they became IC.
    #[serde(with = "stored")]
    pub since: DateTime<Utc>,
    /// When they stopped being IC; `None` while they still are.
    #[serde(default, with = "stored::option", skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

/// An offer of the IC role that waits for the other side to accept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffOffer {
    /// The IC making the offer.
    pub from: Person,
    /// The person asked to take over.
    pub to: Person,
    /// When the offer was made.
    #[serde(with = "stored")]
    pub at: DateTime<Utc>,
    /// When it lapses if not accepted.
    #[serde(with = "stored")]
    pub expires_at: DateTime<Utc>,
}

/// The latest line of the living status doc.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusUpdate {
    /// The status as written.
    pub text: String,
    /// Who wrote it.
    pub by: Person,
    /// When.
    #[serde(with = "stored")]
    pub at: DateTime<Utc>,
}

/// What one person says they are doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Doing {
    /// The person.
    pub person: Person,
    /// What they are doing.
    pub text: String,
    /// Since when.
    #[serde(with = "stored")]
    pub since: DateTime<Utc>,
}

/// A task on the incident's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Its number within the incident, from 1.
    pub number: u32,
    /// What needs doing.
    pub text: String,
    /// Who it is assigned to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<Person>,
    /// Who added it.
    pub added_by: Person,
    /// When it was added.
    #[serde(with = "stored")]
    pub at: DateTime<Utc>,
    /// When it was marked done.
    #[serde(default, with = "stored::option", skip_serializing_if = "Option::is_none")]
    pub done_at: Option<DateTime<Utc>>,
}

/// Work to do after the incident, tracked (ideally) in a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Followup {
    /// What needs doing.
    pub text: String,
    /// The tracking ticket, e.g. `T12345`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// Who added it.
    pub by: Person,
    /// When.
    #[serde(with = "stored")]
    pub at: DateTime<Utc>,
}

/// How an incident ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// When it was resolved.
    #[serde(with = "stored")]
    pub at: DateTime<Utc>,
    /// Who resolved it.
    pub by: Person,
    /// The resolver's summary, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// An incident and its living status doc.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// The owning team.
    pub team: TeamId,
    /// Its number within the team, from 1.
    pub number: u64,
    /// The title as declared.
    pub title: String,
    /// The status doc title: `YYYY-MM-DD [TEAM] title`.
    pub doc_title: String,
    /// The severity, 1 (worst) to 5, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<u8>,
    /// Whether users see the problem; such incidents show on the public rooms' topic.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub user_facing: bool,
    /// Whether it is a security incident; such incidents are never shown in public.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub security: bool,
    /// When it was declared.
    #[serde(with = "stored")]
    pub declared_at: DateTime<Utc>,
    /// Who declared it.
    pub declared_by: Person,
    /// Where it was declared.
    pub declared_in: RoomRef,
    /// Every IC term, oldest first; the last one is current while it has no end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ic_terms: Vec<IcTerm>,
    /// A pending IC handoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<HandoffOffer>,
    /// The latest status update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusUpdate>,
    /// Who is doing what.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub doing: Vec<Doing>,
    /// The task list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<Task>,
    /// Follow-up work.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub followups: Vec<Followup>,
    /// Set once resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    /// How many status reminders were sent.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reminders: u32,
    /// Reminders wait until then (`!incident snooze`).
    #[serde(default, with = "stored::option", skip_serializing_if = "Option::is_none")]
    pub snoozed_until: Option<DateTime<Utc>>,
    /// The incident's own rooms, once created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rooms: Vec<RoomRef>,
}

/// What kind of event a timeline entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// The incident was declared.
    Declared,
    /// Someone became IC.
    IcChange,
    /// A handoff was offered, declined or expired.
    Handoff,
    /// The status doc was updated.
    Status,
    /// Someone said what they are doing.
    Doing,
    /// A task was added or done.
    Task,
    /// A note.
    Note,
    /// A follow-up was added.
    Followup,
    /// A server admin log entry made during the incident.
    AdminLog,
    /// A page related to the incident.
    Page,
    /// The incident was resolved.
    Resolved,
}

/// One line of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// When it happened.
    #[serde(with = "stored")]
    pub at: DateTime<Utc>,
    /// Who did it, if a person did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Person>,
    /// What kind of event it was.
    pub kind: EntryKind,
    /// What happened, in a sentence.
    pub text: String,
}

impl TimelineEntry {
    /// An entry made by `by` at `at`.
    pub fn new(at: DateTime<Utc>, by: &Person, kind: EntryKind, text: impl Into<String>) -> Self {
        Self { at, by: Some(by.clone()), kind, text: text.into() }
    }
}

/// Why a transition was refused. The incident is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The incident is already resolved.
    #[error("it is already resolved")]
    Resolved,
    /// Someone else is IC.
    #[error("{0} is the IC")]
    HasIc(Person),
    /// The sender is already IC.
    #[error("you are already the IC")]
    AlreadyIc,
    /// Only the IC may do this.
    #[error("only the IC may do this; the IC is {0}")]
    NotIc(Person),
    /// Only the IC may do this, and there is none.
    #[error("there is no IC yet; become IC first with !ic")]
    NoIc,
    /// Offering the role to oneself.
    #[error("you cannot hand the IC role to yourself")]
    SelfHandoff,
    /// There is no pending offer.
    #[error("there is no pending IC handoff")]
    NoOffer,
    /// The pending offer is for someone else.
    #[error("the pending handoff is for {0}, not you")]
    OfferForOther(Person),
    /// The offer lapsed.
    #[error("the handoff offer from {0} expired; ask for a new one")]
    OfferExpired(Person),
    /// No such task.
    #[error("there is no task {0}")]
    NoSuchTask(u32),
    /// The task is already done.
    #[error("task {0} is already done")]
    TaskDone(u32),
}

/// Everything needed to declare an incident.
#[derive(Debug, Clone)]
pub struct Declaration {
    /// The owning team.
    pub team: TeamId,
    /// The team's name, for the status doc title.
    pub team_name: String,
    /// The number reserved for it.
    pub number: u64,
    /// The title.
    pub title: String,
    /// The severity, if given.
    pub severity: Option<u8>,
    /// Whether users see it.
    pub user_facing: bool,
    /// Whether it is a security incident.
    pub security: bool,
    /// Who declares it.
    pub by: Person,
    /// Where.
    pub room: RoomRef,
    /// When.
    pub at: DateTime<Utc>,
    /// Whether the declarer becomes IC (they do when they are on the team).
    pub declarer_becomes_ic: bool,
}

/// The topic of `team`'s public rooms given the incidents now `open`: the user-facing, public
/// ones are listed; with none, the team's usual topic comes back.
pub fn public_topic<'a>(team: &firebell_core::team::Team, open: impl Iterator<Item = &'a Incident>) -> String {
    let titles: Vec<&str> =
        open.filter(|i| i.user_facing && i.is_public() && i.is_open()).map(|i| i.title.as_str()).collect();
    match titles.as_slice() {
        [] => team.public_topic.clone(),
        [title] => format!("Ongoing incident: {title}"),
        many => format!("Ongoing incidents: {}", many.join("; ")),
    }
}

/// The id of incident `number` of `team`: `WMCS-3`.
pub fn incident_key(team: &TeamId, number: u64) -> String {
    format!("{}-{number}", team.as_str().to_uppercase())
}

/// The index open incidents are listed under (one key, empty).
pub const OPEN: Index<Incident, str> = Index::new("open");

impl Record for Incident {
    const KIND: &'static str = "incident";

    fn id(&self) -> String {
        self.number.to_string()
    }

    fn indexes(&self) -> Vec<(&'static str, String)> {
        if self.is_open() { vec![OPEN.entry("")] } else { Vec::new() }
    }
}

fn ensure(condition: bool, refusal: Refusal) -> Result<(), Refusal> {
    if condition { Ok(()) } else { Err(refusal) }
}

impl Incident {
    /// Declares a new incident, with the declarer as IC when they qualify.
    pub fn declare(d: Declaration) -> (Incident, Vec<TimelineEntry>) {
        let doc_title = format!("{} [{}] {}", d.at.format("%Y-%m-%d"), d.team_name, d.title);
        let mut timeline =
            vec![TimelineEntry::new(d.at, &d.by, EntryKind::Declared, format!("declared \"{}\"", d.title))];
        let mut ic_terms = Vec::new();
        if d.declarer_becomes_ic {
            ic_terms.push(IcTerm { person: d.by.clone(), since: d.at, until: None });
            timeline.push(TimelineEntry::new(d.at, &d.by, EntryKind::IcChange, "became the IC"));
        }
        let incident = Incident {
            team: d.team,
            number: d.number,
            title: d.title,
            doc_title,
            severity: d.severity,
            user_facing: d.user_facing,
            security: d.security,
            declared_at: d.at,
            declared_by: d.by,
            declared_in: d.room,
            ic_terms,
            offer: None,
            status: None,
            doing: Vec::new(),
            tasks: Vec::new(),
            followups: Vec::new(),
            resolution: None,
            reminders: 0,
            snoozed_until: None,
            rooms: Vec::new(),
        };
        (incident, timeline)
    }

    /// The incident's id: `WMCS-3`.
    pub fn key(&self) -> String {
        incident_key(&self.team, self.number)
    }

    /// Whether it is still open.
    pub fn is_open(&self) -> bool {
        self.resolution.is_none()
    }

    /// The current IC, if any.
    pub fn ic(&self) -> Option<&Person> {
        self.ic_terms.last().filter(|term| term.until.is_none()).map(|term| &term.person)
    }

    /// Whether `person` is the current IC.
    pub fn is_ic(&self, person: &Person) -> bool {
        self.ic().is_some_and(|ic| ic.user == person.user)
    }

    fn ensure_open(&self) -> Result<(), Refusal> {
        ensure(self.is_open(), Refusal::Resolved)
    }

    fn ensure_ic(&self, person: &Person) -> Result<(), Refusal> {
        match self.ic() {
            Some(ic) if ic.user == person.user => Ok(()),
            Some(ic) => Err(Refusal::NotIc(ic.clone())),
            None => Err(Refusal::NoIc),
        }
    }

    fn start_term(&mut self, person: &Person, at: DateTime<Utc>) {
        if let Some(term) = self.ic_terms.last_mut().filter(|term| term.until.is_none()) {
            term.until = Some(at);
        }
        self.ic_terms.push(IcTerm { person: person.clone(), since: at, until: None });
    }

    /// `person` becomes IC, if there is none.
    pub fn claim_ic(&mut self, person: &Person, at: DateTime<Utc>) -> Result<TimelineEntry, Refusal> {
        self.ensure_open()?;
        match self.ic() {
            Some(ic) if ic.user == person.user => return Err(Refusal::AlreadyIc),
            Some(ic) => return Err(Refusal::HasIc(ic.clone())),
            None => {}
        }
        self.start_term(person, at);
        Ok(TimelineEntry::new(at, person, EntryKind::IcChange, "became the IC"))
    }

    /// The IC `from` offers the role to `to`; the offer lapses after `ttl`.
    pub fn offer_handoff(
        &mut self,
        from: &Person,
        to: &Person,
        at: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<TimelineEntry, Refusal> {
        self.ensure_open()?;
        self.ensure_ic(from)?;
        ensure(from.user != to.user, Refusal::SelfHandoff)?;
        let expires_at = firebell_core::clock::after(at, ttl);
        self.offer = Some(HandoffOffer { from: from.clone(), to: to.clone(), at, expires_at });
        Ok(TimelineEntry::new(at, from, EntryKind::Handoff, format!("offered the IC role to {to}")))
    }

    fn pending_offer_for(&self, person: &Person, at: DateTime<Utc>) -> Result<&HandoffOffer, Refusal> {
        self.ensure_open()?;
        let offer = self.offer.as_ref().ok_or(Refusal::NoOffer)?;
        ensure(offer.to.user == person.user, Refusal::OfferForOther(offer.to.clone()))?;
        ensure(at < offer.expires_at, Refusal::OfferExpired(offer.from.clone()))?;
        Ok(offer)
    }

    /// `person` accepts the pending offer made to them and becomes IC. Returns the timeline
    /// entry and the previous IC.
    pub fn accept_handoff(&mut self, person: &Person, at: DateTime<Utc>) -> Result<(TimelineEntry, Person), Refusal> {
        let from = self.pending_offer_for(person, at)?.from.clone();
        self.offer = None;
        self.start_term(person, at);
        let text = format!("accepted the IC role from {from} and became the IC");
        Ok((TimelineEntry::new(at, person, EntryKind::IcChange, text), from))
    }

    /// `person` declines the pending offer made to them; the IC stays IC. Returns the timeline
    /// entry and the IC who offered.
    pub fn decline_handoff(&mut self, person: &Person, at: DateTime<Utc>) -> Result<(TimelineEntry, Person), Refusal> {
        let from = self.pending_offer_for(person, at)?.from.clone();
        self.offer = None;
        let text = format!("declined the IC role offered by {from}");
        Ok((TimelineEntry::new(at, person, EntryKind::Handoff, text), from))
    }

    /// Drops the pending offer if it has lapsed by `at`. Returns the lapsed offer and its entry.
    pub fn expire_offer(&mut self, at: DateTime<Utc>) -> Option<(HandoffOffer, TimelineEntry)> {
        let lapsed = self.offer.as_ref().is_some_and(|offer| at >= offer.expires_at);
        let offer = if lapsed { self.offer.take()? } else { return None };
        let text = format!("the IC handoff offer to {} expired", offer.to);
        let entry = TimelineEntry { at, by: None, kind: EntryKind::Handoff, text };
        Some((offer, entry))
    }

    /// Writes a new status update in the doc.
    pub fn update_status(&mut self, by: &Person, text: &str, at: DateTime<Utc>) -> Result<TimelineEntry, Refusal> {
        self.ensure_open()?;
        self.status = Some(StatusUpdate { text: text.to_owned(), by: by.clone(), at });
        Ok(TimelineEntry::new(at, by, EntryKind::Status, format!("status: {text}")))
    }

    /// Records what `by` is doing now, replacing what they said before.
    pub fn set_doing(&mut self, by: &Person, text: &str, at: DateTime<Utc>) -> Result<TimelineEntry, Refusal> {
        self.ensure_open()?;
        self.doing.retain(|doing| doing.person.user != by.user);
        self.doing.push(Doing { person: by.clone(), text: text.to_owned(), since: at });
        Ok(TimelineEntry::new(at, by, EntryKind::Doing, format!("doing: {text}")))
    }

    /// Adds a task, optionally assigned. Returns its number and the timeline entry.
    pub fn add_task(
        &mut self,
        by: &Person,
        text: &str,
        assignee: Option<&Person>,
        at: DateTime<Utc>,
    ) -> Result<(u32, TimelineEntry), Refusal> {
        self.ensure_open()?;
        let number = self.tasks.last().map_or(1, |task| task.number + 1);
        self.tasks.push(Task {
            number,
            text: text.to_owned(),
            assignee: assignee.cloned(),
            added_by: by.clone(),
            at,
            done_at: None,
        });
        let owner = assignee.map(|p| format!(" for {p}")).unwrap_or_default();
        Ok((number, TimelineEntry::new(at, by, EntryKind::Task, format!("task {number}{owner}: {text}"))))
    }

    /// Marks task `number` done.
    pub fn complete_task(&mut self, by: &Person, number: u32, at: DateTime<Utc>) -> Result<TimelineEntry, Refusal> {
        self.ensure_open()?;
        let task = self.tasks.iter_mut().find(|t| t.number == number).ok_or(Refusal::NoSuchTask(number))?;
        ensure(task.done_at.is_none(), Refusal::TaskDone(number))?;
        task.done_at = Some(at);
        let text = format!("task {number} done: {}", task.text);
        Ok(TimelineEntry::new(at, by, EntryKind::Task, text))
    }

    /// Adds a note to the timeline. Notes may be added after resolution too.
    pub fn note(&self, by: &Person, text: &str, at: DateTime<Utc>) -> TimelineEntry {
        TimelineEntry::new(at, by, EntryKind::Note, text)
    }

    /// Adds a follow-up, with its ticket if known. Allowed after resolution too.
    pub fn add_followup(&mut self, by: &Person, text: &str, ticket: Option<&str>, at: DateTime<Utc>) -> TimelineEntry {
        self.followups.push(Followup { text: text.to_owned(), ticket: ticket.map(str::to_owned), by: by.clone(), at });
        let tracked = ticket.map(|t| format!(" ({t})")).unwrap_or_default();
        TimelineEntry::new(at, by, EntryKind::Followup, format!("follow-up: {text}{tracked}"))
    }

    /// Resolves the incident. Only the IC may, or any team member (the command's permission)
    /// while it has none: the seed's rule.
    pub fn resolve(&mut self, by: &Person, summary: Option<&str>, at: DateTime<Utc>) -> Result<TimelineEntry, Refusal> {
        self.ensure_open()?;
        if self.ic().is_some() {
            self.ensure_ic(by)?;
        }
        if let Some(term) = self.ic_terms.last_mut().filter(|term| term.until.is_none()) {
            term.until = Some(at);
        }
        self.offer = None;
        self.resolution = Some(Resolution { at, by: by.clone(), summary: summary.map(str::to_owned) });
        let text = match summary {
            Some(summary) => format!("resolved the incident: {summary}"),
            None => "resolved the incident".to_owned(),
        };
        Ok(TimelineEntry::new(at, by, EntryKind::Resolved, text))
    }

    /// The IC postpones reminders until `until`.
    pub fn snooze(&mut self, by: &Person, until: DateTime<Utc>, at: DateTime<Utc>) -> Result<TimelineEntry, Refusal> {
        self.ensure_open()?;
        self.ensure_ic(by)?;
        self.snoozed_until = Some(until);
        let text = format!("snoozed reminders until {} UTC", until.format("%H:%M"));
        Ok(TimelineEntry::new(at, by, EntryKind::Status, text))
    }

    /// Counts a status reminder sent at `at` (ending any snooze) and returns its number.
    pub fn count_reminder(&mut self, at: DateTime<Utc>) -> u32 {
        if self.snoozed_until.is_some_and(|until| until <= at) {
            self.snoozed_until = None;
        }
        self.reminders += 1;
        self.reminders
    }

    /// Whether reminders are snoozed at `at`.
    pub fn is_snoozed(&self, at: DateTime<Utc>) -> bool {
        self.snoozed_until.is_some_and(|until| until > at)
    }

    /// When the current IC took the role.
    pub fn ic_since(&self) -> Option<DateTime<Utc>> {
        self.ic_terms.last().filter(|term| term.until.is_none()).map(|term| term.since)
    }

    /// Follow-ups without a ticket: work not yet tracked.
    pub fn untracked_followups(&self) -> impl Iterator<Item = &Followup> {
        self.followups.iter().filter(|f| f.ticket.is_none())
    }

    /// Tasks not done.
    pub fn open_tasks(&self) -> impl Iterator<Item = &Task> {
        self.tasks.iter().filter(|t| t.done_at.is_none())
    }

    /// Whether this incident may be shown in a public room.
    pub fn is_public(&self) -> bool {
        !self.security
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-11-21T03:{minute:02}:00Z")).unwrap().to_utc()
    }

    /// A resolved incident and a timeline entry as stored before records were made compact.
    const OLD_RECORD: &str = r#"{"team":"wmcs","number":1,"title":"a small incident","doc_title":"2026-11-30 [WMCS] a small incident","severity":null,"user_facing":false,"security":false,"declared_at":"2026-11-30T21:54:02.811608568Z","declared_by":{"user":"console:carol","name":"carol"},"declared_in":"console:#room","ic_terms":[{"person":{"user":"console:carol","name":"carol"},"since":"2026-11-30T21:54:02.811608568Z","until":"2026-11-30T21:54:02.813781092Z"}],"offer":null,"status":{"text":"mitigated","by":{"user":"console:bob","name":"Bob B"},"at":"2026-11-30T21:54:02.813288002Z"},"doing":[],"tasks":[],"followups":[],"resolution":{"at":"2026-11-30T21:54:02.813781092Z","by":{"user":"console:carol","name":"carol"},"summary":"a bad deploy"},"reminders":0,"snoozed_until":null,"rooms":[]}"#;
    const OLD_ENTRY: &str = r#"{"at":"2026-11-30T21:54:02.811608568Z","by":{"user":"console:carol","name":"carol"},"kind":"declared","text":"declared"}"#;

    #[test]
    fn records_are_stored_compactly_and_old_ones_still_read() {
        let old: Incident = serde_json::from_str(OLD_RECORD).expect("an old record reads");
        assert_eq!(old.status.as_ref().map(|s| s.by.name.as_str()), Some("Bob B"));
        assert_eq!(old.ic_terms[0].until, old.resolution.as_ref().map(|r| r.at));
        let compact = serde_json::to_string(&old).unwrap();
        assert!(
            compact.len() * 2 < OLD_RECORD.len() + 200,
            "{} against {}: {compact}",
            compact.len(),
            OLD_RECORD.len()
        );
        for absent in ["null", "[]", "\"user\"", "reminders", "security", "T21:54"] {
            assert!(!compact.contains(absent), "{absent} in {compact}");
        }
        let read_back: Incident = serde_json::from_str(&compact).unwrap();
        assert_eq!(serde_json::to_string(&read_back).unwrap(), compact, "stable from the first rewrite on");
        assert_eq!(read_back.declared_at.timestamp_millis(), old.declared_at.timestamp_millis());
        let entry: TimelineEntry = serde_json::from_str(OLD_ENTRY).expect("an old entry reads");
        let again = serde_json::to_string(&entry).unwrap();
        assert_eq!(serde_json::from_str::<TimelineEntry>(&again).unwrap().by, entry.by);
        assert!(again.len() * 3 < OLD_ENTRY.len() * 2, "{again}");
    }

    fn declare(by: &str, becomes_ic: bool) -> Incident {
        Incident::declare(Declaration {
            team: TeamId::new("wmcs").unwrap(),
            team_name: "WMCS".into(),
            number: 3,
            title: "Ceph down".into(),
            severity: Some(2),
            user_facing: true,
            security: false,
            by: Person::console(by),
            room: RoomRef::console("#wikimedia-cloud-admin"),
            at: at(0),
            declarer_becomes_ic: becomes_ic,
        })
        .0
    }

    #[test]
    fn declaring_names_the_doc_and_makes_the_declarer_ic() {
        let incident = declare("alice", true);
        assert_eq!(incident.doc_title, "2026-11-21 [WMCS] Ceph down");
        assert_eq!(incident.key(), "WMCS-3");
        assert_eq!(incident.ic().unwrap().name, "alice");
        assert!(declare("visitor", false).ic().is_none());
    }

    #[test]
    fn only_one_person_can_claim_ic() {
        let mut incident = declare("visitor", false);
        let (alice, bob) = (Person::console("alice"), Person::console("bob"));
        incident.claim_ic(&alice, at(1)).unwrap();
        assert_eq!(incident.claim_ic(&bob, at(1)), Err(Refusal::HasIc(alice.clone())));
        assert_eq!(incident.claim_ic(&alice, at(2)), Err(Refusal::AlreadyIc));
        assert_eq!(incident.ic(), Some(&alice));
    }

    #[test]
    fn handoff_needs_both_sides() {
        let mut incident = declare("alice", true);
        let (alice, bob, carol) = (Person::console("alice"), Person::console("bob"), Person::console("carol"));
        let ttl = Duration::from_secs(600);
        assert_eq!(incident.offer_handoff(&bob, &carol, at(1), ttl), Err(Refusal::NotIc(alice.clone())));
        assert_eq!(incident.offer_handoff(&alice, &alice, at(1), ttl), Err(Refusal::SelfHandoff));
        incident.offer_handoff(&alice, &bob, at(1), ttl).unwrap();
        assert_eq!(incident.ic(), Some(&alice), "the old IC stays IC until the offer is accepted");
        assert_eq!(incident.accept_handoff(&carol, at(2)).unwrap_err(), Refusal::OfferForOther(bob.clone()));
        let (_, previous) = incident.accept_handoff(&bob, at(3)).unwrap();
        assert_eq!(previous, alice);
        assert_eq!(incident.ic(), Some(&bob));
        assert_eq!(incident.ic_terms.len(), 2);
        assert_eq!(incident.ic_terms[0].until, Some(at(3)));
        assert_eq!(incident.accept_handoff(&bob, at(4)).unwrap_err(), Refusal::NoOffer);
    }

    #[test]
    fn offers_lapse() {
        let mut incident = declare("alice", true);
        let (alice, bob) = (Person::console("alice"), Person::console("bob"));
        incident.offer_handoff(&alice, &bob, at(0), Duration::from_secs(600)).unwrap();
        assert!(incident.expire_offer(at(9)).is_none());
        assert_eq!(incident.accept_handoff(&bob, at(10)).unwrap_err(), Refusal::OfferExpired(alice.clone()));
        let (offer, _) = incident.expire_offer(at(10)).unwrap();
        assert_eq!(offer.to, bob);
        assert!(incident.offer.is_none());
        assert_eq!(incident.ic(), Some(&alice));
    }

    #[test]
    fn declined_offers_leave_the_ic_in_place() {
        let mut incident = declare("alice", true);
        let (alice, bob) = (Person::console("alice"), Person::console("bob"));
        incident.offer_handoff(&alice, &bob, at(0), Duration::from_secs(600)).unwrap();
        let (_, from) = incident.decline_handoff(&bob, at(1)).unwrap();
        assert_eq!(from, alice);
        assert_eq!(incident.ic(), Some(&alice));
        assert!(incident.offer.is_none());
    }

    #[test]
    fn doing_replaces_the_persons_previous_line_and_tasks_are_numbered() {
        let mut incident = declare("alice", true);
        let bob = Person::console("bob");
        incident.set_doing(&bob, "checking logs", at(1)).unwrap();
        incident.set_doing(&bob, "restarting osd", at(2)).unwrap();
        assert_eq!(incident.doing.len(), 1);
        assert_eq!(incident.doing[0].text, "restarting osd");
        let (one, _) = incident.add_task(&bob, "check switch", None, at(3)).unwrap();
        let (two, _) = incident.add_task(&bob, "call vendor", Some(&bob), at(3)).unwrap();
        assert_eq!((one, two), (1, 2));
        incident.complete_task(&bob, 1, at(4)).unwrap();
        assert_eq!(incident.complete_task(&bob, 1, at(5)), Err(Refusal::TaskDone(1)));
        assert_eq!(incident.complete_task(&bob, 9, at(5)), Err(Refusal::NoSuchTask(9)));
        assert_eq!(incident.open_tasks().count(), 1);
    }

    #[test]
    fn only_the_ic_resolves_and_nothing_changes_after() {
        let mut incident = declare("alice", true);
        let (alice, bob) = (Person::console("alice"), Person::console("bob"));
        assert_eq!(incident.resolve(&bob, None, at(5)), Err(Refusal::NotIc(alice.clone())));
        incident.add_followup(&alice, "tune alert", None, at(6));
        incident.add_followup(&alice, "add disks", Some("T123"), at(6));
        incident.resolve(&alice, Some("disk full"), at(7)).unwrap();
        assert!(!incident.is_open());
        assert!(incident.ic().is_none());
        assert_eq!(incident.ic_terms[0].until, Some(at(7)));
        assert_eq!(incident.untracked_followups().count(), 1);
        assert_eq!(incident.update_status(&alice, "x", at(8)), Err(Refusal::Resolved));
        assert_eq!(incident.claim_ic(&bob, at(8)), Err(Refusal::Resolved));
    }

    #[test]
    fn anyone_may_resolve_an_incident_without_ic() {
        let mut incident = declare("visitor", false);
        assert!(incident.resolve(&Person::console("bob"), None, at(1)).is_ok());
    }

    #[test]
    fn only_the_ic_snoozes_and_a_reminder_ends_the_snooze() {
        let mut incident = declare("alice", true);
        let (alice, bob) = (Person::console("alice"), Person::console("bob"));
        assert_eq!(incident.snooze(&bob, at(30), at(0)), Err(Refusal::NotIc(alice.clone())));
        incident.snooze(&alice, at(30), at(0)).unwrap();
        assert!(incident.is_snoozed(at(29)) && !incident.is_snoozed(at(30)));
        assert_eq!(incident.count_reminder(at(30)), 1);
        assert_eq!(incident.snoozed_until, None);
        assert_eq!(incident.count_reminder(at(45)), 2);
    }

    #[test]
    fn records_survive_serialization() {
        let mut incident = declare("alice", true);
        incident.add_followup(&Person::console("alice"), "x", Some("T1"), at(1));
        let json = serde_json::to_string(&incident).unwrap();
        let back: Incident = serde_json::from_str(&json).unwrap();
        assert_eq!(back, incident);
    }
}

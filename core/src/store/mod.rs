//! Shared state: the store trait and its two backends.
//!
//! Plugins read what they need, decide with the pure rules of [`crate::incident`], and hand the
//! dispatcher a list of [`Write`]s. The dispatcher applies them with [`Store::apply`] in one atomic
//! step together with its [`Guard`]: the claim of the inbound event, and the revision of the team
//! snapshot the plugin decided on. Either the event is claimed, the snapshot is still current and
//! every write lands, or nothing changes. A decision made on stale state fails with
//! [`ApplyError::Stale`] (or [`ApplyError::Conflict`]) and the dispatcher runs the command again
//! on fresh state; this is how two replicas racing for the IC role end with exactly one IC.
//!
//! Because the revision check makes a stale snapshot harmless, the dispatcher keeps each team's
//! latest snapshot between commands: a command usually costs one round trip to the store.
//!
//! The store also holds the job queue of the [`Scheduler`](crate::scheduler::Scheduler): jobs are
//! scheduled and cancelled by writes, promoted when due into a queue, handed to one scheduler at
//! a time, taken over from a scheduler that went quiet, and moved to a dead-letter queue when
//! they keep failing. What a job sends is kept in an outbox with its writes, and each send is
//! recorded, so that a job taken over from a dead replica sends what is left and nothing twice.

mod memory;
mod redis;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{Person, TeamId, Transport};
use crate::incident::{Incident, TimelineEntry};
use crate::job::{Job, TakenJobs};
use crate::message::Envelope;

pub use self::memory::MemoryStore;
pub use self::redis::{RedisStore, RedisStoreError};

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

/// A team's choices for one plugin, made in chat by its admins. They win over the config file
/// until the plugin is reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginState {
    /// Enabled (`true`) or disabled (`false`) by an admin; `None` follows the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Settings an admin changed, by key, as text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, String>,
}

/// One admin action, as kept in the team's audit stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub by: Person,
    /// What, e.g. `disable sal` or `config incident handoff_offer_ttl`.
    pub action: String,
    /// The value before.
    pub before: String,
    /// The value after.
    pub after: String,
}

/// A plugin's own record (a page, say): JSON data under an id, with a version for compare-and-set.
/// Open records of every kind are part of the team snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Unique within its kind and team.
    pub id: String,
    /// The stored version; 0 for a record not stored yet. Every write increments it.
    pub version: u64,
    /// Whether the record is open (open records come with every snapshot).
    pub open: bool,
    /// The plugin's data, usually JSON.
    pub data: String,
}

/// What a command usually needs to know about its team, read in one round trip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TeamSnapshot {
    /// An opaque token that changes whenever an incident of the team is written. A [`Guard`]
    /// carrying it makes [`Store::apply`] refuse writes decided on an older state.
    pub revision: String,
    /// The team's open incidents, by number.
    pub open: Vec<Incident>,
    /// Plugin choices made in chat, by plugin name.
    pub plugins: BTreeMap<String, PluginState>,
    /// Open plugin records, by kind, by id.
    pub records: BTreeMap<String, Vec<Record>>,
}

impl TeamSnapshot {
    /// The snapshot as it is after `writes` were applied on it and the store answered with
    /// `revision`: what the store itself would now return.
    pub fn after(&self, writes: &[Write], revision: String) -> TeamSnapshot {
        let mut next = TeamSnapshot { revision, ..self.clone() };
        for write in writes {
            match write {
                Write::CreateIncident { incident, .. } | Write::UpdateIncident { incident, .. } => {
                    let version = if matches!(write, Write::CreateIncident { .. }) { 1 } else { incident.version + 1 };
                    next.open.retain(|i| i.number != incident.number);
                    if incident.is_open() {
                        next.open.push(Incident { version, ..incident.clone() });
                    }
                }
                Write::SetPluginState { plugin, state: Some(state) } => {
                    next.plugins.insert(plugin.clone(), state.clone());
                }
                Write::SetPluginState { plugin, state: None } => {
                    next.plugins.remove(plugin);
                }
                Write::PutRecord { kind, record } => {
                    let records = next.records.entry(kind.clone()).or_default();
                    records.retain(|r| r.id != record.id);
                    if record.open {
                        records.push(Record { version: record.version + 1, ..record.clone() });
                        records.sort_by(|a, b| a.id.cmp(&b.id));
                    }
                    if records.is_empty() {
                        next.records.remove(kind);
                    }
                }
                Write::AppendToOpenTimeline { .. }
                | Write::AppendAdminLog(_)
                | Write::AppendAudit(_)
                | Write::Schedule(_)
                | Write::Cancel(_)
                | Write::Outbox { .. }
                | Write::DropOutbox(_) => {}
            }
        }
        next.open.sort_by_key(|incident| incident.number);
        next
    }

    /// The open records of `kind`, by id.
    pub fn records(&self, kind: &str) -> &[Record] {
        self.records.get(kind).map(Vec::as_slice).unwrap_or_default()
    }

    /// The chat-made choices for `plugin`, if any.
    pub fn plugin(&self, plugin: &str) -> Option<&PluginState> {
        self.plugins.get(plugin)
    }
}

/// What must hold for [`Store::apply`] to write anything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Guard<'a> {
    /// The cause to claim; the apply fails with [`ApplyError::Duplicate`] if it was.
    pub claim: Option<&'a Claim>,
    /// The snapshot revision the writes were decided on; the apply fails with
    /// [`ApplyError::Stale`] if the team has moved on since.
    pub revision: Option<&'a str>,
    /// The job being run: it must still be scheduled with this token (else
    /// [`ApplyError::JobGone`]), and the apply consumes it.
    pub job: Option<&'a Job>,
}

impl<'a> Guard<'a> {
    /// No precondition.
    pub const NONE: Guard<'static> = Guard { claim: None, revision: None, job: None };

    /// Claims `claim`.
    pub fn claim(claim: &'a Claim) -> Self {
        Self { claim: Some(claim), ..Self::default() }
    }

    /// Also requires the team to still be at `revision`.
    pub fn at(self, revision: &'a str) -> Self {
        Self { revision: Some(revision), ..self }
    }

    /// Also requires `job` to still be scheduled as it was, and consumes it.
    pub fn running(self, job: &'a Job) -> Self {
        Self { job: Some(job), ..self }
    }
}

/// The claim of one cause (an inbound event, a job run): applied at most once across every
/// replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// What is claimed: `console:<event id>`, `alertmanager:<alert>`, `job:<id>:<token>`.
    pub key: String,
    /// How long the claim is remembered (longer than any platform retries).
    pub ttl: Duration,
}

impl Claim {
    /// The claim of a platform event with a stable id.
    pub fn event(transport: Transport, event_id: &str, ttl: Duration) -> Self {
        Self { key: format!("{transport}:{event_id}"), ttl }
    }
}

/// One change to shared state. A list of writes is applied atomically by [`Store::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Stores a newly declared incident, whose number was reserved with
    /// [`Store::reserve_incident_number`], and its first timeline entries.
    CreateIncident {
        /// The incident (its `version` is ignored).
        incident: Incident,
        /// Its first timeline entries.
        timeline: Vec<TimelineEntry>,
    },
    /// Replaces an incident read at `incident.version`, and appends to its timeline. Fails with
    /// [`ApplyError::Conflict`] when the stored version has moved on.
    UpdateIncident {
        /// The changed incident, still carrying the version it was read at.
        incident: Incident,
        /// Timeline entries for the change.
        timeline: Vec<TimelineEntry>,
    },
    /// Appends to an incident's timeline if it is still open; skipped silently otherwise.
    AppendToOpenTimeline {
        /// The incident's number.
        number: u64,
        /// The entry.
        entry: TimelineEntry,
    },
    /// Appends to the team's server admin log.
    AppendAdminLog(LogEntry),
    /// Replaces the team's chat-made choices for a plugin; `None` drops them (back to the file).
    SetPluginState {
        /// The plugin's name.
        plugin: String,
        /// The new choices.
        state: Option<PluginState>,
    },
    /// Appends to the team's audit stream of admin actions.
    AppendAudit(AuditEntry),
    /// Creates or replaces a plugin record of `kind`. `record.version` is the version it was
    /// read at (0 for a new one); fails with [`ApplyError::RecordConflict`] when the stored
    /// version differs.
    PutRecord {
        /// The record kind (`page`).
        kind: String,
        /// The record.
        record: Record,
    },
    /// Schedules a job, replacing any job of the team with the same id.
    Schedule(Job),
    /// Cancels the team's job with this id, if any.
    Cancel(String),
    /// Keeps what a job run sends, so that whoever finishes the run sends the same.
    Outbox {
        /// The job run (`job:<id>:<token>`).
        cause: String,
        /// The actions with their ids.
        envelopes: Vec<Envelope>,
    },
    /// Drops what was kept for the job run `cause`: everything was sent.
    DropOutbox(String),
}

/// A store failure: the backend is unreachable or holds data it cannot read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend did not answer or refused the request.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be decoded.
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
}

/// Why [`Store::apply`] changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The event was claimed before: it has been handled already.
    #[error("event already handled")]
    Duplicate,
    /// The incident with this number changed since it was read (or already exists).
    #[error("incident {0} changed concurrently")]
    Conflict(u64),
    /// The team's state changed since the snapshot the writes were decided on.
    #[error("the team's state changed concurrently")]
    Stale,
    /// A plugin record changed since it was read (or already exists).
    #[error("record {kind} {id} changed concurrently")]
    RecordConflict {
        /// The record kind.
        kind: String,
        /// The record id.
        id: String,
    },
    /// The job being run was cancelled or rescheduled meanwhile.
    #[error("the job was cancelled or rescheduled")]
    JobGone,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Shared state for every replica. Implemented by [`MemoryStore`] (one process) and
/// [`RedisStore`] (many replicas); the conformance suite in `firebell-testkit` holds both to the
/// same behaviour.
///
/// `team` is `None` for rooms that belong to no team; such rooms only ever claim events.
#[async_trait]
pub trait Store: Send + Sync {
    /// Checks that the backend answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Reads the team's revision, open incidents and plugin choices.
    async fn snapshot(&self, team: Option<&TeamId>) -> Result<TeamSnapshot, StoreError>;

    /// Checks the guard and applies every write, atomically; returns the team's new revision.
    async fn apply(&self, team: Option<&TeamId>, guard: Guard<'_>, writes: &[Write]) -> Result<String, ApplyError>;

    /// Reserves the next number of the team's `sequence` (`incident`, `page`: 1, 2, …) for
    /// `reservation` (the cause that needs it). Asking again with the same reservation gives the
    /// same number, so a command that runs again after a concurrent change, or the same event on
    /// another replica, does not use up a second number. Numbers are never given twice.
    async fn reserve_number(&self, team: &TeamId, sequence: &str, reservation: &str) -> Result<u64, StoreError>;

    /// One incident, open or resolved.
    async fn incident(&self, team: &TeamId, number: u64) -> Result<Option<Incident>, StoreError>;

    /// The team's latest incidents, open or resolved, highest number first.
    async fn recent_incidents(&self, team: &TeamId, limit: usize) -> Result<Vec<Incident>, StoreError>;

    /// An incident's whole timeline, oldest first.
    async fn timeline(&self, team: &TeamId, number: u64) -> Result<Vec<TimelineEntry>, StoreError>;

    /// The newest `limit` entries of the team's admin log for `project`, oldest first.
    async fn admin_log(&self, team: &TeamId, project: &str, limit: usize) -> Result<Vec<LogEntry>, StoreError>;

    /// The newest `limit` entries of the team's audit stream, oldest first.
    async fn audit_log(&self, team: &TeamId, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;

    /// One plugin record, open or closed.
    async fn record(&self, team: &TeamId, kind: &str, id: &str) -> Result<Option<Record>, StoreError>;

    /// The team's latest records of `kind`, open or closed, newest first.
    async fn recent_records(&self, team: &TeamId, kind: &str, limit: usize) -> Result<Vec<Record>, StoreError>;

    // The job queue.

    /// The team's jobs that are not due yet, soonest first.
    async fn scheduled_jobs(&self, team: &TeamId) -> Result<Vec<Job>, StoreError>;

    /// Moves up to `limit` jobs due by `now` into the queue; returns how many.
    async fn promote_due_jobs(&self, team: &TeamId, now: DateTime<Utc>, limit: usize) -> Result<usize, StoreError>;

    /// Hands `consumer` up to `limit` queued jobs: jobs no scheduler has taken, and jobs taken by
    /// a scheduler that has not finished them within `reclaim_after` (it probably died). A job
    /// handed out more than `max_attempts` times goes to the dead-letter queue instead.
    async fn take_jobs(&self, team: &TeamId, consumer: &str, take: TakeJobs) -> Result<TakenJobs, StoreError>;

    /// Removes a finished job from the queue, with its outbox.
    async fn finish_job(&self, team: &TeamId, entry: &str, cause: &str) -> Result<(), StoreError>;

    /// The dead-letter queue, oldest first.
    async fn dead_jobs(&self, team: &TeamId, limit: usize) -> Result<Vec<Job>, StoreError>;

    /// What a job run keeps to send (see [`Write::Outbox`]).
    async fn outbox(&self, team: &TeamId, cause: &str) -> Result<Vec<Envelope>, StoreError>;

    /// Whether the action with this id was recorded as sent.
    async fn is_sent(&self, team: &TeamId, action: &str) -> Result<bool, StoreError>;

    /// Records that the action with this id was sent.
    async fn mark_sent(&self, team: &TeamId, action: &str) -> Result<(), StoreError>;

    /// Reserves the next slot of a pace of one use per `every` for `key`, shared by every
    /// replica, and returns how long to wait before the slot comes (zero when it is now).
    async fn pace(&self, key: &str, every: Duration) -> Result<Duration, StoreError>;
}

/// How [`Store::take_jobs`] hands out jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TakeJobs {
    /// The most jobs to hand out.
    pub limit: usize,
    /// How long a taken, unfinished job waits before another scheduler may take it over. Longer
    /// than the slowest job takes.
    pub reclaim_after: Duration,
    /// How many times a job is handed out before it goes to the dead-letter queue.
    pub max_attempts: u32,
}

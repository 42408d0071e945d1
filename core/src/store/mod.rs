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

mod memory;
mod redis;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{Person, TeamId, Transport};
use crate::incident::{Incident, TimelineEntry};

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
                Write::AppendToOpenTimeline { .. } | Write::AppendAdminLog(_) | Write::AppendAudit(_) => {}
            }
        }
        next.open.sort_by_key(|incident| incident.number);
        next
    }

    /// The chat-made choices for `plugin`, if any.
    pub fn plugin(&self, plugin: &str) -> Option<&PluginState> {
        self.plugins.get(plugin)
    }
}

/// What must hold for [`Store::apply`] to write anything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Guard<'a> {
    /// The inbound event to claim; the apply fails with [`ApplyError::Duplicate`] if it was.
    pub claim: Option<&'a Claim>,
    /// The snapshot revision the writes were decided on; the apply fails with
    /// [`ApplyError::Stale`] if the team has moved on since.
    pub revision: Option<&'a str>,
}

impl<'a> Guard<'a> {
    /// No precondition.
    pub const NONE: Guard<'static> = Guard { claim: None, revision: None };

    /// Claims `claim`.
    pub fn claim(claim: &'a Claim) -> Self {
        Self { claim: Some(claim), revision: None }
    }

    /// Also requires the team to still be at `revision`.
    pub fn at(self, revision: &'a str) -> Self {
        Self { revision: Some(revision), ..self }
    }
}

/// The claim of one inbound event: applied at most once across every replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The transport the event came from.
    pub transport: Transport,
    /// The platform's stable id of the event.
    pub event_id: String,
    /// How long the claim is remembered (longer than any platform retries).
    pub ttl: Duration,
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

    /// Reserves the next incident number of `team` (1, 2, …) for `reservation` (the id of the
    /// event that declares it). Asking again with the same reservation gives the same number, so
    /// a command that runs again after a concurrent change, or the same event on another replica,
    /// does not use up a second number. Numbers are never given to two reservations.
    async fn reserve_incident_number(&self, team: &TeamId, reservation: &str) -> Result<u64, StoreError>;

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
}

//! Shared state: the store trait, the data it keeps for plugins, and the guard of its writes.
//!
//! The store knows no incident, log or page. It keeps, for every team and under each plugin's
//! own namespace:
//!
//! - **records**: a plugin's data (JSON, with the schema version it was written with) under a
//!   kind and an id, each with a version that every write raises;
//! - **indexes** a plugin declares: each record says under which index keys it is listed (open
//!   incidents under `open`, pages under their alert's fingerprint), and each index key has a
//!   version that changes whenever a record joins or leaves it;
//! - **streams**: append-only entries (timelines, logs, audit), read by range and trimmed;
//! - **sequences**: numbers (`WMCS-3`, `P12`) reserved once per cause.
//!
//! Plugins read through [`crate::state`], decide, and hand the dispatcher a list of [`Write`]s.
//! The dispatcher applies them with [`Store::apply`] in one atomic step together with their
//! [`Guard`]: the claim of the cause, and the version of every record and index key the plugin
//! read. Either the cause is claimed, everything read is unchanged and every write lands, or
//! nothing changes: a decision made on stale state fails with [`ApplyError::Conflict`], naming
//! what moved, and the dispatcher decides again on fresh state. Two people writing to two
//! incidents never conflict; two replicas racing for one incident's IC role end with one IC.
//!
//! The store also holds the job queue of the scheduler: jobs are scheduled and cancelled by
//! writes, promoted when due into a queue, handed to one scheduler at a time, taken over from a
//! scheduler that went quiet, and moved to a dead-letter queue when they keep failing. What a
//! job run sends is kept in an outbox with its writes (what a command sends travels in its
//! delivery watchdog's data), and each send is recorded, so that a job taken over from a dead
//! replica sends what is left and nothing twice.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{TeamId, Transport};
use crate::job::{Job, TakenJobs};
use crate::message::Envelope;

/// An index entry: the index's name and the key a record is listed under (`open` and `""`,
/// `fingerprint` and `a1b2c3`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The index, as the plugin declares it.
    pub index: String,
    /// The key within the index.
    pub key: String,
    /// Whether the index is unique: the store refuses to list a second record under the key
    /// ([`ApplyError::Taken`]). Only writes carry it; a record read back may not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unique: bool,
}

impl IndexEntry {
    /// The entry `key` of `index`, not unique.
    pub fn new(index: impl Into<String>, key: impl Into<String>) -> Self {
        Self { index: index.into(), key: key.into(), unique: false }
    }
}

/// A record as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The record kind, unique within its namespace (`incident`, `page`).
    pub kind: String,
    /// Unique within its kind; any text.
    pub id: String,
    /// The stored version: 1 after the first write, raised by every write. Ignored in writes.
    pub version: u64,
    /// The version of the data's shape it was written with.
    pub schema: u32,
    /// The data, as JSON.
    pub data: String,
    /// The index keys it is listed under.
    pub indexes: Vec<IndexEntry>,
}

/// Something a plugin reads whose version guards the writes decided on it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    /// One record (version 0 while it does not exist).
    Record {
        /// The namespace (the plugin's name).
        namespace: String,
        /// The kind.
        kind: String,
        /// The id.
        id: String,
    },
    /// One key of an index: its version changes whenever a record joins or leaves it.
    Index {
        /// The namespace.
        namespace: String,
        /// The kind of the records listed.
        kind: String,
        /// The index.
        index: String,
        /// The key.
        key: String,
    },
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Record { namespace, kind, id } => write!(f, "record {namespace}/{kind}/{id:?}"),
            Key::Index { namespace, kind, index, key } => write!(f, "index {namespace}/{kind}/{index}/{key:?}"),
        }
    }
}

/// The records listed under one index key, and the key's version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// The index key's version (0 while nothing was ever listed under it).
    pub version: u64,
    /// The records, by id.
    pub records: Vec<StoredRecord>,
}

/// Which entries of a stream to read. Entries come oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamRange {
    /// Every entry.
    All,
    /// The oldest `n` entries.
    First(usize),
    /// The newest `n` entries.
    Latest(usize),
    /// Up to `limit` entries after the entry with id `id`.
    After {
        /// The id of the last entry already read.
        id: String,
        /// The most entries to read.
        limit: usize,
    },
}

/// One entry of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    /// Its id, increasing along the stream; opaque.
    pub id: String,
    /// The data, as JSON.
    pub data: String,
}

/// What must hold for [`Store::apply`] to write anything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Guard<'a> {
    /// The cause to claim; the apply fails with [`ApplyError::Duplicate`] if it was.
    pub claim: Option<&'a Claim>,
    /// What the writes were decided on, with the versions read; the apply fails with
    /// [`ApplyError::Conflict`] if any has moved since.
    pub reads: &'a [(Key, u64)],
    /// The job being run: it must still be scheduled with this token (else
    /// [`ApplyError::JobGone`]), and the apply consumes it.
    pub job: Option<&'a Job>,
}

impl<'a> Guard<'a> {
    /// No precondition.
    pub const NONE: Guard<'static> = Guard { claim: None, reads: &[], job: None };

    /// Claims `claim`.
    pub fn claim(claim: &'a Claim) -> Self {
        Self { claim: Some(claim), ..Self::default() }
    }

    /// Also requires everything in `reads` to be at the version read.
    pub fn reading(self, reads: &'a [(Key, u64)]) -> Self {
        Self { reads, ..self }
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
    /// Creates or replaces a record (its `version` is ignored), and lists it under its index
    /// keys only (leaving those of its previous version). A unique index key that lists
    /// another record refuses the whole apply ([`ApplyError::Taken`]).
    Put {
        /// The namespace.
        namespace: String,
        /// The record.
        record: StoredRecord,
    },
    /// Removes a record, and its index entries, if it exists (its version is kept and raised).
    Remove {
        /// The namespace.
        namespace: String,
        /// The kind.
        kind: String,
        /// The id.
        id: String,
    },
    /// Appends an entry to a stream.
    Append {
        /// The namespace.
        namespace: String,
        /// The stream's name.
        stream: String,
        /// The entry, as JSON.
        entry: String,
    },
    /// Drops a stream's oldest entries beyond the newest `keep`.
    Trim {
        /// The namespace.
        namespace: String,
        /// The stream's name.
        stream: String,
        /// How many entries to keep.
        keep: u64,
    },
    /// Forgets the number reserved for `reservation` in `sequence` (see
    /// [`Store::reserve_number`]): its cause is applied, so it will not ask again. The number
    /// stays used.
    Release {
        /// The plugin's namespace.
        namespace: String,
        /// The sequence.
        sequence: String,
        /// The reservation.
        reservation: String,
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
    /// Records that the action with this id was sent (remembered for a day, like
    /// [`Store::mark_sent`]).
    Sent(String),
    /// Cancels the delivery watchdog `job` once every action it guards was sent, and records
    /// the actions in `sent` as sent (like [`Write::Sent`]) only if the watchdog had come due
    /// already: a scheduler may be running it then, and must not send them again. While it
    /// was still waiting, nothing else can send them, and nothing needs remembering.
    Delivered {
        /// The watchdog's job id.
        job: String,
        /// The actions sent and not recorded yet.
        sent: Vec<String>,
    },
}

/// What an apply changed: the new version of every record written or removed and of every
/// index key a record joined or left, so that a reader's cache can follow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// The keys and their versions now.
    pub versions: Vec<(Key, u64)>,
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
    /// The cause asking for a number was applied already (by another replica): it gets none,
    /// so that the sequence skips nothing.
    #[error("the event was handled already")]
    AlreadyApplied,
    /// Stored data was written by a newer version of Firebell, whose shape this replica does not
    /// know: a newer replica reads it.
    #[error("{0}")]
    NewerSchema(String),
}

/// Why [`Store::apply`] changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The event was claimed before: it has been handled already.
    #[error("event already handled")]
    Duplicate,
    /// Something the writes were decided on changed since it was read.
    #[error("{0} changed concurrently")]
    Conflict(Key),
    /// The job being run was cancelled or rescheduled meanwhile.
    #[error("the job was cancelled or rescheduled")]
    JobGone,
    /// A record would join a key of a unique index that lists another record already.
    #[error("{0} lists another record already (a unique index)")]
    Taken(Key),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Shared state for every replica. Implemented by the memory store (one process) and the Redis
/// store (many replicas); the conformance suite in `firebell-testkit` holds both to the same
/// behaviour.
///
/// `team` is `None` for rooms that belong to no team; such rooms only ever claim events.
#[async_trait]
pub trait Store: Send + Sync {
    /// Checks that the backend answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Records of one kind by id, in the order asked, each with its version: `None` for those
    /// that do not exist (version 0 if they never did; a removed record keeps its version, so
    /// that one removed and made again is never mistaken for the one read before).
    async fn records(
        &self,
        team: &TeamId,
        namespace: &str,
        kind: &str,
        ids: &[String],
    ) -> Result<Vec<(u64, Option<StoredRecord>)>, StoreError>;

    /// The records listed under an index key, with the key's version.
    async fn find(
        &self,
        team: &TeamId,
        namespace: &str,
        kind: &str,
        index: &str,
        key: &str,
    ) -> Result<Listing, StoreError>;

    /// The records listed under every key of `index` that starts with `prefix`, ordered by key
    /// then id, at most `limit`.
    async fn find_prefix(
        &self,
        team: &TeamId,
        namespace: &str,
        kind: &str,
        index: &str,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StoreError>;

    /// The latest records of a kind, in the order they were created, newest first.
    async fn recent(
        &self,
        team: &TeamId,
        namespace: &str,
        kind: &str,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StoreError>;

    /// Entries of a stream, oldest first.
    async fn stream(
        &self,
        team: &TeamId,
        namespace: &str,
        stream: &str,
        range: StreamRange,
    ) -> Result<Vec<StreamEntry>, StoreError>;

    /// Reserves the next number of the team's `sequence` (`incident`, `page`: 1, 2, …) for
    /// `reservation` (the cause that needs it). Asking again with the same reservation gives the
    /// same number, so a command that runs again after a concurrent change, or the same event on
    /// another replica, does not use up a second number. A reservation named after a cause that
    /// was claimed already gets [`StoreError::AlreadyApplied`] instead of a number nobody would
    /// keep. Numbers are never given twice, and none is skipped.
    async fn reserve_number(
        &self,
        team: &TeamId,
        namespace: &str,
        sequence: &str,
        reservation: &str,
    ) -> Result<u64, StoreError>;

    /// Checks the guard and applies every write, atomically.
    async fn apply(&self, team: Option<&TeamId>, guard: Guard<'_>, writes: &[Write]) -> Result<Applied, ApplyError>;

    // The job queue.

    /// The team's jobs that are not due yet, soonest first.
    async fn scheduled_jobs(&self, team: &TeamId) -> Result<Vec<Job>, StoreError>;

    /// Moves up to `limit` jobs due by `now` into the queue; returns how many.
    async fn promote_due_jobs(&self, team: &TeamId, now: DateTime<Utc>, limit: usize) -> Result<usize, StoreError>;

    /// Hands `consumer` up to `limit` queued jobs: jobs no scheduler has taken, and jobs taken by
    /// a scheduler that has not finished them within `reclaim_after` (it probably died). A job
    /// handed out more than `max_attempts` times goes to the dead-letter queue instead.
    async fn take_jobs(&self, team: &TeamId, consumer: &str, take: TakeJobs) -> Result<TakenJobs, StoreError>;

    /// Removes a finished job from the queue, with its outbox and the claim of its run (`cause`):
    /// nothing of a finished run is kept.
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
    /// replica, and returns how long to wait before the slot comes (zero when it is now). A
    /// `holder` (an action's id) asking again before its slot is over (the slot and one interval
    /// after it) gets that slot again, so that a send tried again, by any replica, keeps its
    /// place in the line; asking later, it gets a new slot (the old one was used). `""` holds
    /// nothing.
    async fn pace(&self, key: &str, every: Duration, holder: &str) -> Result<Duration, StoreError>;
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

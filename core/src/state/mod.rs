//! What a plugin reads and writes: its own typed records, streams and sequences, under its
//! namespace, per team.
//!
//! A plugin declares a record type by implementing [`Record`] (its kind, schema version, id and
//! index keys) and reads and writes it through a [`State`]:
//!
//! ```
//! use firebell_core::state::Record;
//! use serde::{Deserialize, Serialize};
//!
//! /// A drill: practice for the next real incident.
//! #[derive(Serialize, Deserialize)]
//! struct Drill {
//!     number: u64,
//!     scenario: String,
//!     done: bool,
//! }
//!
//! impl Record for Drill {
//!     const KIND: &'static str = "drill";
//!
//!     fn id(&self) -> String {
//!         self.number.to_string()
//!     }
//!
//!     /// Drills still to run are listed under `planned`.
//!     fn indexes(&self) -> Vec<(&'static str, String)> {
//!         if self.done { vec![] } else { vec![("planned", String::new())] }
//!     }
//! }
//! ```
//!
//! Reading never changes anything; writes go into the plugin's [`Outcome`](crate::plugin::Outcome)
//! and are applied together, guarded by the versions of everything read (see [`crate::store`]).
//! What was read is remembered in the command's [`Reads`]: the plugin never handles a version.

mod cache;
mod framework;
mod reads;

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use self::cache::Cache;
pub use self::framework::{AUDIT, AUDIT_KEPT, AuditEntry, Choices, FRAMEWORK, PluginChoice, RoomOwner};
pub use self::reads::Reads;
use crate::job::{Job, JobData, job_id};
use crate::store::{IndexEntry, StoreError, StoredRecord, StreamEntry, StreamRange, Write};

/// One change a plugin decides: a record stored or removed, a stream appended to or trimmed, a
/// job scheduled or cancelled. Only [`State`]'s methods make changes, each under the state's
/// namespace, and the framework's own bookkeeping (outboxes, sent records, reservations) is no
/// change a plugin can make. The dispatcher applies a plugin's changes only when every one is
/// within its namespace, or appends to a stream its owner shares (see
/// [`Registry::permits`](crate::plugin::Registry::permits)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change(Write);

impl Change {
    /// The store write it makes.
    pub fn write(&self) -> &Write {
        &self.0
    }

    /// The store write it makes, for the dispatcher to apply.
    pub fn into_write(self) -> Write {
        self.0
    }

    /// The namespace it changes, if it changes one (jobs belong to their plugin instead).
    pub fn namespace(&self) -> Option<&str> {
        match &self.0 {
            Write::Put { namespace, .. }
            | Write::Remove { namespace, .. }
            | Write::Append { namespace, .. }
            | Write::Trim { namespace, .. } => Some(namespace),
            _ => None,
        }
    }
}

/// A type a plugin keeps in the store.
pub trait Record: Serialize + DeserializeOwned + Send + Sync {
    /// The kind, unique within the plugin (`incident`, `page`): a short lowercase word.
    const KIND: &'static str;

    /// The version of the data's shape. Raise it when the shape changes in a way serde cannot
    /// read with defaults, and turn older data into the new shape in [`Record::migrate`].
    const SCHEMA: u32 = 1;

    /// The record's id, unique within its kind.
    fn id(&self) -> String;

    /// The index keys the record is listed under, as (index, key) pairs; build them with the
    /// record's [`Index`] constants (`BY_COMPONENT.entry(&self.component)`).
    fn indexes(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// The indexes (by name) that list at most one record per key: the store refuses a second
    /// one ([`ApplyError::Taken`](crate::store::ApplyError::Taken)), whatever the plugin read.
    const UNIQUE: &'static [&'static str] = &[];

    /// Turns data written with an older `schema` into this schema's JSON.
    fn migrate(schema: u32, data: serde_json::Value) -> Result<serde_json::Value, String> {
        let _ = data;
        Err(format!("no migration from schema {schema} to {}", Self::SCHEMA))
    }
}

/// Reads a stored record as `R`, migrating it from an older schema when needed.
pub fn decode<R: Record>(stored: &StoredRecord) -> Result<R, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt(format!("{} {:?}: {reason}", R::KIND, stored.id));
    if stored.schema == R::SCHEMA {
        return serde_json::from_str(&stored.data).map_err(|err| corrupt(err.to_string()));
    }
    if stored.schema > R::SCHEMA {
        return Err(StoreError::NewerSchema(format!(
            "{} {:?} was written by a newer Firebell (schema {}; this replica reads up to {})",
            R::KIND,
            stored.id,
            stored.schema,
            R::SCHEMA
        )));
    }
    let old: serde_json::Value = serde_json::from_str(&stored.data).map_err(|err| corrupt(err.to_string()))?;
    let new = R::migrate(stored.schema, old).map_err(corrupt)?;
    serde_json::from_value(new).map_err(|err| corrupt(err.to_string()))
}

/// A kind of record a plugin keeps, as `firebell migrate` needs it: its kind, its schema, and
/// how to bring a stored one up to date. Declared with `#[plugin(records = [Window, Drill])]`.
#[derive(Clone, Copy)]
pub struct RecordType {
    /// The kind.
    pub kind: &'static str,
    /// The schema version this build writes.
    pub schema: u32,
    upgrade: fn(&StoredRecord) -> Result<Option<StoredRecord>, StoreError>,
}

impl std::fmt::Debug for RecordType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordType").field("kind", &self.kind).field("schema", &self.schema).finish()
    }
}

impl RecordType {
    /// The record type `R`.
    pub const fn of<R: Record>() -> Self {
        Self { kind: R::KIND, schema: R::SCHEMA, upgrade: upgrade::<R> }
    }

    /// `stored` as this build writes it (migrated, with the new shape's index keys), or `None`
    /// when it is up to date already.
    pub fn upgrade(&self, stored: &StoredRecord) -> Result<Option<StoredRecord>, StoreError> {
        (self.upgrade)(stored)
    }
}

fn upgrade<R: Record>(stored: &StoredRecord) -> Result<Option<StoredRecord>, StoreError> {
    let fresh = encode(&decode::<R>(stored)?);
    let keys = |entries: &[IndexEntry]| {
        let mut keys: Vec<(String, String)> = entries.iter().map(|e| (e.index.clone(), e.key.clone())).collect();
        keys.sort();
        keys
    };
    Ok((stored.schema != fresh.schema || keys(&stored.indexes) != keys(&fresh.indexes)).then_some(fresh))
}

/// An index of records `R` by keys of type `K` (`Index<Window, str>`), declared once as a
/// constant beside the record and used both to list the record (in [`Record::indexes`]) and to
/// find it ([`State::find_by`]), so that the two cannot disagree on a name. Unique when the
/// record's [`Record::UNIQUE`] names it.
pub struct Index<R, K: ?Sized = str> {
    name: &'static str,
    marker: PhantomData<(fn() -> R, fn(&K))>,
}

impl<R, K: ?Sized> Clone for Index<R, K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R, K: ?Sized> Copy for Index<R, K> {}

impl<R: Record, K: ?Sized + ToString> Index<R, K> {
    /// The index called `name`.
    pub const fn new(name: &'static str) -> Self {
        Self { name, marker: PhantomData }
    }

    /// Its name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The entry that lists a record under `key`, for [`Record::indexes`].
    pub fn entry(&self, key: &K) -> (&'static str, String) {
        (self.name, key.to_string())
    }

    /// Whether the store keeps at most one record per key.
    pub fn is_unique(&self) -> bool {
        R::UNIQUE.contains(&self.name)
    }
}

/// `record` as the store keeps it.
pub fn encode<R: Record>(record: &R) -> StoredRecord {
    let mut indexes: Vec<IndexEntry> = record
        .indexes()
        .into_iter()
        .map(|(index, key)| IndexEntry { unique: R::UNIQUE.contains(&index), index: index.to_owned(), key })
        .collect();
    indexes.sort();
    indexes.dedup();
    StoredRecord {
        kind: R::KIND.to_owned(),
        id: record.id(),
        version: 0,
        schema: R::SCHEMA,
        data: serde_json::to_string(record).expect("records serialize to JSON"),
        indexes,
    }
}

/// One namespace of a team's state, typed: what a plugin reads and the writes it makes.
#[derive(Clone, Copy)]
pub struct State<'a> {
    reads: &'a Reads<'a>,
    namespace: &'a str,
}

impl<'a> State<'a> {
    /// The namespace `namespace` (a plugin's name) as read by `reads`.
    pub fn new(reads: &'a Reads<'a>, namespace: &'a str) -> Self {
        Self { reads, namespace }
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        self.namespace
    }

    /// The record of kind `R` with this id, if any.
    pub async fn get<R: Record>(&self, id: &str) -> Result<Option<R>, StoreError> {
        let found = self.reads.records(self.namespace, R::KIND, &[id.to_owned()]).await?;
        found.into_iter().flatten().next().map(|stored| self.decoded(&stored)).transpose()
    }

    /// `stored` as `R`; one migrated from an older schema is written back in the decision's
    /// apply (guarded by the version read), so that its index keys become the new shape's.
    fn decoded<R: Record>(&self, stored: &StoredRecord) -> Result<R, StoreError> {
        let record: R = decode(stored)?;
        if stored.schema < R::SCHEMA {
            self.reads.migrated(self.namespace, encode(&record));
        }
        Ok(record)
    }

    /// The records of kind `R` with these ids that exist, in the order asked. A record that
    /// cannot be read is left out, with a warning (see [`listed`]).
    pub async fn get_many<R: Record>(&self, ids: &[String]) -> Result<Vec<R>, StoreError> {
        let found = self.reads.records(self.namespace, R::KIND, ids).await?;
        self.listed(found.iter().flatten(), true)
    }

    /// The records of kind `R` listed under `key` of `index`, by id. A record that cannot be
    /// read is left out, with a warning (see [`listed`]).
    pub async fn find<R: Record>(&self, index: &str, key: &str) -> Result<Vec<R>, StoreError> {
        let found = self.reads.find(self.namespace, R::KIND, index, key).await?;
        self.listed(found.iter(), true)
    }

    /// The records listed under `key` of a typed index.
    pub async fn find_by<R: Record, K: ?Sized + ToString>(
        &self,
        index: &Index<R, K>,
        key: &K,
    ) -> Result<Vec<R>, StoreError> {
        self.find(index.name, &key.to_string()).await
    }

    /// The record listed under `key` of a unique index, if any.
    pub async fn find_one<R: Record, K: ?Sized + ToString>(
        &self,
        index: &Index<R, K>,
        key: &K,
    ) -> Result<Option<R>, StoreError> {
        Ok(self.find_by(index, key).await?.into_iter().next())
    }

    /// The records listed under every key of a typed index that starts with `prefix`, by key
    /// then id, at most `limit`. Not part of the guard (a key made meanwhile is not seen): for
    /// showing, or for finding what to read by id.
    pub async fn find_prefix<R: Record>(
        &self,
        index: &Index<R, str>,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<R>, StoreError> {
        let found = self.reads.find_prefix(self.namespace, R::KIND, index.name, prefix, limit).await?;
        self.listed(found.iter(), false)
    }

    /// The latest `limit` records of kind `R`, newest first. Not part of the guard: for
    /// showing, not for deciding. A record that cannot be read is left out, with a warning.
    pub async fn recent<R: Record>(&self, limit: usize) -> Result<Vec<R>, StoreError> {
        let found = self.reads.recent(self.namespace, R::KIND, limit).await?;
        self.listed(found.iter(), false)
    }

    /// The records of a listing as `R`: one that is corrupt is left out with a warning, so that
    /// one broken record does not break every listing of it (reading it by its id still says
    /// what is wrong). One written by a newer version is not left out: the listing would be
    /// wrong, so the whole read is refused ([`StoreError::NewerSchema`]). Records migrated from
    /// an older schema are written back when the listing was `guarded`.
    fn listed<'r, R: Record>(
        &self,
        records: impl Iterator<Item = &'r StoredRecord>,
        guarded: bool,
    ) -> Result<Vec<R>, StoreError> {
        let mut read = Vec::new();
        for stored in records {
            let decoded = if guarded { self.decoded(stored) } else { decode(stored) };
            match decoded {
                Ok(record) => read.push(record),
                Err(StoreError::Corrupt(reason)) => {
                    tracing::warn!(namespace = self.namespace, reason, "a listed record is unreadable; left out");
                }
                Err(other) => return Err(other),
            }
        }
        Ok(read)
    }

    /// Entries of a stream, oldest first, with their ids.
    pub async fn stream_entries(&self, stream: &str, range: StreamRange) -> Result<Vec<StreamEntry>, StoreError> {
        self.reads.stream(self.namespace, stream, range).await
    }

    /// The whole stream, oldest first, `size` entries at a time: a long stream (a report's
    /// timeline) is never read in one call nor held whole.
    pub fn pages<E: DeserializeOwned>(&self, stream: &str, size: usize) -> Pages<'a, E> {
        Pages {
            state: *self,
            stream: stream.to_owned(),
            size: size.max(1),
            after: None,
            done: false,
            entry: PhantomData,
        }
    }

    /// Entries of a stream, oldest first.
    pub async fn stream<E: DeserializeOwned>(&self, stream: &str, range: StreamRange) -> Result<Vec<E>, StoreError> {
        let entries = self.stream_entries(stream, range).await?;
        decode_entries(stream, &entries)
    }

    /// The next number of `sequence`, reserved for `reservation` (the cause): the same cause
    /// always gets the same number.
    pub async fn next_number(&self, sequence: &str, reservation: &str) -> Result<u64, StoreError> {
        self.reads.reserve(self.namespace, sequence, reservation).await
    }

    /// The change that stores `record`, created or replaced.
    pub fn put<R: Record>(&self, record: &R) -> Change {
        Change(Write::Put { namespace: self.namespace.to_owned(), record: encode(record) })
    }

    /// The change that removes the record of kind `R` with this id.
    pub fn remove<R: Record>(&self, id: &str) -> Change {
        Change(Write::Remove { namespace: self.namespace.to_owned(), kind: R::KIND.to_owned(), id: id.to_owned() })
    }

    /// The change that appends `entry` to a stream.
    pub fn append<E: Serialize>(&self, stream: &str, entry: &E) -> Change {
        Change(Write::Append {
            namespace: self.namespace.to_owned(),
            stream: stream.to_owned(),
            entry: serde_json::to_string(entry).expect("stream entries serialize to JSON"),
        })
    }

    /// The change that keeps only a stream's newest `keep` entries.
    pub fn trim(&self, stream: &str, keep: u64) -> Change {
        Change(Write::Trim { namespace: self.namespace.to_owned(), stream: stream.to_owned(), keep })
    }

    /// The change that schedules this plugin's job of kind `J` about `subject` (`"3"`: an
    /// incident's number) for `due`, replacing the one scheduled before. The jobs of one
    /// subject run one after the other, in the order they fall due.
    pub fn schedule<J: JobData>(&self, subject: &str, due: chrono::DateTime<chrono::Utc>, data: &J) -> Change {
        Change(Write::Schedule(Job::typed(self.namespace, subject, due, data)))
    }

    /// The change that cancels this plugin's job of kind `J` about `subject`, if there is one.
    pub fn cancel<J: JobData>(&self, subject: &str) -> Change {
        Change(Write::Cancel(job_id(self.namespace, subject, J::KIND)))
    }

    /// Like [`State::schedule`], for a kind named at run time (a plugin whose kinds of jobs are
    /// the variants of an enum, read back with [`Job::kind`]).
    pub fn schedule_named<D: Serialize>(
        &self,
        kind: &str,
        subject: &str,
        due: chrono::DateTime<chrono::Utc>,
        data: &D,
    ) -> Change {
        let data = serde_json::to_string(data).expect("job data serializes to JSON");
        Change(Write::Schedule(Job::new(job_id(self.namespace, subject, kind), self.namespace, due, data)))
    }

    /// The change that cancels `job` (as listed by the store), whatever its kind: for a
    /// plugin's own jobs, and for the `admin` plugin dropping a disabled plugin's jobs.
    pub fn cancel_job(&self, job: &Job) -> Change {
        Change(Write::Cancel(job.id.clone()))
    }

    /// Like [`State::cancel`], for a kind named at run time.
    pub fn cancel_named(&self, kind: &str, subject: &str) -> Change {
        Change(Write::Cancel(job_id(self.namespace, subject, kind)))
    }
}

/// The entries of `stream` as `E`; an entry that cannot be read is a corrupt stream.
fn decode_entries<E: DeserializeOwned>(stream: &str, entries: &[StreamEntry]) -> Result<Vec<E>, StoreError> {
    entries
        .iter()
        .map(|entry| {
            serde_json::from_str(&entry.data)
                .map_err(|err| StoreError::Corrupt(format!("stream {stream:?} entry {}: {err}", entry.id)))
        })
        .collect()
}

/// A stream read page by page, oldest first (see [`State::pages`]).
pub struct Pages<'a, E> {
    state: State<'a>,
    stream: String,
    size: usize,
    after: Option<String>,
    done: bool,
    entry: PhantomData<E>,
}

impl<E: DeserializeOwned> Pages<'_, E> {
    /// The next page, or `None` after the last one.
    pub async fn next(&mut self) -> Result<Option<Vec<E>>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let range = match self.after.take() {
            None => StreamRange::First(self.size),
            Some(id) => StreamRange::After { id, limit: self.size },
        };
        let entries = self.state.stream_entries(&self.stream, range).await?;
        self.done = entries.len() < self.size;
        self.after = entries.last().map(|entry| entry.id.clone());
        if entries.is_empty() {
            return Ok(None);
        }
        decode_entries(&self.stream, &entries).map(Some)
    }
}

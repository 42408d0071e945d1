//! The reads of one decision, remembered as the guard of its writes.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use super::cache::{Cache, Cached};
use crate::ids::TeamId;
use crate::store::{Key, Store, StoreError, StoredRecord, StreamEntry, StreamRange, Write};

/// Everything one decision (a command, a job run, an event) reads of its team's state, through
/// the replica's [`Cache`] when it remembers the value, with the version seen. The versions
/// become the guard of the decision's writes ([`Reads::guard`]): if anything read has changed
/// when the writes are applied, nothing is applied and the decision is made again.
pub struct Reads<'a> {
    store: &'a dyn Store,
    team: Option<&'a TeamId>,
    cache: Option<&'a Cache>,
    seen: Mutex<BTreeMap<Key, u64>>,
    reserved: Mutex<Vec<Write>>,
    migrated: Mutex<Vec<Write>>,
}

fn record_key(namespace: &str, kind: &str, id: &str) -> Key {
    Key::Record { namespace: namespace.to_owned(), kind: kind.to_owned(), id: id.to_owned() }
}

impl<'a> Reads<'a> {
    /// Reads of `team`'s state from `store`, through `cache` if given. A place with no team
    /// has no state: every read finds nothing.
    pub fn new(store: &'a dyn Store, team: Option<&'a TeamId>, cache: Option<&'a Cache>) -> Self {
        Self {
            store,
            team,
            cache,
            seen: Mutex::new(BTreeMap::new()),
            reserved: Mutex::new(Vec::new()),
            migrated: Mutex::new(Vec::new()),
        }
    }

    /// The team read.
    pub fn team(&self) -> Option<&TeamId> {
        self.team
    }

    /// The store read from.
    pub fn store(&self) -> &'a dyn Store {
        self.store
    }

    /// What was read, with the versions seen: the guard of the writes decided on it.
    pub fn guard(&self) -> Vec<(Key, u64)> {
        self.lock().iter().map(|(key, version)| (key.clone(), *version)).collect()
    }

    /// The writes that release every number reserved by this decision: applied with its other
    /// writes, so that a reservation lives only until its cause is applied.
    pub fn releases(&self) -> Vec<Write> {
        self.reserved.lock().unwrap_or_else(|poison| poison.into_inner()).clone()
    }

    /// Remembers that `record` of `namespace` was read in an older schema and migrated: it is
    /// written back as it is now (see [`Reads::rewrites`]).
    pub(super) fn migrated(&self, namespace: &str, record: StoredRecord) {
        let put = Write::Put { namespace: namespace.to_owned(), record };
        let mut migrated = self.migrated.lock().unwrap_or_else(|poison| poison.into_inner());
        if !migrated.contains(&put) {
            migrated.push(put);
        }
    }

    /// The writes that keep every record this decision migrated on reading in its new shape,
    /// with its new index keys: applied with the decision's other writes, guarded by the
    /// version read.
    pub fn rewrites(&self) -> Vec<Write> {
        self.migrated.lock().unwrap_or_else(|poison| poison.into_inner()).clone()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Key, u64>> {
        self.seen.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Remembers that `key` was read at `version`; the first read of a key is the one that
    /// counts.
    fn saw(&self, key: Key, version: u64) {
        self.lock().entry(key).or_insert(version);
    }

    fn cached(&self, team: &TeamId, key: &Key) -> Option<Cached> {
        self.cache.and_then(|cache| cache.get(team, key))
    }

    fn remember(&self, team: &TeamId, key: Key, cached: Cached) {
        if let Some(cache) = self.cache {
            cache.put(team, key, cached);
        }
    }

    /// Records of one kind by id, `None` for those that do not exist.
    pub async fn records(
        &self,
        namespace: &str,
        kind: &str,
        ids: &[String],
    ) -> Result<Vec<Option<StoredRecord>>, StoreError> {
        let Some(team) = self.team else { return Ok(vec![None; ids.len()]) };
        let mut found: Vec<Option<Option<StoredRecord>>> = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        for id in ids {
            let key = record_key(namespace, kind, id);
            match self.cached(team, &key) {
                Some(Cached::Record { version, record }) => {
                    self.saw(key, version);
                    found.push(Some(record));
                }
                _ => {
                    missing.push(id.clone());
                    found.push(None);
                }
            }
        }
        if !missing.is_empty() {
            let fetched = self.store.records(team, namespace, kind, &missing).await?;
            let mut fetched = missing.into_iter().zip(fetched.into_iter().chain(std::iter::repeat((0, None))));
            for slot in found.iter_mut().filter(|slot| slot.is_none()) {
                let Some((id, (version, record))) = fetched.next() else { break };
                let key = record_key(namespace, kind, &id);
                self.saw(key.clone(), version);
                self.remember(team, key, Cached::Record { version, record: record.clone() });
                *slot = Some(record);
            }
        }
        Ok(found.into_iter().map(Option::flatten).collect())
    }

    /// The records listed under an index key, by id.
    pub async fn find(
        &self,
        namespace: &str,
        kind: &str,
        index: &str,
        key: &str,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let Some(team) = self.team else { return Ok(Vec::new()) };
        let index_key = Key::Index {
            namespace: namespace.to_owned(),
            kind: kind.to_owned(),
            index: index.to_owned(),
            key: key.to_owned(),
        };
        if let Some(records) = self.find_cached(team, &index_key, namespace, kind) {
            return Ok(records);
        }
        let listing = self.store.find(team, namespace, kind, index, key).await?;
        self.saw(index_key.clone(), listing.version);
        let ids = listing.records.iter().map(|r| r.id.clone()).collect();
        self.remember(team, index_key, Cached::Index { version: listing.version, ids });
        for record in &listing.records {
            let key = record_key(namespace, kind, &record.id);
            self.saw(key.clone(), record.version);
            self.remember(team, key, Cached::Record { version: record.version, record: Some(record.clone()) });
        }
        Ok(listing.records)
    }

    /// A listing served from the cache, when the index key and every record listed are there.
    fn find_cached(&self, team: &TeamId, index_key: &Key, namespace: &str, kind: &str) -> Option<Vec<StoredRecord>> {
        let Some(Cached::Index { version, ids }) = self.cached(team, index_key) else { return None };
        let mut records = Vec::with_capacity(ids.len());
        let mut seen = vec![(index_key.clone(), version)];
        for id in &ids {
            let key = record_key(namespace, kind, id);
            let Some(Cached::Record { version, record: Some(record) }) = self.cached(team, &key) else { return None };
            seen.push((key, version));
            records.push(record);
        }
        seen.into_iter().for_each(|(key, version)| self.saw(key, version));
        Some(records)
    }

    /// The records under every key of an index that starts with `prefix`; not guarded.
    pub async fn find_prefix(
        &self,
        namespace: &str,
        kind: &str,
        index: &str,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        match self.team {
            Some(team) => self.store.find_prefix(team, namespace, kind, index, prefix, limit).await,
            None => Ok(Vec::new()),
        }
    }

    /// The latest records of a kind, newest first; not guarded.
    pub async fn recent(&self, namespace: &str, kind: &str, limit: usize) -> Result<Vec<StoredRecord>, StoreError> {
        match self.team {
            Some(team) => self.store.recent(team, namespace, kind, limit).await,
            None => Ok(Vec::new()),
        }
    }

    /// Entries of a stream, oldest first; not guarded.
    pub async fn stream(
        &self,
        namespace: &str,
        stream: &str,
        range: StreamRange,
    ) -> Result<Vec<StreamEntry>, StoreError> {
        match self.team {
            Some(team) => self.store.stream(team, namespace, stream, range).await,
            None => Ok(Vec::new()),
        }
    }

    /// Reserves the next number of a sequence for `reservation`, until the decision is applied
    /// (see [`Reads::releases`]).
    pub async fn reserve(&self, namespace: &str, sequence: &str, reservation: &str) -> Result<u64, StoreError> {
        let team = self.team.ok_or_else(|| StoreError::Unavailable("this room belongs to no team".into()))?;
        let number = self.store.reserve_number(team, namespace, sequence, reservation).await?;
        let release = Write::Release {
            namespace: namespace.to_owned(),
            sequence: sequence.to_owned(),
            reservation: reservation.to_owned(),
        };
        let mut reserved = self.reserved.lock().unwrap_or_else(|poison| poison.into_inner());
        if !reserved.contains(&release) {
            reserved.push(release);
        }
        Ok(number)
    }
}

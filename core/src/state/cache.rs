//! What a replica remembers of its teams' state between commands.

use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard};

use lru::LruCache;

use crate::ids::TeamId;
use crate::store::{Applied, Key, StoredRecord, Write};

/// One remembered read.
#[derive(Debug, Clone)]
pub(crate) enum Cached {
    /// A record at a version (`None`: it did not exist, at version 0 or after a removal).
    Record { version: u64, record: Option<StoredRecord> },
    /// The ids listed under an index key at a version.
    Index { version: u64, ids: Vec<String> },
}

/// Records and index listings as last read or written, per team, the least recently used
/// forgotten first. A remembered value may be stale (another replica wrote since): that is
/// harmless, because writes are guarded by the versions read, and a command decided on a stale
/// value is decided again after the stale entry is forgotten. It saves the reads of almost
/// every command: a command usually costs one round trip, its apply.
pub struct Cache {
    entries: Mutex<LruCache<(TeamId, Key), Cached>>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("entries", &self.lock().len()).finish()
    }
}

impl Cache {
    /// A cache of at most `capacity` records and index keys across every team.
    pub fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self { entries: Mutex::new(LruCache::new(capacity)) }
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<(TeamId, Key), Cached>> {
        self.entries.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    pub(crate) fn get(&self, team: &TeamId, key: &Key) -> Option<Cached> {
        self.lock().get(&(team.clone(), key.clone())).cloned()
    }

    pub(crate) fn put(&self, team: &TeamId, key: Key, cached: Cached) {
        self.lock().put((team.clone(), key), cached);
    }

    /// Forgets one key: it was found stale.
    pub fn forget(&self, team: &TeamId, key: &Key) {
        self.lock().pop(&(team.clone(), key.clone()));
    }

    /// Forgets everything about `team` (after a store failure, say).
    pub fn forget_team(&self, team: &TeamId) {
        let mut entries = self.lock();
        let stale: Vec<(TeamId, Key)> =
            entries.iter().filter(|((t, _), _)| t == team).map(|(k, _)| k.clone()).collect();
        for key in stale {
            entries.pop(&key);
        }
    }

    /// How many records and index keys are remembered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Follows an apply: written records are remembered at their new version, removed ones as
    /// absent, and index keys whose members changed are forgotten (read again when needed).
    pub fn applied(&self, team: &TeamId, writes: &[Write], applied: &Applied) {
        let mut entries = self.lock();
        for (key, version) in &applied.versions {
            let cache_key = (team.clone(), key.clone());
            match key {
                Key::Index { .. } => {
                    entries.pop(&cache_key);
                }
                Key::Record { namespace, kind, id } => {
                    let record = written(writes, namespace, kind, id).map(|r| StoredRecord { version: *version, ..r });
                    entries.put(cache_key, Cached::Record { version: *version, record });
                }
            }
        }
    }
}

/// The last state `writes` leave a record in: `Some` if put, `None` if removed.
fn written(writes: &[Write], namespace: &str, kind: &str, id: &str) -> Option<StoredRecord> {
    writes.iter().rev().find_map(|write| match write {
        Write::Put { namespace: ns, record } if ns == namespace && record.kind == kind && record.id == id => {
            Some(Some(record.clone()))
        }
        Write::Remove { namespace: ns, kind: k, id: i } if ns == namespace && k == kind && i == id => Some(None),
        _ => None,
    })?
}

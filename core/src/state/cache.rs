//! What a replica remembers of its teams' state between commands.

use std::collections::HashMap;
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

/// Records and index listings as last read or written, per team (each team keeps at most the
/// capacity, the least recently used forgotten first). A remembered value may be stale (another replica wrote since): that is
/// harmless, because writes are guarded by the versions read, and a command decided on a stale
/// value is decided again after the stale entry is forgotten. It saves the reads of almost
/// every command: a command usually costs one round trip, its apply.
pub struct Cache {
    capacity: NonZeroUsize,
    teams: Mutex<HashMap<TeamId, LruCache<Key, Cached>>>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("entries", &self.len()).finish()
    }
}

impl Cache {
    /// A cache of at most `capacity` records and index keys per team.
    pub fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self { capacity, teams: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<TeamId, LruCache<Key, Cached>>> {
        self.teams.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Runs `change` on the team's entries, made if needed.
    fn with_team<T>(&self, team: &TeamId, change: impl FnOnce(&mut LruCache<Key, Cached>) -> T) -> T {
        let mut teams = self.lock();
        if !teams.contains_key(team) {
            teams.insert(team.clone(), LruCache::new(self.capacity));
        }
        change(teams.get_mut(team).expect("inserted above"))
    }

    pub(crate) fn get(&self, team: &TeamId, key: &Key) -> Option<Cached> {
        self.lock().get_mut(team)?.get(key).cloned()
    }

    pub(crate) fn put(&self, team: &TeamId, key: Key, cached: Cached) {
        self.with_team(team, |entries| entries.put(key, cached));
    }

    /// Forgets one key: it was found stale.
    pub fn forget(&self, team: &TeamId, key: &Key) {
        if let Some(entries) = self.lock().get_mut(team) {
            entries.pop(key);
        }
    }

    /// Forgets everything about `team` (after a store failure, say).
    pub fn forget_team(&self, team: &TeamId) {
        self.lock().remove(team);
    }

    /// How many records and index keys are remembered, across every team.
    pub fn len(&self) -> usize {
        self.lock().values().map(LruCache::len).sum()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Follows an apply: written records are remembered at their new version, removed ones as
    /// absent, and index keys whose members changed are forgotten (read again when needed).
    pub fn applied(&self, team: &TeamId, writes: &[Write], applied: &Applied) {
        self.with_team(team, |entries| {
            for (key, version) in &applied.versions {
                match key {
                    Key::Index { .. } => {
                        entries.pop(key);
                    }
                    Key::Record { namespace, kind, id } => {
                        let record =
                            written(writes, namespace, kind, id).map(|r| StoredRecord { version: *version, ..r });
                        entries.put(key.clone(), Cached::Record { version: *version, record });
                    }
                }
            }
        });
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

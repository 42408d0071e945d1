//! `firebell migrate`: brings every record a plugin keeps up to its current shape.
//!
//! A record written with an older schema is migrated whenever it is read, and written back
//! with the decision that read it. A record nobody reads stays in the old shape, listed under
//! the old shape's index keys, so a listing by a new key misses it. This rewrites them all, in
//! batches: each batch is one apply guarded by the versions read, so it is safe while replicas
//! run (a record changed meanwhile is read and rewritten again).

use firebell_core::plugin::Registry;
use firebell_core::state::RecordType;
use firebell_core::store::{ApplyError, Guard, Key, Store, StoreError, Write};
use firebell_core::team::{Team, Teams};

/// The most records one migration lists of one kind of one team.
const MOST_RECORDS: usize = 1_000_000_000;
/// How many times a batch is tried again while its records keep changing.
const ATTEMPTS: usize = 20;

/// What a migration did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Migrated {
    /// Records read.
    pub read: usize,
    /// Records rewritten in their current shape.
    pub rewritten: usize,
    /// Records that could not be read (left as they are, logged).
    pub unreadable: usize,
    /// Records written by a newer version (left as they are).
    pub newer: usize,
}

/// Rewrites, for every team, every record of every registered plugin's record types that is not
/// in its current shape, `batch` records per apply.
pub async fn migrate(
    store: &dyn Store,
    registry: &Registry,
    teams: &Teams,
    batch: usize,
) -> Result<Migrated, StoreError> {
    let mut migrated = Migrated::default();
    for team in teams.iter() {
        for plugin in registry.plugins() {
            for record_type in plugin.records() {
                let ids: Vec<String> = store
                    .recent(&team.id, plugin.name(), record_type.kind, MOST_RECORDS)
                    .await?
                    .into_iter()
                    .map(|record| record.id)
                    .collect();
                for ids in ids.chunks(batch.max(1)) {
                    rewrite(store, team, plugin.name(), record_type, ids, &mut migrated).await?;
                }
            }
        }
    }
    Ok(migrated)
}

/// Rewrites the records `ids` that are not in their current shape, in one guarded apply.
async fn rewrite(
    store: &dyn Store,
    team: &Team,
    namespace: &str,
    record_type: &RecordType,
    ids: &[String],
    migrated: &mut Migrated,
) -> Result<(), StoreError> {
    for _ in 0..ATTEMPTS {
        let found = store.records(&team.id, namespace, record_type.kind, ids).await?;
        let (mut read, mut writes, mut done) = (Vec::new(), Vec::new(), Migrated::default());
        for (id, (version, record)) in ids.iter().zip(found) {
            let Some(record) = record else { continue };
            done.read += 1;
            match record_type.upgrade(&record) {
                Ok(None) => {}
                Ok(Some(fresh)) => {
                    let key =
                        Key::Record { namespace: namespace.to_owned(), kind: record.kind.clone(), id: id.clone() };
                    read.push((key, version));
                    writes.push(Write::Put { namespace: namespace.to_owned(), record: fresh });
                }
                Err(StoreError::Corrupt(reason)) => {
                    tracing::warn!(team = %team.id, namespace, reason, "unreadable record left as it is");
                    done.unreadable += 1;
                }
                Err(StoreError::NewerSchema(reason)) => {
                    tracing::warn!(team = %team.id, namespace, reason, "record of a newer version left as it is");
                    done.newer += 1;
                }
                Err(err) => return Err(err),
            }
        }
        done.rewritten = writes.len();
        let applied = match writes.is_empty() {
            true => Ok(()),
            false => {
                store.apply(Some(&team.id), Guard { claim: None, reads: &read, job: None }, &writes).await.map(drop)
            }
        };
        match applied {
            Ok(()) => {
                migrated.read += done.read;
                migrated.rewritten += done.rewritten;
                migrated.unreadable += done.unreadable;
                migrated.newer += done.newer;
                return Ok(());
            }
            Err(ApplyError::Conflict(key)) => tracing::debug!(%key, "a record changed while migrating; reading again"),
            Err(ApplyError::Store(err)) => return Err(err),
            Err(other) => return Err(StoreError::Unavailable(format!("unexpected refusal while migrating: {other}"))),
        }
    }
    Err(StoreError::Unavailable(format!("{namespace} records kept changing while migrating; run it again")))
}

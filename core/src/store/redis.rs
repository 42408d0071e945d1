//! The Redis store: shared by every replica; each check-then-act is one Lua script.
//!
//! Keys live under a namespace and carry the team as their hash tag, so that every script
//! touches one hash slot and also works on Redis Cluster:
//!
//! | key                                   | type   | holds                                    |
//! |---------------------------------------|--------|------------------------------------------|
//! | `{ns}:{team}:rev`                     | string | the team's revision (see `TeamSnapshot`)  |
//! | `{ns}:{team}:seq`                     | string | the last reserved incident number        |
//! | `{ns}:{team}:resv:{reservation}`      | string | the number reserved for an event (1 day) |
//! | `{ns}:{team}:open`                    | set    | numbers of open incidents                |
//! | `{ns}:{team}:all`                     | zset   | every incident number (score: number)    |
//! | `{ns}:{team}:inc:{n}`                 | hash   | `version`, `data` (the incident as JSON)  |
//! | `{ns}:{team}:inc:{n}:timeline`        | stream | timeline entries, field `e` (JSON)       |
//! | `{ns}:{team}:log:{project}`           | stream | admin log entries, field `e` (JSON)      |
//! | `{ns}:{team}:plugins`                 | hash   | plugin name → chat-made choices (JSON)   |
//! | `{ns}:{team}:audit`                   | stream | admin actions, field `e` (JSON)          |
//! | `{ns}:{team}:seen:{transport}:{id}`   | string | the claim of an inbound event (with TTL) |
//!
//! Rooms without a team use `~` as their team tag.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{ApplyError, AuditEntry, Guard, LogEntry, PluginState, Store, StoreError, TeamSnapshot, Write};
use crate::ids::TeamId;
use crate::incident::{Incident, TimelineEntry};

/// Why the Redis store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum RedisStoreError {
    /// The URL is not a Redis URL.
    #[error("invalid Redis URL {url:?}: {reason} (expected redis://HOST:PORT[/DB])")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server did not answer.
    #[error("cannot reach Redis at {url}: {reason}")]
    Unreachable {
        /// The URL given.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

/// The store on a Redis server, shared by every replica that uses the same namespace.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    namespace: String,
    scripts: &'static Scripts,
    revisions: Arc<Revisions>,
}

/// Makes revision tokens no other client makes: a random prefix and a counter.
struct Revisions {
    prefix: String,
    counter: AtomicU64,
}

impl Revisions {
    fn new() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
        Self { prefix: format!("{random:016x}"), counter: AtomicU64::new(0) }
    }

    fn next(&self) -> String {
        format!("{}.{}", self.prefix, self.counter.fetch_add(1, Ordering::Relaxed))
    }
}

struct Scripts {
    apply: Script,
    reserve: Script,
    load_open: Script,
    load_recent: Script,
}

fn scripts() -> &'static Scripts {
    static SCRIPTS: std::sync::OnceLock<Scripts> = std::sync::OnceLock::new();
    SCRIPTS.get_or_init(|| Scripts {
        apply: Script::new(include_str!("lua/apply.lua")),
        reserve: Script::new(include_str!("lua/reserve.lua")),
        load_open: Script::new(include_str!("lua/load_open.lua")),
        load_recent: Script::new(include_str!("lua/load_recent.lua")),
    })
}

fn unavailable(err: redis::RedisError) -> StoreError {
    StoreError::Unavailable(err.to_string())
}

fn corrupt(err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(err.to_string())
}

fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("store records always serialize")
}

fn from_json<T: DeserializeOwned>(json: &str) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(corrupt)
}

/// An incident row as the scripts return it: number, version, data.
fn decode_incident(number: &str, version: &str, data: &str) -> Result<Incident, StoreError> {
    let mut incident: Incident = from_json(data)?;
    incident.version = version.parse().map_err(corrupt)?;
    if incident.number.to_string() != number {
        return Err(corrupt(format!("incident {number} holds the record of {}", incident.number)));
    }
    Ok(incident)
}

fn decode_incidents(rows: Vec<String>) -> Result<Vec<Incident>, StoreError> {
    rows.chunks_exact(3).map(|row| decode_incident(&row[0], &row[1], &row[2])).collect()
}

/// The JSON request of `apply.lua`.
#[derive(Serialize)]
struct ApplyRequest<'a> {
    claim: String,
    ttl: String,
    check_rev: bool,
    rev: &'a str,
    next_rev: String,
    ops: Vec<Op<'a>>,
}

#[derive(Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Op<'a> {
    Create { n: String, data: String, open: bool, timeline: Vec<String> },
    Update { n: String, v: String, data: String, open: bool, timeline: Vec<String> },
    Append { n: String, entry: String },
    Log { project: &'a str, entry: String },
    Plugin { name: &'a str, state: String },
    Audit { entry: String },
}

impl<'a> Op<'a> {
    fn from_write(write: &'a Write) -> Self {
        let entries = |timeline: &[TimelineEntry]| timeline.iter().map(to_json).collect();
        match write {
            Write::CreateIncident { incident, timeline } => Op::Create {
                n: incident.number.to_string(),
                data: to_json(incident),
                open: incident.is_open(),
                timeline: entries(timeline),
            },
            Write::UpdateIncident { incident, timeline } => Op::Update {
                n: incident.number.to_string(),
                v: incident.version.to_string(),
                data: to_json(incident),
                open: incident.is_open(),
                timeline: entries(timeline),
            },
            Write::AppendToOpenTimeline { number, entry } => {
                Op::Append { n: number.to_string(), entry: to_json(entry) }
            }
            Write::AppendAdminLog(entry) => Op::Log { project: &entry.project, entry: to_json(entry) },
            Write::SetPluginState { plugin, state } => {
                Op::Plugin { name: plugin, state: state.as_ref().map(to_json).unwrap_or_default() }
            }
            Write::AppendAudit(entry) => Op::Audit { entry: to_json(entry) },
        }
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://HOST:PORT[/DB]`) and checks that the server answers. Keys are
    /// written under `namespace`. The connection reconnects by itself after network errors or a
    /// server restart.
    pub async fn connect(url: &str, namespace: &str) -> Result<Self, RedisStoreError> {
        let client = redis::Client::open(url)
            .map_err(|err| RedisStoreError::InvalidUrl { url: url.to_owned(), reason: err.to_string() })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(3)
            .set_max_delay(Duration::from_secs(2));
        let unreachable =
            |err: redis::RedisError| RedisStoreError::Unreachable { url: url.to_owned(), reason: err.to_string() };
        let connection = ConnectionManager::new_with_config(client, config).await.map_err(unreachable)?;
        let store = Self {
            connection,
            namespace: namespace.to_owned(),
            scripts: scripts(),
            revisions: Arc::new(Revisions::new()),
        };
        store
            .ping()
            .await
            .map_err(|err| RedisStoreError::Unreachable { url: url.to_owned(), reason: err.to_string() })?;
        Ok(store)
    }

    /// The key prefix of a team: `{ns}:{wmcs}`, or `{ns}:{~}` for rooms with no team.
    fn prefix(&self, team: Option<&TeamId>) -> String {
        format!("{}:{{{}}}", self.namespace, team.map_or("~", TeamId::as_str))
    }

    fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn ping(&self) -> Result<(), StoreError> {
        redis::cmd("PING").query_async::<String>(&mut self.connection()).await.map(|_| ()).map_err(unavailable)
    }

    async fn snapshot(&self, team: Option<&TeamId>) -> Result<TeamSnapshot, StoreError> {
        if team.is_none() {
            return Ok(TeamSnapshot::default());
        }
        let invocation = self.scripts.load_open.key(self.prefix(team));
        let (revision, plugins, open): (String, Vec<String>, Vec<String>) =
            invocation.invoke_async(&mut self.connection()).await.map_err(unavailable)?;
        let plugins = plugins
            .chunks_exact(2)
            .map(|pair| Ok((pair[0].clone(), from_json::<PluginState>(&pair[1])?)))
            .collect::<Result<_, StoreError>>()?;
        let mut open = decode_incidents(open)?;
        open.sort_by_key(|incident| incident.number);
        Ok(TeamSnapshot { revision, open, plugins })
    }

    async fn apply(&self, team: Option<&TeamId>, guard: Guard<'_>, writes: &[Write]) -> Result<String, ApplyError> {
        let claim = guard.claim;
        let request = ApplyRequest {
            claim: claim.map(|c| format!("{}:{}", c.transport, c.event_id)).unwrap_or_default(),
            ttl: claim.map_or(1, |c| c.ttl.as_secs().max(1)).to_string(),
            check_rev: guard.revision.is_some(),
            rev: guard.revision.unwrap_or_default(),
            next_rev: self.revisions.next(),
            ops: if team.is_some() { writes.iter().map(Op::from_write).collect() } else { Vec::new() },
        };
        let mut invocation = self.scripts.apply.key(self.prefix(team));
        invocation.arg(to_json(&request));
        let outcome: String = invocation.invoke_async(&mut self.connection()).await.map_err(unavailable)?;
        if let Some(revision) = outcome.strip_prefix("ok:") {
            return Ok(revision.to_owned());
        }
        match outcome.as_str() {
            "duplicate" => Err(ApplyError::Duplicate),
            "stale" => Err(ApplyError::Stale),
            other => match other.strip_prefix("conflict:").and_then(|n| n.parse().ok()) {
                Some(number) => Err(ApplyError::Conflict(number)),
                None => Err(ApplyError::Store(corrupt(format!("apply.lua answered {other:?}")))),
            },
        }
    }

    async fn reserve_incident_number(&self, team: &TeamId, reservation: &str) -> Result<u64, StoreError> {
        let mut invocation = self.scripts.reserve.key(self.prefix(Some(team)));
        invocation.arg(reservation);
        invocation.invoke_async(&mut self.connection()).await.map_err(unavailable)
    }

    async fn incident(&self, team: &TeamId, number: u64) -> Result<Option<Incident>, StoreError> {
        let key = format!("{}:inc:{number}", self.prefix(Some(team)));
        let (version, data): (Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(key)
            .arg("version")
            .arg("data")
            .query_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        match (version, data) {
            (Some(version), Some(data)) => decode_incident(&number.to_string(), &version, &data).map(Some),
            _ => Ok(None),
        }
    }

    async fn recent_incidents(&self, team: &TeamId, limit: usize) -> Result<Vec<Incident>, StoreError> {
        let mut invocation = self.scripts.load_recent.key(self.prefix(Some(team)));
        invocation.arg(limit);
        let rows: Vec<String> = invocation.invoke_async(&mut self.connection()).await.map_err(unavailable)?;
        decode_incidents(rows)
    }

    async fn timeline(&self, team: &TeamId, number: u64) -> Result<Vec<TimelineEntry>, StoreError> {
        let key = format!("{}:inc:{number}:timeline", self.prefix(Some(team)));
        let reply: redis::streams::StreamRangeReply = self.connection().xrange_all(key).await.map_err(unavailable)?;
        decode_stream(reply)
    }

    async fn admin_log(&self, team: &TeamId, project: &str, limit: usize) -> Result<Vec<LogEntry>, StoreError> {
        let key = format!("{}:log:{project}", self.prefix(Some(team)));
        let reply: redis::streams::StreamRangeReply =
            self.connection().xrevrange_count(key, "+", "-", limit).await.map_err(unavailable)?;
        let mut entries: Vec<LogEntry> = decode_stream(reply)?;
        entries.reverse();
        Ok(entries)
    }

    async fn audit_log(&self, team: &TeamId, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let key = format!("{}:audit", self.prefix(Some(team)));
        let reply: redis::streams::StreamRangeReply =
            self.connection().xrevrange_count(key, "+", "-", limit).await.map_err(unavailable)?;
        let mut entries: Vec<AuditEntry> = decode_stream(reply)?;
        entries.reverse();
        Ok(entries)
    }
}

/// Decodes the JSON field `e` of every stream entry.
fn decode_stream<T: DeserializeOwned>(reply: redis::streams::StreamRangeReply) -> Result<Vec<T>, StoreError> {
    reply
        .ids
        .iter()
        .map(|entry| {
            let json: String =
                entry.get("e").ok_or_else(|| corrupt(format!("stream entry {} has no field e", entry.id)))?;
            from_json(&json)
        })
        .collect()
}

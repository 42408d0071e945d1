//! The Redis store: shared by every replica; each check-then-act is one Lua script.
//!
//! Keys live under a namespace and carry the team as their hash tag, so that every script
//! touches one hash slot and also works on Redis Cluster:
//!
//! | key                                     | type   | holds                                       |
//! |-----------------------------------------|--------|---------------------------------------------|
//! | `{ns}:{team}:rev`                       | string | the team's revision (see `TeamSnapshot`)     |
//! | `{ns}:{team}:seq:{sequence}`            | string | the last number of a sequence (`incident`)  |
//! | `{ns}:{team}:resv:{sequence}:{cause}`   | string | the number reserved for a cause (1 day)     |
//! | `{ns}:{team}:open`                      | set    | numbers of open incidents                   |
//! | `{ns}:{team}:all`                       | zset   | every incident number (score: number)       |
//! | `{ns}:{team}:inc:{n}`                   | hash   | `version`, `data` (the incident as JSON)     |
//! | `{ns}:{team}:inc:{n}:timeline`          | stream | timeline entries, field `e` (JSON)          |
//! | `{ns}:{team}:log:{project}`             | stream | admin log entries, field `e` (JSON)         |
//! | `{ns}:{team}:plugins`                   | hash   | plugin name → chat-made choices (JSON)      |
//! | `{ns}:{team}:audit`                     | stream | admin actions, field `e` (JSON)             |
//! | `{ns}:{team}:rec:kinds`                 | set    | the kinds of plugin records (escaped)       |
//! | `{ns}:{team}:rec:{kind}:r:{id}`         | hash   | `version`, `open`, `data` of a record        |
//! | `{ns}:{team}:rec:{kind}:open`           | set    | ids of open records                         |
//! | `{ns}:{team}:rec:{kind}:all`            | zset   | every record id, in creation order          |
//! | `{ns}:{team}:jobs`                      | zset   | job id → due time (ms), not yet due         |
//! | `{ns}:{team}:jobdata`, `:jobtokens`     | hash   | job id → job (JSON), token; until run       |
//! | `{ns}:{team}:ready`                     | stream | due jobs, field `job`; group `workers`      |
//! | `{ns}:{team}:attempts`                  | hash   | ready entry → times handed out              |
//! | `{ns}:{team}:dead`                      | stream | jobs that failed too often                  |
//! | `{ns}:{team}:outbox:{cause}`            | string | what a job run sends (JSON, 1 day)          |
//! | `{ns}:{team}:sent:{action}`             | string | an action recorded as sent (1 day)          |
//! | `{ns}:{team}:seen:{cause}`              | string | the claim of a cause (TTL from the config)  |
//! | `{ns}:pace:{key}`                       | string | the next free slot of a pace (ms)           |
//!
//! Rooms without a team use `~` as their team tag. A record kind is escaped (`%` and `:` as
//! `%25` and `%3A`) so that no kind or id, whatever a plugin chooses, can name an index key.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{
    ApplyError, AuditEntry, Guard, LogEntry, PluginState, Record, Store, StoreError, TakeJobs, TeamSnapshot, Write,
};
use crate::ids::TeamId;
use crate::incident::{Incident, TimelineEntry};
use crate::job::{Job, ReadyJob, TakenJobs, unique_token};
use crate::message::Envelope;

/// How long outboxes and sent marks are kept.
const DAY_SECONDS: u64 = 86_400;

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
}

struct Scripts {
    apply: Script,
    reserve: Script,
    load_open: Script,
    load_recent: Script,
    promote: Script,
    take: Script,
    finish: Script,
    scheduled: Script,
    pace: Script,
}

fn scripts() -> &'static Scripts {
    static SCRIPTS: std::sync::OnceLock<Scripts> = std::sync::OnceLock::new();
    SCRIPTS.get_or_init(|| Scripts {
        apply: Script::new(include_str!("lua/apply.lua")),
        reserve: Script::new(include_str!("lua/reserve.lua")),
        load_open: Script::new(include_str!("lua/load_open.lua")),
        load_recent: Script::new(include_str!("lua/load_recent.lua")),
        promote: Script::new(include_str!("lua/promote.lua")),
        take: Script::new(include_str!("lua/take.lua")),
        finish: Script::new(include_str!("lua/finish.lua")),
        scheduled: Script::new(include_str!("lua/scheduled.lua")),
        pace: Script::new(include_str!("lua/pace.lua")),
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

fn decode_record(id: &str, version: &str, data: &str, open: bool) -> Result<Record, StoreError> {
    Ok(Record { id: id.to_owned(), version: version.parse().map_err(corrupt)?, open, data: data.to_owned() })
}

/// A record kind as it appears in keys: without `:`, so that `rec:{kind}:r:{id}` never meets an
/// index key (`rec:{kind}:open`) whatever the id.
fn escape_kind(kind: &str) -> String {
    kind.replace('%', "%25").replace(':', "%3A")
}

fn unescape_kind(kind: &str) -> String {
    kind.replace("%3A", ":").replace("%25", "%")
}

fn ms(at: DateTime<Utc>) -> String {
    at.timestamp_millis().to_string()
}

/// The JSON request of `apply.lua`.
#[derive(Serialize)]
struct ApplyRequest<'a> {
    claim: &'a str,
    ttl: String,
    check_rev: bool,
    rev: &'a str,
    next_rev: String,
    job_id: &'a str,
    job_token: &'a str,
    ops: Vec<Op<'a>>,
}

#[derive(Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Op<'a> {
    Create {
        n: String,
        data: String,
        open: bool,
        timeline: Vec<String>,
    },
    Update {
        n: String,
        v: String,
        data: String,
        open: bool,
        timeline: Vec<String>,
    },
    Append {
        n: String,
        entry: String,
    },
    Log {
        project: &'a str,
        entry: String,
    },
    Plugin {
        name: &'a str,
        state: String,
    },
    Audit {
        entry: String,
    },
    Record {
        kind: String,
        id: &'a str,
        v: String,
        open: bool,
        data: &'a str,
    },
    Schedule {
        id: &'a str,
        due: String,
        token: &'a str,
        job: String,
    },
    Cancel {
        id: &'a str,
    },
    Outbox {
        cause: &'a str,
        envelopes: String,
    },
    #[serde(rename = "drop_outbox")]
    DropOutbox {
        cause: &'a str,
    },
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
            Write::PutRecord { kind, record } => Op::Record {
                kind: escape_kind(kind),
                id: &record.id,
                v: record.version.to_string(),
                open: record.open,
                data: &record.data,
            },
            Write::Schedule(job) => {
                Op::Schedule { id: &job.id, due: ms(job.due), token: &job.token, job: to_json(job) }
            }
            Write::Cancel(id) => Op::Cancel { id },
            Write::Outbox { cause, envelopes } => Op::Outbox { cause, envelopes: to_json(envelopes) },
            Write::DropOutbox(cause) => Op::DropOutbox { cause },
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
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(3)
            .set_max_delay(Duration::from_secs(2));
        let unreachable =
            |err: redis::RedisError| RedisStoreError::Unreachable { url: url.to_owned(), reason: err.to_string() };
        let connection = ConnectionManager::new_with_config(client, config).await.map_err(unreachable)?;
        let store = Self { connection, namespace: namespace.to_owned(), scripts: scripts() };
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

    fn key(&self, team: &TeamId, rest: &str) -> String {
        format!("{}:{rest}", self.prefix(Some(team)))
    }

    fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    /// Runs `script` with the team's prefix as its key and `args`.
    async fn run<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        team: Option<&TeamId>,
        args: &[&str],
    ) -> Result<T, StoreError> {
        let mut invocation = script.key(self.prefix(team));
        for arg in args {
            invocation.arg(*arg);
        }
        invocation.invoke_async(&mut self.connection()).await.map_err(unavailable)
    }

    async fn stream_newest<T: DeserializeOwned>(
        &self,
        key: String,
        field: &str,
        limit: usize,
    ) -> Result<Vec<T>, StoreError> {
        let reply: redis::streams::StreamRangeReply =
            self.connection().xrevrange_count(key, "+", "-", limit).await.map_err(unavailable)?;
        let mut entries: Vec<T> = decode_stream(reply, field)?;
        entries.reverse();
        Ok(entries)
    }
}

/// Decodes the JSON field `field` of every stream entry.
fn decode_stream<T: DeserializeOwned>(
    reply: redis::streams::StreamRangeReply,
    field: &str,
) -> Result<Vec<T>, StoreError> {
    reply
        .ids
        .iter()
        .map(|entry| {
            let json: String =
                entry.get(field).ok_or_else(|| corrupt(format!("stream entry {} has no field {field}", entry.id)))?;
            from_json(&json)
        })
        .collect()
}

fn decode_ready(rows: Vec<(String, String, u32)>) -> Result<Vec<ReadyJob>, StoreError> {
    rows.into_iter().map(|(entry, job, attempts)| Ok(ReadyJob { entry, job: from_json(&job)?, attempts })).collect()
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
        let (revision, plugins, open, records): (String, Vec<String>, Vec<String>, Vec<String>) =
            self.run(&self.scripts.load_open, team, &[]).await?;
        let plugins = plugins
            .chunks_exact(2)
            .map(|pair| Ok((pair[0].clone(), from_json::<PluginState>(&pair[1])?)))
            .collect::<Result<_, StoreError>>()?;
        let mut open = decode_incidents(open)?;
        open.sort_by_key(|incident| incident.number);
        let mut by_kind: std::collections::BTreeMap<String, Vec<Record>> = Default::default();
        for row in records.chunks_exact(4) {
            by_kind.entry(unescape_kind(&row[0])).or_default().push(decode_record(&row[1], &row[2], &row[3], true)?);
        }
        by_kind.values_mut().for_each(|records| records.sort_by(|a, b| a.id.cmp(&b.id)));
        Ok(TeamSnapshot { revision, open, plugins, records: by_kind })
    }

    async fn apply(&self, team: Option<&TeamId>, guard: Guard<'_>, writes: &[Write]) -> Result<String, ApplyError> {
        let claim = guard.claim;
        let request = ApplyRequest {
            claim: claim.map_or("", |c| c.key.as_str()),
            ttl: claim.map_or(1, |c| c.ttl.as_secs().max(1)).to_string(),
            check_rev: guard.revision.is_some(),
            rev: guard.revision.unwrap_or_default(),
            next_rev: unique_token(),
            job_id: guard.job.map_or("", |job| job.id.as_str()),
            job_token: guard.job.map_or("", |job| job.token.as_str()),
            ops: if team.is_some() { writes.iter().map(Op::from_write).collect() } else { Vec::new() },
        };
        let outcome: String = self.run(&self.scripts.apply, team, &[&to_json(&request)]).await?;
        if let Some(revision) = outcome.strip_prefix("ok:") {
            return Ok(revision.to_owned());
        }
        if let Some((kind, id)) = outcome.strip_prefix("record:").and_then(|rest| rest.split_once(':')) {
            return Err(ApplyError::RecordConflict { kind: unescape_kind(kind), id: id.to_owned() });
        }
        match outcome.as_str() {
            "duplicate" => Err(ApplyError::Duplicate),
            "stale" => Err(ApplyError::Stale),
            "gone" => Err(ApplyError::JobGone),
            other => match other.strip_prefix("conflict:").and_then(|n| n.parse().ok()) {
                Some(number) => Err(ApplyError::Conflict(number)),
                None => Err(ApplyError::Store(corrupt(format!("apply.lua answered {other:?}")))),
            },
        }
    }

    async fn reserve_number(&self, team: &TeamId, sequence: &str, reservation: &str) -> Result<u64, StoreError> {
        self.run(&self.scripts.reserve, Some(team), &[sequence, reservation]).await
    }

    async fn incident(&self, team: &TeamId, number: u64) -> Result<Option<Incident>, StoreError> {
        let (version, data): (Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(self.key(team, &format!("inc:{number}")))
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
        let rows: Vec<String> = self.run(&self.scripts.load_recent, Some(team), &[&limit.to_string(), ""]).await?;
        rows.chunks_exact(4).map(|row| decode_incident(&row[0], &row[1], &row[2])).collect()
    }

    async fn timeline(&self, team: &TeamId, number: u64) -> Result<Vec<TimelineEntry>, StoreError> {
        let key = self.key(team, &format!("inc:{number}:timeline"));
        let reply: redis::streams::StreamRangeReply = self.connection().xrange_all(key).await.map_err(unavailable)?;
        decode_stream(reply, "e")
    }

    async fn admin_log(&self, team: &TeamId, project: &str, limit: usize) -> Result<Vec<LogEntry>, StoreError> {
        self.stream_newest(self.key(team, &format!("log:{project}")), "e", limit).await
    }

    async fn audit_log(&self, team: &TeamId, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.stream_newest(self.key(team, "audit"), "e", limit).await
    }

    async fn record(&self, team: &TeamId, kind: &str, id: &str) -> Result<Option<Record>, StoreError> {
        let (version, open, data): (Option<String>, Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(self.key(team, &format!("rec:{}:r:{id}", escape_kind(kind))))
            .arg("version")
            .arg("open")
            .arg("data")
            .query_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        match (version, open, data) {
            (Some(version), Some(open), Some(data)) => decode_record(id, &version, &data, open == "1").map(Some),
            _ => Ok(None),
        }
    }

    async fn recent_records(&self, team: &TeamId, kind: &str, limit: usize) -> Result<Vec<Record>, StoreError> {
        let kind = escape_kind(kind);
        let rows: Vec<String> = self.run(&self.scripts.load_recent, Some(team), &[&limit.to_string(), &kind]).await?;
        rows.chunks_exact(4).map(|row| decode_record(&row[0], &row[1], &row[2], row[3] == "1")).collect()
    }

    async fn scheduled_jobs(&self, team: &TeamId) -> Result<Vec<Job>, StoreError> {
        let rows: Vec<String> = self.run(&self.scripts.scheduled, Some(team), &[]).await?;
        rows.iter().map(|job| from_json(job)).collect()
    }

    async fn promote_due_jobs(&self, team: &TeamId, now: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        self.run(&self.scripts.promote, Some(team), &[&ms(now), &limit.to_string()]).await
    }

    async fn take_jobs(&self, team: &TeamId, consumer: &str, take: TakeJobs) -> Result<TakenJobs, StoreError> {
        let reclaim_ms = take.reclaim_after.as_millis().max(1).to_string();
        let args = [consumer, &take.limit.to_string(), &reclaim_ms, &take.max_attempts.to_string()];
        let (ready, dead): (Vec<(String, String, u32)>, Vec<(String, String, u32)>) =
            self.run(&self.scripts.take, Some(team), &args).await?;
        Ok(TakenJobs { ready: decode_ready(ready)?, dead: decode_ready(dead)? })
    }

    async fn finish_job(&self, team: &TeamId, entry: &str, cause: &str) -> Result<(), StoreError> {
        self.run::<String>(&self.scripts.finish, Some(team), &[entry, cause]).await.map(|_| ())
    }

    async fn dead_jobs(&self, team: &TeamId, limit: usize) -> Result<Vec<Job>, StoreError> {
        self.stream_newest(self.key(team, "dead"), "job", limit).await
    }

    async fn outbox(&self, team: &TeamId, cause: &str) -> Result<Vec<Envelope>, StoreError> {
        let json: Option<String> =
            self.connection().get(self.key(team, &format!("outbox:{cause}"))).await.map_err(unavailable)?;
        json.map_or(Ok(Vec::new()), |json| from_json(&json))
    }

    async fn is_sent(&self, team: &TeamId, action: &str) -> Result<bool, StoreError> {
        self.connection().exists(self.key(team, &format!("sent:{action}"))).await.map_err(unavailable)
    }

    async fn pace(&self, key: &str, every: Duration) -> Result<Duration, StoreError> {
        let mut invocation = self.scripts.pace.key(format!("{}:pace:{key}", self.namespace));
        invocation.arg(every.as_millis().max(1).to_string());
        let wait: u64 = invocation.invoke_async(&mut self.connection()).await.map_err(unavailable)?;
        Ok(Duration::from_millis(wait))
    }

    async fn mark_sent(&self, team: &TeamId, action: &str) -> Result<(), StoreError> {
        self.connection()
            .set_ex::<_, _, ()>(self.key(team, &format!("sent:{action}")), "1", DAY_SECONDS)
            .await
            .map_err(unavailable)
    }
}

//! The Redis store: shared by every replica; each check-then-act is one Lua script.
//!
//! Keys live under a namespace (the config's `namespace`) and carry the team as their hash tag,
//! so that every script touches one hash slot and also works on Redis Cluster. Each plugin's
//! state lives under `{ns}:{team}:n:{plugin}`:
//!
//! | key                                       | type   | holds                                      |
//! |-------------------------------------------|--------|--------------------------------------------|
//! | `{ns}:{team}:n:{plugin}:r:{kind}:{id}`    | string | `<version> <schema> <idx JSON>\n<data>` (see `lua/record.lua`) |
//! | `{ns}:{team}:n:{plugin}:c:{kind}`         | zset   | record ids in creation order               |
//! | `{ns}:{team}:n:{plugin}:cn`               | string | the creation counter                       |
//! | `{ns}:{team}:n:{plugin}:i:{kind}:{index}:{key}` | set | ids of the records listed under the key |
//! | `{ns}:{team}:n:{plugin}:iv`               | hash   | `{kind}:{index}:{key}` → version           |
//! | `{ns}:{team}:n:{plugin}:ik:{kind}:{index}` | zset  | the index's keys that list a record, for prefix listings |
//! | `{ns}:{team}:n:{plugin}:s:{stream}`       | list   | entries as `<number> <JSON>`, oldest first |
//! | `{ns}:{team}:n:{plugin}:sn`               | hash   | emptied stream → its last entry number     |
//! | `{ns}:{team}:n:{plugin}:q:{sequence}`     | string | the last number of a sequence              |
//! | `{ns}:{team}:n:{plugin}:qr:{sequence}:{cause}` | string | the number reserved for a cause, until it is applied (at most 1 day); none is reserved for a cause already claimed |
//! | `{ns}:{team}:jobs`                        | zset   | job id → due time (ms), not yet due        |
//! | `{ns}:{team}:jobdata`                     | hash   | job id → job (JSON, its token last); until run |
//! | `{ns}:{team}:ready`                       | stream | due jobs, field `job`; group `workers`     |
//! | `{ns}:{team}:attempts`                    | hash   | ready entry → times handed out             |
//! | `{ns}:{team}:dead`                        | stream | jobs that failed too often                 |
//! | `{ns}:{team}:outbox:{cause}`              | string | what a job run sends (JSON, 1 day)         |
//! | `{ns}:{team}:sent:{action}`               | string | an action recorded as sent (1 day)         |
//! | `{ns}:{team}:seen:{cause}`                | string | the claim of a cause (TTL from the config) |
//! | `{ns}:pace:{key}`                         | hash   | `next` → the next free slot of a pace (ms); `h:{holder}` → a holder's slot |
//!
//! Rooms without a team use `~` as their team tag. Plugin names, kinds, index and sequence names
//! are escaped (`%` and `:` as `%25` and `%3A`), and ids, index keys and stream names come last
//! in their keys, so that no name or id, whatever a plugin or a user chooses, can name another
//! key.
//!
//! Versions before December 2026 also kept each job's token in `{ns}:{team}:jobtokens` and a
//! reply's actions in an outbox beside its delivery watchdog; nothing reads those any more (a
//! job's JSON ends with its token, and a watchdog carries its actions), and the outboxes expire.

mod link;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use firebell_core::ids::TeamId;
use firebell_core::job::{Job, ReadyJob, TakenJobs};
use firebell_core::message::Envelope;
use firebell_core::store::{
    Applied, ApplyError, Guard, IndexEntry, Key, Listing, Store, StoreError, StoredRecord, StreamEntry, StreamRange,
    TakeJobs, Write,
};
use redis::{AsyncCommands, Script};
use serde::Serialize;
use std::borrow::Cow;

use serde::de::DeserializeOwned;

use crate::link::Link;
pub use crate::link::Topology;

/// How long outboxes and sent marks are kept.
const DAY_SECONDS: u64 = 86_400;

/// Why the Redis store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum RedisStoreError {
    /// The URL is not a Redis URL.
    #[error("invalid Redis URL {url:?}: {reason} (see the README's \"Choosing Redis\")")]
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
    /// The server answered but the connection is refused for good: its TLS certificate is not
    /// trusted, or the user name or password is wrong. Trying again changes nothing.
    #[error("Redis at {url} refuses the connection: {reason}")]
    Refused {
        /// The URL given, without its password.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The CA file cannot be read.
    #[error("cannot read the Redis CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// Where and how to connect to Redis.
#[derive(Debug, Clone, Copy)]
pub struct RedisOptions<'a> {
    /// `redis://[USER:PASSWORD@]HOST:PORT[/DB]`, or `rediss://…` for TLS.
    pub url: &'a str,
    /// The prefix of every key.
    pub namespace: &'a str,
    /// With `rediss://`: a PEM file of the certificate authorities to trust instead of the
    /// system's.
    pub ca_file: Option<&'a std::path::Path>,
    /// With `redis+sentinel://`: the sentinels' own password (their `requirepass`), and the
    /// user it belongs to when they use ACL users. The URL's password is the master's.
    pub sentinel_password: Option<&'a str>,
    /// The user of `sentinel_password`; none is the default user.
    pub sentinel_user: Option<&'a str>,
}

/// `url` without its user name and password, for errors and logs.
pub fn redacted(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://…@{host}"),
        _ => url.to_owned(),
    }
}

/// Sorts a connection error: a refusal that will not pass (an untrusted certificate, a wrong
/// password, a master name the sentinels do not know), or a server that cannot be reached now.
fn connection_error(url: &str, err: &redis::RedisError) -> RedisStoreError {
    let reason = err.to_string();
    let for_good = authentication_failed(err)
        || err.kind() == redis::ErrorKind::MasterNameNotFoundBySentinel
        || reason.contains("certificate");
    let url = redacted(url);
    if for_good { RedisStoreError::Refused { url, reason } } else { RedisStoreError::Unreachable { url, reason } }
}

/// Whether `err` refuses a missing or wrong user name or password.
fn authentication_failed(err: &redis::RedisError) -> bool {
    let reason = err.to_string();
    err.kind() == redis::ErrorKind::AuthenticationFailed || reason.contains("WRONGPASS") || reason.contains("NOAUTH")
}

/// A refused password at sentinels or their master, saying which password goes where.
fn sentinel_refusal(url: &str, err: &redis::RedisError) -> RedisStoreError {
    let reason = format!(
        "{err} (the URL's password is the master's; the sentinels' own is [store] sentinel_password or \
         FIREBELL_SENTINEL_PASSWORD)"
    );
    RedisStoreError::Refused { url: redacted(url), reason }
}

/// The store on a Redis server, shared by every replica that uses the same namespace.
#[derive(Clone)]
pub struct RedisStore {
    connection: Link,
    namespace: String,
    scripts: &'static Scripts,
}

struct Scripts {
    apply: Lua,
    get: Lua,
    find: Lua,
    recent: Lua,
    find_prefix: Lua,
    reserve: Lua,
    promote: Lua,
    take: Lua,
    finish: Lua,
    scheduled: Lua,
    pace: Lua,
}

/// A Lua script, with its source for servers that do not have it cached (a Cluster node that
/// `SCRIPT LOAD` did not reach).
struct Lua {
    script: Script,
    source: &'static str,
}

impl Lua {
    fn new(source: &'static str) -> Self {
        Self { script: Script::new(source), source }
    }
}

fn scripts() -> &'static Scripts {
    static SCRIPTS: std::sync::OnceLock<Scripts> = std::sync::OnceLock::new();
    SCRIPTS.get_or_init(|| Scripts {
        apply: Lua::new(concat!(include_str!("lua/record.lua"), include_str!("lua/apply.lua"))),
        get: Lua::new(concat!(include_str!("lua/record.lua"), include_str!("lua/get.lua"))),
        find: Lua::new(concat!(include_str!("lua/record.lua"), include_str!("lua/find.lua"))),
        recent: Lua::new(concat!(include_str!("lua/record.lua"), include_str!("lua/recent.lua"))),
        find_prefix: Lua::new(concat!(include_str!("lua/record.lua"), include_str!("lua/find_prefix.lua"))),
        reserve: Lua::new(include_str!("lua/reserve.lua")),
        promote: Lua::new(include_str!("lua/promote.lua")),
        take: Lua::new(include_str!("lua/take.lua")),
        finish: Lua::new(include_str!("lua/finish.lua")),
        scheduled: Lua::new(include_str!("lua/scheduled.lua")),
        pace: Lua::new(include_str!("lua/pace.lua")),
    })
}

fn unavailable(err: redis::RedisError) -> StoreError {
    StoreError::Unavailable(err.to_string())
}

fn corrupt(err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(err.to_string())
}

fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("store values always serialize")
}

fn from_json<T: DeserializeOwned>(json: &str) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(corrupt)
}

/// A name (plugin, kind, index, sequence) as it appears in keys: without `:`.
fn escape(name: &str) -> Cow<'_, str> {
    if !name.contains(['%', ':']) {
        return Cow::Borrowed(name);
    }
    Cow::Owned(name.replace('%', "%25").replace(':', "%3A"))
}

fn unescape(name: &str) -> String {
    name.replace("%3A", ":").replace("%25", "%")
}

/// An index entry as the scripts keep it: `<escaped index>:<key>`.
fn entry(index: &str, key: &str) -> String {
    format!("{}:{key}", escape(index))
}

fn parse_entry(entry: &str) -> Result<IndexEntry, StoreError> {
    let (index, key) = entry.split_once(':').ok_or_else(|| corrupt(format!("index entry {entry:?}")))?;
    Ok(IndexEntry::new(unescape(index), key))
}

/// A record as the scripts return it: id, version, schema, data, index entries.
fn decode_record(kind: &str, row: &[String]) -> Result<StoredRecord, StoreError> {
    let [id, version, schema, data, idx] = row else { return Err(corrupt("a short record row")) };
    let entries: Vec<String> = if idx.is_empty() || idx == "{}" { Vec::new() } else { from_json(idx)? };
    Ok(StoredRecord {
        kind: kind.to_owned(),
        id: id.clone(),
        version: version.parse().map_err(corrupt)?,
        schema: schema.parse().map_err(corrupt)?,
        data: data.clone(),
        indexes: entries.iter().map(|e| parse_entry(e)).collect::<Result<_, _>>()?,
    })
}

fn ms(at: DateTime<Utc>) -> String {
    at.timestamp_millis().to_string()
}

/// The unique index keys that `writes` list records under, in the order `apply.lua` checks them.
fn unique_entries(writes: &[Write]) -> Vec<(&str, &StoredRecord, &IndexEntry)> {
    let puts = writes.iter().filter_map(|write| match write {
        Write::Put { namespace, record } => Some((namespace.as_str(), record)),
        _ => None,
    });
    puts.flat_map(|(namespace, record)| {
        record.indexes.iter().filter(|index| index.unique).map(move |index| (namespace, record, index))
    })
    .collect()
}

/// The arguments of `apply.lua`, in its order: the guard, the reads with their versions, then
/// each write as its op name and values (see the script's header).
struct ApplyArgs<'a>(Vec<Cow<'a, str>>);

impl<'a> ApplyArgs<'a> {
    fn new(guard: &Guard<'a>, writes: &'a [Write], with_team: bool) -> Self {
        let claim = guard.claim;
        let mut args = Self(Vec::with_capacity(5 + 5 * guard.reads.len() + 6 * writes.len()));
        args.push(claim.map_or("", |c| c.key.as_str()));
        args.push(claim.map_or(1, |c| c.ttl.as_secs().max(1)).to_string());
        args.push(guard.job.map_or("", |job| job.id.as_str()));
        // How the job's JSON ends when this is its scheduling (see `apply.lua`).
        args.push(guard.job.map_or(String::new(), |job| format!("\"token\":{}}}", to_json(&job.token))));
        if !with_team {
            args.push("0");
            return args;
        }
        let unique = unique_entries(writes);
        args.push((guard.reads.len() + unique.len()).to_string());
        for (key, version) in guard.reads {
            args.read(key, *version);
        }
        for (namespace, record, index) in unique {
            args.push("u");
            args.push(escape(namespace));
            args.push(escape(&record.kind));
            args.push(entry(&index.index, &index.key));
            args.push(record.id.as_str());
        }
        for write in writes {
            args.write(write);
        }
        args
    }

    fn push(&mut self, value: impl Into<Cow<'a, str>>) {
        self.0.push(value.into());
    }

    fn read(&mut self, key: &'a Key, version: u64) {
        match key {
            Key::Record { namespace, kind, id } => {
                self.push("r");
                self.push(escape(namespace));
                self.push(escape(kind));
                self.push(id.as_str());
            }
            Key::Index { namespace, kind, index, key } => {
                self.push("i");
                self.push(escape(namespace));
                self.push(escape(kind));
                self.push(entry(index, key));
            }
        }
        self.push(version.to_string());
    }

    fn write(&mut self, write: &'a Write) {
        match write {
            Write::Put { namespace, record } => {
                self.push("put");
                self.push(escape(namespace));
                self.push(escape(&record.kind));
                self.push(record.id.as_str());
                self.push(record.schema.to_string());
                self.push(record.data.as_str());
                self.push(record.indexes.len().to_string());
                for e in &record.indexes {
                    self.push(entry(&e.index, &e.key));
                }
            }
            Write::Remove { namespace, kind, id } => {
                self.push("remove");
                self.push(escape(namespace));
                self.push(escape(kind));
                self.push(id.as_str());
            }
            Write::Append { namespace, stream, entry } => {
                self.push("append");
                self.push(escape(namespace));
                self.push(stream.as_str());
                self.push(entry.as_str());
            }
            Write::Trim { namespace, stream, keep } => {
                self.push("trim");
                self.push(escape(namespace));
                self.push(stream.as_str());
                self.push(keep.to_string());
            }
            Write::Release { namespace, sequence, reservation } => {
                self.push("release");
                self.push(escape(namespace));
                self.push(escape(sequence));
                self.push(reservation.as_str());
            }
            Write::Schedule(job) => {
                self.push("schedule");
                self.push(job.id.as_str());
                self.push(ms(job.due));
                self.push(to_json(job));
            }
            Write::Cancel(id) => {
                self.push("cancel");
                self.push(id.as_str());
            }
            Write::Outbox { cause, envelopes } => {
                self.push("outbox");
                self.push(cause.as_str());
                self.push(to_json(envelopes));
            }
            Write::Sent(action) => {
                self.push("sent");
                self.push(action.as_str());
            }
            Write::Delivered { job, sent } => {
                self.push("delivered");
                self.push(job.as_str());
                self.push(sent.len().to_string());
                for action in sent {
                    self.push(action.as_str());
                }
            }
        }
    }
}

/// Reads the versions `apply.lua` reports changed: `ok`, then `t, ns, kind, id or entry,
/// version` for each.
fn decode_changed(values: &[String]) -> Result<Applied, StoreError> {
    let versions = values
        .chunks_exact(5)
        .map(|row| {
            let [t, ns, kind, name, version] = row else { unreachable!("chunks of 5") };
            let (namespace, kind) = (unescape(ns), unescape(kind));
            let key = if t == "r" {
                Key::Record { namespace, kind, id: name.clone() }
            } else {
                let IndexEntry { index, key, .. } = parse_entry(name)?;
                Key::Index { namespace, kind, index, key }
            };
            Ok((key, version.parse().map_err(corrupt)?))
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(Applied { versions })
}

/// What `apply.lua` answers: the changed versions, or why it refused.
enum ApplyReply {
    Applied(Vec<String>),
    Refused(String),
}

impl redis::FromRedisValue for ApplyReply {
    fn from_redis_value(value: redis::Value) -> Result<Self, redis::ParsingError> {
        match value {
            redis::Value::Array(_) => {
                let mut values: Vec<String> = redis::from_redis_value(value)?;
                if values.first().map(String::as_str) != Some("ok") {
                    return Err("apply.lua answered an array without \"ok\"".into());
                }
                values.remove(0);
                Ok(ApplyReply::Applied(values))
            }
            other => Ok(ApplyReply::Refused(redis::from_redis_value(other)?)),
        }
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://HOST:PORT[/DB]`) with keys under `namespace`; see
    /// [`RedisStore::open`].
    pub async fn connect(url: &str, namespace: &str) -> Result<Self, RedisStoreError> {
        Self::open(&RedisOptions { url, namespace, ca_file: None, sentinel_password: None, sentinel_user: None }).await
    }

    /// Connects as `options` say and checks that the server answers. The connection reconnects
    /// by itself after network errors or a server restart.
    pub async fn open(options: &RedisOptions<'_>) -> Result<Self, RedisStoreError> {
        let url = options.url;
        // rustls finds two crypto providers among the crates built; TLS uses ring, as Slack does.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let invalid = |reason: String| RedisStoreError::InvalidUrl { url: redacted(url), reason };
        let mut topology = Topology::parse(url).map_err(invalid)?;
        if let Some(password) = options.sentinel_password {
            topology.ask_sentinels_as(options.sentinel_user.unwrap_or_default(), password).map_err(invalid)?;
        }
        if options.ca_file.is_some() && !matches!(topology, Topology::Server(_)) {
            return Err(invalid("a CA file is for rediss:// URLs; Sentinel and Cluster connect without TLS".into()));
        }
        let root_cert = match options.ca_file {
            None => None,
            Some(path) => Some(std::fs::read(path).map_err(|err| RedisStoreError::CaFile {
                path: path.display().to_string(),
                reason: err.to_string(),
            })?),
        };
        let client = |url: &str| match root_cert {
            None => redis::Client::open(url),
            Some(root_cert) => redis::Client::build_with_tls(
                url,
                redis::TlsCertificates { client_tls: None, root_cert: Some(root_cert) },
            ),
        };
        let connection = Link::connect(&topology, client).await.map_err(|err| match err.kind() {
            redis::ErrorKind::InvalidClientConfig => invalid(err.to_string()),
            _ if authentication_failed(&err) && matches!(topology, Topology::Sentinel { .. }) => {
                sentinel_refusal(url, &err)
            }
            _ => connection_error(url, &err),
        })?;
        let store = Self { connection, namespace: options.namespace.to_owned(), scripts: scripts() };
        redis::cmd("PING")
            .query_async::<String>(&mut store.connection())
            .await
            .map_err(|err| connection_error(url, &err))?;
        Ok(store)
    }

    /// The key prefix of a team: `{ns}:{wmcs}`, or `{ns}:{~}` for rooms with no team.
    fn prefix(&self, team: Option<&TeamId>) -> String {
        format!("{}:{{{}}}", self.namespace, team.map_or("~", TeamId::as_str))
    }

    fn key(&self, team: &TeamId, rest: &str) -> String {
        format!("{}:{rest}", self.prefix(Some(team)))
    }

    /// The key prefix of a plugin's namespace within a team.
    fn space(&self, team: &TeamId, namespace: &str) -> String {
        self.key(team, &format!("n:{}", escape(namespace)))
    }

    fn connection(&self) -> Link {
        self.connection.clone()
    }

    /// Runs `script` with `key` as its key and `args`.
    async fn run<T: redis::FromRedisValue>(&self, lua: &Lua, key: String, args: &[&str]) -> Result<T, StoreError> {
        let mut invocation = lua.script.key(&key);
        for arg in args {
            invocation.arg(*arg);
        }
        match invocation.invoke_async(&mut self.connection()).await {
            Err(err) if err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                let mut eval = redis::cmd("EVAL");
                eval.arg(lua.source).arg(1).arg(key).arg(args);
                eval.query_async(&mut self.connection()).await.map_err(unavailable)
            }
            result => result.map_err(unavailable),
        }
    }

    async fn stream_newest<T: DeserializeOwned>(
        &self,
        key: String,
        field: &str,
        limit: usize,
    ) -> Result<Vec<T>, StoreError> {
        let reply: redis::streams::StreamRangeReply =
            self.connection().xrevrange_count(key, "+", "-", limit).await.map_err(unavailable)?;
        let mut entries: Vec<T> =
            stream_entries(reply, field)?.iter().map(|entry| from_json(&entry.data)).collect::<Result<_, _>>()?;
        entries.reverse();
        Ok(entries)
    }
}

/// A timeline entry kept in a list as `<number> <data>`: its number and its data.
fn list_entry(entry: &str) -> Result<(i64, String), StoreError> {
    let (number, data) = entry.split_once(' ').ok_or_else(|| corrupt("a stream entry without its number"))?;
    Ok((number.parse().map_err(|_| corrupt(format!("stream entry number {number:?}")))?, data.to_owned()))
}

/// The field `field` of every stream entry, with the entry's id.
fn stream_entries(reply: redis::streams::StreamRangeReply, field: &str) -> Result<Vec<StreamEntry>, StoreError> {
    reply
        .ids
        .iter()
        .map(|entry| {
            let data: String =
                entry.get(field).ok_or_else(|| corrupt(format!("stream entry {} has no field {field}", entry.id)))?;
            Ok(StreamEntry { id: entry.id.clone(), data })
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

    async fn records(
        &self,
        team: &TeamId,
        namespace: &str,
        kind: &str,
        ids: &[String],
    ) -> Result<Vec<(u64, Option<StoredRecord>)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let prefix = format!("{}:r:{}", self.space(team, namespace), escape(kind));
        let args: Vec<&str> = ids.iter().map(String::as_str).collect();
        let rows: Vec<String> = self.run(&self.scripts.get, prefix, &args).await?;
        ids.iter()
            .zip(rows.chunks_exact(5))
            .map(|(id, row)| {
                let version: u64 = row[0].parse().map_err(corrupt)?;
                if row[1] != "1" {
                    return Ok((version, None));
                }
                let record = [id.clone(), row[0].clone(), row[2].clone(), row[3].clone(), row[4].clone()];
                Ok((version, Some(decode_record(kind, &record)?)))
            })
            .collect()
    }

    async fn find(
        &self,
        team: &TeamId,
        namespace: &str,
        kind: &str,
        index: &str,
        key: &str,
    ) -> Result<Listing, StoreError> {
        let args = [escape(kind), entry(index, key).into()];
        let rows: Vec<String> =
            self.run(&self.scripts.find, self.space(team, namespace), &[&args[0], &args[1]]).await?;
        let (version, records) = rows.split_first().ok_or_else(|| corrupt("find.lua answered nothing"))?;
        Ok(Listing {
            version: version.parse().map_err(corrupt)?,
            records: records.chunks_exact(5).map(|row| decode_record(kind, row)).collect::<Result<_, _>>()?,
        })
    }

    async fn find_prefix(
        &self,
        team: &TeamId,
        namespace: &str,
        kind: &str,
        index: &str,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let args = [escape(kind), escape(index), prefix.into(), limit.min(1_000_000_000).to_string().into()];
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        let rows: Vec<String> = self.run(&self.scripts.find_prefix, self.space(team, namespace), &args).await?;
        rows.chunks_exact(5).map(|row| decode_record(kind, row)).collect()
    }

    async fn recent(
        &self,
        team: &TeamId,
        namespace: &str,
        kind: &str,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let args = [escape(kind), limit.to_string().into()];
        let rows: Vec<String> =
            self.run(&self.scripts.recent, self.space(team, namespace), &[&args[0], &args[1]]).await?;
        rows.chunks_exact(5).map(|row| decode_record(kind, row)).collect()
    }

    async fn stream(
        &self,
        team: &TeamId,
        namespace: &str,
        stream: &str,
        range: StreamRange,
    ) -> Result<Vec<StreamEntry>, StoreError> {
        let key = format!("{}:s:{stream}", self.space(team, namespace));
        let mut connection = self.connection();
        let (start, stop) = match range {
            StreamRange::All => (0, -1),
            StreamRange::First(0) | StreamRange::Latest(0) | StreamRange::After { limit: 0, .. } => {
                return Ok(Vec::new());
            }
            StreamRange::First(limit) => (0, limit.min(i64::MAX as usize) as i64 - 1),
            StreamRange::Latest(limit) => (-(limit.min(i64::MAX as usize) as i64), -1),
            StreamRange::After { id, limit } => {
                // Entries are numbered one by one and trimmed from the oldest: the entry after
                // `id` is at `id + 1 - first`.
                let after: i64 = id.parse().map_err(|_| corrupt(format!("{id:?} is not a stream entry id")))?;
                let first: Option<String> = connection.lindex(&key, 0).await.map_err(unavailable)?;
                let Some(first) = first else { return Ok(Vec::new()) };
                let start = (after + 1 - list_entry(&first)?.0).max(0);
                (start, start.saturating_add(limit.min(i64::MAX as usize) as i64 - 1))
            }
        };
        let entries: Vec<String> = connection.lrange(key, start as isize, stop as isize).await.map_err(unavailable)?;
        entries
            .iter()
            .map(|entry| list_entry(entry).map(|(id, data)| StreamEntry { id: id.to_string(), data }))
            .collect()
    }

    async fn reserve_number(
        &self,
        team: &TeamId,
        namespace: &str,
        sequence: &str,
        reservation: &str,
    ) -> Result<u64, StoreError> {
        let args = [&escape(namespace), &escape(sequence), reservation];
        let number: i64 = self.run(&self.scripts.reserve, self.prefix(Some(team)), &args).await?;
        u64::try_from(number).map_err(|_| StoreError::AlreadyApplied)
    }

    async fn apply(&self, team: Option<&TeamId>, guard: Guard<'_>, writes: &[Write]) -> Result<Applied, ApplyError> {
        let args = ApplyArgs::new(&guard, writes, team.is_some());
        let args: Vec<&str> = args.0.iter().map(|arg| arg.as_ref()).collect();
        let outcome = match self.run(&self.scripts.apply, self.prefix(team), &args).await? {
            ApplyReply::Applied(changed) => return Ok(decode_changed(&changed)?),
            ApplyReply::Refused(outcome) => outcome,
        };
        if let Some(position) = outcome.strip_prefix("conflict:").and_then(|n| n.parse::<usize>().ok()) {
            let (key, _) = guard
                .reads
                .get(position.wrapping_sub(1))
                .ok_or_else(|| corrupt(format!("apply.lua named read {position} of {}", guard.reads.len())))?;
            return Err(ApplyError::Conflict(key.clone()));
        }
        if let Some(position) = outcome.strip_prefix("taken:").and_then(|n| n.parse::<usize>().ok()) {
            let unique = unique_entries(writes);
            let (namespace, record, index) = position
                .checked_sub(guard.reads.len() + 1)
                .and_then(|at| unique.get(at))
                .ok_or_else(|| corrupt(format!("apply.lua named unique key {position}")))?;
            return Err(ApplyError::Taken(Key::Index {
                namespace: (*namespace).to_owned(),
                kind: record.kind.clone(),
                index: index.index.clone(),
                key: index.key.clone(),
            }));
        }
        match outcome.as_str() {
            "duplicate" => Err(ApplyError::Duplicate),
            "gone" => Err(ApplyError::JobGone),
            other => Err(ApplyError::Store(corrupt(format!("apply.lua answered {other:?}")))),
        }
    }

    async fn scheduled_jobs(&self, team: &TeamId) -> Result<Vec<Job>, StoreError> {
        let rows: Vec<String> = self.run(&self.scripts.scheduled, self.prefix(Some(team)), &[]).await?;
        rows.iter().map(|job| from_json(job)).collect()
    }

    async fn promote_due_jobs(&self, team: &TeamId, now: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        self.run(&self.scripts.promote, self.prefix(Some(team)), &[&ms(now), &limit.to_string()]).await
    }

    async fn take_jobs(&self, team: &TeamId, consumer: &str, take: TakeJobs) -> Result<TakenJobs, StoreError> {
        let reclaim_ms = take.reclaim_after.as_millis().max(1).to_string();
        let args = [consumer, &take.limit.to_string(), &reclaim_ms, &take.max_attempts.to_string()];
        let (ready, dead): (Vec<(String, String, u32)>, Vec<(String, String, u32)>) =
            self.run(&self.scripts.take, self.prefix(Some(team)), &args).await?;
        Ok(TakenJobs { ready: decode_ready(ready)?, dead: decode_ready(dead)? })
    }

    async fn finish_job(&self, team: &TeamId, entry: &str, cause: &str) -> Result<(), StoreError> {
        self.run::<String>(&self.scripts.finish, self.prefix(Some(team)), &[entry, cause]).await.map(|_| ())
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

    async fn pace(&self, key: &str, every: Duration, holder: &str) -> Result<Duration, StoreError> {
        let every = every.as_millis().max(1).to_string();
        let wait: u64 =
            self.run(&self.scripts.pace, format!("{}:pace:{key}", self.namespace), &[&every, holder]).await?;
        Ok(Duration::from_millis(wait))
    }

    async fn mark_sent(&self, team: &TeamId, action: &str) -> Result<(), StoreError> {
        self.connection()
            .set_ex::<_, _, ()>(self.key(team, &format!("sent:{action}")), "1", DAY_SECONDS)
            .await
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `apply.lua` recognises the scheduling a run was handed by how the job's JSON ends.
    #[test]
    fn a_jobs_json_ends_with_its_token() {
        let job = Job::new("incident:3:remind", "incident", DateTime::<Utc>::UNIX_EPOCH, "\"token\":\"x\"}");
        let guard = Guard::default().running(&job);
        let args = ApplyArgs::new(&guard, &[], false);
        assert!(to_json(&job).ends_with(args.0[3].as_ref()), "{} ends with {}", to_json(&job), args.0[3]);
        let other = Job::new("incident:3:remind", "incident", DateTime::<Utc>::UNIX_EPOCH, "");
        assert!(!to_json(&other).ends_with(args.0[3].as_ref()), "another scheduling ends otherwise");
    }
}

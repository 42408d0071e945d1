//! How the store reaches Redis: one server (the connection reconnects by itself), the master
//! that Redis Sentinel names (asked again after a failover), or a Redis Cluster (commands go to
//! the node of their key's slot; every key of a team shares one slot).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Client, Cmd, ConnectionInfo, IntoConnectionInfo, Pipeline, RedisConnectionInfo, RedisError,
    RedisFuture, RedisResult, ServerErrorKind, Value,
};

/// How long connecting to a server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a server may take to answer a command.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Where Redis is, as a store URL names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topology {
    /// One server: `redis://` or `rediss://`.
    Server(String),
    /// The master a group of sentinels names:
    /// `redis+sentinel://[USER:PASSWORD@]HOST:PORT[,HOST:PORT…]/MASTER[/DB]`.
    Sentinel {
        /// The sentinels, as `redis://HOST:PORT` URLs.
        sentinels: Vec<String>,
        /// The name of the master they watch.
        master: String,
        /// The database on the master.
        db: i64,
        /// The user name and password of the master and its replicas.
        credentials: Option<Credentials>,
        /// The sentinels' own user name and password, when they want one (`requirepass`).
        sentinel_credentials: Option<Credentials>,
    },
    /// A cluster, found from some of its nodes: `redis+cluster://[USER:PASSWORD@]HOST:PORT[,…]`.
    Cluster {
        /// The nodes to start from, as `redis://HOST:PORT` URLs.
        nodes: Vec<String>,
        /// The user name and password of the nodes.
        credentials: Option<Credentials>,
    },
}

impl Topology {
    /// Reads a store URL; an error says what was expected.
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some(rest) = url.strip_prefix("redis+sentinel://") {
            let (credentials, hosts, path) = split(rest)?;
            let mut path = path.split('/').filter(|part| !part.is_empty());
            let master = path.next().ok_or("a Sentinel URL names the master after the hosts: …/MASTER")?.to_owned();
            let db = match path.next() {
                Some(db) => db.parse().map_err(|_| format!("the database must be a number, got {db:?}"))?,
                None => 0,
            };
            return Ok(Topology::Sentinel { sentinels: hosts, master, db, credentials, sentinel_credentials: None });
        }
        if let Some(rest) = url.strip_prefix("redis+cluster://") {
            let (credentials, nodes, path) = split(rest)?;
            if !path.trim_matches('/').is_empty() {
                return Err("a Cluster URL has no database: Redis Cluster only has database 0".into());
            }
            return Ok(Topology::Cluster { nodes, credentials });
        }
        Ok(Topology::Server(url.to_owned()))
    }

    /// Asks the sentinels with `user` (possibly empty) and `password`; an error when this is
    /// not a Sentinel topology.
    pub fn ask_sentinels_as(&mut self, user: &str, password: &str) -> Result<(), String> {
        match self {
            Topology::Sentinel { sentinel_credentials, .. } => {
                *sentinel_credentials = Some((user.to_owned(), password.to_owned()));
                Ok(())
            }
            _ => Err("sentinel_password is for redis+sentinel:// URLs".into()),
        }
    }
}

/// A user name (possibly empty) and a password.
type Credentials = (String, String);

/// The handshake settings of a server: `db`, and `credentials` when given.
fn handshake(db: i64, credentials: &Option<Credentials>) -> RedisConnectionInfo {
    let mut info = RedisConnectionInfo::default().set_db(db);
    if let Some((user, password)) = credentials {
        info = info.set_password(password);
        if !user.is_empty() {
            info = info.set_username(user);
        }
    }
    info
}

/// Splits `[USER:PASSWORD@]HOST:PORT[,HOST:PORT…][/PATH]` into its credentials, its hosts as
/// `redis://` URLs, and its path.
fn split(rest: &str) -> Result<(Option<Credentials>, Vec<String>, &str), String> {
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (credentials, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let (user, password) = userinfo.split_once(':').unwrap_or(("", userinfo));
            (Some((user.to_owned(), password.to_owned())), hosts)
        }
        None => (None, authority),
    };
    let hosts: Vec<String> = hosts.split(',').filter(|h| !h.is_empty()).map(|h| format!("redis://{h}")).collect();
    if hosts.is_empty() {
        return Err("expected at least one HOST:PORT".into());
    }
    Ok((credentials, hosts, path))
}

/// A connection to Redis, whatever its topology. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub(crate) enum Link {
    Server(ConnectionManager),
    Sentinel(Arc<SentinelLink>),
    Cluster(ClusterConnection),
}

impl Link {
    /// Connects to `topology`; `client` makes the client of a single server (with its TLS
    /// settings).
    pub(crate) async fn connect(
        topology: &Topology,
        client: impl FnOnce(&str) -> RedisResult<Client>,
    ) -> RedisResult<Self> {
        match topology {
            Topology::Server(url) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT))
                    .set_number_of_retries(3)
                    .set_max_delay(Duration::from_secs(2));
                Ok(Link::Server(ConnectionManager::new_with_config(client(url)?, config).await?))
            }
            Topology::Sentinel { sentinels, master, db, credentials, sentinel_credentials } => {
                let info = SentinelNodeConnectionInfo::default().set_redis_connection_info(handshake(*db, credentials));
                let sentinels = sentinels
                    .iter()
                    .map(|url| {
                        Ok(url.as_str().into_connection_info()?.set_redis_settings(handshake(0, sentinel_credentials)))
                    })
                    .collect::<RedisResult<Vec<ConnectionInfo>>>()?;
                let sentinel = SentinelClient::build(sentinels, master, Some(info), SentinelServerType::Master)?;
                let link =
                    SentinelLink { sentinel: tokio::sync::Mutex::new(sentinel), master: Mutex::new(None), db: *db };
                link.connection().await?;
                Ok(Link::Sentinel(Arc::new(link)))
            }
            Topology::Cluster { nodes, credentials } => {
                let mut builder = ClusterClient::builder(
                    nodes.iter().map(|n| n.as_str().into_connection_info()).collect::<RedisResult<Vec<_>>>()?,
                )
                .connection_timeout(CONNECT_TIMEOUT)
                .response_timeout(RESPONSE_TIMEOUT);
                if let Some((user, password)) = credentials {
                    builder = builder.password(password);
                    if !user.is_empty() {
                        builder = builder.username(user);
                    }
                }
                Ok(Link::Cluster(builder.build()?.get_async_connection().await?))
            }
        }
    }
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Link::Server(connection) => connection.req_packed_command(cmd),
            Link::Cluster(connection) => connection.req_packed_command(cmd),
            Link::Sentinel(link) => Box::pin(link.command(cmd)),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Link::Server(connection) => connection.req_packed_commands(pipeline, offset, count),
            Link::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
            Link::Sentinel(link) => Box::pin(link.commands(pipeline, offset, count)),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Link::Server(connection) => connection.get_db(),
            Link::Cluster(connection) => connection.get_db(),
            Link::Sentinel(link) => link.db,
        }
    }
}

/// The master that the sentinels name, connected once and asked for again when it stops
/// answering or turns out to be a replica now (a failover happened).
pub(crate) struct SentinelLink {
    sentinel: tokio::sync::Mutex<SentinelClient>,
    master: Mutex<Option<MultiplexedConnection>>,
    db: i64,
}

impl SentinelLink {
    /// The connection to the master, asking the sentinels which server it is when there is none.
    async fn connection(&self) -> RedisResult<MultiplexedConnection> {
        if let Some(connection) = self.master.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Ok(connection);
        }
        let client = self.sentinel.lock().await.async_get_client().await?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let connection = client.get_multiplexed_async_connection_with_config(&config).await?;
        *self.master.lock().unwrap_or_else(|p| p.into_inner()) = Some(connection.clone());
        Ok(connection)
    }

    /// Forgets the master after an error that says it is gone or no longer the master.
    fn after<T>(&self, result: RedisResult<T>) -> RedisResult<T> {
        if let Err(err) = &result
            && lost_master(err)
        {
            forget(&self.master);
        }
        result
    }

    async fn command(&self, cmd: &Cmd) -> RedisResult<Value> {
        let mut connection = self.connection().await?;
        self.after(connection.req_packed_command(cmd).await)
    }

    async fn commands(&self, pipeline: &Pipeline, offset: usize, count: usize) -> RedisResult<Vec<Value>> {
        let mut connection = self.connection().await?;
        self.after(connection.req_packed_commands(pipeline, offset, count).await)
    }
}

/// Drops the remembered master connection.
fn forget(master: &Mutex<Option<MultiplexedConnection>>) {
    *master.lock().unwrap_or_else(|p| p.into_inner()) = None;
}

/// Whether `err` means the master is unreachable, or is a replica now.
fn lost_master(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_timeout()
        || err.kind() == redis::ErrorKind::Server(ServerErrorKind::ReadOnly)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_topology() {
        assert_eq!(Topology::parse("redis://h:1/2"), Ok(Topology::Server("redis://h:1/2".into())));
        assert_eq!(
            Topology::parse("redis+sentinel://u:p@a:26379,b:26380/mymaster/3"),
            Ok(Topology::Sentinel {
                sentinels: vec!["redis://a:26379".into(), "redis://b:26380".into()],
                master: "mymaster".into(),
                db: 3,
                credentials: Some(("u".into(), "p".into())),
                sentinel_credentials: None,
            })
        );
        let mut server = Topology::parse("redis://h:1").unwrap();
        assert!(server.ask_sentinels_as("", "p").unwrap_err().contains("redis+sentinel://"));
        assert_eq!(
            Topology::parse("redis+cluster://a:7000,b:7001"),
            Ok(Topology::Cluster { nodes: vec!["redis://a:7000".into(), "redis://b:7001".into()], credentials: None })
        );
        assert!(Topology::parse("redis+sentinel://a:1").unwrap_err().contains("MASTER"));
        assert!(Topology::parse("redis+sentinel://a:1/m/x").unwrap_err().contains("number"));
        assert!(Topology::parse("redis+cluster://a:1/2").unwrap_err().contains("database 0"));
        assert!(Topology::parse("redis+cluster://").unwrap_err().contains("HOST:PORT"));
    }
}

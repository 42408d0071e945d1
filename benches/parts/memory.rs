//! What the Redis store keeps per incident, measured on the server: `used_memory` before and
//! after many small incidents, and `MEMORY USAGE` of each key by what it holds.

use std::collections::BTreeMap;

use redis::AsyncCommands;

/// What Redis reports for the keys under a prefix.
pub struct Footprint {
    /// `used_memory` grew by this much (bytes).
    pub used: i64,
    /// Bytes by what the keys hold (`incident state`, `event claims`, …).
    pub by_kind: BTreeMap<&'static str, u64>,
}

/// The server's `used_memory`, in bytes.
pub async fn used_memory(url: &str) -> i64 {
    let mut connection = connection(url).await;
    let info: String = redis::cmd("INFO").arg("memory").query_async(&mut connection).await.expect("INFO");
    info.lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("used_memory in INFO")
}

async fn connection(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).expect("redis URL");
    client.get_multiplexed_async_connection().await.expect("redis reachable")
}

/// What a key under a team holds, from its name.
fn kind_of(key: &str) -> &'static str {
    if key.contains(":seen:") {
        "event claims"
    } else if key.contains(":sent:") {
        "sent marks"
    } else if key.contains(":n:incident:s:") || key.ends_with(":n:incident:sn") {
        "incident timelines"
    } else if key.contains(":n:incident:") {
        "incident records and indexes"
    } else if key.contains(":jobs") || key.contains(":ready") || key.contains(":attempts") {
        "job queue"
    } else if key.contains(":n:") {
        "other plugin state"
    } else {
        "other"
    }
}

/// The memory of every key whose name starts with `prefix`, by kind, and how much `used_memory`
/// grew since `before`.
pub async fn footprint(url: &str, prefix: &str, before: i64) -> Footprint {
    let mut connection = connection(url).await;
    let keys: Vec<String> = {
        let mut iter: redis::AsyncIter<String> = connection.scan_match(format!("{prefix}*")).await.expect("SCAN");
        let mut keys = Vec::new();
        while let Some(key) = iter.next_item().await {
            keys.push(key.expect("a key"));
        }
        keys
    };
    let mut by_kind = BTreeMap::new();
    for key in keys {
        let bytes: Option<u64> =
            redis::cmd("MEMORY").arg("USAGE").arg(&key).query_async(&mut connection).await.expect("MEMORY USAGE");
        *by_kind.entry(kind_of(&key)).or_insert(0) += bytes.unwrap_or(0);
    }
    Footprint { used: used_memory(url).await - before, by_kind }
}

//! The store conformance suite against both backends.

mod memory {
    firebell_testkit::store_conformance_suite!(firebell_testkit::conformance::memory_backend);
}

mod redis {
    firebell_testkit::store_conformance_suite!(firebell_testkit::conformance::redis_backend);
}

/// Records written as Redis hashes by earlier versions are read, and kept as strings from their
/// next write on, with their version going on.
#[tokio::test]
async fn records_kept_as_hashes_by_earlier_versions_are_read_and_rewritten() {
    use firebell_core::store::{Guard, Store, StoredRecord, Write};
    let server = firebell_testkit::RedisServer::start();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &server.port().to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let key = "old:{wmcs}:n:drills:r:drill:7";
    cli(&["HSET", key, "version", "3", "schema", "1", "data", r#"{"n":7}"#, "idx", r#"["planned:"]"#]);
    let store = firebell_store_redis::RedisStore::connect(&server.url(), "old").await.expect("redis");
    let wmcs = firebell_core::ids::TeamId::new("wmcs").expect("team");
    let read = store.records(&wmcs, "drills", "drill", &["7".into()]).await.expect("read");
    let (version, record) = read.into_iter().next().expect("one");
    assert_eq!(version, 3);
    let record = record.expect("the old record");
    assert_eq!((record.data.as_str(), record.schema), (r#"{"n":7}"#, 1));
    assert_eq!(record.indexes.len(), 1, "its index entries are read too: {record:?}");
    let rewrite = StoredRecord { data: r#"{"n":8}"#.into(), ..record };
    let applied =
        store.apply(Some(&wmcs), Guard::NONE, &[Write::Put { namespace: "drills".into(), record: rewrite }]).await;
    assert_eq!(applied.expect("rewritten").versions.first().map(|(_, v)| *v), Some(4));
    assert_eq!(cli(&["TYPE", key]), "string");
    let again = store.records(&wmcs, "drills", "drill", &["7".into()]).await.expect("read");
    assert_eq!(again[0].0, 4);
    assert_eq!(again[0].1.as_ref().map(|r| r.data.as_str()), Some(r#"{"n":8}"#));
}

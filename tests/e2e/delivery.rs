//! Delivery against a slow Slack: an answer is never sent twice when the replica sending it
//! dies, stops (SIGTERM) or runs out of time, and a long answer reaches its reader in parts.

use std::time::Duration;

use firebell_core::ids::{Person, TeamId};
use firebell_core::state::Reads;
use firebell_core::store::{Guard, Store, Write};
use firebell_plugin_incident::{EntryKind, TimelineEntry, add_to_timeline};
use firebell_store_redis::RedisStore;
use firebell_testkit::RedisServer;

use crate::slack::Workspace;

/// A config for a replica on `redis` that hands over to the watchdog after `grace`.
fn replica_extra(grace: &str) -> String {
    format!("[scheduler]\ndelivery_grace = \"{grace}\"\ntick = \"200ms\"\nreclaim_after = \"6s\"")
}

/// The messages of the fake Slack whose text contains `text`.
fn answers(slack: &Workspace, text: &str) -> usize {
    slack.fake.history().iter().filter(|message| message.text.contains(text)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_while_slack_takes_its_answer_is_not_answered_twice() {
    let redis = RedisServer::start();
    let slack = Workspace::new("killed-mid-post").await;
    let extra = replica_extra("4s");
    let dying = slack.start_with("a", "http", &redis.url(), &extra).await;
    let _other = slack.start_with("b", "http", &redis.url(), &extra).await;
    slack.fake.set_delay(Duration::from_secs(2));
    let ack = slack.command(&dying, "U0ALICE", "/incident", "declare Ceph down").await;
    assert_eq!(ack.status(), 200);
    slack.fake.wait_for_messages(1).await;
    drop(dying); // SIGKILL: Slack took the message, the replica never heard back
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(answers(&slack, "WMCS-1 declared"), 1, "the watchdog found the answer in the channel's history");
    let looked = slack.fake.calls("conversations.history").len() + slack.fake.calls("conversations.replies").len();
    assert!(looked >= 1, "the other replica looked before posting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_send_finishes_the_send_and_exits_cleanly() {
    let redis = RedisServer::start();
    let slack = Workspace::new("sigterm").await;
    let extra = replica_extra("4s");
    let mut stopping = slack.start_with("a", "http", &redis.url(), &extra).await;
    slack.fake.set_delay(Duration::from_secs(2));
    slack.command(&stopping, "U0ALICE", "/incident", "declare NFS stuck").await;
    slack.fake.wait_for_messages(1).await;
    stopping.process.signal("TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let late = crate::slack::message("U0BOB", "!incident list", "1700000099.000100", None);
    let during = slack.try_event(stopping.port, "EvLate", late, 0).await;
    assert!(during.is_none_or(|status| status == 503), "nothing new is taken while stopping: {during:?}");
    let status = stopping.process.wait_for_exit(Duration::from_secs(15)).expect("it stops within its grace");
    assert!(status.success(), "a clean exit: {status}");
    let _restarted = slack.start_with("b", "http", &redis.url(), &extra).await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(answers(&slack, "WMCS-1 declared"), 1, "the answer in flight was finished and recorded, not sent again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_answering_in_forty_seconds_never_doubles_a_reminder() {
    let redis = RedisServer::start();
    let slack = Workspace::new("slow-platform").await;
    let extra = format!("{}\n[teams.settings.incident]\nreminder_interval = \"8s\"", replica_extra("6s"));
    let a = slack.start_with("a", "http", &redis.url(), &extra).await;
    let _b = slack.start_with("b", "http", &redis.url(), &extra).await;
    slack.fake.set_delay(Duration::from_secs(40));
    slack.command(&a, "U0ALICE", "/incident", "declare Ceph down").await;
    tokio::time::sleep(Duration::from_secs(45)).await;
    let reminders: Vec<String> = slack
        .fake
        .history()
        .iter()
        .filter_map(|m| {
            m.text.strip_prefix("Reminder ").and_then(|rest| rest.split_once(' ')).map(|(n, _)| n.to_owned())
        })
        .collect();
    assert!(reminders.len() >= 3, "reminders went on: {reminders:?}");
    let mut seen = reminders.clone();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), reminders.len(), "each reminder once, though each post took 40 s to answer: {reminders:?}");
    assert_eq!(answers(&slack, "WMCS-1 declared"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_entry_report_reaches_slack_in_parts() {
    let redis = RedisServer::start();
    let slack = Workspace::new("long-report").await;
    let bot = slack.start("a", "http", &redis.url()).await;
    slack.command(&bot, "U0ALICE", "/incident", "declare Ceph down").await;
    slack.posted(1).await;
    add_timeline(&redis, "slack-test", 1000).await;
    slack.command(&bot, "U0ALICE", "/incident", "report").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let report: String = slack.fake.history().iter().skip(1).map(|m| m.text.clone()).collect();
        if (0..1000).all(|n| report.contains(&format!("entry {n:04} of the long night"))) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the whole report arrived");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(slack.fake.history().len() > 3, "in several messages within Slack's limits");
}

/// Adds `count` notes to the timeline of WMCS-1 in the store of namespace `namespace`.
pub(crate) async fn add_timeline(redis: &RedisServer, namespace: &str, count: usize) {
    let store = RedisStore::connect(&redis.url(), namespace).await.expect("redis");
    let team = TeamId::new("wmcs").expect("team");
    let alice = Person::console("alice");
    let at = chrono::Utc::now();
    let reads = Reads::new(&store, Some(&team), None);
    let writes: Vec<Write> = (0..count)
        .map(|n| {
            let entry = TimelineEntry::new(at, &alice, EntryKind::Note, format!("entry {n:04} of the long night"));
            add_to_timeline(&reads, 1, &entry).into_write()
        })
        .collect();
    store.apply(Some(&team), Guard::NONE, &writes).await.expect("kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slacks_passing_trouble_is_retried_at_once_and_refusals_are_told() {
    let slack = Workspace::new("trouble").await;
    let bot = slack.start("a", "http", "memory://").await;
    slack.fake.fail("chat.postMessage", 2);
    let asked = std::time::Instant::now();
    slack.command(&bot, "U0ALICE", "/incident", "declare Ceph down").await;
    slack.fake.wait_for_messages(1).await;
    assert!(asked.elapsed() < Duration::from_secs(10), "two 500s retried in moments, not after the grace");
    slack.fake.keep_out(crate::slack::PUBLIC);
    slack.command(&bot, "U0ALICE", "/firebell-status", "Ceph is degraded").await;
    let told = slack.fake.wait_for_whispers(1).await;
    assert_eq!(told[0].user, "U0ALICE");
    assert!(
        told[0].text.contains(&format!("<#{}>", crate::slack::PUBLIC)) && told[0].text.contains("not in that channel"),
        "the sender learns why: {}",
        told[0].text
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let tries = slack.fake.calls("conversations.setTopic").len();
    assert_eq!(tries, 1, "a refusal for good is not tried again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_started_while_redis_is_down_waits_for_it() {
    let mut redis = RedisServer::start();
    let slack = Workspace::new("redis-down").await;
    let url = redis.url();
    redis.kill();
    let port = firebell_testkit::free_port();
    let config = slack.config_with("a", "http", port, &url, "");
    let _bot = crate::slack::spawn(&config, port);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(slack.client.get(format!("http://127.0.0.1:{port}/health")).send().await.is_err(), "not up yet");
    tokio::task::spawn_blocking(move || {
        redis.restart();
        redis
    })
    .await
    .map(|redis| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "the bot never came up once Redis was back");
            std::thread::sleep(Duration::from_millis(100));
        }
        drop(redis);
    })
    .expect("restarted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_mode_reconnects_within_seconds_after_failed_opens() {
    let slack = Workspace::new("socket-backoff").await;
    let _bot = slack.start("a", "socket", "memory://").await;
    slack.fake.wait_for("apps.connections.open", 3).await; // the check at start, and two connections
    slack.fake.fail("apps.connections.open", 3);
    let dropped = std::time::Instant::now();
    slack.fake.drop_sockets();
    slack.fake.wait_for("apps.connections.open", 5).await;
    assert!(
        dropped.elapsed() < Duration::from_secs(12),
        "back off from 1 s after three failed opens, not 30 s a round: {:?}",
        dropped.elapsed()
    );
}

/// A command whose apply meets data Redis cannot work on (a key of the wrong type, left by a
/// foreign tool or an old version) fails with a store error and gives its claim back: tried
/// again once the data is repaired, it is applied, not taken for a duplicate answered by nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_that_fails_on_corrupt_data_gives_its_claim_back() {
    use firebell_core::store::{ApplyError, Claim};

    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url(), "corrupt").await.expect("redis");
    let team = TeamId::new("wmcs").expect("team");
    let client = redis::Client::open(redis.url()).expect("url");
    let mut raw = client.get_multiplexed_async_connection().await.expect("redis");
    let timeline = "corrupt:{wmcs}:n:incident:s:timeline:1";
    redis::cmd("HSET").arg(timeline).arg("not").arg("a list").query_async::<()>(&mut raw).await.expect("hset");
    let claim = Claim { key: "console:corrupted".into(), ttl: Duration::from_secs(600) };
    let note = [Write::Append { namespace: "incident".into(), stream: "timeline:1".into(), entry: "{}".into() }];
    let failed = store.apply(Some(&team), Guard::claim(&claim), &note).await;
    assert!(matches!(failed, Err(ApplyError::Store(_))), "a store error, not a silent success: {failed:?}");
    redis::cmd("DEL").arg(timeline).query_async::<()>(&mut raw).await.expect("del");
    let again = store.apply(Some(&team), Guard::claim(&claim), &note).await;
    assert!(again.is_ok(), "the claim was given back: {again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_sent_again_unchecked_when_the_history_cannot_be_read_is_counted() {
    let redis = RedisServer::start();
    let slack = Workspace::new("history-down").await;
    let extra = replica_extra("4s");
    let dying = slack.start_with("a", "http", &redis.url(), &extra).await;
    let other = slack.start_with("b", "http", &redis.url(), &extra).await;
    slack.fake.set_delay(Duration::from_secs(2));
    slack.command(&dying, "U0ALICE", "/incident", "declare Ceph down").await;
    slack.fake.wait_for_messages(1).await;
    slack.fake.fail("conversations.history", 100);
    slack.fake.fail("conversations.replies", 100);
    drop(dying); // Slack took the message; the replica never heard back
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(answers(&slack, "WMCS-1 declared"), 2, "unable to look, the watchdog sends again: a double, not a loss");
    let samples = crate::operations::scrape(&slack.client, &format!("http://127.0.0.1:{}", other.port)).await;
    let unchecked = crate::operations::value(&samples, "firebell_sent_unchecked_total", &[("transport", "slack")]);
    assert_eq!(unchecked, 1.0, "and the operator sees it");
}

/// A burst of `count` commands into one channel over three replicas (round robin) with a pace
/// of one message a second: how long after the burst the last answer came.
async fn burst(extra: &str, count: usize) -> Duration {
    let redis = RedisServer::start();
    let slack = Workspace::new("burst").await;
    let mut replicas = Vec::new();
    for name in ["a", "b", "c"] {
        replicas.push(slack.start_with(name, "http", &redis.url(), extra).await);
    }
    let started = std::time::Instant::now();
    let texts: Vec<String> = (0..count).map(|n| format!("admin step {n}")).collect();
    let commands = texts.iter().enumerate().map(|(n, text)| slack.command(&replicas[n % 3], "U0ALICE", "/log", text));
    futures_util::future::join_all(commands).await;
    let deadline = started + Duration::from_secs(90);
    loop {
        let answered = answers(&slack, "Logged");
        if answered >= count {
            break;
        }
        if std::time::Instant::now() >= deadline {
            let calls: Vec<String> =
                ["chat.postMessage", "chat.postEphemeral", "conversations.history", "conversations.replies"]
                    .iter()
                    .flat_map(|method| {
                        slack.fake.calls(method).into_iter().map(move |call| (call.at, method.to_string()))
                    })
                    .map(|(at, method)| format!("{:.1}s {method}", at.duration_since(started).as_secs_f64()))
                    .collect();
            panic!("{answered} of {count} answered in 90 s: {calls:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(answers(&slack, "Logged"), count, "each answered once");
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_answer_of_a_burst_into_one_channel_comes_when_the_pace_allows() {
    for (extra, what) in [("", "default timings"), (replica_extra("4s").as_str(), "a delivery grace of 4 s")] {
        let took = burst(extra, 15).await;
        println!("a burst of 15 over 3 replicas with {what}: the last answer after {took:?}");
        assert!(
            took <= Duration::from_secs(15 + 2),
            "with {what}, the last answer came after {took:?}, not within 17 s"
        );
    }
}

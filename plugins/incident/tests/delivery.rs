//! Answers are never lost: what a command sends is kept in the store until it was sent, and a
//! delivery watchdog sends, once, what a dying replica or an unreachable platform left unsent.

use std::sync::Arc;
use std::time::Duration;

use firebell_core::ids::TeamId;
use firebell_core::store::Store;
use firebell_plugin_incident::IncidentPlugin;
use firebell_runtime::dispatcher::DispatchOptions;
use firebell_store_redis::RedisStore;
use firebell_testkit::{Harness, RedisServer, WMCS_ADMIN};

const DECLARE: &str = "!incident declare Ceph down";
const RESOLVE: &str = "!incident resolve OSDs are back";

fn bot() -> Harness {
    Harness::builder().plugin(Arc::new(IncidentPlugin)).build()
}

fn grace() -> Duration {
    DispatchOptions::default().delivery_grace
}

/// Less than the time to the first reminder, counted from a declaration one grace ago.
const QUIET_AFTERWARDS: Duration = Duration::from_secs(28 * 60);

/// What a healthy replica prints for a declaration.
async fn declared() -> Vec<String> {
    bot().say("alice", WMCS_ADMIN, DECLARE).await
}

#[tokio::test]
async fn a_delivered_answer_leaves_no_watchdog_behind() {
    let bot = bot();
    assert!(!bot.say("alice", WMCS_ADMIN, DECLARE).await.is_empty());
    let team = TeamId::new("wmcs").expect("a team id");
    let jobs: Vec<String> = bot.store().scheduled_jobs(&team).await.expect("jobs").into_iter().map(|j| j.id).collect();
    assert!(jobs.iter().all(|id| !id.starts_with("deliver:")), "{jobs:?}");
    assert!(bot.advance(grace()).await.is_empty(), "nothing is sent twice");
}

#[tokio::test]
async fn an_answer_left_unsent_by_a_dying_replica_is_sent_once_by_the_watchdog() {
    let expected = declared().await;
    let bot = bot();
    let inbound = bot.message("alice", WMCS_ADMIN, DECLARE);
    let applied = bot.bot().dispatcher().dispatch(&inbound).await.expect("applied");
    assert!(applied.watchdog.is_some(), "the answer is kept until it is sent");
    // The replica dies here, before sending anything.
    assert!(bot.advance(grace() - Duration::from_secs(1)).await.is_empty(), "the watchdog gives the replica time");
    assert_eq!(bot.advance(Duration::from_secs(1)).await, expected);
    assert!(bot.advance(QUIET_AFTERWARDS).await.is_empty(), "sent once");
}

#[tokio::test]
async fn answers_the_platform_refused_are_sent_when_it_is_back() {
    let expected = declared().await;
    let bot = bot();
    bot.set_platform_down(true);
    assert!(bot.say("alice", WMCS_ADMIN, DECLARE).await.is_empty());
    bot.set_platform_down(false);
    assert_eq!(bot.advance(grace()).await, expected);
    assert!(bot.advance(QUIET_AFTERWARDS).await.is_empty(), "sent once");
}

#[tokio::test]
async fn a_replica_that_finishes_after_its_watchdog_was_queued_sends_once() {
    let expected = declared().await;
    let bot = bot();
    let applied = bot.bot().dispatcher().dispatch(&bot.message("alice", WMCS_ADMIN, DECLARE)).await.expect("applied");
    let watchdog = applied.watchdog.as_ref().expect("kept until sent");
    bot.store().promote_due_jobs(&watchdog.team, watchdog.job.due, 10).await.expect("queued");
    let (_, printed) = bot.printed(bot.bot().deliver(&applied)).await;
    assert_eq!(printed, expected, "the replica was slow, but within its deadline");
    assert!(bot.run_due().await.is_empty(), "the queued watchdog was cancelled meanwhile and sends nothing");
}

#[tokio::test]
async fn a_delivery_past_half_its_grace_leaves_everything_to_the_watchdog() {
    let expected = declared().await;
    let bot = bot();
    let applied = bot.bot().dispatcher().dispatch(&bot.message("alice", WMCS_ADMIN, DECLARE)).await.expect("applied");
    bot.clock().advance(grace() / 2 + Duration::from_secs(1));
    let (_, printed) = bot.printed(bot.bot().deliver(&applied)).await;
    assert!(printed.is_empty(), "too late to send alongside the watchdog: {printed:?}");
    assert_eq!(bot.advance(grace() / 2).await, expected, "the watchdog sends it");
    assert!(bot.advance(QUIET_AFTERWARDS).await.is_empty(), "once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_dies_halfway_through_sending_leaves_the_rest_to_another() {
    let healthy = bot();
    healthy.say("alice", WMCS_ADMIN, DECLARE).await;
    let expected = healthy.say("alice", WMCS_ADMIN, RESOLVE).await;
    let redis = RedisServer::start();
    let store = || async { Arc::new(RedisStore::connect(&redis.url(), "t").await.expect("redis")) as Arc<dyn Store> };
    let dying = Harness::builder().plugin(Arc::new(IncidentPlugin)).store(store().await).build();
    let other = Harness::builder().plugin(Arc::new(IncidentPlugin)).store(store().await).build();
    dying.say("alice", WMCS_ADMIN, DECLARE).await;

    let inbound = dying.message("alice", WMCS_ADMIN, RESOLVE);
    let applied = dying.bot().dispatcher().dispatch(&inbound).await.expect("applied");
    let team = &applied.watchdog.as_ref().expect("kept until sent").team;
    assert!(applied.envelopes.len() >= 2, "a resolution sends a reply and the report: {:?}", applied.envelopes);
    let first = &applied.envelopes[0];
    let (sent, printed) = dying.printed(dying.bot().adapters().perform(first)).await;
    sent.expect("sent");
    dying.store().mark_sent(team, &first.id).await.expect("recorded");
    // The replica dies here, with the rest unsent.
    assert_eq!(printed, expected[..printed.len()]);

    assert_eq!(other.advance(grace()).await, expected[printed.len()..], "the rest, from the other replica");
    assert!(other.advance(QUIET_AFTERWARDS).await.is_empty(), "sent once");
}

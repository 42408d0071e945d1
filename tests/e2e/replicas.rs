//! Several replicas on one real `redis-server`: each event is handled once, and two people
//! claiming the IC role at the same moment on two replicas end with exactly one IC.

use std::sync::Arc;

use firebell_core::ids::{RoomRef, UserRef};
use firebell_core::message::Inbound;
use firebell_store_redis::RedisStore;
use firebell_testkit::{Harness, RedisServer, WMCS_ADMIN, WMCS_PUBLIC, start_time, text};

/// A replica: the standard plugins on its own connection to the shared Redis.
async fn replica(server: &RedisServer) -> Harness {
    replica_at(&server.url(), "replicas").await
}

/// A replica: the standard plugins on its own connection to Redis at `url` (any topology),
/// keys under `namespace`.
pub(crate) async fn replica_at(url: &str, namespace: &str) -> Harness {
    replica_with(RedisStore::connect(url, namespace).await.expect("redis reachable"))
}

/// A replica with the standard plugins on `store`.
pub(crate) fn replica_with(store: RedisStore) -> Harness {
    let mut builder = Harness::builder().store(Arc::new(store));
    builder = builder.plugins_of(&firebell::standard_plugins());
    builder.build()
}

fn event(id: &str, user: &str, text: &str) -> Inbound {
    Inbound {
        event_id: id.to_owned(),
        room: RoomRef::console(WMCS_ADMIN),
        sender: UserRef::console(user),
        sender_name: None,
        sender_is_platform_admin: false,
        text: text.to_owned(),
        ts: start_time(),
        thread: None,
        mentions: Vec::new(),
        attachments: Vec::new(),
    }
}

#[tokio::test]
async fn an_event_seen_by_two_replicas_is_answered_once() {
    let server = RedisServer::start();
    let (a, b) = (replica(&server).await, replica(&server).await);
    two_replicas_answer_each_event_once(&a, &b).await;
}

/// Declares an incident, then hands 20 events to both replicas at once: exactly one answers
/// each, and each note is recorded once.
pub(crate) async fn two_replicas_answer_each_event_once(a: &Harness, b: &Harness) {
    a.say("alice", WMCS_ADMIN, "!incident declare Ceph down").await;
    for round in 0..20 {
        let command =
            if round % 2 == 0 { format!("!incident note observation {round}") } else { "!incident show".to_owned() };
        let seen = event(&format!("$event{round}"), "bob", &command);
        let (from_a, from_b) = tokio::join!(a.send(seen.clone()), b.send(seen));
        assert!(
            from_a.is_empty() != from_b.is_empty(),
            "round {round}: exactly one replica answers: {from_a:?} / {from_b:?}"
        );
    }
    let report = text(&a.say("carol", WMCS_ADMIN, "!incident report").await);
    let notes = report.lines().filter(|line| line.contains("bob: observation")).count();
    assert_eq!(notes, 10, "each note recorded once:\n{report}");
}

#[tokio::test]
async fn racing_ic_claims_on_two_replicas_leave_exactly_one_ic() {
    let server = RedisServer::start();
    let (a, b) = (replica(&server).await, replica(&server).await);
    for number in 1..=10 {
        a.say(&format!("visitor{number}"), WMCS_PUBLIC, &format!("!incident declare outage {number}")).await;
        b.say("dave", WMCS_ADMIN, "!incident confirm").await;
        let claim = format!("!ic WMCS-{number}");
        let (alice, bob) = tokio::join!(a.say("alice", WMCS_ADMIN, &claim), b.say("bob", WMCS_ADMIN, &claim));
        let (alice, bob) = (text(&alice), text(&bob));
        let winners = [&alice, &bob].iter().filter(|reply| reply.contains("is now the IC")).count();
        assert_eq!(winners, 1, "incident {number}: one claim wins: {alice:?} / {bob:?}");
        let loser = if alice.contains("is now the IC") { &bob } else { &alice };
        let winner = if alice.contains("is now the IC") { "alice" } else { "bob" };
        assert_eq!(loser, &format!("{winner} is the IC of WMCS-{number}."), "the other is told who won");
    }
}

#[tokio::test]
async fn a_log_entry_on_one_replica_lands_in_the_report_on_another() {
    let server = RedisServer::start();
    let (a, b) = (replica(&server).await, replica(&server).await);
    a.say("alice", WMCS_ADMIN, "!incident declare NFS stuck").await;
    b.say("carol", WMCS_ADMIN, "!log admin rebooted clouddumps1001").await;
    b.say("alice", WMCS_ADMIN, "!incident resolve").await;
    let report = text(&a.say("dave", WMCS_ADMIN, "!incident report WMCS-1").await);
    assert!(report.contains("## Admin log\n\n- 2026-11-21 03:00 carol: [admin] rebooted clouddumps1001"), "{report}");
}

#[tokio::test]
async fn incidents_declared_on_alternating_replicas_are_numbered_without_gaps() {
    let server = RedisServer::start();
    let (a, b) = (replica(&server).await, replica(&server).await);
    for number in 1..=6 {
        let replica = if number % 2 == 1 { &a } else { &b };
        replica.say("alice", WMCS_ADMIN, "!incident note warming the other replica's cache").await;
        let declared = text(&replica.say("bob", WMCS_ADMIN, &format!("!incident declare outage {number}")).await);
        assert!(declared.starts_with(&format!("WMCS-{number} declared")), "{declared}");
    }
}

#[tokio::test]
async fn without_redis_the_sender_is_told_and_after_a_restart_work_goes_on() {
    let mut server = RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", "always", "--save", ""]);
    let a = replica(&server).await;
    a.say("alice", WMCS_ADMIN, "!incident declare Ceph down").await;
    server.kill();
    let started = std::time::Instant::now();
    let lines = text(&a.say("alice", WMCS_ADMIN, "!incident update nobody hears this").await);
    assert!(lines.starts_with("error: your command may not have been applied (store unavailable:"), "{lines}");
    assert!(lines.ends_with("check before trying again"), "{lines}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "the error comes in time: {:?}", started.elapsed());
    server.restart();
    let lines = text(&a.say("alice", WMCS_ADMIN, "!incident update back after the restart").await);
    assert_eq!(lines, "WMCS-1 status doc updated.");
    let doc = text(&a.say("bob", WMCS_ADMIN, "!incident show").await);
    assert!(doc.contains("back after the restart") && !doc.contains("nobody hears this"), "{doc}");
}

/// Hands 100 declarations to every replica at once: each is declared once, and the incident
/// numbers are 1 to 100 with none skipped, whichever replica won each race.
async fn numbers_stay_consecutive_over(replicas: usize) {
    let server = RedisServer::start();
    let mut harnesses = Vec::new();
    for _ in 0..replicas {
        harnesses.push(Arc::new(replica(&server).await));
    }
    let mut declared = 0;
    for round in 0..100 {
        let seen = event(&format!("$declare{round}"), "alice", &format!("!incident declare Outage {round}"));
        let answers = futures_util::future::join_all(harnesses.iter().map(|replica| replica.send(seen.clone()))).await;
        declared += answers.iter().filter(|answer| !answer.is_empty()).count();
    }
    assert_eq!(declared, 100, "each declaration answered once");
    let team = firebell_core::ids::TeamId::new("wmcs").expect("team");
    let records = harnesses[0].store().recent(&team, "incident", "incident", 1000).await.expect("read");
    let mut numbers: Vec<u64> = records.iter().map(|record| record.id.parse().expect("a number")).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=100).collect::<Vec<u64>>(), "with {replicas} replicas, none skipped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_numbers_are_consecutive_with_two_replicas() {
    numbers_stay_consecutive_over(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_numbers_are_consecutive_with_three_replicas() {
    numbers_stay_consecutive_over(3).await;
}

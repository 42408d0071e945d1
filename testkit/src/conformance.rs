//! The store conformance suite: one set of checks that every [`Store`] backend must pass.
//!
//! Each check takes a [`Backend`]: two handles on the same shared state, as two replicas would
//! have. Run the whole suite for a backend with [`store_conformance_suite!`](crate::store_conformance_suite).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use firebell_core::ids::{Person, RoomRef, TeamId, Transport};
use firebell_core::incident::{Declaration, EntryKind, Incident, TimelineEntry};
use firebell_core::job::Job;
use firebell_core::message::{Action, Envelope, Message};
use firebell_core::store::{
    ApplyError, AuditEntry, Claim, Guard, LogEntry, MemoryStore, PluginState, Record, RedisStore, Store, TakeJobs,
    Write,
};

use crate::RedisServer;

/// Two handles on one store's shared state, plus whatever keeps the backend alive.
pub struct Backend {
    /// The first replica's handle.
    pub a: Arc<dyn Store>,
    /// The second replica's handle.
    pub b: Arc<dyn Store>,
    _server: Option<RedisServer>,
}

/// The memory store; both handles are the same store.
pub async fn memory_backend() -> Backend {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    Backend { a: store.clone(), b: store, _server: None }
}

/// A fresh `redis-server` and two separate client connections to it.
pub async fn redis_backend() -> Backend {
    let server = RedisServer::start();
    let a = RedisStore::connect(&server.url(), "conformance").await.expect("first client connects");
    let b = RedisStore::connect(&server.url(), "conformance").await.expect("second client connects");
    Backend { a: Arc::new(a), b: Arc::new(b), _server: Some(server) }
}

fn team(id: &str) -> TeamId {
    TeamId::new(id).expect("valid team id")
}

fn at(minute: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T03:00:00Z").expect("valid time").to_utc()
        + chrono::Duration::minutes(minute)
}

fn claim(event: &str) -> Claim {
    Claim::event(Transport::Console, event, Duration::from_secs(600))
}

fn declare(team_id: &TeamId, number: u64, ic: bool) -> (Incident, Vec<TimelineEntry>) {
    Incident::declare(Declaration {
        team: team_id.clone(),
        team_name: team_id.as_str().to_uppercase(),
        number,
        title: format!("incident {number}"),
        severity: None,
        user_facing: false,
        security: false,
        by: Person::console("alice"),
        room: RoomRef::console("#admin"),
        at: at(0),
        declarer_becomes_ic: ic,
    })
}

/// Reserves a number and stores a new incident; returns it as stored.
async fn create(store: &Arc<dyn Store>, team_id: &TeamId, ic: bool) -> Incident {
    static RESERVATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let reservation = format!("r{}", RESERVATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let number = store.reserve_number(team_id, "incident", &reservation).await.expect("reserve");
    let (incident, timeline) = declare(team_id, number, ic);
    store.apply(Some(team_id), Guard::NONE, &[Write::CreateIncident { incident, timeline }]).await.expect("create");
    store.incident(team_id, number).await.expect("read").expect("stored")
}

/// An event is claimed once, whichever replica sees it; other events and transports are apart.
pub async fn claims_are_applied_once(backend: Backend) {
    let wmcs = team("wmcs");
    backend.a.apply(Some(&wmcs), Guard::claim(&claim("e1")), &[]).await.expect("first claim");
    let again = backend.b.apply(Some(&wmcs), Guard::claim(&claim("e1")), &[]).await;
    assert!(matches!(again, Err(ApplyError::Duplicate)), "second claim must be a duplicate: {again:?}");
    backend.b.apply(Some(&wmcs), Guard::claim(&claim("e2")), &[]).await.expect("another event");
    let slack = Claim::event(Transport::Slack, "e1", Duration::from_secs(600));
    backend.b.apply(Some(&wmcs), Guard::claim(&slack), &[]).await.expect("same id on another transport");
    backend.a.apply(None, Guard::claim(&claim("e3")), &[]).await.expect("team-less claim");
    assert!(matches!(backend.b.apply(None, Guard::claim(&claim("e3")), &[]).await, Err(ApplyError::Duplicate)));
}

/// The same event raced from two replicas: exactly one applies it.
pub async fn racing_duplicates_apply_once(backend: Backend) {
    let wmcs = team("wmcs");
    for round in 0..20 {
        let event = claim(&format!("race-{round}"));
        let entry = LogEntry {
            at: at(round),
            by: Person::console("bob"),
            project: "admin".into(),
            message: format!("m{round}"),
        };
        let writes = [Write::AppendAdminLog(entry)];
        let (a, b) = tokio::join!(
            backend.a.apply(Some(&wmcs), Guard::claim(&event), &writes),
            backend.b.apply(Some(&wmcs), Guard::claim(&event), &writes)
        );
        assert!(a.is_ok() != b.is_ok(), "round {round}: exactly one replica applies: {a:?} / {b:?}");
    }
    let log = backend.a.admin_log(&wmcs, "admin", 100).await.expect("log");
    assert_eq!(log.len(), 20, "each event logged once");
}

/// Numbers are reserved in order, never twice, and once per reservation, across replicas.
pub async fn incident_numbers_are_unique(backend: Backend) {
    let wmcs = team("wmcs");
    let mut numbers = Vec::new();
    for n in 0..5 {
        numbers.push(backend.a.reserve_number(&wmcs, "incident", &format!("a{n}")).await.expect("reserve"));
        numbers.push(backend.b.reserve_number(&wmcs, "incident", &format!("b{n}")).await.expect("reserve"));
    }
    assert_eq!(numbers, (1..=10).collect::<Vec<u64>>());
    assert_eq!(
        backend.b.reserve_number(&wmcs, "incident", "a3").await.expect("reserve"),
        7,
        "same reservation, same number"
    );
    assert_eq!(backend.a.reserve_number(&wmcs, "incident", "c").await.expect("reserve"), 11);
    assert_eq!(
        backend.a.reserve_number(&team("sre"), "incident", "a0").await.expect("reserve"),
        1,
        "numbers are per team"
    );
}

/// A created incident reads back equal, at version 1, with its timeline, from both replicas.
pub async fn created_incidents_read_back(backend: Backend) {
    let wmcs = team("wmcs");
    let stored = create(&backend.a, &wmcs, true).await;
    let (expected, timeline) = declare(&wmcs, stored.number, true);
    assert_eq!(stored.version, 1);
    assert_eq!(Incident { version: 1, ..expected }, stored);
    let snapshot = backend.b.snapshot(Some(&wmcs)).await.expect("snapshot");
    assert_eq!(snapshot.open, vec![stored.clone()]);
    assert_eq!(backend.b.timeline(&wmcs, stored.number).await.expect("timeline"), timeline);
    assert!(backend.b.snapshot(Some(&team("sre"))).await.expect("snapshot").open.is_empty(), "teams are apart");
    assert!(backend.b.snapshot(None).await.expect("snapshot").open.is_empty());
    assert_eq!(backend.b.incident(&wmcs, 99).await.expect("read"), None);
    let (duplicate, timeline) = declare(&wmcs, stored.number, true);
    let again =
        backend.b.apply(Some(&wmcs), Guard::NONE, &[Write::CreateIncident { incident: duplicate, timeline }]).await;
    assert!(matches!(again, Err(ApplyError::Conflict(n)) if n == stored.number), "a number is created once: {again:?}");
}

/// An update made from a stale read conflicts and changes nothing.
pub async fn stale_updates_conflict(backend: Backend) {
    let wmcs = team("wmcs");
    let stored = create(&backend.a, &wmcs, true).await;
    let bob = Person::console("bob");
    let mut first = stored.clone();
    let entry = first.update_status(&bob, "degraded", at(1)).expect("update");
    backend
        .a
        .apply(Some(&wmcs), Guard::NONE, &[Write::UpdateIncident { incident: first, timeline: vec![entry] }])
        .await
        .expect("fresh update");
    let mut stale = stored.clone();
    let entry = stale.update_status(&bob, "stale", at(2)).expect("update");
    let result = backend
        .b
        .apply(Some(&wmcs), Guard::NONE, &[Write::UpdateIncident { incident: stale, timeline: vec![entry] }])
        .await;
    assert!(matches!(result, Err(ApplyError::Conflict(n)) if n == stored.number), "stale update conflicts: {result:?}");
    let now = backend.b.incident(&wmcs, stored.number).await.expect("read").expect("stored");
    assert_eq!(now.version, 2);
    assert_eq!(now.status.expect("status").text, "degraded");
    assert_eq!(backend.b.timeline(&wmcs, stored.number).await.expect("timeline").len(), 3, "declared, IC, one update");
}

/// A refused apply writes nothing and leaves the event unclaimed, so that a retry can succeed.
pub async fn refused_applies_change_nothing(backend: Backend) {
    let wmcs = team("wmcs");
    let stored = create(&backend.a, &wmcs, true).await;
    let log = LogEntry { at: at(1), by: Person::console("bob"), project: "admin".into(), message: "restarted".into() };
    let stale = Incident { version: 99, ..stored.clone() };
    let writes = [Write::AppendAdminLog(log.clone()), Write::UpdateIncident { incident: stale, timeline: vec![] }];
    let result = backend.a.apply(Some(&wmcs), Guard::claim(&claim("retry-me")), &writes).await;
    assert!(matches!(result, Err(ApplyError::Conflict(_))), "{result:?}");
    assert!(backend.b.admin_log(&wmcs, "admin", 10).await.expect("log").is_empty(), "nothing logged");
    let retry = [Write::AppendAdminLog(log), Write::UpdateIncident { incident: stored, timeline: vec![] }];
    backend
        .b
        .apply(Some(&wmcs), Guard::claim(&claim("retry-me")), &retry)
        .await
        .expect("the retry may claim the event");
    assert_eq!(backend.a.admin_log(&wmcs, "admin", 10).await.expect("log").len(), 1);
}

/// Two replicas claiming IC at the same moment: exactly one wins; the other sees the winner.
pub async fn racing_ic_claims_have_one_winner(backend: Backend) {
    let wmcs = team("wmcs");
    for round in 0..20 {
        let stored = create(&backend.a, &wmcs, false).await;
        // Both replicas read before either writes: both see no IC and both try to claim.
        let claim_as = |store: Arc<dyn Store>, name: &'static str| {
            let wmcs = wmcs.clone();
            async move {
                let snapshot = store.snapshot(Some(&wmcs)).await.expect("snapshot");
                let mut incident = snapshot.open.into_iter().find(|i| i.number == stored.number).expect("open");
                let entry = incident.claim_ic(&Person::console(name), at(round)).expect("no IC yet in this read");
                (store, Write::UpdateIncident { incident, timeline: vec![entry] })
            }
        };
        let (store_a, write_a) = claim_as(backend.a.clone(), "alice").await;
        let (store_b, write_b) = claim_as(backend.b.clone(), "bob").await;
        let (writes_a, writes_b) = ([write_a], [write_b]);
        let (a, b) = tokio::join!(
            store_a.apply(Some(&wmcs), Guard::NONE, &writes_a),
            store_b.apply(Some(&wmcs), Guard::NONE, &writes_b)
        );
        assert!(a.is_ok() != b.is_ok(), "round {round}: exactly one claim lands: {a:?} / {b:?}");
        let winner = if a.is_ok() { "alice" } else { "bob" };
        let now = backend.b.incident(&wmcs, stored.number).await.expect("read").expect("stored");
        assert_eq!(now.ic().expect("an IC").name, winner);
        assert_eq!(now.ic_terms.len(), 1);
    }
}

/// Resolved incidents leave the open list but stay readable; appends to them are skipped.
pub async fn resolved_incidents_leave_the_open_list(backend: Backend) {
    let wmcs = team("wmcs");
    let first = create(&backend.a, &wmcs, true).await;
    let second = create(&backend.a, &wmcs, true).await;
    let mut resolved = first.clone();
    let entry = resolved.resolve(&Person::console("alice"), Some("fixed"), at(5)).expect("resolve");
    backend
        .a
        .apply(Some(&wmcs), Guard::NONE, &[Write::UpdateIncident { incident: resolved, timeline: vec![entry] }])
        .await
        .expect("resolve");
    let open = backend.b.snapshot(Some(&wmcs)).await.expect("snapshot").open;
    assert_eq!(open.iter().map(|i| i.number).collect::<Vec<_>>(), vec![second.number]);
    let log_entry =
        |n: u64| TimelineEntry::new(at(6), &Person::console("bob"), EntryKind::AdminLog, format!("[admin] {n}"));
    let appends = [
        Write::AppendToOpenTimeline { number: first.number, entry: log_entry(first.number) },
        Write::AppendToOpenTimeline { number: second.number, entry: log_entry(second.number) },
    ];
    backend.b.apply(Some(&wmcs), Guard::NONE, &appends).await.expect("append");
    let first_timeline = backend.a.timeline(&wmcs, first.number).await.expect("timeline");
    assert_eq!(first_timeline.last().expect("entries").kind, EntryKind::Resolved, "no append after resolution");
    let second_timeline = backend.a.timeline(&wmcs, second.number).await.expect("timeline");
    assert_eq!(second_timeline.last().expect("entries").text, format!("[admin] {}", second.number));
    let recent = backend.a.recent_incidents(&wmcs, 10).await.expect("recent");
    assert_eq!(recent.iter().map(|i| i.number).collect::<Vec<_>>(), vec![second.number, first.number]);
    assert!(!recent[1].is_open());
    assert_eq!(backend.a.recent_incidents(&wmcs, 1).await.expect("recent").len(), 1);
}

/// The admin log keeps entries per project, oldest first, returning the newest `limit`.
pub async fn admin_log_keeps_order_per_project(backend: Backend) {
    let wmcs = team("wmcs");
    for n in 0..5 {
        let project = if n % 2 == 0 { "admin" } else { "tools" };
        let entry =
            LogEntry { at: at(n), by: Person::console("carol"), project: project.into(), message: format!("step {n}") };
        backend.a.apply(Some(&wmcs), Guard::NONE, &[Write::AppendAdminLog(entry)]).await.expect("log");
    }
    let admin = backend.b.admin_log(&wmcs, "admin", 2).await.expect("log");
    assert_eq!(admin.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["step 2", "step 4"]);
    assert_eq!(backend.b.admin_log(&wmcs, "tools", 10).await.expect("log").len(), 2);
    assert!(backend.b.admin_log(&team("sre"), "admin", 10).await.expect("log").is_empty());
}

/// A guard with an old revision is refused, changes nothing and leaves the event unclaimed.
pub async fn stale_revisions_are_refused(backend: Backend) {
    let wmcs = team("wmcs");
    let before = backend.a.snapshot(Some(&wmcs)).await.expect("snapshot");
    let revision = backend.a.apply(Some(&wmcs), Guard::default().at(&before.revision), &[]).await.expect("current");
    assert_eq!(revision, before.revision, "a claim-only apply keeps the revision");
    create(&backend.b, &wmcs, true).await;
    let log = LogEntry { at: at(1), by: Person::console("bob"), project: "admin".into(), message: "x".into() };
    let late = claim("late");
    let guard = Guard::claim(&late).at(&before.revision);
    let result = backend.a.apply(Some(&wmcs), guard, &[Write::AppendAdminLog(log.clone())]).await;
    assert!(matches!(result, Err(ApplyError::Stale)), "old revision refused: {result:?}");
    assert!(backend.a.admin_log(&wmcs, "admin", 10).await.expect("log").is_empty(), "nothing logged");
    let now = backend.a.snapshot(Some(&wmcs)).await.expect("snapshot");
    assert_ne!(now.revision, before.revision);
    let guard = Guard::claim(&late).at(&now.revision);
    backend.a.apply(Some(&wmcs), guard, &[Write::AppendAdminLog(log)]).await.expect("fresh revision accepted");
    assert_eq!(
        backend.b.snapshot(Some(&wmcs)).await.expect("snapshot").revision,
        now.revision,
        "logs keep the revision"
    );
}

/// [`TeamSnapshot::after`](firebell_core::store::TeamSnapshot::after) predicts exactly what the
/// store returns after each apply, so a remembered snapshot is as good as a fresh read.
pub async fn snapshots_after_writes_match_the_store(backend: Backend) {
    let wmcs = team("wmcs");
    let mut known = backend.a.snapshot(Some(&wmcs)).await.expect("snapshot");
    let alice = Person::console("alice");
    let mut steps: Vec<Vec<Write>> = Vec::new();
    for number in 1..=2 {
        let (incident, timeline) = declare(&wmcs, number, number == 1);
        steps.push(vec![Write::CreateIncident { incident, timeline }]);
    }
    for step in 0..4 {
        let writes = match step {
            0 => steps.remove(0),
            1 => steps.remove(0),
            2 => {
                let mut second = known.open[1].clone();
                let entry = second.claim_ic(&alice, at(2)).expect("claim");
                vec![Write::UpdateIncident { incident: second, timeline: vec![entry] }]
            }
            _ => {
                let mut first = known.open[0].clone();
                let entry = first.resolve(&alice, None, at(3)).expect("resolve");
                vec![Write::UpdateIncident { incident: first, timeline: vec![entry] }]
            }
        };
        let revision =
            backend.a.apply(Some(&wmcs), Guard::default().at(&known.revision), &writes).await.expect("apply");
        known = known.after(&writes, revision);
        assert_eq!(backend.b.snapshot(Some(&wmcs)).await.expect("snapshot"), known, "after step {step}");
    }
    assert_eq!(known.open.len(), 1);
}

/// Plugin choices are shared by every replica, move the revision, are predicted by
/// `TeamSnapshot::after`, and can be dropped; the audit stream keeps admin actions in order.
pub async fn plugin_choices_are_shared_and_audited(backend: Backend) {
    let wmcs = team("wmcs");
    let before = backend.a.snapshot(Some(&wmcs)).await.expect("snapshot");
    let audit = |n: i64, action: &str| AuditEntry {
        at: at(n),
        by: Person::console("alice"),
        action: action.to_owned(),
        before: "enabled".into(),
        after: "disabled".into(),
    };
    let choices = PluginState { enabled: Some(false), settings: [("ttl".to_owned(), "5m".to_owned())].into() };
    let writes = [
        Write::SetPluginState { plugin: "sal".into(), state: Some(choices.clone()) },
        Write::AppendAudit(audit(1, "disable sal")),
    ];
    let revision = backend.a.apply(Some(&wmcs), Guard::default().at(&before.revision), &writes).await.expect("apply");
    let seen = backend.b.snapshot(Some(&wmcs)).await.expect("snapshot");
    assert_eq!(seen, before.after(&writes, revision));
    assert_eq!(seen.plugin("sal"), Some(&choices));
    assert_ne!(seen.revision, before.revision, "plugin choices are part of the snapshot");
    assert!(backend.b.snapshot(Some(&team("sre"))).await.expect("snapshot").plugins.is_empty(), "teams are apart");

    let writes =
        [Write::SetPluginState { plugin: "sal".into(), state: None }, Write::AppendAudit(audit(2, "reset sal"))];
    let revision = backend.b.apply(Some(&wmcs), Guard::default().at(&seen.revision), &writes).await.expect("apply");
    let reset = backend.a.snapshot(Some(&wmcs)).await.expect("snapshot");
    assert_eq!(reset, seen.after(&writes, revision));
    assert!(reset.plugins.is_empty());
    let actions = |entries: Vec<AuditEntry>| entries.into_iter().map(|e| e.action).collect::<Vec<_>>();
    assert_eq!(actions(backend.a.audit_log(&wmcs, 10).await.expect("audit")), ["disable sal", "reset sal"]);
    assert_eq!(actions(backend.a.audit_log(&wmcs, 1).await.expect("audit")), ["reset sal"]);
}

fn record(id: &str, version: u64, open: bool, data: &str) -> Record {
    Record { id: id.to_owned(), version, open, data: data.to_owned() }
}

/// Plugin records are created once, updated by compare-and-set, come with the snapshot while
/// open, and stay readable once closed.
pub async fn records_are_compared_and_set(backend: Backend) {
    let wmcs = team("wmcs");
    let put = |record: Record| [Write::PutRecord { kind: "page".into(), record }];
    let before = backend.a.snapshot(Some(&wmcs)).await.expect("snapshot");
    let writes = put(record("1", 0, true, "first"));
    let revision = backend.a.apply(Some(&wmcs), Guard::default().at(&before.revision), &writes).await.expect("create");
    let seen = backend.b.snapshot(Some(&wmcs)).await.expect("snapshot");
    assert_eq!(seen, before.after(&writes, revision));
    assert_eq!(seen.records("page"), [record("1", 1, true, "first")]);
    let again = backend.b.apply(Some(&wmcs), Guard::NONE, &put(record("1", 0, true, "again"))).await;
    assert!(matches!(again, Err(ApplyError::RecordConflict { .. })), "created once: {again:?}");
    backend.b.apply(Some(&wmcs), Guard::NONE, &put(record("1", 1, true, "second"))).await.expect("update");
    let stale = backend.a.apply(Some(&wmcs), Guard::NONE, &put(record("1", 1, true, "stale"))).await;
    assert!(
        matches!(stale, Err(ApplyError::RecordConflict { ref kind, ref id }) if kind == "page" && id == "1"),
        "{stale:?}"
    );
    backend.a.apply(Some(&wmcs), Guard::NONE, &put(record("2", 0, true, "other"))).await.expect("create");
    let closed = put(record("1", 2, false, "closed"));
    let at = backend.a.snapshot(Some(&wmcs)).await.expect("snapshot");
    let revision = backend.a.apply(Some(&wmcs), Guard::default().at(&at.revision), &closed).await.expect("close");
    let now = backend.b.snapshot(Some(&wmcs)).await.expect("snapshot");
    assert_eq!(now, at.after(&closed, revision));
    assert_eq!(now.records("page"), [record("2", 1, true, "other")], "closed records leave the snapshot");
    assert_eq!(backend.b.record(&wmcs, "page", "1").await.expect("read"), Some(record("1", 3, false, "closed")));
    assert_eq!(backend.b.record(&wmcs, "page", "9").await.expect("read"), None);
    let recent = backend.b.recent_records(&wmcs, "page", 10).await.expect("recent");
    assert_eq!(recent.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["2", "1"]);
    assert!(!recent[1].open);
    assert!(backend.b.snapshot(Some(&team("sre"))).await.expect("snapshot").records.is_empty());
}

/// Record ids and kinds that look like the store's own keys (`open`, `all`, `n`, `r`), or hold
/// its separators (`:`, `{}`, `%`), are stored and read back like any other: no write meets an
/// index, and nothing is half written.
pub async fn record_ids_never_meet_index_keys(backend: Backend) {
    let wmcs = team("wmcs");
    let ids = ["open", "all", "n", "r", "kinds", "a:b", "{sre}", "x:open", "%3A", ""];
    let kinds = ["page", "page:r", "page:open", "kinds", "%", "{x}"];
    for kind in kinds {
        for id in ids {
            let write = [Write::PutRecord { kind: kind.into(), record: record(id, 0, true, &format!("{kind}/{id}")) }];
            backend.a.apply(Some(&wmcs), Guard::NONE, &write).await.unwrap_or_else(|err| panic!("{kind} {id}: {err}"));
        }
    }
    let snapshot = backend.b.snapshot(Some(&wmcs)).await.expect("snapshot");
    for kind in kinds {
        let open = snapshot.records(kind);
        assert_eq!(open.len(), ids.len(), "kind {kind}: {open:?}");
        for id in ids {
            let read = backend.b.record(&wmcs, kind, id).await.expect("read");
            assert_eq!(read, Some(record(id, 1, true, &format!("{kind}/{id}"))), "kind {kind}, id {id}");
        }
        let recent = backend.b.recent_records(&wmcs, kind, 100).await.expect("recent");
        assert_eq!(recent.len(), ids.len(), "kind {kind}");
    }
    let close = [Write::PutRecord { kind: "page".into(), record: record("open", 1, false, "closed") }];
    backend.a.apply(Some(&wmcs), Guard::NONE, &close).await.expect("close");
    let snapshot = backend.b.snapshot(Some(&wmcs)).await.expect("snapshot");
    assert_eq!(snapshot.records("page").len(), ids.len() - 1);
    assert_eq!(snapshot.records("page:open").len(), ids.len(), "other kinds keep theirs");
}

fn job(id: &str, minute: i64) -> Job {
    Job::new(id, "incident", at(minute), format!("data of {id}"))
}

const TAKE: TakeJobs = TakeJobs { limit: 10, reclaim_after: Duration::from_secs(60), max_attempts: 3 };

/// Jobs wait until due, are queued once, are handed to one scheduler, and are consumed by the
/// run that applies them.
pub async fn due_jobs_are_handed_out_once(backend: Backend) {
    let wmcs = team("wmcs");
    let jobs = [job("c", 3), job("a", 1), job("b", 2)];
    let writes: Vec<Write> = jobs.iter().cloned().map(Write::Schedule).collect();
    backend.a.apply(Some(&wmcs), Guard::NONE, &writes).await.expect("schedule");
    let waiting = backend.b.scheduled_jobs(&wmcs).await.expect("jobs");
    assert_eq!(waiting.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(waiting[0], jobs[1], "jobs read back whole");
    let (a, b) =
        tokio::join!(backend.a.promote_due_jobs(&wmcs, at(2), 10), backend.b.promote_due_jobs(&wmcs, at(2), 10));
    assert_eq!(a.expect("promote") + b.expect("promote"), 2, "each due job is queued once");
    assert_eq!(backend.a.scheduled_jobs(&wmcs).await.expect("jobs").len(), 1);
    let first = backend.a.take_jobs(&wmcs, "replica-a", TAKE).await.expect("take");
    let second = backend.b.take_jobs(&wmcs, "replica-b", TAKE).await.expect("take");
    assert_eq!(first.ready.iter().map(|r| r.job.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert!(first.ready.iter().all(|r| r.attempts == 1));
    assert!(second.ready.is_empty() && second.dead.is_empty(), "taken jobs are not handed out twice");
    for ready in &first.ready {
        let cause = Claim { key: ready.job.cause(), ttl: Duration::from_secs(600) };
        backend.a.apply(Some(&wmcs), Guard::claim(&cause).running(&ready.job), &[]).await.expect("run");
        let twice = backend.b.apply(Some(&wmcs), Guard::default().running(&ready.job), &[]).await;
        assert!(matches!(twice, Err(ApplyError::JobGone)), "a run consumes its job: {twice:?}");
        backend.a.finish_job(&wmcs, &ready.entry, &ready.job.cause()).await.expect("finish");
    }
    let later = backend.b.take_jobs(&wmcs, "replica-b", TakeJobs { reclaim_after: Duration::ZERO, ..TAKE }).await;
    assert!(later.expect("take").ready.is_empty(), "finished jobs are gone");
}

/// A job rescheduled or cancelled after it became due is recognised by its old token.
pub async fn rescheduled_and_cancelled_jobs_are_gone(backend: Backend) {
    let wmcs = team("wmcs");
    let old = job("remind", 1);
    backend.a.apply(Some(&wmcs), Guard::NONE, &[Write::Schedule(old.clone())]).await.expect("schedule");
    backend.a.promote_due_jobs(&wmcs, at(1), 10).await.expect("promote");
    let taken = backend.a.take_jobs(&wmcs, "replica-a", TAKE).await.expect("take");
    assert_eq!(taken.ready[0].job, old);
    let new = job("remind", 30);
    backend.b.apply(Some(&wmcs), Guard::NONE, &[Write::Schedule(new.clone())]).await.expect("reschedule");
    let stale = backend.a.apply(Some(&wmcs), Guard::default().running(&old), &[]).await;
    assert!(matches!(stale, Err(ApplyError::JobGone)), "{stale:?}");
    assert_eq!(backend.a.scheduled_jobs(&wmcs).await.expect("jobs"), std::slice::from_ref(&new));
    backend.b.apply(Some(&wmcs), Guard::NONE, &[Write::Cancel("remind".into())]).await.expect("cancel");
    assert!(backend.a.scheduled_jobs(&wmcs).await.expect("jobs").is_empty());
    let cancelled = backend.a.apply(Some(&wmcs), Guard::default().running(&new), &[]).await;
    assert!(matches!(cancelled, Err(ApplyError::JobGone)), "{cancelled:?}");
}

/// A job left unfinished by a scheduler that went quiet is taken over; one that keeps failing
/// goes to the dead-letter queue.
pub async fn quiet_schedulers_jobs_are_taken_over_then_dead_lettered(backend: Backend) {
    let wmcs = team("wmcs");
    backend.a.apply(Some(&wmcs), Guard::NONE, &[Write::Schedule(job("flaky", 0))]).await.expect("schedule");
    backend.a.promote_due_jobs(&wmcs, at(0), 10).await.expect("promote");
    let quick = TakeJobs { reclaim_after: Duration::from_millis(50), ..TAKE };
    let first = backend.a.take_jobs(&wmcs, "replica-a", quick).await.expect("take");
    assert_eq!(first.ready.len(), 1);
    assert!(backend.b.take_jobs(&wmcs, "replica-b", quick).await.expect("take").ready.is_empty(), "not idle yet");
    for attempt in 2..=3 {
        tokio::time::sleep(Duration::from_millis(120)).await;
        let taken = backend.b.take_jobs(&wmcs, "replica-b", quick).await.expect("take");
        assert_eq!(taken.ready.len(), 1, "attempt {attempt}: taken over");
        assert_eq!(taken.ready[0].attempts, attempt);
        assert_eq!(taken.ready[0].entry, first.ready[0].entry);
    }
    tokio::time::sleep(Duration::from_millis(120)).await;
    let taken = backend.a.take_jobs(&wmcs, "replica-a", quick).await.expect("take");
    assert!(taken.ready.is_empty());
    assert_eq!(taken.dead.len(), 1, "past the most attempts it is dead-lettered");
    assert_eq!(backend.b.dead_jobs(&wmcs, 10).await.expect("dead")[0].id, "flaky");
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(
        backend.b.take_jobs(&wmcs, "replica-b", quick).await.expect("take"),
        Default::default(),
        "gone for good"
    );
}

/// A job run's outbox is kept with its writes, survives a duplicate run, and goes with the job;
/// sends are recorded.
pub async fn outboxes_and_sends_are_kept_for_the_run(backend: Backend) {
    let wmcs = team("wmcs");
    let run = job("remind", 0);
    backend.a.apply(Some(&wmcs), Guard::NONE, &[Write::Schedule(run.clone())]).await.expect("schedule");
    let cause = run.cause();
    let room = RoomRef::console("#admin");
    let actions = vec![Action::Send { room, message: Message::text("reminder"), thread: None }];
    let envelopes = Envelope::number(&cause, actions);
    let claim = Claim { key: cause.clone(), ttl: Duration::from_secs(600) };
    let writes = [Write::Outbox { cause: cause.clone(), envelopes: envelopes.clone() }];
    backend.a.apply(Some(&wmcs), Guard::claim(&claim).running(&run), &writes).await.expect("run");
    let again = backend.b.apply(Some(&wmcs), Guard::claim(&claim).running(&run), &writes).await;
    assert!(matches!(again, Err(ApplyError::Duplicate)), "the run was applied: {again:?}");
    assert_eq!(
        backend.b.outbox(&wmcs, &cause).await.expect("outbox"),
        envelopes,
        "the other replica finds what to send"
    );
    assert!(!backend.b.is_sent(&wmcs, &envelopes[0].id).await.expect("sent?"));
    backend.a.mark_sent(&wmcs, &envelopes[0].id).await.expect("mark");
    assert!(backend.b.is_sent(&wmcs, &envelopes[0].id).await.expect("sent?"));
    backend.b.finish_job(&wmcs, "0-0", &cause).await.expect("finish");
    assert!(backend.a.outbox(&wmcs, &cause).await.expect("outbox").is_empty());
}

/// A watchdog's outbox is kept beside its job, and dropped with it in one step once everything
/// was sent.
pub async fn outboxes_are_dropped_with_their_watchdog(backend: Backend) {
    let wmcs = team("wmcs");
    let watchdog = job("deliver:console:e1", 1);
    let room = RoomRef::console("#admin");
    let actions = vec![Action::Send { room, message: Message::text("done"), thread: None }];
    let envelopes = Envelope::number("console:e1", actions);
    let cause = watchdog.cause();
    let kept =
        [Write::Schedule(watchdog.clone()), Write::Outbox { cause: cause.clone(), envelopes: envelopes.clone() }];
    backend.a.apply(Some(&wmcs), Guard::NONE, &kept).await.expect("keep");
    assert_eq!(backend.b.outbox(&wmcs, &cause).await.expect("outbox"), envelopes);
    backend.a.promote_due_jobs(&wmcs, at(1), 10).await.expect("queued");
    let delivered = [Write::Cancel(watchdog.id.clone()), Write::DropOutbox(cause.clone())];
    backend.b.apply(Some(&wmcs), Guard::NONE, &delivered).await.expect("drop");
    assert!(backend.a.outbox(&wmcs, &cause).await.expect("outbox").is_empty());
    assert!(backend.a.scheduled_jobs(&wmcs).await.expect("jobs").is_empty());
    let claim = Claim { key: cause.clone(), ttl: Duration::from_secs(600) };
    let late = backend.a.apply(Some(&wmcs), Guard::claim(&claim).running(&watchdog), &[]).await;
    assert!(matches!(late, Err(ApplyError::JobGone)), "the queued run finds its job cancelled: {late:?}");
}

/// A pace hands out one slot per interval to all replicas together.
pub async fn paces_are_shared(backend: Backend) {
    let every = Duration::from_millis(200);
    let waits = [
        backend.a.pace("slack:C1", every).await.expect("pace"),
        backend.b.pace("slack:C1", every).await.expect("pace"),
        backend.a.pace("slack:C1", every).await.expect("pace"),
    ];
    assert_eq!(waits[0], Duration::ZERO);
    let near = |wait: Duration, slots: u32| wait <= every * slots && wait + Duration::from_millis(60) >= every * slots;
    assert!(near(waits[1], 1) && near(waits[2], 2), "one slot each, in turn: {waits:?}");
    assert_eq!(backend.b.pace("slack:C2", every).await.expect("pace"), Duration::ZERO, "keys are apart");
    tokio::time::sleep(every * 3).await;
    assert_eq!(backend.b.pace("slack:C1", every).await.expect("pace"), Duration::ZERO, "slots free up");
}

/// Declares one `#[tokio::test]` per conformance check, for the backend made by `$backend`
/// (an async function returning a [`Backend`]).
#[macro_export]
macro_rules! store_conformance_suite {
    ($backend:path) => {
        $crate::store_conformance_suite!(@tests $backend;
            claims_are_applied_once,
            racing_duplicates_apply_once,
            incident_numbers_are_unique,
            created_incidents_read_back,
            stale_updates_conflict,
            refused_applies_change_nothing,
            racing_ic_claims_have_one_winner,
            resolved_incidents_leave_the_open_list,
            admin_log_keeps_order_per_project,
            stale_revisions_are_refused,
            snapshots_after_writes_match_the_store,
            plugin_choices_are_shared_and_audited,
            records_are_compared_and_set,
            record_ids_never_meet_index_keys,
            due_jobs_are_handed_out_once,
            rescheduled_and_cancelled_jobs_are_gone,
            quiet_schedulers_jobs_are_taken_over_then_dead_lettered,
            outboxes_and_sends_are_kept_for_the_run,
            outboxes_are_dropped_with_their_watchdog,
            paces_are_shared,
        );
    };
    (@tests $backend:path; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                $crate::conformance::$check($backend().await).await;
            }
        )*
    };
}

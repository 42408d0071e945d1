//! The store conformance suite: one set of checks that every [`Store`] backend must pass,
//! through the generic API only (records, indexes, streams, sequences, guards, jobs).
//!
//! Each check takes a [`Backend`]: two handles on the same shared state, as two replicas would
//! have. Run the whole suite for a backend with [`store_conformance_suite!`](crate::store_conformance_suite).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use firebell_core::ids::{RoomRef, TeamId, Transport};
use firebell_core::job::Job;
use firebell_core::message::{Action, Envelope, Message};
use firebell_core::state::{Index, Reads, Record, State, decode};
use firebell_core::store::{ApplyError, Claim, Guard, Key, Store, StoreError, StreamRange, TakeJobs, Write};
use firebell_store_memory::MemoryStore;
use firebell_store_redis::RedisStore;
use serde::{Deserialize, Serialize};

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

/// The namespace the checks write under.
const NS: &str = "drill";

/// A plugin's record, as a third-party plugin would declare one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Drill {
    id: String,
    scenario: String,
    /// Planned drills are listed under `planned`, and under `owner` by who runs them.
    planned: bool,
    owner: String,
}

impl Record for Drill {
    const KIND: &'static str = "drill";

    fn id(&self) -> String {
        self.id.clone()
    }

    fn indexes(&self) -> Vec<(&'static str, String)> {
        match self.planned {
            true => vec![("planned", String::new()), ("owner", self.owner.clone())],
            false => Vec::new(),
        }
    }
}

fn drill(id: &str, scenario: &str) -> Drill {
    Drill { id: id.into(), scenario: scenario.into(), planned: true, owner: "alice".into() }
}

/// The write that stores `record` in the checks' namespace.
fn put(record: &Drill) -> Write {
    Write::Put { namespace: NS.into(), record: firebell_core::state::encode(record) }
}

fn record_key(id: &str) -> Key {
    Key::Record { namespace: NS.into(), kind: Drill::KIND.into(), id: id.into() }
}

/// Reads `ids` as one decision would, returning the guard of its writes.
async fn read_guard(store: &Arc<dyn Store>, team: &TeamId, ids: &[&str]) -> Vec<(Key, u64)> {
    let reads = Reads::new(store.as_ref(), Some(team), None);
    let ids: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
    State::new(&reads, NS).get_many::<Drill>(&ids).await.expect("read");
    reads.guard()
}

async fn get(store: &Arc<dyn Store>, team: &TeamId, id: &str) -> (u64, Option<Drill>) {
    let found = store.records(team, NS, Drill::KIND, &[id.to_owned()]).await.expect("read");
    let (version, record) = found.into_iter().next().expect("one answer per id");
    (version, record.map(|stored| decode::<Drill>(&stored).expect("decodes")))
}

async fn apply(
    store: &Arc<dyn Store>,
    team: &TeamId,
    guard: &[(Key, u64)],
    writes: &[Write],
) -> Result<(), ApplyError> {
    store.apply(Some(team), Guard::default().reading(guard), writes).await.map(|_| ())
}

/// Each cause is applied once, per transport and per team, until its claim's time is over.
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

    let brief = Claim::event(Transport::Console, "e4", Duration::from_secs(1));
    backend.a.apply(Some(&wmcs), Guard::claim(&brief), &[]).await.expect("brief claim");
    assert!(matches!(backend.b.apply(Some(&wmcs), Guard::claim(&brief), &[]).await, Err(ApplyError::Duplicate)));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while backend.b.apply(Some(&wmcs), Guard::claim(&brief), &[]).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "a claim is forgotten once its time is over");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The same event raced from two replicas: exactly one applies it.
pub async fn racing_duplicates_apply_once(backend: Backend) {
    let wmcs = team("wmcs");
    for round in 0..20 {
        let event = claim(&format!("race-{round}"));
        let writes = [Write::Append { namespace: NS.into(), stream: "log".into(), entry: format!("\"m{round}\"") }];
        let (a, b) = tokio::join!(
            backend.a.apply(Some(&wmcs), Guard::claim(&event), &writes),
            backend.b.apply(Some(&wmcs), Guard::claim(&event), &writes)
        );
        assert!(a.is_ok() != b.is_ok(), "round {round}: exactly one replica applies: {a:?} / {b:?}");
    }
    let log = backend.a.stream(&wmcs, NS, "log", StreamRange::All).await.expect("log");
    assert_eq!(log.len(), 20, "each event logged once");
}

/// Numbers are reserved in order, never twice, once per reservation, per team and namespace.
pub async fn sequence_numbers_are_unique(backend: Backend) {
    let wmcs = team("wmcs");
    let mut numbers = Vec::new();
    for n in 0..5 {
        numbers.push(backend.a.reserve_number(&wmcs, NS, "drill", &format!("a{n}")).await.expect("reserve"));
        numbers.push(backend.b.reserve_number(&wmcs, NS, "drill", &format!("b{n}")).await.expect("reserve"));
    }
    assert_eq!(numbers, (1..=10).collect::<Vec<u64>>());
    let again = backend.b.reserve_number(&wmcs, NS, "drill", "a3").await.expect("reserve");
    assert_eq!(again, 7, "same reservation, same number");
    assert_eq!(backend.a.reserve_number(&wmcs, NS, "drill", "c").await.expect("reserve"), 11);
    assert_eq!(backend.a.reserve_number(&team("sre"), NS, "drill", "a0").await.expect("reserve"), 1, "per team");
    assert_eq!(backend.a.reserve_number(&wmcs, "other", "drill", "a0").await.expect("reserve"), 1, "per namespace");
    assert_eq!(backend.a.reserve_number(&wmcs, NS, "page", "a0").await.expect("reserve"), 1, "per sequence");
    let release = Write::Release { namespace: NS.into(), sequence: "drill".into(), reservation: "a3".into() };
    backend.a.apply(Some(&wmcs), Guard::NONE, &[release]).await.expect("release");
    let after = backend.b.reserve_number(&wmcs, NS, "drill", "a3").await.expect("reserve");
    assert_eq!(after, 12, "a released reservation is forgotten; its number is not given again");
    assert_eq!(backend.b.reserve_number(&wmcs, NS, "drill", "a4").await.expect("reserve"), 9, "others are kept");

    // A cause applied by one replica (its reservation released with it) gets no new number on
    // another: the sequence would skip the number a duplicate can never keep.
    let applied = claim("declare");
    let release = Write::Release { namespace: NS.into(), sequence: "drill".into(), reservation: applied.key.clone() };
    let number = backend.a.reserve_number(&wmcs, NS, "drill", &applied.key).await.expect("reserve");
    backend.a.apply(Some(&wmcs), Guard::claim(&applied), &[release]).await.expect("applied");
    let late = backend.b.reserve_number(&wmcs, NS, "drill", &applied.key).await;
    assert!(matches!(late, Err(StoreError::AlreadyApplied)), "{late:?}");
    let next = backend.b.reserve_number(&wmcs, NS, "drill", "d").await.expect("reserve");
    assert_eq!(next, number + 1, "no number was used up");
}

/// A stored record reads back whole from the other replica, at version 1; a missing one is
/// `None` at version 0; what `apply` reports matches what is read.
pub async fn records_read_back(backend: Backend) {
    let wmcs = team("wmcs");
    let applied = backend.a.apply(Some(&wmcs), Guard::NONE, &[put(&drill("1", "ceph down"))]).await.expect("put");
    assert_eq!(applied.versions.first(), Some(&(record_key("1"), 1)), "{applied:?}");
    assert_eq!(get(&backend.b, &wmcs, "1").await, (1, Some(drill("1", "ceph down"))));
    assert_eq!(get(&backend.b, &wmcs, "2").await, (0, None));
    let many = backend.b.records(&wmcs, NS, Drill::KIND, &["2".into(), "1".into()]).await.expect("read");
    assert_eq!(many.iter().map(|(v, r)| (*v, r.is_some())).collect::<Vec<_>>(), [(0, false), (1, true)]);
    let stored = many[1].1.clone().expect("stored");
    assert_eq!((stored.kind.as_str(), stored.id.as_str(), stored.schema), ("drill", "1", 1));
    assert_eq!(stored.indexes.len(), 2);
    backend.b.apply(Some(&wmcs), Guard::NONE, &[put(&drill("1", "ceph still down"))]).await.expect("update");
    assert_eq!(get(&backend.a, &wmcs, "1").await, (2, Some(drill("1", "ceph still down"))));
    assert_eq!(get(&backend.a, &team("sre"), "1").await, (0, None), "teams are apart");
    let other = backend.a.records(&wmcs, "other", Drill::KIND, &["1".into()]).await.expect("read");
    assert_eq!(other, [(0, None)], "namespaces are apart");
}

/// Two writers on two records of one team never conflict, even at the same moment.
pub async fn two_writers_on_two_records_never_conflict(backend: Backend) {
    let wmcs = team("wmcs");
    let seed = [put(&drill("1", "a")), put(&drill("2", "b"))];
    backend.a.apply(Some(&wmcs), Guard::NONE, &seed).await.expect("seed");
    for round in 0..25 {
        let (one, two) = tokio::join!(read_guard(&backend.a, &wmcs, &["1"]), read_guard(&backend.b, &wmcs, &["2"]));
        let (wa, wb) = ([put(&drill("1", &format!("a{round}")))], [put(&drill("2", &format!("b{round}")))]);
        let (a, b) = tokio::join!(apply(&backend.a, &wmcs, &one, &wa), apply(&backend.b, &wmcs, &two, &wb));
        assert!(a.is_ok() && b.is_ok(), "round {round}: {a:?} / {b:?}");
    }
    assert_eq!(get(&backend.a, &wmcs, "1").await, (26, Some(drill("1", "a24"))));
    assert_eq!(get(&backend.b, &wmcs, "2").await, (26, Some(drill("2", "b24"))));
}

/// A write decided on a record that changed since is refused, names the record, changes
/// nothing (not even its claim), and succeeds when decided again on what is there now.
pub async fn a_conflict_on_one_record_re_runs_and_succeeds(backend: Backend) {
    let wmcs = team("wmcs");
    backend.a.apply(Some(&wmcs), Guard::NONE, &[put(&drill("1", "a"))]).await.expect("seed");
    let stale = read_guard(&backend.b, &wmcs, &["1"]).await;
    backend.a.apply(Some(&wmcs), Guard::NONE, &[put(&drill("1", "changed"))]).await.expect("meanwhile");
    let event = claim("late");
    let writes = [put(&drill("1", "lost")), put(&drill("9", "new")), Write::Schedule(job("j", 5))];
    let refused = backend.b.apply(Some(&wmcs), Guard::claim(&event).reading(&stale), &writes).await;
    assert!(matches!(&refused, Err(ApplyError::Conflict(key)) if *key == record_key("1")), "{refused:?}");
    assert_eq!(get(&backend.a, &wmcs, "1").await, (2, Some(drill("1", "changed"))), "nothing written");
    assert_eq!(get(&backend.a, &wmcs, "9").await, (0, None));
    assert!(backend.a.scheduled_jobs(&wmcs).await.expect("jobs").is_empty());
    let fresh = read_guard(&backend.b, &wmcs, &["1"]).await;
    backend.b.apply(Some(&wmcs), Guard::claim(&event).reading(&fresh), &writes).await.expect("decided again");
    assert_eq!(get(&backend.a, &wmcs, "1").await, (3, Some(drill("1", "lost"))));
    let absent = read_guard(&backend.a, &wmcs, &["5"]).await;
    backend.b.apply(Some(&wmcs), Guard::NONE, &[put(&drill("5", "made meanwhile"))]).await.expect("create");
    let refused = apply(&backend.a, &wmcs, &absent, &[put(&drill("5", "mine"))]).await;
    assert!(matches!(refused, Err(ApplyError::Conflict(_))), "a record made since it was read absent: {refused:?}");
}

/// Two replicas racing to change one record: exactly one wins each round.
pub async fn racing_writers_on_one_record_have_one_winner(backend: Backend) {
    let wmcs = team("wmcs");
    backend.a.apply(Some(&wmcs), Guard::NONE, &[put(&drill("1", "start"))]).await.expect("seed");
    for round in 0..20 {
        let (ga, gb) = tokio::join!(read_guard(&backend.a, &wmcs, &["1"]), read_guard(&backend.b, &wmcs, &["1"]));
        let (wa, wb) = ([put(&drill("1", &format!("a{round}")))], [put(&drill("1", &format!("b{round}")))]);
        let (a, b) = tokio::join!(apply(&backend.a, &wmcs, &ga, &wa), apply(&backend.b, &wmcs, &gb, &wb));
        assert!(a.is_ok() != b.is_ok(), "round {round}: one winner: {a:?} / {b:?}");
    }
    assert_eq!(get(&backend.a, &wmcs, "1").await.0, 21);
}

/// Records are listed under the index keys they declare, and leave them when they stop
/// declaring them; an index key's version moves only when a record joins or leaves it, and a
/// decision that read a listing conflicts when it does.
pub async fn indexes_list_records_and_guard_listings(backend: Backend) {
    let wmcs = team("wmcs");
    let writes = [put(&drill("1", "a")), put(&drill("2", "b")), put(&Drill { owner: "bob".into(), ..drill("3", "c") })];
    backend.a.apply(Some(&wmcs), Guard::NONE, &writes).await.expect("put");
    let planned = backend.b.find(&wmcs, NS, Drill::KIND, "planned", "").await.expect("find");
    assert_eq!(planned.records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["1", "2", "3"]);
    let version = planned.version;
    assert!(version > 0);
    let bobs = backend.b.find(&wmcs, NS, Drill::KIND, "owner", "bob").await.expect("find");
    assert_eq!(bobs.records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["3"]);
    backend.a.apply(Some(&wmcs), Guard::NONE, &[put(&drill("1", "a, changed"))]).await.expect("update");
    let same = backend.b.find(&wmcs, NS, Drill::KIND, "planned", "").await.expect("find");
    assert_eq!(same.version, version, "a listed record that stays listed leaves the key's version alone");
    assert_eq!(decode::<Drill>(&same.records[0]).expect("decodes").scenario, "a, changed");

    let reads = Reads::new(backend.b.as_ref(), Some(&wmcs), None);
    let listed: Vec<Drill> = State::new(&reads, NS).find("planned", "").await.expect("find");
    assert_eq!(listed.len(), 3);
    let done = Drill { planned: false, ..drill("2", "b") };
    backend.a.apply(Some(&wmcs), Guard::NONE, &[put(&done)]).await.expect("done");
    let refused = apply(&backend.b, &wmcs, &reads.guard(), &[]).await;
    assert!(matches!(refused, Err(ApplyError::Conflict(_))), "the listing changed: {refused:?}");
    let planned = backend.b.find(&wmcs, NS, Drill::KIND, "planned", "").await.expect("find");
    assert_eq!(planned.records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["1", "3"]);
    assert!(planned.version > version);
    assert_eq!(get(&backend.b, &wmcs, "2").await.1, Some(done), "an unlisted record is still there");
    let nobody = backend.b.find(&wmcs, NS, Drill::KIND, "owner", "carol").await.expect("find");
    assert_eq!((nobody.version, nobody.records.len()), (0, 0));
}

/// A window of maintenance: at most one per component (a unique index), found by component
/// prefix too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Window {
    number: u64,
    component: String,
}

/// Windows by component: one each.
const BY_COMPONENT: Index<Window, str> = Index::new("component");

impl Record for Window {
    const KIND: &'static str = "window";
    const UNIQUE: &'static [&'static str] = &["component"];

    fn id(&self) -> String {
        self.number.to_string()
    }

    fn indexes(&self) -> Vec<(&'static str, String)> {
        vec![BY_COMPONENT.entry(&self.component)]
    }
}

fn window(number: u64, component: &str) -> Write {
    let window = Window { number, component: component.into() };
    Write::Put { namespace: NS.into(), record: firebell_core::state::encode(&window) }
}

/// A unique index lists one record per key: of 16 writers putting 16 records under one key
/// at once, whatever they read, one wins and 15 are refused with `Taken`; the winner may
/// rewrite its record, and once it leaves the key another may join it.
pub async fn a_unique_index_lists_one_record_per_key(backend: Backend) {
    let wmcs = team("wmcs");
    assert!(BY_COMPONENT.is_unique());
    let writers = (1..=16u64).map(|n| {
        let store = if n % 2 == 0 { backend.a.clone() } else { backend.b.clone() };
        let wmcs = wmcs.clone();
        tokio::spawn(async move { store.apply(Some(&wmcs), Guard::NONE, &[window(n, "db")]).await })
    });
    let mut results = Vec::new();
    for writer in writers {
        results.push(writer.await.expect("writer ran"));
    }
    let won: Vec<usize> = (0..16).filter(|n| results[*n].is_ok()).collect();
    assert_eq!(won.len(), 1, "one winner: {results:?}");
    for refused in results.iter().filter(|r| r.is_err()) {
        assert!(
            matches!(refused, Err(ApplyError::Taken(Key::Index { index, key, .. })) if index == "component" && key == "db"),
            "{refused:?}"
        );
    }
    let winner = won[0] as u64 + 1;
    let listed = backend.a.find(&wmcs, NS, Window::KIND, "component", "db").await.expect("find");
    assert_eq!(listed.records.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), [winner.to_string()]);
    backend.a.apply(Some(&wmcs), Guard::NONE, &[window(winner, "db")]).await.expect("the winner rewrites its own");
    let other = if winner == 1 { 2 } else { 1 };
    let moved = [window(winner, "web"), window(other, "db")];
    let refused = backend.b.apply(Some(&wmcs), Guard::NONE, &[window(other, "db")]).await;
    assert!(matches!(refused, Err(ApplyError::Taken(_))), "{refused:?}");
    backend.b.apply(Some(&wmcs), Guard::NONE, &moved[..1]).await.expect("the winner moves");
    backend.b.apply(Some(&wmcs), Guard::NONE, &moved[1..]).await.expect("another takes the key");
}

/// A prefix listing finds the records under every key of an index that starts with the prefix,
/// by key then id, up to its limit, and none under keys that do not.
pub async fn prefix_listings_find_every_key_that_starts_so(backend: Backend) {
    let wmcs = team("wmcs");
    let writes = [window(1, "db-eqiad"), window(2, "db-codfw"), window(3, "dbx"), window(4, "web"), window(5, "d")];
    backend.a.apply(Some(&wmcs), Guard::NONE, &writes).await.expect("put");
    let ids = |records: Vec<firebell_core::store::StoredRecord>| records.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let found = backend.b.find_prefix(&wmcs, NS, Window::KIND, "component", "db-", 10).await.expect("find");
    assert_eq!(ids(found), ["2", "1"], "db-codfw before db-eqiad");
    let found = backend.b.find_prefix(&wmcs, NS, Window::KIND, "component", "db", 10).await.expect("find");
    assert_eq!(ids(found), ["2", "1", "3"]);
    let found = backend.b.find_prefix(&wmcs, NS, Window::KIND, "component", "", 2).await.expect("find");
    assert_eq!(ids(found), ["5", "2"], "every key, up to the limit");
    backend.a.apply(Some(&wmcs), Guard::NONE, &[window(1, "web-2")]).await.expect("moved");
    let found = backend.b.find_prefix(&wmcs, NS, Window::KIND, "component", "db-", 10).await.expect("find");
    assert_eq!(ids(found), ["2"], "a record that left a key is not found under it");
    let reads = Reads::new(backend.b.as_ref(), Some(&wmcs), None);
    let typed: Vec<Window> = State::new(&reads, NS).find_prefix(&BY_COMPONENT, "web", 10).await.expect("typed");
    assert_eq!(typed.iter().map(|w| w.number).collect::<Vec<_>>(), [4, 1]);
    assert!(reads.guard().is_empty(), "a prefix listing is not part of the guard");
}

/// A removed record reads as missing but keeps its version, leaves its index keys and the
/// recent list; made again, it is never mistaken for the one read before.
pub async fn removed_records_keep_their_version(backend: Backend) {
    let wmcs = team("wmcs");
    backend.a.apply(Some(&wmcs), Guard::NONE, &[put(&drill("1", "a")), put(&drill("2", "b"))]).await.expect("put");
    let before = read_guard(&backend.b, &wmcs, &["1"]).await;
    let remove = Write::Remove { namespace: NS.into(), kind: Drill::KIND.into(), id: "1".into() };
    let applied = backend.a.apply(Some(&wmcs), Guard::NONE, std::slice::from_ref(&remove)).await.expect("remove");
    assert_eq!(applied.versions.first(), Some(&(record_key("1"), 2)));
    assert_eq!(get(&backend.b, &wmcs, "1").await, (2, None));
    let planned = backend.b.find(&wmcs, NS, Drill::KIND, "planned", "").await.expect("find");
    assert_eq!(planned.records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["2"]);
    let recent = backend.b.recent(&wmcs, NS, Drill::KIND, 10).await.expect("recent");
    assert_eq!(recent.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["2"]);
    backend.a.apply(Some(&wmcs), Guard::NONE, &[remove]).await.expect("removing nothing is fine");
    assert_eq!(get(&backend.b, &wmcs, "1").await, (2, None), "removing a missing record changes nothing");
    backend.a.apply(Some(&wmcs), Guard::NONE, &[put(&drill("1", "again"))]).await.expect("again");
    assert_eq!(get(&backend.b, &wmcs, "1").await, (3, Some(drill("1", "again"))));
    let refused = apply(&backend.b, &wmcs, &before, &[]).await;
    assert!(matches!(refused, Err(ApplyError::Conflict(_))), "{refused:?}");
}

/// Ids, index keys and stream names that look like the store's own key parts are stored safely
/// and apart: `open`, `all`, `n`, with `:` and `{}`, empty.
pub async fn record_ids_like_key_parts_are_stored_safely(backend: Backend) {
    let wmcs = team("wmcs");
    let ids = ["open", "all", "n", "c", "cn", "iv", "a:b", "r:drill:1", "{wmcs}", "}{", "x{y}z", "", "%3A", "ü 1"];
    let writes: Vec<Write> =
        ids.iter().map(|id| put(&Drill { owner: format!("o:{id}"), ..drill(id, &format!("s{id}")) })).collect();
    backend.a.apply(Some(&wmcs), Guard::NONE, &writes).await.expect("put");
    for id in ids {
        assert_eq!(get(&backend.b, &wmcs, id).await.1.map(|d| d.scenario), Some(format!("s{id}")), "id {id:?}");
        let theirs = backend.b.find(&wmcs, NS, Drill::KIND, "owner", &format!("o:{id}")).await.expect("find");
        assert_eq!(theirs.records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), [id], "index key o:{id:?}");
    }
    let planned = backend.b.find(&wmcs, NS, Drill::KIND, "planned", "").await.expect("find");
    assert_eq!(planned.records.len(), ids.len());
    let recent = backend.b.recent(&wmcs, NS, Drill::KIND, 100).await.expect("recent");
    assert_eq!(recent.len(), ids.len());
    for (stream, entry) in [("log:admin", "1"), ("log", "2"), ("log:admin:x", "3"), ("{s}", "4")] {
        let append = Write::Append { namespace: "ns:x".into(), stream: stream.into(), entry: entry.into() };
        backend.a.apply(Some(&wmcs), Guard::NONE, &[append]).await.expect("append");
    }
    for (stream, entry) in [("log:admin", "1"), ("log", "2"), ("log:admin:x", "3"), ("{s}", "4")] {
        let read = backend.b.stream(&wmcs, "ns:x", stream, StreamRange::All).await.expect("stream");
        assert_eq!(read.iter().map(|e| e.data.as_str()).collect::<Vec<_>>(), [entry], "stream {stream:?}");
    }
    let other = Write::Put { namespace: "ns:x".into(), record: firebell_core::state::encode(&drill("1", "x")) };
    backend.a.apply(Some(&wmcs), Guard::NONE, &[other]).await.expect("put");
    assert_eq!(backend.b.records(&wmcs, "ns", "x:drill", &["1".into()]).await.expect("read"), [(0, None)]);
}

/// Streams keep entries in order, read by range, and trim to their newest entries.
pub async fn streams_read_by_range_and_trim(backend: Backend) {
    let wmcs = team("wmcs");
    for n in 1..=10 {
        let append = Write::Append { namespace: NS.into(), stream: "timeline:1".into(), entry: n.to_string() };
        backend.a.apply(Some(&wmcs), Guard::NONE, &[append]).await.expect("append");
    }
    let data =
        |entries: Vec<firebell_core::store::StreamEntry>| entries.into_iter().map(|e| e.data).collect::<Vec<_>>();
    let all = backend.b.stream(&wmcs, NS, "timeline:1", StreamRange::All).await.expect("all");
    assert_eq!(data(all.clone()), (1..=10).map(|n| n.to_string()).collect::<Vec<_>>());
    let latest = backend.b.stream(&wmcs, NS, "timeline:1", StreamRange::Latest(3)).await.expect("latest");
    assert_eq!(data(latest), ["8", "9", "10"]);
    let first = backend.b.stream(&wmcs, NS, "timeline:1", StreamRange::First(3)).await.expect("first");
    assert_eq!(data(first), ["1", "2", "3"]);
    let reads = Reads::new(backend.b.as_ref(), Some(&wmcs), None);
    let mut pages = State::new(&reads, NS).pages::<u32>("timeline:1", 4);
    let mut paged = Vec::new();
    while let Some(page) = pages.next().await.expect("a page") {
        assert!(!page.is_empty() && page.len() <= 4, "{page:?}");
        paged.push(page);
    }
    assert_eq!(paged, [vec![1, 2, 3, 4], vec![5, 6, 7, 8], vec![9, 10]]);
    let after = StreamRange::After { id: all[4].id.clone(), limit: 2 };
    assert_eq!(data(backend.b.stream(&wmcs, NS, "timeline:1", after).await.expect("after")), ["6", "7"]);
    let past = StreamRange::After { id: all[9].id.clone(), limit: 5 };
    assert!(backend.b.stream(&wmcs, NS, "timeline:1", past).await.expect("after").is_empty());
    let trim = Write::Trim { namespace: NS.into(), stream: "timeline:1".into(), keep: 4 };
    backend.a.apply(Some(&wmcs), Guard::NONE, &[trim]).await.expect("trim");
    let kept = backend.b.stream(&wmcs, NS, "timeline:1", StreamRange::All).await.expect("all");
    assert_eq!(data(kept.clone()), ["7", "8", "9", "10"]);
    let append = |entry: &str| Write::Append { namespace: NS.into(), stream: "timeline:1".into(), entry: entry.into() };
    let empty = Write::Trim { namespace: NS.into(), stream: "timeline:1".into(), keep: 0 };
    backend.a.apply(Some(&wmcs), Guard::NONE, &[empty, append("11")]).await.expect("empty, append");
    let refilled = backend.b.stream(&wmcs, NS, "timeline:1", StreamRange::All).await.expect("all");
    assert_eq!(data(refilled.clone()), ["11"]);
    let last = StreamRange::After { id: kept[3].id.clone(), limit: 5 };
    assert_eq!(
        data(backend.b.stream(&wmcs, NS, "timeline:1", last).await.expect("after")),
        ["11"],
        "ids go on increasing after the stream was emptied"
    );
    assert!(backend.b.stream(&wmcs, NS, "timeline:2", StreamRange::All).await.expect("none").is_empty());
    assert!(backend.b.stream(&team("sre"), NS, "timeline:1", StreamRange::All).await.expect("none").is_empty());
}

/// The latest records come newest first, in the order they were made, not changed.
pub async fn recent_records_come_newest_first(backend: Backend) {
    let wmcs = team("wmcs");
    for id in ["3", "10", "1"] {
        backend.a.apply(Some(&wmcs), Guard::NONE, &[put(&drill(id, id))]).await.expect("put");
    }
    backend.a.apply(Some(&wmcs), Guard::NONE, &[put(&drill("3", "changed"))]).await.expect("update");
    let recent = backend.b.recent(&wmcs, NS, Drill::KIND, 2).await.expect("recent");
    assert_eq!(recent.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["1", "10"]);
    let all = backend.b.recent(&wmcs, NS, Drill::KIND, 10).await.expect("recent");
    assert_eq!(all.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["1", "10", "3"]);
    assert!(backend.b.recent(&wmcs, NS, Drill::KIND, 0).await.expect("recent").is_empty());
}

/// Data written with an older schema is migrated when read.
pub async fn older_schemas_are_migrated_on_read(backend: Backend) {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct DrillV2 {
        id: String,
        scenario: String,
        minutes: u32,
    }
    impl Record for DrillV2 {
        const KIND: &'static str = "drill";
        const SCHEMA: u32 = 2;
        fn id(&self) -> String {
            self.id.clone()
        }
        fn migrate(schema: u32, mut data: serde_json::Value) -> Result<serde_json::Value, String> {
            match schema {
                1 => {
                    data["minutes"] = 30.into();
                    Ok(data)
                }
                other => Err(format!("unknown schema {other}")),
            }
        }
    }
    let wmcs = team("wmcs");
    backend.a.apply(Some(&wmcs), Guard::NONE, &[put(&drill("1", "old"))]).await.expect("put");
    let reads = Reads::new(backend.b.as_ref(), Some(&wmcs), None);
    let read: Option<DrillV2> = State::new(&reads, NS).get("1").await.expect("migrated");
    assert_eq!(read, Some(DrillV2 { id: "1".into(), scenario: "old".into(), minutes: 30 }));
    let newer = Write::Put {
        namespace: NS.into(),
        record: firebell_core::state::encode(&DrillV2 { id: "2".into(), scenario: "new".into(), minutes: 5 }),
    };
    backend.a.apply(Some(&wmcs), Guard::NONE, &[newer]).await.expect("put");
    let older = State::new(&reads, NS).get::<Drill>("2").await;
    assert!(older.is_err_and(|err| err.to_string().contains("newer")), "old code refuses newer data");
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

/// A job run's outbox is kept with its writes, survives a duplicate run, and goes with the job
/// and its claim; sends are recorded.
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
    let late = backend.a.apply(Some(&wmcs), Guard::claim(&claim).running(&run), &writes).await;
    assert!(matches!(late, Err(ApplyError::JobGone)), "a finished run keeps no claim, and cannot run again: {late:?}");
}

/// A watchdog carries what it guards through the queue, and goes in one step once everything
/// was sent; the sends are remembered only if the watchdog had come due (a scheduler may be
/// running it).
pub async fn watchdogs_carry_their_actions_and_go_once_delivered(backend: Backend) {
    let wmcs = team("wmcs");
    let sends = |text: &str| {
        vec![Action::Send { room: RoomRef::console("#admin"), message: Message::text(text), thread: None }]
    };
    let envelopes = Envelope::number("console:e1", sends("done"));
    let watchdog = Job::delivery_watchdog("console:e1", at(1), &envelopes);
    backend.a.apply(Some(&wmcs), Guard::NONE, &[Write::Schedule(watchdog.clone())]).await.expect("keep");
    backend.a.promote_due_jobs(&wmcs, at(1), 10).await.expect("queued");
    let taken = backend.b.take_jobs(&wmcs, "replica-b", TAKE).await.expect("take");
    assert_eq!(taken.ready.len(), 1);
    assert_eq!(taken.ready[0].job.carried_envelopes(), Some(envelopes.clone()), "the queue keeps what it carries");
    let sent = vec![envelopes[0].id.clone()];
    let delivered = [Write::Delivered { job: watchdog.id.clone(), sent }];
    backend.b.apply(Some(&wmcs), Guard::NONE, &delivered).await.expect("delivered");
    assert!(backend.a.scheduled_jobs(&wmcs).await.expect("jobs").is_empty());
    assert!(backend.a.is_sent(&wmcs, &envelopes[0].id).await.expect("sent?"), "a due watchdog may be running");
    let claim = Claim { key: watchdog.cause(), ttl: Duration::from_secs(600) };
    let late = backend.a.apply(Some(&wmcs), Guard::claim(&claim).running(&watchdog), &[]).await;
    assert!(matches!(late, Err(ApplyError::JobGone)), "the queued run finds its job cancelled: {late:?}");

    let envelopes = Envelope::number("console:e2", sends("done too"));
    let waiting = Job::delivery_watchdog("console:e2", at(60), &envelopes);
    backend.a.apply(Some(&wmcs), Guard::NONE, &[Write::Schedule(waiting.clone())]).await.expect("keep");
    let sent = vec![envelopes[0].id.clone()];
    let delivered = [Write::Delivered { job: waiting.id.clone(), sent }];
    backend.b.apply(Some(&wmcs), Guard::NONE, &delivered).await.expect("delivered");
    assert!(backend.a.scheduled_jobs(&wmcs).await.expect("jobs").is_empty(), "the watchdog is cancelled");
    assert!(
        !backend.a.is_sent(&wmcs, &envelopes[0].id).await.expect("sent?"),
        "a watchdog that never came due cannot send: nothing is remembered"
    );
    assert_eq!(backend.a.promote_due_jobs(&wmcs, at(60), 10).await.expect("promote"), 0, "it never comes due");
}

/// A pace hands out one slot per interval to all replicas together; a holder asking again (a
/// send tried again, on any replica) keeps its slot instead of going to the end of the line.
pub async fn paces_are_shared(backend: Backend) {
    let every = Duration::from_millis(200);
    let waits = [
        backend.a.pace("slack:C1", every, "").await.expect("pace"),
        backend.b.pace("slack:C1", every, "answer-1").await.expect("pace"),
        backend.a.pace("slack:C1", every, "answer-2").await.expect("pace"),
    ];
    assert_eq!(waits[0], Duration::ZERO);
    let near = |wait: Duration, slots: u32| wait <= every * slots && wait + Duration::from_millis(60) >= every * slots;
    assert!(near(waits[1], 1) && near(waits[2], 2), "one slot each, in turn: {waits:?}");
    let again = backend.a.pace("slack:C1", every, "answer-1").await.expect("pace");
    assert!(near(again, 1), "the same holder keeps its slot, on another replica: {again:?}");
    let next = backend.b.pace("slack:C1", every, "answer-3").await.expect("pace");
    assert!(near(next, 3), "and nobody else gets it: {next:?}");
    assert_eq!(backend.b.pace("slack:C2", every, "").await.expect("pace"), Duration::ZERO, "keys are apart");
    tokio::time::sleep(every * 2 + every / 2).await;
    let within = backend.b.pace("slack:C1", every, "answer-2").await.expect("pace");
    assert_eq!(within, Duration::ZERO, "asked again within its slot, it goes now");
    tokio::time::sleep(every * 3).await;
    assert_eq!(backend.b.pace("slack:C1", every, "").await.expect("pace"), Duration::ZERO, "slots free up");
    let used = backend.a.pace("slack:C1", every, "answer-3").await.expect("pace");
    assert!(near(used, 1), "a holder asking after its slot (it was refused) gets a new one: {used:?}");
}

/// Declares one `#[tokio::test]` per conformance check, for the backend made by `$backend`
/// (an async function returning a [`Backend`]).
#[macro_export]
macro_rules! store_conformance_suite {
    ($backend:path) => {
        $crate::store_conformance_suite!(@tests $backend;
            claims_are_applied_once,
            racing_duplicates_apply_once,
            sequence_numbers_are_unique,
            records_read_back,
            two_writers_on_two_records_never_conflict,
            a_conflict_on_one_record_re_runs_and_succeeds,
            racing_writers_on_one_record_have_one_winner,
            indexes_list_records_and_guard_listings,
            a_unique_index_lists_one_record_per_key,
            prefix_listings_find_every_key_that_starts_so,
            removed_records_keep_their_version,
            record_ids_like_key_parts_are_stored_safely,
            streams_read_by_range_and_trim,
            recent_records_come_newest_first,
            older_schemas_are_migrated_on_read,
            due_jobs_are_handed_out_once,
            rescheduled_and_cancelled_jobs_are_gone,
            quiet_schedulers_jobs_are_taken_over_then_dead_lettered,
            outboxes_and_sends_are_kept_for_the_run,
            watchdogs_carry_their_actions_and_go_once_delivered,
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

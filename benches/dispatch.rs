//! Pushes commands through the dispatcher with the Redis store on a real local `redis-server`
//! and prints, from one run: the Redis round trip (PING) as the floor, the command latency
//! p50/p99 (until the reply is ready to send), and commands per second with several rooms at
//! once, each command including the store's delivery bookkeeping, also as ratios to the floor.
//!
//! Run with `cargo bench --bench dispatch`. It starts its own `redis-server` on a free port,
//! or uses `FIREBELL_BENCH_REDIS=redis://HOST:PORT` when set. `FIREBELL_BENCH_COMMANDS` sets how
//! many commands the throughput run sends (default 40000).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use firebell_core::chrono::Utc;
use firebell_core::chrono_tz::Europe;
use firebell_core::clock::SystemClock;
use firebell_core::ids::{RoomRef, TeamId, UserRef};
use firebell_core::message::Inbound;
use firebell_core::store::Store;
use firebell_core::team::{Member, Team, Teams};
use firebell_runtime::dispatcher::{DispatchOptions, Dispatcher};
use firebell_store_redis::RedisStore;
use firebell_testkit::RedisServer;

/// Rooms (one team each) driven in parallel in the throughput run.
const ROOMS: usize = 16;
/// Commands timed one after the other for the latency figures.
const LATENCY_SAMPLES: usize = 5000;
/// Round trips timed for the floor.
const PING_SAMPLES: usize = 5000;
const PEOPLE: [&str; 4] = ["alice", "bob", "carol", "dave"];

fn team(index: usize) -> Team {
    let members = PEOPLE
        .iter()
        .map(|name| Member {
            name: (*name).into(),
            timezone: Europe::Madrid,
            ids: vec![UserRef::console(*name)],
            admin: false,
        })
        .collect();
    Team {
        id: TeamId::new(format!("team{index}")).expect("valid id"),
        name: format!("T{index}"),
        admin_rooms: vec![room(index)],
        public_rooms: vec![],
        public_topic: String::new(),
        members,
        plugins: None,
        settings: BTreeMap::new(),
    }
}

fn room(index: usize) -> RoomRef {
    RoomRef::console(format!("#room{index}"))
}

fn inbound(room_index: usize, n: usize, text: String) -> Inbound {
    Inbound {
        event_id: format!("bench-{room_index}-{n}"),
        room: room(room_index),
        sender: UserRef::console(PEOPLE[n % PEOPLE.len()]),
        sender_name: None,
        sender_is_platform_admin: false,
        text,
        ts: Utc::now(),
        thread: None,
    }
}

/// One command through the dispatcher, then what delivering its reply costs the store (the
/// send recorded, the delivery watchdog cancelled). Returns how long the reply took to be ready
/// to send; panics if there was no reply.
async fn command(dispatcher: &Dispatcher, room_index: usize, n: usize) -> Duration {
    let text = format!("!incident doing step {n} of the runbook");
    let start = Instant::now();
    let answer = dispatcher.dispatch(&inbound(room_index, n, text)).await.expect("dispatch");
    let decided = start.elapsed();
    assert_eq!(answer.envelopes.len(), 1, "one reply per command");
    let watchdog = answer.watchdog.expect("the reply is kept until sent");
    dispatcher.store().mark_sent(&watchdog.team, &answer.envelopes[0].id).await.expect("record the send");
    dispatcher.delivered(&watchdog).await.expect("cancel the watchdog");
    decided
}

async fn ping(store: &RedisStore) -> Duration {
    let start = Instant::now();
    store.ping().await.expect("ping");
    start.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Runs `one` `samples` times, one after the other, and returns the times it reported, sorted.
async fn time_each<F, Fut>(samples: usize, mut one: F) -> Vec<Duration>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Duration>,
{
    let mut times = Vec::with_capacity(samples);
    for n in 0..samples {
        times.push(one(n).await);
    }
    times.sort();
    times
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let own_server = std::env::var("FIREBELL_BENCH_REDIS").is_err().then(RedisServer::start);
    let url = std::env::var("FIREBELL_BENCH_REDIS").unwrap_or_else(|_| own_server.as_ref().expect("server").url());
    let total: usize = std::env::var("FIREBELL_BENCH_COMMANDS").ok().and_then(|n| n.parse().ok()).unwrap_or(40_000);

    let store = Arc::new(RedisStore::connect(&url, "bench").await.expect("redis reachable"));
    let teams = Teams::new((0..ROOMS).map(team).collect()).expect("teams");
    let dispatcher = Arc::new(Dispatcher::new(
        store.clone(),
        Arc::new(SystemClock),
        teams,
        firebell::standard_plugins(),
        DispatchOptions::default(),
    ));
    for index in 0..ROOMS {
        let declared = dispatcher.dispatch(&inbound(index, usize::MAX, "!incident declare benchmark".into())).await;
        assert_eq!(declared.expect("declare").envelopes.len(), 1);
    }

    // Warm up connections, scripts and allocators.
    time_each(500, |_| ping(&store)).await;
    time_each(500, |n| command(&dispatcher, 0, 1_000_000 + n)).await;

    let floor = time_each(PING_SAMPLES, |_| ping(&store)).await;
    let latency = time_each(LATENCY_SAMPLES, |n| command(&dispatcher, 0, n)).await;

    let per_room = total / ROOMS;
    let start = Instant::now();
    let tasks: Vec<_> = (0..ROOMS)
        .map(|index| {
            let dispatcher = dispatcher.clone();
            tokio::spawn(async move {
                for n in 0..per_room {
                    command(&dispatcher, index, 2_000_000 + n).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("room task");
    }
    let elapsed = start.elapsed();
    let rate = (per_room * ROOMS) as f64 / elapsed.as_secs_f64();

    let floor_p50 = percentile(&floor, 0.5);
    let (p50, p99) = (percentile(&latency, 0.5), percentile(&latency, 0.99));
    let ratio = |d: Duration| d.as_secs_f64() / floor_p50.as_secs_f64();
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };

    println!(
        "Firebell dispatch benchmark: Redis store on {url}, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "  Redis round trip (PING, the floor): p50 {:.3} ms, p99 {:.3} ms",
        ms(floor_p50),
        ms(percentile(&floor, 0.99))
    );
    println!(
        "  Command latency until the reply is ready (!incident doing, {LATENCY_SAMPLES} in one room, one at a time):"
    );
    println!("    p50 {:.3} ms = {:.2}x floor", ms(p50), ratio(p50));
    println!("    p99 {:.3} ms = {:.2}x floor", ms(p99), ratio(p99));
    println!(
        "  Throughput with delivery bookkeeping ({ROOMS} rooms in parallel, {} commands): {rate:.0} commands/s",
        per_room * ROOMS
    );
    println!("    = one command per {:.3} ms = {:.2}x floor", 1000.0 / rate, (1.0 / rate) / floor_p50.as_secs_f64());
    println!("  Targets:");
    println!("    p50 within 3 round trips of the floor ({:.2}x): {}", ratio(p50), verdict(ratio(p50) <= 3.0));
    println!("    p99 under 2 ms ({:.3} ms): {}", ms(p99), verdict(p99 < Duration::from_millis(2)));
    println!("    at least 10,000 commands/s ({rate:.0}): {}", verdict(rate >= 10_000.0));
}

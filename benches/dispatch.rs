//! Pushes commands through the dispatcher with the Redis store on a real local `redis-server`
//! and prints, from one run: the Redis round trip (PING) as the floor; the command latency
//! p50/p99, from the message in to the reply ready to send *and* its delivery recorded (the
//! send recorded and the delivery watchdog cancelled, one round trip), as a replica does for
//! every reply, timed in a task of the runtime as the bot handles a message, with the CPU time
//! this process and the Redis server spent per command; commands per second with several teams
//! at once; what many people writing to one team at once feel: 16 writers on 16 incidents of
//! one team, then 16 writers on one incident, spread over two replicas, counting commands
//! refused for contention (the target is none) and their p99; the scheduler: 100,000 jobs due
//! at once over 100 teams on one replica and on three, 3,000 due at once in one team, and 1,000
//! jobs/s falling due for 10 s, each job posting a message, with how late the messages came; a
//! mix of commands (declare, doing, note, show, `!log`, the report of a 1,000-entry incident)
//! with one writer on one team, 16 on one team and 16 on 16 teams; and what Redis keeps per
//! incident.
//!
//! Run with `cargo bench --bench dispatch`. It starts its own `redis-server` on a free port,
//! or uses `FIREBELL_BENCH_REDIS=redis://HOST:PORT` when set. `FIREBELL_BENCH_COMMANDS` sets how
//! many commands the throughput run sends (default 40000), `FIREBELL_BENCH_CROWD` how many each
//! contention run sends (default 10000), `FIREBELL_BENCH_JOBS` how many jobs the runs over 100
//! teams schedule (default 100000). With `FIREBELL_BENCH_QUICK` set it stops after the floor,
//! the latency and the throughput (a minute less, for trying a change).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use firebell_core::chrono::Utc;
use firebell_core::chrono_tz::Europe;
use firebell_core::clock::SystemClock;
use firebell_core::ids::{RoomRef, TeamId, UserRef};
use firebell_core::message::{Action, Inbound};
use firebell_core::store::Store;
use firebell_core::team::{Member, Team, Teams};
use firebell_runtime::dispatcher::{DispatchError, DispatchOptions, Dispatcher};
use firebell_store_redis::RedisStore;
use firebell_testkit::RedisServer;
use jobs::Replicas::{InProcess, Processes};

/// The allocator the bot runs with (see `src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "parts/cpu.rs"]
mod cpu;
#[path = "parts/feed.rs"]
mod feed;
#[path = "parts/idle.rs"]
mod idle;
#[path = "parts/jobs.rs"]
mod jobs;
#[path = "parts/memory.rs"]
mod memory;
#[path = "parts/mix.rs"]
mod mix;
#[path = "parts/page.rs"]
mod page;

/// Rooms (one team each) driven in parallel in the throughput run.
const ROOMS: usize = 16;
/// People writing to one team at once in the contention runs.
const WRITERS: usize = 16;
/// The room (and team) of the contention runs.
const CROWD: usize = ROOMS;
/// Commands timed one after the other for the latency figures.
const LATENCY_SAMPLES: usize = 5000;
/// Round trips timed for the floor.
const PING_SAMPLES: usize = 5000;
const PEOPLE: [&str; 4] = ["alice", "bob", "carol", "dave"];
/// Rounds of the command mix per writer (one writer alone does this times `WRITERS`).
const MIX_ROUNDS: usize = 20;
/// Small incidents made for the memory figures.
const SMALL_INCIDENTS: usize = 1000;
/// Timeline entries of the long incident.
const LONG_TIMELINE: usize = 5000;
/// Jobs due at once in one team.
const JOBS_IN_ONE_TEAM: usize = 3000;
/// Jobs falling due per second in the sustained run, and for how long.
const SUSTAINED_RATE: usize = 1000;
const SUSTAINED_SECONDS: usize = 10;

pub(crate) fn person(n: usize) -> String {
    if n < PEOPLE.len() { PEOPLE[n].to_owned() } else { format!("writer{n}") }
}

fn team(index: usize) -> Team {
    let members = (0..WRITERS)
        .map(|n| Member {
            name: person(n),
            timezone: Europe::Madrid,
            ids: vec![UserRef::console(person(n))],
            admin: false,
            push: None,
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
        config: BTreeMap::new(),
    }
}

/// A team with an on-call schedule of two layers (a weekly rotation and a daily window), for
/// the calendar feed.
fn scheduled_team(index: usize) -> Team {
    let mut team = team(index);
    let names: Vec<String> = team.members.iter().take(4).map(|m| m.name.clone()).collect();
    let schedule = serde_json::json!({
        "timezone": "Europe/Madrid",
        "layers": [
            { "name": "primary", "rotation": "weekly", "handoff": "09:00", "start": "2026-11-30", "participants": names[..3] },
            { "name": "daytime", "rotation": "daily", "handoff": "09:00", "start": "2026-11-30",
              "participants": names[1..], "only": ["weekdays 09:00-17:00 Asia/Kolkata"] },
        ]
    });
    team.config.insert("oncall".into(), schedule);
    team
}

/// The `n`th team of the scheduler runs (the same in a replica process).
fn job_team(n: usize) -> Team {
    team(1000 + n)
}

fn room(index: usize) -> RoomRef {
    RoomRef::console(format!("#room{index}"))
}

pub(crate) fn inbound(room_index: usize, n: usize, text: String) -> Inbound {
    Inbound {
        event_id: format!("bench-{room_index}-{n}"),
        room: room(room_index),
        sender: UserRef::console(person(n % PEOPLE.len())),
        sender_name: None,
        sender_is_platform_admin: false,
        text,
        ts: Utc::now(),
        thread: None,
        mentions: Vec::new(),
        attachments: Vec::new(),
    }
}

/// One command through the dispatcher, then what delivering its reply costs the store (the
/// send recorded and the delivery watchdog cancelled, in one step). Returns how long all of it
/// took; panics if there was no reply.
async fn command(dispatcher: &Dispatcher, room_index: usize, n: usize) -> Duration {
    let text = format!("!incident doing step {n} of the runbook");
    timed(dispatcher, inbound(room_index, n, text)).await.expect("dispatch").0
}

/// `inbound` through the dispatcher and its reply's delivery bookkeeping: the time it took, and
/// the reply's first line; panics if there was no reply.
pub(crate) async fn timed(dispatcher: &Dispatcher, inbound: Inbound) -> Result<(Duration, String), DispatchError> {
    let start = Instant::now();
    let answer = dispatcher.dispatch(&inbound).await?;
    let (last, earlier) = answer.envelopes.split_last().expect("a reply");
    let watchdog = answer.watchdog.expect("the reply is kept until sent");
    // As the bot does once the reply is out: each send recorded, the last one with the
    // watchdog's cancellation.
    for sent in earlier {
        dispatcher.store().mark_sent(&watchdog.team, &sent.id).await.expect("record a send");
    }
    dispatcher.delivered(&watchdog, std::slice::from_ref(&last.id)).await.expect("record the delivery");
    let took = start.elapsed();
    let reply = match &answer.envelopes[0].action {
        Action::Send { message, .. } | Action::Ephemeral { message, .. } => message.to_plain(),
        _ => String::new(),
    };
    Ok((took, reply.lines().next().unwrap_or_default().to_owned()))
}

/// What the writers of a contention run felt.
struct Crowd {
    commands: usize,
    refused: usize,
    elapsed: Duration,
    latency: Vec<Duration>,
}

/// `WRITERS` people at once in the crowd's room, each sending `each` commands made by `line`
/// (writer, n), spread over `replicas`; commands refused for contention are counted.
async fn crowd(replicas: &[Arc<Dispatcher>], each: usize, line: fn(usize, usize) -> String) -> Crowd {
    let start = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let dispatcher = replicas[writer % replicas.len()].clone();
            tokio::spawn(async move {
                let (mut latency, mut refused) = (Vec::with_capacity(each), 0);
                for n in 0..each {
                    let mut message = inbound(CROWD, writer * 1_000_000 + n, line(writer, n));
                    message.event_id = format!("crowd-{writer}-{n}-{}", line(writer, 0).len());
                    message.sender = UserRef::console(person(writer));
                    match timed(&dispatcher, message).await {
                        Ok((took, _)) => latency.push(took),
                        Err(DispatchError::Contended(_)) => refused += 1,
                        Err(other) => panic!("dispatch failed: {other}"),
                    }
                }
                (latency, refused)
            })
        })
        .collect();
    let mut result = Crowd { commands: each * WRITERS, refused: 0, elapsed: Duration::ZERO, latency: Vec::new() };
    for writer in writers {
        let (latency, refused) = writer.await.expect("writer");
        result.latency.extend(latency);
        result.refused += refused;
    }
    result.elapsed = start.elapsed();
    result.latency.sort();
    result
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

/// How a target came out.
fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
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

/// The floor and the latency of commands sent one after the other to one room, sorted, with
/// the CPU time per command of this process and of the Redis server.
async fn one_at_a_time(
    store: &RedisStore,
    dispatcher: &Dispatcher,
    url: &str,
) -> (Vec<Duration>, Vec<Duration>, (Duration, Duration)) {
    // Warm up connections, scripts and allocators.
    time_each(500, |_| ping(store)).await;
    time_each(500, |n| command(dispatcher, 0, 1_000_000 + n)).await;

    let floor = time_each(PING_SAMPLES, |_| ping(store)).await;
    let before = cpu::both(url).await;
    let latency = time_each(LATENCY_SAMPLES, |n| command(dispatcher, 0, n)).await;
    let after = cpu::both(url).await;
    let per_command = |before: Duration, after: Duration| after.saturating_sub(before) / LATENCY_SAMPLES as u32;
    (floor, latency, (per_command(before.0, after.0), per_command(before.1, after.1)))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Ok(spec) = std::env::var(jobs::REPLICA_ENV) {
        return jobs::replica_main(&spec, job_team).await;
    }
    let idle = Idle::measure().await;
    let own_server = std::env::var("FIREBELL_BENCH_REDIS").is_err().then(RedisServer::start);
    let url = std::env::var("FIREBELL_BENCH_REDIS").unwrap_or_else(|_| own_server.as_ref().expect("server").url());
    let total: usize = std::env::var("FIREBELL_BENCH_COMMANDS").ok().and_then(|n| n.parse().ok()).unwrap_or(40_000);
    let crowd_total: usize = std::env::var("FIREBELL_BENCH_CROWD").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let job_total: usize = std::env::var("FIREBELL_BENCH_JOBS").ok().and_then(|n| n.parse().ok()).unwrap_or(100_000);

    let store = Arc::new(RedisStore::connect(&url, "bench").await.expect("redis reachable"));
    let teams = Teams::new((0..=CROWD).map(team).collect()).expect("teams");
    let replica = || {
        Arc::new(Dispatcher::new(
            store.clone(),
            Arc::new(SystemClock),
            teams.clone(),
            firebell::standard_plugins(),
            DispatchOptions::default(),
        ))
    };
    let dispatcher = replica();
    for index in 0..ROOMS {
        let declared = dispatcher.dispatch(&inbound(index, usize::MAX, "!incident declare benchmark".into())).await;
        assert_eq!(declared.expect("declare").envelopes.len(), 1);
    }

    // Timed in a task of the runtime, as the bot handles each message.
    let timing = tokio::spawn({
        let (store, dispatcher, url) = (store.clone(), dispatcher.clone(), url.clone());
        async move { one_at_a_time(&store, &dispatcher, &url).await }
    });
    let (floor, latency, cpu) = timing.await.expect("timing task");

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
    let commands = Commands { floor, latency, cpu, rate, total: per_room * ROOMS };
    let feed = feed::Feed::measure(&url, scheduled_team(4000)).await;
    let page = page::Page::measure(&url, team(4001)).await;
    if std::env::var_os("FIREBELL_BENCH_QUICK").is_some() {
        commands.print(&url);
        idle.print();
        feed.print();
        page.print();
        commands.print_targets();
        idle.print_targets();
        feed.print_targets(verdict);
        page.print_targets(verdict);
        return;
    }

    // Many people writing to one team at once, on two replicas.
    let replicas = [replica(), replica()];
    for writer in 0..WRITERS {
        let declare = inbound(CROWD, 3_000_000 + writer, format!("!incident declare crowd {writer}"));
        replicas[0].dispatch(&declare).await.expect("declare");
    }
    let each = crowd_total / WRITERS;
    let apart =
        crowd(&replicas, each, |writer, n| format!("!incident doing TEAM{CROWD}-{} step {n}", writer + 1)).await;
    let together =
        crowd(&replicas, each, |writer, n| format!("!incident doing TEAM{CROWD}-1 step {n} by writer {writer}")).await;

    // A mix of commands: one writer on one team, 16 on one team, 16 on 16 teams, two replicas.
    let mix_teams = Teams::new((3000..3017).map(team).collect()).expect("teams");
    let mix_replica = || async {
        let store = Arc::new(RedisStore::connect(&url, "bench-mix").await.expect("redis reachable"));
        let options = DispatchOptions::default();
        Arc::new(Dispatcher::new(
            store,
            Arc::new(SystemClock),
            mix_teams.clone(),
            firebell::standard_plugins(),
            options,
        ))
    };
    let mix_replicas = [mix_replica().await, mix_replica().await];
    let mix_runs = [
        ("1 writer on one team", mix::run(&mix_replicas[..1], &[3000], 1, MIX_ROUNDS * WRITERS).await),
        ("16 writers on one team", mix::run(&mix_replicas, &[3001], WRITERS, MIX_ROUNDS).await),
        (
            "16 writers on 16 teams",
            mix::run(&mix_replicas, &(3001..3017).collect::<Vec<_>>(), WRITERS, MIX_ROUNDS).await,
        ),
    ];

    // What the store keeps: many small incidents (declared, worked on, resolved), then one with
    // 5,000 timeline entries, and how long showing it takes.
    let memory_teams = Teams::new(vec![team(2000), team(2001)]).expect("teams");
    let memory_store = Arc::new(RedisStore::connect(&url, "bench-memory").await.expect("redis reachable"));
    let memory_dispatcher = Dispatcher::new(
        memory_store,
        Arc::new(SystemClock),
        memory_teams,
        firebell::standard_plugins(),
        DispatchOptions::default(),
    );
    let before = memory::used_memory(&url).await;
    for n in 1..=SMALL_INCIDENTS {
        let key = format!("TEAM2000-{n}");
        for (step, line) in [
            "!incident declare a small incident".to_owned(),
            format!("!incident doing {key} checking the logs"),
            format!("!incident note {key} the logs show a spike"),
            format!("!incident update {key} mitigated; watching"),
            format!("!incident resolve {key} a bad deploy, rolled back"),
        ]
        .into_iter()
        .enumerate()
        {
            timed(&memory_dispatcher, inbound(2000, 5_000_000 + n * 10 + step, line)).await.expect("command");
        }
    }
    let small = memory::footprint(&url, "bench-memory:{team2000}", before).await;
    timed(&memory_dispatcher, inbound(2001, 6_000_000, "!incident declare a long one".into())).await.expect("declare");
    for n in 0..LONG_TIMELINE {
        let line = format!("!incident note TEAM2001-1 observation {n} from the long incident");
        timed(&memory_dispatcher, inbound(2001, 6_000_001 + n, line)).await.expect("note");
    }
    let long = memory::footprint(&url, "bench-memory:{team2001}", memory::used_memory(&url).await).await;
    let shower = &memory_dispatcher;
    let show_long = time_each(200, |n| async move {
        let line = "!incident show TEAM2001-1".to_owned();
        timed(shower, inbound(2001, 7_000_000 + n, line)).await.expect("show").0
    })
    .await;

    // The scheduler: jobs due at the same moment over many teams, on one replica and three (in
    // this process, then each in its own process); 3,000
    // due at once in one team; then a sustained stream of jobs falling due.
    let job_teams = |count: usize| jobs::teams(count, job_team);
    let burst = |count: usize| if count >= 100 { job_total / count } else { JOBS_IN_ONE_TEAM };
    let patience = Duration::from_secs(180);
    let all_due = async |namespace: &str, teams: usize, replicas: jobs::Replicas| {
        let now = Utc::now();
        jobs::run(&url, namespace, &job_teams(teams), burst(teams), replicas, |_| now, patience).await
    };
    let one_replica = all_due("bench-jobs-1", 100, InProcess(1)).await;
    let three_replicas = all_due("bench-jobs-3", 100, InProcess(3)).await;
    let one_process = all_due("bench-jobs-1p", 100, Processes(1)).await;
    let three_processes = all_due("bench-jobs-3p", 100, Processes(3)).await;
    let one_team = all_due("bench-jobs-team", 1, InProcess(1)).await;
    let per_team = SUSTAINED_RATE * SUSTAINED_SECONDS / 100;
    let base = Utc::now() + Duration::from_secs(3);
    let spread = |n: usize| jobs::at(base, Duration::from_millis((n * 1000 * SUSTAINED_SECONDS / per_team) as u64));
    let sustained =
        jobs::run(&url, "bench-jobs-sustained", &job_teams(100), per_team, InProcess(1), spread, patience).await;

    let ratio = |d: Duration| commands.ratio(d);

    commands.print(&url);
    idle.print();
    feed.print();
    page.print();
    for (what, run) in [("16 incidents of one team", &apart), ("one incident", &together)] {
        println!(
            "  {WRITERS} writers at once on {what}, over 2 replicas: {} commands in {:.1} s, {} refused for contention; \
             p50 {:.3} ms = {:.2}x floor, p99 {:.3} ms = {:.2}x floor",
            run.commands,
            run.elapsed.as_secs_f64(),
            run.refused,
            ms(percentile(&run.latency, 0.5)),
            ratio(percentile(&run.latency, 0.5)),
            ms(percentile(&run.latency, 0.99)),
            ratio(percentile(&run.latency, 0.99)),
        );
    }
    for (what, times) in &mix_runs {
        println!("  A mix of commands, {what} (over 2 replicas; p50 / p99, as a ratio to the floor):");
        for (kind, latencies) in times {
            let (p50, p99) = (percentile(latencies, 0.5), percentile(latencies, 0.99));
            let refused = latencies.iter().filter(|took| **took == mix::REFUSED).count();
            println!(
                "    {kind:<24} {:>8.3} ms = {:>6.2}x   {:>8.3} ms = {:>7.2}x   {refused} refused",
                ms(p50),
                ratio(p50),
                ms(p99),
                ratio(p99)
            );
        }
    }
    println!("  Redis memory per small incident (declared, 3 commands, resolved; {SMALL_INCIDENTS} of them):");
    println!("    used_memory grew {:.0} B per incident", small.used as f64 / SMALL_INCIDENTS as f64);
    for (kind, bytes) in &small.by_kind {
        println!("    {kind}: {:.0} B per incident", *bytes as f64 / SMALL_INCIDENTS as f64);
    }
    let state: u64 = small.by_kind.iter().filter(|(kind, _)| kind.starts_with("incident")).map(|(_, b)| *b).sum();
    let state_per_incident = state as f64 / SMALL_INCIDENTS as f64;
    let timeline: u64 = long.by_kind.get("incident timelines").copied().unwrap_or(0);
    println!(
        "  An incident with {LONG_TIMELINE} timeline entries keeps {:.0} KB of timeline ({:.0} B per entry); \
         !incident show on it: p50 {:.3} ms = {:.2}x floor",
        timeline as f64 / 1024.0,
        timeline as f64 / LONG_TIMELINE as f64,
        ms(percentile(&show_long, 0.5)),
        ratio(percentile(&show_long, 0.5)),
    );
    let job_runs = [
        ("100 teams, all due at once, one replica", &one_replica),
        ("100 teams, all due at once, three replicas in one process", &three_replicas),
        ("100 teams, all due at once, one replica process", &one_process),
        ("100 teams, all due at once, three replica processes", &three_processes),
        ("one team, all due at once, one replica", &one_team),
        ("100 teams, 1,000 jobs/s falling due for 10 s, one replica", &sustained),
    ];
    for (what, run) in job_runs {
        let mut lateness = run.lateness.clone();
        lateness.sort();
        println!(
            "  Scheduler, {what}: {} of {} jobs posted in {:.2} s ({:.0} jobs/s), {} twice; lateness p50 {:.0} ms, \
             p99 {:.0} ms; Redis busy {:.0} % of a core",
            run.ran,
            run.jobs,
            run.elapsed.as_secs_f64(),
            run.ran as f64 / run.elapsed.as_secs_f64(),
            run.doubled,
            ms(percentile(&lateness, 0.5)),
            ms(percentile(&lateness, 0.99)),
            run.redis_busy * 100.0,
        );
    }
    commands.print_targets();
    idle.print_targets();
    feed.print_targets(verdict);
    page.print_targets(verdict);
    println!("    no command refused with 16 writers on one team ({}): {}", apart.refused, verdict(apart.refused == 0));
    println!(
        "    no command refused with 16 writers on one incident ({}): {}",
        together.refused,
        verdict(together.refused == 0)
    );
    println!(
        "    an incident's own state (record, indexes, timeline) under 2 KB ({state_per_incident:.0} B): {}",
        verdict(state_per_incident < 2048.0)
    );
    let all_once = |run: &jobs::JobsRun| run.ran == run.jobs && run.doubled == 0;
    println!(
        "    {} jobs due at once over 100 teams all posted within 10 s by one replica ({:.1} s): {}",
        one_replica.jobs,
        one_replica.elapsed.as_secs_f64(),
        verdict(all_once(&one_replica) && one_replica.elapsed <= Duration::from_secs(10))
    );
    println!(
        "    faster with three replica processes than with one ({:.1} s against {:.1} s): {}",
        three_processes.elapsed.as_secs_f64(),
        one_process.elapsed.as_secs_f64(),
        verdict(all_once(&three_processes) && three_processes.elapsed < one_process.elapsed)
    );
    println!(
        "    {JOBS_IN_ONE_TEAM} due at once in one team within 3 s ({:.1} s): {}",
        one_team.elapsed.as_secs_f64(),
        verdict(all_once(&one_team) && one_team.elapsed <= Duration::from_secs(3))
    );
    let mut sustained_lateness = sustained.lateness.clone();
    sustained_lateness.sort();
    let sustained_p99 = percentile(&sustained_lateness, 0.99);
    println!(
        "    lateness p99 under 1 s at {SUSTAINED_RATE} jobs/s ({:.0} ms): {}",
        ms(sustained_p99),
        verdict(all_once(&sustained) && sustained_p99 < Duration::from_secs(1))
    );
}

/// The floor, and what one room and many rooms of single commands felt.
struct Commands {
    /// Round trips (PING), sorted.
    floor: Vec<Duration>,
    /// Command latencies in one room, sorted.
    latency: Vec<Duration>,
    /// CPU time per command in one room: this process, then the Redis server.
    cpu: (Duration, Duration),
    /// Commands per second with [`ROOMS`] rooms at once.
    rate: f64,
    /// Commands sent in the throughput run.
    total: usize,
}

impl Commands {
    fn floor_p50(&self) -> Duration {
        percentile(&self.floor, 0.5)
    }

    fn ratio(&self, duration: Duration) -> f64 {
        duration.as_secs_f64() / self.floor_p50().as_secs_f64()
    }

    /// The throughput as the time of one command, in floors.
    fn per_command(&self) -> f64 {
        (1.0 / self.rate) / self.floor_p50().as_secs_f64()
    }

    fn print(&self, url: &str) {
        let (p50, p99) = (percentile(&self.latency, 0.5), percentile(&self.latency, 0.99));
        println!(
            "Firebell dispatch benchmark: Redis store on {url}, {} cores",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        println!(
            "  Redis round trip (PING, the floor): p50 {:.3} ms, p99 {:.3} ms",
            ms(self.floor_p50()),
            ms(percentile(&self.floor, 0.99))
        );
        println!(
            "  Command latency, message in to reply ready and its delivery recorded (!incident doing, \
             {LATENCY_SAMPLES} in one room, one at a time):"
        );
        println!("    p50 {:.3} ms = {:.2}x floor", ms(p50), self.ratio(p50));
        println!("    p99 {:.3} ms = {:.2}x floor", ms(p99), self.ratio(p99));
        println!(
            "    CPU per command: this process {:.0} us, redis-server {:.0} us (the rest is the network and wake-ups)",
            self.cpu.0.as_secs_f64() * 1e6,
            self.cpu.1.as_secs_f64() * 1e6
        );
        println!(
            "  Throughput with delivery bookkeeping ({ROOMS} rooms in parallel, {} commands): {:.0} commands/s",
            self.total, self.rate
        );
        println!("    = one command per {:.3} ms = {:.2}x floor", 1000.0 / self.rate, self.per_command());
    }

    fn print_targets(&self) {
        let (p50, p99) = (percentile(&self.latency, 0.5), percentile(&self.latency, 0.99));
        println!("  Targets:");
        println!(
            "    p50 within 4 round trips of the floor, two of them the apply and the delivery record ({:.2}x): {}",
            self.ratio(p50),
            verdict(self.ratio(p50) <= 4.0)
        );
        println!("    p99 under 2 ms ({:.3} ms): {}", ms(p99), verdict(p99 < Duration::from_millis(2)));
        println!(
            "    with {ROOMS} rooms at once, one command per 1.5 round trips of the floor or less ({:.2}x, \
             {:.0} commands/s): {}",
            self.per_command(),
            self.rate,
            verdict(self.per_command() <= 1.5)
        );
    }
}

/// What the binary takes at idle (see `parts/idle.rs`), and an older binary's when
/// `FIREBELL_BENCH_BEFORE` names one.
struct Idle {
    console: idle::Resident,
    matrix: Option<idle::Resident>,
    binary: u64,
    before: Option<(idle::Resident, Option<idle::Resident>, u64)>,
}

impl Idle {
    async fn measure() -> Self {
        let before = match std::env::var_os("FIREBELL_BENCH_BEFORE") {
            Some(path) => {
                let build = idle::Build::At(std::path::Path::new(&path));
                Some((idle::console(build), idle::matrix(build).await, build.size()))
            }
            None => None,
        };
        let build = idle::Build::This;
        Self { console: idle::console(build), matrix: idle::matrix(build).await, binary: build.size(), before }
    }

    fn print(&self) {
        let mb = |bytes: u64| bytes as f64 / 1_000_000.0;
        println!("  The firebell binary at idle ({:.1} MB on disk):", mb(self.binary));
        println!("    console and memory store: {}", self.console);
        match &self.matrix {
            Some(matrix) => println!("    Matrix with its SQLite stores, synced, on a real Synapse: {matrix}"),
            None => println!("    Matrix: not measured (scripts/synapse install installs Synapse)"),
        }
        match &self.before {
            Some((console, matrix, size)) => {
                println!("  Before (FIREBELL_BENCH_BEFORE, {:.1} MB on disk):", mb(*size));
                println!("    console and memory store: {console}");
                if let Some(matrix) = matrix {
                    println!("    Matrix with its SQLite stores, synced, on a real Synapse: {matrix}");
                }
            }
            None => println!("  Before: not measured (FIREBELL_BENCH_BEFORE names an older firebell binary)"),
        }
    }

    fn print_targets(&self) {
        let console = idle::mib(self.console.total);
        println!(
            "    idle RSS with the console and memory store at most 15 MiB ({console:.1} MiB): {}",
            verdict(console <= 15.0)
        );
        match &self.matrix {
            Some(matrix) => {
                let matrix = idle::mib(matrix.total);
                println!(
                    "    idle RSS on Matrix with SQLite at most 25 MiB ({matrix:.1} MiB): {}",
                    verdict(matrix <= 25.0)
                );
            }
            None => println!("    idle RSS on Matrix with SQLite at most 25 MiB: not measured"),
        }
    }
}

//! The scheduler's runs for the benchmark: many jobs due at once over many teams, on one replica
//! and on three, and a sustained stream of jobs falling due; each job posts one message (to a
//! console that counts instead of printing), which is what a user waiting for a reminder feels.

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use firebell_console::ConsoleAdapter;
use firebell_core::adapter::Adapters;
use firebell_core::chrono::{DateTime, TimeDelta, Utc};
use firebell_core::clock::SystemClock;
use firebell_core::declare::{Command, PluginInfo};
use firebell_core::job::Job;
use firebell_core::message::{Action, Message};
use firebell_core::plugin::{Context, Invocation, Outcome, Plugin, PluginError, Registry, TeamContext};
use firebell_core::store::{Guard, Store, Write as StoreWrite};
use firebell_core::team::{Team, Teams};
use firebell_runtime::bot::Bot;
use firebell_runtime::dispatcher::{DispatchOptions, Dispatcher};
use firebell_runtime::scheduler::{Scheduler, SchedulerOptions};
use firebell_store_redis::RedisStore;
use tokio::sync::watch;

/// Posts `tick <number> <due ms>` in the team's admin rooms when its job comes due.
#[derive(PluginInfo)]
#[plugin(name = "tick", commands = Tock)]
struct TickPlugin;

/// Does nothing; the benchmark schedules the jobs itself.
#[derive(Command)]
#[command(word = "tock")]
struct Tock {}

#[firebell_core::async_trait]
impl Plugin for TickPlugin {
    async fn run(&self, _: &Context<'_>, _: &Invocation) -> Result<Outcome, PluginError> {
        Ok(Outcome::default())
    }

    async fn run_job(&self, ctx: &TeamContext<'_>, job: &Job) -> Result<Outcome, PluginError> {
        let text = format!("tick {} {}", job.data, job.due.timestamp_millis());
        let post = |room: &firebell_core::ids::RoomRef| Action::Send {
            room: room.clone(),
            message: Message::text(text.clone()),
            thread: None,
        };
        Ok(Outcome { writes: Vec::new(), actions: ctx.team.admin_rooms.iter().map(post).collect() })
    }
}

/// What the consoles received: each tick's number once, and how late it came.
#[derive(Default)]
struct Received {
    seen: HashSet<u64>,
    doubled: usize,
    lateness: Vec<Duration>,
}

/// A console output that reads the ticks instead of printing them, into what every replica's
/// console received. Each replica's console has its own (a line comes in several writes).
#[derive(Default)]
struct Counter {
    received: Arc<Mutex<Received>>,
    partial: Vec<u8>,
}

impl Counter {
    /// Another console counting into the same place.
    fn another(&self) -> Self {
        Self { received: self.received.clone(), partial: Vec::new() }
    }
}

impl Write for Counter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.partial.extend_from_slice(bytes);
        let mut received = self.received.lock().expect("counter");
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let mut words = line.trim().rsplit(' ');
            let (Some(due), Some(number)) = (words.next(), words.next()) else { continue };
            let (Ok(due), Ok(number)) = (due.parse::<i64>(), number.parse::<u64>()) else { continue };
            let late = (Utc::now().timestamp_millis() - due).max(0) as u64;
            received.lateness.push(Duration::from_millis(late));
            if !received.seen.insert(number) {
                received.doubled += 1;
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How a scheduler run went.
pub struct JobsRun {
    /// Jobs scheduled.
    pub jobs: usize,
    /// Jobs whose message arrived (once).
    pub ran: usize,
    /// Messages that arrived a second time.
    pub doubled: usize,
    /// From the first job due (or the schedulers' start, if later) to the last message.
    pub elapsed: Duration,
    /// How late each message came after its job's due time (or the schedulers' start).
    pub lateness: Vec<Duration>,
}

/// Schedules `per_team` jobs in each of `teams` (job `n` due at `due(n)`), then runs a scheduler
/// on each of `replicas` replicas (each its own connection) until every job posted or
/// `patience` passed.
pub async fn run(
    url: &str,
    namespace: &str,
    teams: &[Team],
    per_team: usize,
    replicas: usize,
    due: impl Fn(usize) -> DateTime<Utc>,
    patience: Duration,
) -> JobsRun {
    let teams = Teams::new(teams.to_vec()).expect("teams");
    let counter = Counter::default();
    let mut bots = Vec::new();
    for _ in 0..replicas {
        let store: Arc<dyn Store> = Arc::new(RedisStore::connect(url, namespace).await.expect("redis"));
        let mut registry = Registry::new();
        registry.register(Arc::new(TickPlugin)).expect("tick registered");
        let dispatcher =
            Dispatcher::new(store, Arc::new(SystemClock), teams.clone(), registry, DispatchOptions::default());
        let console = ConsoleAdapter::new(Box::new(counter.another()), "bench");
        bots.push(Arc::new(Bot::new(dispatcher, Adapters::new().with(Arc::new(console)))));
    }
    let store = bots[0].dispatcher().store().clone();
    let mut scheduled = 0;
    for team in teams.iter() {
        for chunk in (0..per_team).collect::<Vec<_>>().chunks(500) {
            let writes: Vec<StoreWrite> = chunk
                .iter()
                .map(|n| {
                    let number = (scheduled + n) as u64;
                    StoreWrite::Schedule(Job::new(format!("tick:{number}:run"), "tick", due(*n), number.to_string()))
                })
                .collect();
            store.apply(Some(&team.id), Guard::NONE, &writes).await.expect("scheduled");
        }
        scheduled += per_team;
    }
    let first_due = due(0);
    let (stop, stopped) = watch::channel(false);
    let started = Utc::now();
    let tasks: Vec<_> = bots
        .iter()
        .enumerate()
        .map(|(n, bot)| {
            let scheduler = Scheduler::new(bot.clone(), format!("bench-{n}"), SchedulerOptions::default());
            let stopped = stopped.clone();
            tokio::spawn(async move { scheduler.run(stopped).await })
        })
        .collect();
    let from = first_due.max(started);
    let deadline = Instant::now() + patience;
    while counter.received.lock().expect("counter").seen.len() < scheduled && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = (Utc::now() - from).to_std().unwrap_or_default();
    let _ = stop.send(true);
    for task in tasks {
        let _ = task.await;
    }
    let received = counter.received.lock().expect("counter");
    let shift = (from - first_due).num_milliseconds().max(0) as u64;
    // Jobs due before the schedulers started are measured from the start.
    let lateness = received.lateness.iter().map(|late| late.saturating_sub(Duration::from_millis(shift))).collect();
    JobsRun { jobs: scheduled, ran: received.seen.len(), doubled: received.doubled, elapsed, lateness }
}

/// `count` teams named `jobs{n}`, each with one admin room.
pub fn teams(count: usize, make: impl Fn(usize) -> Team) -> Vec<Team> {
    (0..count).map(make).collect()
}

/// A due time `offset` after `base`.
pub fn at(base: DateTime<Utc>, offset: Duration) -> DateTime<Utc> {
    base + TimeDelta::from_std(offset).expect("a sane offset")
}

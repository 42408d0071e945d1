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
use firebell_core::declare::PluginInfo;
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
#[plugin(name = "tick")]
struct TickPlugin;

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

impl Received {
    /// Counts one console line `… tick <number> <due ms>`.
    fn line(&mut self, line: &str) {
        let mut words = line.trim().rsplit(' ');
        let (Some(due), Some(number)) = (words.next(), words.next()) else { return };
        let (Ok(due), Ok(number)) = (due.parse::<i64>(), number.parse::<u64>()) else { return };
        let late = (Utc::now().timestamp_millis() - due).max(0) as u64;
        self.lateness.push(Duration::from_millis(late));
        if !self.seen.insert(number) {
            self.doubled += 1;
        }
    }
}

impl Write for Counter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.partial.extend_from_slice(bytes);
        let mut received = self.received.lock().expect("counter");
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            received.line(&String::from_utf8_lossy(&line));
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
    /// The share of one core Redis used meanwhile (its `used_cpu_user` and `used_cpu_sys`).
    pub redis_busy: f64,
}

/// The CPU time Redis has used, in seconds.
async fn redis_cpu(url: &str) -> f64 {
    let client = redis::Client::open(url).expect("redis URL");
    let mut connection = client.get_multiplexed_async_connection().await.expect("redis reachable");
    let info: String = redis::cmd("INFO").arg("cpu").query_async(&mut connection).await.expect("INFO cpu");
    info.lines()
        .filter(|line| line.starts_with("used_cpu_user:") || line.starts_with("used_cpu_sys:"))
        .filter_map(|line| line.split(':').nth(1)?.trim().parse::<f64>().ok())
        .sum()
}

/// Where the schedulers of a run are.
#[derive(Clone, Copy)]
pub enum Replicas {
    /// In this process, each with its own store connection.
    InProcess(usize),
    /// Each in a process of its own: this benchmark's executable started again as a replica,
    /// printing its ticks on its console (stdout), as the `firebell` binary would.
    Processes(usize),
}

/// The environment variable that makes this executable a scheduler replica:
/// `<redis url> <namespace> <teams>`, the teams made by the same function as the parent's.
pub const REPLICA_ENV: &str = "FIREBELL_BENCH_SCHEDULER_REPLICA";

/// One bot with the tick plugin whose console writes to `output`.
async fn bot(url: &str, namespace: &str, teams: &Teams, output: Box<dyn Write + Send>) -> Arc<Bot> {
    let store: Arc<dyn Store> = Arc::new(RedisStore::connect(url, namespace).await.expect("redis"));
    let mut registry = Registry::new();
    registry.register(Arc::new(TickPlugin)).expect("tick registered");
    let dispatcher = Dispatcher::new(store, Arc::new(SystemClock), teams.clone(), registry, DispatchOptions::default());
    let console = ConsoleAdapter::new(output, "bench");
    Arc::new(Bot::new(dispatcher, Adapters::new().with(Arc::new(console))))
}

/// Runs this process as one scheduler replica (see [`REPLICA_ENV`]) until its stdin closes.
pub async fn replica_main(spec: &str, make: impl Fn(usize) -> Team) {
    let words: Vec<&str> = spec.split(' ').collect();
    let [url, namespace, count] = words[..] else { panic!("{REPLICA_ENV}: expected 3 words, got {spec:?}") };
    let teams = Teams::new(teams(count.parse().expect("teams"), make)).expect("teams");
    let bot = bot(url, namespace, &teams, Box::new(std::io::stdout())).await;
    let (stop, stopped) = watch::channel(false);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        let _ = stop.send(true);
    });
    let name = format!("bench-process-{}", std::process::id());
    Scheduler::new(bot, name, SchedulerOptions::default()).run(stopped).await;
}

/// Starts `count` replica processes whose consoles count into `received`.
fn start_processes(
    count: usize,
    spec: &str,
    received: &Arc<Mutex<Received>>,
) -> Vec<(tokio::process::Child, tokio::task::JoinHandle<()>)> {
    use tokio::io::AsyncBufReadExt;
    (0..count)
        .map(|_| {
            let mut child = tokio::process::Command::new(std::env::current_exe().expect("this executable"))
                .env(REPLICA_ENV, spec)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .expect("a replica process");
            let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
            let received = received.clone();
            let reader = tokio::spawn(async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    received.lock().expect("counter").line(&line);
                }
            });
            (child, reader)
        })
        .collect()
}

/// Schedules `per_team` jobs in each of `teams` (job `n` due at `due(n)`), then runs the
/// schedulers of `replicas` until every job posted or `patience` passed.
pub async fn run(
    url: &str,
    namespace: &str,
    teams: &[Team],
    per_team: usize,
    replicas: Replicas,
    due: impl Fn(usize) -> DateTime<Utc>,
    patience: Duration,
) -> JobsRun {
    let teams = Teams::new(teams.to_vec()).expect("teams");
    let counter = Counter::default();
    let mut bots = Vec::new();
    let in_process = match replicas {
        Replicas::InProcess(count) => count,
        Replicas::Processes(_) => 0,
    };
    for _ in 0..in_process {
        bots.push(bot(url, namespace, &teams, Box::new(counter.another())).await);
    }
    let store: Arc<dyn Store> = Arc::new(RedisStore::connect(url, namespace).await.expect("redis"));
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
    let cpu_before = redis_cpu(url).await;
    let tasks: Vec<_> = bots
        .iter()
        .enumerate()
        .map(|(n, bot)| {
            let scheduler = Scheduler::new(bot.clone(), format!("bench-{n}"), SchedulerOptions::default());
            let stopped = stopped.clone();
            tokio::spawn(async move { scheduler.run(stopped).await })
        })
        .collect();
    let processes = match replicas {
        Replicas::Processes(count) => {
            start_processes(count, &format!("{url} {namespace} {}", teams.iter().count()), &counter.received)
        }
        Replicas::InProcess(_) => Vec::new(),
    };
    let from = first_due.max(started);
    let deadline = Instant::now() + patience;
    while counter.received.lock().expect("counter").seen.len() < scheduled && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = (Utc::now() - from).to_std().unwrap_or_default();
    let redis_busy = (redis_cpu(url).await - cpu_before) / (Utc::now() - started).as_seconds_f64().max(0.001);
    let _ = stop.send(true);
    for task in tasks {
        let _ = task.await;
    }
    for (mut child, reader) in processes {
        drop(child.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(15), child.wait()).await;
        let _ = child.kill().await;
        let _ = reader.await;
    }
    let received = counter.received.lock().expect("counter");
    let shift = (from - first_due).num_milliseconds().max(0) as u64;
    // Jobs due before the schedulers started are measured from the start.
    let lateness = received.lateness.iter().map(|late| late.saturating_sub(Duration::from_millis(shift))).collect();
    JobsRun { jobs: scheduled, ran: received.seen.len(), doubled: received.doubled, elapsed, lateness, redis_busy }
}

/// `count` teams named `jobs{n}`, each with one admin room.
pub fn teams(count: usize, make: impl Fn(usize) -> Team) -> Vec<Team> {
    (0..count).map(make).collect()
}

/// A due time `offset` after `base`.
pub fn at(base: DateTime<Utc>, offset: Duration) -> DateTime<Utc> {
    base + TimeDelta::from_std(offset).expect("a sane offset")
}

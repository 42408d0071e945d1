//! The scheduler: runs every replica's share of due jobs, each exactly once.
//!
//! It runs on every replica; no leader is needed. Each pass promotes the due jobs of every team
//! into the team's queue (one atomic step, so a job is queued once whoever promotes it), takes a
//! batch from the queue (including jobs another replica took and left unfinished for longer than
//! `reclaim_after`, which means it died), and runs each through the [`Bot`]: the plugin decides,
//! the writes and the actions are applied together, the actions are sent and each send is
//! recorded, and only then the job is finished. A job that keeps failing goes to the dead-letter
//! queue after `max_attempts` and is logged.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, stream};
use tokio::sync::watch;

use crate::bot::Bot;
use crate::metrics;
use firebell_core::clock::{Clock, ManualClock};
use firebell_core::ids::TeamId;
use firebell_core::job::ReadyJob;
use firebell_core::store::{StoreError, TakeJobs};

/// How the scheduler paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulerOptions {
    /// How often it looks for due jobs.
    pub tick: Duration,
    /// The most jobs it takes per team per pass.
    pub batch: usize,
    /// The most jobs it runs at once (jobs of one subject always run one after the other).
    pub concurrency: usize,
    /// How long a job taken by a replica may stay unfinished before another takes it over.
    /// Longer than the slowest job takes.
    pub reclaim_after: Duration,
    /// How many times a job is tried before it goes to the dead-letter queue.
    pub max_attempts: u32,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            tick: Duration::from_millis(500),
            batch: 256,
            concurrency: 64,
            reclaim_after: Duration::from_secs(30),
            max_attempts: 5,
        }
    }
}

/// How many teams' jobs are taken at once in a pass.
const TEAMS_AT_ONCE: usize = 16;

/// What one pass did.
struct Pass {
    /// Jobs that ran to the end.
    finished: usize,
    /// Whether some team had a full batch: more may be waiting.
    full: bool,
}

/// The jobs taken in a pass, in lanes: one per team and subject, each in the order taken.
#[derive(Default)]
struct Lanes {
    lanes: Vec<((TeamId, String), Vec<ReadyJob>)>,
    index: HashMap<(TeamId, String), usize>,
}

impl Lanes {
    fn add(&mut self, team: &TeamId, ready: Vec<ReadyJob>) {
        for job in ready {
            let key = (team.clone(), job.job.subject().to_owned());
            let index = *self.index.entry(key.clone()).or_insert_with(|| {
                self.lanes.push((key, Vec::new()));
                self.lanes.len() - 1
            });
            self.lanes[index].1.push(job);
        }
    }
}

/// Runs due jobs through a bot.
pub struct Scheduler {
    bot: Arc<Bot>,
    consumer: String,
    options: SchedulerOptions,
}

/// A name for this replica's scheduler that no other replica uses.
pub fn replica_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
    format!("{host}-{}-{}", std::process::id(), firebell_core::job::unique_token())
}

impl Scheduler {
    /// A scheduler for `bot`, taking jobs as `consumer` (unique per replica, see
    /// [`replica_name`]).
    pub fn new(bot: Arc<Bot>, consumer: impl Into<String>, options: SchedulerOptions) -> Self {
        Self { bot, consumer: consumer.into(), options }
    }

    /// One pass over every team: takes every team's due jobs (up to `batch` each, a few teams at
    /// a time), then runs them, up to `concurrency` at once; the jobs of one subject (one
    /// incident's reminder and handoff, say) run one after the other, in the order they fell due.
    /// Returns how many jobs ran to the end.
    pub async fn tick(&self) -> Result<usize, StoreError> {
        self.pass().await.map(|pass| pass.finished)
    }

    async fn pass(&self) -> Result<Pass, StoreError> {
        let teams: Vec<TeamId> = self.bot.dispatcher().teams().iter().map(|team| team.id.clone()).collect();
        let taken: Vec<Result<(TeamId, Vec<ReadyJob>), StoreError>> =
            stream::iter(teams).map(|team| self.take(team)).buffer_unordered(TEAMS_AT_ONCE).collect().await;
        // Everything taken must be finished, or given up, before another replica would take it
        // over: half the reclaim time from now.
        let deadline = tokio::time::Instant::now() + self.options.reclaim_after / 2;
        let mut failure = None;
        let mut lanes = Lanes::default();
        let mut full = false;
        for result in taken {
            match result {
                Ok((team, ready)) => {
                    full |= ready.len() >= self.options.batch;
                    lanes.add(&team, ready);
                }
                Err(err) => failure = Some(err),
            }
        }
        let finished: usize = stream::iter(lanes.lanes)
            .map(|((team, _), jobs)| self.run_lane(team, jobs, deadline))
            .buffer_unordered(self.options.concurrency.max(1))
            .fold(0, |sum, finished| async move { sum + finished })
            .await;
        match failure {
            Some(err) => Err(err),
            None => Ok(Pass { finished, full }),
        }
    }

    /// Promotes `team`'s due jobs and takes a batch of them.
    async fn take(&self, team: TeamId) -> Result<(TeamId, Vec<ReadyJob>), StoreError> {
        let store = self.bot.dispatcher().store();
        let now = self.bot.dispatcher().clock().now();
        store.promote_due_jobs(&team, now, self.options.batch).await?;
        let take = TakeJobs {
            limit: self.options.batch,
            reclaim_after: self.options.reclaim_after,
            max_attempts: self.options.max_attempts,
        };
        let taken = store.take_jobs(&team, &self.consumer, take).await?;
        metrics::jobs_dead(taken.dead.len());
        for dead in &taken.dead {
            tracing::error!(%team, job = %dead.job.id, attempts = dead.attempts, "job failed too often; moved to the dead-letter queue");
        }
        Ok((team, taken.ready))
    }

    /// Runs the jobs of one subject in order; returns how many ran to the end.
    async fn run_lane(&self, team: TeamId, jobs: Vec<ReadyJob>, deadline: tokio::time::Instant) -> usize {
        let mut finished = 0;
        for ready in jobs {
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(%team, job = %ready.job.id, "no time left to run this job; another pass takes it");
                continue;
            }
            if self.run_one(&team, &ready, deadline).await {
                finished += 1;
            }
        }
        finished
    }

    /// Runs one job; finishes it on success, else leaves it to be taken again later.
    async fn run_one(&self, team: &TeamId, ready: &ReadyJob, deadline: tokio::time::Instant) -> bool {
        if ready.attempts > 1 {
            tracing::info!(%team, job = %ready.job.id, attempts = ready.attempts, "running a job again");
        }
        let late = (self.bot.dispatcher().clock().now() - ready.job.due).to_std().unwrap_or_default();
        metrics::job_started(late, ready.attempts);
        if let Err(err) = self.bot.run_job(team, &ready.job, deadline).await {
            if let Some(wait) = err.paced().filter(|_| ready.job.is_delivery_watchdog()) {
                return self.come_back(team, ready, wait).await;
            }
            tracing::warn!(%team, job = %ready.job.id, error = %err, "job failed; it will be tried again");
            metrics::job_run("failed");
            return false;
        }
        metrics::job_run("done");
        let store = self.bot.dispatcher().store();
        match store.finish_job(team, &ready.entry, &ready.job.cause()).await {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(%team, job = %ready.job.id, error = %err, "job done but not finished in the store");
                false
            }
        }
    }

    /// A delivery watchdog whose send waits for its slot in a channel's pace (kept for it)
    /// comes back when the slot does, instead of being taken over after `reclaim_after`.
    async fn come_back(&self, team: &TeamId, ready: &ReadyJob, wait: Duration) -> bool {
        let dispatcher = self.bot.dispatcher();
        let due = firebell_core::clock::after(dispatcher.clock().now(), wait);
        let again = dispatcher.reschedule(team, &ready.job, due).await;
        match again.and(dispatcher.store().finish_job(team, &ready.entry, &ready.job.cause()).await) {
            Ok(()) => {
                tracing::info!(%team, job = %ready.job.id, ?wait, "a send waits for its slot in the pace; the watchdog comes back then");
                true
            }
            Err(err) => {
                tracing::warn!(%team, job = %ready.job.id, error = %err, "job failed; it will be tried again");
                false
            }
        }
    }

    /// Runs passes every `tick` until `stop` turns true; a pass in progress is completed first.
    /// A pass that filled a team's batch goes on at once with the next one.
    pub async fn run(&self, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            match self.pass().await {
                Ok(pass) if pass.full => continue,
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "scheduler pass failed; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.options.tick) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// With a manual clock: moves the clock to `until`, stopping at each job's due time on the
    /// way to run it, as if the time had passed for real.
    pub async fn run_until(&self, clock: &ManualClock, until: DateTime<Utc>) -> Result<(), StoreError> {
        const MOST_STEPS: usize = 100_000;
        for _ in 0..MOST_STEPS {
            match self.next_due().await? {
                Some(due) if due <= until => {
                    if due > clock.now() {
                        clock.set(due);
                    }
                    self.tick().await?;
                }
                _ => break,
            }
        }
        if until > clock.now() {
            clock.set(until);
        }
        self.tick().await.map(|_| ())
    }

    /// The earliest due time of any team's waiting jobs.
    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let mut next: Option<DateTime<Utc>> = None;
        for team in self.bot.dispatcher().teams().iter() {
            let first = self.bot.dispatcher().store().scheduled_jobs(&team.id).await?.first().map(|job| job.due);
            next = match (next, first) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(next)
    }
}

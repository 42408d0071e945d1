//! Timed work: reminders, escalations, expiries. A plugin schedules a [`Job`] with a
//! [`Write::Schedule`](crate::store::Write::Schedule) in the same atomic step as the change that
//! calls for it; the [`Scheduler`](crate::scheduler::Scheduler) runs it once, on one replica,
//! when it is due, through the plugin's [`Plugin::run_job`](crate::plugin::Plugin::run_job).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::message::Envelope;

/// The owner of delivery watchdogs: jobs the dispatcher itself schedules beside a command's (or
/// event's) writes, carrying its actions as their data. The replica that handled the cause
/// cancels its watchdog once every action was sent; if that replica dies first, the watchdog
/// comes due and whichever replica runs it sends what is left. No plugin may take this name.
pub const DELIVERY_WATCHDOG: &str = "firebell.delivery";

/// A piece of work due at a given time, owned by a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Unique within the team, and stable for one purpose (`incident:3:remind`), so that
    /// scheduling it again replaces it and cancelling it needs only the id.
    pub id: String,
    /// The plugin whose `run_job` runs it.
    pub plugin: String,
    /// When it is due.
    pub due: DateTime<Utc>,
    /// Whatever the plugin needs to run it.
    pub data: String,
    /// Unique per scheduling: a job that was rescheduled or cancelled after it became due is
    /// recognised by its old token and dropped.
    pub token: String,
}

impl Job {
    /// A job with a fresh token.
    pub fn new(id: impl Into<String>, plugin: impl Into<String>, due: DateTime<Utc>, data: impl Into<String>) -> Self {
        Self { id: id.into(), plugin: plugin.into(), due, data: data.into(), token: unique_token() }
    }

    /// The delivery watchdog of `cause` (see [`DELIVERY_WATCHDOG`]), due at `due`, carrying
    /// `envelopes`: what it sends if it comes due.
    pub fn delivery_watchdog(cause: &str, due: DateTime<Utc>, envelopes: &[Envelope]) -> Self {
        // Envelopes hold only strings, numbers and lists: they always serialize.
        let data = serde_json::to_string(envelopes).unwrap_or_default();
        Self::new(format!("deliver:{cause}"), DELIVERY_WATCHDOG, due, data)
    }

    /// What a delivery watchdog carries, or `None` for one scheduled by an earlier version,
    /// which kept its actions in an outbox under its cause instead.
    pub fn carried_envelopes(&self) -> Option<Vec<Envelope>> {
        if self.data.is_empty() {
            return None;
        }
        serde_json::from_str(&self.data).ok()
    }

    /// Whether this is a delivery watchdog rather than a plugin's job.
    pub fn is_delivery_watchdog(&self) -> bool {
        self.plugin == DELIVERY_WATCHDOG
    }

    /// What the job is about: its id up to the last `:` (`incident:3` for `incident:3:remind`).
    /// The scheduler runs the jobs of one subject one after the other, in the order they fell
    /// due.
    pub fn subject(&self) -> &str {
        self.id.rsplit_once(':').map_or(self.id.as_str(), |(subject, _)| subject)
    }

    /// The cause of everything this run of the job does: stable across replicas and retries.
    pub fn cause(&self) -> String {
        format!("job:{}:{}", self.id, self.token)
    }
}

/// A due job handed to one scheduler, with its place in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyJob {
    /// The queue entry's id, to finish it with.
    pub entry: String,
    /// The job.
    pub job: Job,
    /// How many times it has been handed out, this time included.
    pub attempts: u32,
}

/// What [`Store::take_jobs`](crate::store::Store::take_jobs) hands out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TakenJobs {
    /// Jobs to run now: new ones, and ones whose scheduler went quiet for too long.
    pub ready: Vec<ReadyJob>,
    /// Jobs that failed too often and were moved to the dead-letter queue instead.
    pub dead: Vec<ReadyJob>,
}

/// A token no other process makes: a random prefix per process and a counter.
pub fn unique_token() -> String {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
        format!("{random:016x}")
    });
    format!("{prefix}.{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheduling_gets_its_own_token() {
        let due = DateTime::<Utc>::UNIX_EPOCH;
        let (a, b) = (Job::new("x", "p", due, ""), Job::new("x", "p", due, ""));
        assert_ne!(a.token, b.token);
        assert_ne!(a.cause(), b.cause());
        assert!(a.cause().starts_with("job:x:"));
    }
}

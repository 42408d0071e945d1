//! Timed work: reminders, escalations, expiries. A plugin schedules a [`Job`] with a
//! [`Write::Schedule`](crate::store::Write::Schedule) in the same atomic step as the change that
//! calls for it; the [`Scheduler`](crate::scheduler::Scheduler) runs it once, on one replica,
//! when it is due, through the plugin's [`Plugin::run_job`](crate::plugin::Plugin::run_job).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::message::Envelope;

/// The owner of delivery watchdogs: jobs the dispatcher itself schedules beside a command's (or
/// event's) writes, carrying its actions as their data. The replica that handled the cause
/// cancels its watchdog once every action was sent; if that replica dies first, the watchdog
/// comes due and whichever replica runs it sends what is left. No plugin may take this name.
pub const DELIVERY_WATCHDOG: &str = "firebell.delivery";

/// A kind of timed work a plugin does, and the data it needs: `impl JobData for Expiry { const
/// KIND: &'static str = "expire"; }`. A plugin schedules it with
/// [`State::schedule`](crate::state::State::schedule) for one subject (`"3"`, an incident's
/// number), cancels it with [`State::cancel`](crate::state::State::cancel), and reads it back
/// in `run_job` with [`Job::data`]. The framework puts the plugin's name in front of the id, so
/// two plugins' jobs never meet, and the jobs of one subject of one plugin run one after the
/// other.
pub trait JobData: Serialize + DeserializeOwned + Send + Sync {
    /// The kind, unique within the plugin: a short lowercase word without `:`.
    const KIND: &'static str;
}

/// The id of a plugin's job of kind `kind` about `subject`: `incident:3:remind`.
pub fn job_id(plugin: &str, subject: &str, kind: &str) -> String {
    format!("{plugin}:{subject}:{kind}")
}

/// A piece of work due at a given time, owned by a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Unique within the team, and stable for one purpose (`incident:3:remind`: the plugin, the
    /// subject and the kind), so that scheduling it again replaces it and cancelling it needs
    /// only the id.
    pub id: String,
    /// The plugin whose `run_job` runs it.
    pub plugin: String,
    /// When it is due.
    pub due: DateTime<Utc>,
    /// Whatever the plugin needs to run it: the JSON of its [`JobData`].
    pub data: String,
    /// How many times its plugin asked for it to be tried again later
    /// ([`PluginError::Retry`](crate::plugin::PluginError::Retry)).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u32,
    /// Unique per scheduling: a job that was rescheduled or cancelled after it became due is
    /// recognised by its old token and dropped. Serialized last: the Redis store recognises a
    /// scheduling by the end of the job's JSON.
    pub token: String,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Why a job's data could not be read as the kind asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("job {id}: its data is not a {kind}: {reason}")]
pub struct JobDataError {
    /// The job's id.
    pub id: String,
    /// The kind asked for.
    pub kind: &'static str,
    /// What was wrong.
    pub reason: String,
}

impl Job {
    /// A job with a fresh token. Plugins schedule typed jobs with
    /// [`State::schedule`](crate::state::State::schedule) instead.
    pub fn new(id: impl Into<String>, plugin: impl Into<String>, due: DateTime<Utc>, data: impl Into<String>) -> Self {
        Self { id: id.into(), plugin: plugin.into(), due, data: data.into(), retries: 0, token: unique_token() }
    }

    /// The typed job of `plugin` about `subject`.
    pub fn typed<J: JobData>(plugin: &str, subject: &str, due: DateTime<Utc>, data: &J) -> Self {
        // Job data is the plugin's own serde type; a type that cannot serialize is a bug.
        let data = serde_json::to_string(data).expect("job data serializes to JSON");
        Self::new(job_id(plugin, subject, J::KIND), plugin, due, data)
    }

    /// The same job due again at `due`, with a fresh token (its plugin was disabled, or asked
    /// for a retry).
    pub fn again_at(&self, due: DateTime<Utc>) -> Self {
        Self { due, token: unique_token(), ..self.clone() }
    }

    /// Its kind: the id's last part (`remind` for `incident:3:remind`).
    pub fn kind(&self) -> &str {
        self.id.rsplit_once(':').map_or(self.id.as_str(), |(_, kind)| kind)
    }

    /// Whether it is a job of kind `J`.
    pub fn is<J: JobData>(&self) -> bool {
        self.kind() == J::KIND
    }

    /// What it is about, as given to [`State::schedule`](crate::state::State::schedule): `3`
    /// for `incident:3:remind` (the id without the plugin's name and the kind).
    pub fn about(&self) -> &str {
        let subject = self.subject();
        subject.strip_prefix(&self.plugin).and_then(|s| s.strip_prefix(':')).unwrap_or(subject)
    }

    /// Its data as `J`, or `None` when it is a job of another kind. Jobs scheduled without data
    /// read as JSON `null`, so a unit struct reads them.
    pub fn data<J: JobData>(&self) -> Result<Option<J>, JobDataError> {
        if !self.is::<J>() {
            return Ok(None);
        }
        let data = if self.data.is_empty() { "null" } else { self.data.as_str() };
        serde_json::from_str(data).map(Some).map_err(|err| JobDataError {
            id: self.id.clone(),
            kind: J::KIND,
            reason: err.to_string(),
        })
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

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Expiry {
        window: u64,
    }

    impl JobData for Expiry {
        const KIND: &'static str = "expire";
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Nudge;

    impl JobData for Nudge {
        const KIND: &'static str = "nudge";
    }

    #[test]
    fn typed_jobs_are_scoped_to_their_plugin_and_read_back() {
        let job = Job::typed("maintenance", "db:1", DateTime::<Utc>::UNIX_EPOCH, &Expiry { window: 7 });
        assert_eq!(job.id, "maintenance:db:1:expire");
        assert_eq!(job.subject(), "maintenance:db:1");
        assert_eq!(job.about(), "db:1");
        assert_eq!(job.kind(), "expire");
        assert_eq!(job.data::<Expiry>().unwrap(), Some(Expiry { window: 7 }));
        assert_eq!(job.data::<Nudge>().unwrap(), None, "another kind");
        let legacy = Job::new("incident:3:nudge", "incident", DateTime::<Utc>::UNIX_EPOCH, "");
        assert_eq!(legacy.data::<Nudge>().unwrap(), Some(Nudge), "no data reads as a unit struct");
        let broken = Job { data: "{".into(), ..job.clone() };
        assert!(
            broken
                .data::<Expiry>()
                .unwrap_err()
                .to_string()
                .starts_with("job maintenance:db:1:expire: its data is not a expire")
        );
        let again = job.again_at(DateTime::<Utc>::UNIX_EPOCH);
        assert_ne!(again.token, job.token);
        let json = serde_json::to_string(&Job { retries: 2, ..again.clone() }).unwrap();
        assert!(json.ends_with(&format!("\"retries\":2,\"token\":\"{}\"}}", again.token)), "{json}");
    }

    #[test]
    fn every_scheduling_gets_its_own_token() {
        let due = DateTime::<Utc>::UNIX_EPOCH;
        let (a, b) = (Job::new("x", "p", due, ""), Job::new("x", "p", due, ""));
        assert_ne!(a.token, b.token);
        assert_ne!(a.cause(), b.cause());
        assert!(a.cause().starts_with("job:x:"));
    }
}

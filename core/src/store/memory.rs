//! The in-process store: the embedded default, and the model the Redis store is tested against.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    ApplyError, AuditEntry, Guard, LogEntry, PluginState, Record, Store, StoreError, TakeJobs, TeamSnapshot, Write,
};
use crate::ids::TeamId;
use crate::incident::{Incident, TimelineEntry};
use crate::job::{Job, ReadyJob, TakenJobs};
use crate::message::Envelope;

/// How long a send is remembered, as in the Redis store.
const SENT_MEMORY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// A job handed to a scheduler and not finished yet.
struct Taken {
    consumer: String,
    since: Instant,
    attempts: u32,
    job: Job,
}

#[derive(Default)]
struct Jobs {
    /// Every scheduled job until a run consumes it, including due ones.
    scheduled: BTreeMap<String, Job>,
    /// The ids of scheduled jobs that are not due yet.
    waiting: BTreeSet<String>,
    /// Due jobs no scheduler has taken, by queue entry.
    queue: VecDeque<(String, Job)>,
    taken: BTreeMap<String, Taken>,
    dead: Vec<Job>,
    next_entry: u64,
    outbox: HashMap<String, Vec<Envelope>>,
    /// Actions recorded as sent, until when they are remembered.
    sent: HashMap<String, Instant>,
    /// The same, oldest first, to forget them in order.
    sent_order: VecDeque<(Instant, String)>,
}

#[derive(Default)]
struct TeamState {
    revision: u64,
    sequences: HashMap<String, u64>,
    reservations: HashMap<(String, String), u64>,
    incidents: BTreeMap<u64, Incident>,
    timelines: HashMap<u64, Vec<TimelineEntry>>,
    admin_log: HashMap<String, Vec<LogEntry>>,
    plugins: BTreeMap<String, PluginState>,
    audit: Vec<AuditEntry>,
    records: BTreeMap<String, BTreeMap<String, Record>>,
    record_order: BTreeMap<String, Vec<String>>,
    jobs: Jobs,
}

#[derive(Default)]
struct State {
    teams: HashMap<TeamId, TeamState>,
    claims: HashMap<(Option<TeamId>, String), Instant>,
    paces: HashMap<String, Instant>,
}

/// Keeps everything in this process's memory. One lock makes every [`Store::apply`] atomic.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Runs `read` on the team's state, or returns `empty` for a team with none yet.
    fn read<T>(&self, team: &TeamId, empty: T, read: impl FnOnce(&TeamState) -> T) -> T {
        self.lock().teams.get(team).map_or(empty, read)
    }

    /// Runs `change` on the team's state, creating it if needed.
    fn change<T>(&self, team: &TeamId, change: impl FnOnce(&mut TeamState) -> T) -> T {
        change(self.lock().team(team))
    }
}

impl State {
    fn team(&mut self, team: &TeamId) -> &mut TeamState {
        self.teams.entry(team.clone()).or_default()
    }

    fn is_claimed(&mut self, key: &(Option<TeamId>, String)) -> bool {
        let now = Instant::now();
        self.claims.retain(|_, expires| *expires > now);
        self.claims.contains_key(key)
    }

    fn revision(&self, team: Option<&TeamId>) -> String {
        team.and_then(|team| self.teams.get(team)).map_or(0, |s| s.revision).to_string()
    }

    /// Checks every precondition before anything is written.
    fn check(&self, team: Option<&TeamId>, guard: &Guard<'_>, writes: &[Write]) -> Result<(), ApplyError> {
        if guard.revision.is_some_and(|revision| revision != self.revision(team)) {
            return Err(ApplyError::Stale);
        }
        let state = team.and_then(|team| self.teams.get(team));
        if let Some(job) = guard.job {
            let scheduled = state.and_then(|s| s.jobs.scheduled.get(&job.id));
            if scheduled.is_none_or(|s| s.token != job.token) {
                return Err(ApplyError::JobGone);
            }
        }
        let stored = |number: u64| state.and_then(|s| s.incidents.get(&number));
        for write in writes {
            match write {
                Write::CreateIncident { incident, .. } if stored(incident.number).is_some() => {
                    return Err(ApplyError::Conflict(incident.number));
                }
                Write::UpdateIncident { incident, .. }
                    if stored(incident.number).is_none_or(|s| s.version != incident.version) =>
                {
                    return Err(ApplyError::Conflict(incident.number));
                }
                Write::PutRecord { kind, record } => {
                    let current = state.and_then(|s| s.records.get(kind)?.get(&record.id)).map_or(0, |r| r.version);
                    if current != record.version {
                        return Err(ApplyError::RecordConflict { kind: kind.clone(), id: record.id.clone() });
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl TeamState {
    fn write(&mut self, write: &Write) {
        match write {
            Write::CreateIncident { incident, timeline } | Write::UpdateIncident { incident, timeline } => {
                self.revision += 1;
                let mut stored = incident.clone();
                stored.version = self.incidents.get(&incident.number).map_or(1, |s| s.version + 1);
                self.incidents.insert(incident.number, stored);
                self.timelines.entry(incident.number).or_default().extend(timeline.iter().cloned());
            }
            Write::AppendToOpenTimeline { number, entry } => {
                if self.incidents.get(number).is_some_and(Incident::is_open) {
                    self.timelines.entry(*number).or_default().push(entry.clone());
                }
            }
            Write::AppendAdminLog(entry) => {
                self.admin_log.entry(entry.project.clone()).or_default().push(entry.clone());
            }
            Write::SetPluginState { plugin, state } => {
                self.revision += 1;
                match state {
                    Some(state) => self.plugins.insert(plugin.clone(), state.clone()),
                    None => self.plugins.remove(plugin),
                };
            }
            Write::AppendAudit(entry) => self.audit.push(entry.clone()),
            Write::PutRecord { kind, record } => {
                self.revision += 1;
                let records = self.records.entry(kind.clone()).or_default();
                if !records.contains_key(&record.id) {
                    self.record_order.entry(kind.clone()).or_default().push(record.id.clone());
                }
                records.insert(record.id.clone(), Record { version: record.version + 1, ..record.clone() });
            }
            Write::Schedule(job) => {
                self.jobs.scheduled.insert(job.id.clone(), job.clone());
                self.jobs.waiting.insert(job.id.clone());
            }
            Write::Cancel(id) => {
                self.jobs.scheduled.remove(id);
                self.jobs.waiting.remove(id);
            }
            Write::Outbox { cause, envelopes } => {
                self.jobs.outbox.insert(cause.clone(), envelopes.clone());
            }
            Write::DropOutbox(cause) => {
                self.jobs.outbox.remove(cause);
            }
        }
    }

    fn consume(&mut self, job: &Job) {
        self.jobs.scheduled.remove(&job.id);
        self.jobs.waiting.remove(&job.id);
    }
}

impl Jobs {
    /// Records a send until [`SENT_MEMORY`] from `now`, forgetting the sends whose time is up.
    fn remember_sent(&mut self, action: &str, now: Instant) {
        while let Some((until, _)) = self.sent_order.front()
            && *until <= now
        {
            let (until, old) = self.sent_order.pop_front().expect("a front entry");
            if self.sent.get(&old) == Some(&until) {
                self.sent.remove(&old);
            }
        }
        self.sent.insert(action.to_owned(), now + SENT_MEMORY);
        self.sent_order.push_back((now + SENT_MEMORY, action.to_owned()));
    }

    fn hand_out(&mut self, entry: String, consumer: &str, attempts: u32, job: Job) -> ReadyJob {
        let ready = ReadyJob { entry: entry.clone(), job: job.clone(), attempts };
        self.taken.insert(entry, Taken { consumer: consumer.to_owned(), since: Instant::now(), attempts, job });
        ready
    }

    fn take(&mut self, consumer: &str, take: TakeJobs) -> TakenJobs {
        let mut taken = TakenJobs::default();
        let idle: Vec<String> = self
            .taken
            .iter()
            .filter(|(_, t)| t.since.elapsed() >= take.reclaim_after)
            .map(|(entry, _)| entry.clone())
            .take(take.limit)
            .collect();
        for entry in idle {
            let Some(old) = self.taken.remove(&entry) else { continue };
            let attempts = old.attempts + 1;
            if attempts > take.max_attempts {
                self.dead.push(old.job.clone());
                taken.dead.push(ReadyJob { entry, job: old.job, attempts });
            } else {
                tracing::debug!(%entry, from = %old.consumer, to = consumer, "taking over a job");
                taken.ready.push(self.hand_out(entry, consumer, attempts, old.job));
            }
        }
        while taken.ready.len() < take.limit {
            let Some((entry, job)) = self.queue.pop_front() else { break };
            taken.ready.push(self.hand_out(entry, consumer, 1, job));
        }
        taken
    }
}

fn claim_key(team: Option<&TeamId>, key: &str) -> (Option<TeamId>, String) {
    (team.cloned(), key.to_owned())
}

/// The last `limit` entries, oldest first.
fn newest<T: Clone>(entries: &[T], limit: usize) -> Vec<T> {
    entries[entries.len().saturating_sub(limit)..].to_vec()
}

#[async_trait]
impl Store for MemoryStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn snapshot(&self, team: Option<&TeamId>) -> Result<TeamSnapshot, StoreError> {
        let state = self.lock();
        let Some(team_state) = team.and_then(|team| state.teams.get(team)) else {
            return Ok(TeamSnapshot { revision: state.revision(team), ..TeamSnapshot::default() });
        };
        let records = team_state
            .records
            .iter()
            .map(|(kind, records)| (kind.clone(), records.values().filter(|r| r.open).cloned().collect::<Vec<_>>()))
            .filter(|(_, records)| !records.is_empty())
            .collect();
        Ok(TeamSnapshot {
            revision: state.revision(team),
            open: team_state.incidents.values().filter(|i| i.is_open()).cloned().collect(),
            plugins: team_state.plugins.clone(),
            records,
        })
    }

    async fn apply(&self, team: Option<&TeamId>, guard: Guard<'_>, writes: &[Write]) -> Result<String, ApplyError> {
        let mut state = self.lock();
        let claim = guard.claim.map(|claim| (claim_key(team, &claim.key), claim.ttl));
        if let Some((key, _)) = &claim
            && state.is_claimed(key)
        {
            return Err(ApplyError::Duplicate);
        }
        state.check(team, &guard, writes)?;
        if let Some(team) = team {
            let team_state = state.team(team);
            if let Some(job) = guard.job {
                team_state.consume(job);
            }
            for write in writes {
                team_state.write(write);
            }
        }
        if let Some((key, ttl)) = claim {
            state.claims.insert(key, Instant::now() + ttl);
        }
        Ok(state.revision(team))
    }

    async fn reserve_number(&self, team: &TeamId, sequence: &str, reservation: &str) -> Result<u64, StoreError> {
        Ok(self.change(team, |team| {
            let key = (sequence.to_owned(), reservation.to_owned());
            if let Some(&number) = team.reservations.get(&key) {
                return number;
            }
            let next = team.sequences.entry(sequence.to_owned()).or_default();
            *next += 1;
            let number = *next;
            team.reservations.insert(key, number);
            number
        }))
    }

    async fn incident(&self, team: &TeamId, number: u64) -> Result<Option<Incident>, StoreError> {
        Ok(self.read(team, None, |s| s.incidents.get(&number).cloned()))
    }

    async fn recent_incidents(&self, team: &TeamId, limit: usize) -> Result<Vec<Incident>, StoreError> {
        Ok(self.read(team, Vec::new(), |s| s.incidents.values().rev().take(limit).cloned().collect()))
    }

    async fn timeline(&self, team: &TeamId, number: u64) -> Result<Vec<TimelineEntry>, StoreError> {
        Ok(self.read(team, Vec::new(), |s| s.timelines.get(&number).cloned().unwrap_or_default()))
    }

    async fn admin_log(&self, team: &TeamId, project: &str, limit: usize) -> Result<Vec<LogEntry>, StoreError> {
        Ok(self
            .read(team, Vec::new(), |s| newest(s.admin_log.get(project).map(Vec::as_slice).unwrap_or_default(), limit)))
    }

    async fn audit_log(&self, team: &TeamId, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self.read(team, Vec::new(), |s| newest(&s.audit, limit)))
    }

    async fn record(&self, team: &TeamId, kind: &str, id: &str) -> Result<Option<Record>, StoreError> {
        Ok(self.read(team, None, |s| s.records.get(kind)?.get(id).cloned()))
    }

    async fn recent_records(&self, team: &TeamId, kind: &str, limit: usize) -> Result<Vec<Record>, StoreError> {
        Ok(self.read(team, Vec::new(), |s| {
            let (Some(order), Some(records)) = (s.record_order.get(kind), s.records.get(kind)) else {
                return Vec::new();
            };
            order.iter().rev().take(limit).filter_map(|id| records.get(id).cloned()).collect()
        }))
    }

    async fn scheduled_jobs(&self, team: &TeamId) -> Result<Vec<Job>, StoreError> {
        Ok(self.read(team, Vec::new(), |s| {
            let mut jobs: Vec<Job> = s.jobs.waiting.iter().filter_map(|id| s.jobs.scheduled.get(id).cloned()).collect();
            jobs.sort_by(|a, b| (a.due, &a.id).cmp(&(b.due, &b.id)));
            jobs
        }))
    }

    async fn promote_due_jobs(&self, team: &TeamId, now: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        Ok(self.change(team, |s| {
            let jobs = &mut s.jobs;
            let mut due: Vec<Job> = jobs
                .waiting
                .iter()
                .filter_map(|id| jobs.scheduled.get(id))
                .filter(|job| job.due <= now)
                .cloned()
                .collect();
            due.sort_by(|a, b| (a.due, &a.id).cmp(&(b.due, &b.id)));
            due.truncate(limit);
            for job in &due {
                jobs.waiting.remove(&job.id);
                jobs.next_entry += 1;
                jobs.queue.push_back((format!("{}-0", jobs.next_entry), job.clone()));
            }
            due.len()
        }))
    }

    async fn take_jobs(&self, team: &TeamId, consumer: &str, take: TakeJobs) -> Result<TakenJobs, StoreError> {
        Ok(self.change(team, |s| s.jobs.take(consumer, take)))
    }

    async fn finish_job(&self, team: &TeamId, entry: &str, cause: &str) -> Result<(), StoreError> {
        self.change(team, |s| {
            s.jobs.taken.remove(entry);
            s.jobs.queue.retain(|(queued, _)| queued != entry);
            s.jobs.outbox.remove(cause);
        });
        Ok(())
    }

    async fn dead_jobs(&self, team: &TeamId, limit: usize) -> Result<Vec<Job>, StoreError> {
        Ok(self.read(team, Vec::new(), |s| newest(&s.jobs.dead, limit)))
    }

    async fn outbox(&self, team: &TeamId, cause: &str) -> Result<Vec<Envelope>, StoreError> {
        Ok(self.read(team, Vec::new(), |s| s.jobs.outbox.get(cause).cloned().unwrap_or_default()))
    }

    async fn is_sent(&self, team: &TeamId, action: &str) -> Result<bool, StoreError> {
        Ok(self.read(team, false, |s| s.jobs.sent.get(action).is_some_and(|until| *until > Instant::now())))
    }

    async fn mark_sent(&self, team: &TeamId, action: &str) -> Result<(), StoreError> {
        let now = Instant::now();
        self.change(team, |s| s.jobs.remember_sent(action, now));
        Ok(())
    }

    async fn pace(&self, key: &str, every: std::time::Duration) -> Result<std::time::Duration, StoreError> {
        let mut state = self.lock();
        let now = Instant::now();
        let slot = state.paces.get(key).copied().filter(|next| *next > now).unwrap_or(now);
        state.paces.insert(key.to_owned(), slot + every);
        Ok(slot - now)
    }
}

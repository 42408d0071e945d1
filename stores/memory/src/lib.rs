//! The in-process store: the embedded default, and the model the Redis store is tested against.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use firebell_core::ids::TeamId;
use firebell_core::job::{Job, ReadyJob, TakenJobs};
use firebell_core::message::Envelope;
use firebell_core::store::{
    Applied, ApplyError, Guard, Key, Listing, Store, StoreError, StoredRecord, StreamEntry, StreamRange, TakeJobs,
    Write,
};

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

/// One namespace of one team.
#[derive(Default)]
struct Space {
    /// Records by (kind, id), with their version; `None` once removed.
    records: HashMap<(String, String), (u64, Option<StoredRecord>)>,
    /// Record ids by kind, in the order they were created.
    created: HashMap<String, Vec<String>>,
    /// Index keys by (kind, index, key): version and ids.
    indexes: HashMap<(String, String, String), (u64, BTreeSet<String>)>,
    /// Streams by name: the last entry number, and the entries kept.
    streams: HashMap<String, (u64, VecDeque<(u64, String)>)>,
    sequences: HashMap<String, u64>,
    reservations: HashMap<(String, String), u64>,
}

#[derive(Default)]
struct TeamState {
    spaces: HashMap<String, Space>,
    jobs: Jobs,
}

/// How often expired claims are swept out of memory.
const CLAIM_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Default)]
struct State {
    teams: HashMap<TeamId, TeamState>,
    claims: HashMap<(Option<TeamId>, String), Instant>,
    /// When expired claims are next swept out (checking one claim looks at its expiry only).
    next_sweep: Option<Instant>,
    paces: HashMap<String, Instant>,
    /// The slot each holder was given, by pace and holder.
    held_slots: HashMap<(String, String), Instant>,
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

    /// Runs `read` on a namespace of the team, or returns `empty` for one with nothing yet.
    fn read_space<T>(&self, team: &TeamId, namespace: &str, empty: T, read: impl FnOnce(&Space) -> T) -> T {
        self.lock().teams.get(team).and_then(|t| t.spaces.get(namespace)).map_or(empty, read)
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
        if self.next_sweep.is_none_or(|next| next <= now) {
            self.claims.retain(|_, expires| *expires > now);
            self.next_sweep = Some(now + CLAIM_SWEEP_INTERVAL);
        }
        self.claims.get(key).is_some_and(|expires| *expires > now)
    }

    /// Checks every precondition before anything is written.
    fn check(&self, team: Option<&TeamId>, guard: &Guard<'_>) -> Result<(), ApplyError> {
        let state = team.and_then(|team| self.teams.get(team));
        if let Some(job) = guard.job {
            let scheduled = state.and_then(|s| s.jobs.scheduled.get(&job.id));
            if scheduled.is_none_or(|s| s.token != job.token) {
                return Err(ApplyError::JobGone);
            }
        }
        for (key, version) in guard.reads {
            if state.map_or(0, |s| s.version(key)) != *version {
                return Err(ApplyError::Conflict(key.clone()));
            }
        }
        Ok(())
    }
}

impl State {
    /// Refuses a record joining a key of a unique index that lists another record.
    fn check_unique(&self, team: Option<&TeamId>, writes: &[Write]) -> Result<(), ApplyError> {
        let Some(state) = team.and_then(|team| self.teams.get(team)) else { return Ok(()) };
        for write in writes {
            let Write::Put { namespace, record } = write else { continue };
            let Some(space) = state.spaces.get(namespace) else { continue };
            for entry in record.indexes.iter().filter(|entry| entry.unique) {
                let slot = (record.kind.clone(), entry.index.clone(), entry.key.clone());
                if space.indexes.get(&slot).is_some_and(|(_, ids)| ids.iter().any(|id| *id != record.id)) {
                    let (kind, index, key) = slot;
                    return Err(ApplyError::Taken(Key::Index { namespace: namespace.clone(), kind, index, key }));
                }
            }
        }
        Ok(())
    }
}

impl Space {
    fn record_version(&self, kind: &str, id: &str) -> u64 {
        self.records.get(&(kind.to_owned(), id.to_owned())).map_or(0, |(version, _)| *version)
    }

    fn index_version(&self, kind: &str, index: &str, key: &str) -> u64 {
        self.indexes.get(&(kind.to_owned(), index.to_owned(), key.to_owned())).map_or(0, |(version, _)| *version)
    }

    /// Stores `record` (or removes the record when `None`); returns the changed versions.
    fn set(&mut self, namespace: &str, kind: &str, id: &str, record: Option<&StoredRecord>) -> Vec<(Key, u64)> {
        let slot = self.records.entry((kind.to_owned(), id.to_owned())).or_insert((0, None));
        let before: Vec<_> = slot.1.as_ref().map(|r| r.indexes.clone()).unwrap_or_default();
        let existed = slot.1.is_some();
        slot.0 += 1;
        let version = slot.0;
        slot.1 = record.map(|r| StoredRecord { version, ..r.clone() });
        let after: Vec<_> = record.map(|r| r.indexes.clone()).unwrap_or_default();
        let order = self.created.entry(kind.to_owned()).or_default();
        match (existed, record.is_some()) {
            (false, true) => order.push(id.to_owned()),
            (true, false) => order.retain(|other| other != id),
            _ => {}
        }
        let record_key = Key::Record { namespace: namespace.into(), kind: kind.into(), id: id.into() };
        let mut changed = vec![(record_key, version)];
        for entry in before.iter().filter(|e| !after.contains(e)).chain(after.iter().filter(|e| !before.contains(e))) {
            let listed = after.contains(entry);
            let (index_version, ids) =
                self.indexes.entry((kind.to_owned(), entry.index.clone(), entry.key.clone())).or_default();
            *index_version += 1;
            if listed {
                ids.insert(id.to_owned());
            } else {
                ids.remove(id);
            }
            let key = Key::Index {
                namespace: namespace.into(),
                kind: kind.into(),
                index: entry.index.clone(),
                key: entry.key.clone(),
            };
            changed.push((key, *index_version));
        }
        changed
    }

    fn append(&mut self, stream: &str, entry: &str) {
        let (last, entries) = self.streams.entry(stream.to_owned()).or_default();
        *last += 1;
        entries.push_back((*last, entry.to_owned()));
    }

    fn trim(&mut self, stream: &str, keep: u64) {
        if let Some((_, entries)) = self.streams.get_mut(stream) {
            let keep = usize::try_from(keep).unwrap_or(usize::MAX);
            let drop = entries.len().saturating_sub(keep);
            entries.drain(..drop);
        }
    }

    fn stream(&self, stream: &str, range: StreamRange) -> Vec<StreamEntry> {
        let Some((_, entries)) = self.streams.get(stream) else { return Vec::new() };
        let entry = |(n, data): &(u64, String)| StreamEntry { id: format!("{n}-0"), data: data.clone() };
        match range {
            StreamRange::All => entries.iter().map(entry).collect(),
            StreamRange::First(limit) => entries.iter().take(limit).map(entry).collect(),
            StreamRange::Latest(limit) => entries.iter().skip(entries.len().saturating_sub(limit)).map(entry).collect(),
            StreamRange::After { id, limit } => {
                let after: u64 = id.split('-').next().and_then(|n| n.parse().ok()).unwrap_or(0);
                entries.iter().filter(|(n, _)| *n > after).take(limit).map(entry).collect()
            }
        }
    }
}

impl TeamState {
    fn space(&mut self, namespace: &str) -> &mut Space {
        self.spaces.entry(namespace.to_owned()).or_default()
    }

    fn version(&self, key: &Key) -> u64 {
        match key {
            Key::Record { namespace, kind, id } => self.spaces.get(namespace).map_or(0, |s| s.record_version(kind, id)),
            Key::Index { namespace, kind, index, key } => {
                self.spaces.get(namespace).map_or(0, |s| s.index_version(kind, index, key))
            }
        }
    }

    fn write(&mut self, write: &Write, applied: &mut Applied) {
        match write {
            Write::Put { namespace, record } => {
                let changed = self.space(namespace).set(namespace, &record.kind, &record.id, Some(record));
                applied.versions.extend(changed);
            }
            Write::Remove { namespace, kind, id } => {
                let space = self.space(namespace);
                if space.records.get(&(kind.clone(), id.clone())).is_some_and(|(_, record)| record.is_some()) {
                    applied.versions.extend(space.set(namespace, kind, id, None));
                }
            }
            Write::Append { namespace, stream, entry } => self.space(namespace).append(stream, entry),
            Write::Trim { namespace, stream, keep } => self.space(namespace).trim(stream, *keep),
            Write::Release { namespace, sequence, reservation } => {
                self.space(namespace).reservations.remove(&(sequence.clone(), reservation.clone()));
            }
            Write::Schedule(job) => {
                self.jobs.scheduled.insert(job.id.clone(), job.clone());
                self.jobs.waiting.insert(job.id.clone());
            }
            Write::Cancel(id) => {
                self.jobs.cancel(id);
            }
            Write::Outbox { cause, envelopes } => {
                self.jobs.outbox.insert(cause.clone(), envelopes.clone());
            }
            Write::Sent(action) => self.jobs.remember_sent(action, Instant::now()),
            Write::Delivered { job, sent } => {
                if !self.jobs.cancel(job) {
                    for action in sent {
                        self.jobs.remember_sent(action, Instant::now());
                    }
                }
            }
        }
    }

    fn consume(&mut self, job: &Job) {
        self.jobs.cancel(&job.id);
    }
}

impl Jobs {
    /// Cancels the job `id`; answers whether it was still waiting to come due.
    fn cancel(&mut self, id: &str) -> bool {
        self.scheduled.remove(id);
        self.waiting.remove(id)
    }

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

    async fn records(
        &self,
        team: &TeamId,
        namespace: &str,
        kind: &str,
        ids: &[String],
    ) -> Result<Vec<(u64, Option<StoredRecord>)>, StoreError> {
        Ok(self.read_space(team, namespace, vec![(0, None); ids.len()], |space| {
            ids.iter()
                .map(|id| space.records.get(&(kind.to_owned(), id.clone())).cloned().unwrap_or((0, None)))
                .collect()
        }))
    }

    async fn find(
        &self,
        team: &TeamId,
        namespace: &str,
        kind: &str,
        index: &str,
        key: &str,
    ) -> Result<Listing, StoreError> {
        Ok(self.read_space(team, namespace, Listing::default(), |space| {
            let Some((version, ids)) = space.indexes.get(&(kind.to_owned(), index.to_owned(), key.to_owned())) else {
                return Listing::default();
            };
            let records =
                ids.iter().filter_map(|id| space.records.get(&(kind.to_owned(), id.clone()))?.1.clone()).collect();
            Listing { version: *version, records }
        }))
    }

    async fn find_prefix(
        &self,
        team: &TeamId,
        namespace: &str,
        kind: &str,
        index: &str,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        Ok(self.read_space(team, namespace, Vec::new(), |space| {
            let mut keys: Vec<(&String, &BTreeSet<String>)> = space
                .indexes
                .iter()
                .filter(|((k, i, key), _)| k == kind && i == index && key.starts_with(prefix))
                .map(|((_, _, key), (_, ids))| (key, ids))
                .collect();
            keys.sort();
            keys.into_iter()
                .flat_map(|(_, ids)| ids.iter())
                .filter_map(|id| space.records.get(&(kind.to_owned(), id.clone()))?.1.clone())
                .take(limit)
                .collect()
        }))
    }

    async fn recent(
        &self,
        team: &TeamId,
        namespace: &str,
        kind: &str,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        Ok(self.read_space(team, namespace, Vec::new(), |space| {
            let Some(order) = space.created.get(kind) else { return Vec::new() };
            order
                .iter()
                .rev()
                .take(limit)
                .filter_map(|id| space.records.get(&(kind.to_owned(), id.clone()))?.1.clone())
                .collect()
        }))
    }

    async fn stream(
        &self,
        team: &TeamId,
        namespace: &str,
        stream: &str,
        range: StreamRange,
    ) -> Result<Vec<StreamEntry>, StoreError> {
        Ok(self.read_space(team, namespace, Vec::new(), |space| space.stream(stream, range)))
    }

    async fn reserve_number(
        &self,
        team: &TeamId,
        namespace: &str,
        sequence: &str,
        reservation: &str,
    ) -> Result<u64, StoreError> {
        let mut state = self.lock();
        let claimed = state.is_claimed(&claim_key(Some(team), reservation));
        let space = state.team(team).space(namespace);
        let key = (sequence.to_owned(), reservation.to_owned());
        if let Some(&number) = space.reservations.get(&key) {
            return Ok(number);
        }
        if claimed {
            return Err(StoreError::AlreadyApplied);
        }
        let next = space.sequences.entry(sequence.to_owned()).or_default();
        *next += 1;
        let number = *next;
        space.reservations.insert(key, number);
        Ok(number)
    }

    async fn apply(&self, team: Option<&TeamId>, guard: Guard<'_>, writes: &[Write]) -> Result<Applied, ApplyError> {
        let mut state = self.lock();
        let claim = guard.claim.map(|claim| (claim_key(team, &claim.key), claim.ttl));
        if let Some((key, _)) = &claim
            && state.is_claimed(key)
        {
            return Err(ApplyError::Duplicate);
        }
        state.check(team, &guard)?;
        state.check_unique(team, writes)?;
        let mut applied = Applied::default();
        if let Some(team) = team {
            let team_state = state.team(team);
            if let Some(job) = guard.job {
                team_state.consume(job);
            }
            for write in writes {
                team_state.write(write, &mut applied);
            }
        }
        if let Some((key, ttl)) = claim {
            state.claims.insert(key, Instant::now() + ttl);
        }
        Ok(applied)
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
        let mut state = self.lock();
        state.claims.remove(&claim_key(Some(team), cause));
        let jobs = &mut state.team(team).jobs;
        jobs.taken.remove(entry);
        jobs.queue.retain(|(queued, _)| queued != entry);
        jobs.outbox.remove(cause);
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

    async fn pace(
        &self,
        key: &str,
        every: std::time::Duration,
        holder: &str,
    ) -> Result<std::time::Duration, StoreError> {
        let mut state = self.lock();
        let now = Instant::now();
        let held = (key.to_owned(), holder.to_owned());
        if let Some(&slot) = state.held_slots.get(&held).filter(|slot| !holder.is_empty() && **slot + every > now) {
            return Ok(slot.saturating_duration_since(now));
        }
        let slot = state.paces.get(key).copied().filter(|next| *next > now).unwrap_or(now);
        state.paces.insert(key.to_owned(), slot + every);
        if !holder.is_empty() {
            state
                .held_slots
                .retain(|_, slot| now.saturating_duration_since(*slot) < std::time::Duration::from_secs(60));
            state.held_slots.insert(held, slot);
        }
        Ok(slot - now)
    }
}

//! A store that reports each call's round trip and failures to [`metrics`](crate::metrics).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use firebell_core::ids::TeamId;
use firebell_core::job::{Job, TakenJobs};
use firebell_core::message::Envelope;
use firebell_core::store::{
    Applied, ApplyError, Guard, Listing, Store, StoreError, StoredRecord, StreamEntry, StreamRange, TakeJobs, Write,
};

use crate::metrics;

/// Wraps a store and measures every call it answers.
pub struct MeteredStore {
    inner: Arc<dyn Store>,
}

impl MeteredStore {
    /// Measures the calls to `inner`.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self { inner }
    }
}

/// One store call being measured: recorded when it ends, as failed when it is dropped before
/// it ended (a caller's timeout cut it).
struct Timing {
    call: &'static str,
    started: Instant,
    ended: bool,
}

impl Timing {
    fn start(call: &'static str) -> Self {
        Self { call, started: Instant::now(), ended: false }
    }

    fn end(mut self, failed: bool) {
        self.ended = true;
        metrics::store_call(self.call, self.started.elapsed(), failed);
    }
}

impl Drop for Timing {
    fn drop(&mut self) {
        if !self.ended {
            metrics::store_call(self.call, self.started.elapsed(), true);
        }
    }
}

/// Runs `call`, named `name`, and records how long it took and whether it failed.
async fn measured<T, E>(name: &'static str, call: impl Future<Output = Result<T, E>>) -> Result<T, E> {
    let timing = Timing::start(name);
    let result = call.await;
    timing.end(result.is_err());
    result
}

/// Like [`measured`], for `apply`: a refused guard (a duplicate, a conflict) is an answer, not a
/// failure.
async fn measured_apply(call: impl Future<Output = Result<Applied, ApplyError>>) -> Result<Applied, ApplyError> {
    let timing = Timing::start("apply");
    let result = call.await;
    timing.end(matches!(result, Err(ApplyError::Store(_))));
    result
}

#[async_trait]
impl Store for MeteredStore {
    async fn ping(&self) -> Result<(), StoreError> {
        measured("ping", self.inner.ping()).await
    }

    async fn records(
        &self,
        team: &TeamId,
        namespace: &str,
        kind: &str,
        ids: &[String],
    ) -> Result<Vec<(u64, Option<StoredRecord>)>, StoreError> {
        measured("records", self.inner.records(team, namespace, kind, ids)).await
    }

    async fn find(
        &self,
        team: &TeamId,
        namespace: &str,
        kind: &str,
        index: &str,
        key: &str,
    ) -> Result<Listing, StoreError> {
        measured("find", self.inner.find(team, namespace, kind, index, key)).await
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
        measured("find_prefix", self.inner.find_prefix(team, namespace, kind, index, prefix, limit)).await
    }

    async fn recent(
        &self,
        team: &TeamId,
        namespace: &str,
        kind: &str,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        measured("recent", self.inner.recent(team, namespace, kind, limit)).await
    }

    async fn stream(
        &self,
        team: &TeamId,
        namespace: &str,
        stream: &str,
        range: StreamRange,
    ) -> Result<Vec<StreamEntry>, StoreError> {
        measured("stream", self.inner.stream(team, namespace, stream, range)).await
    }

    async fn reserve_number(
        &self,
        team: &TeamId,
        namespace: &str,
        sequence: &str,
        reservation: &str,
    ) -> Result<u64, StoreError> {
        measured("reserve_number", self.inner.reserve_number(team, namespace, sequence, reservation)).await
    }

    async fn apply(&self, team: Option<&TeamId>, guard: Guard<'_>, writes: &[Write]) -> Result<Applied, ApplyError> {
        measured_apply(self.inner.apply(team, guard, writes)).await
    }

    async fn scheduled_jobs(&self, team: &TeamId) -> Result<Vec<Job>, StoreError> {
        measured("scheduled_jobs", self.inner.scheduled_jobs(team)).await
    }

    async fn promote_due_jobs(&self, team: &TeamId, now: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        let promoted = measured("promote_due_jobs", self.inner.promote_due_jobs(team, now, limit)).await?;
        metrics::jobs_promoted(promoted);
        Ok(promoted)
    }

    async fn take_jobs(&self, team: &TeamId, consumer: &str, take: TakeJobs) -> Result<TakenJobs, StoreError> {
        measured("take_jobs", self.inner.take_jobs(team, consumer, take)).await
    }

    async fn finish_job(&self, team: &TeamId, entry: &str, cause: &str) -> Result<(), StoreError> {
        measured("finish_job", self.inner.finish_job(team, entry, cause)).await
    }

    async fn dead_jobs(&self, team: &TeamId, limit: usize) -> Result<Vec<Job>, StoreError> {
        measured("dead_jobs", self.inner.dead_jobs(team, limit)).await
    }

    async fn outbox(&self, team: &TeamId, cause: &str) -> Result<Vec<Envelope>, StoreError> {
        measured("outbox", self.inner.outbox(team, cause)).await
    }

    async fn is_sent(&self, team: &TeamId, action: &str) -> Result<bool, StoreError> {
        measured("is_sent", self.inner.is_sent(team, action)).await
    }

    async fn mark_sent(&self, team: &TeamId, action: &str) -> Result<(), StoreError> {
        measured("mark_sent", self.inner.mark_sent(team, action)).await
    }

    async fn pace(&self, key: &str, every: Duration, holder: &str) -> Result<Duration, StoreError> {
        measured("pace", self.inner.pace(key, every, holder)).await
    }
}

//! The bot: a dispatcher plus the adapters that carry its actions out.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::task::TaskTracker;

use crate::adapter::{AdapterError, Adapters, Performed};
use crate::dispatcher::{DispatchError, Dispatched, Dispatcher, Watchdog};
use crate::ids::RoomRef;
use crate::ids::TeamId;
use crate::job::Job;
use crate::message::{Action, CallResult, Envelope, Inbound, Message, Notify, RoomCreated};
use crate::plugin::Event;
use crate::store::StoreError;

/// How many times an action is tried when the platform asks us to slow down.
const RATE_LIMIT_ATTEMPTS: u32 = 5;
/// How long recording a send is retried before the job run gives up (the store being down).
const RECORD_PATIENCE: Duration = Duration::from_secs(60);
/// How long [`Bot::handle`] tries to decide a message while the store does not answer.
pub const HANDLE_PATIENCE: Duration = Duration::from_secs(10);

/// Why a job run did not finish; it is retried later, possibly by another replica.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Deciding or applying failed.
    #[error(transparent)]
    Dispatch(#[from] DispatchError),
    /// The store failed while sending.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A platform refused an action.
    #[error("action {action} failed: {error}")]
    Send {
        /// The action's id.
        action: String,
        /// What the platform said.
        error: AdapterError,
    },
}

/// Ties the dispatcher to the adapters: adapters hand it messages, it sends the answers back out
/// through the adapter of each target's transport.
pub struct Bot {
    dispatcher: Dispatcher,
    adapters: Adapters,
    deliveries: TaskTracker,
}

impl Bot {
    /// A bot answering through `adapters`.
    pub fn new(dispatcher: Dispatcher, adapters: Adapters) -> Self {
        Self { dispatcher, adapters, deliveries: TaskTracker::new() }
    }

    /// Sends what `dispatched` holds in a task of its own, which [`Bot::drain`] waits for.
    pub fn deliver_in_background(self: &Arc<Self>, dispatched: Dispatched) {
        let bot = self.clone();
        self.deliveries.spawn(async move { bot.deliver(&dispatched).await });
    }

    /// Runs `work` (deciding and delivering a message, say) as a task that [`Bot::drain`]
    /// waits for.
    pub fn track<F>(&self, work: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.deliveries.spawn(work)
    }

    /// Waits up to `patience` for every delivery in flight to finish; returns how many were
    /// still going when it gave up (their answers stay in the store for the watchdog).
    pub async fn drain(&self, patience: Duration) -> usize {
        self.deliveries.close();
        if tokio::time::timeout(patience, self.deliveries.wait()).await.is_err() {
            return self.deliveries.len();
        }
        0
    }

    /// The dispatcher.
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// The adapters.
    pub fn adapters(&self) -> &Adapters {
        &self.adapters
    }

    /// Handles one inbound message to the end: decides it (trying for up to [`HANDLE_PATIENCE`]
    /// while the store does not answer), then performs every resulting action. When it cannot be
    /// decided, the sender is told, directly.
    pub async fn handle(&self, inbound: Inbound) {
        let dispatched = match self.decide(&inbound, HANDLE_PATIENCE).await {
            Ok(dispatched) => dispatched,
            Err(err) => Self::failure(&inbound, &err),
        };
        self.deliver(&dispatched).await;
    }

    /// Decides one inbound message: applies what it changes and keeps its answer in the store
    /// until [`Bot::deliver`] sent it, so that once this returns `Ok` the message may be
    /// acknowledged to the platform: if this replica dies now, another one sends the answer.
    /// While the store does not answer (a restart), it tries again with backoff for up to
    /// `patience`; an error means nothing may be acknowledged: the platform should deliver the
    /// message again, or the sender be told with [`Bot::failure`].
    pub async fn decide(&self, inbound: &Inbound, patience: Duration) -> Result<Dispatched, DispatchError> {
        let deadline = tokio::time::Instant::now() + patience;
        let mut wait = Duration::from_millis(50);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let attempt = tokio::time::timeout(left, self.dispatcher.dispatch(inbound)).await;
            let err = match attempt {
                Ok(Ok(dispatched)) => return Ok(dispatched),
                Ok(Err(err)) => err,
                Err(_) => DispatchError::Store(StoreError::Unavailable(format!("no answer within {patience:?}"))),
            };
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left < wait {
                tracing::error!(event = %inbound.event_id, error = %err, "command not taken");
                return Err(err);
            }
            tracing::warn!(event = %inbound.event_id, error = %err, "command not taken yet; trying again");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(1));
        }
    }

    /// What the sender of a message that could not be decided is told: a notice sent directly
    /// (nothing of it is kept in the store, which is what failed).
    pub fn failure(inbound: &Inbound, err: &DispatchError) -> Dispatched {
        Dispatched::unkept(vec![failure_notice(inbound, err)])
    }

    /// Handles an event from outside the chat to the end. Returns whether it was handled (or
    /// had been before); an error means nothing was applied and the sender should retry.
    pub async fn handle_event(&self, event: &Event) -> Result<(), DispatchError> {
        let dispatched = self.dispatcher.dispatch_event(event).await?;
        self.deliver(&dispatched).await;
        Ok(())
    }

    /// Runs one due job of `team` to the end: decides and applies it, then sends what it sends,
    /// skipping what was recorded as sent before (by a replica that died halfway) and recording
    /// each send. An action that fails does not hold up the others; the run then fails, to be
    /// tried again for what is left. When this returns `Ok`, the job may be finished.
    pub async fn run_job(&self, team: &TeamId, job: &Job) -> Result<(), JobError> {
        let envelopes = self.dispatcher.run_job(team, job).await?;
        let store = self.dispatcher.store();
        let mut failure = None;
        for envelope in &envelopes {
            if store.is_sent(team, &envelope.id).await? {
                continue;
            }
            match self.send(envelope, None).await {
                Ok(()) => self.record_sent(team, &envelope.id, RECORD_PATIENCE).await?,
                Err(error) => {
                    tracing::warn!(action = %envelope.id, %error, "action failed; the job will try again");
                    failure.get_or_insert(JobError::Send { action: envelope.id.clone(), error });
                }
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// Performs the actions of `dispatched` in order. Without a delivery watchdog, a failed
    /// action is logged and does not stop the others. With one, each send is recorded and the
    /// watchdog is cancelled once all were sent; what failed, and everything once a send could
    /// not be recorded or half the watchdog's grace is over, is left to the watchdog, so that
    /// it never sends alongside.
    pub async fn deliver(&self, dispatched: &Dispatched) {
        let Some(watchdog) = &dispatched.watchdog else {
            for envelope in &dispatched.envelopes {
                if let Err(err) = self.send(envelope, None).await {
                    tracing::warn!(action = %envelope.id, error = %err, "action failed");
                }
            }
            return;
        };
        let deadline = self.delivery_deadline(watchdog);
        let mut left = 0;
        for (index, envelope) in dispatched.envelopes.iter().enumerate() {
            let remaining = (deadline - self.dispatcher.clock().now()).to_std().unwrap_or_default();
            if remaining.is_zero() {
                left += dispatched.envelopes.len() - index;
                break;
            }
            if let Err(err) = self.send(envelope, Some(deadline)).await {
                tracing::warn!(action = %envelope.id, error = %err, "action failed; the delivery watchdog will try again");
                left += 1;
            } else if self.record_sent(&watchdog.team, &envelope.id, remaining).await.is_err() {
                left += dispatched.envelopes.len() - index;
                break;
            }
        }
        if left > 0 {
            tracing::info!(watchdog = %watchdog.job.id, left, "actions left to the delivery watchdog");
        } else if let Err(err) = self.dispatcher.delivered(watchdog).await {
            tracing::warn!(watchdog = %watchdog.job.id, error = %err, "sent, but the delivery watchdog stays; it will find nothing left");
        }
    }

    /// When a delivery guarded by `watchdog` stops and leaves the rest to it: half its grace
    /// before it comes due.
    fn delivery_deadline(&self, watchdog: &Watchdog) -> DateTime<Utc> {
        let grace = self.dispatcher.options().delivery_grace / 2;
        crate::clock::before(watchdog.job.due, grace)
    }

    /// Performs one action, waiting out rate limits (but not past `deadline`), and tells the
    /// plugin that asked for a new room that it exists. An action the platform cannot perform
    /// is skipped with a warning.
    async fn send(&self, envelope: &Envelope, deadline: Option<DateTime<Utc>>) -> Result<(), AdapterError> {
        match self.perform(envelope, deadline).await {
            Ok(Performed::RoomCreated(room)) => Box::pin(self.announce_room(envelope, room)).await,
            Ok(Performed::Called(response)) => Box::pin(self.announce_call(envelope, response)).await,
            Ok(Performed::Done) => {}
            Err(error @ (AdapterError::Unsupported { .. } | AdapterError::NoService(_) | AdapterError::Refused(_))) => {
                tracing::warn!(action = %envelope.id, %error, "action cannot be performed; skipped");
            }
            Err(error) => return Err(error),
        }
        Ok(())
    }

    /// Records a send, retrying for up to `patience` while the store is unreachable: the send
    /// happened, and forgetting it would send it again.
    async fn record_sent(&self, team: &TeamId, action: &str, patience: Duration) -> Result<(), StoreError> {
        let started = tokio::time::Instant::now();
        let mut wait = Duration::from_millis(100);
        loop {
            match self.dispatcher.store().mark_sent(team, action).await {
                Ok(()) => return Ok(()),
                Err(err) if started.elapsed() + wait > patience => return Err(err),
                Err(err) => {
                    tracing::warn!(%action, error = %err, "cannot record a send yet; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Tells the plugin that asked for a room (its [`RoomSpec::notify`]) that the room exists.
    async fn announce_room(&self, envelope: &Envelope, room: RoomRef) {
        let Action::CreateRoom { spec, .. } = &envelope.action else { return };
        let Some(notify) = &spec.notify else { return };
        let created = RoomCreated { key: spec.key.clone(), room };
        let data = serde_json::to_string(&created).expect("room events serialize");
        self.announce(envelope, notify, "created", "room-created", data).await;
    }

    /// Tells the plugin that called a service (its `notify`) what the service answered.
    async fn announce_call(&self, envelope: &Envelope, response: String) {
        let Action::Call { request, notify: Some(notify), .. } = &envelope.action else { return };
        let result = CallResult { request: request.clone(), response };
        let data = serde_json::to_string(&result).expect("call results serialize");
        self.announce(envelope, notify, "result", "call-result", data).await;
    }

    /// Hands `notify`'s plugin an event about how `envelope` turned out, once (its id is
    /// derived from the action's).
    async fn announce(&self, envelope: &Envelope, notify: &Notify, suffix: &str, kind: &str, data: String) {
        let event = Event {
            id: format!("{}:{suffix}", envelope.id),
            team: notify.team.clone(),
            plugin: notify.plugin.clone(),
            kind: kind.into(),
            data,
        };
        if let Err(err) = self.handle_event(&event).await {
            tracing::warn!(action = %envelope.id, error = %err, kind, "the outcome of an action could not be announced");
        }
    }

    async fn perform(&self, envelope: &Envelope, deadline: Option<DateTime<Utc>>) -> Result<Performed, AdapterError> {
        let mut attempt = 1;
        loop {
            match self.adapters.perform(envelope).await {
                Err(AdapterError::RateLimited(wait)) if attempt < RATE_LIMIT_ATTEMPTS => {
                    let wait = wait.min(Duration::from_secs(30));
                    let later = crate::clock::after(self.dispatcher.clock().now(), wait);
                    if deadline.is_some_and(|deadline| later > deadline) {
                        return Err(AdapterError::RateLimited(wait));
                    }
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }
}

/// What the sender of a command that failed is told. A store that failed may have applied the
/// command before its answer was lost, so the sender is asked to check before trying again.
fn failure_notice(inbound: &Inbound, err: &DispatchError) -> Envelope {
    let text = match err {
        DispatchError::Store(_) => {
            format!("error: your command may not have been applied ({err}); check before trying again")
        }
        DispatchError::Contended(_) => format!("error: your command was not applied ({err}); please try again"),
    };
    let action = Action::Ephemeral {
        room: inbound.room.clone(),
        user: inbound.sender.clone(),
        message: Message::text(text),
        thread: inbound.thread.clone(),
    };
    Envelope { id: format!("{}:{}#failure", inbound.transport(), inbound.event_id), action }
}

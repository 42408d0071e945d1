//! The bot: a dispatcher plus the adapters that carry its actions out.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use crate::dispatcher::{DispatchError, Dispatched, Dispatcher, Origin, Watchdog};
use crate::metrics;
use firebell_core::adapter::{AdapterError, Adapters, Performed};
use firebell_core::ids::RoomRef;
use firebell_core::ids::TeamId;
use firebell_core::job::Job;
use firebell_core::message::{Action, CallResult, Envelope, Inbound, Message, Notify, RoomCreated};
use firebell_core::plugin::Event;
use firebell_core::store::StoreError;

/// How many times an action is tried again when the platform has passing trouble.
const PASSING_TROUBLE: u32 = 3;
/// The first wait before an action is tried again after the platform's trouble.
const TROUBLE_BACKOFF: Duration = Duration::from_millis(500);
/// How long recording a send is retried at least while the store does not answer.
const RECORD_PATIENCE: Duration = Duration::from_secs(5);
/// How long an action nothing keeps in the store (a failure notice) is tried.
const UNKEPT_PATIENCE: Duration = Duration::from_secs(30);
/// How long [`Bot::handle`] tries to decide a message while the store does not answer.
pub const HANDLE_PATIENCE: Duration = Duration::from_secs(10);

/// How a kept action is being sent: for which team's records, until when, and whether it may
/// have been sent before (since when, then).
struct Sending<'a> {
    team: &'a TeamId,
    deadline: Instant,
    since: Option<DateTime<Utc>>,
}

/// Why a kept action was not sent and recorded.
enum SendError {
    /// The platform failed; it is left to be tried again.
    Failed(AdapterError),
    /// The store failed to record it (or to say whether it was).
    Store(StoreError),
}

impl From<StoreError> for SendError {
    fn from(err: StoreError) -> Self {
        SendError::Store(err)
    }
}

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
        let received = Instant::now();
        let deadline = received + patience;
        let mut wait = Duration::from_millis(50);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let attempt = tokio::time::timeout(left, self.dispatcher.dispatch(inbound)).await;
            let err = match attempt {
                Ok(Ok(dispatched)) => return Ok(Dispatched { received: Some(received), ..dispatched }),
                Ok(Err(err)) => err,
                Err(_) => DispatchError::Store(StoreError::Unavailable(format!("no answer within {patience:?}"))),
            };
            let left = deadline.saturating_duration_since(Instant::now());
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

    /// Tells the plugins that hear the start that this replica started (see
    /// [`Plugin::hears_start`](firebell_core::plugin::Plugin::hears_start)); a failure is logged:
    /// the next start, or the plugins' own commands, make up for it.
    pub async fn announce_start(&self, replica: &str, boot: u64) {
        for event in self.dispatcher.start_events(replica, boot) {
            if let Err(err) = self.handle_event(&event).await {
                tracing::warn!(plugin = %event.plugin, team = %event.team, error = %err, "the start event failed");
            }
        }
    }

    /// Handles an event from outside the chat to the end. Returns whether it was handled (or
    /// had been before); an error means nothing was applied and the sender should retry.
    pub async fn handle_event(&self, event: &Event) -> Result<(), DispatchError> {
        let dispatched = self.dispatcher.dispatch_event(event).await?;
        self.deliver(&dispatched).await;
        Ok(())
    }

    /// Runs one due job of `team` to the end: decides and applies it, then sends what it sends,
    /// skipping what was recorded as sent before (by a replica that died halfway), and what the
    /// platform shows was sent but not recorded, and recording each send. Sending stops at
    /// `deadline` (before another replica would take the job over). An action that fails does
    /// not hold up the others; the run then fails, to be tried again for what is left. When this
    /// returns `Ok`, the job may be finished. The last send is recorded only if the run fails:
    /// finishing the job removes it for good, which makes that record needless (one round trip
    /// and one key less per run).
    pub async fn run_job(&self, team: &TeamId, job: &Job, deadline: Instant) -> Result<(), JobError> {
        let run = self.dispatcher.run_job(team, job).await?;
        let grace = self.dispatcher.options().delivery_grace;
        let sending =
            Sending { team, deadline, since: run.again.then(|| firebell_core::clock::before(job.due, grace)) };
        let mut failure = None;
        let mut finished_by_the_run = Vec::new();
        for (index, envelope) in run.envelopes.iter().enumerate() {
            let last = (index + 1 == run.envelopes.len()).then_some(&mut finished_by_the_run);
            match self.send_kept(envelope, &sending, None, last).await {
                Ok(()) => {}
                Err(SendError::Store(err)) => return Err(err.into()),
                Err(SendError::Failed(error)) => {
                    tracing::warn!(action = %envelope.id, %error, "action failed; the job will try again");
                    failure.get_or_insert(JobError::Send { action: envelope.id.clone(), error });
                }
            }
        }
        if let Some(error) = failure {
            // The run will be tried again: what was sent must be known as sent.
            for action in &finished_by_the_run {
                self.record_sent(team, action, deadline).await?;
            }
            return Err(error);
        }
        Ok(())
    }

    /// Performs the actions of `dispatched` in order. Without a delivery watchdog (a failure
    /// notice), each is tried until [`UNKEPT_PATIENCE`] and a failure is logged. With one, each
    /// send is recorded and the watchdog is cancelled once all were sent; what failed, and
    /// everything once a send could not be recorded or half the watchdog's grace is over, is
    /// left to the watchdog, so that it never sends alongside. An action the platform refuses
    /// for good is told to the person who asked, and not tried again.
    pub async fn deliver(&self, dispatched: &Dispatched) {
        let _pending = Pending::count();
        let Some(watchdog) = &dispatched.watchdog else {
            let deadline = Instant::now() + UNKEPT_PATIENCE;
            for envelope in &dispatched.envelopes {
                if let Err(err) = self.send(envelope, deadline).await {
                    tracing::warn!(action = %envelope.id, error = %err, "action failed");
                }
            }
            return;
        };
        let sending = Sending { team: &watchdog.team, deadline: self.delivery_deadline(watchdog), since: None };
        let mut left = 0;
        let mut paced: Option<Duration> = None;
        // The last send is recorded together with the watchdog's cancellation: one round trip.
        let mut unrecorded = Vec::new();
        for (index, envelope) in dispatched.envelopes.iter().enumerate() {
            if Instant::now() >= sending.deadline {
                left += dispatched.envelopes.len() - index;
                break;
            }
            let last = (index + 1 == dispatched.envelopes.len()).then_some(&mut unrecorded);
            match self.send_kept(envelope, &sending, dispatched.origin.as_ref(), last).await {
                Ok(()) => {}
                Err(SendError::Failed(AdapterError::RateLimited(wait))) => {
                    tracing::info!(action = %envelope.id, ?wait, "its slot in the channel's pace comes after this delivery's deadline; the delivery watchdog sends it then");
                    paced = Some(paced.map_or(wait, |longest| longest.max(wait)));
                    left += 1;
                }
                Err(SendError::Failed(err)) => {
                    tracing::warn!(action = %envelope.id, error = %err, "action failed; the delivery watchdog will try again");
                    left += 1;
                }
                Err(SendError::Store(_)) => {
                    left += dispatched.envelopes.len() - index;
                    break;
                }
            }
        }
        if left == 0
            && let Some(received) = dispatched.received
        {
            metrics::command_latency(received.elapsed());
        }
        if let Some(wait) = paced {
            // The watchdog comes when the slot does, not at its grace: the slot is kept for it.
            let due = firebell_core::clock::after(self.dispatcher.clock().now(), wait);
            if let Err(err) = self.dispatcher.reschedule(&watchdog.team, &watchdog.job, due).await {
                tracing::warn!(watchdog = %watchdog.job.id, error = %err, "the delivery watchdog stays at its grace");
            }
        }
        if left > 0 {
            tracing::info!(watchdog = %watchdog.job.id, left, "actions left to the delivery watchdog");
        } else if self.dispatcher.delivered(watchdog, &unrecorded).await.is_ok() {
            return;
        }
        for action in &unrecorded {
            if let Err(err) = self.record_sent(&watchdog.team, action, sending.deadline).await {
                tracing::warn!(%action, error = %err, "sent, but the send could not be recorded");
            }
        }
        if left == 0 {
            tracing::warn!(watchdog = %watchdog.job.id, "sent, but the delivery watchdog stays; it will find nothing left");
        }
    }

    /// When a delivery guarded by `watchdog` stops and leaves the rest to it: half its grace
    /// before it comes due.
    fn delivery_deadline(&self, watchdog: &Watchdog) -> Instant {
        let grace = self.dispatcher.options().delivery_grace / 2;
        let stop = firebell_core::clock::before(watchdog.job.due, grace);
        Instant::now() + (stop - self.dispatcher.clock().now()).to_std().unwrap_or_default()
    }

    /// Sends one kept action (in parts, when it is longer than its platform takes) and records
    /// each send, or leaves the action's own record in `unrecorded` for the caller to make. With
    /// `sending.since`, the action may have been sent before without being recorded: what the
    /// store or the platform shows sent is recorded, not sent again. An action the platform
    /// refuses for good is recorded too (trying again changes nothing), logged, and told to
    /// `origin`.
    async fn send_kept(
        &self,
        envelope: &Envelope,
        sending: &Sending<'_>,
        origin: Option<&Origin>,
        unrecorded: Option<&mut Vec<String>>,
    ) -> Result<(), SendError> {
        let store = self.dispatcher.store();
        let again = sending.since.is_some();
        if again && store.is_sent(sending.team, &envelope.id).await? {
            return Ok(());
        }
        let pieces = self.pieces(envelope);
        for piece in &pieces {
            if again && pieces.len() > 1 && store.is_sent(sending.team, &piece.id).await? {
                continue;
            }
            let found = match sending.since {
                Some(since) => self.adapters.find_sent(piece, since).await.unwrap_or_else(|err| {
                    // A double is better than a loss; the operator sees how often it may happen.
                    tracing::warn!(action = %piece.id, error = %err, "cannot tell whether it was sent; sending, perhaps a second time");
                    let transport = piece.action.transport().map_or("none", |transport| transport.as_str());
                    metrics::sent_unchecked(transport);
                    false
                }),
                None => false,
            };
            if found {
                tracing::info!(action = %piece.id, "sent before by a replica that did not record it; not sent again");
            } else {
                match self.send(piece, sending.deadline).await {
                    Ok(()) if again => metrics::redelivered(1),
                    Ok(()) => {}
                    Err(AdapterError::Refused(reason)) => self.refused(piece, &reason, origin).await,
                    Err(err) => return Err(SendError::Failed(err)),
                }
            }
            if pieces.len() > 1 || unrecorded.is_none() {
                self.record_sent(sending.team, &piece.id, sending.deadline).await?;
            }
        }
        match unrecorded {
            Some(unrecorded) => unrecorded.push(envelope.id.clone()),
            None if pieces.len() > 1 => self.record_sent(sending.team, &envelope.id, sending.deadline).await?,
            None => {}
        }
        Ok(())
    }

    /// An action in parts that its platform takes: a message longer than the platform's limit
    /// becomes several, with ids `<action id>/<part>`; anything else stays as it is.
    fn pieces(&self, envelope: &Envelope) -> Vec<Envelope> {
        let Some(transport) = envelope.action.transport() else { return vec![envelope.clone()] };
        let limit = self.adapters.max_message_bytes(transport);
        let (message, rebuild): (&Message, Box<dyn Fn(Message) -> Action>) = match &envelope.action {
            Action::Send { room, message, thread } => {
                let (room, thread) = (room.clone(), thread.clone());
                (message, Box::new(move |message| Action::Send { room: room.clone(), message, thread: thread.clone() }))
            }
            Action::DirectMessage { user, message } => {
                let user = user.clone();
                (message, Box::new(move |message| Action::DirectMessage { user: user.clone(), message }))
            }
            Action::Ephemeral { room, user, message, thread } => {
                let (room, user, thread) = (room.clone(), user.clone(), thread.clone());
                (
                    message,
                    Box::new(move |message| Action::Ephemeral {
                        room: room.clone(),
                        user: user.clone(),
                        message,
                        thread: thread.clone(),
                    }),
                )
            }
            _ => return vec![envelope.clone()],
        };
        let parts = message.split(limit);
        if parts.len() == 1 {
            return vec![envelope.clone()];
        }
        parts
            .into_iter()
            .enumerate()
            .map(|(index, part)| Envelope { id: format!("{}/{index}", envelope.id), action: rebuild(part) })
            .collect()
    }

    /// Logs an action the platform refused for good, and tells the person who asked: in their
    /// room when the action was for another one, else (the bot cannot post in their room: it was
    /// not invited there) in a direct message.
    async fn refused(&self, envelope: &Envelope, reason: &str, origin: Option<&Origin>) {
        tracing::error!(action = %envelope.id, %reason, "the platform refuses this action for good; not trying again");
        let Some(origin) = origin else { return };
        let room = match &envelope.action {
            Action::Send { room, .. }
            | Action::SetTopic { room, .. }
            | Action::Invite { room, .. }
            | Action::Ephemeral { room, .. } => room,
            _ => return,
        };
        let action = if room != &origin.room {
            let text =
                Message::text("Firebell could not do everything you asked: in ").room(room).and(format!(", {reason}."));
            Action::Ephemeral {
                room: origin.room.clone(),
                user: origin.user.clone(),
                message: text,
                thread: origin.thread.clone(),
            }
        } else {
            let text = Message::text("Firebell could not answer you in ").room(room).and(format!(": {reason}."));
            Action::DirectMessage { user: origin.user.clone(), message: text }
        };
        let notice = Envelope { id: format!("{}#refused", envelope.id), action };
        if let Err(err) = self.perform(&notice, Instant::now() + UNKEPT_PATIENCE).await {
            tracing::warn!(action = %envelope.id, error = %err, "the person who asked could not be told");
        }
    }

    /// Performs one action (retrying a platform's passing trouble with a short backoff and
    /// waiting out its rate limits, but never past `deadline`), and tells the plugin that asked
    /// for a room or called a service how it went.
    async fn send(&self, envelope: &Envelope, deadline: Instant) -> Result<(), AdapterError> {
        match self.perform(envelope, deadline).await {
            Ok(Performed::RoomCreated(room)) => Box::pin(self.announce_room(envelope, room)).await,
            Ok(Performed::Called(response)) => Box::pin(self.announce_call(envelope, response)).await,
            Ok(Performed::Done) => {}
            Err(error @ (AdapterError::Unsupported { .. } | AdapterError::NoService(_))) => {
                tracing::warn!(action = %envelope.id, %error, "action cannot be performed; skipped");
            }
            Err(error) => return Err(error),
        }
        Ok(())
    }

    /// Records a send, retrying until `deadline` while the store is unreachable: the send
    /// happened, and forgetting it would send it again.
    async fn record_sent(&self, team: &TeamId, action: &str, deadline: Instant) -> Result<(), StoreError> {
        let deadline = deadline.max(Instant::now() + RECORD_PATIENCE);
        let mut wait = Duration::from_millis(100);
        loop {
            match self.dispatcher.store().mark_sent(team, action).await {
                Ok(()) => return Ok(()),
                Err(err) if Instant::now() + wait > deadline => return Err(err),
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
        let created = RoomCreated { key: spec.key.clone(), link: self.adapters.room_link(&room), room };
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

    /// Performs one action before `deadline`: a rate limit is waited out, a platform's passing
    /// trouble (an error 500, a dropped connection) is tried again after a short backoff, and an
    /// answer that does not come before the deadline is given up on.
    async fn perform(&self, envelope: &Envelope, deadline: Instant) -> Result<Performed, AdapterError> {
        let mut trouble = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let wait = match tokio::time::timeout(left, self.adapters.perform(envelope)).await {
                Err(_) => return Err(AdapterError::Platform("no answer before the delivery's deadline".into())),
                Ok(Err(AdapterError::RateLimited(wait))) => {
                    if let Some(transport) = envelope.action.transport() {
                        metrics::rate_limit_wait(transport.as_str());
                    }
                    wait.min(Duration::from_secs(30))
                }
                Ok(Err(AdapterError::Platform(reason))) if trouble < PASSING_TROUBLE => {
                    trouble += 1;
                    tracing::warn!(action = %envelope.id, %reason, "the platform had trouble; trying again shortly");
                    TROUBLE_BACKOFF * 2u32.pow(trouble - 1)
                }
                Ok(done) => return done,
            };
            if Instant::now() + wait >= deadline {
                return Err(AdapterError::RateLimited(wait));
            }
            tokio::time::sleep(wait).await;
        }
    }
}

impl JobError {
    /// How long until a send of the run may go, when it failed only because its slot in a
    /// channel's pace comes after the run's deadline.
    pub fn paced(&self) -> Option<Duration> {
        match self {
            JobError::Send { error: AdapterError::RateLimited(wait), .. } => Some(*wait),
            _ => None,
        }
    }
}

/// Counts a delivery in the pending deliveries metric while it lives.
struct Pending;

impl Pending {
    fn count() -> Self {
        metrics::deliveries_pending(1.0);
        Pending
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        metrics::deliveries_pending(-1.0);
    }
}

/// What the sender of a command that failed is told. A store that failed may have applied the
/// command before its answer was lost, so the sender is asked to check before trying again.
fn failure_notice(inbound: &Inbound, err: &DispatchError) -> Envelope {
    let text = match err {
        DispatchError::Store(_) => {
            format!("error: your command may not have been applied ({err}); check before trying again")
        }
        DispatchError::Contended(_) | DispatchError::Retry(_) => {
            format!("error: your command was not applied ({err}); please try again")
        }
    };
    let action = Action::Ephemeral {
        room: inbound.room.clone(),
        user: inbound.sender.clone(),
        message: Message::text(text),
        thread: inbound.thread.clone(),
    };
    Envelope { id: format!("{}:{}#failure", inbound.transport(), inbound.event_id), action }
}

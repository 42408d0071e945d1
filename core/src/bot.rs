//! The bot: a dispatcher plus the adapters that carry its actions out.

use std::time::Duration;

use crate::adapter::{AdapterError, Adapters};
use crate::dispatcher::{DispatchError, Dispatcher};
use crate::ids::RoomRef;
use crate::ids::TeamId;
use crate::job::Job;
use crate::message::{Action, Envelope, Inbound, Message, RoomCreated};
use crate::plugin::Event;
use crate::store::StoreError;

/// How many times an action is tried when the platform asks us to slow down.
const RATE_LIMIT_ATTEMPTS: u32 = 5;
/// How long recording a send is retried before the job run gives up (the store being down).
const RECORD_PATIENCE: Duration = Duration::from_secs(60);

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
}

impl Bot {
    /// A bot answering through `adapters`.
    pub fn new(dispatcher: Dispatcher, adapters: Adapters) -> Self {
        Self { dispatcher, adapters }
    }

    /// The dispatcher.
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// The adapters.
    pub fn adapters(&self) -> &Adapters {
        &self.adapters
    }

    /// Handles one inbound message to the end: dispatch, then perform every resulting action.
    /// When the store fails, the sender is told that nothing was applied.
    pub async fn handle(&self, inbound: Inbound) {
        let envelopes = match self.dispatcher.dispatch(&inbound).await {
            Ok(envelopes) => envelopes,
            Err(err) => {
                tracing::error!(event = %inbound.event_id, error = %err, "command failed");
                vec![failure_notice(&inbound, &err)]
            }
        };
        self.deliver(&envelopes).await;
    }

    /// Handles an event from outside the chat to the end. Returns whether it was handled (or
    /// had been before); an error means nothing was applied and the sender should retry.
    pub async fn handle_event(&self, event: &Event) -> Result<(), DispatchError> {
        let envelopes = self.dispatcher.dispatch_event(event).await?;
        self.deliver(&envelopes).await;
        Ok(())
    }

    /// Runs one due job of `team` to the end: decides and applies it, then sends what it sends,
    /// skipping what was recorded as sent before (by a replica that died halfway) and recording
    /// each send. When this returns `Ok`, the job may be finished.
    pub async fn run_job(&self, team: &TeamId, job: &Job) -> Result<(), JobError> {
        let envelopes = self.dispatcher.run_job(team, job).await?;
        let store = self.dispatcher.store();
        for envelope in &envelopes {
            if store.is_sent(team, &envelope.id).await? {
                continue;
            }
            match self.perform(envelope).await {
                Ok(_) => {}
                Err(error @ (AdapterError::Unsupported { .. } | AdapterError::NoService(_))) => {
                    tracing::warn!(action = %envelope.id, %error, "action cannot be performed; skipped");
                }
                Err(error) => return Err(JobError::Send { action: envelope.id.clone(), error }),
            }
            self.record_sent(team, &envelope.id).await?;
        }
        Ok(())
    }

    /// Records a send, retrying while the store is unreachable: the send happened, and forgetting
    /// it would send it again.
    async fn record_sent(&self, team: &TeamId, action: &str) -> Result<(), StoreError> {
        let started = tokio::time::Instant::now();
        let mut wait = Duration::from_millis(100);
        loop {
            match self.dispatcher.store().mark_sent(team, action).await {
                Ok(()) => return Ok(()),
                Err(err) if started.elapsed() >= RECORD_PATIENCE => return Err(err),
                Err(err) => {
                    tracing::warn!(%action, error = %err, "cannot record a send yet; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Performs `envelopes` in order, waiting out rate limits. A failed action is logged and
    /// does not stop the others. A created room is announced to the plugin that asked for it.
    pub async fn deliver(&self, envelopes: &[Envelope]) {
        for envelope in envelopes {
            match self.perform(envelope).await {
                Ok(Some(room)) => Box::pin(self.announce_room(envelope, room)).await,
                Ok(None) => {}
                Err(err) => tracing::warn!(action = %envelope.id, error = %err, "action failed"),
            }
        }
    }

    /// Tells the plugin that asked for a room (its [`RoomSpec::notify`]) that the room exists.
    async fn announce_room(&self, envelope: &Envelope, room: RoomRef) {
        let Action::CreateRoom { spec, .. } = &envelope.action else { return };
        let Some((team, plugin)) = &spec.notify else { return };
        let created = RoomCreated { key: spec.key.clone(), room };
        let event = Event {
            id: format!("{}:created", envelope.id),
            team: team.clone(),
            plugin: plugin.clone(),
            kind: "room-created".into(),
            data: serde_json::to_string(&created).expect("room events serialize"),
        };
        if let Err(err) = self.handle_event(&event).await {
            tracing::warn!(action = %envelope.id, error = %err, "the new room could not be announced");
        }
    }

    async fn perform(&self, envelope: &Envelope) -> Result<Option<RoomRef>, AdapterError> {
        let mut attempt = 1;
        loop {
            match self.adapters.perform(envelope).await {
                Err(AdapterError::RateLimited(wait)) if attempt < RATE_LIMIT_ATTEMPTS => {
                    tokio::time::sleep(wait.min(Duration::from_secs(30))).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }
}

fn failure_notice(inbound: &Inbound, err: &DispatchError) -> Envelope {
    let text = format!("error: your command was not applied ({err}); please try again");
    let action =
        Action::Send { room: inbound.room.clone(), message: Message::text(text), thread: inbound.thread.clone() };
    Envelope { id: format!("{}:{}#failure", inbound.transport(), inbound.event_id), action }
}

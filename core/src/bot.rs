//! The bot: a dispatcher plus the adapters that carry its actions out.

use std::time::Duration;

use crate::adapter::{AdapterError, Adapters};
use crate::dispatcher::{DispatchError, Dispatcher};
use crate::message::{Action, Envelope, Inbound, Message};

/// How many times an action is tried when the platform asks us to slow down.
const RATE_LIMIT_ATTEMPTS: u32 = 5;

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

    /// Performs `envelopes` in order, waiting out rate limits. A failed action is logged and
    /// does not stop the others.
    pub async fn deliver(&self, envelopes: &[Envelope]) {
        for envelope in envelopes {
            if let Err(err) = self.perform(envelope).await {
                tracing::warn!(action = %envelope.id, error = %err, "action failed");
            }
        }
    }

    async fn perform(&self, envelope: &Envelope) -> Result<(), AdapterError> {
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

//! Prometheus Alertmanager: the webhook receiver that turns alerts into paging events
//! ([`webhook`]), and the API client that silences acknowledged alerts and follows them until
//! they resolve ([`client`]).

pub mod client;
pub mod webhook;

pub use client::AlertmanagerClient;
pub use webhook::{ReceiveError, Receiver, ReceiverOptions, WebhookAuth, parse, router};

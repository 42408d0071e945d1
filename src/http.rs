//! The bot's HTTP server: the Alertmanager webhook, Slack's requests in HTTP mode, and health.
//!
//! It is exposed to whoever can reach the port, so it holds its ground ([`Limits`]): a client
//! gets 10 s to send a request's headers (also when a kept-alive connection sits idle) and 30 s
//! for its body, at most 512 connections are open at once (more are closed at once), and every
//! request body has a size limit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use firebell_plugin_paging::alertmanager::{self, Receiver, ReceiverOptions};
use firebell_runtime::bot::Bot;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::{Semaphore, watch};
use tower_http::timeout::RequestBodyTimeoutLayer;

/// What the server allows a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a client has to send a request's headers, and how long a kept-alive connection
    /// may sit idle.
    pub header_timeout: Duration,
    /// How long a client has to send a request's body.
    pub body_timeout: Duration,
    /// The most connections open at once.
    pub connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { header_timeout: Duration::from_secs(10), body_timeout: Duration::from_secs(30), connections: 512 }
    }
}

/// Why the HTTP server could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {address}: {reason}")]
pub struct ListenError {
    /// The address asked for.
    pub address: SocketAddr,
    /// What went wrong.
    pub reason: String,
}

/// Every route: `POST /alertmanager` (when the paging plugin is there) and `GET /health`.
pub fn routes(bot: Arc<Bot>, alerts: ReceiverOptions) -> Router {
    let health = Router::new().route("/health", get(|| async { "ok\n" }));
    if bot.dispatcher().registry().plugin("paging").is_none() {
        return health;
    }
    health.merge(alertmanager::router(Arc::new(Receiver::new(bot, alerts))))
}

/// Binds `address` and serves `routes` within `limits`, in the background until `stop` turns
/// true.
pub async fn serve(
    address: SocketAddr,
    routes: Router,
    limits: Limits,
    stop: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, ListenError> {
    let listener =
        tokio::net::TcpListener::bind(address).await.map_err(|err| ListenError { address, reason: err.to_string() })?;
    tracing::info!(%address, "HTTP server listening");
    let routes = routes.layer(RequestBodyTimeoutLayer::new(limits.body_timeout));
    Ok(tokio::spawn(accept(listener, routes, limits, stop)))
}

/// Accepts connections until `stop` turns true, each served in a task of its own.
async fn accept(listener: tokio::net::TcpListener, routes: Router, limits: Limits, mut stop: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(limits.connections));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(error = %err, "cannot accept an HTTP connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "too many HTTP connections; closing a new one");
            continue;
        };
        let service = TowerToHyperService::new(routes.clone());
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(err) = connection.await {
                tracing::debug!(%peer, error = %err, "HTTP connection ended");
            }
            drop(permit);
        });
    }
}

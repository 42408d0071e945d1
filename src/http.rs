//! The bot's HTTP server: the Alertmanager webhook and a health check.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use firebell_core::bot::Bot;
use firebell_plugin_paging::alertmanager::{self, Receiver, ReceiverOptions};

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

/// Binds `address` and serves `routes` in the background.
pub async fn serve(address: SocketAddr, routes: Router) -> Result<tokio::task::JoinHandle<()>, ListenError> {
    let listener =
        tokio::net::TcpListener::bind(address).await.map_err(|err| ListenError { address, reason: err.to_string() })?;
    tracing::info!(%address, "HTTP server listening");
    Ok(tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, routes).await {
            tracing::error!(error = %err, "HTTP server stopped");
        }
    }))
}

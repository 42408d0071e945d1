//! The bot's HTTP server: the Alertmanager webhook, Slack's requests in HTTP mode, health
//! (`/health/live`, `/health/ready`), Prometheus metrics (`/metrics`), and the pages plugins
//! serve under their web paths (`/oncall/<team>.ics`).
//!
//! It is exposed to whoever can reach the port, so it holds its ground ([`Limits`]): a client
//! gets 10 s to send a request's headers (also when a kept-alive connection sits idle) and 30 s
//! for its body, at most 512 connections are open at once (more are closed at once), and every
//! request body has a size limit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use firebell_core::state::Reads;
use firebell_plugin_paging::alertmanager::{self, Receiver, ReceiverOptions};
use firebell_runtime::bot::Bot;
use firebell_runtime::metrics as runtime_metrics;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use metrics_exporter_prometheus::PrometheusHandle;
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

/// The counter of requests for plugins' pages, by plugin and status.
pub const WEB_REQUESTS: &str = "firebell_web_requests_total";

/// How long the store has to answer a readiness check.
const READY_PATIENCE: Duration = Duration::from_secs(1);

/// Every route: `POST /alertmanager` (when the paging plugin is there), health, the plugins'
/// web paths, and `GET /metrics` when `metrics` is given.
pub fn routes(bot: Arc<Bot>, alerts: ReceiverOptions, metrics: Option<PrometheusHandle>) -> Router {
    let live = || async { "ok\n" };
    let mut routes = Router::new()
        .route("/health", get(live))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready).with_state(bot.clone()));
    metrics::describe_counter!(
        WEB_REQUESTS,
        "Requests for plugins' web pages (calendar feeds), by plugin and HTTP status."
    );
    for plugin in bot.dispatcher().registry().plugins() {
        for status in ["200", "404"] {
            metrics::counter!(WEB_REQUESTS, "plugin" => plugin.name(), "status" => status).increment(0);
        }
        for prefix in plugin.web_paths() {
            let page = get(plugin_page).with_state((bot.clone(), plugin.name()));
            routes = routes.route(&format!("{prefix}{{*rest}}"), page);
        }
    }
    let teams: Vec<String> = bot.dispatcher().teams().iter().map(|team| team.id.to_string()).collect();
    let root =
        bot.dispatcher().registry().plugins().iter().find_map(|plugin| Some((plugin.name(), plugin.web_root()?)));
    if let (Some((plugin, prefix)), [team]) = (root, teams.as_slice()) {
        let base = format!("{prefix}{team}");
        let page = get(root_page).with_state((bot.clone(), plugin, base));
        routes = routes.route("/", page.clone()).route("/{*rest}", page);
    }
    if let Some(handle) = metrics {
        routes = routes.route("/metrics", get(render_metrics).with_state((bot.clone(), handle)));
    }
    if bot.dispatcher().registry().plugin("paging").is_none() {
        return routes;
    }
    routes.merge(alertmanager::router(Arc::new(Receiver::new(bot, alerts))))
}

/// `GET` of a plugin's web path: the plugin answers (see [`Dispatcher::serve_web`]).
///
/// [`Dispatcher::serve_web`]: firebell_runtime::dispatcher::Dispatcher::serve_web
async fn plugin_page(
    State((bot, plugin)): State<(Arc<Bot>, &'static str)>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    let Ok(query) = serde_urlencoded::from_str::<Vec<(String, String)>>(query.as_deref().unwrap_or("")) else {
        return (StatusCode::BAD_REQUEST, "expected a query string of key=value pairs\n").into_response();
    };
    let trusted = bot.dispatcher().options().trusted_user_header.as_deref();
    let user = trusted
        .and_then(|name| headers.get(name))
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|user| !user.is_empty() && user.len() <= 256)
        .map(str::to_owned);
    let page = bot.dispatcher().serve_web(uri.path(), query, user).await;
    metrics::counter!(WEB_REQUESTS, "plugin" => plugin, "status" => page.status.to_string()).increment(1);
    let status = StatusCode::from_u16(page.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, page.body).into_response();
    let headers = response.headers_mut();
    let content_type = HeaderValue::from_str(&page.content_type).unwrap_or(HeaderValue::from_static("text/plain"));
    headers.insert(header::CONTENT_TYPE, content_type);
    for (name, value) in page.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.insert(name, value);
        }
    }
    response
}

/// `GET /` and what is not routed elsewhere, when the bot serves one team: that team's page of
/// the plugin with a web root (`/api/v2/summary.json` is `/status/<team>/api/v2/summary.json`).
async fn root_page(
    State((bot, plugin, base)): State<(Arc<Bot>, &'static str, String)>,
    uri: Uri,
    query: RawQuery,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    let rest = uri.path().trim_end_matches('/');
    let path: Uri = format!("{base}{rest}").parse().unwrap_or_else(|_| Uri::from_static("/"));
    plugin_page(State((bot, plugin)), path, query, headers).await
}

/// `GET /health/ready`: 200 when the store answers within [`READY_PATIENCE`] and every adapter
/// is connected; 503 with the reason, as one line of JSON, otherwise.
async fn ready(State(bot): State<Arc<Bot>>) -> (StatusCode, Json<serde_json::Value>) {
    let store = tokio::time::timeout(READY_PATIENCE, bot.dispatcher().store().ping()).await;
    let reason = match store {
        Err(_) => Some(format!("the store did not answer within {READY_PATIENCE:?}")),
        Ok(Err(err)) => Some(format!("the store does not answer: {err}")),
        Ok(Ok(())) => bot
            .adapters()
            .connections()
            .into_iter()
            .find(|(_, connected)| !connected)
            .map(|(transport, _)| format!("the {transport} adapter is not connected")),
    };
    match reason {
        None => (StatusCode::OK, Json(serde_json::json!({ "ready": true }))),
        Some(reason) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "ready": false, "reason": reason })))
        }
    }
}

/// Reads each team's open incidents and unacknowledged pages into their gauges.
async fn read_team_loads(bot: &Bot) {
    let store = bot.dispatcher().store().as_ref();
    for team in bot.dispatcher().teams().iter() {
        let reads = Reads::new(store, Some(&team.id), None);
        let incidents = firebell_plugin_incident::open_incidents_of(&reads).await.map(|open| open.len());
        let pages = firebell_plugin_paging::unacknowledged_pages(&reads).await;
        match (incidents, pages) {
            (Ok(incidents), Ok(pages)) => runtime_metrics::team_load(team.id.as_str(), incidents, pages),
            (Err(err), _) | (_, Err(err)) => {
                tracing::warn!(team = %team.id, error = %err, "cannot read a team's load for /metrics");
                return;
            }
        }
    }
}

/// `GET /metrics`: every metric in Prometheus's text format, with the gauges read at scrape
/// time (each team's open incidents and unacknowledged pages, the adapters' connections).
async fn render_metrics(State((bot, handle)): State<(Arc<Bot>, PrometheusHandle)>) -> impl IntoResponse {
    for (transport, connected) in bot.adapters().connections() {
        runtime_metrics::adapter_connected(transport.as_str(), connected);
    }
    // A store that does not answer must not make the scrape fail: the other metrics say why.
    if tokio::time::timeout(READY_PATIENCE, read_team_loads(&bot)).await.is_err() {
        tracing::warn!("the teams' open incidents and pages could not be read for /metrics in time");
    }
    handle.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render())
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

//! The operator's HTTP surface (DESIGN.md §10): the JSON API under `/api/v1/`, Prometheus
//! `/metrics` and the dashboard page, served by axum on `[api] listen`.
//!
//! A sampler task asks the core for a snapshot once a second; every request is answered from
//! the latest one, so a dashboard left open on many screens or a scraper costs the core
//! nothing more. Reading needs no credentials; a request that changes state needs the bearer
//! token of `[api]`.

mod auth;
mod dashboard;
mod devices;
mod exposition;
mod history;
pub mod metrics;
pub mod model;
mod view;

#[cfg(test)]
mod dashboard_tests;
#[cfg(test)]
mod metrics_tests;
#[cfg(test)]
pub(crate) mod tests;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::allocations::ReloadRequest;
use crate::config::ApiToken;
use crate::node::CoreInput;
use crate::wall_clock::unix_now;

pub use devices::{DeviceQuery, MAX_PAGE};
pub use history::SAMPLE_INTERVAL_S;
pub use view::{NodeInfo, Sample};

/// How often the core is asked for a snapshot.
const SNAPSHOT_INTERVAL: Duration = Duration::from_secs(1);
/// How long the sampler waits for a busy core before trying again.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a reload request may take before the API gives up waiting.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Events returned when the request does not say.
const DEFAULT_EVENTS: usize = 100;

/// What the API serves and how it may change the node.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub info: NodeInfo,
    /// Needed for state changes; `None` refuses them all.
    pub token: Option<ApiToken>,
    /// The allocations file's watcher, when there is a file.
    pub reload: Option<async_channel::Sender<ReloadRequest>>,
}

/// What every request handler reads.
struct Shared {
    settings: ApiSettings,
    latest: watch::Receiver<Option<Arc<Sample>>>,
    history: Mutex<history::RateHistory>,
}

type AppState = Arc<Shared>;

/// Starts the sampler and the HTTP server on `listener`; both end at shutdown.
pub fn spawn(
    listener: tokio::net::TcpListener,
    settings: ApiSettings,
    inbox: async_channel::Sender<CoreInput>,
    shutdown: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let (latest_tx, latest_rx) = watch::channel(None);
    let shared = Arc::new(Shared {
        settings,
        latest: latest_rx,
        history: Mutex::new(history::RateHistory::default()),
    });
    let sampler = tokio::spawn(sample(
        inbox,
        latest_tx,
        Arc::clone(&shared),
        shutdown.clone(),
    ));
    let app = router(shared);
    let server = tokio::spawn(async move {
        let mut shutdown = shutdown;
        let stop = async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            warn!(%error, "API server ended");
        }
    });
    vec![sampler, server]
}

/// The API's routes, on `shared` state.
fn router(shared: AppState) -> Router {
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/devices", get(devices))
        .route("/api/v1/routes", get(routes))
        .route("/api/v1/allocations", get(allocations))
        .route("/api/v1/allocations/reload", post(reload_allocations))
        .route("/api/v1/events", get(events))
        .route("/api/v1/history", get(history))
        .route("/", get(dashboard::index))
        .route("/assets/app.js", get(dashboard::app_js))
        .route("/assets/style.css", get(dashboard::style_css))
        .route("/favicon.ico", get(dashboard::favicon))
        .route("/metrics", get(prometheus_metrics))
        .fallback(not_found)
        .with_state(shared)
}

/// Asks the core for a snapshot every second and publishes it; every fifth goes into the
/// chart's history.
async fn sample(
    inbox: async_channel::Sender<CoreInput>,
    latest: watch::Sender<Option<Arc<Sample>>>,
    shared: AppState,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(SNAPSHOT_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_history = 0;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.changed() => return,
        }
        let (reply, answer) = oneshot::channel();
        if inbox.send(CoreInput::Snapshot(reply)).await.is_err() {
            return;
        }
        let Ok(Ok(mut snapshot)) = tokio::time::timeout(SNAPSHOT_TIMEOUT, answer).await else {
            warn!("the core did not answer a snapshot request in time");
            continue;
        };
        let taken_unix = unix_now();
        if snapshot.unix == 0 {
            snapshot.unix = taken_unix;
        }
        if taken_unix >= last_history + SAMPLE_INTERVAL_S {
            last_history = taken_unix;
            if let Ok(mut history) = shared.history.lock() {
                history.record(&snapshot, taken_unix);
            }
        }
        let _ = latest.send(Some(Arc::new(Sample {
            snapshot,
            taken_unix,
        })));
    }
}

/// An error answer: a status and `{"error": ...}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(model::ErrorBody {
            error: self.message,
        });
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// The latest snapshot, or 503 while the first is awaited.
fn latest(shared: &Shared) -> Result<Arc<Sample>, ApiError> {
    shared.latest.borrow().clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node is starting: no snapshot yet",
        )
    })
}

async fn health(State(shared): State<AppState>) -> Response {
    let sample = shared.latest.borrow().clone();
    let health = view::health(&shared.settings.info, sample.as_deref(), unix_now());
    let status = match health.status {
        model::Status::Ok | model::Status::Degraded => StatusCode::OK,
        model::Status::Down | model::Status::Starting => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(health)).into_response()
}

async fn devices(
    State(shared): State<AppState>,
    query: Result<Query<DeviceQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<model::DevicePage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let sample = latest(&shared)?;
    let snapshot = &sample.snapshot;
    let all = snapshot
        .devices
        .iter()
        .map(|d| view::device(d, &snapshot.routes))
        .collect();
    devices::page(all, &query)
        .map(Json)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))
}

async fn routes(State(shared): State<AppState>) -> Result<Json<model::Routes>, ApiError> {
    Ok(Json(view::routes(&latest(&shared)?.snapshot)))
}

async fn allocations(State(shared): State<AppState>) -> Result<Json<model::Allocations>, ApiError> {
    Ok(Json(view::allocations(&latest(&shared)?.snapshot)))
}

/// `?limit=100&after=<seq>`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    limit: Option<usize>,
    after: Option<u64>,
}

async fn events(
    State(shared): State<AppState>,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<model::Events>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let limit = query
        .limit
        .unwrap_or(DEFAULT_EVENTS)
        .min(crate::core::EVENT_LOG_CAPACITY);
    Ok(Json(view::events(
        &latest(&shared)?.snapshot,
        limit,
        query.after,
    )))
}

async fn history(State(shared): State<AppState>) -> Result<Json<model::History>, ApiError> {
    let history = shared
        .history
        .lock()
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "history unavailable"))?;
    Ok(Json(history.to_model()))
}

async fn reload_allocations(
    State(shared): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<model::Reloaded>, ApiError> {
    auth::authorize(&headers, shared.settings.token.as_ref())?;
    let Some(reload) = &shared.settings.reload else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no allocations file is configured ([allocations] file)",
        ));
    };
    let (reply, answer) = oneshot::channel();
    let unavailable = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the allocations watcher is not answering",
        )
    };
    reload.try_send(reply).map_err(|_| unavailable())?;
    match tokio::time::timeout(RELOAD_TIMEOUT, answer).await {
        Ok(Ok(Ok(allocations))) => {
            info!(allocations, "allocations reloaded through the API");
            Ok(Json(model::Reloaded { allocations }))
        }
        Ok(Ok(Err(refused))) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("allocations file refused, the running allocations stay in force: {refused}"),
        )),
        _ => Err(unavailable()),
    }
}

/// `GET /metrics`: the Prometheus text exposition of the latest snapshot; 503 with a comment
/// line (still valid exposition text) until the first snapshot.
async fn prometheus_metrics(State(shared): State<AppState>) -> Response {
    let content_type = [(axum::http::header::CONTENT_TYPE, exposition::CONTENT_TYPE)];
    let sample = shared.latest.borrow().clone();
    match sample {
        Some(sample) => {
            let body = metrics::render(&shared.settings.info, &sample, unix_now());
            (StatusCode::OK, content_type, body).into_response()
        }
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            content_type,
            "# the node is starting: no snapshot yet\n",
        )
            .into_response(),
    }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such page")
}

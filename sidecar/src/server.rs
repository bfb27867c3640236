//! HTTP routes: `GET /ws` (the WebSocket), `GET /health`, `GET /metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;
use ticketbuster_domain::token::TokenVerifier;
use ticketbuster_services::notifications::StreamId;
use tokio_util::task::TaskTracker;

use crate::connection::{self, Session};

/// The subprotocol a browser names beside its token:
/// `new WebSocket(url, ["bearer", token])`.
pub const BEARER_PROTOCOL: &str = "bearer";

/// Client frames are small JSON commands.
const MAX_CLIENT_MESSAGE_BYTES: usize = 4 * 1024;

pub struct App {
    pub session: Arc<Session>,
    pub verifier: TokenVerifier,
    pub feed_subscribed: Arc<AtomicBool>,
    pub connections: TaskTracker,
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/ws", get(upgrade))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(app)
}

#[derive(Deserialize)]
struct Connect {
    token: Option<String>,
    last_id: Option<String>,
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message}});
    (status, axum::Json(body)).into_response()
}

/// The token from the `token` parameter or from `Sec-WebSocket-Protocol: bearer, <token>`.
fn token<'a>(query: &'a Connect, headers: &'a HeaderMap) -> Option<&'a str> {
    query.token.as_deref().or_else(|| {
        headers
            .get(header::SEC_WEBSOCKET_PROTOCOL)?
            .to_str()
            .ok()?
            .split(',')
            .map(str::trim)
            .find(|p| !p.is_empty() && !p.eq_ignore_ascii_case(BEARER_PROTOCOL))
    })
}

async fn upgrade(
    State(app): State<Arc<App>>,
    Query(query): Query<Connect>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(token) = token(&query, &headers) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send an access token: ?token=<token> or Sec-WebSocket-Protocol: bearer, <token>",
        );
    };
    let caller = match app.verifier.verify(token) {
        Ok(caller) => caller,
        Err(e) => return refuse(StatusCode::UNAUTHORIZED, "unauthorized", &e.message),
    };
    let resume_after = match query.last_id.as_deref().map(StreamId::parse) {
        None => None,
        Some(Some(id)) => Some(id),
        Some(None) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "validation_failed",
                "last_id must be the id of a notification received before, like 1700000000000-0",
            );
        }
    };
    let Ok(start) = connection::starting_point(&app.session, &caller.user_id, resume_after).await
    else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "notifications are unavailable right now; retry in a moment",
        );
    };
    let session = app.session.clone();
    let connections = app.connections.clone();
    ws.protocols([BEARER_PROTOCOL])
        .read_buffer_size(MAX_CLIENT_MESSAGE_BYTES)
        .write_buffer_size(0)
        .max_message_size(MAX_CLIENT_MESSAGE_BYTES)
        .max_frame_size(MAX_CLIENT_MESSAGE_BYTES)
        .on_upgrade(move |socket| {
            connections.track_future(connection::run(session, socket, caller.user_id, start))
        })
}

async fn health(State(app): State<Arc<App>>) -> Response {
    let subscribed = app.feed_subscribed.load(Ordering::Acquire);
    let status = if subscribed {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if subscribed { "ok" } else { "degraded" },
        "redis_feed": if subscribed { "subscribed" } else { "reconnecting" },
        "connections": app.session.hub.connections(),
    });
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.session.metrics.render(),
    )
        .into_response()
}

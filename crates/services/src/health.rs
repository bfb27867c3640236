//! `GET /api/health`: 200 when PostgreSQL and Redis both answer, else 503.

use http::StatusCode;
use serde_json::json;

use crate::backend::Backend;
use crate::web::{self, Request, Response};

pub async fn handle(backend: &impl Backend, _req: Request) -> Response {
    let postgres = backend.query("SELECT 1::int8 AS ok", &[]).await;
    let redis = backend.redis_ping().await;
    let describe = |result: Result<(), String>| match result {
        Ok(()) => "ok".to_string(),
        Err(e) => {
            eprintln!("health: {e}");
            "unreachable".to_string()
        }
    };
    let healthy = postgres.is_ok() && redis.is_ok();
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    web::json(
        status,
        &json!({
            "status": if healthy { "ok" } else { "degraded" },
            "postgres": describe(postgres.map(|_| ()).map_err(|e| e.to_string())),
            "redis": describe(redis.map_err(|e| e.to_string())),
        }),
    )
}

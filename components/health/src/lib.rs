//! The health component: `GET /api/health`, 200 when PostgreSQL and Redis answer.

use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;
use ticketbuster_services::health;
use ticketbuster_spin_backend::{no_settings, serve};

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    serve(req, no_settings(), async |backend, (), req| {
        health::handle(backend, req).await
    })
    .await
}

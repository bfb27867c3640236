//! The health component: `GET /api/health`, `/api/health/ready` and `/api/health/worker`.

use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;
use ticketbuster_services::health;
use ticketbuster_spin_backend::{serve, settings};

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    serve(
        req,
        settings::settlement(),
        async |backend, settlement, req| health::handle(backend, *settlement, req).await,
    )
    .await
}

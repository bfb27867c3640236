//! The catalog component: `GET /api/events`, `/api/events/{id}`, and the seat map of `/api/events/{id}`: `/seats`, `/layout`, `/seat-status`.

use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;
use ticketbuster_services::catalog;
use ticketbuster_spin_backend::{no_settings, serve};

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    serve(req, no_settings(), async |backend, (), req| {
        catalog::handle(backend, req).await
    })
    .await
}

//! The seat-lock component: `POST /api/events/{id}/holds`, `GET /api/holds`, `DELETE /api/holds/{id}`.

use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;
use ticketbuster_services::holds;
use ticketbuster_spin_backend::{serve, settings};

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    serve(req, settings::hold_settings(), holds::handle).await
}

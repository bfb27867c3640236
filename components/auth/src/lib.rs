//! The auth component: `/api/auth/...` (register, login, refresh, logout, me).

use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;
use ticketbuster_services::auth;
use ticketbuster_spin_backend::{serve, settings};

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    serve(req, settings::auth_settings(), auth::handle).await
}

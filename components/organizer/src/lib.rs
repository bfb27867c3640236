//! The organizer component: `/api/organizer/events/...` (create, change, publish, cancel,
//! sales, attendees, gate staff).

use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;
use ticketbuster_services::organizer;
use ticketbuster_spin_backend::{serve, settings};

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    serve(req, settings::organizer_settings(), organizer::handle).await
}

//! The waiting-room component: `POST`/`GET /api/events/{id}/queue` and
//! `PUT`/`GET`/`DELETE /api/organizer/events/{id}/waiting-room`.

use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;
use ticketbuster_services::waiting_room;
use ticketbuster_spin_backend::{serve, settings};

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    serve(req, settings::waiting_room_settings(), waiting_room::handle).await
}

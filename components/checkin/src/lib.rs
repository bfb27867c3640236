//! The checkin component: `GET /api/checkins/events`, `POST /api/checkins`,
//! `POST /api/checkins/batch` and `GET /api/events/{id}/gate-bundle`.

use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;
use ticketbuster_services::checkins::{self, MAX_BATCH_BODY_BYTES};
use ticketbuster_spin_backend::{serve_up_to, settings};

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    serve_up_to(
        req,
        MAX_BATCH_BODY_BYTES,
        settings::checkin_settings(),
        checkins::handle,
    )
    .await
}

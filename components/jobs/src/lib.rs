//! The jobs component, for hosts that run HTTP triggers only: `POST /api/jobs/run`, called
//! by the platform's scheduler with the jobs token, settles orders whose after-response
//! work was lost and runs the hold-expiry jobs that the sidecar runs elsewhere.

use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;
use ticketbuster_services::jobs;
use ticketbuster_spin_backend::{serve, settings};

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    serve(
        req,
        settings::jobs_settings(),
        async |backend, settings, req| jobs::handle(backend, settings, req).await,
    )
    .await
}

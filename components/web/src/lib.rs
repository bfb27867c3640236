//! The web component: the buyer's app (the built `frontend/`) at `/`.

use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;
use ticketbuster_services::site;
use ticketbuster_spin_backend::serve;
use ticketbuster_spin_backend::settings::site_settings;

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    serve(req, site_settings(), async |_backend, site, req| {
        site::handle(site, &req)
    })
    .await
}

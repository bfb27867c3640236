//! The orders component: `/api/orders/...` and `/api/tickets/{id}/qr.svg|png`.
//! QR images come from the `qr` component, imported through a Spin component dependency.

use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;
use ticketbuster_services::orders::{self, QrRenderer};
use ticketbuster_spin_backend::{serve, settings};

spin_sdk::wit_bindgen::generate!({
    path: "../../wit",
    world: "renderer-user",
    runtime_path: "::spin_sdk::wit_bindgen::rt",
});

use ticketbuster::tickets::qr;

struct QrComponent;

impl QrRenderer for QrComponent {
    fn svg(&self, payload: &str) -> Result<String, String> {
        qr::render_svg(payload)
    }

    fn png(&self, payload: &str, module_pixels: u32) -> Result<Vec<u8>, String> {
        qr::render_png(payload, module_pixels)
    }
}

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    serve(
        req,
        settings::order_settings(),
        async |backend, settings, req| orders::handle(backend, settings, &QrComponent, req).await,
    )
    .await
}

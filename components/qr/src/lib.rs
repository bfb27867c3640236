//! The `renderer` world: a pure-computation component, so orders can render
//! QR codes through a component dependency without a network hop.

wit_bindgen::generate!({
    world: "renderer",
    path: "../../wit",
});

use exports::ticketbuster::tickets::qr::Guest;

struct Qr;

impl Guest for Qr {
    fn render_svg(payload: String) -> Result<String, String> {
        ticketbuster_qr_render::svg(&payload).map_err(|e| e.to_string())
    }

    fn render_png(payload: String, module_pixels: u32) -> Result<Vec<u8>, String> {
        ticketbuster_qr_render::png(&payload, module_pixels).map_err(|e| e.to_string())
    }
}

export!(Qr);

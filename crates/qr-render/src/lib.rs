//! QR rendering for ticket codes.
//!
//! Kept free of Spin and WIT types so the rendering can be unit-tested (and
//! round-tripped through a decoder) natively; `components/qr` is only glue.

use std::fmt::Write as _;
use std::ops::RangeInclusive;

use qrcode::canvas::{Canvas, MaskPattern};
use qrcode::{Color, EcLevel};

/// Longest payload accepted. A signed ticket code is ~250 bytes; the cap
/// leaves headroom while keeping codes scannable and work per call bounded.
pub const MAX_PAYLOAD_BYTES: usize = 1_000;

/// Allowed PNG module sizes. Bounds the image (at most 185 × 32 = 5,920 px a
/// side) so a caller cannot make the component allocate without limit.
pub const MODULE_PIXELS: RangeInclusive<u32> = 1..=32;

/// Light border, in modules, that the QR spec requires for scanners to lock on.
pub const QUIET_ZONE: usize = 4;

/// Medium recovers ~15% damage (scuffed printouts, cracked screens) while
/// keeping a 250-byte code at version 11 rather than a denser one.
const EC_LEVEL: EcLevel = EcLevel::M;

const DARK: u8 = 0x00;
const LIGHT: u8 = 0xFF;

/// Why a payload could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    #[error("payload is empty")]
    EmptyPayload,
    #[error("payload is {len} bytes; at most {MAX_PAYLOAD_BYTES} are allowed")]
    PayloadTooLong { len: usize },
    #[error("module_pixels is {0}; it must be within 1..=32")]
    ModulePixels(u32),
    /// Should not happen below `MAX_PAYLOAD_BYTES`, but the encoder is fallible.
    #[error("QR encoding failed: {0}")]
    Encode(#[from] qrcode::types::QrError),
    /// Writing to memory should not fail; the encoder's API is fallible anyway.
    #[error("PNG encoding failed: {0}")]
    Png(#[from] png::EncodingError),
}

/// An SVG document: one `<path>` of horizontal runs, in module units, so it
/// stays small and scales crisply to whatever size the page gives it.
pub fn svg(payload: &str) -> Result<String, QrError> {
    let code = encode(payload)?;
    let width = code.width;
    let side = width + 2 * QUIET_ZONE;

    let mut path = String::new();
    for (y, row) in code.modules.chunks(width).enumerate() {
        for (start, len) in dark_runs(row) {
            // Writing to a String cannot fail.
            let _ = write!(
                path,
                "M{},{}h{len}v1h-{len}z",
                start + QUIET_ZONE,
                y + QUIET_ZONE
            );
        }
    }

    Ok(format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}" shape-rendering="crispEdges"><rect width="{side}" height="{side}" fill="#fff"/><path fill="#000" d="{path}"/></svg>"##
    ))
}

/// A greyscale 8-bit PNG, `module_pixels` per module plus the quiet zone, for
/// clients (e-mail, wallet passes) that cannot show SVG.
pub fn png(payload: &str, module_pixels: u32) -> Result<Vec<u8>, QrError> {
    if !MODULE_PIXELS.contains(&module_pixels) {
        return Err(QrError::ModulePixels(module_pixels));
    }
    let code = encode(payload)?;
    let scale = module_pixels as usize;
    let width = code.width;
    let side = (width + 2 * QUIET_ZONE) * scale;

    let mut pixels = vec![LIGHT; side * side];
    let mut line = vec![LIGHT; side];
    for (y, row) in code.modules.chunks(width).enumerate() {
        // Build one pixel row per module row, then repeat it `scale` times.
        line.fill(LIGHT);
        for (start, len) in dark_runs(row) {
            let from = (start + QUIET_ZONE) * scale;
            line[from..from + len * scale].fill(DARK);
        }
        let top = (y + QUIET_ZONE) * scale;
        for px_row in pixels[top * side..(top + scale) * side].chunks_exact_mut(side) {
            px_row.copy_from_slice(&line);
        }
    }

    // `side` is at most 5,920 (see MODULE_PIXELS), so it fits a u32.
    let side = side as u32;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    // Two-tone images compress well at the fastest setting; the default costs ~1 ms more.
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(out)
}

/// Validates before encoding, so bad input is refused cheaply and with a
/// clearer error than the encoder's `DataTooLong`.
///
/// The mask is fixed rather than chosen by scoring all eight: scoring was about four
/// fifths of the encoding time, and every mask is valid QR that scanners read.
fn encode(payload: &str) -> Result<Modules, QrError> {
    if payload.is_empty() {
        return Err(QrError::EmptyPayload);
    }
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(QrError::PayloadTooLong { len: payload.len() });
    }
    let bits = qrcode::bits::encode_auto(payload.as_bytes(), EC_LEVEL)?;
    let version = bits.version();
    let (data, error_correction) =
        qrcode::ec::construct_codewords(&bits.into_bytes(), version, EC_LEVEL)?;
    // A version's width is 21..=177 modules, so the cast cannot lose anything.
    let width = version.width() as usize;
    let mut canvas = Canvas::new(version, EC_LEVEL);
    canvas.draw_all_functional_patterns();
    canvas.draw_data(&data, &error_correction);
    canvas.apply_mask(MASK);
    Ok(Modules {
        width,
        modules: canvas.into_colors(),
    })
}

const MASK: MaskPattern = MaskPattern::Checkerboard;

/// A QR code's modules, row by row.
struct Modules {
    width: usize,
    modules: Vec<Color>,
}

/// `(start, length)` of each run of dark modules in a row; both renderers
/// draw runs rather than single modules, which keeps the SVG path short.
fn dark_runs(row: &[Color]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut x = 0;
    std::iter::from_fn(move || {
        let start = x + row[x..].iter().position(|c| *c == Color::Dark)?;
        let len = row[start..]
            .iter()
            .position(|c| *c == Color::Light)
            .unwrap_or(row.len() - start);
        x = start + len;
        Some((start, len))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped like a real ticket code: an EdDSA JWT, base64url with two dots.
    const TICKET: &str = "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJvcmRfN2YzYTljMmUiLCJ0a3QiOiJ0a3RfMDFKOVo4SzRXNiIsInNlYXQiOiJCLTE0IiwiaWF0IjoxNzYzOTAwMDAwLCJleHAiOjE3NjQ1MDQ4MDB9.AHPsJm1PtK2_PRBKpxT58RAy_Yq22IKfxAtSyG9khdeSjMLr1GRvP-PzdL4R2QW_S-J1-obziJ2CqffcXkHdMg";

    /// Version 11 is 61 modules wide; the 248-byte ticket needs it at level M.
    const TICKET_MODULES: usize = 61;

    const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n'];

    fn decode_png(bytes: &[u8]) -> (usize, usize, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().expect("PNG header");
        let size = reader.output_buffer_size().expect("buffer size");
        let mut buf = vec![0; size];
        let info = reader.next_frame(&mut buf).expect("PNG frame");
        assert_eq!(info.color_type, png::ColorType::Grayscale);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        buf.truncate(info.buffer_size());
        (info.width as usize, info.height as usize, buf)
    }

    fn scan(bytes: &[u8]) -> Vec<String> {
        let (w, h, grey) = decode_png(bytes);
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| grey[y * w + x]);
        image
            .detect_grids()
            .iter()
            .map(|grid| grid.decode().expect("decodable grid").1)
            .collect()
    }

    #[test]
    fn ticket_payload_is_realistic() {
        assert_eq!(TICKET.len(), 248);
        assert_eq!(TICKET.matches('.').count(), 2);
        assert_eq!(encode(TICKET).unwrap().width, TICKET_MODULES, "version 11");
    }

    #[test]
    fn svg_is_a_document_with_quiet_zone_view_box() {
        let svg = svg(TICKET).unwrap();
        assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"));
        assert!(svg.ends_with("</svg>"));
        let side = TICKET_MODULES + 2 * QUIET_ZONE;
        assert!(svg.contains(&format!(r#"viewBox="0 0 {side} {side}""#)));
        // Nothing is drawn inside the quiet zone.
        assert!(
            svg.contains(r#"d="M4,4h7v1h-7z"#),
            "finder pattern starts at (4,4)"
        );
    }

    #[test]
    fn svg_of_short_payload_is_version_1() {
        let svg = svg("T-1").unwrap();
        assert!(svg.contains(r#"viewBox="0 0 29 29""#));
    }

    #[test]
    fn png_has_signature_and_expected_width() {
        for module_pixels in [1, 8, 32] {
            let bytes = png(TICKET, module_pixels).unwrap();
            assert_eq!(bytes[..8], PNG_SIGNATURE);
            let (w, h, grey) = decode_png(&bytes);
            let expected = (TICKET_MODULES + 2 * QUIET_ZONE) * module_pixels as usize;
            assert_eq!((w, h), (expected, expected));
            assert_eq!(grey.len(), w * h);
            // Quiet zone corner is light; the finder pattern just inside it is dark.
            let q = QUIET_ZONE * module_pixels as usize;
            assert_eq!(grey[0], LIGHT);
            assert_eq!(grey[(q - 1) * w + q - 1], LIGHT);
            assert_eq!(grey[q * w + q], DARK);
        }
    }

    #[test]
    fn png_round_trips_through_a_decoder() {
        for module_pixels in [2, 4, 8] {
            let bytes = png(TICKET, module_pixels).unwrap();
            assert_eq!(scan(&bytes), [TICKET], "module_pixels = {module_pixels}");
        }
    }

    #[test]
    fn empty_payload_is_refused() {
        assert!(matches!(svg(""), Err(QrError::EmptyPayload)));
        assert!(matches!(png("", 8), Err(QrError::EmptyPayload)));
    }

    #[test]
    fn payload_over_limit_is_refused() {
        let at_limit = "A".repeat(MAX_PAYLOAD_BYTES);
        assert!(svg(&at_limit).is_ok());
        let over = "A".repeat(MAX_PAYLOAD_BYTES + 1);
        assert!(matches!(
            svg(&over),
            Err(QrError::PayloadTooLong { len: 1_001 })
        ));
        assert!(matches!(
            png(&over, 8),
            Err(QrError::PayloadTooLong { len: 1_001 })
        ));
        // The limit counts bytes, not characters.
        let multibyte = "é".repeat(501);
        assert!(matches!(
            svg(&multibyte),
            Err(QrError::PayloadTooLong { len: 1_002 })
        ));
    }

    #[test]
    fn module_pixels_out_of_range_is_refused() {
        for bad in [0, 33, u32::MAX] {
            assert!(matches!(
                png(TICKET, bad),
                Err(QrError::ModulePixels(n)) if n == bad
            ));
        }
        assert!(png(TICKET, 1).is_ok());
        assert!(png(TICKET, 32).is_ok());
    }

    #[test]
    fn errors_read_well() {
        assert_eq!(
            QrError::ModulePixels(0).to_string(),
            "module_pixels is 0; it must be within 1..=32"
        );
        assert_eq!(
            QrError::PayloadTooLong { len: 1_001 }.to_string(),
            "payload is 1001 bytes; at most 1000 are allowed"
        );
    }

    #[test]
    fn dark_runs_cover_edges() {
        use Color::{Dark as D, Light as L};
        let runs: Vec<_> = dark_runs(&[D, D, L, D, L, L, D]).collect();
        assert_eq!(runs, [(0, 2), (3, 1), (6, 1)]);
        assert_eq!(dark_runs(&[L, L]).count(), 0);
        assert_eq!(dark_runs(&[]).count(), 0);
    }

    /// Release-mode timing: `cargo test --release -p ticketbuster-qr-render
    /// -- --ignored --nocapture timing`.
    #[test]
    #[ignore = "timing, not a check"]
    fn timing() {
        fn median(mut f: impl FnMut()) -> std::time::Duration {
            for _ in 0..20 {
                f();
            }
            let mut times: Vec<_> = (0..201)
                .map(|_| {
                    let start = std::time::Instant::now();
                    f();
                    start.elapsed()
                })
                .collect();
            times.sort();
            times[times.len() / 2]
        }
        let encode_t = median(|| {
            std::hint::black_box(encode(std::hint::black_box(TICKET)).unwrap());
        });
        let svg_t = median(|| {
            std::hint::black_box(svg(std::hint::black_box(TICKET)).unwrap());
        });
        let png_t = median(|| {
            std::hint::black_box(png(std::hint::black_box(TICKET), 8).unwrap());
        });
        let svg_len = svg(TICKET).unwrap().len();
        let png_len = png(TICKET, 8).unwrap().len();
        println!("encode() alone: median {encode_t:?}");
        println!("svg(): median {svg_t:?} ({svg_len} bytes)");
        println!("png(.., 8): median {png_t:?} ({png_len} bytes)");
    }
}

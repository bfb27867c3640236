//! Compressed answers: JSON and text bodies go out with brotli or gzip when the client's
//! `Accept-Encoding` allows it (brotli preferred at equal weight, `q=0` refused), with
//! `Content-Encoding`, `Vary: Accept-Encoding` and an ETag of their own. Small bodies,
//! and bodies already encoded (the web app's gzipped files) or of other types (images),
//! go out as they are.

use std::collections::VecDeque;
use std::io::Write;

use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, ETAG, VARY};
use http::{HeaderMap, HeaderValue};
use ticketbuster_domain::cache::encoded_etag;

use crate::web::Response;

/// Below this a body fits in a packet or two whatever its coding; compressing it costs
/// more than it saves.
pub const MIN_COMPRESSED_BYTES: usize = 1_024;

/// Brotli's quality for answers made per request: close to its best ratio on JSON at a
/// fraction of the time of its top qualities.
const BROTLI_QUALITY: u32 = 5;
const BROTLI_WINDOW_BITS: u32 = 22;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Brotli,
    Gzip,
}

impl Coding {
    /// Its name in `Accept-Encoding` and `Content-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
        }
    }

    pub fn compress(self, body: &[u8]) -> std::io::Result<Vec<u8>> {
        match self {
            Coding::Brotli => {
                let mut out = Vec::with_capacity(body.len() / 4);
                let mut writer = brotli::CompressorWriter::new(
                    &mut out,
                    4096,
                    BROTLI_QUALITY,
                    BROTLI_WINDOW_BITS,
                );
                writer.write_all(body)?;
                writer.flush()?;
                drop(writer);
                Ok(out)
            }
            Coding::Gzip => {
                let mut encoder = flate2::write::GzEncoder::new(
                    Vec::with_capacity(body.len() / 4),
                    flate2::Compression::default(),
                );
                encoder.write_all(body)?;
                encoder.finish()
            }
        }
    }
}

/// The coding to answer in: the acceptable one of highest weight, brotli on a tie.
pub fn negotiate(accept_encoding: Option<&str>) -> Option<Coding> {
    let header = accept_encoding?;
    let weight_of = |wanted: &str| -> Option<f32> {
        let mut wildcard = None;
        for entry in header.split(',') {
            let mut parts = entry.split(';');
            let token = parts.next().unwrap_or_default().trim();
            let weight = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if token.eq_ignore_ascii_case(wanted) {
                return Some(weight);
            }
            if token == "*" {
                wildcard = Some(weight);
            }
        }
        wildcard
    };
    [Coding::Brotli, Coding::Gzip]
        .into_iter()
        .filter_map(|coding| {
            weight_of(coding.token())
                .filter(|w| *w > 0.0)
                .map(|w| (coding, w))
        })
        .fold(
            None,
            |best: Option<(Coding, f32)>, (coding, w)| match best {
                Some((_, best_w)) if best_w >= w => best,
                _ => Some((coding, w)),
            },
        )
        .map(|(coding, _)| coding)
}

/// Whether answers of this type are worth compressing: JSON and text.
fn compressible(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|t| {
            t.starts_with("text/")
                || t.contains("json")
                || t.starts_with("application/javascript")
                || t.starts_with("image/svg+xml")
        })
}

/// Bodies already compressed, by strong ETag, length and coding, so that an answer served
/// again (a cached seat status, thousands of times a second) is not compressed again: our
/// strong ETags are hashes of their bodies. Bounded in entries and in bytes; the oldest go
/// first.
pub struct CompressedBodies {
    entries: VecDeque<(Named, Coding, Vec<u8>)>,
    bytes: usize,
}

/// A body as its strong ETag and its length name it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Named {
    etag: String,
    len: usize,
}

impl CompressedBodies {
    const MAX_ENTRIES: usize = 32;
    const MAX_BYTES: usize = 1 << 20;

    pub const fn new() -> Self {
        Self {
            entries: VecDeque::new(),
            bytes: 0,
        }
    }

    fn get(&self, named: &Named, coding: Coding) -> Option<Vec<u8>> {
        self.entries
            .iter()
            .find(|(n, c, _)| n == named && *c == coding)
            .map(|(_, _, body)| body.clone())
    }

    fn put(&mut self, named: Named, coding: Coding, body: &[u8]) {
        if body.len() > Self::MAX_BYTES / 4 {
            return;
        }
        self.bytes += body.len();
        self.entries.push_back((named, coding, body.to_vec()));
        while self.entries.len() > Self::MAX_ENTRIES || self.bytes > Self::MAX_BYTES {
            match self.entries.pop_front() {
                Some((_, _, old)) => self.bytes -= old.len(),
                None => break,
            }
        }
    }
}

impl Default for CompressedBodies {
    fn default() -> Self {
        Self::new()
    }
}

/// The answer compressed for a request that sent `accept_encoding`, when it is JSON or
/// text, big enough and not encoded already; from `memo` when it has the same body.
/// Answers of those types say they vary with `Accept-Encoding` either way, so caches keep
/// the forms apart.
pub fn compress_for(
    accept_encoding: Option<&HeaderValue>,
    mut response: Response,
    memo: &mut CompressedBodies,
) -> Response {
    let headers = response.headers();
    if headers.contains_key(CONTENT_ENCODING) || !compressible(headers) {
        return response;
    }
    let varies = headers
        .get_all(VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("accept-encoding"));
    if !varies {
        response
            .headers_mut()
            .append(VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if response.body().len() < MIN_COMPRESSED_BYTES {
        return response;
    }
    let Some(coding) = negotiate(accept_encoding.and_then(|v| v.to_str().ok())) else {
        return response;
    };
    let named = response
        .headers()
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .filter(|tag| tag.starts_with('"'))
        .map(|tag| Named {
            etag: tag.to_owned(),
            len: response.body().len(),
        });
    let remembered = named.as_ref().and_then(|n| memo.get(n, coding));
    let compressed = match remembered {
        Some(compressed) => compressed,
        None => match coding.compress(response.body()) {
            Ok(compressed) => {
                if let Some(named) = named {
                    memo.put(named, coding, &compressed);
                }
                compressed
            }
            Err(e) => {
                eprintln!("warning: could not compress an answer: {e}");
                return response;
            }
        },
    };
    *response.body_mut() = compressed;
    let headers = response.headers_mut();
    headers.insert(CONTENT_ENCODING, HeaderValue::from_static(coding.token()));
    let etag = headers
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .map(|etag| encoded_etag(etag, coding.token()));
    if let Some(tag) = etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
        headers.insert(ETAG, tag);
    }
    response
}

/// The request's `Accept-Encoding`, to pass to [`compress_for`].
pub fn accept_encoding(headers: &HeaderMap) -> Option<HeaderValue> {
    headers.get(ACCEPT_ENCODING).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;
    use std::io::Read;

    use crate::web;

    fn decompress(coding: &str, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match coding {
            "br" => brotli::Decompressor::new(body, 4096)
                .read_to_end(&mut out)
                .unwrap(),
            "gzip" => flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .unwrap(),
            other => panic!("unexpected coding {other}"),
        };
        out
    }

    fn json_answer(len: usize) -> Response {
        let body = format!("{{\"pad\":\"{}\"}}", "seat ".repeat(len / 5));
        let mut response = web::raw_json(StatusCode::OK, body.into_bytes());
        response
            .headers_mut()
            .insert(ETAG, HeaderValue::from_static("\"abc\""));
        response
    }

    fn header(response: &Response, name: http::HeaderName) -> &str {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    #[test]
    fn brotli_is_preferred_then_gzip_and_zero_weights_refuse() {
        let n = |h: &str| negotiate(Some(h));
        assert_eq!(n("gzip, deflate, br"), Some(Coding::Brotli));
        assert_eq!(n("gzip, deflate, br, zstd"), Some(Coding::Brotli));
        assert_eq!(n("gzip"), Some(Coding::Gzip));
        assert_eq!(n("br;q=0, gzip"), Some(Coding::Gzip));
        assert_eq!(n("br;q=0.5, gzip;q=0.8"), Some(Coding::Gzip));
        assert_eq!(n("BR;Q=1"), Some(Coding::Brotli));
        assert_eq!(n("*"), Some(Coding::Brotli));
        assert_eq!(n("*;q=0"), None);
        assert_eq!(n("gzip;q=0, *"), Some(Coding::Brotli));
        assert_eq!(n("br;q=0, gzip;q=0"), None);
        assert_eq!(n("identity"), None);
        assert_eq!(n("deflate"), None);
        assert_eq!(n(""), None);
        assert_eq!(negotiate(None), None);
    }

    #[test]
    fn json_is_compressed_and_decompresses_to_the_original() {
        for (accept, coding) in [("br, gzip", "br"), ("gzip", "gzip")] {
            let original = json_answer(20_000);
            let plain = original.body().clone();
            let answer = compress_for(
                Some(&HeaderValue::from_static(accept)),
                original,
                &mut CompressedBodies::new(),
            );
            assert_eq!(header(&answer, CONTENT_ENCODING), coding);
            assert_eq!(header(&answer, VARY), "Accept-Encoding");
            assert_eq!(header(&answer, ETAG), format!("\"abc-{coding}\""));
            assert!(answer.body().len() < plain.len() / 10, "{coding}");
            assert_eq!(decompress(coding, answer.body()), plain);
        }
    }

    #[test]
    fn what_is_not_worth_it_or_not_accepted_goes_as_it_is() {
        let accept = HeaderValue::from_static("br, gzip");
        let memo = &mut CompressedBodies::new();
        let small = compress_for(Some(&accept), json_answer(100), memo);
        assert_eq!(header(&small, CONTENT_ENCODING), "");
        assert_eq!(header(&small, VARY), "Accept-Encoding");

        let refused = compress_for(
            Some(&HeaderValue::from_static("identity")),
            json_answer(20_000),
            memo,
        );
        assert_eq!(header(&refused, CONTENT_ENCODING), "");
        assert_eq!(header(&refused, ETAG), "\"abc\"");
        assert!(compress_for(None, json_answer(20_000), memo).body().len() > 20_000);

        let png = web::private_bytes("image/png", 60, vec![7; 20_000]);
        let png = compress_for(Some(&accept), png, memo);
        assert_eq!(header(&png, CONTENT_ENCODING), "");
        assert_eq!(header(&png, VARY), "");
        assert_eq!(png.body().len(), 20_000);

        let mut gzipped = json_answer(20_000);
        gzipped
            .headers_mut()
            .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        gzipped
            .headers_mut()
            .insert(VARY, HeaderValue::from_static("Accept-Encoding"));
        let before = gzipped.body().clone();
        let gzipped = compress_for(Some(&accept), gzipped, memo);
        assert_eq!(gzipped.body(), &before);
        assert_eq!(gzipped.headers().get_all(VARY).iter().count(), 1);
    }

    #[test]
    fn a_body_served_again_is_compressed_once() {
        let accept = HeaderValue::from_static("br");
        let memo = &mut CompressedBodies::new();
        let first = compress_for(Some(&accept), json_answer(20_000), memo);
        assert_eq!(memo.entries.len(), 1);
        let again = compress_for(Some(&accept), json_answer(20_000), memo);
        assert_eq!(again.body(), first.body());
        assert_eq!(memo.entries.len(), 1, "served from the memo");

        // Another body under a weak ETag is compressed but not remembered.
        let mut weak = json_answer(30_000);
        weak.headers_mut()
            .insert(ETAG, HeaderValue::from_static("W/\"abc\""));
        let weak = compress_for(Some(&accept), weak, memo);
        assert_eq!(
            decompress("br", weak.body()).len(),
            json_answer(30_000).body().len()
        );
        assert_eq!(memo.entries.len(), 1);

        let named = |n: usize| Named {
            etag: format!("\"{n}\""),
            len: 5_000,
        };
        for n in 0..100 {
            memo.put(named(n), Coding::Gzip, &[0; 1_000]);
        }
        assert_eq!(memo.entries.len(), CompressedBodies::MAX_ENTRIES);
        assert!(memo.get(&named(99), Coding::Gzip).is_some());
        assert!(memo.get(&named(99), Coding::Brotli).is_none());
        assert!(memo.get(&named(0), Coding::Gzip).is_none());
    }
}

//! Cached responses in a key-value store that has no TTL of its own: each entry carries
//! its expiry and its ETag beside the body.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::account::hex;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedBody {
    pub expires_at_ms: i64,
    pub etag: String,
    pub body: String,
}

impl CachedBody {
    pub fn new(body: String, now_ms: i64, ttl_ms: i64) -> Self {
        Self {
            etag: etag_of(body.as_bytes()),
            expires_at_ms: now_ms + ttl_ms,
            body,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// A fresh entry, or `None` when it is missing, unreadable or expired.
    pub fn decode_fresh(bytes: &[u8], now_ms: i64) -> Option<Self> {
        serde_json::from_slice::<Self>(bytes)
            .ok()
            .filter(|entry| entry.expires_at_ms > now_ms)
    }
}

/// A strong ETag: the first 16 bytes of the body's SHA-256.
pub fn etag_of(body: &[u8]) -> String {
    format!("\"{}\"", hex(&Sha256::digest(body)[..16]))
}

/// The ETag of a body's compressed form (`"…-br"` for `"…"`): a strong ETag names one
/// representation, and a compressed one is another.
pub fn encoded_etag(etag: &str, coding: &str) -> String {
    match etag.strip_suffix('"') {
        Some(opaque) => format!("{opaque}-{coding}\""),
        None => etag.to_owned(),
    }
}

/// Whether an `If-None-Match` header matches the ETag or one of its compressed forms
/// (lists and `*` included).
pub fn if_none_match_hits(header: Option<&str>, etag: &str) -> bool {
    let Some(opaque) = etag.strip_suffix('"') else {
        return false;
    };
    header.is_some_and(|value| {
        value
            .split(',')
            .map(|tag| tag.trim().trim_start_matches("W/"))
            .any(|tag| {
                tag == "*"
                    || tag == etag
                    || tag
                        .strip_prefix(opaque)
                        .and_then(|rest| rest.strip_prefix('-'))
                        .and_then(|coding| coding.strip_suffix('"'))
                        .is_some_and(|coding| {
                            !coding.is_empty() && coding.bytes().all(|b| b.is_ascii_alphanumeric())
                        })
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire() {
        let entry = CachedBody::new("{}".into(), 1_000, 500);
        let bytes = entry.encode();
        assert_eq!(CachedBody::decode_fresh(&bytes, 1_499), Some(entry));
        assert_eq!(CachedBody::decode_fresh(&bytes, 1_500), None);
        assert_eq!(CachedBody::decode_fresh(b"garbage", 0), None);
    }

    #[test]
    fn etags_follow_the_body_and_match_headers() {
        let a = etag_of(b"one");
        assert_eq!(a, etag_of(b"one"));
        assert_ne!(a, etag_of(b"two"));
        assert!(if_none_match_hits(Some(&a), &a));
        assert!(if_none_match_hits(Some(&format!("\"x\", W/{a}")), &a));
        assert!(if_none_match_hits(Some("*"), &a));
        assert!(!if_none_match_hits(Some("\"x\""), &a));
        assert!(!if_none_match_hits(None, &a));
    }

    #[test]
    fn compressed_forms_have_their_own_etags_that_still_match() {
        let plain = etag_of(b"one");
        let brotli = encoded_etag(&plain, "br");
        assert_eq!(brotli, format!("{}-br\"", &plain[..plain.len() - 1]));
        assert!(if_none_match_hits(Some(&brotli), &plain));
        assert!(if_none_match_hits(
            Some(&encoded_etag(&plain, "gzip")),
            &plain
        ));
        assert!(!if_none_match_hits(
            Some(&encoded_etag(&etag_of(b"two"), "br")),
            &plain
        ));
        assert!(!if_none_match_hits(
            Some(&format!("{}-\"", &plain[..plain.len() - 1])),
            &plain
        ));
    }
}

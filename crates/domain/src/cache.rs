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

/// Whether an `If-None-Match` header matches the ETag (lists and `*` included).
pub fn if_none_match_hits(header: Option<&str>, etag: &str) -> bool {
    header.is_some_and(|value| {
        value
            .split(',')
            .map(|tag| tag.trim().trim_start_matches("W/"))
            .any(|tag| tag == "*" || tag == etag)
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
}

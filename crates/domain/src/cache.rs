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

    /// The entry, fresh or not; `None` when it is unreadable.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Self>(bytes).ok()
    }

    /// Whether the entry may be served as it is, or only while one request rebuilds it
    /// (within `stale_grace_ms` of its expiry), or not at all.
    pub fn freshness(&self, now_ms: i64, stale_grace_ms: i64) -> Freshness {
        if now_ms < self.expires_at_ms {
            Freshness::Fresh
        } else if now_ms < self.expires_at_ms + stale_grace_ms {
            Freshness::Stale
        } else {
            Freshness::Expired
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    Stale,
    Expired,
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
    fn entries_go_stale_then_expire() {
        let entry = CachedBody::new("{}".into(), 1_000, 500);
        let decoded = CachedBody::decode(&entry.encode()).expect("an entry");
        assert_eq!(decoded, entry);
        assert_eq!(entry.freshness(1_499, 2_000), Freshness::Fresh);
        assert_eq!(entry.freshness(1_500, 2_000), Freshness::Stale);
        assert_eq!(entry.freshness(3_499, 2_000), Freshness::Stale);
        assert_eq!(entry.freshness(3_500, 2_000), Freshness::Expired);
        assert_eq!(entry.freshness(1_500, 0), Freshness::Expired);
        assert_eq!(CachedBody::decode(b"garbage"), None);
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

//! The `Idempotency-Key` header: what makes a retried `POST` find what the first attempt
//! made instead of making it twice. Orders require one; holds take one.

use crate::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;

    /// A key the request must carry (`POST /api/orders`).
    pub fn required(header: Option<&str>) -> Result<Self, ApiError> {
        Self::optional(header)?.ok_or_else(|| {
            ApiError::bad_request(
                "the Idempotency-Key header is required: send a fresh random value (e.g. a UUID) \
                 per purchase, and the same value when you retry it",
            )
        })
    }

    /// A key the request may carry (`POST /api/events/{id}/holds`); if it does, it must be
    /// a valid one.
    pub fn optional(header: Option<&str>) -> Result<Option<Self>, ApiError> {
        let Some(raw) = header else {
            return Ok(None);
        };
        let key = raw.trim();
        if key.is_empty() || key.len() > Self::MAX_LEN {
            return Err(ApiError::bad_request(format!(
                "the Idempotency-Key header must have 1 to {} characters",
                Self::MAX_LEN
            )));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::bad_request(
                "the Idempotency-Key header may hold only visible ASCII characters",
            ));
        }
        Ok(Some(Self(key.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVALID: [&str; 4] = ["", "   ", "a b", "clé"];

    #[test]
    fn keys_are_short_and_visible() {
        assert_eq!(
            IdempotencyKey::required(Some(" abc-123 "))
                .unwrap()
                .as_str(),
            "abc-123"
        );
        let too_long = "k".repeat(IdempotencyKey::MAX_LEN + 1);
        for bad in INVALID.into_iter().chain([too_long.as_str()]) {
            let err = IdempotencyKey::required(Some(bad)).unwrap_err();
            assert_eq!(err.status.as_u16(), 400, "{bad:?}");
            let err = IdempotencyKey::optional(Some(bad)).unwrap_err();
            assert_eq!(err.status.as_u16(), 400, "{bad:?}");
        }
    }

    #[test]
    fn a_required_key_must_be_sent_an_optional_one_need_not() {
        assert_eq!(
            IdempotencyKey::required(None).unwrap_err().status.as_u16(),
            400
        );
        assert_eq!(IdempotencyKey::optional(None).unwrap(), None);
        assert_eq!(
            IdempotencyKey::optional(Some("k-1"))
                .unwrap()
                .unwrap()
                .as_str(),
            "k-1"
        );
    }
}

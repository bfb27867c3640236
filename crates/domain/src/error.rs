//! The one error shape every endpoint answers with:
//! `{"error": {"code": "...", "message": "..."}}`, plus optional details beside `error`.

use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::{Map, Value, json};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra top-level fields, e.g. `unavailable_seat_ids` on a failed hold.
    pub details: Map<String, Value>,
    /// Headers the answer carries, e.g. `Retry-After` on a 429.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Map::new(),
            headers: Vec::new(),
        }
    }

    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            message,
        )
    }

    /// A refusal of one field of the body: `422`, with the field's path (e.g.
    /// `sections[1].rows[0].tier`) leading the message and beside the error, so a form can
    /// point at it.
    pub fn invalid_field(path: &str, message: impl std::fmt::Display) -> Self {
        Self::validation(format!("{path}: {message}")).with_detail("path", path)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this path does not accept that method",
        )
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn payload_too_large(limit_bytes: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request bodies are limited to {limit_bytes} bytes"),
        )
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        )
    }

    /// A failure on our side. The message is generic on purpose: details go to the log.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "something went wrong on our side; try again",
        )
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    pub fn body(&self) -> Value {
        let mut body = self.details.clone();
        body.insert(
            "error".into(),
            json!({ "code": self.code, "message": self.message }),
        );
        Value::Object(body)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_error_object_and_details_beside_it() {
        let err = ApiError::conflict("seats_unavailable", "2 seats are taken")
            .with_detail("unavailable_seat_ids", vec![3, 4]);
        assert_eq!(
            err.body(),
            json!({
                "error": {"code": "seats_unavailable", "message": "2 seats are taken"},
                "unavailable_seat_ids": [3, 4]
            })
        );
        assert_eq!(err.status, StatusCode::CONFLICT);
    }
}

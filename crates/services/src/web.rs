//! Request and response plumbing shared by every service: JSON in and out, the error
//! shape, bearer tokens, query strings and path segments.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use ticketbuster_domain::ApiError;

use crate::BackendError;

pub type Request = http::Request<Bytes>;
pub type Response = http::Response<Vec<u8>>;

/// Largest request body any endpoint accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Where a body streamed after its headers goes, chunk by chunk: Spin's response body, or
/// memory in native callers.
#[allow(async_fn_in_trait)]
pub trait ChunkSink {
    /// Sends a chunk; `false` once the client has gone (the writer stops).
    async fn send(&mut self, chunk: Vec<u8>) -> bool;
}

impl ChunkSink for Vec<u8> {
    async fn send(&mut self, chunk: Vec<u8>) -> bool {
        self.extend(chunk);
        true
    }
}

pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => raw_json(status, body),
        Err(e) => {
            eprintln!("error: could not serialise a response: {e}");
            error(&ApiError::internal())
        }
    }
}

/// A body that is already JSON text (e.g. built by PostgreSQL).
pub fn raw_json(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A body of another media type, e.g. an image, that a client may keep for `max_age_seconds`.
pub fn private_bytes(content_type: &'static str, max_age_seconds: u32, body: Vec<u8>) -> Response {
    let mut response = http::Response::new(body);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(cache) = HeaderValue::from_str(&format!("private, max-age={max_age_seconds}")) {
        response.headers_mut().insert(CACHE_CONTROL, cache);
    }
    response
}

pub fn empty(status: StatusCode) -> Response {
    let mut response = http::Response::new(Vec::new());
    *response.status_mut() = status;
    response
}

pub fn error(err: &ApiError) -> Response {
    let mut response = raw_json(err.status, err.body().to_string().into_bytes());
    for (name, value) in &err.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

/// Runs a handler and turns its error into the JSON error answer.
pub fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(|err| error(&err))
}

impl From<BackendError> for ApiError {
    fn from(err: BackendError) -> Self {
        eprintln!("error: {err}");
        match err {
            BackendError::Database(ref m) if m.contains("connect") => {
                ApiError::unavailable("the database is not reachable; try again shortly")
            }
            _ => ApiError::internal(),
        }
    }
}

/// Parses a JSON body. Malformed JSON is a 400; well-formed JSON of the wrong shape a 422.
pub fn parse_json<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    parse_json_up_to(req, MAX_BODY_BYTES)
}

/// As [`parse_json`], for an endpoint that accepts bodies of up to `limit` bytes (its
/// component reads them with that limit too).
pub fn parse_json_up_to<T: DeserializeOwned>(req: &Request, limit: usize) -> Result<T, ApiError> {
    if let Some(content_type) = req.headers().get(CONTENT_TYPE) {
        let is_json = content_type
            .to_str()
            .map(|v| {
                v.trim()
                    .to_ascii_lowercase()
                    .starts_with("application/json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::unsupported_media_type());
        }
    }
    let body = req.body();
    if body.len() > limit {
        return Err(ApiError::payload_too_large(limit));
    }
    if body.is_empty() {
        return Err(ApiError::bad_request("this endpoint needs a JSON body"));
    }
    serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::validation(format!("invalid request: {e}")),
            _ => ApiError::bad_request(format!("malformed JSON: {e}")),
        }
    })
}

pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A header as sent, bytes that are not UTF-8 replaced: for a value that must be checked,
/// where a header that [`header`] cannot read is still a header sent.
pub fn header_as_sent<'a>(req: &'a Request, name: &str) -> Option<std::borrow::Cow<'a, str>> {
    req.headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()))
}

/// The path split on `/`, without empty segments: `/api/events/7` is `["api", "events", "7"]`.
pub fn segments(req: &Request) -> Vec<&str> {
    req.uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .collect()
}

/// Decoded query pairs.
pub fn query_pairs(req: &Request) -> Vec<(String, String)> {
    form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(body: &str, content_type: Option<&str>) -> Request {
        let mut builder = http::Request::post("/api/x");
        if let Some(ct) = content_type {
            builder = builder.header(CONTENT_TYPE, ct);
        }
        builder.body(Bytes::from(body.to_owned())).unwrap()
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Payload {
        n: i64,
    }

    #[test]
    fn json_errors_are_classified() {
        assert!(parse_json::<Payload>(&post(r#"{"n": 1}"#, Some("application/json"))).is_ok());
        let status = |body: &str, ct| parse_json::<Payload>(&post(body, ct)).unwrap_err().status;
        assert_eq!(status("{", None), StatusCode::BAD_REQUEST);
        assert_eq!(status("", None), StatusCode::BAD_REQUEST);
        assert_eq!(
            status(r#"{"n": "one"}"#, None),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(status(r#"{}"#, None), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            status(r#"{"n":1}"#, Some("text/plain")),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        let big = format!(r#"{{"n": 1, "pad": "{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        assert_eq!(status(&big, None), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn paths_and_queries_are_split() {
        let req = http::Request::get("/api/events/7/seats?q=rock%20night&page=2")
            .body(Bytes::new())
            .unwrap();
        assert_eq!(segments(&req), ["api", "events", "7", "seats"]);
        assert_eq!(
            query_pairs(&req),
            [
                ("q".to_string(), "rock night".to_string()),
                ("page".into(), "2".into())
            ]
        );
    }
}

//! What every answer carries whatever its service: `X-Content-Type-Options: nosniff` and a
//! `Referrer-Policy`, and the CORS policy. CORS is same-origin unless origins are named
//! (`cors_allowed_origins`): a named origin gets `Access-Control-Allow-Origin` on its
//! answers and its preflights answered; any other gets no CORS header, so browsers keep
//! its pages from reading our answers. Tokens travel in the `Authorization` header, never
//! in cookies, so no credentials are allowed.

use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN,
    REFERRER_POLICY, VARY, X_CONTENT_TYPE_OPTIONS,
};
use http::{HeaderValue, Method, StatusCode};
use ticketbuster_domain::ApiError;

use crate::web::{self, Request, Response};

const ALLOWED_METHODS: &str = "GET, POST, PATCH, DELETE";
const ALLOWED_HEADERS: &str =
    "admission-token, authorization, content-type, idempotency-key, if-none-match";
const EXPOSED_HEADERS: &str =
    "etag, location, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset";
/// How long a browser may keep a preflight's answer.
const PREFLIGHT_MAX_AGE_SECONDS: u32 = 600;

/// The origins allowed to call the API from pages of their own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsPolicy {
    allowed: Vec<String>,
}

impl CorsPolicy {
    /// A comma-separated list of origins (`https://tickets.example.com`); empty is
    /// same-origin only.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let allowed = raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|origin| {
                let origin = origin.trim_end_matches('/');
                let host = origin
                    .strip_prefix("https://")
                    .or_else(|| origin.strip_prefix("http://"));
                let well_formed = host.is_some_and(|h| !h.is_empty() && !h.contains('/'));
                if well_formed {
                    Ok(origin.to_ascii_lowercase())
                } else {
                    Err(format!(
                        "{origin:?} is not an origin such as https://tickets.example.com"
                    ))
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { allowed })
    }

    /// The request's `Origin`, if it is one of ours.
    fn allowed<'a>(&self, origin: Option<&'a HeaderValue>) -> Option<&'a HeaderValue> {
        let origin = origin?;
        let text = origin.to_str().ok()?.to_ascii_lowercase();
        self.allowed.contains(&text).then_some(origin)
    }
}

/// The answer to a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`), or
/// `None` for any other request.
pub fn preflight(req: &Request, cors: &CorsPolicy) -> Option<Response> {
    if req.method() != Method::OPTIONS || !req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD)
    {
        return None;
    }
    let Some(origin) = cors.allowed(req.headers().get(ORIGIN)) else {
        return Some(web::error(&ApiError::forbidden(
            "this origin may not call the API from its pages",
        )));
    };
    let mut response = web::empty(StatusCode::NO_CONTENT);
    let headers = response.headers_mut();
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(
        ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOWED_METHODS),
    );
    headers.insert(
        ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOWED_HEADERS),
    );
    headers.insert(
        ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from(PREFLIGHT_MAX_AGE_SECONDS),
    );
    headers.insert(VARY, HeaderValue::from_static("Origin"));
    Some(response)
}

/// Adds the headers every answer carries, and CORS's for an allowed `origin`.
pub fn secure(origin: Option<&HeaderValue>, cors: &CorsPolicy, mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers
        .entry(REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("same-origin"));
    if let Some(origin) = cors.allowed(origin) {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
        headers.append(VARY, HeaderValue::from_static("Origin"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn cors() -> CorsPolicy {
        CorsPolicy::parse("https://tickets.example.com, http://localhost:5173/").unwrap()
    }

    fn from(origin: Option<&str>, method: Method, preflight: bool) -> Request {
        let mut builder = http::Request::builder().method(method).uri("/api/orders");
        if let Some(origin) = origin {
            builder = builder.header(ORIGIN, origin);
        }
        if preflight {
            builder = builder.header(ACCESS_CONTROL_REQUEST_METHOD, "POST");
        }
        builder.body(Bytes::new()).unwrap()
    }

    fn header(response: &Response, name: http::HeaderName) -> Option<&str> {
        response.headers().get(name).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn every_answer_is_hardened_and_only_named_origins_get_cors() {
        let answered = |origin| {
            let req = from(origin, Method::GET, false);
            secure(
                req.headers().get(ORIGIN),
                &cors(),
                web::empty(StatusCode::OK),
            )
        };
        let same_origin = answered(None);
        assert_eq!(
            header(&same_origin, X_CONTENT_TYPE_OPTIONS),
            Some("nosniff")
        );
        assert_eq!(header(&same_origin, REFERRER_POLICY), Some("same-origin"));
        assert_eq!(header(&same_origin, ACCESS_CONTROL_ALLOW_ORIGIN), None);
        let stranger = answered(Some("https://evil.example"));
        assert_eq!(header(&stranger, ACCESS_CONTROL_ALLOW_ORIGIN), None);
        let ours = answered(Some("https://tickets.example.com"));
        assert_eq!(
            header(&ours, ACCESS_CONTROL_ALLOW_ORIGIN),
            Some("https://tickets.example.com")
        );
        assert!(
            header(&ours, ACCESS_CONTROL_EXPOSE_HEADERS).is_some_and(|h| h.contains("retry-after"))
        );
        let local = answered(Some("http://localhost:5173"));
        assert!(header(&local, ACCESS_CONTROL_ALLOW_ORIGIN).is_some());
    }

    #[test]
    fn preflights_are_answered_for_named_origins_only() {
        assert!(
            preflight(
                &from(Some("https://tickets.example.com"), Method::POST, false),
                &cors()
            )
            .is_none()
        );
        assert!(preflight(&from(None, Method::OPTIONS, false), &cors()).is_none());
        let ours = preflight(
            &from(Some("https://tickets.example.com"), Method::OPTIONS, true),
            &cors(),
        )
        .expect("a preflight answer");
        assert_eq!(ours.status(), StatusCode::NO_CONTENT);
        assert!(
            header(&ours, ACCESS_CONTROL_ALLOW_HEADERS)
                .is_some_and(|h| h.contains("idempotency-key"))
        );
        let stranger = preflight(
            &from(Some("https://evil.example"), Method::OPTIONS, true),
            &CorsPolicy::default(),
        )
        .expect("a refusal");
        assert_eq!(stranger.status(), StatusCode::FORBIDDEN);
        assert_eq!(header(&stranger, ACCESS_CONTROL_ALLOW_ORIGIN), None);
    }

    #[test]
    fn origins_must_be_origins() {
        assert!(CorsPolicy::parse("").unwrap().allowed.is_empty());
        for bad in ["tickets.example.com", "https://x.example/path", "*"] {
            assert!(CorsPolicy::parse(bad).is_err(), "{bad}");
        }
    }
}

//! The periodic jobs as an HTTP route, for hosts that run HTTP triggers only (no Redis
//! trigger, no sidecar): `/api/jobs/run`, meant for the platform's scheduled HTTP call (a
//! cron), every minute to every five. The jobs token comes as `Authorization: Bearer
//! <jobs_token>`, or as `?token=<jobs_token>` from schedulers that only name a path and query
//! (Akamai Functions' `spin aka cron`); such schedulers send GET, so GET runs the jobs too.
//!
//! One call settles what after-response work left behind (orders whose process died:
//! PENDING ones at once, PROCESSING ones once their claim is
//! [`outbox::RECOVER_PROCESSING_AFTER_SECONDS`] old, or
//! [`outbox::RECOVER_ORPHANED_AFTER_SECONDS`] with its database session ended), warns buyers whose holds are about
//! to lapse, and frees lapsed seats. Concurrent calls share the work through the claims.

use http::{Method, StatusCode};
use serde::Serialize;
use subtle::ConstantTimeEq;
use ticketbuster_domain::ApiError;

use crate::backend::{Backend, BackendError};
use crate::web::{self, Request, Response};
use crate::worker::{self, WorkerSettings};
use crate::{expiry, outbox};

/// The secret a scheduled call presents. Short secrets are refused: the route is public.
pub struct JobsToken(String);

impl JobsToken {
    pub const MIN_BYTES: usize = 32;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let token = raw.trim();
        if token.len() < Self::MIN_BYTES {
            return Err(format!(
                "the jobs token must have at least {} bytes",
                Self::MIN_BYTES
            ));
        }
        Ok(Self(token.to_owned()))
    }

    fn admits(&self, req: &Request) -> bool {
        let in_query = || {
            web::query_pairs(req)
                .into_iter()
                .find_map(|(name, value)| (name == "token").then_some(value))
        };
        let presented = web::header(req, http::header::AUTHORIZATION.as_str())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::to_owned)
            .or_else(in_query)
            .unwrap_or_default();
        presented.as_bytes().ct_eq(self.0.as_bytes()).into()
    }
}

pub struct JobsSettings {
    pub token: JobsToken,
    pub worker: WorkerSettings,
}

/// What one call did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct JobsReport {
    /// Orders found waiting past their re-publication time, or taken back from a lost run.
    pub orders_overdue: usize,
    pub orders_completed: usize,
    pub orders_failed: usize,
    pub holds_warned: usize,
    pub seats_freed: usize,
}

pub async fn handle(backend: &impl Backend, settings: &JobsSettings, req: Request) -> Response {
    web::respond(route(backend, settings, &req).await)
}

async fn route(
    backend: &impl Backend,
    settings: &JobsSettings,
    req: &Request,
) -> Result<Response, ApiError> {
    if web::segments(req) != ["api", "jobs", "run"] {
        return Err(ApiError::not_found("no such jobs endpoint"));
    }
    if req.method() != Method::POST && req.method() != Method::GET {
        return Err(ApiError::method_not_allowed());
    }
    if !settings.token.admits(req) {
        return Err(ApiError::unauthorized(
            "the jobs route needs the jobs token: `Authorization: Bearer <jobs_token>` or `?token=`",
        ));
    }
    let report = run(backend, &settings.worker).await?;
    Ok(web::json(StatusCode::OK, &report))
}

/// Runs every job once. Settling comes first: it is what buyers wait for.
async fn run(backend: &impl Backend, worker: &WorkerSettings) -> Result<JobsReport, BackendError> {
    let orders_overdue = outbox::take_back_overdue(backend).await?.len();
    let settled = worker::drain(backend, worker, None).await?;
    Ok(JobsReport {
        orders_overdue,
        orders_completed: settled.completed,
        orders_failed: settled.failed,
        holds_warned: expiry::warn_expiring_holds(backend).await?,
        seats_freed: expiry::free_lapsed_seats(backend).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn call(authorization: Option<&str>) -> Request {
        call_at("/api/jobs/run", authorization)
    }

    fn call_at(uri: &str, authorization: Option<&str>) -> Request {
        let mut req = http::Request::post(uri);
        if let Some(value) = authorization {
            req = req.header("authorization", value);
        }
        req.body(Bytes::new()).unwrap()
    }

    #[test]
    fn only_the_configured_token_is_admitted() {
        let token = JobsToken::parse(&"t".repeat(40)).unwrap();
        assert!(token.admits(&call(Some(&format!("Bearer {}", "t".repeat(40))))));
        assert!(!token.admits(&call(Some(&format!("Bearer {}", "t".repeat(39))))));
        assert!(!token.admits(&call(Some(&format!("Bearer {}x", "t".repeat(40))))));
        assert!(!token.admits(&call(Some(&"t".repeat(40)))));
        assert!(!token.admits(&call(None)));
        let in_query = |value: &str| call_at(&format!("/api/jobs/run?token={value}"), None);
        assert!(token.admits(&in_query(&"t".repeat(40))));
        assert!(!token.admits(&in_query(&"t".repeat(41))));
        assert!(!token.admits(&in_query("")));
    }

    #[test]
    fn short_tokens_are_refused() {
        assert!(JobsToken::parse("secret").is_err());
        assert!(JobsToken::parse(&" ".repeat(40)).is_err());
    }
}

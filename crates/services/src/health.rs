//! Health, for people and for orchestrators:
//!
//! - `GET /api/health`: 200 while PostgreSQL and Redis answer, else 503; the body says
//!   whether the order pipeline is `ok` or `degraded` (no worker listening, or a backlog
//!   older than [`pipeline::STUCK_AFTER_SECONDS`]), with the backlog and the workers seen.
//! - `GET /api/health/ready`: the same report, 503 whenever anything is degraded.
//! - `GET /api/health/worker`: 503 while Redis answers and no worker listens on the
//!   `orders` channel (a trigger left deaf by a Redis restart), for the liveness probe of
//!   the pods that run the order worker; Redis unreachable is no fault of theirs, so 200.
//!
//! Where orders settle after their answer ([`Settlement::AfterResponse`], HTTP-only hosts)
//! no worker is expected to listen, and its absence is no problem.

use http::{Method, StatusCode};
use serde_json::json;
use ticketbuster_domain::ApiError;

use crate::backend::Backend;
use crate::orders::Settlement;
use crate::pipeline::{self, Backlog, Workers};
use crate::web::{self, Request, Response};

pub async fn handle(backend: &impl Backend, settlement: Settlement, req: Request) -> Response {
    let segments = web::segments(&req);
    let probe = match segments.as_slice() {
        ["api", "health"] => Probe::Report,
        ["api", "health", "ready"] => Probe::Ready,
        ["api", "health", "worker"] => Probe::Worker,
        _ => return web::error(&ApiError::not_found("no such health endpoint")),
    };
    if req.method() != Method::GET {
        return web::error(&ApiError::method_not_allowed());
    }
    let report = Report::read(backend, settlement).await;
    let failing = match probe {
        Probe::Report => !report.reachable(),
        Probe::Ready => !report.problems().is_empty(),
        Probe::Worker => report
            .workers
            .is_some_and(|w| pipeline::unheard(&w, settlement)),
    };
    let status = if failing {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    web::json(status, &report.body())
}

enum Probe {
    Report,
    Ready,
    Worker,
}

/// What PostgreSQL and Redis said, `None` where they did not answer.
struct Report {
    backlog: Option<Backlog>,
    workers: Option<Workers>,
    settlement: Settlement,
}

impl Report {
    async fn read(backend: &impl Backend, settlement: Settlement) -> Self {
        let logged = |what: &str, e: crate::BackendError| {
            eprintln!("health: {what}: {e}");
        };
        let backlog = pipeline::backlog(backend)
            .await
            .map_err(|e| logged("PostgreSQL", e))
            .ok();
        let workers = pipeline::workers(backend)
            .await
            .map_err(|e| logged("Redis", e))
            .ok();
        Self {
            backlog,
            workers,
            settlement,
        }
    }

    fn reachable(&self) -> bool {
        self.backlog.is_some() && self.workers.is_some()
    }

    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.backlog.is_none() {
            problems.push("PostgreSQL is unreachable".to_owned());
        }
        if self.workers.is_none() {
            problems.push("Redis is unreachable".to_owned());
        }
        if let (Some(backlog), Some(workers)) = (&self.backlog, &self.workers) {
            problems.extend(pipeline::problems(backlog, workers, self.settlement));
        }
        problems
    }

    fn body(&self) -> serde_json::Value {
        let reached = |ok: bool| if ok { "ok" } else { "unreachable" };
        let problems = self.problems();
        json!({
            "status": if problems.is_empty() { "ok" } else { "degraded" },
            "postgres": reached(self.backlog.is_some()),
            "redis": reached(self.workers.is_some()),
            "orders": {
                "backlog": self.backlog.map(|b| b.orders),
                "oldest_unfinished_seconds": self.backlog.map(|b| b.oldest_seconds),
                "workers_listening": self.workers.map(|w| w.subscribers),
                "last_worker_run_seconds_ago": self.workers.and_then(|w| w.last_run_seconds_ago),
            },
            "problems": problems,
        })
    }
}

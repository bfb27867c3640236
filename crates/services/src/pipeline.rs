//! The state of the order pipeline, read by the health endpoints and by the sidecar's
//! watch over the worker: the backlog of unfinished orders and its age (PostgreSQL), and
//! whether a worker listens on the `orders` channel and when one last ran (Redis).
//!
//! Spin's Redis trigger may stay alive but deaf after Redis restarts (no subscription, no
//! exit), so the pipeline is judged from the outside: no subscriber on the channel, or an
//! unfinished order older than [`STUCK_AFTER_SECONDS`], is a degraded pipeline.

use crate::backend::{Backend, BackendError, query_one};
use crate::orders::{ORDERS_CHANNEL, Settlement};

/// An unfinished order older than this means the pipeline is stuck: the worker settles an
/// order within a second or two, and the outbox sweep publishes a forgotten one after 10 s.
pub const STUCK_AFTER_SECONDS: i64 = 30;

/// Set by every worker run to Redis's time in milliseconds.
pub const WORKER_LAST_RUN_KEY: &str = "orders:worker:last-run";

/// Unfinished orders: how many, and the age of the oldest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    pub orders: i64,
    pub oldest_seconds: i64,
}

/// Who listens on the `orders` channel, and how long ago a worker run began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workers {
    pub subscribers: i64,
    pub last_run_seconds_ago: Option<i64>,
}

pub async fn backlog(backend: &impl Backend) -> Result<Backlog, BackendError> {
    let row = query_one(
        backend,
        "SELECT count(*)::int8 AS orders,
                coalesce(extract(epoch FROM now() - min(created_at)), 0)::int8 AS oldest_seconds
         FROM orders.orders WHERE status IN ('PENDING', 'PROCESSING')",
        &[],
    )
    .await?;
    Ok(Backlog {
        orders: row.int("orders")?,
        oldest_seconds: row.int("oldest_seconds")?,
    })
}

/// KEYS: the last-run key. ARGV: the channel. Replies `subscribers age_ms` (age -1: never).
const WORKERS_SCRIPT: &str = r"
local subscribers = redis.call('PUBSUB', 'NUMSUB', ARGV[1])[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = tonumber(redis.call('GET', KEYS[1]))
local age = -1
if last then age = now - last end
return string.format('%d %d', subscribers, age)
";

pub async fn workers(backend: &impl Backend) -> Result<Workers, BackendError> {
    let reply = backend
        .eval(WORKERS_SCRIPT, &[WORKER_LAST_RUN_KEY], &[ORDERS_CHANNEL])
        .await?
        .unwrap_or_default();
    let fields: Vec<i64> = reply
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    let [subscribers, age_ms] = fields[..] else {
        return Err(BackendError::Redis(format!(
            "the workers script answered {reply:?}"
        )));
    };
    Ok(Workers {
        subscribers,
        last_run_seconds_ago: (age_ms >= 0).then_some(age_ms / 1000),
    })
}

/// KEYS: the wake-up flag, the last-run key. Clears the flag and stamps the run.
const WORKER_RUN_SCRIPT: &str = r"
redis.call('DEL', KEYS[1])
local t = redis.call('TIME')
redis.call('SET', KEYS[2], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
return 1
";

/// Marks the start of a worker run: clears the wake-up flag `flag_key` and records the
/// run's time, in one round trip.
pub async fn worker_run_begins(backend: &impl Backend, flag_key: &str) -> Result<(), BackendError> {
    backend
        .eval(WORKER_RUN_SCRIPT, &[flag_key, WORKER_LAST_RUN_KEY], &[])
        .await
        .map(drop)
}

/// Whether orders wait for a worker that nobody runs: a worker must listen only where
/// orders are settled by one ([`Settlement::Worker`]).
pub fn unheard(workers: &Workers, settlement: Settlement) -> bool {
    settlement == Settlement::Worker && workers.subscribers == 0
}

/// What is wrong with the pipeline, in words; empty when nothing is.
pub fn problems(backlog: &Backlog, workers: &Workers, settlement: Settlement) -> Vec<String> {
    let mut problems = Vec::new();
    if unheard(workers, settlement) {
        problems.push(format!(
            "no order worker listens on the {ORDERS_CHANNEL:?} channel"
        ));
    }
    if backlog.orders > 0 && backlog.oldest_seconds > STUCK_AFTER_SECONDS {
        problems.push(format!(
            "the oldest of {} unfinished orders is {} s old",
            backlog.orders, backlog.oldest_seconds
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_worker_or_an_old_backlog_is_a_problem() {
        let quiet = Backlog {
            orders: 0,
            oldest_seconds: 0,
        };
        let listening = Workers {
            subscribers: 1,
            last_run_seconds_ago: Some(3),
        };
        let by_worker = Settlement::Worker;
        assert!(problems(&quiet, &listening, by_worker).is_empty());
        let busy = Backlog {
            orders: 900,
            oldest_seconds: STUCK_AFTER_SECONDS,
        };
        assert!(
            problems(&busy, &listening, by_worker).is_empty(),
            "busy is not stuck"
        );
        let stuck = Backlog {
            orders: 3,
            oldest_seconds: STUCK_AFTER_SECONDS + 1,
        };
        assert_eq!(problems(&stuck, &listening, by_worker).len(), 1);
        let deaf = Workers {
            subscribers: 0,
            last_run_seconds_ago: None,
        };
        assert_eq!(problems(&stuck, &deaf, by_worker).len(), 2);
        let after_response = Settlement::AfterResponse;
        assert!(problems(&quiet, &deaf, after_response).is_empty());
        assert_eq!(problems(&stuck, &deaf, after_response).len(), 1);
    }
}

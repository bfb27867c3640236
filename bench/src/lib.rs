//! Shared pieces of the benchmarks: buyers, a throw-away event, the client loop, latency
//! summaries and medians across runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use sqlx::PgPool;

/// Seconds of load before the counted runs: the first seconds after `spin up` pay for new
/// instances, connections and plans.
pub const WARM_UP_SECONDS: u64 = 3;

/// Throughput and latency of one measured phase.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    pub ops: usize,
    pub errors: usize,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Figures {
    pub fn from_latencies(mut latencies: Vec<Duration>, errors: usize, elapsed: Duration) -> Self {
        latencies.sort_unstable();
        let pick = |q: f64| {
            if latencies.is_empty() {
                return 0.0;
            }
            let index =
                ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
            latencies[index].as_secs_f64() * 1000.0
        };
        Self {
            ops: latencies.len(),
            errors,
            per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
            p50_ms: pick(0.50),
            p99_ms: pick(0.99),
        }
    }
}

/// The timed operations of a phase, which may be run in several slices.
#[derive(Debug, Default)]
pub struct Sample {
    latencies: Vec<Duration>,
    errors: usize,
    elapsed: Duration,
}

impl Sample {
    /// Adds a later slice of the same phase.
    pub fn add(&mut self, slice: Sample) {
        self.latencies.extend(slice.latencies);
        self.errors += slice.errors;
        self.elapsed += slice.elapsed;
    }

    pub fn figures(self) -> Figures {
        Figures::from_latencies(self.latencies, self.errors, self.elapsed)
    }
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>8.0}/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} ok, {} errors)",
            self.per_second, self.p50_ms, self.p99_ms, self.ops, self.errors
        )
    }
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// What every benchmark takes: `--url`, `--database-url`, `--clients`, `--seconds`, `--runs`.
pub struct RunArgs {
    pub url: String,
    pub database_url: String,
    pub clients: usize,
    pub seconds: u64,
    pub runs: usize,
}

impl RunArgs {
    pub fn parse() -> anyhow::Result<Self> {
        let args = Self {
            url: arg("--url", "http://127.0.0.1:3000".to_string()),
            database_url: arg(
                "--database-url",
                std::env::var("DATABASE_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/ticketbuster".into()),
            ),
            clients: arg("--clients", 64),
            seconds: arg("--seconds", 10),
            runs: arg("--runs", 3),
        };
        anyhow::ensure!(
            args.clients > 0 && args.seconds > 0 && args.runs > 0,
            "clients, seconds and runs must be positive"
        );
        Ok(args)
    }
}

/// `--name value` from the command line, or the default.
pub fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A registered buyer of the benchmark.
pub struct Buyer {
    pub id: String,
    pub token: String,
}

/// Registers `count` buyers through the API. A registration refused by the per-address
/// rate limit waits as long as the answer says and tries again (start the stack with a
/// higher `SPIN_VARIABLE_RATE_LIMIT_PER_ADDRESS` to skip the wait).
pub async fn register_buyers(
    http: &reqwest::Client,
    url: &str,
    count: usize,
) -> anyhow::Result<Vec<Buyer>> {
    let mut buyers = Vec::with_capacity(count);
    let mut told = false;
    while buyers.len() < count {
        let email = format!(
            "bench-{}-{}@example.com",
            buyers.len(),
            uuid::Uuid::new_v4().simple()
        );
        let response = http
            .post(format!("{url}/api/auth/register"))
            .json(&json!({"email": email, "password": "benchmark password", "name": "Bench Buyer"}))
            .send()
            .await?;
        if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
            if !told {
                eprintln!("registrations are rate limited; waiting (see --help)");
                told = true;
            }
            tokio::time::sleep(retry_after(&response)).await;
            continue;
        }
        let answer: serde_json::Value = response.error_for_status()?.json().await?;
        buyers.push(Buyer {
            id: answer["user"]["id"].as_str().context("user id")?.to_owned(),
            token: answer["access_token"]
                .as_str()
                .context("access token")?
                .to_owned(),
        });
    }
    Ok(buyers)
}

/// How long a `429` asks the client to wait (`Retry-After`, in seconds; 1 s if absent).
pub fn retry_after(response: &reqwest::Response) -> Duration {
    let seconds = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    Duration::from_secs(seconds)
}

/// A published event with `seats` seats, made for one phase and deleted after it. Its
/// per-account caps are off: each benchmark client holds thousands of seats.
pub struct BenchEvent {
    pub id: i64,
    pub first_seat: i64,
    pub per_client: i64,
}

impl BenchEvent {
    /// Deletes the events an interrupted run left published in the catalog.
    pub async fn remove_leftovers(pool: &PgPool) -> anyhow::Result<()> {
        let leftovers: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM catalog.events WHERE slug LIKE 'bench-%'")
                .fetch_all(pool)
                .await?;
        for id in leftovers {
            delete_event(pool, id).await?;
        }
        Ok(())
    }

    pub async fn create(pool: &PgPool, clients: usize, per_client: i64) -> anyhow::Result<Self> {
        let seats = clients as i64 * per_client;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO catalog.events (slug, title, category, description, venue, city, starts_at, ends_at, status,
                                         max_tickets_per_account)
             VALUES ($1, 'Benchmark', 'concert', 'benchmark event', 'Bench', 'Bench',
                     now() + interval '1 day', now() + interval '1 day 2 hours', 'published', 0) RETURNING id",
        )
        .bind(format!("bench-{}", uuid::Uuid::new_v4().simple()))
        .fetch_one(pool)
        .await?;
        sqlx::query("INSERT INTO catalog.price_tiers (event_id, name, price_cents) VALUES ($1, 'Bench', 1000)")
            .bind(id)
            .execute(pool)
            .await?;
        let first_seat: i64 = sqlx::query_scalar(
            "WITH added AS (
                 INSERT INTO catalog.seats (event_id, tier_id, section, row_label, number)
                 SELECT $1, t.id, 'Bench', 'A', n FROM catalog.price_tiers t, generate_series(1, $2::int) n
                 WHERE t.event_id = $1 ORDER BY n RETURNING id)
             SELECT min(id) FROM added",
        )
        .bind(id)
        .bind(seats as i32)
        .fetch_one(pool)
        .await?;
        sqlx::query("ANALYZE catalog.seats").execute(pool).await?;
        Ok(Self {
            id,
            first_seat,
            per_client,
        })
    }

    /// The `n`-th seat of client `client`: clients never share a seat.
    pub fn seat(&self, client: usize, n: i64) -> Option<i64> {
        (n < self.per_client).then(|| self.first_seat + client as i64 * self.per_client + n)
    }

    pub async fn delete(self, pool: &PgPool) -> anyhow::Result<()> {
        delete_event(pool, self.id).await
    }
}

/// Deletes a benchmark event with its orders and holds.
async fn delete_event(pool: &PgPool, id: i64) -> anyhow::Result<()> {
    for statement in [
        "DELETE FROM orders.orders WHERE event_id = $1",
        "DELETE FROM catalog.holds WHERE event_id = $1",
        "DELETE FROM catalog.events WHERE id = $1",
    ] {
        sqlx::query(statement).bind(id).execute(pool).await?;
    }
    Ok(())
}

/// Orders of an event still PENDING or PROCESSING.
pub async fn unfinished_orders(pool: &PgPool, event_id: i64) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM orders.orders WHERE event_id = $1 AND status IN ('PENDING', 'PROCESSING')",
    )
    .bind(event_id)
    .fetch_one(pool)
    .await?)
}

/// How the clients of a phase send their operations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Each client sends again as soon as its answer came: the most the server gives, and
    /// the latency of a machine with no idle time left.
    FlatOut,
    /// The clients together offer this many operations per second, each on a fixed
    /// schedule: the latency buyers see at that load.
    Offered(f64),
}

impl Pace {
    /// When `client` of `clients` sends its `n`-th operation, counted from the phase's
    /// start; `None` means as soon as it can. The clients' schedules are staggered evenly.
    fn scheduled(self, clients: usize, client: usize, n: i64) -> Option<Duration> {
        match self {
            Pace::FlatOut => None,
            Pace::Offered(per_second) => {
                let sends_before = n as f64 * clients as f64 + client as f64;
                Some(Duration::from_secs_f64(sends_before / per_second))
            }
        }
    }
}

/// Runs `clients` loops until `duration` is over; each iteration is one timed operation.
/// Under [`Pace::Offered`] an operation's latency counts from when it was due, not from
/// when it went out: a client still waiting for its last answer delays the next one, and
/// that wait is part of what a buyer on that schedule would see.
pub async fn drive<F, Fut>(clients: usize, duration: Duration, pace: Pace, op: F) -> Sample
where
    F: Fn(usize, i64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<bool>> + Send,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let op = op.clone();
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::new(), 0);
                let mut n = 0;
                loop {
                    let due = pace
                        .scheduled(clients, client, n)
                        .map_or_else(Instant::now, |after| start + after);
                    if due >= deadline {
                        break;
                    }
                    if due > Instant::now() {
                        tokio::time::sleep_until(due.into()).await;
                    }
                    match op(client, n).await {
                        Some(true) => latencies.push(due.elapsed()),
                        Some(false) => errors += 1,
                        None => break,
                    }
                    n += 1;
                }
                (latencies, errors)
            })
        })
        .collect();
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for task in tasks {
        if let Ok((l, e)) = task.await {
            latencies.extend(l);
            errors += e;
        }
    }
    Sample {
        latencies,
        errors,
        elapsed: start.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_medians() {
        let latencies = (1..=100).map(Duration::from_millis).collect();
        let f = Figures::from_latencies(latencies, 2, Duration::from_secs(2));
        assert_eq!((f.ops, f.errors), (100, 2));
        assert_eq!(f.per_second, 50.0);
        assert_eq!((f.p50_ms, f.p99_ms), (50.0, 99.0));
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn slices_of_a_phase_add_up() {
        let slice = |ms: u64, errors| Sample {
            latencies: vec![Duration::from_millis(ms); 10],
            errors,
            elapsed: Duration::from_secs(1),
        };
        let mut phase = slice(10, 1);
        phase.add(slice(30, 2));
        let f = phase.figures();
        assert_eq!((f.ops, f.errors, f.per_second), (20, 3, 10.0));
        assert_eq!((f.p50_ms, f.p99_ms), (10.0, 30.0));
    }

    #[test]
    fn offered_pace_staggers_clients_over_the_interval() {
        let pace = Pace::Offered(400.0);
        // 4 clients at 400/s together: each sends every 10 ms, 2.5 ms after the one before.
        assert_eq!(pace.scheduled(4, 0, 0), Some(Duration::ZERO));
        assert_eq!(pace.scheduled(4, 1, 0), Some(Duration::from_micros(2_500)));
        assert_eq!(pace.scheduled(4, 3, 2), Some(Duration::from_micros(27_500)));
        assert_eq!(Pace::FlatOut.scheduled(4, 3, 2), None);
    }
}

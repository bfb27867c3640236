//! Seat holds per second through `spin up`, against the same hold statement run directly
//! on PostgreSQL in the same run: the ratio is what Spin and our code cost on top.
//!
//!   cargo run --release -p ticketbuster-bench --bin holds -- \
//!       --url http://127.0.0.1:3000 --clients 64 --seconds 10 --runs 3
//!
//! It registers its buyers through the API, creates an unlisted-sized bench event per phase
//! directly in the database (and deletes it afterwards), and gives each client its own
//! seats, so every hold should succeed: the figure is capacity, not contention.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde_json::json;
use sqlx::{PgPool, Row};
use ticketbuster_bench::{Figures, arg, median};
use ticketbuster_domain::holds::{HoldPolicy, SeatSelection};
use ticketbuster_native_backend::bind;
use ticketbuster_services::holds::{HOLD_SQL, hold_params};

/// Enough seats for every client to hold one per request at up to 6,000 holds/s.
fn seats_per_client(clients: usize, seconds: u64) -> i64 {
    (6_000 * seconds as i64 / clients as i64).max(2_000)
}

struct Buyer {
    id: String,
    token: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url: String = arg("--url", "http://127.0.0.1:3000".to_string());
    let database_url: String = arg(
        "--database-url",
        std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/ticketbuster".into()),
    );
    let clients: usize = arg("--clients", 64);
    let seconds: u64 = arg("--seconds", 10);
    let runs: usize = arg("--runs", 3);
    ensure!(
        clients > 0 && seconds > 0 && runs > 0,
        "clients, seconds and runs must be positive"
    );

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let health = http
        .get(format!("{url}/api/health"))
        .send()
        .await
        .context("is spin up running?")?;
    ensure!(
        health.status().is_success(),
        "{url}/api/health answered {}",
        health.status()
    );
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(clients as u32)
        .connect(&database_url)
        .await?;
    let buyers = Arc::new(register_buyers(&http, &url, clients).await?);
    println!(
        "holds benchmark: {clients} clients, {seconds} s per phase, {runs} runs, target {url}"
    );

    let duration = Duration::from_secs(seconds);
    let (mut spin_rates, mut sql_rates, mut spin_p50, mut spin_p99) =
        (vec![], vec![], vec![], vec![]);
    for run in 1..=runs {
        let per_client = seats_per_client(clients, seconds);
        let event = BenchEvent::create(&pool, clients, per_client).await?;
        let spin = through_spin(&http, &url, &buyers, &event, duration).await;
        event.delete(&pool).await?;
        let event = BenchEvent::create(&pool, clients, per_client).await?;
        let sql = bare_sql(&pool, &buyers, &event, duration).await;
        event.delete(&pool).await?;
        println!("run {run}: spin {spin}");
        println!(
            "run {run}: sql  {sql}   spin/sql = {:.0} %",
            100.0 * spin.per_second / sql.per_second
        );
        spin_rates.push(spin.per_second);
        spin_p50.push(spin.p50_ms);
        spin_p99.push(spin.p99_ms);
        sql_rates.push(sql.per_second);
    }
    let (spin_rate, sql_rate) = (median(spin_rates), median(sql_rates));
    println!(
        "median of {runs}: spin {spin_rate:.0} holds/s, p50 {:.2} ms, p99 {:.2} ms; bare SQL {sql_rate:.0} holds/s; spin/sql = {:.0} %",
        median(spin_p50),
        median(spin_p99),
        100.0 * spin_rate / sql_rate
    );
    Ok(())
}

async fn register_buyers(
    http: &reqwest::Client,
    url: &str,
    count: usize,
) -> anyhow::Result<Vec<Buyer>> {
    let mut buyers = Vec::with_capacity(count);
    for i in 0..count {
        let email = format!("bench-{i}-{}@example.com", uuid::Uuid::new_v4().simple());
        let answer: serde_json::Value = http
            .post(format!("{url}/api/auth/register"))
            .json(&json!({"email": email, "password": "benchmark password", "name": "Bench Buyer"}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
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

/// A published event with `seats` seats, made for one phase and deleted after it.
struct BenchEvent {
    id: i64,
    first_seat: i64,
    per_client: i64,
}

impl BenchEvent {
    async fn create(pool: &PgPool, clients: usize, per_client: i64) -> anyhow::Result<Self> {
        let seats = clients as i64 * per_client;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO catalog.events (slug, title, category, description, venue, city, starts_at, ends_at, status)
             VALUES ($1, 'Benchmark', 'concert', 'benchmark event', 'Bench', 'Bench',
                     now() + interval '1 day', now() + interval '1 day 2 hours', 'published') RETURNING id",
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
    fn seat(&self, client: usize, n: i64) -> Option<i64> {
        (n < self.per_client).then(|| self.first_seat + client as i64 * self.per_client + n)
    }

    async fn delete(self, pool: &PgPool) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM catalog.holds WHERE event_id = $1")
            .bind(self.id)
            .execute(pool)
            .await?;
        sqlx::query("DELETE FROM catalog.events WHERE id = $1")
            .bind(self.id)
            .execute(pool)
            .await?;
        Ok(())
    }
}

/// Runs `clients` loops until `duration` is over; each iteration is one timed operation.
async fn drive<F, Fut>(clients: usize, duration: Duration, op: F) -> Figures
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
                while Instant::now() < deadline {
                    let began = Instant::now();
                    match op(client, n).await {
                        Some(true) => latencies.push(began.elapsed()),
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
    Figures::from_latencies(latencies, errors, start.elapsed())
}

/// Each client's seats, in the order it holds them.
fn seat_plan(event: &BenchEvent, clients: usize) -> Vec<Vec<i64>> {
    (0..clients)
        .map(|c| {
            (0..event.per_client)
                .filter_map(|n| event.seat(c, n))
                .collect()
        })
        .collect()
}

async fn through_spin(
    http: &reqwest::Client,
    url: &str,
    buyers: &Arc<Vec<Buyer>>,
    event: &BenchEvent,
    duration: Duration,
) -> Figures {
    let (http, endpoint, buyers) = (
        http.clone(),
        format!("{url}/api/events/{}/holds", event.id),
        buyers.clone(),
    );
    let seats = Arc::new(seat_plan(event, buyers.len()));
    drive(buyers.len(), duration, move |client, n| {
        let (http, endpoint, buyers, seats) = (
            http.clone(),
            endpoint.clone(),
            buyers.clone(),
            seats.clone(),
        );
        async move {
            let seat = *seats.get(client)?.get(n as usize)?;
            let answer = http
                .post(&endpoint)
                .bearer_auth(&buyers[client].token)
                .json(&json!({ "seat_ids": [seat] }))
                .send()
                .await;
            Some(matches!(answer, Ok(r) if r.status() == reqwest::StatusCode::CREATED))
        }
    })
    .await
}

async fn bare_sql(
    pool: &PgPool,
    buyers: &Arc<Vec<Buyer>>,
    event: &BenchEvent,
    duration: Duration,
) -> Figures {
    let (pool, buyers, event_id) = (pool.clone(), buyers.clone(), event.id);
    let seats = Arc::new(seat_plan(event, buyers.len()));
    drive(buyers.len(), duration, move |client, n| {
        let (pool, buyers, seats) = (pool.clone(), buyers.clone(), seats.clone());
        async move {
            let seat = *seats.get(client)?.get(n as usize)?;
            let policy = HoldPolicy::default();
            let selection = SeatSelection::parse(&[seat], &policy).ok()?;
            let params = hold_params(event_id, &selection, &buyers[client].id, policy.ttl_seconds);
            let row = bind(sqlx::query(HOLD_SQL), &params).fetch_one(&pool).await;
            Some(matches!(
                row.map(|r| r.try_get::<Option<String>, _>("hold_id")),
                Ok(Ok(Some(_)))
            ))
        }
    })
    .await
}

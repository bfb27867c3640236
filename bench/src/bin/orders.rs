//! Completed orders per second through `spin up`: 64 buyers on distinct seats place orders
//! as fast as they are accepted, the order worker (Spin's Redis trigger) completes them,
//! and the delay from acceptance to the COMPLETED row is read from the order history.
//! Then QR images against a reference request of the same component, one client.
//!
//!   cargo run --release -p ticketbuster-bench --bin orders -- \
//!       --url http://127.0.0.1:3000 --clients 64 --seconds 10 --runs 3
//!
//! Each buyer's holds are made beforehand with the bare hold statement (not measured),
//! so the figure is the orders path: accept, publish, claim, pay, sell, issue tickets.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde_json::json;
use sqlx::{PgPool, Row};
use ticketbuster_bench::{
    BenchEvent, Buyer, Figures, Pace, RunArgs, WARM_UP_SECONDS, drive, median, register_buyers,
    unfinished_orders,
};
use ticketbuster_domain::holds::{HoldPolicy, SeatSelection};
use ticketbuster_native_backend::bind;
use ticketbuster_services::holds::{HOLD_SQL, hold_params};

/// Orders each buyer can place in one run: enough for 2,500 orders/s.
fn holds_per_client(clients: usize, seconds: u64) -> i64 {
    (2_500 * seconds as i64 / clients as i64).max(50)
}

/// How long to wait for the worker to finish what was accepted.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let RunArgs {
        url,
        database_url,
        clients,
        seconds,
        runs,
    } = RunArgs::parse()?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .connect(&database_url)
        .await?;
    BenchEvent::remove_leftovers(&pool).await?;
    let buyers = Arc::new(register_buyers(&http, &url, clients).await?);
    println!("orders benchmark: {clients} buyers, {seconds} s per run, {runs} runs, target {url}");

    let (mut rates, mut p50s, mut p99s) = (vec![], vec![], vec![]);
    // Run 0 warms Spin's connection pool and PostgreSQL's plans up; it is shown, not counted.
    for run in 0..=runs {
        let seconds = if run == 0 { WARM_UP_SECONDS } else { seconds };
        let event = BenchEvent::create(&pool, clients, holds_per_client(clients, seconds)).await?;
        let holds = Arc::new(make_holds(&pool, &buyers, &event).await?);
        let accepted =
            place_orders(&http, &url, &buyers, &holds, Duration::from_secs(seconds)).await;
        let done = completion(&pool, event.id).await?;
        event.delete(&pool).await?;
        if run == 0 {
            println!(
                "warm-up ({WARM_UP_SECONDS} s, not counted): accepted {accepted}; completed {:.0}/s, p99 {:.1} ms",
                done.per_second, done.p99_ms
            );
            continue;
        }
        println!("run {run}: accepted {accepted}");
        println!(
            "run {run}: completed {:>6.0}/s  accept→COMPLETED p50 {:>6.1} ms  p99 {:>6.1} ms  ({} completed, {} failed, {} unfinished)",
            done.per_second, done.p50_ms, done.p99_ms, done.completed, done.failed, done.unfinished
        );
        rates.push(done.per_second);
        p50s.push(done.p50_ms);
        p99s.push(done.p99_ms);
    }
    println!(
        "median of {runs}: {:.0} completed orders/s, accept→COMPLETED p50 {:.1} ms, p99 {:.1} ms",
        median(rates),
        median(p50s),
        median(p99s)
    );
    qr_figures(&http, &url, &pool, &buyers[0]).await
}

/// Each buyer's holds, one seat each, made with the bare hold statement.
async fn make_holds(
    pool: &PgPool,
    buyers: &[Buyer],
    event: &BenchEvent,
) -> anyhow::Result<Vec<Vec<String>>> {
    let policy = HoldPolicy::default();
    let mut holds = Vec::with_capacity(buyers.len());
    for (client, buyer) in buyers.iter().enumerate() {
        let mut mine = Vec::new();
        for n in 0..event.per_client {
            let seat = event.seat(client, n).context("a seat of the client")?;
            let selection = SeatSelection::parse(&[seat], &policy)?;
            let params = hold_params(event.id, &selection, &buyer.id, &policy);
            let row = bind(sqlx::query(HOLD_SQL), &params).fetch_one(pool).await?;
            mine.push(
                row.try_get::<Option<String>, _>("hold_id")?
                    .context("a hold")?,
            );
        }
        holds.push(mine);
    }
    Ok(holds)
}

async fn place_orders(
    http: &reqwest::Client,
    url: &str,
    buyers: &Arc<Vec<Buyer>>,
    holds: &Arc<Vec<Vec<String>>>,
    duration: Duration,
) -> Figures {
    let (http, endpoint, buyers, holds) = (
        http.clone(),
        format!("{url}/api/orders"),
        buyers.clone(),
        holds.clone(),
    );
    drive(buyers.len(), duration, Pace::FlatOut, move |client, n| {
        let (http, endpoint, buyers, holds) = (
            http.clone(),
            endpoint.clone(),
            buyers.clone(),
            holds.clone(),
        );
        async move {
            let hold_id = holds.get(client)?.get(n as usize)?.clone();
            let answer = http
                .post(&endpoint)
                .bearer_auth(&buyers[client].token)
                .header("idempotency-key", format!("bench-{hold_id}"))
                .json(&json!({ "hold_id": hold_id }))
                .send()
                .await;
            Some(matches!(answer, Ok(r) if r.status() == reqwest::StatusCode::ACCEPTED))
        }
    })
    .await
    .figures()
}

struct Completion {
    completed: i64,
    failed: i64,
    unfinished: i64,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Waits for the worker to settle the event's orders, then reads the delays from the
/// history: placed (`created_at`) to the COMPLETED row.
async fn completion(pool: &PgPool, event_id: i64) -> anyhow::Result<Completion> {
    let began = Instant::now();
    loop {
        let unfinished = unfinished_orders(pool, event_id).await?;
        if unfinished == 0 || began.elapsed() > DRAIN_LIMIT {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let row = sqlx::query(
        "SELECT count(*) FILTER (WHERE o.status = 'COMPLETED') AS completed,
                count(*) FILTER (WHERE o.status = 'FAILED') AS failed,
                count(*) FILTER (WHERE o.status IN ('PENDING', 'PROCESSING')) AS unfinished,
                extract(epoch FROM max(h.at) - min(o.created_at))::float8 AS span_s,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM h.at - o.created_at))::float8 * 1000 AS p50_ms,
                percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM h.at - o.created_at))::float8 * 1000 AS p99_ms
         FROM orders.orders o
         LEFT JOIN orders.order_history h ON h.order_id = o.id AND h.to_status = 'COMPLETED'
         WHERE o.event_id = $1",
    )
    .bind(event_id)
    .fetch_one(pool)
    .await?;
    let completed: i64 = row.try_get("completed")?;
    let span: Option<f64> = row.try_get("span_s")?;
    Ok(Completion {
        completed,
        failed: row.try_get("failed")?,
        unfinished: row.try_get("unfinished")?,
        per_second: span
            .filter(|s| *s > 0.0)
            .map_or(0.0, |s| completed as f64 / s),
        p50_ms: row.try_get::<Option<f64>, _>("p50_ms")?.unwrap_or_default(),
        p99_ms: row.try_get::<Option<f64>, _>("p99_ms")?.unwrap_or_default(),
    })
}

/// One buyer's ticket: QR images against the order's own JSON (same component, same
/// lookups, no signing or rendering), sequentially; the difference is what signing and
/// rendering in wasm cost.
async fn qr_figures(
    http: &reqwest::Client,
    url: &str,
    pool: &PgPool,
    buyer: &Buyer,
) -> anyhow::Result<()> {
    let event = BenchEvent::create(pool, 1, 1).await?;
    let holds = make_holds(pool, std::slice::from_ref(buyer), &event).await?;
    let hold_id = &holds[0][0];
    let placed: serde_json::Value = http
        .post(format!("{url}/api/orders"))
        .bearer_auth(&buyer.token)
        .header("idempotency-key", format!("bench-qr-{hold_id}"))
        .json(&json!({ "hold_id": hold_id }))
        .send()
        .await?
        .json()
        .await?;
    let order_url = format!(
        "{url}{}",
        placed["status_url"].as_str().context("status_url")?
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let tickets = loop {
        let tickets: serde_json::Value = http
            .get(format!("{order_url}/tickets"))
            .bearer_auth(&buyer.token)
            .send()
            .await?
            .json()
            .await?;
        if tickets["items"].as_array().is_some_and(|t| !t.is_empty()) {
            break tickets;
        }
        ensure!(Instant::now() < deadline, "the order did not complete");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let ticket = &tickets["items"][0];
    let targets = [
        ("order JSON (reference)", order_url.clone()),
        (
            "qr.svg",
            format!("{url}{}", ticket["qr_svg_url"].as_str().context("svg url")?),
        ),
        (
            "qr.png",
            format!("{url}{}", ticket["qr_png_url"].as_str().context("png url")?),
        ),
    ];
    let mut reference = 0.0;
    for (name, target) in targets {
        let mut latencies = Vec::new();
        for i in 0..220 {
            let began = Instant::now();
            let response = http.get(&target).bearer_auth(&buyer.token).send().await?;
            ensure!(
                response.status().is_success(),
                "{name}: {}",
                response.status()
            );
            response.bytes().await?;
            if i >= 20 {
                latencies.push(began.elapsed());
            }
        }
        let figures = Figures::from_latencies(latencies, 0, Duration::from_secs(1));
        if reference == 0.0 {
            reference = figures.p50_ms;
            println!(
                "{name:<24} p50 {:>6.2} ms  p99 {:>6.2} ms",
                figures.p50_ms, figures.p99_ms
            );
        } else {
            println!(
                "{name:<24} p50 {:>6.2} ms  p99 {:>6.2} ms  (sign + render ≈ {:.2} ms over the reference)",
                figures.p50_ms,
                figures.p99_ms,
                figures.p50_ms - reference
            );
        }
    }
    event.delete(pool).await
}

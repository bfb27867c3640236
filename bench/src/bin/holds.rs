//! Seat holds per second through `spin up`, against the same hold statement run directly
//! on PostgreSQL in the same run: the ratio is what Spin and our code cost on top. Then
//! the latency at a given load: the same clients offer `--rate` holds a second between
//! them (1,500 unless told), each on a fixed schedule, through Spin and to PostgreSQL.
//!
//!   cargo run --release -p ticketbuster-bench --bin holds -- \
//!       --url http://127.0.0.1:3000 --clients 64 --seconds 10 --runs 3 [--rate 1500]
//!
//! It registers its buyers through the API, creates a bench event per phase and run
//! directly in the database (and deletes it afterwards), and gives each client its own
//! seats, so every hold should succeed: the figure is capacity, not contention. The two
//! phases take turns in slices of a few seconds (see [`SLICE`]).

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, ensure};
use serde_json::json;
use sqlx::{PgPool, Row};
use ticketbuster_bench::{
    BenchEvent, Buyer, Figures, Pace, RunArgs, Sample, WARM_UP_SECONDS, arg, drive, median,
    register_buyers,
};
use ticketbuster_domain::holds::{HoldPolicy, SeatSelection};
use ticketbuster_native_backend::bind;
use ticketbuster_services::holds::{HOLD_SQL, hold_params};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let RunArgs {
        url,
        database_url,
        clients,
        seconds,
        runs,
    } = RunArgs::parse()?;
    let offered: f64 = arg("--rate", TARGET_RATE);
    ensure!(offered > 0.0, "--rate must be positive");

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
    BenchEvent::remove_leftovers(&pool).await?;
    let buyers = Arc::new(register_buyers(&http, &url, clients).await?);
    println!(
        "holds benchmark: {clients} clients, {seconds} s per phase, {runs} runs, target {url}"
    );

    let (mut flat_out, mut paced) = (Phases::default(), Phases::default());
    // Run 0 warms Spin's instances and connections and PostgreSQL's plans up; it is shown,
    // not counted.
    for run in 0..=runs {
        let seconds = if run == 0 { WARM_UP_SECONDS } else { seconds };
        let (spin, sql) = interleaved(&http, &url, &pool, &buyers, seconds, Pace::FlatOut).await?;
        if run == 0 {
            println!("warm-up ({WARM_UP_SECONDS} s, not counted): spin {spin}; sql {sql}");
            continue;
        }
        println!("run {run}: spin {spin}");
        println!(
            "run {run}: sql  {sql}   spin/sql = {:.0} %",
            100.0 * spin.per_second / sql.per_second
        );
        flat_out.add(spin, sql);
        let pace = Pace::Offered(offered);
        let (spin, sql) = interleaved(&http, &url, &pool, &buyers, seconds, pace).await?;
        println!("run {run}: at {offered:.0}/s offered: spin {spin}");
        println!("run {run}: at {offered:.0}/s offered: sql  {sql}");
        paced.add(spin, sql);
    }
    let (spin_rate, sql_rate) = (
        flat_out.spin(|f| f.per_second),
        flat_out.sql(|f| f.per_second),
    );
    println!(
        "median of {runs}: spin {spin_rate:.0} holds/s, p50 {:.2} ms, p99 {:.2} ms; bare SQL {sql_rate:.0} holds/s; spin/sql = {:.0} %",
        flat_out.spin(|f| f.p50_ms),
        flat_out.spin(|f| f.p99_ms),
        100.0 * spin_rate / sql_rate
    );
    println!(
        "median of {runs} at {offered:.0} holds/s offered: spin {:.0} holds/s, p50 {:.2} ms, p99 {:.2} ms; bare SQL p50 {:.2} ms, p99 {:.2} ms",
        paced.spin(|f| f.per_second),
        paced.spin(|f| f.p50_ms),
        paced.spin(|f| f.p99_ms),
        paced.sql(|f| f.p50_ms),
        paced.sql(|f| f.p99_ms),
    );
    Ok(())
}

/// The load `--rate` offers by default: the target of 1,500 holds a second.
const TARGET_RATE: f64 = 1_500.0;

/// The figures of the counted runs, through Spin and of the bare statement.
#[derive(Default)]
struct Phases {
    spin: Vec<Figures>,
    sql: Vec<Figures>,
}

impl Phases {
    fn add(&mut self, spin: Figures, sql: Figures) {
        self.spin.push(spin);
        self.sql.push(sql);
    }

    fn spin(&self, figure: impl Fn(&Figures) -> f64) -> f64 {
        median(self.spin.iter().map(figure).collect())
    }

    fn sql(&self, figure: impl Fn(&Figures) -> f64) -> f64 {
        median(self.sql.iter().map(figure).collect())
    }
}

/// Measured length of one slice. The machine's speed drifts from one 10 s stretch to the
/// next, so the two phases take turns in short slices and see the same machine: one 10 s
/// phase after the other put the ratio anywhere between a third and a half.
const SLICE: Duration = Duration::from_secs(2);

/// Load before each slice, not counted, so that each phase is measured once it has the
/// machine back from the other; the bare statement gets the same. Spin's instances live
/// through the bare statement's slice because `scripts/up.sh` gives them a 10 s idle
/// timeout: under Spin's default of 1 s, every Spin slice began with about 25 new
/// instances and ran about 15 % slower than a steady on-sale throughout.
const SLICE_WARM_UP: Duration = Duration::from_millis(500);

/// The most holds all clients together make per second, about twice the bare statement's
/// rate here: sizes each client's share of seats. A client that runs out stops early.
const MAX_HOLDS_PER_SECOND: u128 = 6_000;

/// Seats one of `clients` may hold in `duration`, at 100 a second at least.
fn seats_for(clients: usize, duration: Duration) -> i64 {
    let per_second = (MAX_HOLDS_PER_SECOND / clients as u128).max(100);
    (per_second * duration.as_millis()).div_ceil(1000) as i64
}

/// `seconds` of holds through Spin and as many of the bare statement, in alternating
/// slices, each phase on an event of its own.
async fn interleaved(
    http: &reqwest::Client,
    url: &str,
    pool: &PgPool,
    buyers: &Arc<Vec<Buyer>>,
    seconds: u64,
    pace: Pace,
) -> anyhow::Result<(Figures, Figures)> {
    let total = Duration::from_secs(seconds);
    let slices: Vec<Duration> = (0..seconds.div_ceil(SLICE.as_secs()) as u32)
        .map(|n| SLICE.min(total - SLICE * n))
        .collect();
    let clients = buyers.len();
    let per_client = slices
        .iter()
        .map(|&length| seats_for(clients, SLICE_WARM_UP) + seats_for(clients, length))
        .sum();
    let spin_event = BenchEvent::create(pool, clients, per_client).await?;
    let sql_event = BenchEvent::create(pool, clients, per_client).await?;
    let mut next_seat = 0;
    let mut take = |duration: Duration| {
        let seats = next_seat..next_seat + seats_for(clients, duration);
        next_seat = seats.end;
        seats
    };
    // Each slice of each phase runs uncounted, then counted, on seats of its own.
    let spin_part = |seats: &Range<i64>, length| {
        let plan = seat_plan(&spin_event, clients, seats.clone());
        through_spin(http, url, buyers, spin_event.id, plan, length, pace)
    };
    let sql_part = |seats: &Range<i64>, length| {
        let plan = seat_plan(&sql_event, clients, seats.clone());
        bare_sql(pool, buyers, sql_event.id, plan, length, pace)
    };
    let (mut spin, mut sql) = (Sample::default(), Sample::default());
    for length in slices {
        let (warm_up, measured) = (take(SLICE_WARM_UP), take(length));
        spin_part(&warm_up, SLICE_WARM_UP).await;
        spin.add(spin_part(&measured, length).await);
        sql_part(&warm_up, SLICE_WARM_UP).await;
        sql.add(sql_part(&measured, length).await);
    }
    spin_event.delete(pool).await?;
    sql_event.delete(pool).await?;
    Ok((spin.figures(), sql.figures()))
}

/// Each client's seats of the slice, in the order it holds them.
fn seat_plan(event: &BenchEvent, clients: usize, slice: Range<i64>) -> Arc<Vec<Vec<i64>>> {
    Arc::new(
        (0..clients)
            .map(|c| slice.clone().filter_map(|n| event.seat(c, n)).collect())
            .collect(),
    )
}

async fn through_spin(
    http: &reqwest::Client,
    url: &str,
    buyers: &Arc<Vec<Buyer>>,
    event_id: i64,
    seats: Arc<Vec<Vec<i64>>>,
    duration: Duration,
    pace: Pace,
) -> Sample {
    let (http, endpoint, buyers) = (
        http.clone(),
        format!("{url}/api/events/{event_id}/holds"),
        buyers.clone(),
    );
    drive(buyers.len(), duration, pace, move |client, n| {
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
    event_id: i64,
    seats: Arc<Vec<Vec<i64>>>,
    duration: Duration,
    pace: Pace,
) -> Sample {
    let (pool, buyers) = (pool.clone(), buyers.clone());
    drive(buyers.len(), duration, pace, move |client, n| {
        let (pool, buyers, seats) = (pool.clone(), buyers.clone(), seats.clone());
        async move {
            let seat = *seats.get(client)?.get(n as usize)?;
            let policy = HoldPolicy::default();
            let selection = SeatSelection::parse(&[seat], &policy).ok()?;
            let params = hold_params(event_id, &selection, &buyers[client].id, &policy);
            let row = bind(sqlx::query(HOLD_SQL), &params).fetch_one(&pool).await;
            Some(matches!(
                row.map(|r| r.try_get::<Option<String>, _>("hold_id")),
                Ok(Ok(Some(_)))
            ))
        }
    })
    .await
}

//! Seat holds per second through `spin up`, against the same hold statement run directly
//! on PostgreSQL in the same run: the ratio is what Spin and our code cost on top. Then
//! the latency at a given load: the same clients offer `--rate` holds a second between
//! them (1,500 unless told), each on a fixed schedule, through Spin and to PostgreSQL.
//!
//!   cargo run --release -p ticketbuster-bench --bin holds -- \
//!       --url http://127.0.0.1:3000 --clients 64 --seconds 10 --runs 3 [--rate 1500]
//!
//! The Spin/SQL ratio is computed per run (the run's Spin rate over the same run's SQL
//! rate, measured in interleaved slices) and the median of those ratios is reported.
//!
//! It registers its buyers through the API, creates a bench event per phase and run
//! directly in the database (and deletes it afterwards), and gives each client its own
//! seats, so every hold should succeed: the figure is capacity, not contention. The two
//! phases take turns in slices of a few seconds (see [`SLICE`]).

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use anyhow::ensure;
use clap::Parser;
use serde_json::json;
use sqlx::{PgPool, Row};
use ticketbuster_bench::{
    BenchEvent, Buyer, DatabaseArg, EXIT_STATUS, Figures, Pace, RunArgs, Sample, WARM_UP_SECONDS,
    drive, ensure_up, median, per_second, progress, register_buyers,
};
use ticketbuster_domain::holds::{HoldPolicy, SeatSelection};
use ticketbuster_native_backend::bind;
use ticketbuster_services::holds::{HOLD_SQL, hold_params};

/// Seat holds per second through `spin up` against the bare hold statement on PostgreSQL,
/// flat out and at an offered rate.
///
/// Each run measures holds through Spin and the same statement sent straight to PostgreSQL,
/// in interleaved 2 s slices, first flat out (each client sends again as soon as it is
/// answered), then with the clients together offering `--rate` holds a second. Every
/// client holds its own seats, on events the benchmark makes in the database and deletes
/// afterwards, so the figure is capacity, not contention. The Spin/SQL ratio is computed
/// per run and the median of the per-run ratios is reported. Start the stack with raised
/// rate limits (see docs/benchmarks.md), or registering the buyers waits out the 429s.
#[derive(Parser)]
#[command(version, after_help = EXIT_STATUS)]
struct Args {
    #[command(flatten)]
    run: RunArgs,
    /// Holds per second the clients offer together in the paced phase.
    #[arg(long, default_value_t = TARGET_RATE, value_parser = per_second)]
    rate: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Args {
        run:
            RunArgs {
                url,
                database: DatabaseArg { database_url },
                clients,
                seconds,
                runs,
            },
        rate: offered,
    } = Args::parse();

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    ensure_up(&http, &url).await?;
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
        if run == 0 {
            progress!("warm-up: {seconds} s through Spin and {seconds} s of bare SQL");
        } else {
            progress!(
                "run {run} of {runs}: flat out, {seconds} s through Spin and {seconds} s of bare SQL"
            );
        }
        let (spin, sql) = interleaved(&http, &url, &pool, &buyers, seconds, Pace::FlatOut).await?;
        if run == 0 {
            println!("warm-up ({WARM_UP_SECONDS} s, not counted): spin {spin}; sql {sql}");
            continue;
        }
        println!("run {run}: spin {spin}");
        let ratio = spin_over_sql(&spin, &sql)?;
        println!("run {run}: sql  {sql}   spin/sql = {:.0} %", 100.0 * ratio);
        flat_out.add(spin, sql);
        progress!("run {run} of {runs}: {offered:.0} holds/s offered, {seconds} s each");
        let pace = Pace::Offered(offered);
        let (spin, sql) = interleaved(&http, &url, &pool, &buyers, seconds, pace).await?;
        println!("run {run}: at {offered:.0}/s offered: spin {spin}");
        println!("run {run}: at {offered:.0}/s offered: sql  {sql}");
        paced.add(spin, sql);
    }
    let ratios = flat_out.ratios()?;
    println!(
        "median of {runs}: spin {:.0} holds/s, p50 {:.2} ms, p99 {:.2} ms; bare SQL {:.0} holds/s; \
         spin/sql = {:.0} % (median of the per-run ratios {})",
        flat_out.spin(|f| f.per_second),
        flat_out.spin(|f| f.p50_ms),
        flat_out.spin(|f| f.p99_ms),
        flat_out.sql(|f| f.per_second),
        100.0 * median(ratios.clone()),
        in_percent(&ratios),
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

/// Spin's rate over the bare statement's in the same run.
fn spin_over_sql(spin: &Figures, sql: &Figures) -> anyhow::Result<f64> {
    ensure!(
        sql.per_second > 0.0,
        "the bare statement made no holds ({} errors): is the database of --database-url the app's?",
        sql.errors
    );
    Ok(spin.per_second / sql.per_second)
}

/// Ratios in run order as percentages, e.g. `54, 56, 57 %`.
fn in_percent(ratios: &[f64]) -> String {
    let percents: Vec<String> = ratios.iter().map(|r| format!("{:.0}", 100.0 * r)).collect();
    format!("{} %", percents.join(", "))
}

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

    /// Each run's Spin rate over the same run's bare SQL rate, in run order. Their median
    /// is the figure: each ratio compares two phases that saw the same machine, which a
    /// ratio of the two medians (perhaps from different runs) does not.
    fn ratios(&self) -> anyhow::Result<Vec<f64>> {
        self.spin
            .iter()
            .zip(&self.sql)
            .map(|(spin, sql)| spin_over_sql(spin, sql))
            .collect()
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
            let params = hold_params(event_id, &selection, &buyers[client].id, &policy, None);
            let row = bind(sqlx::query(HOLD_SQL), &params).fetch_one(&pool).await;
            Some(matches!(
                row.map(|r| r.try_get::<Option<String>, _>("hold_id")),
                Ok(Ok(Some(_)))
            ))
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }

    fn rate(per_second: f64) -> Figures {
        Figures {
            per_second,
            ..Figures::from_latencies(Vec::new(), 0, Duration::from_secs(1))
        }
    }

    #[test]
    fn the_ratio_is_the_median_of_per_run_ratios_not_a_ratio_of_medians() {
        let mut runs = Phases::default();
        // Per run: 50 %, 75 %, 90 %. The medians' ratio would be 100 / 200 = 50 %.
        for (spin, sql) in [(100.0, 200.0), (300.0, 400.0), (90.0, 100.0)] {
            runs.add(rate(spin), rate(sql));
        }
        let ratios = runs.ratios().expect("every run made bare SQL holds");
        assert_eq!(ratios, vec![0.5, 0.75, 0.9]);
        assert_eq!(median(ratios.clone()), 0.75);
        assert_eq!(in_percent(&ratios), "50, 75, 90 %");
    }

    #[test]
    fn a_run_without_bare_sql_holds_is_an_error_not_an_infinite_ratio() {
        assert_eq!(spin_over_sql(&rate(50.0), &rate(200.0)).ok(), Some(0.25));
        assert!(spin_over_sql(&rate(50.0), &rate(0.0)).is_err());
    }
}

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
//!
//! The accept → COMPLETED percentiles are over every order the run placed: one still
//! unfinished at the drain limit counts as at least the time it waited (censored, shown
//! as `≥`), and a FAILED one as never completed, so neither shortens the tail.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Parser;
use serde_json::json;
use sqlx::{PgPool, Row};
use ticketbuster_bench::{
    BenchEvent, Buyer, DatabaseArg, EXIT_STATUS, Figures, PROGRESS_EVERY, Pace, RunArgs,
    WARM_UP_SECONDS, drive, ensure_up, median, nearest_rank, per_second, progress, register_buyers,
    unfinished_orders,
};
use ticketbuster_domain::holds::{HoldPolicy, SeatSelection};
use ticketbuster_native_backend::bind;
use ticketbuster_services::holds::{HOLD_SQL, hold_params};

/// Orders each buyer can place in one run: enough for 2,500 orders/s.
fn holds_per_client(clients: usize, seconds: u64) -> i64 {
    (2_500 * seconds as i64 / clients as i64).max(50)
}

/// Completed orders per second through `spin up`, and the delay from acceptance to the
/// COMPLETED row; then QR images against a reference request.
///
/// Each buyer places orders for holds made beforehand (not measured) for `--seconds`; the
/// benchmark then waits up to `--drain-seconds` for the order worker to settle them and
/// reads the delays from the order history. The percentiles are over every order placed:
/// one still unfinished at the drain limit counts as at least the time it waited
/// (censored, printed with `≥`), a FAILED one as never completed. Start the stack with
/// raised rate limits (see docs/benchmarks.md), or registering the buyers waits out the
/// 429s.
#[derive(Parser)]
#[command(version, after_help = EXIT_STATUS)]
struct Args {
    #[command(flatten)]
    run: RunArgs,
    /// How long to wait, after a run's orders are placed, for the worker to settle them.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    drain_seconds: u64,
    /// Offer this many orders a second, each on a fixed schedule, instead of placing them
    /// flat out; the accept latency then counts from when each order was due. At most
    /// 2,500 (the holds made beforehand per run).
    #[arg(long, value_parser = offered_orders)]
    rate: Option<f64>,
}

/// Holds are made beforehand for 2,500 orders a second; a higher offer would run out.
const MAX_OFFERED_PER_SECOND: f64 = 2_500.0;

fn offered_orders(text: &str) -> Result<f64, String> {
    let rate = per_second(text)?;
    if rate <= MAX_OFFERED_PER_SECOND {
        Ok(rate)
    } else {
        Err(format!("at most {MAX_OFFERED_PER_SECOND} orders a second"))
    }
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
        drain_seconds,
        rate,
    } = Args::parse();
    let pace = rate.map_or(Pace::FlatOut, Pace::Offered);
    let offered = rate.map_or_else(
        || "flat out".to_owned(),
        |r| format!("{r:.0} orders/s offered"),
    );
    let drain_limit = Duration::from_secs(drain_seconds);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    ensure_up(&http, &url).await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .connect(&database_url)
        .await?;
    BenchEvent::remove_leftovers(&pool).await?;
    let buyers = Arc::new(register_buyers(&http, &url, clients).await?);
    println!(
        "orders benchmark: {clients} buyers, {offered}, {seconds} s per run, {runs} runs, target {url}"
    );

    let mut counted = Vec::with_capacity(runs);
    // Run 0 warms Spin's connection pool and PostgreSQL's plans up; it is shown, not counted.
    for run in 0..=runs {
        let seconds = if run == 0 { WARM_UP_SECONDS } else { seconds };
        let name = if run == 0 {
            "warm-up".to_owned()
        } else {
            format!("run {run} of {runs}")
        };
        progress!("{name}: making {clients} buyers' holds");
        let event = BenchEvent::create(&pool, clients, holds_per_client(clients, seconds)).await?;
        let holds = Arc::new(make_holds(&pool, &buyers, &event).await?);
        progress!("{name}: placing orders for {seconds} s");
        let sampler = BacklogSampler::start(pool.clone(), event.id);
        let accepted = place_orders(
            &http,
            &url,
            &buyers,
            &holds,
            Duration::from_secs(seconds),
            pace,
        )
        .await;
        let placing_ended = sampler.elapsed();
        drain(&pool, event.id, drain_limit, &name).await?;
        let backlog = sampler.stop().await?;
        let done = completion(&pool, event.id).await?;
        event.delete(&pool).await?;
        if run == 0 {
            println!(
                "warm-up ({WARM_UP_SECONDS} s, not counted): accepted {accepted}; completed {:.0}/s, p99 {}",
                done.per_second, done.p99
            );
            continue;
        }
        println!("run {run}: accepted {accepted}");
        println!("run {run}: {}", backlog.describe(placing_ended));
        println!(
            "run {run}: completed {:>6.0}/s  accept→COMPLETED p50 {:>8}  p99 {:>8}  ({} placed: {} completed, {} FAILED, {} unfinished)",
            done.per_second,
            done.p50,
            done.p99,
            done.placed(),
            done.completed,
            done.failed,
            done.unfinished
        );
        counted.push(done);
    }
    let total = |count: fn(&Completion) -> usize| counted.iter().map(count).sum::<usize>();
    println!(
        "median of {runs}: {:.0} completed orders/s, accept→COMPLETED p50 {}, p99 {}; \
         over {} placed orders, {} FAILED and {} unfinished after the {drain_seconds} s drain",
        median(counted.iter().map(|c| c.per_second).collect()),
        Delay::median(counted.iter().map(|c| c.p50).collect()),
        Delay::median(counted.iter().map(|c| c.p99).collect()),
        total(Completion::placed),
        total(|c| c.failed),
        total(|c| c.unfinished),
    );
    println!(
        "(percentiles over every placed order: an unfinished one counts as at least its wait, \
         censored, shown as ≥; a FAILED one as never completed)"
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
            let params = hold_params(event.id, &selection, &buyer.id, &policy, None);
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
    pace: Pace,
) -> Figures {
    let (http, endpoint, buyers, holds) = (
        http.clone(),
        format!("{url}/api/orders"),
        buyers.clone(),
        holds.clone(),
    );
    drive(buyers.len(), duration, pace, move |client, n| {
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

/// How often the backlog is sampled while a run places its orders and drains.
const BACKLOG_EVERY: Duration = Duration::from_secs(1);

/// Counts the event's unfinished orders (the worker's backlog) every [`BACKLOG_EVERY`]
/// from the start of a run until [`BacklogSampler::stop`].
struct BacklogSampler {
    started: Instant,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<Backlog>>,
}

impl BacklogSampler {
    fn start(pool: PgPool, event_id: i64) -> Self {
        let started = Instant::now();
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(BACKLOG_EVERY);
            let mut samples = Vec::new();
            loop {
                tokio::select! {
                    _ = &mut stopped => return Ok(Backlog { samples }),
                    _ = ticks.tick() => {
                        samples.push((started.elapsed(), unfinished_orders(&pool, event_id).await?));
                    }
                }
            }
        });
        Self {
            started,
            stop,
            task,
        }
    }

    fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    async fn stop(self) -> anyhow::Result<Backlog> {
        // The task may have ended already with an error, which the join then returns.
        let _ = self.stop.send(());
        self.task.await.context("the backlog sampler")?
    }
}

/// Unfinished orders over a run, sampled from its start.
#[derive(Debug, PartialEq)]
struct Backlog {
    samples: Vec<(Duration, i64)>,
}

impl Backlog {
    /// The samples taken while orders were still being placed (before `placing_ended`).
    fn while_placing(&self, placing_ended: Duration) -> &[(Duration, i64)] {
        let n = self.samples.partition_point(|(at, _)| *at < placing_ended);
        &self.samples[..n]
    }

    /// How fast the backlog grew over the second half of the placing, in orders a second:
    /// about 0 when the worker completes orders as fast as they are accepted.
    fn growth_per_second(&self, placing_ended: Duration) -> f64 {
        let placing = self.while_placing(placing_ended);
        let half = placing_ended / 2;
        let (Some(first), Some(last)) =
            (placing.iter().find(|(at, _)| *at >= half), placing.last())
        else {
            return 0.0;
        };
        let span = (last.0 - first.0).as_secs_f64();
        if span == 0.0 {
            0.0
        } else {
            (last.1 - first.1) as f64 / span
        }
    }

    fn describe(&self, placing_ended: Duration) -> String {
        let counts = |samples: &[(Duration, i64)]| {
            samples
                .iter()
                .map(|(_, n)| n.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let placing = self.while_placing(placing_ended);
        let peak = self.samples.iter().map(|(_, n)| *n).max().unwrap_or(0);
        format!(
            "backlog each {} s: {} | drain: {} (peak {peak}; grew {:+.1} orders/s over the second half of the placing)",
            BACKLOG_EVERY.as_secs(),
            counts(placing),
            counts(&self.samples[placing.len()..]),
            self.growth_per_second(placing_ended),
        )
    }
}

/// Waits until the worker has settled the event's orders or `limit` is over, saying how
/// many are left every few seconds.
async fn drain(pool: &PgPool, event_id: i64, limit: Duration, name: &str) -> anyhow::Result<()> {
    let began = Instant::now();
    let mut last_progress = began;
    loop {
        let unfinished = unfinished_orders(pool, event_id).await?;
        if unfinished == 0 {
            return Ok(());
        }
        if began.elapsed() > limit {
            progress!(
                "{name}: {unfinished} orders still unfinished after the {} s drain",
                limit.as_secs()
            );
            return Ok(());
        }
        if last_progress.elapsed() >= PROGRESS_EVERY {
            progress!(
                "{name}: waiting for {unfinished} unfinished orders ({:.0} s of {} s)",
                began.elapsed().as_secs_f64(),
                limit.as_secs()
            );
            last_progress = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How one placed order stood when the drain ended, with the time from its acceptance.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Settled {
    Completed {
        after_ms: f64,
    },
    /// Still PENDING or PROCESSING: it would complete, if ever, later than `waited_ms`.
    Unfinished {
        waited_ms: f64,
    },
    /// FAILED (or cancelled, which this benchmark never asks for): it never completes.
    Failed,
}

impl Settled {
    /// Where it ranks among delays to COMPLETED: an unfinished order at its wait so far,
    /// a failed one after every other.
    fn rank(self) -> f64 {
        match self {
            Settled::Completed { after_ms } => after_ms,
            Settled::Unfinished { waited_ms } => waited_ms,
            Settled::Failed => f64::INFINITY,
        }
    }

    fn delay(self) -> Delay {
        match self {
            Settled::Completed { after_ms } => Delay::Ms(after_ms),
            Settled::Unfinished { waited_ms } => Delay::AtLeastMs(waited_ms),
            Settled::Failed => Delay::Never,
        }
    }
}

/// A percentile of accept → COMPLETED.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Delay {
    Ms(f64),
    /// It fell on an order unfinished at the drain limit: the delay is at least this
    /// (censored).
    AtLeastMs(f64),
    /// It fell on a FAILED order: that share of orders never completed.
    Never,
}

impl Delay {
    fn rank(self) -> f64 {
        match self {
            Delay::Ms(ms) | Delay::AtLeastMs(ms) => ms,
            Delay::Never => f64::INFINITY,
        }
    }

    /// The median over runs; the mean of the middle two of an even count is only a lower
    /// bound if either is, and never if either is never.
    fn median(mut delays: Vec<Delay>) -> Delay {
        delays.sort_by(|a, b| a.rank().total_cmp(&b.rank()));
        match delays.len() {
            0 => Delay::Ms(0.0),
            n if n % 2 == 1 => delays[n / 2],
            n => match (delays[n / 2 - 1], delays[n / 2]) {
                (Delay::Never, _) | (_, Delay::Never) => Delay::Never,
                (Delay::Ms(a), Delay::Ms(b)) => Delay::Ms((a + b) / 2.0),
                (a, b) => Delay::AtLeastMs((a.rank() + b.rank()) / 2.0),
            },
        }
    }
}

impl std::fmt::Display for Delay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Padded as a whole, so that a width in the format applies.
        f.pad(&match self {
            Delay::Ms(ms) => format!("{ms:.1} ms"),
            Delay::AtLeastMs(ms) => format!("≥ {ms:.0} ms"),
            Delay::Never => "never (FAILED)".to_owned(),
        })
    }
}

/// What became of one run's orders.
#[derive(Debug, PartialEq)]
struct Completion {
    completed: usize,
    failed: usize,
    unfinished: usize,
    per_second: f64,
    p50: Delay,
    p99: Delay,
}

impl Completion {
    /// Counts the orders and takes the percentiles over all of them; `span` is the time
    /// from the first order's acceptance to the last completion.
    fn of(mut orders: Vec<Settled>, span: Duration) -> Self {
        orders.sort_by(|a, b| a.rank().total_cmp(&b.rank()));
        let count = |pick: fn(&Settled) -> bool| orders.iter().filter(|o| pick(o)).count();
        let completed = count(|o| matches!(o, Settled::Completed { .. }));
        let pick = |q: f64| {
            if orders.is_empty() {
                return Delay::Ms(0.0);
            }
            orders[nearest_rank(orders.len(), q)].delay()
        };
        Completion {
            completed,
            failed: count(|o| matches!(o, Settled::Failed)),
            unfinished: count(|o| matches!(o, Settled::Unfinished { .. })),
            per_second: if span.is_zero() {
                0.0
            } else {
                completed as f64 / span.as_secs_f64()
            },
            p50: pick(0.50),
            p99: pick(0.99),
        }
    }

    fn placed(&self) -> usize {
        self.completed + self.failed + self.unfinished
    }
}

/// Reads how each of the event's orders stands from the history: placed (`created_at`)
/// to the COMPLETED row, or how long it has waited so far.
async fn completion(pool: &PgPool, event_id: i64) -> anyhow::Result<Completion> {
    let rows = sqlx::query(
        "SELECT o.status,
                extract(epoch FROM h.at - o.created_at)::float8 * 1000 AS after_ms,
                extract(epoch FROM now() - o.created_at)::float8 * 1000 AS waited_ms,
                extract(epoch FROM max(h.at) OVER () - min(o.created_at) OVER ())::float8 AS span_s
         FROM orders.orders o
         LEFT JOIN orders.order_history h ON h.order_id = o.id AND h.to_status = 'COMPLETED'
         WHERE o.event_id = $1",
    )
    .bind(event_id)
    .fetch_all(pool)
    .await?;
    let mut orders = Vec::with_capacity(rows.len());
    let mut span = Duration::ZERO;
    for row in rows {
        let status: String = row.try_get("status")?;
        let after_ms: Option<f64> = row.try_get("after_ms")?;
        orders.push(match (status.as_str(), after_ms) {
            ("COMPLETED", Some(after_ms)) => Settled::Completed { after_ms },
            ("COMPLETED", None) => {
                bail!("a COMPLETED order of event {event_id} has no COMPLETED history row")
            }
            ("PENDING" | "PROCESSING", _) => Settled::Unfinished {
                waited_ms: row.try_get("waited_ms")?,
            },
            _ => Settled::Failed,
        });
        if let Some(s) = row.try_get::<Option<f64>, _>("span_s")? {
            span = Duration::from_secs_f64(s.max(0.0));
        }
    }
    Ok(Completion::of(orders, span))
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
    progress!("QR images: one order, then 220 requests each of three kinds");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offered_rate_is_positive_and_within_the_holds_made() {
        assert_eq!(offered_orders("1500"), Ok(1_500.0));
        assert_eq!(offered_orders("2500"), Ok(2_500.0));
        assert!(offered_orders("2501").is_err());
        assert!(offered_orders("0").is_err());
        assert!(offered_orders("fast").is_err());
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }

    fn backlog(counts: &[i64]) -> Backlog {
        Backlog {
            samples: counts
                .iter()
                .enumerate()
                .map(|(s, n)| (Duration::from_secs(s as u64), *n))
                .collect(),
        }
    }

    #[test]
    fn the_backlog_splits_at_the_end_of_the_placing_and_its_growth_is_from_the_second_half() {
        let ten_seconds = Duration::from_millis(9_500);
        let steady = backlog(&[0, 40, 45, 38, 41, 44, 39, 42, 40, 43, 12, 0]);
        assert_eq!(steady.while_placing(ten_seconds).len(), 10);
        assert!(steady.growth_per_second(ten_seconds).abs() < 1.0);
        assert_eq!(
            steady.describe(ten_seconds),
            "backlog each 1 s: 0 40 45 38 41 44 39 42 40 43 | drain: 12 0 \
             (peak 45; grew -0.2 orders/s over the second half of the placing)"
        );
        let falling_behind = backlog(&[0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 700]);
        assert_eq!(falling_behind.growth_per_second(ten_seconds), 100.0);
        assert_eq!(backlog(&[]).growth_per_second(ten_seconds), 0.0);
    }

    fn completed(n: usize) -> Vec<Settled> {
        (1..=n)
            .map(|ms| Settled::Completed {
                after_ms: ms as f64,
            })
            .collect()
    }

    #[test]
    fn completed_orders_alone_give_plain_percentiles() {
        let done = Completion::of(completed(100), Duration::from_secs(2));
        assert_eq!((done.completed, done.failed, done.unfinished), (100, 0, 0));
        assert_eq!(done.per_second, 50.0);
        assert_eq!((done.p50, done.p99), (Delay::Ms(50.0), Delay::Ms(99.0)));
    }

    #[test]
    fn unfinished_orders_count_in_the_tail_as_at_least_their_wait() {
        // 97 completed within 97 ms, 3 still unfinished after waiting 60 s or more: left
        // out, the p99 would be 96 ms.
        let mut orders = completed(97);
        for waited_ms in [61_000.0, 60_000.0, 60_500.0] {
            orders.push(Settled::Unfinished { waited_ms });
        }
        let done = Completion::of(orders, Duration::from_secs(1));
        assert_eq!((done.completed, done.failed, done.unfinished), (97, 0, 3));
        assert_eq!(done.placed(), 100);
        assert_eq!(done.p50, Delay::Ms(50.0));
        assert_eq!(done.p99, Delay::AtLeastMs(60_500.0));
        assert_eq!(done.p99.to_string(), "≥ 60500 ms");
        assert_eq!(done.per_second, 97.0);
    }

    #[test]
    fn failed_orders_rank_after_every_other_as_never_completed() {
        let mut orders = completed(98);
        orders.push(Settled::Failed);
        orders.push(Settled::Unfinished {
            waited_ms: 60_000.0,
        });
        orders.push(Settled::Failed);
        let done = Completion::of(orders, Duration::from_secs(1));
        assert_eq!((done.completed, done.failed, done.unfinished), (98, 2, 1));
        assert_eq!(done.p99, Delay::Never);
        assert_eq!(done.p99.to_string(), "never (FAILED)");
    }

    #[test]
    fn no_orders_give_zeros() {
        let done = Completion::of(Vec::new(), Duration::ZERO);
        assert_eq!((done.placed(), done.per_second), (0, 0.0));
        assert_eq!(done.p99, Delay::Ms(0.0));
    }

    #[test]
    fn the_median_of_delays_keeps_their_censoring() {
        use Delay::*;
        assert_eq!(Delay::median(vec![Ms(30.0), Ms(10.0), Ms(20.0)]), Ms(20.0));
        assert_eq!(
            Delay::median(vec![Ms(10.0), AtLeastMs(60_000.0), Ms(20.0)]),
            Ms(20.0)
        );
        assert_eq!(
            Delay::median(vec![AtLeastMs(60_000.0), Never, Ms(20.0)]),
            AtLeastMs(60_000.0)
        );
        assert_eq!(Delay::median(vec![Ms(10.0), Ms(20.0)]), Ms(15.0));
        assert_eq!(
            Delay::median(vec![Ms(10.0), AtLeastMs(30.0)]),
            AtLeastMs(20.0)
        );
        assert_eq!(Delay::median(vec![Ms(10.0), Never]), Never);
    }
}

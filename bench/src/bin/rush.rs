//! The on-sale rush through `spin up`: many buyers against one 6,000-seat event with its
//! waiting room on and the per-account cap on. Each buyer joins the room (most before the
//! sales start, the rest after), waits for admission (watching the line move over the
//! sidecar's WebSocket, as the web app does), loads the seat status, holds 1 to 4 seats
//! (picked from the map, or "best available"), orders them, and on a `409` tries other
//! seats a few times before giving up.
//!
//!   cargo run --release -p ticketbuster-bench --bin rush -- --buyers 50000 --runs 3
//!
//! It prints the time to sell out, seats sold against capacity, seats sold twice, accepted
//! orders lost, answers of 500 and above, each step's p50/p99, the conflict rate of each
//! kind of hold, and the room's fairness: the rank correlation of admission order with
//! arrival order in the pre-queue (0 when arriving early gains nothing) and with the
//! room's shuffled order, and later arrivals admitted before earlier ones.
//!
//! With `--fault redis` or `--fault spin` each run also stops Redis for a few seconds, or
//! kills both spins, the app and the worker (scripts/up.sh starts them again), while
//! buyers wait and buy: buyers then ask again every second, as the web app does, and the
//! answers of 500 and above and the failed connections are counted apart within the
//! fault's window.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use rand::seq::SliceRandom;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use ticketbuster_bench::{
    DatabaseArg, EXIT_STATUS, count_in, faults, http_url, median, nearest_rank, progress,
};
use ticketbuster_domain::account::Role;
use ticketbuster_domain::seat_status::{self, SeatStatus};
use ticketbuster_domain::token::TokenIssuer;
use tokio::sync::{Semaphore, watch};

/// The event: 5 sections of 30 rows of 40 seats, three tiers by row.
const SECTIONS: [&str; 5] = ["North", "East", "South", "West", "Floor"];
const ROWS_PER_SECTION: usize = 30;
const SEATS_PER_ROW: usize = 40;
const CAPACITY: usize = SECTIONS.len() * ROWS_PER_SECTION * SEATS_PER_ROW;
/// How often a buyer who watches the line over the sidecar also asks the room, as the web
/// app does: a `queue.advanced` lost on the way delays them at most this long.
const WATCHED_POLL: Duration = Duration::from_secs(30);
/// The per-account cap the event sets: a buyer holds at most this many seats.
const TICKETS_PER_ACCOUNT: i64 = 4;

/// The on-sale rush: buyers through the waiting room, holds, orders; figures per run and
/// their medians.
#[derive(Parser)]
#[command(version, after_help = EXIT_STATUS)]
struct Args {
    /// The app under test: the `spin up` of scripts/up.sh.
    #[arg(long, default_value = "http://127.0.0.1:3000", value_parser = http_url)]
    url: String,
    #[command(flatten)]
    database: DatabaseArg,
    /// The sidecar's WebSocket, where the line's progress is watched.
    #[arg(long, default_value = "ws://127.0.0.1:3001/ws")]
    sidecar: String,
    /// The access tokens' secret of the app under test (scripts/dev-keys.sh writes it):
    /// the buyers' accounts are made in the database and their tokens signed here, as
    /// signing in 50,000 times would measure password hashing instead of the rush.
    #[arg(long, default_value = ".dev/jwt-secret")]
    jwt_secret_file: PathBuf,
    /// Simulated buyers.
    #[arg(long, default_value_t = 50_000, value_parser = count_in(1..=200_000))]
    buyers: usize,
    /// Requests in flight at once, over all buyers.
    #[arg(long, default_value_t = 256, value_parser = count_in(1..=4_096))]
    concurrency: usize,
    /// Seconds between the room opening and the sales start: the pre-queue's arrivals.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(5..=600))]
    lead_seconds: u64,
    /// Share of the buyers who arrive before the start; the others arrive over the
    /// `--late-seconds` after it.
    #[arg(long, default_value_t = 0.7, value_parser = share)]
    early_share: f64,
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    late_seconds: u64,
    /// Buyers the room admits per minute; without it, as seats allow.
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..=100_000))]
    admit_per_minute: Option<i64>,
    /// How long an admission lasts.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(i64).range(1..=120))]
    admission_minutes: i64,
    /// Share of the buyers who ask for the best available seats instead of picking.
    #[arg(long, default_value_t = 0.5, value_parser = share)]
    best_available_share: f64,
    /// Holds a buyer tries before giving up.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=20))]
    tries: u32,
    /// How long a run may take from the sales start before it is stopped unsold.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(10..=3_600))]
    limit_seconds: u64,
    /// Counted runs; the figures printed last are their medians.
    #[arg(long, default_value_t = 3, value_parser = count_in(1..=20))]
    runs: usize,
    /// A fault caused in each run, `--fault-after-seconds` after the sales start: Redis
    /// stopped for `--redis-down-seconds` and started again with scripts/services.sh, or
    /// both spins killed (scripts/up.sh starts them again). Run from the repository's root.
    #[arg(long, value_enum)]
    fault: Option<Fault>,
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=600))]
    fault_after_seconds: u64,
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=600))]
    redis_down_seconds: u64,
    #[command(flatten)]
    targets: faults::Targets,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Fault {
    Redis,
    Spin,
}

/// How long a buyer keeps asking again after answers of 500 and above or no answer.
const RETRY_FOR: Duration = Duration::from_secs(90);
/// Answers that fail this long after a fault ended still count as the fault's.
const FAULT_GRACE: Duration = Duration::from_secs(5);

fn share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if (0.0..=1.0).contains(&s) => Ok(s),
        Ok(_) => Err("must be a share from 0 to 1".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// The steps a buyer goes through, for their latencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Join,
    /// From the sales start (early arrivals) or the join (later ones) to admission.
    Wait,
    SeatStatus,
    Hold,
    Order,
}

impl Step {
    const ALL: [Step; 5] = [
        Step::Join,
        Step::Wait,
        Step::SeatStatus,
        Step::Hold,
        Step::Order,
    ];

    fn name(self) -> &'static str {
        match self {
            Step::Join => "join the room",
            Step::Wait => "wait for admission",
            Step::SeatStatus => "load the seat status",
            Step::Hold => "hold (each try)",
            Step::Order => "place the order",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum HoldKind {
    Picked,
    BestAvailable,
}

impl HoldKind {
    fn name(self) -> &'static str {
        match self {
            HoldKind::Picked => "picked seats",
            HoldKind::BestAvailable => "best available",
        }
    }
}

/// What the buyers of a run saw, gathered as they go.
#[derive(Default)]
struct Tally {
    latencies: BTreeMap<Step, Vec<Duration>>,
    /// Hold tries and their `409`s, by kind and the answer's code.
    holds: BTreeMap<HoldKind, (usize, BTreeMap<String, usize>)>,
    /// When answers of 500 and above came, and when requests failed without one.
    server_errors: Vec<Duration>,
    no_answers: Vec<Duration>,
    other_errors: BTreeMap<String, usize>,
    accepted_orders: Vec<String>,
    bought: usize,
    gave_up: usize,
    /// Pre-queue buyers: (arrival rank, number in the line, when admitted).
    early: Vec<(usize, i64, Duration)>,
    /// Later buyers: (join sent, join answered, number in the line).
    late: Vec<(Duration, Duration, i64)>,
}

impl Tally {
    fn time(&mut self, step: Step, took: Duration) {
        self.latencies.entry(step).or_default().push(took);
    }

    fn error(&mut self, what: String) {
        *self.other_errors.entry(what).or_default() += 1;
    }
}

/// A run's shared state: the HTTP client, the gate on requests in flight, the tally.
struct Rush {
    http: reqwest::Client,
    url: String,
    event_id: i64,
    layout: Layout,
    in_flight: Semaphore,
    tally: Mutex<Tally>,
    /// The room's `admitted_through`, as the sidecar tells it.
    admitted_through: watch::Receiver<i64>,
    /// Set once every seat is sold (or the run's limit passed): waiting buyers leave.
    over: watch::Receiver<bool>,
    start: Instant,
    sales_start: Instant,
    best_available_share: f64,
    tries: u32,
}

/// An answer: status, JSON body (Null when none), and how long it took.
struct Answer {
    status: StatusCode,
    body: Value,
    took: Duration,
}

impl Answer {
    fn code(&self) -> String {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or("?")
            .to_owned()
    }
}

impl Rush {
    /// Sends the request; after an answer of 500 or above, or none, asks again every
    /// second as a client would, for up to [`RETRY_FOR`] (the idempotency keys of holds and
    /// orders make that safe). `took` runs from the first time the request went (not from the wait for
    /// a slot) and counts the retries.
    async fn call(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Answer> {
        // Named only for a failure: the load generator shares the stack's two cores.
        let route = || {
            request
                .try_clone()
                .and_then(|r| r.build().ok())
                .map(|r| format!("{} {}", r.method(), route_of(r.url())))
                .unwrap_or_default()
        };
        let mut first_sent: Option<Instant> = None;
        loop {
            let attempt = request
                .try_clone()
                .context("a request that can be sent again")?;
            let (began, sent) = {
                let _permit = self.in_flight.acquire().await?;
                let began = *first_sent.get_or_insert_with(Instant::now);
                let sent = match attempt.send().await {
                    Ok(response) => {
                        let status = response.status();
                        response.bytes().await.map(|bytes| (status, bytes))
                    }
                    Err(e) => Err(e),
                };
                (began, sent)
            };
            // A failure belongs to a fault when it came during it, whenever it was sent.
            let failed_at = self.since_start();
            let gave_up = began.elapsed() >= RETRY_FOR || *self.over.borrow();
            match sent {
                Ok((status, bytes)) => {
                    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    if status.is_server_error() {
                        let mut tally = self.tally.lock().expect("tally");
                        tally.server_errors.push(failed_at);
                        tally.error(format!("{status}: {} ({})", body["error"]["code"], route()));
                    }
                    if !status.is_server_error() || gave_up {
                        let took = began.elapsed();
                        return Ok(Answer { status, body, took });
                    }
                }
                Err(e) => {
                    let kind = if e.is_timeout() {
                        "timed out"
                    } else if e.is_connect() {
                        "no connection"
                    } else {
                        "connection lost"
                    };
                    let mut tally = self.tally.lock().expect("tally");
                    tally.no_answers.push(failed_at);
                    tally.error(format!("no answer: {kind} ({})", route()));
                    if gave_up {
                        return Err(e.into());
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    fn since_start(&self) -> Duration {
        self.start.elapsed()
    }
}

/// A request's path with its ids as `{id}`, to tally failures by endpoint.
fn route_of(url: &reqwest::Url) -> String {
    url.path()
        .split('/')
        .map(|segment| {
            if segment.chars().any(|c| c.is_ascii_digit()) {
                "{id}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The seats of the event in the status document's order, with where each one is.
struct Layout {
    version: String,
    seats: Vec<LayoutSeat>,
    /// Index ranges into `seats`, one per row, in seat-number order.
    rows: Vec<std::ops::Range<usize>>,
}

struct LayoutSeat {
    id: i64,
}

impl Layout {
    async fn load(http: &reqwest::Client, url: &str, event_id: i64) -> anyhow::Result<Self> {
        let body: Value = http
            .get(format!("{url}/api/events/{event_id}/layout"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let version = body["version"]
            .as_str()
            .context("layout version")?
            .to_owned();
        // Sections of rows of seats, in the layout's order, which the status follows.
        let mut seats = Vec::new();
        let mut ranges = Vec::new();
        let sections = body["sections"].as_array().context("layout sections")?;
        for section in sections {
            for row in section["rows"].as_array().context("layout rows")? {
                let first = seats.len();
                for seat in row["seats"].as_array().context("layout seats")? {
                    let id = seat["id"].as_i64().context("seat id")?;
                    seats.push(LayoutSeat { id });
                }
                ranges.push(first..seats.len());
            }
        }
        ensure!(
            seats.len() == CAPACITY,
            "the layout has {} seats",
            seats.len()
        );
        Ok(Self {
            version,
            seats,
            rows: ranges,
        })
    }

    /// `quantity` free seats next to each other in a random row that has them; failing
    /// that (the hall nearly full), the first free seats of a random row, as fans split up.
    fn pick(&self, statuses: &[SeatStatus], quantity: usize, rng: &mut impl Rng) -> Vec<i64> {
        let free = |i: usize| statuses.get(i) == Some(&SeatStatus::Available);
        let mut blocks = Vec::new();
        for row in &self.rows {
            let mut run = 0;
            for i in row.clone() {
                run = if free(i) { run + 1 } else { 0 };
                if run >= quantity {
                    blocks.push(i + 1 - quantity);
                }
            }
        }
        if let Some(&begin) = blocks.get(rng.random_range(0..blocks.len().max(1))) {
            return (begin..begin + quantity)
                .map(|i| self.seats[i].id)
                .collect();
        }
        let mut rows: Vec<_> = self
            .rows
            .iter()
            .filter(|r| (r.start..r.end).any(free))
            .collect();
        rows.shuffle(rng);
        rows.first()
            .map(|row| {
                (row.start..row.end)
                    .filter(|i| free(*i))
                    .take(quantity)
                    .map(|i| self.seats[i].id)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// One buyer's way through the rush. `arrival` is when they come, from the run's start.
async fn buyer(rush: Arc<Rush>, token: String, rank: usize, arrival: Duration, early: bool) {
    let mut over = rush.over.clone();
    tokio::select! {
        _ = tokio::time::sleep_until((rush.start + arrival).into()) => {}
        _ = over.wait_for(|over| *over) => return,
    }
    if let Err(e) = journey(&rush, &token, rank, early).await {
        rush.tally.lock().expect("tally").error(format!("{e:#}"));
    }
}

async fn journey(rush: &Rush, token: &str, rank: usize, early: bool) -> anyhow::Result<()> {
    let queue = format!("{}/api/events/{}/queue", rush.url, rush.event_id);
    let sent = rush.since_start();
    let joined = rush.call(rush.http.post(&queue).bearer_auth(token)).await?;
    if !joined.status.is_success() {
        rush.tally.lock().expect("tally").error(format!(
            "join {}: {}",
            joined.status,
            joined.code()
        ));
        return Ok(());
    }
    rush.tally
        .lock()
        .expect("tally")
        .time(Step::Join, joined.took);
    let answered = rush.since_start();
    let mut over = rush.over.clone();
    let mut state = joined.body;
    if early {
        // Places are drawn at the start: ask then, spread over a few seconds as browsers'
        // clocks and sockets are.
        let spread = Duration::from_millis(rand::rng().random_range(0..3_000));
        tokio::select! {
            _ = tokio::time::sleep_until((rush.sales_start + spread).into()) => {}
            _ = over.wait_for(|over| *over) => return Ok(()),
        }
        state = rush
            .call(rush.http.get(&queue).bearer_auth(token))
            .await?
            .body;
    }
    let number = state["number"].as_i64();
    if let (false, Some(number)) = (early, number) {
        rush.tally
            .lock()
            .expect("tally")
            .late
            .push((sent, answered, number));
    }
    let admission = loop {
        let poll_after = Duration::from_secs(state["poll_after_seconds"].as_u64().unwrap_or(5));
        match state["state"].as_str() {
            Some("admitted") => {
                break state["admission_token"]
                    .as_str()
                    .context("an admitted answer without its token")?
                    .to_owned();
            }
            Some("waiting") => {
                let number = state["number"]
                    .as_i64()
                    .context("a waiting answer's number")?;
                let mut line = rush.admitted_through.clone();
                tokio::select! {
                    _ = line.wait_for(|through| *through >= number) => {}
                    _ = tokio::time::sleep(WATCHED_POLL) => {}
                    _ = over.wait_for(|over| *over) => return Ok(()),
                }
            }
            Some("pre_queue") => {
                tokio::select! {
                    _ = tokio::time::sleep(poll_after) => {}
                    _ = over.wait_for(|over| *over) => return Ok(()),
                }
            }
            other => bail!("queue state {other:?}"),
        }
        state = rush
            .call(rush.http.get(&queue).bearer_auth(token))
            .await?
            .body;
    };
    let admitted_at = rush.since_start();
    {
        let mut tally = rush.tally.lock().expect("tally");
        let sales_start = rush.sales_start - rush.start;
        tally.time(
            Step::Wait,
            admitted_at.saturating_sub(if early { sales_start } else { sent }),
        );
        if let (true, Some(number)) = (early, number) {
            tally.early.push((rank, number, admitted_at));
        }
    }
    shop(rush, token, &admission).await
}

/// An admitted buyer: seat status, holds (retrying with other seats on `409`), the order.
async fn shop(rush: &Rush, token: &str, admission: &str) -> anyhow::Result<()> {
    let (quantity, kind) = {
        let mut rng = rand::rng();
        let kind = if rng.random_bool(rush.best_available_share) {
            HoldKind::BestAvailable
        } else {
            HoldKind::Picked
        };
        (rng.random_range(1..=TICKETS_PER_ACCOUNT as usize), kind)
    };
    let holds = format!("{}/api/events/{}/holds", rush.url, rush.event_id);
    for _ in 0..rush.tries {
        let body = match kind {
            HoldKind::BestAvailable => json!({ "quantity": quantity }),
            HoldKind::Picked => {
                let statuses = seat_statuses(rush).await?;
                let seats = rush.layout.pick(&statuses, quantity, &mut rand::rng());
                if seats.is_empty() {
                    break;
                }
                json!({ "seat_ids": seats })
            }
        };
        // One key per hold request: asked again after a lost answer, it finds the hold made.
        let held = rush
            .call(
                rush.http
                    .post(&holds)
                    .bearer_auth(token)
                    .header("admission-token", admission)
                    .header("idempotency-key", uuid::Uuid::new_v4().to_string())
                    .json(&body),
            )
            .await?;
        {
            let mut tally = rush.tally.lock().expect("tally");
            tally.time(Step::Hold, held.took);
            let (tries, conflicts) = tally.holds.entry(kind).or_default();
            *tries += 1;
            if held.status == StatusCode::CONFLICT {
                *conflicts.entry(held.code()).or_default() += 1;
            }
        }
        match held.status {
            StatusCode::CREATED | StatusCode::OK => {
                let hold_id = held.body["hold_id"].as_str().context("hold id")?;
                return order(rush, token, hold_id).await;
            }
            StatusCode::CONFLICT => {}
            status => {
                let code = held.code();
                rush.tally
                    .lock()
                    .expect("tally")
                    .error(format!("hold {status}: {code}"));
                return Ok(());
            }
        }
    }
    rush.tally.lock().expect("tally").gave_up += 1;
    Ok(())
}

async fn seat_statuses(rush: &Rush) -> anyhow::Result<Vec<SeatStatus>> {
    let answer = rush
        .call(rush.http.get(format!(
            "{}/api/events/{}/seat-status",
            rush.url, rush.event_id
        )))
        .await?;
    ensure!(answer.status.is_success(), "seat status {}", answer.status);
    rush.tally
        .lock()
        .expect("tally")
        .time(Step::SeatStatus, answer.took);
    ensure!(
        answer.body["layout_version"].as_str() == Some(rush.layout.version.as_str()),
        "the status is of another layout"
    );
    let data = answer.body["data"].as_str().context("status data")?;
    Ok(seat_status::decode(data, rush.layout.seats.len())?)
}

async fn order(rush: &Rush, token: &str, hold_id: &str) -> anyhow::Result<()> {
    let placed = rush
        .call(
            rush.http
                .post(format!("{}/api/orders", rush.url))
                .bearer_auth(token)
                .header("idempotency-key", format!("rush-{hold_id}"))
                .json(&json!({ "hold_id": hold_id })),
        )
        .await?;
    let mut tally = rush.tally.lock().expect("tally");
    if placed.status == StatusCode::ACCEPTED {
        tally.time(Step::Order, placed.took);
        let order_id = placed.body["order_id"].as_str().context("order id")?;
        tally.accepted_orders.push(order_id.to_owned());
        tally.bought += 1;
    } else {
        let code = placed.code();
        tally.error(format!("order {}: {code}", placed.status));
    }
    Ok(())
}

/// The event's layout as an organizer sends it.
fn layout_body() -> Value {
    let tier = |row: usize| match row {
        0..10 => "Front",
        10..20 => "Middle",
        _ => "Back",
    };
    let sections: Vec<Value> = SECTIONS
        .iter()
        .map(|name| {
            let rows: Vec<Value> = (0..ROWS_PER_SECTION)
                .map(|r| json!({"name": format!("{}", r + 1), "seats": SEATS_PER_ROW, "tier": tier(r)}))
                .collect();
            json!({"name": name, "rows": rows})
        })
        .collect();
    json!({
        "tiers": [
            {"name": "Front", "price_cents": 12_000},
            {"name": "Middle", "price_cents": 8_000},
            {"name": "Back", "price_cents": 5_000},
        ],
        "sections": sections,
    })
}

/// Accounts made for a run, with their access tokens.
struct Accounts {
    organizer: String,
    buyers: Vec<String>,
}

const ACCOUNT_EMAIL_PREFIX: &str = "rush-bench-";

/// Makes the run's accounts in the database (not through sign-up, whose password hashing
/// would be the benchmark) and signs their tokens with the app's secret.
async fn make_accounts(
    pool: &PgPool,
    issuer: &TokenIssuer,
    buyers: usize,
) -> anyhow::Result<Accounts> {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let make = async |count: i64, role: &str| -> anyhow::Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "INSERT INTO auth.users (email, name, password_hash, role)
             SELECT $1 || $2 || '-' || n || '@example.com', 'Rush Buyer',
                    '$argon2id$v=19$m=19456,t=2,p=1$no-password$signs-in-by-token-only', $3
             FROM generate_series(1, $4::int8) n
             RETURNING id::text",
        )
        .bind(ACCOUNT_EMAIL_PREFIX)
        .bind(format!("{tag}-{role}"))
        .bind(role)
        .bind(count)
        .fetch_all(pool)
        .await?)
    };
    let sign = |id: &String, role| issuer.issue(id, role).map_err(|e| anyhow::anyhow!("{e:?}"));
    let organizer = make(1, "organizer").await?;
    let buyers = make(buyers as i64, "customer").await?;
    Ok(Accounts {
        organizer: sign(&organizer[0], Role::Organizer)?,
        buyers: buyers
            .iter()
            .map(|id| sign(id, Role::Customer))
            .collect::<anyhow::Result<_>>()?,
    })
}

/// Deletes what the runs made: their events (orders, holds, seats) and their accounts.
async fn remove_leftovers(pool: &PgPool) -> anyhow::Result<()> {
    let pattern = format!("{ACCOUNT_EMAIL_PREFIX}%");
    for statement in [
        "DELETE FROM orders.orders WHERE event_id IN (SELECT e.id FROM catalog.events e JOIN auth.users u ON u.id = e.organizer_id WHERE u.email LIKE $1)",
        "DELETE FROM catalog.holds WHERE event_id IN (SELECT e.id FROM catalog.events e JOIN auth.users u ON u.id = e.organizer_id WHERE u.email LIKE $1)",
        "DELETE FROM catalog.audit_log WHERE actor_id IN (SELECT id FROM auth.users WHERE email LIKE $1)",
        "DELETE FROM catalog.events WHERE organizer_id IN (SELECT id FROM auth.users WHERE email LIKE $1)",
        "DELETE FROM auth.users WHERE email LIKE $1",
    ] {
        sqlx::query(statement).bind(&pattern).execute(pool).await?;
    }
    Ok(())
}

/// Creates and publishes the event through the organizer's API, with its sales start
/// `lead` from now and its waiting room open from now.
async fn create_event(
    http: &reqwest::Client,
    url: &str,
    organizer: &str,
    args: &Args,
) -> anyhow::Result<(i64, Instant)> {
    let now = chrono::Utc::now();
    let sales_start = now + chrono::Duration::seconds(args.lead_seconds as i64);
    let sales_start_at = Instant::now() + Duration::from_secs(args.lead_seconds);
    let mut body = layout_body();
    for (field, value) in [
        ("title", json!("Rush benchmark")),
        ("category", json!("concert")),
        ("venue", json!("Bench Arena")),
        ("city", json!("Bench")),
        (
            "starts_at",
            json!((now + chrono::Duration::days(30)).to_rfc3339()),
        ),
        ("sales_start", json!(sales_start.to_rfc3339())),
        ("max_tickets_per_account", json!(TICKETS_PER_ACCOUNT)),
    ] {
        body[field] = value;
    }
    let send = async |request: reqwest::RequestBuilder, what: &str| -> anyhow::Result<Value> {
        let response = request.bearer_auth(organizer).send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        ensure!(status.is_success(), "{what}: {status} {body}");
        Ok(body)
    };
    let created = send(
        http.post(format!("{url}/api/organizer/events")).json(&body),
        "create the event",
    )
    .await?;
    let event_id = created["id"].as_i64().context("the new event's id")?;
    send(
        http.post(format!("{url}/api/organizer/events/{event_id}/publish")),
        "publish the event",
    )
    .await?;
    send(
        http.put(format!(
            "{url}/api/organizer/events/{event_id}/waiting-room"
        ))
        .json(&json!({
            "opens_at": now.to_rfc3339(),
            "admit_per_minute": args.admit_per_minute,
            "admission_minutes": args.admission_minutes,
        })),
        "set the waiting room",
    )
    .await?;
    Ok((event_id, sales_start_at))
}

/// Watches the room's line over the sidecar's WebSocket, as the web app does, and passes
/// each `admitted_through` on.
async fn watch_the_line(
    sidecar: &str,
    token: &str,
    event_id: i64,
    line: watch::Sender<i64>,
) -> anyhow::Result<()> {
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{sidecar}?token={token}"))
        .await
        .context("the sidecar's WebSocket")?;
    socket
        .send(tokio_tungstenite::tungstenite::Message::text(
            json!({"type": "subscribe", "event_id": event_id}).to_string(),
        ))
        .await?;
    while let Some(message) = socket.next().await {
        let tokio_tungstenite::tungstenite::Message::Text(text) = message? else {
            continue;
        };
        let Ok(message) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        // One message, or several sent together as an array.
        let messages = match message {
            Value::Array(items) => items,
            one => vec![one],
        };
        for message in messages {
            let through = message["admitted_through"].as_i64();
            if let (true, Some(through)) = (
                message["type"] == "queue.advanced" && message["event_id"] == event_id,
                through,
            ) {
                line.send_if_modified(|seen| {
                    let newer = through > *seen;
                    if newer {
                        *seen = through;
                    }
                    newer
                });
            }
        }
    }
    bail!("the sidecar closed the WebSocket")
}

/// Seats of the event by status.
async fn seat_counts(pool: &PgPool, event_id: i64) -> anyhow::Result<(i64, i64, i64)> {
    let row: (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'available'),
                count(*) FILTER (WHERE status = 'held'),
                count(*) FILTER (WHERE status = 'sold')
         FROM catalog.seats WHERE event_id = $1",
    )
    .bind(event_id)
    .fetch_one(pool)
    .await?;
    Ok(row)
}

/// Spearman's rank correlation of paired values without ties: 1 when they rank alike,
/// 0 when one says nothing of the other.
fn rank_correlation(pairs: &[(f64, f64)]) -> f64 {
    let n = pairs.len();
    if n < 2 {
        return f64::NAN;
    }
    let ranks = |pick: fn(&(f64, f64)) -> f64| {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| pick(&pairs[a]).total_cmp(&pick(&pairs[b])));
        let mut rank = vec![0.0; n];
        for (r, i) in order.into_iter().enumerate() {
            rank[i] = r as f64;
        }
        rank
    };
    let (a, b) = (ranks(|p| p.0), ranks(|p| p.1));
    let d2: f64 = a.iter().zip(&b).map(|(x, y)| (x - y).powi(2)).sum();
    let n = n as f64;
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}

/// Later arrivals placed ahead of someone whose join was answered before theirs was sent.
fn queue_jumps(late: &[(Duration, Duration, i64)]) -> usize {
    let mut by_answer: Vec<_> = late
        .iter()
        .map(|(_, answered, n)| (*answered, *n))
        .collect();
    by_answer.sort();
    let mut by_sent: Vec<_> = late.iter().map(|(sent, _, n)| (*sent, *n)).collect();
    by_sent.sort();
    let (mut answered, mut highest_before) = (0, i64::MIN);
    let mut jumps = 0;
    for (sent, number) in by_sent {
        while answered < by_answer.len() && by_answer[answered].0 < sent {
            highest_before = highest_before.max(by_answer[answered].1);
            answered += 1;
        }
        if number < highest_before {
            jumps += 1;
        }
    }
    jumps
}

/// When a fault was caused (seconds after the sales start) and what buyers met within its
/// window (until [`FAULT_GRACE`] after it ended).
struct FaultFigures {
    fault: Fault,
    began: f64,
    ended: f64,
    server_errors: usize,
    no_answers: usize,
}

/// A run's figures.
struct RunFigures {
    sold_out_after: Option<Duration>,
    sold: i64,
    sold_twice: i64,
    accepted: usize,
    lost: i64,
    failed_orders: i64,
    /// Answers of 500 and above, and requests with no answer, outside the fault's window.
    server_errors: usize,
    no_answers: usize,
    fault: Option<FaultFigures>,
    steps: BTreeMap<Step, (f64, f64, usize)>,
    completed_p50_ms: f64,
    completed_p99_ms: f64,
    holds: BTreeMap<HoldKind, (usize, BTreeMap<String, usize>)>,
    admitted: usize,
    bought: usize,
    gave_up: usize,
    /// Pre-queue: rank correlation of admission with arrival, and with the room's order.
    early_vs_arrival: f64,
    early_vs_line: f64,
    late_jumps: usize,
    /// Later arrivals numbered ahead of a pre-queue buyer.
    late_ahead_of_early: usize,
    errors: BTreeMap<String, usize>,
}

impl RunFigures {
    fn conflict_rate(&self, kind: HoldKind) -> f64 {
        self.holds.get(&kind).map_or(0.0, |(tries, conflicts)| {
            if *tries == 0 {
                0.0
            } else {
                conflicts.values().sum::<usize>() as f64 / *tries as f64
            }
        })
    }

    fn print(&self, name: &str) {
        let sold_out = self.sold_out_after.map_or_else(
            || "not sold out within --limit-seconds".to_owned(),
            |d| format!("sold out after {:.1} s", d.as_secs_f64()),
        );
        println!(
            "{name}: {sold_out}; {} of {CAPACITY} seats sold, {} sold twice; \
             {} orders accepted, {} lost, {} FAILED; {} answers ≥ 500 and {} requests unanswered outside a fault",
            self.sold,
            self.sold_twice,
            self.accepted,
            self.lost,
            self.failed_orders,
            self.server_errors,
            self.no_answers
        );
        if let Some(fault) = &self.fault {
            println!(
                "{name}: fault {:?} from {:.1} s to {:.1} s after the sales start: {} answers ≥ 500 and {} requests unanswered within it (asked again)",
                fault.fault, fault.began, fault.ended, fault.server_errors, fault.no_answers
            );
        }
        println!(
            "{name}: {} admitted, {} bought, {} gave up after their tries",
            self.admitted, self.bought, self.gave_up
        );
        for (step, (p50, p99, n)) in &self.steps {
            println!(
                "{name}:   {:<22} p50 {p50:>9.1} ms  p99 {p99:>9.1} ms  ({n})",
                step.name()
            );
        }
        println!(
            "{name}:   {:<22} p50 {:>9.1} ms  p99 {:>9.1} ms",
            "accept → COMPLETED", self.completed_p50_ms, self.completed_p99_ms
        );
        for (kind, (tries, conflicts)) in &self.holds {
            println!(
                "{name}:   holds of {:<15} {tries:>6} tries, conflict rate {:>5.1} % {conflicts:?}",
                kind.name(),
                100.0 * self.conflict_rate(*kind)
            );
        }
        println!(
            "{name}: fairness: pre-queue admission vs arrival ρ = {:+.3}, vs the room's shuffled order ρ = {:+.3}; \
             later arrivals admitted before earlier ones: {}; later arrivals ahead of the pre-queue: {}",
            self.early_vs_arrival, self.early_vs_line, self.late_jumps, self.late_ahead_of_early
        );
        if !self.errors.is_empty() {
            println!("{name}: other answers: {:?}", self.errors);
        }
    }
}

fn percentiles(mut values: Vec<Duration>) -> (f64, f64, usize) {
    values.sort();
    let ms = |q| values[nearest_rank(values.len(), q)].as_secs_f64() * 1000.0;
    if values.is_empty() {
        (0.0, 0.0, 0)
    } else {
        (ms(0.50), ms(0.99), values.len())
    }
}

/// A fault to cause at a given moment, and what it needs.
struct Cause {
    fault: Fault,
    at: Instant,
    targets: faults::Targets,
    redis_down: Duration,
    http: reqwest::Client,
    url: String,
}

impl Cause {
    /// Causes the fault at its moment; returns it with when it began and when the app
    /// answered again.
    async fn run(self) -> anyhow::Result<(Fault, Instant, Instant)> {
        tokio::time::sleep_until(self.at.into()).await;
        let began = Instant::now();
        match self.fault {
            Fault::Redis => {
                progress!("stopping Redis for {} s", self.redis_down.as_secs());
                faults::restart_redis(self.targets.redis_port, self.redis_down).await?;
            }
            Fault::Spin => {
                progress!(
                    "killing both spins, the app and the worker (scripts/up.sh starts them again)"
                );
                faults::kill_spins(&self.targets.state_dir)?;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        while ticketbuster_bench::ensure_up(&self.http, &self.url)
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        progress!(
            "the fault ended after {:.1} s",
            began.elapsed().as_secs_f64()
        );
        Ok((self.fault, began, Instant::now()))
    }
}

async fn run_once(
    args: &Args,
    pool: &PgPool,
    http: &reqwest::Client,
    issuer: &TokenIssuer,
    name: &str,
) -> anyhow::Result<RunFigures> {
    progress!("{name}: making {} accounts", args.buyers);
    let accounts = make_accounts(pool, issuer, args.buyers).await?;
    let (event_id, sales_start) = create_event(http, &args.url, &accounts.organizer, args).await?;
    let layout = Layout::load(http, &args.url, event_id).await?;
    let (line_tx, line) = watch::channel(0);
    let watcher = {
        let (sidecar, token) = (args.sidecar.clone(), accounts.organizer.clone());
        tokio::spawn(async move { watch_the_line(&sidecar, &token, event_id, line_tx).await })
    };
    let (over_tx, over) = watch::channel(false);
    let start = Instant::now();
    let rush = Arc::new(Rush {
        http: http.clone(),
        url: args.url.clone(),
        event_id,
        layout,
        in_flight: Semaphore::new(args.concurrency),
        tally: Mutex::new(Tally::default()),
        admitted_through: line,
        over,
        start,
        sales_start,
        best_available_share: args.best_available_share,
        tries: args.tries,
    });

    // Early buyers arrive over the lead (up to a second before the start), the others
    // over the `--late-seconds` after it; ranks follow arrival.
    let lead = sales_start.saturating_duration_since(start);
    let early_count = (args.buyers as f64 * args.early_share).round() as usize;
    let mut arrivals: Vec<(Duration, bool)> = {
        let mut rng = rand::rng();
        let before = lead.saturating_sub(Duration::from_secs(1)).as_millis() as u64;
        (0..args.buyers)
            .map(|n| {
                if n < early_count {
                    (
                        Duration::from_millis(rng.random_range(0..before.max(1))),
                        true,
                    )
                } else {
                    let after = rng.random_range(0..args.late_seconds * 1000);
                    (lead + Duration::from_millis(after), false)
                }
            })
            .collect()
    };
    arrivals.sort();
    progress!(
        "{name}: event {event_id}: {early_count} buyers join over the {} s before the sales start, {} after",
        lead.as_secs(),
        args.buyers - early_count
    );
    let buyers: Vec<_> = arrivals
        .into_iter()
        .zip(accounts.buyers)
        .enumerate()
        .map(|(rank, ((arrival, early), token))| {
            tokio::spawn(buyer(rush.clone(), token, rank, arrival, early))
        })
        .collect();

    let fault = args.fault.map(|fault| {
        let cause = Cause {
            fault,
            at: sales_start + Duration::from_secs(args.fault_after_seconds),
            targets: args.targets.clone(),
            redis_down: Duration::from_secs(args.redis_down_seconds),
            http: http.clone(),
            url: args.url.clone(),
        };
        tokio::spawn(cause.run())
    });

    let limit = Duration::from_secs(args.limit_seconds);
    let mut sold_out_after = None;
    let mut last_progress = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (available, held, sold) = seat_counts(pool, event_id).await?;
        let since_start = sales_start.elapsed();
        if available == 0 && held == 0 {
            sold_out_after = Some(since_start);
            break;
        }
        if since_start > limit || buyers.iter().all(|b| b.is_finished()) {
            break;
        }
        if last_progress.elapsed() >= Duration::from_secs(5) {
            progress!(
                "{name}: {sold} sold, {held} held, {available} free; admitted through {}",
                *rush.admitted_through.borrow()
            );
            last_progress = Instant::now();
        }
    }
    let fault = match fault {
        Some(task) => {
            let (fault, began, ended) = task.await.context("the fault's task")??;
            Some((fault, began - start, ended - start))
        }
        None => None,
    };
    over_tx.send_replace(true);
    for buyer in futures_util::future::join_all(buyers).await {
        buyer.context("a buyer's task")?;
    }
    watcher.abort();
    progress!("{name}: waiting for the worker to settle the orders");
    let drained = Instant::now();
    while ticketbuster_bench::unfinished_orders(pool, event_id).await? > 0
        && drained.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let figures = outcome(pool, event_id, sold_out_after, fault, &rush).await;
    remove_leftovers(pool).await?;
    figures
}

/// Checks the run's outcome in the database and gathers its figures.
async fn outcome(
    pool: &PgPool,
    event_id: i64,
    sold_out_after: Option<Duration>,
    fault: Option<(Fault, Duration, Duration)>,
    rush: &Rush,
) -> anyhow::Result<RunFigures> {
    let tally = std::mem::take(&mut *rush.tally.lock().expect("tally"));
    let within = |at: &&Duration| {
        fault.is_some_and(|(_, began, ended)| began <= **at && **at <= ended + FAULT_GRACE)
    };
    let (server_errors_within, server_errors): (Vec<&Duration>, Vec<&Duration>) =
        tally.server_errors.iter().partition(within);
    let (no_answers_within, no_answers): (Vec<&Duration>, Vec<&Duration>) =
        tally.no_answers.iter().partition(within);
    if let (Some(first), Some(last)) = (no_answers.iter().min(), no_answers.iter().max()) {
        progress!(
            "requests unanswered outside a fault: from {:.1} s to {:.1} s after the start",
            first.as_secs_f64(),
            last.as_secs_f64()
        );
    }
    let sales_start = rush.sales_start - rush.start;
    let fault = fault.map(|(fault, began, ended)| FaultFigures {
        fault,
        began: began.as_secs_f64() - sales_start.as_secs_f64(),
        ended: ended.as_secs_f64() - sales_start.as_secs_f64(),
        server_errors: server_errors_within.len(),
        no_answers: no_answers_within.len(),
    });
    let (_, _, sold) = seat_counts(pool, event_id).await?;
    let sold_twice = ticketbuster_bench::seats_sold_twice(pool, event_id).await?;
    let accepted: Vec<uuid::Uuid> = tally
        .accepted_orders
        .iter()
        .map(|id| id.parse())
        .collect::<Result<_, _>>()?;
    let (lost, failed_orders): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE o.id IS NULL OR o.status NOT IN ('COMPLETED', 'FAILED')),
                count(*) FILTER (WHERE o.status = 'FAILED')
         FROM unnest($1::uuid[]) a(id) LEFT JOIN orders.orders o ON o.id = a.id",
    )
    .bind(&accepted)
    .fetch_one(pool)
    .await?;
    let completion: Vec<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM h.at - o.created_at)::float8 * 1000
         FROM orders.orders o JOIN orders.order_history h ON h.order_id = o.id AND h.to_status = 'COMPLETED'
         WHERE o.event_id = $1 ORDER BY 1",
    )
    .bind(event_id)
    .fetch_all(pool)
    .await?;
    let at = |q| {
        if completion.is_empty() {
            0.0
        } else {
            completion[nearest_rank(completion.len(), q)]
        }
    };
    let in_arrival_order: Vec<(f64, f64)> = tally
        .early
        .iter()
        .map(|(rank, _, admitted)| (*rank as f64, admitted.as_secs_f64()))
        .collect();
    let in_line_order: Vec<(f64, f64)> = tally
        .early
        .iter()
        .map(|(_, number, admitted)| (*number as f64, admitted.as_secs_f64()))
        .collect();
    let last_early = tally.early.iter().map(|(_, n, _)| *n).max().unwrap_or(0);
    Ok(RunFigures {
        sold_out_after,
        sold,
        sold_twice,
        accepted: accepted.len(),
        lost,
        failed_orders,
        server_errors: server_errors.len(),
        no_answers: no_answers.len(),
        fault,
        steps: Step::ALL
            .iter()
            .filter_map(|step| {
                let values = tally.latencies.get(step)?.clone();
                Some((*step, percentiles(values)))
            })
            .collect(),
        completed_p50_ms: at(0.50),
        completed_p99_ms: at(0.99),
        admitted: tally.latencies.get(&Step::Wait).map_or(0, Vec::len),
        bought: tally.bought,
        gave_up: tally.gave_up,
        early_vs_arrival: rank_correlation(&in_arrival_order),
        early_vs_line: rank_correlation(&in_line_order),
        late_jumps: queue_jumps(&tally.late),
        late_ahead_of_early: tally
            .late
            .iter()
            .filter(|(_, _, n)| *n <= last_early)
            .count(),
        holds: tally.holds,
        errors: tally.other_errors,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Each buyer in flight holds a socket.
    rlimit::increase_nofile_limit(65_536).context("raising the open files limit")?;
    let secret = std::fs::read_to_string(&args.jwt_secret_file).with_context(|| {
        format!(
            "the app's token secret, {} (scripts/dev-keys.sh writes it)",
            args.jwt_secret_file.display()
        )
    })?;
    let issuer = TokenIssuer::from_secret(secret.trim()).map_err(anyhow::Error::msg)?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(60))
        .build()?;
    ticketbuster_bench::ensure_up(&http, &args.url).await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&args.database.database_url)
        .await?;
    remove_leftovers(&pool).await?;
    println!(
        "rush benchmark: {} buyers ({:.0} % before the start), {} requests in flight at most, \
         room admitting {}, {:.0} % best available, {} tries, {CAPACITY} seats, cap {TICKETS_PER_ACCOUNT} per account, target {}",
        args.buyers,
        100.0 * args.early_share,
        args.concurrency,
        args.admit_per_minute
            .map_or_else(|| "as seats allow".to_owned(), |n| format!("{n}/min")),
        100.0 * args.best_available_share,
        args.tries,
        args.url
    );
    let mut runs = Vec::with_capacity(args.runs);
    for run in 1..=args.runs {
        let name = format!("run {run}");
        let figures = run_once(&args, &pool, &http, &issuer, &name).await?;
        figures.print(&name);
        runs.push(figures);
    }
    let med = |pick: &dyn Fn(&RunFigures) -> f64| median(runs.iter().map(pick).collect());
    println!(
        "median of {}: sold out after {:.1} s (inf: not within --limit-seconds); seats sold {:.0} of {CAPACITY}; sold twice {:.0}; \
         accepted orders lost {:.0}; answers ≥ 500 {:.0} and requests unanswered {:.0} outside a fault",
        args.runs,
        med(&|r| r.sold_out_after.map_or(f64::INFINITY, |d| d.as_secs_f64())),
        med(&|r| r.sold as f64),
        med(&|r| r.sold_twice as f64),
        med(&|r| r.lost as f64),
        med(&|r| r.server_errors as f64),
        med(&|r| r.no_answers as f64),
    );
    for step in Step::ALL {
        println!(
            "median of {}:   {:<22} p50 {:>9.1} ms  p99 {:>9.1} ms",
            args.runs,
            step.name(),
            med(&|r| r.steps.get(&step).map_or(0.0, |s| s.0)),
            med(&|r| r.steps.get(&step).map_or(0.0, |s| s.1)),
        );
    }
    println!(
        "median of {}:   {:<22} p50 {:>9.1} ms  p99 {:>9.1} ms",
        args.runs,
        "accept → COMPLETED",
        med(&|r| r.completed_p50_ms),
        med(&|r| r.completed_p99_ms)
    );
    for kind in [HoldKind::Picked, HoldKind::BestAvailable] {
        println!(
            "median of {}:   conflict rate of {:<15} {:>5.1} %",
            args.runs,
            kind.name(),
            100.0 * med(&|r| r.conflict_rate(kind))
        );
    }
    println!(
        "median of {}: fairness ρ(admission, pre-queue arrival) {:+.3}, ρ(admission, room's order) {:+.3}, \
         later arrivals admitted first {:.0}",
        args.runs,
        med(&|r| r.early_vs_arrival),
        med(&|r| r.early_vs_line),
        med(&|r| r.late_jumps as f64 + r.late_ahead_of_early as f64),
    );
    let broken = runs
        .iter()
        .any(|r| r.sold_twice > 0 || r.lost > 0 || r.server_errors > 0 || r.no_answers > 0);
    if broken {
        bail!(
            "a guarantee failed: seats sold twice, accepted orders lost, or answers ≥ 500 or none outside a fault (see above)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }

    #[test]
    fn rank_correlation_is_one_alike_minus_one_reversed_and_near_zero_shuffled() {
        let alike: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, 2.0 * i as f64)).collect();
        assert!((rank_correlation(&alike) - 1.0).abs() < 1e-9);
        let reversed: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, -(i as f64))).collect();
        assert!((rank_correlation(&reversed) + 1.0).abs() < 1e-9);
        let mut order: Vec<usize> = (0..10_000).collect();
        order.shuffle(&mut rand::rng());
        let shuffled: Vec<(f64, f64)> = order
            .iter()
            .enumerate()
            .map(|(i, o)| (i as f64, *o as f64))
            .collect();
        assert!(rank_correlation(&shuffled).abs() < 0.05);
    }

    #[test]
    fn failures_are_tallied_by_endpoint_with_ids_left_out() {
        let url =
            |path: &str| reqwest::Url::parse(&format!("http://127.0.0.1:3000{path}")).unwrap();
        assert_eq!(
            route_of(&url("/api/events/316/seat-status")),
            "/api/events/{id}/seat-status"
        );
        assert_eq!(
            route_of(&url("/api/holds/0b7e4a1c-5d2f-4c8e-9a61-3f0d2b7c9e15")),
            "/api/holds/{id}"
        );
        assert_eq!(route_of(&url("/api/orders")), "/api/orders");
    }

    #[test]
    fn a_later_arrival_numbered_ahead_of_an_answered_join_is_a_jump() {
        let ms = Duration::from_millis;
        let fair = [
            (ms(0), ms(5), 1),
            (ms(3), ms(9), 3),
            (ms(4), ms(8), 2),
            (ms(10), ms(12), 4),
        ];
        assert_eq!(
            queue_jumps(&fair),
            0,
            "overlapping joins may land either way"
        );
        let jumped = [(ms(0), ms(5), 2), (ms(6), ms(8), 1)];
        assert_eq!(queue_jumps(&jumped), 1);
    }

    #[test]
    fn a_picked_block_is_adjacent_free_seats_of_one_row_or_free_seats_when_none_is() {
        let layout = Layout {
            version: "v".into(),
            seats: (0..8).map(|id| LayoutSeat { id }).collect(),
            rows: vec![0..4, 4..8],
        };
        use SeatStatus::{Available as A, Held as H, Sold as S};
        let statuses = [A, H, A, A, S, A, S, A];
        let mut rng = rand::rng();
        for _ in 0..20 {
            assert_eq!(layout.pick(&statuses, 2, &mut rng), vec![2, 3]);
        }
        let three = layout.pick(&statuses, 3, &mut rng);
        assert!(three == vec![0, 2, 3] || three == vec![5, 7], "{three:?}");
        assert!(
            layout
                .pick(&[S, S, S, S, S, S, S, S], 1, &mut rng)
                .is_empty()
        );
    }
}

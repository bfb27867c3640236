//! Chaos against the stack of `scripts/up.sh`: orders flow while Redis is stopped and
//! started again, then the Redis trigger's process is killed, then both spins (the HTTP
//! app and the order worker). Every accepted order must end COMPLETED or FAILED within
//! `--settle-seconds` of the last fault, no seat may be sold twice, and
//! `/api/health/ready` must say degraded while no worker listened. It prints the counts
//! and exits with status 3 when a guarantee failed (1 when it could not run, 2 for bad
//! arguments).
//!
//! It needs the machine of `scripts/up.sh` (it stops Redis with `redis-cli`, starts it
//! with `scripts/services.sh`, and finds spin through up.sh's pid file), and it is best
//! run from the repository's root:
//!
//!     cargo run --release -p ticketbuster-bench --bin chaos

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Parser;
use serde_json::{Value, json};
use sqlx::PgPool;
use ticketbuster_bench::{
    BenchEvent, Buyer, DatabaseArg, PROGRESS_EVERY, count_in, ensure_up, faults, http_url,
    progress, register_buyers, retry_after, unfinished_orders,
};
use tokio::sync::Mutex;

/// Faults under load against scripts/up.sh: Redis stopped and started, the Redis
/// trigger's process killed, then both spins killed.
///
/// Buyers hold seats and order them throughout. Afterwards every accepted order must be
/// COMPLETED or FAILED within `--settle-seconds` of the last fault, no seat may be sold
/// twice, and /api/health/ready must have said degraded while no worker listened. It stops
/// Redis with redis-cli and starts it with scripts/services.sh, and finds spin through
/// up.sh's pid file: run it from the repository's root, on the machine of scripts/up.sh.
#[derive(Parser)]
#[command(
    version,
    after_help = "Exit status: 0 when every guarantee held; 1 when the run could not be made \
(nothing answering, a database error, no pid file); 2 for bad arguments; 3 when a guarantee failed.\n\
The report goes to stdout, progress to stderr."
)]
struct Args {
    /// The app of scripts/up.sh.
    #[arg(long, default_value = "http://127.0.0.1:3000", value_parser = http_url)]
    url: String,
    #[command(flatten)]
    database: DatabaseArg,
    /// Buyers placing orders at once.
    #[arg(long, default_value_t = 16, value_parser = count_in(1..=1_000))]
    buyers: usize,
    #[command(flatten)]
    targets: faults::Targets,
    /// How long Redis stays down.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    redis_down_seconds: u64,
    /// Time between the faults, and before the first.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    gap_seconds: u64,
    /// Every accepted order must be settled this long after the last fault.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    settle_seconds: u64,
}

/// What the buyers saw.
#[derive(Default)]
struct Tally {
    accepted: Mutex<Vec<String>>,
    holds: AtomicU64,
    rate_limited: AtomicU64,
    server_errors: AtomicU64,
    unreachable: AtomicU64,
}

/// One answer of `/api/health/ready`, seconds into the run.
struct Probe {
    at: f64,
    status: Option<u16>,
    workers_listening: Option<i64>,
}

/// A guarantee failed: distinct from a run that could not be made (1) and bad arguments (2).
const GUARANTEE_FAILED: u8 = 3;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let pool = PgPool::connect(&args.database.database_url).await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    ensure_up(&http, &args.url).await?;
    for spin in faults::Spin::BOTH {
        faults::spin_pid(&args.targets.state_dir, spin)?;
    }
    let per_buyer = 2_000;
    let event = Arc::new(BenchEvent::create(&pool, args.buyers, per_buyer).await?);
    let buyers = Arc::new(register_buyers(&http, &args.url, args.buyers).await?);
    println!(
        "{} buyers on event {}; faults every {} s",
        args.buyers, event.id, args.gap_seconds
    );

    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let mut load = Vec::new();
    for client in 0..args.buyers {
        let (http, url, event, buyers) = (
            http.clone(),
            args.url.clone(),
            event.clone(),
            buyers.clone(),
        );
        let (stop, tally) = (stop.clone(), tally.clone());
        load.push(tokio::spawn(async move {
            buy(&http, &url, &event, &buyers[client], client, &stop, &tally).await
        }));
    }
    let probes = Arc::new(Mutex::new(Vec::new()));
    let watching = tokio::spawn(watch_health(
        http.clone(),
        args.url.clone(),
        started,
        stop.clone(),
        probes.clone(),
    ));

    let gap = Duration::from_secs(args.gap_seconds);
    let mut faults: Vec<(&str, f64, f64)> = Vec::new();
    progress!("orders flowing; stopping Redis in {} s", args.gap_seconds);
    tokio::time::sleep(gap).await;
    progress!("stopping Redis for {} s", args.redis_down_seconds);
    let redis_stopped = started.elapsed().as_secs_f64();
    faults::restart_redis(
        args.targets.redis_port,
        Duration::from_secs(args.redis_down_seconds),
    )
    .await?;
    faults.push((
        "Redis stopped, started again",
        redis_stopped,
        started.elapsed().as_secs_f64(),
    ));

    progress!(
        "Redis is back; killing the Redis trigger in {} s",
        args.gap_seconds
    );
    tokio::time::sleep(gap).await;
    progress!("killing the Redis trigger's process");
    let trigger = redis_trigger_pid(faults::spin_pid(
        &args.targets.state_dir,
        faults::Spin::Worker,
    )?)?;
    faults::run("kill", &["-KILL", &trigger.to_string()]);
    let at = started.elapsed().as_secs_f64();
    faults.push(("Redis trigger process killed", at, at));

    progress!("killing both spins in {} s", args.gap_seconds);
    tokio::time::sleep(gap).await;
    progress!("killing both spins, the app and the worker (scripts/up.sh starts them again)");
    faults::kill_spins(&args.targets.state_dir)?;
    let last_fault = Instant::now();
    let at = started.elapsed().as_secs_f64();
    faults.push(("both spins killed", at, at));

    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await?;
    }
    let accepted = tally.accepted.lock().await.clone();
    progress!(
        "buyers stopped; waiting up to {} s after the last fault for {} accepted orders to settle",
        args.settle_seconds,
        accepted.len()
    );
    let settled_after = wait_until_settled(
        &pool,
        event.id,
        last_fault,
        Duration::from_secs(args.settle_seconds),
    )
    .await?;
    watching.await?;

    let report = outcome(&pool, event.id, &accepted).await?;
    let probes = probes.lock().await;
    print_report(&args, &faults, &tally, &report, settled_after, &probes);
    event_delete(&pool, Arc::try_unwrap(event).ok()).await?;
    let ok = report.missing == 0
        && report.unfinished == 0
        && report.double_sold == 0
        && report.sold_seats == report.valid_tickets
        && settled_after.is_some();
    if !ok {
        eprintln!("a guarantee failed (see above)");
        return Ok(ExitCode::from(GUARANTEE_FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

/// One buyer: holds a seat and orders it, again and again. An order whose answer was lost
/// is asked for again with the same idempotency key until it is answered.
async fn buy(
    http: &reqwest::Client,
    url: &str,
    event: &BenchEvent,
    buyer: &Buyer,
    client: usize,
    stop: &AtomicBool,
    tally: &Tally,
) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let Some(seat) = event.seat(client, n) else {
            return;
        };
        n += 1;
        let hold = http
            .post(format!("{url}/api/events/{}/holds", event.id))
            .bearer_auth(&buyer.token)
            .json(&json!({ "seat_ids": [seat] }))
            .send()
            .await;
        let Some(hold) = answered(hold, tally).await else {
            continue;
        };
        let Some(hold_id) = hold["hold_id"].as_str() else {
            continue;
        };
        tally.holds.fetch_add(1, Ordering::Relaxed);
        loop {
            let placed = http
                .post(format!("{url}/api/orders"))
                .bearer_auth(&buyer.token)
                .header("idempotency-key", hold_id)
                .json(&json!({ "hold_id": hold_id }))
                .send()
                .await;
            if let Some(order) = answered(placed, tally).await {
                if let Some(id) = order["order_id"].as_str() {
                    tally.accepted.lock().await.push(id.to_owned());
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The JSON of a 2xx answer; counts the rest (and waits out a 429).
async fn answered(result: reqwest::Result<reqwest::Response>, tally: &Tally) -> Option<Value> {
    let response = match result {
        Ok(response) => response,
        Err(_) => {
            tally.unreachable.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(200)).await;
            return None;
        }
    };
    let status = response.status();
    if status.is_success() {
        return response.json().await.ok();
    }
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        tally.rate_limited.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(retry_after(&response)).await;
    } else if status.is_server_error() {
        tally.server_errors.fetch_add(1, Ordering::Relaxed);
    }
    None
}

async fn watch_health(
    http: reqwest::Client,
    url: String,
    started: Instant,
    stop: Arc<AtomicBool>,
    probes: Arc<Mutex<Vec<Probe>>>,
) {
    while !stop.load(Ordering::Relaxed) {
        let at = started.elapsed().as_secs_f64();
        let answer = http
            .get(format!("{url}/api/health/ready"))
            .timeout(Duration::from_secs(1))
            .send()
            .await;
        let probe = match answer {
            Ok(response) => {
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                Probe {
                    at,
                    status: Some(status),
                    workers_listening: body["orders"]["workers_listening"].as_i64(),
                }
            }
            Err(_) => Probe {
                at,
                status: None,
                workers_listening: None,
            },
        };
        probes.lock().await.push(probe);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Seconds after the last fault when no order of the event was unfinished any more.
async fn wait_until_settled(
    pool: &PgPool,
    event_id: i64,
    last_fault: Instant,
    within: Duration,
) -> anyhow::Result<Option<f64>> {
    let mut last_progress = Instant::now();
    loop {
        let unfinished = unfinished_orders(pool, event_id).await?;
        let elapsed = last_fault.elapsed();
        if unfinished == 0 {
            return Ok(Some(elapsed.as_secs_f64()));
        }
        if elapsed > within {
            return Ok(None);
        }
        if last_progress.elapsed() >= PROGRESS_EVERY {
            progress!(
                "{unfinished} orders unfinished {:.0} s after the last fault",
                elapsed.as_secs_f64()
            );
            last_progress = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

struct Outcome {
    statuses: BTreeMap<String, i64>,
    missing: i64,
    unfinished: i64,
    double_sold: i64,
    sold_seats: i64,
    valid_tickets: i64,
}

async fn outcome(pool: &PgPool, event_id: i64, accepted: &[String]) -> anyhow::Result<Outcome> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, count(*) FROM orders.orders WHERE id = ANY($1::text[]::uuid[]) GROUP BY status",
    )
    .bind(accepted)
    .fetch_all(pool)
    .await?;
    let statuses: BTreeMap<String, i64> = rows.into_iter().collect();
    let found: i64 = statuses.values().sum();
    let unfinished = unfinished_orders(pool, event_id).await?;
    let double_sold = ticketbuster_bench::seats_sold_twice(pool, event_id).await?;
    let sold_seats: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM catalog.seats WHERE event_id = $1 AND status = 'sold'",
    )
    .bind(event_id)
    .fetch_one(pool)
    .await?;
    let valid_tickets: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM orders.tickets WHERE event_id = $1 AND status = 'valid'",
    )
    .bind(event_id)
    .fetch_one(pool)
    .await?;
    Ok(Outcome {
        statuses,
        missing: accepted.len() as i64 - found,
        unfinished,
        double_sold,
        sold_seats,
        valid_tickets,
    })
}

fn print_report(
    args: &Args,
    faults: &[(&str, f64, f64)],
    tally: &Tally,
    report: &Outcome,
    settled_after: Option<f64>,
    probes: &[Probe],
) {
    println!("\nfaults (seconds into the run):");
    for (what, from, to) in faults {
        println!("  {what:<32} {from:>6.1} .. {to:>6.1}");
    }
    let accepted = tally
        .accepted
        .try_lock()
        .map(|a| a.len())
        .unwrap_or_default();
    println!("\nbuyers' view:");
    println!(
        "  holds made                        {}",
        tally.holds.load(Ordering::Relaxed)
    );
    println!("  orders accepted (202)             {accepted}");
    println!(
        "  answers 429                       {}",
        tally.rate_limited.load(Ordering::Relaxed)
    );
    println!(
        "  answers 5xx                       {}",
        tally.server_errors.load(Ordering::Relaxed)
    );
    println!(
        "  requests unanswered (spin down)   {}",
        tally.unreachable.load(Ordering::Relaxed)
    );
    println!("\naccepted orders at the end:");
    for (status, count) in &report.statuses {
        println!("  {status:<33} {count}");
    }
    println!("  not in the database               {}", report.missing);
    println!("  unfinished orders of the event    {}", report.unfinished);
    match settled_after {
        Some(s) => println!("  all settled                       {s:.1} s after the last fault"),
        None => println!(
            "  NOT all settled within            {} s of the last fault",
            args.settle_seconds
        ),
    }
    println!("\nseats:");
    println!("  sold twice                        {}", report.double_sold);
    println!(
        "  sold / valid tickets              {} / {}",
        report.sold_seats, report.valid_tickets
    );
    let count = |pred: &dyn Fn(&Probe) -> bool| probes.iter().filter(|p| pred(p)).count();
    let deaf = |p: &Probe| p.workers_listening == Some(0);
    println!(
        "\n/api/health/ready, polled every 250 ms ({} polls):",
        probes.len()
    );
    println!(
        "  200 ready                         {}",
        count(&|p| p.status == Some(200))
    );
    println!(
        "  503 degraded                      {}",
        count(&|p| p.status == Some(503))
    );
    println!(
        "  no answer (spin down)             {}",
        count(&|p| p.status.is_none())
    );
    println!(
        "  while no worker listened: 503 in  {} of {}",
        count(&|p| deaf(p) && p.status == Some(503)),
        count(&deaf)
    );
    for (what, from, _) in faults {
        let degraded = probes
            .iter()
            .find(|p| p.at >= *from && p.status != Some(200));
        let recovered =
            degraded.and_then(|d| probes.iter().find(|p| p.at > d.at && p.status == Some(200)));
        println!(
            "  after {what:<28} not ready from {:>5} s, ready again at {:>5} s",
            degraded.map_or("-".into(), |p| format!("{:.1}", p.at)),
            recovered.map_or("-".into(), |p| format!("{:.1}", p.at)),
        );
    }
}

async fn event_delete(pool: &PgPool, event: Option<BenchEvent>) -> anyhow::Result<()> {
    match event {
        Some(event) => event.delete(pool).await,
        None => Ok(()),
    }
}

/// The child of `spin` that runs the Redis trigger.
fn redis_trigger_pid(spin: u32) -> anyhow::Result<u32> {
    for entry in std::fs::read_dir("/proc")? {
        let Ok(pid) = entry?.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The parent's pid is the fourth field, after the name in parentheses.
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1));
        let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if parent == Some(&spin.to_string()) && cmdline.split('\0').any(|a| a == "redis") {
            return Ok(pid);
        }
    }
    bail!("spin ({spin}) has no child running the Redis trigger")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}

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
    /// Clients that ran out of work (seats) before the phase's end: the rate counts the
    /// whole phase, so it understates what they would have done.
    pub clients_out_of_work: usize,
}

impl Figures {
    pub fn from_latencies(mut latencies: Vec<Duration>, errors: usize, elapsed: Duration) -> Self {
        latencies.sort_unstable();
        let pick = |q: f64| {
            if latencies.is_empty() {
                return 0.0;
            }
            latencies[nearest_rank(latencies.len(), q)].as_secs_f64() * 1000.0
        };
        Self {
            ops: latencies.len(),
            errors,
            per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
            p50_ms: pick(0.50),
            p99_ms: pick(0.99),
            clients_out_of_work: 0,
        }
    }
}

/// The index of quantile `q` among `len` sorted values (`len` > 0), by nearest rank: the
/// smallest value that at least a fraction `q` of all values do not exceed.
pub fn nearest_rank(len: usize, q: f64) -> usize {
    ((len as f64 * q).ceil() as usize).clamp(1, len) - 1
}

/// The timed operations of a phase, which may be run in several slices.
#[derive(Debug, Default)]
pub struct Sample {
    latencies: Vec<Duration>,
    errors: usize,
    elapsed: Duration,
    clients_out_of_work: usize,
}

impl Sample {
    /// Adds a later slice of the same phase.
    pub fn add(&mut self, slice: Sample) {
        self.latencies.extend(slice.latencies);
        self.errors += slice.errors;
        self.elapsed += slice.elapsed;
        self.clients_out_of_work = self.clients_out_of_work.max(slice.clients_out_of_work);
    }

    pub fn figures(self) -> Figures {
        Figures {
            clients_out_of_work: self.clients_out_of_work,
            ..Figures::from_latencies(self.latencies, self.errors, self.elapsed)
        }
    }
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>8.0}/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} ok, {} errors)",
            self.per_second, self.p50_ms, self.p99_ms, self.ops, self.errors
        )?;
        if self.clients_out_of_work > 0 {
            write!(
                f,
                "  [{} clients ran out of work before the end: the rate is understated]",
                self.clients_out_of_work
            )?;
        }
        Ok(())
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

/// The database the benchmarks use unless told: the one of `scripts/up.sh`.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/ticketbuster";

/// The exit statuses of the measuring benchmarks, for their `--help`.
pub const EXIT_STATUS: &str = "Exit status: 0 when the figures were printed; 1 when the run could not be made \
(nothing answering, a database error); 2 for bad arguments.\n\
Figures go to stdout, progress to stderr.";

/// The app's database, which every benchmark takes the same way.
#[derive(Debug, clap::Args)]
pub struct DatabaseArg {
    /// The app's database: benchmarks make their events there and delete them afterwards,
    /// or check outcomes in it.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL,
        hide_env_values = true,
        value_parser = postgres_url
    )]
    pub database_url: String,
}

/// What `holds` and `orders` take.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The app under test: the `spin up` of scripts/up.sh.
    #[arg(long, default_value = "http://127.0.0.1:3000", value_parser = http_url)]
    pub url: String,
    #[command(flatten)]
    pub database: DatabaseArg,
    /// Concurrent clients, each a buyer registered through the API.
    #[arg(long, default_value_t = 64, value_parser = count_in(1..=1_000))]
    pub clients: usize,
    /// Measured seconds of each phase of a run.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub seconds: u64,
    /// Counted runs, after a warm-up that is shown but not counted; the figures printed
    /// last are the medians of the runs.
    #[arg(long, default_value_t = 3, value_parser = count_in(1..=100))]
    pub runs: usize,
}

/// A whole number within `range`, for an argument.
pub fn count_in(
    range: std::ops::RangeInclusive<u64>,
) -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(range)
}

/// An `http://` or `https://` URL with a host, without its trailing slash.
pub fn http_url(text: &str) -> Result<String, String> {
    url_with_scheme(text, &["http", "https"]).map(|url| url.trim_end_matches('/').to_owned())
}

/// A `postgres://` (or `postgresql://`) URL.
pub fn postgres_url(text: &str) -> Result<String, String> {
    url_with_scheme(text, &["postgres", "postgresql"])
}

/// A `redis://` (or `rediss://`) URL.
pub fn redis_url(text: &str) -> Result<String, String> {
    url_with_scheme(text, &["redis", "rediss"])
}

fn url_with_scheme(text: &str, schemes: &[&str]) -> Result<String, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    if !schemes.contains(&url.scheme()) {
        return Err(format!(
            "expected a {} URL",
            schemes.join(":// or ") + "://"
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL names no host".into());
    }
    Ok(text.to_owned())
}

/// A positive, finite number of operations per second.
pub fn per_second(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        Ok(_) => Err("must be a positive number".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A line of progress on stderr, so that stdout keeps only the figures.
#[macro_export]
macro_rules! progress {
    ($($arg:tt)*) => {
        eprintln!("  ... {}", format_args!($($arg)*))
    };
}

/// Fails with a clear message unless the app answers its health check.
pub async fn ensure_up(http: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let health = http
        .get(format!("{url}/api/health"))
        .send()
        .await
        .with_context(|| format!("nothing answers at {url}: is spin up running?"))?;
    anyhow::ensure!(
        health.status().is_success(),
        "{url}/api/health answered {}",
        health.status()
    );
    Ok(())
}

/// How often a long wait says how far it got.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);

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
    let mut last_progress = Instant::now();
    while buyers.len() < count {
        if last_progress.elapsed() >= PROGRESS_EVERY {
            progress!("registered {} of {count} buyers", buyers.len());
            last_progress = Instant::now();
        }
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
                progress!(
                    "registrations are rate limited; waiting (raise SPIN_VARIABLE_RATE_LIMIT_PER_ADDRESS to skip this)"
                );
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

/// Seats of an event with more than one ticket that is not void: sold twice.
pub async fn seats_sold_twice(pool: &PgPool, event_id: i64) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT seat_id FROM orders.tickets WHERE event_id = $1 AND status <> 'void'
                               GROUP BY seat_id HAVING count(*) > 1) twice",
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

/// Runs `clients` loops until `duration` is over; each iteration is one timed operation,
/// and an operation answering `None` (no work left) stops its client early.
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
                let out_of_work = loop {
                    let due = pace
                        .scheduled(clients, client, n)
                        .map_or_else(Instant::now, |after| start + after);
                    if due >= deadline {
                        break false;
                    }
                    if due > Instant::now() {
                        tokio::time::sleep_until(due.into()).await;
                    }
                    match op(client, n).await {
                        Some(true) => latencies.push(due.elapsed()),
                        Some(false) => errors += 1,
                        None => break true,
                    }
                    n += 1;
                };
                (latencies, errors, out_of_work)
            })
        })
        .collect();
    let mut sample = Sample::default();
    for task in tasks {
        match task.await {
            Ok((latencies, errors, out_of_work)) => {
                sample.latencies.extend(latencies);
                sample.errors += errors;
                sample.clients_out_of_work += usize::from(out_of_work);
            }
            // A client that panicked made no figures: count it as one error, not as nothing.
            Err(_) => sample.errors += 1,
        }
    }
    sample.elapsed = start.elapsed();
    sample
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
            clients_out_of_work: 0,
        };
        let mut phase = slice(10, 1);
        phase.add(slice(30, 2));
        let f = phase.figures();
        assert_eq!((f.ops, f.errors, f.per_second), (20, 3, 10.0));
        assert_eq!((f.p50_ms, f.p99_ms), (10.0, 30.0));
    }

    #[test]
    fn nearest_rank_picks_the_value_that_covers_the_quantile() {
        assert_eq!(nearest_rank(1, 0.99), 0);
        assert_eq!(nearest_rank(100, 0.5), 49);
        assert_eq!(nearest_rank(100, 0.99), 98);
        assert_eq!(nearest_rank(101, 0.99), 99);
        assert_eq!(nearest_rank(10, 0.0), 0);
    }

    #[test]
    fn clients_out_of_work_show_in_the_figures() {
        let slice = |out_of_work| Sample {
            latencies: vec![Duration::from_millis(1)],
            errors: 0,
            elapsed: Duration::from_secs(1),
            clients_out_of_work: out_of_work,
        };
        let mut phase = slice(0);
        phase.add(slice(2));
        let figures = phase.figures();
        assert_eq!(figures.clients_out_of_work, 2);
        assert!(
            figures
                .to_string()
                .ends_with("[2 clients ran out of work before the end: the rate is understated]")
        );
        assert!(!slice(0).figures().to_string().contains("ran out"));
    }

    #[test]
    fn arguments_are_checked() {
        assert_eq!(
            http_url("http://127.0.0.1:3000/").as_deref(),
            Ok("http://127.0.0.1:3000")
        );
        assert!(http_url("https://example.com").is_ok());
        assert!(http_url("127.0.0.1:3000").is_err());
        assert!(http_url("ftp://example.com").is_err());
        assert!(postgres_url(DEFAULT_DATABASE_URL).is_ok());
        assert!(postgres_url("postgresql://u@db/x").is_ok());
        assert!(postgres_url("mysql://u@db/x").is_err());
        assert!(redis_url("redis://127.0.0.1:6379").is_ok());
        assert!(redis_url("http://127.0.0.1:6379").is_err());
        assert_eq!(per_second("1500"), Ok(1500.0));
        assert!(per_second("0").is_err());
        assert!(per_second("-3").is_err());
        assert!(per_second("inf").is_err());
        assert!(per_second("NaN").is_err());
        assert!(per_second("fast").is_err());
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

/// Faults caused on the machine of scripts/up.sh, for the benchmarks that prove the stack
/// survives them. Run from the repository's root.
pub mod faults {
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::time::Duration;

    use anyhow::{Context, ensure};

    /// Where the faults are caused: the Redis and the `spin up` of scripts/up.sh.
    #[derive(Debug, Clone, clap::Args)]
    pub struct Targets {
        /// Redis's port (stopped with redis-cli, started with scripts/services.sh).
        #[arg(long, default_value_t = 6379, value_parser = clap::value_parser!(u16).range(1..))]
        pub redis_port: u16,
        /// Where scripts/up.sh keeps its spins' pids (`spin-up.pid`, `spin-worker.pid`).
        #[arg(
            long,
            env = "TICKETBUSTER_STATE_DIR",
            default_value = "/var/tmp/ticketbuster"
        )]
        pub state_dir: PathBuf,
    }

    /// The two `spin up`s that scripts/up.sh supervises (and starts again when they end).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Spin {
        /// The HTTP app.
        App,
        /// The order worker, alone with its Redis trigger.
        Worker,
    }

    impl Spin {
        pub const BOTH: [Spin; 2] = [Spin::App, Spin::Worker];

        fn pid_file(self) -> &'static str {
            match self {
                Spin::App => "spin-up.pid",
                Spin::Worker => "spin-worker.pid",
            }
        }
    }

    /// Stops the Redis on `port` (`SHUTDOWN`: it writes its append-only file), waits
    /// `down`, and starts it again with scripts/services.sh.
    pub async fn restart_redis(port: u16, down: Duration) -> anyhow::Result<()> {
        run(
            "redis-cli",
            &["-p", &port.to_string(), "shutdown", "nosave"],
        );
        tokio::time::sleep(down).await;
        let started = Command::new("bash")
            .arg("scripts/services.sh")
            .env("REDIS_PORT", port.to_string())
            .output()?;
        ensure!(
            started.status.success(),
            "scripts/services.sh failed: {}",
            String::from_utf8_lossy(&started.stderr)
        );
        Ok(())
    }

    /// Kills both spins at once, as a crash of their host would.
    pub fn kill_spins(state_dir: &Path) -> anyhow::Result<()> {
        for spin in Spin::BOTH {
            run("kill", &["-KILL", &spin_pid(state_dir, spin)?.to_string()]);
        }
        Ok(())
    }

    /// The pid of one of the spins that scripts/up.sh supervises (it restarts them, so
    /// read it anew).
    pub fn spin_pid(state_dir: &Path, spin: Spin) -> anyhow::Result<u32> {
        let file = state_dir.join(spin.pid_file());
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("{} (is scripts/up.sh running?)", file.display()))?;
        text.trim()
            .parse()
            .with_context(|| format!("{} holds {text:?}", file.display()))
    }

    /// Runs a command, printing what went wrong rather than failing: a fault that could not
    /// be caused shows in the figures.
    pub fn run(program: &str, args: &[&str]) {
        match Command::new(program).args(args).output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "{program} {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("{program}: {e}"),
        }
    }
}

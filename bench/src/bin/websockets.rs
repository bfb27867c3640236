//! The sidecar under many connections: opens `--connections` WebSockets on loopback (one
//! user each), publishes notifications to them at `--rate` per second through the same
//! Redis script the components use, and reports delivery latency (publish to receipt),
//! messages per second and the sidecar's resident memory. The reference, measured in the
//! same run, is a plain Redis subscriber on the `notifications` channel: what pub/sub alone
//! costs, without the sidecar.
//!
//!   cargo run --release -p ticketbuster-bench --bin websockets -- \
//!       --sidecar 127.0.0.1:3001 --connections 10000 --rate 2000 --seconds 10 --runs 3
//!
//! Every message carries this invocation's tag, its run and its publication time, so a
//! message of another run is discarded (and counted) rather than timed in the wrong run;
//! each run waits for its messages before the next begins. A publish that failed or was
//! never sent (the publisher fell behind) counts as not delivered.
//!
//! Tokens are signed with the development secret (`JWT_SECRET`, or `.dev/jwt-secret` as
//! `scripts/up.sh` generates it), for users that need not exist: the sidecar only checks
//! the signature.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use futures_util::StreamExt;
use ticketbuster_bench::{
    DatabaseArg, EXIT_STATUS, Figures, PROGRESS_EVERY, count_in, median, progress, redis_url,
};
use ticketbuster_domain::account::Role;
use ticketbuster_domain::token::TokenIssuer;
use ticketbuster_native_backend::NativeBackend;
use ticketbuster_services::notifications::{self, NOTIFICATIONS_CHANNEL, Notification};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

/// The sidecar under many WebSocket connections: delivery latency and rate, and its memory,
/// against a plain Redis subscriber measured in the same run.
///
/// Opens `--connections` WebSockets (one user each) and publishes `--rate` notifications a
/// second through the components' Redis script for `--seconds`, round robin over the
/// users. A run's messages are awaited (up to 5 s) before the next run begins; a message of
/// another run is discarded and counted. Publishes that failed, were not sent in time or
/// were not received count as errors. Tokens are signed with JWT_SECRET, or with
/// `.dev/jwt-secret` as scripts/up.sh makes it (run from the repository's root).
#[derive(Parser)]
#[command(version, after_help = EXIT_STATUS)]
struct Args {
    /// The sidecar's address, host:port.
    #[arg(long, default_value = "127.0.0.1:3001", value_parser = host_and_port)]
    sidecar: String,
    /// WebSocket connections to open, one user each.
    #[arg(long, default_value_t = 10_000, value_parser = count_in(1..=200_000))]
    connections: usize,
    /// Notifications published per second.
    #[arg(long, default_value_t = 2_000, value_parser = count_in(1..=100_000))]
    rate: usize,
    /// Seconds of publishing per run.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    seconds: u64,
    /// Runs; the figures printed last are their medians.
    #[arg(long, default_value_t = 3, value_parser = count_in(1..=100))]
    runs: usize,
    /// The Redis the sidecar listens to.
    #[arg(
        long,
        env = "REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true,
        value_parser = redis_url
    )]
    redis_url: String,
    #[command(flatten)]
    database: DatabaseArg,
}

/// `host:port`, as the sidecar's address.
fn host_and_port(text: &str) -> Result<String, String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or("expected host:port, e.g. 127.0.0.1:3001")?;
    if host.is_empty() || host.contains('/') {
        return Err("expected host:port, e.g. 127.0.0.1:3001".into());
    }
    port.parse::<u16>()
        .map_err(|_| format!("{port:?} is not a port"))?;
    Ok(text.to_owned())
}

/// Handshakes in flight at once while connecting.
const CONNECTING_AT_ONCE: usize = 256;

/// How long a run waits for its messages after the last publish.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// Where a bench message carries its tag, as the order id:
/// `bench-<invocation>-<run>-<sequence>-<publication time in µs>`. The sequence keeps two
/// messages of the same microsecond apart: the publish script refuses a repeated fact.
struct Tag {
    run: usize,
    sent_micros: u64,
}

impl Tag {
    fn order_id(invocation: &str, run: usize, sequence: usize) -> String {
        format!("bench-{invocation}-{run}-{sequence}-{}", now_micros())
    }

    /// The tag of a message of this invocation; `None` for anything else on the channel.
    fn find(text: &str, invocation: &str) -> Option<Self> {
        let marker = format!("\"order_id\":\"bench-{invocation}-");
        let rest = &text[text.find(&marker)? + marker.len()..];
        let mut fields = rest[..rest.find('"')?].split('-');
        let run = fields.next()?.parse().ok()?;
        let _sequence: usize = fields.next()?.parse().ok()?;
        let sent_micros = fields.next()?.parse().ok()?;
        fields.next().is_none().then_some(Self { run, sent_micros })
    }
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

/// What one kind of receiver (the sockets, or the reference subscriber) got: the latencies
/// of the current run's messages, and how many messages of other runs it discarded.
#[derive(Default)]
struct Receipts {
    run: AtomicUsize,
    latencies: Mutex<Vec<Duration>>,
    other_runs: AtomicUsize,
}

impl Receipts {
    fn latencies(&self) -> std::sync::MutexGuard<'_, Vec<Duration>> {
        self.latencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, text: &str, invocation: &str) {
        let Some(tag) = Tag::find(text, invocation) else {
            return;
        };
        // Read under the lock, so that a message is never timed into a run already taken.
        let mut latencies = self.latencies();
        if tag.run == self.run.load(Ordering::Relaxed) {
            latencies.push(Duration::from_micros(
                now_micros().saturating_sub(tag.sent_micros),
            ));
        } else {
            self.other_runs.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn start(&self, run: usize) {
        let mut latencies = self.latencies();
        latencies.clear();
        self.run.store(run, Ordering::Relaxed);
    }

    fn received(&self) -> usize {
        self.latencies().len()
    }

    /// Ends the run: its latencies, and the messages of other runs discarded since the
    /// last call. A message of this run arriving later counts as one of another run.
    fn finish(&self) -> (Vec<Duration>, usize) {
        let mut latencies = self.latencies();
        self.run.store(NO_RUN, Ordering::Relaxed);
        (
            std::mem::take(&mut *latencies),
            self.other_runs.swap(0, Ordering::Relaxed),
        )
    }
}

/// The run number between runs (runs count from 1).
const NO_RUN: usize = 0;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Args {
        sidecar,
        connections,
        rate,
        seconds,
        runs,
        redis_url,
        database: DatabaseArg { database_url },
    } = Args::parse();
    rlimit::increase_nofile_limit(u64::MAX).context("raising the open file limit")?;
    let secret = match std::env::var("JWT_SECRET") {
        Ok(secret) => secret,
        Err(_) => std::fs::read_to_string(".dev/jwt-secret")
            .context("set JWT_SECRET or run from the repository after scripts/up.sh")?,
    };
    let issuer = TokenIssuer::from_secret(&secret).map_err(anyhow::Error::msg)?;
    let http = reqwest::Client::new();
    let metrics_url = format!("http://{sidecar}/metrics");
    let rss_mb = || async {
        let text = http.get(&metrics_url).send().await?.text().await?;
        let bytes: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("ticketbuster_sidecar_resident_memory_bytes "))
            .and_then(|v| v.trim().parse().ok())
            .context("no resident memory in /metrics")?;
        anyhow::Ok(bytes / 1_048_576.0)
    };
    let idle_rss = rss_mb().await.context("is the sidecar running?")?;
    let backend = NativeBackend::connect(&database_url, &redis_url, 1, "").await?;
    let invocation = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    println!(
        "websockets benchmark: {connections} connections, {rate} messages/s, {seconds} s per run, {runs} runs, sidecar {sidecar}"
    );

    let users: Vec<String> = (0..connections)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let through_sidecar = Arc::new(Receipts::default());
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(CONNECTING_AT_ONCE));
    let mut opened = Vec::with_capacity(connections);
    for user in &users {
        let token = issuer.issue(user, Role::Customer)?;
        let url = format!("ws://{sidecar}/ws?token={token}");
        let gate = gate.clone();
        opened.push(tokio::spawn(async move {
            let _turn = gate.acquire_owned().await?;
            let (socket, _) = tokio_tungstenite::connect_async(url).await?;
            anyhow::Ok(socket)
        }));
    }
    let mut sockets = Vec::with_capacity(connections);
    let mut last_progress = Instant::now();
    for socket in opened {
        sockets.push(socket.await??);
        if last_progress.elapsed() >= PROGRESS_EVERY {
            progress!("opened {} of {connections} connections", sockets.len());
            last_progress = Instant::now();
        }
    }
    let connect_seconds = started.elapsed().as_secs_f64();
    for mut socket in sockets {
        let (receipts, invocation) = (through_sidecar.clone(), invocation.clone());
        tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                if let Message::Text(text) = message {
                    receipts.record(&text, &invocation);
                }
            }
        });
    }
    let connected_rss = rss_mb().await?;
    println!(
        "connected {connections} in {connect_seconds:.1} s; sidecar RSS {idle_rss:.1} MB idle, {connected_rss:.1} MB connected"
    );

    let reference = reference_subscriber(&redis_url, &invocation).await?;
    let (mut rates, mut p50s, mut p99s, mut ref_p99s, mut peak_rss) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        connected_rss,
    );
    let mut totals = Sent::default();
    let mut not_delivered = 0;
    for run in 1..=runs {
        through_sidecar.start(run);
        reference.start(run);
        progress!("run {run} of {runs}: publishing for {seconds} s");
        let sent = publish_at_rate(
            &backend,
            &users,
            &invocation,
            run,
            rate,
            Duration::from_secs(seconds),
        )
        .await;
        drain(&[&through_sidecar, &reference], sent.published).await;
        let (latencies, late) = through_sidecar.finish();
        let (reference_latencies, _) = reference.finish();
        let rss = rss_mb().await?;
        peak_rss = peak_rss.max(rss);
        let errors = sent.offered.saturating_sub(latencies.len());
        let sidecar_figures =
            Figures::from_latencies(latencies, errors, Duration::from_secs(seconds));
        let reference_errors = sent.offered.saturating_sub(reference_latencies.len());
        let reference_figures = Figures::from_latencies(
            reference_latencies,
            reference_errors,
            Duration::from_secs(seconds),
        );
        println!(
            "run {run}: through the sidecar {sidecar_figures}  ({}; errors = not received)",
            sent.describe()
        );
        println!(
            "run {run}: Redis subscriber  {reference_figures}  (reference)  sidecar RSS {rss:.1} MB{}",
            if late > 0 {
                format!("; {late} late messages of an earlier run discarded")
            } else {
                String::new()
            }
        );
        totals.add(&sent);
        not_delivered += errors;
        rates.push(sidecar_figures.per_second);
        p50s.push(sidecar_figures.p50_ms);
        p99s.push(sidecar_figures.p99_ms);
        ref_p99s.push(reference_figures.p99_ms);
    }
    let (p99, ref_p99) = (median(p99s), median(ref_p99s));
    println!(
        "median of {runs}: {:.0} messages/s delivered, p50 {:.2} ms, p99 {p99:.2} ms \
         (Redis subscriber alone p99 {ref_p99:.2} ms, ×{:.1}); sidecar RSS peak {peak_rss:.1} MB for {connections} connections; \
         over all runs {not_delivered} of {} offered not delivered ({} publishes failed, {} not sent in time)",
        median(rates),
        median(p50s),
        p99 / ref_p99.max(0.001),
        totals.offered,
        totals.failed,
        totals.unsent(),
    );
    Ok(())
}

/// The publishes of one run.
#[derive(Debug, Default, PartialEq)]
struct Sent {
    /// `rate` × the run's seconds: what should have been published.
    offered: usize,
    published: usize,
    /// Refused by Redis, or Redis unreachable.
    failed: usize,
}

impl Sent {
    fn unsent(&self) -> usize {
        self.offered - self.published - self.failed
    }

    fn add(&mut self, run: &Sent) {
        self.offered += run.offered;
        self.published += run.published;
        self.failed += run.failed;
    }

    fn describe(&self) -> String {
        format!(
            "offered {}: published {}, {} publishes failed, {} not sent in time",
            self.offered,
            self.published,
            self.failed,
            self.unsent()
        )
    }
}

/// How many of `offered` messages, spread evenly over `duration`, are due `elapsed` into it.
fn due_by(offered: usize, duration: Duration, elapsed: Duration) -> usize {
    let share = (elapsed.as_secs_f64() / duration.as_secs_f64()).min(1.0);
    ((offered as f64 * share).ceil() as usize).min(offered)
}

/// Publishes `rate` notifications per second for `duration`, round robin over the users,
/// catching up every 10 ms; what is still unsent when `duration` is over stays unsent.
async fn publish_at_rate(
    backend: &NativeBackend,
    users: &[String],
    invocation: &str,
    run: usize,
    rate: usize,
    duration: Duration,
) -> Sent {
    let mut sent = Sent {
        offered: (rate as f64 * duration.as_secs_f64()).round() as usize,
        ..Sent::default()
    };
    let mut ticks = tokio::time::interval(Duration::from_millis(10));
    let start = Instant::now();
    let mut attempted = 0;
    while start.elapsed() < duration && attempted < sent.offered {
        ticks.tick().await;
        while attempted < due_by(sent.offered, duration, start.elapsed()) {
            let user_id = &users[attempted % users.len()];
            let order_id = Tag::order_id(invocation, run, attempted);
            let notification = Notification::OrderCancelled {
                user_id,
                order_id: &order_id,
                event_id: 0,
            };
            // Each order id is new, so `None` can only mean the publish failed.
            match notifications::publish(backend, &notification).await {
                Some(_) => sent.published += 1,
                None => sent.failed += 1,
            }
            attempted += 1;
            if start.elapsed() >= duration {
                break;
            }
        }
    }
    sent
}

/// Waits until every receiver has all `published` messages of the run, or [`DRAIN_LIMIT`].
async fn drain(receivers: &[&Receipts], published: usize) {
    let began = Instant::now();
    while began.elapsed() < DRAIN_LIMIT && receivers.iter().any(|r| r.received() < published) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A plain subscriber to the notifications channel, timing the same messages.
async fn reference_subscriber(redis_url: &str, invocation: &str) -> anyhow::Result<Arc<Receipts>> {
    let mut pubsub = redis::Client::open(redis_url)?.get_async_pubsub().await?;
    pubsub.subscribe(NOTIFICATIONS_CHANNEL).await?;
    let receipts = Arc::new(Receipts::default());
    let (sink, invocation) = (receipts.clone(), invocation.to_owned());
    tokio::spawn(async move {
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            if let Ok(text) = std::str::from_utf8(message.get_payload_bytes()) {
                sink.record(text, &invocation);
            }
        }
    });
    Ok(receipts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }

    fn message(order_id: &str) -> String {
        format!(
            r#"{{"id":"1-0","type":"order.cancelled","user_id":"u","event_id":0,"order_id":"{order_id}"}}"#
        )
    }

    #[test]
    fn a_tag_reads_back_and_other_invocations_are_ignored() {
        let text = message(&Tag::order_id("abc", 2, 17));
        let tag = Tag::find(&text, "abc").expect("our tag");
        assert_eq!(tag.run, 2);
        assert!(tag.sent_micros.abs_diff(now_micros()) < 60_000_000);
        assert!(Tag::find(&text, "other").is_none());
        assert!(Tag::find(&message("bench-abc-2-17"), "abc").is_none());
        assert!(Tag::find(&message("an-order"), "abc").is_none());
    }

    #[test]
    fn messages_of_other_runs_are_discarded_and_counted() {
        let receipts = Receipts::default();
        receipts.start(2);
        receipts.record(&message(&Tag::order_id("abc", 1, 0)), "abc");
        receipts.record(&message(&Tag::order_id("abc", 2, 0)), "abc");
        receipts.record(&message(&Tag::order_id("abc", 2, 1)), "abc");
        receipts.record(&message(&Tag::order_id("xyz", 2, 2)), "abc");
        assert_eq!(receipts.received(), 2);
        let (latencies, other_runs) = receipts.finish();
        assert_eq!((latencies.len(), other_runs), (2, 1));
        // After the run is taken, its stragglers count as late, not as the next run's.
        receipts.record(&message(&Tag::order_id("abc", 2, 3)), "abc");
        receipts.start(3);
        assert_eq!(receipts.received(), 0);
        assert_eq!(receipts.finish(), (Vec::new(), 1));
    }

    #[test]
    fn publishes_due_spread_evenly_and_never_exceed_the_offer() {
        let ten_seconds = Duration::from_secs(10);
        assert_eq!(due_by(20_000, ten_seconds, Duration::ZERO), 0);
        assert_eq!(due_by(20_000, ten_seconds, Duration::from_millis(10)), 20);
        assert_eq!(due_by(20_000, ten_seconds, Duration::from_secs(5)), 10_000);
        assert_eq!(due_by(20_000, ten_seconds, Duration::from_secs(11)), 20_000);
        // A rate under 100 a second is kept, not rounded up to one message per tick.
        assert_eq!(due_by(50, ten_seconds, Duration::from_millis(100)), 1);
        assert_eq!(due_by(50, ten_seconds, Duration::from_secs(1)), 5);
    }

    #[test]
    fn every_offered_message_is_published_failed_or_unsent() {
        let mut total = Sent::default();
        let run = Sent {
            offered: 100,
            published: 90,
            failed: 4,
        };
        assert_eq!(run.unsent(), 6);
        assert_eq!(
            run.describe(),
            "offered 100: published 90, 4 publishes failed, 6 not sent in time"
        );
        total.add(&run);
        total.add(&run);
        assert_eq!((total.offered, total.failed, total.unsent()), (200, 8, 12));
    }

    #[test]
    fn the_sidecar_address_must_be_host_and_port() {
        assert!(host_and_port("127.0.0.1:3001").is_ok());
        assert!(host_and_port("localhost:3001").is_ok());
        assert!(host_and_port("127.0.0.1").is_err());
        assert!(host_and_port(":3001").is_err());
        assert!(host_and_port("http://x:3001").is_err());
        assert!(host_and_port("x:99999").is_err());
    }
}

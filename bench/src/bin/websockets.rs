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
//! Tokens are signed with the development secret (`JWT_SECRET`, or `.dev/jwt-secret` as
//! `scripts/up.sh` generates it), for users that need not exist: the sidecar only checks
//! the signature.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, ensure};
use futures_util::StreamExt;
use ticketbuster_bench::{Figures, arg, median};
use ticketbuster_domain::account::Role;
use ticketbuster_domain::token::TokenIssuer;
use ticketbuster_native_backend::NativeBackend;
use ticketbuster_services::notifications::{self, NOTIFICATIONS_CHANNEL, Notification};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

/// Handshakes in flight at once while connecting.
const CONNECTING_AT_ONCE: usize = 256;

/// Bench notifications carry their publication time in the order id: `bench-<µs>`.
fn sent_micros(text: &str) -> Option<u64> {
    let start = text.find("\"order_id\":\"bench-")? + "\"order_id\":\"bench-".len();
    let rest = &text[start..];
    rest[..rest.find('"')?].parse().ok()
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

type Latencies = Arc<Mutex<Vec<Duration>>>;

fn lock(latencies: &Latencies) -> std::sync::MutexGuard<'_, Vec<Duration>> {
    latencies.lock().unwrap_or_else(PoisonError::into_inner)
}

fn record(latencies: &Latencies, received: &AtomicUsize, text: &str) {
    if let Some(sent) = sent_micros(text) {
        let latency = Duration::from_micros(now_micros().saturating_sub(sent));
        received.fetch_add(1, Ordering::Relaxed);
        lock(latencies).push(latency);
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sidecar: String = arg("--sidecar", "127.0.0.1:3001".to_string());
    let connections: usize = arg("--connections", 10_000);
    let rate: usize = arg("--rate", 2_000);
    let seconds: u64 = arg("--seconds", 10);
    let runs: usize = arg("--runs", 3);
    let redis_url: String = arg(
        "--redis-url",
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
    );
    let database_url: String = arg(
        "--database-url",
        std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/ticketbuster".into()),
    );
    ensure!(
        connections > 0 && rate > 0 && seconds > 0 && runs > 0,
        "all figures must be positive"
    );
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
    println!(
        "websockets benchmark: {connections} connections, {rate} messages/s, {seconds} s per run, {runs} runs, sidecar {sidecar}"
    );

    let users: Vec<String> = (0..connections)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let latencies: Latencies = Arc::new(Mutex::new(Vec::new()));
    let received = Arc::new(AtomicUsize::new(0));
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
    for socket in opened {
        sockets.push(socket.await??);
    }
    let connect_seconds = started.elapsed().as_secs_f64();
    for mut socket in sockets {
        let (latencies, received) = (latencies.clone(), received.clone());
        tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                if let Message::Text(text) = message {
                    record(&latencies, &received, &text);
                }
            }
        });
    }
    let connected_rss = rss_mb().await?;
    println!(
        "connected {connections} in {connect_seconds:.1} s; sidecar RSS {idle_rss:.1} MB idle, {connected_rss:.1} MB connected"
    );

    let reference = reference_subscriber(&redis_url).await?;
    let (mut rates, mut p50s, mut p99s, mut ref_p99s, mut peak_rss) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        connected_rss,
    );
    for run in 1..=runs {
        lock(&latencies).clear();
        lock(&reference.latencies).clear();
        received.store(0, Ordering::Relaxed);
        let published = publish_at_rate(&backend, &users, rate, Duration::from_secs(seconds)).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss = rss_mb().await?;
        peak_rss = peak_rss.max(rss);
        let sidecar_figures = Figures::from_latencies(
            std::mem::take(&mut *lock(&latencies)),
            published.saturating_sub(received.load(Ordering::Relaxed)),
            Duration::from_secs(seconds),
        );
        let reference_figures = Figures::from_latencies(
            std::mem::take(&mut *lock(&reference.latencies)),
            0,
            Duration::from_secs(seconds),
        );
        println!(
            "run {run}: through the sidecar {sidecar_figures}  (published {published}; errors = not received)"
        );
        println!(
            "run {run}: Redis subscriber  {reference_figures}  (reference)  sidecar RSS {rss:.1} MB"
        );
        rates.push(sidecar_figures.per_second);
        p50s.push(sidecar_figures.p50_ms);
        p99s.push(sidecar_figures.p99_ms);
        ref_p99s.push(reference_figures.p99_ms);
    }
    let (p99, ref_p99) = (median(p99s), median(ref_p99s));
    println!(
        "median of {runs}: {:.0} messages/s delivered, p50 {:.2} ms, p99 {p99:.2} ms \
         (Redis subscriber alone p99 {ref_p99:.2} ms, ×{:.1}); sidecar RSS peak {peak_rss:.1} MB for {connections} connections",
        median(rates),
        median(p50s),
        p99 / ref_p99.max(0.001),
    );
    Ok(())
}

/// Publishes `rate` notifications per second for `duration`, round robin over the users,
/// in 10 ms slices; returns how many were published.
async fn publish_at_rate(
    backend: &NativeBackend,
    users: &[String],
    rate: usize,
    duration: Duration,
) -> usize {
    let slice = Duration::from_millis(10);
    let per_slice = (rate / 100).max(1);
    let mut ticks = tokio::time::interval(slice);
    let end = Instant::now() + duration;
    let mut published = 0;
    while Instant::now() < end {
        ticks.tick().await;
        for _ in 0..per_slice {
            let user_id = &users[published % users.len()];
            let order_id = format!("bench-{}", now_micros());
            let notification = Notification::OrderCancelled {
                user_id,
                order_id: &order_id,
                event_id: 0,
            };
            if notifications::publish(backend, &notification)
                .await
                .is_some()
            {
                published += 1;
            }
        }
    }
    published
}

struct Reference {
    latencies: Latencies,
}

/// A plain subscriber to the notifications channel, timing the same messages.
async fn reference_subscriber(redis_url: &str) -> anyhow::Result<Reference> {
    let mut pubsub = redis::Client::open(redis_url)?.get_async_pubsub().await?;
    pubsub.subscribe(NOTIFICATIONS_CHANNEL).await?;
    let latencies: Latencies = Arc::new(Mutex::new(Vec::new()));
    let counted = AtomicUsize::new(0);
    let sink = latencies.clone();
    tokio::spawn(async move {
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            if let Ok(text) = std::str::from_utf8(message.get_payload_bytes()) {
                record(&sink, &counted, text);
            }
        }
    });
    Ok(Reference { latencies })
}

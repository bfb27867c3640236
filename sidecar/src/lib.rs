//! TicketBuster's native sidecar, beside the Spin app: the WebSocket endpoint browsers
//! keep open for notifications and live seat maps (Spin has no inbound WebSockets), fed
//! by Redis pub/sub, and the periodic jobs (Spin has no timer trigger).

pub mod config;
pub mod connection;
pub mod feed;
pub mod hub;
pub mod jobs;
pub mod metrics;
pub mod server;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;
use ticketbuster_domain::orders::PaymentProvider;
use ticketbuster_domain::token::TokenVerifier;
use ticketbuster_native_backend::NativeBackend;
use ticketbuster_services::worker::WorkerSettings;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::Config;

use crate::connection::Session;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::server::App;

/// Serves on `listener` until `shutdown` is cancelled, then closes every WebSocket with a
/// close frame (waiting up to the configured grace) and returns.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let verifier = TokenVerifier::from_secret(&config.jwt_secret)
        .map_err(anyhow::Error::msg)
        .context("JWT_SECRET")?
        .with_previous(config.jwt_secret_previous.as_deref())
        .map_err(anyhow::Error::msg)
        .context("JWT_SECRET_PREVIOUS")?;
    let backend = connect(&config).await?;
    let metrics = Arc::new(Metrics::new());
    let hub = Hub::new(config.send_queue, metrics.clone());
    let feed_subscribed = Arc::new(AtomicBool::new(false));
    let session = Arc::new(Session {
        hub: hub.clone(),
        metrics: metrics.clone(),
        redis: backend.redis.clone(),
        heartbeat: config.heartbeat,
        max_event_subscriptions: config.max_event_subscriptions,
        shutdown: shutdown.clone(),
    });
    let app = Arc::new(App {
        session,
        verifier,
        feed_subscribed: feed_subscribed.clone(),
        connections: TaskTracker::new(),
    });

    let redis = redis::Client::open(config.redis_url.as_str()).context("REDIS_URL")?;
    let feed = tokio::spawn(feed::run(
        redis,
        hub,
        metrics.clone(),
        feed_subscribed,
        shutdown.clone(),
    ));
    let worker = WorkerSettings {
        batch_size: config.worker_batch_size,
        lanes: config.worker_lanes,
        payment: PaymentProvider::new(config.payment_failure_rate)
            .map_err(anyhow::Error::msg)
            .context("PAYMENT_FAILURE_RATE")?,
    };
    let jobs = tokio::spawn(jobs::run(
        config.database_url.clone(),
        backend,
        config.jobs_every,
        worker,
        metrics,
        shutdown.clone(),
    ));

    let stopping = shutdown.clone();
    axum::serve(listener, server::router(app.clone()))
        .with_graceful_shutdown(async move { stopping.cancelled().await })
        .await
        .context("serving HTTP")?;
    app.connections.close();
    if tokio::time::timeout(config.shutdown_grace, app.connections.wait())
        .await
        .is_err()
    {
        eprintln!("[sidecar] some connections did not close within the grace period");
    }
    let _ = tokio::join!(feed, jobs);
    Ok(())
}

/// PostgreSQL and Redis, waited for: the sidecar may start before them.
async fn connect(config: &Config) -> anyhow::Result<NativeBackend> {
    let mut delay = Duration::from_millis(200);
    let mut attempts = 1;
    loop {
        match NativeBackend::connect(&config.database_url, &config.redis_url, 4, "").await {
            Ok(backend) => return Ok(backend),
            Err(e) if attempts < 20 => {
                eprintln!("[sidecar] waiting for PostgreSQL and Redis: {e}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(3));
                attempts += 1;
            }
            Err(e) => return Err(e).context("connecting to PostgreSQL and Redis"),
        }
    }
}

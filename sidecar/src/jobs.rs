//! The periodic jobs Spin has no trigger for: re-publishing stalled orders, watching the
//! order pipeline (and settling orders itself while no worker listens), warning buyers
//! whose holds are about to lapse, freeing lapsed seats, and moving waiting rooms' lines
//! for buyers who only listen to the socket. Every replica runs this loop,
//! but only the one holding a PostgreSQL advisory lock does the work; the lock lives as
//! long as its connection, so a replica that dies hands over at once.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{Connection, PgConnection};
use ticketbuster_native_backend::NativeBackend;
use ticketbuster_services::worker::{self, WorkerSettings};
use ticketbuster_services::{expiry, log, outbox, pipeline, waiting_room};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// The advisory lock key of the job runner ("TICK").
const JOBS_LOCK_KEY: i64 = 0x5449_434B;

/// The sidecar settles orders itself when no worker listens, or when the oldest unfinished
/// order is older than this (a worker that listens but does not keep up, or is stuck):
/// past the outbox's 10 s re-publication, so a worker that merely lost a message gets it
/// again first.
const SETTLE_STALE_AFTER_SECONDS: i64 = 15;

pub async fn run(
    database_url: String,
    backend: NativeBackend,
    every: Duration,
    worker: WorkerSettings,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let mut lock = JobsLock::default();
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.cancelled() => break,
        }
        let leading = lock.hold(&database_url).await;
        metrics.jobs_leader.set(i64::from(leading));
        if leading {
            run_jobs(&backend, &worker, &metrics).await;
        }
    }
    if let Some(connection) = lock.connection {
        let _ = connection.close().await;
    }
    metrics.jobs_leader.set(0);
}

/// A session-level advisory lock and the connection that holds it (or keeps trying).
#[derive(Default)]
struct JobsLock {
    connection: Option<PgConnection>,
    held: bool,
}

impl JobsLock {
    /// Whether this replica holds the lock now: checks a held lock's connection is alive,
    /// or tries to take a free lock.
    async fn hold(&mut self, database_url: &str) -> bool {
        if self.connection.is_none() {
            self.held = false;
            self.connection = PgConnection::connect(database_url).await.ok();
        }
        let Some(connection) = self.connection.as_mut() else {
            return false;
        };
        let held = if self.held {
            connection.ping().await.map(|()| true)
        } else {
            sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(JOBS_LOCK_KEY)
                .fetch_one(connection)
                .await
        };
        match held {
            Ok(held) => {
                if held && !self.held {
                    eprintln!("[sidecar] this replica now runs the periodic jobs");
                }
                self.held = held;
            }
            Err(e) => {
                eprintln!("[sidecar] the jobs lock's connection failed: {e}");
                self.connection = None;
                self.held = false;
            }
        }
        self.held
    }
}

async fn run_jobs(backend: &NativeBackend, worker: &WorkerSettings, metrics: &Metrics) {
    match outbox::sweep(backend).await {
        Ok(0) => {}
        Ok(n) => eprintln!("[sidecar] published {n} stalled order(s) again"),
        Err(e) => log::warn(
            "sidecar: outbox sweep",
            format_args!("[sidecar] outbox sweep failed, retrying: {e}"),
        ),
    }
    watch_the_pipeline(backend, worker, metrics).await;
    if let Err(e) = waiting_room::advance_rooms(backend).await {
        log::warn(
            "sidecar: waiting rooms",
            format_args!(
                "[sidecar] waiting rooms not advanced, retrying: {}",
                e.message
            ),
        );
    }
    if let Err(e) = expiry::warn_expiring_holds(backend).await {
        log::warn(
            "sidecar: hold warnings",
            format_args!("[sidecar] hold expiry warnings failed, retrying: {e}"),
        );
    }
    if let Err(e) = expiry::free_lapsed_seats(backend).await {
        log::warn(
            "sidecar: lapsed seats",
            format_args!("[sidecar] freeing lapsed seats failed, retrying: {e}"),
        );
    }
}

/// Exports the backlog and the workers listening, and settles orders here while no worker
/// listens (Spin's Redis trigger may stay alive but deaf after Redis restarts) or while the
/// backlog is stale. Concurrent runs share the work through their claims, so a worker that
/// comes back meanwhile changes nothing.
async fn watch_the_pipeline(backend: &NativeBackend, worker: &WorkerSettings, metrics: &Metrics) {
    let backlog = match pipeline::backlog(backend).await {
        Ok(backlog) => backlog,
        Err(e) => {
            log::warn(
                "sidecar: backlog",
                format_args!("[sidecar] could not read the order backlog: {e}"),
            );
            return;
        }
    };
    metrics.orders_backlog.set(backlog.orders);
    metrics
        .orders_backlog_oldest_seconds
        .set(backlog.oldest_seconds);
    // Without Redis nothing listens, but the sidecar can still settle: its notifications
    // are lost then, and buyers read the outcome from their orders.
    let listening = match pipeline::workers(backend).await {
        Ok(workers) => workers.subscribers,
        Err(_) => 0,
    };
    metrics.order_workers_listening.set(listening);
    let stale = backlog.oldest_seconds > SETTLE_STALE_AFTER_SECONDS;
    if backlog.orders == 0 || (listening > 0 && !stale) {
        return;
    }
    match worker::drain(backend, worker, None).await {
        Ok(report) => {
            let settled = report.completed + report.failed;
            metrics.orders_settled_by_sidecar.inc_by(settled as u64);
            if settled > 0 {
                log::warn(
                    "sidecar: settling orders",
                    format_args!(
                        "[sidecar] settled {settled} order(s) itself: {listening} worker(s) \
                         listening, oldest unfinished order {} s old",
                        backlog.oldest_seconds
                    ),
                );
            }
        }
        Err(e) => log::warn(
            "sidecar: settling orders",
            format_args!("[sidecar] could not settle orders itself: {e}"),
        ),
    }
}

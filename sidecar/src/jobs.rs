//! The periodic jobs Spin has no trigger for: re-publishing stalled orders, warning buyers
//! whose holds are about to lapse, and freeing lapsed seats. Every replica runs this loop,
//! but only the one holding a PostgreSQL advisory lock does the work; the lock lives as
//! long as its connection, so a replica that dies hands over at once.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{Connection, PgConnection};
use ticketbuster_native_backend::NativeBackend;
use ticketbuster_services::{expiry, outbox};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// The advisory lock key of the job runner ("TICK").
const JOBS_LOCK_KEY: i64 = 0x5449_434B;

pub async fn run(
    database_url: String,
    backend: NativeBackend,
    every: Duration,
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
            run_jobs(&backend).await;
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

async fn run_jobs(backend: &NativeBackend) {
    match outbox::sweep(backend).await {
        Ok(0) => {}
        Ok(n) => eprintln!("[sidecar] published {n} stalled order(s) again"),
        Err(e) => eprintln!("[sidecar] outbox sweep failed, retrying: {e}"),
    }
    if let Err(e) = expiry::warn_expiring_holds(backend).await {
        eprintln!("[sidecar] hold expiry warnings failed, retrying: {e}");
    }
    if let Err(e) = expiry::free_lapsed_seats(backend).await {
        eprintln!("[sidecar] freeing lapsed seats failed, retrying: {e}");
    }
}

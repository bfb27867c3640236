//! The native sidecar beside `spin up`. For now it runs the order outbox sweep every
//! couple of seconds (Spin has no timer trigger): orders whose `orders` message was lost
//! are published again, and orders whose worker run vanished are put back in line.
//!
//! Configuration (environment): `DATABASE_URL`, `REDIS_URL`, `SWEEP_EVERY_MS` (2000).

use std::time::Duration;

use anyhow::Context;
use ticketbuster_native_backend::NativeBackend;
use ticketbuster_services::outbox;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let database_url = env(
        "DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/ticketbuster",
    );
    let redis_url = env("REDIS_URL", "redis://127.0.0.1:6379");
    let every = Duration::from_millis(
        env("SWEEP_EVERY_MS", "2000")
            .parse()
            .context("SWEEP_EVERY_MS must be a number of milliseconds")?,
    );
    let backend = NativeBackend::connect(&database_url, &redis_url, 2, "")
        .await
        .context("connecting to PostgreSQL and Redis")?;
    eprintln!("[sidecar] outbox sweep every {} ms", every.as_millis());

    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => match outbox::sweep(&backend).await {
                Ok(0) => {}
                Ok(n) => eprintln!("[sidecar] published {n} stalled order(s) again"),
                Err(e) => eprintln!("[sidecar] outbox sweep failed, retrying: {e}"),
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    eprintln!("[sidecar] stopping");
    Ok(())
}

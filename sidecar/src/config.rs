//! The sidecar's configuration, read once from the environment; every setting has a
//! default that suits `scripts/up.sh` on one machine.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use ticketbuster_services::worker::MAX_LANES;

#[derive(Debug, Clone)]
pub struct Config {
    /// `SIDECAR_LISTEN`: where `/ws`, `/health` and `/metrics` are served.
    pub listen: SocketAddr,
    /// `DATABASE_URL`
    pub database_url: String,
    /// `REDIS_URL`
    pub redis_url: String,
    /// `JWT_SECRET`: the secret the auth component signs access tokens with (required).
    pub jwt_secret: String,
    /// `JWT_SECRET_PREVIOUS`: during a rotation, the secret tokens were signed with before;
    /// they are accepted until they expire. Empty or unset: none.
    pub jwt_secret_previous: Option<String>,
    /// `HEARTBEAT_MS`: a ping this often; a connection silent for two periods is dropped.
    pub heartbeat: Duration,
    /// `SEND_QUEUE`: messages waiting for one connection before it counts as too slow.
    pub send_queue: usize,
    /// `MAX_EVENT_SUBSCRIPTIONS`: live seat maps one connection may watch.
    pub max_event_subscriptions: usize,
    /// `JOBS_EVERY_MS`: how often the periodic jobs run (on one replica at a time).
    pub jobs_every: Duration,
    /// `SHUTDOWN_GRACE_MS`: how long connections get to close on SIGTERM.
    pub shutdown_grace: Duration,
    /// `PAYMENT_FAILURE_RATE`, `WORKER_BATCH_SIZE` and `WORKER_LANES`: the order worker's
    /// settings, for the runs the sidecar makes itself while no worker listens (the same
    /// as Spin's).
    pub payment_failure_rate: f64,
    pub worker_batch_size: i64,
    pub worker_lanes: usize,
}

impl Config {
    pub const DEFAULT_LISTEN: &str = "127.0.0.1:3001";

    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, so tests need not touch the environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let text = |name: &str, default: &str| lookup(name).unwrap_or_else(|| default.into());
        let millis = |name: &str, default: u64| -> anyhow::Result<Duration> {
            let ms = number(name, lookup(name), default)?;
            if ms == 0 {
                bail!("{name} must be more than 0 milliseconds");
            }
            Ok(Duration::from_millis(ms))
        };
        let jwt_secret = lookup("JWT_SECRET")
            .context("JWT_SECRET must be set to the secret the auth component signs tokens with")?;
        Ok(Self {
            listen: text("SIDECAR_LISTEN", Self::DEFAULT_LISTEN)
                .parse()
                .context("SIDECAR_LISTEN must be an address such as 127.0.0.1:3001")?,
            database_url: text(
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/ticketbuster",
            ),
            redis_url: text("REDIS_URL", "redis://127.0.0.1:6379"),
            jwt_secret,
            jwt_secret_previous: lookup("JWT_SECRET_PREVIOUS"),
            heartbeat: millis("HEARTBEAT_MS", 15_000)?,
            send_queue: number("SEND_QUEUE", lookup("SEND_QUEUE"), 256)?.max(1) as usize,
            max_event_subscriptions: number(
                "MAX_EVENT_SUBSCRIPTIONS",
                lookup("MAX_EVENT_SUBSCRIPTIONS"),
                16,
            )? as usize,
            jobs_every: millis("JOBS_EVERY_MS", 500)?,
            shutdown_grace: millis("SHUTDOWN_GRACE_MS", 5_000)?,
            payment_failure_rate: text("PAYMENT_FAILURE_RATE", "0")
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|rate| (0.0..=1.0).contains(rate))
                .context("PAYMENT_FAILURE_RATE must be a share from 0 to 1")?,
            worker_batch_size: number("WORKER_BATCH_SIZE", lookup("WORKER_BATCH_SIZE"), 200)?
                .clamp(1, 1000) as i64,
            worker_lanes: number("WORKER_LANES", lookup("WORKER_LANES"), 4)?
                .clamp(1, MAX_LANES as u64) as usize,
        })
    }
}

fn number(name: &str, value: Option<String>, default: u64) -> anyhow::Result<u64> {
    value.map_or(Ok(default), |v| {
        v.trim()
            .parse()
            .with_context(|| format!("{name} must be a whole number, not {v:?}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn defaults_fill_everything_but_the_secret() {
        let config = Config::from_lookup(lookup(&[("JWT_SECRET", "s")])).unwrap();
        assert_eq!(config.listen.to_string(), Config::DEFAULT_LISTEN);
        assert_eq!(config.heartbeat, Duration::from_secs(15));
        assert_eq!(config.send_queue, 256);
        assert!(Config::from_lookup(lookup(&[])).is_err());
    }

    #[test]
    fn bad_values_are_refused_with_their_name() {
        for (name, value) in [
            ("SIDECAR_LISTEN", "localhost"),
            ("HEARTBEAT_MS", "soon"),
            ("JOBS_EVERY_MS", "0"),
            ("PAYMENT_FAILURE_RATE", "1.5"),
        ] {
            let error = Config::from_lookup(lookup(&[("JWT_SECRET", "s"), (name, value)]))
                .unwrap_err()
                .to_string();
            assert!(error.contains(name), "{error}");
        }
    }
}

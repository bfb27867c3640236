//! Prometheus metrics, served as text at `GET /metrics`.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

pub struct Metrics {
    registry: Registry,
    pub connections: Gauge,
    pub delivered: Counter,
    pub dropped: Counter,
    pub slow_disconnects: Counter,
    pub heartbeat_timeouts: Counter,
    pub feed_reconnects: Counter,
    pub jobs_leader: Gauge,
    /// The order pipeline as the jobs' leader last saw it.
    pub orders_backlog: Gauge,
    pub orders_backlog_oldest_seconds: Gauge,
    pub order_workers_listening: Gauge,
    /// Orders the sidecar settled itself while no worker listened.
    pub orders_settled_by_sidecar: Counter,
    /// Seconds from a notification's publication to its hand-over to the socket.
    pub lag: Histogram,
    resident_memory: Gauge,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ticketbuster_sidecar");
        let connections = Gauge::default();
        let delivered = Counter::default();
        let dropped = Counter::default();
        let slow_disconnects = Counter::default();
        let heartbeat_timeouts = Counter::default();
        let feed_reconnects = Counter::default();
        let jobs_leader = Gauge::default();
        let orders_backlog = Gauge::default();
        let orders_backlog_oldest_seconds = Gauge::default();
        let order_workers_listening = Gauge::default();
        let orders_settled_by_sidecar = Counter::default();
        let lag = Histogram::new([
            0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ]);
        let resident_memory = Gauge::default();
        registry.register(
            "connections",
            "Open WebSocket connections",
            connections.clone(),
        );
        registry.register(
            "messages_delivered",
            "Messages handed to a connection's socket",
            delivered.clone(),
        );
        registry.register(
            "messages_dropped",
            "Messages not delivered because the connection's queue was full",
            dropped.clone(),
        );
        registry.register(
            "slow_consumer_disconnects",
            "Connections closed because they did not keep up",
            slow_disconnects.clone(),
        );
        registry.register(
            "heartbeat_timeouts",
            "Connections closed because they stopped answering pings",
            heartbeat_timeouts.clone(),
        );
        registry.register(
            "redis_feed_reconnects",
            "Times the Redis subscription was re-established",
            feed_reconnects.clone(),
        );
        registry.register(
            "jobs_leader",
            "1 when this replica runs the periodic jobs",
            jobs_leader.clone(),
        );
        registry.register(
            "orders_backlog",
            "Orders PENDING or PROCESSING (read by the jobs' leader)",
            orders_backlog.clone(),
        );
        registry.register(
            "orders_backlog_oldest_seconds",
            "Age of the oldest unfinished order (read by the jobs' leader)",
            orders_backlog_oldest_seconds.clone(),
        );
        registry.register(
            "order_workers_listening",
            "Subscribers of the orders channel (read by the jobs' leader)",
            order_workers_listening.clone(),
        );
        registry.register(
            "orders_settled_by_sidecar",
            "Orders the sidecar settled itself because no worker listened or the backlog was stale",
            orders_settled_by_sidecar.clone(),
        );
        registry.register(
            "notification_lag_seconds",
            "Time from a notification's publication to its delivery",
            lag.clone(),
        );
        registry.register(
            "resident_memory_bytes",
            "Resident memory of the sidecar process",
            resident_memory.clone(),
        );
        Self {
            registry,
            connections,
            delivered,
            dropped,
            slow_disconnects,
            heartbeat_timeouts,
            feed_reconnects,
            jobs_leader,
            orders_backlog,
            orders_backlog_oldest_seconds,
            order_workers_listening,
            orders_settled_by_sidecar,
            lag,
            resident_memory,
        }
    }

    pub fn render(&self) -> String {
        if let Some(bytes) = resident_memory_bytes() {
            self.resident_memory.set(bytes);
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The process's resident set size, from `/proc/self/statm` (Linux).
fn resident_memory_bytes() -> Option<i64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: i64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text_with_every_metric() {
        let metrics = Metrics::new();
        metrics.connections.inc();
        metrics.delivered.inc_by(3);
        let text = metrics.render();
        assert!(
            text.contains("ticketbuster_sidecar_connections 1"),
            "{text}"
        );
        assert!(text.contains("ticketbuster_sidecar_messages_delivered_total 3"));
        assert!(text.contains("ticketbuster_sidecar_notification_lag_seconds_bucket"));
        assert!(text.contains("ticketbuster_sidecar_resident_memory_bytes"));
        assert!(text.ends_with("# EOF\n"));
    }
}

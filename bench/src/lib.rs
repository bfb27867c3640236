//! Shared pieces of the benchmarks: latency summaries and medians across runs.

use std::time::Duration;

/// Throughput and latency of one measured phase.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    pub ops: usize,
    pub errors: usize,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Figures {
    pub fn from_latencies(mut latencies: Vec<Duration>, errors: usize, elapsed: Duration) -> Self {
        latencies.sort_unstable();
        let pick = |q: f64| {
            if latencies.is_empty() {
                return 0.0;
            }
            let index =
                ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
            latencies[index].as_secs_f64() * 1000.0
        };
        Self {
            ops: latencies.len(),
            errors,
            per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
            p50_ms: pick(0.50),
            p99_ms: pick(0.99),
        }
    }
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>8.0}/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} ok, {} errors)",
            self.per_second, self.p50_ms, self.p99_ms, self.ops, self.errors
        )
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

/// `--name value` from the command line, or the default.
pub fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
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
}

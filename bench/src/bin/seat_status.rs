//! The seat-status document (`GET /api/events/{id}/seat-status`) through a running stack:
//! its size on the wire, then requests/s and p99 latency under wrk, as a browser first
//! loads it (`Accept-Encoding: br, gzip`: a 200) and as it polls it (`If-None-Match` with
//! the current ETag: a 304), against the event's detail (`GET /api/events/{id}`, a cached
//! JSON answer of the same component) and against the floor, the same component answering
//! without any I/O (a 404 for a document that does not exist), both measured in the same
//! run.
//!
//!   cargo run --release -p ticketbuster-bench --bin seat_status -- \
//!       --url http://127.0.0.1:3000 --event 1 --connections 32 --seconds 10 --runs 3
//!
//! Needs wrk (Debian: `apt-get install wrk`). Targets (issue 19), for the seeded 6,000-seat
//! stadium (event 1): under 4 KB on the wire, at least 10,000 requests/s with 32
//! connections, p99 under 20 ms.

use std::process::Command;

use anyhow::{Context, bail, ensure};
use clap::Parser;
use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING, ETAG, IF_NONE_MATCH};
use ticketbuster_bench::{EXIT_STATUS, count_in, ensure_up, http_url, median, progress};

/// The seat-status document's size on the wire and its requests/s and p99 under wrk, for
/// loads (200) and polls (304), against the event's detail and the floor (the same
/// component answering a 404 without any I/O) in the same run.
///
/// The four kinds of request take turns within each run, so that the ratio of each to the
/// reference compares like with like; the medians of the runs are printed last, with the
/// targets they meet or miss.
#[derive(Parser)]
#[command(version, after_help = EXIT_STATUS)]
struct Args {
    /// The app under test: the `spin up` of scripts/up.sh.
    #[arg(long, default_value = "http://127.0.0.1:3000", value_parser = http_url)]
    url: String,
    /// The event whose status is read (1 is the seeded 6,000-seat stadium).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    event: u64,
    /// wrk's open connections.
    #[arg(long, default_value_t = 32, value_parser = count_in(1..=10_000))]
    connections: usize,
    /// wrk's threads.
    #[arg(long, default_value_t = 2, value_parser = count_in(1..=64))]
    threads: usize,
    /// Seconds of each measurement.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    seconds: u64,
    /// Counted runs, after a warm-up that is not counted.
    #[arg(long, default_value_t = 3, value_parser = count_in(1..=100))]
    runs: usize,
}

const TARGET_BYTES: usize = 4_096;
const TARGET_RATE: f64 = 10_000.0;
const TARGET_P99_MS: f64 = 20.0;
const WARM_UP_SECONDS: u64 = 3;

/// What wrk measured for one kind of request.
#[derive(Debug, Clone, Copy, PartialEq)]
struct WrkFigures {
    per_second: f64,
    p99_ms: f64,
    /// Answers other than 2xx and 3xx, and socket errors.
    failures: u64,
}

struct Kind {
    name: &'static str,
    path: String,
    headers: Vec<String>,
    /// Whether an answer other than 2xx or 3xx is a failure (not for the floor's 404s).
    must_succeed: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let wrk_version = Command::new("wrk").arg("--version").output();
    ensure!(
        wrk_version.is_ok(),
        "wrk is missing (Debian: apt-get install wrk)"
    );
    let http = reqwest::Client::new();
    ensure_up(&http, &args.url).await?;

    let status_path = format!("/api/events/{}/seat-status", args.event);
    let size = |accept: &'static str| {
        let http = &http;
        let url = format!("{}{status_path}", args.url);
        async move {
            let answer = http
                .get(&url)
                .header(ACCEPT_ENCODING, accept)
                .send()
                .await?
                .error_for_status()?;
            let coding = answer
                .headers()
                .get(CONTENT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("identity")
                .to_owned();
            let etag = answer
                .headers()
                .get(ETAG)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            anyhow::Ok((answer.bytes().await?.len(), coding, etag))
        }
    };
    let (plain, _, _) = size("identity").await?;
    let (gzip, gzip_coding, _) = size("gzip").await?;
    let (compressed, coding, etag) = size("br, gzip").await?;
    ensure!(!etag.is_empty(), "{status_path} answered without an ETag");
    println!(
        "seat status of event {}: {plain} B plain, {compressed} B in {coding}, {gzip} B in {gzip_coding} (target < {TARGET_BYTES} B on the wire: {})",
        args.event,
        verdict(compressed < TARGET_BYTES)
    );

    let accept = format!("{ACCEPT_ENCODING}: br, gzip");
    let kinds = [
        Kind {
            name: "load (200)",
            path: status_path.clone(),
            headers: vec![accept.clone()],
            must_succeed: true,
        },
        Kind {
            name: "poll (304)",
            path: status_path,
            headers: vec![accept.clone(), format!("{IF_NONE_MATCH}: {etag}")],
            must_succeed: true,
        },
        Kind {
            name: "floor: no I/O (404)",
            path: format!("/api/events/{}/no-such-document", args.event),
            headers: vec![accept.clone()],
            must_succeed: false,
        },
        Kind {
            name: "reference: event detail",
            path: format!("/api/events/{}", args.event),
            headers: vec![accept],
            must_succeed: true,
        },
    ];
    progress!("warm-up, {WARM_UP_SECONDS} s of each kind (not counted)");
    for kind in &kinds {
        wrk(&args, kind, WARM_UP_SECONDS)?;
    }
    let mut measured: Vec<Vec<WrkFigures>> = vec![Vec::new(); kinds.len()];
    for run in 1..=args.runs {
        for (kind, figures) in kinds.iter().zip(&mut measured) {
            let mut run_figures = wrk(&args, kind, args.seconds)?;
            if !kind.must_succeed {
                run_figures.failures = 0;
            }
            progress!(
                "run {run}, {}: {:.0} requests/s, p99 {:.1} ms, {} failed",
                kind.name,
                run_figures.per_second,
                run_figures.p99_ms,
                run_figures.failures
            );
            figures.push(run_figures);
        }
    }

    println!(
        "{} connections, {} wrk threads, medians of {} runs of {} s:",
        args.connections, args.threads, args.runs, args.seconds
    );
    let reference = measured[kinds.len() - 1].clone();
    for (kind, figures) in kinds.iter().zip(&measured) {
        let rate = median(figures.iter().map(|f| f.per_second).collect());
        let p99 = median(figures.iter().map(|f| f.p99_ms).collect());
        let failures: u64 = figures.iter().map(|f| f.failures).sum();
        let ratio = median(
            figures
                .iter()
                .zip(&reference)
                .map(|(f, r)| f.per_second / r.per_second)
                .collect(),
        );
        let targets = if kind.path.ends_with("seat-status") {
            format!(
                "; targets ≥ {TARGET_RATE:.0}/s: {}, p99 < {TARGET_P99_MS:.0} ms: {}",
                verdict(rate >= TARGET_RATE),
                verdict(p99 < TARGET_P99_MS)
            )
        } else {
            String::new()
        };
        println!(
            "  {:<24} {rate:>8.0} requests/s ({ratio:.2}× the reference), p99 {p99:.1} ms, {failures} failed{targets}",
            kind.name
        );
    }
    Ok(())
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// Runs wrk on one kind of request for `seconds`.
fn wrk(args: &Args, kind: &Kind, seconds: u64) -> anyhow::Result<WrkFigures> {
    let mut command = Command::new("wrk");
    command
        .arg(format!("-t{}", args.threads))
        .arg(format!("-c{}", args.connections))
        .arg(format!("-d{seconds}s"))
        .arg("--latency");
    for header in &kind.headers {
        command.arg("-H").arg(header);
    }
    let output = command
        .arg(format!("{}{}", args.url, kind.path))
        .output()
        .context("could not run wrk")?;
    let text = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "wrk failed: {}{}",
        text,
        String::from_utf8_lossy(&output.stderr)
    );
    parse_wrk(&text)
}

/// The figures in wrk's `--latency` report.
fn parse_wrk(report: &str) -> anyhow::Result<WrkFigures> {
    let mut per_second = None;
    let mut p99_ms = None;
    let mut failures = 0;
    for line in report.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", rate] => per_second = Some(rate.parse::<f64>()?),
            ["99%", latency] => p99_ms = Some(milliseconds(latency)?),
            ["Non-2xx", "or", "3xx", "responses:", n] => failures += n.parse::<u64>()?,
            ["Socket", "errors:", rest @ ..] => {
                failures += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>()
            }
            _ => {}
        }
    }
    match (per_second, p99_ms) {
        (Some(per_second), Some(p99_ms)) => Ok(WrkFigures {
            per_second,
            p99_ms,
            failures,
        }),
        _ => bail!("wrk's report has no rate or p99:\n{report}"),
    }
}

/// A wrk latency (`850.00us`, `12.34ms`, `1.02s`, `2.00m`) in milliseconds.
fn milliseconds(latency: &str) -> anyhow::Result<f64> {
    let (number, scale) = [("us", 0.001), ("ms", 1.0), ("s", 1_000.0), ("m", 60_000.0)]
        .into_iter()
        .find_map(|(unit, scale)| latency.strip_suffix(unit).map(|n| (n, scale)))
        .with_context(|| format!("not a wrk latency: {latency:?}"))?;
    Ok(number.parse::<f64>()? * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Running 10s test @ http://127.0.0.1:3000/api/events/1/seat-status
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.21ms    3.10ms  60.01ms   88.00%
    Req/Sec     3.10k   210.00     3.60k    70.00%
  Latency Distribution
     50%    4.80ms
     75%    6.10ms
     90%    8.00ms
     99%   17.50ms
  61702 requests in 10.00s, 20.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   6170.20
Transfer/sec:      2.00MB
";

    #[test]
    fn reads_the_rate_the_p99_and_the_failures() {
        assert_eq!(
            parse_wrk(REPORT).unwrap(),
            WrkFigures {
                per_second: 6170.2,
                p99_ms: 17.5,
                failures: 7
            }
        );
        assert!(parse_wrk("Running 10s test").is_err());
    }

    #[test]
    fn latencies_in_every_unit() {
        assert_eq!(milliseconds("850.00us").unwrap(), 0.85);
        assert_eq!(milliseconds("12.34ms").unwrap(), 12.34);
        assert_eq!(milliseconds("1.02s").unwrap(), 1020.0);
        assert_eq!(milliseconds("2.00m").unwrap(), 120_000.0);
        assert!(milliseconds("fast").is_err());
    }
}

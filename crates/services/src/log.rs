//! Warnings that an outage repeats for every request (Redis unreachable, say) are written
//! once per kind per interval, with the count of those left out, instead of one line per
//! order: an outage of a few minutes under load wrote 25,000 identical lines.
//!
//! The memory is the process's (natively) or the instance's (in Spin, where an instance
//! serves many requests), so a few lines per interval may come from different instances.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often one kind of warning is written at most.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

struct Seen {
    written_at: Instant,
    left_out: u64,
}

static SEEN: Mutex<Option<HashMap<&'static str, Seen>>> = Mutex::new(None);

/// Writes `message` as a warning of `kind`, unless one of that kind was written within
/// [`WARN_EVERY`]; the next one written says how many were left out meanwhile.
pub fn warn(kind: &'static str, message: impl std::fmt::Display) {
    if let Some(line) = throttle(kind, Instant::now(), message) {
        eprintln!("{line}");
    }
}

fn throttle(kind: &'static str, now: Instant, message: impl std::fmt::Display) -> Option<String> {
    let mut seen = SEEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let seen = seen.get_or_insert_with(HashMap::new);
    match seen.get_mut(kind) {
        Some(last) if now.duration_since(last.written_at) < WARN_EVERY => {
            last.left_out += 1;
            None
        }
        Some(last) => {
            let left_out = std::mem::take(&mut last.left_out);
            last.written_at = now;
            Some(format!(
                "warning: {message} ({left_out} more like it in the last {} s)",
                WARN_EVERY.as_secs()
            ))
        }
        None => {
            seen.insert(
                kind,
                Seen {
                    written_at: now,
                    left_out: 0,
                },
            );
            Some(format!("warning: {message}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_is_written_once_per_interval_with_the_count_left_out() {
        let start = Instant::now();
        let kind = "test: throttled kind";
        assert_eq!(
            throttle(kind, start, "first").as_deref(),
            Some("warning: first")
        );
        for n in 0..999 {
            assert_eq!(
                throttle(kind, start + Duration::from_millis(n), "again"),
                None
            );
        }
        assert!(
            throttle("test: another kind", start, "other").is_some(),
            "kinds are counted apart"
        );
        let later = throttle(kind, start + WARN_EVERY, "later").expect("written again");
        assert_eq!(later, "warning: later (999 more like it in the last 10 s)");
    }
}

//! Rate limits: rules such as `20/1m`, the generic cell rate algorithm (GCRA) that decides
//! each request, and the answer's `RateLimit-*` headers.
//!
//! GCRA keeps one number per key, the theoretical arrival time (TAT) of the next request
//! if requests came exactly at the rule's rate. A rule of `limit` per `period` lets a
//! burst of `limit` through, then one request every `period / limit`. Redis runs the same
//! arithmetic in a Lua script (in `ticketbuster-services`); [`decide`] is the in-memory
//! twin that an instance falls back to when Redis is unreachable.

use std::time::Duration;

use http::{HeaderName, HeaderValue, StatusCode};

use crate::ApiError;

/// `limit` requests per `period`, in a burst or spread out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateRule {
    pub limit: u32,
    pub period: Duration,
}

impl RateRule {
    /// Parses `<limit>/<period>`, the period a number with `s`, `m` or `h` (`20/1m`,
    /// `5/15m`, `100/1s`); `off` (or an empty value) means no limit.
    pub fn parse(raw: &str) -> Result<Option<Self>, String> {
        let raw = raw.trim();
        if raw.is_empty() || raw.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let bad = || format!("a rate limit is <count>/<period> such as 20/1m or off, got {raw:?}");
        let (limit, period) = raw.split_once('/').ok_or_else(bad)?;
        let limit: u32 = limit
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(bad)?;
        let period = period.trim();
        let unit_at = period.len().saturating_sub(1);
        let (amount, unit) = period.split_at(unit_at);
        let seconds: u64 = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            _ => return Err(bad()),
        };
        let amount: u64 = amount.parse().ok().filter(|n| *n > 0).ok_or_else(bad)?;
        Ok(Some(Self {
            limit,
            period: Duration::from_secs(amount.saturating_mul(seconds)),
        }))
    }

    pub fn period_ms(&self) -> f64 {
        self.period.as_millis() as f64
    }

    /// Time between two requests at the sustained rate.
    pub fn interval_ms(&self) -> f64 {
        self.period_ms() / f64::from(self.limit)
    }
}

/// The verdict on one request, and what the answer tells the client.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    /// Requests still allowed right now.
    pub remaining: u32,
    /// Milliseconds until the full burst is available again.
    pub reset_ms: u64,
    /// Milliseconds until one more request is allowed (0 when allowed).
    pub retry_after_ms: u64,
}

/// GCRA: the decision for a request at `now_ms` given the stored TAT, and the TAT to store
/// if the request counts (`None` when refused: a refused request costs nothing).
pub fn decide(rule: &RateRule, stored_tat: Option<f64>, now_ms: f64) -> (Decision, Option<f64>) {
    let interval = rule.interval_ms();
    let tat = stored_tat.map_or(now_ms, |t| t.max(now_ms));
    let new_tat = tat + interval;
    let allow_at = new_tat - rule.period_ms();
    if allow_at > now_ms {
        let decision = Decision {
            allowed: false,
            limit: rule.limit,
            remaining: 0,
            reset_ms: (tat - now_ms).ceil() as u64,
            retry_after_ms: (allow_at - now_ms).ceil() as u64,
        };
        return (decision, None);
    }
    let decision = Decision {
        allowed: true,
        limit: rule.limit,
        remaining: ((now_ms - allow_at) / interval).floor() as u32,
        reset_ms: (new_tat - now_ms).ceil() as u64,
        retry_after_ms: 0,
    };
    (decision, Some(new_tat))
}

fn whole_seconds(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

impl Decision {
    /// The `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` headers (seconds),
    /// and `Retry-After` on a refusal.
    pub fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut headers = vec![
            (
                HeaderName::from_static("ratelimit-limit"),
                HeaderValue::from(self.limit),
            ),
            (
                HeaderName::from_static("ratelimit-remaining"),
                HeaderValue::from(self.remaining),
            ),
            (
                HeaderName::from_static("ratelimit-reset"),
                HeaderValue::from(whole_seconds(self.reset_ms)),
            ),
        ];
        if !self.allowed {
            headers.push((
                http::header::RETRY_AFTER,
                HeaderValue::from(whole_seconds(self.retry_after_ms).max(1)),
            ));
        }
        headers
    }

    /// The `429` for a refused request: what was limited and when to try again.
    pub fn refusal(&self, what: &str) -> ApiError {
        let wait = whole_seconds(self.retry_after_ms).max(1);
        let mut err = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many {what}; try again in {wait} s"),
        )
        .with_detail("retry_after_seconds", wait);
        err.headers = self.headers();
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(raw: &str) -> RateRule {
        RateRule::parse(raw).unwrap().unwrap()
    }

    #[test]
    fn rules_parse_and_refuse_nonsense() {
        assert_eq!(
            rule("20/1m"),
            RateRule {
                limit: 20,
                period: Duration::from_secs(60)
            }
        );
        assert_eq!(rule(" 5/15m ").period, Duration::from_secs(900));
        assert_eq!(rule("100/1s").interval_ms(), 10.0);
        assert_eq!(rule("2/1h").period, Duration::from_secs(3600));
        assert_eq!(RateRule::parse("off").unwrap(), None);
        assert_eq!(RateRule::parse("").unwrap(), None);
        for bad in ["20", "0/1m", "20/0s", "20/1d", "x/1m", "20/m", "-1/1m"] {
            assert!(RateRule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_burst_of_the_limit_passes_then_one_per_interval() {
        let rule = rule("3/3s");
        let mut tat = None;
        let mut remaining = Vec::new();
        for _ in 0..3 {
            let (decision, next) = decide(&rule, tat, 0.0);
            assert!(decision.allowed);
            remaining.push(decision.remaining);
            tat = next;
        }
        assert_eq!(remaining, [2, 1, 0]);
        let (refused, next) = decide(&rule, tat, 0.0);
        assert!(!refused.allowed);
        assert_eq!(next, None, "a refusal costs nothing");
        assert_eq!(refused.retry_after_ms, 1000);
        assert_eq!(refused.reset_ms, 3000);
        let (later, _) = decide(&rule, tat, 1000.0);
        assert!(later.allowed, "one more after one interval");
        assert_eq!(later.remaining, 0);
        let (rested, _) = decide(&rule, tat, 10_000.0);
        assert_eq!(rested.remaining, 2, "a rested key has its whole burst");
    }

    #[test]
    fn refusals_carry_the_headers_and_the_error_shape() {
        let rule = rule("1/1m");
        let (_, tat) = decide(&rule, None, 0.0);
        let (refused, _) = decide(&rule, tat, 500.0);
        let err = refused.refusal("login attempts");
        assert_eq!(err.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(err.body()["error"]["code"], "rate_limited");
        let header = |name: &str| {
            err.headers
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, v)| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(header("retry-after").as_deref(), Some("60"));
        assert_eq!(header("ratelimit-limit").as_deref(), Some("1"));
        assert_eq!(header("ratelimit-remaining").as_deref(), Some("0"));
        assert_eq!(header("ratelimit-reset").as_deref(), Some("60"));
    }
}

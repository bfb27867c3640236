//! Rate limits shared by every instance and replica: one Lua script in Redis decides each
//! request atomically (GCRA, see [`ticketbuster_domain::rate_limit`]).
//!
//! - per client address, on the endpoints anyone may call (register, login, refresh);
//! - per account, on writes (holds, releases, orders, cancellations);
//! - per account and address, on failed logins (credential stuffing): once over, logins
//!   for that account from that address are refused before the password is checked.
//!
//! When Redis is unreachable each instance applies the same rules in its own memory, so
//! limits hold per instance (a client spread over `n` instances gets up to `n` times the
//! limit) and sales go on; the per-account caps on inventory live in PostgreSQL and are
//! not affected.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use ipnet::IpNet;
use ticketbuster_domain::ApiError;
use ticketbuster_domain::rate_limit::{Decision, RateRule, decide};

use crate::backend::Backend;
use crate::log;
use crate::web::{self, Request, Response};

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Address,
    AccountWrites,
    FailedLogins,
}

impl Limit {
    fn key_prefix(self) -> &'static str {
        match self {
            Limit::Address => "rate:address:",
            Limit::AccountWrites => "rate:account:",
            Limit::FailedLogins => "rate:failed-login:",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Limit::Address => "requests from this address",
            Limit::AccountWrites => "changes from this account",
            Limit::FailedLogins => "failed logins for this account from this address",
        }
    }
}

/// Whether a decision counts the request (`Take`) or only looks (`Peek`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Take,
    Peek,
}

/// The fallback's memory is bounded: past this many keys, the rested ones are dropped.
const MAX_LOCAL_KEYS: usize = 10_000;

/// KEYS: the key. ARGV: period in ms, limit, mode (`take` or `peek`).
/// Replies `allowed remaining reset_ms retry_after_ms` as one text. Redis's own clock,
/// so every instance decides on the same time.
const GCRA_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local period = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local interval = period / limit
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - period
if allow_at > now then
  return string.format('0 0 %d %d', math.ceil(tat - now), math.ceil(allow_at - now))
end
if ARGV[3] == 'take' then
  redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now))
end
return string.format('1 %d %d 0', math.floor((now - allow_at) / interval), math.ceil(new_tat - now))
";

/// Proxies whose `X-Forwarded-For` is believed: addresses and networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// A comma-separated list of IP addresses and networks (`10.0.0.0/8`: an ingress
    /// controller's pods, whose addresses change); empty trusts none.
    pub fn parse(raw: &str) -> Result<Self, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{s:?} is neither an IP address nor a network"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    fn trusts(&self, ip: &IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }
}

/// The rules of a deployment; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateRules {
    pub per_address: Option<RateRule>,
    pub per_account: Option<RateRule>,
    pub failed_logins: Option<RateRule>,
}

/// The rules, the proxies to believe, and the per-instance fallback's memory.
#[derive(Debug, Default)]
pub struct RateLimits {
    pub rules: RateRules,
    pub trusted_proxies: TrustedProxies,
    local: Mutex<HashMap<String, f64>>,
}

impl RateLimits {
    pub fn new(rules: RateRules, trusted_proxies: TrustedProxies) -> Self {
        Self {
            rules,
            trusted_proxies,
            local: Mutex::default(),
        }
    }

    fn rule(&self, limit: Limit) -> Option<RateRule> {
        match limit {
            Limit::Address => self.rules.per_address,
            Limit::AccountWrites => self.rules.per_account,
            Limit::FailedLogins => self.rules.failed_logins,
        }
    }

    /// Counts a request against `limit` for `key`: its decision (for the answer's
    /// headers), or the `429` when it is over. `None` when the limit is off.
    pub async fn take(
        &self,
        backend: &impl Backend,
        limit: Limit,
        key: &str,
    ) -> Result<Option<Decision>, ApiError> {
        self.decide(backend, limit, key, Mode::Take).await
    }

    /// Whether one more request would pass, without counting one.
    pub async fn peek(
        &self,
        backend: &impl Backend,
        limit: Limit,
        key: &str,
    ) -> Result<Option<Decision>, ApiError> {
        self.decide(backend, limit, key, Mode::Peek).await
    }

    async fn decide(
        &self,
        backend: &impl Backend,
        limit: Limit,
        key: &str,
        mode: Mode,
    ) -> Result<Option<Decision>, ApiError> {
        let Some(rule) = self.rule(limit) else {
            return Ok(None);
        };
        let key = format!("{}{key}", limit.key_prefix());
        let decision = match in_redis(backend, &rule, &key, mode).await {
            Ok(decision) => decision,
            Err(e) => {
                log::warn(
                    "rate limits: Redis unreachable",
                    format_args!("rate limits fall back to this instance's memory: {e}"),
                );
                self.locally(&rule, &key, mode, backend.now_ms() as f64)
            }
        };
        if decision.allowed {
            Ok(Some(decision))
        } else {
            Err(decision.refusal(limit.what()))
        }
    }

    /// The same decision in this instance's memory.
    fn locally(&self, rule: &RateRule, key: &str, mode: Mode, now_ms: f64) -> Decision {
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        let (decision, next) = decide(rule, local.get(key).copied(), now_ms);
        if let (Mode::Take, Some(tat)) = (mode, next) {
            if local.len() >= MAX_LOCAL_KEYS {
                local.retain(|_, tat| *tat > now_ms);
            }
            if local.len() < MAX_LOCAL_KEYS {
                local.insert(key.to_owned(), tat);
            }
        }
        decision
    }
}

async fn in_redis(
    backend: &impl Backend,
    rule: &RateRule,
    key: &str,
    mode: Mode,
) -> Result<Decision, String> {
    let mode = match mode {
        Mode::Take => "take",
        Mode::Peek => "peek",
    };
    let reply = backend
        .eval(
            GCRA_SCRIPT,
            &[key],
            &[
                &rule.period.as_millis().to_string(),
                &rule.limit.to_string(),
                mode,
            ],
        )
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the rate limit script answered nothing")?;
    let fields: Vec<u64> = reply
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the rate limit script answered {reply:?}: {e}"))?;
    let [allowed, remaining, reset_ms, retry_after_ms] = fields[..] else {
        return Err(format!("the rate limit script answered {reply:?}"));
    };
    Ok(Decision {
        allowed: allowed == 1,
        limit: rule.limit,
        remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
        reset_ms,
        retry_after_ms,
    })
}

/// Runs `op` if `limit` lets the request through, and stamps its answer (an error too)
/// with the limit's headers, unless the answer carries those of a narrower limit (a failed
/// login's 429 inside the address's limit).
pub async fn limited(
    backend: &impl Backend,
    limits: &RateLimits,
    limit: Limit,
    key: &str,
    op: impl Future<Output = Result<Response, ApiError>>,
) -> Result<Response, ApiError> {
    let decision = limits.take(backend, limit, key).await?;
    let mut response = web::respond(op.await);
    let narrower = response.headers().contains_key("ratelimit-limit");
    if let Some(decision) = decision.filter(|_| !narrower) {
        for (name, value) in decision.headers() {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}

/// Spin's header naming the peer of the connection (`ip:port`).
pub const CLIENT_ADDR_HEADER: &str = "spin-client-addr";

/// The address a request came from: the connection's peer, or, when the peer is a trusted
/// proxy, the nearest address in `X-Forwarded-For` that is not one. `unknown` when the
/// host did not say (native tests).
pub fn client_address(req: &Request, trusted: &TrustedProxies) -> String {
    let Some(peer) = web::header(req, CLIENT_ADDR_HEADER).and_then(parse_peer) else {
        return "unknown".into();
    };
    if !trusted.trusts(&peer) {
        return peer.to_string();
    }
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|hop| !trusted.trusts(hop))
        .or(forwarded.first())
        .unwrap_or(&peer)
        .to_string()
}

/// `ip:port`, `[ipv6]:port` or a bare address.
fn parse_peer(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    raw.parse::<std::net::SocketAddr>()
        .map(|addr| addr.ip())
        .or_else(|_| raw.parse::<IpAddr>())
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn from(peer: &str, forwarded: &[&str]) -> Request {
        let mut builder = http::Request::get("/api/auth/login").header(CLIENT_ADDR_HEADER, peer);
        for hop in forwarded {
            builder = builder.header("x-forwarded-for", *hop);
        }
        builder.body(Bytes::new()).unwrap()
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let none = TrustedProxies::default();
        let proxy = TrustedProxies::parse("10.0.0.5, ::1").unwrap();
        assert_eq!(
            client_address(&from("198.51.100.7:4431", &["203.0.113.9"]), &none),
            "198.51.100.7",
            "an untrusted peer cannot name another address"
        );
        assert_eq!(
            client_address(&from("10.0.0.5:80", &["203.0.113.9, 198.51.100.1"]), &proxy),
            "198.51.100.1",
            "the nearest hop the proxy saw"
        );
        assert_eq!(
            client_address(&from("10.0.0.5:80", &["203.0.113.9", "10.0.0.5"]), &proxy),
            "203.0.113.9",
            "trusted hops are skipped"
        );
        assert_eq!(
            client_address(&from("[::1]:80", &["junk"]), &proxy),
            "::1",
            "nothing usable forwarded: the peer"
        );
        let bare = http::Request::get("/").body(Bytes::new()).unwrap();
        assert_eq!(client_address(&bare, &none), "unknown");
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.local").is_err());
    }

    #[test]
    fn a_trusted_network_covers_every_address_in_it() {
        let pods = TrustedProxies::parse("10.244.0.0/16, fd00::/8").unwrap();
        for peer in ["10.244.3.17:80", "[fd00::5]:80"] {
            assert_eq!(
                client_address(&from(peer, &["203.0.113.9"]), &pods),
                "203.0.113.9",
                "{peer}"
            );
        }
        assert_eq!(
            client_address(&from("10.245.0.1:80", &["203.0.113.9"]), &pods),
            "10.245.0.1",
            "outside the network"
        );
    }

    #[test]
    fn the_fallback_limits_in_memory_and_stays_bounded() {
        let rule = RateRule::parse("2/1m").unwrap().unwrap();
        let rules = RateRules {
            per_account: Some(rule),
            ..RateRules::default()
        };
        let limits = RateLimits::new(rules, TrustedProxies::default());
        let take = |key: &str, now: f64| limits.locally(&rule, key, Mode::Take, now).allowed;
        assert!(take("a", 0.0) && take("a", 1.0));
        assert!(!take("a", 2.0));
        assert!(
            limits.locally(&rule, "a", Mode::Peek, 30_000.0).allowed,
            "a peek sees the refill"
        );
        assert!(take("b", 2.0), "keys apart");
        for n in 0..MAX_LOCAL_KEYS * 2 {
            take(&format!("k{n}"), 100_000.0 + n as f64);
        }
        assert!(limits.local.lock().unwrap().len() <= MAX_LOCAL_KEYS);
    }
}

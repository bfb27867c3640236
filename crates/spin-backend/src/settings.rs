//! Settings from Spin variables. A missing or malformed secret is an operator's mistake:
//! it is logged in full and answered as a 500 without details.

use std::cell::OnceCell;
use std::rc::Rc;

use spin_sdk::variables;
use ticketbuster_domain::ApiError;
use ticketbuster_domain::holds::{HoldPolicy, HoldVariables};
use ticketbuster_domain::oidc::IssuerConfig;
use ticketbuster_domain::orders::PaymentProvider;
use ticketbuster_domain::rate_limit::RateRule;
use ticketbuster_domain::tickets::{TicketSigner, TicketVerifier};
use ticketbuster_domain::token::{TokenIssuer, TokenVerifier};
use ticketbuster_services::auth::AuthSettings;
use ticketbuster_services::checkins::CheckinSettings;
use ticketbuster_services::holds::HoldSettings;
use ticketbuster_services::http_policy::CorsPolicy;
use ticketbuster_services::identity::{Authenticator, ExternalIssuer};
use ticketbuster_services::jobs::{JobsSettings, JobsToken};
use ticketbuster_services::orders::{OrderSettings, Settlement};
use ticketbuster_services::organizer::OrganizerSettings;
use ticketbuster_services::rate_limit::{RateLimits, RateRules, TrustedProxies};
use ticketbuster_services::site::{FileMemo, SiteSettings};
use ticketbuster_services::waiting_room::WaitingRoomSettings;
use ticketbuster_services::worker::{MAX_LANES, WorkerSettings};

use crate::per_instance;

thread_local! {
    static AUTH: OnceCell<Rc<AuthSettings>> = const { OnceCell::new() };
    static HOLDS: OnceCell<Rc<HoldSettings>> = const { OnceCell::new() };
    static ORDERS: OnceCell<Rc<OrderSettings>> = const { OnceCell::new() };
    static WORKER: OnceCell<Rc<WorkerSettings>> = const { OnceCell::new() };
    static SITE: OnceCell<Rc<SiteSettings>> = const { OnceCell::new() };
    static SETTLEMENT: OnceCell<Rc<Settlement>> = const { OnceCell::new() };
    static JOBS: OnceCell<Rc<JobsSettings>> = const { OnceCell::new() };
    static CHECKINS: OnceCell<Rc<CheckinSettings>> = const { OnceCell::new() };
    static ORGANIZER: OnceCell<Rc<OrganizerSettings>> = const { OnceCell::new() };
    static WAITING_ROOM: OnceCell<Rc<WaitingRoomSettings>> = const { OnceCell::new() };
}

/// Rate limits unless their variables say otherwise (spin.toml gives the same defaults).
const DEFAULT_PER_ADDRESS: &str = "20/1m";
const DEFAULT_PER_ACCOUNT: &str = "60/1m";
const DEFAULT_FAILED_LOGINS: &str = "5/15m";

/// Orders claimed and settled together by one worker run, unless `worker_batch_size` says otherwise.
const DEFAULT_WORKER_BATCH_SIZE: i64 = 200;

/// Batches a worker run settles at once when it finds a backlog, unless `worker_lanes` says otherwise.
const DEFAULT_WORKER_LANES: i64 = 4;

fn misconfigured(what: &str, problem: impl std::fmt::Display) -> ApiError {
    eprintln!("error: configuration {what}: {problem}");
    ApiError::internal()
}

async fn required(name: &str) -> Result<String, ApiError> {
    variables::get(name)
        .await
        .map_err(|e| misconfigured(name, e))
}

/// A whole number in `range`, or `default` when the variable is empty.
async fn bounded(
    name: &str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ApiError> {
    let Some(v) = optional(name).await else {
        return Ok(default);
    };
    v.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            misconfigured(
                name,
                format!("{v:?} is not {} to {}", range.start(), range.end()),
            )
        })
}

async fn optional(name: &str) -> Option<String> {
    variables::get(name)
        .await
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// A rate limit rule from its variable; unset means `default`.
async fn rate_rule(name: &str, default: &str) -> Result<Option<RateRule>, ApiError> {
    let raw = optional(name).await.unwrap_or_else(|| default.to_owned());
    RateRule::parse(&raw).map_err(|e| misconfigured(name, e))
}

/// The rate limits, read from `rate_limit_per_address`, `rate_limit_per_account`,
/// `rate_limit_failed_logins` and `trusted_proxies`.
async fn rate_limits() -> Result<RateLimits, ApiError> {
    let trusted = optional("trusted_proxies").await.unwrap_or_default();
    let rules = RateRules {
        per_address: rate_rule("rate_limit_per_address", DEFAULT_PER_ADDRESS).await?,
        per_account: rate_rule("rate_limit_per_account", DEFAULT_PER_ACCOUNT).await?,
        failed_logins: rate_rule("rate_limit_failed_logins", DEFAULT_FAILED_LOGINS).await?,
    };
    let trusted =
        TrustedProxies::parse(&trusted).map_err(|e| misconfigured("trusted_proxies", e))?;
    Ok(RateLimits::new(rules, trusted))
}

/// Tokens under `jwt_secret`, and under `jwt_secret_previous` while a rotation is under way.
async fn token_verifier() -> Result<TokenVerifier, ApiError> {
    let secret = required("jwt_secret").await?;
    let previous = optional("jwt_secret_previous").await;
    TokenVerifier::from_secret(&secret)
        .and_then(|verifier| verifier.with_previous(previous.as_deref()))
        .map_err(|e| misconfigured("jwt_secret", e))
}

/// Where Keycloak keeps realm roles, unless `oidc_role_claim` says otherwise.
const DEFAULT_ROLE_CLAIM: &str = "realm_access.roles";

/// Our own tokens, and those of the issuer `oidc_issuer` for `oidc_audience` when it is
/// set, with roles at `oidc_role_claim` (docs/operations.md).
async fn authenticator() -> Result<Authenticator, ApiError> {
    let issuer = optional("oidc_issuer").await.unwrap_or_default();
    let audience = optional("oidc_audience").await.unwrap_or_default();
    let role_claim = optional("oidc_role_claim")
        .await
        .unwrap_or_else(|| DEFAULT_ROLE_CLAIM.to_owned());
    let external = IssuerConfig::parse(&issuer, &audience, &role_claim)
        .map_err(|e| misconfigured("oidc_issuer", e))?
        .map(ExternalIssuer::new);
    Ok(Authenticator::new(token_verifier().await?, external))
}

/// The CORS policy from `cors_allowed_origins` (empty: same-origin only).
pub(crate) async fn cors_policy() -> Result<CorsPolicy, ApiError> {
    let raw = optional("cors_allowed_origins").await.unwrap_or_default();
    CorsPolicy::parse(&raw).map_err(|e| misconfigured("cors_allowed_origins", e))
}

pub async fn auth_settings() -> Result<Rc<AuthSettings>, ApiError> {
    per_instance(&AUTH, load_auth_settings()).await
}

pub async fn hold_settings() -> Result<Rc<HoldSettings>, ApiError> {
    per_instance(&HOLDS, load_hold_settings()).await
}

pub async fn order_settings() -> Result<Rc<OrderSettings>, ApiError> {
    per_instance(&ORDERS, load_order_settings()).await
}

/// Where spin.toml mounts the built front end (`frontend/dist`) in the web component.
const SITE_ROOT: &str = "/site";

pub async fn site_settings() -> Result<Rc<SiteSettings>, ApiError> {
    per_instance(&SITE, async {
        Ok(SiteSettings {
            root: SITE_ROOT.into(),
            websocket_url: optional("websocket_url").await.unwrap_or_default(),
            files: FileMemo::default(),
        })
    })
    .await
}

pub async fn worker_settings() -> Result<Rc<WorkerSettings>, ApiError> {
    per_instance(&WORKER, load_worker_settings()).await
}

/// How placed orders are settled, from `settle_orders` (`worker` unless set).
pub async fn settlement() -> Result<Rc<Settlement>, ApiError> {
    per_instance(&SETTLEMENT, async {
        let raw = optional("settle_orders").await.unwrap_or_default();
        Settlement::parse(&raw).map_err(|e| misconfigured("settle_orders", e))
    })
    .await
}

pub async fn organizer_settings() -> Result<Rc<OrganizerSettings>, ApiError> {
    per_instance(&ORGANIZER, async {
        Ok(OrganizerSettings {
            authenticator: authenticator().await?,
            limits: rate_limits().await?,
        })
    })
    .await
}

/// Admission tokens are signed under `jwt_secret`, with an audience of their own.
pub async fn waiting_room_settings() -> Result<Rc<WaitingRoomSettings>, ApiError> {
    per_instance(&WAITING_ROOM, async {
        let secret = required("jwt_secret").await?;
        Ok(WaitingRoomSettings {
            authenticator: authenticator().await?,
            issuer: TokenIssuer::from_secret(&secret)
                .map_err(|e| misconfigured("jwt_secret", e))?,
            limits: rate_limits().await?,
        })
    })
    .await
}

pub async fn checkin_settings() -> Result<Rc<CheckinSettings>, ApiError> {
    per_instance(&CHECKINS, async {
        Ok(CheckinSettings {
            authenticator: authenticator().await?,
            tickets: ticket_verifier().await?,
        })
    })
    .await
}

/// Ticket codes signed with `ticket_signing_key`, and during a rotation of it with the key
/// whose public half is `ticket_verify_key_previous`.
async fn ticket_verifier() -> Result<TicketVerifier, ApiError> {
    let key = required("ticket_signing_key").await?;
    let previous = optional("ticket_verify_key_previous").await;
    TicketSigner::from_pem(&key)
        .map_err(|e| misconfigured("ticket_signing_key", e))?
        .verifier()
        .with_previous(previous.as_deref())
        .map_err(|e| misconfigured("ticket_verify_key_previous", e))
}

pub async fn jobs_settings() -> Result<Rc<JobsSettings>, ApiError> {
    per_instance(&JOBS, async {
        let token = required("jobs_token").await?;
        Ok(JobsSettings {
            token: JobsToken::parse(&token).map_err(|e| misconfigured("jobs_token", e))?,
            worker: load_worker_settings().await?,
        })
    })
    .await
}

async fn load_order_settings() -> Result<OrderSettings, ApiError> {
    let key = required("ticket_signing_key").await?;
    Ok(OrderSettings {
        authenticator: authenticator().await?,
        signer: TicketSigner::from_pem(&key).map_err(|e| misconfigured("ticket_signing_key", e))?,
        limits: rate_limits().await?,
        settlement: *settlement().await?,
    })
}

async fn load_worker_settings() -> Result<WorkerSettings, ApiError> {
    let payment = PaymentProvider::from_setting(optional("payment_failure_rate").await.as_deref())
        .map_err(|e| misconfigured("payment_failure_rate", e))?;
    let batch_size = bounded("worker_batch_size", DEFAULT_WORKER_BATCH_SIZE, 1..=1000).await?;
    let lanes = bounded("worker_lanes", DEFAULT_WORKER_LANES, 1..=MAX_LANES as i64).await?;
    Ok(WorkerSettings {
        batch_size,
        lanes: lanes as usize,
        payment,
    })
}

async fn load_auth_settings() -> Result<AuthSettings, ApiError> {
    let secret = required("jwt_secret").await?;
    let issuer = TokenIssuer::from_secret(&secret).map_err(|e| misconfigured("jwt_secret", e))?;
    Ok(AuthSettings {
        issuer,
        authenticator: authenticator().await?,
        limits: rate_limits().await?,
    })
}

async fn load_hold_settings() -> Result<HoldSettings, ApiError> {
    let max_seats_per_hold = optional("max_seats_per_hold").await;
    let hold_ttl_seconds = optional("hold_ttl_seconds").await;
    let max_held_seats_per_account = optional("max_held_seats_per_account").await;
    let max_tickets_per_account = optional("max_tickets_per_account").await;
    let policy = HoldPolicy::from_settings(HoldVariables {
        max_seats_per_hold: max_seats_per_hold.as_deref(),
        hold_ttl_seconds: hold_ttl_seconds.as_deref(),
        max_held_seats_per_account: max_held_seats_per_account.as_deref(),
        max_tickets_per_account: max_tickets_per_account.as_deref(),
    })
    .map_err(|e| misconfigured("hold policy", e))?;
    Ok(HoldSettings {
        authenticator: authenticator().await?,
        policy,
        limits: rate_limits().await?,
    })
}

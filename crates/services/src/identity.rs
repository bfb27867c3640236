//! Who is calling. Every authenticated API accepts our own HS256 access tokens and, when
//! an external OpenID Connect issuer is configured, the issuer's RS256/ES256 access tokens.
//!
//! The issuer's keys come from its JWKS, found through its discovery document and kept in
//! the key-value store (fetched again after [`JWKS_TTL_MS`]). A token signed with a key the
//! set lacks may mean the issuer rotated its keys, so the set is fetched again, but a set
//! is refreshed at most once, and not before it is [`DEFAULT_REFRESH_COOLDOWN`] old: tokens
//! with made-up key ids cannot make us hammer the issuer. The issuer's subject is linked to
//! a local account on first use (`auth.link_external_identity`), and the link is cached.

use std::time::Duration;

use http::header::AUTHORIZATION;
use serde::{Deserialize, Serialize};
use ticketbuster_domain::ApiError;
use ticketbuster_domain::account::Role;
use ticketbuster_domain::oidc::{
    ExternalIdentity, IssuerConfig, KeySet, Rejection, signed_by_issuer_key,
};
use ticketbuster_domain::token::{Caller, TokenVerifier, bearer_token};

use crate::backend::{Backend, query_one};
use crate::log;
use crate::web::{self, Request};

/// How long a fetched JWKS is used before it is fetched again.
pub const JWKS_TTL_MS: i64 = 10 * 60 * 1000;
/// How old a cached JWKS must be before a token with an unknown key id fetches it again.
pub const DEFAULT_REFRESH_COOLDOWN: Duration = Duration::from_secs(10);
/// How long a subject's link to its local account (and that account's role) is cached.
const LINK_TTL_MS: i64 = 5 * 60 * 1000;
/// Discovery documents and key sets are small; an answer past this is refused.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// The name of a new account when the token carries none.
const DEFAULT_ACCOUNT_NAME: &str = "External user";

/// Verifies access tokens: ours always, an external issuer's when one is configured.
pub struct Authenticator {
    local: TokenVerifier,
    external: Option<ExternalIssuer>,
}

/// An issuer whose access tokens are accepted.
#[derive(Debug, Clone)]
pub struct ExternalIssuer {
    config: IssuerConfig,
    refresh_cooldown: Duration,
}

impl ExternalIssuer {
    pub fn new(config: IssuerConfig) -> Self {
        Self {
            config,
            refresh_cooldown: DEFAULT_REFRESH_COOLDOWN,
        }
    }

    /// Another cooldown than [`DEFAULT_REFRESH_COOLDOWN`] (tests rotate keys at once).
    pub fn with_refresh_cooldown(mut self, cooldown: Duration) -> Self {
        self.refresh_cooldown = cooldown;
        self
    }
}

impl Authenticator {
    pub fn new(local: TokenVerifier, external: Option<ExternalIssuer>) -> Self {
        Self { local, external }
    }

    /// Our own tokens only.
    pub fn local(local: TokenVerifier) -> Self {
        Self::new(local, None)
    }

    /// Accepts `issuer`'s tokens too, from now on.
    pub fn trust(&mut self, issuer: ExternalIssuer) {
        self.external = Some(issuer);
    }

    /// The verifier of our own tokens, which also checks admission tokens (same keys).
    pub fn local_verifier(&self) -> &TokenVerifier {
        &self.local
    }
}

/// The caller of `req`, from its `Authorization: Bearer` token. An issuer's token answers
/// `401` when it is invalid, expired, for another audience or signed by an unknown key,
/// and `503` when the issuer's keys cannot be fetched.
pub async fn authenticate(
    backend: &impl Backend,
    authenticator: &Authenticator,
    req: &Request,
) -> Result<Caller, ApiError> {
    let token = bearer_token(web::header(req, AUTHORIZATION.as_str()))?;
    match &authenticator.external {
        Some(issuer) if signed_by_issuer_key(token) => {
            external_caller(backend, issuer, token).await
        }
        _ => authenticator.local.verify(token),
    }
}

async fn external_caller(
    backend: &impl Backend,
    issuer: &ExternalIssuer,
    token: &str,
) -> Result<Caller, ApiError> {
    let keys = issuer_keys(backend, issuer).await?;
    let verified = match issuer.config.verify(&keys.set, token) {
        Err(Rejection::UnknownKey)
            if !keys.just_fetched && may_refresh(backend, issuer, &keys).await =>
        {
            let fresh = fetch_and_keep(backend, issuer).await?;
            issuer.config.verify(&fresh.set, token)
        }
        verified => verified,
    };
    let identity = verified.map_err(|rejection| match rejection {
        Rejection::UnknownKey => ApiError::unauthorized(
            "the access token is signed with a key its issuer does not publish",
        ),
        Rejection::Invalid(why) => ApiError::unauthorized(why),
    })?;
    let account = linked_account(backend, issuer, &identity).await?;
    Ok(Caller {
        user_id: account.user_id,
        role: identity.role.unwrap_or(account.role),
    })
}

/// The issuer's key set as cached, with when it was fetched.
#[derive(Serialize, Deserialize)]
struct CachedJwks {
    fetched_at_ms: i64,
    jwks: String,
}

struct Keys {
    set: KeySet,
    fetched_at_ms: i64,
    /// Fetched by this request: fetching again cannot bring anything newer.
    just_fetched: bool,
}

fn jwks_cache_key(issuer: &ExternalIssuer) -> String {
    format!("oidc:jwks:{}", issuer.config.issuer())
}

/// The cached key set, fetched when there is none, or when it is older than
/// [`JWKS_TTL_MS`] and no other request is fetching it (then a failed fetch keeps the old set).
async fn issuer_keys(backend: &impl Backend, issuer: &ExternalIssuer) -> Result<Keys, ApiError> {
    let cached = match backend.cache_get(&jwks_cache_key(issuer)).await {
        Ok(bytes) => bytes.and_then(|bytes| {
            let cached: CachedJwks = serde_json::from_slice(&bytes).ok()?;
            let set = KeySet::parse(cached.jwks.as_bytes()).ok()?;
            Some(Keys {
                set,
                fetched_at_ms: cached.fetched_at_ms,
                just_fetched: false,
            })
        }),
        Err(e) => {
            log::warn(
                "oidc: cache read",
                format_args!("the issuer's keys were not read from the cache: {e}"),
            );
            None
        }
    };
    let Some(cached) = cached else {
        return fetch_and_keep(backend, issuer).await;
    };
    if backend.now_ms() - cached.fetched_at_ms < JWKS_TTL_MS
        || !may_refresh(backend, issuer, &cached).await
    {
        return Ok(cached);
    }
    Ok(fetch_and_keep(backend, issuer).await.unwrap_or(cached))
}

/// Sets the refresh claim of a key set unless it is set: `OK` for the one caller that wins.
const CLAIM_REFRESH: &str = "return redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1])";

/// Whether this request may fetch the key set again: the set is at least the cooldown old
/// and no other request has claimed its refresh (a claim in Redis, one per fetched set).
async fn may_refresh(backend: &impl Backend, issuer: &ExternalIssuer, keys: &Keys) -> bool {
    let cooldown_ms = issuer.refresh_cooldown.as_millis() as i64;
    if backend.now_ms() - keys.fetched_at_ms < cooldown_ms {
        return false;
    }
    let claim = format!(
        "oidc:jwks-refresh:{}:{}",
        issuer.config.issuer(),
        keys.fetched_at_ms
    );
    let ttl_ms = cooldown_ms.max(1).to_string();
    match backend.eval(CLAIM_REFRESH, &[&claim], &[&ttl_ms]).await {
        Ok(won) => won.is_some(),
        Err(e) => {
            log::warn(
                "oidc: refresh claim",
                format_args!("the issuer's keys are not fetched again: {e}"),
            );
            false
        }
    }
}

/// Fetches the issuer's key set (discovery document, then `jwks_uri`) and caches it.
async fn fetch_and_keep(backend: &impl Backend, issuer: &ExternalIssuer) -> Result<Keys, ApiError> {
    let fetched = async {
        let discovery = fetch(backend, &issuer.config.discovery_url()).await?;
        let jwks_uri = issuer.config.jwks_uri(&discovery)?;
        let jwks = fetch(backend, &jwks_uri).await?;
        let set = KeySet::parse(&jwks)?;
        let jwks = String::from_utf8(jwks).map_err(|_| "the JWKS is not UTF-8".to_owned())?;
        Ok::<_, String>((set, jwks))
    };
    let (set, jwks) = fetched.await.map_err(|e| {
        log::warn(
            "oidc: fetching keys",
            format_args!(
                "the keys of {} could not be fetched: {e}",
                issuer.config.issuer()
            ),
        );
        ApiError::unavailable("the sign-in provider's keys cannot be fetched; try again shortly")
    })?;
    let fetched_at_ms = backend.now_ms();
    let cached = CachedJwks {
        fetched_at_ms,
        jwks,
    };
    keep(backend, &jwks_cache_key(issuer), &cached).await;
    Ok(Keys {
        set,
        fetched_at_ms,
        just_fetched: true,
    })
}

/// Caches `value` as JSON; a failure costs only a later miss, so it is logged.
async fn keep(backend: &impl Backend, key: &str, value: &impl Serialize) {
    let stored = match serde_json::to_vec(value) {
        Ok(bytes) => backend
            .cache_set(key, &bytes)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = stored {
        log::warn(
            "oidc: cache write",
            format_args!("{key} was not cached: {e}"),
        );
    }
}

async fn fetch(backend: &impl Backend, url: &str) -> Result<Vec<u8>, String> {
    let answer = backend
        .http_get(url, MAX_DOCUMENT_BYTES)
        .await
        .map_err(|e| e.to_string())?;
    if answer.status != 200 {
        return Err(format!("GET {url} answered {}", answer.status));
    }
    Ok(answer.body)
}

/// A subject's local account, as cached.
#[derive(Serialize, Deserialize)]
struct LinkedAccount {
    user_id: String,
    role: Role,
    expires_at_ms: i64,
}

/// The local account of the token's subject, linked (and made, if need be) on first use.
/// Linking goes by the e-mail address only when the issuer verified it (see
/// docs/operations.md); otherwise the account gets an address of its own.
async fn linked_account(
    backend: &impl Backend,
    issuer: &ExternalIssuer,
    identity: &ExternalIdentity,
) -> Result<LinkedAccount, ApiError> {
    let cache_key = format!("oidc:link:{}", identity.link_key(issuer.config.issuer()));
    let now = backend.now_ms();
    match backend.cache_get(&cache_key).await {
        Ok(Some(bytes)) => {
            if let Ok(cached) = serde_json::from_slice::<LinkedAccount>(&bytes)
                && cached.expires_at_ms > now
            {
                return Ok(cached);
            }
        }
        Ok(None) => {}
        Err(e) => log::warn(
            "oidc: cache read",
            format_args!("an account link was not read from the cache: {e}"),
        ),
    }
    let name = identity
        .name
        .as_ref()
        .map_or(DEFAULT_ACCOUNT_NAME, |name| name.as_str());
    let row = query_one(
        backend,
        "SELECT account_id, account_role FROM auth.link_external_identity($1::text, $2::text, $3::text, $4::text)",
        &[
            issuer.config.issuer().into(),
            identity.subject.as_str().into(),
            identity.account_email(issuer.config.issuer()).as_str().into(),
            name.into(),
        ],
    )
    .await?;
    let raw_role = row.text("account_role")?;
    let account = LinkedAccount {
        user_id: row.text("account_id")?,
        role: Role::parse(&raw_role).ok_or_else(|| {
            eprintln!("error: user has unknown role {raw_role:?}");
            ApiError::internal()
        })?,
        expires_at_ms: now + LINK_TTL_MS,
    };
    keep(backend, &cache_key, &account).await;
    Ok(account)
}

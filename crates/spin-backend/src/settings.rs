//! Settings from Spin variables. A missing or malformed secret is an operator's mistake:
//! it is logged in full and answered as a 500 without details.

use std::cell::OnceCell;
use std::rc::Rc;

use spin_sdk::variables;
use ticketbuster_domain::ApiError;
use ticketbuster_domain::holds::HoldPolicy;
use ticketbuster_domain::token::{TokenIssuer, TokenVerifier};
use ticketbuster_services::auth::AuthSettings;
use ticketbuster_services::holds::HoldSettings;

use crate::per_instance;

thread_local! {
    static AUTH: OnceCell<Rc<AuthSettings>> = const { OnceCell::new() };
    static HOLDS: OnceCell<Rc<HoldSettings>> = const { OnceCell::new() };
}

fn misconfigured(what: &str, problem: impl std::fmt::Display) -> ApiError {
    eprintln!("error: configuration {what}: {problem}");
    ApiError::internal()
}

async fn required(name: &str) -> Result<String, ApiError> {
    variables::get(name)
        .await
        .map_err(|e| misconfigured(name, e))
}

async fn optional(name: &str) -> Option<String> {
    variables::get(name)
        .await
        .ok()
        .filter(|v| !v.trim().is_empty())
}

async fn token_verifier() -> Result<TokenVerifier, ApiError> {
    let secret = required("jwt_secret").await?;
    TokenVerifier::from_secret(&secret).map_err(|e| misconfigured("jwt_secret", e))
}

pub async fn auth_settings() -> Result<Rc<AuthSettings>, ApiError> {
    per_instance(&AUTH, load_auth_settings()).await
}

pub async fn hold_settings() -> Result<Rc<HoldSettings>, ApiError> {
    per_instance(&HOLDS, load_hold_settings()).await
}

async fn load_auth_settings() -> Result<AuthSettings, ApiError> {
    let secret = required("jwt_secret").await?;
    let issuer = TokenIssuer::from_secret(&secret).map_err(|e| misconfigured("jwt_secret", e))?;
    Ok(AuthSettings::new(issuer))
}

async fn load_hold_settings() -> Result<HoldSettings, ApiError> {
    let policy = HoldPolicy::from_settings(
        optional("max_seats_per_hold").await.as_deref(),
        optional("hold_ttl_seconds").await.as_deref(),
    )
    .map_err(|e| misconfigured("hold policy", e))?;
    Ok(HoldSettings {
        verifier: token_verifier().await?,
        policy,
    })
}

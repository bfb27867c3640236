//! `/api/auth`: register, login, refresh, logout, me.

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use ticketbuster_domain::ApiError;
use ticketbuster_domain::account::{
    DisplayName, Email, NewAccount, Password, RefreshToken, Role, hash_password,
    refresh_token_hash, verify_password,
};
use ticketbuster_domain::token::{ACCESS_TOKEN_SECONDS, TokenIssuer};

use crate::backend::{Backend, Row};
use crate::identity::{Authenticator, authenticate};
use crate::rate_limit::{Limit, RateLimits, client_address, limited};
use crate::web::{self, Request, Response};

pub const REFRESH_TOKEN_DAYS: i64 = 30;

pub struct AuthSettings {
    pub issuer: TokenIssuer,
    pub authenticator: Authenticator,
    pub limits: RateLimits,
}

impl AuthSettings {
    pub fn new(issuer: TokenIssuer, limits: RateLimits) -> Self {
        let authenticator = Authenticator::local(issuer.verifier());
        Self {
            issuer,
            authenticator,
            limits,
        }
    }
}

pub async fn handle(backend: &impl Backend, settings: &AuthSettings, req: Request) -> Response {
    web::respond(route(backend, settings, &req).await)
}

async fn route(
    backend: &impl Backend,
    settings: &AuthSettings,
    req: &Request,
) -> Result<Response, ApiError> {
    let segments = web::segments(req);
    let method = req.method();
    let address = client_address(req, &settings.limits.trusted_proxies);
    match (segments.as_slice(), method) {
        (
            [
                "api",
                "auth",
                anonymous @ ("register" | "login" | "refresh"),
            ],
            &Method::POST,
        ) => {
            let anonymous = *anonymous;
            let op = async {
                match anonymous {
                    "register" => register(backend, settings, req).await,
                    "login" => login(backend, settings, &address, req).await,
                    _ => refresh(backend, settings, req).await,
                }
            };
            limited(backend, &settings.limits, Limit::Address, &address, op).await
        }
        (["api", "auth", "logout"], &Method::POST) => logout(backend, settings, req).await,
        (["api", "auth", "me"], &Method::GET) => me(backend, settings, req).await,
        (
            [
                "api",
                "auth",
                "register" | "login" | "refresh" | "logout" | "me",
            ],
            _,
        ) => Err(ApiError::method_not_allowed()),
        _ => Err(ApiError::not_found("no such auth endpoint")),
    }
}

#[derive(Deserialize)]
struct RegisterBody {
    email: String,
    password: String,
    name: String,
}

#[derive(Deserialize)]
struct LoginBody {
    email: String,
    password: String,
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

const USER_COLUMNS: &str = "id::text AS id, email, name, role, iso_utc(created_at) AS created_at";

fn user_json(row: &Row) -> Result<serde_json::Value, ApiError> {
    Ok(json!({
        "id": row.text("id")?,
        "email": row.text("email")?,
        "name": row.text("name")?,
        "role": row.text("role")?,
        "created_at": row.text("created_at")?,
    }))
}

fn role_of(row: &Row) -> Result<Role, ApiError> {
    let raw = row.text("role")?;
    Role::parse(&raw).ok_or_else(|| {
        eprintln!("error: user has unknown role {raw:?}");
        ApiError::internal()
    })
}

fn token_answer(
    settings: &AuthSettings,
    user: &Row,
    refresh: &RefreshToken,
) -> Result<serde_json::Value, ApiError> {
    let access = settings.issuer.issue(&user.text("id")?, role_of(user)?)?;
    Ok(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_SECONDS,
        "refresh_token": refresh.token,
        "user": user_json(user)?,
    }))
}

async fn register(
    backend: &impl Backend,
    settings: &AuthSettings,
    req: &Request,
) -> Result<Response, ApiError> {
    let body: RegisterBody = web::parse_json(req)?;
    let account = NewAccount {
        email: Email::parse(&body.email)?,
        password: Password::parse(body.password)?,
        name: DisplayName::parse(&body.name)?,
    };
    let hash = hash_password(&account.password)?;
    let refresh = RefreshToken::generate()?;
    // One statement: the user and its first refresh token exist together or not at all.
    let sql = format!(
        "WITH new_user AS (
             INSERT INTO auth.users (email, name, password_hash)
             VALUES ($1::text, $2::text, $3::text)
             ON CONFLICT DO NOTHING
             RETURNING *
         ), token AS (
             INSERT INTO auth.refresh_tokens (token_hash, user_id, family_id, expires_at)
             SELECT $4::text, id, gen_random_uuid(), now() + make_interval(days => $5::int8::int)
             FROM new_user
         )
         SELECT {USER_COLUMNS} FROM new_user"
    );
    let rows = backend
        .query(
            &sql,
            &[
                account.email.as_str().into(),
                account.name.as_str().into(),
                hash.into(),
                refresh.hash.clone().into(),
                REFRESH_TOKEN_DAYS.into(),
            ],
        )
        .await?;
    let user = rows.first().ok_or_else(|| {
        ApiError::conflict("email_taken", "an account with this e-mail already exists")
    })?;
    Ok(web::json(
        StatusCode::CREATED,
        &token_answer(settings, user, &refresh)?,
    ))
}

/// Logs in. Failed attempts count per account and address; once they are over the limit,
/// attempts from there are refused before the password is checked, so guessing stops.
async fn login(
    backend: &impl Backend,
    settings: &AuthSettings,
    address: &str,
    req: &Request,
) -> Result<Response, ApiError> {
    let body: LoginBody = web::parse_json(req)?;
    let refused = || ApiError::unauthorized("wrong e-mail or password");
    let email = Email::parse(&body.email).map_err(|_| refused())?;
    let attempts_key = format!("{}|{address}", email.as_str());
    settings
        .limits
        .peek(backend, Limit::FailedLogins, &attempts_key)
        .await?;
    let sql =
        format!("SELECT {USER_COLUMNS}, password_hash FROM auth.users WHERE email = $1::text");
    let rows = backend.query(&sql, &[email.as_str().into()]).await?;
    let user = rows.first();
    // Accounts of an external issuer's users have no password: refused as a wrong one.
    let stored_hash = user
        .map(|u| u.opt_text("password_hash"))
        .transpose()?
        .flatten();
    if !verify_password(&body.password, stored_hash.as_deref()) {
        settings
            .limits
            .take(backend, Limit::FailedLogins, &attempts_key)
            .await?;
        return Err(refused());
    }
    let user = user.ok_or_else(refused)?;
    let refresh = RefreshToken::generate()?;
    backend
        .execute(
            "INSERT INTO auth.refresh_tokens (token_hash, user_id, family_id, expires_at)
             VALUES ($1::text, $2::text::uuid, gen_random_uuid(), now() + make_interval(days => $3::int8::int))",
            &[
                refresh.hash.clone().into(),
                user.text("id")?.into(),
                REFRESH_TOKEN_DAYS.into(),
            ],
        )
        .await?;
    Ok(web::json(
        StatusCode::OK,
        &token_answer(settings, user, &refresh)?,
    ))
}

async fn refresh(
    backend: &impl Backend,
    settings: &AuthSettings,
    req: &Request,
) -> Result<Response, ApiError> {
    let body: RefreshBody = web::parse_json(req)?;
    let presented = refresh_token_hash(&body.refresh_token);
    let successor = RefreshToken::generate()?;
    // Only one of two concurrent uses of a token wins the `used_at IS NULL` update.
    let sql = format!(
        "WITH used AS (
             UPDATE auth.refresh_tokens SET used_at = now()
             WHERE token_hash = $1::text AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()
             RETURNING user_id, family_id
         ), successor AS (
             INSERT INTO auth.refresh_tokens (token_hash, user_id, family_id, expires_at)
             SELECT $2::text, user_id, family_id, now() + make_interval(days => $3::int8::int) FROM used
         )
         SELECT {USER_COLUMNS} FROM auth.users WHERE id = (SELECT user_id FROM used)"
    );
    let rows = backend
        .query(
            &sql,
            &[
                presented.clone().into(),
                successor.hash.clone().into(),
                REFRESH_TOKEN_DAYS.into(),
            ],
        )
        .await?;
    match rows.first() {
        Some(user) => Ok(web::json(
            StatusCode::OK,
            &token_answer(settings, user, &successor)?,
        )),
        None => {
            // A used token coming back means it was copied: end the whole family.
            backend
                .execute(
                    "UPDATE auth.refresh_tokens SET revoked_at = now()
                     WHERE revoked_at IS NULL AND family_id IN (
                         SELECT family_id FROM auth.refresh_tokens
                         WHERE token_hash = $1::text AND used_at IS NOT NULL)",
                    &[presented.into()],
                )
                .await?;
            Err(ApiError::unauthorized(
                "the refresh token is invalid, expired or already used; log in again",
            ))
        }
    }
}

async fn logout(
    backend: &impl Backend,
    settings: &AuthSettings,
    req: &Request,
) -> Result<Response, ApiError> {
    let caller = authenticate(backend, &settings.authenticator, req).await?;
    let body: RefreshBody = web::parse_json(req)?;
    backend
        .execute(
            "UPDATE auth.refresh_tokens SET revoked_at = now()
             WHERE revoked_at IS NULL AND family_id IN (
                 SELECT family_id FROM auth.refresh_tokens
                 WHERE token_hash = $1::text AND user_id = $2::text::uuid)",
            &[
                refresh_token_hash(&body.refresh_token).into(),
                caller.user_id.into(),
            ],
        )
        .await?;
    Ok(web::empty(StatusCode::NO_CONTENT))
}

async fn me(
    backend: &impl Backend,
    settings: &AuthSettings,
    req: &Request,
) -> Result<Response, ApiError> {
    let caller = authenticate(backend, &settings.authenticator, req).await?;
    let sql = format!("SELECT {USER_COLUMNS} FROM auth.users WHERE id = $1::text::uuid");
    let rows = backend.query(&sql, &[caller.user_id.into()]).await?;
    let user = rows
        .first()
        .ok_or_else(|| ApiError::unauthorized("this account no longer exists"))?;
    // The role in force for this token: an external issuer's token may give its own.
    let mut user = user_json(user)?;
    user["role"] = caller.role.as_str().into();
    Ok(web::json(StatusCode::OK, &user))
}

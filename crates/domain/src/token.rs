//! Access tokens: short-lived HS256 JWTs under one secret held by our own components and
//! sidecar. Every request verifies one, so the check must be cheap: HMAC-SHA256 costs a few
//! microseconds where an Ed25519 verification costs tens natively and more in wasm. Signatures that
//! outsiders verify (tickets) use Ed25519 instead.

use jwt_simple::prelude::*;

use crate::ApiError;
use crate::account::Role;

pub const ISSUER: &str = "ticketbuster";
pub const AUDIENCE: &str = "ticketbuster-api";
pub const ACCESS_TOKEN_SECONDS: u64 = 15 * 60;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AccessClaims {
    role: Role,
}

/// Who is calling, as proven by a valid access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    pub role: Role,
}

impl Caller {
    pub fn require_role(&self, role: Role) -> Result<(), ApiError> {
        if self.role == role {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this action needs the {} role",
                role.as_str()
            )))
        }
    }
}

/// Secrets shorter than this are refused: HS256 is only as strong as its key.
pub const MIN_SECRET_BYTES: usize = 32;

fn key_from_secret(secret: &str) -> Result<HS256Key, String> {
    let secret = secret.trim();
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "the token secret must have at least {MIN_SECRET_BYTES} bytes"
        ));
    }
    Ok(HS256Key::from_bytes(secret.as_bytes()))
}

pub struct TokenIssuer {
    key: HS256Key,
}

impl TokenIssuer {
    pub fn from_secret(secret: &str) -> Result<Self, String> {
        key_from_secret(secret).map(|key| Self { key })
    }

    /// A fresh random key, for tests and benchmarks that mint their own tokens.
    pub fn generate() -> Self {
        Self {
            key: HS256Key::generate(),
        }
    }

    pub fn issue(&self, user_id: &str, role: Role) -> Result<String, ApiError> {
        let claims = Claims::with_custom_claims(
            AccessClaims { role },
            Duration::from_secs(ACCESS_TOKEN_SECONDS),
        )
        .with_issuer(ISSUER)
        .with_audience(AUDIENCE)
        .with_subject(user_id);
        self.key
            .authenticate(claims)
            .map_err(|_| ApiError::internal())
    }

    pub fn verifier(&self) -> TokenVerifier {
        TokenVerifier {
            keys: vec![self.key.clone()],
        }
    }

    /// The key, for the other tokens signed under the same secret (admissions).
    pub(crate) fn key(&self) -> &HS256Key {
        &self.key
    }
}

/// Verifies access tokens under the current secret and, during a rotation, the previous
/// one: tokens issued before the switch stay valid until they expire (15 minutes).
pub struct TokenVerifier {
    /// The current key first: it verifies nearly every token at the first try.
    keys: Vec<HS256Key>,
}

impl TokenVerifier {
    pub fn from_secret(secret: &str) -> Result<Self, String> {
        key_from_secret(secret).map(|key| Self { keys: vec![key] })
    }

    /// Also accepts tokens under `previous`, unless it is empty (no rotation under way).
    pub fn with_previous(mut self, previous: Option<&str>) -> Result<Self, String> {
        if let Some(previous) = previous.filter(|p| !p.trim().is_empty()) {
            let key = key_from_secret(previous).map_err(|e| format!("previous secret: {e}"))?;
            self.keys.push(key);
        }
        Ok(self)
    }

    /// The keys, current first, for the other tokens signed under the same secret.
    pub(crate) fn keys(&self) -> &[HS256Key] {
        &self.keys
    }

    pub fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        let options = VerificationOptions {
            allowed_issuers: Some(HashSet::from_strings(&[ISSUER])),
            allowed_audiences: Some(HashSet::from_strings(&[AUDIENCE])),
            time_tolerance: Some(Duration::from_secs(5)),
            ..Default::default()
        };
        let claims = self
            .keys
            .iter()
            .find_map(|key| {
                key.verify_token::<AccessClaims>(token, Some(options.clone()))
                    .ok()
            })
            .ok_or_else(|| ApiError::unauthorized("the access token is invalid or has expired"))?;
        let user_id = claims
            .subject
            .ok_or_else(|| ApiError::unauthorized("the access token names no user"))?;
        Ok(Caller {
            user_id,
            role: claims.custom.role,
        })
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(authorization: Option<&str>) -> Result<&str, ApiError> {
    let header = authorization.ok_or_else(|| {
        ApiError::unauthorized("send an access token: Authorization: Bearer <token>")
    })?;
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be 'Bearer <token>'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_issuer() -> TokenIssuer {
        TokenIssuer::generate()
    }

    #[test]
    fn issued_tokens_verify_with_the_public_key() {
        let issuer = test_issuer();
        let token = issuer.issue("user-1", Role::Customer).unwrap();
        let caller = issuer.verifier().verify(&token).unwrap();
        assert_eq!(caller.user_id, "user-1");
        assert_eq!(caller.role, Role::Customer);
        assert!(caller.require_role(Role::Customer).is_ok());
        assert_eq!(
            caller.require_role(Role::Organizer).unwrap_err().status,
            http::StatusCode::FORBIDDEN
        );
    }

    #[test]
    fn forged_and_malformed_tokens_are_refused() {
        let issuer = test_issuer();
        let other = test_issuer();
        let forged = other.issue("user-1", Role::Organizer).unwrap();
        let verifier = issuer.verifier();
        assert!(verifier.verify(&forged).is_err());
        assert!(verifier.verify("not.a.token").is_err());
        let mut tampered = issuer.issue("user-1", Role::Customer).unwrap();
        tampered.push('x');
        assert!(verifier.verify(&tampered).is_err());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let issuer = test_issuer();
        let claims = Claims::with_custom_claims(
            AccessClaims {
                role: Role::Customer,
            },
            Duration::from_secs(1),
        )
        .with_issuer(ISSUER)
        .with_audience(AUDIENCE)
        .with_subject("user-1");
        let mut claims = claims;
        let past = Clock::now_since_epoch() - Duration::from_secs(3600);
        claims.issued_at = Some(past);
        claims.expires_at = Some(past + Duration::from_secs(60));
        let token = issuer.key.authenticate(claims).unwrap();
        assert!(issuer.verifier().verify(&token).is_err());
    }

    #[test]
    fn the_header_must_be_a_bearer_token() {
        let token = test_issuer().issue("u", Role::Gate).unwrap();
        let header = format!("Bearer {token}");
        assert_eq!(bearer_token(Some(&header)).unwrap(), token);
        for bad in [
            None,
            Some("Basic abc"),
            Some("Bearer "),
            Some(token.as_str()),
        ] {
            assert_eq!(
                bearer_token(bad).unwrap_err().status,
                http::StatusCode::UNAUTHORIZED
            );
        }
    }

    #[test]
    fn keys_come_from_a_long_enough_secret() {
        let secret = "0123456789abcdef0123456789abcdef";
        let issuer = TokenIssuer::from_secret(secret).unwrap();
        let verifier = TokenVerifier::from_secret(&format!(" {secret}\n")).unwrap();
        let token = issuer.issue("u", Role::Customer).unwrap();
        assert!(verifier.verify(&token).is_ok());
        let other = TokenVerifier::from_secret("fedcba9876543210fedcba9876543210").unwrap();
        assert!(other.verify(&token).is_err());
        assert!(TokenVerifier::from_secret("short").is_err());
    }

    #[test]
    fn during_a_rotation_tokens_under_the_previous_secret_still_verify() {
        let old_secret = "o".repeat(MIN_SECRET_BYTES);
        let new_secret = "n".repeat(MIN_SECRET_BYTES);
        let old = TokenIssuer::from_secret(&old_secret).unwrap();
        let new = TokenIssuer::from_secret(&new_secret).unwrap();
        let before = old.issue("ana", Role::Customer).unwrap();
        let after = new.issue("ana", Role::Customer).unwrap();

        let rotating = TokenVerifier::from_secret(&new_secret)
            .unwrap()
            .with_previous(Some(&old_secret))
            .unwrap();
        assert_eq!(rotating.verify(&before).unwrap().user_id, "ana");
        assert_eq!(rotating.verify(&after).unwrap().user_id, "ana");

        let done = TokenVerifier::from_secret(&new_secret)
            .unwrap()
            .with_previous(Some(""))
            .unwrap();
        assert!(done.verify(&before).is_err(), "the old secret is retired");
        assert!(done.verify(&after).is_ok());
        let third = TokenIssuer::generate()
            .issue("ana", Role::Customer)
            .unwrap();
        assert!(rotating.verify(&third).is_err());
        assert!(
            TokenVerifier::from_secret(&new_secret)
                .unwrap()
                .with_previous(Some("short"))
                .is_err()
        );
    }
}

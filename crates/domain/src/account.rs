//! Accounts: e-mail addresses, passwords, names and roles, parsed rather than validated,
//! and the password hashing and refresh-token rules.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, Params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ApiError;

pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_CHARS: usize = 128;
pub const MAX_NAME_CHARS: usize = 100;
const MAX_EMAIL_CHARS: usize = 254;

/// An e-mail address, trimmed and lower-cased so that one mailbox is one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let email = raw.trim().to_lowercase();
        let invalid = || ApiError::validation(format!("{raw:?} is not a valid e-mail address"));
        if email.is_empty() || email.chars().count() > MAX_EMAIL_CHARS {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "@<>()[],;:\"\\".contains(c));
        if domain_ok && local_ok {
            Ok(Self(email))
        } else {
            Err(invalid())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password that meets the length rules. Never printed.
pub struct Password(String);

impl Password {
    pub fn parse(raw: String) -> Result<Self, ApiError> {
        let chars = raw.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(ApiError::validation(format!(
                "the password must have at least {MIN_PASSWORD_CHARS} characters"
            )));
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(ApiError::validation(format!(
                "the password must have at most {MAX_PASSWORD_CHARS} characters"
            )));
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A person's display name: 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let name = raw.trim();
        let chars = name.chars().count();
        if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(ApiError::validation(format!(
                "the name must have 1 to {MAX_NAME_CHARS} printable characters"
            )));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Organizer,
    Gate,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Organizer => "organizer",
            Role::Gate => "gate",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "customer" => Some(Role::Customer),
            "organizer" => Some(Role::Organizer),
            "gate" => Some(Role::Gate),
            _ => None,
        }
    }
}

/// A new account, parsed from the register request.
#[derive(Debug)]
pub struct NewAccount {
    pub email: Email,
    pub password: Password,
    pub name: DisplayName,
}

/// Argon2id with the OWASP-recommended memory cost (19 MiB, 2 passes).
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

pub fn hash_password(password: &Password) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| ApiError::internal())?;
    let salt = SaltString::encode_b64(&salt).map_err(|_| ApiError::internal())?;
    hasher()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| ApiError::internal())
}

/// Checks a password against a stored hash. With no stored hash (unknown e-mail) it still
/// spends the time of one hash, so a response time does not tell which e-mails exist.
pub fn verify_password(candidate: &str, stored_hash: Option<&str>) -> bool {
    const DECOY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0dKlbNE3TS6vpY8dzn0cBXfd3lyIbVLjzqA8wW3TnRs";
    let parsed = PasswordHash::new(stored_hash.unwrap_or(DECOY));
    let matches = match parsed {
        Ok(hash) => hasher()
            .verify_password(candidate.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    };
    matches && stored_hash.is_some()
}

/// A refresh token: 32 random bytes, given to the client once; only its SHA-256 is stored.
pub struct RefreshToken {
    pub token: String,
    pub hash: String,
}

impl RefreshToken {
    pub fn generate() -> Result<Self, ApiError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|_| ApiError::internal())?;
        let token = hex(&bytes);
        let hash = refresh_token_hash(&token);
        Ok(Self { token, hash })
    }
}

pub fn refresh_token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Ana.Garcia@Example.COM ").unwrap().as_str(),
            "ana.garcia@example.com"
        );
        for bad in [
            "",
            "plain",
            "a@b",
            "@example.com",
            "a b@example.com",
            "a@exa mple.com",
            "a@.example.com",
            "a@example..com",
            "a@@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn passwords_need_ten_characters() {
        assert!(Password::parse("123456789".into()).is_err());
        assert!(Password::parse("1234567890".into()).is_ok());
        assert!(Password::parse("ñ".repeat(10)).is_ok());
        assert!(Password::parse("x".repeat(129)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secret-password".into()).unwrap()),
            "Password(***)"
        );
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Ana ").unwrap().as_str(), "Ana");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"n".repeat(101)).is_err());
        assert!(DisplayName::parse("bell\u{7}").is_err());
    }

    #[test]
    fn password_hashes_verify_only_the_right_password() {
        let password = Password::parse("correct horse battery".into()).unwrap();
        let hash = hash_password(&password).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", Some(&hash)));
        assert!(!verify_password("wrong horse battery", Some(&hash)));
        assert!(!verify_password("correct horse battery", None));
        assert!(!verify_password("anything", Some("not a hash")));
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_hashed() {
        let a = RefreshToken::generate().unwrap();
        let b = RefreshToken::generate().unwrap();
        assert_ne!(a.token, b.token);
        assert_eq!(a.token.len(), 64);
        assert_eq!(a.hash, refresh_token_hash(&a.token));
        assert_ne!(a.hash, a.token);
    }

    #[test]
    fn roles_round_trip() {
        for role in [Role::Customer, Role::Organizer, Role::Gate] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("admin"), None);
    }
}

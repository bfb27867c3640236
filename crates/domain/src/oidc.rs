//! Access tokens from an external OpenID Connect issuer (Keycloak, for example), accepted
//! beside our own HS256 tokens. The issuer signs with a private key and publishes the public
//! half in its JWKS (JSON Web Key Set); this module parses the set, picks the key a token
//! names (`kid`), verifies RS256 or ES256 signatures, checks issuer, audience and expiry,
//! and reads who the caller is and which role the issuer gives them. Fetching and caching
//! the JWKS is the services' business.

use jwt_simple::JWTError;
use jwt_simple::prelude::*;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::account::{DisplayName, Email, MAX_NAME_CHARS, Role, hex};

/// Clock difference tolerated between the issuer and us when checking `exp`, `nbf` and `iat`.
pub const CLOCK_LEEWAY_SECONDS: u64 = 5;
/// OpenID Connect caps `sub` at 255 ASCII characters.
const MAX_SUBJECT_CHARS: usize = 255;
/// Where accounts without a verified e-mail address get theirs: `.invalid` never delivers.
const SYNTHETIC_EMAIL_DOMAIN: &str = "external.invalid";

/// Which issuer we trust, for which audience, and where its tokens carry roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerConfig {
    issuer: String,
    audience: String,
    role_claim: Vec<String>,
}

/// Why an external token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// No key of the set matches the token: the issuer may have rotated its keys, so a
    /// fresh JWKS may verify it.
    UnknownKey,
    /// The token is bad whatever keys we hold; the message says why.
    Invalid(&'static str),
}

/// Who a valid external token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIdentity {
    pub subject: String,
    /// Only an address the issuer says it verified (`email_verified: true`).
    pub verified_email: Option<Email>,
    pub name: Option<DisplayName>,
    /// `organizer` or `gate` when the configured claim holds it; `None` otherwise, and then
    /// the local account's own role applies.
    pub role: Option<Role>,
}

impl IssuerConfig {
    /// `None` when `issuer` is empty: no external issuer is trusted. `role_claim` is a
    /// dotted path into the token's claims, such as `realm_access.roles` (Keycloak).
    pub fn parse(issuer: &str, audience: &str, role_claim: &str) -> Result<Option<Self>, String> {
        let issuer = issuer.trim();
        if issuer.is_empty() {
            return Ok(None);
        }
        let host = issuer
            .strip_prefix("https://")
            .or_else(|| issuer.strip_prefix("http://"))
            .map(|rest| rest.split('/').next().unwrap_or_default())
            .unwrap_or_default();
        if host.is_empty() {
            return Err(format!("the issuer {issuer:?} is not an http(s) URL"));
        }
        let audience = audience.trim();
        if audience.is_empty() {
            return Err("an audience is needed with an issuer".into());
        }
        let role_claim: Vec<String> = role_claim.trim().split('.').map(str::to_owned).collect();
        if role_claim.iter().any(String::is_empty) {
            return Err(format!(
                "the role claim {role_claim:?} is not a dotted path such as realm_access.roles"
            ));
        }
        Ok(Some(Self {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            role_claim,
        }))
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// OpenID Connect Discovery: the issuer without a trailing slash, then the well-known path.
    pub fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        )
    }

    /// The `jwks_uri` of the discovery document, which must name this very issuer.
    pub fn jwks_uri(&self, discovery_document: &[u8]) -> Result<String, String> {
        #[derive(Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let document: Discovery = serde_json::from_slice(discovery_document)
            .map_err(|e| format!("the discovery document is not usable: {e}"))?;
        if document.issuer != self.issuer {
            return Err(format!(
                "the discovery document names the issuer {:?}, not {:?}",
                document.issuer, self.issuer
            ));
        }
        if !(document.jwks_uri.starts_with("https://") || document.jwks_uri.starts_with("http://"))
        {
            return Err(format!(
                "the jwks_uri {:?} is not an http(s) URL",
                document.jwks_uri
            ));
        }
        Ok(document.jwks_uri)
    }

    /// Verifies `token` with the key it names in `keys`, and reads its identity.
    pub fn verify(&self, keys: &KeySet, token: &str) -> Result<ExternalIdentity, Rejection> {
        let metadata = Token::decode_metadata(token)
            .map_err(|_| Rejection::Invalid("the access token is malformed"))?;
        let algorithm = Algorithm::of(metadata.algorithm()).ok_or(Rejection::Invalid(
            "the access token's algorithm is not accepted",
        ))?;
        let kid = metadata.key_id();
        let candidates: Vec<&SigningKey> = keys
            .keys
            .iter()
            .filter(|key| {
                key.algorithm() == algorithm && (kid.is_none() || key.kid.as_deref() == kid)
            })
            .collect();
        if candidates.is_empty() {
            return Err(Rejection::UnknownKey);
        }
        let options = VerificationOptions {
            allowed_issuers: Some(HashSet::from_strings(&[&self.issuer])),
            allowed_audiences: Some(HashSet::from_strings(&[&self.audience])),
            time_tolerance: Some(Duration::from_secs(CLOCK_LEEWAY_SECONDS)),
            ..Default::default()
        };
        let mut failure = Rejection::Invalid("the access token's signature does not verify");
        for key in candidates {
            match key.verify(token, &options) {
                Ok(claims) => return self.identity(claims),
                Err(e) => failure = Rejection::Invalid(reason(&e)),
            }
        }
        Err(failure)
    }

    fn identity(
        &self,
        claims: JWTClaims<Map<String, Value>>,
    ) -> Result<ExternalIdentity, Rejection> {
        if claims.expires_at.is_none() {
            return Err(Rejection::Invalid("the access token never expires"));
        }
        let subject = claims
            .subject
            .filter(|s| !s.is_empty() && s.chars().count() <= MAX_SUBJECT_CHARS)
            .ok_or(Rejection::Invalid("the access token names no subject"))?;
        let custom = claims.custom;
        let verified = custom.get("email_verified") == Some(&Value::Bool(true));
        let verified_email = custom
            .get("email")
            .and_then(Value::as_str)
            .filter(|_| verified)
            .and_then(|email| Email::parse(email).ok());
        let name = ["name", "preferred_username"]
            .iter()
            .filter_map(|claim| custom.get(*claim).and_then(Value::as_str))
            .find_map(|name| {
                let shortened: String = name.trim().chars().take(MAX_NAME_CHARS).collect();
                DisplayName::parse(&shortened).ok()
            });
        let role = role_at(&custom, &self.role_claim);
        Ok(ExternalIdentity {
            subject,
            verified_email,
            name,
            role,
        })
    }
}

/// The role the claim at `path` gives: `organizer` wins over `gate`; anything else, or no
/// such claim, gives none. The claim is a string or an array of strings.
fn role_at(claims: &Map<String, Value>, path: &[String]) -> Option<Role> {
    let (first, rest) = path.split_first()?;
    let value = rest
        .iter()
        .try_fold(claims.get(first), |value, segment| {
            value.map(|v| v.get(segment.as_str()))
        })
        .flatten();
    let names: Vec<&str> = match value {
        Some(Value::String(name)) => vec![name.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    [Role::Organizer, Role::Gate]
        .into_iter()
        .find(|role| names.contains(&role.as_str()))
}

/// A refusal reason a client can act on, without echoing anything of the token.
fn reason(error: &jwt_simple::Error) -> &'static str {
    match error.downcast_ref::<JWTError>() {
        Some(JWTError::TokenHasExpired) => "the access token has expired",
        Some(JWTError::TokenNotValidYet | JWTError::ClockDrift) => {
            "the access token is not valid yet"
        }
        Some(JWTError::RequiredAudienceMismatch | JWTError::RequiredAudienceMissing) => {
            "the access token is not meant for this API (audience)"
        }
        Some(JWTError::RequiredIssuerMismatch | JWTError::RequiredIssuerMissing) => {
            "the access token comes from another issuer"
        }
        _ => "the access token's signature does not verify",
    }
}

/// Whether a token is signed with an issuer's key pair rather than our own HMAC secret.
pub fn signed_by_issuer_key(token: &str) -> bool {
    Token::decode_metadata(token)
        .map(|metadata| Algorithm::of(metadata.algorithm()).is_some())
        .unwrap_or(false)
}

impl ExternalIdentity {
    /// A short name of this issuer's subject, for keys: hex of SHA-256 over both.
    pub fn link_key(&self, issuer: &str) -> String {
        hex(&Sha256::digest(
            format!("{issuer}\n{}", self.subject).as_bytes(),
        ))
    }

    /// The e-mail address of the local account: the verified address, or else one made up
    /// from the issuer and subject (under `.invalid`), which no mailbox or other person has.
    pub fn account_email(&self, issuer: &str) -> Email {
        if let Some(email) = &self.verified_email {
            return email.clone();
        }
        let link = self.link_key(issuer);
        Email::parse(&format!("oidc-{}@{SYNTHETIC_EMAIL_DOMAIN}", &link[..24]))
            .unwrap_or_else(|_| unreachable!("hex digits at a fixed domain are an e-mail address"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Rs256,
    Es256,
}

impl Algorithm {
    fn of(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Self::Rs256),
            "ES256" => Some(Self::Es256),
            _ => None,
        }
    }
}

enum PublicKey {
    Rs256(Box<RS256PublicKey>),
    Es256(ES256PublicKey),
}

struct SigningKey {
    kid: Option<String>,
    key: PublicKey,
}

impl SigningKey {
    fn algorithm(&self) -> Algorithm {
        match self.key {
            PublicKey::Rs256(_) => Algorithm::Rs256,
            PublicKey::Es256(_) => Algorithm::Es256,
        }
    }

    fn verify(
        &self,
        token: &str,
        options: &VerificationOptions,
    ) -> Result<JWTClaims<Map<String, Value>>, jwt_simple::Error> {
        match &self.key {
            PublicKey::Rs256(key) => key.verify_token(token, Some(options.clone())),
            PublicKey::Es256(key) => key.verify_token(token, Some(options.clone())),
        }
    }
}

/// The signing keys of an issuer's JWKS that we can use: RSA keys for RS256 and P-256 keys
/// for ES256. Encryption keys and keys for other algorithms are left out.
pub struct KeySet {
    keys: Vec<SigningKey>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

fn base64url(field: Option<&String>, what: &str) -> Result<Vec<u8>, String> {
    let text = field.ok_or_else(|| format!("a key lacks {what}"))?;
    Base64UrlSafeNoPadding::decode_to_vec(text, None)
        .map_err(|_| format!("a key's {what} is not base64url"))
}

impl Jwk {
    /// The key, or `None` when it is not a signing key for RS256 or ES256.
    fn signing_key(&self) -> Result<Option<SigningKey>, String> {
        if self.usage.as_deref().is_some_and(|usage| usage != "sig") {
            return Ok(None);
        }
        let algorithm = match (self.kty.as_str(), self.crv.as_deref()) {
            ("RSA", _) => Algorithm::Rs256,
            ("EC", Some("P-256")) => Algorithm::Es256,
            _ => return Ok(None),
        };
        if let Some(alg) = &self.alg
            && Algorithm::of(alg) != Some(algorithm)
        {
            return Ok(None);
        }
        let key = match algorithm {
            Algorithm::Rs256 => {
                let n = base64url(self.n.as_ref(), "n")?;
                let e = base64url(self.e.as_ref(), "e")?;
                RS256PublicKey::from_components(&n, &e)
                    .map(|key| PublicKey::Rs256(Box::new(key)))
                    .map_err(|e| format!("an RSA key is not usable: {e}"))?
            }
            Algorithm::Es256 => {
                let x = base64url(self.x.as_ref(), "x")?;
                let y = base64url(self.y.as_ref(), "y")?;
                if x.len() != 32 || y.len() != 32 {
                    return Err("a P-256 key's coordinates are not 32 bytes".into());
                }
                let point = [&[0x04][..], &x, &y].concat();
                ES256PublicKey::from_bytes(&point)
                    .map(PublicKey::Es256)
                    .map_err(|e| format!("a P-256 key is not usable: {e}"))?
            }
        };
        Ok(Some(SigningKey {
            kid: self.kid.clone(),
            key,
        }))
    }
}

impl KeySet {
    pub fn parse(jwks: &[u8]) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Document {
            keys: Vec<Jwk>,
        }
        let document: Document =
            serde_json::from_slice(jwks).map_err(|e| format!("the JWKS is not usable: {e}"))?;
        let keys = document
            .keys
            .iter()
            .filter_map(|jwk| jwk.signing_key().transpose())
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err("the JWKS has no RS256 or ES256 signing key".into());
        }
        Ok(Self { keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "https://id.example.com/realms/tickets";
    const AUDIENCE: &str = "ticketbuster-api";

    fn config() -> IssuerConfig {
        IssuerConfig::parse(ISSUER, AUDIENCE, "realm_access.roles")
            .unwrap()
            .unwrap()
    }

    struct Issuer {
        rsa: RS256KeyPair,
        ec: ES256KeyPair,
    }

    impl Issuer {
        fn new() -> Self {
            Self {
                rsa: RS256KeyPair::generate(2048).unwrap().with_key_id("rsa-1"),
                ec: ES256KeyPair::generate().with_key_id("ec-1"),
            }
        }

        fn jwks(&self) -> Vec<u8> {
            let rsa = self.rsa.public_key().to_components();
            let ec = self.ec.public_key().public_key().to_bytes_uncompressed();
            let b64 = |bytes: &[u8]| Base64UrlSafeNoPadding::encode_to_string(bytes).unwrap();
            serde_json::to_vec(&serde_json::json!({"keys": [
                {"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": b64(&rsa.n), "e": b64(&rsa.e)},
                {"kty": "EC", "kid": "ec-1", "use": "sig", "crv": "P-256", "x": b64(&ec[1..33]), "y": b64(&ec[33..])},
                {"kty": "RSA", "kid": "enc-1", "use": "enc", "n": b64(&rsa.n), "e": b64(&rsa.e)},
                {"kty": "OKP", "kid": "ed-1", "crv": "Ed25519", "x": "AAAA"},
            ]}))
            .unwrap()
        }
    }

    fn claims(extra: Value) -> JWTClaims<Map<String, Value>> {
        let Value::Object(custom) = extra else {
            panic!("claims are an object")
        };
        Claims::with_custom_claims(custom, Duration::from_mins(5))
            .with_issuer(ISSUER)
            .with_audience(AUDIENCE)
            .with_subject("f3c1-subject")
    }

    fn keycloak_claims() -> JWTClaims<Map<String, Value>> {
        claims(serde_json::json!({
            "email": "Ana@Example.com",
            "email_verified": true,
            "name": "Ana",
            "realm_access": {"roles": ["offline_access", "organizer"]},
        }))
    }

    #[test]
    fn rs256_and_es256_tokens_verify_against_the_jwks() {
        let issuer = Issuer::new();
        let keys = KeySet::parse(&issuer.jwks()).unwrap();
        assert_eq!(
            keys.keys.len(),
            2,
            "the encryption and Ed25519 keys are left out"
        );
        let rs = issuer.rsa.sign(keycloak_claims()).unwrap();
        let es = issuer.ec.sign(keycloak_claims()).unwrap();
        for token in [rs, es] {
            assert!(signed_by_issuer_key(&token));
            let identity = config().verify(&keys, &token).unwrap();
            assert_eq!(identity.subject, "f3c1-subject");
            assert_eq!(identity.verified_email.unwrap().as_str(), "ana@example.com");
            assert_eq!(identity.name.unwrap().as_str(), "Ana");
            assert_eq!(identity.role, Some(Role::Organizer));
        }
    }

    #[test]
    fn wrong_audience_issuer_expiry_and_key_are_refused() {
        let issuer = Issuer::new();
        let keys = KeySet::parse(&issuer.jwks()).unwrap();
        let sign = |claims| issuer.rsa.sign(claims).unwrap();
        let other_audience = sign(keycloak_claims().with_audience("other-api"));
        let other_issuer = sign(keycloak_claims().with_issuer("https://evil.example.com"));
        let mut expired = keycloak_claims();
        let past = Clock::now_since_epoch() - Duration::from_hours(1);
        expired.issued_at = Some(past);
        expired.expires_at = Some(past + Duration::from_mins(5));
        let expired = sign(expired);
        let mut eternal = keycloak_claims();
        eternal.expires_at = None;
        let eternal = sign(eternal);
        let cases = [
            (
                other_audience,
                "the access token is not meant for this API (audience)",
            ),
            (other_issuer, "the access token comes from another issuer"),
            (expired, "the access token has expired"),
            (eternal, "the access token never expires"),
        ];
        for (token, why) in cases {
            assert_eq!(config().verify(&keys, &token), Err(Rejection::Invalid(why)));
        }

        let impostor = RS256KeyPair::generate(2048).unwrap().with_key_id("rsa-1");
        let forged = impostor.sign(keycloak_claims()).unwrap();
        assert_eq!(
            config().verify(&keys, &forged),
            Err(Rejection::Invalid(
                "the access token's signature does not verify"
            ))
        );
        let rotated = RS256KeyPair::generate(2048).unwrap().with_key_id("rsa-2");
        let unknown = rotated.sign(keycloak_claims()).unwrap();
        assert_eq!(config().verify(&keys, &unknown), Err(Rejection::UnknownKey));
    }

    #[test]
    fn our_own_hs256_tokens_are_not_issuer_tokens() {
        let ours = crate::token::TokenIssuer::generate()
            .issue("u", Role::Customer)
            .unwrap();
        assert!(!signed_by_issuer_key(&ours));
        assert!(!signed_by_issuer_key("not a token"));
        let keys = KeySet::parse(&Issuer::new().jwks()).unwrap();
        assert!(matches!(
            config().verify(&keys, &ours),
            Err(Rejection::Invalid(_))
        ));
    }

    #[test]
    fn roles_come_from_the_configured_claim_path() {
        let role = |claims: Value, path: &str| {
            let Value::Object(map) = claims else { panic!() };
            let path: Vec<String> = path.split('.').map(str::to_owned).collect();
            role_at(&map, &path)
        };
        let keycloak = serde_json::json!({"realm_access": {"roles": ["gate", "organizer"]}});
        assert_eq!(
            role(keycloak.clone(), "realm_access.roles"),
            Some(Role::Organizer)
        );
        assert_eq!(role(keycloak, "resource_access.tb.roles"), None);
        assert_eq!(
            role(serde_json::json!({"role": "gate"}), "role"),
            Some(Role::Gate)
        );
        assert_eq!(role(serde_json::json!({"role": "customer"}), "role"), None);
        assert_eq!(role(serde_json::json!({"role": "admin"}), "role"), None);
        assert_eq!(role(serde_json::json!({"role": 7}), "role"), None);
        assert_eq!(
            role(serde_json::json!({"role": {"a": 1}}), "role.a.b"),
            None
        );
    }

    #[test]
    fn accounts_without_a_verified_email_get_a_made_up_one() {
        let issuer = Issuer::new();
        let keys = KeySet::parse(&issuer.jwks()).unwrap();
        let unverified = claims(
            serde_json::json!({"email": "ana@example.com", "email_verified": false, "preferred_username": "ana"}),
        );
        let identity = config()
            .verify(&keys, &issuer.ec.sign(unverified).unwrap())
            .unwrap();
        assert_eq!(identity.verified_email, None);
        assert_eq!(identity.name.as_ref().unwrap().as_str(), "ana");
        assert_eq!(identity.role, None);
        let email = identity.account_email(ISSUER);
        assert!(email.as_str().ends_with("@external.invalid"), "{email:?}");
        assert_eq!(email, identity.account_email(ISSUER), "the same every time");
        assert_ne!(email, identity.account_email("https://other.example.com"));
    }

    #[test]
    fn configuration_is_parsed() {
        assert_eq!(
            IssuerConfig::parse(" ", "", "").unwrap(),
            None,
            "empty: off"
        );
        assert!(IssuerConfig::parse("id.example.com", AUDIENCE, "roles").is_err());
        assert!(IssuerConfig::parse(ISSUER, " ", "roles").is_err());
        assert!(IssuerConfig::parse(ISSUER, AUDIENCE, "realm_access..roles").is_err());
        let slashed = IssuerConfig::parse("https://id.example.com/", AUDIENCE, "roles")
            .unwrap()
            .unwrap();
        assert_eq!(
            slashed.discovery_url(),
            "https://id.example.com/.well-known/openid-configuration"
        );
    }

    #[test]
    fn the_discovery_document_must_name_the_issuer() {
        let document = |issuer: &str, jwks: &str| {
            serde_json::to_vec(&serde_json::json!({"issuer": issuer, "jwks_uri": jwks})).unwrap()
        };
        let jwks = "https://id.example.com/realms/tickets/protocol/openid-connect/certs";
        assert_eq!(config().jwks_uri(&document(ISSUER, jwks)).unwrap(), jwks);
        assert!(
            config()
                .jwks_uri(&document("https://evil.example.com", jwks))
                .is_err()
        );
        assert!(
            config()
                .jwks_uri(&document(ISSUER, "file:///etc/passwd"))
                .is_err()
        );
        assert!(config().jwks_uri(b"<html>").is_err());
        assert!(KeySet::parse(b"{\"keys\": []}").is_err());
        assert!(
            KeySet::parse(b"{\"keys\": [{\"kty\": \"RSA\", \"n\": \"!\", \"e\": \"AQAB\"}]}")
                .is_err()
        );
    }
}

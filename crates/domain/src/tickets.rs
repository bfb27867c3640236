//! Ticket codes: a compact JWT signed with Ed25519, so a gate scanner verifies a ticket
//! offline with the public key alone. A code is signed whenever a ticket is shown rather
//! than stored: jwt-simple adds noise to each signature, so codes differ, and all verify.

use jwt_simple::prelude::*;
use sha2::{Digest, Sha256};

pub const TICKET_ISSUER: &str = "ticketbuster-tickets";

/// What a ticket's code says, and all a gate needs to admit its holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketClaims {
    /// The ticket's id.
    #[serde(rename = "tid")]
    pub ticket_id: String,
    #[serde(rename = "eid")]
    pub event_id: i64,
    #[serde(rename = "sid")]
    pub seat_id: i64,
    /// Section, row and number as printed on the seat map, e.g. `Pista/3/12`.
    #[serde(rename = "loc")]
    pub seat_label: String,
    /// Seconds since the Unix epoch.
    #[serde(skip)]
    pub issued_at: u64,
}

pub struct TicketSigner {
    key: Ed25519KeyPair,
}

impl TicketSigner {
    /// From a PKCS#8 PEM Ed25519 private key (what `openssl genpkey -algorithm ed25519` writes).
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        Ed25519KeyPair::from_pem(pem.trim())
            .map(|key| Self { key })
            .map_err(|e| format!("not an Ed25519 private key in PEM: {e}"))
    }

    pub fn sign(&self, ticket: &TicketClaims) -> Result<String, String> {
        let claims = JWTClaims {
            issued_at: Some(UnixTimeStamp::from_secs(ticket.issued_at)),
            expires_at: None,
            invalid_before: None,
            issuer: Some(TICKET_ISSUER.to_owned()),
            subject: None,
            audiences: None,
            jwt_id: None,
            nonce: None,
            custom: ticket.clone(),
        };
        self.key.sign(claims).map_err(|e| e.to_string())
    }

    pub fn verifier(&self) -> TicketVerifier {
        TicketVerifier {
            keys: vec![self.key.public_key()],
        }
    }
}

/// Verifies ticket codes under the current public key and, during a rotation of the
/// signing key, the previous one: codes fetched before the switch stay valid.
pub struct TicketVerifier {
    /// The current key first: it verifies nearly every code at the first try.
    keys: Vec<Ed25519PublicKey>,
}

/// A public key as a JSON Web Key (RFC 8037), for scanners that verify codes offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketJwk {
    pub kty: String,
    pub crv: String,
    /// The raw 32-byte public key, base64url without padding.
    pub x: String,
    /// The key's RFC 7638 thumbprint.
    pub kid: String,
}

fn public_key_from_pem(pem: &str) -> Result<Ed25519PublicKey, String> {
    Ed25519PublicKey::from_pem(pem.trim())
        .map_err(|e| format!("not an Ed25519 public key in PEM: {e}"))
}

impl TicketVerifier {
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        public_key_from_pem(pem).map(|key| Self { keys: vec![key] })
    }

    /// Also accepts codes signed with the key whose public half is `previous`, unless it
    /// is empty (no rotation under way).
    pub fn with_previous(mut self, previous: Option<&str>) -> Result<Self, String> {
        if let Some(previous) = previous.filter(|p| !p.trim().is_empty()) {
            let key = public_key_from_pem(previous).map_err(|e| format!("previous key: {e}"))?;
            self.keys.push(key);
        }
        Ok(self)
    }

    /// The current public key in PEM.
    pub fn public_key_pem(&self) -> String {
        self.keys
            .first()
            .map(Ed25519PublicKey::to_pem)
            .unwrap_or_default()
    }

    /// Every key a code may be signed with, current first.
    pub fn jwks(&self) -> Vec<TicketJwk> {
        self.keys
            .iter()
            .map(|key| {
                let x =
                    Base64UrlSafeNoPadding::encode_to_string(key.to_bytes()).unwrap_or_default();
                // RFC 7638: the hash of the required members, in lexicographic order.
                let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
                let kid = Base64UrlSafeNoPadding::encode_to_string(Sha256::digest(canonical))
                    .unwrap_or_default();
                TicketJwk {
                    kty: "OKP".into(),
                    crv: "Ed25519".into(),
                    x,
                    kid,
                }
            })
            .collect()
    }

    /// The ticket a code names, if its signature is ours.
    pub fn verify(&self, code: &str) -> Result<TicketClaims, String> {
        let options = VerificationOptions {
            allowed_issuers: Some(HashSet::from_strings(&[TICKET_ISSUER])),
            time_tolerance: Some(Duration::from_mins(5)),
            ..Default::default()
        };
        let claims = self
            .keys
            .iter()
            .find_map(|key| {
                key.verify_token::<TicketClaims>(code, Some(options.clone()))
                    .ok()
            })
            .ok_or("not a valid ticket code: its signature is not ours")?;
        let issued_at = claims
            .issued_at
            .ok_or("the ticket code has no issue time")?
            .as_secs();
        Ok(TicketClaims {
            issued_at,
            ..claims.custom
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> TicketSigner {
        TicketSigner::from_pem(&Ed25519KeyPair::generate().to_pem()).unwrap()
    }

    fn ticket() -> TicketClaims {
        TicketClaims {
            ticket_id: "0b1f6fbb-6670-4522-8da0-cba908482ec9".into(),
            event_id: 7,
            seat_id: 1234,
            seat_label: "Pista/3/12".into(),
            issued_at: 1_795_000_000,
        }
    }

    #[test]
    fn codes_verify_with_the_public_key_alone() {
        let signer = signer();
        let code = signer.sign(&ticket()).unwrap();
        assert!(
            code.len() < 400,
            "compact enough for a QR code: {}",
            code.len()
        );
        let verifier = TicketVerifier::from_pem(&signer.verifier().public_key_pem()).unwrap();
        assert_eq!(verifier.verify(&code).unwrap(), ticket());
        let again = signer.sign(&ticket()).unwrap();
        assert_eq!(verifier.verify(&again).unwrap(), ticket());
    }

    #[test]
    fn tampered_or_foreign_codes_are_refused() {
        let signer = signer();
        let code = signer.sign(&ticket()).unwrap();
        let mut other = ticket();
        other.seat_id = 1235;
        let forged_payload = signer.sign(&other).unwrap();
        let (head, rest) = code.split_once('.').unwrap();
        let signature = rest.split_once('.').unwrap().1;
        let payload = forged_payload.split('.').nth(1).unwrap();
        let spliced = format!("{head}.{payload}.{signature}");
        assert!(signer.verifier().verify(&spliced).is_err());

        assert!(self::signer().verifier().verify(&code).is_err());
        assert!(signer.verifier().verify("not-a-code").is_err());
    }

    #[test]
    fn codes_of_the_previous_key_verify_during_a_rotation() {
        let old = signer();
        let new = signer();
        let code = old.sign(&ticket()).unwrap();
        assert!(new.verifier().verify(&code).is_err());
        let rotating = new
            .verifier()
            .with_previous(Some(&old.verifier().public_key_pem()))
            .unwrap();
        assert_eq!(rotating.verify(&code).unwrap(), ticket());
        assert_eq!(
            rotating.verify(&new.sign(&ticket()).unwrap()).unwrap(),
            ticket()
        );
        assert_eq!(rotating.jwks().len(), 2);
        assert_eq!(
            new.verifier()
                .with_previous(Some(" "))
                .unwrap()
                .jwks()
                .len(),
            1
        );
        assert!(new.verifier().with_previous(Some("secret")).is_err());
    }

    #[test]
    fn keys_are_published_as_rfc_8037_jwks_with_rfc_7638_ids() {
        // RFC 8037, appendix A.2 and A.3: the example public key and its thumbprint.
        let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        let raw = Base64UrlSafeNoPadding::decode_to_vec(x, None).unwrap();
        let pem = Ed25519PublicKey::from_bytes(&raw).unwrap().to_pem();
        let jwks = TicketVerifier::from_pem(&pem).unwrap().jwks();
        assert_eq!(
            jwks,
            [TicketJwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x: x.into(),
                kid: "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k".into(),
            }]
        );
    }

    #[test]
    fn keys_must_be_ed25519_pem() {
        assert!(TicketSigner::from_pem("secret").is_err());
        assert!(
            TicketVerifier::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .is_err()
        );
    }
}

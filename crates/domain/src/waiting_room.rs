//! The virtual waiting room's rules: an organizer's settings for a room, the admission
//! token a buyer gets when the room lets them through, and the wait a buyer is shown.
//!
//! An admission token is an HS256 JWT under the access tokens' secret, with its own
//! audience, so neither kind of token passes for the other. It names the account (`sub`)
//! and the event (`event`), expires when the admission does (`exp`) and is unique (`jti`).

use chrono::{DateTime, Utc};
use jwt_simple::prelude::*;
use serde::Deserialize;

use crate::ApiError;
use crate::event_draft::{rfc3339, timestamp};
use crate::token::{ISSUER, TokenIssuer, TokenVerifier};

/// The audience of admission tokens (access tokens have another).
pub const ADMISSION_AUDIENCE: &str = "ticketbuster-admission";

/// The request header that carries an admission token on holds.
pub const ADMISSION_HEADER: &str = "admission-token";

/// Buyers let through per minute, at most (a stadium's gates, not a denial of service).
pub const MAX_ADMIT_PER_MINUTE: i64 = 100_000;
/// How long an admission may last, at most, in minutes.
pub const MAX_ADMISSION_MINUTES: i64 = 120;

/// `PUT /api/organizer/events/{id}/waiting-room`, as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomBody {
    pub opens_at: String,
    /// `null` or absent: as seats allow.
    #[serde(default)]
    pub admit_per_minute: Option<i64>,
    pub admission_minutes: i64,
}

/// How fast a room lets buyers through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    PerMinute(i64),
    /// As many buyers as there are free seats not already promised to admitted buyers.
    AsSeatsAllow,
}

impl Pace {
    /// Buyers let through per minute; `None` as seats allow.
    pub fn per_minute(self) -> Option<i64> {
        match self {
            Pace::PerMinute(n) => Some(n),
            Pace::AsSeatsAllow => None,
        }
    }
}

/// A room's validated settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSettings {
    /// From when buyers may join; those who join before sales start are drawn at random.
    pub opens_at: DateTime<Utc>,
    pub pace: Pace,
    pub admission_minutes: i64,
}

impl RoomSettings {
    /// Checks the body against the event's start: a room must open before the event does.
    pub fn parse(body: RoomBody, event_starts_at: DateTime<Utc>) -> Result<Self, ApiError> {
        let opens_at = timestamp("opens_at", &body.opens_at)?;
        if opens_at >= event_starts_at {
            return Err(ApiError::invalid_field(
                "opens_at",
                format!(
                    "must be before the event starts ({})",
                    rfc3339(event_starts_at)
                ),
            ));
        }
        let pace = match body.admit_per_minute {
            None => Pace::AsSeatsAllow,
            Some(n) if (1..=MAX_ADMIT_PER_MINUTE).contains(&n) => Pace::PerMinute(n),
            Some(_) => {
                return Err(ApiError::invalid_field(
                    "admit_per_minute",
                    format!(
                        "must be 1 to {MAX_ADMIT_PER_MINUTE} buyers a minute, or null to admit as seats allow"
                    ),
                ));
            }
        };
        if !(1..=MAX_ADMISSION_MINUTES).contains(&body.admission_minutes) {
            return Err(ApiError::invalid_field(
                "admission_minutes",
                format!("must be 1 to {MAX_ADMISSION_MINUTES} minutes"),
            ));
        }
        Ok(Self {
            opens_at,
            pace,
            admission_minutes: body.admission_minutes,
        })
    }

    /// `admit_per_minute` as stored: `None` for as seats allow.
    pub fn admit_per_minute(&self) -> Option<i64> {
        self.pace.per_minute()
    }
}

/// The estimated wait, in whole seconds, of a buyer `position` places from the front:
/// known only when the room admits at a fixed pace.
pub fn estimated_wait_seconds(position: i64, pace: Pace) -> Option<i64> {
    match pace {
        Pace::PerMinute(per_minute) if per_minute > 0 => {
            Some((position.max(0) * 60 + per_minute - 1) / per_minute)
        }
        _ => None,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AdmissionClaims {
    event: i64,
}

/// An admission: one account may hold seats on one event until `expires_at_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    pub account: String,
    pub event_id: i64,
    pub expires_at_ms: i64,
}

impl Admission {
    /// A signed token of this admission, unique by its `jti`.
    pub fn sign(&self, issuer: &TokenIssuer) -> Result<String, ApiError> {
        let mut claims = Claims::with_custom_claims(
            AdmissionClaims {
                event: self.event_id,
            },
            Duration::from_secs(0),
        )
        .with_issuer(ISSUER)
        .with_audience(ADMISSION_AUDIENCE)
        .with_subject(&self.account)
        .with_jwt_id(uuid::Uuid::new_v4().simple());
        claims.expires_at = Some(Duration::from_millis(
            u64::try_from(self.expires_at_ms).unwrap_or_default(),
        ));
        issuer
            .key()
            .authenticate(claims)
            .map_err(|_| ApiError::internal())
    }
}

/// Why an admission token does not admit its bearer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not ours: malformed, forged, or signed under a secret we no longer hold.
    Invalid,
    Expired,
    OtherAccount,
    OtherEvent,
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Invalid => "the admission token is not valid",
            Refusal::Expired => "the admission token has expired",
            Refusal::OtherAccount => "the admission token was given to another account",
            Refusal::OtherEvent => "the admission token is for another event",
        }
    }
}

/// Whether `token` admits `account` to hold seats on `event_id` at `now_ms`.
pub fn check_admission(
    verifier: &TokenVerifier,
    token: &str,
    account: &str,
    event_id: i64,
    now_ms: i64,
) -> Result<(), Refusal> {
    // The expiry is checked below, to the second and with its own answer.
    let options = VerificationOptions {
        allowed_issuers: Some(HashSet::from_strings(&[ISSUER])),
        allowed_audiences: Some(HashSet::from_strings(&[ADMISSION_AUDIENCE])),
        time_tolerance: Some(Duration::from_days(365)),
        ..Default::default()
    };
    let claims = verifier
        .keys()
        .iter()
        .find_map(|key| {
            key.verify_token::<AdmissionClaims>(token, Some(options.clone()))
                .ok()
        })
        .ok_or(Refusal::Invalid)?;
    let expires_at_ms = claims
        .expires_at
        .and_then(|at| i64::try_from(at.as_millis()).ok())
        .ok_or(Refusal::Invalid)?;
    if claims.subject.as_deref() != Some(account) {
        return Err(Refusal::OtherAccount);
    }
    if claims.custom.event != event_id {
        return Err(Refusal::OtherEvent);
    }
    if expires_at_ms <= now_ms {
        return Err(Refusal::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::Role;

    const NOW_MS: i64 = 1_900_000_000_000;

    fn admission(expires_at_ms: i64) -> Admission {
        Admission {
            account: "buyer-1".into(),
            event_id: 7,
            expires_at_ms,
        }
    }

    fn body(opens_at: &str, admit_per_minute: Option<i64>, admission_minutes: i64) -> RoomBody {
        RoomBody {
            opens_at: opens_at.into(),
            admit_per_minute,
            admission_minutes,
        }
    }

    fn starts_at() -> DateTime<Utc> {
        timestamp("starts_at", "2027-03-01T20:00:00Z").unwrap()
    }

    #[test]
    fn a_token_admits_its_account_to_its_event_until_it_expires() {
        let issuer = TokenIssuer::generate();
        let token = admission(NOW_MS + 60_000).sign(&issuer).unwrap();
        let verifier = issuer.verifier();
        assert_eq!(
            check_admission(&verifier, &token, "buyer-1", 7, NOW_MS),
            Ok(())
        );
        assert_eq!(
            check_admission(&verifier, &token, "buyer-2", 7, NOW_MS),
            Err(Refusal::OtherAccount)
        );
        assert_eq!(
            check_admission(&verifier, &token, "buyer-1", 8, NOW_MS),
            Err(Refusal::OtherEvent)
        );
        assert_eq!(
            check_admission(&verifier, &token, "buyer-1", 7, NOW_MS + 60_000),
            Err(Refusal::Expired)
        );
    }

    #[test]
    fn forged_tampered_and_access_tokens_do_not_admit() {
        let issuer = TokenIssuer::generate();
        let verifier = issuer.verifier();
        let forged = admission(NOW_MS + 60_000)
            .sign(&TokenIssuer::generate())
            .unwrap();
        assert_eq!(
            check_admission(&verifier, &forged, "buyer-1", 7, NOW_MS),
            Err(Refusal::Invalid)
        );
        let mut tampered = admission(NOW_MS + 60_000).sign(&issuer).unwrap();
        tampered.push('x');
        assert_eq!(
            check_admission(&verifier, &tampered, "buyer-1", 7, NOW_MS),
            Err(Refusal::Invalid)
        );
        let access = issuer.issue("buyer-1", Role::Customer).unwrap();
        assert_eq!(
            check_admission(&verifier, &access, "buyer-1", 7, NOW_MS),
            Err(Refusal::Invalid)
        );
        let admission_token = admission(NOW_MS + 60_000).sign(&issuer).unwrap();
        assert!(verifier.verify(&admission_token).is_err());
    }

    #[test]
    fn tokens_of_one_admission_differ_by_their_id_and_share_its_expiry() {
        let issuer = TokenIssuer::generate();
        let first = admission(NOW_MS + 60_000).sign(&issuer).unwrap();
        let second = admission(NOW_MS + 60_000).sign(&issuer).unwrap();
        assert_ne!(first, second);
        for token in [first, second] {
            assert_eq!(
                check_admission(&issuer.verifier(), &token, "buyer-1", 7, NOW_MS + 59_000),
                Ok(())
            );
        }
    }

    #[test]
    fn settings_are_checked_field_by_field() {
        let paced =
            RoomSettings::parse(body("2027-03-01T09:00:00Z", Some(600), 10), starts_at()).unwrap();
        assert_eq!(paced.pace, Pace::PerMinute(600));
        assert_eq!(paced.admit_per_minute(), Some(600));
        let by_seats =
            RoomSettings::parse(body("2027-03-01T09:00:00Z", None, 10), starts_at()).unwrap();
        assert_eq!(by_seats.pace, Pace::AsSeatsAllow);
        assert_eq!(by_seats.admit_per_minute(), None);
        let refused = |b: RoomBody| RoomSettings::parse(b, starts_at()).unwrap_err();
        assert_eq!(
            refused(body("2027-03-01T20:00:00Z", Some(1), 10)).details["path"],
            "opens_at"
        );
        assert_eq!(
            refused(body("tomorrow", Some(1), 10)).details["path"],
            "opens_at"
        );
        assert_eq!(
            refused(body("2027-03-01T09:00:00Z", Some(0), 10)).details["path"],
            "admit_per_minute"
        );
        assert_eq!(
            refused(body("2027-03-01T09:00:00Z", Some(1), 0)).details["path"],
            "admission_minutes"
        );
        assert_eq!(
            refused(body("2027-03-01T09:00:00Z", Some(1), 121)).details["path"],
            "admission_minutes"
        );
    }

    #[test]
    fn the_wait_is_the_places_ahead_at_the_rooms_pace_rounded_up() {
        assert_eq!(estimated_wait_seconds(0, Pace::PerMinute(60)), Some(0));
        assert_eq!(estimated_wait_seconds(1, Pace::PerMinute(60)), Some(1));
        assert_eq!(estimated_wait_seconds(1, Pace::PerMinute(120)), Some(1));
        assert_eq!(estimated_wait_seconds(250, Pace::PerMinute(100)), Some(150));
        assert_eq!(estimated_wait_seconds(10, Pace::AsSeatsAllow), None);
    }
}

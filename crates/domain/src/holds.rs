//! Seat holds: what a hold request may ask for, and how long a hold lives.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::json;

use crate::ApiError;

/// Longest tier or section name a layout may have (the database's own bound).
pub const MAX_SEATING_NAME_CHARS: usize = 50;

pub const DEFAULT_MAX_SEATS_PER_HOLD: usize = 8;
pub const DEFAULT_HOLD_TTL_SECONDS: i64 = 600;
pub const DEFAULT_MAX_TICKETS_PER_ACCOUNT: i64 = 8;

/// Limits a deployment may tune through Spin variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldPolicy {
    pub max_seats: usize,
    pub ttl_seconds: i64,
    /// Seats one account may hold at once on one event (holds without an order); 0: no cap.
    pub max_held_seats_per_account: i64,
    /// Seats one account may have on one event, held, ordered or sold, unless the event
    /// sets its own; 0: no cap.
    pub max_tickets_per_account: i64,
}

impl Default for HoldPolicy {
    fn default() -> Self {
        Self {
            max_seats: DEFAULT_MAX_SEATS_PER_HOLD,
            ttl_seconds: DEFAULT_HOLD_TTL_SECONDS,
            max_held_seats_per_account: DEFAULT_MAX_SEATS_PER_HOLD as i64,
            max_tickets_per_account: DEFAULT_MAX_TICKETS_PER_ACCOUNT,
        }
    }
}

/// The raw values of the hold variables, `None` where unset.
#[derive(Debug, Clone, Copy, Default)]
pub struct HoldVariables<'a> {
    pub max_seats_per_hold: Option<&'a str>,
    pub hold_ttl_seconds: Option<&'a str>,
    pub max_held_seats_per_account: Option<&'a str>,
    pub max_tickets_per_account: Option<&'a str>,
}

/// `raw` as an integer in `range`, or an error naming the variable.
fn bounded(
    name: &str,
    raw: Option<&str>,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Option<i64>, String> {
    raw.map(|raw| {
        raw.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                format!(
                    "{name} must be {}..={}, got {raw:?}",
                    range.start(),
                    range.end()
                )
            })
    })
    .transpose()
}

impl HoldPolicy {
    /// From the raw variable values; an absent value takes the default, a malformed one is
    /// an error. The held-seats cap defaults to the seats of one hold.
    pub fn from_settings(vars: HoldVariables<'_>) -> Result<Self, String> {
        let defaults = Self::default();
        let max_seats = bounded("max_seats_per_hold", vars.max_seats_per_hold, 1..=100)?
            .map_or(defaults.max_seats, |n| n as usize);
        let ttl_seconds = bounded("hold_ttl_seconds", vars.hold_ttl_seconds, 1..=86_400)?
            .unwrap_or(defaults.ttl_seconds);
        let max_held_seats_per_account = bounded(
            "max_held_seats_per_account",
            vars.max_held_seats_per_account,
            0..=1_000_000,
        )?
        .unwrap_or(max_seats as i64);
        let max_tickets_per_account = bounded(
            "max_tickets_per_account",
            vars.max_tickets_per_account,
            0..=1_000_000,
        )?
        .unwrap_or(defaults.max_tickets_per_account);
        Ok(Self {
            max_seats,
            ttl_seconds,
            max_held_seats_per_account,
            max_tickets_per_account,
        })
    }

    /// No per-account caps: for benchmarks and tests that hold many seats with few accounts.
    pub fn without_account_caps(self) -> Self {
        Self {
            max_held_seats_per_account: 0,
            max_tickets_per_account: 0,
            ..self
        }
    }
}

/// The seats of one hold: never empty, never above the policy's maximum, no duplicates,
/// kept sorted so that every hold locks its rows in the same order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatSelection(Vec<i64>);

impl SeatSelection {
    pub fn parse(seat_ids: &[i64], policy: &HoldPolicy) -> Result<Self, ApiError> {
        if seat_ids.is_empty() {
            return Err(ApiError::validation("seat_ids must name at least one seat"));
        }
        if seat_ids.len() > policy.max_seats {
            return Err(ApiError::validation(format!(
                "a hold may take at most {} seats; {} were asked for",
                policy.max_seats,
                seat_ids.len()
            ))
            .with_detail("max_seats", policy.max_seats));
        }
        if let Some(bad) = seat_ids.iter().find(|id| **id <= 0) {
            return Err(ApiError::validation(format!("{bad} is not a seat id")));
        }
        let unique: BTreeSet<i64> = seat_ids.iter().copied().collect();
        if unique.len() != seat_ids.len() {
            let mut seen = BTreeSet::new();
            let duplicates: BTreeSet<i64> = seat_ids
                .iter()
                .copied()
                .filter(|id| !seen.insert(*id))
                .collect();
            return Err(
                ApiError::validation("seat_ids contains duplicates").with_detail(
                    "duplicate_seat_ids",
                    duplicates.into_iter().collect::<Vec<_>>(),
                ),
            );
        }
        Ok(Self(unique.into_iter().collect()))
    }

    pub fn ids(&self) -> &[i64] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// This hold of seats as one canonical text, for an Idempotency-Key to remember: the
    /// key sent again with another event or other seats is another request.
    pub fn canonical(&self, event_id: i64) -> String {
        json!({ "event_id": event_id, "seat_ids": self.0 }).to_string()
    }
}

/// The body of `POST /api/events/{id}/holds`, as sent: either the seats chosen
/// (`seat_ids`) or how many of the best available (`quantity`, optionally `tier` and
/// `section`). [`HoldRequest::parse`] makes one of the two of it.
#[derive(Debug, Default, Deserialize)]
pub struct HoldBody {
    pub seat_ids: Option<Vec<i64>>,
    pub quantity: Option<i64>,
    pub tier: Option<String>,
    pub section: Option<String>,
}

/// What a hold asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldRequest {
    /// These seats, all or none.
    Seats(SeatSelection),
    /// The server picks the seats (see `catalog.seat_blocks` for what "best" means).
    BestAvailable(BestAvailable),
}

/// `quantity` adjacent seats in one row, of `tier` and in `section` when named (by name,
/// as the seat map shows them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BestAvailable {
    pub quantity: i64,
    pub tier: Option<String>,
    pub section: Option<String>,
}

impl BestAvailable {
    /// This hold of the best available as one canonical text (see
    /// [`SeatSelection::canonical`]).
    pub fn canonical(&self, event_id: i64) -> String {
        json!({
            "event_id": event_id,
            "quantity": self.quantity,
            "tier": self.tier,
            "section": self.section,
        })
        .to_string()
    }
}

impl HoldRequest {
    pub fn parse(body: HoldBody, policy: &HoldPolicy) -> Result<Self, ApiError> {
        let HoldBody {
            seat_ids,
            quantity,
            tier,
            section,
        } = body;
        match (seat_ids, quantity) {
            (Some(_), Some(_)) => Err(ApiError::invalid_field(
                "quantity",
                "name the seats (seat_ids) or ask for a quantity of the best available, not both",
            )),
            (Some(seat_ids), None) => {
                if tier.is_some() || section.is_some() {
                    let path = if tier.is_some() { "tier" } else { "section" };
                    return Err(ApiError::invalid_field(
                        path,
                        "tier and section choose among the best available; send them with quantity, not seat_ids",
                    ));
                }
                SeatSelection::parse(&seat_ids, policy).map(Self::Seats)
            }
            (None, Some(quantity)) => {
                let max = policy.max_seats as i64;
                if !(1..=max).contains(&quantity) {
                    return Err(ApiError::invalid_field(
                        "quantity",
                        format!("a hold takes 1 to {max} seats; {quantity} were asked for"),
                    )
                    .with_detail("max_seats", max));
                }
                Ok(Self::BestAvailable(BestAvailable {
                    quantity,
                    tier: seating_name("tier", tier)?,
                    section: seating_name("section", section)?,
                }))
            }
            (None, None) => Err(ApiError::invalid_field(
                "seat_ids",
                "name the seats to hold (seat_ids), or ask for a quantity of the best available",
            )),
        }
    }
}

/// A tier's or a section's name as the seat map shows it, if one was sent.
fn seating_name(path: &str, name: Option<String>) -> Result<Option<String>, ApiError> {
    match name {
        Some(name) if name.trim().is_empty() || name.chars().count() > MAX_SEATING_NAME_CHARS => {
            Err(ApiError::invalid_field(
                path,
                format!(
                    "a {path} is named by 1 to {MAX_SEATING_NAME_CHARS} characters, as the seat map shows it"
                ),
            ))
        }
        name => Ok(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(body: serde_json::Value) -> Result<HoldRequest, ApiError> {
        let body: HoldBody = serde_json::from_value(body).unwrap();
        HoldRequest::parse(body, &HoldPolicy::default())
    }

    fn refused_path(body: serde_json::Value) -> String {
        let err = parsed(body).unwrap_err();
        assert_eq!(err.status, http::StatusCode::UNPROCESSABLE_ENTITY);
        err.details["path"].as_str().unwrap().to_owned()
    }

    #[test]
    fn a_body_is_chosen_seats_or_best_available() {
        assert_eq!(
            parsed(serde_json::json!({"seat_ids": [5, 2]})).unwrap(),
            HoldRequest::Seats(SeatSelection(vec![2, 5]))
        );
        assert_eq!(
            parsed(serde_json::json!({"quantity": 3, "tier": "Pitch"})).unwrap(),
            HoldRequest::BestAvailable(BestAvailable {
                quantity: 3,
                tier: Some("Pitch".into()),
                section: None
            })
        );
        assert!(parsed(serde_json::json!({"quantity": 8, "section": "Lower North"})).is_ok());
    }

    #[test]
    fn a_bad_best_available_body_names_its_field() {
        assert_eq!(refused_path(serde_json::json!({"quantity": 0})), "quantity");
        assert_eq!(refused_path(serde_json::json!({"quantity": 9})), "quantity");
        assert_eq!(
            refused_path(serde_json::json!({"quantity": -2})),
            "quantity"
        );
        assert_eq!(
            refused_path(serde_json::json!({"quantity": 2, "seat_ids": [1, 2]})),
            "quantity"
        );
        assert_eq!(
            refused_path(serde_json::json!({"seat_ids": [1], "section": "A"})),
            "section"
        );
        assert_eq!(refused_path(serde_json::json!({})), "seat_ids");
        assert_eq!(
            refused_path(serde_json::json!({"quantity": 2, "tier": " "})),
            "tier"
        );
        assert_eq!(
            refused_path(serde_json::json!({"quantity": 2, "section": "x".repeat(51)})),
            "section"
        );
    }

    #[test]
    fn selections_are_sorted_and_bounded() {
        let policy = HoldPolicy::default();
        assert_eq!(
            SeatSelection::parse(&[9, 3, 5], &policy).unwrap().ids(),
            &[3, 5, 9]
        );
        assert!(SeatSelection::parse(&[], &policy).is_err());
        assert!(SeatSelection::parse(&[1, 2, 3, 4, 5, 6, 7, 8], &policy).is_ok());
        let too_many = SeatSelection::parse(&[1, 2, 3, 4, 5, 6, 7, 8, 9], &policy).unwrap_err();
        assert_eq!(too_many.details["max_seats"], 8);
        assert!(SeatSelection::parse(&[0], &policy).is_err());
        assert!(SeatSelection::parse(&[-4], &policy).is_err());
    }

    #[test]
    fn duplicates_are_named() {
        let err = SeatSelection::parse(&[4, 7, 4, 7, 1], &HoldPolicy::default()).unwrap_err();
        assert_eq!(err.details["duplicate_seat_ids"], serde_json::json!([4, 7]));
    }

    #[test]
    fn policy_reads_settings() {
        let read = |vars| HoldPolicy::from_settings(vars);
        assert_eq!(
            read(HoldVariables::default()).unwrap(),
            HoldPolicy::default()
        );
        let p = read(HoldVariables {
            max_seats_per_hold: Some("4"),
            hold_ttl_seconds: Some("1"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!((p.max_seats, p.ttl_seconds), (4, 1));
        assert_eq!(
            p.max_held_seats_per_account, 4,
            "one hold's worth by default"
        );
        assert_eq!(p.max_tickets_per_account, 8);
        let capped = read(HoldVariables {
            max_held_seats_per_account: Some("0"),
            max_tickets_per_account: Some(" 20 "),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            (
                capped.max_held_seats_per_account,
                capped.max_tickets_per_account
            ),
            (0, 20)
        );
        for bad in [
            HoldVariables {
                max_seats_per_hold: Some("0"),
                ..Default::default()
            },
            HoldVariables {
                hold_ttl_seconds: Some("ten"),
                ..Default::default()
            },
            HoldVariables {
                max_tickets_per_account: Some("-1"),
                ..Default::default()
            },
        ] {
            assert!(read(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_same_request_reads_the_same_whatever_order_its_seats_came_in() {
        let canonical = |body, event_id| match parsed(body).unwrap() {
            HoldRequest::Seats(seats) => seats.canonical(event_id),
            HoldRequest::BestAvailable(wanted) => wanted.canonical(event_id),
        };
        let seats = canonical(serde_json::json!({"seat_ids": [3, 1, 2]}), 7);
        assert_eq!(
            seats,
            canonical(serde_json::json!({"seat_ids": [1, 2, 3]}), 7)
        );
        assert_ne!(
            seats,
            canonical(serde_json::json!({"seat_ids": [1, 2, 3]}), 8)
        );
        assert_ne!(seats, canonical(serde_json::json!({"seat_ids": [1, 2]}), 7));
        let best = canonical(serde_json::json!({"quantity": 3, "tier": "A"}), 7);
        assert_eq!(
            best,
            canonical(serde_json::json!({"tier": "A", "quantity": 3}), 7)
        );
        assert_ne!(best, canonical(serde_json::json!({"quantity": 3}), 7));
        assert_ne!(
            best,
            canonical(serde_json::json!({"quantity": 3, "section": "A"}), 7)
        );
        assert_ne!(best, seats);
    }
}

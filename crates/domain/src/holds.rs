//! Seat holds: what a hold request may ask for, and how long a hold lives.

use std::collections::BTreeSet;

use crate::ApiError;

pub const DEFAULT_MAX_SEATS_PER_HOLD: usize = 8;
pub const DEFAULT_HOLD_TTL_SECONDS: i64 = 600;

/// Limits a deployment may tune through Spin variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldPolicy {
    pub max_seats: usize,
    pub ttl_seconds: i64,
}

impl Default for HoldPolicy {
    fn default() -> Self {
        Self {
            max_seats: DEFAULT_MAX_SEATS_PER_HOLD,
            ttl_seconds: DEFAULT_HOLD_TTL_SECONDS,
        }
    }
}

impl HoldPolicy {
    /// From the raw variable values; an absent value takes the default, a malformed one is an error.
    pub fn from_settings(
        max_seats: Option<&str>,
        ttl_seconds: Option<&str>,
    ) -> Result<Self, String> {
        let defaults = Self::default();
        let max_seats = match max_seats {
            None => defaults.max_seats,
            Some(raw) => raw
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| format!("max_seats_per_hold must be 1..=100, got {raw:?}"))?,
        };
        let ttl_seconds = match ttl_seconds {
            None => defaults.ttl_seconds,
            Some(raw) => raw
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=86_400).contains(n))
                .ok_or_else(|| format!("hold_ttl_seconds must be 1..=86400, got {raw:?}"))?,
        };
        Ok(Self {
            max_seats,
            ttl_seconds,
        })
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            HoldPolicy::from_settings(None, None).unwrap(),
            HoldPolicy::default()
        );
        let p = HoldPolicy::from_settings(Some("4"), Some("1")).unwrap();
        assert_eq!((p.max_seats, p.ttl_seconds), (4, 1));
        assert!(HoldPolicy::from_settings(Some("0"), None).is_err());
        assert!(HoldPolicy::from_settings(None, Some("ten")).is_err());
    }
}

//! Check-ins at the gate: what a scanner sends, parsed, and the answers it gets.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// Scans in one upload of an offline scanner.
pub const MAX_BATCH_SCANS: usize = 500;

/// A ticket code is a compact JWT of about 300 characters; anything far longer is not one.
pub const MAX_CODE_CHARS: usize = 1024;

const MAX_NONCE_CHARS: usize = 128;

/// A scanner's id for one scan: a retry with the same nonce gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanNonce(String);

impl ScanNonce {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let printable = raw.bytes().all(|b| b.is_ascii_graphic());
        if raw.is_empty() || raw.len() > MAX_NONCE_CHARS || !printable {
            return Err(format!(
                "a nonce is 1 to {MAX_NONCE_CHARS} printable ASCII characters without spaces"
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// When an offline scanner scanned a code, from RFC 3339 text. A time in the future (the
/// scanner's clock runs fast) counts as now: the scan still uploads, and never looks
/// earlier than one made since.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ScanTime(DateTime<Utc>);

impl ScanTime {
    pub fn parse(raw: &str, now: DateTime<Utc>) -> Result<Self, String> {
        let at = DateTime::parse_from_rfc3339(raw.trim())
            .map_err(|_| format!("{raw:?} is not an RFC 3339 time such as 2026-12-01T20:15:00Z"))?
            .with_timezone(&Utc);
        Ok(Self(at.min(now)))
    }

    pub fn now(now: DateTime<Utc>) -> Self {
        Self(now)
    }

    /// RFC 3339 in UTC with milliseconds, as PostgreSQL reads it.
    pub fn to_rfc3339(self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

/// A scan's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckinStatus {
    /// Admit: the first scan of a valid ticket.
    Ok,
    AlreadyRedeemed,
    /// A bad signature, or a ticket that does not exist.
    Invalid,
    /// The ticket's order was cancelled.
    Void,
    /// A ticket of an event this gate does not scan.
    WrongEvent,
}

impl CheckinStatus {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "ok" => Some(Self::Ok),
            "already_redeemed" => Some(Self::AlreadyRedeemed),
            "invalid" => Some(Self::Invalid),
            "void" => Some(Self::Void),
            "wrong_event" => Some(Self::WrongEvent),
            _ => None,
        }
    }

    /// What the gate shows beside the colour.
    pub fn message(self, double_entry: bool) -> &'static str {
        match (self, double_entry) {
            (Self::Ok, false) => "Admit: a valid ticket, checked in now",
            (Self::Ok, true) => {
                "Admitted here first; another scan also admitted this ticket later (double entry)"
            }
            (Self::AlreadyRedeemed, false) => "Refuse: this ticket was already checked in",
            (Self::AlreadyRedeemed, true) => {
                "Double entry: this ticket had already been checked in before this scan"
            }
            (Self::Invalid, _) => "Refuse: not a ticket of ours (bad signature or unknown ticket)",
            (Self::Void, _) => "Refuse: this ticket was cancelled",
            (Self::WrongEvent, _) => "Refuse: this ticket is for another event",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-01T20:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn nonces_are_short_printable_ascii() {
        assert_eq!(ScanNonce::parse("gate-1:42").unwrap().as_str(), "gate-1:42");
        let too_long = "n".repeat(MAX_NONCE_CHARS + 1);
        for bad in ["", "with space", "tab\t", "ünï", too_long.as_str()] {
            assert!(ScanNonce::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn scan_times_are_rfc_3339_and_never_later_than_now() {
        let at = ScanTime::parse("2026-12-01T19:30:00.250+01:00", now()).unwrap();
        assert_eq!(at.to_rfc3339(), "2026-12-01T18:30:00.250Z");
        let ahead = ScanTime::parse("2026-12-01T21:00:00Z", now()).unwrap();
        assert_eq!(ahead, ScanTime::now(now()));
        for bad in ["", "yesterday", "2026-12-01 19:30", "1733000000"] {
            assert!(ScanTime::parse(bad, now()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn statuses_read_back_what_they_write() {
        for status in [
            CheckinStatus::Ok,
            CheckinStatus::AlreadyRedeemed,
            CheckinStatus::Invalid,
            CheckinStatus::Void,
            CheckinStatus::WrongEvent,
        ] {
            let text = serde_json::to_value(status).unwrap();
            assert_eq!(CheckinStatus::parse(text.as_str().unwrap()), Some(status));
            assert!(!status.message(false).is_empty());
        }
        assert_eq!(CheckinStatus::parse("nonce_reused"), None);
    }
}

//! Identifiers as they arrive in paths: parsed before they reach SQL, so a malformed
//! id is a clean 404 instead of a database error.

use uuid::Uuid;

/// A positive database id (events, seats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RowId(i64);

impl RowId {
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.is_empty() || raw.len() > 18 || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        raw.parse::<i64>().ok().filter(|v| *v > 0).map(Self)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// A UUID (users, holds, orders), kept in its canonical lower-case text form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PublicId(String);

impl PublicId {
    pub fn parse(raw: &str) -> Option<Self> {
        Uuid::parse_str(raw)
            .ok()
            .map(|id| Self(id.hyphenated().to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PublicId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_ids_are_positive_decimal_numbers() {
        assert_eq!(RowId::parse("42").map(RowId::get), Some(42));
        for bad in ["", "0", "-1", "1e3", "12a", " 1", "99999999999999999999"] {
            assert_eq!(RowId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn public_ids_are_canonical_uuids() {
        let id = PublicId::parse("6F9619FF-8B86-D011-B42D-00C04FC964FF").unwrap();
        assert_eq!(id.as_str(), "6f9619ff-8b86-d011-b42d-00c04fc964ff");
        assert!(PublicId::parse("not-a-uuid").is_none());
        assert!(PublicId::parse("' OR 1=1 --").is_none());
    }
}

//! Catalog queries: the filters, sort orders and pages a buyer may ask for.

use chrono::{DateTime, NaiveDate, Utc};

use crate::ApiError;

pub const DEFAULT_PAGE_SIZE: i64 = 20;
pub const MAX_PAGE_SIZE: i64 = 100;
const MAX_SEARCH_CHARS: usize = 100;
const MAX_PAGE: i64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Concert,
    Theater,
    Sports,
    Festival,
    Conference,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::Concert,
        Category::Theater,
        Category::Sports,
        Category::Festival,
        Category::Conference,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Concert => "concert",
            Category::Theater => "theater",
            Category::Sports => "sports",
            Category::Festival => "festival",
            Category::Conference => "conference",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    DateAscending,
    DateDescending,
    PriceAscending,
    PriceDescending,
}

impl SortOrder {
    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "date" => Some(Self::DateAscending),
            "-date" => Some(Self::DateDescending),
            "price" => Some(Self::PriceAscending),
            "-price" => Some(Self::PriceDescending),
            _ => None,
        }
    }

    /// The ORDER BY clause; chosen from this fixed set, never built from input.
    pub fn sql(self) -> &'static str {
        match self {
            Self::DateAscending => "e.starts_at ASC, e.id ASC",
            Self::DateDescending => "e.starts_at DESC, e.id DESC",
            Self::PriceAscending => "e.min_price_cents ASC NULLS LAST, e.starts_at ASC, e.id ASC",
            Self::PriceDescending => "e.min_price_cents DESC NULLS LAST, e.starts_at ASC, e.id ASC",
        }
    }
}

/// A parsed `GET /api/events` query.
#[derive(Debug, Clone, PartialEq)]
pub struct EventQuery {
    pub category: Option<Category>,
    /// The search text as a LIKE pattern with `%`, `_` and `\` escaped.
    pub search_pattern: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub sort: SortOrder,
    pub page: i64,
    pub page_size: i64,
}

impl EventQuery {
    /// Parses `key=value` pairs (already percent-decoded). Unknown keys are ignored,
    /// as browsers and proxies add their own.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ApiError> {
        let mut query = EventQuery {
            category: None,
            search_pattern: None,
            from: None,
            to: None,
            sort: SortOrder::DateAscending,
            page: 1,
            page_size: DEFAULT_PAGE_SIZE,
        };
        for (key, value) in pairs {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            match key {
                "category" => {
                    query.category = Some(Category::parse(value).ok_or_else(|| {
                        ApiError::validation(format!(
                            "unknown category {value:?}; use one of concert, theater, sports, festival, conference"
                        ))
                    })?)
                }
                "q" => {
                    if value.chars().count() > MAX_SEARCH_CHARS {
                        return Err(ApiError::validation(format!(
                            "q is limited to {MAX_SEARCH_CHARS} characters"
                        )));
                    }
                    query.search_pattern = Some(like_pattern(value));
                }
                "from" => query.from = Some(parse_instant(key, value, false)?),
                "to" => query.to = Some(parse_instant(key, value, true)?),
                "sort" => {
                    query.sort = SortOrder::parse(value).ok_or_else(|| {
                        ApiError::validation("sort must be one of date, -date, price, -price")
                    })?
                }
                "page" => query.page = parse_bounded(key, value, 1, MAX_PAGE)?,
                "page_size" => query.page_size = parse_bounded(key, value, 1, MAX_PAGE_SIZE)?,
                _ => {}
            }
        }
        if let (Some(from), Some(to)) = (query.from, query.to)
            && from > to
        {
            return Err(ApiError::validation("from must not be after to"));
        }
        Ok(query)
    }

    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.page_size
    }
}

fn parse_bounded(key: &str, value: &str, min: i64, max: i64) -> Result<i64, ApiError> {
    value
        .parse::<i64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            ApiError::validation(format!("{key} must be a whole number from {min} to {max}"))
        })
}

/// Accepts RFC 3339 instants or plain dates; a plain `to` date includes that whole day.
fn parse_instant(key: &str, value: &str, end_of_day: bool) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(value) {
        return Ok(instant.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
        ApiError::validation(format!(
            "{key} must be a date (2026-05-01) or an RFC 3339 time (2026-05-01T20:00:00Z)"
        ))
    })?;
    let time = if end_of_day {
        date.and_hms_milli_opt(23, 59, 59, 999)
    } else {
        date.and_hms_opt(0, 0, 0)
    };
    time.map(|t| t.and_utc())
        .ok_or_else(|| ApiError::validation(format!("{key} is not a valid date")))
}

fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_when_nothing_is_asked() {
        let q = EventQuery::parse([]).unwrap();
        assert_eq!(
            (q.page, q.page_size, q.sort),
            (1, 20, SortOrder::DateAscending)
        );
        assert_eq!(q.offset(), 0);
    }

    #[test]
    fn every_filter_parses() {
        let q = EventQuery::parse([
            ("category", "concert"),
            ("q", "50%_off\\"),
            ("from", "2026-05-01"),
            ("to", "2026-05-31"),
            ("sort", "-price"),
            ("page", "3"),
            ("page_size", "10"),
            ("utm_source", "ignored"),
        ])
        .unwrap();
        assert_eq!(q.category, Some(Category::Concert));
        assert_eq!(q.search_pattern.as_deref(), Some("%50\\%\\_off\\\\%"));
        assert_eq!(q.from.unwrap().to_rfc3339(), "2026-05-01T00:00:00+00:00");
        assert_eq!(q.to.unwrap().to_rfc3339(), "2026-05-31T23:59:59.999+00:00");
        assert_eq!(q.sort, SortOrder::PriceDescending);
        assert_eq!(q.offset(), 20);
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        for (key, value) in [
            ("category", "opera"),
            ("sort", "popularity"),
            ("page", "0"),
            ("page", "x"),
            ("page_size", "101"),
            ("from", "yesterday"),
        ] {
            let err = EventQuery::parse([(key, value)]).unwrap_err();
            assert_eq!(
                err.status,
                http::StatusCode::UNPROCESSABLE_ENTITY,
                "{key}={value}"
            );
        }
        assert!(EventQuery::parse([("from", "2026-06-01"), ("to", "2026-05-01")]).is_err());
        assert!(EventQuery::parse([("q", "x".repeat(101).as_str())]).is_err());
    }
}

//! What an organizer sends to create or change an event, parsed into values that cannot
//! describe an impossible event. Every refusal names the offending field by its path in
//! the body (`sections[1].rows[0].tier`), so a form can point at it.

use std::collections::HashSet;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiError;
use crate::catalog::Category;

/// More seats than this in one event are refused: the stadium of the seed catalog has 6,000.
pub const MAX_SEATS_PER_EVENT: i64 = 20_000;
pub const MAX_TIERS: usize = 20;
pub const MAX_SECTIONS: usize = 100;
pub const MAX_ROWS_PER_SECTION: usize = 200;
pub const MAX_SEATS_PER_ROW: i64 = 1_000;
/// Per-account ticket caps beyond this are a typo, not a policy.
pub const MAX_TICKETS_CAP: i64 = 100;
/// An event without an end is taken to last this long.
const DEFAULT_DURATION_HOURS: i64 = 3;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventDraftBody {
    pub title: String,
    pub category: String,
    #[serde(default)]
    pub description: String,
    pub venue: String,
    pub city: String,
    pub starts_at: String,
    pub ends_at: Option<String>,
    pub sales_start: String,
    pub sales_end: Option<String>,
    pub max_tickets_per_account: Option<i64>,
    pub tiers: Vec<TierBody>,
    pub sections: Vec<SectionBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierBody {
    pub name: String,
    pub price_cents: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionBody {
    pub name: String,
    pub rows: Vec<RowBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowBody {
    pub name: String,
    pub seats: i64,
    pub tier: String,
}

/// An event's title, description, place and category.
#[derive(Debug, Clone, PartialEq)]
pub struct EventText {
    pub title: String,
    pub category: Category,
    pub description: String,
    pub venue: String,
    pub city: String,
}

/// When an event happens and when it sells. Sales open before the event starts and close
/// no later than its start; an event ends after it starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub sales_start: DateTime<Utc>,
    pub sales_end: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    pub name: String,
    pub price_cents: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: String,
    pub seats: i64,
    pub tier: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub name: String,
    pub rows: Vec<Row>,
}

/// A new event: its text, schedule, caps, price tiers and seat layout, all consistent.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDraft {
    pub text: EventText,
    pub schedule: Schedule,
    pub max_tickets_per_account: Option<i64>,
    pub tiers: Vec<Tier>,
    pub sections: Vec<Section>,
}

impl EventDraft {
    pub fn parse(body: EventDraftBody, now: DateTime<Utc>) -> Result<Self, ApiError> {
        let text = EventText {
            title: bounded_text("title", &body.title, 1, 200)?,
            category: Category::parse(&body.category).ok_or_else(|| {
                ApiError::invalid_field(
                    "category",
                    "must be one of concert, theater, sports, festival, conference",
                )
            })?,
            description: bounded_text("description", &body.description, 0, 5000)?,
            venue: bounded_text("venue", &body.venue, 1, 200)?,
            city: bounded_text("city", &body.city, 1, 100)?,
        };
        let starts_at = timestamp("starts_at", &body.starts_at)?;
        let schedule = Schedule::parse(
            ScheduleFields {
                starts_at,
                ends_at: body
                    .ends_at
                    .as_deref()
                    .map(|raw| timestamp("ends_at", raw))
                    .transpose()?
                    .unwrap_or(starts_at + Duration::hours(DEFAULT_DURATION_HOURS)),
                sales_start: timestamp("sales_start", &body.sales_start)?,
                sales_end: body
                    .sales_end
                    .as_deref()
                    .map(|raw| timestamp("sales_end", raw))
                    .transpose()?,
            },
            now,
        )?;
        let max_tickets_per_account = body.max_tickets_per_account.map(tickets_cap).transpose()?;
        let tiers = parse_tiers(body.tiers)?;
        let sections = parse_layout(body.sections, &tiers)?;
        Ok(Self {
            text,
            schedule,
            max_tickets_per_account,
            tiers,
            sections,
        })
    }

    pub fn seat_count(&self) -> i64 {
        self.sections
            .iter()
            .flat_map(|s| &s.rows)
            .map(|r| r.seats)
            .sum()
    }

    /// The draft as `catalog.create_event` reads it, under the given slug.
    pub fn to_json(&self, slug: &str) -> Value {
        json!({
            "slug": slug,
            "title": self.text.title,
            "category": self.text.category.as_str(),
            "description": self.text.description,
            "venue": self.text.venue,
            "city": self.text.city,
            "starts_at": rfc3339(self.schedule.starts_at),
            "ends_at": rfc3339(self.schedule.ends_at),
            "sales_start": rfc3339(self.schedule.sales_start),
            "sales_end": self.schedule.sales_end.map(rfc3339),
            "max_tickets_per_account": self.max_tickets_per_account,
            "tiers": self.tiers.iter().map(|t| json!({"name": t.name, "price_cents": t.price_cents})).collect::<Vec<_>>(),
            "sections": self.sections.iter().map(|s| json!({
                "name": s.name,
                "rows": s.rows.iter().map(|r| json!({"name": r.name, "seats": r.seats, "tier": r.tier})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }
}

pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The four instants of a schedule, before their order is checked.
#[derive(Debug, Clone, Copy)]
pub struct ScheduleFields {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub sales_start: DateTime<Utc>,
    pub sales_end: Option<DateTime<Utc>>,
}

impl Schedule {
    /// The schedule, if its instants are in order and the event is still to come.
    pub fn parse(fields: ScheduleFields, now: DateTime<Utc>) -> Result<Self, ApiError> {
        let ScheduleFields {
            starts_at,
            ends_at,
            sales_start,
            sales_end,
        } = fields;
        if starts_at <= now {
            return Err(ApiError::invalid_field(
                "starts_at",
                "must be in the future",
            ));
        }
        if ends_at <= starts_at {
            return Err(ApiError::invalid_field(
                "ends_at",
                "must be after starts_at",
            ));
        }
        if sales_start >= starts_at {
            return Err(ApiError::invalid_field(
                "sales_start",
                "must be before starts_at",
            ));
        }
        if let Some(end) = sales_end {
            if end <= sales_start {
                return Err(ApiError::invalid_field(
                    "sales_end",
                    "must be after sales_start",
                ));
            }
            if end > starts_at {
                return Err(ApiError::invalid_field(
                    "sales_end",
                    "must be no later than starts_at",
                ));
            }
        }
        Ok(Self {
            starts_at,
            ends_at,
            sales_start,
            sales_end,
        })
    }
}

/// A per-account ticket cap: 0 (none) to [`MAX_TICKETS_CAP`].
pub fn tickets_cap(raw: i64) -> Result<i64, ApiError> {
    if (0..=MAX_TICKETS_CAP).contains(&raw) {
        Ok(raw)
    } else {
        Err(ApiError::invalid_field(
            "max_tickets_per_account",
            format!("must be 0 (no cap) to {MAX_TICKETS_CAP}"),
        ))
    }
}

/// Text trimmed and within `min..=max` characters, without control characters.
pub fn bounded_text(path: &str, raw: &str, min: usize, max: usize) -> Result<String, ApiError> {
    let text = raw.trim();
    let chars = text.chars().count();
    if chars < min || chars > max {
        return Err(ApiError::invalid_field(
            path,
            if min == 0 {
                format!("must have at most {max} characters")
            } else {
                format!("must have {min} to {max} characters")
            },
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ApiError::invalid_field(
            path,
            "must not contain control characters",
        ));
    }
    Ok(text.to_owned())
}

/// An RFC 3339 instant with its offset, e.g. `2027-03-01T20:00:00Z`.
pub fn timestamp(path: &str, raw: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::invalid_field(
                path,
                "must be an RFC 3339 date and time with its offset, e.g. 2027-03-01T20:00:00Z",
            )
        })
}

/// A tier's price: positive cents, below a million euros.
pub fn price_cents(path: &str, raw: i64) -> Result<i64, ApiError> {
    if raw > 0 && raw < 100_000_000 {
        Ok(raw)
    } else {
        Err(ApiError::invalid_field(
            path,
            "must be a positive number of cents below 100000000",
        ))
    }
}

fn parse_tiers(raw: Vec<TierBody>) -> Result<Vec<Tier>, ApiError> {
    if raw.is_empty() || raw.len() > MAX_TIERS {
        return Err(ApiError::invalid_field(
            "tiers",
            format!("must have 1 to {MAX_TIERS} tiers"),
        ));
    }
    let mut names = HashSet::new();
    raw.into_iter()
        .enumerate()
        .map(|(i, tier)| {
            let name = bounded_text(&format!("tiers[{i}].name"), &tier.name, 1, 50)?;
            if !names.insert(name.clone()) {
                return Err(ApiError::invalid_field(
                    &format!("tiers[{i}].name"),
                    format!("tier {name:?} is named twice"),
                ));
            }
            let price_cents = price_cents(&format!("tiers[{i}].price_cents"), tier.price_cents)?;
            Ok(Tier { name, price_cents })
        })
        .collect()
}

fn parse_layout(raw: Vec<SectionBody>, tiers: &[Tier]) -> Result<Vec<Section>, ApiError> {
    if raw.is_empty() || raw.len() > MAX_SECTIONS {
        return Err(ApiError::invalid_field(
            "sections",
            format!("must have 1 to {MAX_SECTIONS} sections"),
        ));
    }
    let mut section_names = HashSet::new();
    let mut total = 0_i64;
    raw.into_iter()
        .enumerate()
        .map(|(si, section)| {
            let path = format!("sections[{si}]");
            let name = bounded_text(&format!("{path}.name"), &section.name, 1, 50)?;
            if !section_names.insert(name.clone()) {
                return Err(ApiError::invalid_field(
                    &format!("{path}.name"),
                    format!("section {name:?} is named twice"),
                ));
            }
            if section.rows.is_empty() || section.rows.len() > MAX_ROWS_PER_SECTION {
                return Err(ApiError::invalid_field(
                    &format!("{path}.rows"),
                    format!("must have 1 to {MAX_ROWS_PER_SECTION} rows"),
                ));
            }
            let mut row_names = HashSet::new();
            let rows = section
                .rows
                .into_iter()
                .enumerate()
                .map(|(ri, row)| {
                    let path = format!("{path}.rows[{ri}]");
                    let row_name = bounded_text(&format!("{path}.name"), &row.name, 1, 10)?;
                    if !row_names.insert(row_name.clone()) {
                        return Err(ApiError::invalid_field(
                            &format!("{path}.name"),
                            format!("row {row_name:?} is named twice in section {name:?}"),
                        ));
                    }
                    if row.seats < 1 || row.seats > MAX_SEATS_PER_ROW {
                        return Err(ApiError::invalid_field(
                            &format!("{path}.seats"),
                            format!("must be 1 to {MAX_SEATS_PER_ROW}"),
                        ));
                    }
                    total += row.seats;
                    if total > MAX_SEATS_PER_EVENT {
                        return Err(ApiError::invalid_field(
                            &format!("{path}.seats"),
                            format!("the layout exceeds {MAX_SEATS_PER_EVENT} seats here"),
                        ));
                    }
                    if !tiers.iter().any(|t| t.name == row.tier) {
                        return Err(ApiError::invalid_field(
                            &format!("{path}.tier"),
                            format!("there is no tier {:?} in tiers", row.tier),
                        ));
                    }
                    Ok(Row {
                        name: row_name,
                        seats: row.seats,
                        tier: row.tier,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Section { name, rows })
        })
        .collect()
}

/// A URL-friendly name for an event: the title's letters and digits in lower case, words
/// joined by `-`, and `suffix` to make it unique.
pub fn slug(title: &str, suffix: &str) -> String {
    let words: Vec<String> = title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .take(8)
        .collect();
    let suffix: String = suffix
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let mut parts = words;
    if !suffix.is_empty() {
        parts.push(suffix);
    }
    if parts.is_empty() {
        "event".into()
    } else {
        parts.join("-")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2027-01-01T12:00:00Z".parse().unwrap()
    }

    fn body(layout: Value) -> EventDraftBody {
        let mut body = json!({
            "title": "Quartet", "category": "concert", "description": "Strings",
            "venue": "Hall", "city": "Madrid",
            "starts_at": "2027-03-01T20:00:00Z", "sales_start": "2027-02-01T10:00:00+01:00",
            "tiers": [{"name": "Front", "price_cents": 4000}, {"name": "Back", "price_cents": 2000}],
            "sections": [{"name": "Stalls", "rows": [
                {"name": "A", "seats": 10, "tier": "Front"},
                {"name": "B", "seats": 12, "tier": "Back"}]}]
        });
        if let (Value::Object(body), Value::Object(layout)) = (&mut body, layout) {
            body.extend(layout);
        }
        serde_json::from_value(body).unwrap()
    }

    fn refusal(layout: Value) -> (String, String) {
        let err = EventDraft::parse(body(layout), now()).unwrap_err();
        assert_eq!(err.status, http::StatusCode::UNPROCESSABLE_ENTITY);
        (
            err.details["path"].as_str().unwrap().to_owned(),
            err.message,
        )
    }

    #[test]
    fn a_good_draft_parses_with_defaults() {
        let draft = EventDraft::parse(body(json!({})), now()).unwrap();
        assert_eq!(draft.seat_count(), 22);
        assert_eq!(draft.text.category, Category::Concert);
        assert_eq!(
            rfc3339(draft.schedule.ends_at),
            "2027-03-01T23:00:00Z",
            "three hours unless said"
        );
        assert_eq!(
            rfc3339(draft.schedule.sales_start),
            "2027-02-01T09:00:00Z",
            "offsets are kept"
        );
        let json = draft.to_json("quartet-1");
        assert_eq!(json["sections"][0]["rows"][1]["tier"], "Back");
        assert_eq!(json["sales_end"], Value::Null);
    }

    #[test]
    fn bad_layouts_name_their_path() {
        let cases = [
            (
                json!({"sections": [{"name": "S", "rows": [{"name": "A", "seats": 3, "tier": "Gold"}]}]}),
                "sections[0].rows[0].tier",
            ),
            (
                json!({"sections": [{"name": "S", "rows": []}]}),
                "sections[0].rows",
            ),
            (json!({"sections": []}), "sections"),
            (
                json!({"sections": [{"name": "S", "rows": [{"name": "A", "seats": 0, "tier": "Front"}]}]}),
                "sections[0].rows[0].seats",
            ),
            (
                json!({"sections": [
                    {"name": "S", "rows": [{"name": "A", "seats": 1, "tier": "Front"}]},
                    {"name": "T", "rows": [{"name": "A", "seats": 1, "tier": "Front"}, {"name": "A", "seats": 1, "tier": "Back"}]}]}),
                "sections[1].rows[1].name",
            ),
            (
                json!({"sections": [
                    {"name": "S", "rows": [{"name": "A", "seats": 1, "tier": "Front"}]},
                    {"name": "S", "rows": [{"name": "A", "seats": 1, "tier": "Front"}]}]}),
                "sections[1].name",
            ),
            (
                json!({"tiers": [{"name": "Front", "price_cents": 0}]}),
                "tiers[0].price_cents",
            ),
            (
                json!({"tiers": [{"name": "Front", "price_cents": -5}]}),
                "tiers[0].price_cents",
            ),
            (
                json!({"tiers": [{"name": "Front", "price_cents": 5}, {"name": "Front", "price_cents": 6}]}),
                "tiers[1].name",
            ),
            (json!({"tiers": []}), "tiers"),
            (json!({"title": "  "}), "title"),
            (json!({"category": "opera"}), "category"),
            (json!({"starts_at": "next friday"}), "starts_at"),
            (json!({"starts_at": "2026-01-01T00:00:00Z"}), "starts_at"),
            (json!({"ends_at": "2027-03-01T19:00:00Z"}), "ends_at"),
            (
                json!({"sales_start": "2027-03-02T00:00:00Z"}),
                "sales_start",
            ),
            (json!({"sales_end": "2027-01-01T00:00:00Z"}), "sales_end"),
            (json!({"sales_end": "2027-03-02T00:00:00Z"}), "sales_end"),
            (
                json!({"max_tickets_per_account": 1000}),
                "max_tickets_per_account",
            ),
        ];
        for (layout, path) in cases {
            let (got, message) = refusal(layout.clone());
            assert_eq!(got, path, "{layout}: {message}");
            assert!(message.starts_with(path), "{message}");
        }
    }

    #[test]
    fn more_than_twenty_thousand_seats_are_refused_at_the_row_that_crosses() {
        let rows: Vec<Value> = (0..21)
            .map(|i| json!({"name": format!("R{i}"), "seats": 1000, "tier": "Front"}))
            .collect();
        let (path, _) = refusal(json!({"sections": [{"name": "Bowl", "rows": rows}]}));
        assert_eq!(path, "sections[0].rows[20].seats");
        let rows: Vec<Value> = (0..20)
            .map(|i| json!({"name": format!("R{i}"), "seats": 1000, "tier": "Front"}))
            .collect();
        let draft = EventDraft::parse(
            body(json!({"sections": [{"name": "Bowl", "rows": rows}]})),
            now(),
        )
        .unwrap();
        assert_eq!(draft.seat_count(), MAX_SEATS_PER_EVENT);
    }

    #[test]
    fn slugs_are_lowercase_words_and_a_suffix() {
        assert_eq!(
            slug("Hamlet — Teatro Español!", "A1b2"),
            "hamlet-teatro-espa-ol-a1b2"
        );
        assert_eq!(slug("¡¡!!", ""), "event");
        assert_eq!(slug("", "x9"), "x9");
    }
}

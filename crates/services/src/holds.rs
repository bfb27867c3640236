//! Seat holds: `POST /api/events/{id}/holds`, `GET /api/holds`, `DELETE /api/holds/{id}`.
//!
//! A hold is one SQL statement, `catalog.hold_seats`: it locks the requested seats in id
//! order (so concurrent holds cannot deadlock), checks that every one is free *after* any
//! concurrent holder committed, and only then inserts the hold and marks the seats.
//! Either all seats are taken or none.
//!
//! A best-available hold (`{quantity, tier?, section?}`) is one statement too,
//! `catalog.hold_best_available`: it ranks the free blocks, locks the best one that no
//! concurrent hold has locked, and takes it under the same caps and checks (see
//! migration 19).
//!
//! Either kind takes an optional `Idempotency-Key`: the same request sent again with the
//! same key answers the hold the first attempt made (see migration 21).

use http::{Method, StatusCode};
use serde_json::json;
use ticketbuster_domain::ApiError;
use ticketbuster_domain::account::Role;
use ticketbuster_domain::holds::{BestAvailable, HoldBody, HoldPolicy, HoldRequest, SeatSelection};
use ticketbuster_domain::idempotency::IdempotencyKey;
use ticketbuster_domain::ids::{PublicId, RowId};
use ticketbuster_domain::token::Caller;

use crate::backend::{Backend, BackendError, Param, Row, query_one};
use crate::catalog::invalidate_event;
use crate::identity::{Authenticator, authenticate};
use crate::rate_limit::{Limit, RateLimits, limited};
use crate::seat_changes::{SeatChange, SeatStatus, seats_changed, seats_held};
use crate::waiting_room::require_admission;
use crate::web::{self, Request, Response};

pub struct HoldSettings {
    pub authenticator: Authenticator,
    pub policy: HoldPolicy,
    pub limits: RateLimits,
}

pub async fn handle(backend: &impl Backend, settings: &HoldSettings, req: Request) -> Response {
    web::respond(route(backend, settings, &req).await)
}

async fn route(
    backend: &impl Backend,
    settings: &HoldSettings,
    req: &Request,
) -> Result<Response, ApiError> {
    let segments = web::segments(req);
    let method = req.method().clone();
    let known_path = matches!(
        segments.as_slice(),
        ["api", "events", _, "holds"] | ["api", "holds"] | ["api", "holds", _]
    );
    if !known_path {
        return Err(ApiError::not_found("no such hold endpoint"));
    }
    let caller = authenticate(backend, &settings.authenticator, req).await?;
    match (segments.as_slice(), method) {
        (["api", "events", event_id, "holds"], Method::POST) => {
            let event_id = RowId::parse(event_id)
                .ok_or_else(|| ApiError::not_found(format!("there is no event {event_id:?}")))?;
            limited(
                backend,
                &settings.limits,
                Limit::AccountWrites,
                &caller.user_id,
                create(backend, settings, &caller, event_id.get(), req),
            )
            .await
        }
        (["api", "holds"], Method::GET) => list(backend, &caller).await,
        (["api", "holds", hold_id], Method::DELETE) => {
            let hold_id = PublicId::parse(hold_id)
                .ok_or_else(|| ApiError::not_found("there is no such hold"))?;
            limited(
                backend,
                &settings.limits,
                Limit::AccountWrites,
                &caller.user_id,
                release(backend, &caller, &hold_id),
            )
            .await
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// Takes every requested seat of a bookable event for a new hold, or none of them, within
/// the account's caps (see the `catalog.hold_seats` migrations for how); or answers the
/// hold this Idempotency-Key made (`replay`).
/// Parameters: $1 event id, $2 seat ids (sorted), $3 user id, $4 TTL in seconds, $5 the
/// held-seats cap, $6 the tickets cap unless the event sets one (0: no cap), $7 the
/// Idempotency-Key or NULL, $8 the request's canonical text or NULL.
pub const HOLD_SQL: &str =
    "SELECT event_open, hold_id, expires_at, unavailable, unknown, cap, cap_limit, seats_allowed, replay
     FROM catalog.hold_seats($1::int8, $2::int8[], $3::text::uuid, $4::int8, $5::int8, $6::int8,
                             $7::text, $8::text)";

/// The parameters of [`HOLD_SQL`], in order.
pub fn hold_params(
    event_id: i64,
    seats: &SeatSelection,
    user_id: &str,
    policy: &HoldPolicy,
    key: Option<&IdempotencyKey>,
) -> Vec<Param> {
    vec![
        event_id.into(),
        seats.ids().into(),
        user_id.into(),
        policy.ttl_seconds.into(),
        policy.max_held_seats_per_account.into(),
        policy.max_tickets_per_account.into(),
        key.map(IdempotencyKey::as_str).into(),
        key.map(|_| seats.canonical(event_id)).into(),
    ]
}

/// Picks and takes the best `quantity` adjacent seats of a bookable event for a new hold,
/// within the account's caps (see migration 19 for how and what "best" is).
/// Parameters: $1 event id, $2 quantity, $3 tier name or NULL, $4 section name or NULL,
/// $5 user id, $6 TTL in seconds, $7 the held-seats cap, $8 the tickets cap, $9 and $10 the
/// Idempotency-Key and the request's canonical text (as for [`HOLD_SQL`]).
pub const BEST_AVAILABLE_SQL: &str =
    "SELECT event_open, unknown_field, hold_id, expires_at, seat_ids,
            cap, cap_limit, seats_allowed, seats_left, largest_block, replay
     FROM catalog.hold_best_available($1::int8, $2::int8, $3::text, $4::text, $5::text::uuid,
                                      $6::int8, $7::int8, $8::int8, $9::text, $10::text)";

/// The parameters of [`BEST_AVAILABLE_SQL`], in order.
pub fn best_available_params(
    event_id: i64,
    wanted: &BestAvailable,
    user_id: &str,
    policy: &HoldPolicy,
    key: Option<&IdempotencyKey>,
) -> Vec<Param> {
    vec![
        event_id.into(),
        wanted.quantity.into(),
        wanted.tier.as_deref().into(),
        wanted.section.as_deref().into(),
        user_id.into(),
        policy.ttl_seconds.into(),
        policy.max_held_seats_per_account.into(),
        policy.max_tickets_per_account.into(),
        key.map(IdempotencyKey::as_str).into(),
        key.map(|_| wanted.canonical(event_id)).into(),
    ]
}

/// The answer to a hold over one of the account's caps: which cap, its limit, and how
/// many more seats the account may hold on this event now.
fn over_cap(cap: &str, limit: i64, allowed: i64) -> ApiError {
    let (code, message) = match cap {
        "tickets" => (
            "ticket_cap_reached",
            format!(
                "an account may have at most {limit} seats for this event, held, ordered \
                 and bought together; it may hold {allowed} more"
            ),
        ),
        _ => (
            "hold_cap_reached",
            format!(
                "an account may hold at most {limit} seats for this event at once; it may \
                 hold {allowed} more now, or more once it orders or releases a hold"
            ),
        ),
    };
    ApiError::conflict(code, message)
        .with_detail("cap", cap)
        .with_detail("cap_limit", limit)
        .with_detail("seats_allowed", allowed)
}

async fn create(
    backend: &impl Backend,
    settings: &HoldSettings,
    caller: &Caller,
    event_id: i64,
    req: &Request,
) -> Result<Response, ApiError> {
    caller.require_role(Role::Customer)?;
    let verifier = settings.authenticator.local_verifier();
    require_admission(backend, verifier, req, caller, event_id).await?;
    let key = IdempotencyKey::optional(web::header_as_sent(req, "idempotency-key").as_deref())?;
    let body: HoldBody = web::parse_json(req)?;
    let attempt = Attempt {
        caller,
        event_id,
        key: key.as_ref(),
    };
    match HoldRequest::parse(body, &settings.policy)? {
        HoldRequest::Seats(seats) => hold_chosen(backend, settings, &attempt, &seats).await,
        HoldRequest::BestAvailable(wanted) => {
            hold_best_available(backend, settings, &attempt, &wanted).await
        }
    }
}

/// Who holds on which event, with the Idempotency-Key they sent if any.
struct Attempt<'a> {
    caller: &'a Caller,
    event_id: i64,
    key: Option<&'a IdempotencyKey>,
}

/// What a hold made with an Idempotency-Key answers when the key was sent before.
/// The hold it made is answered again as it was first (its seats read by `seat_ids`); a
/// hold that ended or a key used for another request is refused.
async fn replayed(
    backend: &impl Backend,
    event_id: i64,
    row: &Row,
    seat_ids: impl FnOnce() -> Result<Vec<i64>, BackendError>,
) -> Result<Option<Response>, ApiError> {
    let Some(replay) = row.opt_text("replay")? else {
        return Ok(None);
    };
    match replay.as_str() {
        "replayed" => {
            let hold_id = row.text("hold_id")?;
            let mut response = held(
                backend,
                event_id,
                &hold_id,
                &seat_ids()?,
                &row.text("expires_at")?,
            )
            .await;
            response.headers_mut().insert(
                "idempotent-replayed",
                http::HeaderValue::from_static("true"),
            );
            Ok(Some(response))
        }
        "ended" => Err(ApiError::conflict(
            "hold_ended",
            "the hold this Idempotency-Key made has expired or was released; \
             hold again with a fresh key",
        )
        .with_detail("hold_id", row.text("hold_id")?)),
        _ => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key already made a hold for another request; \
             use a fresh key for a new hold",
        )),
    }
}

/// The refusals both kinds of hold share: the event is not on sale, or a cap says no.
async fn refused(backend: &impl Backend, event_id: i64, row: &Row) -> Result<(), ApiError> {
    if !row.bool("event_open")? {
        return Err(not_on_sale(backend, event_id).await);
    }
    if let Some(cap) = row.opt_text("cap")? {
        return Err(over_cap(
            &cap,
            row.int("cap_limit")?,
            row.int("seats_allowed")?,
        ));
    }
    Ok(())
}

async fn hold_chosen(
    backend: &impl Backend,
    settings: &HoldSettings,
    attempt: &Attempt<'_>,
    seats: &SeatSelection,
) -> Result<Response, ApiError> {
    let event_id = attempt.event_id;
    let params = hold_params(
        event_id,
        seats,
        &attempt.caller.user_id,
        &settings.policy,
        attempt.key,
    );
    let row = query_one(backend, HOLD_SQL, &params).await?;
    if let Some(response) = replayed(backend, event_id, &row, || Ok(seats.ids().to_vec())).await? {
        return Ok(response);
    }
    refused(backend, event_id, &row).await?;
    let unknown = row.int_array("unknown")?;
    if !unknown.is_empty() {
        return Err(ApiError::validation(format!(
            "{} of the seats are not seats of event {event_id}",
            unknown.len()
        ))
        .with_detail("unknown_seat_ids", unknown));
    }
    let Some(hold_id) = row.opt_text("hold_id")? else {
        // The caller chose from a map that is out of date, and will read it again.
        invalidate_event(backend, event_id).await;
        let unavailable = row.int_array("unavailable")?;
        return Err(ApiError::conflict(
            "seats_unavailable",
            format!(
                "{} of the {} seats are no longer available; nothing was held",
                unavailable.len(),
                seats.len()
            ),
        )
        .with_detail("unavailable_seat_ids", unavailable));
    };
    Ok(held(
        backend,
        event_id,
        &hold_id,
        seats.ids(),
        &row.text("expires_at")?,
    )
    .await)
}

async fn hold_best_available(
    backend: &impl Backend,
    settings: &HoldSettings,
    attempt: &Attempt<'_>,
    wanted: &BestAvailable,
) -> Result<Response, ApiError> {
    let event_id = attempt.event_id;
    let params = best_available_params(
        event_id,
        wanted,
        &attempt.caller.user_id,
        &settings.policy,
        attempt.key,
    );
    let row = query_one(backend, BEST_AVAILABLE_SQL, &params).await?;
    if let Some(response) = replayed(backend, event_id, &row, || row.int_array("seat_ids")).await? {
        return Ok(response);
    }
    refused(backend, event_id, &row).await?;
    if let Some(field) = row.opt_text("unknown_field")? {
        let name = match field.as_str() {
            "tier" => &wanted.tier,
            _ => &wanted.section,
        };
        return Err(ApiError::invalid_field(
            &field,
            format!(
                "event {event_id} has no {field} named {:?}; use a name its seat map shows",
                name.as_deref().unwrap_or_default()
            ),
        ));
    }
    let Some(hold_id) = row.opt_text("hold_id")? else {
        return Err(not_enough_adjacent_seats(
            wanted,
            row.int("seats_left")?,
            row.int("largest_block")?,
        ));
    };
    let seat_ids = row.int_array("seat_ids")?;
    Ok(held(
        backend,
        event_id,
        &hold_id,
        &seat_ids,
        &row.text("expires_at")?,
    )
    .await)
}

/// No block of the size asked for is free in one row, among the tier and section asked
/// for: how many seats are left there, and how many of them sit together at most.
fn not_enough_adjacent_seats(wanted: &BestAvailable, left: i64, largest: i64) -> ApiError {
    let among = match (&wanted.tier, &wanted.section) {
        (Some(tier), Some(section)) => format!(" of tier {tier:?} in section {section:?}"),
        (Some(tier), None) => format!(" of tier {tier:?}"),
        (None, Some(section)) => format!(" in section {section:?}"),
        (None, None) => String::new(),
    };
    ApiError::conflict(
        "not_enough_adjacent_seats",
        format!(
            "no {} adjacent seats{among} are left in one row; {left} seats are left there, \
             at most {largest} of them together; nothing was held",
            wanted.quantity
        ),
    )
    .with_detail("seats_left", left)
    .with_detail("largest_block", largest)
}

/// Tells the event's viewers the seats are held, and answers the new hold.
async fn held(
    backend: &impl Backend,
    event_id: i64,
    hold_id: &str,
    seat_ids: &[i64],
    expires_at: &str,
) -> Response {
    seats_held(
        backend,
        &SeatChange {
            id: format!("{hold_id}:held"),
            event_id,
            seat_ids,
            status: SeatStatus::Held,
        },
    )
    .await;
    web::json(
        StatusCode::CREATED,
        &json!({
            "hold_id": hold_id,
            "event_id": event_id,
            "seat_ids": seat_ids,
            "expires_at": expires_at,
        }),
    )
}

/// Why an event refused a hold: it is not on sale yet (saying when sales open), no
/// longer, or not at all.
async fn not_on_sale(backend: &impl Backend, event_id: i64) -> ApiError {
    match sales_phase(backend, event_id).await {
        Ok(refusal) => refusal,
        Err(e) => e,
    }
}

async fn sales_phase(backend: &impl Backend, event_id: i64) -> Result<ApiError, ApiError> {
    let rows = backend
        .query(
            "SELECT CASE WHEN e.starts_at <= now() THEN 'started'
                         WHEN e.sales_start > now() THEN 'before'
                         WHEN e.sales_end <= now() THEN 'after'
                         ELSE 'open' END AS phase,
                    iso_utc(e.sales_start) AS sales_start, iso_utc(e.sales_end) AS sales_end
             FROM catalog.events e WHERE e.id = $1::int8 AND e.status = 'published'",
            &[event_id.into()],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(ApiError::not_found(format!(
            "event {event_id} does not exist or is not on sale"
        )));
    };
    Ok(match row.text("phase")?.as_str() {
        "before" => {
            let opens = row.text("sales_start")?;
            ApiError::conflict(
                "sales_not_open",
                format!("sales for event {event_id} open at {opens}"),
            )
            .with_detail("sales_start", opens)
        }
        "after" => {
            let closed = row.text("sales_end")?;
            ApiError::conflict(
                "sales_closed",
                format!("sales for event {event_id} closed at {closed}"),
            )
            .with_detail("sales_end", closed)
        }
        "started" => ApiError::conflict(
            "sales_closed",
            format!("event {event_id} has started; its sales are closed"),
        ),
        // Published and in its window: it was not when the hold looked a moment ago.
        _ => ApiError::conflict(
            "sales_not_open",
            format!("sales for event {event_id} were not open a moment ago; try again"),
        ),
    })
}

const MAX_LISTED_HOLDS: i64 = 100;

async fn list(backend: &impl Backend, caller: &Caller) -> Result<Response, ApiError> {
    let row = query_one(
        backend,
        "SELECT json_build_object('items', coalesce(json_agg(json_build_object(
                 'hold_id', h.id, 'event_id', h.event_id, 'seat_ids', h.seat_ids,
                 'expires_at', iso_utc(h.expires_at), 'created_at', iso_utc(h.created_at),
                 'currency', e.currency,
                 'total_cents', (SELECT sum(t.price_cents) FROM catalog.seats s
                                 JOIN catalog.price_tiers t ON t.id = s.tier_id
                                 WHERE s.id = ANY(h.seat_ids)),
                 'seats', (SELECT json_agg(json_build_object('id', s.id, 'section', s.section,
                                 'row', s.row_label, 'number', s.number, 'price_cents', t.price_cents)
                                 ORDER BY s.id)
                           FROM catalog.seats s JOIN catalog.price_tiers t ON t.id = s.tier_id
                           WHERE s.id = ANY(h.seat_ids)))
             ORDER BY h.expires_at DESC), '[]'::json))::text AS body
         FROM (SELECT * FROM catalog.holds
               WHERE user_id = $1::text::uuid AND released_at IS NULL AND expires_at > now()
                 AND NOT EXISTS (SELECT 1 FROM orders.orders o WHERE o.hold_id = holds.id)
               ORDER BY expires_at DESC LIMIT $2::int8) h
         JOIN catalog.events e ON e.id = h.event_id",
        &[caller.user_id.as_str().into(), MAX_LISTED_HOLDS.into()],
    )
    .await?;
    Ok(web::raw_json(
        StatusCode::OK,
        row.text("body")?.into_bytes(),
    ))
}

/// Releases the caller's hold. Releasing a hold that already ended is a no-op;
/// someone else's hold is a 404, as if it did not exist. A hold with an order belongs to
/// the order now: cancelling the order frees its seats.
pub const RELEASE_SQL: &str = "WITH owned AS (
         SELECT id, event_id,
                EXISTS (SELECT 1 FROM orders.orders o WHERE o.hold_id = holds.id) AS ordered
         FROM catalog.holds WHERE id = $1::text::uuid AND user_id = $2::text::uuid
     ), released AS (
         UPDATE catalog.holds h SET released_at = now()
         FROM owned
         WHERE h.id = owned.id AND NOT owned.ordered
           AND h.released_at IS NULL AND h.expires_at > now()
         RETURNING h.id
     ), freed AS (
         UPDATE catalog.seats s SET status = 'available', hold_id = NULL, held_until = NULL
         FROM released
         WHERE s.hold_id = released.id AND s.status = 'held'
         RETURNING s.id
     )
     SELECT (SELECT event_id FROM owned) AS event_id, coalesce((SELECT ordered FROM owned), false) AS ordered,
            ARRAY(SELECT id FROM freed ORDER BY id) AS freed";

async fn release(
    backend: &impl Backend,
    caller: &Caller,
    hold_id: &PublicId,
) -> Result<Response, ApiError> {
    let row = query_one(
        backend,
        RELEASE_SQL,
        &[hold_id.as_str().into(), caller.user_id.as_str().into()],
    )
    .await?;
    let event_id = row
        .opt_int("event_id")?
        .ok_or_else(|| ApiError::not_found("there is no such hold"))?;
    if row.bool("ordered")? {
        return Err(ApiError::conflict(
            "hold_ordered",
            "this hold has an order; cancel the order to free its seats",
        ));
    }
    seats_changed(
        backend,
        &SeatChange {
            id: format!("{}:released", hold_id.as_str()),
            event_id,
            seat_ids: &row.int_array("freed")?,
            status: SeatStatus::Available,
        },
    )
    .await;
    Ok(web::empty(StatusCode::NO_CONTENT))
}

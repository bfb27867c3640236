//! `/api/organizer/events`: organizers create events from a layout, change them, publish
//! and cancel them, watch their sales, export attendees and name their gate staff.
//!
//! Every route needs the `organizer` role (`403` otherwise) and finds only the caller's
//! own events (another organizer's event answers `404`, as one that does not exist).
//! Every change writes an entry in `catalog.audit_log` in the statement that makes it.

use http::{Method, StatusCode};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use ticketbuster_domain::account::{Email, Role};
use ticketbuster_domain::event_draft::{
    self, EventDraft, EventDraftBody, Schedule, ScheduleFields, bounded_text, rfc3339, tickets_cap,
    timestamp,
};
use ticketbuster_domain::ids::RowId;
use ticketbuster_domain::token::Caller;
use ticketbuster_domain::{ApiError, event_draft::price_cents};

use crate::backend::{Backend, query_one};
use crate::catalog::invalidate_event;
use crate::identity::{Authenticator, authenticate};
use crate::notifications::{self, Notification};
use crate::rate_limit::{Limit, RateLimits, limited};
use crate::web::{self, ChunkSink, Request, Response};

pub struct OrganizerSettings {
    pub authenticator: Authenticator,
    pub limits: RateLimits,
}

/// The newest events an organizer's list shows.
const MAX_LISTED_EVENTS: i64 = 500;
/// Attendees read from the database per query of the CSV export.
const ATTENDEES_PER_PAGE: i64 = 1_000;
/// Notifications sent to Redis per round trip when an event is cancelled.
const NOTIFICATIONS_PER_BATCH: usize = 500;

pub async fn handle(
    backend: &impl Backend,
    settings: &OrganizerSettings,
    req: Request,
) -> Response {
    web::respond(route(backend, settings, &req).await)
}

async fn route(
    backend: &impl Backend,
    settings: &OrganizerSettings,
    req: &Request,
) -> Result<Response, ApiError> {
    let segments = web::segments(req);
    let ["api", "organizer", "events", rest @ ..] = segments.as_slice() else {
        return Err(ApiError::not_found("no such organizer endpoint"));
    };
    let caller = authenticate(backend, &settings.authenticator, req).await?;
    caller.require_role(Role::Organizer)?;
    let method = req.method().clone();
    // Changes count against the account's rate limit; reads do not.
    macro_rules! rate_limited {
        ($op:expr) => {
            limited(
                backend,
                &settings.limits,
                Limit::AccountWrites,
                &caller.user_id,
                $op,
            )
            .await
        };
    }
    match (rest, method) {
        ([], Method::POST) => rate_limited!(create(backend, &caller, req)),
        ([], Method::GET) => list(backend, &caller).await,
        ([id, action @ ..], method) => {
            let event_id = RowId::parse(id)
                .map(RowId::get)
                .ok_or_else(|| ApiError::not_found(format!("you have no event {id:?}")))?;
            match (action, method) {
                ([], Method::GET) => owned_event(backend, &caller, event_id).await,
                ([], Method::PATCH) => rate_limited!(update(backend, &caller, event_id, req)),
                (["publish"], Method::POST) => rate_limited!(publish(backend, &caller, event_id)),
                (["cancel"], Method::POST) => rate_limited!(cancel(backend, &caller, event_id)),
                (["sales"], Method::GET) => sales(backend, &caller, event_id).await,
                (["attendees.csv"], Method::GET) => attendees(backend, &caller, event_id).await,
                (["gate-staff"], Method::GET) => gate_staff(backend, &caller, event_id).await,
                (["gate-staff"], Method::POST) => {
                    rate_limited!(add_gate_staff(backend, &caller, event_id, req))
                }
                ([] | ["publish" | "cancel" | "sales" | "attendees.csv" | "gate-staff"], _) => {
                    Err(ApiError::method_not_allowed())
                }
                _ => Err(ApiError::not_found("no such organizer endpoint")),
            }
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// An event as its organizer sees it, layout included; no row when the event is not theirs.
/// $1 event id, $2 organizer id.
const EVENT_SQL: &str = "
SELECT jsonb_build_object(
    'id', e.id, 'status', e.status, 'title', e.title, 'category', e.category,
    'description', e.description, 'venue', e.venue, 'city', e.city,
    'starts_at', iso_utc(e.starts_at), 'ends_at', iso_utc(e.ends_at),
    'sales_start', iso_utc(e.sales_start), 'sales_end', iso_utc(e.sales_end),
    'max_tickets_per_account', e.max_tickets_per_account, 'currency', e.currency,
    'seat_count', (SELECT count(*) FROM catalog.seats s WHERE s.event_id = e.id),
    'tiers', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', t.id, 'name', t.name,
                                                           'price_cents', t.price_cents) ORDER BY t.id), '[]')
              FROM catalog.price_tiers t WHERE t.event_id = e.id),
    'sections', (SELECT coalesce(jsonb_agg(jsonb_build_object('name', sec.section, 'rows', sec.rows)
                                           ORDER BY sec.first), '[]')
                 FROM (SELECT r.section, min(r.first) AS first,
                              jsonb_agg(jsonb_build_object('name', r.row_label, 'seats', r.seats, 'tier', r.tier)
                                        ORDER BY r.first) AS rows
                       FROM (SELECT s.section, s.row_label, min(s.id) AS first, count(*) AS seats,
                                    min(t.name) AS tier
                             FROM catalog.seats s JOIN catalog.price_tiers t ON t.id = s.tier_id
                             WHERE s.event_id = e.id
                             GROUP BY s.section, s.row_label) r
                       GROUP BY r.section) sec)
)::text AS body
FROM catalog.events e
WHERE e.id = $1::int8 AND e.organizer_id = $2::text::uuid";

pub(crate) fn not_yours(event_id: i64) -> ApiError {
    ApiError::not_found(format!("you have no event {event_id}"))
}

/// The JSON `body` that `sql` builds for one of the caller's events ($1 event id, $2
/// organizer id); `404` when the statement finds no row, as for another organizer's event.
async fn owned_body(
    backend: &impl Backend,
    caller: &Caller,
    event_id: i64,
    sql: &str,
) -> Result<Vec<u8>, ApiError> {
    let rows = backend
        .query(sql, &[event_id.into(), caller.user_id.as_str().into()])
        .await?;
    match rows.first() {
        Some(row) => Ok(row.text("body")?.into_bytes()),
        None => Err(not_yours(event_id)),
    }
}

async fn event_json(
    backend: &impl Backend,
    caller: &Caller,
    event_id: i64,
) -> Result<Vec<u8>, ApiError> {
    owned_body(backend, caller, event_id, EVENT_SQL).await
}

async fn owned_event(
    backend: &impl Backend,
    caller: &Caller,
    event_id: i64,
) -> Result<Response, ApiError> {
    Ok(web::raw_json(
        StatusCode::OK,
        event_json(backend, caller, event_id).await?,
    ))
}

async fn create(
    backend: &impl Backend,
    caller: &Caller,
    req: &Request,
) -> Result<Response, ApiError> {
    let body: EventDraftBody = web::parse_json(req)?;
    let draft = EventDraft::parse(body, chrono::Utc::now())?;
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let slug = event_draft::slug(&draft.text.title, &suffix[..8]);
    let row = query_one(
        backend,
        "SELECT catalog.create_event($1::text::uuid, $2::text::jsonb) AS id",
        &[
            caller.user_id.as_str().into(),
            draft.to_json(&slug).to_string().into(),
        ],
    )
    .await?;
    let event_id = row.int("id")?;
    Ok(web::raw_json(
        StatusCode::CREATED,
        event_json(backend, caller, event_id).await?,
    ))
}

async fn list(backend: &impl Backend, caller: &Caller) -> Result<Response, ApiError> {
    let row = query_one(
        backend,
        "SELECT jsonb_build_object('events', coalesce(jsonb_agg(jsonb_build_object(
                    'id', e.id, 'status', e.status, 'title', e.title, 'category', e.category,
                    'description', e.description, 'venue', e.venue, 'city', e.city,
                    'starts_at', iso_utc(e.starts_at), 'ends_at', iso_utc(e.ends_at),
                    'sales_start', iso_utc(e.sales_start), 'sales_end', iso_utc(e.sales_end),
                    'max_tickets_per_account', e.max_tickets_per_account, 'currency', e.currency,
                    'seat_count', (SELECT count(*) FROM catalog.seats s WHERE s.event_id = e.id),
                    'tiers', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', t.id, 'name', t.name,
                                                        'price_cents', t.price_cents) ORDER BY t.id), '[]')
                              FROM catalog.price_tiers t WHERE t.event_id = e.id))
                ORDER BY e.created_at DESC, e.id DESC), '[]'))::text AS body
         FROM (SELECT * FROM catalog.events WHERE organizer_id = $1::text::uuid
               ORDER BY created_at DESC, id DESC LIMIT $2::int8) e",
        &[caller.user_id.as_str().into(), MAX_LISTED_EVENTS.into()],
    )
    .await?;
    Ok(web::raw_json(
        StatusCode::OK,
        row.text("body")?.into_bytes(),
    ))
}

/// A field that may be set to `null` to clear it: absent is `None`, `null` is `Some(Null)`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    title: Option<String>,
    description: Option<String>,
    venue: Option<String>,
    city: Option<String>,
    starts_at: Option<String>,
    ends_at: Option<String>,
    sales_start: Option<String>,
    #[serde(default, deserialize_with = "present")]
    sales_end: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    max_tickets_per_account: Option<Value>,
    tiers: Option<Vec<TierPrice>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TierPrice {
    id: i64,
    price_cents: i64,
}

/// The most tiers one change may reprice (an event has at most this many).
const MAX_REPRICED_TIERS: usize = event_draft::MAX_TIERS;

async fn update(
    backend: &impl Backend,
    caller: &Caller,
    event_id: i64,
    req: &Request,
) -> Result<Response, ApiError> {
    let patch: PatchBody = web::parse_json(req)?;
    let current = backend
        .query(
            "SELECT e.status, e.title, e.description, e.venue, e.city,
                    iso_utc(e.starts_at) AS starts_at, iso_utc(e.ends_at) AS ends_at,
                    iso_utc(e.sales_start) AS sales_start, iso_utc(e.sales_end) AS sales_end,
                    e.max_tickets_per_account::int8 AS max_tickets_per_account
             FROM catalog.events e WHERE e.id = $1::int8 AND e.organizer_id = $2::text::uuid",
            &[event_id.into(), caller.user_id.as_str().into()],
        )
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| not_yours(event_id))?;
    if current.text("status")? == "cancelled" {
        return Err(ApiError::conflict(
            "event_cancelled",
            "a cancelled event cannot be changed",
        ));
    }
    let text = |field: &str, new: Option<&String>, min, max| match new {
        Some(raw) => bounded_text(field, raw, min, max),
        None => current.text(field).map_err(ApiError::from),
    };
    let title = text("title", patch.title.as_ref(), 1, 200)?;
    let description = text("description", patch.description.as_ref(), 0, 5000)?;
    let venue = text("venue", patch.venue.as_ref(), 1, 200)?;
    let city = text("city", patch.city.as_ref(), 1, 100)?;
    let instant = |field: &str, new: Option<&String>| match new {
        Some(raw) => timestamp(field, raw),
        None => timestamp(field, &current.text(field)?),
    };
    let sales_end = match &patch.sales_end {
        None => current
            .opt_text("sales_end")?
            .map(|raw| timestamp("sales_end", &raw))
            .transpose()?,
        Some(Value::Null) => None,
        Some(Value::String(raw)) => Some(timestamp("sales_end", raw)?),
        Some(_) => {
            return Err(ApiError::invalid_field(
                "sales_end",
                "must be a date and time or null",
            ));
        }
    };
    let schedule = Schedule::parse(
        ScheduleFields {
            starts_at: instant("starts_at", patch.starts_at.as_ref())?,
            ends_at: instant("ends_at", patch.ends_at.as_ref())?,
            sales_start: instant("sales_start", patch.sales_start.as_ref())?,
            sales_end,
        },
        chrono::Utc::now(),
    )?;
    let max_tickets_per_account = match &patch.max_tickets_per_account {
        None => current.opt_int("max_tickets_per_account")?,
        Some(Value::Null) => None,
        Some(value) => Some(tickets_cap(value.as_i64().ok_or_else(|| {
            ApiError::invalid_field("max_tickets_per_account", "must be a whole number or null")
        })?)?),
    };
    let prices = patch.tiers.unwrap_or_default();
    if prices.len() > MAX_REPRICED_TIERS {
        return Err(ApiError::invalid_field(
            "tiers",
            format!("at most {MAX_REPRICED_TIERS} tiers"),
        ));
    }
    for (i, tier) in prices.iter().enumerate() {
        price_cents(&format!("tiers[{i}].price_cents"), tier.price_cents)?;
    }
    reprice_tiers(backend, caller, event_id, &prices).await?;
    let changes = json!({
        "title": title, "description": description, "venue": venue, "city": city,
        "starts_at": rfc3339(schedule.starts_at), "ends_at": rfc3339(schedule.ends_at),
        "sales_start": rfc3339(schedule.sales_start), "sales_end": schedule.sales_end.map(rfc3339),
        "max_tickets_per_account": max_tickets_per_account,
        "tiers": prices.iter().map(|t| json!({"id": t.id, "price_cents": t.price_cents})).collect::<Vec<_>>(),
    });
    let updated = query_one(
        backend,
        "WITH changed AS (
             UPDATE catalog.events e
             SET title = $3, description = $4, venue = $5, city = $6,
                 starts_at = $7::text::timestamptz, ends_at = $8::text::timestamptz,
                 sales_start = $9::text::timestamptz, sales_end = $10::text::timestamptz,
                 max_tickets_per_account = $11::int8::integer, updated_at = now()
             WHERE e.id = $1::int8 AND e.organizer_id = $2::text::uuid AND e.status <> 'cancelled'
             RETURNING e.id
         ), audited AS (
             INSERT INTO catalog.audit_log (actor_id, actor, action, event_id, detail)
             SELECT u.id, u.email, 'event.update', c.id, $12::text::jsonb
             FROM changed c, auth.users u WHERE u.id = $2::text::uuid
         )
         SELECT count(*) AS changed FROM changed",
        &[
            event_id.into(),
            caller.user_id.as_str().into(),
            title.into(),
            description.into(),
            venue.into(),
            city.into(),
            rfc3339(schedule.starts_at).into(),
            rfc3339(schedule.ends_at).into(),
            rfc3339(schedule.sales_start).into(),
            schedule.sales_end.map(rfc3339).into(),
            max_tickets_per_account.into(),
            changes.to_string().into(),
        ],
    )
    .await?;
    if updated.int("changed")? == 0 {
        return Err(ApiError::conflict(
            "event_cancelled",
            "the event was cancelled meanwhile; it cannot be changed",
        ));
    }
    invalidate_event(backend, event_id).await;
    owned_event(backend, caller, event_id).await
}

/// Sets tiers' prices, each only while none of its seats is sold, held or in an order:
/// a buyer pays the price they were shown.
async fn reprice_tiers(
    backend: &impl Backend,
    caller: &Caller,
    event_id: i64,
    prices: &[TierPrice],
) -> Result<(), ApiError> {
    for (i, tier) in prices.iter().enumerate() {
        let row = query_one(
            backend,
            "WITH tier AS (
                 SELECT t.id, t.price_cents,
                        EXISTS (SELECT 1 FROM catalog.seats s
                                WHERE s.tier_id = t.id AND (s.status = 'sold'
                                      OR (s.status = 'held' AND s.held_until > now()))) AS taken
                 FROM catalog.price_tiers t JOIN catalog.events e ON e.id = t.event_id
                 WHERE t.id = $3::int8 AND t.event_id = $1::int8 AND e.organizer_id = $2::text::uuid
             ), changed AS (
                 UPDATE catalog.price_tiers t SET price_cents = $4::int8
                 FROM tier WHERE t.id = tier.id AND NOT tier.taken
                 RETURNING t.id
             ), audited AS (
                 INSERT INTO catalog.audit_log (actor_id, actor, action, event_id, detail)
                 SELECT u.id, u.email, 'tier.reprice', $1::int8,
                        jsonb_build_object('tier_id', c.id, 'from', tier.price_cents, 'to', $4::int8)
                 FROM changed c, tier, auth.users u WHERE u.id = $2::text::uuid
             )
             SELECT EXISTS (SELECT 1 FROM tier) AS found, coalesce((SELECT taken FROM tier), false) AS taken",
            &[
                event_id.into(),
                caller.user_id.as_str().into(),
                tier.id.into(),
                tier.price_cents.into(),
            ],
        )
        .await?;
        if !row.bool("found")? {
            return Err(ApiError::invalid_field(
                &format!("tiers[{i}].id"),
                format!("event {event_id} has no tier {}", tier.id),
            ));
        }
        if row.bool("taken")? {
            return Err(ApiError::conflict(
                "tier_has_sales",
                format!(
                    "tiers[{i}]: tier {} has seats sold or held; its price can no longer change",
                    tier.id
                ),
            )
            .with_detail("path", format!("tiers[{i}].price_cents")));
        }
    }
    Ok(())
}

async fn publish(
    backend: &impl Backend,
    caller: &Caller,
    event_id: i64,
) -> Result<Response, ApiError> {
    let row = query_one(
        backend,
        "WITH published AS (
             UPDATE catalog.events e SET status = 'published', updated_at = now()
             WHERE e.id = $1::int8 AND e.organizer_id = $2::text::uuid
               AND e.status = 'draft' AND e.starts_at > now()
             RETURNING e.id
         ), audited AS (
             INSERT INTO catalog.audit_log (actor_id, actor, action, event_id)
             SELECT u.id, u.email, 'event.publish', p.id
             FROM published p, auth.users u WHERE u.id = $2::text::uuid
         )
         SELECT EXISTS (SELECT 1 FROM published) AS published,
                (SELECT e.status FROM catalog.events e
                 WHERE e.id = $1::int8 AND e.organizer_id = $2::text::uuid) AS status",
        &[event_id.into(), caller.user_id.as_str().into()],
    )
    .await?;
    if !row.bool("published")? {
        match row.opt_text("status")?.as_deref() {
            None => return Err(not_yours(event_id)),
            // Publishing twice (a retry) finds it published.
            Some("published") => {}
            Some("cancelled") => {
                return Err(ApiError::conflict(
                    "event_cancelled",
                    "a cancelled event cannot be published",
                ));
            }
            Some(_) => {
                return Err(ApiError::conflict(
                    "event_started",
                    "the event has started; it can no longer be published",
                ));
            }
        }
    }
    invalidate_event(backend, event_id).await;
    owned_event(backend, caller, event_id).await
}

async fn cancel(
    backend: &impl Backend,
    caller: &Caller,
    event_id: i64,
) -> Result<Response, ApiError> {
    let rows = backend
        .query(
            "WITH cancelled AS (
                 SELECT c.outcome, c.order_id::text AS order_id, c.user_id::text AS user_id, c.was
                 FROM catalog.cancel_event($1::int8, $2::text::uuid) c
             ), audited AS (
                 INSERT INTO catalog.audit_log (actor_id, actor, action, event_id, detail)
                 SELECT u.id, u.email, 'event.cancel', $1::int8,
                        jsonb_build_object('orders', (SELECT count(order_id) FROM cancelled))
                 FROM auth.users u
                 WHERE u.id = $2::text::uuid AND EXISTS (SELECT 1 FROM cancelled WHERE outcome = 'cancelled')
             )
             SELECT * FROM cancelled",
            &[event_id.into(), caller.user_id.as_str().into()],
        )
        .await?;
    let outcome = match rows.first() {
        Some(row) => row.text("outcome")?,
        None => return Err(ApiError::internal()),
    };
    match outcome.as_str() {
        "cancelled" => {}
        "not_found" => return Err(not_yours(event_id)),
        "already_cancelled" => {
            return Err(ApiError::conflict(
                "event_cancelled",
                "the event is already cancelled",
            ));
        }
        _ => {
            return Err(ApiError::conflict(
                "event_started",
                "the event has started; it can no longer be cancelled",
            ));
        }
    }
    let mut cancelled = Vec::new();
    for row in &rows {
        if let (Some(order_id), Some(user_id)) =
            (row.opt_text("order_id")?, row.opt_text("user_id")?)
            && row.opt_text("was")?.as_deref() != Some("PROCESSING")
        {
            cancelled.push((order_id, user_id));
        }
    }
    let notices: Vec<Notification> = cancelled
        .iter()
        .map(|(order_id, user_id)| Notification::OrderCancelled {
            user_id,
            order_id,
            event_id,
        })
        .collect();
    for batch in notices.chunks(NOTIFICATIONS_PER_BATCH) {
        notifications::publish_all(backend, batch).await;
    }
    invalidate_event(backend, event_id).await;
    let event: Value = serde_json::from_slice(&event_json(backend, caller, event_id).await?)
        .map_err(|_| ApiError::internal())?;
    Ok(web::json(
        StatusCode::OK,
        &json!({"event": event, "cancelled_orders": cancelled.len()}),
    ))
}

async fn sales(
    backend: &impl Backend,
    caller: &Caller,
    event_id: i64,
) -> Result<Response, ApiError> {
    let body = owned_body(backend, caller, event_id, SALES_SQL).await?;
    Ok(web::raw_json(StatusCode::OK, body))
}

/// Sold, held and available seats per tier, revenue and completed orders per minute over
/// the last hour. $1 event id, $2 organizer id.
const SALES_SQL: &str = "WITH event AS (
                 SELECT e.id, e.currency FROM catalog.events e
                 WHERE e.id = $1::int8 AND e.organizer_id = $2::text::uuid
             ), tiers AS (
                 SELECT t.id, t.name, t.price_cents,
                        count(s.id) FILTER (WHERE s.status = 'sold') AS sold,
                        count(s.id) FILTER (WHERE s.status = 'held' AND s.held_until > now()) AS held,
                        count(s.id) FILTER (WHERE s.status = 'available'
                                            OR (s.status = 'held' AND s.held_until <= now())) AS available
                 FROM event JOIN catalog.price_tiers t ON t.event_id = event.id
                 LEFT JOIN catalog.seats s ON s.tier_id = t.id
                 GROUP BY t.id ORDER BY t.id
             ), minutes AS (
                 SELECT m FROM generate_series(date_trunc('minute', now()) - interval '59 minutes',
                                               date_trunc('minute', now()), interval '1 minute') m
             ), completed AS (
                 SELECT date_trunc('minute', o.created_at) AS m, count(*) AS n
                 FROM event JOIN orders.orders o ON o.event_id = event.id
                 WHERE o.status = 'COMPLETED' AND o.created_at >= date_trunc('minute', now()) - interval '59 minutes'
                 GROUP BY 1
             )
             SELECT jsonb_build_object(
                 'event_id', event.id, 'currency', event.currency,
                 'tiers', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                               'tier_id', t.id, 'name', t.name, 'price_cents', t.price_cents,
                               'sold', t.sold, 'held', t.held, 'available', t.available) ORDER BY t.id), '[]')
                           FROM tiers t),
                 'totals', (SELECT jsonb_build_object('sold', coalesce(sum(t.sold), 0), 'held', coalesce(sum(t.held), 0),
                                                      'available', coalesce(sum(t.available), 0))
                            FROM tiers t),
                 'revenue_cents', (SELECT coalesce(sum(o.total_cents), 0) FROM orders.orders o
                                   WHERE o.event_id = event.id AND o.status = 'COMPLETED'),
                 'orders_last_hour', (SELECT coalesce(sum(c.n), 0) FROM completed c),
                 'orders_per_minute', (SELECT jsonb_agg(jsonb_build_object('minute', iso_utc(m.m),
                                                                         'orders', coalesce(c.n, 0)) ORDER BY m.m)
                                       FROM minutes m LEFT JOIN completed c ON c.m = m.m)
             )::text AS body
             FROM event";

/// The attendee export's headers; its lines follow as a streamed body
/// ([`write_attendees`]), so no export sits whole in memory however large the event.
async fn attendees(
    backend: &impl Backend,
    caller: &Caller,
    event_id: i64,
) -> Result<Response, ApiError> {
    let owned = backend
        .query(
            "SELECT e.slug FROM catalog.events e WHERE e.id = $1::int8 AND e.organizer_id = $2::text::uuid",
            &[event_id.into(), caller.user_id.as_str().into()],
        )
        .await?;
    let slug = owned
        .first()
        .map(|row| row.text("slug"))
        .transpose()?
        .ok_or_else(|| not_yours(event_id))?;
    let mut response = http::Response::new(Vec::new());
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    if let Ok(disposition) =
        http::HeaderValue::from_str(&format!("attachment; filename=\"attendees-{slug}.csv\""))
    {
        headers.insert(http::header::CONTENT_DISPOSITION, disposition);
    }
    response
        .extensions_mut()
        .insert(AttendeesExport { event_id });
    Ok(response)
}

/// The body of an attendee export still to be written: the host streams it with
/// [`write_attendees`] once the headers are on their way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttendeesExport {
    event_id: i64,
}

/// Writes the export's CSV, one line per ticket that is not void, reading the tickets
/// a page at a time in id order. Stops early, without an error, when the client leaves.
pub async fn write_attendees(
    backend: &impl Backend,
    export: &AttendeesExport,
    sink: &mut impl ChunkSink,
) -> Result<(), ApiError> {
    if !sink.send(AttendeesCsv::header()).await {
        return Ok(());
    }
    let mut after = uuid::Uuid::nil().to_string();
    loop {
        let page = backend
            .query(
                "SELECT t.id::text AS ticket_id, u.name, u.email,
                        s.section || ' / ' || s.row_label || ' / ' || s.number AS seat,
                        t.order_id::text AS order_id, iso_utc(c.scanned_at) AS checked_in_at
                 FROM orders.tickets t
                 LEFT JOIN orders.checkins c ON c.ticket_id = t.id
                 JOIN orders.orders o ON o.id = t.order_id
                 JOIN auth.users u ON u.id = o.user_id
                 JOIN catalog.seats s ON s.id = t.seat_id
                 WHERE t.event_id = $1::int8 AND t.status <> 'void' AND t.id > $2::text::uuid
                 ORDER BY t.id
                 LIMIT $3::int8",
                &[
                    export.event_id.into(),
                    after.as_str().into(),
                    ATTENDEES_PER_PAGE.into(),
                ],
            )
            .await?;
        let mut lines = Vec::with_capacity(page.len());
        for row in &page {
            lines.push([
                row.text("name")?,
                row.text("email")?,
                row.text("seat")?,
                row.text("order_id")?,
                row.opt_text("checked_in_at")?.unwrap_or_default(),
            ]);
        }
        if !lines.is_empty() && !sink.send(AttendeesCsv::lines(&lines)).await {
            return Ok(());
        }
        match page.last() {
            Some(last) if page.len() as i64 == ATTENDEES_PER_PAGE => {
                after = last.text("ticket_id")?
            }
            _ => return Ok(()),
        }
    }
}

/// The attendee export: RFC 4180 CSV, with cells that a spreadsheet would run as a
/// formula (`=`, `+`, `-`, `@` first) quoted behind an apostrophe.
struct AttendeesCsv;

impl AttendeesCsv {
    const HEADER: [&str; 5] = ["name", "email", "seat", "order", "checked_in_at"];

    fn header() -> Vec<u8> {
        Self::write(&[Self::HEADER.map(str::to_owned)], false)
    }

    fn lines(lines: &[[String; 5]]) -> Vec<u8> {
        Self::write(lines, true)
    }

    fn write(records: &[[String; 5]], defuse: bool) -> Vec<u8> {
        let mut out = csv::Writer::from_writer(Vec::new());
        for record in records {
            // Writing to memory cannot fail.
            let _ = if defuse {
                out.write_record(record.iter().map(|c| defused(c)))
            } else {
                out.write_record(record)
            };
        }
        out.into_inner().unwrap_or_default()
    }
}

fn defused(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

async fn gate_staff(
    backend: &impl Backend,
    caller: &Caller,
    event_id: i64,
) -> Result<Response, ApiError> {
    let body = owned_body(backend, caller, event_id, GATE_STAFF_SQL).await?;
    Ok(web::raw_json(StatusCode::OK, body))
}

/// $1 event id, $2 organizer id.
const GATE_STAFF_SQL: &str = "SELECT jsonb_build_object('gate_staff', coalesce((
                 SELECT jsonb_agg(jsonb_build_object('user_id', u.id, 'email', u.email, 'name', u.name,
                                                     'added_at', iso_utc(g.added_at)) ORDER BY g.added_at, u.email)
                 FROM catalog.gate_staff g JOIN auth.users u ON u.id = g.user_id
                 WHERE g.event_id = e.id), '[]'))::text AS body
             FROM catalog.events e WHERE e.id = $1::int8 AND e.organizer_id = $2::text::uuid";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GateStaffBody {
    email: String,
}

/// Names an existing account gate staff of the event: a customer account becomes a gate
/// account (from its next token), and may scan that event's tickets.
async fn add_gate_staff(
    backend: &impl Backend,
    caller: &Caller,
    event_id: i64,
    req: &Request,
) -> Result<Response, ApiError> {
    let body: GateStaffBody = web::parse_json(req)?;
    let email =
        Email::parse(&body.email).map_err(|e| ApiError::invalid_field("email", e.message))?;
    let row = query_one(
        backend,
        "WITH event AS (
             SELECT e.id FROM catalog.events e
             WHERE e.id = $1::int8 AND e.organizer_id = $2::text::uuid AND e.status <> 'cancelled'
         ), account AS (
             SELECT u.id, u.email, u.name, u.role FROM auth.users u WHERE u.email = $3
         ), promoted AS (
             UPDATE auth.users u SET role = 'gate'
             FROM account a, event WHERE u.id = a.id AND a.role = 'customer'
             RETURNING u.id
         ), added AS (
             INSERT INTO catalog.gate_staff (event_id, user_id, added_by)
             SELECT event.id, a.id, $2::text::uuid FROM event, account a WHERE a.role IN ('customer', 'gate')
             ON CONFLICT DO NOTHING
             RETURNING user_id, iso_utc(added_at) AS added_at
         ), audited AS (
             INSERT INTO catalog.audit_log (actor_id, actor, action, event_id, detail)
             SELECT u.id, u.email, 'gate_staff.add', $1::int8, jsonb_build_object('email', $3::text)
             FROM added, auth.users u WHERE u.id = $2::text::uuid
         )
         SELECT EXISTS (SELECT 1 FROM event) AS event_found,
                (SELECT a.id::text FROM account a) AS user_id,
                (SELECT a.name FROM account a) AS name,
                (SELECT a.role FROM account a) AS role,
                EXISTS (SELECT 1 FROM added) AS added",
        &[
            event_id.into(),
            caller.user_id.as_str().into(),
            email.as_str().into(),
        ],
    )
    .await?;
    if !row.bool("event_found")? {
        return Err(not_yours(event_id));
    }
    let Some(user_id) = row.opt_text("user_id")? else {
        return Err(ApiError::invalid_field(
            "email",
            "no account has this email; ask them to register first",
        ));
    };
    if row.text("role")? == "organizer" {
        return Err(ApiError::invalid_field(
            "email",
            "this is an organizer's account; gate staff use an account of their own",
        ));
    }
    let status = if row.bool("added")? {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(web::json(
        status,
        &json!({
            "event_id": event_id,
            "user_id": user_id,
            "email": email.as_str(),
            "name": row.text("name")?,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_defused_and_others_kept() {
        assert_eq!(defused("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(defused("-1"), "'-1");
        assert_eq!(defused("Ana López"), "Ana López");
        let mut csv = AttendeesCsv::header();
        csv.extend(AttendeesCsv::lines(&[[
            "Ana, \"the fan\"".into(),
            "ana@example.com".into(),
            "Stalls / A / 3".into(),
            "o-1".into(),
            String::new(),
        ]]));
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "name,email,seat,order,checked_in_at\n\"Ana, \"\"the fan\"\"\",ana@example.com,Stalls / A / 3,o-1,\n"
        );
    }
}

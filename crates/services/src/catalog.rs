//! `/api/events`: the event list, event detail and seat map, cached briefly in the
//! key-value store with ETags. Seats freed or sold, and a refused hold, drop an event's
//! entries at once; a new hold shows within the seat map's TTL (see
//! `seat_changes::seats_held`). The TTLs also bound staleness when an invalidation races
//! a fill.

use http::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use http::{HeaderValue, Method, StatusCode};
use ticketbuster_domain::ApiError;
use ticketbuster_domain::cache::{CachedBody, if_none_match_hits};
use ticketbuster_domain::catalog::EventQuery;
use ticketbuster_domain::ids::RowId;

use crate::backend::{Backend, Param};
use crate::log;
use crate::web::{self, Request, Response};

const LIST_TTL_MS: i64 = 2_000;
const EVENT_TTL_MS: i64 = 2_000;
const SEAT_MAP_TTL_MS: i64 = 1_000;

pub fn event_cache_key(event_id: i64) -> String {
    format!("catalog:event:{event_id}")
}

pub fn seat_map_cache_key(event_id: i64) -> String {
    format!("catalog:seats:{event_id}")
}

/// Drops an event's cached detail and seat map after its seats changed.
pub async fn invalidate_event(backend: &impl Backend, event_id: i64) {
    for key in [event_cache_key(event_id), seat_map_cache_key(event_id)] {
        if let Err(e) = backend.cache_delete(&key).await {
            log::warn(
                "catalog: cache invalidation",
                format_args!("could not invalidate {key}: {e}"),
            );
        }
    }
}

pub async fn handle(backend: &impl Backend, req: Request) -> Response {
    web::respond(route(backend, &req).await)
}

async fn route(backend: &impl Backend, req: &Request) -> Result<Response, ApiError> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(ApiError::method_not_allowed());
    }
    match web::segments(req).as_slice() {
        ["api", "events"] => list(backend, req).await,
        ["api", "events", id] => {
            let id = parse_event_id(id)?;
            cached(backend, req, &event_cache_key(id), EVENT_TTL_MS, || {
                body_of(backend, EVENT_DETAIL_SQL, vec![id.into()])
            })
            .await
        }
        ["api", "events", id, "seats"] => {
            let id = parse_event_id(id)?;
            cached(
                backend,
                req,
                &seat_map_cache_key(id),
                SEAT_MAP_TTL_MS,
                || body_of(backend, SEAT_MAP_SQL, vec![id.into()]),
            )
            .await
        }
        _ => Err(ApiError::not_found("no such catalog endpoint")),
    }
}

fn parse_event_id(raw: &str) -> Result<i64, ApiError> {
    RowId::parse(raw)
        .map(RowId::get)
        .ok_or_else(|| ApiError::not_found(format!("there is no event {raw:?}")))
}

async fn list(backend: &impl Backend, req: &Request) -> Result<Response, ApiError> {
    let mut pairs = web::query_pairs(req);
    let query = EventQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    pairs.sort();
    let key = format!(
        "catalog:list:{}",
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    );
    let sql = list_sql(&query);
    let params = vec![
        query.category.map(|c| c.as_str()).into(),
        query.search_pattern.clone().into(),
        query.from.map(|t| t.to_rfc3339()).into(),
        query.to.map(|t| t.to_rfc3339()).into(),
        query.page_size.into(),
        query.offset().into(),
        query.page.into(),
    ];
    cached(backend, req, &key, LIST_TTL_MS, || {
        body_of(backend, &sql, params)
    })
    .await
}

/// Runs a statement whose single `body` column is the JSON answer; no row means 404.
async fn body_of(
    backend: &impl Backend,
    sql: &str,
    params: Vec<Param>,
) -> Result<String, ApiError> {
    let rows = backend.query(sql, &params).await?;
    match rows.first() {
        Some(row) => Ok(row.text("body")?),
        None => Err(ApiError::not_found("there is no such published event")),
    }
}

/// Serves from the cache when fresh, else computes, stores and serves; answers 304 when
/// the client already has this version. A cache outage only costs speed.
async fn cached<F, Fut>(
    backend: &impl Backend,
    req: &Request,
    key: &str,
    ttl_ms: i64,
    compute: F,
) -> Result<Response, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<String, ApiError>>,
{
    let now = backend.now_ms();
    let hit = match backend.cache_get(key).await {
        Ok(bytes) => bytes.and_then(|b| CachedBody::decode_fresh(&b, now)),
        Err(e) => {
            log::warn(
                "catalog: cache read",
                format_args!("cache read failed for {key}: {e}"),
            );
            None
        }
    };
    let entry = match hit {
        Some(entry) => entry,
        None => {
            let entry = CachedBody::new(compute().await?, now, ttl_ms);
            if let Err(e) = backend.cache_set(key, &entry.encode()).await {
                log::warn(
                    "catalog: cache write",
                    format_args!("cache write failed for {key}: {e}"),
                );
            }
            entry
        }
    };
    let mut response = if if_none_match_hits(web::header(req, IF_NONE_MATCH.as_str()), &entry.etag)
    {
        web::empty(StatusCode::NOT_MODIFIED)
    } else {
        web::raw_json(StatusCode::OK, entry.body.into_bytes())
    };
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&entry.etag) {
        headers.insert(ETAG, etag);
    }
    // Browsers must revalidate every time (cheap with the ETag) so staleness stays ours to bound.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

fn list_sql(query: &EventQuery) -> String {
    format!(
        concat!(
            "WITH filtered AS (
                 SELECT e.*, t.min_price_cents, t.max_price_cents
                 FROM catalog.events e
                 LEFT JOIN LATERAL (
                     SELECT min(price_cents) AS min_price_cents, max(price_cents) AS max_price_cents
                     FROM catalog.price_tiers WHERE event_id = e.id
                 ) t ON true
                 WHERE e.status = 'published'
                   AND ($1::text IS NULL OR e.category = $1::text)
                   AND ($2::text IS NULL OR (e.title || ' ' || e.venue || ' ' || e.city || ' ' || e.description) ILIKE $2::text)
                   AND e.starts_at >= coalesce($3::text::timestamptz, now())
                   AND ($4::text IS NULL OR e.starts_at <= $4::text::timestamptz)
             ), page AS (
                 SELECT e.*, row_number() OVER (ORDER BY {order}) AS position
                 FROM filtered e
                 ORDER BY {order}
                 LIMIT $5::int8 OFFSET $6::int8
             )
             SELECT json_build_object(
                 'items', coalesce((
                     SELECT json_agg(json_build_object(",
            event_fields!(),
            ",
                         'min_price_cents', e.min_price_cents, 'max_price_cents', e.max_price_cents,
                         'available_seats', (SELECT count(*) FROM catalog.seats s WHERE s.event_id = e.id AND ",
            seat_is_free!(),
            "))
                         ORDER BY e.position)
                     FROM page e), '[]'::json),
                 'total', (SELECT count(*) FROM filtered),
                 'page', $7::int8,
                 'page_size', $5::int8
             )::text AS body"
        ),
        order = query.sort.sql()
    )
}

const EVENT_DETAIL_SQL: &str = concat!(
    "SELECT json_build_object(",
    event_fields!(),
    ",
         'total_seats', (SELECT count(*) FROM catalog.seats s WHERE s.event_id = e.id),
         'available_seats', (SELECT count(*) FROM catalog.seats s WHERE s.event_id = e.id AND ",
    seat_is_free!(),
    "),
         'min_price_cents', (SELECT min(price_cents) FROM catalog.price_tiers WHERE event_id = e.id),
         'max_price_cents', (SELECT max(price_cents) FROM catalog.price_tiers WHERE event_id = e.id),
         'price_tiers', coalesce((
             SELECT json_agg(json_build_object('name', t.name, 'price_cents', t.price_cents) ORDER BY t.price_cents DESC)
             FROM catalog.price_tiers t WHERE t.event_id = e.id), '[]'::json)
     )::text AS body
     FROM catalog.events e
     WHERE e.id = $1::int8 AND e.status = 'published'"
);

const SEAT_MAP_SQL: &str = concat!(
    "SELECT json_build_object(
         'event_id', e.id,
         'currency', e.currency,
         'sections', coalesce((
             SELECT json_agg(json_build_object('name', sec.section, 'rows', sec.rows) ORDER BY sec.first_id)
             FROM (
                 SELECT r.section, min(r.first_id) AS first_id,
                        json_agg(json_build_object('name', r.row_label, 'seats', r.seats) ORDER BY r.first_id) AS rows
                 FROM (
                     SELECT s.section, s.row_label, min(s.id) AS first_id,
                            json_agg(json_build_object(
                                'id', s.id, 'number', s.number,
                                'status', CASE WHEN ",
    seat_is_free!(),
    " THEN 'available' ELSE s.status END,
                                'price_cents', t.price_cents, 'tier', t.name)
                                ORDER BY s.number) AS seats
                     FROM catalog.seats s JOIN catalog.price_tiers t ON t.id = s.tier_id
                     WHERE s.event_id = e.id
                     GROUP BY s.section, s.row_label
                 ) r
                 GROUP BY r.section
             ) sec), '[]'::json)
     )::text AS body
     FROM catalog.events e
     WHERE e.id = $1::int8 AND e.status = 'published'"
);

//! `/api/events`: the event list, event detail and seat map, cached briefly in the
//! key-value store with ETags. Seats freed or sold, and a refused hold, drop an event's
//! entries at once; a new hold shows within the seat map's TTL (see
//! `seat_changes::seats_held`). The TTLs also bound staleness when an invalidation races
//! a fill. An entry just gone stale is served while one request rebuilds it, so that an
//! expiry under load does not send every request in flight to the database at once.
//!
//! The seat map also comes in two parts that scale to a stadium's viewers: the layout
//! (`/layout`: seats, sections, rows, numbers, tiers and prices), which changes only when
//! an organizer reprices a tier, named by a version that is a hash of its content and
//! cacheable for ever at its versioned URL; and the status (`/seat-status`), two bits a
//! seat in the layout's order ([`seat_status`]), numbered like the live changes
//! (`seat_changes`) so that a viewer can apply those on top.

use http::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use http::{HeaderValue, Method, StatusCode};
use serde_json::json;
use ticketbuster_domain::ApiError;
use ticketbuster_domain::cache::{CachedBody, Freshness, if_none_match_hits};
use ticketbuster_domain::catalog::EventQuery;
use ticketbuster_domain::ids::RowId;
use ticketbuster_domain::seat_status::{self, SeatStatus};

use crate::backend::{Backend, CURRENT_SEQUENCE, Param};
use crate::log;
use crate::seat_changes::sequence_key;
use crate::web::{self, Request, Response};

const LIST_TTL_MS: i64 = 2_000;
const EVENT_TTL_MS: i64 = 2_000;
const SEAT_MAP_TTL_MS: i64 = 1_000;
/// The same as the seat map's: new holds leave the status to its TTL.
const SEAT_STATUS_TTL_MS: i64 = 1_000;
/// The layout at its unversioned URL, which says which version is current.
const LAYOUT_TTL_MS: i64 = 2_000;
/// A layout stored under its version never changes; this only bounds how long the
/// key-value store keeps a version nobody asks for.
const VERSIONED_LAYOUT_TTL_MS: i64 = 24 * 3_600 * 1_000;
/// How long after its expiry an entry may still be served while one request rebuilds it:
/// long enough to cover a lull, so that the burst after it is not a stampede either. Only
/// the requests in flight while the rebuild runs (tens of milliseconds) see the old entry;
/// changes that must show at once (seats sold or freed) drop the entry instead.
const STALE_GRACE_MS: i64 = 60_000;
/// How long an instance serves the seat status it read from the cache without asking the
/// cache again: a fraction of the status's own TTL, so it adds little to its age, while at
/// thousands of reads a second the store sees one read per instance every so often.
const RECENT_READ_MS: i64 = 100;
/// How long the request rebuilding a stale entry has before another may try; a rebuild
/// takes tens of milliseconds.
const REFRESH_LEASE_MS: i64 = 500;

/// Browsers revalidate every time (cheap with the ETag), so staleness stays ours to bound.
const REVALIDATE: &str = "no-cache";
/// The status may be reused for a second, its TTL here.
const SEAT_STATUS_CACHE_CONTROL: &str = "public, max-age=1";
/// A layout fetched at its versioned URL never changes.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub fn event_cache_key(event_id: i64) -> String {
    format!("catalog:event:{event_id}")
}

pub fn seat_map_cache_key(event_id: i64) -> String {
    format!("catalog:seats:{event_id}")
}

pub fn seat_status_cache_key(event_id: i64) -> String {
    format!("catalog:seat-status:{event_id}")
}

fn layout_cache_key(event_id: i64) -> String {
    format!("catalog:layout:{event_id}")
}

fn versioned_layout_cache_key(event_id: i64, version: &LayoutVersion) -> String {
    format!("catalog:layout:{event_id}:{}", version.0)
}

/// Drops an event's cached detail, seat map and status after its seats changed, and its
/// unversioned layout after an organizer changed it (a repriced tier is a new version).
pub async fn invalidate_event(backend: &impl Backend, event_id: i64) {
    let keys = [
        event_cache_key(event_id),
        seat_map_cache_key(event_id),
        seat_status_cache_key(event_id),
        layout_cache_key(event_id),
    ];
    for key in keys {
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
        ["api", "events", id, "layout"] => layout(backend, req, parse_event_id(id)?).await,
        ["api", "events", id, "seat-status"] => {
            let id = parse_event_id(id)?;
            let key = seat_status_cache_key(id);
            let entry = match recently_read_fresh(backend, &key) {
                Some(entry) => entry,
                None => {
                    fresh_or_computed(backend, &key, SEAT_STATUS_TTL_MS, || {
                        seat_status_body(backend, id)
                    })
                    .await?
                }
            };
            Ok(answer(req, entry, SEAT_STATUS_CACHE_CONTROL))
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
    Ok(query_event_row(backend, sql, params).await?.text("body")?)
}

/// The row of a statement that returns one for a published event; none means 404.
async fn query_event_row(
    backend: &impl Backend,
    sql: &str,
    params: Vec<Param>,
) -> Result<crate::backend::Row, ApiError> {
    backend
        .query(sql, &params)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("there is no such published event"))
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
    let entry = fresh_or_computed(backend, key, ttl_ms, compute).await?;
    Ok(answer(req, entry, REVALIDATE))
}

/// The cached entry when fresh, else computed and stored. When it has just gone stale,
/// one request (the holder of a short lease in Redis) rebuilds it while the others serve
/// the stale one, so that an expiry under load costs one query, not one per request in
/// flight. A cache outage only costs speed.
async fn fresh_or_computed<F, Fut>(
    backend: &impl Backend,
    key: &str,
    ttl_ms: i64,
    compute: F,
) -> Result<CachedBody, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<String, ApiError>>,
{
    if let Some(entry) = cache_read(backend, key).await {
        match entry.freshness(backend.now_ms(), STALE_GRACE_MS) {
            Freshness::Fresh => return Ok(entry),
            Freshness::Stale if !takes_refresh_lease(backend, key).await => return Ok(entry),
            Freshness::Stale | Freshness::Expired => {}
        }
    }
    let entry = CachedBody::new(compute().await?, backend.now_ms(), ttl_ms);
    cache_write(backend, key, &entry).await;
    Ok(entry)
}

/// The fresh entry at `key` as this instance read it from the cache within
/// [`RECENT_READ_MS`], so that a burst of reads of one document asks the store once.
fn recently_read_fresh(backend: &impl Backend, key: &str) -> Option<CachedBody> {
    backend
        .cache_recently_read(key, RECENT_READ_MS)
        .and_then(|bytes| CachedBody::decode(&bytes))
        .filter(|entry| entry.freshness(backend.now_ms(), STALE_GRACE_MS) == Freshness::Fresh)
}

/// Whether this request is the one to rebuild the stale entry at `key`. Without Redis
/// every request rebuilds, as without the cache.
async fn takes_refresh_lease(backend: &impl Backend, key: &str) -> bool {
    let lease = format!("{key}:refreshing");
    let lease_ms = REFRESH_LEASE_MS.to_string();
    match backend.eval(TAKE_LEASE, &[&lease], &[&lease_ms]).await {
        Ok(taken) => taken.is_some(),
        Err(e) => {
            log::warn(
                "catalog: refresh lease",
                format_args!("could not take the lease {lease}: {e}"),
            );
            true
        }
    }
}

/// `SET NX PX`: `OK` for the one caller that takes the lease, nil for the others.
const TAKE_LEASE: &str = "return redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1])";

async fn cache_read(backend: &impl Backend, key: &str) -> Option<CachedBody> {
    match backend.cache_get(key).await {
        Ok(bytes) => bytes.and_then(|b| CachedBody::decode(&b)),
        Err(e) => {
            log::warn(
                "catalog: cache read",
                format_args!("cache read failed for {key}: {e}"),
            );
            None
        }
    }
}

async fn cache_write(backend: &impl Backend, key: &str, entry: &CachedBody) {
    if let Err(e) = backend.cache_set(key, &entry.encode()).await {
        log::warn(
            "catalog: cache write",
            format_args!("cache write failed for {key}: {e}"),
        );
    }
}

/// The entry's body with its ETag, or 304 when the client has that version.
fn answer(req: &Request, entry: CachedBody, cache_control: &'static str) -> Response {
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
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache_control));
    response
}

/// A layout's version as a client names it: the MD5 of its content, in hex.
struct LayoutVersion(String);

impl LayoutVersion {
    fn parse(raw: &str) -> Option<Self> {
        let well_formed = raw.len() == 32 && raw.bytes().all(|b| b.is_ascii_hexdigit());
        well_formed.then(|| Self(raw.to_ascii_lowercase()))
    }
}

/// `GET /api/events/{id}/layout[?v=<version>]`. A version's URL answers that version,
/// cacheable for ever, from the key-value store once it has been current; a version the
/// store does not have (a layout repriced since) answers the current layout, to
/// revalidate. Clients compare `version` with the status's `layout_version`.
async fn layout(backend: &impl Backend, req: &Request, id: i64) -> Result<Response, ApiError> {
    let asked = web::query_pairs(req)
        .into_iter()
        .find(|(name, _)| name == "v")
        .map(|(_, raw)| {
            LayoutVersion::parse(&raw).ok_or_else(|| {
                ApiError::validation(format!(
                    "v={raw:?} is not a layout version (32 hexadecimal digits, as `version` in the layout)"
                ))
            })
        })
        .transpose()?;
    let Some(asked) = asked else {
        return cached(backend, req, &layout_cache_key(id), LAYOUT_TTL_MS, || {
            body_of(backend, LAYOUT_SQL, vec![id.into()])
        })
        .await;
    };
    let key = versioned_layout_cache_key(id, &asked);
    let stored = cache_read(backend, &key)
        .await
        .filter(|entry| entry.freshness(backend.now_ms(), 0) == Freshness::Fresh);
    if let Some(entry) = stored {
        return Ok(answer(req, entry, IMMUTABLE));
    }
    let row = query_event_row(backend, LAYOUT_SQL, vec![id.into()]).await?;
    let current = row.text("version")?;
    if current != asked.0 {
        let entry = CachedBody::new(row.text("body")?, backend.now_ms(), 0);
        return Ok(answer(req, entry, REVALIDATE));
    }
    let entry = CachedBody::new(row.text("body")?, backend.now_ms(), VERSIONED_LAYOUT_TTL_MS);
    cache_write(backend, &key, &entry).await;
    Ok(answer(req, entry, IMMUTABLE))
}

/// The status document: the seats' statuses in the layout's order, and the number of the
/// last seat change they include. The number is read first: a change numbered up to it
/// was published after its seats were written, so the statuses read next include it.
async fn seat_status_body(backend: &impl Backend, id: i64) -> Result<String, ApiError> {
    let revision = backend
        .eval(CURRENT_SEQUENCE, &[&sequence_key(id)], &[])
        .await
        .map_err(|e| {
            log::warn(
                "catalog: seat changes' number",
                format_args!("Redis failed: {e}"),
            );
            ApiError::unavailable(
                "live seat statuses cannot be numbered for a moment; ask again in a few seconds",
            )
        })?
        .and_then(|n| n.parse::<i64>().ok())
        .ok_or_else(ApiError::internal)?;
    let row = query_event_row(backend, SEAT_STATUS_SQL, vec![id.into()]).await?;
    let statuses = row
        .int_array("codes")?
        .into_iter()
        .map(|code| SeatStatus::from_code(code).ok_or_else(ApiError::internal))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({
        "event_id": id,
        "layout_version": row.text("layout_version")?,
        "revision": revision,
        "encoding": seat_status::ENCODING,
        "seat_count": statuses.len(),
        "data": seat_status::encode(&statuses),
    })
    .to_string())
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

/// Event `e`'s seats as sections of rows of seats, each seat the JSON object of `fields`
/// (SQL over seat `s` and its tier `t`), in the layout's order: each seat's
/// `layout_position`, numbered when its event's seats are written (sections and rows in
/// the order of their first seat's id, seats by number; migration 23), which the status
/// follows too.
macro_rules! sections_of_seats {
    ($($fields:expr),+) => {
        concat!(
            "coalesce((
                 SELECT json_agg(json_build_object('name', sec.section, 'rows', sec.rows) ORDER BY sec.first_position)
                 FROM (
                     SELECT r.section, min(r.first_position) AS first_position,
                            json_agg(json_build_object('name', r.row_label, 'seats', r.seats) ORDER BY r.first_position) AS rows
                     FROM (
                         SELECT s.section, s.row_label, min(s.layout_position) AS first_position,
                                json_agg(json_build_object(",
            $($fields),+,
            ") ORDER BY s.layout_position) AS seats
                         FROM catalog.seats s JOIN catalog.price_tiers t ON t.id = s.tier_id
                         WHERE s.event_id = e.id
                         GROUP BY s.section, s.row_label
                     ) r
                     GROUP BY r.section
                 ) sec), '[]'::json)"
        )
    };
}

/// The version of event `e`'s layout: the MD5 of what can change in it, its currency and
/// its tiers' names and prices, with its seats' count and last id. A seat's place and tier
/// are written once, with the event (`catalog.create_event`), so hashing every seat (17 to
/// 44 ms for 6,000 on this machine, at each rebuild of the status) would add nothing.
macro_rules! layout_version {
    () => {
        "(SELECT md5(concat_ws('|', e.currency,
                     (SELECT string_agg(concat_ws(':', t.id, t.name, t.price_cents), ',' ORDER BY t.id)
                      FROM catalog.price_tiers t WHERE t.event_id = e.id),
                     (SELECT concat_ws(':', count(*), max(s.id)) FROM catalog.seats s WHERE s.event_id = e.id))))"
    };
}

const SEAT_MAP_SQL: &str = concat!(
    "SELECT json_build_object(
         'event_id', e.id,
         'currency', e.currency,
         'sections', ",
    sections_of_seats!(
        "'id', s.id, 'number', s.number, 'status', CASE WHEN ",
        seat_is_free!(),
        " THEN 'available' ELSE s.status END, 'price_cents', t.price_cents, 'tier', t.name"
    ),
    "
     )::text AS body
     FROM catalog.events e
     WHERE e.id = $1::int8 AND e.status = 'published'"
);

const LAYOUT_SQL: &str = concat!(
    "SELECT v.version, json_build_object(
         'event_id', e.id,
         'version', v.version,
         'currency', e.currency,
         'seat_count', (SELECT count(*) FROM catalog.seats s WHERE s.event_id = e.id),
         'tiers', coalesce((
             SELECT json_agg(json_build_object('name', t.name, 'price_cents', t.price_cents) ORDER BY t.price_cents DESC, t.name)
             FROM catalog.price_tiers t WHERE t.event_id = e.id), '[]'::json),
         'sections', ",
    sections_of_seats!("'id', s.id, 'number', s.number, 'tier', t.name"),
    "
     )::text AS body
     FROM catalog.events e, LATERAL (SELECT ",
    layout_version!(),
    " AS version) v
     WHERE e.id = $1::int8 AND e.status = 'published'"
);

/// Each seat's status code ([`SeatStatus::code`]) in the layout's order.
const SEAT_STATUS_SQL: &str = concat!(
    "SELECT ",
    layout_version!(),
    " AS layout_version,
         coalesce((
             SELECT array_agg((CASE WHEN ",
    seat_is_free!(),
    " THEN 0 WHEN s.status = 'held' THEN 1 ELSE 2 END)::int8 ORDER BY s.layout_position)
             FROM catalog.seats s WHERE s.event_id = e.id), '{}'::int8[]) AS codes
     FROM catalog.events e
     WHERE e.id = $1::int8 AND e.status = 'published'"
);

//! The virtual waiting room: `POST`/`GET /api/events/{id}/queue` for buyers, and
//! `PUT`/`GET`/`DELETE /api/organizer/events/{id}/waiting-room` for the event's organizer.
//!
//! An organizer's settings live in PostgreSQL (`catalog.waiting_rooms`); the queue lives
//! in Redis under the room's key, and every change to it is one Lua script ([`QUEUE_SCRIPT`])
//! on Redis's own clock, so any instance answers any buyer and none keeps state of its own.
//!
//! Fairness: a buyer who joins before the room admits (the event's `sales_start`, or
//! `opens_at` when later) is given a random draw, made on the server when they join and
//! kept if they join again; at the start, the pre-queue is ordered by the draws, a uniform
//! random order that owes nothing to who came first. Nobody sees a place before the start,
//! and joining again keeps the draw, so refreshing gains nothing. Buyers who join after
//! the start are numbered in the order they join, behind the pre-queue.
//!
//! Admission is computed when a script runs, from the time elapsed (at `admit_per_minute`)
//! or from the event's free seats against the admissions still running (as seats allow),
//! so no clock process is needed; the sidecar's jobs call [`advance_rooms`] every tick so
//! that buyers who only listen to the socket see the line move. Each advance is published
//! on [`QUEUE_CHANNEL`] as `queue.advanced` (at most once a second per room); a buyer's
//! position is their number minus `admitted_through`.
//!
//! An admitted buyer gets a signed admission token for the event (see
//! [`ticketbuster_domain::waiting_room`]); while the room is on, holds on the event need it
//! in the `Admission-Token` header ([`require_admission`]).

use chrono::{DateTime, Utc};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use ticketbuster_domain::ApiError;
use ticketbuster_domain::account::Role;
use ticketbuster_domain::event_draft::rfc3339;
use ticketbuster_domain::ids::RowId;
use ticketbuster_domain::token::{Caller, TokenIssuer, TokenVerifier};
use ticketbuster_domain::waiting_room::{
    ADMISSION_HEADER, Admission, Pace, RoomBody, RoomSettings, check_admission,
    estimated_wait_seconds,
};

use crate::backend::{Backend, Row, query_one};
use crate::identity::{Authenticator, authenticate};
use crate::log;
use crate::organizer::not_yours;
use crate::rate_limit::{Limit, RateLimits, limited};
use crate::web::{self, Request, Response};

/// The channel of `queue.advanced` messages, which the sidecar sends to the event's watchers.
pub const QUEUE_CHANNEL: &str = "queue";

/// A room's keys outlive its last change by this long (a week: past any on-sale).
const KEYS_TTL_SECONDS: i64 = 7 * 24 * 60 * 60;

/// How often a waiting buyer should ask again, when they have no socket.
const POLL_AFTER_SECONDS: i64 = 5;

pub struct WaitingRoomSettings {
    pub authenticator: Authenticator,
    /// Signs admission tokens, under the access tokens' secret.
    pub issuer: TokenIssuer,
    pub limits: RateLimits,
}

/// KEYS: 1 the pre-queue (zset: account → random draw), 2 the line (zset: account →
/// number, for those who joined after the start or joined again), 3 the room's state
/// (hash), 4 when each admitted buyer first saw their admission (hash: account → ms),
/// 5 admissions still running, as seats allow (zset: admitted_through after each step →
/// ms).
/// ARGV: 1 `join`, `poll` or `tick`; 2 account; 3 opens at (ms); 4 admits from (ms);
/// 5 admitted per minute (0: as seats allow); 6 an admission's lifetime (ms); 7 free
/// seats (as seats allow); 8 the joiner's random draw; 9 channel; 10 event id; 11 keys'
/// TTL (s).
/// Replies `state number admitted_through issued admission_ends_ms now_ms`, where state is
/// `not_open`, `pre_queue`, `not_joined`, `waiting`, `admitted` or `expired`.
const QUEUE_SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local op, account = ARGV[1], ARGV[2]
local opens, start = tonumber(ARGV[3]), tonumber(ARGV[4])
local per_minute, lifetime = tonumber(ARGV[5]), tonumber(ARGV[6])
local function keep()
  for i = 1, #KEYS do redis.call('EXPIRE', KEYS[i], ARGV[11]) end
end
local function reply(state, number, admitted, issued, ends)
  return string.format('%s %d %d %d %d %d', state, number, admitted, issued, ends, now)
end
if now < opens then return reply('not_open', 0, 0, 0, 0) end
-- Once drawn, a room stays drawn, even if the sales start moves later.
local drawn = redis.call('HEXISTS', KEYS[3], 'issued') == 1
if now < start and not drawn then
  if op == 'join' then
    redis.call('ZADD', KEYS[1], 'NX', ARGV[8], account)
    keep()
  end
  if op ~= 'tick' and redis.call('ZSCORE', KEYS[1], account) then
    return reply('pre_queue', 0, 0, 0, 0)
  end
  return reply('not_joined', 0, 0, 0, 0)
end
local interval = per_minute > 0 and 60000 / per_minute or 0
local s = redis.call('HMGET', KEYS[3], 'issued', 'admitted', 'at', 'ended', 'published', 'published_at')
local issued, admitted = tonumber(s[1]), tonumber(s[2])
local at, ended = tonumber(s[3]), tonumber(s[4]) or 0
local published, published_at = tonumber(s[5]) or 0, tonumber(s[6]) or 0
if not issued then
  -- The draw: the pre-queue, frozen from now on, takes numbers 1..n in the order of its draws.
  issued, admitted, at = redis.call('ZCARD', KEYS[1]), 0, start - interval
end
at = at or (now - interval)
local function number_of(who)
  local n = redis.call('ZSCORE', KEYS[2], who)
  if n then return tonumber(n) end
  local rank = redis.call('ZRANK', KEYS[1], who)
  if rank then return rank + 1 end
  return nil
end
local function admission_ends(who)
  local seen = tonumber(redis.call('HGET', KEYS[4], who))
  if not seen then
    seen = now
    redis.call('HSET', KEYS[4], who, now)
  end
  return seen + lifetime
end
local number = nil
if op ~= 'tick' then number = number_of(account) end
if op == 'join' and (not number or (number <= admitted and admission_ends(account) <= now)) then
  -- New, or back after their admission ran out: to the back of the line.
  issued = issued + 1
  number = issued
  redis.call('ZADD', KEYS[2], number, account)
  redis.call('HDEL', KEYS[4], account)
end
if now < start then
  -- Drawn, but the sales start moved later: nobody goes in before it.
  at = now - interval
elseif per_minute > 0 then
  local due = math.floor((now - at) / interval)
  if due > 0 then
    local take = math.min(due, issued - admitted)
    admitted = admitted + take
    -- A line that ran dry saves no admissions for later: the next newcomer goes in at once.
    if take < due then at = now - interval else at = at + due * interval end
  end
else
  local running_since = now - lifetime
  for _, through in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', running_since)) do
    ended = math.max(ended, tonumber(through))
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', running_since)
  local take = math.min(tonumber(ARGV[7]) - (admitted - ended), issued - admitted)
  if take > 0 then
    admitted = admitted + take
    redis.call('ZADD', KEYS[5], now, admitted)
  end
  at = now - interval
end
if admitted ~= published and (op == 'tick' or now - published_at >= 1000) then
  redis.call('PUBLISH', ARGV[9], string.format(
    '[{"type":"queue.advanced","event_id":%d,"admitted_through":%d,"issued":%d}]',
    tonumber(ARGV[10]), admitted, issued))
  published, published_at = admitted, now
end
redis.call('HSET', KEYS[3], 'issued', issued, 'admitted', admitted, 'at', string.format('%.3f', at),
  'ended', ended, 'published', published, 'published_at', published_at)
keep()
if not number then return reply('not_joined', 0, admitted, issued, 0) end
if number > admitted then return reply('waiting', number, admitted, issued, 0) end
local ends = admission_ends(account)
if ends <= now then return reply('expired', number, admitted, issued, ends) end
return reply('admitted', number, admitted, issued, ends)
"#;

/// What the script does for a buyer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Join,
    Poll,
    Tick,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Join => "join",
            Op::Poll => "poll",
            Op::Tick => "tick",
        }
    }
}

/// A room as the script needs it, read from PostgreSQL on each call.
#[derive(Debug, Clone)]
struct Room {
    event_id: i64,
    key: String,
    opens_at_ms: i64,
    /// When the room starts admitting: the draw among the pre-queue.
    admits_from_ms: i64,
    pace: Pace,
    admission_ms: i64,
    /// Seats free now, counted only when the room admits as seats allow.
    free_seats: i64,
    sales_closed: bool,
}

/// The columns of [`Room`] for waiting room `w` of event `e`.
macro_rules! room_columns {
    () => {
        "w.event_id, w.room_key::text AS room_key,
         (extract(epoch FROM w.opens_at) * 1000)::int8 AS opens_at_ms,
         (extract(epoch FROM greatest(w.opens_at, coalesce(e.sales_start, w.opens_at))) * 1000)::int8
             AS admits_from_ms,
         w.admit_per_minute::int8 AS admit_per_minute, w.admission_minutes::int8 AS admission_minutes,
         (e.starts_at <= now() OR coalesce(e.sales_end <= now(), false)) AS sales_closed,
         CASE WHEN w.admit_per_minute IS NULL THEN
             (SELECT count(*) FROM catalog.seats s WHERE s.event_id = e.id AND "
    };
}

/// The published event $1 and its room, if it has one (`room_key` null otherwise).
const ROOM_SQL: &str = concat!(
    "SELECT e.id AS id, ",
    room_columns!(),
    seat_is_free!(),
    ") ELSE 0 END AS free_seats
     FROM catalog.events e LEFT JOIN catalog.waiting_rooms w ON w.event_id = e.id
     WHERE e.id = $1::int8 AND e.status = 'published'"
);

/// Every room that admits now, for the sidecar's ticks.
const ADMITTING_ROOMS_SQL: &str = concat!(
    "SELECT ",
    room_columns!(),
    seat_is_free!(),
    ") ELSE 0 END AS free_seats
     FROM catalog.waiting_rooms w JOIN catalog.events e ON e.id = w.event_id
     WHERE e.status = 'published' AND e.starts_at > now()
       AND greatest(w.opens_at, coalesce(e.sales_start, w.opens_at)) <= now()"
);

impl Room {
    fn from_row(row: &Row) -> Result<Option<Self>, ApiError> {
        let Some(key) = row.opt_text("room_key")? else {
            return Ok(None);
        };
        Ok(Some(Self {
            event_id: row.int("event_id")?,
            key,
            opens_at_ms: row.int("opens_at_ms")?,
            admits_from_ms: row.int("admits_from_ms")?,
            pace: row
                .opt_int("admit_per_minute")?
                .map_or(Pace::AsSeatsAllow, Pace::PerMinute),
            admission_ms: row.int("admission_minutes")? * 60_000,
            free_seats: row.int("free_seats")?,
            sales_closed: row.bool("sales_closed")?,
        }))
    }

    fn keys(&self) -> [String; 5] {
        ["pre", "line", "state", "seen", "admissions"]
            .map(|part| format!("waiting-room:{}:{part}", self.key))
    }

    async fn run(
        &self,
        backend: &impl Backend,
        op: Op,
        account: &str,
    ) -> Result<QueueReply, ApiError> {
        let keys = self.keys();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        // 53 random bits: a draw a Redis score holds exactly.
        let draw = (uuid::Uuid::new_v4().as_u64_pair().0 >> 11).to_string();
        let per_minute = self.pace.per_minute().unwrap_or(0);
        let args = [
            op.as_str().to_owned(),
            account.to_owned(),
            self.opens_at_ms.to_string(),
            self.admits_from_ms.to_string(),
            per_minute.to_string(),
            self.admission_ms.to_string(),
            self.free_seats.to_string(),
            draw,
            QUEUE_CHANNEL.to_owned(),
            self.event_id.to_string(),
            KEYS_TTL_SECONDS.to_string(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let reply = backend
            .eval(QUEUE_SCRIPT, &keys, &args)
            .await
            .map_err(|e| {
                log::warn("waiting room: script", format_args!("Redis failed: {e}"));
                ApiError::unavailable(
                    "the waiting room cannot be reached for a moment; places in line are kept, so ask again in a few seconds",
                )
            })?;
        reply.as_deref().and_then(QueueReply::parse).ok_or_else(|| {
            log::warn(
                "waiting room: script",
                format_args!("the queue script replied {reply:?}"),
            );
            ApiError::internal()
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QueueState {
    NotOpen,
    PreQueue,
    NotJoined,
    Waiting,
    Admitted,
    Expired,
}

impl QueueState {
    fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "not_open" => Self::NotOpen,
            "pre_queue" => Self::PreQueue,
            "not_joined" => Self::NotJoined,
            "waiting" => Self::Waiting,
            "admitted" => Self::Admitted,
            "expired" => Self::Expired,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::NotOpen => "not_open",
            Self::PreQueue => "pre_queue",
            Self::NotJoined => "not_joined",
            Self::Waiting => "waiting",
            Self::Admitted => "admitted",
            Self::Expired => "expired",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct QueueReply {
    state: QueueState,
    number: i64,
    admitted_through: i64,
    issued: i64,
    admission_ends_ms: i64,
    now_ms: i64,
}

impl QueueReply {
    fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.split(' ');
        let state = QueueState::parse(parts.next()?)?;
        let mut next = || parts.next()?.parse::<i64>().ok();
        Some(Self {
            state,
            number: next()?,
            admitted_through: next()?,
            issued: next()?,
            admission_ends_ms: next()?,
            now_ms: next()?,
        })
    }
}

fn iso_from_ms(ms: i64) -> Value {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or(Value::Null, |at| rfc3339(at).into())
}

pub async fn handle(
    backend: &impl Backend,
    settings: &WaitingRoomSettings,
    req: Request,
) -> Response {
    web::respond(route(backend, settings, &req).await)
}

async fn route(
    backend: &impl Backend,
    settings: &WaitingRoomSettings,
    req: &Request,
) -> Result<Response, ApiError> {
    let segments = web::segments(req);
    let (event_id, organizer) = match segments.as_slice() {
        ["api", "events", id, "queue"] => (*id, false),
        ["api", "organizer", "events", id, "waiting-room"] => (*id, true),
        _ => return Err(ApiError::not_found("no such waiting room endpoint")),
    };
    let caller = authenticate(backend, &settings.authenticator, req).await?;
    let method = req.method().clone();
    if organizer {
        caller.require_role(Role::Organizer)?;
        let event_id = RowId::parse(event_id)
            .ok_or_else(|| ApiError::not_found(format!("you have no event {event_id:?}")))?
            .get();
        return match method {
            Method::GET => organizer_room(backend, &caller, event_id).await,
            Method::PUT => {
                limited(
                    backend,
                    &settings.limits,
                    Limit::AccountWrites,
                    &caller.user_id,
                    set_room(backend, &caller, event_id, req),
                )
                .await
            }
            Method::DELETE => {
                limited(
                    backend,
                    &settings.limits,
                    Limit::AccountWrites,
                    &caller.user_id,
                    remove_room(backend, &caller, event_id),
                )
                .await
            }
            _ => Err(ApiError::method_not_allowed()),
        };
    }
    caller.require_role(Role::Customer)?;
    let event_id = RowId::parse(event_id)
        .ok_or_else(|| ApiError::not_found(format!("there is no event {event_id:?}")))?
        .get();
    match method {
        Method::POST => {
            limited(
                backend,
                &settings.limits,
                Limit::AccountWrites,
                &caller.user_id,
                queue(backend, settings, &caller, event_id, Op::Join),
            )
            .await
        }
        Method::GET => queue(backend, settings, &caller, event_id, Op::Poll).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// The event's room, or `None` when it has none; `404` when the event is not on sale.
async fn room_of(backend: &impl Backend, event_id: i64) -> Result<Option<Room>, ApiError> {
    let rows = backend.query(ROOM_SQL, &[event_id.into()]).await?;
    let row = rows.first().ok_or_else(|| {
        ApiError::not_found(format!("event {event_id} does not exist or is not on sale"))
    })?;
    Room::from_row(row)
}

/// Joins the event's queue (idempotent: a buyer keeps their place) or reads their state.
async fn queue(
    backend: &impl Backend,
    settings: &WaitingRoomSettings,
    caller: &Caller,
    event_id: i64,
    op: Op,
) -> Result<Response, ApiError> {
    let Some(room) = room_of(backend, event_id).await? else {
        return Ok(web::json(
            StatusCode::OK,
            &json!({"event_id": event_id, "state": "off"}),
        ));
    };
    if op == Op::Join && room.sales_closed {
        return Err(ApiError::conflict(
            "sales_closed",
            format!("sales for event {event_id} are closed; its waiting room takes nobody"),
        ));
    }
    let reply = room.run(backend, op, &caller.user_id).await?;
    if op == Op::Join && reply.state == QueueState::NotOpen {
        return Err(ApiError::conflict(
            "waiting_room_not_open",
            format!(
                "the waiting room of event {event_id} opens at {}",
                iso_from_ms(room.opens_at_ms)
            ),
        )
        .with_detail("opens_at", iso_from_ms(room.opens_at_ms)));
    }
    let mut body = json!({
        "event_id": event_id,
        "state": reply.state.as_str(),
        "opens_at": iso_from_ms(room.opens_at_ms),
        "admits_from": iso_from_ms(room.admits_from_ms),
        "admit_per_minute": room.pace.per_minute(),
    });
    match reply.state {
        QueueState::Waiting => {
            let position = reply.number - reply.admitted_through;
            body["number"] = reply.number.into();
            body["admitted_through"] = reply.admitted_through.into();
            body["position"] = position.into();
            body["estimated_wait_seconds"] = estimated_wait_seconds(position, room.pace).into();
            body["poll_after_seconds"] = POLL_AFTER_SECONDS.into();
        }
        QueueState::Admitted => {
            let admission = Admission {
                account: caller.user_id.clone(),
                event_id,
                expires_at_ms: reply.admission_ends_ms,
            };
            body["number"] = reply.number.into();
            body["admitted_through"] = reply.admitted_through.into();
            body["admission_token"] = admission.sign(&settings.issuer)?.into();
            body["expires_at"] = iso_from_ms(reply.admission_ends_ms);
            body["header"] = "Admission-Token".into();
        }
        QueueState::Expired => {
            body["expired_at"] = iso_from_ms(reply.admission_ends_ms);
        }
        QueueState::PreQueue | QueueState::NotOpen => {
            // Ask again when the room opens or admits, or in a few seconds.
            let next_ms = if reply.state == QueueState::NotOpen {
                room.opens_at_ms
            } else {
                room.admits_from_ms
            };
            body["poll_after_seconds"] = ((next_ms - reply.now_ms) / 1000)
                .clamp(1, POLL_AFTER_SECONDS)
                .into();
        }
        QueueState::NotJoined => {}
    }
    Ok(web::json(StatusCode::OK, &body))
}

/// Lets the line of every room that admits now move, and tells its watchers (the
/// sidecar's jobs call it every tick). Returns how many rooms it advanced.
pub async fn advance_rooms(backend: &impl Backend) -> Result<usize, ApiError> {
    let rows = backend.query(ADMITTING_ROOMS_SQL, &[]).await?;
    let mut advanced = 0;
    for row in &rows {
        if let Some(room) = Room::from_row(row)? {
            room.run(backend, Op::Tick, "").await?;
            advanced += 1;
        }
    }
    Ok(advanced)
}

/// While the event has a waiting room, a hold needs the caller's admission token for it
/// in the `Admission-Token` header: `403 admission_required` without one, `403
/// admission_invalid` with one that is forged, expired, or another account's or event's.
/// A valid token is enough on its own (no query); an event without a room needs none.
pub async fn require_admission(
    backend: &impl Backend,
    verifier: &TokenVerifier,
    req: &Request,
    caller: &Caller,
    event_id: i64,
) -> Result<(), ApiError> {
    let refusal = match web::header(req, ADMISSION_HEADER) {
        Some(token) => {
            match check_admission(
                verifier,
                token.trim(),
                &caller.user_id,
                event_id,
                backend.now_ms(),
            ) {
                Ok(()) => return Ok(()),
                Err(refusal) => Some(refusal),
            }
        }
        None => None,
    };
    let row = query_one(
        backend,
        "SELECT EXISTS (SELECT 1 FROM catalog.waiting_rooms WHERE event_id = $1::int8) AS active",
        &[event_id.into()],
    )
    .await?;
    if !row.bool("active")? {
        return Ok(());
    }
    let queue = format!("/api/events/{event_id}/queue");
    Err(match refusal {
        None => ApiError::new(
            StatusCode::FORBIDDEN,
            "admission_required",
            format!(
                "event {event_id} sells through a waiting room: join it with POST {queue}, \
                 and once admitted send its admission token in the Admission-Token header"
            ),
        ),
        Some(refusal) => ApiError::new(
            StatusCode::FORBIDDEN,
            "admission_invalid",
            format!(
                "{}; ask GET {queue} for yours, or join again with POST {queue}",
                refusal.message()
            ),
        ),
    }
    .with_detail("queue", queue))
}

/// The caller's event's room as its organizer sees it. $1 event id, $2 organizer id.
const ORGANIZER_ROOM_SQL: &str = "
SELECT e.id, w.event_id IS NOT NULL AS has_room,
       jsonb_build_object(
           'event_id', e.id, 'opens_at', iso_utc(w.opens_at),
           'admit_per_minute', w.admit_per_minute, 'admission_minutes', w.admission_minutes,
           'admits_from', iso_utc(greatest(w.opens_at, coalesce(e.sales_start, w.opens_at))),
           'updated_at', iso_utc(w.updated_at))::text AS body
FROM catalog.events e LEFT JOIN catalog.waiting_rooms w ON w.event_id = e.id
WHERE e.id = $1::int8 AND e.organizer_id = $2::text::uuid";

async fn organizer_room(
    backend: &impl Backend,
    caller: &Caller,
    event_id: i64,
) -> Result<Response, ApiError> {
    let rows = backend
        .query(
            ORGANIZER_ROOM_SQL,
            &[event_id.into(), caller.user_id.as_str().into()],
        )
        .await?;
    let row = rows.first().ok_or_else(|| not_yours(event_id))?;
    if !row.bool("has_room")? {
        return Err(ApiError::not_found(format!(
            "event {event_id} has no waiting room; PUT one to turn it on"
        )));
    }
    Ok(web::raw_json(
        StatusCode::OK,
        row.text("body")?.into_bytes(),
    ))
}

async fn set_room(
    backend: &impl Backend,
    caller: &Caller,
    event_id: i64,
    req: &Request,
) -> Result<Response, ApiError> {
    let body: RoomBody = web::parse_json(req)?;
    let rows = backend
        .query(
            "SELECT iso_utc(starts_at) AS starts_at FROM catalog.events
             WHERE id = $1::int8 AND organizer_id = $2::text::uuid AND status <> 'cancelled'",
            &[event_id.into(), caller.user_id.as_str().into()],
        )
        .await?;
    let row = rows.first().ok_or_else(|| not_yours(event_id))?;
    let starts_at = DateTime::parse_from_rfc3339(&row.text("starts_at")?)
        .map_err(|_| ApiError::internal())?
        .with_timezone(&Utc);
    let room = RoomSettings::parse(body, starts_at)?;
    let detail = json!({
        "opens_at": rfc3339(room.opens_at),
        "admit_per_minute": room.admit_per_minute(),
        "admission_minutes": room.admission_minutes,
    });
    query_one(
        backend,
        "WITH saved AS (
             INSERT INTO catalog.waiting_rooms (event_id, opens_at, admit_per_minute, admission_minutes)
             SELECT e.id, $3::text::timestamptz, $4::int8, $5::int8 FROM catalog.events e
             WHERE e.id = $1::int8 AND e.organizer_id = $2::text::uuid
             ON CONFLICT (event_id) DO UPDATE
                 SET opens_at = EXCLUDED.opens_at, admit_per_minute = EXCLUDED.admit_per_minute,
                     admission_minutes = EXCLUDED.admission_minutes, updated_at = now()
             RETURNING event_id
         ), audited AS (
             INSERT INTO catalog.audit_log (actor_id, actor, action, event_id, detail)
             SELECT u.id, u.email, 'waiting_room.set', s.event_id, $6::text::jsonb
             FROM saved s, auth.users u WHERE u.id = $2::text::uuid
         )
         SELECT count(*) AS saved FROM saved",
        &[
            event_id.into(),
            caller.user_id.as_str().into(),
            rfc3339(room.opens_at).into(),
            room.admit_per_minute().into(),
            room.admission_minutes.into(),
            detail.to_string().into(),
        ],
    )
    .await?;
    organizer_room(backend, caller, event_id).await
}

/// Turns the room off: holds need no admission from now on. Its queue is dropped with it
/// (a room turned on again starts a new one).
async fn remove_room(
    backend: &impl Backend,
    caller: &Caller,
    event_id: i64,
) -> Result<Response, ApiError> {
    let row = query_one(
        backend,
        "WITH event AS (
             SELECT e.id FROM catalog.events e
             WHERE e.id = $1::int8 AND e.organizer_id = $2::text::uuid
         ), removed AS (
             DELETE FROM catalog.waiting_rooms w USING event WHERE w.event_id = event.id
             RETURNING w.event_id
         ), audited AS (
             INSERT INTO catalog.audit_log (actor_id, actor, action, event_id)
             SELECT u.id, u.email, 'waiting_room.remove', r.event_id
             FROM removed r, auth.users u WHERE u.id = $2::text::uuid
         )
         SELECT EXISTS (SELECT 1 FROM event) AS owned",
        &[event_id.into(), caller.user_id.as_str().into()],
    )
    .await?;
    if !row.bool("owned")? {
        return Err(not_yours(event_id));
    }
    Ok(web::empty(StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_replies_parse_into_states_and_counts() {
        assert_eq!(
            QueueReply::parse("waiting 12 3 40 0 1900000000000"),
            Some(QueueReply {
                state: QueueState::Waiting,
                number: 12,
                admitted_through: 3,
                issued: 40,
                admission_ends_ms: 0,
                now_ms: 1_900_000_000_000,
            })
        );
        assert_eq!(QueueReply::parse("waiting 12 3"), None);
        assert_eq!(QueueReply::parse("lost 1 2 3 4 5"), None);
    }
}

//! Check-ins at the gate: `GET /api/checkins/events`, `POST /api/checkins`,
//! `POST /api/checkins/batch` and `GET /api/events/{id}/gate-bundle`.
//!
//! A gate account scans at the events an organizer named it staff of. A code is verified
//! here (its Ed25519 signature, under the current ticket key or the previous one during a
//! rotation), then `orders.check_in` decides in one transaction: the ticket's status goes
//! from valid to used at most once, whoever scans it at the same moment, and the answer is
//! recorded under the scan's nonce so a retry gets it again. Offline scanners verify codes
//! against the gate bundle and upload their scans later; the earliest scan of a ticket
//! admits it and the others are double entries.

use chrono::{DateTime, Utc};
use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use ticketbuster_domain::ApiError;
use ticketbuster_domain::account::Role;
use ticketbuster_domain::checkins::{
    CheckinStatus, MAX_BATCH_SCANS, MAX_CODE_CHARS, ScanNonce, ScanTime,
};
use ticketbuster_domain::ids::{PublicId, RowId};
use ticketbuster_domain::tickets::{TICKET_ISSUER, TicketJwk, TicketVerifier};
use ticketbuster_domain::token::Caller;

use crate::backend::{Backend, Row, query_one};
use crate::identity::{Authenticator, authenticate};
use crate::web::{self, Request, Response};

/// An upload of [`MAX_BATCH_SCANS`] scans of ~300-character codes fits with room to spare.
pub const MAX_BATCH_BODY_BYTES: usize = 512 * 1024;

const MAX_LISTED_EVENTS: i64 = 100;

pub struct CheckinSettings {
    pub authenticator: Authenticator,
    /// The ticket signing key's public half, and the previous one during a rotation.
    pub tickets: TicketVerifier,
}

pub async fn handle(backend: &impl Backend, settings: &CheckinSettings, req: Request) -> Response {
    web::respond(route(backend, settings, &req).await)
}

async fn route(
    backend: &impl Backend,
    settings: &CheckinSettings,
    req: &Request,
) -> Result<Response, ApiError> {
    let segments = web::segments(req);
    let known_path = matches!(
        segments.as_slice(),
        ["api", "checkins"]
            | ["api", "checkins", "events" | "batch"]
            | ["api", "events", _, "gate-bundle"]
    );
    if !known_path {
        return Err(ApiError::not_found("no such check-in endpoint"));
    }
    let caller = authenticate(backend, &settings.authenticator, req).await?;
    match (segments.as_slice(), req.method().clone()) {
        (["api", "checkins", "events"], Method::GET) => events(backend, &caller).await,
        (["api", "checkins"], Method::POST) => check_in(backend, settings, &caller, req).await,
        (["api", "checkins", "batch"], Method::POST) => {
            batch(backend, settings, &caller, req).await
        }
        (["api", "events", id, "gate-bundle"], Method::GET) => {
            let event_id = RowId::parse(id)
                .ok_or_else(|| ApiError::not_found(format!("there is no event {id:?}")))?;
            bundle(backend, settings, &caller, event_id.get()).await
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

async fn events(backend: &impl Backend, caller: &Caller) -> Result<Response, ApiError> {
    caller.require_role(Role::Gate)?;
    let row = query_one(
        backend,
        "SELECT json_build_object('events', coalesce(json_agg(json_build_object(
                 'id', e.id, 'title', e.title, 'venue', e.venue, 'city', e.city,
                 'starts_at', iso_utc(e.starts_at)) ORDER BY e.starts_at, e.id), '[]'::json))::text AS body
         FROM (SELECT e.* FROM catalog.gate_staff g JOIN catalog.events e ON e.id = g.event_id
               WHERE g.user_id = $1::text::uuid ORDER BY e.starts_at, e.id LIMIT $2::int8) e",
        &[caller.user_id.as_str().into(), MAX_LISTED_EVENTS.into()],
    )
    .await?;
    Ok(web::raw_json(
        StatusCode::OK,
        row.text("body")?.into_bytes(),
    ))
}

/// One scan's answer, as `orders.check_in` recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Scan {
    status: CheckinStatus,
    message: &'static str,
    ticket_id: Option<String>,
    event_id: Option<i64>,
    seat: Option<String>,
    first_checkin_at: Option<String>,
    gate: Option<String>,
    double_entry: bool,
}

impl Scan {
    fn invalid(message: &'static str) -> Self {
        Self {
            status: CheckinStatus::Invalid,
            message,
            ticket_id: None,
            event_id: None,
            seat: None,
            first_checkin_at: None,
            gate: None,
            double_entry: false,
        }
    }

    fn from_row(row: &Row) -> Result<Self, ApiError> {
        let raw = row.text("status")?;
        let status = CheckinStatus::parse(&raw).ok_or_else(|| {
            eprintln!("error: orders.check_in answered {raw:?}");
            ApiError::internal()
        })?;
        let double_entry = row.bool("double_entry")?;
        Ok(Self {
            status,
            message: status.message(double_entry),
            ticket_id: row.opt_text("ticket_id")?,
            event_id: row.opt_int("event_id")?,
            seat: row.opt_text("seat")?,
            first_checkin_at: row.opt_text("first_checkin_at")?,
            gate: row.opt_text("gate")?,
            double_entry,
        })
    }
}

/// A nonce already recorded for a scan of another ticket: nothing was checked in.
struct NonceReused;

/// Parameters: $1 gate account, $2 ticket, $3 nonce or NULL, $4 when scanned (NULL: now),
/// $5 whether the scan was made offline.
const CHECK_IN_SQL: &str = "SELECT status, ticket_id::text AS ticket_id, event_id, seat,
            first_checkin_at, gate, double_entry
     FROM orders.check_in($1::text::uuid, $2::text::uuid, $3::text,
                          coalesce($4::text::timestamptz, clock_timestamp()), $5::bool)";

/// The ticket a code names, if the code is one of ours.
fn ticket_of(tickets: &TicketVerifier, code: &str) -> Option<PublicId> {
    if code.len() > MAX_CODE_CHARS {
        return None;
    }
    let claims = tickets.verify(code.trim()).ok()?;
    PublicId::parse(&claims.ticket_id)
}

async fn scan(
    backend: &impl Backend,
    tickets: &TicketVerifier,
    gate_id: &str,
    code: &str,
    nonce: Option<&ScanNonce>,
    offline_at: Option<ScanTime>,
) -> Result<Result<Scan, NonceReused>, ApiError> {
    let Some(ticket_id) = ticket_of(tickets, code) else {
        return Ok(Ok(Scan::invalid(CheckinStatus::Invalid.message(false))));
    };
    let row = query_one(
        backend,
        CHECK_IN_SQL,
        &[
            gate_id.into(),
            ticket_id.as_str().into(),
            nonce.map(ScanNonce::as_str).into(),
            offline_at.map(ScanTime::to_rfc3339).into(),
            offline_at.is_some().into(),
        ],
    )
    .await?;
    if row.text("status")? == "nonce_reused" {
        return Ok(Err(NonceReused));
    }
    Scan::from_row(&row).map(Ok)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanBody {
    code: String,
    nonce: Option<String>,
}

#[derive(Serialize)]
struct ScanAnswer<'a> {
    status: CheckinStatus,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ticket_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seat: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_checkin_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gate: Option<&'a str>,
}

fn nonce_of(raw: Option<&str>, path: &str) -> Result<Option<ScanNonce>, ApiError> {
    raw.map(ScanNonce::parse)
        .transpose()
        .map_err(|e| ApiError::invalid_field(path, e))
}

async fn check_in(
    backend: &impl Backend,
    settings: &CheckinSettings,
    caller: &Caller,
    req: &Request,
) -> Result<Response, ApiError> {
    caller.require_role(Role::Gate)?;
    let body: ScanBody = web::parse_json(req)?;
    let nonce = nonce_of(body.nonce.as_deref(), "nonce")?;
    let scan = scan(
        backend,
        &settings.tickets,
        &caller.user_id,
        &body.code,
        nonce.as_ref(),
        None,
    )
    .await?
    .map_err(|NonceReused| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "nonce_reused",
            "this nonce was already sent with another ticket's code; use a fresh nonce per scan",
        )
    })?;
    Ok(web::json(
        StatusCode::OK,
        &ScanAnswer {
            status: scan.status,
            message: scan.message,
            ticket_id: scan.ticket_id.as_deref(),
            event_id: scan.event_id,
            seat: scan.seat.as_deref(),
            first_checkin_at: scan.first_checkin_at.as_deref(),
            gate: scan.gate.as_deref(),
        },
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    scans: Vec<BatchScan>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchScan {
    code: String,
    scanned_at: String,
    nonce: Option<String>,
}

#[derive(Serialize)]
struct BatchAnswer<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    status: CheckinStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    ticket_id: Option<&'a str>,
    double_entry: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_checkin_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gate: Option<&'a str>,
    message: &'a str,
}

/// An offline scanner's upload. Scans are checked in earliest first, whatever their order
/// in the list, so within an upload too the earliest scan of a ticket admits it; the
/// answers come back in the order sent.
async fn batch(
    backend: &impl Backend,
    settings: &CheckinSettings,
    caller: &Caller,
    req: &Request,
) -> Result<Response, ApiError> {
    caller.require_role(Role::Gate)?;
    let body: BatchBody = web::parse_json_up_to(req, MAX_BATCH_BODY_BYTES)?;
    if body.scans.len() > MAX_BATCH_SCANS {
        return Err(ApiError::validation(format!(
            "an upload holds at most {MAX_BATCH_SCANS} scans; send the rest in another"
        )));
    }
    let now = DateTime::<Utc>::from_timestamp_millis(backend.now_ms()).unwrap_or_else(Utc::now);
    let mut parsed = Vec::with_capacity(body.scans.len());
    for (i, item) in body.scans.iter().enumerate() {
        let nonce = nonce_of(item.nonce.as_deref(), &format!("scans[{i}].nonce"))?;
        let at = ScanTime::parse(&item.scanned_at, now)
            .map_err(|e| ApiError::invalid_field(&format!("scans[{i}].scanned_at"), e))?;
        parsed.push((i, at, nonce));
    }
    parsed.sort_by_key(|(i, at, _)| (*at, *i));

    let mut scans: Vec<Option<Scan>> = vec![None; body.scans.len()];
    for (i, at, nonce) in parsed {
        let scanned = scan(
            backend,
            &settings.tickets,
            &caller.user_id,
            &body.scans[i].code,
            nonce.as_ref(),
            Some(at),
        )
        .await?;
        scans[i] = Some(scanned.unwrap_or_else(|NonceReused| {
            Scan::invalid("this nonce was already sent with another ticket's code")
        }));
    }
    let results: Vec<BatchAnswer> = body
        .scans
        .iter()
        .zip(&scans)
        .filter_map(|(item, scan)| {
            scan.as_ref().map(|scan| BatchAnswer {
                nonce: item.nonce.as_deref(),
                status: scan.status,
                ticket_id: scan.ticket_id.as_deref(),
                double_entry: scan.double_entry,
                first_checkin_at: scan.first_checkin_at.as_deref(),
                gate: scan.gate.as_deref(),
                message: scan.message,
            })
        })
        .collect();
    Ok(web::json(
        StatusCode::OK,
        &serde_json::json!({ "results": results }),
    ))
}

#[derive(Serialize)]
struct GateBundle {
    event_id: i64,
    generated_at: String,
    issuer: &'static str,
    keys: Vec<TicketJwk>,
    void: Vec<String>,
    checked_in: Vec<String>,
}

/// What an offline scanner needs for one event: the keys codes are signed with, and
/// the tickets it must refuse. Gate staff of the event and its organizer may read it.
async fn bundle(
    backend: &impl Backend,
    settings: &CheckinSettings,
    caller: &Caller,
    event_id: i64,
) -> Result<Response, ApiError> {
    if caller.role == Role::Customer {
        return Err(ApiError::forbidden(
            "the gate bundle is for gate staff and the event's organizer",
        ));
    }
    let rows = backend
        .query(
            "SELECT iso_utc(now()) AS generated_at,
                    (SELECT coalesce(json_agg(t.id ORDER BY t.id), '[]') FROM orders.tickets t
                     WHERE t.event_id = e.id AND t.status = 'void')::text AS void,
                    (SELECT coalesce(json_agg(t.id ORDER BY t.id), '[]') FROM orders.tickets t
                     WHERE t.event_id = e.id AND t.status = 'used')::text AS checked_in
             FROM catalog.events e
             WHERE e.id = $1::int8
               AND CASE $3::text
                     WHEN 'gate' THEN EXISTS (SELECT 1 FROM catalog.gate_staff g
                                              WHERE g.event_id = e.id AND g.user_id = $2::text::uuid)
                     WHEN 'organizer' THEN e.organizer_id = $2::text::uuid
                     ELSE false
                   END",
            &[
                event_id.into(),
                caller.user_id.as_str().into(),
                caller.role.as_str().into(),
            ],
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| ApiError::not_found("there is no such event among yours"))?;
    let ids = |column: &str| -> Result<Vec<String>, ApiError> {
        serde_json::from_str(&row.text(column)?).map_err(|e| {
            eprintln!("error: gate bundle {column} of event {event_id}: {e}");
            ApiError::internal()
        })
    };
    Ok(web::json(
        StatusCode::OK,
        &GateBundle {
            event_id,
            generated_at: row.text("generated_at")?,
            issuer: TICKET_ISSUER,
            keys: settings.tickets.jwks(),
            void: ids("void")?,
            checked_in: ids("checked_in")?,
        },
    ))
}

//! Orders and tickets: `POST /api/orders`, `GET /api/orders`, `GET /api/orders/{id}`,
//! `POST /api/orders/{id}/cancel`, `GET /api/orders/{id}/tickets`,
//! `GET /api/tickets/{id}/qr.svg` and `qr.png`.
//!
//! Placing an order only records it (PENDING, in one statement: `orders.place_order`) and
//! wakes the order worker up through the `orders` channel; the worker takes payment and issues the
//! tickets. The order row is the outbox, so a lost message delays an order but never loses it.
//! On hosts without a Redis trigger the answer instead asks its component to run the worker's
//! saga after sending it ([`Settlement::AfterResponse`]).

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use ticketbuster_domain::ApiError;
use ticketbuster_domain::account::Role;
use ticketbuster_domain::idempotency::IdempotencyKey;
use ticketbuster_domain::ids::PublicId;
use ticketbuster_domain::tickets::{TicketClaims, TicketSigner};
use ticketbuster_domain::token::Caller;

use crate::backend::{Backend, Row, query_one};
use crate::identity::{Authenticator, authenticate};
use crate::log;
use crate::notifications::{self, Notification};
use crate::rate_limit::{Limit, RateLimits, limited};
use crate::seat_changes::{SeatChange, SeatStatus, seats_changed};
use crate::web::{self, Request, Response};
use crate::worker;

/// The channel the order worker listens on; a message is an order id.
pub const ORDERS_CHANNEL: &str = "orders";

/// How long a placed order keeps its seats held, at least, while it waits to be processed:
/// the worker settles in seconds and stalled orders are retried within 30 s; a hold that
/// already lasts longer is left as it is.
const KEEP_SEATS_SECONDS: i64 = 5 * 60;

const MAX_LISTED_ORDERS: i64 = 100;

/// QR images are the same ticket for a day; a client may keep them that long.
const QR_MAX_AGE_SECONDS: u32 = 24 * 60 * 60;
const DEFAULT_QR_MODULE_PIXELS: u32 = 8;

pub struct OrderSettings {
    pub authenticator: Authenticator,
    pub signer: TicketSigner,
    pub limits: RateLimits,
    pub settlement: Settlement,
}

/// How a placed order reaches the worker's saga (Spin variable `settle_orders`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Settlement {
    /// A wake-up on the `orders` channel, for the Redis-triggered order worker.
    #[default]
    Worker,
    /// The answer carries a [`worker::SettleAfterResponse`]: the component settles the order
    /// itself once the answer is sent, for hosts that run HTTP triggers only. Work lost with
    /// its process is settled by the next scheduled call of the jobs route.
    AfterResponse,
}

impl Settlement {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "" | "worker" => Ok(Self::Worker),
            "after-response" => Ok(Self::AfterResponse),
            other => Err(format!(
                "{other:?} is neither `worker` nor `after-response`"
            )),
        }
    }
}

/// Draws a ticket's code as an image: the `qr` component under Spin, the same crate natively.
pub trait QrRenderer {
    fn svg(&self, payload: &str) -> Result<String, String>;
    fn png(&self, payload: &str, module_pixels: u32) -> Result<Vec<u8>, String>;
}

pub async fn handle(
    backend: &impl Backend,
    settings: &OrderSettings,
    qr: &impl QrRenderer,
    req: Request,
) -> Response {
    web::respond(route(backend, settings, qr, &req).await)
}

async fn route(
    backend: &impl Backend,
    settings: &OrderSettings,
    qr: &impl QrRenderer,
    req: &Request,
) -> Result<Response, ApiError> {
    let segments = web::segments(req);
    let known_path = matches!(
        segments.as_slice(),
        ["api", "orders"]
            | ["api", "orders", _]
            | ["api", "orders", _, "cancel" | "tickets"]
            | ["api", "tickets", _, "qr.svg" | "qr.png"]
    );
    if !known_path {
        return Err(ApiError::not_found("no such order endpoint"));
    }
    let caller = authenticate(backend, &settings.authenticator, req).await?;
    let method = req.method().clone();
    let order_id = |raw: &str| {
        PublicId::parse(raw).ok_or_else(|| ApiError::not_found("there is no such order"))
    };
    match (segments.as_slice(), method) {
        (["api", "orders"], Method::POST) => {
            limited(
                backend,
                &settings.limits,
                Limit::AccountWrites,
                &caller.user_id,
                place(backend, settings.settlement, &caller, req),
            )
            .await
        }
        (["api", "orders"], Method::GET) => list(backend, &caller).await,
        (["api", "orders", id], Method::GET) => detail(backend, &caller, &order_id(id)?).await,
        (["api", "orders", id, "cancel"], Method::POST) => {
            limited(
                backend,
                &settings.limits,
                Limit::AccountWrites,
                &caller.user_id,
                cancel(backend, &caller, &order_id(id)?),
            )
            .await
        }
        (["api", "orders", id, "tickets"], Method::GET) => {
            tickets(backend, settings, &caller, &order_id(id)?).await
        }
        (["api", "tickets", id, image], Method::GET) => {
            let ticket_id = PublicId::parse(id)
                .ok_or_else(|| ApiError::not_found("there is no such ticket"))?;
            qr_image(backend, settings, qr, &caller, &ticket_id, image, req).await
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderBody {
    hold_id: String,
}

/// Parameters: $1 user, $2 idempotency key, $3 hold, $4 seconds the order keeps its seats.
pub const PLACE_SQL: &str = "SELECT outcome, order_id::text AS order_id, status
     FROM orders.place_order($1::text::uuid, $2::text, $3::text::uuid, $4::int8)";

async fn place(
    backend: &impl Backend,
    settlement: Settlement,
    caller: &Caller,
    req: &Request,
) -> Result<Response, ApiError> {
    caller.require_role(Role::Customer)?;
    let key = IdempotencyKey::required(web::header_as_sent(req, "idempotency-key").as_deref())?;
    let body: OrderBody = web::parse_json(req)?;
    let hold_id = PublicId::parse(&body.hold_id)
        .ok_or_else(|| ApiError::validation("hold_id must be the id of one of your holds"))?;
    let row = query_one(
        backend,
        PLACE_SQL,
        &[
            caller.user_id.as_str().into(),
            key.as_str().into(),
            hold_id.as_str().into(),
            KEEP_SEATS_SECONDS.into(),
        ],
    )
    .await?;
    let order_id = row.opt_text("order_id")?;
    // Only an order that exists has a status.
    let status = row.opt_text("status")?.unwrap_or_default();
    match (row.text("outcome")?.as_str(), order_id) {
        ("created", Some(order_id)) if settlement == Settlement::Worker => {
            // A lost message only delays the order: the outbox sweep publishes it again.
            if let Err(e) = worker::wake_up(backend, &order_id).await {
                log::warn(
                    "orders: wake-up not published",
                    format_args!("order {order_id} not published, the outbox will: {e}"),
                );
            }
            Ok(accepted(&order_id, &status))
        }
        ("created" | "existing", Some(order_id)) => {
            let mut response = accepted(&order_id, &status);
            // A retry of an order still waiting settles it too, should the first run be lost.
            if settlement == Settlement::AfterResponse
                && status == "PENDING"
                && let Some(id) = PublicId::parse(&order_id)
            {
                response
                    .extensions_mut()
                    .insert(worker::SettleAfterResponse(id));
            }
            Ok(response)
        }
        ("key_reused", _) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key already placed an order for another hold; \
             use a fresh key for a new purchase",
        )),
        ("hold_ordered", Some(order_id)) => Err(ApiError::conflict(
            "hold_already_ordered",
            "this hold already has an order, placed with another Idempotency-Key",
        )
        .with_detail("order_id", order_id)),
        ("hold_not_found", _) => Err(ApiError::not_found("there is no such hold")),
        ("hold_ended", _) => Err(ApiError::conflict(
            "hold_ended",
            "the hold has expired or was released; hold the seats again",
        )),
        ("event_closed", _) => Err(ApiError::conflict(
            "event_closed",
            "the event is no longer on sale",
        )),
        (other, _) => {
            eprintln!("error: orders.place_order answered {other:?}");
            Err(ApiError::internal())
        }
    }
}

fn accepted(order_id: &str, status: &str) -> Response {
    let status_url = format!("/api/orders/{order_id}");
    let mut response = web::json(
        StatusCode::ACCEPTED,
        &json!({ "order_id": order_id, "status": status, "status_url": status_url }),
    );
    if let Ok(location) = http::HeaderValue::from_str(&status_url) {
        response
            .headers_mut()
            .insert(http::header::LOCATION, location);
    }
    response
}

async fn list(backend: &impl Backend, caller: &Caller) -> Result<Response, ApiError> {
    let row = query_one(
        backend,
        "SELECT json_build_object('items', coalesce(json_agg(json_build_object(
                 'order_id', o.id, 'event_id', o.event_id, 'event_title', e.title,
                 'status', o.status, 'total_cents', o.total_cents, 'currency', o.currency,
                 'seat_count', (SELECT count(*) FROM orders.order_items i WHERE i.order_id = o.id),
                 'created_at', iso_utc(o.created_at), 'status_url', '/api/orders/' || o.id)
             ORDER BY o.created_at DESC), '[]'::json))::text AS body
         FROM (SELECT * FROM orders.orders WHERE user_id = $1::text::uuid
               ORDER BY created_at DESC LIMIT $2::int8) o
         JOIN catalog.events e ON e.id = o.event_id",
        &[caller.user_id.as_str().into(), MAX_LISTED_ORDERS.into()],
    )
    .await?;
    Ok(web::raw_json(
        StatusCode::OK,
        row.text("body")?.into_bytes(),
    ))
}

/// One order of its owner, with items, total, status and the history of its status.
pub const DETAIL_SQL: &str = "SELECT json_build_object(
         'order_id', o.id, 'event_id', o.event_id, 'event_title', e.title, 'hold_id', o.hold_id,
         'status', o.status, 'status_reason', o.status_reason,
         'total_cents', o.total_cents, 'currency', o.currency,
         'created_at', iso_utc(o.created_at), 'updated_at', iso_utc(o.updated_at),
         'items', (SELECT json_agg(json_build_object('seat_id', s.id, 'section', s.section,
                          'row', s.row_label, 'number', s.number, 'price_cents', i.price_cents)
                          ORDER BY s.id)
                   FROM orders.order_items i JOIN catalog.seats s ON s.id = i.seat_id
                   WHERE i.order_id = o.id),
         'history', (SELECT json_agg(json_build_object('from', h.from_status, 'to', h.to_status,
                            'reason', h.reason, 'at', iso_utc(h.at)) ORDER BY h.id)
                     FROM orders.order_history h WHERE h.order_id = o.id),
         'tickets_url', '/api/orders/' || o.id || '/tickets')::text AS body
     FROM orders.orders o JOIN catalog.events e ON e.id = o.event_id
     WHERE o.id = $1::text::uuid AND o.user_id = $2::text::uuid";

async fn detail(
    backend: &impl Backend,
    caller: &Caller,
    order_id: &PublicId,
) -> Result<Response, ApiError> {
    let rows = backend
        .query(
            DETAIL_SQL,
            &[order_id.as_str().into(), caller.user_id.as_str().into()],
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| ApiError::not_found("there is no such order"))?;
    Ok(web::raw_json(
        StatusCode::OK,
        row.text("body")?.into_bytes(),
    ))
}

async fn cancel(
    backend: &impl Backend,
    caller: &Caller,
    order_id: &PublicId,
) -> Result<Response, ApiError> {
    let row = query_one(
        backend,
        "SELECT c.outcome, c.status, c.event_id,
                coalesce((SELECT h.seat_ids FROM orders.orders o JOIN catalog.holds h ON h.id = o.hold_id
                          WHERE o.id = $2::text::uuid AND o.user_id = $1::text::uuid), '{}') AS seat_ids
         FROM orders.cancel_order($1::text::uuid, $2::text::uuid) c",
        &[caller.user_id.as_str().into(), order_id.as_str().into()],
    )
    .await?;
    let status = row.opt_text("status")?.unwrap_or_default();
    match row.text("outcome")?.as_str() {
        "cancelled" => {
            let event_id = row.int("event_id")?;
            seats_changed(
                backend,
                &SeatChange {
                    id: format!("{}:cancelled", order_id.as_str()),
                    event_id,
                    seat_ids: &row.int_array("seat_ids")?,
                    status: SeatStatus::Available,
                },
            )
            .await;
            notifications::publish(
                backend,
                &Notification::OrderCancelled {
                    user_id: &caller.user_id,
                    order_id: order_id.as_str(),
                    event_id,
                },
            )
            .await;
            detail(backend, caller, order_id).await
        }
        "not_found" => Err(ApiError::not_found("there is no such order")),
        "not_cancellable" if status == "PROCESSING" => Err(ApiError::conflict(
            "order_not_cancellable",
            "the order is being paid for right now; try again in a few seconds",
        )),
        "not_cancellable" => Err(ApiError::conflict(
            "order_not_cancellable",
            format!("a {status} order cannot be cancelled"),
        )),
        "event_started" => Err(ApiError::conflict(
            "order_not_cancellable",
            "the event has started; its orders can no longer be cancelled",
        )),
        "ticket_used" => Err(ApiError::conflict(
            "order_not_cancellable",
            "a ticket of this order was already used at the gate",
        )),
        other => {
            eprintln!("error: orders.cancel_order answered {other:?}");
            Err(ApiError::internal())
        }
    }
}

/// The fields a ticket's code is signed from, for `ticket_of`.
macro_rules! ticket_columns {
    () => {
        "t.id::text AS ticket_id, t.event_id, t.seat_id, t.status AS ticket_status,
         s.section, s.row_label, s.number::int8 AS number,
         extract(epoch FROM t.issued_at)::int8 AS issued_at, iso_utc(t.issued_at) AS issued_at_text"
    };
}

fn ticket_of(row: &Row) -> Result<TicketClaims, ApiError> {
    let issued_at = u64::try_from(row.int("issued_at")?).map_err(|_| ApiError::internal())?;
    Ok(TicketClaims {
        ticket_id: row.text("ticket_id")?,
        event_id: row.int("event_id")?,
        seat_id: row.int("seat_id")?,
        seat_label: format!(
            "{}/{}/{}",
            row.text("section")?,
            row.text("row_label")?,
            row.int("number")?
        ),
        issued_at,
    })
}

fn sign(settings: &OrderSettings, ticket: &TicketClaims) -> Result<String, ApiError> {
    settings.signer.sign(ticket).map_err(|e| {
        eprintln!("error: could not sign ticket {}: {e}", ticket.ticket_id);
        ApiError::internal()
    })
}

async fn tickets(
    backend: &impl Backend,
    settings: &OrderSettings,
    caller: &Caller,
    order_id: &PublicId,
) -> Result<Response, ApiError> {
    let rows = backend
        .query(
            concat!(
                "SELECT o.status, ",
                ticket_columns!(),
                " FROM orders.orders o
                  LEFT JOIN orders.tickets t ON t.order_id = o.id
                  LEFT JOIN catalog.seats s ON s.id = t.seat_id
                  WHERE o.id = $1::text::uuid AND o.user_id = $2::text::uuid
                  ORDER BY t.seat_id"
            ),
            &[order_id.as_str().into(), caller.user_id.as_str().into()],
        )
        .await?;
    let first = rows
        .first()
        .ok_or_else(|| ApiError::not_found("there is no such order"))?;
    let mut items = Vec::new();
    for row in rows
        .iter()
        .filter(|r| matches!(r.opt_text("ticket_id"), Ok(Some(_))))
    {
        let ticket = ticket_of(row)?;
        let status = row.text("ticket_status")?;
        let code = if status == "void" {
            None
        } else {
            Some(sign(settings, &ticket)?)
        };
        let base = format!("/api/tickets/{}", ticket.ticket_id);
        items.push(json!({
            "ticket_id": ticket.ticket_id,
            "event_id": ticket.event_id,
            "seat": {
                "id": ticket.seat_id,
                "section": row.text("section")?,
                "row": row.text("row_label")?,
                "number": row.int("number")?,
            },
            "status": status,
            "issued_at": row.text("issued_at_text")?,
            "code": code,
            "qr_svg_url": format!("{base}/qr.svg"),
            "qr_png_url": format!("{base}/qr.png"),
        }));
    }
    Ok(web::json(
        StatusCode::OK,
        &json!({ "order_id": order_id.as_str(), "status": first.text("status")?, "items": items }),
    ))
}

async fn qr_image(
    backend: &impl Backend,
    settings: &OrderSettings,
    qr: &impl QrRenderer,
    caller: &Caller,
    ticket_id: &PublicId,
    image: &str,
    req: &Request,
) -> Result<Response, ApiError> {
    let rows = backend
        .query(
            concat!(
                "SELECT ",
                ticket_columns!(),
                " FROM orders.tickets t
                  JOIN orders.orders o ON o.id = t.order_id
                  JOIN catalog.seats s ON s.id = t.seat_id
                  WHERE t.id = $1::text::uuid AND o.user_id = $2::text::uuid"
            ),
            &[ticket_id.as_str().into(), caller.user_id.as_str().into()],
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| ApiError::not_found("there is no such ticket"))?;
    if row.text("ticket_status")? == "void" {
        return Err(ApiError::new(
            StatusCode::GONE,
            "ticket_void",
            "this ticket was voided when its order was cancelled",
        ));
    }
    let code = sign(settings, &ticket_of(row)?)?;
    let rendered = if image == "qr.svg" {
        qr.svg(&code)
            .map(|svg| web::private_bytes("image/svg+xml", QR_MAX_AGE_SECONDS, svg.into_bytes()))
    } else {
        let pixels = module_pixels(req)?;
        qr.png(&code, pixels)
            .map(|png| web::private_bytes("image/png", QR_MAX_AGE_SECONDS, png))
    };
    rendered.map_err(|e| {
        eprintln!("error: could not render the QR code of ticket {ticket_id}: {e}");
        ApiError::internal()
    })
}

/// `?px=N`: how many pixels wide each QR module is in a PNG, 1 to 32.
fn module_pixels(req: &Request) -> Result<u32, ApiError> {
    match web::query_pairs(req).into_iter().find(|(k, _)| k == "px") {
        None => Ok(DEFAULT_QR_MODULE_PIXELS),
        Some((_, v)) => v
            .parse::<u32>()
            .ok()
            .filter(|px| (1..=32).contains(px))
            .ok_or_else(|| ApiError::validation("px must be a whole number from 1 to 32")),
    }
}

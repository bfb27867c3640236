//! The order worker's saga, run for each message on the `orders` channel.
//!
//! A message is a wake-up naming one order. The run claims that order and others still
//! PENDING in one conditional update (`FOR UPDATE SKIP LOCKED`, so concurrent runs and
//! replicas share the work and a repeated message finds nothing to do), takes payment for
//! each, then settles them all in one statement: paid orders sell exactly their held seats
//! and get one ticket per seat, the others fail and free their seats. Only the run that
//! holds an order's claim can settle it.
//!
//! A run whose first batch comes back full has a backlog in front of it, and works it off
//! in several lanes at once, each claiming and settling its own batches over its own
//! database connection: one lane spends most of its time waiting for PostgreSQL's commits,
//! and Spin's Redis trigger starts the next run only when this one ends.

use std::collections::BTreeMap;

use serde_json::Value;
use ticketbuster_domain::ids::PublicId;
use ticketbuster_domain::orders::PaymentProvider;

use crate::backend::{Backend, BackendError, Row};
use crate::log;
use crate::notifications::{self, Notification};
use crate::orders::ORDERS_CHANNEL;
use crate::pipeline;
use crate::seat_changes::{SeatChange, SeatStatus, seats_changed};

pub struct WorkerSettings {
    /// Orders claimed and settled together.
    pub batch_size: i64,
    /// Batches a run claims and settles at once when it finds a backlog.
    pub lanes: usize,
    pub payment: PaymentProvider,
}

/// The most lanes a run may use; each holds a database connection while it runs.
pub const MAX_LANES: usize = 16;

/// Each lane keeps claiming while its batches come back full, up to this many, then the
/// run yields to the next message (Spin's Redis trigger delivers one message at a time).
const MAX_BATCHES_PER_LANE: usize = 16;

pub const DECLINED_REASON: &str = "payment declined by the provider";

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The message is not an order id: it is logged and dropped, and nothing changes.
    #[error("rejected message: {0}")]
    Rejected(String),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Carried by an answer (in its extensions) whose component should settle this order after
/// sending it: a run of [`drain`] with the order first in line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettleAfterResponse(pub PublicId);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunReport {
    pub completed: usize,
    pub failed: usize,
}

impl std::ops::AddAssign for RunReport {
    fn add_assign(&mut self, other: Self) {
        self.completed += other.completed;
        self.failed += other.failed;
    }
}

/// Parameters: $1 the named order (first in line), $2 batch size, $3 this run's claim id.
pub const CLAIM_SQL: &str = "SELECT order_id::text AS order_id
     FROM orders.claim_orders($1::text::uuid, $2::int8::int4, $3::text::uuid)";

/// Parameters: $1 claim id, $2 paid order ids, $3 declined order ids (as `{a,b}`), $4 reason.
/// Each settled order comes back with its seats, now sold or available again.
pub const SETTLE_SQL: &str =
    "SELECT order_id::text AS order_id, user_id::text AS user_id, event_id,
            status, reason, array_to_json(ticket_ids)::text AS ticket_ids, seat_ids
     FROM orders.settle_orders($1::text::uuid, $2::text::uuid[], $3::text::uuid[], $4::text)";

/// Set while a wake-up message waits for the worker. Spin's Redis trigger handles messages
/// one at a time and each costs at least a claim, even when an earlier run already took its
/// order; so an order publishes a message only when none is waiting. The worker clears the
/// flag before it claims: an order that found the flag set committed before that claim,
/// which therefore sees it.
const WAKE_UP_PENDING_KEY: &str = "orders:wake-up-pending";

/// A waiting wake-up that was lost (no worker subscribed) stops holding back others after this.
const WAKE_UP_PENDING_MS: u32 = 1_000;

/// KEYS: the pending flag. ARGV: order id, flag lifetime in ms, channel. Replies 1 when published.
const WAKE_UP_SCRIPT: &str = r"
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[2]) then
  redis.call('PUBLISH', ARGV[3], ARGV[1])
  return 1
end
return 0
";

/// Tells the worker a new order is waiting, unless a wake-up is already on its way.
pub async fn wake_up(backend: &impl Backend, order_id: &str) -> Result<(), BackendError> {
    backend
        .eval(
            WAKE_UP_SCRIPT,
            &[WAKE_UP_PENDING_KEY],
            &[order_id, &WAKE_UP_PENDING_MS.to_string(), ORDERS_CHANNEL],
        )
        .await
        .map(drop)
}

pub fn parse_message(payload: &[u8]) -> Result<PublicId, WorkerError> {
    let text = std::str::from_utf8(payload).map_err(|_| {
        WorkerError::Rejected(format!("{} bytes that are not UTF-8", payload.len()))
    })?;
    PublicId::parse(text.trim()).ok_or_else(|| {
        let shown: String = text.chars().take(80).collect();
        WorkerError::Rejected(format!("{shown:?} is not an order id"))
    })
}

pub async fn handle_message(
    backend: &impl Backend,
    settings: &WorkerSettings,
    payload: &[u8],
) -> Result<RunReport, WorkerError> {
    let first = parse_message(payload)?;
    Ok(drain(backend, settings, Some(&first)).await?)
}

/// A worker run: claims PENDING orders in batches (`first` at the head of the line) and
/// settles them. A first batch that comes back full means a backlog, which
/// `settings.lanes` lanes then share, each until a batch of its own comes back short or
/// [`MAX_BATCHES_PER_LANE`] were done. The Redis trigger runs it for each message; the
/// sidecar runs it itself while no worker listens, and the jobs route on each scheduled
/// call.
pub async fn drain<B: Backend>(
    backend: &B,
    settings: &WorkerSettings,
    first: Option<&PublicId>,
) -> Result<RunReport, BackendError> {
    run_begins(backend).await;
    let mut report = RunReport::default();
    if !settle_batch(backend, settings, first, &mut report).await? {
        return Ok(report);
    }
    let others: Vec<B> = (1..settings.lanes.clamp(1, MAX_LANES))
        .map(|_| backend.alongside())
        .collect();
    let lanes = std::iter::once(backend)
        .chain(&others)
        .map(|lane| settle_batches(lane, settings, MAX_BATCHES_PER_LANE));
    let mut failure = None;
    for lane in futures::future::join_all(lanes).await {
        match lane {
            Ok(done) => report += done,
            Err(e) => failure = Some(e),
        }
    }
    failure.map_or(Ok(report), Err)
}

/// The run an HTTP-only host makes once it has answered an order: one batch, that order
/// first, so that it ends well within the host's limit on a handler's time (about 30 s);
/// the jobs route drains whatever is left.
pub async fn settle_after_response(
    backend: &impl Backend,
    settings: &WorkerSettings,
    order: &PublicId,
) -> Result<RunReport, BackendError> {
    run_begins(backend).await;
    let mut report = RunReport::default();
    settle_batch(backend, settings, Some(order), &mut report).await?;
    Ok(report)
}

async fn run_begins(backend: &impl Backend) {
    if let Err(e) = pipeline::worker_run_begins(backend, WAKE_UP_PENDING_KEY).await {
        log::warn(
            "worker: run not recorded",
            format_args!("the wake-up flag was not cleared: {e}"),
        );
    }
}

/// One lane: batches until one comes back short, at most `max_batches`.
async fn settle_batches(
    backend: &impl Backend,
    settings: &WorkerSettings,
    max_batches: usize,
) -> Result<RunReport, BackendError> {
    let mut report = RunReport::default();
    for _ in 0..max_batches {
        if !settle_batch(backend, settings, None, &mut report).await? {
            break;
        }
    }
    Ok(report)
}

/// Claims a batch (`first` at its head), takes payment, settles it and tells the buyers.
/// Whether the batch came back full, so that more may be waiting.
async fn settle_batch(
    backend: &impl Backend,
    settings: &WorkerSettings,
    first: Option<&PublicId>,
    report: &mut RunReport,
) -> Result<bool, BackendError> {
    let claim_id = uuid::Uuid::new_v4().to_string();
    let claimed = backend
        .query(
            CLAIM_SQL,
            &[
                first.map(PublicId::as_str).into(),
                settings.batch_size.into(),
                claim_id.as_str().into(),
            ],
        )
        .await?;
    if claimed.is_empty() {
        return Ok(false);
    }
    let (paid, declined) = charge(&settings.payment, &claimed)?;
    let settled = backend
        .query(
            SETTLE_SQL,
            &[
                claim_id.as_str().into(),
                uuid_array(&paid).into(),
                uuid_array(&declined).into(),
                DECLINED_REASON.into(),
            ],
        )
        .await?;
    announce_seats(backend, &claim_id, &settled).await?;
    tell_the_buyers(backend, &settled, report).await?;
    Ok(claimed.len() as i64 >= settings.batch_size)
}

/// One `seat.changed` per event and outcome of a settled batch: seats sold, or freed
/// again by failed orders.
async fn announce_seats(
    backend: &impl Backend,
    claim_id: &str,
    settled: &[Row],
) -> Result<(), BackendError> {
    let mut changes: BTreeMap<(i64, bool), Vec<i64>> = BTreeMap::new();
    for row in settled {
        let completed = row.text("status")? == "COMPLETED";
        changes
            .entry((row.int("event_id")?, completed))
            .or_default()
            .extend(row.int_array("seat_ids")?);
    }
    for ((event_id, completed), seat_ids) in changes {
        let (what, status) = if completed {
            ("sold", SeatStatus::Sold)
        } else {
            ("failed", SeatStatus::Available)
        };
        let change = SeatChange {
            id: format!("{claim_id}:{event_id}:{what}"),
            event_id,
            seat_ids: &seat_ids,
            status,
        };
        seats_changed(backend, &change).await;
    }
    Ok(())
}

/// Splits the claimed orders into those the provider charged and those it declined.
fn charge(
    provider: &PaymentProvider,
    claimed: &[Row],
) -> Result<(Vec<String>, Vec<String>), BackendError> {
    let mut paid = Vec::new();
    let mut declined = Vec::new();
    for row in claimed {
        let order_id = row.text("order_id")?;
        let draw = getrandom::u32().map_err(|e| BackendError::Database(format!("random: {e}")))?;
        if provider.charge(draw) {
            paid.push(order_id);
        } else {
            declined.push(order_id);
        }
    }
    Ok((paid, declined))
}

/// A PostgreSQL array literal of ids that came from the database as UUIDs.
fn uuid_array(ids: &[String]) -> String {
    format!("{{{}}}", ids.join(","))
}

/// What a settled order's buyer is told, read from its row.
struct Outcome {
    user_id: String,
    order_id: String,
    event_id: i64,
    result: Result<Vec<String>, String>,
}

impl Outcome {
    fn read(row: &Row) -> Result<Self, BackendError> {
        let result = if row.text("status")? == "COMPLETED" {
            Ok(ticket_ids(&row.text("ticket_ids")?)?)
        } else {
            Err(row.text("reason")?)
        };
        Ok(Self {
            user_id: row.text("user_id")?,
            order_id: row.text("order_id")?,
            event_id: row.int("event_id")?,
            result,
        })
    }

    fn notification(&self) -> Notification<'_> {
        let (user_id, order_id, event_id) = (&*self.user_id, &*self.order_id, self.event_id);
        match &self.result {
            Ok(ticket_ids) => Notification::OrderCompleted {
                user_id,
                order_id,
                event_id,
                ticket_ids,
            },
            Err(reason) => Notification::OrderFailed {
                user_id,
                order_id,
                event_id,
                reason,
            },
        }
    }
}

/// Tells the buyers of a settled batch how their orders ended, in one round trip.
async fn tell_the_buyers(
    backend: &impl Backend,
    settled: &[Row],
    report: &mut RunReport,
) -> Result<(), BackendError> {
    let outcomes = settled
        .iter()
        .map(Outcome::read)
        .collect::<Result<Vec<_>, _>>()?;
    for outcome in &outcomes {
        match &outcome.result {
            Ok(_) => report.completed += 1,
            Err(reason) => {
                report.failed += 1;
                eprintln!("order {} failed: {reason}", outcome.order_id);
            }
        }
    }
    let notifications: Vec<Notification<'_>> = outcomes.iter().map(Outcome::notification).collect();
    notifications::publish_all(backend, &notifications).await;
    Ok(())
}

fn ticket_ids(json: &str) -> Result<Vec<String>, BackendError> {
    let column = |problem: String| BackendError::Column {
        column: "ticket_ids".into(),
        problem,
    };
    match serde_json::from_str::<Value>(json).map_err(|e| column(e.to_string()))? {
        Value::Null => Ok(Vec::new()),
        value => serde_json::from_value(value).map_err(|e| column(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_must_be_order_ids() {
        let id = "0b1f6fbb-6670-4522-8da0-cba908482ec9";
        assert_eq!(parse_message(id.as_bytes()).unwrap().as_str(), id);
        assert_eq!(
            parse_message(format!(" {id}\n").as_bytes())
                .unwrap()
                .as_str(),
            id
        );
        for bad in [
            &b""[..],
            b"0b1f6fbb-6670-4522-8da0",
            b"{\"order\":1}",
            b"\xff\xfe",
        ] {
            assert!(
                matches!(parse_message(bad), Err(WorkerError::Rejected(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn ticket_ids_come_as_a_json_array_or_null() {
        assert_eq!(ticket_ids("[\"a\",\"b\"]").unwrap(), vec!["a", "b"]);
        assert!(ticket_ids("null").unwrap().is_empty());
        assert!(ticket_ids("{").is_err());
    }
}

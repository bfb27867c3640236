//! The outbox sweep: Redis pub/sub loses a message when no worker is subscribed, so
//! orders that nobody claimed in time are published again, and orders whose worker run
//! vanished mid-way go back to PENDING first: after a few seconds when the run's database
//! session has ended, after 30 s otherwise. The worker's conditional claim makes the
//! repeats harmless. Run it every few seconds (the sidecar does).

use crate::backend::{Backend, BackendError, Row};
use crate::orders::ORDERS_CHANNEL;

/// A PENDING order unclaimed this long since it was last published is published again.
pub const REPUBLISH_PENDING_AFTER_SECONDS: i64 = 10;
/// A PROCESSING order unsettled this long lost its worker run; it becomes PENDING again.
pub const RECOVER_PROCESSING_AFTER_SECONDS: i64 = 30;
/// A PROCESSING order whose claiming database session has ended (its worker killed) is
/// taken back once its claim is this old: that run can settle nothing any more.
pub const RECOVER_ORPHANED_AFTER_SECONDS: i64 = 5;

/// Wakes the worker up for the orders that are due again, and says how many there are.
pub async fn sweep(backend: &impl Backend) -> Result<usize, BackendError> {
    let due = take_back_overdue(backend).await?;
    // One wake-up is enough: a worker run claims every PENDING order, not only the one
    // its message names. A message per order would bury a worker that is merely behind.
    if let Some(first) = due.first() {
        backend
            .publish(ORDERS_CHANNEL, first.text("order_id")?.as_bytes())
            .await?;
    }
    Ok(due.len())
}

/// Returns lost worker runs' orders to PENDING and lists the PENDING orders due again
/// (marking them published now).
pub async fn take_back_overdue(backend: &impl Backend) -> Result<Vec<Row>, BackendError> {
    backend
        .query(
            "SELECT order_id::text AS order_id FROM orders.orders_to_republish($1::int8, $2::int8, $3::int8)",
            &[
                REPUBLISH_PENDING_AFTER_SECONDS.into(),
                RECOVER_PROCESSING_AFTER_SECONDS.into(),
                RECOVER_ORPHANED_AFTER_SECONDS.into(),
            ],
        )
        .await
}

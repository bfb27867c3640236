//! Hold expiry as buyers and seat-map viewers see it, run periodically by the sidecar.
//!
//! Correctness does not depend on it: a lapsed hold's seats are free for new holds the
//! moment it lapses. These jobs tell people: the buyer gets `hold.expiring` a minute
//! before, and the seats are marked available (and announced) right after.

use crate::backend::{Backend, BackendError};
use crate::notifications::{self, Notification};
use crate::seat_changes::{SeatChange, SeatStatus, seats_changed};

/// How long before a hold lapses its buyer is warned.
pub const WARN_BEFORE_SECONDS: i64 = 60;

/// Rows one run of a job handles at most; the next run takes the rest.
pub const MAX_PER_RUN: i64 = 1_000;

/// Marks live, unordered holds that lapse within the warning window as warned and
/// returns them. Parameters: $1 window in seconds, $2 limit.
const WARN_SQL: &str = "WITH due AS (
         SELECT h.id FROM catalog.holds h
         WHERE h.expiry_warned_at IS NULL AND h.released_at IS NULL
           AND h.expires_at > now() AND h.expires_at <= now() + make_interval(secs => $1::int8)
           AND NOT EXISTS (SELECT 1 FROM orders.orders o WHERE o.hold_id = h.id)
         ORDER BY h.expires_at
         LIMIT $2::int8
         FOR UPDATE SKIP LOCKED
     )
     UPDATE catalog.holds h SET expiry_warned_at = now()
     FROM due WHERE h.id = due.id
     RETURNING h.id::text AS hold_id, h.user_id::text AS user_id, h.event_id,
               iso_utc(h.expires_at) AS expires_at";

/// Frees held seats whose time ran out, grouped by event and hold. Parameter: $1 limit.
const FREE_LAPSED_SQL: &str = "WITH lapsed AS (
         SELECT s.id, s.event_id, s.hold_id FROM catalog.seats s
         WHERE s.status = 'held' AND s.held_until <= now()
         ORDER BY s.held_until
         LIMIT $1::int8
         FOR UPDATE SKIP LOCKED
     ), freed AS (
         UPDATE catalog.seats s SET status = 'available', hold_id = NULL, held_until = NULL
         FROM lapsed WHERE s.id = lapsed.id
         RETURNING s.id, lapsed.event_id, lapsed.hold_id
     )
     SELECT event_id, hold_id::text AS hold_id, array_agg(id ORDER BY id) AS seat_ids
     FROM freed GROUP BY event_id, hold_id";

/// Warns the buyers whose holds lapse within a minute; returns how many were warned.
pub async fn warn_expiring_holds(backend: &impl Backend) -> Result<usize, BackendError> {
    let due = backend
        .query(WARN_SQL, &[WARN_BEFORE_SECONDS.into(), MAX_PER_RUN.into()])
        .await?;
    for row in &due {
        let (user_id, hold_id) = (row.text("user_id")?, row.text("hold_id")?);
        notifications::publish(
            backend,
            &Notification::HoldExpiring {
                user_id: &user_id,
                hold_id: &hold_id,
                event_id: row.int("event_id")?,
                expires_at: &row.text("expires_at")?,
            },
        )
        .await;
    }
    Ok(due.len())
}

/// Marks lapsed seats available and announces them; returns how many seats were freed.
pub async fn free_lapsed_seats(backend: &impl Backend) -> Result<usize, BackendError> {
    let freed = backend
        .query(FREE_LAPSED_SQL, &[MAX_PER_RUN.into()])
        .await?;
    let mut seats = 0;
    for row in &freed {
        let seat_ids = row.int_array("seat_ids")?;
        seats += seat_ids.len();
        let change = SeatChange {
            id: format!("{}:expired", row.text("hold_id")?),
            event_id: row.int("event_id")?,
            seat_ids: &seat_ids,
            status: SeatStatus::Available,
        };
        seats_changed(backend, &change).await;
    }
    Ok(seats)
}

//! Live seat maps: every change of seats' status (held, released, sold, freed by expiry
//! or cancellation) is published on the Redis channel `seat-changes` as `seat.changed`,
//! which the sidecar sends to the event's viewers. A message on the channel is a JSON
//! array of changes: new holds are published in batches (see [`seats_held`]). Seats that
//! become free again or sold also drop the event's cached views; new holds leave them to
//! their TTL.
//!
//! Each change carries `seq`, the next number of its event's counter ([`sequence_key`]),
//! given in the order the changes are published; the seat-status document states the
//! number it is up to date with. A viewer applies the changes after its document's number
//! in order, and reads the document again when a number is missing.

use crate::backend::{Backend, Sequenced, publish_sequenced};
use crate::catalog::invalidate_event;
use crate::log;
use serde_json::json;

pub use ticketbuster_domain::seat_status::SeatStatus;

pub const SEAT_CHANGES_CHANNEL: &str = "seat-changes";

/// The Redis counter that numbers an event's seat changes.
pub fn sequence_key(event_id: i64) -> String {
    format!("seat-changes:seq:{event_id}")
}

#[derive(Debug, Clone, PartialEq)]
pub struct SeatChange<'a> {
    /// Names the change (`<hold or order id>:<what happened>`), so viewers can drop repeats.
    pub id: String,
    pub event_id: i64,
    pub seat_ids: &'a [i64],
    pub status: SeatStatus,
}

impl SeatChange<'_> {
    /// The change as its viewers get it, but for `seq`, which publishing adds.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "id": self.id,
            "type": "seat.changed",
            "event_id": self.event_id,
            "seat_ids": self.seat_ids,
            "status": self.status.as_str(),
        })
    }

    fn sequenced(&self) -> Sequenced {
        Sequenced {
            counter: sequence_key(self.event_id),
            item: self.to_json().to_string(),
        }
    }
}

/// Invalidates the event's cached views and tells its viewers. Best effort: a failure is
/// logged, and the seat map served by the API stays the truth.
pub async fn seats_changed(backend: &impl Backend, change: &SeatChange<'_>) {
    if change.seat_ids.is_empty() {
        return;
    }
    invalidate_event(backend, change.event_id).await;
    announce(backend, change).await;
}

/// Tells the event's viewers of a new hold, and leaves its cached views to expire: a seat
/// map is cached for 1 s and a detail for 2 s, within the 2 s that a held seat may still
/// show as available. During an on-sale holds come hundreds per second per event, so
/// dropping the views on each one kept them from ever being served from the cache, and
/// every viewer's read rebuilt the whole map in PostgreSQL (26 to 35 ms for a 6,000-seat
/// map, against about 5 ms from the cache); it also took two of a hold's four round
/// trips. For the same reason the hold is published in a batch with the others of the
/// next few milliseconds: one `PUBLISH` per hold cost about 15 % of a hold through Spin.
/// Viewers see the hold over the socket within those milliseconds, the holder from its
/// own answer, and a buyer refused for those seats gets a fresh map (see `holds`).
pub async fn seats_held(backend: &impl Backend, change: &SeatChange<'_>) {
    backend
        .publish_batched(SEAT_CHANGES_CHANNEL, change.sequenced())
        .await;
}

async fn announce(backend: &impl Backend, change: &SeatChange<'_>) {
    if let Err(e) = publish_sequenced(backend, SEAT_CHANGES_CHANNEL, &[change.sequenced()]).await {
        log::warn(
            "seat changes: not published",
            format_args!("seat change {} not published: {e}", change.id),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_carry_the_event_the_seats_and_their_new_status() {
        let change = SeatChange {
            id: "h1:held".into(),
            event_id: 3,
            seat_ids: &[10, 11],
            status: SeatStatus::Held,
        };
        assert_eq!(
            change.to_json(),
            json!({"id": "h1:held", "type": "seat.changed", "event_id": 3,
                   "seat_ids": [10, 11], "status": "held"})
        );
    }
}

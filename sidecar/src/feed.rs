//! The Redis side: one pub/sub subscription per replica to `notifications`,
//! `seat-changes` and `queue` (waiting rooms' `queue.advanced`), handed to the hub. Every replica receives every message and delivers
//! it to the connections it holds, so a user is reached whichever replica they landed on.
//! When Redis goes away the feed reconnects by itself and asks every connection to catch
//! up from its user's stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;
use ticketbuster_services::notifications::{NOTIFICATIONS_CHANNEL, Published};
use ticketbuster_services::seat_changes::SEAT_CHANGES_CHANNEL;
use ticketbuster_services::waiting_room::QUEUE_CHANNEL;
use tokio_util::sync::CancellationToken;

use crate::hub::{Hub, Outgoing};
use crate::metrics::Metrics;

const MAX_BACKOFF: Duration = Duration::from_secs(2);

pub async fn run(
    client: redis::Client,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    subscribed: Arc<AtomicBool>,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    let mut first = true;
    loop {
        let session = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub
                .subscribe(&[NOTIFICATIONS_CHANNEL, SEAT_CHANGES_CHANNEL, QUEUE_CHANNEL])
                .await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::select! {
            result = session => result,
            () = stop.cancelled() => return,
        };
        match pubsub {
            Ok(mut pubsub) => {
                backoff = Duration::from_millis(100);
                subscribed.store(true, Ordering::Release);
                if first {
                    first = false;
                } else {
                    metrics.feed_reconnects.inc();
                    eprintln!("[sidecar] Redis feed back; connections catch up from their streams");
                    hub.to_everyone(&Outgoing::CatchUp);
                }
                let mut messages = pubsub.on_message();
                loop {
                    tokio::select! {
                        message = messages.next() => match message {
                            Some(message) => route(&hub, &message),
                            None => break,
                        },
                        () = stop.cancelled() => return,
                    }
                }
                subscribed.store(false, Ordering::Release);
                eprintln!("[sidecar] Redis feed lost; reconnecting");
            }
            Err(e) => eprintln!(
                "[sidecar] Redis feed unavailable ({e}); retrying in {} ms",
                backoff.as_millis()
            ),
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn route(hub: &Hub, message: &redis::Msg) {
    let Ok(payload) = std::str::from_utf8(message.get_payload_bytes()) else {
        eprintln!("[sidecar] dropped a message that is not UTF-8");
        return;
    };
    match message.get_channel_name() {
        NOTIFICATIONS_CHANNEL => match Published::parse(payload) {
            Some(published) => {
                let text = Utf8Bytes::from(published.client_message());
                let outgoing = Outgoing::Notification {
                    id: published.stream_id,
                    text,
                };
                hub.to_user(&published.user_id, &outgoing);
            }
            None => eprintln!("[sidecar] dropped a malformed notification"),
        },
        // A waiting room's progress goes to the event's watchers, as its seat changes do.
        SEAT_CHANGES_CHANNEL | QUEUE_CHANNEL => match seat_changes(payload) {
            Some(changes) => {
                for (event_id, change) in changes {
                    hub.to_event(event_id, &Outgoing::SeatChange(Utf8Bytes::from(change)));
                }
            }
            None => eprintln!("[sidecar] dropped a malformed batch of seat changes"),
        },
        _ => {}
    }
}

/// The changes of a message on `seat-changes` (a JSON array of them), each with its
/// event and its own text, as viewers receive it.
fn seat_changes(payload: &str) -> Option<Vec<(i64, String)>> {
    #[derive(serde::Deserialize)]
    struct Addressed {
        event_id: i64,
    }
    let changes: Vec<&serde_json::value::RawValue> = serde_json::from_str(payload).ok()?;
    changes
        .into_iter()
        .map(|change| {
            let addressed: Addressed = serde_json::from_str(change.get()).ok()?;
            Some((addressed.event_id, change.get().to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_of_seat_changes_reaches_each_changes_event_as_sent() {
        let payload = r#"[{"id":"h1:held","event_id":3,"seat_ids":[1],"status":"held"},
                          {"id":"h2:held","event_id":4,"seat_ids":[2],"status":"held"}]"#;
        assert_eq!(
            seat_changes(payload),
            Some(vec![
                (
                    3,
                    r#"{"id":"h1:held","event_id":3,"seat_ids":[1],"status":"held"}"#.into()
                ),
                (
                    4,
                    r#"{"id":"h2:held","event_id":4,"seat_ids":[2],"status":"held"}"#.into()
                ),
            ])
        );
    }

    #[test]
    fn a_batch_with_a_change_of_no_event_is_dropped_whole() {
        assert_eq!(seat_changes(r#"[{"event_id":3},{"id":"x"}]"#), None);
        assert_eq!(seat_changes(r#"{"event_id":3}"#), None);
        assert_eq!(seat_changes("not json"), None);
    }
}

//! One WebSocket connection: authenticated before the upgrade, then a loop that sends the
//! user's notifications (resuming after the last id the client saw, never twice), the
//! seat changes of the events it watches, and heartbeats, until either side leaves.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use futures_util::{SinkExt, StreamExt};
use redis::aio::ConnectionManager;
use serde::Deserialize;
use serde_json::json;
use ticketbuster_services::notifications::{StreamId, client_message, user_stream_key};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::hub::{Hub, Membership, Outgoing};
use crate::metrics::Metrics;

/// Longest a single write may take before the peer counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Entries read from a user's stream per round trip when catching up.
const CATCH_UP_BATCH: usize = 100;

pub struct Session {
    pub hub: Arc<Hub>,
    pub metrics: Arc<Metrics>,
    pub redis: ConnectionManager,
    pub heartbeat: Duration,
    pub max_event_subscriptions: usize,
    pub shutdown: CancellationToken,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    Subscribe { event_id: i64 },
    Unsubscribe { event_id: i64 },
}

enum Ending {
    Normal,
    Close(u16, &'static str),
}

/// Runs a connection of `user_id` to its end, sending the user's notifications after
/// `start` (see [`starting_point`]).
pub async fn run(session: Arc<Session>, socket: WebSocket, user_id: String, start: StreamId) {
    let stream = user_stream_key(&user_id);
    let mut redis = session.redis.clone();
    let (mut sink, mut incoming) = socket.split();
    let mut last_sent = start;
    let (mut membership, mut queue, too_slow) = session.hub.join(&user_id);
    let mut heartbeat = tokio::time::interval(session.heartbeat);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();

    let mut outcome = catch_up(&session, &mut redis, &stream, &mut last_sent, &mut sink).await;
    while outcome.is_ok() {
        outcome = tokio::select! {
            next = queue.recv() => match next {
                Some(outgoing) => {
                    send_outgoing(&session, &mut redis, &stream, &mut last_sent, &mut sink, outgoing).await
                }
                None => Err(Ending::Normal),
            },
            frame = incoming.next() => match frame {
                Some(Ok(frame)) => {
                    last_heard = Instant::now();
                    answer(&session, &mut membership, &mut sink, frame).await
                }
                _ => Err(Ending::Normal),
            },
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > session.heartbeat * 2 {
                    session.metrics.heartbeat_timeouts.inc();
                    Err(Ending::Close(close_code::AWAY, "no answer to pings"))
                } else {
                    write(&mut sink, Message::Ping(Default::default())).await
                }
            }
            () = too_slow.cancelled() => {
                Err(Ending::Close(close_code::POLICY, "too slow: messages were piling up"))
            }
            () = session.shutdown.cancelled() => {
                Err(Ending::Close(close_code::RESTART, "server restarting; reconnect with your last id"))
            }
        };
    }
    drop(membership);
    if let Err(Ending::Close(code, reason)) = outcome {
        close(&mut sink, code, reason).await;
    }
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;

/// Sends one message; a peer that takes longer than [`WRITE_TIMEOUT`] to take it is gone.
async fn write(sink: &mut Sink, message: Message) -> Result<(), Ending> {
    match tokio::time::timeout(WRITE_TIMEOUT, sink.send(message)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(Ending::Normal),
    }
}

/// Says goodbye with a close frame, if the peer takes it within a second; best effort.
async fn close(sink: &mut Sink, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        sink.send(Message::Close(Some(frame))),
    )
    .await;
}

async fn send_outgoing(
    session: &Session,
    redis: &mut ConnectionManager,
    stream: &str,
    last_sent: &mut StreamId,
    sink: &mut Sink,
    outgoing: Outgoing,
) -> Result<(), Ending> {
    match outgoing {
        Outgoing::Notification { id, text } => {
            if id <= *last_sent {
                return Ok(());
            }
            write(sink, Message::Text(text)).await?;
            *last_sent = id;
            delivered(&session.metrics, id);
            Ok(())
        }
        Outgoing::SeatChange(text) => write(sink, Message::Text(text)).await,
        Outgoing::CatchUp => catch_up(session, redis, stream, last_sent, sink).await,
    }
}

fn delivered(metrics: &Metrics, id: StreamId) {
    metrics.delivered.inc();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    metrics
        .lag
        .observe(now_ms.saturating_sub(id.millis) as f64 / 1000.0);
}

/// Sends what the user's stream holds after `last_sent`, in order.
async fn catch_up(
    session: &Session,
    redis: &mut ConnectionManager,
    stream: &str,
    last_sent: &mut StreamId,
    sink: &mut Sink,
) -> Result<(), Ending> {
    loop {
        let entries = entries_after(redis, stream, *last_sent)
            .await
            .map_err(|_| {
                Ending::Close(close_code::AGAIN, "notifications unavailable; reconnect")
            })?;
        let count = entries.len();
        for (id, fields) in entries {
            let (Some(id), Some((_, body))) = (
                StreamId::parse(&id),
                fields.into_iter().find(|(f, _)| f == "body"),
            ) else {
                continue;
            };
            write(sink, Message::Text(client_message(id, &body).into())).await?;
            *last_sent = id;
            delivered(&session.metrics, id);
        }
        if count < CATCH_UP_BATCH {
            return Ok(());
        }
    }
}

type Entries = Vec<(String, Vec<(String, String)>)>;

/// Up to [`CATCH_UP_BATCH`] entries after `after`. Retried a few times: right after Redis
/// came back, the shared connection fails once before it reconnects.
async fn entries_after(
    redis: &mut ConnectionManager,
    stream: &str,
    after: StreamId,
) -> Result<Entries, redis::RedisError> {
    let mut attempt = 0;
    loop {
        let result = redis::cmd("XRANGE")
            .arg(stream)
            .arg(format!("({after}"))
            .arg("+")
            .arg("COUNT")
            .arg(CATCH_UP_BATCH)
            .query_async(redis)
            .await;
        attempt += 1;
        match result {
            Err(e) if attempt < 5 && (e.is_io_error() || e.is_connection_dropped()) => {
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
            }
            other => return other,
        }
    }
}

/// Where a new connection starts in the user's stream: after what the client saw, or
/// after the newest entry. Taken before the upgrade is answered, so everything published
/// once the client is connected reaches it, live or through the first catch-up.
pub async fn starting_point(
    session: &Session,
    user_id: &str,
    resume_after: Option<StreamId>,
) -> Result<StreamId, redis::RedisError> {
    if let Some(id) = resume_after {
        return Ok(id);
    }
    let newest: Entries = redis::cmd("XREVRANGE")
        .arg(user_stream_key(user_id))
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(&mut session.redis.clone())
        .await?;
    Ok(newest
        .first()
        .and_then(|(id, _)| StreamId::parse(id))
        .unwrap_or(StreamId {
            millis: 0,
            sequence: 0,
        }))
}

/// Handles a frame from the client: seat-map subscriptions; pings are answered by the
/// WebSocket layer itself.
async fn answer(
    session: &Session,
    membership: &mut Membership,
    sink: &mut Sink,
    frame: Message,
) -> Result<(), Ending> {
    let text = match frame {
        Message::Text(text) => text,
        Message::Close(_) => return Err(Ending::Normal),
        _ => return Ok(()),
    };
    let reply = match serde_json::from_str::<ClientMessage>(&text) {
        Ok(ClientMessage::Subscribe { event_id }) => {
            if membership.events().len() >= session.max_event_subscriptions
                && !membership.events().contains(&event_id)
            {
                json!({"type": "error", "message": format!(
                    "a connection may watch at most {} events; unsubscribe from one first",
                    session.max_event_subscriptions)})
            } else {
                membership.watch(event_id);
                json!({"type": "subscribed", "event_id": event_id})
            }
        }
        Ok(ClientMessage::Unsubscribe { event_id }) => {
            membership.unwatch(event_id);
            json!({"type": "unsubscribed", "event_id": event_id})
        }
        Err(_) => json!({"type": "error", "message":
            "send {\"type\":\"subscribe\",\"event_id\":N} or {\"type\":\"unsubscribe\",\"event_id\":N}"}),
    };
    write(sink, Message::Text(reply.to_string().into())).await
}

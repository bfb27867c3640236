//! What buyers are told, and how it reaches their browsers.
//!
//! A notification is appended to its user's capped Redis stream and announced on the pub/sub
//! channel `notifications` in one Lua script, so the stream and the live feed never disagree.
//! The stream entry's id becomes the message's `id`: a client that reconnects with the last
//! id it saw is sent the entries after it (see the sidecar). Each fact (an order completing,
//! a hold about to lapse) is published at most once, whichever process repeats it.

use serde_json::{Value, json};

use crate::backend::Backend;
use crate::log;

pub const NOTIFICATIONS_CHANNEL: &str = "notifications";

/// Entries kept per user (approximately: Redis trims whole nodes).
pub const STREAM_MAX_LEN: u32 = 200;

/// A user's stream, and the memory of which facts were published, vanish after a day idle.
pub const STREAM_IDLE_SECONDS: u32 = 24 * 60 * 60;

pub fn user_stream_key(user_id: &str) -> String {
    format!("notifications:user:{user_id}")
}

/// KEYS: user stream and fact key of each notification, in pairs. ARGV: max length,
/// channel, idle seconds, then each notification's body. Replies with the new entries' ids
/// separated by spaces, `-` for a fact that was published before.
const PUBLISH_SCRIPT: &str = r"
local ids = {}
for i = 1, #KEYS / 2 do
  local stream, fact, body = KEYS[2 * i - 1], KEYS[2 * i], ARGV[3 + i]
  if redis.call('SET', fact, '', 'NX', 'EX', ARGV[3]) then
    local id = redis.call('XADD', stream, 'MAXLEN', '~', ARGV[1], '*', 'body', body)
    redis.call('EXPIRE', stream, ARGV[3])
    redis.call('PUBLISH', ARGV[2], id .. ' ' .. body)
    ids[i] = id
  else
    ids[i] = '-'
  end
end
return table.concat(ids, ' ')
";

#[derive(Debug, Clone, PartialEq)]
pub enum Notification<'a> {
    OrderCompleted {
        user_id: &'a str,
        order_id: &'a str,
        event_id: i64,
        ticket_ids: &'a [String],
    },
    OrderFailed {
        user_id: &'a str,
        order_id: &'a str,
        event_id: i64,
        reason: &'a str,
    },
    OrderCancelled {
        user_id: &'a str,
        order_id: &'a str,
        event_id: i64,
    },
    HoldExpiring {
        user_id: &'a str,
        hold_id: &'a str,
        event_id: i64,
        expires_at: &'a str,
    },
}

impl Notification<'_> {
    pub fn kind(&self) -> &'static str {
        match self {
            Notification::OrderCompleted { .. } => "order.completed",
            Notification::OrderFailed { .. } => "order.failed",
            Notification::OrderCancelled { .. } => "order.cancelled",
            Notification::HoldExpiring { .. } => "hold.expiring",
        }
    }

    pub fn user_id(&self) -> &str {
        match *self {
            Notification::OrderCompleted { user_id, .. }
            | Notification::OrderFailed { user_id, .. }
            | Notification::OrderCancelled { user_id, .. }
            | Notification::HoldExpiring { user_id, .. } => user_id,
        }
    }

    pub fn event_id(&self) -> i64 {
        match *self {
            Notification::OrderCompleted { event_id, .. }
            | Notification::OrderFailed { event_id, .. }
            | Notification::OrderCancelled { event_id, .. }
            | Notification::HoldExpiring { event_id, .. } => event_id,
        }
    }

    /// What the notification is about: its field name and id.
    fn subject(&self) -> (&'static str, &str) {
        match *self {
            Notification::OrderCompleted { order_id, .. }
            | Notification::OrderFailed { order_id, .. }
            | Notification::OrderCancelled { order_id, .. } => ("order_id", order_id),
            Notification::HoldExpiring { hold_id, .. } => ("hold_id", hold_id),
        }
    }

    /// Names the fact, so publishing it twice is noticed: `<order or hold id>:<type>`.
    fn fact(&self) -> String {
        format!("{}:{}", self.subject().1, self.kind())
    }

    /// The message without its `id`, which the stream assigns.
    pub fn body(&self) -> Value {
        let (subject_field, subject) = self.subject();
        let mut message = json!({
            "type": self.kind(),
            "user_id": self.user_id(),
            "event_id": self.event_id(),
            subject_field: subject,
        });
        match *self {
            Notification::OrderCompleted { ticket_ids, .. } => {
                message["ticket_ids"] = json!(ticket_ids);
            }
            Notification::OrderFailed { reason, .. } => message["reason"] = json!(reason),
            Notification::HoldExpiring { expires_at, .. } => {
                message["expires_at"] = json!(expires_at);
            }
            Notification::OrderCancelled { .. } => {}
        }
        message
    }
}

/// Publishes a notification; `Some(id)` is its stream id, `None` means it was published
/// before. Notifications are best effort (the order's state is the truth and the API
/// serves it), so a failure is logged rather than undoing the change.
pub async fn publish(backend: &impl Backend, notification: &Notification<'_>) -> Option<String> {
    publish_all(backend, std::slice::from_ref(notification))
        .await
        .into_iter()
        .next()
        .flatten()
}

/// Publishes several notifications in one round trip to Redis, each as [`publish`] does;
/// the answer has each one's stream id, in order.
pub async fn publish_all(
    backend: &impl Backend,
    notifications: &[Notification<'_>],
) -> Vec<Option<String>> {
    if notifications.is_empty() {
        return Vec::new();
    }
    let keys: Vec<String> = notifications
        .iter()
        .flat_map(|n| {
            [
                user_stream_key(n.user_id()),
                format!("notifications:fact:{}", n.fact()),
            ]
        })
        .collect();
    let mut args = vec![
        STREAM_MAX_LEN.to_string(),
        NOTIFICATIONS_CHANNEL.to_owned(),
        STREAM_IDLE_SECONDS.to_string(),
    ];
    args.extend(notifications.iter().map(|n| n.body().to_string()));
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match backend.eval(PUBLISH_SCRIPT, &keys, &args).await {
        Ok(Some(ids)) => ids
            .split(' ')
            .map(|id| (id != "-").then(|| id.to_owned()))
            .collect(),
        Ok(None) => vec![None; notifications.len()],
        Err(e) => {
            log::warn(
                "notifications: not published",
                format_args!("{} notifications not published: {e}", notifications.len()),
            );
            vec![None; notifications.len()]
        }
    }
}

/// A notification as it travels on the channel: `<stream id> <body>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Published<'a> {
    pub stream_id: StreamId,
    pub user_id: String,
    pub body: &'a str,
}

impl<'a> Published<'a> {
    pub fn parse(payload: &'a str) -> Option<Self> {
        let (stream_id, body) = payload.split_once(' ')?;
        #[derive(serde::Deserialize)]
        struct Addressee {
            user_id: String,
        }
        let Addressee { user_id } = serde_json::from_str(body).ok()?;
        Some(Self {
            stream_id: StreamId::parse(stream_id)?,
            user_id,
            body,
        })
    }

    /// The message a client receives: the body with the stream id as its `id`.
    pub fn client_message(&self) -> String {
        client_message(self.stream_id, self.body)
    }
}

/// Puts `"id": <stream id>` first in a stored body (a JSON object).
pub fn client_message(stream_id: StreamId, body: &str) -> String {
    let rest = body.trim_start().strip_prefix('{').unwrap_or("}");
    let separator = if rest.trim_start().starts_with('}') {
        ""
    } else {
        ","
    };
    format!("{{\"id\":\"{stream_id}\"{separator}{rest}")
}

/// A Redis stream entry id, `<milliseconds>-<sequence>`; ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub millis: u64,
    pub sequence: u64,
}

impl StreamId {
    pub fn parse(text: &str) -> Option<Self> {
        let (millis, sequence) = text.split_once('-')?;
        let number = |s: &str| {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        Some(Self {
            millis: number(millis)?,
            sequence: number(sequence)?,
        })
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.millis, self.sequence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_name_their_user_and_carry_what_the_type_needs() {
        let tickets = vec!["t1".to_string(), "t2".to_string()];
        let completed = Notification::OrderCompleted {
            user_id: "u",
            order_id: "o",
            event_id: 7,
            ticket_ids: &tickets,
        };
        assert_eq!(
            completed.body(),
            json!({"type": "order.completed", "user_id": "u", "order_id": "o",
                   "event_id": 7, "ticket_ids": ["t1", "t2"]})
        );
        assert_eq!(completed.fact(), "o:order.completed");
        let failed = Notification::OrderFailed {
            user_id: "u",
            order_id: "o",
            event_id: 7,
            reason: "payment declined",
        };
        assert_eq!(failed.body()["reason"], "payment declined");
        let expiring = Notification::HoldExpiring {
            user_id: "u",
            hold_id: "h",
            event_id: 7,
            expires_at: "2026-01-01T00:00:00Z",
        };
        assert_eq!(expiring.body()["type"], "hold.expiring");
        assert_eq!(expiring.fact(), "h:hold.expiring");
    }

    #[test]
    fn channel_payloads_become_client_messages_with_the_stream_id() {
        let payload = r#"1700000000000-3 {"type":"order.failed","user_id":"u","reason":"x"}"#;
        let published = Published::parse(payload).unwrap();
        assert_eq!(published.user_id, "u");
        assert_eq!(
            published.stream_id,
            StreamId {
                millis: 1_700_000_000_000,
                sequence: 3
            }
        );
        let message: Value = serde_json::from_str(&published.client_message()).unwrap();
        assert_eq!(message["id"], "1700000000000-3");
        assert_eq!(message["type"], "order.failed");
        assert_eq!(message["reason"], "x");
        assert_eq!(
            client_message(StreamId::parse("1-0").unwrap(), "{}"),
            r#"{"id":"1-0"}"#
        );
    }

    #[test]
    fn malformed_payloads_and_ids_are_refused() {
        for bad in [
            "",
            "no-space",
            "1-0 not json",
            r#"1-0 {"type":"x"}"#,
            r#"x-0 {"user_id":"u"}"#,
        ] {
            assert_eq!(Published::parse(bad), None, "{bad:?}");
        }
        for bad in ["", "1", "1-", "-1", "1-x", "+1-0", "1-0-0"] {
            assert_eq!(StreamId::parse(bad), None, "{bad:?}");
        }
        assert!(StreamId::parse("5-1").unwrap() < StreamId::parse("5-2").unwrap());
        assert!(StreamId::parse("5-9").unwrap() < StreamId::parse("10-0").unwrap());
    }
}

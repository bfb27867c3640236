//! What the order flow tells buyers, published on the Redis channel `notifications` as
//! JSON `{id, type, user_id, ...}`; the sidecar routes each message to its user's sockets.

use serde_json::{Value, json};

use crate::backend::Backend;

pub const NOTIFICATIONS_CHANNEL: &str = "notifications";

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
}

impl Notification<'_> {
    pub fn kind(&self) -> &'static str {
        match self {
            Notification::OrderCompleted { .. } => "order.completed",
            Notification::OrderFailed { .. } => "order.failed",
            Notification::OrderCancelled { .. } => "order.cancelled",
        }
    }

    /// The message; its `id` is the same for every publication of one fact, so a
    /// receiver can drop repeats.
    pub fn to_json(&self) -> Value {
        let (user_id, order_id, event_id) = match *self {
            Notification::OrderCompleted {
                user_id,
                order_id,
                event_id,
                ..
            }
            | Notification::OrderFailed {
                user_id,
                order_id,
                event_id,
                ..
            }
            | Notification::OrderCancelled {
                user_id,
                order_id,
                event_id,
            } => (user_id, order_id, event_id),
        };
        let mut message = json!({
            "id": format!("{order_id}:{}", self.kind()),
            "type": self.kind(),
            "user_id": user_id,
            "order_id": order_id,
            "event_id": event_id,
        });
        match self {
            Notification::OrderCompleted { ticket_ids, .. } => {
                message["ticket_ids"] = json!(ticket_ids);
            }
            Notification::OrderFailed { reason, .. } => message["reason"] = json!(reason),
            Notification::OrderCancelled { .. } => {}
        }
        message
    }
}

/// Publishes a notification. Notifications are best effort (the order's state is the
/// truth and the API serves it), so a failure is logged rather than undoing the change.
pub async fn publish(backend: &impl Backend, notification: &Notification<'_>) {
    let payload = notification.to_json().to_string();
    if let Err(e) = backend
        .publish(NOTIFICATIONS_CHANNEL, payload.as_bytes())
        .await
    {
        eprintln!("warning: {} not published: {e}", notification.kind());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_their_user_and_carry_what_the_type_needs() {
        let tickets = vec!["t1".to_string(), "t2".to_string()];
        let completed = Notification::OrderCompleted {
            user_id: "u",
            order_id: "o",
            event_id: 7,
            ticket_ids: &tickets,
        };
        assert_eq!(
            completed.to_json(),
            json!({"id": "o:order.completed", "type": "order.completed", "user_id": "u",
                   "order_id": "o", "event_id": 7, "ticket_ids": ["t1", "t2"]})
        );
        let failed = Notification::OrderFailed {
            user_id: "u",
            order_id: "o",
            event_id: 7,
            reason: "payment declined",
        };
        assert_eq!(failed.to_json()["reason"], "payment declined");
        assert_eq!(failed.to_json()["type"], "order.failed");
    }
}

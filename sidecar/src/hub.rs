//! Who is connected to this replica: each user's connections (all their tabs and devices)
//! and each event's seat-map viewers. Delivery never waits: a connection whose queue is
//! full is told to go away instead of growing memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::ws::Utf8Bytes;
use ticketbuster_services::notifications::StreamId;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// What a connection is asked to send.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// One of the user's notifications, by its stream id (repeats are dropped by id).
    Notification { id: StreamId, text: Utf8Bytes },
    /// A change on a seat map the connection watches.
    SeatChange(Utf8Bytes),
    /// The Redis feed was down for a while: read what was missed from the user's stream.
    CatchUp,
}

#[derive(Clone)]
struct Handle {
    queue: mpsc::Sender<Outgoing>,
    too_slow: CancellationToken,
}

type ConnectionId = u64;

#[derive(Default)]
struct Registry {
    users: HashMap<String, HashMap<ConnectionId, Handle>>,
    events: HashMap<i64, HashMap<ConnectionId, Handle>>,
}

pub struct Hub {
    registry: Mutex<Registry>,
    next_id: AtomicU64,
    queue_len: usize,
    metrics: Arc<Metrics>,
}

/// A connection's place in the hub; dropping it removes the connection everywhere.
pub struct Membership {
    hub: Arc<Hub>,
    id: ConnectionId,
    user_id: String,
    handle: Handle,
    events: Vec<i64>,
}

impl Hub {
    pub fn new(queue_len: usize, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            registry: Mutex::default(),
            next_id: AtomicU64::new(1),
            queue_len,
            metrics,
        })
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // The registry stays consistent even if a holder panicked: every change is one insert or remove.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a connection of `user_id`. Returns its membership, the queue it reads, and the
    /// token that is cancelled when it falls too far behind.
    pub fn join(
        self: &Arc<Self>,
        user_id: &str,
    ) -> (Membership, mpsc::Receiver<Outgoing>, CancellationToken) {
        let (queue, receiver) = mpsc::channel(self.queue_len);
        let handle = Handle {
            queue,
            too_slow: CancellationToken::new(),
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.registry()
            .users
            .entry(user_id.to_owned())
            .or_default()
            .insert(id, handle.clone());
        self.metrics.connections.inc();
        let too_slow = handle.too_slow.clone();
        let membership = Membership {
            hub: self.clone(),
            id,
            user_id: user_id.to_owned(),
            handle,
            events: Vec::new(),
        };
        (membership, receiver, too_slow)
    }

    /// Queues a message for every connection of a user; returns how many were reached.
    pub fn to_user(&self, user_id: &str, message: &Outgoing) -> usize {
        let handles = handles(self.registry().users.get(user_id));
        self.offer(&handles, message)
    }

    /// Queues a message for every viewer of an event's seat map.
    pub fn to_event(&self, event_id: i64, message: &Outgoing) -> usize {
        let handles = handles(self.registry().events.get(&event_id));
        self.offer(&handles, message)
    }

    /// Queues a message for every connection (used after the feed was re-established).
    pub fn to_everyone(&self, message: &Outgoing) -> usize {
        let handles: Vec<Handle> = self
            .registry()
            .users
            .values()
            .flat_map(|c| c.values().cloned())
            .collect();
        self.offer(&handles, message)
    }

    fn offer(&self, handles: &[Handle], message: &Outgoing) -> usize {
        let mut reached = 0;
        for handle in handles {
            match handle.queue.try_send(message.clone()) {
                Ok(()) => reached += 1,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.metrics.dropped.inc();
                    if !handle.too_slow.is_cancelled() {
                        handle.too_slow.cancel();
                        self.metrics.slow_disconnects.inc();
                    }
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        reached
    }

    pub fn connections(&self) -> usize {
        self.registry().users.values().map(HashMap::len).sum()
    }
}

impl Membership {
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    pub fn events(&self) -> &[i64] {
        &self.events
    }

    pub fn watch(&mut self, event_id: i64) {
        if self.events.contains(&event_id) {
            return;
        }
        self.events.push(event_id);
        self.hub
            .registry()
            .events
            .entry(event_id)
            .or_default()
            .insert(self.id, self.handle.clone());
    }

    pub fn unwatch(&mut self, event_id: i64) {
        self.events.retain(|e| *e != event_id);
        remove(&mut self.hub.registry().events, &event_id, self.id);
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        let mut registry = self.hub.registry();
        remove(&mut registry.users, &self.user_id, self.id);
        for event_id in &self.events {
            remove(&mut registry.events, event_id, self.id);
        }
        drop(registry);
        self.hub.metrics.connections.dec();
    }
}

/// A copy of a group's handles, so that queueing happens outside the registry's lock.
fn handles(group: Option<&HashMap<ConnectionId, Handle>>) -> Vec<Handle> {
    group
        .map(|c| c.values().cloned().collect())
        .unwrap_or_default()
}

fn remove<K: Eq + std::hash::Hash>(
    map: &mut HashMap<K, HashMap<ConnectionId, Handle>>,
    key: &K,
    id: ConnectionId,
) {
    if let Some(connections) = map.get_mut(key) {
        connections.remove(&id);
        if connections.is_empty() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat_change() -> Outgoing {
        Outgoing::SeatChange(Utf8Bytes::from_static("{}"))
    }

    #[tokio::test]
    async fn messages_reach_only_their_users_connections() {
        let hub = Hub::new(8, Arc::new(Metrics::new()));
        let (_a1, mut a1, _) = hub.join("a");
        let (_a2, mut a2, _) = hub.join("a");
        let (_b, mut b, _) = hub.join("b");
        assert_eq!(hub.to_user("a", &Outgoing::CatchUp), 2);
        assert!(matches!(a1.try_recv(), Ok(Outgoing::CatchUp)));
        assert!(matches!(a2.try_recv(), Ok(Outgoing::CatchUp)));
        assert!(b.try_recv().is_err());
        assert_eq!(hub.to_user("nobody", &Outgoing::CatchUp), 0);
    }

    #[tokio::test]
    async fn seat_changes_reach_the_events_viewers_until_they_leave() {
        let hub = Hub::new(8, Arc::new(Metrics::new()));
        let (mut viewer, mut queue, _) = hub.join("a");
        viewer.watch(7);
        viewer.watch(7);
        assert_eq!(hub.to_event(7, &seat_change()), 1);
        assert_eq!(hub.to_event(8, &seat_change()), 0);
        assert!(queue.try_recv().is_ok());
        viewer.unwatch(7);
        assert_eq!(hub.to_event(7, &seat_change()), 0);
        viewer.watch(9);
        drop(viewer);
        assert_eq!(hub.to_event(9, &seat_change()), 0);
        assert_eq!(hub.connections(), 0);
    }

    #[tokio::test]
    async fn a_full_queue_marks_its_connection_too_slow_and_drops_the_message() {
        let metrics = Arc::new(Metrics::new());
        let hub = Hub::new(2, metrics.clone());
        let (_member, _queue, too_slow) = hub.join("a");
        for _ in 0..2 {
            assert_eq!(hub.to_user("a", &Outgoing::CatchUp), 1);
        }
        assert!(!too_slow.is_cancelled());
        assert_eq!(hub.to_user("a", &Outgoing::CatchUp), 0);
        assert!(too_slow.is_cancelled());
        assert_eq!(metrics.dropped.get(), 1);
        assert_eq!(metrics.slow_disconnects.get(), 1);
    }
}

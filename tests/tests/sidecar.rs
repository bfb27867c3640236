//! The WebSocket sidecar with real WebSocket clients, real Redis and real PostgreSQL:
//! who receives what, resuming, replicas, refusals, slow and silent clients, shutdown,
//! a Redis restart, and the periodic jobs running on one replica at a time.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use ticketbuster_native_backend::NativeBackend;
use ticketbuster_services::notifications::{self, Notification};
use ticketbuster_sidecar::Config;
use ticketbuster_tests::{PrivateRedis, TestApp, redis_url, server_url};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Replica {
    addr: std::net::SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Replica {
    async fn start(app: &TestApp, adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start_with_redis(app, &redis_url(), adjust).await
    }

    async fn start_with_redis(
        app: &TestApp,
        redis: &str,
        adjust: impl FnOnce(&mut Config),
    ) -> Self {
        let database_url = format!("{}/{}", server_url(), app.db_name);
        let mut config = Config::from_lookup(|name| match name {
            "JWT_SECRET" => Some(app.jwt_secret.clone()),
            "DATABASE_URL" => Some(database_url.clone()),
            "REDIS_URL" => Some(redis.to_owned()),
            "SIDECAR_LISTEN" => Some("127.0.0.1:0".into()),
            _ => None,
        })
        .expect("a sidecar configuration");
        adjust(&mut config);
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("the bound address");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(ticketbuster_sidecar::run(
            config,
            listener,
            shutdown.clone(),
        ));
        let replica = Self {
            addr,
            shutdown,
            task,
        };
        replica.wait_until_healthy().await;
        replica
    }

    async fn health(&self) -> (u16, Value) {
        match reqwest::get(format!("http://{}/health", self.addr)).await {
            Ok(answer) => (
                answer.status().as_u16(),
                answer.json().await.unwrap_or(Value::Null),
            ),
            Err(_) => (0, Value::Null),
        }
    }

    async fn wait_until_healthy(&self) {
        for _ in 0..200 {
            if self.health().await.0 == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the sidecar did not become healthy: {:?}",
            self.health().await
        );
    }

    async fn connections(&self) -> u64 {
        self.health().await.1["connections"]
            .as_u64()
            .unwrap_or(u64::MAX)
    }

    /// A metric's value from `/metrics`.
    async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(format!("http://{}/metrics", self.addr))
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
    }

    async fn connect(&self, token: &str, last_id: Option<&str>) -> Socket {
        let mut url = format!("ws://{}/ws?token={token}", self.addr);
        if let Some(id) = last_id {
            url.push_str(&format!("&last_id={id}"));
        }
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("the WebSocket handshake");
        socket
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task
            .await
            .expect("the sidecar task")
            .expect("a clean stop");
    }
}

/// The next JSON message (pings and pongs skipped), or a panic after 5 s.
async fn next_json(socket: &mut Socket) -> Value {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(&text).expect("a JSON message");
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("expected a message, got {other:?}"),
            }
        }
    })
    .await
    .expect("a message within 5 s")
}

/// Publishes `order.cancelled` for a user, through the same script the components use.
async fn notify(backend: &NativeBackend, user_id: &str) -> (String, String) {
    let order_id = uuid::Uuid::new_v4().to_string();
    let id = notifications::publish(
        backend,
        &Notification::OrderCancelled {
            user_id,
            order_id: &order_id,
            event_id: 1,
        },
    )
    .await
    .expect("published");
    (id, order_id)
}

async fn subscribe(socket: &mut Socket, event_id: i64) {
    let command = json!({"type": "subscribe", "event_id": event_id}).to_string();
    socket
        .send(Message::text(command))
        .await
        .expect("send subscribe");
    assert_eq!(
        next_json(socket).await,
        json!({"type": "subscribed", "event_id": event_id})
    );
}

#[tokio::test]
async fn a_users_messages_reach_all_their_tabs_and_nobody_else() {
    let app = TestApp::spawn().await;
    let replica = Replica::start(&app, |_| {}).await;
    let (alice, bob) = (app.customer().await, app.customer().await);
    let mut alice_phone = replica.connect(&alice.token, None).await;
    let mut alice_laptop = replica.connect(&alice.token, None).await;
    let mut bob_tab = replica.connect(&bob.token, None).await;

    let (id, order_id) = notify(&app.backend, &alice.id).await;
    for tab in [&mut alice_phone, &mut alice_laptop] {
        let message = next_json(tab).await;
        assert_eq!(message["id"], id);
        assert_eq!(message["type"], "order.cancelled");
        assert_eq!(message["order_id"], order_id);
    }
    // Bob's first message is his own: Alice's never reached him.
    let (bobs, _) = notify(&app.backend, &bob.id).await;
    assert_eq!(next_json(&mut bob_tab).await["id"], bobs);
    replica.stop().await;
}

#[tokio::test]
async fn missing_forged_and_expired_tokens_are_refused_before_the_upgrade() {
    let app = TestApp::spawn().await;
    let replica = Replica::start(&app, |_| {}).await;
    let customer = app.customer().await;
    let forged = ticketbuster_domain::token::TokenIssuer::generate()
        .issue(&customer.id, ticketbuster_domain::account::Role::Customer)
        .expect("a token");
    let expired = expired_token(&app.jwt_secret, &customer.id);
    for query in [
        String::new(),
        "?token=garbage".into(),
        format!("?token={forged}"),
        format!("?token={expired}"),
        format!("?token={}&last_id=yesterday", customer.token),
    ] {
        let url = format!("ws://{}/ws{query}", replica.addr);
        match tokio_tungstenite::connect_async(url).await {
            Err(tungstenite::Error::Http(answer)) => {
                assert!(
                    [401, 400].contains(&answer.status().as_u16()),
                    "{query}: {}",
                    answer.status()
                );
                assert_eq!(
                    answer.status().as_u16() == 400,
                    query.contains("last_id"),
                    "{query}"
                );
            }
            other => panic!("{query}: expected a refusal, got {:?}", other.map(|_| ())),
        }
    }
    // Browsers cannot set headers: the token may ride in the subprotocol list.
    let mut request = format!("ws://{}/ws", replica.addr)
        .into_client_request()
        .expect("a request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        format!("bearer, {}", customer.token)
            .parse()
            .expect("a header"),
    );
    let (_socket, answer) = tokio_tungstenite::connect_async(request)
        .await
        .expect("accepted with the token in the subprotocol list");
    assert_eq!(answer.headers()["sec-websocket-protocol"], "bearer");
    replica.stop().await;
}

fn expired_token(secret: &str, user_id: &str) -> String {
    use jwt_simple::prelude::*;
    let key = HS256Key::from_bytes(secret.as_bytes());
    let mut claims = Claims::with_custom_claims(
        json!({"role": "customer"}),
        jwt_simple::prelude::Duration::from_secs(60),
    )
    .with_issuer(ticketbuster_domain::token::ISSUER)
    .with_audience(ticketbuster_domain::token::AUDIENCE)
    .with_subject(user_id);
    let past = Clock::now_since_epoch() - jwt_simple::prelude::Duration::from_secs(3600);
    claims.issued_at = Some(past);
    claims.expires_at = Some(past + jwt_simple::prelude::Duration::from_secs(60));
    key.authenticate(claims).expect("a token")
}

#[tokio::test]
async fn reconnecting_with_the_last_id_resumes_in_order_without_loss_or_repeats() {
    let app = TestApp::spawn().await;
    let replica = Replica::start(&app, |_| {}).await;
    let customer = app.customer().await;
    let mut socket = replica.connect(&customer.token, None).await;
    let (first, _) = notify(&app.backend, &customer.id).await;
    let (second, _) = notify(&app.backend, &customer.id).await;
    assert_eq!(next_json(&mut socket).await["id"], first);
    assert_eq!(next_json(&mut socket).await["id"], second);
    drop(socket);

    let mut missed = Vec::new();
    for _ in 0..3 {
        missed.push(notify(&app.backend, &customer.id).await.0);
    }
    let mut socket = replica.connect(&customer.token, Some(&second)).await;
    for id in &missed {
        assert_eq!(&next_json(&mut socket).await["id"], id);
    }
    let (live, _) = notify(&app.backend, &customer.id).await;
    assert_eq!(
        next_json(&mut socket).await["id"],
        live,
        "nothing repeated before it"
    );

    // Another device that last saw the first message gets everything after it, once.
    let mut other = replica.connect(&customer.token, Some(&first)).await;
    for id in std::iter::once(&second).chain(&missed).chain([&live]) {
        assert_eq!(&next_json(&mut other).await["id"], id);
    }
    let (next, _) = notify(&app.backend, &customer.id).await;
    assert_eq!(next_json(&mut other).await["id"], next);
    assert_eq!(next_json(&mut socket).await["id"], next);
    replica.stop().await;
}

#[tokio::test]
async fn a_batch_published_in_one_round_trip_reaches_each_user_in_order_and_once() {
    let app = TestApp::spawn().await;
    let replica = Replica::start(&app, |_| {}).await;
    let (alice, bob) = (app.customer().await, app.customer().await);
    let mut alice_tab = replica.connect(&alice.token, None).await;
    let mut bob_tab = replica.connect(&bob.token, None).await;
    // Facts are remembered in Redis for a day, so each run names orders of its own.
    let orders: Vec<String> = (0..3).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let cancelled = |user_id, order_id| Notification::OrderCancelled {
        user_id,
        order_id,
        event_id: 1,
    };
    let batch = [
        cancelled(&alice.id, &orders[0]),
        cancelled(&bob.id, &orders[1]),
        cancelled(&alice.id, &orders[2]),
        cancelled(&alice.id, &orders[0]),
    ];
    let ids = notifications::publish_all(&app.backend, &batch).await;
    assert!(ids[..3].iter().all(Option::is_some), "{ids:?}");
    assert_eq!(
        ids[3], None,
        "a fact published twice in one batch goes out once"
    );

    for (socket, expected) in [
        (
            &mut alice_tab,
            vec![(&ids[0], &orders[0]), (&ids[2], &orders[2])],
        ),
        (&mut bob_tab, vec![(&ids[1], &orders[1])]),
    ] {
        for (id, order_id) in expected {
            let message = next_json(socket).await;
            assert_eq!(message["id"].as_str(), id.as_deref());
            assert_eq!(message["order_id"].as_str(), Some(order_id.as_str()));
        }
    }
    // The repeated fact never arrives: the next message Alice gets is a later one.
    let (later, _) = notify(&app.backend, &alice.id).await;
    assert_eq!(next_json(&mut alice_tab).await["id"], later);
    replica.stop().await;
}

#[tokio::test]
async fn two_replicas_reach_a_user_whichever_holds_the_connection() {
    let app = TestApp::spawn().await;
    let (one, two) = (
        Replica::start(&app, |_| {}).await,
        Replica::start(&app, |_| {}).await,
    );
    let (alice, bob) = (app.customer().await, app.customer().await);
    let mut alice_on_one = one.connect(&alice.token, None).await;
    let mut alice_on_two = two.connect(&alice.token, None).await;
    let mut bob_on_two = two.connect(&bob.token, None).await;

    let (id, _) = notify(&app.backend, &alice.id).await;
    assert_eq!(next_json(&mut alice_on_one).await["id"], id);
    assert_eq!(next_json(&mut alice_on_two).await["id"], id);
    let (bobs, _) = notify(&app.backend, &bob.id).await;
    assert_eq!(next_json(&mut bob_on_two).await["id"], bobs);
    one.stop().await;
    two.stop().await;
}

#[tokio::test]
async fn seat_map_viewers_see_holds_releases_expiry_and_sales_within_a_second() {
    let app = TestApp::spawn().await;
    let replica = Replica::start(&app, |c| c.jobs_every = Duration::from_millis(200)).await;
    let (buyer, fixture, hold_id) = app.held_seats(2).await;
    let other_event = app.event(1, 1, 2).await;
    let viewer = app.customer().await;
    let mut socket = replica.connect(&viewer.token, None).await;
    subscribe(&mut socket, fixture.event_id).await;

    // Held, on another event (not watched), then on this one.
    let seat = &fixture.seat_ids[..1];
    assert_eq!(
        app.hold(&buyer, other_event.event_id, &other_event.seat_ids)
            .await
            .status,
        201
    );
    assert_eq!(app.release(&buyer, &hold_id).await.status, 204);
    let released = timed(&mut socket).await;
    assert_eq!(released["type"], "seat.changed");
    assert_eq!(released["event_id"], fixture.event_id);
    assert_eq!(released["status"], "available");
    assert_eq!(released["seat_ids"], json!(fixture.seat_ids));

    let hold = app.hold(&buyer, fixture.event_id, seat).await;
    assert_eq!(hold.status, 201);
    let held = timed(&mut socket).await;
    assert_eq!(
        (held["status"].clone(), held["seat_ids"].clone()),
        (json!("held"), json!(seat))
    );
    // Numbered in publishing order, so a viewer can tell it missed one.
    let seq = |change: &Value| {
        change["seq"]
            .as_i64()
            .unwrap_or_else(|| panic!("a seq in {change}"))
    };
    assert!(seq(&held) > seq(&released), "{released} then {held}");

    // The hold lapses: the sidecar's job frees the seat and tells the viewers.
    sqlx::query("UPDATE catalog.seats SET held_until = now() - interval '1 second' WHERE id = $1;")
        .bind(seat[0])
        .execute(app.pool())
        .await
        .expect("age the hold");
    let expired = timed(&mut socket).await;
    assert_eq!(
        (expired["status"].clone(), expired["seat_ids"].clone()),
        (json!("available"), json!(seat))
    );
    assert!(
        expired["id"]
            .as_str()
            .unwrap_or_default()
            .ends_with(":expired")
    );

    // Sold: the buyer hears `order.completed` with the tickets, the viewers `sold`.
    let mut buyer_socket = replica.connect(&buyer.token, None).await;
    let hold = app.hold(&buyer, fixture.event_id, seat).await;
    assert_eq!(timed(&mut socket).await["status"], "held");
    let hold_id = hold.body["hold_id"].as_str().expect("a hold id");
    let order_id = app.placed_order_id(&buyer, hold_id, "sold").await;
    app.run_worker(order_id.as_bytes(), 0.0)
        .await
        .expect("the worker ran");
    let sold = timed(&mut socket).await;
    assert_eq!(
        (sold["status"].clone(), sold["seat_ids"].clone()),
        (json!("sold"), json!(seat))
    );
    let completed = timed(&mut buyer_socket).await;
    assert_eq!(completed["type"], "order.completed");
    assert_eq!(completed["order_id"], order_id);
    assert_eq!(completed["ticket_ids"].as_array().map(Vec::len), Some(1));
    replica.stop().await;
}

/// The next message, which must come within a second.
async fn timed(socket: &mut Socket) -> Value {
    tokio::time::timeout(Duration::from_secs(1), next_json(socket))
        .await
        .expect("within a second")
}

#[tokio::test]
async fn buyers_are_warned_a_minute_before_their_hold_lapses_once() {
    let app = TestApp::spawn().await;
    let replica = Replica::start(&app, |c| c.jobs_every = Duration::from_millis(100)).await;
    let (buyer, fixture, hold_id) = app.held_seats(1).await;
    let mut socket = replica.connect(&buyer.token, None).await;
    sqlx::query(
        "UPDATE catalog.holds SET expires_at = now() + interval '50 seconds' WHERE id = $1::uuid",
    )
    .bind(&hold_id)
    .execute(app.pool())
    .await
    .expect("bring the expiry near");
    let warning = next_json(&mut socket).await;
    assert_eq!(warning["type"], "hold.expiring");
    assert_eq!(warning["hold_id"], hold_id);
    assert_eq!(warning["event_id"], fixture.event_id);
    // Told once: the next message is a fresh one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (id, _) = notify(&app.backend, &buyer.id).await;
    assert_eq!(next_json(&mut socket).await["id"], id);
    replica.stop().await;
}

#[tokio::test]
async fn silent_connections_are_dropped_by_the_heartbeat() {
    let app = TestApp::spawn().await;
    let replica = Replica::start(&app, |c| c.heartbeat = Duration::from_millis(100)).await;
    let customer = app.customer().await;
    let mut lively = replica.connect(&customer.token, None).await;
    // Never read: its pings go unanswered.
    let _silent = replica.connect(&customer.token, None).await;
    let reader = tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(800);
        while tokio::time::timeout_at(deadline, lively.next())
            .await
            .is_ok()
        {}
        lively
    });
    let mut lively = reader.await.expect("the reader");
    assert_eq!(replica.connections().await, 1, "the silent one is gone");
    assert!(
        replica
            .metric("ticketbuster_sidecar_heartbeat_timeouts_total")
            .await
            >= 1.0
    );
    let (id, _) = notify(&app.backend, &customer.id).await;
    assert_eq!(next_json(&mut lively).await["id"], id);
    replica.stop().await;
}

#[tokio::test]
async fn a_consumer_that_does_not_keep_up_is_disconnected_not_buffered() {
    let app = TestApp::spawn().await;
    let replica = Replica::start(&app, |c| c.send_queue = 8).await;
    let customer = app.customer().await;
    let event_id = i64::from(u32::MAX) + rand_suffix();
    let mut slow = replica.connect(&customer.token, None).await;
    subscribe(&mut slow, event_id).await;
    let mut redis = app.backend.redis.clone();
    // Large seat changes fill the socket's buffers; after that the queue fills.
    let change = json!([{"id": "x", "type": "seat.changed", "event_id": event_id,
                         "seat_ids": (0..2000).collect::<Vec<i64>>(), "status": "held"}])
    .to_string();
    for _ in 0..3000 {
        let _: () = redis::cmd("PUBLISH")
            .arg("seat-changes")
            .arg(&change)
            .query_async(&mut redis)
            .await
            .expect("publish");
        if replica
            .metric("ticketbuster_sidecar_slow_consumer_disconnects_total")
            .await
            >= 1.0
        {
            break;
        }
    }
    assert!(
        replica
            .metric("ticketbuster_sidecar_slow_consumer_disconnects_total")
            .await
            >= 1.0
    );
    assert!(
        replica
            .metric("ticketbuster_sidecar_messages_dropped_total")
            .await
            >= 1.0
    );
    // What the slow client finally reads ends with the server closing on it.
    let ending = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match slow.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
                Some(Ok(_)) => {}
                _ => return None,
            }
        }
    })
    .await
    .expect("the connection ends");
    if let Some(code) = ending {
        assert_eq!(code, CloseCode::Policy);
    }
    assert_eq!(replica.connections().await, 0);
    replica.stop().await;
}

fn rand_suffix() -> i64 {
    i64::from(uuid::Uuid::new_v4().as_fields().1)
}

#[tokio::test]
async fn shutting_down_closes_every_connection_with_a_close_frame() {
    let app = TestApp::spawn().await;
    let replica = Replica::start(&app, |_| {}).await;
    let customer = app.customer().await;
    let mut socket = replica.connect(&customer.token, None).await;
    replica.shutdown.cancel();
    let frame = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => {}
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
    .expect("closed within 5 s")
    .expect("a close frame with a code");
    assert_eq!(frame.code, CloseCode::Restart);
    replica
        .task
        .await
        .expect("the sidecar task")
        .expect("a clean stop");
}

#[tokio::test]
async fn the_feed_comes_back_by_itself_after_redis_restarts() {
    let mut redis = PrivateRedis::start().await;
    let url = redis.url();
    let app = TestApp::spawn().await;
    let replica = Replica::start_with_redis(&app, &url, |_| {}).await;
    let customer = app.customer().await;
    let mut socket = replica.connect(&customer.token, None).await;
    let publisher =
        NativeBackend::connect(&format!("{}/{}", server_url(), app.db_name), &url, 1, "")
            .await
            .expect("a publisher on the private Redis");
    let (before, _) = notify(&publisher, &customer.id).await;
    assert_eq!(next_json(&mut socket).await["id"], before);

    redis.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        replica.health().await.0,
        503,
        "unhealthy while Redis is away"
    );
    redis.start_again().await;
    replica.wait_until_healthy().await;

    // The publisher's own connection notices the restart on its first command.
    let _ = notifications::publish(
        &publisher,
        &Notification::OrderCancelled {
            user_id: "nobody",
            order_id: "probe",
            event_id: 1,
        },
    )
    .await;
    let (after, _) = notify(&publisher, &customer.id).await;
    assert_eq!(
        next_json(&mut socket).await["id"],
        after,
        "the same connection still works"
    );
    assert!(
        replica
            .metric("ticketbuster_sidecar_redis_feed_reconnects_total")
            .await
            >= 1.0
    );
    replica.stop().await;
}

#[tokio::test]
async fn exactly_one_replica_runs_the_jobs_and_another_takes_over() {
    let app = TestApp::spawn().await;
    let fast = |c: &mut Config| c.jobs_every = Duration::from_millis(100);
    let one = Replica::start(&app, fast).await;
    let two = Replica::start(&app, fast).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let leaders = one.metric("ticketbuster_sidecar_jobs_leader").await
        + two.metric("ticketbuster_sidecar_jobs_leader").await;
    assert_eq!(leaders, 1.0);
    let (leader, follower) = if one.metric("ticketbuster_sidecar_jobs_leader").await == 1.0 {
        (one, two)
    } else {
        (two, one)
    };
    leader.stop().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        follower.metric("ticketbuster_sidecar_jobs_leader").await,
        1.0
    );
    follower.stop().await;
}

#[tokio::test]
async fn the_sidecar_settles_orders_while_no_worker_listens_and_leaves_them_to_one_that_does() {
    let app = TestApp::spawn().await;
    let redis = PrivateRedis::start().await;
    let replica = Replica::start_with_redis(&app, &redis.url(), |c| {
        c.jobs_every = Duration::from_millis(100);
    })
    .await;

    let (customer, _, hold_id) = app.held_seats(2).await;
    let order_id = app.placed_order_id(&customer, &hold_id, "no-worker").await;
    let mut status = String::new();
    for _ in 0..50 {
        status = app.order_status(&order_id).await;
        if status == "COMPLETED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "COMPLETED", "settled by the sidecar within 5 s");
    assert!(
        replica
            .metric("ticketbuster_sidecar_orders_settled_by_sidecar_total")
            .await
            >= 1.0
    );
    assert_eq!(
        replica
            .metric("ticketbuster_sidecar_order_workers_listening")
            .await,
        0.0
    );

    // A worker listens: its fresh orders are its own.
    let _worker = redis.listen_on_orders().await;
    let (customer, _, hold_id) = app.held_seats(2).await;
    let order_id = app.placed_order_id(&customer, &hold_id, "worker").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(app.order_status(&order_id).await, "PENDING");
    assert_eq!(
        replica
            .metric("ticketbuster_sidecar_order_workers_listening")
            .await,
        1.0
    );
    assert_eq!(
        replica.metric("ticketbuster_sidecar_orders_backlog").await,
        1.0
    );
    replica.stop().await;
}

#[tokio::test]
async fn waiting_buyers_see_their_rooms_line_move_without_asking() {
    let app = TestApp::spawn().await;
    let replica = Replica::start(&app, |c| c.jobs_every = Duration::from_millis(200)).await;
    let fixture = app.event(1, 1, 10).await;
    sqlx::query(
        "INSERT INTO catalog.waiting_rooms (event_id, opens_at, admit_per_minute, admission_minutes)
         VALUES ($1, now() - interval '1 hour', 600, 10)",
    )
    .bind(fixture.event_id)
    .execute(app.pool())
    .await
    .expect("turn the room on");
    let waiting = app.customer().await;
    let mut socket = replica.connect(&waiting.token, None).await;
    subscribe(&mut socket, fixture.event_id).await;

    // Five buyers join; the room lets in ten a second, and nobody polls: the jobs move the line.
    for _ in 0..5 {
        let buyer = app.customer().await;
        let path = format!("/api/events/{}/queue", fixture.event_id);
        let joined = app
            .call(
                ticketbuster_tests::Service::WaitingRoom,
                ticketbuster_tests::request(http::Method::POST, &path, Some(&buyer.token), None),
            )
            .await;
        assert_eq!(joined.status, 200, "{:?}", joined.body);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the line was never seen admitted through 5"
        );
        let message = next_json(&mut socket).await;
        if message["type"] == "queue.advanced"
            && message["event_id"] == fixture.event_id
            && message["admitted_through"] == 5
        {
            assert_eq!(message["issued"], 5);
            break;
        }
    }
    replica.stop().await;
}

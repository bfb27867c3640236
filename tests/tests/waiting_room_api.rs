//! The virtual waiting room against real PostgreSQL and Redis: the organizer's settings,
//! the draw among early arrivals, the order of later ones, the pace of admission, the
//! admission token's scope and lifetime, and holds that need it.

use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use serde_json::{Value, json};
use ticketbuster_domain::account::Role;
use ticketbuster_domain::token::TokenIssuer;
use ticketbuster_domain::waiting_room::Admission;
use ticketbuster_native_backend::NativeBackend;
use ticketbuster_services::Backend;
use ticketbuster_services::waiting_room::{self, advance_rooms};
use ticketbuster_tests::{Answer, Customer, PrivateRedis, Service, TestApp, request};

/// A `sales_start` a minute ago: the room admits from the start.
const STARTED: &str = "now() - interval '1 minute'";

/// Turns a room on for `event_id`, opened an hour ago, with sales (and so admission)
/// starting at `sales_start`, an SQL expression such as `now() + interval '3 seconds'`.
async fn room(app: &TestApp, event_id: i64, admit_per_minute: Option<i64>, sales_start: &str) {
    sqlx::query(&format!(
        "UPDATE catalog.events SET sales_start = {sales_start} WHERE id = $1"
    ))
    .bind(event_id)
    .execute(app.pool())
    .await
    .expect("set the sales window");
    sqlx::query(
        "INSERT INTO catalog.waiting_rooms (event_id, opens_at, admit_per_minute, admission_minutes)
         VALUES ($1, now() - interval '1 hour', $2, 10)",
    )
    .bind(event_id)
    .bind(admit_per_minute.map(|n| n as i32))
    .execute(app.pool())
    .await
    .expect("turn the room on");
}

async fn queue(app: &TestApp, buyer: &Customer, method: Method, event_id: i64) -> Answer {
    queue_via(&app.backend, app, buyer, method, event_id).await
}

/// As [`queue`], through another backend (another instance, or another Redis).
async fn queue_via(
    backend: &NativeBackend,
    app: &TestApp,
    buyer: &Customer,
    method: Method,
    event_id: i64,
) -> Answer {
    let path = format!("/api/events/{event_id}/queue");
    let req = request(method, &path, Some(&buyer.token), None);
    Answer::from(waiting_room::handle(backend, &app.waiting_room, req).await)
}

async fn join(app: &TestApp, buyer: &Customer, event_id: i64) -> Answer {
    let answer = queue(app, buyer, Method::POST, event_id).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer
}

async fn poll(app: &TestApp, buyer: &Customer, event_id: i64) -> Answer {
    let answer = queue(app, buyer, Method::GET, event_id).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer
}

fn number(answer: &Answer) -> i64 {
    answer.body["number"]
        .as_i64()
        .unwrap_or_else(|| panic!("a number: {:?}", answer.body))
}

async fn customers(app: &TestApp, n: usize) -> Vec<Customer> {
    let mut buyers = Vec::with_capacity(n);
    for _ in 0..n {
        buyers.push(app.customer().await);
    }
    buyers
}

/// Waits until the database's clock has passed the event's sales start.
async fn until_sales_start(app: &TestApp, event_id: i64) {
    let wait_ms: f64 = sqlx::query_scalar(
        "SELECT greatest(0, extract(epoch FROM sales_start - now()) * 1000)::float8
         FROM catalog.events WHERE id = $1",
    )
    .bind(event_id)
    .fetch_one(app.pool())
    .await
    .expect("read the sales start");
    tokio::time::sleep(Duration::from_millis(wait_ms as u64 + 50)).await;
}

async fn hold_with(
    app: &TestApp,
    buyer: &Customer,
    event_id: i64,
    seat_id: i64,
    admission: Option<&str>,
) -> Answer {
    let mut req = request(
        Method::POST,
        &format!("/api/events/{event_id}/holds"),
        Some(&buyer.token),
        Some(json!({ "seat_ids": [seat_id] })),
    );
    if let Some(token) = admission {
        req.headers_mut()
            .insert("admission-token", token.parse().expect("a header value"));
    }
    app.call(Service::Holds, req).await
}

/// Spearman's rank correlation of two rankings of the same `n` items, each 1..=n.
fn rank_correlation(a: &[i64], b: &[i64]) -> f64 {
    let n = a.len() as f64;
    let squares: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    1.0 - 6.0 * squares / (n * (n * n - 1.0))
}

/// Admission token of an admitted buyer.
async fn admitted_token(app: &TestApp, buyer: &Customer, event_id: i64) -> String {
    let answer = join(app, buyer, event_id).await;
    assert_eq!(answer.body["state"], "admitted", "{:?}", answer.body);
    answer.body["admission_token"]
        .as_str()
        .expect("an admission token")
        .to_owned()
}

#[tokio::test]
async fn early_arrivals_are_drawn_at_random_at_the_start_and_joining_again_changes_nothing() {
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 1, 10).await;
    let buyers = customers(&app, 200).await;
    room(
        &app,
        fixture.event_id,
        Some(60),
        "now() + interval '4 seconds'",
    )
    .await;

    for buyer in &buyers {
        let answer = join(&app, buyer, fixture.event_id).await;
        assert_eq!(answer.body["state"], "pre_queue", "{:?}", answer.body);
        assert!(
            answer.body.get("position").is_none(),
            "no place is shown before the draw"
        );
    }
    // Refreshing before the start: the draw is kept, nothing is gained.
    for buyer in buyers.iter().rev().take(50) {
        assert_eq!(
            join(&app, buyer, fixture.event_id).await.body["state"],
            "pre_queue"
        );
    }
    until_sales_start(&app, fixture.event_id).await;

    let mut numbers = Vec::new();
    for buyer in &buyers {
        numbers.push(number(&poll(&app, buyer, fixture.event_id).await));
    }
    let mut sorted = numbers.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (1..=200).collect::<Vec<_>>(),
        "each early buyer has one place"
    );
    let arrival: Vec<i64> = (1..=200).collect();
    let rho = rank_correlation(&arrival, &numbers);
    // For a random order of 200 the correlation has a standard deviation of about 0.07.
    assert!(rho.abs() < 0.25, "the order follows arrival: rho = {rho}");

    // Joining again after the draw keeps the place; a latecomer goes behind everyone.
    for (buyer, number_before) in buyers.iter().zip(&numbers).take(20) {
        assert_eq!(
            number(&join(&app, buyer, fixture.event_id).await),
            *number_before
        );
    }
    let latecomer = app.customer().await;
    assert_eq!(number(&join(&app, &latecomer, fixture.event_id).await), 201);
}

#[tokio::test]
async fn after_the_start_buyers_queue_and_are_admitted_in_the_order_they_came() {
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 1, 10).await;
    room(&app, fixture.event_id, Some(600), STARTED).await;
    let buyers = customers(&app, 30).await;
    let mut numbers = Vec::new();
    for buyer in &buyers {
        numbers.push(number(&join(&app, buyer, fixture.event_id).await));
    }
    assert_eq!(numbers, (1..=30).collect::<Vec<_>>());

    // Whoever is admitted, everyone ahead of them is too.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let states: Vec<String> = {
        let mut states = Vec::new();
        for buyer in &buyers {
            let answer = poll(&app, buyer, fixture.event_id).await;
            states.push(answer.body["state"].as_str().unwrap_or_default().to_owned());
        }
        states
    };
    let admitted = states.iter().filter(|s| *s == "admitted").count();
    assert!(admitted >= 10, "{states:?}");
    assert!(
        states[..admitted].iter().all(|s| s == "admitted")
            && states[admitted..].iter().all(|s| s == "waiting"),
        "{states:?}"
    );
    let waiting = poll(&app, &buyers[29], fixture.event_id).await;
    let position = waiting.body["position"].as_i64().expect("a position");
    assert_eq!(
        position,
        30 - waiting.body["admitted_through"].as_i64().unwrap()
    );
    assert_eq!(
        waiting.body["estimated_wait_seconds"].as_i64(),
        Some((position * 60 + 599) / 600)
    );
}

#[tokio::test]
async fn the_room_admits_no_faster_than_its_pace() {
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 1, 10).await;
    let buyers = customers(&app, 40).await;
    room(
        &app,
        fixture.event_id,
        Some(600),
        "now() + interval '2 seconds'",
    )
    .await;
    for buyer in &buyers {
        join(&app, buyer, fixture.event_id).await;
    }
    until_sales_start(&app, fixture.event_id).await;
    let started = Instant::now();
    let last = &buyers[0];
    let mut seen = Vec::new();
    while started.elapsed() < Duration::from_millis(2_500) {
        let answer = poll(&app, last, fixture.event_id).await;
        let through = answer.body["admitted_through"]
            .as_i64()
            .or_else(|| answer.body["number"].as_i64())
            .expect("how far the line is admitted");
        // 10 a second from the start (one at the start itself), a tick of slack.
        let elapsed = started.elapsed().as_secs_f64() + 0.15;
        assert!(
            through as f64 <= 2.0 + 10.0 * elapsed,
            "{through} admitted after {elapsed:.2} s"
        );
        seen.push(through);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let furthest = *seen.iter().max().expect("polled");
    assert!(furthest >= 15, "the line barely moved: {seen:?}");
}

#[tokio::test]
async fn as_seats_allow_admits_one_buyer_per_free_seat() {
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 1, 5).await;
    room(&app, fixture.event_id, None, STARTED).await;
    let buyers = customers(&app, 8).await;
    for buyer in &buyers {
        join(&app, buyer, fixture.event_id).await;
    }
    let mut states = Vec::new();
    for buyer in &buyers {
        let answer = poll(&app, buyer, fixture.event_id).await;
        assert!(answer.body["estimated_wait_seconds"].is_null());
        states.push(answer.body["state"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(
        states,
        [
            "admitted", "admitted", "admitted", "admitted", "admitted", "waiting", "waiting",
            "waiting"
        ]
    );
}

#[tokio::test]
async fn holds_need_the_buyers_own_admission_for_the_event_while_the_room_is_on() {
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 1, 10).await;
    let other_event = app.event(1, 1, 2).await;
    room(&app, fixture.event_id, Some(6_000), STARTED).await;
    room(&app, other_event.event_id, Some(6_000), STARTED).await;
    let buyer = app.customer().await;
    let other_buyer = app.customer().await;
    let seat = fixture.seat_ids[0];

    let refused = hold_with(&app, &buyer, fixture.event_id, seat, None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{:?}", refused.body);
    assert_eq!(refused.error_code(), "admission_required");
    assert_eq!(
        refused.body["queue"],
        format!("/api/events/{}/queue", fixture.event_id)
    );

    let token = admitted_token(&app, &buyer, fixture.event_id).await;
    let others_token = admitted_token(&app, &other_buyer, fixture.event_id).await;
    let other_events_token = admitted_token(&app, &buyer, other_event.event_id).await;
    let now_ms = app.backend.now_ms();
    let forged = Admission {
        account: buyer.id.clone(),
        event_id: fixture.event_id,
        expires_at_ms: now_ms + 60_000,
    }
    .sign(&TokenIssuer::generate())
    .expect("a token");
    let ours = TokenIssuer::from_secret(&app.jwt_secret).expect("the app's secret");
    let expired = Admission {
        account: buyer.id.clone(),
        event_id: fixture.event_id,
        expires_at_ms: now_ms - 1_000,
    }
    .sign(&ours)
    .expect("a token");
    for (bad, what) in [
        (others_token.as_str(), "another account's token"),
        (other_events_token.as_str(), "another event's token"),
        (forged.as_str(), "a forged token"),
        (expired.as_str(), "an expired token"),
        (buyer.token.as_str(), "an access token"),
        ("garbage", "garbage"),
    ] {
        let answer = hold_with(&app, &buyer, fixture.event_id, seat, Some(bad)).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{what}: {:?}",
            answer.body
        );
        assert_eq!(answer.error_code(), "admission_invalid", "{what}");
    }
    assert_eq!(app.seat_statuses(fixture.event_id).await[0], "available");

    let held = hold_with(&app, &buyer, fixture.event_id, seat, Some(&token)).await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
}

#[tokio::test]
async fn a_token_replayed_after_its_lifetime_is_refused_and_a_lapsed_admission_rejoins_at_the_back()
{
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 1, 10).await;
    room(&app, fixture.event_id, Some(6_000), STARTED).await;
    let buyer = app.customer().await;
    let short_lived = Admission {
        account: buyer.id.clone(),
        event_id: fixture.event_id,
        expires_at_ms: app.backend.now_ms() + 1_500,
    }
    .sign(&TokenIssuer::from_secret(&app.jwt_secret).expect("the app's secret"))
    .expect("a token");
    let first = hold_with(
        &app,
        &buyer,
        fixture.event_id,
        fixture.seat_ids[0],
        Some(&short_lived),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let replayed = hold_with(
        &app,
        &buyer,
        fixture.event_id,
        fixture.seat_ids[1],
        Some(&short_lived),
    )
    .await;
    assert_eq!(
        replayed.status,
        StatusCode::FORBIDDEN,
        "{:?}",
        replayed.body
    );
    assert_eq!(replayed.error_code(), "admission_invalid");
    assert!(
        replayed.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("expired")
    );

    // An admission that ran out in the queue: no token any more, and joining again is
    // joining at the back.
    let admitted = join(&app, &buyer, fixture.event_id).await;
    assert_eq!(admitted.body["state"], "admitted");
    let other = app.customer().await;
    assert_eq!(number(&join(&app, &other, fixture.event_id).await), 2);
    let room_key: String =
        sqlx::query_scalar("SELECT room_key::text FROM catalog.waiting_rooms WHERE event_id = $1")
            .bind(fixture.event_id)
            .fetch_one(app.pool())
            .await
            .expect("the room's key");
    let long_ago = (app.backend.now_ms() - 11 * 60_000).to_string();
    app.backend
        .eval(
            "return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])",
            &[&format!("waiting-room:{room_key}:seen")],
            &[&buyer.id, &long_ago],
        )
        .await
        .expect("age the admission");
    let lapsed = poll(&app, &buyer, fixture.event_id).await;
    assert_eq!(lapsed.body["state"], "expired", "{:?}", lapsed.body);
    assert!(lapsed.body.get("admission_token").is_none());
    assert_eq!(number(&join(&app, &buyer, fixture.event_id).await), 3);
}

#[tokio::test]
async fn every_place_in_line_survives_redis_killed_and_started_again() {
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 1, 10).await;
    let event = fixture.event_id;
    room(&app, event, Some(60), "now() + interval '3 seconds'").await;
    let mut redis = PrivateRedis::start().await;
    let backend = app.another_backend(&redis.url()).await;
    let ask = async |buyer: &Customer, method: Method| {
        let answer = queue_via(&backend, &app, buyer, method, event).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        answer
    };
    let early = customers(&app, 30).await;
    for buyer in &early {
        assert_eq!(ask(buyer, Method::POST).await.body["state"], "pre_queue");
    }
    until_sales_start(&app, event).await;
    let mut numbers = Vec::new();
    for buyer in &early {
        numbers.push(number(&ask(buyer, Method::GET).await));
    }
    let late = customers(&app, 5).await;
    for (buyer, expected) in late.iter().zip(31..) {
        assert_eq!(number(&ask(buyer, Method::POST).await), expected);
    }
    let first = &early[numbers.iter().position(|&n| n == 1).expect("number 1")];
    let admitted = ask(first, Method::GET).await;
    assert_eq!(admitted.body["state"], "admitted", "{:?}", admitted.body);

    redis.stop();
    let down = queue_via(&backend, &app, &late[0], Method::GET, event).await;
    assert_eq!(
        down.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        down.body
    );
    assert_eq!(down.error_code(), "unavailable");
    assert!(
        down.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("places in line are kept")),
        "{:?}",
        down.body
    );

    redis.start_again().await;
    for (buyer, before) in early.iter().zip(&numbers) {
        assert_eq!(number(&ask(buyer, Method::GET).await), *before);
    }
    for (buyer, before) in late.iter().zip(31..) {
        assert_eq!(number(&ask(buyer, Method::POST).await), before);
    }
    let still = ask(first, Method::GET).await;
    assert_eq!(still.body["state"], "admitted", "{:?}", still.body);
    assert_eq!(
        still.body["expires_at"], admitted.body["expires_at"],
        "the admission keeps its end"
    );
    let newcomer = app.customer().await;
    assert_eq!(number(&ask(&newcomer, Method::POST).await), 36);
}

#[tokio::test]
async fn concurrent_joins_get_one_place_each() {
    let app = TestApp::spawn_with(Default::default(), 40).await;
    let fixture = app.event(1, 1, 10).await;
    room(&app, fixture.event_id, Some(1), STARTED).await;
    let buyers = customers(&app, 100).await;
    // Each buyer joins twice at once, everyone at the same time.
    let joins = buyers
        .iter()
        .chain(buyers.iter())
        .map(|buyer| join(&app, buyer, fixture.event_id));
    let answers = futures::future::join_all(joins).await;
    let mut by_buyer = std::collections::HashMap::new();
    for (buyer, answer) in buyers.iter().chain(buyers.iter()).zip(&answers) {
        let n = number(answer);
        let first = *by_buyer.entry(buyer.id.clone()).or_insert(n);
        assert_eq!(first, n, "a buyer who joins twice has one place");
    }
    let mut numbers: Vec<i64> = by_buyer.into_values().collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=100).collect::<Vec<_>>());
}

#[tokio::test]
async fn an_event_without_a_room_sells_as_before() {
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 1, 4).await;
    let buyer = app.customer().await;
    let answer = poll(&app, &buyer, fixture.event_id).await;
    assert_eq!(
        answer.body,
        json!({"event_id": fixture.event_id, "state": "off"})
    );
    assert_eq!(
        join(&app, &buyer, fixture.event_id).await.body["state"],
        "off"
    );
    let held = hold_with(&app, &buyer, fixture.event_id, fixture.seat_ids[0], None).await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    // A stale token from an earlier room is no reason to refuse.
    let stale = hold_with(
        &app,
        &buyer,
        fixture.event_id,
        fixture.seat_ids[1],
        Some("stale"),
    )
    .await;
    assert_eq!(stale.status, StatusCode::CREATED, "{:?}", stale.body);
    assert_eq!(advance_rooms(&app.backend).await.expect("ticks"), 0);
}

async fn organizer_call(
    app: &TestApp,
    who: &Customer,
    method: Method,
    event_id: i64,
    body: Option<Value>,
) -> Answer {
    let path = format!("/api/organizer/events/{event_id}/waiting-room");
    app.call(
        Service::WaitingRoom,
        request(method, &path, Some(&who.token), body),
    )
    .await
}

#[tokio::test]
async fn organizers_turn_their_events_room_on_change_it_and_turn_it_off() {
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 1, 4).await;
    let organizer = app.account(Role::Organizer).await;
    let other_organizer = app.account(Role::Organizer).await;
    let buyer = app.customer().await;
    sqlx::query("UPDATE catalog.events SET organizer_id = $1::uuid WHERE id = $2")
        .bind(&organizer.id)
        .bind(fixture.event_id)
        .execute(app.pool())
        .await
        .expect("give the event to the organizer");
    let settings = json!({"opens_at": "2026-01-01T09:00:00Z", "admit_per_minute": 300, "admission_minutes": 10});

    let missing = organizer_call(&app, &organizer, Method::GET, fixture.event_id, None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let too_fast =
        json!({"opens_at": "2026-01-01T09:00:00Z", "admit_per_minute": 0, "admission_minutes": 10});
    for (who, body, status, what) in [
        (
            &other_organizer,
            &settings,
            StatusCode::NOT_FOUND,
            "another organizer",
        ),
        (&buyer, &settings, StatusCode::FORBIDDEN, "a buyer"),
        (
            &organizer,
            &too_fast,
            StatusCode::UNPROCESSABLE_ENTITY,
            "a pace of 0",
        ),
    ] {
        let refused =
            organizer_call(&app, who, Method::PUT, fixture.event_id, Some(body.clone())).await;
        assert_eq!(refused.status, status, "{what}: {:?}", refused.body);
    }
    let refused = organizer_call(
        &app,
        &organizer,
        Method::PUT,
        fixture.event_id,
        Some(too_fast),
    )
    .await;
    assert_eq!(refused.body["path"], "admit_per_minute");

    let set = organizer_call(
        &app,
        &organizer,
        Method::PUT,
        fixture.event_id,
        Some(settings),
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
    assert_eq!(set.body["admit_per_minute"], 300);
    assert_eq!(set.body["opens_at"], "2026-01-01T09:00:00Z");
    let changed = organizer_call(
        &app,
        &organizer,
        Method::PUT,
        fixture.event_id,
        Some(json!({"opens_at": "2026-01-01T10:00:00Z", "admit_per_minute": null, "admission_minutes": 5})),
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    assert!(changed.body["admit_per_minute"].is_null());
    assert_eq!(
        organizer_call(&app, &organizer, Method::GET, fixture.event_id, None)
            .await
            .body,
        changed.body
    );
    let refused = hold_with(&app, &buyer, fixture.event_id, fixture.seat_ids[0], None).await;
    assert_eq!(refused.error_code(), "admission_required");

    let off = organizer_call(&app, &organizer, Method::DELETE, fixture.event_id, None).await;
    assert_eq!(off.status, StatusCode::NO_CONTENT);
    let held = hold_with(&app, &buyer, fixture.event_id, fixture.seat_ids[0], None).await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    let audited = app
        .count(&format!(
            "SELECT count(*) FROM catalog.audit_log
             WHERE event_id = {} AND action LIKE 'waiting_room.%'",
            fixture.event_id
        ))
        .await;
    assert_eq!(audited, 3);
}

#[tokio::test]
async fn the_sidecars_tick_publishes_how_far_the_line_is_admitted() {
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 1, 10).await;
    room(&app, fixture.event_id, Some(6_000), STARTED).await;
    let buyers = customers(&app, 3).await;
    let client = redis::Client::open(ticketbuster_tests::redis_url()).expect("a Redis URL");
    let mut pubsub = client.get_async_pubsub().await.expect("subscribe");
    pubsub.subscribe("queue").await.expect("subscribe to queue");
    for buyer in &buyers {
        join(&app, buyer, fixture.event_id).await;
    }
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert!(advance_rooms(&app.backend).await.expect("ticks") >= 1);
    let mut messages = pubsub.on_message();
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let message =
            tokio::time::timeout_at(deadline.into(), futures::StreamExt::next(&mut messages))
                .await
                .expect("a queue.advanced message in time")
                .expect("the subscription stays open");
        let items: Value =
            serde_json::from_slice(message.get_payload_bytes()).expect("a JSON array");
        let ours = items
            .as_array()
            .expect("an array")
            .iter()
            .find(|item| item["event_id"] == fixture.event_id);
        if let Some(item) = ours
            && item["admitted_through"] == 3
        {
            assert_eq!(item["type"], "queue.advanced");
            assert_eq!(item["issued"], 3);
            break;
        }
    }
}

#[tokio::test]
async fn a_sales_start_moved_later_after_the_draw_keeps_the_line_and_admits_nobody_before_it() {
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 1, 10).await;
    room(&app, fixture.event_id, Some(6_000), STARTED).await;
    let buyers = customers(&app, 3).await;
    assert_eq!(number(&join(&app, &buyers[0], fixture.event_id).await), 1);
    assert_eq!(number(&join(&app, &buyers[1], fixture.event_id).await), 2);
    sqlx::query("UPDATE catalog.events SET sales_start = now() + interval '1 hour' WHERE id = $1")
        .bind(fixture.event_id)
        .execute(app.pool())
        .await
        .expect("move the sales start");
    let third = join(&app, &buyers[2], fixture.event_id).await;
    assert_eq!(third.body["state"], "waiting", "{:?}", third.body);
    assert_eq!(number(&third), 3);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let still = poll(&app, &buyers[2], fixture.event_id).await;
    assert_eq!(still.body["state"], "waiting", "{:?}", still.body);
    assert_eq!(
        still.body["admitted_through"],
        third.body["admitted_through"]
    );
}

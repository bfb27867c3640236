//! Holds sent with an `Idempotency-Key`, against real PostgreSQL: a hold sent again after
//! its answer was lost answers the first hold instead of holding more seats; a key is
//! one request's, one account's; concurrent attempts of one request make one hold.

use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use ticketbuster_domain::holds::HoldPolicy;
use ticketbuster_tests::{Answer, Customer, Service, TestApp, request};

async fn hold_with_key(
    app: &TestApp,
    buyer: &Customer,
    event_id: i64,
    body: Value,
    key: &str,
) -> Answer {
    let mut req = request(
        Method::POST,
        &format!("/api/events/{event_id}/holds"),
        Some(&buyer.token),
        Some(body),
    );
    req.headers_mut()
        .insert("idempotency-key", key.parse().expect("a header value"));
    app.call(Service::Holds, req).await
}

fn replayed(answer: &Answer) -> bool {
    answer
        .headers
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

async fn holds_of(app: &TestApp, buyer: &Customer) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM catalog.holds WHERE user_id = $1::uuid")
        .bind(&buyer.id)
        .fetch_one(app.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_hold_sent_again_with_its_key_answers_the_first_hold() {
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 1, 6).await;
    let buyer = app.customer().await;
    let seats = &fixture.seat_ids[..2];

    let first = hold_with_key(
        &app,
        &buyer,
        fixture.event_id,
        json!({"seat_ids": [seats[1], seats[0]]}),
        "k-1",
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    assert!(!replayed(&first));

    let again = hold_with_key(
        &app,
        &buyer,
        fixture.event_id,
        json!({"seat_ids": seats}),
        " k-1 ",
    )
    .await;
    assert_eq!(again.status, StatusCode::CREATED, "{:?}", again.body);
    assert!(replayed(&again), "a replay says so: {:?}", again.headers);
    assert_eq!(
        again.body, first.body,
        "the very same hold, expiry included"
    );
    assert_eq!(holds_of(&app, &buyer).await, 1);

    // The same key on another account is that account's own.
    let other = app.customer().await;
    let theirs = hold_with_key(
        &app,
        &other,
        fixture.event_id,
        json!({"seat_ids": [fixture.seat_ids[2]]}),
        "k-1",
    )
    .await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{:?}", theirs.body);
    assert!(!replayed(&theirs));

    // Without a key every request is a new hold, as before.
    let unkeyed = app
        .hold(&buyer, fixture.event_id, &[fixture.seat_ids[3]])
        .await;
    assert_eq!(unkeyed.status, StatusCode::CREATED);
    assert_eq!(holds_of(&app, &buyer).await, 2);
}

#[tokio::test]
async fn a_key_sent_with_another_request_or_after_its_hold_ended_is_refused() {
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 1, 6).await;
    let other_event = app.event(1, 1, 2).await;
    let buyer = app.customer().await;
    let seats = &fixture.seat_ids[..2];
    let body = json!({"seat_ids": seats});
    let first = hold_with_key(&app, &buyer, fixture.event_id, body.clone(), "k-2").await;
    assert_eq!(first.status, StatusCode::CREATED);

    for (event_id, other_request) in [
        (fixture.event_id, json!({"seat_ids": [seats[0]]})),
        (fixture.event_id, json!({"quantity": 2})),
        (
            other_event.event_id,
            json!({"seat_ids": other_event.seat_ids}),
        ),
    ] {
        let reused = hold_with_key(&app, &buyer, event_id, other_request.clone(), "k-2").await;
        assert_eq!(
            reused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{other_request}: {:?}",
            reused.body
        );
        assert_eq!(reused.error_code(), "idempotency_key_reused");
    }
    assert_eq!(holds_of(&app, &buyer).await, 1, "nothing more was held");

    let hold_id = first.body["hold_id"].as_str().unwrap();
    assert_eq!(
        app.release(&buyer, hold_id).await.status,
        StatusCode::NO_CONTENT
    );
    let after_release = hold_with_key(&app, &buyer, fixture.event_id, body, "k-2").await;
    assert_eq!(after_release.status, StatusCode::CONFLICT);
    assert_eq!(after_release.error_code(), "hold_ended");
    assert_eq!(after_release.body["hold_id"], hold_id);

    for bad in ["", "a b", "clé"] {
        let mut req = request(
            Method::POST,
            &format!("/api/events/{}/holds", fixture.event_id),
            Some(&buyer.token),
            Some(json!({"seat_ids": [seats[0]]})),
        );
        req.headers_mut().insert(
            "idempotency-key",
            http::HeaderValue::from_bytes(bad.as_bytes()).unwrap(),
        );
        let answer = app.call(Service::Holds, req).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad:?}");
    }
    assert_eq!(holds_of(&app, &buyer).await, 1);
}

#[tokio::test]
async fn a_best_available_hold_sent_again_answers_the_same_seats_even_once_none_are_left() {
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 1, 4).await;
    let buyer = app.customer().await;
    let body = json!({"quantity": 4});
    let first = hold_with_key(&app, &buyer, fixture.event_id, body.clone(), "k-3").await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    assert_eq!(first.body["seat_ids"], json!(fixture.seat_ids));

    // The event has no seat left, yet the retry finds its hold.
    let again = hold_with_key(&app, &buyer, fixture.event_id, body.clone(), "k-3").await;
    assert_eq!(again.status, StatusCode::CREATED, "{:?}", again.body);
    assert!(replayed(&again));
    assert_eq!(again.body, first.body);

    let fresh_key = hold_with_key(&app, &buyer, fixture.event_id, body, "k-4").await;
    assert_eq!(fresh_key.status, StatusCode::CONFLICT);
    assert_eq!(fresh_key.error_code(), "not_enough_adjacent_seats");
}

#[tokio::test]
async fn a_retry_is_answered_its_hold_even_where_a_cap_would_refuse_more_seats() {
    let app = TestApp::spawn_with(
        HoldPolicy {
            max_held_seats_per_account: 2,
            max_tickets_per_account: 2,
            ..HoldPolicy::default()
        },
        10,
    )
    .await;
    let fixture = app.event(1, 1, 6).await;
    let buyer = app.customer().await;
    let body = json!({"seat_ids": &fixture.seat_ids[..2]});
    let first = hold_with_key(&app, &buyer, fixture.event_id, body.clone(), "k-5").await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let again = hold_with_key(&app, &buyer, fixture.event_id, body, "k-5").await;
    assert_eq!(again.status, StatusCode::CREATED, "{:?}", again.body);
    assert!(replayed(&again));
    assert_eq!(again.body["hold_id"], first.body["hold_id"]);
}

/// A client that timed out and sent again while the first attempt still ran: both
/// attempts of one request race, for each kind of hold, and make one hold between them.
#[tokio::test]
async fn attempts_of_one_request_at_once_make_one_hold() {
    let app = Arc::new(TestApp::spawn_with(HoldPolicy::default(), 20).await);
    let fixture = app.event(1, 4, 10).await;
    let buyer = Arc::new(app.customer().await);
    const ATTEMPTS: usize = 12;
    for (key, body) in [
        ("race-seats", json!({"seat_ids": &fixture.seat_ids[..3]})),
        ("race-best", json!({"quantity": 4})),
    ] {
        let barrier = Arc::new(tokio::sync::Barrier::new(ATTEMPTS));
        let attempts: Vec<_> = (0..ATTEMPTS)
            .map(|_| {
                let (app, buyer, barrier, body) =
                    (app.clone(), buyer.clone(), barrier.clone(), body.clone());
                let event_id = fixture.event_id;
                tokio::spawn(async move {
                    barrier.wait().await;
                    hold_with_key(&app, &buyer, event_id, body, key).await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for attempt in attempts {
            answers.push(attempt.await.expect("the attempt ran"));
        }
        for answer in &answers {
            assert_eq!(
                answer.status,
                StatusCode::CREATED,
                "{key}: {:?}",
                answer.body
            );
            assert_eq!(answer.body, answers[0].body, "{key}: one hold for all");
        }
        assert_eq!(
            answers.iter().filter(|a| !replayed(a)).count(),
            1,
            "{key}: one attempt made it, the others replayed it"
        );
    }
    assert_eq!(holds_of(&app, &buyer).await, 2);
    let held: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM catalog.seats WHERE event_id = $1 AND status = 'held'",
    )
    .bind(fixture.event_id)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(held, 7, "3 chosen + 4 best available, nothing stranded");
}

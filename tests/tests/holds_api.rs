//! The seat-lock service against real PostgreSQL: holds, release, expiry, ownership, bad input.

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::json;
use ticketbuster_domain::account::Role;
use ticketbuster_domain::holds::HoldPolicy;
use ticketbuster_tests::{Case, Service, TestApp, hold_by_sql, raw_request, request};

async fn seat_statuses(app: &TestApp, seat_ids: &[i64]) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT CASE WHEN status = 'held' AND held_until <= now() THEN 'available' ELSE status END
         FROM catalog.seats WHERE id = ANY($1) ORDER BY id",
    )
    .bind(seat_ids)
    .fetch_all(app.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn hold_list_and_release() {
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 2, 5).await;
    let buyer = app.customer().await;
    let seats = &fixture.seat_ids[..3];

    let held = app
        .hold(&buyer, fixture.event_id, &[seats[2], seats[0], seats[1]])
        .await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    assert_eq!(
        held.body["seat_ids"],
        json!(seats),
        "seat ids come back sorted"
    );
    assert_eq!(held.body["event_id"], fixture.event_id);
    assert!(held.body["expires_at"].as_str().unwrap().ends_with('Z'));
    let hold_id = held.body["hold_id"].as_str().unwrap().to_owned();
    assert_eq!(seat_statuses(&app, seats).await, ["held"; 3]);

    let mine = app.my_holds(&buyer).await;
    assert_eq!(mine.status, StatusCode::OK);
    let items = mine.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["hold_id"], hold_id.as_str());
    assert_eq!(items[0]["total_cents"], 15000);
    assert_eq!(items[0]["seats"][0]["row"], "A");

    // Someone else can neither see nor release it.
    let other = app.customer().await;
    let theirs = app.my_holds(&other).await;
    assert_eq!(theirs.body["items"], json!([]));
    let foreign = app.release(&other, &hold_id).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert_eq!(seat_statuses(&app, seats).await, ["held"; 3]);

    let overlap = app
        .hold(&other, fixture.event_id, &[seats[2], fixture.seat_ids[3]])
        .await;
    assert_eq!(overlap.status, StatusCode::CONFLICT);
    assert_eq!(overlap.error_code(), "seats_unavailable");
    assert_eq!(overlap.body["unavailable_seat_ids"], json!([seats[2]]));
    assert_eq!(
        seat_statuses(&app, &[fixture.seat_ids[3]]).await,
        ["available"],
        "all or nothing"
    );

    let released = app.release(&buyer, &hold_id).await;
    assert_eq!(released.status, StatusCode::NO_CONTENT);
    assert_eq!(seat_statuses(&app, seats).await, ["available"; 3]);
    let twice = app.release(&buyer, &hold_id).await;
    assert_eq!(
        twice.status,
        StatusCode::NO_CONTENT,
        "releasing again is harmless"
    );
    assert_eq!(
        app.hold(&other, fixture.event_id, seats).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn an_expired_hold_frees_its_seats_at_once() {
    let app = TestApp::spawn_with(
        HoldPolicy {
            ttl_seconds: 1,
            ..HoldPolicy::default()
        },
        10,
    )
    .await;
    let fixture = app.event(1, 1, 4).await;
    let first = app.customer().await;
    let second = app.customer().await;
    let seats = &fixture.seat_ids[..2];
    assert_eq!(
        app.hold(&first, fixture.event_id, seats).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.hold(&second, fixture.event_id, seats).await.status,
        StatusCode::CONFLICT
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let taken_over = app.hold(&second, fixture.event_id, seats).await;
    assert_eq!(
        taken_over.status,
        StatusCode::CREATED,
        "{:?}",
        taken_over.body
    );
    let mine = app.my_holds(&first).await;
    assert_eq!(
        mine.body["items"],
        json!([]),
        "an expired hold is no longer listed"
    );
    let holder: String = sqlx::query_scalar(
        "SELECT DISTINCT h.user_id::text FROM catalog.seats s JOIN catalog.holds h ON h.id = s.hold_id WHERE s.id = ANY($1)",
    )
    .bind(seats)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(holder, second.id);
}

/// Migration 13: a hold's own transaction commits without waiting for the disk, and the
/// setting ends with it, so the next statement on that connection (an order, say) commits
/// synchronously again.
#[tokio::test]
async fn only_the_hold_itself_commits_without_waiting_for_the_disk() {
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 1, 2).await;
    let buyer = app.customer().await;
    let synchronous_commit = async |conn: &mut sqlx::PgConnection| -> String {
        sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(conn)
            .await
            .unwrap()
    };
    let mut conn = app.pool().acquire().await.unwrap();
    let mut hold = sqlx::Connection::begin(&mut *conn).await.unwrap();
    let hold_id = hold_by_sql(&mut hold, &buyer, fixture.event_id, &fixture.seat_ids[..1]).await;
    assert!(hold_id.is_some(), "the seat was free");
    assert_eq!(synchronous_commit(&mut hold).await, "off");
    hold.commit().await.unwrap();
    assert_eq!(synchronous_commit(&mut conn).await, "on");
    assert_eq!(seat_statuses(&app, &fixture.seat_ids[..1]).await, ["held"]);
}

#[tokio::test]
async fn bad_input_answers_a_clear_4xx_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 2, 10).await;
    let other_event = app.event(1, 1, 2).await;
    let past_event = app.event_starting_in(1, 1, 2, "-1 day").await;
    let buyer = app.customer().await;
    let path = format!("/api/events/{}/holds", fixture.event_id);
    let token = Some(buyer.token.as_str());
    let organizer = app.auth.issuer.issue(&buyer.id, Role::Organizer).unwrap();
    let s = &fixture.seat_ids;
    let hold = |seats: serde_json::Value| {
        request(
            Method::POST,
            &path,
            token,
            Some(json!({ "seat_ids": seats })),
        )
    };
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            raw_request(Method::POST, &path, token, "{\"seat_ids\": [1,"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "wrong types",
            hold(json!(["one", "two"])),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "not a list",
            hold(json!(5)),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "empty list",
            hold(json!([])),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "nine seats",
            hold(json!(s[..9])),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "duplicates",
            hold(json!([s[0], s[0]])),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "seat of another event",
            hold(json!([s[0], other_event.seat_ids[0]])),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown seat",
            hold(json!([s[0], 987_654_321])),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "oversized body",
            raw_request(
                Method::POST,
                &path,
                token,
                &format!("{{\"seat_ids\": [{}]}}", "1,".repeat(40_000)),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "unknown event",
            request(
                Method::POST,
                "/api/events/987654321/holds",
                token,
                Some(json!({"seat_ids": [s[0]]})),
            ),
            StatusCode::NOT_FOUND,
        ),
        (
            "event already started",
            request(
                Method::POST,
                &format!("/api/events/{}/holds", past_event.event_id),
                token,
                Some(json!({"seat_ids": [past_event.seat_ids[0]]})),
            ),
            StatusCode::CONFLICT,
        ),
        (
            "no token",
            request(Method::POST, &path, None, Some(json!({"seat_ids": [s[0]]}))),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "forged token",
            request(
                Method::POST,
                &path,
                Some("a.b.c"),
                Some(json!({"seat_ids": [s[0]]})),
            ),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "organizer role",
            request(
                Method::POST,
                &path,
                Some(&organizer),
                Some(json!({"seat_ids": [s[0]]})),
            ),
            StatusCode::FORBIDDEN,
        ),
        (
            "malformed hold id",
            request(Method::DELETE, "/api/holds/not-a-uuid", token, None),
            StatusCode::NOT_FOUND,
        ),
        (
            "unknown hold id",
            request(
                Method::DELETE,
                "/api/holds/6f9619ff-8b86-d011-b42d-00c04fc964ff",
                token,
                None,
            ),
            StatusCode::NOT_FOUND,
        ),
        (
            "wrong method",
            request(Method::PUT, "/api/holds", token, None),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
    ];
    app.assert_refused(Service::Holds, cases).await;
    let holds: i64 = sqlx::query_scalar("SELECT count(*) FROM catalog.holds")
        .fetch_one(app.pool())
        .await
        .unwrap();
    let touched: i64 =
        sqlx::query_scalar("SELECT count(*) FROM catalog.seats WHERE status <> 'available'")
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!((holds, touched), (0, 0), "no bad request changed anything");
}

//! Per-account caps on an event's inventory, against real PostgreSQL: the seats an account
//! may hold at once and the seats it may have at all (held, ordered and sold), enforced in
//! the hold's own statement, so that concurrent holds of one account cannot pass them.

use std::sync::Arc;

use http::StatusCode;
use ticketbuster_domain::holds::HoldPolicy;
use ticketbuster_tests::{Answer, TestApp};

const RACERS: usize = 64;

fn assert_capped(answer: &Answer, code: &str, limit: i64, allowed: i64) {
    assert_eq!(answer.status, StatusCode::CONFLICT, "{:?}", answer.body);
    assert_eq!(answer.error_code(), code, "{:?}", answer.body);
    assert_eq!(answer.body["cap_limit"], limit, "{:?}", answer.body);
    assert_eq!(answer.body["seats_allowed"], allowed, "{:?}", answer.body);
    let message = answer.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&limit.to_string()),
        "the message names the cap: {message}"
    );
}

async fn held_seats_of(app: &TestApp, user_id: &str, event_id: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM catalog.seats s JOIN catalog.holds h ON h.id = s.hold_id
         WHERE h.user_id = $1::uuid AND s.event_id = $2 AND s.status = 'held'",
    )
    .bind(user_id)
    .bind(event_id)
    .fetch_one(app.pool())
    .await
    .expect("count the account's held seats")
}

#[tokio::test]
async fn one_account_racing_64_holds_gets_no_more_than_its_cap() {
    let app = Arc::new(TestApp::spawn_with(HoldPolicy::default(), 70).await);
    let fixture = app.event(1, 4, 25).await;
    let bot = Arc::new(app.customer().await);
    let tasks: Vec<_> = fixture.seat_ids[..RACERS]
        .iter()
        .map(|&seat| {
            let (app, bot) = (app.clone(), bot.clone());
            tokio::spawn(async move { app.hold(&bot, fixture.event_id, &[seat]).await })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        let answer = task.await.expect("a hold task");
        match answer.status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                assert!(
                    ["hold_cap_reached", "ticket_cap_reached"].contains(&answer.error_code()),
                    "{:?}",
                    answer.body
                );
                assert_eq!(answer.body["seats_allowed"], 0, "{:?}", answer.body);
            }
            other => panic!("unexpected {other}: {:?}", answer.body),
        }
    }
    assert_eq!(created, 8, "exactly the cap's worth of holds succeed");
    assert_eq!(held_seats_of(&app, &bot.id, fixture.event_id).await, 8);
    // Another account is not affected by the bot's cap.
    let buyer = app.customer().await;
    let answer = app
        .hold(
            &buyer,
            fixture.event_id,
            &fixture.seat_ids[RACERS..RACERS + 8],
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
}

#[tokio::test]
async fn a_hold_over_a_cap_names_it_and_what_is_left() {
    let app = TestApp::spawn_with(
        HoldPolicy {
            max_held_seats_per_account: 4,
            max_tickets_per_account: 6,
            ..HoldPolicy::default()
        },
        10,
    )
    .await;
    let fixture = app.event(1, 1, 20).await;
    let seats = &fixture.seat_ids;
    let buyer = app.customer().await;

    let first = app.hold(&buyer, fixture.event_id, &seats[..3]).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let over_held = app.hold(&buyer, fixture.event_id, &seats[3..5]).await;
    assert_capped(&over_held, "hold_cap_reached", 4, 1);
    assert_eq!(over_held.body["cap"], "held_seats");
    assert_eq!(held_seats_of(&app, &buyer.id, fixture.event_id).await, 3);

    // Ordered seats leave the held cap but stay in the tickets cap.
    let hold_id = first.body["hold_id"].as_str().expect("a hold id");
    app.placed_order_id(&buyer, hold_id, "caps-1").await;
    let second = app.hold(&buyer, fixture.event_id, &seats[3..6]).await;
    assert_eq!(second.status, StatusCode::CREATED, "{:?}", second.body);
    let over_tickets = app.hold(&buyer, fixture.event_id, &seats[6..7]).await;
    assert_capped(&over_tickets, "ticket_cap_reached", 6, 0);
    assert_eq!(over_tickets.body["cap"], "tickets");

    // Released seats, and those of failed orders, count no more.
    let second_id = second.body["hold_id"].as_str().expect("a hold id");
    assert_eq!(
        app.release(&buyer, second_id).await.status,
        StatusCode::NO_CONTENT
    );
    app.run_worker(b"00000000-0000-4000-8000-000000000000", 1.0)
        .await
        .expect("a worker run that declines every payment");
    let after = app.hold(&buyer, fixture.event_id, &seats[6..10]).await;
    assert_eq!(after.status, StatusCode::CREATED, "{:?}", after.body);
}

#[tokio::test]
async fn sold_and_pending_seats_count_and_an_event_may_set_its_own_cap() {
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 1, 20).await;
    let seats = &fixture.seat_ids;
    sqlx::query("UPDATE catalog.events SET max_tickets_per_account = 3 WHERE id = $1")
        .bind(fixture.event_id)
        .execute(app.pool())
        .await
        .expect("set the event's cap");
    let buyer = app.customer().await;
    let too_many = app.hold(&buyer, fixture.event_id, &seats[..4]).await;
    assert_capped(&too_many, "ticket_cap_reached", 3, 3);

    let hold = app.hold(&buyer, fixture.event_id, &seats[..2]).await;
    assert_eq!(hold.status, StatusCode::CREATED, "{:?}", hold.body);
    let order_id = app
        .placed_order_id(&buyer, hold.body["hold_id"].as_str().unwrap(), "caps-2")
        .await;
    let report = app
        .run_worker(order_id.as_bytes(), 0.0)
        .await
        .expect("a worker run");
    assert_eq!(report.completed, 1);
    let over = app.hold(&buyer, fixture.event_id, &seats[2..4]).await;
    assert_capped(&over, "ticket_cap_reached", 3, 1);

    // A cancelled order gives its seats back to the account's allowance.
    assert_eq!(
        app.cancel_order(&buyer, &order_id).await.status,
        StatusCode::OK
    );
    let again = app.hold(&buyer, fixture.event_id, &seats[2..5]).await;
    assert_eq!(again.status, StatusCode::CREATED, "{:?}", again.body);

    // An event's cap of 0 lifts both caps there.
    sqlx::query("UPDATE catalog.events SET max_tickets_per_account = 0 WHERE id = $1")
        .bind(fixture.event_id)
        .execute(app.pool())
        .await
        .expect("lift the event's caps");
    let unlimited = app.hold(&buyer, fixture.event_id, &seats[5..13]).await;
    assert_eq!(
        unlimited.status,
        StatusCode::CREATED,
        "{:?}",
        unlimited.body
    );
    let more = app.hold(&buyer, fixture.event_id, &seats[13..20]).await;
    assert_eq!(more.status, StatusCode::CREATED, "{:?}", more.body);
}

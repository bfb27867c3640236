//! Settling orders without a Redis trigger (hosts that run HTTP only): the order's answer
//! asks its component to settle it afterwards, and the jobs route, called on a schedule,
//! settles whatever such work left behind and runs the hold-expiry jobs.

use std::sync::Arc;

use futures::StreamExt;
use http::{Method, StatusCode};
use ticketbuster_domain::orders::PaymentProvider;
use ticketbuster_services::jobs::{self, JobsSettings, JobsToken};
use ticketbuster_services::orders::{self, Settlement};
use ticketbuster_services::worker::{self, SettleAfterResponse, WorkerSettings};
use ticketbuster_tests::{Answer, NativeQr, PrivateRedis, TestApp, order_request, request};

const JOBS_TOKEN: &str = "a-jobs-token-of-forty-characters-or-so!!";

fn worker_settings() -> WorkerSettings {
    WorkerSettings {
        batch_size: 50,
        lanes: 4,
        payment: PaymentProvider::new(0.0).expect("a failure rate"),
    }
}

fn jobs_settings() -> JobsSettings {
    JobsSettings {
        token: JobsToken::parse(JOBS_TOKEN).expect("a long enough token"),
        worker: worker_settings(),
    }
}

async fn settling_after_response() -> TestApp {
    let mut app = TestApp::spawn().await;
    Arc::get_mut(&mut app.orders)
        .expect("nobody else holds the settings yet")
        .settlement = Settlement::AfterResponse;
    app
}

async fn call_jobs(app: &TestApp, token: Option<&str>) -> Answer {
    let req = request(Method::POST, "/api/jobs/run", token, None);
    Answer::from(jobs::handle(&app.backend, &jobs_settings(), req).await)
}

#[tokio::test]
async fn an_order_asks_to_be_settled_after_its_answer_and_wakes_no_worker() {
    let app = settling_after_response().await;
    let redis = PrivateRedis::start().await;
    let backend = app.another_backend(&redis.url()).await;
    let mut orders_channel = redis.listen_on_orders().await.into_on_message();

    let (customer, fixture, hold_id) = app.held_seats(2).await;
    let place = || {
        let req = order_request(&customer, &hold_id, "after");
        orders::handle(&backend, &app.orders, &NativeQr, req)
    };
    let answer = place().await;
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    let Some(SettleAfterResponse(order_id)) = answer.extensions().get().cloned() else {
        panic!("the answer asks for the order to be settled after it");
    };
    assert_eq!(app.order_status(order_id.as_str()).await, "PENDING");
    let published =
        tokio::time::timeout(std::time::Duration::from_millis(300), orders_channel.next()).await;
    assert!(
        published.is_err(),
        "no wake-up went to the `orders` channel"
    );

    // A retry while it waits asks again (the first run may have been lost).
    let retried = place().await;
    assert_eq!(
        retried.extensions().get::<SettleAfterResponse>(),
        Some(&SettleAfterResponse(order_id.clone()))
    );

    // What the component runs after the answer: the worker's saga, this order first.
    let report = worker::settle_after_response(&backend, &worker_settings(), &order_id)
        .await
        .expect("settled");
    assert_eq!(report.completed, 1);
    assert_eq!(app.order_status(order_id.as_str()).await, "COMPLETED");
    assert_eq!(app.seat_statuses(fixture.event_id).await, ["sold", "sold"]);
}

#[tokio::test]
async fn orders_settled_by_the_worker_carry_nothing_to_do_after_the_answer() {
    let app = TestApp::spawn().await;
    let (customer, _, hold_id) = app.held_seats(1).await;
    let req = order_request(&customer, &hold_id, "worker");
    let answer = orders::handle(&app.backend, &app.orders, &NativeQr, req).await;
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    assert!(answer.extensions().get::<SettleAfterResponse>().is_none());
}

#[tokio::test]
async fn the_jobs_route_needs_its_token_in_a_header_or_the_query() {
    let app = settling_after_response().await;
    for token in [None, Some("wrong"), Some(&JOBS_TOKEN[1..])] {
        let answer = call_jobs(&app, token).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{token:?}");
    }
    let req = request(Method::DELETE, "/api/jobs/run", Some(JOBS_TOKEN), None);
    let answer = jobs::handle(&app.backend, &jobs_settings(), req).await;
    assert_eq!(answer.status(), StatusCode::METHOD_NOT_ALLOWED);
    // A scheduler that names only a path and query sends GET with the token in the query.
    let path = format!("/api/jobs/run?token={JOBS_TOKEN}");
    let answer = jobs::handle(
        &app.backend,
        &jobs_settings(),
        request(Method::GET, &path, None, None),
    )
    .await;
    assert_eq!(answer.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_scheduled_call_settles_orders_whose_work_was_lost_and_frees_lapsed_seats() {
    let app = settling_after_response().await;

    // Lost before its run claimed it: still PENDING.
    let (ana, _, ana_hold) = app.held_seats(2).await;
    let waiting = app
        .placed_order_id(&ana, &ana_hold, "lost-before-claim")
        .await;
    // Lost mid-run: claimed 40 s ago by a run that never came back.
    let (bob, _, hold) = app.held_seats(1).await;
    let abandoned = app.placed_order_id(&bob, &hold, "lost-mid-run").await;
    sqlx::query(
        "UPDATE orders.orders SET status = 'PROCESSING', claim_id = gen_random_uuid(),
                claimed_at = now() - interval '40 seconds' WHERE id = $1::uuid",
    )
    .bind(&abandoned)
    .execute(app.pool())
    .await
    .expect("abandon a claim");
    // A hold that lapsed while nobody ran the expiry job.
    let (_, lapsed_event, lapsed_hold) = app.held_seats(3).await;
    app.end_hold_in(&lapsed_hold, "-1 second").await;

    let answer = call_jobs(&app, Some(JOBS_TOKEN)).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.body["orders_completed"], 2, "{:?}", answer.body);
    assert_eq!(answer.body["orders_overdue"], 1, "the abandoned claim");
    assert_eq!(answer.body["seats_freed"], 3);
    for order in [&waiting, &abandoned] {
        assert_eq!(app.order_status(order).await, "COMPLETED");
    }
    assert_eq!(
        app.seat_statuses(lapsed_event.event_id).await,
        ["available"; 3]
    );

    // Nothing left: the next call does nothing, and a retry of a settled order asks for nothing.
    let again = call_jobs(&app, Some(JOBS_TOKEN)).await;
    assert_eq!(again.body["orders_completed"], 0);
    assert_eq!(again.body["seats_freed"], 0);
    let replay = app.place_order(&ana, &ana_hold, "lost-before-claim").await;
    assert_eq!(replay.body["status"], "COMPLETED");
}

#[tokio::test]
async fn the_run_after_an_answer_settles_one_batch_and_leaves_the_rest_to_the_jobs_route() {
    let app = settling_after_response().await;
    let mut orders = Vec::new();
    for key in ["a", "b", "c"] {
        let (customer, _, hold_id) = app.held_seats(1).await;
        orders.push(app.placed_order_id(&customer, &hold_id, key).await);
    }
    let two_at_a_time = WorkerSettings {
        batch_size: 2,
        ..worker_settings()
    };
    let last = ticketbuster_domain::ids::PublicId::parse(&orders[2]).expect("an order id");
    let report = worker::settle_after_response(&app.backend, &two_at_a_time, &last)
        .await
        .expect("settled");
    assert_eq!(report.completed, 2, "one batch, however many wait");
    assert_eq!(
        app.order_status(&orders[2]).await,
        "COMPLETED",
        "its own order first"
    );
    assert_eq!(app.order_status(&orders[0]).await, "COMPLETED");
    assert_eq!(app.order_status(&orders[1]).await, "PENDING");

    let answer = call_jobs(&app, Some(JOBS_TOKEN)).await;
    assert_eq!(answer.body["orders_completed"], 1, "{:?}", answer.body);
}

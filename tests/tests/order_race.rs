//! The order guarantees under real concurrency, against real PostgreSQL and Redis:
//! idempotent placement, a worker that completes an order once however often it runs,
//! compensation on payment failure, and no lost orders when a message is.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use http::StatusCode;
use ticketbuster_services::{outbox, worker};
use ticketbuster_tests::{TestApp, redis_url};

#[tokio::test]
async fn two_hundred_concurrent_posts_with_one_key_create_one_order() {
    let app = Arc::new(TestApp::spawn_with(Default::default(), 40).await);
    let (buyer, _, hold_id) = app.held_seats(4).await;
    let buyer = Arc::new(buyer);
    let attempts = (0..200).map(|_| {
        let (app, buyer, hold_id) = (app.clone(), buyer.clone(), hold_id.clone());
        tokio::spawn(async move { app.place_order(&buyer, &hold_id, "one-purchase").await })
    });
    let answers = futures::future::join_all(attempts).await;
    let mut order_ids = std::collections::BTreeSet::new();
    for answer in answers {
        let answer = answer.expect("the task ran");
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.body);
        order_ids.insert(answer.body["order_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(order_ids.len(), 1, "every attempt found the same order");
    assert_eq!(app.count("SELECT count(*) FROM orders.orders").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM orders.order_items").await,
        4
    );
}

#[tokio::test]
async fn twenty_concurrent_worker_runs_complete_an_order_once() {
    let app = Arc::new(TestApp::spawn_with(Default::default(), 30).await);
    let (buyer, fixture, hold_id) = app.held_seats(5).await;
    let order_id = app.placed_order_id(&buyer, &hold_id, "k").await;
    let runs = (0..20).map(|_| {
        let (app, order_id) = (app.clone(), order_id.clone());
        tokio::spawn(async move { app.run_worker(order_id.as_bytes(), 0.0).await })
    });
    let completed: usize = futures::future::join_all(runs)
        .await
        .into_iter()
        .map(|run| {
            run.expect("the task ran")
                .expect("the run worked")
                .completed
        })
        .sum();
    assert_eq!(completed, 1);
    assert_eq!(app.order_status(&order_id).await, "COMPLETED");
    assert_eq!(app.count("SELECT count(*) FROM orders.tickets").await, 5);
    assert_eq!(
        app.count("SELECT count(DISTINCT seat_id) FROM orders.tickets")
            .await,
        5
    );
    assert_eq!(
        app.count("SELECT count(*) FROM orders.order_history WHERE to_status = 'COMPLETED'")
            .await,
        1
    );
    assert_eq!(app.seat_statuses(fixture.event_id).await, ["sold"; 5]);
}

#[tokio::test]
async fn a_declined_payment_fails_the_order_and_frees_its_seats() {
    let app = TestApp::spawn().await;
    let (buyer, fixture, hold_id) = app.held_seats(3).await;
    let order_id = app.placed_order_id(&buyer, &hold_id, "k").await;
    let report = app.run_worker(order_id.as_bytes(), 1.0).await.unwrap();
    assert_eq!((report.completed, report.failed), (0, 1));
    let order = app.get_as(&buyer, &format!("/api/orders/{order_id}")).await;
    assert_eq!(order.body["status"], "FAILED");
    assert_eq!(
        order.body["status_reason"],
        ticketbuster_services::worker::DECLINED_REASON
    );
    assert_eq!(app.seat_statuses(fixture.event_id).await, ["available"; 3]);
    assert_eq!(app.count("SELECT count(*) FROM orders.tickets").await, 0);
    let again = app.hold(&buyer, fixture.event_id, &fixture.seat_ids).await;
    assert_eq!(
        again.status,
        StatusCode::CREATED,
        "the seats are on sale again"
    );
}

#[tokio::test]
async fn one_batch_sells_the_orders_whose_seats_are_held_and_fails_the_one_whose_are_not() {
    let app = TestApp::spawn().await;
    let mut orders = Vec::new();
    for key in ["a", "b", "c"] {
        let (buyer, fixture, hold_id) = app.held_seats(2).await;
        let order_id = app.placed_order_id(&buyer, &hold_id, key).await;
        orders.push((order_id, fixture));
    }
    // The second order's seats lapsed and were freed before the worker got to it.
    sqlx::query(
        "UPDATE catalog.seats SET status = 'available', hold_id = NULL, held_until = NULL
         WHERE event_id = $1",
    )
    .bind(orders[1].1.event_id)
    .execute(app.pool())
    .await
    .unwrap();
    let report = app.run_worker(orders[0].0.as_bytes(), 0.0).await.unwrap();
    assert_eq!((report.completed, report.failed), (2, 1));
    assert_eq!(app.order_status(&orders[1].0).await, "FAILED");
    let reason: String =
        sqlx::query_scalar("SELECT status_reason FROM orders.orders WHERE id = $1::uuid")
            .bind(&orders[1].0)
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(reason, "seats no longer held");
    assert_eq!(
        app.seat_statuses(orders[1].1.event_id).await,
        ["available"; 2]
    );
    for (order_id, fixture) in [&orders[0], &orders[2]] {
        assert_eq!(app.order_status(order_id).await, "COMPLETED");
        assert_eq!(app.seat_statuses(fixture.event_id).await, ["sold"; 2]);
    }
    assert_eq!(app.count("SELECT count(*) FROM orders.tickets").await, 4);
}

/// Runs the order worker the way Spin's Redis trigger does: subscribed to `orders`,
/// one message at a time, until aborted. Tests running in parallel share this Redis,
/// so messages naming orders of other test databases are ignored, as if this app had
/// a Redis of its own.
fn subscribed_worker(app: Arc<TestApp>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = redis::Client::open(redis_url()).expect("a Redis URL");
        let mut pubsub = client.get_async_pubsub().await.expect("subscribe");
        pubsub
            .subscribe("orders")
            .await
            .expect("subscribe to orders");
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            let payload = message.get_payload_bytes();
            let ours: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM orders.orders WHERE id::text = $1)",
            )
            .bind(String::from_utf8_lossy(payload).trim())
            .fetch_one(app.pool())
            .await
            .unwrap_or(false);
            if ours {
                let _ = app.run_worker(payload, 0.0).await;
            }
        }
    })
}

#[tokio::test]
async fn an_order_whose_message_was_lost_completes_within_the_recovery_bound() {
    let app = Arc::new(TestApp::spawn().await);
    let (buyer, _, hold_id) = app.held_seats(2).await;
    // Published while no worker is subscribed: Redis drops the message.
    let placed_at = Instant::now();
    let order_id = app.placed_order_id(&buyer, &hold_id, "k").await;

    let worker = subscribed_worker(app.clone());
    let republished = Arc::new(AtomicUsize::new(0));
    let sweeper = {
        let (app, republished) = (app.clone(), republished.clone());
        tokio::spawn(async move {
            loop {
                let n = outbox::sweep(&app.backend).await.expect("the sweep ran");
                republished.fetch_add(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    let bound = Duration::from_secs(outbox::REPUBLISH_PENDING_AFTER_SECONDS as u64 + 3);
    while app.order_status(&order_id).await != "COMPLETED" {
        assert!(
            placed_at.elapsed() < bound,
            "not completed within {bound:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("lost message: completed after {:?}", placed_at.elapsed());
    worker.abort();
    sweeper.abort();
    assert_eq!(
        republished.load(Ordering::SeqCst),
        1,
        "the sweep published it again"
    );
    assert_eq!(app.count("SELECT count(*) FROM orders.tickets").await, 2);
}

#[tokio::test]
async fn an_order_whose_worker_vanished_is_recovered_and_completed_once() {
    let app = TestApp::spawn().await;
    let (buyer, _, hold_id) = app.held_seats(2).await;
    let order_id = app.placed_order_id(&buyer, &hold_id, "k").await;
    // A run claimed it and died before settling.
    sqlx::query(
        "UPDATE orders.orders SET status = 'PROCESSING', claim_id = gen_random_uuid(),
                claimed_at = now() - make_interval(secs => $2)
         WHERE id = $1::uuid",
    )
    .bind(&order_id)
    .bind((outbox::RECOVER_PROCESSING_AFTER_SECONDS + 1) as f64)
    .execute(app.pool())
    .await
    .unwrap();
    assert_eq!(outbox::sweep(&app.backend).await.unwrap(), 1);
    assert_eq!(app.order_status(&order_id).await, "PENDING");
    let report = app.run_worker(order_id.as_bytes(), 0.0).await.unwrap();
    assert_eq!(report.completed, 1);
    assert_eq!(app.count("SELECT count(*) FROM orders.tickets").await, 2);
    assert_eq!(outbox::sweep(&app.backend).await.unwrap(), 0);
}

/// Claims `order_id` alone on `session`, as a worker run does on its connection, and
/// dates the claim `seconds_ago`.
async fn claim_on(session: &mut sqlx::PgConnection, order_id: &str, seconds_ago: i64) {
    let claimed: Vec<String> = sqlx::query_scalar(worker::CLAIM_SQL)
        .bind(order_id)
        .bind(1_i64)
        .bind(uuid::Uuid::new_v4().to_string())
        .fetch_all(&mut *session)
        .await
        .unwrap();
    assert_eq!(claimed, [order_id]);
    sqlx::query(
        "UPDATE orders.orders SET claimed_at = now() - make_interval(secs => $2) WHERE id = $1::uuid",
    )
    .bind(order_id)
    .bind(seconds_ago as f64)
    .execute(&mut *session)
    .await
    .unwrap();
}

#[tokio::test]
async fn orders_claimed_by_a_session_that_ended_come_back_within_seconds_and_a_live_sessions_do_not()
 {
    let app = TestApp::spawn().await;
    let (buyer, _, first_hold) = app.held_seats(1).await;
    let orphaned = app.placed_order_id(&buyer, &first_hold, "orphaned").await;
    let (other_buyer, _, other_hold) = app.held_seats(1).await;
    let live = app.placed_order_id(&other_buyer, &other_hold, "live").await;
    let just_past_the_grace = outbox::RECOVER_ORPHANED_AFTER_SECONDS + 1;

    // One run's session ends after its claim (its process killed); another's lives on.
    let mut ended = app.pool().acquire().await.unwrap().detach();
    claim_on(&mut ended, &orphaned, just_past_the_grace).await;
    let ended_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut ended)
        .await
        .unwrap();
    let mut alive = app.pool().acquire().await.unwrap();
    claim_on(&mut alive, &live, just_past_the_grace).await;
    // A claim younger than the grace stays, even with its session gone.
    let (third_buyer, _, third_hold) = app.held_seats(1).await;
    let recent = app
        .placed_order_id(&third_buyer, &third_hold, "recent")
        .await;
    claim_on(&mut ended, &recent, 0).await;
    sqlx::Connection::close(ended).await.unwrap();
    let gone = Instant::now();
    while app
        .count(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = {ended_pid}"
        ))
        .await
        > 0
    {
        assert!(
            gone.elapsed() < Duration::from_secs(5),
            "the session did not end"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    assert_eq!(outbox::sweep(&app.backend).await.unwrap(), 1);
    assert_eq!(app.order_status(&orphaned).await, "PENDING");
    assert_eq!(app.order_status(&live).await, "PROCESSING");
    assert_eq!(app.order_status(&recent).await, "PROCESSING");
    let report = app.run_worker(orphaned.as_bytes(), 0.0).await.unwrap();
    assert_eq!(report.completed, 1);
    assert_eq!(app.order_status(&orphaned).await, "COMPLETED");
    assert_eq!(
        app.order_status(&live).await,
        "PROCESSING",
        "its run may still settle it"
    );
    assert_eq!(app.count("SELECT count(*) FROM orders.tickets").await, 1);
}

#[tokio::test]
async fn concurrent_claims_over_a_backlog_take_at_most_their_batch_each_and_never_the_same_order() {
    const BACKLOG: usize = 300;
    const BATCH: i32 = 64;
    const CLAIMS: usize = 8;
    let app = Arc::new(TestApp::spawn_with(Default::default(), CLAIMS as u32 + 4).await);
    backlog(&app, BACKLOG).await;

    let claims = (0..CLAIMS).map(|_| {
        let app = app.clone();
        tokio::spawn(async move {
            let claimed: Vec<uuid::Uuid> = sqlx::query_scalar(
                "SELECT order_id FROM orders.claim_orders(NULL, $1, gen_random_uuid())",
            )
            .bind(BATCH)
            .fetch_all(app.pool())
            .await
            .expect("a claim");
            claimed
        })
    });
    let mut seen = std::collections::BTreeSet::new();
    for claim in futures::future::join_all(claims).await {
        let claimed = claim.expect("the task ran");
        assert!(
            claimed.len() <= BATCH as usize,
            "a claim took {}",
            claimed.len()
        );
        for id in claimed {
            assert!(seen.insert(id), "{id} claimed twice");
        }
    }
    assert_eq!(seen.len(), BACKLOG.min(CLAIMS * BATCH as usize));
    assert_eq!(
        app.count("SELECT count(*) FROM orders.orders WHERE status = 'PROCESSING'")
            .await,
        seen.len() as i64
    );
}

/// `orders` PENDING orders of one seat each, on an event of that many seats; their ids.
async fn backlog(app: &TestApp, orders: usize) -> Vec<String> {
    let buyer = app.customer().await;
    let fixture = app.event(1, 10, orders.div_ceil(10) as i32).await;
    // Statistics from when there were no orders, as after a quiet spell: the planner then
    // expects a handful of PENDING orders and may rescan the claim's subquery.
    sqlx::query("ANALYZE orders.orders")
        .execute(app.pool())
        .await
        .expect("analyze");
    let mut conn = app.pool().acquire().await.expect("a connection");
    let mut order_ids = Vec::with_capacity(orders);
    for (n, seat) in fixture.seat_ids.iter().take(orders).enumerate() {
        let key = format!("backlog-{n}");
        order_ids.push(hold_and_order_on(&mut conn, &buyer, fixture.event_id, *seat, &key).await);
    }
    assert_eq!(
        app.count("SELECT count(*) FROM orders.orders WHERE status = 'PENDING'")
            .await,
        orders as i64
    );
    order_ids
}

/// Worker runs that find a backlog share it between their lanes (each its own batches over
/// its own connection), and runs going at the same time share it too: every order is
/// settled once, each seat sold once with one ticket.
#[tokio::test]
async fn a_backlog_worked_off_by_concurrent_runs_in_lanes_completes_every_order_once() {
    const BACKLOG: usize = 700;
    const RUNS: usize = 3;
    let app = Arc::new(TestApp::spawn_with(Default::default(), 20).await);
    let order_ids = backlog(&app, BACKLOG).await;
    let runs = order_ids.iter().take(RUNS).map(|first| {
        let (app, first) = (app.clone(), first.clone());
        tokio::spawn(async move { app.run_worker(first.as_bytes(), 0.0).await })
    });
    let mut completed = 0;
    for run in futures::future::join_all(runs).await {
        let report = run.expect("the task ran").expect("the run worked");
        assert_eq!(report.failed, 0);
        completed += report.completed;
    }
    assert_eq!(
        completed, BACKLOG,
        "each order completed by exactly one run"
    );
    for (what, sql) in [
        (
            "completed orders",
            "SELECT count(*) FROM orders.orders WHERE status = 'COMPLETED'",
        ),
        ("tickets", "SELECT count(*) FROM orders.tickets"),
        (
            "seats with a ticket",
            "SELECT count(DISTINCT seat_id) FROM orders.tickets",
        ),
        (
            "sold seats",
            "SELECT count(*) FROM catalog.seats WHERE status = 'sold'",
        ),
    ] {
        assert_eq!(app.count(sql).await, BACKLOG as i64, "{what}");
    }
}

/// Holds one seat and orders it on `conn`, as the seat-lock and orders services do; the
/// order's id.
async fn hold_and_order_on(
    conn: &mut sqlx::PgConnection,
    buyer: &ticketbuster_tests::Customer,
    event_id: i64,
    seat: i64,
    key: &str,
) -> String {
    let hold_id = ticketbuster_tests::hold_by_sql(conn, buyer, event_id, &[seat])
        .await
        .expect("a hold");
    sqlx::query_scalar(&format!(
        "SELECT order_id FROM ({}) p",
        ticketbuster_services::orders::PLACE_SQL
    ))
    .bind(&buyer.id)
    .bind(key)
    .bind(&hold_id)
    .bind(300_i64)
    .fetch_one(&mut *conn)
    .await
    .expect("an order")
}

/// Holds one seat and orders it, claims and settles that order on `conn`: the statements a
/// buyer and the worker send, on the connection whose cached plans are under test.
async fn order_one_seat_on(
    conn: &mut sqlx::PgConnection,
    buyer: &ticketbuster_tests::Customer,
    event_id: i64,
    seat: i64,
    key: &str,
) {
    let order_id = hold_and_order_on(conn, buyer, event_id, seat, key).await;
    let claim_id = uuid::Uuid::new_v4().to_string();
    let claimed: Vec<String> = sqlx::query_scalar(worker::CLAIM_SQL)
        .bind(&order_id)
        .bind(1_i64)
        .bind(&claim_id)
        .fetch_all(&mut *conn)
        .await
        .expect("a claim");
    assert_eq!(claimed, vec![order_id.clone()]);
    let settled: Vec<String> =
        sqlx::query_scalar(&format!("SELECT status FROM ({}) s", worker::SETTLE_SQL))
            .bind(&claim_id)
            .bind(format!("{{{order_id}}}"))
            .bind("{}")
            .bind(worker::DECLINED_REASON)
            .fetch_all(&mut *conn)
            .await
            .expect("a settle");
    assert_eq!(settled, vec!["COMPLETED".to_string()]);
}

#[tokio::test]
async fn the_order_path_planned_while_there_were_no_orders_still_reads_them_by_key_once_there_are_thousands()
 {
    const GROWN: i64 = 3_000;
    let app = TestApp::spawn().await;
    let buyer = app.customer().await;
    let fixture = app.event(1, 1, 3).await;
    let mut conn = app.pool().acquire().await.expect("a connection");
    // Statistics from before the first sale, and plans made on them: a new deployment's
    // first orders, or the benchmark's right after its cleanup.
    sqlx::query("ANALYZE orders.orders, orders.order_items, orders.order_history, orders.tickets, catalog.holds")
        .execute(&mut *conn)
        .await
        .expect("analyze");
    for (n, seat) in fixture.seat_ids[..2].iter().enumerate() {
        order_one_seat_on(
            &mut conn,
            &buyer,
            fixture.event_id,
            *seat,
            &format!("first-{n}"),
        )
        .await;
    }

    sqlx::query(
        "WITH h AS (
             INSERT INTO catalog.holds (event_id, user_id, seat_ids, expires_at)
             SELECT $1, $2::text::uuid, ARRAY[$1], now() + interval '10 minutes' FROM generate_series(1, $3)
             RETURNING id)
         INSERT INTO orders.orders (user_id, event_id, hold_id, idempotency_key, status, status_reason, total_cents, currency)
         SELECT $2::text::uuid, $1, h.id, 'grown-' || h.id, 'COMPLETED', 'sold earlier', 100, 'EUR' FROM h",
    )
    .bind(fixture.event_id)
    .bind(&buyer.id)
    .bind(GROWN)
    .execute(&mut *conn)
    .await
    .expect("thousands of orders");
    // This connection's reads so far (tiny tables, read whole) leave its pending counters,
    // so that the transaction's own show alone.
    sqlx::query("SELECT pg_stat_force_next_flush()")
        .execute(&mut *conn)
        .await
        .expect("flush the counters");

    let mut tx = sqlx::Connection::begin(&mut *conn)
        .await
        .expect("a transaction");
    order_one_seat_on(
        &mut tx,
        &buyer,
        fixture.event_id,
        fixture.seat_ids[2],
        "after-growth",
    )
    .await;
    let scans: Vec<(String, i64)> = sqlx::query_as(
        "SELECT relname::text, seq_scan FROM pg_stat_xact_user_tables
         WHERE schemaname = 'orders' OR relname IN ('holds', 'seats') ORDER BY relname",
    )
    .fetch_all(&mut *tx)
    .await
    .expect("this transaction's scans");
    tx.commit().await.expect("commit");
    let scanned: Vec<_> = scans.iter().filter(|(_, n)| *n > 0).collect();
    assert!(scanned.is_empty(), "tables read whole: {scanned:?}");
}

#[tokio::test]
async fn an_order_and_its_tickets_stay_on_their_holds_event_which_cannot_be_deleted_under_them() {
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 1, 2).await;
    let other = app.event(1, 1, 1).await;
    app.sold(fixture.event_id, &fixture.seat_ids).await;
    let refused = |sql: &'static str, event_id: i64| {
        let pool = app.pool().clone();
        async move {
            sqlx::query(sql)
                .bind(event_id)
                .execute(&pool)
                .await
                .expect_err(sql)
                .as_database_error()
                .and_then(|e| e.code())
                .map(|code| code.into_owned())
        }
    };
    let foreign_key_violation = Some("23503".to_owned());
    assert_eq!(
        refused("UPDATE orders.orders SET event_id = $1", other.event_id).await,
        foreign_key_violation,
        "an order moved off its hold's event"
    );
    assert_eq!(
        refused("UPDATE orders.tickets SET event_id = $1", other.event_id).await,
        foreign_key_violation,
        "a ticket moved off its order's event"
    );
    assert_eq!(
        refused("DELETE FROM catalog.events WHERE id = $1", fixture.event_id).await,
        foreign_key_violation,
        "an event with orders deleted"
    );
}

#[tokio::test]
async fn settling_planned_before_any_seat_was_held_reads_its_own_seats_not_every_held_one() {
    const HELD: usize = 2_000;
    let app = TestApp::spawn().await;
    let buyer = app.customer().await;
    let fixture = app.event(1, 1, HELD as i32 + 2).await;
    let (first, rest) = fixture.seat_ids.split_at(1);
    let (last, others) = rest.split_last().expect("seats");
    let mut conn = app.pool().acquire().await.expect("a connection");
    // Statistics from before the on-sale, when no seat was held, and plans made on them.
    sqlx::query("ANALYZE catalog.seats")
        .execute(&mut *conn)
        .await
        .expect("analyze");
    order_one_seat_on(&mut conn, &buyer, fixture.event_id, first[0], "before").await;

    // On a connection of its own: a backend's counters of reads include those it has not
    // reported yet, from before the transaction measured below.
    let crowd = app.customer().await;
    let mut crowd_conn = app.pool().acquire().await.expect("a connection");
    for seats in others.chunks(100) {
        ticketbuster_tests::hold_by_sql(&mut crowd_conn, &crowd, fixture.event_id, seats)
            .await
            .expect("the crowd's hold");
    }
    let mut tx = sqlx::Connection::begin(&mut *conn)
        .await
        .expect("a transaction");
    order_one_seat_on(&mut tx, &buyer, fixture.event_id, *last, "during").await;
    let (seat_rows_read,): (i64,) = sqlx::query_as(
        "SELECT seq_tup_read + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables
         WHERE schemaname = 'catalog' AND relname = 'seats'",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("this transaction's reads of seats");
    tx.commit().await.expect("commit");
    assert!(
        seat_rows_read < 100,
        "holding, ordering and settling one seat read {seat_rows_read} seat rows with {HELD} held"
    );
}

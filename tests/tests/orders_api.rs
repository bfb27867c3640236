//! The orders service and the worker's saga, against real PostgreSQL and Redis.

use http::{Method, StatusCode};
use serde_json::json;
use ticketbuster_tests::{Case, Customer, Service, TestApp, decode_qr_png, raw_request, request};

#[tokio::test]
async fn an_order_completes_with_one_ticket_per_seat_and_its_history() {
    let app = TestApp::spawn().await;
    let (buyer, fixture, hold_id) = app.held_seats(3).await;

    let placed = app.place_order(&buyer, &hold_id, "first-try").await;
    assert_eq!(placed.status, StatusCode::ACCEPTED, "{:?}", placed.body);
    assert_eq!(placed.body["status"], "PENDING");
    let order_id = placed.body["order_id"].as_str().unwrap().to_owned();
    assert_eq!(placed.body["status_url"], format!("/api/orders/{order_id}"));
    assert_eq!(app.seat_statuses(fixture.event_id).await, ["held"; 3]);
    let holds = app.my_holds(&buyer).await;
    assert_eq!(
        holds.body["items"],
        json!([]),
        "an ordered hold is no longer listed"
    );
    let release = app.release(&buyer, &hold_id).await;
    assert_eq!(release.status, StatusCode::CONFLICT, "{:?}", release.body);

    let report = app.run_worker(order_id.as_bytes(), 0.0).await.unwrap();
    assert_eq!((report.completed, report.failed), (1, 0));

    let order = app.get_as(&buyer, &format!("/api/orders/{order_id}")).await;
    assert_eq!(order.status, StatusCode::OK);
    assert_eq!(order.body["status"], "COMPLETED");
    assert_eq!(order.body["total_cents"], 15_000);
    assert_eq!(order.body["items"].as_array().unwrap().len(), 3);
    let steps: Vec<_> = order.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["from"].clone(), h["to"].clone()))
        .collect();
    assert_eq!(
        steps,
        [
            (json!(null), json!("PENDING")),
            (json!("PENDING"), json!("PROCESSING")),
            (json!("PROCESSING"), json!("COMPLETED")),
        ]
    );
    assert_eq!(app.seat_statuses(fixture.event_id).await, ["sold"; 3]);

    let tickets = app
        .get_as(&buyer, &format!("/api/orders/{order_id}/tickets"))
        .await;
    let items = tickets.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let verifier = app.ticket_verifier();
    for (ticket, seat_id) in items.iter().zip(&fixture.seat_ids) {
        let claims = verifier.verify(ticket["code"].as_str().unwrap()).unwrap();
        assert_eq!(claims.ticket_id, ticket["ticket_id"].as_str().unwrap());
        assert_eq!(
            (claims.event_id, claims.seat_id),
            (fixture.event_id, *seat_id)
        );
    }

    let listed = app.get_as(&buyer, "/api/orders").await;
    assert_eq!(listed.body["items"][0]["order_id"], order_id.as_str());
    assert_eq!(listed.body["items"][0]["seat_count"], 3);
}

#[tokio::test]
async fn qr_images_decode_to_a_code_the_public_key_alone_verifies() {
    let app = TestApp::spawn().await;
    let (buyer, fixture, hold_id) = app.held_seats(1).await;
    let order_id = app.placed_order_id(&buyer, &hold_id, "k").await;
    app.run_worker(order_id.as_bytes(), 0.0).await.unwrap();
    let tickets = app
        .get_as(&buyer, &format!("/api/orders/{order_id}/tickets"))
        .await;
    let ticket_id = tickets.body["items"][0]["ticket_id"].as_str().unwrap();

    let png = app
        .call_raw(
            Service::Orders,
            request(
                Method::GET,
                &format!("/api/tickets/{ticket_id}/qr.png?px=4"),
                Some(&buyer.token),
                None,
            ),
        )
        .await;
    assert_eq!(png.status(), StatusCode::OK);
    assert_eq!(png.headers()["content-type"], "image/png");
    assert!(
        png.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let code = decode_qr_png(png.body());
    let claims = app
        .ticket_verifier()
        .verify(&code)
        .expect("a signed ticket code");
    assert_eq!(claims.ticket_id, ticket_id);
    assert_eq!(claims.seat_id, fixture.seat_ids[0]);

    let svg = app
        .call_raw(
            Service::Orders,
            request(
                Method::GET,
                &format!("/api/tickets/{ticket_id}/qr.svg"),
                Some(&buyer.token),
                None,
            ),
        )
        .await;
    assert_eq!(svg.status(), StatusCode::OK);
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(String::from_utf8_lossy(svg.body()).contains("<svg"));
}

#[tokio::test]
async fn the_same_key_finds_the_same_order_and_other_keys_conflict() {
    let app = TestApp::spawn().await;
    let (buyer, _, hold_id) = app.held_seats(2).await;
    let first = app.place_order(&buyer, &hold_id, "key-1").await;
    let again = app.place_order(&buyer, &hold_id, "key-1").await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(again.body["order_id"], first.body["order_id"]);

    let other_key = app.place_order(&buyer, &hold_id, "key-2").await;
    assert_eq!(
        other_key.status,
        StatusCode::CONFLICT,
        "{:?}",
        other_key.body
    );
    assert_eq!(other_key.error_code(), "hold_already_ordered");

    let other = app.event(1, 1, 1).await;
    let hold_2 = app.hold(&buyer, other.event_id, &other.seat_ids).await;
    let reused = app
        .place_order(&buyer, hold_2.body["hold_id"].as_str().unwrap(), "key-1")
        .await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reused.error_code(), "idempotency_key_reused");
    assert_eq!(app.count("SELECT count(*) FROM orders.orders").await, 1);
}

#[tokio::test]
async fn bad_orders_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (buyer, fixture, hold_id) = app.held_seats(2).await;
    let stranger = app.customer().await;
    let other = app.event(1, 1, 2).await;
    let released = app.hold(&buyer, other.event_id, &other.seat_ids[..1]).await;
    let released_id = released.body["hold_id"].as_str().unwrap().to_owned();
    app.release(&buyer, &released_id).await;
    let expired = app.hold(&buyer, other.event_id, &other.seat_ids[1..]).await;
    let expired_id = expired.body["hold_id"].as_str().unwrap().to_owned();
    app.end_hold_in(&expired_id, "-1 second").await;

    let with_key = |body: &str, token: Option<&str>, key: Option<&str>| {
        let mut req = raw_request(Method::POST, "/api/orders", token, body);
        req.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        if let Some(key) = key {
            req.headers_mut()
                .insert("idempotency-key", key.parse().unwrap());
        }
        req
    };
    let body = |hold: &str| json!({ "hold_id": hold }).to_string();
    let token = Some(buyer.token.as_str());
    let cases: Vec<Case> = vec![
        (
            "no Idempotency-Key",
            with_key(&body(&hold_id), token, None),
            StatusCode::BAD_REQUEST,
        ),
        (
            "blank Idempotency-Key",
            with_key(&body(&hold_id), token, Some(" ")),
            StatusCode::BAD_REQUEST,
        ),
        (
            "malformed JSON",
            with_key("{\"hold_id\":", token, Some("a")),
            StatusCode::BAD_REQUEST,
        ),
        (
            "wrong type",
            with_key("{\"hold_id\": 7}", token, Some("b")),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "not a UUID",
            with_key(&body("hold-7"), token, Some("c")),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown hold",
            with_key(&body(&uuid::Uuid::new_v4().to_string()), token, Some("d")),
            StatusCode::NOT_FOUND,
        ),
        (
            "released hold",
            with_key(&body(&released_id), token, Some("e")),
            StatusCode::CONFLICT,
        ),
        (
            "expired hold",
            with_key(&body(&expired_id), token, Some("f")),
            StatusCode::CONFLICT,
        ),
        (
            "someone else's hold",
            with_key(&body(&hold_id), Some(&stranger.token), Some("g")),
            StatusCode::NOT_FOUND,
        ),
        (
            "no token",
            with_key(&body(&hold_id), None, Some("h")),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "forged token",
            with_key(
                &body(&hold_id),
                Some("eyJhbGciOiJIUzI1NiJ9.e30.x"),
                Some("i"),
            ),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "wrong method",
            request(Method::PUT, "/api/orders", token, None),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "unknown order",
            request(
                Method::GET,
                &format!("/api/orders/{}", uuid::Uuid::new_v4()),
                token,
                None,
            ),
            StatusCode::NOT_FOUND,
        ),
        (
            "malformed order id",
            request(Method::GET, "/api/orders/7", token, None),
            StatusCode::NOT_FOUND,
        ),
    ];
    app.assert_refused(Service::Orders, cases).await;
    assert_eq!(app.count("SELECT count(*) FROM orders.orders").await, 0);
    assert_eq!(app.seat_statuses(fixture.event_id).await, ["held"; 2]);
}

/// A buyer with a completed order of one seat: the buyer, the order id and its ticket's id.
async fn bought_ticket(app: &TestApp) -> (Customer, String, String) {
    let (buyer, _, hold_id) = app.held_seats(1).await;
    let order_id = app.placed_order_id(&buyer, &hold_id, "k").await;
    app.run_worker(order_id.as_bytes(), 0.0).await.unwrap();
    let tickets = app
        .get_as(&buyer, &format!("/api/orders/{order_id}/tickets"))
        .await;
    let ticket_id = tickets.body["items"][0]["ticket_id"]
        .as_str()
        .expect("a ticket of the completed order")
        .to_owned();
    (buyer, order_id, ticket_id)
}

#[tokio::test]
async fn a_qr_png_size_out_of_range_is_refused_and_an_unknown_ticket_is_not_found() {
    let app = TestApp::spawn().await;
    let (buyer, _, ticket_id) = bought_ticket(&app).await;
    let png = |ticket: &str, px: &str| {
        request(
            Method::GET,
            &format!("/api/tickets/{ticket}/qr.png?px={px}"),
            Some(&buyer.token),
            None,
        )
    };
    let cases: Vec<Case> = vec![
        (
            "px above 32",
            png(&ticket_id, "33"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "px of 0",
            png(&ticket_id, "0"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "px not a number",
            png(&ticket_id, "big"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown ticket",
            png(&uuid::Uuid::new_v4().to_string(), "4"),
            StatusCode::NOT_FOUND,
        ),
    ];
    app.assert_refused(Service::Orders, cases).await;
    let edge = app.call_raw(Service::Orders, png(&ticket_id, "32")).await;
    assert_eq!(edge.status(), StatusCode::OK, "px=32 is in range");
}

#[tokio::test]
async fn someone_elses_order_and_tickets_answer_404() {
    let app = TestApp::spawn().await;
    let (_, order_id, ticket_id) = bought_ticket(&app).await;
    let stranger = app.customer().await;
    for path in [
        format!("/api/orders/{order_id}"),
        format!("/api/orders/{order_id}/tickets"),
        format!("/api/tickets/{ticket_id}/qr.svg"),
        format!("/api/tickets/{ticket_id}/qr.png"),
    ] {
        let answer = app.get_as(&stranger, &path).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
    }
    let cancel = app.cancel_order(&stranger, &order_id).await;
    assert_eq!(cancel.status, StatusCode::NOT_FOUND);
    assert_eq!(app.order_status(&order_id).await, "COMPLETED");
    assert!(app.get_as(&stranger, "/api/orders").await.body["items"] == json!([]));
}

#[tokio::test]
async fn cancelling_frees_the_seats_and_voids_the_tickets() {
    let app = TestApp::spawn().await;

    // A PENDING order: its held seats go back on sale.
    let (buyer, pending_event, hold_id) = app.held_seats(2).await;
    let pending = app.placed_order_id(&buyer, &hold_id, "p").await;
    let cancelled = app.cancel_order(&buyer, &pending).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["status"], "CANCELLED");
    assert_eq!(
        app.seat_statuses(pending_event.event_id).await,
        ["available"; 2]
    );
    let late = app.run_worker(pending.as_bytes(), 0.0).await.unwrap();
    assert_eq!(
        (late.completed, late.failed),
        (0, 0),
        "a cancelled order is not processed"
    );

    // A COMPLETED order: tickets void, seats available, QR gone.
    let (buyer, done_event, hold_id) = app.held_seats(2).await;
    let done = app.placed_order_id(&buyer, &hold_id, "c").await;
    app.run_worker(done.as_bytes(), 0.0).await.unwrap();
    let ticket_id = app
        .get_as(&buyer, &format!("/api/orders/{done}/tickets"))
        .await
        .body["items"][0]["ticket_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancelled = app.cancel_order(&buyer, &done).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    let last = cancelled.body["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["from"].clone(), last["to"].clone()),
        (json!("COMPLETED"), json!("CANCELLED"))
    );
    assert_eq!(
        app.seat_statuses(done_event.event_id).await,
        ["available"; 2]
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM orders.tickets WHERE order_id = '{done}' AND status = 'void'"
        ))
        .await,
        2
    );
    let qr = app
        .get_as(&buyer, &format!("/api/tickets/{ticket_id}/qr.svg"))
        .await;
    assert_eq!(qr.status, StatusCode::GONE);
    let resold = app
        .hold(&buyer, done_event.event_id, &done_event.seat_ids)
        .await;
    assert_eq!(
        resold.status,
        StatusCode::CREATED,
        "cancelled seats are for sale again"
    );

    // Neither a cancelled nor a failed order can be cancelled.
    let twice = app.cancel_order(&buyer, &done).await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    let (buyer, _, hold_id) = app.held_seats(1).await;
    let failed = app.placed_order_id(&buyer, &hold_id, "f").await;
    app.run_worker(failed.as_bytes(), 1.0).await.unwrap();
    let refused = app.cancel_order(&buyer, &failed).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.error_code(), "order_not_cancellable");
}

#[tokio::test]
async fn orders_cannot_be_cancelled_once_the_event_started() {
    let app = TestApp::spawn().await;
    let buyer = app.customer().await;
    let soon = app.event_starting_in(1, 1, 1, "2 seconds").await;
    let hold = app.hold(&buyer, soon.event_id, &soon.seat_ids).await;
    let order_id = app
        .place_order(&buyer, hold.body["hold_id"].as_str().unwrap(), "k")
        .await
        .body["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.run_worker(order_id.as_bytes(), 0.0).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let refused = app.cancel_order(&buyer, &order_id).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(app.order_status(&order_id).await, "COMPLETED");
}

#[tokio::test]
async fn malformed_worker_messages_are_dropped_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (buyer, _, hold_id) = app.held_seats(1).await;
    let order_id = app.placed_order_id(&buyer, &hold_id, "k").await;
    let truncated = &order_id.as_bytes()[..20];
    for message in [&b""[..], truncated, b"{\"order_id\": 1}", b"\xff\xfe\x00"] {
        let outcome = app.run_worker(message, 0.0).await;
        assert!(
            matches!(
                outcome,
                Err(ticketbuster_services::worker::WorkerError::Rejected(_))
            ),
            "{message:?}: {outcome:?}"
        );
    }
    assert_eq!(app.order_status(&order_id).await, "PENDING");
    assert_eq!(
        app.count("SELECT count(*) FROM orders.order_history").await,
        1
    );
}

#[tokio::test]
async fn a_placed_order_keeps_its_seats_past_a_hold_about_to_lapse() {
    let app = TestApp::spawn().await;
    let (buyer, _, lapsing) = app.held_seats(2).await;
    let (other_buyer, _, fresh) = app.held_seats(2).await;
    app.end_hold_in(&lapsing, "2 seconds").await;
    let held_until = async |hold_id: &str| -> Vec<String> {
        sqlx::query_scalar(
            "SELECT held_until::text FROM catalog.seats WHERE hold_id = $1::uuid ORDER BY id",
        )
        .bind(hold_id)
        .fetch_all(app.pool())
        .await
        .unwrap()
    };
    let fresh_until = held_until(&fresh).await;

    app.placed_order_id(&buyer, &lapsing, "keep-1").await;
    app.placed_order_id(&other_buyer, &fresh, "keep-2").await;

    let kept: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM catalog.seats s JOIN catalog.holds h ON h.id = s.hold_id
         WHERE h.id = $1::uuid AND s.status = 'held'
           AND s.held_until > now() + interval '4 minutes'
           AND h.expires_at > now() + interval '4 minutes'",
    )
    .bind(&lapsing)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(kept, 2, "extended to the keep time");
    let after = held_until(&fresh).await;
    assert_eq!(after, fresh_until, "a hold lasting longer is left as it is");
}

//! The organizer service against real PostgreSQL and Redis: creating events from a layout,
//! changing, publishing and cancelling them, sales, attendees, gate staff, the audit log,
//! and who may do what.

use http::{Method, StatusCode};
use serde_json::{Value, json};
use ticketbuster_domain::account::Role;
use ticketbuster_tests::{Answer, Case, Customer, Service, TestApp, request};

/// A draft for a small hall: two tiers, two sections, 3 rows of 4 to 6 seats, on sale from
/// `sales_start` (an SQL interval from now) until the event starts in 30 days.
fn draft(sales_start: &str) -> Value {
    json!({
        "title": "Quartet in the Hall", "category": "concert", "description": "Strings at night",
        "venue": "Small Hall", "city": "Bilbao",
        "starts_at": at("30 days"), "sales_start": at(sales_start),
        "max_tickets_per_account": 6,
        "tiers": [{"name": "Front", "price_cents": 4500}, {"name": "Back", "price_cents": 2500}],
        "sections": [
            {"name": "Stalls", "rows": [{"name": "A", "seats": 4, "tier": "Front"},
                                        {"name": "B", "seats": 6, "tier": "Back"}]},
            {"name": "Balcony", "rows": [{"name": "A", "seats": 5, "tier": "Back"}]}
        ]
    })
}

/// Now plus an offset such as `30 days` or `-1 hour`, as RFC 3339.
fn at(offset: &str) -> String {
    let (amount, unit) = offset.split_once(' ').expect("an amount and a unit");
    let amount: i64 = amount.parse().expect("a whole amount");
    let delta = match unit.trim_end_matches('s') {
        "second" => chrono::Duration::seconds(amount),
        "minute" => chrono::Duration::minutes(amount),
        "hour" => chrono::Duration::hours(amount),
        "day" => chrono::Duration::days(amount),
        other => panic!("unknown unit {other}"),
    };
    (chrono::Utc::now() + delta).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn as_organizer(
    app: &TestApp,
    who: &Customer,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Answer {
    app.call(
        Service::Organizer,
        request(method, path, Some(&who.token), body),
    )
    .await
}

/// `method` on one of the event's organizer routes: `action` is "" or e.g. "/sales".
async fn on_event(
    app: &TestApp,
    who: &Customer,
    method: Method,
    event_id: i64,
    action: &str,
    body: Option<Value>,
) -> Answer {
    let path = format!("/api/organizer/events/{event_id}{action}");
    as_organizer(app, who, method, &path, body).await
}

/// Creates the event and answers its id.
async fn create(app: &TestApp, organizer: &Customer, body: Value) -> i64 {
    let created = as_organizer(
        app,
        organizer,
        Method::POST,
        "/api/organizer/events",
        Some(body),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    created.body["id"].as_i64().expect("an event id")
}

async fn publish(app: &TestApp, organizer: &Customer, event_id: i64) -> Answer {
    let path = format!("/api/organizer/events/{event_id}/publish");
    as_organizer(app, organizer, Method::POST, &path, None).await
}

/// The event's seat ids, in layout order.
async fn seats_of(app: &TestApp, event_id: i64) -> Vec<i64> {
    sqlx::query_scalar("SELECT id FROM catalog.seats WHERE event_id = $1 ORDER BY id")
        .bind(event_id)
        .fetch_all(app.pool())
        .await
        .expect("read seats")
}

async fn audit_actions(app: &TestApp, event_id: i64) -> Vec<String> {
    sqlx::query_scalar("SELECT action FROM catalog.audit_log WHERE event_id = $1 ORDER BY id")
        .bind(event_id)
        .fetch_all(app.pool())
        .await
        .expect("read the audit log")
}

/// A published event on sale now, with its seats.
async fn on_sale(app: &TestApp, organizer: &Customer) -> (i64, Vec<i64>) {
    let event_id = create(app, organizer, draft("-1 hour")).await;
    assert_eq!(
        publish(app, organizer, event_id).await.status,
        StatusCode::OK
    );
    (event_id, seats_of(app, event_id).await)
}

/// Holds `seats`, orders them and runs the worker: a completed order's id.
async fn buy(app: &TestApp, buyer: &Customer, event_id: i64, seats: &[i64]) -> String {
    let held = app.hold(buyer, event_id, seats).await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    let hold_id = held.body["hold_id"].as_str().expect("a hold id");
    let order_id = app.placed_order_id(buyer, hold_id, hold_id).await;
    app.run_worker(order_id.as_bytes(), 0.0)
        .await
        .expect("the worker settles the order");
    assert_eq!(app.order_status(&order_id).await, "COMPLETED");
    order_id
}

#[tokio::test]
async fn an_organizer_creates_a_draft_from_a_layout_and_sees_it_whole() {
    let app = TestApp::spawn().await;
    let organizer = app.account(Role::Organizer).await;
    let created = as_organizer(
        &app,
        &organizer,
        Method::POST,
        "/api/organizer/events",
        Some(draft("1 day")),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let event = &created.body;
    let event_id = event["id"].as_i64().unwrap();
    assert_eq!(event["status"], "draft");
    assert_eq!(event["seat_count"], 15);
    assert_eq!(event["max_tickets_per_account"], 6);
    assert_eq!(event["ends_at"].as_str().unwrap().len(), 20);
    assert_eq!(
        event["sections"],
        draft("1 day")["sections"],
        "the layout reads back as sent"
    );
    let tiers: Vec<(&str, i64)> = event["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap(),
                t["price_cents"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(tiers, [("Front", 4500), ("Back", 2500)]);

    let numbers: Vec<(String, String, i32)> = sqlx::query_as(
        "SELECT section, row_label, number FROM catalog.seats WHERE event_id = $1 ORDER BY id",
    )
    .bind(event_id)
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(numbers.len(), 15);
    assert_eq!(numbers[0], ("Stalls".into(), "A".into(), 1));
    assert_eq!(numbers[4], ("Stalls".into(), "B".into(), 1));
    assert_eq!(numbers[14], ("Balcony".into(), "A".into(), 5));

    let listed = as_organizer(&app, &organizer, Method::GET, "/api/organizer/events", None).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body["events"][0]["id"], event_id);
    let read = on_event(&app, &organizer, Method::GET, event_id, "", None).await;
    assert_eq!(read.body, created.body);

    let buyer = app.customer().await;
    let catalog = app
        .call(
            Service::Catalog,
            request(Method::GET, &format!("/api/events/{event_id}"), None, None),
        )
        .await;
    assert_eq!(
        catalog.status,
        StatusCode::NOT_FOUND,
        "a draft is not in the catalog"
    );
    let refused = app
        .hold(&buyer, event_id, &seats_of(&app, event_id).await[..1])
        .await;
    assert_eq!(
        refused.status,
        StatusCode::NOT_FOUND,
        "a draft does not sell"
    );
    assert_eq!(audit_actions(&app, event_id).await, ["event.create"]);
}

#[tokio::test]
async fn bad_layouts_are_422_naming_the_offending_path() {
    let app = TestApp::spawn().await;
    let organizer = app.account(Role::Organizer).await;
    let with = |change: Value| {
        let mut body = draft("1 day");
        if let (Value::Object(body), Value::Object(change)) = (&mut body, change) {
            body.extend(change);
        }
        body
    };
    let huge: Vec<Value> = (0..25)
        .map(|i| json!({"name": format!("R{i}"), "seats": 900, "tier": "Front"}))
        .collect();
    let cases = [
        (
            with(
                json!({"sections": [{"name": "S", "rows": [{"name": "A", "seats": 3, "tier": "Gold"}]}]}),
            ),
            "sections[0].rows[0].tier",
        ),
        (
            with(json!({"sections": [{"name": "S", "rows": []}]})),
            "sections[0].rows",
        ),
        (
            with(json!({"sections": [{"name": "Bowl", "rows": huge}]})),
            "sections[0].rows[22].seats",
        ),
        (
            with(json!({"sections": [{"name": "S", "rows": [
                {"name": "A", "seats": 3, "tier": "Front"}, {"name": "A", "seats": 2, "tier": "Back"}]}]})),
            "sections[0].rows[1].name",
        ),
        (
            with(
                json!({"tiers": [{"name": "Front", "price_cents": 0}, {"name": "Back", "price_cents": 10}]}),
            ),
            "tiers[0].price_cents",
        ),
        (
            with(
                json!({"tiers": [{"name": "Front", "price_cents": 10}, {"name": "Back", "price_cents": -1}]}),
            ),
            "tiers[1].price_cents",
        ),
        (with(json!({"sales_start": at("31 days")})), "sales_start"),
        (with(json!({"starts_at": "tomorrow"})), "starts_at"),
    ];
    for (body, path) in cases {
        let refused = as_organizer(
            &app,
            &organizer,
            Method::POST,
            "/api/organizer/events",
            Some(body),
        )
        .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert_eq!(refused.error_code(), "validation_failed");
        assert_eq!(refused.body["path"], path, "{:?}", refused.body);
        assert!(
            refused.body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(path)
        );
    }
    let events: i64 = app.count("SELECT count(*) FROM catalog.events").await;
    assert_eq!(events, 0, "nothing refused was written");
}

#[tokio::test]
async fn other_organizers_get_404_customers_403_and_strangers_401() {
    let app = TestApp::spawn().await;
    let owner = app.account(Role::Organizer).await;
    let rival = app.account(Role::Organizer).await;
    let customer = app.customer().await;
    let gate = app.account(Role::Gate).await;
    let event_id = create(&app, &owner, draft("1 day")).await;
    let base = format!("/api/organizer/events/{event_id}");
    let operations = [
        (Method::GET, base.clone(), None),
        (
            Method::PATCH,
            base.clone(),
            Some(json!({"title": "Mine now"})),
        ),
        (Method::POST, format!("{base}/publish"), None),
        (Method::POST, format!("{base}/cancel"), None),
        (Method::GET, format!("{base}/sales"), None),
        (Method::GET, format!("{base}/attendees.csv"), None),
        (Method::GET, format!("{base}/gate-staff"), None),
        (
            Method::POST,
            format!("{base}/gate-staff"),
            Some(json!({"email": customer.email})),
        ),
    ];
    let mut cases: Vec<Case> = Vec::new();
    for (method, path, body) in &operations {
        cases.push((
            "another organizer's event",
            request(method.clone(), path, Some(&rival.token), body.clone()),
            StatusCode::NOT_FOUND,
        ));
        for who in [&customer, &gate] {
            cases.push((
                "not an organizer",
                request(method.clone(), path, Some(&who.token), body.clone()),
                StatusCode::FORBIDDEN,
            ));
        }
        cases.push((
            "no token",
            request(method.clone(), path, None, body.clone()),
            StatusCode::UNAUTHORIZED,
        ));
    }
    cases.push((
        "creating as a customer",
        request(
            Method::POST,
            "/api/organizer/events",
            Some(&customer.token),
            Some(draft("1 day")),
        ),
        StatusCode::FORBIDDEN,
    ));
    cases.push((
        "an event that does not exist",
        request(
            Method::GET,
            "/api/organizer/events/999999",
            Some(&owner.token),
            None,
        ),
        StatusCode::NOT_FOUND,
    ));
    cases.push((
        "wrong method",
        request(Method::DELETE, &base, Some(&owner.token), None),
        StatusCode::METHOD_NOT_ALLOWED,
    ));
    app.assert_refused(Service::Organizer, cases).await;

    let listed = as_organizer(&app, &rival, Method::GET, "/api/organizer/events", None).await;
    assert_eq!(listed.body["events"], json!([]), "lists only one's own");
    let (title, status): (String, String) =
        sqlx::query_as("SELECT title, status FROM catalog.events WHERE id = $1")
            .bind(event_id)
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(
        (title.as_str(), status.as_str()),
        ("Quartet in the Hall", "draft")
    );
    assert_eq!(audit_actions(&app, event_id).await, ["event.create"]);
}

#[tokio::test]
async fn holds_sell_only_inside_the_published_sales_window() {
    let app = TestApp::spawn().await;
    let organizer = app.account(Role::Organizer).await;
    let buyer = app.customer().await;
    let event_id = create(&app, &organizer, draft("2 days")).await;
    let seats = seats_of(&app, event_id).await;
    let published = publish(&app, &organizer, event_id).await;
    assert_eq!(published.status, StatusCode::OK, "{:?}", published.body);
    assert_eq!(published.body["status"], "published");
    assert_eq!(
        publish(&app, &organizer, event_id).await.status,
        StatusCode::OK,
        "publishing again is a harmless retry"
    );

    let early = app.hold(&buyer, event_id, &seats[..1]).await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{:?}", early.body);
    assert_eq!(early.error_code(), "sales_not_open");
    let opens = published.body["sales_start"].as_str().unwrap();
    assert_eq!(early.body["sales_start"], opens);
    assert!(
        early.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(opens),
        "says when sales open"
    );

    let path = format!("/api/organizer/events/{event_id}");
    let moved = as_organizer(
        &app,
        &organizer,
        Method::PATCH,
        &path,
        Some(json!({"sales_start": at("-1 minute"), "sales_end": at("1 day")})),
    )
    .await;
    assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
    let held = app.hold(&buyer, event_id, &seats[..1]).await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);

    let closed = as_organizer(
        &app,
        &organizer,
        Method::PATCH,
        &path,
        Some(json!({"sales_start": at("-2 days"), "sales_end": at("-1 hour")})),
    )
    .await;
    assert_eq!(closed.status, StatusCode::OK, "{:?}", closed.body);
    let late = app.hold(&buyer, event_id, &seats[1..2]).await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{:?}", late.body);
    assert_eq!(late.error_code(), "sales_closed");
    assert_eq!(late.body["sales_end"], closed.body["sales_end"]);

    let reopened = as_organizer(
        &app,
        &organizer,
        Method::PATCH,
        &path,
        Some(json!({"sales_end": null})),
    )
    .await;
    assert_eq!(
        reopened.body["sales_end"],
        Value::Null,
        "null clears the end"
    );
    assert_eq!(
        app.hold(&buyer, event_id, &seats[1..2]).await.status,
        StatusCode::CREATED
    );
    let bad = as_organizer(
        &app,
        &organizer,
        Method::PATCH,
        &path,
        Some(json!({"sales_end": at("40 days")})),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["path"], "sales_end");
    assert_eq!(
        audit_actions(&app, event_id).await,
        [
            "event.create",
            "event.publish",
            "event.update",
            "event.update",
            "event.update"
        ]
    );
}

#[tokio::test]
async fn a_tier_is_repriced_only_while_none_of_its_seats_is_taken() {
    let app = TestApp::spawn().await;
    let organizer = app.account(Role::Organizer).await;
    let buyer = app.customer().await;
    let (event_id, seats) = on_sale(&app, &organizer).await;
    let tier_ids: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM catalog.price_tiers WHERE event_id = $1 ORDER BY id")
            .bind(event_id)
            .fetch_all(app.pool())
            .await
            .unwrap();
    let path = format!("/api/organizer/events/{event_id}");
    let reprice = |tier: i64, price: i64| {
        as_organizer(
            &app,
            &organizer,
            Method::PATCH,
            &path,
            Some(json!({"tiers": [{"id": tier, "price_cents": price}]})),
        )
    };
    let cheaper = reprice(tier_ids[0], 3900).await;
    assert_eq!(cheaper.status, StatusCode::OK, "{:?}", cheaper.body);
    assert_eq!(cheaper.body["tiers"][0]["price_cents"], 3900);

    // Seat 1 of Stalls/A is a Front seat.
    assert_eq!(
        app.hold(&buyer, event_id, &seats[..1]).await.status,
        StatusCode::CREATED
    );
    let refused = reprice(tier_ids[0], 5000).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
    assert_eq!(refused.error_code(), "tier_has_sales");
    assert_eq!(refused.body["path"], "tiers[0].price_cents");
    assert_eq!(reprice(tier_ids[1], 2000).await.status, StatusCode::OK);
    let foreign = reprice(999_999, 100).await;
    assert_eq!(foreign.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(foreign.body["path"], "tiers[0].id");
    assert_eq!(
        reprice(tier_ids[1], 0).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let prices: Vec<i64> = sqlx::query_scalar(
        "SELECT price_cents FROM catalog.price_tiers WHERE event_id = $1 ORDER BY id",
    )
    .bind(event_id)
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(prices, [3900, 2000]);
    let reprices: i64 = app
        .count(&format!(
            "SELECT count(*) FROM catalog.audit_log WHERE event_id = {event_id} AND action = 'tier.reprice'"
        ))
        .await;
    assert_eq!(reprices, 2);
}

#[tokio::test]
async fn sales_count_each_tier_revenue_and_orders_per_minute() {
    let app = TestApp::spawn().await;
    let organizer = app.account(Role::Organizer).await;
    let (event_id, seats) = on_sale(&app, &organizer).await;
    let first = app.customer().await;
    let second = app.customer().await;
    buy(&app, &first, event_id, &seats[..2]).await;
    buy(&app, &second, event_id, &seats[4..5]).await;
    assert_eq!(
        app.hold(&second, event_id, &seats[5..7]).await.status,
        StatusCode::CREATED
    );

    let sales = on_event(&app, &organizer, Method::GET, event_id, "/sales", None).await;
    assert_eq!(sales.status, StatusCode::OK, "{:?}", sales.body);
    let tier = |i: usize| {
        let t = &sales.body["tiers"][i];
        (
            t["name"].as_str().unwrap().to_owned(),
            t["sold"].as_i64().unwrap(),
            t["held"].as_i64().unwrap(),
            t["available"].as_i64().unwrap(),
        )
    };
    assert_eq!(tier(0), ("Front".into(), 2, 0, 2));
    assert_eq!(tier(1), ("Back".into(), 1, 2, 8));
    assert_eq!(
        sales.body["totals"],
        json!({"sold": 3, "held": 2, "available": 10})
    );
    assert_eq!(sales.body["revenue_cents"], 2 * 4500 + 2500);
    assert_eq!(sales.body["currency"], "EUR");
    assert_eq!(sales.body["orders_last_hour"], 2);
    let minutes = sales.body["orders_per_minute"].as_array().unwrap();
    assert_eq!(minutes.len(), 60);
    let counted: i64 = minutes.iter().map(|m| m["orders"].as_i64().unwrap()).sum();
    assert_eq!(counted, 2);
    assert!(minutes[59]["minute"].as_str().unwrap().ends_with(":00Z"));
}

#[tokio::test]
async fn attendees_export_one_csv_line_per_valid_ticket() {
    let app = TestApp::spawn().await;
    let organizer = app.account(Role::Organizer).await;
    let (event_id, seats) = on_sale(&app, &organizer).await;
    let fan = app.customer().await;
    sqlx::query("UPDATE auth.users SET name = '=Ana, \"la fan\"' WHERE id = $1::uuid")
        .bind(&fan.id)
        .execute(app.pool())
        .await
        .unwrap();
    let kept = buy(&app, &fan, event_id, &seats[..2]).await;
    let cancelled = buy(&app, &fan, event_id, &seats[2..3]).await;
    assert_eq!(
        app.cancel_order(&fan, &cancelled).await.status,
        StatusCode::OK
    );
    let gate = app.account(Role::Gate).await;
    sqlx::query("INSERT INTO catalog.gate_staff (event_id, user_id, added_by) VALUES ($1, $2::uuid, $3::uuid)")
        .bind(event_id)
        .bind(&gate.id)
        .bind(&organizer.id)
        .execute(app.pool())
        .await
        .unwrap();
    let scanned: String = sqlx::query_scalar(
        "SELECT c.status FROM orders.tickets t,
                orders.check_in($2::uuid, t.id, NULL, now(), false) c
         WHERE t.order_id = $1::uuid AND t.seat_id = $3",
    )
    .bind(&kept)
    .bind(&gate.id)
    .bind(seats[0])
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(scanned, "ok");

    let response = app
        .call_raw(
            Service::Organizer,
            request(
                Method::GET,
                &format!("/api/organizer/events/{event_id}/attendees.csv"),
                Some(&organizer.token),
                None,
            ),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"attendees-quartet-in-the-hall-")
    );
    let text = String::from_utf8(response.into_body()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "name,email,seat,order,checked_in_at");
    assert_eq!(
        lines.len(),
        3,
        "two valid tickets; the cancelled one is void:\n{text}"
    );
    for line in &lines[1..] {
        assert!(
            line.starts_with("\"'=Ana, \"\"la fan\"\"\""),
            "defused and quoted: {line}"
        );
        assert!(line.contains(&fan.email));
        assert!(line.contains(&kept));
    }
    let mut seats_listed = lines[1..].to_vec();
    seats_listed.sort_by_key(|line| line.ends_with(','));
    assert!(seats_listed[0].contains("Stalls / A / 1"), "{text}");
    assert!(
        seats_listed[0].ends_with('Z'),
        "the checked-in ticket has its time"
    );
    assert!(seats_listed[1].contains("Stalls / A / 2"));
    assert!(seats_listed[1].ends_with(','), "not checked in yet");
}

#[tokio::test]
async fn cancelling_an_event_cancels_every_live_order_and_tells_the_buyers() {
    let app = TestApp::spawn().await;
    let organizer = app.account(Role::Organizer).await;
    let (event_id, seats) = on_sale(&app, &organizer).await;
    let paid = app.customer().await;
    let pending = app.customer().await;
    let holding = app.customer().await;
    let completed = buy(&app, &paid, event_id, &seats[..2]).await;
    let held = app.hold(&pending, event_id, &seats[2..3]).await;
    let hold_id = held.body["hold_id"].as_str().unwrap();
    let waiting = app.placed_order_id(&pending, hold_id, "k1").await;
    assert_eq!(
        app.hold(&holding, event_id, &seats[3..4]).await.status,
        StatusCode::CREATED
    );

    let cancelled = on_event(&app, &organizer, Method::POST, event_id, "/cancel", None).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["cancelled_orders"], 2);
    assert_eq!(cancelled.body["event"]["status"], "cancelled");
    assert_eq!(app.order_status(&completed).await, "CANCELLED");
    assert_eq!(app.order_status(&waiting).await, "CANCELLED");
    let live_tickets = app
        .count(&format!(
            "SELECT count(*) FROM orders.tickets WHERE event_id = {event_id} AND status <> 'void'"
        ))
        .await;
    assert_eq!(live_tickets, 0, "every ticket is void");
    let taken = app
        .count(&format!(
            "SELECT count(*) FROM catalog.seats WHERE event_id = {event_id}
             AND (status = 'sold' OR (status = 'held' AND held_until > now()))"
        ))
        .await;
    assert_eq!(taken, 0, "no seat stays sold or held");
    let reason: String =
        sqlx::query_scalar("SELECT status_reason FROM orders.orders WHERE id = $1::uuid")
            .bind(&completed)
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert!(reason.contains("organizer"), "{reason}");

    // The buyers' notification streams (what the sidecar replays to their browsers).
    let mut redis = app.backend.redis.clone();
    for (buyer, order_id) in [(&paid, &completed), (&pending, &waiting)] {
        let key = ticketbuster_services::notifications::user_stream_key(&buyer.id);
        let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
            .arg(&key)
            .arg("-")
            .arg("+")
            .query_async(&mut redis)
            .await
            .unwrap();
        let told = entries.iter().any(|(_, fields)| {
            fields.iter().any(|(_, body)| {
                body.contains("order.cancelled") && body.contains(order_id.as_str())
            })
        });
        assert!(told, "{} was told about {order_id}: {entries:?}", buyer.id);
    }

    let again = on_event(&app, &organizer, Method::POST, event_id, "/cancel", None).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let late = app.hold(&holding, event_id, &seats[5..6]).await;
    assert_eq!(
        late.status,
        StatusCode::NOT_FOUND,
        "a cancelled event does not sell"
    );
    let edit = on_event(
        &app,
        &organizer,
        Method::PATCH,
        event_id,
        "",
        Some(json!({"title": "Back on"})),
    )
    .await;
    assert_eq!(edit.status, StatusCode::CONFLICT);
    assert_eq!(
        audit_actions(&app, event_id).await,
        ["event.create", "event.publish", "event.cancel"]
    );
}

#[tokio::test]
async fn an_order_being_paid_for_when_its_event_is_cancelled_fails_instead_of_selling() {
    let app = TestApp::spawn().await;
    let organizer = app.account(Role::Organizer).await;
    let (event_id, seats) = on_sale(&app, &organizer).await;
    let buyer = app.customer().await;
    let held = app.hold(&buyer, event_id, &seats[..1]).await;
    let order_id = app
        .placed_order_id(&buyer, held.body["hold_id"].as_str().unwrap(), "k")
        .await;
    // The worker has claimed it (PROCESSING) and is waiting on the payment provider.
    let claim: i64 = app
        .count(&format!(
            "SELECT count(*) FROM orders.claim_orders('{order_id}'::uuid, 1, gen_random_uuid())"
        ))
        .await;
    assert_eq!(claim, 1);
    assert_eq!(app.order_status(&order_id).await, "PROCESSING");
    let claim_id: String =
        sqlx::query_scalar("SELECT claim_id::text FROM orders.orders WHERE id = $1::uuid")
            .bind(&order_id)
            .fetch_one(app.pool())
            .await
            .unwrap();

    let cancelled = on_event(&app, &organizer, Method::POST, event_id, "/cancel", None).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["cancelled_orders"], 0);

    let settled: Vec<String> = sqlx::query_scalar(
        "SELECT status FROM orders.settle_orders($1::uuid, ARRAY[$2::uuid], '{}', 'declined')",
    )
    .bind(&claim_id)
    .bind(&order_id)
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(
        settled,
        ["FAILED"],
        "the paid order does not sell a seat of a cancelled event"
    );
    let sold = app
        .count(&format!(
            "SELECT count(*) FROM orders.tickets WHERE event_id = {event_id}"
        ))
        .await;
    assert_eq!(sold, 0);
}

#[tokio::test]
async fn an_organizer_names_gate_staff_by_email() {
    let app = TestApp::spawn().await;
    let organizer = app.account(Role::Organizer).await;
    let rival = app.account(Role::Organizer).await;
    let staff = app.customer().await;
    let event_id = create(&app, &organizer, draft("1 day")).await;
    let path = format!("/api/organizer/events/{event_id}/gate-staff");
    let name = |email: &str| {
        as_organizer(
            &app,
            &organizer,
            Method::POST,
            &path,
            Some(json!({ "email": email })),
        )
    };
    let added = name(&staff.email.to_uppercase()).await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    assert_eq!(added.body["user_id"], staff.id.as_str());
    assert_eq!(added.body["email"], staff.email.as_str());
    assert_eq!(
        name(&staff.email).await.status,
        StatusCode::OK,
        "naming twice is harmless"
    );
    let role: String = sqlx::query_scalar("SELECT role FROM auth.users WHERE id = $1::uuid")
        .bind(&staff.id)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(role, "gate");

    let unknown = name("nobody@example.com").await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.body["path"], "email");
    let organizer_account = name(&rival.email).await;
    assert_eq!(organizer_account.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        name("not an email").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let listed = as_organizer(&app, &organizer, Method::GET, &path, None).await;
    assert_eq!(listed.status, StatusCode::OK);
    let staff_list = listed.body["gate_staff"].as_array().unwrap();
    assert_eq!(staff_list.len(), 1);
    assert_eq!(staff_list[0]["email"], staff.email.as_str());
    assert_eq!(
        audit_actions(&app, event_id).await,
        ["event.create", "gate_staff.add"]
    );
}

#[tokio::test]
async fn a_granted_role_shows_in_the_tokens_issued_after_the_grant() {
    let app = TestApp::spawn().await;
    let registered = app.register("olga@example.com").await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{:?}",
        registered.body
    );
    let sign_in = || {
        app.call(
            Service::Auth,
            request(
                Method::POST,
                "/api/auth/login",
                None,
                Some(json!({"email": "olga@example.com", "password": "correct horse battery"})),
            ),
        )
    };
    let before = sign_in().await;
    let customer_token = before.body["access_token"].as_str().unwrap().to_owned();
    let create_as = |token: String| {
        app.call(
            Service::Organizer,
            request(
                Method::POST,
                "/api/organizer/events",
                Some(&token),
                Some(draft("1 day")),
            ),
        )
    };
    assert_eq!(
        create_as(customer_token.clone()).await.status,
        StatusCode::FORBIDDEN
    );

    let change = ticketbuster_db::grant_role(
        app.pool(),
        "OLGA@example.com",
        ticketbuster_db::GrantedRole::Organizer,
    )
    .await
    .unwrap();
    assert_eq!(
        change,
        ticketbuster_db::RoleChange::Changed {
            from: "customer".into(),
            to: "organizer".into()
        }
    );
    assert_eq!(
        create_as(customer_token).await.status,
        StatusCode::FORBIDDEN,
        "a token issued before the grant keeps its role until it expires"
    );
    let after = sign_in().await;
    assert_eq!(after.body["user"]["role"], "organizer", "{:?}", after.body);
    let organizer_token = after.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(create_as(organizer_token).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn an_export_of_several_pages_lists_every_ticket_once() {
    let app = TestApp::spawn().await;
    let organizer = app.account(Role::Organizer).await;
    let buyer = app.customer().await;
    let fixture = app.event(1, 25, 100).await;
    sqlx::query("UPDATE catalog.events SET organizer_id = $2::uuid WHERE id = $1")
        .bind(fixture.event_id)
        .bind(&organizer.id)
        .execute(app.pool())
        .await
        .unwrap();
    // 2,500 one-seat orders, completed, written as the worker would leave them.
    sqlx::query(
        "WITH holds AS (
             INSERT INTO catalog.holds (event_id, user_id, seat_ids, expires_at)
             SELECT $1, $2::uuid, ARRAY[s.id], now() + interval '1 hour'
             FROM catalog.seats s WHERE s.event_id = $1
             RETURNING id, seat_ids[1] AS seat_id
         ), orders AS (
             INSERT INTO orders.orders (user_id, event_id, hold_id, idempotency_key, status,
                                        status_reason, total_cents, currency)
             SELECT $2::uuid, $1, h.id, h.id::text, 'COMPLETED', 'paid', 5000, 'EUR' FROM holds h
             RETURNING id, hold_id
         )
         INSERT INTO orders.tickets (order_id, event_id, seat_id)
         SELECT o.id, $1, h.seat_id FROM orders o JOIN holds h ON h.id = o.hold_id",
    )
    .bind(fixture.event_id)
    .bind(&buyer.id)
    .execute(app.pool())
    .await
    .unwrap();

    let response = app
        .call_raw(
            Service::Organizer,
            request(
                Method::GET,
                &format!("/api/organizer/events/{}/attendees.csv", fixture.event_id),
                Some(&organizer.token),
                None,
            ),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = String::from_utf8(response.into_body()).unwrap();
    let mut seats: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|line| line.split(',').nth(2).unwrap())
        .collect();
    assert_eq!(seats.len(), 2_500, "three pages of 1,000 and the rest");
    seats.sort_unstable();
    seats.dedup();
    assert_eq!(seats.len(), 2_500, "no ticket twice");
}

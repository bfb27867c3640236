//! The catalog service against the seeded catalog in real PostgreSQL, cached in real Redis.

use http::{Method, StatusCode};
use ticketbuster_tests::{Service, TestApp, request};

async fn get(app: &TestApp, path: &str) -> ticketbuster_tests::Answer {
    app.call(Service::Catalog, request(Method::GET, path, None, None))
        .await
}

async fn seeded() -> TestApp {
    let app = TestApp::spawn().await;
    ticketbuster_db::seed(app.pool()).await.expect("seed");
    app
}

#[tokio::test]
async fn lists_filter_search_sort_and_paginate() {
    let app = seeded().await;
    let all = get(&app, "/api/events?page_size=100").await;
    assert_eq!(all.status, StatusCode::OK);
    let total = all.body["total"].as_i64().unwrap();
    assert!(total >= 24);
    let items = all.body["items"].as_array().unwrap();
    assert_eq!(items.len() as i64, total);
    let dates: Vec<&str> = items
        .iter()
        .map(|e| e["starts_at"].as_str().unwrap())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] <= w[1]), "sorted by date");
    for item in items {
        assert!(item["available_seats"].as_i64().unwrap() > 0);
        assert!(
            item["min_price_cents"].as_i64().unwrap() <= item["max_price_cents"].as_i64().unwrap()
        );
    }

    let sports = get(&app, "/api/events?category=sports&page_size=100").await;
    let sports = sports.body["items"].as_array().unwrap();
    assert!(!sports.is_empty());
    assert!(sports.iter().all(|e| e["category"] == "sports"));

    let search = get(&app, "/api/events?q=hamlet").await;
    assert_eq!(search.body["total"], 1);
    assert_eq!(search.body["items"][0]["slug"], "hamlet-teatro-espanol");
    let by_city = get(&app, "/api/events?q=BILBAO").await;
    assert!(
        by_city.body["total"].as_i64().unwrap() >= 3,
        "search covers venue and city, any case"
    );
    let wildcard = get(&app, "/api/events?q=%25").await;
    assert_eq!(
        wildcard.body["total"], 0,
        "a % in the search text is literal"
    );

    let prices = async |sort: &str| -> Vec<i64> {
        let answer = get(&app, &format!("/api/events?sort={sort}&page_size=100")).await;
        answer.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["min_price_cents"].as_i64().unwrap())
            .collect()
    };
    assert!(prices("price").await.windows(2).all(|w| w[0] <= w[1]));
    assert!(prices("-price").await.windows(2).all(|w| w[0] >= w[1]));

    let page1 = get(&app, "/api/events?page_size=5&page=1").await;
    let page2 = get(&app, "/api/events?page_size=5&page=2").await;
    assert_eq!(page1.body["items"].as_array().unwrap().len(), 5);
    assert_eq!(
        (
            page2.body["page"].as_i64(),
            page2.body["page_size"].as_i64()
        ),
        (Some(2), Some(5))
    );
    assert_ne!(page1.body["items"][0]["id"], page2.body["items"][0]["id"]);
    let beyond = get(&app, "/api/events?page=1000").await;
    assert_eq!(beyond.body["items"].as_array().unwrap().len(), 0);
    assert_eq!(beyond.body["total"].as_i64().unwrap(), total);

    let window = get(&app, "/api/events?from=2000-01-01&to=2000-12-31").await;
    assert_eq!(window.body["total"], 0);
}

/// The event detail's counts and prices are what its seat map shows, seat by seat, with
/// some seats held and some sold.
#[tokio::test]
async fn detail_and_seat_map_agree() {
    let app = seeded().await;
    let id: i64 = sqlx::query_scalar(
        "SELECT id FROM catalog.events WHERE slug = 'la-noche-electrica-madrid'",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    let seats: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM catalog.seats WHERE event_id = $1 ORDER BY id DESC LIMIT 5",
    )
    .bind(id)
    .fetch_all(app.pool())
    .await
    .unwrap();
    let holder = app.customer().await;
    let held = app.hold(&holder, id, &seats[..3]).await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    app.sold(id, &seats[3..]).await;

    let detail = get(&app, &format!("/api/events/{id}")).await;
    assert_eq!(detail.status, StatusCode::OK);
    let map = get(&app, &format!("/api/events/{id}/seats")).await;
    assert_eq!(map.status, StatusCode::OK);
    let on_map: Vec<&serde_json::Value> = map.body["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|section| section["rows"].as_array().unwrap())
        .flat_map(|row| row["seats"].as_array().unwrap())
        .collect();
    let with_status = |status: &str| on_map.iter().filter(|s| s["status"] == status).count();
    assert_eq!(detail.body["total_seats"], on_map.len());
    assert_eq!(detail.body["available_seats"], with_status("available"));
    assert_eq!((with_status("held"), with_status("sold")), (3, 2));
    assert_eq!(on_map.len(), 6000, "the seeded stadium");

    // The tiers the detail offers, highest price first, are the tiers the map's seats are
    // in, at the same prices.
    let tier = |v: &serde_json::Value, name: &str| {
        (
            v[name].as_str().unwrap().to_owned(),
            v["price_cents"].as_i64().unwrap(),
        )
    };
    let mut map_tiers: Vec<(String, i64)> = on_map.iter().map(|s| tier(s, "tier")).collect();
    map_tiers.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    map_tiers.dedup();
    let detail_tiers: Vec<(String, i64)> = detail.body["price_tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| tier(t, "name"))
        .collect();
    assert_eq!(detail_tiers, map_tiers);
    assert_eq!(detail.body["max_price_cents"], map_tiers[0].1);
    assert_eq!(
        detail.body["min_price_cents"],
        map_tiers[map_tiers.len() - 1].1
    );
}

fn statuses(map: &ticketbuster_tests::Answer) -> Vec<String> {
    map.body["sections"][0]["rows"][0]["seats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap().to_owned())
        .collect()
}

/// A refused hold drops the cached map at once (its buyer chose from a stale one and
/// reads it again); a new hold shows within the map's 1 s TTL, inside the 2 s allowed.
#[tokio::test]
async fn etags_answer_304_and_taken_seats_show_within_two_seconds() {
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 1, 4).await;
    let path = format!("/api/events/{}/seats", fixture.event_id);
    let first = get(&app, &path).await;
    let etag = first.headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(first.headers["cache-control"], "no-cache");
    let again = app
        .call(
            Service::Catalog,
            http::Request::get(&path)
                .header("if-none-match", &etag)
                .body(bytes::Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);

    let buyer = app.customer().await;
    let rival = app.customer().await;
    let seats = &fixture.seat_ids;
    assert_eq!(
        app.hold(&buyer, fixture.event_id, &seats[..2]).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.hold(&rival, fixture.event_id, &seats[1..3])
            .await
            .status,
        StatusCode::CONFLICT
    );
    let after = get(&app, &path).await;
    assert_eq!(
        statuses(&after),
        ["held", "held", "available", "available"],
        "the refused buyer reads a fresh map"
    );
    assert_ne!(after.headers["etag"].to_str().unwrap(), etag);

    assert_eq!(
        app.hold(&rival, fixture.event_id, &seats[2..3])
            .await
            .status,
        StatusCode::CREATED
    );
    let held_at = std::time::Instant::now();
    while statuses(&get(&app, &path).await)[2] != "held" {
        assert!(
            held_at.elapsed() < std::time::Duration::from_secs(2),
            "a held seat showed as available for more than 2 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let detail = get(&app, &format!("/api/events/{}", fixture.event_id)).await;
    assert_eq!(detail.body["available_seats"], 1);
}

#[tokio::test]
async fn unknown_ids_and_bad_queries_are_4xx() {
    let app = seeded().await;
    for (path, status) in [
        ("/api/events/999999", StatusCode::NOT_FOUND),
        ("/api/events/abc", StatusCode::NOT_FOUND),
        ("/api/events/-1/seats", StatusCode::NOT_FOUND),
        ("/api/events/999999/seats", StatusCode::NOT_FOUND),
        (
            "/api/events?category=opera",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("/api/events?sort=random", StatusCode::UNPROCESSABLE_ENTITY),
        (
            "/api/events?page_size=1000",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/events?from=tomorrow",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("/api/events/1/nothing", StatusCode::NOT_FOUND),
    ] {
        let answer = get(&app, path).await;
        assert_eq!(answer.status, status, "{path}: {:?}", answer.body);
        assert!(!answer.error_code().is_empty());
    }
    let post = app
        .call(
            Service::Catalog,
            request(Method::POST, "/api/events", None, None),
        )
        .await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn health_reports_both_stores() {
    let app = TestApp::spawn().await;
    let health = app
        .call(
            Service::Health,
            request(Method::GET, "/api/health", None, None),
        )
        .await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["postgres"], "ok");
    assert_eq!(health.body["redis"], "ok");
}

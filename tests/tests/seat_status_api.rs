//! The seat map in two parts, against real PostgreSQL and Redis: the layout and the
//! compact status document together say what the full seat map says, seat by seat, after
//! holds and sales; both answer 304 to their ETags; the layout's version follows its
//! prices; answers are compressed for clients that accept it; and without Redis the status
//! is unavailable for a moment (503), not an error.

use std::io::Read;

use http::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, ETAG, IF_NONE_MATCH};
use http::{Method, StatusCode};
use redis::AsyncCommands;
use serde_json::{Value, json};
use ticketbuster_domain::account::Role;
use ticketbuster_domain::cache::CachedBody;
use ticketbuster_domain::seat_status;
use ticketbuster_services::backend::Backend;
use ticketbuster_services::catalog;
use ticketbuster_services::compression::{CompressedBodies, compress_for};
use ticketbuster_tests::{Answer, PrivateRedis, Service, TestApp, request};

async fn get(app: &TestApp, path: &str, if_none_match: Option<&str>) -> Answer {
    let mut req = request(Method::GET, path, None, None);
    if let Some(tag) = if_none_match {
        req.headers_mut()
            .insert(IF_NONE_MATCH, tag.parse().expect("an ETag"));
    }
    app.call(Service::Catalog, req).await
}

fn header(answer: &Answer, name: http::HeaderName) -> &str {
    answer
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The full map's seats in its order, each as (id, number, tier, price, status).
fn seats_of_map(map: &Value) -> Vec<(i64, i64, String, i64, String)> {
    map["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["rows"].as_array().unwrap())
        .flat_map(|r| r["seats"].as_array().unwrap())
        .map(|seat| {
            (
                seat["id"].as_i64().unwrap(),
                seat["number"].as_i64().unwrap(),
                seat["tier"].as_str().unwrap().to_owned(),
                seat["price_cents"].as_i64().unwrap(),
                seat["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The same from the layout and the status document, the way the web app combines them.
fn seats_of_layout_and_status(
    layout: &Value,
    status: &Value,
) -> Vec<(i64, i64, String, i64, String)> {
    assert_eq!(status["layout_version"], layout["version"]);
    assert_eq!(status["encoding"], seat_status::ENCODING);
    let price_of = |tier: &str| {
        layout["tiers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == tier)
            .and_then(|t| t["price_cents"].as_i64())
            .expect("the seat's tier is listed")
    };
    let count = status["seat_count"].as_u64().unwrap() as usize;
    assert_eq!(layout["seat_count"].as_u64().unwrap() as usize, count);
    let statuses = seat_status::decode(status["data"].as_str().unwrap(), count).unwrap();
    let seats: Vec<&Value> = layout["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["rows"].as_array().unwrap())
        .flat_map(|r| r["seats"].as_array().unwrap())
        .collect();
    assert_eq!(seats.len(), statuses.len());
    seats
        .into_iter()
        .zip(statuses)
        .map(|(seat, status)| {
            let tier = seat["tier"].as_str().unwrap();
            (
                seat["id"].as_i64().unwrap(),
                seat["number"].as_i64().unwrap(),
                tier.to_owned(),
                price_of(tier),
                status.as_str().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn layout_and_status_say_what_the_full_map_says_after_holds_and_sales() {
    let app = TestApp::spawn().await;
    let fixture = app.event(3, 4, 5).await;
    let id = fixture.event_id;
    let seats = &fixture.seat_ids;
    // A second tier, so the layout's prices are not all one.
    sqlx::query(
        "WITH vip AS (INSERT INTO catalog.price_tiers (event_id, name, price_cents)
                      VALUES ($1, 'VIP', 9000) RETURNING id)
         UPDATE catalog.seats SET tier_id = (SELECT id FROM vip)
         WHERE event_id = $1 AND section = 'S2'",
    )
    .bind(id)
    .execute(app.pool())
    .await
    .unwrap();

    let holder = app.customer().await;
    let held = app.hold(&holder, id, &seats[..3]).await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    app.sold(id, &seats[30..34]).await;

    let layout = get(&app, &format!("/api/events/{id}/layout"), None).await;
    assert_eq!(layout.status, StatusCode::OK, "{:?}", layout.body);
    let status = get(&app, &format!("/api/events/{id}/seat-status"), None).await;
    assert_eq!(status.status, StatusCode::OK, "{:?}", status.body);
    let map = get(&app, &format!("/api/events/{id}/seats"), None).await;
    assert_eq!(map.status, StatusCode::OK);

    let combined = seats_of_layout_and_status(&layout.body, &status.body);
    assert_eq!(combined, seats_of_map(&map.body));
    let count = |wanted: &str| combined.iter().filter(|s| s.4 == wanted).count();
    assert_eq!((count("held"), count("sold"), combined.len()), (3, 4, 60));
    assert!(combined.iter().any(|s| s.3 == 9000));
    assert!(status.body["revision"].as_i64().unwrap() > 0);
}

/// Seats written out of the layout's order, over several statements: a row's seats in
/// descending number, a section created after another's rows, a row added later to the
/// first section. The status still follows the layout seat by seat (each seat's stored
/// position is numbered whatever writes it), and a seat cannot be moved.
#[tokio::test]
async fn the_status_follows_the_layout_of_seats_written_in_any_order_and_seats_do_not_move() {
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 1, 1).await;
    let id = fixture.event_id;
    for (section, row, numbers) in [
        ("S1", "B", "ARRAY[4, 3, 2, 1]"),
        ("S0", "A", "ARRAY[2, 1]"),
        ("S1", "A", "ARRAY[3, 2]"),
        ("S0", "B", "ARRAY[1]"),
        ("S1", "C", "ARRAY[2, 1, 3]"),
    ] {
        sqlx::query(&format!(
            "INSERT INTO catalog.seats (event_id, tier_id, section, row_label, number)
             SELECT $1, t.id, $2, $3, n
             FROM catalog.price_tiers t, unnest({numbers}) WITH ORDINALITY AS u(n, i)
             WHERE t.event_id = $1 ORDER BY i"
        ))
        .bind(id)
        .bind(section)
        .bind(row)
        .execute(app.pool())
        .await
        .unwrap();
    }
    let seat_ids: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM catalog.seats WHERE event_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(app.pool())
            .await
            .unwrap();
    assert_eq!(seat_ids.len(), 13);
    let holder = app.customer().await;
    let held = app.hold(&holder, id, &[seat_ids[2], seat_ids[6]]).await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    app.sold(id, &[seat_ids[5], seat_ids[9], seat_ids[12]])
        .await;

    let layout = get(&app, &format!("/api/events/{id}/layout"), None).await;
    let status = get(&app, &format!("/api/events/{id}/seat-status"), None).await;
    let map = get(&app, &format!("/api/events/{id}/seats"), None).await;
    let combined = seats_of_layout_and_status(&layout.body, &status.body);
    assert_eq!(combined, seats_of_map(&map.body));
    let in_layout: Vec<(i64, String)> = combined.iter().map(|s| (s.0, s.4.clone())).collect();
    let seat = |i: usize, status: &str| (seat_ids[i], status.to_owned());
    assert_eq!(
        in_layout,
        [
            seat(0, "available"),
            seat(8, "available"),
            seat(7, "available"),
            seat(4, "available"),
            seat(3, "available"),
            seat(2, "held"),
            seat(1, "available"),
            seat(11, "available"),
            seat(10, "available"),
            seat(12, "sold"),
            seat(6, "held"),
            seat(5, "sold"),
            seat(9, "sold"),
        ],
        "S1 (rows A, B, C) before S0 (rows A, B), each row by number"
    );

    let moved = sqlx::query("UPDATE catalog.seats SET number = 9 WHERE id = $1")
        .bind(seat_ids[0])
        .execute(app.pool())
        .await
        .expect_err("a seat's place is written once");
    let code = moved.as_database_error().and_then(|e| e.code());
    assert_eq!(code.as_deref(), Some("23514"), "{moved}");
}

#[tokio::test]
async fn both_documents_answer_304_to_their_etags_and_the_status_moves_with_the_seats() {
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 2, 10).await;
    let id = fixture.event_id;

    let layout = get(&app, &format!("/api/events/{id}/layout"), None).await;
    assert_eq!(header(&layout, CACHE_CONTROL), "no-cache");
    let version = layout.body["version"].as_str().unwrap().to_owned();
    let versioned = format!("/api/events/{id}/layout?v={version}");
    let pinned = get(&app, &versioned, None).await;
    assert_eq!(pinned.status, StatusCode::OK);
    assert_eq!(pinned.body, layout.body);
    assert_eq!(
        header(&pinned, CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    let tag = header(&pinned, ETAG).to_owned();
    assert!(tag.starts_with('"'), "a strong ETag: {tag}");
    let again = get(&app, &versioned, Some(&tag)).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert_eq!(again.body, Value::Null);

    let status_path = format!("/api/events/{id}/seat-status");
    let first = get(&app, &status_path, None).await;
    assert_eq!(header(&first, CACHE_CONTROL), "public, max-age=1");
    let first_tag = header(&first, ETAG).to_owned();
    let unchanged = get(&app, &status_path, Some(&first_tag)).await;
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);

    // A released hold frees its seats at once: the status is read again.
    let customer = app.customer().await;
    let held = app.hold(&customer, id, &fixture.seat_ids[..2]).await;
    let hold_id = held.body["hold_id"].as_str().unwrap();
    let released = app
        .call(
            Service::Holds,
            request(
                Method::DELETE,
                &format!("/api/holds/{hold_id}"),
                Some(&customer.token),
                None,
            ),
        )
        .await;
    assert_eq!(
        released.status,
        StatusCode::NO_CONTENT,
        "{:?}",
        released.body
    );
    let after = get(&app, &status_path, Some(&first_tag)).await;
    assert_eq!(after.status, StatusCode::OK);
    assert!(
        after.body["revision"].as_i64().unwrap() >= first.body["revision"].as_i64().unwrap() + 2,
        "the hold and its release were both numbered: {} then {}",
        first.body["revision"],
        after.body["revision"]
    );

    for path in [
        "/api/events/999999/layout".to_owned(),
        "/api/events/999999/seat-status".to_owned(),
    ] {
        assert_eq!(get(&app, &path, None).await.status, StatusCode::NOT_FOUND);
    }
    let bad_version = get(&app, &format!("/api/events/{id}/layout?v=latest"), None).await;
    assert_eq!(bad_version.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// Moves the cached status's expiry `ms_ago` into the past, as time would.
async fn age_cached_status(app: &TestApp, id: i64, ms_ago: i64) {
    let key = catalog::seat_status_cache_key(id);
    let stored = app.backend.cache_get(&key).await.unwrap().expect("cached");
    let mut entry = CachedBody::decode(&stored).expect("an entry");
    entry.expires_at_ms = app.backend.now_ms() - ms_ago;
    app.backend.cache_set(&key, &entry.encode()).await.unwrap();
}

#[tokio::test]
async fn a_stale_status_is_served_while_another_request_rebuilds_it() {
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 1, 6).await;
    let id = fixture.event_id;
    let path = format!("/api/events/{id}/seat-status");
    let first = get(&app, &path, None).await;
    let first_tag = header(&first, ETAG).to_owned();
    // A new hold leaves the status to its TTL.
    let customer = app.customer().await;
    let held = app.hold(&customer, id, &fixture.seat_ids[..2]).await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);

    let lease = format!("{}:refreshing", catalog::seat_status_cache_key(id));
    let mut redis = redis::Client::open(ticketbuster_tests::redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis.set_ex(&lease, "1", 30).await.unwrap();
    age_cached_status(&app, id, 10).await;
    let stale = get(&app, &path, None).await;
    assert_eq!(
        header(&stale, ETAG),
        first_tag,
        "while another request rebuilds it, the stale status is served"
    );
    // Too long past its expiry, it is rebuilt whatever the lease says.
    age_cached_status(&app, id, 600_000).await;
    let rebuilt = get(&app, &path, None).await;
    assert_ne!(header(&rebuilt, ETAG), first_tag);
    let _: () = redis.del(&lease).await.unwrap();

    // With nobody rebuilding, the first request to find it stale rebuilds it.
    let second = app.hold(&customer, id, &fixture.seat_ids[2..3]).await;
    assert_eq!(second.status, StatusCode::CREATED, "{:?}", second.body);
    age_cached_status(&app, id, 10).await;
    let refreshed = get(&app, &path, None).await;
    assert_ne!(header(&refreshed, ETAG), header(&rebuilt, ETAG));
    let layout = get(&app, &format!("/api/events/{id}/layout"), None).await;
    let held_now = seats_of_layout_and_status(&layout.body, &refreshed.body)
        .into_iter()
        .filter(|seat| seat.4 == "held")
        .count();
    assert_eq!(held_now, 3);
    let _: () = redis.del(&lease).await.unwrap();
}

#[tokio::test]
async fn without_redis_the_status_is_unavailable_for_a_moment_not_an_error() {
    let app = TestApp::spawn().await;
    let id = app.event(1, 1, 6).await.event_id;
    let mut redis = PrivateRedis::start().await;
    let backend = app.another_backend(&redis.url()).await;
    let status = async || {
        let path = format!("/api/events/{id}/seat-status");
        Answer::from(catalog::handle(&backend, request(Method::GET, &path, None, None)).await)
    };
    assert_eq!(status().await.status, StatusCode::OK);

    redis.stop();
    let down = status().await;
    assert_eq!(
        down.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        down.body
    );
    assert_eq!(down.body["error"]["code"], "unavailable");

    redis.start_again().await;
    let back = status().await;
    assert_eq!(back.status, StatusCode::OK, "{:?}", back.body);
    assert_eq!(back.body["seat_count"], 6);
}

#[tokio::test]
async fn repricing_a_tier_makes_a_new_layout_version() {
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 1, 4).await;
    let id = fixture.event_id;
    let organizer = app.account(Role::Organizer).await;
    sqlx::query("UPDATE catalog.events SET organizer_id = $2::uuid, sales_start = now() - interval '1 hour' WHERE id = $1")
        .bind(id)
        .bind(&organizer.id)
        .execute(app.pool())
        .await
        .unwrap();
    let tier: i64 = sqlx::query_scalar("SELECT id FROM catalog.price_tiers WHERE event_id = $1")
        .bind(id)
        .fetch_one(app.pool())
        .await
        .unwrap();
    let before = get(&app, &format!("/api/events/{id}/layout"), None).await;
    let old_version = before.body["version"].as_str().unwrap().to_owned();
    let old_url = format!("/api/events/{id}/layout?v={old_version}");
    assert_eq!(get(&app, &old_url, None).await.status, StatusCode::OK);

    let repriced = app
        .call(
            Service::Organizer,
            request(
                Method::PATCH,
                &format!("/api/organizer/events/{id}"),
                Some(&organizer.token),
                Some(json!({"tiers": [{"id": tier, "price_cents": 4200}]})),
            ),
        )
        .await;
    assert_eq!(repriced.status, StatusCode::OK, "{:?}", repriced.body);

    let after = get(&app, &format!("/api/events/{id}/layout"), None).await;
    let new_version = after.body["version"].as_str().unwrap();
    assert_ne!(new_version, old_version);
    assert_eq!(after.body["tiers"][0]["price_cents"], 4200);
    let status = get(&app, &format!("/api/events/{id}/seat-status"), None).await;
    assert_eq!(status.body["layout_version"], new_version);
    // A version's URL keeps its content; a version never seen gives the current layout,
    // to revalidate.
    let old = get(&app, &old_url, None).await;
    assert_eq!(old.body, before.body);
    let unknown = format!("/api/events/{id}/layout?v={}", "0".repeat(32));
    let current = get(&app, &unknown, None).await;
    assert_eq!(current.status, StatusCode::OK);
    assert_eq!(current.body["version"], new_version);
    assert_eq!(header(&current, CACHE_CONTROL), "no-cache");
}

fn decompress(coding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        "br" => brotli::Decompressor::new(body, 4096).read_to_end(&mut out),
        "gzip" => flate2::read::GzDecoder::new(body).read_to_end(&mut out),
        other => panic!("unexpected coding {other:?}"),
    }
    .expect("the body decompresses");
    out
}

/// The seeded stadium's documents on the wire, compressed as Spin sends them.
#[tokio::test]
async fn the_stadiums_status_is_under_4_kb_and_answers_decompress_to_the_original() {
    let app = TestApp::spawn().await;
    ticketbuster_db::seed(app.pool()).await.expect("seed");
    let id: i64 = sqlx::query_scalar(
        "SELECT id FROM catalog.events WHERE slug = 'la-noche-electrica-madrid'",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    // Some seats taken, so the status is not all one value.
    let seats: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM catalog.seats WHERE event_id = $1 ORDER BY id LIMIT 8")
            .bind(id)
            .fetch_all(app.pool())
            .await
            .unwrap();
    let customer = app.customer().await;
    assert_eq!(
        app.hold(&customer, id, &seats).await.status,
        StatusCode::CREATED
    );
    catalog::invalidate_event(&app.backend, id).await;

    for (path, accept) in [
        ("seat-status", "gzip, deflate, br"),
        ("seat-status", "gzip"),
        ("layout", "br"),
        ("seats", "gzip, br"),
    ] {
        let mut req = request(Method::GET, &format!("/api/events/{id}/{path}"), None, None);
        req.headers_mut()
            .insert(ACCEPT_ENCODING, accept.parse().unwrap());
        let accept_encoding = req.headers().get(ACCEPT_ENCODING).cloned();
        let plain = app.call_raw(Service::Catalog, req).await;
        assert_eq!(plain.status(), StatusCode::OK);
        let original = plain.body().clone();
        let sent = compress_for(
            accept_encoding.as_ref(),
            plain,
            &mut CompressedBodies::new(),
        );
        let coding = sent.headers()[CONTENT_ENCODING]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            decompress(&coding, sent.body()),
            original,
            "{path} in {coding}"
        );
        eprintln!(
            "{path} ({accept}): {} bytes, {} in {coding}",
            original.len(),
            sent.body().len()
        );
        if path == "seat-status" {
            let status: Value = serde_json::from_slice(&original).unwrap();
            assert_eq!(status["seat_count"], 6000);
            assert!(
                sent.body().len() < 4_096,
                "{} bytes on the wire",
                sent.body().len()
            );
        }
    }
}

//! The gate: online check-ins, offline uploads and the gate bundle, against real
//! PostgreSQL and Redis, with tickets bought through the normal flow.

use futures::future::join_all;
use http::{Method, StatusCode};
use jwt_simple::prelude::{Base64UrlSafeNoPadding, Ed25519KeyPair, Ed25519PublicKey};
use jwt_simple::reexports::ct_codecs::Decoder;
use serde_json::{Value, json};
use ticketbuster_domain::account::Role;
use ticketbuster_domain::tickets::{TicketClaims, TicketSigner, TicketVerifier};
use ticketbuster_services::checkins::{self, CheckinSettings};
use ticketbuster_tests::{Answer, Customer, Service, TestApp, raw_request, request};

/// A gate account on staff of `event_ids`.
struct Gate {
    id: String,
    token: String,
    /// How answers name it: `name (email)`.
    label: String,
}

async fn gate(app: &TestApp, name: &str, event_ids: &[i64]) -> Gate {
    let email = format!("gate-{}@example.com", uuid::Uuid::new_v4().simple());
    let id: String = sqlx::query_scalar(
        "INSERT INTO auth.users (email, name, password_hash, role)
         VALUES ($1, $2, '$argon2id$placeholder', 'gate') RETURNING id::text",
    )
    .bind(&email)
    .bind(name)
    .fetch_one(app.pool())
    .await
    .expect("insert a gate account");
    for event_id in event_ids {
        sqlx::query(
            "INSERT INTO catalog.gate_staff (event_id, user_id, added_by) VALUES ($1, $2::uuid, $2::uuid)",
        )
        .bind(event_id)
        .bind(&id)
        .execute(app.pool())
        .await
        .expect("name the gate staff of the event");
    }
    let token = app.auth.issuer.issue(&id, Role::Gate).expect("a token");
    Gate {
        id,
        token,
        label: format!("{name} ({email})"),
    }
}

/// A completed order of `seats` seats of a new event.
struct Bought {
    buyer: Customer,
    event_id: i64,
    order_id: String,
    /// Ticket ids and their codes, in seat order.
    tickets: Vec<(String, String)>,
}

async fn bought(app: &TestApp, seats: i32) -> Bought {
    let fixture = app.event(1, 1, seats).await;
    bought_in(app, fixture.event_id, &fixture.seat_ids).await
}

/// A new buyer's completed order of `seat_ids` of event `event_id`.
async fn bought_in(app: &TestApp, event_id: i64, seat_ids: &[i64]) -> Bought {
    let buyer = app.customer().await;
    let hold = app.hold(&buyer, event_id, seat_ids).await;
    assert_eq!(hold.status, StatusCode::CREATED, "{:?}", hold.body);
    let hold_id = hold.body["hold_id"].as_str().unwrap();
    let order_id = app.placed_order_id(&buyer, hold_id, "buy").await;
    app.run_worker(order_id.as_bytes(), 0.0).await.unwrap();
    let listed = app
        .get_as(&buyer, &format!("/api/orders/{order_id}/tickets"))
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    let tickets = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["ticket_id"].as_str().unwrap().to_owned(),
                t["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    Bought {
        buyer,
        event_id,
        order_id,
        tickets,
    }
}

async fn scan(app: &TestApp, token: &str, code: &str, nonce: Option<&str>) -> Answer {
    let mut body = json!({ "code": code });
    if let Some(nonce) = nonce {
        body["nonce"] = json!(nonce);
    }
    app.call(
        Service::Checkins,
        request(Method::POST, "/api/checkins", Some(token), Some(body)),
    )
    .await
}

async fn upload(app: &TestApp, token: &str, scans: Value) -> Answer {
    app.call(
        Service::Checkins,
        request(
            Method::POST,
            "/api/checkins/batch",
            Some(token),
            Some(json!({ "scans": scans })),
        ),
    )
    .await
}

async fn gate_bundle(app: &TestApp, token: &str, event_id: i64) -> Answer {
    let path = format!("/api/events/{event_id}/gate-bundle");
    app.call(
        Service::Checkins,
        request(Method::GET, &path, Some(token), None),
    )
    .await
}

async fn ticket_status(app: &TestApp, ticket_id: &str) -> String {
    sqlx::query_scalar("SELECT status FROM orders.tickets WHERE id = $1::uuid")
        .bind(ticket_id)
        .fetch_one(app.pool())
        .await
        .expect("read the ticket's status")
}

#[tokio::test]
async fn a_ticket_is_admitted_once_then_named_with_its_first_check_in() {
    let app = TestApp::spawn().await;
    let sale = bought(&app, 1).await;
    let (ticket_id, code) = &sale.tickets[0];
    let front = gate(&app, "Front door", &[sale.event_id]).await;
    let side = gate(&app, "Side door", &[sale.event_id]).await;

    let first = scan(&app, &front.token, code, None).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(first.body["status"], "ok");
    assert_eq!(first.body["ticket_id"], ticket_id.as_str());
    assert_eq!(first.body["event_id"], sale.event_id);
    assert_eq!(first.body["seat"], "S1 / A / 1");
    assert!(!first.body["message"].as_str().unwrap().is_empty());
    assert_eq!(ticket_status(&app, ticket_id).await, "used");

    let second = scan(&app, &side.token, code, None).await;
    assert_eq!(
        second.body["status"], "already_redeemed",
        "{:?}",
        second.body
    );
    assert_eq!(second.body["ticket_id"], ticket_id.as_str());
    assert_eq!(second.body["gate"], front.label.as_str());
    assert_eq!(
        second.body["first_checkin_at"],
        first.body["first_checkin_at"]
    );
    assert!(
        second.body["first_checkin_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(
        app.count("SELECT count(*) FROM orders.checkins").await,
        1,
        "one admission"
    );
    assert_eq!(app.count("SELECT count(*) FROM orders.scans").await, 2);

    let cancel = app.cancel_order(&sale.buyer, &sale.order_id).await;
    assert_eq!(cancel.status, StatusCode::CONFLICT, "{:?}", cancel.body);
    assert_eq!(cancel.error_code(), "order_not_cancellable");
}

#[tokio::test]
async fn codes_that_are_not_ours_are_invalid() {
    let app = TestApp::spawn().await;
    let sale = bought(&app, 1).await;
    let (ticket_id, code) = &sale.tickets[0];
    let door = gate(&app, "Door", &[sale.event_id]).await;
    let claims = app.ticket_verifier().verify(code).unwrap();

    let forger = TicketSigner::from_pem(&Ed25519KeyPair::generate().to_pem()).unwrap();
    let forged = forger.sign(&claims).unwrap();
    let no_such_ticket = app
        .orders
        .signer
        .sign(&TicketClaims {
            ticket_id: uuid::Uuid::new_v4().to_string(),
            ..claims.clone()
        })
        .unwrap();
    let not_an_id = app
        .orders
        .signer
        .sign(&TicketClaims {
            ticket_id: "seat-1".into(),
            ..claims
        })
        .unwrap();
    let mut tampered = code.clone();
    tampered.insert(tampered.len() / 2, 'x');
    let huge = format!("{code}{}", "A".repeat(2000));
    for (name, bad) in [
        ("garbage", "not-a-code"),
        ("empty", ""),
        ("another key", forged.as_str()),
        ("a ticket that does not exist", no_such_ticket.as_str()),
        ("a ticket id that is no id", not_an_id.as_str()),
        ("tampered", tampered.as_str()),
        ("far too long", huge.as_str()),
    ] {
        let answer = scan(&app, &door.token, bad, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{name}: {:?}", answer.body);
        assert_eq!(
            answer.body["status"], "invalid",
            "{name}: {:?}",
            answer.body
        );
        assert!(answer.body.get("ticket_id").is_none(), "{name}");
    }
    assert_eq!(ticket_status(&app, ticket_id).await, "valid");
    assert_eq!(
        scan(&app, &door.token, code, None).await.body["status"],
        "ok"
    );
}

#[tokio::test]
async fn tickets_of_cancelled_orders_are_void() {
    let app = TestApp::spawn().await;
    let sale = bought(&app, 2).await;
    let door = gate(&app, "Door", &[sale.event_id]).await;
    let cancel = app.cancel_order(&sale.buyer, &sale.order_id).await;
    assert_eq!(cancel.status, StatusCode::OK, "{:?}", cancel.body);

    let answer = scan(&app, &door.token, &sale.tickets[1].1, None).await;
    assert_eq!(answer.body["status"], "void", "{:?}", answer.body);
    assert_eq!(answer.body["ticket_id"], sale.tickets[1].0.as_str());
    assert_eq!(ticket_status(&app, &sale.tickets[1].0).await, "void");
    assert_eq!(app.count("SELECT count(*) FROM orders.checkins").await, 0);
}

#[tokio::test]
async fn gates_scan_only_their_events_and_others_are_refused() {
    let app = TestApp::spawn().await;
    let here = bought(&app, 1).await;
    let elsewhere = bought(&app, 1).await;
    let door = gate(&app, "Door", &[elsewhere.event_id]).await;
    let code = &here.tickets[0].1;

    let wrong = scan(&app, &door.token, code, None).await;
    assert_eq!(wrong.body["status"], "wrong_event", "{:?}", wrong.body);
    assert!(
        wrong.body.get("seat").is_none(),
        "nothing of another event shows"
    );
    assert_eq!(ticket_status(&app, &here.tickets[0].0).await, "valid");
    let denied = gate_bundle(&app, &door.token, here.event_id).await;
    assert_eq!(denied.status, StatusCode::NOT_FOUND, "{:?}", denied.body);
    let missing = gate_bundle(&app, &door.token, 999_999).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let listed = app
        .call(
            Service::Checkins,
            request(Method::GET, "/api/checkins/events", Some(&door.token), None),
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    let events = listed.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["id"], elsewhere.event_id);
    for field in ["title", "venue", "city", "starts_at"] {
        assert!(events[0][field].is_string(), "{field}");
    }

    // A customer may do none of it; nor may anyone without a token.
    let buyer = &here.buyer.token;
    let path = format!("/api/events/{}/gate-bundle", here.event_id);
    let batch = json!({"scans": [{"code": code, "scanned_at": "2026-11-30T20:00:00Z"}]});
    app.assert_refused(
        Service::Checkins,
        vec![
            (
                "customer scans",
                request(
                    Method::POST,
                    "/api/checkins",
                    Some(buyer),
                    Some(json!({"code": code})),
                ),
                StatusCode::FORBIDDEN,
            ),
            (
                "customer uploads",
                request(
                    Method::POST,
                    "/api/checkins/batch",
                    Some(buyer),
                    Some(batch.clone()),
                ),
                StatusCode::FORBIDDEN,
            ),
            (
                "customer lists",
                request(Method::GET, "/api/checkins/events", Some(buyer), None),
                StatusCode::FORBIDDEN,
            ),
            (
                "customer reads the bundle",
                request(Method::GET, &path, Some(buyer), None),
                StatusCode::FORBIDDEN,
            ),
            (
                "no token",
                request(
                    Method::POST,
                    "/api/checkins",
                    None,
                    Some(json!({"code": code})),
                ),
                StatusCode::UNAUTHORIZED,
            ),
            (
                "wrong method",
                request(Method::GET, "/api/checkins", Some(&door.token), None),
                StatusCode::METHOD_NOT_ALLOWED,
            ),
            (
                "unknown path",
                request(Method::GET, "/api/checkins/nope", Some(&door.token), None),
                StatusCode::NOT_FOUND,
            ),
            (
                "bad event id",
                request(
                    Method::GET,
                    "/api/events/x/gate-bundle",
                    Some(&door.token),
                    None,
                ),
                StatusCode::NOT_FOUND,
            ),
            (
                "no code",
                request(
                    Method::POST,
                    "/api/checkins",
                    Some(&door.token),
                    Some(json!({})),
                ),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                "malformed JSON",
                raw_request(Method::POST, "/api/checkins", Some(&door.token), "{"),
                StatusCode::BAD_REQUEST,
            ),
        ],
    )
    .await;
    assert_eq!(ticket_status(&app, &here.tickets[0].0).await, "valid");

    // The event's own organizer reads its bundle; another organizer gets 404.
    let owner = app.customer().await;
    sqlx::query("UPDATE catalog.events SET organizer_id = $1::uuid WHERE id = $2")
        .bind(&owner.id)
        .bind(here.event_id)
        .execute(app.pool())
        .await
        .unwrap();
    let as_organizer = |id: &str| app.auth.issuer.issue(id, Role::Organizer).unwrap();
    let read = gate_bundle(&app, &as_organizer(&owner.id), here.event_id).await;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
    let stranger = app.customer().await;
    let other = gate_bundle(&app, &as_organizer(&stranger.id), here.event_id).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_retried_scan_gets_the_identical_answer() {
    let app = TestApp::spawn().await;
    let sale = bought(&app, 2).await;
    let door = gate(&app, "Door", &[sale.event_id]).await;
    let code = &sale.tickets[0].1;

    let first = scan(&app, &door.token, code, Some("scan-1")).await;
    assert_eq!(first.body["status"], "ok", "{:?}", first.body);
    let retried = scan(&app, &door.token, code, Some("scan-1")).await;
    assert_eq!(retried.status, StatusCode::OK);
    assert_eq!(
        retried.body, first.body,
        "the same answer, not already_redeemed"
    );
    let fresh = scan(&app, &door.token, code, Some("scan-2")).await;
    assert_eq!(fresh.body["status"], "already_redeemed");
    let again = scan(&app, &door.token, code, Some("scan-2")).await;
    assert_eq!(again.body, fresh.body);

    // Another gate's nonces are its own.
    let side = gate(&app, "Side", &[sale.event_id]).await;
    let theirs = scan(&app, &side.token, code, Some("scan-1")).await;
    assert_eq!(theirs.body["status"], "already_redeemed");

    let reused = scan(&app, &door.token, &sale.tickets[1].1, Some("scan-1")).await;
    assert_eq!(
        reused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        reused.body
    );
    assert_eq!(reused.error_code(), "nonce_reused");
    assert_eq!(ticket_status(&app, &sale.tickets[1].0).await, "valid");
    for bad in ["", "has space", &"n".repeat(129)] {
        let refused = scan(&app, &door.token, code, Some(bad)).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM orders.scans").await,
        3,
        "retries are not scans"
    );
}

#[tokio::test]
async fn the_bundle_lists_keys_that_verify_codes_and_the_tickets_to_refuse() {
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 1, 3).await;
    let sale = bought_in(&app, fixture.event_id, &fixture.seat_ids[..2]).await;
    let cancelled = bought_in(&app, fixture.event_id, &fixture.seat_ids[2..]).await;
    let cancel = app
        .cancel_order(&cancelled.buyer, &cancelled.order_id)
        .await;
    assert_eq!(cancel.status, StatusCode::OK, "{:?}", cancel.body);
    let door = gate(&app, "Door", &[sale.event_id]).await;
    assert_eq!(
        scan(&app, &door.token, &sale.tickets[0].1, None).await.body["status"],
        "ok"
    );

    let bundle = gate_bundle(&app, &door.token, sale.event_id).await;
    assert_eq!(bundle.status, StatusCode::OK, "{:?}", bundle.body);
    assert_eq!(bundle.body["event_id"], sale.event_id);
    assert_eq!(bundle.body["issuer"], "ticketbuster-tickets");
    assert!(bundle.body["generated_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(bundle.body["void"], json!([cancelled.tickets[0].0]));
    assert_eq!(bundle.body["checked_in"], json!([sale.tickets[0].0]));
    let keys = bundle.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(
        (keys[0]["kty"].as_str(), keys[0]["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    assert!(!keys[0]["kid"].as_str().unwrap().is_empty());

    // The key alone verifies a code, as a scanner offline would.
    let raw = Base64UrlSafeNoPadding::decode_to_vec(keys[0]["x"].as_str().unwrap(), None).unwrap();
    assert_eq!(raw.len(), 32);
    let pem = Ed25519PublicKey::from_bytes(&raw).unwrap().to_pem();
    let claims = TicketVerifier::from_pem(&pem)
        .unwrap()
        .verify(&sale.tickets[1].1)
        .unwrap();
    assert_eq!(claims.ticket_id, sale.tickets[1].0);
    assert_eq!(claims.event_id, sale.event_id);
}

#[tokio::test]
async fn offline_uploads_admit_the_earliest_scan_and_report_double_entries() {
    let app = TestApp::spawn().await;
    let sale = bought(&app, 3).await;
    let north = gate(&app, "North", &[sale.event_id]).await;
    let south = gate(&app, "South", &[sale.event_id]).await;
    let [(one, one_code), (two, two_code), (three, three_code)] =
        <[_; 3]>::try_from(sale.tickets).unwrap();

    // North's upload, sent in any order: ticket three was scanned twice there.
    let uploaded = upload(
        &app,
        &north.token,
        json!([
            {"code": one_code, "scanned_at": "2026-11-30T20:00:05Z", "nonce": "n-1"},
            {"code": three_code, "scanned_at": "2026-11-30T20:00:20Z"},
            {"code": "garbage", "scanned_at": "2026-11-30T20:00:06Z", "nonce": "n-2"},
            {"code": three_code, "scanned_at": "2026-11-30T20:00:10Z"},
        ]),
    )
    .await;
    assert_eq!(uploaded.status, StatusCode::OK, "{:?}", uploaded.body);
    let results = uploaded.body["results"].as_array().unwrap();
    let summary: Vec<_> = results
        .iter()
        .map(|r| {
            (
                r["status"].as_str().unwrap(),
                r["double_entry"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("ok", false),
            ("already_redeemed", true),
            ("invalid", false),
            ("ok", false)
        ]
    );
    assert_eq!(results[0]["nonce"], "n-1");
    assert_eq!(results[0]["ticket_id"], one.as_str());
    assert_eq!(results[2]["nonce"], "n-2");
    assert_eq!(results[1]["first_checkin_at"], "2026-11-30T20:00:10Z");
    assert!(results.iter().all(|r| r["message"].is_string()));

    // South scanned ticket one later, offline: a double entry, North admitted it.
    let later = upload(
        &app,
        &south.token,
        json!([{"code": one_code, "scanned_at": "2026-11-30T20:01:00Z", "nonce": "s-1"}]),
    )
    .await;
    let result = &later.body["results"][0];
    assert_eq!(
        (result["status"].as_str(), result["double_entry"].as_bool()),
        (Some("already_redeemed"), Some(true)),
        "{result:?}"
    );
    assert_eq!(result["first_checkin_at"], "2026-11-30T20:00:05Z");
    assert_eq!(result["gate"], north.label.as_str());

    // South scanned ticket two offline before North admitted it online: the earlier scan
    // is the admission, and both are reported.
    assert_eq!(
        scan(&app, &north.token, &two_code, None).await.body["status"],
        "ok"
    );
    let earlier = upload(
        &app,
        &south.token,
        json!([{"code": two_code, "scanned_at": "2026-11-30T19:59:00Z"}]),
    )
    .await;
    let result = &earlier.body["results"][0];
    assert_eq!(
        (result["status"].as_str(), result["double_entry"].as_bool()),
        (Some("ok"), Some(true)),
        "{result:?}"
    );
    assert_eq!(result["gate"], south.label.as_str());
    let online = scan(&app, &north.token, &two_code, None).await;
    assert_eq!(online.body["status"], "already_redeemed");
    assert_eq!(online.body["first_checkin_at"], "2026-11-30T19:59:00Z");

    // A retried upload gets the same answers where it sent nonces.
    let retried = upload(
        &app,
        &south.token,
        json!([{"code": one_code, "scanned_at": "2026-11-30T20:01:00Z", "nonce": "s-1"}]),
    )
    .await;
    assert_eq!(retried.body, later.body);
    assert_eq!(app.count("SELECT count(*) FROM orders.checkins").await, 3);
    for ticket in [&one, &two, &three] {
        assert_eq!(ticket_status(&app, ticket).await, "used");
    }
}

#[tokio::test]
async fn uploads_are_limited_and_checked_whole() {
    let app = TestApp::spawn().await;
    let sale = bought(&app, 1).await;
    let door = gate(&app, "Door", &[sale.event_id]).await;
    let code = &sale.tickets[0].1;
    let scan_at = |at: &str| json!({"code": code, "scanned_at": at});

    let too_many = vec![scan_at("2026-11-30T20:00:00Z"); 501];
    let answer = upload(&app, &door.token, json!(too_many)).await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        answer.body
    );
    let bad_time = json!([scan_at("2026-11-30T20:00:00Z"), scan_at("yesterday")]);
    let answer = upload(&app, &door.token, bad_time).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.body["path"], "scans[1].scanned_at");
    let huge = json!({"scans": [], "pad": "x".repeat(checkins::MAX_BATCH_BODY_BYTES)});
    let answer = app
        .call(
            Service::Checkins,
            request(
                Method::POST,
                "/api/checkins/batch",
                Some(&door.token),
                Some(huge),
            ),
        )
        .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        ticket_status(&app, &sale.tickets[0].0).await,
        "valid",
        "nothing checked in"
    );

    // A full upload of 500 fits the limits; a time ahead of the server's counts as now.
    let mut full = vec![scan_at("2026-11-30T20:00:00Z"); 499];
    full.push(scan_at("2999-01-01T00:00:00Z"));
    let answer = upload(&app, &door.token, json!(full)).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    let results = answer.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 500);
    assert_eq!(results[0]["status"], "ok");
    assert_eq!(results[499]["status"], "already_redeemed");
    let empty = upload(&app, &door.token, json!([])).await;
    assert_eq!(empty.body, json!({"results": []}));
}

#[tokio::test]
async fn codes_of_the_previous_key_are_accepted_during_a_rotation() {
    let app = TestApp::spawn().await;
    let sale = bought(&app, 2).await;
    let door = gate(&app, "Door", &[sale.event_id]).await;
    let old_public = app.ticket_verifier().public_key_pem();
    let new_signer = TicketSigner::from_pem(&Ed25519KeyPair::generate().to_pem()).unwrap();
    let settings = |previous: Option<&str>| CheckinSettings {
        authenticator: app.authenticator(),
        tickets: new_signer.verifier().with_previous(previous).unwrap(),
    };
    let scan_with = async |settings: &CheckinSettings, code: &str| {
        let req = request(
            Method::POST,
            "/api/checkins",
            Some(&door.token),
            Some(json!({ "code": code })),
        );
        Answer::from(checkins::handle(&app.backend, settings, req).await)
    };

    let after_rotation = settings(None);
    let old_code = &sale.tickets[0].1;
    assert_eq!(
        scan_with(&after_rotation, old_code).await.body["status"],
        "invalid",
        "without the previous key an old code is not ours"
    );

    let rotating = settings(Some(&old_public));
    assert_eq!(scan_with(&rotating, old_code).await.body["status"], "ok");
    let claims = app.ticket_verifier().verify(&sale.tickets[1].1).unwrap();
    let new_code = new_signer.sign(&claims).unwrap();
    assert_eq!(scan_with(&rotating, &new_code).await.body["status"], "ok");

    let bundle = Answer::from(
        checkins::handle(
            &app.backend,
            &rotating,
            request(
                Method::GET,
                &format!("/api/events/{}/gate-bundle", sale.event_id),
                Some(&door.token),
                None,
            ),
        )
        .await,
    );
    let kids: Vec<_> = bundle.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kids.len(), 2, "the new key and the previous one");
    assert_ne!(kids[0], kids[1]);
}

#[tokio::test]
async fn two_gates_scanning_one_ticket_at_once_admit_it_exactly_once() {
    const TICKETS: i32 = 4;
    const SCANS_PER_TICKET: usize = 16;
    let app = TestApp::spawn().await;
    let sale = bought(&app, TICKETS).await;
    let gates = [
        gate(&app, "East", &[sale.event_id]).await,
        gate(&app, "West", &[sale.event_id]).await,
    ];
    for (ticket_id, code) in &sale.tickets {
        let answers = join_all((0..SCANS_PER_TICKET).map(|i| {
            let gate = &gates[i % gates.len()];
            scan(&app, &gate.token, code, None)
        }))
        .await;
        let admitted: Vec<_> = answers
            .iter()
            .filter(|a| a.body["status"] == "ok")
            .collect();
        assert_eq!(
            admitted.len(),
            1,
            "{:?}",
            answers.iter().map(|a| &a.body).collect::<Vec<_>>()
        );
        let winner = admitted[0].body["first_checkin_at"].clone();
        for answer in answers.iter().filter(|a| a.body["status"] != "ok") {
            assert_eq!(
                answer.body["status"], "already_redeemed",
                "{:?}",
                answer.body
            );
            assert_eq!(answer.body["first_checkin_at"], winner);
        }
        let admissions: i64 =
            sqlx::query_scalar("SELECT count(*) FROM orders.checkins WHERE ticket_id = $1::uuid")
                .bind(ticket_id)
                .fetch_one(app.pool())
                .await
                .unwrap();
        assert_eq!(admissions, 1);
    }
    let gate_ids: Vec<_> = gates.iter().map(|g| g.id.clone()).collect();
    let scanned_by: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT gate_user_id) FROM orders.scans WHERE gate_user_id::text = ANY($1)",
    )
    .bind(&gate_ids)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(scanned_by, 2, "both gates scanned");
}

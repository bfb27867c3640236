//! End-to-end suite against the real app under `spin up`. Every test needs a running app,
//! so every test is `#[ignore]`d: a plain `cargo test` reports them as ignored, never as
//! passed, and scripts/e2e.sh, which starts spin and sets TICKETBUSTER_URL and the other
//! `E2E_*` variables, runs them with `--ignored`.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

/// Every seat of a seat map, section by section and row by row.
fn seats_of(map: &Value) -> impl Iterator<Item = &Value> {
    map["sections"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["rows"].as_array().into_iter().flatten())
        .flat_map(|r| r["seats"].as_array().into_iter().flatten())
}

struct Client {
    base: String,
    http: reqwest::Client,
}

/// A setting scripts/e2e.sh gives the suite; a run without it fails rather than passes.
fn setting(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("scripts/e2e.sh sets {name}"))
}

/// The database `spin up` serves from, for what only an operator does (granting roles).
async fn e2e_database() -> sqlx::PgPool {
    sqlx::PgPool::connect(&setting("E2E_DATABASE_URL"))
        .await
        .expect("the e2e database")
}

impl Client {
    /// The app at TICKETBUSTER_URL, once its health check answers.
    async fn connect() -> Self {
        let client = Self {
            base: setting("TICKETBUSTER_URL"),
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match client.http.get(client.url("/api/health")).send().await {
                Ok(r) if r.status() == StatusCode::OK => return client,
                _ if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                other => panic!("the app never became healthy: {other:?}"),
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let response = req.send().await.expect("request reaches spin");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, headers, body)
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.http.get(self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let (status, _, body) = self.send(req).await;
        (status, body)
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut req = self.http.post(self.url(path)).json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let (status, _, body) = self.send(req).await;
        (status, body)
    }

    async fn delete(&self, path: &str, token: &str) -> StatusCode {
        self.send(self.http.delete(self.url(path)).bearer_auth(token))
            .await
            .0
    }

    async fn register(&self, name: &str) -> (String, Value) {
        let email = format!("{name}-{}@example.com", uuid::Uuid::new_v4().simple());
        let (status, body) = self
            .post(
                "/api/auth/register",
                None,
                json!({"email": email, "password": "correct horse battery", "name": name}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (body["access_token"].as_str().unwrap().to_owned(), body)
    }

    /// Signs in with the password `register` gives, and answers the whole login (tokens
    /// and user), which must succeed.
    async fn sign_in(&self, email: &str) -> Value {
        let (status, login) = self
            .post(
                "/api/auth/login",
                None,
                json!({"email": email, "password": "correct horse battery"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{login}");
        login
    }

    /// The order at `status_url` once it completed (within 10 seconds).
    async fn completed(&self, status_url: &str, token: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, order) = self.get(status_url, Some(token)).await;
            if order["status"] == "COMPLETED" {
                return order;
            }
            assert!(
                Instant::now() < deadline,
                "the order never completed: {order}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Holds `seats` of `event`, orders them and waits for the order to complete; the
    /// completed order and its status URL.
    async fn buy(&self, token: &str, event: i64, seats: &[Value]) -> (Value, String) {
        let (status, held) = self
            .post(
                &format!("/api/events/{event}/holds"),
                Some(token),
                json!({ "seat_ids": seats }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{held}");
        let (status, _, placed) = self
            .send(
                self.http
                    .post(self.url("/api/orders"))
                    .bearer_auth(token)
                    .header("idempotency-key", format!("buy-{}", held["hold_id"]))
                    .json(&json!({"hold_id": held["hold_id"]})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{placed}");
        let status_url = placed["status_url"].as_str().unwrap().to_owned();
        (self.completed(&status_url, token).await, status_url)
    }

    async fn stadium(&self) -> (i64, Vec<i64>) {
        let (_, list) = self.get("/api/events?q=Stadium%20Tour", None).await;
        let id = list["items"][0]["id"]
            .as_i64()
            .expect("the seeded stadium event");
        let (_, map) = self.get(&format!("/api/events/{id}/seats"), None).await;
        let free = seats_of(&map)
            .filter(|s| s["status"] == "available")
            .map(|s| s["id"].as_i64().unwrap())
            .collect();
        (id, free)
    }
}

#[tokio::test]
#[ignore = "needs spin up: scripts/e2e.sh runs it"]
async fn accounts_through_spin() {
    let app = Client::connect().await;
    let (token, registered) = app.register("ana").await;
    let email = registered["user"]["email"].as_str().unwrap().to_owned();
    let (status, me) = app.get("/api/auth/me", Some(&token)).await;
    assert_eq!((status, &me["email"]), (StatusCode::OK, &json!(email)));

    let (status, again) = app
        .post(
            "/api/auth/register",
            None,
            json!({"email": email, "password": "correct horse battery", "name": "x"}),
        )
        .await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("email_taken"))
    );

    let login = app.sign_in(&email).await;
    let refresh = login["refresh_token"].as_str().unwrap();
    let (status, rotated) = app
        .post("/api/auth/refresh", None, json!({"refresh_token": refresh}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post("/api/auth/refresh", None, json!({"refresh_token": refresh}))
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a used refresh token is refused"
    );
    let (status, _) = app
        .post(
            "/api/auth/logout",
            Some(rotated["access_token"].as_str().unwrap()),
            json!({"refresh_token": rotated["refresh_token"]}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, wrong) = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": email, "password": "wrong password!"}),
        )
        .await;
    assert_eq!(
        (status, wrong["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let (status, _) = app
        .post(
            "/api/auth/register",
            None,
            json!({"email": "a@b.co", "password": "short", "name": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.get("/api/auth/me", Some("forged.token.here")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
#[ignore = "needs spin up: scripts/e2e.sh runs it"]
async fn catalog_through_spin() {
    let app = Client::connect().await;
    let (status, list) = app.get("/api/events?page_size=100", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(list["total"].as_i64().unwrap() >= 24);
    let (_, concerts) = app
        .get("/api/events?category=concert&sort=-price", None)
        .await;
    assert!(
        concerts["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["category"] == "concert")
    );
    let (id, free) = app.stadium().await;
    assert!(free.len() >= 5_000);
    let (status, detail) = app.get(&format!("/api/events/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["total_seats"], 6000);

    let (status, headers, _) = app
        .send(app.http.get(app.url(&format!("/api/events/{id}"))))
        .await;
    assert_eq!(status, StatusCode::OK);
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let (status, _, _) = app
        .send(
            app.http
                .get(app.url(&format!("/api/events/{id}")))
                .header("if-none-match", etag),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let (status, body) = app.get("/api/events/999999", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, _) = app.get("/api/events?sort=sideways", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
#[ignore = "needs spin up: scripts/e2e.sh runs it"]
async fn holds_through_spin() {
    let app = Client::connect().await;
    let (ana, _) = app.register("ana").await;
    let (bob, _) = app.register("bob").await;
    let (event, free) = app.stadium().await;
    let seats = &free[..2];
    let holds = format!("/api/events/{event}/holds");

    let (status, held) = app
        .post(&holds, Some(&ana), json!({"seat_ids": seats}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    let hold_id = held["hold_id"].as_str().unwrap().to_owned();
    let status_of = |map: &Value, id: i64| {
        seats_of(map)
            .find(|s| s["id"] == id)
            .map(|s| s["status"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let held_at = Instant::now();
    loop {
        let (_, map) = app.get(&format!("/api/events/{event}/seats"), None).await;
        if status_of(&map, seats[0]) == "held" {
            break;
        }
        assert!(
            held_at.elapsed() < Duration::from_secs(2),
            "a held seat showed as available for more than 2 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (status, refused) = app
        .post(&holds, Some(&bob), json!({"seat_ids": [seats[1], free[2]]}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(refused["unavailable_seat_ids"], json!([seats[1]]));
    let (_, mine) = app.get("/api/holds", Some(&ana)).await;
    assert_eq!(mine["items"][0]["hold_id"], hold_id.as_str());
    assert_eq!(
        app.delete(&format!("/api/holds/{hold_id}"), &bob).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&format!("/api/holds/{hold_id}"), &ana).await,
        StatusCode::NO_CONTENT
    );
    let (status, _) = app
        .post(&holds, Some(&bob), json!({"seat_ids": seats}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "released seats are free again");

    // Expiry: the suite runs spin with a short hold TTL (E2E_HOLD_TTL_SECONDS).
    let ttl: u64 = setting("E2E_HOLD_TTL_SECONDS")
        .parse()
        .expect("E2E_HOLD_TTL_SECONDS in seconds");
    assert!(ttl <= 10, "a hold TTL short enough to wait for: {ttl} s");
    let (status, _) = app
        .post(&holds, Some(&ana), json!({"seat_ids": [free[3]]}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    tokio::time::sleep(Duration::from_millis(ttl * 1000 + 200)).await;
    let (status, body) = app
        .post(&holds, Some(&bob), json!({"seat_ids": [free[3]]}))
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "an expired hold frees its seat: {body}"
    );

    let big = format!("{{\"seat_ids\": [{}1]}}", "1,".repeat(40_000));
    let (status, _, body) = app
        .send(
            app.http
                .post(app.url(&holds))
                .bearer_auth(&ana)
                .header("content-type", "application/json")
                .body(big),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let bad = [
        (json!({"seat_ids": []}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"seat_ids": free[10..19]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"seat_ids": [free[20], free[20]]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json!({"seat_ids": "all"}), StatusCode::UNPROCESSABLE_ENTITY),
    ];
    for (body, expected) in bad {
        let (status, answer) = app.post(&holds, Some(&ana), body.clone()).await;
        assert_eq!(status, expected, "{body} -> {answer}");
        assert!(answer["error"]["message"].is_string());
    }
    let (status, _, _) = app
        .send(
            app.http
                .post(app.url(&holds))
                .bearer_auth(&ana)
                .header("content-type", "application/json")
                .body("{\"seat_ids\":"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .post(&holds, None, json!({"seat_ids": [free[30]]}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
#[ignore = "needs spin up: scripts/e2e.sh runs it"]
async fn an_order_through_spin_completes_and_its_ticket_qr_verifies() {
    let app = Client::connect().await;
    let (eva, _) = app.register("eva").await;
    let (event, free) = app.stadium().await;
    let seats = &free[free.len() - 2..];
    let (status, held) = app
        .post(
            &format!("/api/events/{event}/holds"),
            Some(&eva),
            json!({"seat_ids": seats}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{held}");

    let place = || {
        app.http
            .post(app.url("/api/orders"))
            .bearer_auth(&eva)
            .header("idempotency-key", "e2e-purchase")
            .json(&json!({"hold_id": held["hold_id"]}))
    };
    let (status, _, placed) = app.send(place()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{placed}");
    let (status, _, replayed) = app.send(place()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        replayed["order_id"], placed["order_id"],
        "a retry finds the same order"
    );

    let order = app
        .completed(placed["status_url"].as_str().unwrap(), &eva)
        .await;

    let (_, tickets) = app
        .get(order["tickets_url"].as_str().unwrap(), Some(&eva))
        .await;
    let items = tickets["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let png = app
        .http
        .get(app.url(items[0]["qr_png_url"].as_str().unwrap()))
        .bearer_auth(&eva)
        .send()
        .await
        .unwrap();
    assert_eq!(png.status(), StatusCode::OK);
    let code = ticketbuster_tests::decode_qr_png(&png.bytes().await.unwrap());
    let key = std::env::var("SPIN_VARIABLE_TICKET_SIGNING_KEY")
        .expect("scripts/e2e.sh exports the ticket signing key");
    let verifier = ticketbuster_domain::tickets::TicketSigner::from_pem(&key)
        .unwrap()
        .verifier();
    let claims = verifier
        .verify(&code)
        .expect("the QR holds a signed ticket code");
    assert_eq!(claims.ticket_id, items[0]["ticket_id"].as_str().unwrap());
    assert_eq!(claims.event_id, event);

    // The seat map is cached for a second: it must show the sale within two.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let (_, map) = app.get(&format!("/api/events/{event}/seats"), None).await;
        let sold = seats_of(&map)
            .filter(|s| seats.contains(&s["id"].as_i64().unwrap()) && s["status"] == "sold")
            .count();
        if sold == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the seat map shows the seats sold"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
#[ignore = "needs spin up: scripts/e2e.sh runs it"]
async fn limits_caps_and_headers_through_spin() {
    let app = Client::connect().await;
    let (token, account) = app.register("capped").await;

    // Every answer is hardened; token answers are not stored.
    let (_, headers, _) = app
        .send(
            app.http
                .post(app.url("/api/auth/refresh"))
                .json(&json!({"refresh_token": "x"})),
        )
        .await;
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "same-origin");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(headers.contains_key("ratelimit-remaining"), "{headers:?}");
    let (status, headers, _) = app
        .send(
            app.http
                .request(reqwest::Method::OPTIONS, app.url("/api/orders"))
                .header("origin", "https://elsewhere.example")
                .header("access-control-request-method", "POST"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "same-origin by default");
    assert!(!headers.contains_key("access-control-allow-origin"));

    // An account has at most 8 seats of an event (held, ordered and sold together).
    let (event, free) = app.stadium().await;
    let mine = &free[free.len() - 9..];
    let holds = format!("/api/events/{event}/holds");
    for seats in [&mine[..4], &mine[4..8]] {
        let (status, body) = app
            .post(&holds, Some(&token), json!({"seat_ids": seats}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, refused) = app
        .post(&holds, Some(&token), json!({"seat_ids": [mine[8]]}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "ticket_cap_reached");
    assert_eq!(refused["cap_limit"], 8);
    assert_eq!(refused["seats_allowed"], 0);

    // Failed logins: five per account and address, then 429 even for the right password.
    let email = account["user"]["email"].as_str().unwrap();
    let login = |password: &str| {
        app.http
            .post(app.url("/api/auth/login"))
            .json(&json!({"email": email, "password": password}))
    };
    for _ in 0..5 {
        assert_eq!(
            app.send(login("wrong password!")).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (status, headers, body) = app.send(login("correct horse battery")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(headers["ratelimit-remaining"], "0");

    // The pipeline as health reports it: spin's Redis trigger listens, where there is one
    // (the HTTP-only deployment settles orders after their answers instead).
    let (status, ready) = app.get("/api/health/ready", None).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    let http_only = std::env::var("E2E_DEPLOYMENT").is_ok_and(|d| d == "http-only");
    let listening = ready["orders"]["workers_listening"].as_i64();
    if http_only {
        assert_eq!(listening, Some(0), "{ready}");
    } else {
        assert!(listening >= Some(1), "{ready}");
    }
}

#[tokio::test]
#[ignore = "needs spin up: scripts/e2e.sh runs it"]
async fn a_ticket_checks_in_once_at_the_gate_through_spin() {
    let app = Client::connect().await;
    let db = e2e_database().await;
    let (buyer, _) = app.register("gina").await;
    let (event, free) = app.stadium().await;
    let (order, _) = app.buy(&buyer, event, &[json!(free[0])]).await;
    let (_, tickets) = app
        .get(order["tickets_url"].as_str().unwrap(), Some(&buyer))
        .await;
    let ticket = &tickets["items"][0];

    // A gate account of the event, named as an organizer would; its next sign-in says gate.
    let (_, gate) = app.register("gate").await;
    let email = gate["user"]["email"].as_str().unwrap();
    sqlx::query(
        "WITH gate AS (UPDATE auth.users SET role = 'gate' WHERE email = $1 RETURNING id)
         INSERT INTO catalog.gate_staff (event_id, user_id, added_by) SELECT $2, id, id FROM gate",
    )
    .bind(email)
    .bind(event)
    .execute(&db)
    .await
    .expect("name the gate staff");
    let login = app.sign_in(email).await;
    let gate = login["access_token"].as_str().unwrap();

    let (status, events) = app.get("/api/checkins/events", Some(gate)).await;
    assert_eq!(status, StatusCode::OK, "{events}");
    assert_eq!(events["events"][0]["id"], event);
    let scan = json!({"code": ticket["code"], "nonce": "e2e-1"});
    let (status, first) = app.post("/api/checkins", Some(gate), scan.clone()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["status"], "ok", "{first}");
    assert_eq!(first["ticket_id"], ticket["ticket_id"]);
    let (_, retried) = app.post("/api/checkins", Some(gate), scan).await;
    assert_eq!(
        retried, first,
        "a retry with the same nonce gets the same answer"
    );
    let (_, second) = app
        .post("/api/checkins", Some(gate), json!({"code": ticket["code"]}))
        .await;
    assert_eq!(second["status"], "already_redeemed", "{second}");
    assert!(second["first_checkin_at"].is_string(), "{second}");
    let (status, refused) = app
        .post(
            "/api/checkins",
            Some(&buyer),
            json!({"code": ticket["code"]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");

    let (status, bundle) = app
        .get(&format!("/api/events/{event}/gate-bundle"), Some(gate))
        .await;
    assert_eq!(status, StatusCode::OK, "{bundle}");
    assert_eq!(bundle["keys"][0]["crv"], "Ed25519");
    assert!(
        bundle["checked_in"]
            .as_array()
            .unwrap()
            .contains(&ticket["ticket_id"]),
        "{bundle}"
    );
}

#[tokio::test]
#[ignore = "needs spin up: scripts/e2e.sh runs it"]
async fn an_organizer_sells_an_event_of_their_own_through_spin() {
    let app = Client::connect().await;
    let db = e2e_database().await;
    let (customer_token, registered) = app.register("olga").await;
    let email = registered["user"]["email"].as_str().unwrap().to_owned();
    ticketbuster_db::grant_role(&db, &email, ticketbuster_db::GrantedRole::Organizer)
        .await
        .expect("grant the organizer role");
    let organizer = app.sign_in(&email).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = chrono::Utc::now();
    let at = |days: i64| (now + chrono::Duration::days(days)).to_rfc3339();
    let mut draft = json!({
        "title": "Spin Quartet", "category": "concert", "venue": "Loop Hall", "city": "Madrid",
        "starts_at": at(20), "sales_start": at(-1),
        "tiers": [{"name": "Hall", "price_cents": 3000}],
        "sections": [{"name": "Hall", "rows": [{"name": "A", "seats": 4, "tier": "Hall"}]}]
    });
    let (status, _) = app
        .post(
            "/api/organizer/events",
            Some(&customer_token),
            draft.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a customer's token");
    draft["sections"][0]["rows"][0]["tier"] = json!("Gold");
    let (status, refused) = app
        .post("/api/organizer/events", Some(&organizer), draft.clone())
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["path"], "sections[0].rows[0].tier");
    draft["sections"][0]["rows"][0]["tier"] = json!("Hall");
    let (status, created) = app
        .post("/api/organizer/events", Some(&organizer), draft)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let event = created["id"].as_i64().unwrap();
    let base = format!("/api/organizer/events/{event}");
    let (status, published) = app
        .post(&format!("{base}/publish"), Some(&organizer), json!({}))
        .await;
    assert_eq!(
        (status, &published["status"]),
        (StatusCode::OK, &json!("published"))
    );
    // Dates and text change through Spin's PostgreSQL client, which types parameters
    // more strictly than the native tests' client.
    let sales_end = at(19);
    let (status, _, changed) = app
        .send(
            app.http
                .patch(app.url(&base))
                .bearer_auth(&organizer)
                .json(&json!({"title": "Spin Quartet, late show", "sales_end": sales_end})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["title"], "Spin Quartet, late show");
    assert!(changed["sales_end"].is_string(), "{changed}");

    let (buyer, _) = app.register("bea").await;
    let (_, map) = app.get(&format!("/api/events/{event}/seats"), None).await;
    let seat = seats_of(&map).next().expect("a seat")["id"].clone();
    let (_, status_url) = app.buy(&buyer, event, &[seat]).await;

    let (status, sales) = app.get(&format!("{base}/sales"), Some(&organizer)).await;
    assert_eq!(status, StatusCode::OK, "{sales}");
    assert_eq!(
        sales["totals"],
        json!({"sold": 1, "held": 0, "available": 3})
    );
    assert_eq!(sales["revenue_cents"], 3000);
    let csv = app
        .http
        .get(app.url(&format!("{base}/attendees.csv")))
        .bearer_auth(&organizer)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains("Hall / A /"), "{csv}");

    let (_, staff) = app.register("gil").await;
    let (status, named) = app
        .post(
            &format!("{base}/gate-staff"),
            Some(&organizer),
            json!({"email": staff["user"]["email"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{named}");

    let (status, cancelled) = app
        .post(&format!("{base}/cancel"), Some(&organizer), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["cancelled_orders"], 1);
    let (_, order) = app.get(&status_url, Some(&buyer)).await;
    assert_eq!(order["status"], "CANCELLED", "{order}");
}

#[tokio::test]
#[ignore = "needs spin up: scripts/e2e.sh runs it"]
async fn an_external_issuers_tokens_work_through_spin() {
    use ticketbuster_tests::oidc::{ES256, OTHER_AUDIENCE, OidcProvider, RS256};
    let provider = OidcProvider::already_running(&setting("E2E_OIDC_PROVIDER"));
    let client = Client::connect().await;
    let mut accounts = Vec::new();
    for resource in [RS256, ES256] {
        let token = provider.token("bob", resource).await;
        let (status, me) = client.get("/api/auth/me", Some(&token)).await;
        assert_eq!(status, StatusCode::OK, "{resource}: {me}");
        assert_eq!(me["email"], "bob@example.com");
        accounts.push(me["id"].clone());
        let (status, orders) = client.get("/api/orders", Some(&token)).await;
        assert_eq!(status, StatusCode::OK, "{orders}");
    }
    assert_eq!(accounts[0], accounts[1], "one subject, one account");
    for refused in [
        provider.token("bob", OTHER_AUDIENCE).await,
        provider.impostor_token("bob", RS256).await,
    ] {
        let (status, body) = client.get("/api/auth/me", Some(&refused)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
}

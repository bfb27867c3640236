//! Test harness: each [`TestApp`] gets its own freshly migrated database on the real
//! PostgreSQL server and a private key prefix on the real Redis, and calls the services
//! exactly as the Spin components do.

pub mod oidc;

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use ticketbuster_domain::account::Role;
use ticketbuster_domain::holds::HoldPolicy;
use ticketbuster_domain::orders::PaymentProvider;
use ticketbuster_domain::tickets::{TicketSigner, TicketVerifier};
use ticketbuster_domain::token::TokenIssuer;
use ticketbuster_native_backend::NativeBackend;
use ticketbuster_services::auth::AuthSettings;
use ticketbuster_services::checkins::CheckinSettings;
use ticketbuster_services::holds::HoldSettings;
use ticketbuster_services::identity::{Authenticator, ExternalIssuer};
use ticketbuster_services::orders::{OrderSettings, QrRenderer, Settlement};
use ticketbuster_services::organizer::{self, OrganizerSettings};
use ticketbuster_services::rate_limit::{RateLimits, RateRules, TrustedProxies};
use ticketbuster_services::waiting_room::{self, WaitingRoomSettings};
use ticketbuster_services::worker::{self, RunReport, WorkerError, WorkerSettings};
use ticketbuster_services::{auth, catalog, checkins, health, holds, orders};

pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_SERVER_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub struct TestApp {
    pub backend: NativeBackend,
    pub auth: Arc<AuthSettings>,
    pub holds: Arc<HoldSettings>,
    pub orders: Arc<OrderSettings>,
    pub checkins: Arc<CheckinSettings>,
    pub organizer: Arc<OrganizerSettings>,
    pub waiting_room: Arc<WaitingRoomSettings>,
    pub db_name: String,
    /// The access-token secret, for a sidecar that must accept this app's tokens.
    pub jwt_secret: String,
}

/// The `qr` component's crate, called natively.
pub struct NativeQr;

impl QrRenderer for NativeQr {
    fn svg(&self, payload: &str) -> Result<String, String> {
        ticketbuster_qr_render::svg(payload).map_err(|e| e.to_string())
    }

    fn png(&self, payload: &str, module_pixels: u32) -> Result<Vec<u8>, String> {
        ticketbuster_qr_render::png(payload, module_pixels).map_err(|e| e.to_string())
    }
}

#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: Value,
}

impl From<http::Response<Vec<u8>>> for Answer {
    /// A service's answer with its JSON body decoded (`null` when empty).
    fn from(response: http::Response<Vec<u8>>) -> Self {
        let (parts, body) = response.into_parts();
        let body = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body)
                .unwrap_or_else(|e| panic!("response is not JSON ({e}): {body:?}"))
        };
        Self {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }
}

impl Answer {
    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Service {
    Auth,
    Catalog,
    Holds,
    Orders,
    Health,
    Checkins,
    Organizer,
    WaitingRoom,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(HoldPolicy::default(), 20).await
    }

    /// A new database `tb_test_<random>`, migrated, with no seed data; no rate limits.
    pub async fn spawn_with(policy: HoldPolicy, max_connections: u32) -> Self {
        Self::spawn_limited(policy, max_connections, RateRules::default()).await
    }

    /// As [`TestApp::spawn_with`], with rate limits.
    pub async fn spawn_limited(policy: HoldPolicy, max_connections: u32, rules: RateRules) -> Self {
        let db_name = format!("tb_test_{}", uuid::Uuid::new_v4().simple());
        ticketbuster_db::create_database(&server_url(), &db_name)
            .await
            .expect("create the test database");
        let url = format!("{}/{db_name}", server_url());
        let backend =
            NativeBackend::connect(&url, &redis_url(), max_connections, &format!("{db_name}:"))
                .await
                .expect("connect to PostgreSQL and Redis");
        ticketbuster_db::migrate(&backend.pool)
            .await
            .expect("migrate");
        let jwt_secret = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let issuer = TokenIssuer::from_secret(&jwt_secret).expect("a long enough secret");
        let limits = || RateLimits::new(rules, TrustedProxies::default());
        let auth = AuthSettings::new(issuer, limits());
        let authenticator = || Authenticator::local(auth.issuer.verifier());
        let holds = HoldSettings {
            authenticator: authenticator(),
            policy,
            limits: limits(),
        };
        let signing_key = jwt_simple::prelude::Ed25519KeyPair::generate().to_pem();
        let orders = OrderSettings {
            authenticator: authenticator(),
            signer: TicketSigner::from_pem(&signing_key).expect("a ticket signing key"),
            limits: limits(),
            settlement: Settlement::Worker,
        };
        let organizer = OrganizerSettings {
            authenticator: authenticator(),
            limits: limits(),
        };
        let waiting_room = WaitingRoomSettings {
            authenticator: authenticator(),
            issuer: TokenIssuer::from_secret(&jwt_secret).expect("a long enough secret"),
            limits: limits(),
        };
        let checkins = CheckinSettings {
            authenticator: authenticator(),
            tickets: orders.signer.verifier(),
        };
        Self {
            backend,
            auth: Arc::new(auth),
            holds: Arc::new(holds),
            orders: Arc::new(orders),
            checkins: Arc::new(checkins),
            organizer: Arc::new(organizer),
            waiting_room: Arc::new(waiting_room),
            db_name,
            jwt_secret,
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.backend.pool
    }

    /// An authenticator of this app's own access tokens, for settings a test makes.
    pub fn authenticator(&self) -> Authenticator {
        Authenticator::local(self.auth.issuer.verifier())
    }

    /// Accepts `issuer`'s access tokens in every service too, beside this app's own.
    pub fn trust_issuer(&mut self, issuer: &ExternalIssuer) {
        let unshared = "the settings are not shared yet";
        let auth = Arc::get_mut(&mut self.auth).expect(unshared);
        auth.authenticator.trust(issuer.clone());
        let holds = Arc::get_mut(&mut self.holds).expect(unshared);
        holds.authenticator.trust(issuer.clone());
        let orders = Arc::get_mut(&mut self.orders).expect(unshared);
        orders.authenticator.trust(issuer.clone());
        let checkins = Arc::get_mut(&mut self.checkins).expect(unshared);
        checkins.authenticator.trust(issuer.clone());
        let organizer = Arc::get_mut(&mut self.organizer).expect(unshared);
        organizer.authenticator.trust(issuer.clone());
    }

    /// Another backend on this app's database, as a second instance or replica would
    /// have, with Redis at `redis_url`.
    pub async fn another_backend(&self, redis_url: &str) -> NativeBackend {
        NativeBackend::connect(
            &format!("{}/{}", server_url(), self.db_name),
            redis_url,
            5,
            &format!("{}:", self.db_name),
        )
        .await
        .expect("connect to PostgreSQL and Redis")
    }

    /// The answer as the service gave it, body undecoded (e.g. an image).
    pub async fn call_raw(
        &self,
        service: Service,
        req: http::Request<Bytes>,
    ) -> http::Response<Vec<u8>> {
        match service {
            Service::Auth => auth::handle(&self.backend, &self.auth, req).await,
            Service::Catalog => catalog::handle(&self.backend, req).await,
            Service::Holds => holds::handle(&self.backend, &self.holds, req).await,
            Service::Orders => orders::handle(&self.backend, &self.orders, &NativeQr, req).await,
            Service::Health => health::handle(&self.backend, self.orders.settlement, req).await,
            Service::Checkins => checkins::handle(&self.backend, &self.checkins, req).await,
            Service::WaitingRoom => {
                waiting_room::handle(&self.backend, &self.waiting_room, req).await
            }
            Service::Organizer => {
                let mut response = organizer::handle(&self.backend, &self.organizer, req).await;
                // A streamed export, collected as Spin would send it.
                if let Some(export) = response.extensions_mut().remove() {
                    let mut body = Vec::new();
                    organizer::write_attendees(&self.backend, &export, &mut body)
                        .await
                        .expect("the export is written");
                    *response.body_mut() = body;
                }
                response
            }
        }
    }

    pub async fn call(&self, service: Service, req: http::Request<Bytes>) -> Answer {
        Answer::from(self.call_raw(service, req).await)
    }

    /// Registers through the auth service and returns its answer.
    pub async fn register(&self, email: &str) -> Answer {
        self.call(
            Service::Auth,
            request(
                Method::POST,
                "/api/auth/register",
                None,
                Some(json!({"email": email, "password": "correct horse battery", "name": "Test Buyer"})),
            ),
        )
        .await
    }

    /// A customer row written directly, with an access token the holds service accepts.
    pub async fn customer(&self) -> Customer {
        self.account(Role::Customer).await
    }

    /// An account of `role` written directly (e-mail `<id>@example.com`), with an access token.
    pub async fn account(&self, role: Role) -> Customer {
        let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
        let id: String = sqlx::query_scalar(
            "INSERT INTO auth.users (email, name, password_hash, role)
             VALUES ($1, 'Buyer', '$argon2id$placeholder', $2) RETURNING id::text",
        )
        .bind(&email)
        .bind(role.as_str())
        .fetch_one(self.pool())
        .await
        .expect("insert an account");
        let token = self.auth.issuer.issue(&id, role).expect("issue a token");
        Customer { id, token, email }
    }

    /// A published event starting in 30 days with `sections` × `rows` × `seats` seats at 50.00 EUR.
    pub async fn event(&self, sections: i32, rows: i32, seats: i32) -> Fixture {
        self.event_starting_in(sections, rows, seats, "30 days")
            .await
    }

    pub async fn event_starting_in(
        &self,
        sections: i32,
        rows: i32,
        seats: i32,
        interval: &str,
    ) -> Fixture {
        let event_id: i64 = sqlx::query_scalar(
            "INSERT INTO catalog.events (slug, title, category, description, venue, city, starts_at, ends_at, status)
             VALUES ($1, 'Test Concert', 'concert', 'A test event', 'Test Arena', 'Madrid',
                     now() + $2::interval, now() + $2::interval + interval '2 hours', 'published')
             RETURNING id",
        )
        .bind(format!("test-{}", uuid::Uuid::new_v4().simple()))
        .bind(interval)
        .fetch_one(self.pool())
        .await
        .expect("insert an event");
        sqlx::query("INSERT INTO catalog.price_tiers (event_id, name, price_cents) VALUES ($1, 'Standard', 5000)")
            .bind(event_id)
            .execute(self.pool())
            .await
            .expect("insert a tier");
        let seat_ids: Vec<i64> = sqlx::query_scalar(
            "INSERT INTO catalog.seats (event_id, tier_id, section, row_label, number)
             SELECT $1, t.id, 'S' || sec, chr(64 + r), n
             FROM catalog.price_tiers t, generate_series(1, $2) sec, generate_series(1, $3) r, generate_series(1, $4) n
             WHERE t.event_id = $1
             ORDER BY sec, r, n
             RETURNING id",
        )
        .bind(event_id)
        .bind(sections)
        .bind(rows)
        .bind(seats)
        .fetch_all(self.pool())
        .await
        .expect("insert seats");
        let mut seat_ids = seat_ids;
        seat_ids.sort_unstable();
        Fixture { event_id, seat_ids }
    }

    pub async fn hold(&self, customer: &Customer, event_id: i64, seat_ids: &[i64]) -> Answer {
        self.call(
            Service::Holds,
            request(
                Method::POST,
                &format!("/api/events/{event_id}/holds"),
                Some(&customer.token),
                Some(json!({ "seat_ids": seat_ids })),
            ),
        )
        .await
    }
}

impl TestApp {
    /// `POST /api/orders` for a hold with an idempotency key.
    pub async fn place_order(&self, customer: &Customer, hold_id: &str, key: &str) -> Answer {
        self.call(Service::Orders, order_request(customer, hold_id, key))
            .await
    }

    /// Places an order that must be accepted, and returns its id.
    pub async fn placed_order_id(&self, customer: &Customer, hold_id: &str, key: &str) -> String {
        let placed = self.place_order(customer, hold_id, key).await;
        assert_eq!(placed.status, StatusCode::ACCEPTED, "{:?}", placed.body);
        placed.body["order_id"]
            .as_str()
            .expect("an order id")
            .to_owned()
    }

    pub async fn get_as(&self, customer: &Customer, path: &str) -> Answer {
        self.call(
            Service::Orders,
            request(Method::GET, path, Some(&customer.token), None),
        )
        .await
    }

    pub async fn cancel_order(&self, customer: &Customer, order_id: &str) -> Answer {
        let path = format!("/api/orders/{order_id}/cancel");
        self.call(
            Service::Orders,
            request(Method::POST, &path, Some(&customer.token), None),
        )
        .await
    }

    /// One run of the order worker for a message, as the Redis trigger would make it.
    pub async fn run_worker(
        &self,
        message: &[u8],
        failure_rate: f64,
    ) -> Result<RunReport, WorkerError> {
        let settings = WorkerSettings {
            batch_size: 64,
            lanes: 4,
            payment: PaymentProvider::new(failure_rate).expect("a failure rate in 0..=1"),
        };
        worker::handle_message(&self.backend, &settings, message).await
    }

    /// A new customer buys `seat_ids`: held, ordered and settled by the worker.
    pub async fn sold(&self, event_id: i64, seat_ids: &[i64]) {
        let buyer = self.customer().await;
        let held = self.hold(&buyer, event_id, seat_ids).await;
        assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
        let hold_id = held.body["hold_id"].as_str().expect("a hold id");
        let order_id = self.placed_order_id(&buyer, hold_id, hold_id).await;
        self.run_worker(order_id.as_bytes(), 0.0)
            .await
            .expect("the worker settles the order");
        assert_eq!(self.order_status(&order_id).await, "COMPLETED");
    }

    /// A customer, an event of `seats` seats, and a live hold of all of them.
    pub async fn held_seats(&self, seats: i32) -> (Customer, Fixture, String) {
        let customer = self.customer().await;
        let fixture = self.event(1, 1, seats).await;
        let hold = self
            .hold(&customer, fixture.event_id, &fixture.seat_ids)
            .await;
        assert_eq!(hold.status, StatusCode::CREATED, "{:?}", hold.body);
        let hold_id = hold.body["hold_id"].as_str().expect("a hold id").to_owned();
        (customer, fixture, hold_id)
    }

    pub fn ticket_verifier(&self) -> TicketVerifier {
        TicketVerifier::from_pem(&self.orders.signer.verifier().public_key_pem())
            .expect("the public key in PEM")
    }

    /// Seat statuses of an event, in seat id order.
    pub async fn seat_statuses(&self, event_id: i64) -> Vec<String> {
        sqlx::query_scalar("SELECT status FROM catalog.seats WHERE event_id = $1 ORDER BY id")
            .bind(event_id)
            .fetch_all(self.pool())
            .await
            .expect("read seat statuses")
    }

    pub async fn order_status(&self, order_id: &str) -> String {
        sqlx::query_scalar("SELECT status FROM orders.orders WHERE id = $1::uuid")
            .bind(order_id)
            .fetch_one(self.pool())
            .await
            .expect("read the order's status")
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(self.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

/// A Redis server of a test's own on a free loopback port, to stop and start at will;
/// stopped when dropped. It keeps an append-only file, as a production Redis does, so
/// what it acknowledged before it was killed is there when it starts again.
pub struct PrivateRedis {
    pub port: u16,
    server: Option<std::process::Child>,
    dir: std::path::PathBuf,
}

impl PrivateRedis {
    /// Starts `redis-server` (scripts/services.sh installs it) and waits until it listens.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let dir = std::env::temp_dir().join(format!("ticketbuster-test-redis-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a directory for Redis's files");
        let mut redis = Self {
            port,
            server: None,
            dir,
        };
        redis.start_again().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub async fn start_again(&mut self) {
        let server = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server (scripts/services.sh installs it)");
        self.server = Some(server);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("redis-server does not listen on {}", self.port);
    }

    /// A subscriber of the `orders` channel, as a listening order worker would be.
    pub async fn listen_on_orders(&self) -> redis::aio::PubSub {
        let client = redis::Client::open(self.url()).expect("a Redis client");
        let mut subscriber = client.get_async_pubsub().await.expect("a subscription");
        subscriber.subscribe("orders").await.expect("subscribed");
        subscriber
    }

    pub fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A bad request, named, with the status it must get.
pub type Case = (&'static str, http::Request<Bytes>, StatusCode);

impl TestApp {
    /// Sends each case and checks its status and that it answers the JSON error shape
    /// with a message.
    pub async fn assert_refused(&self, service: Service, cases: Vec<Case>) {
        for (name, req, expected) in cases {
            let answer = self.call(service, req).await;
            assert_eq!(answer.status, expected, "{name}: {:?}", answer.body);
            assert!(!answer.error_code().is_empty(), "{name}: {:?}", answer.body);
            let message = answer.body["error"]["message"].as_str().unwrap_or_default();
            assert!(!message.is_empty(), "{name}: no message");
        }
    }

    pub async fn my_holds(&self, customer: &Customer) -> Answer {
        self.call(
            Service::Holds,
            request(Method::GET, "/api/holds", Some(&customer.token), None),
        )
        .await
    }

    /// Moves the end of a hold and of its seats to `from_now`, a PostgreSQL interval such as
    /// `'-1 second'` (a hold that has just lapsed) or `'2 seconds'` (one about to).
    pub async fn end_hold_in(&self, hold_id: &str, from_now: &str) {
        sqlx::query(
            "WITH hold AS (
                 UPDATE catalog.holds
                 SET expires_at = now() + $2::interval,
                     created_at = least(created_at, now() + $2::interval - interval '1 second')
                 WHERE id = $1::uuid
                 RETURNING id)
             UPDATE catalog.seats SET held_until = now() + $2::interval
             WHERE hold_id IN (SELECT id FROM hold)",
        )
        .bind(hold_id)
        .bind(from_now)
        .execute(self.pool())
        .await
        .unwrap_or_else(|e| panic!("ending hold {hold_id} in {from_now}: {e}"));
    }

    pub async fn release(&self, customer: &Customer, hold_id: &str) -> Answer {
        let path = format!("/api/holds/{hold_id}");
        self.call(
            Service::Holds,
            request(Method::DELETE, &path, Some(&customer.token), None),
        )
        .await
    }
}

pub struct Customer {
    pub id: String,
    pub token: String,
    pub email: String,
}

pub struct Fixture {
    pub event_id: i64,
    pub seat_ids: Vec<i64>,
}

/// Sends the seat-lock service's hold statement on `conn` for 600 s, without the
/// per-account caps; the hold's id, or `None` if a seat was not free.
pub async fn hold_by_sql(
    conn: &mut sqlx::PgConnection,
    buyer: &Customer,
    event_id: i64,
    seat_ids: &[i64],
) -> Option<String> {
    sqlx::query_scalar(&format!("SELECT hold_id FROM ({}) h", holds::HOLD_SQL))
        .bind(event_id)
        .bind(seat_ids)
        .bind(&buyer.id)
        .bind(600_i64)
        .bind(0_i64)
        .bind(0_i64)
        .bind(None::<&str>)
        .bind(None::<&str>)
        .fetch_one(conn)
        .await
        .expect("the hold statement runs")
}

/// `POST /api/orders` for a hold with an idempotency key.
pub fn order_request(customer: &Customer, hold_id: &str, key: &str) -> http::Request<Bytes> {
    let mut req = request(
        Method::POST,
        "/api/orders",
        Some(&customer.token),
        Some(json!({ "hold_id": hold_id })),
    );
    req.headers_mut()
        .insert("idempotency-key", key.parse().expect("a header value"));
    req
}

/// Makes an order look `age` old (an interval such as `40 seconds`) to the pipeline.
pub async fn age_order(pool: &PgPool, order_id: &str, age: &str) {
    sqlx::query("UPDATE orders.orders SET created_at = now() - $2::interval WHERE id = $1::uuid")
        .bind(order_id)
        .bind(age)
        .execute(pool)
        .await
        .expect("age the order");
}

pub fn request(
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> http::Request<Bytes> {
    let mut builder = http::Request::builder().method(method).uri(path);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    let body = match body {
        Some(body) => {
            builder = builder.header("content-type", "application/json");
            Bytes::from(body.to_string())
        }
        None => Bytes::new(),
    };
    builder.body(body).expect("a valid test request")
}

pub fn raw_request(
    method: Method,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> http::Request<Bytes> {
    let mut builder = http::Request::builder().method(method).uri(path);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder
        .body(Bytes::from(body.to_owned()))
        .expect("a valid test request")
}

/// The text of the one QR code in a PNG image.
pub fn decode_qr_png(bytes: &[u8]) -> String {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a buffer size")];
    let frame = reader.next_frame(&mut pixels).expect("a frame");
    let (width, height) = (frame.width as usize, frame.height as usize);
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| pixels[y * width + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().expect("a readable QR code").1
}

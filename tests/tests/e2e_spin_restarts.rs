//! What takes `spin up` stopped and started again, so these tests run it themselves
//! (the HTTP-only manifest, `deploy/http-only/spin.toml`: no Redis trigger, no sidecar):
//! - an order whose after-response work dies with spin waits, PENDING, until the next
//!   scheduled call of the jobs route settles it;
//! - a rotation of the token secret, as docs/operations.md tells it: tokens under the old
//!   secret work while it is `jwt_secret_previous`, and stop when it is dropped;
//! - the seat status answering at once while Redis is down (503) and once it is back
//!   (Spin's key-value store on Redis waits up to a minute before it reconnects).
//!
//! scripts/e2e.sh runs them (with `--ignored`) with the database, Redis and the Spin
//! variables set. Nothing here is mocked: real spin, PostgreSQL and Redis.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use ticketbuster_tests::PrivateRedis;

fn setting(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("scripts/e2e.sh sets {name}"))
}

/// `spin up` of the HTTP-only manifest, in a process group of its own: spin runs its
/// trigger as a child process, which must die with it.
struct Spin {
    child: Child,
    base: String,
}

impl Spin {
    async fn start(http: &reqwest::Client) -> Self {
        Self::start_with(http, &[], &[]).await
    }

    /// With these Spin variables (`SPIN_VARIABLE_<NAME>`) besides the suite's and these
    /// flags of `spin up`, on a free loopback port of its own, logging to
    /// `$E2E_SPIN_LOG_DIR/spin-<port>.log`.
    async fn start_with(
        http: &reqwest::Client,
        variables: &[(&str, &str)],
        flags: &[&str],
    ) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let listen = format!("127.0.0.1:{port}");
        let log_path = format!("{}/spin-{port}.log", setting("E2E_SPIN_LOG_DIR"));
        let log = std::fs::File::create(&log_path).expect("a log file");
        let mut command = Command::new("spin");
        for (name, value) in variables {
            command.env(format!("SPIN_VARIABLE_{}", name.to_uppercase()), value);
        }
        let child = command
            .args([
                "up",
                "-f",
                "../deploy/http-only/spin.toml",
                "--listen",
                &listen,
            ])
            .args(flags)
            // Placing an order then needs no Redis, so a paused Redis holds only the
            // after-response work back.
            .env("SPIN_VARIABLE_RATE_LIMIT_PER_ACCOUNT", "off")
            .stdout(log.try_clone().expect("the log file"))
            .stderr(log)
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spin starts");
        let mut spin = Self {
            child,
            base: format!("http://{listen}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            // Only this spin may answer: one that exited leaves the port to others.
            if let Ok(Some(exit)) = spin.child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("spin up exited ({exit}) before answering:\n{log}");
            }
            let health = http.get(format!("{}/api/health", spin.base)).send().await;
            if health.is_ok_and(|answer| answer.status().is_success()) {
                return spin;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("spin up -f deploy/http-only/spin.toml did not answer within 60 s: {log_path}");
    }

    /// SIGKILL to spin and its trigger: nothing gets to finish.
    fn kill(mut self) {
        let group = format!("-{}", self.child.id());
        let killed = Command::new("kill").args(["-KILL", "--", &group]).status();
        assert!(killed.is_ok_and(|s| s.success()), "spin's group was killed");
        self.child.wait().expect("spin is gone");
    }
}

impl Drop for Spin {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
    }
}

async fn json_of(answer: reqwest::Response) -> (StatusCode, Value) {
    let status = answer.status();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// A new account through spin's register endpoint: its tokens and user.
async fn register(http: &reqwest::Client, spin: &Spin, name: &str) -> Value {
    let email = format!("{name}-{}@example.com", uuid::Uuid::new_v4().simple());
    let registered = http
        .post(format!("{}/api/auth/register", spin.base))
        .json(&json!({"email": email, "password": "correct horse battery", "name": name}))
        .send()
        .await
        .expect("register");
    let (status, account) = json_of(registered).await;
    assert_eq!(status, StatusCode::CREATED, "{account}");
    account
}

async fn order_status(db: &sqlx::PgPool, order_id: &str) -> String {
    sqlx::query_scalar("SELECT status FROM orders.orders WHERE id = $1::uuid")
        .bind(order_id)
        .fetch_one(db)
        .await
        .expect("the order")
}

#[tokio::test]
#[ignore = "starts spin itself; scripts/e2e.sh runs it"]
async fn an_order_whose_after_response_work_was_lost_completes_at_the_next_scheduled_call() {
    let http = reqwest::Client::new();
    let db = sqlx::PgPool::connect(&setting("E2E_DATABASE_URL"))
        .await
        .expect("the e2e database");
    let redis = redis::Client::open(setting("REDIS_URL")).expect("a Redis client");
    let mut redis = redis
        .get_multiplexed_async_connection()
        .await
        .expect("Redis");
    let jobs_token = setting("SPIN_VARIABLE_JOBS_TOKEN");

    let spin = Spin::start(&http).await;
    let account = register(&http, &spin, "lost").await;
    let token = account["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let (event_id, seat_id): (i64, i64) = sqlx::query_as(
        "SELECT event_id, id FROM catalog.seats s
         WHERE status = 'available' AND EXISTS (
             SELECT 1 FROM catalog.events e WHERE e.id = s.event_id AND e.status = 'published'
               AND e.starts_at > now() + interval '1 day')
         ORDER BY random() LIMIT 1",
    )
    .fetch_one(&db)
    .await
    .expect("a free seat");
    let held = http
        .post(format!("{}/api/events/{event_id}/holds", spin.base))
        .bearer_auth(&token)
        .json(&json!({"seat_ids": [seat_id]}))
        .send()
        .await
        .expect("hold");
    let (status, hold) = json_of(held).await;
    assert_eq!(status, StatusCode::CREATED, "{hold}");

    // Redis refuses writes for a while: the after-response run waits on its first step
    // (recording the run), and spin is killed meanwhile.
    let _: () = redis::cmd("CLIENT")
        .arg(&["PAUSE", "20000", "WRITE"])
        .query_async(&mut redis)
        .await
        .expect("pause Redis writes");
    let placed = http
        .post(format!("{}/api/orders", spin.base))
        .bearer_auth(&token)
        .header("idempotency-key", "lost-after-response")
        .json(&json!({"hold_id": hold["hold_id"]}))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    spin.kill();
    let _: () = redis::cmd("CLIENT")
        .arg("UNPAUSE")
        .query_async(&mut redis)
        .await
        .expect("unpause Redis");
    let (status, order) = json_of(placed.expect("the order was answered")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{order}");
    let order_id = order["order_id"].as_str().expect("an order id").to_owned();

    // Nobody else settles it: no worker, no sidecar.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(order_status(&db, &order_id).await, "PENDING");

    let spin = Spin::start(&http).await;
    let jobs = |token: &str| {
        http.post(format!("{}/api/jobs/run", spin.base))
            .bearer_auth(token)
            .send()
    };
    let (status, _) = json_of(jobs("not-the-jobs-token").await.expect("jobs")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(order_status(&db, &order_id).await, "PENDING");

    let (status, report) = json_of(jobs(&jobs_token).await.expect("jobs")).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert!(report["orders_completed"].as_u64() >= Some(1), "{report}");
    let detail = http
        .get(format!("{}/api/orders/{order_id}", spin.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("the order");
    let (_, detail) = json_of(detail).await;
    assert_eq!(detail["status"], "COMPLETED", "{detail}");
    let tickets: i64 =
        sqlx::query_scalar("SELECT count(*) FROM orders.tickets WHERE order_id = $1::uuid")
            .bind(&order_id)
            .fetch_one(&db)
            .await
            .expect("tickets");
    assert_eq!(tickets, 1);
    spin.kill();
}

async fn me(http: &reqwest::Client, spin: &Spin, token: &str) -> StatusCode {
    http.get(format!("{}/api/auth/me", spin.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("me")
        .status()
}

#[tokio::test]
#[ignore = "starts spin itself; scripts/e2e.sh runs it"]
async fn a_token_secret_rotation_keeps_old_tokens_until_the_previous_secret_is_dropped() {
    let http = reqwest::Client::new();
    let old_secret = setting("SPIN_VARIABLE_JWT_SECRET");
    let new_secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );

    let spin = Spin::start(&http).await;
    let account = register(&http, &spin, "rotate").await;
    let old_token = account["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let refresh_token = account["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();
    spin.kill();

    // Step 1: the new secret signs, the old one still verifies.
    let rotating = [
        ("jwt_secret", new_secret.as_str()),
        ("jwt_secret_previous", old_secret.as_str()),
    ];
    let spin = Spin::start_with(&http, &rotating, &[]).await;
    assert_eq!(
        me(&http, &spin, &old_token).await,
        StatusCode::OK,
        "an old token during the rotation"
    );
    let refreshed = http
        .post(format!("{}/api/auth/refresh", spin.base))
        .json(&json!({"refresh_token": refresh_token}))
        .send()
        .await
        .expect("refresh");
    let (status, tokens) = json_of(refreshed).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "refresh tokens outlive a rotation: {tokens}"
    );
    let new_token = tokens["access_token"].as_str().expect("a token").to_owned();
    assert_eq!(me(&http, &spin, &new_token).await, StatusCode::OK);
    spin.kill();

    // Step 2: the previous secret dropped; only the new one's tokens work.
    let spin = Spin::start_with(
        &http,
        &[
            ("jwt_secret", new_secret.as_str()),
            ("jwt_secret_previous", ""),
        ],
        &[],
    )
    .await;
    assert_eq!(
        me(&http, &spin, &old_token).await,
        StatusCode::UNAUTHORIZED,
        "the old secret is retired"
    );
    assert_eq!(me(&http, &spin, &new_token).await, StatusCode::OK);
    spin.kill();
}

/// The time a seat status may take, Redis down or just back: it comes from PostgreSQL when
/// the cache cannot answer.
const SEAT_MAP_ANSWERS_WITHIN: Duration = Duration::from_secs(2);

/// A seat status asked for, and how long it took to answer.
async fn seat_status(http: &reqwest::Client, url: &str) -> (StatusCode, Duration) {
    let asked = Instant::now();
    let answer = http
        .get(url)
        .timeout(Duration::from_secs(90))
        .send()
        .await
        .expect("an answer within 90 s");
    (answer.status(), asked.elapsed())
}

#[tokio::test]
#[ignore = "starts spin itself; scripts/e2e.sh runs it"]
async fn the_seat_status_answers_at_once_while_redis_is_down_and_once_it_is_back() {
    let http = reqwest::Client::new();
    let mut redis = PrivateRedis::start().await;
    // The key-value store (the catalog's cache) in this Redis, as in production.
    let runtime_config = format!(
        "{}/runtime-config-redis-{}.toml",
        setting("E2E_SPIN_LOG_DIR"),
        redis.port
    );
    std::fs::write(
        &runtime_config,
        format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
            redis.url()
        ),
    )
    .expect("a runtime config");
    let redis_host = format!("127.0.0.1:{}", redis.port);
    let spin = Spin::start_with(
        &http,
        &[("redis_url", &redis.url()), ("redis_host", &redis_host)],
        &["--runtime-config-file", &runtime_config],
    )
    .await;
    let events: Value = http
        .get(format!("{}/api/events", spin.base))
        .send()
        .await
        .expect("the events")
        .json()
        .await
        .expect("JSON");
    let event_id = events["items"][0]["id"].as_i64().expect("a seeded event");
    let url = format!("{}/api/events/{event_id}/seat-status", spin.base);
    let (status, _) = seat_status(&http, &url).await;
    assert_eq!(status, StatusCode::OK, "the seat status, cached");

    redis.stop();
    // The instance that answered may serve the copy it read from the cache for 100 ms
    // while it is fresh, as it would with Redis up; past that, the status needs Redis.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..3 {
        let (status, took) = seat_status(&http, &url).await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "Redis numbers the live changes: without it, ask again in a moment"
        );
        assert!(took < SEAT_MAP_ANSWERS_WITHIN, "Redis down: {took:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    redis.start_again().await;
    for _ in 0..10 {
        let (status, took) = seat_status(&http, &url).await;
        assert_eq!(status, StatusCode::OK, "the seat status with Redis back");
        assert!(took < SEAT_MAP_ANSWERS_WITHIN, "Redis back: {took:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    spin.kill();
}

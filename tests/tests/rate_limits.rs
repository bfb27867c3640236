//! Rate limits against the real Redis: shared by every instance, answered with `429` and
//! the `RateLimit-*` headers with nothing changed, failed logins counted per account and
//! address, and a per-instance fallback while Redis is unreachable.

use http::{Method, StatusCode};
use serde_json::json;
use ticketbuster_domain::holds::HoldPolicy;
use ticketbuster_domain::rate_limit::RateRule;
use ticketbuster_native_backend::NativeBackend;
use ticketbuster_services::holds::{self, HoldSettings};
use ticketbuster_services::rate_limit::{
    CLIENT_ADDR_HEADER, RateLimits, RateRules, TrustedProxies,
};
use ticketbuster_tests::{Answer, Customer, PrivateRedis, Service, TestApp, request};

fn rule(raw: &str) -> Option<RateRule> {
    RateRule::parse(raw).expect("a rule")
}

/// A documentation address (RFC 5737) of its own per test, used only as a key.
fn address() -> String {
    let n = uuid::Uuid::new_v4().as_u128();
    format!(
        "198.51.{}.{}:{}",
        (n >> 8) as u8,
        n as u8,
        40000 + (n >> 16) as u16 % 20000
    )
}

/// `req` as if it came from `address`.
fn from_address(
    mut req: http::Request<bytes::Bytes>,
    address: &str,
) -> http::Request<bytes::Bytes> {
    req.headers_mut()
        .insert(CLIENT_ADDR_HEADER, address.parse().expect("a header value"));
    req
}

fn header(answer: &Answer, name: &str) -> Option<u64> {
    answer.headers.get(name)?.to_str().ok()?.parse().ok()
}

fn assert_limited(answer: &Answer) {
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        answer.body
    );
    assert_eq!(answer.error_code(), "rate_limited");
    assert!(header(answer, "retry-after").is_some_and(|s| s >= 1));
    assert!(header(answer, "ratelimit-limit").is_some());
    assert_eq!(header(answer, "ratelimit-remaining"), Some(0));
    assert!(header(answer, "ratelimit-reset").is_some());
}

/// A hold through one instance's settings and backend.
async fn hold_via(
    backend: &NativeBackend,
    settings: &HoldSettings,
    customer: &Customer,
    event_id: i64,
    seat: i64,
) -> Answer {
    let req = request(
        Method::POST,
        &format!("/api/events/{event_id}/holds"),
        Some(&customer.token),
        Some(json!({ "seat_ids": [seat] })),
    );
    Answer::from(holds::handle(backend, settings, req).await)
}

fn instance(app: &TestApp, per_account: &str) -> HoldSettings {
    HoldSettings {
        authenticator: app.authenticator(),
        policy: HoldPolicy::default().without_account_caps(),
        limits: RateLimits::new(
            RateRules {
                per_account: rule(per_account),
                ..RateRules::default()
            },
            TrustedProxies::default(),
        ),
    }
}

#[tokio::test]
async fn over_the_limit_is_a_429_with_headers_and_changes_nothing() {
    let app = TestApp::spawn_limited(
        HoldPolicy::default().without_account_caps(),
        10,
        RateRules {
            per_account: rule("3/1m"),
            ..RateRules::default()
        },
    )
    .await;
    let fixture = app.event(1, 1, 10).await;
    let buyer = app.customer().await;
    for (n, seat) in fixture.seat_ids[..3].iter().enumerate() {
        let answer = app.hold(&buyer, fixture.event_id, &[*seat]).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        assert_eq!(header(&answer, "ratelimit-limit"), Some(3));
        assert_eq!(header(&answer, "ratelimit-remaining"), Some(2 - n as u64));
    }
    let refused = app
        .hold(&buyer, fixture.event_id, &[fixture.seat_ids[3]])
        .await;
    assert_limited(&refused);
    assert_eq!(header(&refused, "retry-after"), Some(20), "one per 20 s");
    let statuses = app.seat_statuses(fixture.event_id).await;
    assert_eq!(statuses[3], "available", "the refused hold changed nothing");
    assert_eq!(statuses.iter().filter(|s| *s == "held").count(), 3);

    // Reads are not limited, and other accounts have limits of their own.
    assert_eq!(app.my_holds(&buyer).await.status, StatusCode::OK);
    let other = app.customer().await;
    let answer = app
        .hold(&other, fixture.event_id, &[fixture.seat_ids[4]])
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
}

#[tokio::test]
async fn two_instances_share_one_limit_through_redis() {
    let app = TestApp::spawn_with(HoldPolicy::default().without_account_caps(), 5).await;
    let fixture = app.event(1, 1, 20).await;
    let buyer = app.customer().await;
    let instances = [
        (
            app.another_backend(&ticketbuster_tests::redis_url()).await,
            instance(&app, "4/1m"),
        ),
        (
            app.another_backend(&ticketbuster_tests::redis_url()).await,
            instance(&app, "4/1m"),
        ),
    ];
    let mut statuses = Vec::new();
    for (n, seat) in fixture.seat_ids[..10].iter().enumerate() {
        let (backend, settings) = &instances[n % 2];
        statuses.push(
            hold_via(backend, settings, &buyer, fixture.event_id, *seat)
                .await
                .status,
        );
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((created, limited), (4, 6), "{statuses:?}");
}

#[tokio::test]
async fn failed_logins_lock_out_one_account_from_one_address() {
    let app = TestApp::spawn_limited(
        HoldPolicy::default(),
        10,
        RateRules {
            failed_logins: rule("3/15m"),
            per_address: rule("100/1m"),
            ..RateRules::default()
        },
    )
    .await;
    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
    assert_eq!(app.register(&email).await.status, StatusCode::CREATED);
    let login = |password: &str, from: &str| {
        let body = json!({"email": email, "password": password});
        from_address(
            request(Method::POST, "/api/auth/login", None, Some(body)),
            from,
        )
    };
    let attacker = address();
    for _ in 0..3 {
        let answer = app
            .call(Service::Auth, login("wrong password!", &attacker))
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{:?}", answer.body);
    }
    assert_limited(
        &app.call(Service::Auth, login("wrong password!", &attacker))
            .await,
    );
    let right_but_late = app
        .call(Service::Auth, login("correct horse battery", &attacker))
        .await;
    assert_limited(&right_but_late);
    assert_eq!(
        header(&right_but_late, "ratelimit-limit"),
        Some(3),
        "the failed logins' limit, not the address's"
    );
    let owner = app
        .call(Service::Auth, login("correct horse battery", &address()))
        .await;
    assert_eq!(owner.status, StatusCode::OK, "{:?}", owner.body);
}

#[tokio::test]
async fn registrations_are_limited_per_address() {
    let app = TestApp::spawn_limited(
        HoldPolicy::default(),
        10,
        RateRules {
            per_address: rule("2/1m"),
            ..RateRules::default()
        },
    )
    .await;
    let register = |from: &str| {
        let body = json!({
            "email": format!("{}@example.com", uuid::Uuid::new_v4().simple()),
            "password": "correct horse battery",
            "name": "Bot"
        });
        from_address(
            request(Method::POST, "/api/auth/register", None, Some(body)),
            from,
        )
    };
    let bot = address();
    for _ in 0..2 {
        let answer = app.call(Service::Auth, register(&bot)).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    }
    let before = app.count("SELECT count(*) FROM auth.users").await;
    assert_limited(&app.call(Service::Auth, register(&bot)).await);
    assert_eq!(
        app.count("SELECT count(*) FROM auth.users").await,
        before,
        "no account was made"
    );
    let someone_else = app.call(Service::Auth, register(&address())).await;
    assert_eq!(someone_else.status, StatusCode::CREATED);
}

#[tokio::test]
async fn without_redis_each_instance_limits_on_its_own_and_sales_go_on() {
    let app = TestApp::spawn_with(HoldPolicy::default().without_account_caps(), 5).await;
    let fixture = app.event(1, 1, 10).await;
    let buyer = app.customer().await;
    let mut redis = PrivateRedis::start().await;
    let backend = app.another_backend(&redis.url()).await;
    let settings = instance(&app, "3/1m");
    let first = hold_via(
        &backend,
        &settings,
        &buyer,
        fixture.event_id,
        fixture.seat_ids[0],
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);

    redis.stop();
    let mut statuses = Vec::new();
    for seat in &fixture.seat_ids[1..6] {
        statuses.push(
            hold_via(&backend, &settings, &buyer, fixture.event_id, *seat)
                .await
                .status,
        );
    }
    assert_eq!(
        statuses,
        [
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ],
        "holds go on, limited by the instance's own memory"
    );
    assert_eq!(
        app.seat_statuses(fixture.event_id)
            .await
            .iter()
            .filter(|s| *s == "held")
            .count(),
        4
    );
}

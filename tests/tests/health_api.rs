//! The health endpoints tell the truth about the order pipeline: whether a worker listens
//! on the `orders` channel and how old the oldest unfinished order is, against a Redis of
//! the test's own (so that nobody else's subscribers count).

use http::{Method, StatusCode};
use ticketbuster_native_backend::NativeBackend;
use ticketbuster_services::health;
use ticketbuster_tests::{Answer, PrivateRedis, TestApp, request};

async fn probe(backend: &NativeBackend, path: &str) -> Answer {
    Answer::from(health::handle(backend, request(Method::GET, path, None, None)).await)
}

#[tokio::test]
async fn health_reports_the_pipeline_and_readiness_fails_while_it_is_degraded() {
    let app = TestApp::spawn().await;
    let mut redis = PrivateRedis::start().await;
    let backend = app.another_backend(&redis.url()).await;

    // Nobody listens on `orders`.
    let report = probe(&backend, "/api/health").await;
    assert_eq!(report.status, StatusCode::OK, "{:?}", report.body);
    assert_eq!(report.body["status"], "degraded");
    assert_eq!(report.body["orders"]["workers_listening"], 0);
    assert_eq!(report.body["orders"]["backlog"], 0);
    assert_eq!(
        probe(&backend, "/api/health/ready").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        probe(&backend, "/api/health/worker").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );

    // A worker subscribes: all is well.
    let worker = redis.listen_on_orders().await;
    let ready = probe(&backend, "/api/health/ready").await;
    assert_eq!(ready.status, StatusCode::OK, "{:?}", ready.body);
    assert_eq!(ready.body["status"], "ok");
    assert_eq!(ready.body["orders"]["workers_listening"], 1);
    assert_eq!(
        probe(&backend, "/api/health/worker").await.status,
        StatusCode::OK
    );

    // An order nobody settled for 40 s: stuck, whoever listens.
    let (customer, _, hold_id) = app.held_seats(2).await;
    let order_id = app.placed_order_id(&customer, &hold_id, "stuck").await;
    sqlx::query(
        "UPDATE orders.orders SET created_at = now() - interval '40 seconds' WHERE id = $1::uuid",
    )
    .bind(&order_id)
    .execute(app.pool())
    .await
    .expect("age the order");
    let stuck = probe(&backend, "/api/health/ready").await;
    assert_eq!(stuck.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(stuck.body["orders"]["backlog"], 1);
    assert!(stuck.body["orders"]["oldest_unfinished_seconds"].as_i64() >= Some(40));
    let problems = stuck.body["problems"].to_string();
    assert!(
        problems.contains("the oldest of 1 unfinished orders"),
        "{problems}"
    );

    // Redis gone: the report itself fails.
    drop(worker);
    redis.stop();
    let down = probe(&backend, "/api/health").await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(down.body["redis"], "unreachable");
    assert_eq!(down.body["postgres"], "ok");
}

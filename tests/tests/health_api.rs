//! The health endpoints tell the truth about the order pipeline: whether a worker listens
//! on the `orders` channel and how old the oldest unfinished order is, against a Redis of
//! the test's own (so that nobody else's subscribers count).

use http::{Method, StatusCode};
use ticketbuster_native_backend::NativeBackend;
use ticketbuster_services::health;
use ticketbuster_services::orders::Settlement;
use ticketbuster_tests::{Answer, PrivateRedis, TestApp, age_order, request};

async fn probe_settled_by(backend: &NativeBackend, settlement: Settlement, path: &str) -> Answer {
    let req = request(Method::GET, path, None, None);
    Answer::from(health::handle(backend, settlement, req).await)
}

async fn probe(backend: &NativeBackend, path: &str) -> Answer {
    probe_settled_by(backend, Settlement::Worker, path).await
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
    age_order(app.pool(), &order_id, "40 seconds").await;
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
    // Not the worker pods' fault: their liveness probe does not restart them for it.
    assert_eq!(
        probe(&backend, "/api/health/worker").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn where_orders_settle_after_their_answer_no_worker_needs_to_listen() {
    let app = TestApp::spawn().await;
    let redis = PrivateRedis::start().await;
    let backend = app.another_backend(&redis.url()).await;
    let after_response = Settlement::AfterResponse;

    for path in ["/api/health/ready", "/api/health/worker"] {
        let answer = probe_settled_by(&backend, after_response, path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {:?}", answer.body);
        assert_eq!(answer.body["orders"]["workers_listening"], 0);
    }

    // A stuck order is still a problem: the scheduled jobs call has not settled it.
    let (customer, _, hold_id) = app.held_seats(1).await;
    let order_id = app.placed_order_id(&customer, &hold_id, "stuck").await;
    age_order(app.pool(), &order_id, "40 seconds").await;
    let stuck = probe_settled_by(&backend, after_response, "/api/health/ready").await;
    assert_eq!(stuck.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(stuck.body["problems"].as_array().map(Vec::len), Some(1));
}

//! The auth service against real PostgreSQL: accounts, tokens, rotation and bad input.

use http::{Method, StatusCode};
use serde_json::json;
use ticketbuster_tests::{Case, Service, TestApp, raw_request, request};

async fn post(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    body: serde_json::Value,
) -> ticketbuster_tests::Answer {
    app.call(
        Service::Auth,
        request(Method::POST, path, token, Some(body)),
    )
    .await
}

#[tokio::test]
async fn register_login_me_refresh_logout() {
    let app = TestApp::spawn().await;
    let registered = app.register("Ana@Example.com").await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{:?}",
        registered.body
    );
    assert_eq!(registered.body["user"]["email"], "ana@example.com");
    assert_eq!(registered.body["user"]["role"], "customer");
    assert_eq!(registered.body["token_type"], "Bearer");
    assert_eq!(registered.body["expires_in"], 900);
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM auth.users")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert!(
        stored.starts_with("$argon2id$"),
        "passwords are stored as argon2id hashes"
    );

    let login = post(
        &app,
        "/api/auth/login",
        None,
        json!({"email": "ana@example.com", "password": "correct horse battery"}),
    )
    .await;
    assert_eq!(login.status, StatusCode::OK);
    let access = login.body["access_token"].as_str().unwrap().to_owned();
    let refresh = login.body["refresh_token"].as_str().unwrap().to_owned();

    let me = app
        .call(
            Service::Auth,
            request(Method::GET, "/api/auth/me", Some(&access), None),
        )
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["email"], "ana@example.com");
    assert_eq!(me.body["id"], registered.body["user"]["id"]);

    let rotated = post(
        &app,
        "/api/auth/refresh",
        None,
        json!({"refresh_token": refresh}),
    )
    .await;
    assert_eq!(rotated.status, StatusCode::OK);
    let next_refresh = rotated.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(next_refresh, refresh, "refresh tokens rotate");

    // The used token coming back is treated as theft: refused, and its successor dies too.
    let replay = post(
        &app,
        "/api/auth/refresh",
        None,
        json!({"refresh_token": refresh}),
    )
    .await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    let successor = post(
        &app,
        "/api/auth/refresh",
        None,
        json!({"refresh_token": next_refresh}),
    )
    .await;
    assert_eq!(successor.status, StatusCode::UNAUTHORIZED);

    // Logout ends the session's refresh family.
    let login = post(
        &app,
        "/api/auth/login",
        None,
        json!({"email": "ana@example.com", "password": "correct horse battery"}),
    )
    .await;
    let access = login.body["access_token"].as_str().unwrap().to_owned();
    let refresh = login.body["refresh_token"].as_str().unwrap().to_owned();
    let logout = post(
        &app,
        "/api/auth/logout",
        Some(&access),
        json!({"refresh_token": refresh}),
    )
    .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    let after = post(
        &app,
        "/api/auth/refresh",
        None,
        json!({"refresh_token": refresh}),
    )
    .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_taken_email_is_a_conflict_whatever_its_case() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.register("dup@example.com").await.status,
        StatusCode::CREATED
    );
    let again = app.register("DUP@example.com").await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "email_taken");
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM auth.users")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(users, 1);
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_let_exactly_one_through() {
    let app = TestApp::spawn().await;
    let refresh = app.register("race@example.com").await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let attempts = (0..10).map(|_| {
        post(
            &app,
            "/api/auth/refresh",
            None,
            json!({"refresh_token": refresh}),
        )
    });
    let answers = futures::future::join_all(attempts).await;
    let ok = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    assert_eq!(
        ok,
        1,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn bad_input_answers_a_clear_4xx_and_changes_nothing() {
    let app = TestApp::spawn().await;
    app.register("known@example.com").await;
    let valid = |email: &str| json!({"email": email, "password": "long enough pw", "name": "N"});
    let post_json =
        |path: &str, body: serde_json::Value| request(Method::POST, path, None, Some(body));
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            raw_request(Method::POST, "/api/auth/register", None, "{\"email\":"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "empty body",
            raw_request(Method::POST, "/api/auth/register", None, ""),
            StatusCode::BAD_REQUEST,
        ),
        (
            "wrong types",
            post_json(
                "/api/auth/register",
                json!({"email": 5, "password": true, "name": []}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "missing field",
            post_json("/api/auth/register", json!({"email": "a@example.com"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "short password",
            post_json(
                "/api/auth/register",
                json!({"email": "a@example.com", "password": "123456789", "name": "N"}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "invalid email",
            post_json("/api/auth/register", valid("not-an-email")),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "empty name",
            post_json(
                "/api/auth/register",
                json!({"email": "a@example.com", "password": "long enough pw", "name": "  "}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "oversized body",
            raw_request(
                Method::POST,
                "/api/auth/register",
                None,
                &format!("{{\"pad\": \"{}\"}}", "x".repeat(70_000)),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "wrong password",
            post_json(
                "/api/auth/login",
                json!({"email": "known@example.com", "password": "not the password"}),
            ),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "unknown user",
            post_json(
                "/api/auth/login",
                json!({"email": "nobody@example.com", "password": "not the password"}),
            ),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "unknown refresh token",
            post_json("/api/auth/refresh", json!({"refresh_token": "00ff"})),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "me without token",
            request(Method::GET, "/api/auth/me", None, None),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "me with forged token",
            request(
                Method::GET,
                "/api/auth/me",
                Some("eyJhbGciOiJFZERTQSJ9.e30.c2ln"),
                None,
            ),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "logout without token",
            post_json("/api/auth/logout", json!({"refresh_token": "x"})),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "unknown endpoint",
            request(Method::GET, "/api/auth/nothing", None, None),
            StatusCode::NOT_FOUND,
        ),
        (
            "wrong method",
            request(Method::GET, "/api/auth/login", None, None),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
    ];
    app.assert_refused(Service::Auth, cases).await;
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM auth.users")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(users, 1, "no bad request created an account");
}

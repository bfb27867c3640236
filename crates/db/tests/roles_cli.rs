//! `tb-db grant-role` and `revoke-role` run as an operator would, against a fresh database
//! on the real PostgreSQL server.

use std::process::Command;

use sqlx::Connection;
use sqlx::postgres::PgPool;

fn server_url() -> String {
    std::env::var("TEST_DATABASE_SERVER_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

async fn fresh_database() -> (String, PgPool) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_nanos();
    let name = format!("tb_test_roles_{nanos}");
    ticketbuster_db::create_database(&server_url(), &name)
        .await
        .expect("create the test database");
    let url = format!("{}/{name}", server_url());
    let pool = PgPool::connect(&url).await.expect("connect");
    ticketbuster_db::migrate(&pool).await.expect("migrate");
    (url, pool)
}

fn tb_db(url: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tb-db"))
        .arg("--database-url")
        .arg(url)
        .args(args)
        .output()
        .expect("run tb-db");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

async fn role_of(pool: &PgPool, email: &str) -> String {
    sqlx::query_scalar("SELECT role FROM auth.users WHERE email = $1")
        .bind(email)
        .fetch_one(pool)
        .await
        .expect("the account")
}

#[tokio::test]
async fn an_operator_grants_and_revokes_roles_and_each_change_is_audited() {
    let (url, pool) = fresh_database().await;
    sqlx::query(
        "INSERT INTO auth.users (email, name, password_hash)
         VALUES ('ana@example.com', 'Ana', '$argon2id$placeholder')",
    )
    .execute(&pool)
    .await
    .unwrap();

    let (ok, out) = tb_db(&url, &["grant-role", "Ana@Example.com", "organizer"]);
    assert!(ok, "{out}");
    assert!(out.contains("customer -> organizer"), "{out}");
    assert_eq!(role_of(&pool, "ana@example.com").await, "organizer");
    let (ok, out) = tb_db(&url, &["grant-role", "ana@example.com", "organizer"]);
    assert!(ok && out.contains("unchanged"), "{out}");

    let (ok, out) = tb_db(&url, &["revoke-role", "ana@example.com", "gate"]);
    assert!(
        ok && out.contains("unchanged"),
        "revoking a role she lacks: {out}"
    );
    assert_eq!(role_of(&pool, "ana@example.com").await, "organizer");
    let (ok, out) = tb_db(&url, &["revoke-role", "ana@example.com", "organizer"]);
    assert!(ok && out.contains("organizer -> customer"), "{out}");
    assert_eq!(role_of(&pool, "ana@example.com").await, "customer");

    let (ok, out) = tb_db(&url, &["grant-role", "nobody@example.com", "organizer"]);
    assert!(!ok, "an unknown account is an error");
    assert!(out.contains("must register first"), "{out}");
    let (ok, out) = tb_db(&url, &["grant-role", "ana@example.com", "admin"]);
    assert!(!ok && out.contains("possible values"), "{out}");

    let audit: Vec<(String, String, String)> =
        sqlx::query_as("SELECT actor, action, detail->>'to' FROM catalog.audit_log ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        audit,
        [
            (
                ticketbuster_db::OPERATOR_ACTOR.into(),
                "role.grant".into(),
                "organizer".into()
            ),
            (
                ticketbuster_db::OPERATOR_ACTOR.into(),
                "role.revoke".into(),
                "customer".into()
            ),
        ]
    );
    pool.close().await;
    let mut admin = sqlx::PgConnection::connect(&server_url()).await.unwrap();
    let name = url.rsplit('/').next().unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
}

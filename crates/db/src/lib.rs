//! Database setup: migrations from `migrations/`, the demo catalog, and the roles an
//! operator grants.

mod roles;
mod seed;

use sqlx::migrate::Migrator;
use sqlx::postgres::PgPool;
use sqlx::{Connection, PgConnection};

pub use roles::{GrantedRole, OPERATOR_ACTOR, RoleChange, RoleError, grant_role, revoke_role};
pub use seed::{SeedReport, seed};

pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Creates database `name` on the server of `server_url` unless it exists.
pub async fn create_database(server_url: &str, name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        "database names are letters, digits and underscores: {name:?}"
    );
    let mut conn = PgConnection::connect(server_url).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await?;
    }
    Ok(())
}

//! `tb-db setup|migrate|seed`: prepares the database named by DATABASE_URL.

use anyhow::Context;
use sqlx::postgres::PgPoolOptions;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = std::env::args().nth(1).unwrap_or_else(|| "setup".into());
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/ticketbuster".into());
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    match command.as_str() {
        "migrate" => migrate(&pool).await,
        "seed" => seed(&pool).await,
        "setup" => {
            migrate(&pool).await?;
            seed(&pool).await
        }
        other => anyhow::bail!("unknown command {other:?}; use setup, migrate or seed"),
    }
}

async fn migrate(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    ticketbuster_db::migrate(pool)
        .await
        .context("applying migrations")?;
    println!("migrations applied");
    Ok(())
}

async fn seed(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    let report = ticketbuster_db::seed(pool)
        .await
        .context("seeding the catalog")?;
    println!(
        "seed: {} events added ({} already there), {} seats added",
        report.events_added, report.events_present, report.seats_added
    );
    Ok(())
}

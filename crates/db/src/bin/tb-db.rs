//! `tb-db setup|migrate|seed|grant-role|revoke-role`: prepares the database named by
//! DATABASE_URL, and grants the roles that only an operator may grant.

use std::str::FromStr;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use ticketbuster_db::{GrantedRole, RoleChange};

#[derive(Parser)]
#[command(
    version,
    about = "Applies TicketBuster's migrations and seed catalog to PostgreSQL"
)]
struct Cli {
    /// The database, as a postgres:// URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/ticketbuster",
        hide_env_values = true
    )]
    database_url: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Clone)]
enum Command {
    /// Migrations, then the seed catalog (the default).
    Setup,
    /// The migrations only: what production runs.
    Migrate,
    /// The seed catalog only; events already there are left alone.
    Seed,
    /// Gives a registered account a role, e.g. `grant-role ana@example.com organizer`.
    /// It shows in the account's tokens from its next login or refresh.
    GrantRole {
        email: String,
        #[arg(value_enum)]
        role: GrantedRole,
    },
    /// Takes a role back: the account becomes a customer (a gate account also stops being
    /// staff of any event).
    RevokeRole {
        email: String,
        #[arg(value_enum)]
        role: GrantedRole,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let options = PgConnectOptions::from_str(&cli.database_url)
        .context("DATABASE_URL must be a postgres:// URL")?;
    // Named without its password: this ends up in logs.
    let target = format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default()
    );
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .with_context(|| format!("connecting to {target}"))?;
    match cli.command.unwrap_or(Command::Setup) {
        Command::Migrate => migrate(&pool).await,
        Command::Seed => seed(&pool).await,
        Command::Setup => {
            migrate(&pool).await?;
            seed(&pool).await
        }
        Command::GrantRole { email, role } => {
            report(
                &email,
                ticketbuster_db::grant_role(&pool, &email, role).await?,
            );
            Ok(())
        }
        Command::RevokeRole { email, role } => {
            report(
                &email,
                ticketbuster_db::revoke_role(&pool, &email, role).await?,
            );
            Ok(())
        }
    }
}

fn report(email: &str, change: RoleChange) {
    match change {
        RoleChange::Changed { from, to } => {
            println!("{email}: {from} -> {to} (from the account's next login or refresh)")
        }
        RoleChange::Unchanged { role } => println!("{email}: unchanged, {role}"),
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

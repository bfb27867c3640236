//! Roles an operator grants: `tb-db grant-role <email> organizer` and `revoke-role`.
//! A role shows in the access tokens issued after the change (at the next login or
//! refresh); each change is written to the audit log with the operator's tool as actor.

use sqlx::postgres::PgPool;

/// The roles an operator grants; `customer` is what an account goes back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GrantedRole {
    Organizer,
    Gate,
}

impl GrantedRole {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantedRole::Organizer => "organizer",
            GrantedRole::Gate => "gate",
        }
    }
}

/// What a grant or revocation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleChange {
    Changed {
        from: String,
        to: String,
    },
    /// The account already had the role asked for (or, revoking, did not have it).
    Unchanged {
        role: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    #[error("no account has the e-mail {0:?}; they must register first")]
    NoAccount(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Written into the audit log as the actor of role changes.
pub const OPERATOR_ACTOR: &str = "operator (tb-db)";

fn normalised(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Gives the account of `email` the role `role`.
pub async fn grant_role(
    pool: &PgPool,
    email: &str,
    role: GrantedRole,
) -> Result<RoleChange, RoleError> {
    change_role(pool, &normalised(email), role.as_str(), None, "role.grant").await
}

/// Takes `role` from the account of `email`: it becomes a customer again, and a gate
/// account is no longer staff of any event.
pub async fn revoke_role(
    pool: &PgPool,
    email: &str,
    role: GrantedRole,
) -> Result<RoleChange, RoleError> {
    change_role(
        pool,
        &normalised(email),
        "customer",
        Some(role.as_str()),
        "role.revoke",
    )
    .await
}

/// Sets the account's role to `to`, only from `only_from` when given, and audits it; all
/// in one statement, so a concurrent change cannot slip between the check and the write.
async fn change_role(
    pool: &PgPool,
    email: &str,
    to: &str,
    only_from: Option<&str>,
    action: &str,
) -> Result<RoleChange, RoleError> {
    let row: Option<(String, bool)> = sqlx::query_as(
        "WITH account AS (
             SELECT u.id, u.role FROM auth.users u WHERE u.email = $1 FOR UPDATE
         ), changed AS (
             UPDATE auth.users u SET role = $2
             FROM account a
             WHERE u.id = a.id AND a.role <> $2 AND ($3::text IS NULL OR a.role = $3)
             RETURNING u.id
         ), unstaffed AS (
             DELETE FROM catalog.gate_staff g USING changed c, account a
             WHERE g.user_id = c.id AND a.role = 'gate'
         ), audited AS (
             INSERT INTO catalog.audit_log (actor, action, detail)
             SELECT $4, $5, jsonb_build_object('email', $1::text, 'from', a.role, 'to', $2::text)
             FROM changed c, account a
         )
         SELECT a.role, EXISTS (SELECT 1 FROM changed) FROM account a",
    )
    .bind(email)
    .bind(to)
    .bind(only_from)
    .bind(OPERATOR_ACTOR)
    .bind(action)
    .fetch_optional(pool)
    .await?;
    match row {
        None => Err(RoleError::NoAccount(email.to_owned())),
        Some((from, true)) => Ok(RoleChange::Changed {
            from,
            to: to.to_owned(),
        }),
        Some((role, false)) => Ok(RoleChange::Unchanged { role }),
    }
}

//! TicketBuster's domain: inputs parsed into types that cannot hold invalid values,
//! the rules of holds and accounts, tokens and passwords, and the API error shape.
//! Nothing here does I/O, so all of it is unit-tested natively.

pub mod account;
pub mod cache;
pub mod catalog;
pub mod checkins;
pub mod error;
pub mod event_draft;
pub mod holds;
pub mod idempotency;
pub mod ids;
pub mod oidc;
pub mod orders;
pub mod rate_limit;
pub mod seat_status;
pub mod tickets;
pub mod token;
pub mod waiting_room;

pub use error::ApiError;

//! The HTTP services of TicketBuster as plain async functions from request to response.
//!
//! Each service talks to the outside world only through [`backend::Backend`]: Spin
//! components pass an implementation over Spin's host APIs, native tests and benchmarks
//! one over real PostgreSQL and Redis connections. SQL lives beside the code that runs it.

#[macro_use]
mod sql;

pub mod auth;
pub mod backend;
pub mod catalog;
pub mod checkins;
pub mod compression;
pub mod expiry;
pub mod health;
pub mod holds;
pub mod http_policy;
pub mod identity;
pub mod jobs;
pub mod log;
pub mod notifications;
pub mod orders;
pub mod organizer;
pub mod outbox;
pub mod pipeline;
pub mod rate_limit;
pub mod recent_reads;
pub mod seat_changes;
pub mod site;
pub mod waiting_room;
pub mod web;
pub mod worker;

pub use backend::{Backend, BackendError, HttpAnswer, Param, Row, Sequenced, Value};
pub use web::{Request, Response};

//! [`Backend`] over a sqlx PostgreSQL pool and a Redis connection manager: the same
//! services the Spin components run, driven natively against the real databases.

use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sqlx::postgres::{PgArguments, PgPool, PgRow};
use sqlx::query::Query;
use sqlx::{Column, Postgres, Row as _, TypeInfo};
use ticketbuster_services::backend::HTTP_TIMEOUT;
use ticketbuster_services::backend::publish_sequenced;
use ticketbuster_services::{Backend, BackendError, HttpAnswer, Param, Row, Sequenced, Value};

#[derive(Clone)]
pub struct NativeBackend {
    pub pool: PgPool,
    pub redis: ConnectionManager,
    http: reqwest::Client,
    /// Prepended to cache keys, so test databases sharing one Redis never see each other's entries.
    cache_prefix: String,
}

impl NativeBackend {
    pub async fn connect(
        database_url: &str,
        redis_url: &str,
        max_connections: u32,
        cache_prefix: &str,
    ) -> Result<Self, BackendError> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(max_connections)
            .connect(database_url)
            .await
            .map_err(|e| BackendError::Database(e.to_string()))?;
        let client =
            redis::Client::open(redis_url).map_err(|e| BackendError::Redis(e.to_string()))?;
        let redis = ConnectionManager::new_with_config(client, redis_config())
            .await
            .map_err(|e| BackendError::Redis(e.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .build()
            .map_err(|e| BackendError::Http(e.to_string()))?;
        Ok(Self {
            pool,
            redis,
            http,
            cache_prefix: cache_prefix.to_owned(),
        })
    }
}

/// A Redis that went away fails calls quickly instead of holding each one through a series
/// of reconnection attempts (by default six, over about 13 s): callers have a fallback or
/// retry on their own schedule, and the reconnection goes on behind them.
fn redis_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_number_of_retries(1)
        .set_connection_timeout(Duration::from_secs(1))
        .set_response_timeout(Duration::from_secs(2))
}

/// Binds the services' parameters to a sqlx query, in order.
pub fn bind<'q>(
    mut query: Query<'q, Postgres, PgArguments>,
    params: &'q [Param],
) -> Query<'q, Postgres, PgArguments> {
    for param in params {
        query = match param {
            Param::Null => query.bind(None::<String>),
            Param::Bool(v) => query.bind(*v),
            Param::Int(v) => query.bind(*v),
            Param::Text(v) => query.bind(v.as_str()),
            Param::IntArray(v) => query.bind(v.as_slice()),
        };
    }
    query
}

fn convert(row: &PgRow, columns: &Arc<[String]>) -> Result<Row, BackendError> {
    let mut values = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let fail = |e: sqlx::Error| BackendError::Column {
            column: column.name().into(),
            problem: e.to_string(),
        };
        let value = match column.type_info().name() {
            "INT8" => row
                .try_get::<Option<i64>, _>(i)
                .map_err(fail)?
                .map(Value::Int),
            "INT4" => row
                .try_get::<Option<i32>, _>(i)
                .map_err(fail)?
                .map(|v| Value::Int(v.into())),
            "TEXT" | "VARCHAR" | "NAME" => row
                .try_get::<Option<String>, _>(i)
                .map_err(fail)?
                .map(Value::Text),
            "BOOL" => row
                .try_get::<Option<bool>, _>(i)
                .map_err(fail)?
                .map(Value::Bool),
            "INT8[]" => row
                .try_get::<Option<Vec<i64>>, _>(i)
                .map_err(fail)?
                .map(Value::IntArray),
            other => {
                return Err(BackendError::Column {
                    column: column.name().into(),
                    problem: format!("type {other} crosses no backend; cast it in SQL"),
                });
            }
        };
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(Row::new(columns.clone(), values))
}

impl Backend for NativeBackend {
    async fn query(&self, sql: &str, params: &[Param]) -> Result<Vec<Row>, BackendError> {
        let rows = bind(sqlx::query(sql), params)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| BackendError::Database(e.to_string()))?;
        let Some(first) = rows.first() else {
            return Ok(Vec::new());
        };
        let columns: Arc<[String]> = first
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        rows.iter().map(|row| convert(row, &columns)).collect()
    }

    async fn execute(&self, sql: &str, params: &[Param]) -> Result<u64, BackendError> {
        bind(sqlx::query(sql), params)
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(|e| BackendError::Database(e.to_string()))
    }

    async fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>, BackendError> {
        self.redis
            .clone()
            .get(format!("{}{key}", self.cache_prefix))
            .await
            .map_err(|e| BackendError::KeyValue(e.to_string()))
    }

    async fn cache_set(&self, key: &str, value: &[u8]) -> Result<(), BackendError> {
        self.redis
            .clone()
            .set(format!("{}{key}", self.cache_prefix), value)
            .await
            .map_err(|e| BackendError::KeyValue(e.to_string()))
    }

    async fn cache_delete(&self, key: &str) -> Result<(), BackendError> {
        self.redis
            .clone()
            .del(format!("{}{key}", self.cache_prefix))
            .await
            .map_err(|e| BackendError::KeyValue(e.to_string()))
    }

    async fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), BackendError> {
        let mut redis = self.redis.clone();
        redis
            .publish::<_, _, ()>(channel, payload)
            .await
            .map_err(|e| BackendError::Redis(e.to_string()))
    }

    /// At once, in an array of one: native code serves the tests and the sidecar's jobs,
    /// not an on-sale's holds.
    async fn publish_batched(&self, channel: &'static str, item: Sequenced) {
        if let Err(e) = publish_sequenced(self, channel, &[item]).await {
            eprintln!("warning: a message on {channel} was not published: {e}");
        }
    }

    async fn http_get(&self, url: &str, max_bytes: usize) -> Result<HttpAnswer, BackendError> {
        let failed = |e: reqwest::Error| BackendError::Http(format!("GET {url}: {e}"));
        let mut response = self.http.get(url).send().await.map_err(failed)?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > max_bytes {
                return Err(BackendError::Http(format!(
                    "GET {url}: the answer is over {max_bytes} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpAnswer { status, body })
    }

    /// The same pool, which gives each statement a connection of its own.
    fn alongside(&self) -> Self {
        self.clone()
    }

    async fn eval(
        &self,
        script: &str,
        keys: &[&str],
        args: &[&str],
    ) -> Result<Option<String>, BackendError> {
        let script = redis::Script::new(script);
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(*key);
        }
        for arg in args {
            invocation.arg(*arg);
        }
        invocation
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(|e| BackendError::Redis(e.to_string()))
    }
}

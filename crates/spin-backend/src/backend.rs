//! [`Backend`] over Spin's outbound PostgreSQL (pooled by Spin), the default key-value
//! store and outbound Redis. Connections open on first use, so a cache hit never
//! touches PostgreSQL. A request gives its connection back to Spin's pool when it ends:
//! keeping it in the instance for the next request would starve other instances of
//! the pool's 64 connections, and Spin's checkout waits without a time limit.
//!
//! Redis is the other way round: Spin pools nothing there, every `open` is a new TCP
//! connection, so the instance keeps its connection for the requests it serves (a
//! WASIp3 instance serves many) and opens a new one only after a failure.

use std::cell::{OnceCell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use spin_sdk::key_value::Store;
use spin_sdk::pg::{self, DbValue, ParameterValue};
use spin_sdk::redis;
use ticketbuster_services::{Backend, BackendError, Param, Row, Value};

const DEFAULT_DB_URL: &str = "host=127.0.0.1 port=5432 user=postgres dbname=ticketbuster";
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// Where the backend connects, read once per instance from Spin variables.
pub struct BackendConfig {
    db_url: String,
    redis_url: String,
}

impl BackendConfig {
    pub async fn from_variables() -> Self {
        let var = async |name: &str, default: &str| {
            spin_sdk::variables::get(name)
                .await
                .unwrap_or_else(|_| default.to_owned())
        };
        Self {
            db_url: var("db_url", DEFAULT_DB_URL).await,
            redis_url: var("redis_url", DEFAULT_REDIS_URL).await,
        }
    }
}

thread_local! {
    static REDIS: RefCell<Option<Rc<redis::Connection>>> = const { RefCell::new(None) };
}

pub struct SpinBackend {
    config: Rc<BackendConfig>,
    db: OnceCell<pg::Connection>,
    kv: OnceCell<Store>,
}

impl SpinBackend {
    pub fn new(config: Rc<BackendConfig>) -> Self {
        Self {
            config,
            db: OnceCell::new(),
            kv: OnceCell::new(),
        }
    }

    async fn db(&self) -> Result<&pg::Connection, BackendError> {
        if let Some(conn) = self.db.get() {
            return Ok(conn);
        }
        let conn = pg::Connection::open(self.config.db_url.as_str())
            .await
            .map_err(|e| BackendError::Database(format!("connect: {e}")))?;
        Ok(self.db.get_or_init(|| conn))
    }

    /// The instance's Redis connection, or a new one (kept for the next requests).
    async fn redis_connection(&self, fresh: bool) -> Result<Rc<redis::Connection>, BackendError> {
        if !fresh && let Some(conn) = REDIS.with(|kept| kept.borrow().clone()) {
            return Ok(conn);
        }
        let conn = redis::Connection::open(&self.config.redis_url)
            .await
            .map_err(|e| BackendError::Redis(e.to_string()))?;
        let conn = Rc::new(conn);
        REDIS.with(|kept| *kept.borrow_mut() = Some(conn.clone()));
        Ok(conn)
    }

    /// Runs a Redis call on the kept connection and, if it fails (Redis restarted, the
    /// connection dropped), once more on a new one. Every call we make may run twice:
    /// publishes are wake-ups or carry ids, and the scripts refuse repeats.
    async fn with_redis<T, E: std::fmt::Display>(
        &self,
        call: impl AsyncFn(&redis::Connection) -> Result<T, E>,
    ) -> Result<T, BackendError> {
        let kept = self.redis_connection(false).await?;
        match call(&kept).await {
            Ok(value) => Ok(value),
            Err(first) => {
                let fresh = self
                    .redis_connection(true)
                    .await
                    .map_err(|e| BackendError::Redis(format!("{first}; reconnecting: {e}")))?;
                call(&fresh)
                    .await
                    .map_err(|e| BackendError::Redis(e.to_string()))
            }
        }
    }

    async fn kv(&self) -> Result<&Store, BackendError> {
        if let Some(store) = self.kv.get() {
            return Ok(store);
        }
        let store = Store::open_default()
            .await
            .map_err(|e| BackendError::KeyValue(e.to_string()))?;
        Ok(self.kv.get_or_init(|| store))
    }
}

fn to_parameter(param: &Param) -> ParameterValue {
    match param {
        Param::Null => ParameterValue::DbNull,
        Param::Bool(v) => ParameterValue::Boolean(*v),
        Param::Int(v) => ParameterValue::Int64(*v),
        Param::Text(v) => ParameterValue::Str(v.clone()),
        Param::IntArray(v) => ParameterValue::ArrayInt64(v.iter().copied().map(Some).collect()),
    }
}

fn to_value(column: &str, value: &DbValue) -> Result<Value, BackendError> {
    let unexpected = |what: String| BackendError::Column {
        column: column.to_owned(),
        problem: what,
    };
    Ok(match value {
        DbValue::DbNull => Value::Null,
        DbValue::Boolean(v) => Value::Bool(*v),
        DbValue::Int16(v) => Value::Int((*v).into()),
        DbValue::Int32(v) => Value::Int((*v).into()),
        DbValue::Int64(v) => Value::Int(*v),
        DbValue::Str(v) => Value::Text(v.clone()),
        DbValue::ArrayInt64(items) => Value::IntArray(
            items
                .iter()
                .map(|item| item.ok_or_else(|| unexpected("NULL inside an int8[]".into())))
                .collect::<Result<_, _>>()?,
        ),
        other => {
            return Err(unexpected(format!(
                "{other:?} crosses no backend; cast it in SQL"
            )));
        }
    })
}

impl Backend for SpinBackend {
    async fn query(&self, sql: &str, params: &[Param]) -> Result<Vec<Row>, BackendError> {
        let params: Vec<ParameterValue> = params.iter().map(to_parameter).collect();
        let result = self
            .db()
            .await?
            .query(sql, params)
            .await
            .map_err(|e| BackendError::Database(e.to_string()))?;
        let columns: Arc<[String]> = result.columns().iter().map(|c| c.name.clone()).collect();
        let rows = result
            .collect()
            .await
            .map_err(|e| BackendError::Database(e.to_string()))?;
        rows.iter()
            .map(|row| {
                let values = columns
                    .iter()
                    .enumerate()
                    .map(|(i, name)| to_value(name, &row[i]))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Row::new(columns.clone(), values))
            })
            .collect()
    }

    async fn execute(&self, sql: &str, params: &[Param]) -> Result<u64, BackendError> {
        let params: Vec<ParameterValue> = params.iter().map(to_parameter).collect();
        self.db()
            .await?
            .execute(sql, params)
            .await
            .map_err(|e| BackendError::Database(e.to_string()))
    }

    async fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>, BackendError> {
        self.kv()
            .await?
            .get(key)
            .await
            .map_err(|e| BackendError::KeyValue(e.to_string()))
    }

    async fn cache_set(&self, key: &str, value: &[u8]) -> Result<(), BackendError> {
        self.kv()
            .await?
            .set(key, value)
            .await
            .map_err(|e| BackendError::KeyValue(e.to_string()))
    }

    async fn cache_delete(&self, key: &str) -> Result<(), BackendError> {
        self.kv()
            .await?
            .delete(key)
            .await
            .map_err(|e| BackendError::KeyValue(e.to_string()))
    }

    async fn redis_ping(&self) -> Result<(), BackendError> {
        self.with_redis(async |conn| conn.execute("PING", []).await)
            .await
            .map(drop)
    }

    async fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), BackendError> {
        self.with_redis(async |conn| conn.publish(channel, payload).await)
            .await
    }

    async fn eval(
        &self,
        script: &str,
        keys: &[&str],
        args: &[&str],
    ) -> Result<Option<String>, BackendError> {
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        let mut arguments = vec![
            redis::RedisParameter::Binary(script.as_bytes().to_vec()),
            redis::RedisParameter::Int64(keys.len() as i64),
        ];
        arguments.extend(
            keys.iter()
                .chain(args)
                .map(|a| redis::RedisParameter::Binary(a.as_bytes().to_vec())),
        );
        let reply = self
            .with_redis(async |conn| conn.execute("EVAL", arguments.clone()).await)
            .await?;
        Ok(match reply.into_iter().next() {
            None | Some(redis::RedisResult::Nil) => None,
            Some(redis::RedisResult::Status(s)) => Some(s),
            Some(redis::RedisResult::Binary(b)) => Some(text(&b)),
            Some(redis::RedisResult::Int64(n)) => Some(n.to_string()),
        })
    }
}

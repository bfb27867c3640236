//! What the services need from their host: SQL, a key-value cache, and Redis (publish,
//! Lua scripts).
//! Values crossing this boundary are few on purpose: queries cast to `int8`, `text`,
//! `bool`, `int8[]` in SQL, which keeps Spin's and sqlx's type mappings identical.

use std::sync::Arc;

#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Null,
    Bool(bool),
    Int(i64),
    Text(String),
    IntArray(Vec<i64>),
}

impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl From<&str> for Param {
    fn from(v: &str) -> Self {
        Param::Text(v.to_owned())
    }
}

impl From<String> for Param {
    fn from(v: String) -> Self {
        Param::Text(v)
    }
}

impl From<bool> for Param {
    fn from(v: bool) -> Self {
        Param::Bool(v)
    }
}

impl From<&[i64]> for Param {
    fn from(v: &[i64]) -> Self {
        Param::IntArray(v.to_vec())
    }
}

impl<T: Into<Param>> From<Option<T>> for Param {
    fn from(v: Option<T>) -> Self {
        v.map_or(Param::Null, Into::into)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Text(String),
    IntArray(Vec<i64>),
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("database: {0}")]
    Database(String),
    #[error("key-value store: {0}")]
    KeyValue(String),
    #[error("redis: {0}")]
    Redis(String),
    #[error("column {column:?}: {problem}")]
    Column { column: String, problem: String },
    #[error("outbound HTTP: {0}")]
    Http(String),
}

/// The answer to an outbound HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// How long an outbound HTTP request may take, answer included.
pub const HTTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// One result row; columns are looked up by name.
#[derive(Debug, Clone)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    pub fn new(columns: Arc<[String]>, values: Vec<Value>) -> Self {
        Self { columns, values }
    }

    fn value(&self, column: &str) -> Result<&Value, BackendError> {
        self.columns
            .iter()
            .position(|c| c == column)
            .and_then(|i| self.values.get(i))
            .ok_or_else(|| BackendError::Column {
                column: column.into(),
                problem: "not in the result".into(),
            })
    }

    fn mismatch(column: &str, expected: &str, got: &Value) -> BackendError {
        BackendError::Column {
            column: column.into(),
            problem: format!("expected {expected}, got {got:?}"),
        }
    }

    pub fn int(&self, column: &str) -> Result<i64, BackendError> {
        match self.value(column)? {
            Value::Int(v) => Ok(*v),
            other => Err(Self::mismatch(column, "int8", other)),
        }
    }

    pub fn opt_int(&self, column: &str) -> Result<Option<i64>, BackendError> {
        match self.value(column)? {
            Value::Null => Ok(None),
            _ => self.int(column).map(Some),
        }
    }

    pub fn text(&self, column: &str) -> Result<String, BackendError> {
        match self.value(column)? {
            Value::Text(v) => Ok(v.clone()),
            other => Err(Self::mismatch(column, "text", other)),
        }
    }

    pub fn opt_text(&self, column: &str) -> Result<Option<String>, BackendError> {
        match self.value(column)? {
            Value::Null => Ok(None),
            _ => self.text(column).map(Some),
        }
    }

    pub fn bool(&self, column: &str) -> Result<bool, BackendError> {
        match self.value(column)? {
            Value::Bool(v) => Ok(*v),
            other => Err(Self::mismatch(column, "bool", other)),
        }
    }

    pub fn int_array(&self, column: &str) -> Result<Vec<i64>, BackendError> {
        match self.value(column)? {
            Value::IntArray(v) => Ok(v.clone()),
            other => Err(Self::mismatch(column, "int8[]", other)),
        }
    }
}

/// The host a service runs on. Methods are async and not `Send`: Spin's are single-threaded.
#[allow(async_fn_in_trait)]
pub trait Backend {
    async fn query(&self, sql: &str, params: &[Param]) -> Result<Vec<Row>, BackendError>;

    async fn execute(&self, sql: &str, params: &[Param]) -> Result<u64, BackendError>;

    async fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>, BackendError>;

    async fn cache_set(&self, key: &str, value: &[u8]) -> Result<(), BackendError>;

    async fn cache_delete(&self, key: &str) -> Result<(), BackendError>;

    /// The cache's value at `key` as this host instance read or wrote it at most
    /// `max_age_ms` ago, without asking the store; `None` when it has not (a host that
    /// keeps nothing between requests never has).
    fn cache_recently_read(&self, _key: &str, _max_age_ms: i64) -> Option<Vec<u8>> {
        None
    }

    /// Publishes on a Redis pub/sub channel (at most once: nobody listening, nobody hears).
    async fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), BackendError>;

    /// Publishes `item` on `channel` inside a JSON array, numbered by its counter
    /// ([`Sequenced`], [`PUBLISH_SEQUENCED`]). Items published within a few milliseconds
    /// of each other may go out together, as one message. It may return before the
    /// message is sent, so a failure is logged, not returned.
    async fn publish_batched(&self, channel: &'static str, item: Sequenced);

    /// Runs a Lua script atomically in Redis (`EVAL`); its reply as text, `None` for nil.
    async fn eval(
        &self,
        script: &str,
        keys: &[&str],
        args: &[&str],
    ) -> Result<Option<String>, BackendError>;

    /// `GET url` over outbound HTTP (Spin allows only the hosts of `allowed_outbound_hosts`).
    /// An answer not complete within [`HTTP_TIMEOUT`], or with a body over `max_bytes`, is
    /// an error.
    async fn http_get(&self, url: &str, max_bytes: usize) -> Result<HttpAnswer, BackendError>;

    /// A backend for work that runs at the same time as this one's, with a database
    /// connection of its own: statements sent over one connection run one after another
    /// (in Spin, an instance's requests share one).
    fn alongside(&self) -> Self
    where
        Self: Sized;

    /// Milliseconds since the Unix epoch (the wall clock of Spin's host and of native code alike).
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default()
    }
}

/// The one row a statement is known to return.
pub async fn query_one(
    backend: &impl Backend,
    sql: &str,
    params: &[Param],
) -> Result<Row, BackendError> {
    backend
        .query(sql, params)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| BackendError::Database("the statement returned no row".into()))
}

/// A JSON object to publish with the next value of a Redis counter added as its `seq`,
/// so that its receivers can tell when they missed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequenced {
    /// The counter's Redis key.
    pub counter: String,
    /// A JSON object's text.
    pub item: String,
}

/// Seeds a missing counter `KEYS[i]` with the time in microseconds, so that a counter lost
/// with Redis starts again above every value it gave before (at under a million a second).
/// Values stay below 2^53, exact in Lua's and JavaScript's numbers; they are formatted
/// with `%d`, as Lua's own formatting keeps 14 digits.
macro_rules! seed_counters {
    () => {
        "for _, counter in ipairs(KEYS) do
             if redis.call('EXISTS', counter) == 0 then
                 local now = redis.call('TIME')
                 redis.call('SET', counter, now[1] .. string.format('%06d', now[2]))
             end
         end
         "
    };
}

/// Gives each item `ARGV[i + 1]` the next value of its counter `KEYS[i]` as `seq` and
/// publishes them as one JSON array on channel `ARGV[1]`, atomically: on each counter the
/// numbers go out in order. Arguments from [`Sequenced::script_arguments`].
pub const PUBLISH_SEQUENCED: &str = concat!(
    seed_counters!(),
    "local items = {}
     for i, counter in ipairs(KEYS) do
         local seq = redis.call('INCR', counter)
         items[i] = string.sub(ARGV[i + 1], 1, -2) .. ',\"seq\":' .. string.format('%d', seq) .. '}'
     end
     redis.call('PUBLISH', ARGV[1], '[' .. table.concat(items, ',') .. ']')
     return #items"
);

/// The counter's current value (seeded if missing) as text.
pub const CURRENT_SEQUENCE: &str = concat!(seed_counters!(), "return redis.call('GET', KEYS[1])");

impl Sequenced {
    /// The keys and arguments of [`PUBLISH_SEQUENCED`] for `items` on `channel`.
    pub fn script_arguments<'a>(
        channel: &'a str,
        items: &'a [Sequenced],
    ) -> (Vec<&'a str>, Vec<&'a str>) {
        let keys = items.iter().map(|i| i.counter.as_str()).collect();
        let args = std::iter::once(channel)
            .chain(items.iter().map(|i| i.item.as_str()))
            .collect();
        (keys, args)
    }
}

/// Publishes `items` on `channel` through `backend`, numbered ([`PUBLISH_SEQUENCED`]).
pub async fn publish_sequenced(
    backend: &impl Backend,
    channel: &str,
    items: &[Sequenced],
) -> Result<(), BackendError> {
    let (keys, args) = Sequenced::script_arguments(channel, items);
    backend
        .eval(PUBLISH_SEQUENCED, &keys, &args)
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_refuse_unexpected_types_instead_of_reading_them_as_absent() {
        let row = Row::new(
            Arc::from(vec!["n".to_string(), "t".to_string(), "z".to_string()]),
            vec![Value::Int(3), Value::Text("x".into()), Value::Null],
        );
        assert_eq!(row.int("n").unwrap(), 3);
        assert_eq!(row.text("t").unwrap(), "x");
        assert_eq!(row.opt_text("z").unwrap(), None);
        assert!(row.text("n").is_err());
        assert!(row.int("z").is_err());
        assert!(row.int("missing").is_err());
    }
}

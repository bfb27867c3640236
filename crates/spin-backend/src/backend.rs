//! [`Backend`] over Spin's outbound PostgreSQL, the default key-value store and outbound
//! Redis. A WASIp3 instance serves many requests (by default up to 16 at once and 128 in
//! all, and Spin drops it after a second without one), so each instance opens its
//! connections on first use and keeps them for the requests it serves:
//!
//! - PostgreSQL: one connection from Spin's pool, shared by the instance's concurrent
//!   requests while it has any. Every statement we send is a transaction of its own (a
//!   function call or a single statement), so statements of different requests may
//!   interleave on it. A checkout per request cost a reset of the session
//!   (`RecyclingMethod::Clean`, seven statements) in an extra round trip, and kept up to 64
//!   backends busy on two cores. Spin's pool holds up to 64 connections per component, and
//!   Spin keeps an idle instance for a second, so an instance takes one connection at most
//!   (its requests wait for the one being opened), and gives it back soon after its last
//!   request ends ([`GiveBack`]): it never waits for the pool while holding a connection.
//! - Redis: Spin pools nothing there, every `open` is a new TCP connection. Messages
//!   published in batches wait in the instance ([`add_to_batch`]).
//! - Key-value: opening the store costs a round trip (Spin pings Redis). Spin's Redis store
//!   shares one reconnecting connection for the whole host, which after a Redis outage of
//!   more than a second waits up to a minute before its next attempt, and every call waits
//!   with it; so a call gets [`KV_TIME_LIMIT`], and after one that ran out the instance
//!   leaves the store alone for [`KV_REST`] (callers treat the store as a cache).
//!
//! A connection that failed in a way that may be its own (anything but an error
//! PostgreSQL answered) is forgotten, and the next call opens a new one.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::thread::LocalKey;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::{Either, select};
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::key_value::Store;
use spin_sdk::pg::{self, DbValue, ParameterValue};
use spin_sdk::redis;
use ticketbuster_services::backend::{HTTP_TIMEOUT, PUBLISH_SEQUENCED};
use ticketbuster_services::recent_reads::RecentReads;
use ticketbuster_services::{Backend, BackendError, HttpAnswer, Param, Row, Sequenced, Value, log};

const DEFAULT_DB_URL: &str = "host=127.0.0.1 port=5432 user=postgres dbname=ticketbuster";
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// How long a key-value call may take: a cache read answers in a millisecond or two.
const KV_TIME_LIMIT: Duration = Duration::from_millis(500);
/// How long an instance leaves the key-value store alone after a call ran out of time.
const KV_REST: Duration = Duration::from_secs(5);

/// How long a batched message waits for others to join it. During an on-sale an instance
/// answers a hold every few milliseconds, so a batch holds several.
const BATCH_WINDOW: Duration = Duration::from_millis(50);

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
    static REDIS: RefCell<Option<Kept<redis::Connection>>> = const { RefCell::new(None) };
    static DB: RefCell<Option<Kept<pg::Connection>>> = const { RefCell::new(None) };
    static KV: RefCell<Option<Kept<Store>>> = const { RefCell::new(None) };
    /// Messages waiting to be published together, by channel (see [`add_to_batch`]).
    static BATCHES: RefCell<HashMap<&'static str, Vec<Sequenced>>> = RefCell::new(HashMap::new());
    /// Until when the instance leaves the key-value store alone (see [`KV_REST`]).
    static KV_RESTING_UNTIL: Cell<Option<Instant>> = const { Cell::new(None) };
    /// What the instance read from the key-value store a moment ago.
    static RECENT_READS: RefCell<RecentReads> = RefCell::new(RecentReads::default());
    /// Requests (or Redis messages) the instance is serving now.
    static IN_FLIGHT: Cell<usize> = const { Cell::new(0) };
    /// Requests the instance has begun, so a lingering give-back can tell whether another
    /// one came and went while it waited.
    static BEGUN: Cell<u64> = const { Cell::new(0) };
}

/// When an instance gives its database connection back once it has no request left.
#[derive(Debug, Clone, Copy)]
pub(crate) enum GiveBack {
    /// At once: a Redis trigger instance serves one message and is dropped after it.
    AtOnce,
    /// After this long without a new request. An HTTP instance's requests come with short
    /// gaps between them (a client reads its answer before it asks again): giving the
    /// connection back in every gap made 40 % of the holds take a connection anew, each
    /// paying the pool's session reset. The wait runs after the answer has gone out.
    After(Duration),
}

pub struct SpinBackend {
    config: Rc<BackendConfig>,
    give_back: GiveBack,
    /// Set on a backend made by [`Backend::alongside`]: its own connection, opened on first
    /// use and given back to Spin's pool when the backend is dropped.
    own_db: Option<RefCell<Option<Rc<pg::Connection>>>>,
}

/// An instance's connection, or the one open under way that its other requests wait for:
/// each request opening its own would take up to 16 connections per instance from Spin's
/// pool, and instances that keep one while a request waits for another can empty the
/// pool for good (seen with 160 clients).
enum Kept<T> {
    Open(Rc<T>),
    Opening,
}

type Slot<T> = &'static LocalKey<RefCell<Option<Kept<T>>>>;

/// How often a request looks whether the instance's connection is open. Only the opening
/// request polls the host's future (a component-model future belongs to one task), and
/// waking another task from it would need wit-bindgen's inter-task wake-ups, which cost
/// every request of every component; this wait happens once per instance.
const OPEN_POLL: Duration = Duration::from_millis(1);

/// What a request finds in its instance's slot.
enum Found<T> {
    Open(Rc<T>),
    BeingOpened,
    /// Nothing: the request opens the connection, and has marked it as being opened.
    Nothing,
}

/// Takes an instance's kept connection, waits for the one being opened, or opens one and
/// keeps it. If the opening request fails or is dropped, a waiting one opens in its turn.
async fn kept<T, E: std::fmt::Display, F: Future<Output = Result<T, E>>>(
    slot: Slot<T>,
    open: impl FnOnce() -> F,
) -> Result<Rc<T>, String> {
    loop {
        let found = slot.with(|kept| {
            let mut kept = kept.borrow_mut();
            match &*kept {
                Some(Kept::Open(conn)) => Found::Open(conn.clone()),
                Some(Kept::Opening) => Found::BeingOpened,
                None => {
                    *kept = Some(Kept::Opening);
                    Found::Nothing
                }
            }
        });
        match found {
            Found::Open(conn) => return Ok(conn),
            Found::BeingOpened => spin_sdk::time::sleep(OPEN_POLL).await,
            Found::Nothing => break,
        }
    }
    let opening = OpeningGuard(slot);
    let conn = Rc::new(open().await.map_err(|e| e.to_string())?);
    slot.with(|kept| *kept.borrow_mut() = Some(Kept::Open(conn.clone())));
    drop(opening);
    Ok(conn)
}

/// The outcome of `call`, or `None` when it has not come within `limit` (the call is then
/// dropped, which cancels it on Spin's side).
async fn within<T>(limit: Duration, call: impl Future<Output = T>) -> Option<T> {
    let timer = spin_sdk::time::sleep(limit);
    match select(std::pin::pin!(call), std::pin::pin!(timer)).await {
        Either::Left((outcome, _)) => Some(outcome),
        Either::Right(_) => None,
    }
}

/// Empties the slot if what it holds is `what`.
fn clear<T>(slot: Slot<T>, what: fn(&Kept<T>) -> bool) {
    slot.with(|kept| {
        let mut kept = kept.borrow_mut();
        if kept.as_ref().is_some_and(what) {
            *kept = None;
        }
    });
}

/// Drops an instance's kept connection, so that the next request opens a new one.
fn forget<T>(slot: Slot<T>) {
    clear(slot, |kept| matches!(kept, Kept::Open(_)));
}

/// Ends an open that failed or was dropped, so that a waiting request opens instead.
struct OpeningGuard<T: 'static>(Slot<T>);

impl<T> Drop for OpeningGuard<T> {
    fn drop(&mut self) {
        clear(self.0, |kept| matches!(kept, Kept::Opening));
    }
}

/// The instance's Redis connection, or a new one (kept for the next requests).
async fn redis_connection(
    config: &BackendConfig,
    fresh: bool,
) -> Result<Rc<redis::Connection>, BackendError> {
    if fresh {
        forget(&REDIS);
    }
    kept(&REDIS, || redis::Connection::open(&config.redis_url))
        .await
        .map_err(BackendError::Redis)
}

/// Runs a Redis call on the kept connection and, if it fails (Redis restarted, the
/// connection dropped), once more on a new one. Every call we make may run twice:
/// publishes are wake-ups or carry ids, and the scripts refuse repeats.
async fn with_redis<T, E: std::fmt::Display>(
    config: &BackendConfig,
    call: impl AsyncFn(&redis::Connection) -> Result<T, E>,
) -> Result<T, BackendError> {
    let kept = redis_connection(config, false).await?;
    match call(&kept).await {
        Ok(value) => Ok(value),
        Err(first) => {
            let fresh = redis_connection(config, true)
                .await
                .map_err(|e| BackendError::Redis(format!("{first}; reconnecting: {e}")))?;
            call(&fresh)
                .await
                .map_err(|e| BackendError::Redis(e.to_string()))
        }
    }
}

/// Runs a Lua script atomically in Redis (`EVAL`); its reply as text, `None` for nil.
async fn eval(
    config: &BackendConfig,
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
    let reply = with_redis(config, async |conn| {
        conn.execute("EVAL", arguments.clone()).await
    })
    .await?;
    Ok(match reply.into_iter().next() {
        None | Some(redis::RedisResult::Nil) => None,
        Some(redis::RedisResult::Status(s)) => Some(s),
        Some(redis::RedisResult::Binary(b)) => Some(text(&b)),
        Some(redis::RedisResult::Int64(n)) => Some(n.to_string()),
    })
}

/// Adds `item` to the instance's batch for `channel`; the first item of a batch starts a
/// task that publishes the batch after [`BATCH_WINDOW`], once the answer has gone out.
fn add_to_batch(config: &Rc<BackendConfig>, channel: &'static str, item: Sequenced) {
    let first = BATCHES.with(|batches| {
        let mut batches = batches.borrow_mut();
        let items = batches.entry(channel).or_default();
        items.push(item);
        items.len() == 1
    });
    if !first {
        return;
    }
    let config = config.clone();
    wit_bindgen::spawn(async move {
        spin_sdk::time::sleep(BATCH_WINDOW).await;
        let items =
            BATCHES.with(|batches| batches.borrow_mut().remove(channel).unwrap_or_default());
        let (keys, args) = Sequenced::script_arguments(channel, &items);
        if let Err(e) = eval(&config, PUBLISH_SEQUENCED, &keys, &args).await {
            log::warn(
                "batched publish failed",
                format_args!("{} messages on {channel} not published: {e}", items.len()),
            );
        }
    });
}

impl SpinBackend {
    /// A backend for one request; the instance's connections outlive it.
    pub(crate) fn new(config: Rc<BackendConfig>, give_back: GiveBack) -> Self {
        IN_FLIGHT.with(|n| n.set(n.get() + 1));
        BEGUN.with(|n| n.set(n.get() + 1));
        Self {
            config,
            give_back,
            own_db: None,
        }
    }

    async fn db(&self) -> Result<Rc<pg::Connection>, BackendError> {
        let connect = |e: String| BackendError::Database(format!("connect: {e}"));
        let Some(own) = &self.own_db else {
            return kept(&DB, || pg::Connection::open(self.config.db_url.as_str()))
                .await
                .map_err(connect);
        };
        if let Some(conn) = own.borrow().clone() {
            return Ok(conn);
        }
        let conn = Rc::new(
            pg::Connection::open(self.config.db_url.as_str())
                .await
                .map_err(|e| connect(e.to_string()))?,
        );
        *own.borrow_mut() = Some(conn.clone());
        Ok(conn)
    }

    /// Forgets the connection after an error that may be the connection's own (anything
    /// PostgreSQL did not answer itself), so that the next statement opens a new one.
    fn database_error(&self, e: pg::Error) -> BackendError {
        let answered = matches!(
            e,
            pg::Error::PgError(pg::PgError::QueryFailed(pg::QueryError::DbError(_)))
        );
        if !answered {
            match &self.own_db {
                Some(own) => *own.borrow_mut() = None,
                None => forget(&DB),
            }
        }
        BackendError::Database(e.to_string())
    }

    async fn kv(&self) -> Result<Rc<Store>, BackendError> {
        kept(&KV, Store::open_default)
            .await
            .map_err(BackendError::KeyValue)
    }

    /// Runs a call on the key-value store within [`KV_TIME_LIMIT`], unless the instance is
    /// resting from it.
    async fn with_kv<T>(
        &self,
        call: impl AsyncFnOnce(&Store) -> Result<T, spin_sdk::key_value::Error>,
    ) -> Result<T, BackendError> {
        if KV_RESTING_UNTIL
            .get()
            .is_some_and(|until| Instant::now() < until)
        {
            return Err(BackendError::KeyValue(format!(
                "left alone for {KV_REST:?} after a call got no answer within {KV_TIME_LIMIT:?}"
            )));
        }
        let run = async {
            let store = self.kv().await?;
            call(&store)
                .await
                .map_err(|e| BackendError::KeyValue(e.to_string()))
        };
        within(KV_TIME_LIMIT, run).await.unwrap_or_else(|| {
            KV_RESTING_UNTIL.set(Some(Instant::now() + KV_REST));
            Err(BackendError::KeyValue(format!(
                "no answer within {KV_TIME_LIMIT:?}"
            )))
        })
    }
}

impl Drop for SpinBackend {
    fn drop(&mut self) {
        let left = IN_FLIGHT.with(|n| {
            n.set(n.get().saturating_sub(1));
            n.get()
        });
        let nothing_to_give_back = DB.with_borrow(|db| !matches!(db, Some(Kept::Open(_))));
        if left > 0 || nothing_to_give_back {
            return;
        }
        match self.give_back {
            GiveBack::AtOnce => forget(&DB),
            GiveBack::After(wait) => {
                let begun = BEGUN.get();
                wit_bindgen::spawn(async move {
                    spin_sdk::time::sleep(wait).await;
                    // No request began meanwhile, so none is in flight either.
                    if BEGUN.get() == begun {
                        forget(&DB);
                    }
                });
            }
        }
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
            .map_err(|e| self.database_error(e))?;
        let columns: Arc<[String]> = result.columns().iter().map(|c| c.name.clone()).collect();
        let rows = result.collect().await.map_err(|e| self.database_error(e))?;
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
            .map_err(|e| self.database_error(e))
    }

    async fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>, BackendError> {
        let value = self.with_kv(async |store| store.get(key).await).await?;
        RECENT_READS.with_borrow_mut(|reads| match &value {
            Some(value) => reads.remember(key, value, self.now_ms()),
            None => reads.forget(key),
        });
        Ok(value)
    }

    async fn cache_set(&self, key: &str, value: &[u8]) -> Result<(), BackendError> {
        self.with_kv(async |store| store.set(key, value).await)
            .await?;
        RECENT_READS.with_borrow_mut(|reads| reads.remember(key, value, self.now_ms()));
        Ok(())
    }

    async fn cache_delete(&self, key: &str) -> Result<(), BackendError> {
        RECENT_READS.with_borrow_mut(|reads| reads.forget(key));
        self.with_kv(async |store| store.delete(key).await).await
    }

    fn cache_recently_read(&self, key: &str, max_age_ms: i64) -> Option<Vec<u8>> {
        RECENT_READS.with_borrow(|reads| {
            reads
                .get(key, max_age_ms, self.now_ms())
                .map(<[u8]>::to_vec)
        })
    }

    async fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), BackendError> {
        with_redis(&self.config, async |conn| {
            conn.publish(channel, payload).await
        })
        .await
    }

    async fn publish_batched(&self, channel: &'static str, item: Sequenced) {
        add_to_batch(&self.config, channel, item);
    }

    fn alongside(&self) -> Self {
        let mut lane = Self::new(self.config.clone(), self.give_back);
        lane.own_db = Some(RefCell::new(None));
        lane
    }

    async fn http_get(&self, url: &str, max_bytes: usize) -> Result<HttpAnswer, BackendError> {
        let failed = |problem: String| BackendError::Http(format!("GET {url}: {problem}"));
        let fetch = async {
            let response = spin_sdk::http::get(url)
                .await
                .map_err(|e| failed(e.to_string()))?;
            let status = response.status().as_u16();
            let mut body = Vec::new();
            let mut chunks = response.into_body().stream();
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(|e| failed(e.to_string()))?;
                if body.len() + chunk.len() > max_bytes {
                    return Err(failed(format!("the answer is over {max_bytes} bytes")));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(HttpAnswer { status, body })
        };
        within(HTTP_TIMEOUT, fetch)
            .await
            .unwrap_or_else(|| Err(failed(format!("no answer within {HTTP_TIMEOUT:?}"))))
    }

    async fn eval(
        &self,
        script: &str,
        keys: &[&str],
        args: &[&str],
    ) -> Result<Option<String>, BackendError> {
        eval(&self.config, script, keys, args).await
    }
}

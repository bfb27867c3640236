//! Glue between Spin and the services: everything Spin-specific lives here, so each
//! component is a few lines naming its service and its settings.

mod backend;
pub mod settings;

pub use backend::SpinBackend;

use std::cell::{OnceCell, RefCell};
use std::convert::Infallible;
use std::rc::Rc;
use std::thread::LocalKey;
use std::time::Duration;

use backend::{BackendConfig, GiveBack};

use bytes::Bytes;
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use http_body::Frame;
use http_body_util::{Either, StreamBody};
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http::{FullBody, Request};
use ticketbuster_domain::ApiError;
use ticketbuster_domain::ids::PublicId;
use ticketbuster_services::compression::{self, CompressedBodies};
use ticketbuster_services::http_policy::{self, CorsPolicy};
use ticketbuster_services::log;
use ticketbuster_services::organizer::{self, AttendeesExport};
use ticketbuster_services::web::{self, ChunkSink, MAX_BODY_BYTES};
use ticketbuster_services::worker::{self, SettleAfterResponse, WorkerError};

/// An answer: whole, or streamed after its headers (an attendee export).
pub type SpinResponse = http::Response<Either<FullBody<Bytes>, StreamedBody>>;

/// A body written by a task spawned after the handler returned. An `Err` frame aborts it,
/// so a client sees a failed download rather than a file cut short.
pub type StreamedBody = StreamBody<mpsc::Receiver<Result<Frame<Bytes>, anyhow::Error>>>;

/// Chunks of a streamed body in flight between its writer and the host.
const STREAMED_CHUNKS_IN_FLIGHT: usize = 4;

/// How long an HTTP instance keeps its database connection after its last request, for
/// the next one (see [`GiveBack`]). Short enough that an instance left idle gives it back
/// long before Spin drops the instance a second later.
const DB_LINGER: Duration = Duration::from_millis(20);

thread_local! {
    static BACKEND_CONFIG: OnceCell<Rc<BackendConfig>> = const { OnceCell::new() };
    static CORS: OnceCell<Rc<CorsPolicy>> = const { OnceCell::new() };
    /// The instance's recently compressed bodies (a cached seat status, served again).
    static COMPRESSED: RefCell<CompressedBodies> = const { RefCell::new(CompressedBodies::new()) };
}

/// Reads the request (refusing bodies over the limit without buffering them), loads the
/// settings and runs the handler with a backend over Spin's host APIs. Every answer gets
/// the security headers and the CORS policy ([`http_policy`]), and is compressed when the
/// client accepts it and it is JSON or text ([`compression`]).
pub async fn serve<S>(
    req: Request,
    settings: impl Future<Output = Result<Rc<S>, ApiError>>,
    handler: impl AsyncFnOnce(&SpinBackend, &S, web::Request) -> web::Response,
) -> SpinResponse {
    serve_up_to(req, MAX_BODY_BYTES, settings, handler).await
}

/// As [`serve`], for a component with an endpoint that takes bodies of up to `body_limit`
/// bytes (its service checks each endpoint's own limit).
pub async fn serve_up_to<S>(
    req: Request,
    body_limit: usize,
    settings: impl Future<Output = Result<Rc<S>, ApiError>>,
    handler: impl AsyncFnOnce(&SpinBackend, &S, web::Request) -> web::Response,
) -> SpinResponse {
    let origin = req.headers().get(http::header::ORIGIN).cloned();
    let accept_encoding = compression::accept_encoding(req.headers());
    let (cors, response) = match per_instance(&CORS, settings::cors_policy()).await {
        Err(err) => (Rc::default(), web::error(&err)),
        Ok(cors) => {
            let response = match read_request(req, body_limit).await {
                Err(err) => web::error(&err),
                Ok(req) => match http_policy::preflight(&req, &cors) {
                    Some(answer) => answer,
                    None => run(req, settings, handler).await,
                },
            };
            (cors, response)
        }
    };
    let mut response = http_policy::secure(origin.as_ref(), &cors, response);
    match response.extensions_mut().remove() {
        Some(export) => streamed_attendees(response, export),
        None => {
            let response = COMPRESSED.with_borrow_mut(|memo| {
                compression::compress_for(accept_encoding.as_ref(), response, memo)
            });
            with_content_length(response).map(|body| Either::Left(FullBody::new(Bytes::from(body))))
        }
    }
}

/// Sends the export's headers now and its lines as the database gives them.
fn streamed_attendees(response: web::Response, export: AttendeesExport) -> SpinResponse {
    let (frames, body) = mpsc::channel(STREAMED_CHUNKS_IN_FLIGHT);
    spin_sdk::wasip3::spawn(async move {
        let mut sink = FrameSink(frames);
        if let Err(e) = organizer::write_attendees(&backend().await, &export, &mut sink).await {
            log::warn(
                "organizer: attendee export",
                format_args!("the export of {export:?} stopped: {e}"),
            );
            let _ = sink
                .0
                .send(Err(anyhow::anyhow!("the export stopped: {e}")))
                .await;
        }
    });
    response.map(|_| Either::Right(StreamBody::new(body)))
}

struct FrameSink(mpsc::Sender<Result<Frame<Bytes>, anyhow::Error>>);

impl ChunkSink for FrameSink {
    async fn send(&mut self, chunk: Vec<u8>) -> bool {
        self.0
            .send(Ok(Frame::data(Bytes::from(chunk))))
            .await
            .is_ok()
    }
}

/// Loads the settings and the backend's configuration, and runs the handler.
async fn run<S>(
    req: web::Request,
    settings: impl Future<Output = Result<Rc<S>, ApiError>>,
    handler: impl AsyncFnOnce(&SpinBackend, &S, web::Request) -> web::Response,
) -> web::Response {
    let settings = match settings.await {
        Ok(settings) => settings,
        Err(err) => return web::error(&err),
    };
    let config = per_instance(&BACKEND_CONFIG, async {
        Ok(BackendConfig::from_variables().await)
    })
    .await;
    match config {
        Err(err) => web::error(&err),
        Ok(config) => {
            let backend = SpinBackend::new(config, GiveBack::After(DB_LINGER));
            let mut response = handler(&backend, &settings, req).await;
            if let Some(SettleAfterResponse(order_id)) = response.extensions_mut().remove() {
                spin_sdk::wasip3::spawn(settle_after_response(order_id));
            }
            response
        }
    }
}

/// Runs the order worker's saga for an order once its answer is on its way (Spin keeps the
/// instance until this finishes). A failure only delays the order: the jobs route's next
/// scheduled call settles it.
async fn settle_after_response(order_id: PublicId) {
    let settled = match settings::worker_settings().await {
        Ok(settings) => worker::settle_after_response(&backend().await, &settings, &order_id)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = settled {
        log::warn(
            "orders: settling after the answer",
            format_args!("order {order_id} left for the jobs route: {e}"),
        );
    }
}

/// Declares the body's length. Without it the host answers chunked, and the final empty
/// chunk goes out as a second small packet that Nagle's algorithm and the client's
/// delayed ACK hold back for ~40 ms on a keep-alive connection.
fn with_content_length(mut response: web::Response) -> web::Response {
    let length = http::HeaderValue::from(response.body().len());
    response
        .headers_mut()
        .insert(http::header::CONTENT_LENGTH, length);
    response
}

/// Runs the order worker for one message of the `orders` channel. A message that is not
/// an order id is logged and dropped; any other failure goes back to Spin to be logged,
/// and the outbox sweep publishes the order again.
pub async fn work_on_order_message(message: &[u8]) -> Result<(), String> {
    let settings = settings::worker_settings()
        .await
        .map_err(|e| e.to_string())?;
    match worker::handle_message(&backend().await, &settings, message).await {
        Ok(_) => Ok(()),
        Err(WorkerError::Rejected(why)) => {
            eprintln!("warning: dropped a message on the orders channel: {why}");
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

async fn backend() -> SpinBackend {
    let config = per_instance(&BACKEND_CONFIG, async {
        Ok::<_, Infallible>(BackendConfig::from_variables().await)
    })
    .await;
    match config {
        Ok(config) => SpinBackend::new(config, GiveBack::AtOnce),
        Err(never) => match never {},
    }
}

/// For services that need no settings.
pub async fn no_settings() -> Result<Rc<()>, ApiError> {
    Ok(Rc::new(()))
}

/// Loads a value on an instance's first request and shares it with the later ones: Spin
/// reuses a WASIp3 instance for many requests, and variables do not change while it lives.
/// A failed load is not kept, so the next request tries again.
pub(crate) async fn per_instance<T, E>(
    slot: &'static LocalKey<OnceCell<Rc<T>>>,
    load: impl Future<Output = Result<T, E>>,
) -> Result<Rc<T>, E> {
    if let Some(value) = slot.with(|cell| cell.get().cloned()) {
        return Ok(value);
    }
    let value = Rc::new(load.await?);
    Ok(slot.with(|cell| cell.get_or_init(|| value).clone()))
}

/// Whether a request of this method may carry a body an endpoint reads: none of ours reads
/// the body of a GET, HEAD, OPTIONS or DELETE, whose bodies have no meaning in HTTP.
fn takes_body(method: &http::Method) -> bool {
    !matches!(
        *method,
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS | http::Method::DELETE
    )
}

async fn read_request(req: Request, limit: usize) -> Result<web::Request, ApiError> {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::payload_too_large(limit));
    }
    if declared == Some(0) || !takes_body(&parts.method) {
        // Waiting for the end of a body that is not there costs the answer: a GET that read
        // its empty body answered at 0.7 times the rate, and its p99 went from 8 to 45 ms.
        return Ok(http::Request::from_parts(parts, Bytes::new()));
    }
    let mut collected = Vec::new();
    let mut chunks = body.stream();
    while let Some(chunk) = chunks.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("could not read the body: {e}")))?;
        if collected.len() + chunk.len() > limit {
            return Err(ApiError::payload_too_large(limit));
        }
        collected.extend_from_slice(&chunk);
    }
    Ok(http::Request::from_parts(parts, Bytes::from(collected)))
}

//! The OpenAPI document and the services agree: every documented path and method is
//! answered by a service (not with "no such endpoint" or 405), with a status the document
//! lists for it, in a media type and with the headers it documents for that status; and the
//! routes of spin.toml and deploy/http-only/spin.toml send each documented path to the
//! component of that service (`/api/jobs/run` only in the HTTP-only deployment). The
//! document and the manifests are read with YAML and TOML parsers; scripts/test.sh checks
//! the document with an OpenAPI validator, and scripts/e2e.sh fuzzes the running app from it.

use http::{Method, StatusCode};
use serde_json::{Value, json};
use ticketbuster_domain::orders::PaymentProvider;
use ticketbuster_services::jobs::{self, JobsSettings, JobsToken};
use ticketbuster_services::worker::WorkerSettings;
use ticketbuster_tests::{Service, TestApp, request};

const JOBS_TOKEN: &str = "a-jobs-token-for-the-contract-test-of-the-jobs-route";

/// The document, read by a YAML parser into JSON values.
fn document() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml"))
            .expect("docs/openapi.yaml");
    serde_norway::from_str(&text).expect("docs/openapi.yaml is YAML")
}

/// `value`, or what its `$ref` (`#/components/...`) points to.
fn resolved<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("a local $ref");
            resolved(
                doc,
                doc.pointer(pointer)
                    .expect("the $ref points into the document"),
            )
        }
        None => value,
    }
}

/// One documented response: its status, media types and headers.
struct Documented {
    status: StatusCode,
    media_types: Vec<String>,
    /// The headers the document names, with their `const` value if any.
    headers: Vec<(String, Option<String>)>,
}

struct Operation {
    path: String,
    method: Method,
    responses: Vec<Documented>,
}

fn documented_operations() -> Vec<Operation> {
    let doc = document();
    let paths = doc["paths"].as_object().expect("the document's paths");
    let mut operations = Vec::new();
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("a path item") {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                continue;
            }
            let responses = operation["responses"]
                .as_object()
                .unwrap_or_else(|| panic!("{method} {path} documents its responses"))
                .iter()
                .map(|(status, response)| {
                    let response = resolved(&doc, response);
                    let names = |key: &str| {
                        response[key]
                            .as_object()
                            .map(|map| map.iter().collect::<Vec<_>>())
                            .unwrap_or_default()
                    };
                    Documented {
                        status: status.parse().expect("a status code"),
                        media_types: names("content")
                            .into_iter()
                            .map(|(media_type, _)| media_type.clone())
                            .collect(),
                        headers: names("headers")
                            .into_iter()
                            .map(|(name, header)| {
                                let constant = resolved(&doc, header)["schema"]["const"]
                                    .as_str()
                                    .map(str::to_owned);
                                (name.clone(), constant)
                            })
                            .collect(),
                    }
                })
                .collect();
            operations.push(Operation {
                path: path.clone(),
                method,
                responses,
            });
        }
    }
    operations
}

/// A generated client needs a schema for every body: each response but 204 and 304
/// documents one, and an error is the `Error` component or builds on it.
#[test]
fn every_documented_answer_has_a_schema() {
    let doc = document();
    let error = json!({ "$ref": "#/components/schemas/Error" });
    for (path, item) in doc["paths"].as_object().expect("the document's paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            for (status, response) in operation["responses"].as_object().expect("responses") {
                if status == "204" || status == "304" {
                    continue;
                }
                let content = resolved(&doc, response)["content"]
                    .as_object()
                    .unwrap_or_else(|| panic!("{method} {path} {status}: no body documented"));
                for (media_type, body) in content {
                    let schema = &body["schema"];
                    assert!(
                        schema.is_object(),
                        "{method} {path} {status} {media_type}: no schema"
                    );
                    let is_error = status.starts_with('4') || status.starts_with('5');
                    // The health routes answer 503 with their report, not an error.
                    if is_error && !path.starts_with("/api/health") {
                        let builds_on_error = *schema == error
                            || schema["allOf"]
                                .as_array()
                                .is_some_and(|all| all.contains(&error));
                        assert!(
                            builds_on_error,
                            "{method} {path} {status}: not the Error component"
                        );
                    }
                }
            }
        }
    }
}

/// What serves a documented path: a service of the app, or the jobs route of the HTTP-only
/// deployment.
#[derive(Clone, Copy)]
enum Server {
    App(Service),
    Jobs,
}

fn server_for(path: &str) -> Server {
    if path.starts_with("/api/jobs/") {
        Server::Jobs
    } else {
        Server::App(service_for(path))
    }
}

fn service_for(path: &str) -> Service {
    match path {
        p if p.starts_with("/api/auth/") => Service::Auth,
        p if p.ends_with("/holds") || p.starts_with("/api/holds") => Service::Holds,
        p if p.starts_with("/api/orders") || p.starts_with("/api/tickets/") => Service::Orders,
        p if p.starts_with("/api/health") => Service::Health,
        p if p.starts_with("/api/checkins") || p.ends_with("/gate-bundle") => Service::Checkins,
        p if p.ends_with("/queue") || p.ends_with("/waiting-room") => Service::WaitingRoom,
        p if p.starts_with("/api/organizer/") => Service::Organizer,
        _ => Service::Catalog,
    }
}

/// The Spin component that serves a documented path.
fn component_of(server: Server) -> &'static str {
    match server {
        Server::App(Service::Auth) => "auth",
        Server::App(Service::Catalog) => "catalog",
        Server::App(Service::Holds) => "seat-lock",
        Server::App(Service::Orders) => "orders",
        Server::App(Service::Health) => "health",
        Server::App(Service::Checkins) => "checkin",
        Server::App(Service::Organizer) => "organizer",
        Server::App(Service::WaitingRoom) => "waiting-room",
        Server::Jobs => "jobs",
    }
}

/// The answer of whatever serves `path`, as its component would give it.
async fn serve(
    app: &TestApp,
    path: &str,
    req: http::Request<bytes::Bytes>,
) -> http::Response<Vec<u8>> {
    match server_for(path) {
        Server::App(service) => app.call_raw(service, req).await,
        Server::Jobs => {
            let settings = JobsSettings {
                token: JobsToken::parse(JOBS_TOKEN).expect("a long enough token"),
                worker: WorkerSettings {
                    batch_size: 50,
                    lanes: 4,
                    payment: PaymentProvider::new(0.0).expect("a failure rate"),
                },
            };
            jobs::handle(&app.backend, &settings, req).await
        }
    }
}

/// Real ids for the documented path parameters, so that each operation gets past its
/// lookups: a completed order with tickets to read, a pending one to cancel, and a live
/// hold with no order to place one for.
struct Ids {
    event_id: i64,
    ordered_hold_id: String,
    free_hold_id: String,
    completed_order_id: String,
    pending_order_id: String,
    ticket_id: String,
}

impl Ids {
    async fn prepare(app: &TestApp) -> (ticketbuster_tests::Customer, Self) {
        let (buyer, fixture, ordered_hold_id) = app.held_seats(2).await;
        let placed = app.place_order(&buyer, &ordered_hold_id, "completed").await;
        assert_eq!(placed.status, StatusCode::ACCEPTED, "{:?}", placed.body);
        let completed_order_id = placed.body["order_id"].as_str().unwrap().to_owned();
        let report = app
            .run_worker(completed_order_id.as_bytes(), 0.0)
            .await
            .unwrap();
        assert_eq!(report.completed, 1);
        let tickets = app
            .get_as(&buyer, &format!("/api/orders/{completed_order_id}/tickets"))
            .await;
        let ticket_id = tickets.body["items"][0]["ticket_id"]
            .as_str()
            .unwrap()
            .to_owned();

        let other = app.event(1, 1, 2).await;
        let mut hold_ids = Vec::new();
        for seat in &other.seat_ids {
            let answer = app.hold(&buyer, other.event_id, &[*seat]).await;
            assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
            hold_ids.push(answer.body["hold_id"].as_str().unwrap().to_owned());
        }
        let (pending_hold_id, free_hold_id) = (&hold_ids[0], hold_ids[1].clone());
        let pending = app.place_order(&buyer, pending_hold_id, "pending").await;
        let pending_order_id = pending.body["order_id"].as_str().unwrap().to_owned();

        let ids = Self {
            event_id: fixture.event_id,
            ordered_hold_id,
            free_hold_id,
            completed_order_id,
            pending_order_id,
            ticket_id,
        };
        (buyer, ids)
    }

    /// The documented path with its `{id}` filled in.
    fn concrete(&self, path: &str) -> String {
        let id = match path {
            p if p.starts_with("/api/events/") => self.event_id.to_string(),
            // A hold with an order: releasing it is refused (409 hold_ordered).
            p if p.starts_with("/api/holds/") => self.ordered_hold_id.clone(),
            p if p.ends_with("/cancel") => self.pending_order_id.clone(),
            p if p.starts_with("/api/orders/") => self.completed_order_id.clone(),
            p if p.starts_with("/api/tickets/") => self.ticket_id.clone(),
            _ => "6f9619ff-8b86-d011-b42d-00c04fc964ff".into(),
        };
        path.replace("{id}", &id)
    }

    fn body(&self, path: &str, method: &Method) -> Option<Value> {
        match (path, method) {
            (_, &Method::GET | &Method::DELETE) => None,
            ("/api/orders", _) => Some(json!({ "hold_id": self.free_hold_id })),
            _ => Some(json!({})),
        }
    }
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    let operations = documented_operations();
    assert!(
        operations.len() >= 19,
        "found only {} operations",
        operations.len()
    );
    let app = TestApp::spawn().await;
    let (buyer, ids) = Ids::prepare(&app).await;
    for Operation {
        path,
        method,
        responses,
    } in operations
    {
        let token = match server_for(&path) {
            Server::App(_) => buyer.token.as_str(),
            Server::Jobs => JOBS_TOKEN,
        };
        let mut req = request(
            method.clone(),
            &ids.concrete(&path),
            Some(token),
            ids.body(&path, &method),
        );
        if method == Method::POST {
            req.headers_mut()
                .insert("idempotency-key", "openapi".parse().unwrap());
        }
        let answer = serve(&app, &path, req).await;
        let status = answer.status();
        let content_type = answer
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let body: Value = if content_type == "application/json" {
            serde_json::from_slice(answer.body()).expect("a JSON body")
        } else {
            Value::Null
        };
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        let unknown = status == StatusCode::NOT_FOUND
            && body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("no such"));
        assert!(
            !unknown,
            "{method} {path} is documented but not served: {body:?}"
        );

        if matches!(server_for(&path), Server::App(Service::Orders)) {
            assert!(
                status.is_success(),
                "{method} {path}: real ids and a real body, yet {status}: {body:?}"
            );
        }

        let documented = responses.iter().find(|r| r.status == status);
        let Some(documented) = documented else {
            panic!("{method} {path} answered {status}, which is not documented: {body:?}");
        };
        if answer.body().is_empty() {
            assert!(
                documented.media_types.is_empty(),
                "{method} {path} {status}: documented with a body, answered none"
            );
        } else {
            assert!(
                documented.media_types.contains(&content_type),
                "{method} {path} {status}: answered {content_type:?}, not documented"
            );
        }
        for (name, value) in &documented.headers {
            let answered = answer.headers().get(name.as_str());
            assert!(
                answered.is_some(),
                "{method} {path} {status}: documented header {name} is missing"
            );
            if let (Some(value), Some(answered)) = (value, answered) {
                assert_eq!(answered, value.as_str(), "{method} {path} {status}: {name}");
            }
        }
    }
}

/// The (route, component) of each HTTP trigger of a Spin manifest.
fn http_routes(manifest: &str) -> Vec<(String, String)> {
    let path = format!("{}/../{manifest}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let manifest: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    manifest["trigger"]["http"]
        .as_array()
        .expect("HTTP triggers")
        .iter()
        .map(|trigger| {
            let field = |name: &str| {
                trigger[name]
                    .as_str()
                    .unwrap_or_else(|| panic!("{path}: a trigger without a {name}"))
                    .to_owned()
            };
            (field("route"), field("component"))
        })
        .collect()
}

/// The component Spin sends `path` to: a route without a wildcard first, then the longest
/// wildcard prefix.
fn routed_component<'a>(routes: &'a [(String, String)], path: &str) -> Option<&'a str> {
    let exact = routes.iter().find(|(route, _)| {
        !route.ends_with("/...") && {
            let pattern: Vec<&str> = route.split('/').collect();
            let actual: Vec<&str> = path.split('/').collect();
            pattern.len() == actual.len()
                && pattern
                    .iter()
                    .zip(&actual)
                    .all(|(p, a)| p.starts_with(':') || p == a)
        }
    });
    let wildcard = routes
        .iter()
        .filter_map(|(route, component)| {
            let prefix = route.strip_suffix("/...")?;
            (path == prefix || path.starts_with(&format!("{prefix}/")))
                .then_some((prefix.len(), component))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, component)| component);
    exact.map(|(_, c)| c).or(wildcard).map(String::as_str)
}

#[test]
fn spin_routes_send_every_documented_path_to_its_component() {
    let full = http_routes("spin.toml");
    let http_only = http_routes("deploy/http-only/spin.toml");
    let operations = documented_operations();
    assert!(
        operations.iter().any(|o| o.path == "/api/jobs/run"),
        "the jobs route is documented"
    );
    for Operation { path, .. } in operations {
        let server = server_for(&path);
        let expected = component_of(server);
        assert_eq!(
            routed_component(&http_only, &path),
            Some(expected),
            "{path}: the component deploy/http-only/spin.toml routes it to"
        );
        // The full app settles orders with its Redis-triggered worker: it has no jobs route,
        // and the web app's catch-all answers the path as unknown.
        let in_full_app = match server {
            Server::App(_) => Some(expected),
            Server::Jobs => Some("web"),
        };
        assert_eq!(
            routed_component(&full, &path),
            in_full_app,
            "{path}: the component spin.toml routes it to"
        );
    }
}

//! The OpenAPI document and the services agree: every documented path and method is
//! answered by a service (not with "no such endpoint" or 405), with a status the document
//! lists for it, in a media type and with the headers it documents for that status; and the
//! routes in spin.toml send each documented path to the component of that service.

use http::{Method, StatusCode};
use serde_json::{Value, json};
use ticketbuster_tests::{Service, TestApp, request};

/// One documented response: its status and the document's lines for it.
struct Documented {
    status: StatusCode,
    lines: Vec<String>,
}

impl Documented {
    /// Whether the document gives this response a body of `media_type`.
    fn has_media_type(&self, media_type: &str) -> bool {
        self.lines.iter().any(|l| {
            l.contains(&format!("{media_type}:"))
                || (media_type == "application/json" && l.contains("#/components/responses/Error"))
        })
    }

    /// The headers the document names for this response, with their `const` value if any.
    fn headers(&self) -> Vec<(String, Option<String>)> {
        let mut headers = Vec::new();
        let mut headers_indent = None;
        for line in &self.lines {
            let indent = line.len() - line.trim_start().len();
            match headers_indent {
                None if line.trim() == "headers:" => headers_indent = Some(indent),
                Some(at) if indent == at + 2 => {
                    if let Some((name, rest)) = line.trim().split_once(':') {
                        let value = rest
                            .split_once("const: '")
                            .and_then(|(_, v)| v.split_once('\''))
                            .map(|(v, _)| v.to_owned());
                        headers.push((name.to_owned(), value));
                    }
                }
                Some(at) if indent <= at => headers_indent = None,
                _ => {}
            }
        }
        headers
    }
}

struct Operation {
    path: String,
    method: Method,
    responses: Vec<Documented>,
}

fn documented_operations() -> Vec<Operation> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml"))
        .expect("docs/openapi.yaml");
    let mut operations: Vec<Operation> = Vec::new();
    let mut path: Option<String> = None;
    // Whether the lines read belong to the last operation's latest response.
    let mut in_response = false;
    for line in doc.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some(p) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
            path = Some(format!("/{p}"));
            in_response = false;
        } else if let (Some(p), Some(method)) = (
            &path,
            line.strip_prefix("    ")
                .filter(|l| !l.starts_with(' '))
                .and_then(|l| l.strip_suffix(':')),
        ) {
            in_response = false;
            if let Ok(method) = method.to_uppercase().parse::<Method>()
                && ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str())
            {
                operations.push(Operation {
                    path: p.clone(),
                    method,
                    responses: Vec::new(),
                });
            }
        } else if !line.starts_with(' ') {
            path = None;
            in_response = false;
        } else if path.is_some()
            && let Some(operation) = operations.last_mut()
        {
            let code = line
                .strip_prefix("        '")
                .and_then(|l| l.get(..3))
                .and_then(|c| c.parse::<u16>().ok())
                .and_then(|c| StatusCode::from_u16(c).ok());
            if let Some(status) = code {
                operation.responses.push(Documented {
                    status,
                    lines: vec![line.to_owned()],
                });
                in_response = true;
            } else if in_response && indent > 8 {
                if let Some(response) = operation.responses.last_mut() {
                    response.lines.push(line.to_owned());
                }
            } else {
                in_response = false;
            }
        }
    }
    operations
}

fn service_for(path: &str) -> Service {
    match path {
        p if p.starts_with("/api/auth/") => Service::Auth,
        p if p.ends_with("/holds") || p.starts_with("/api/holds") => Service::Holds,
        p if p.starts_with("/api/orders") || p.starts_with("/api/tickets/") => Service::Orders,
        p if p.starts_with("/api/health") => Service::Health,
        p if p.starts_with("/api/checkins") || p.ends_with("/gate-bundle") => Service::Checkins,
        p if p.starts_with("/api/organizer/") => Service::Organizer,
        _ => Service::Catalog,
    }
}

/// The spin.toml component that serves a service.
fn component_of(service: Service) -> &'static str {
    match service {
        Service::Auth => "auth",
        Service::Catalog => "catalog",
        Service::Holds => "seat-lock",
        Service::Orders => "orders",
        Service::Health => "health",
        Service::Checkins => "checkin",
        Service::Organizer => "organizer",
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
        let mut req = request(
            method.clone(),
            &ids.concrete(&path),
            Some(&buyer.token),
            ids.body(&path, &method),
        );
        if method == Method::POST {
            req.headers_mut()
                .insert("idempotency-key", "openapi".parse().unwrap());
        }
        let answer = app.call_raw(service_for(&path), req).await;
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

        if matches!(service_for(&path), Service::Orders) {
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
                !documented.lines.iter().any(|l| l.contains("content:")),
                "{method} {path} {status}: documented with a body, answered none"
            );
        } else {
            assert!(
                documented.has_media_type(&content_type),
                "{method} {path} {status}: answered {content_type:?}, not documented"
            );
        }
        for (name, value) in documented.headers() {
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

#[test]
fn spin_routes_send_every_documented_path_to_its_component() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../spin.toml"))
        .expect("spin.toml");
    // (route, component) of each `[[trigger.http]]`.
    let mut routes: Vec<(String, String)> = Vec::new();
    let mut route: Option<String> = None;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            route = None;
        } else if let Some(r) = line
            .strip_prefix("route = \"")
            .and_then(|r| r.strip_suffix('"'))
        {
            route = Some(r.to_owned());
        } else if let (Some(r), Some(component)) = (
            &route,
            line.strip_prefix("component = \"")
                .and_then(|c| c.strip_suffix('"')),
        ) {
            routes.push((r.clone(), component.to_owned()));
        }
    }
    let operations = documented_operations();
    assert!(!operations.is_empty());
    for Operation { path, .. } in operations {
        // As Spin picks: a route without a wildcard first, then the longest wildcard prefix.
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
        let component = exact.map(|(_, c)| c).or(wildcard);
        assert_eq!(
            component.map(String::as_str),
            Some(component_of(service_for(&path))),
            "{path}: the component spin.toml routes it to"
        );
    }
}

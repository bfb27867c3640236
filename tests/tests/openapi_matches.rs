//! The OpenAPI document and the services agree: every documented path and method is
//! answered by a service (not with "no such endpoint" or 405), and the routes in
//! spin.toml send each documented path to a component.

use http::{Method, StatusCode};
use serde_json::json;
use ticketbuster_tests::{Service, TestApp, request};

fn documented_operations() -> Vec<(String, Method)> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml"))
        .expect("docs/openapi.yaml");
    let mut operations = Vec::new();
    let mut path: Option<String> = None;
    for line in doc.lines() {
        if let Some(p) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
            path = Some(format!("/{p}"));
        } else if let (Some(p), Some(method)) = (
            &path,
            line.strip_prefix("    ").and_then(|l| l.strip_suffix(':')),
        ) {
            if let Ok(method) = method.to_uppercase().parse::<Method>()
                && ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str())
            {
                operations.push((p.clone(), method));
            }
        } else if !line.starts_with(' ') {
            path = None;
        }
    }
    operations
}

fn service_for(path: &str) -> Service {
    match path {
        p if p.starts_with("/api/auth/") => Service::Auth,
        p if p.ends_with("/holds") || p.starts_with("/api/holds") => Service::Holds,
        "/api/health" => Service::Health,
        _ => Service::Catalog,
    }
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    let operations = documented_operations();
    assert!(operations.len() >= 12, "found only {operations:?}");
    let app = TestApp::spawn().await;
    let fixture = app.event(1, 1, 2).await;
    let buyer = app.customer().await;
    for (path, method) in operations {
        let concrete = path
            .replace(
                "/api/events/{id}",
                &format!("/api/events/{}", fixture.event_id),
            )
            .replace("{id}", "6f9619ff-8b86-d011-b42d-00c04fc964ff");
        let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
        let answer = app
            .call(
                service_for(&path),
                request(method.clone(), &concrete, Some(&buyer.token), body),
            )
            .await;
        assert_ne!(
            answer.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        let unknown = answer.status == StatusCode::NOT_FOUND
            && answer.body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("no such"));
        assert!(
            !unknown,
            "{method} {path} is documented but not served: {:?}",
            answer.body
        );
    }
}

#[test]
fn spin_routes_cover_every_documented_path() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../spin.toml"))
        .expect("spin.toml");
    let routes: Vec<String> = manifest
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("route = \"")
                .and_then(|r| r.strip_suffix('"'))
                .map(str::to_owned)
        })
        .collect();
    for (path, _) in documented_operations() {
        let covered = routes.iter().any(|route| match route.strip_suffix("/...") {
            Some(prefix) => path == prefix || path.starts_with(&format!("{prefix}/")),
            None => {
                let pattern: Vec<&str> = route.split('/').collect();
                let actual: Vec<&str> = path.split('/').collect();
                pattern.len() == actual.len()
                    && pattern
                        .iter()
                        .zip(&actual)
                        .all(|(p, a)| p.starts_with(':') || p == a)
            }
        });
        assert!(covered, "{path} has no route in spin.toml");
    }
}

//! The buyer's web app: the built front end (`frontend/dist`) served from a directory,
//! with content types, caching that suits hashed and unhashed files, ETags, the gzip
//! variants written at build time, and `index.html` for the app's own routes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};
use ticketbuster_domain::ApiError;
use ticketbuster_domain::cache::if_none_match_hits;

use crate::web::{self, Request, Response};

/// Where the app's files are and what the app needs to know at run time.
pub struct SiteSettings {
    pub root: PathBuf,
    /// The sidecar's WebSocket address for browsers; empty means port 3001 of the page's host.
    pub websocket_url: String,
    /// What this instance has learnt of the files under `root`.
    pub files: FileMemo,
}

/// The files under the root as this instance found and read them. They do not change while
/// the app runs, and looking through WASI on every request cost Spin 290 to 580 µs of CPU
/// per file served, against 140 to 180 µs with this memo (docs/benchmarks.md, "Web app").
#[derive(Default)]
pub struct FileMemo {
    /// Whether a path is a file. Requests may name any path, so at most
    /// [`MAX_REMEMBERED_PATHS`] are remembered; the others are looked at each time.
    is_file: Mutex<HashMap<PathBuf, bool>>,
    /// The files read (and the `.gz` variants looked for): only paths that were found to be
    /// files or their variants, so as many as the app has, within the same bound.
    contents: Mutex<HashMap<PathBuf, Option<Arc<FileBody>>>>,
}

const MAX_REMEMBERED_PATHS: usize = 512;

struct FileBody {
    bytes: Vec<u8>,
    etag: String,
}

impl FileMemo {
    fn is_file(&self, path: &Path) -> bool {
        if let Some(known) = locked(&self.is_file).get(path) {
            return *known;
        }
        let found = path.is_file();
        remember(&mut locked(&self.is_file), path, found);
        found
    }

    /// The file's bytes and ETag; `None` when there is no such file or it cannot be read
    /// (then read again next time: that may pass).
    fn read(&self, path: &Path) -> Option<Arc<FileBody>> {
        if let Some(known) = locked(&self.contents).get(path) {
            return known.clone();
        }
        let body = match std::fs::read(path) {
            Ok(bytes) => Some(Arc::new(FileBody {
                etag: etag(&bytes),
                bytes,
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                eprintln!("error: could not read {}: {e}", path.display());
                return None;
            }
        };
        remember(&mut locked(&self.contents), path, body.clone());
        body
    }
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn remember<T>(memo: &mut HashMap<PathBuf, T>, path: &Path, value: T) {
    if memo.len() < MAX_REMEMBERED_PATHS {
        memo.insert(path.to_owned(), value);
    }
}

/// Files under this folder of the root carry a content hash in their names, so they never change.
const HASHED_ASSETS: &str = "assets";

/// The browser's run-time configuration, read by the app at start.
const APP_CONFIG: &str = "/app-config.json";

/// The app's pages run this; its resources come from here and the sidecar's WebSocket.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; \
     connect-src 'self' ws: wss:; worker-src 'self'; manifest-src 'self'; \
     object-src 'none'; base-uri 'self'; frame-ancestors 'none'";

pub fn handle(site: &SiteSettings, req: &Request) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return web::error(&ApiError::method_not_allowed());
    }
    let path = req.uri().path();
    let mut response = if path == APP_CONFIG {
        app_config(site)
    } else {
        match resolve(site, path) {
            Some(file) => serve_file(site, &file, req.headers()),
            None => web::error(&ApiError::not_found("no such file")),
        }
    };
    if req.method() == Method::HEAD {
        response.body_mut().clear();
    }
    response
}

fn app_config(site: &SiteSettings) -> Response {
    let mut response = web::json(
        StatusCode::OK,
        &json!({ "websocket_url": site.websocket_url }),
    );
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A file to answer with: the one named, or `index.html` for a route of the app (a path
/// whose last segment has no extension). `None` for a missing file or an unsafe path.
fn resolve(site: &SiteSettings, path: &str) -> Option<PathBuf> {
    let relative = path.trim_start_matches('/');
    let segments: Vec<&str> = relative.split('/').collect();
    let safe = segments
        .iter()
        .all(|s| !s.starts_with('.') && !s.contains('\\'));
    if !safe || path.starts_with("/api/") {
        return None;
    }
    let named = site.root.join(relative);
    if !relative.is_empty() && site.files.is_file(&named) {
        return Some(named);
    }
    let is_route = segments.last().is_none_or(|last| !last.contains('.'));
    is_route.then(|| site.root.join("index.html"))
}

fn serve_file(site: &SiteSettings, file: &Path, headers: &HeaderMap) -> Response {
    let accepts_gzip = headers
        .get(ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let gzipped = accepts_gzip
        .then(|| site.files.read(&gz_path(file)))
        .flatten();
    let (body, encoding) = match gzipped {
        Some(body) => (body, Some("gzip")),
        None => match site.files.read(file) {
            Some(body) => (body, None),
            None => return web::error(&ApiError::not_found("no such file")),
        },
    };
    let unchanged = if_none_match_hits(
        headers.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok()),
        &body.etag,
    );
    let mut response = if unchanged {
        web::empty(StatusCode::NOT_MODIFIED)
    } else {
        http::Response::new(body.bytes.clone())
    };
    let content_type = content_type(file);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static(cache_control(&site.root, file)),
    );
    headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    if let Ok(tag) = HeaderValue::from_str(&body.etag) {
        headers.insert(ETAG, tag);
    }
    if let Some(encoding) = encoding {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    if content_type.starts_with("text/html") {
        headers.insert(
            "content-security-policy",
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    response
}

fn gz_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".gz");
    PathBuf::from(name)
}

fn etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Decided by where the file is under the root, not by the request (an app route under
/// `/assets/` is answered with `index.html`) nor by the root's own name.
fn cache_control(root: &Path, file: &Path) -> &'static str {
    let hashed = file
        .strip_prefix(root)
        .is_ok_and(|relative| relative.starts_with(HASHED_ASSETS));
    if hashed {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    }
}

fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    struct Fixture {
        dir: PathBuf,
        site: SiteSettings,
    }

    impl Fixture {
        fn new() -> Self {
            Self::in_dir(&std::env::temp_dir())
        }

        fn in_dir(parent: &Path) -> Self {
            let dir = parent.join(format!("tb-site-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(dir.join("assets")).expect("a temp dir");
            std::fs::write(dir.join("index.html"), "<!doctype html><title>app</title>")
                .expect("index");
            std::fs::write(dir.join("assets/app-1a2b.js"), "console.log(1)").expect("js");
            std::fs::write(dir.join("assets/app-1a2b.js.gz"), "gzipped js").expect("gz");
            std::fs::write(dir.join("manifest.webmanifest"), "{}").expect("manifest");
            std::fs::write(dir.parent().expect("tmp").join("secret.txt"), "no").ok();
            let site = SiteSettings {
                root: dir.clone(),
                websocket_url: "ws://127.0.0.1:3001/ws".into(),
                files: FileMemo::default(),
            };
            Self { dir, site }
        }

        fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
            let mut builder = http::Request::get(path);
            for (name, value) in headers {
                builder = builder.header(*name, *value);
            }
            handle(&self.site, &builder.body(Bytes::new()).expect("a request"))
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            std::fs::remove_dir_all(&self.dir).ok();
        }
    }

    fn header<'a>(response: &'a Response, name: &str) -> &'a str {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[test]
    fn the_root_and_the_apps_routes_answer_the_page_revalidated_each_time() {
        let site = Fixture::new();
        for path in ["/", "/events/12", "/wallet", "/login"] {
            let response = site.get(path, &[]);
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(response.body(), b"<!doctype html><title>app</title>");
            assert_eq!(
                header(&response, "content-type"),
                "text/html; charset=utf-8"
            );
            assert_eq!(header(&response, "cache-control"), "no-cache");
            assert!(header(&response, "content-security-policy").contains("default-src 'self'"));
        }
    }

    #[test]
    fn hashed_assets_are_immutable_and_sent_gzipped_to_who_accepts_it() {
        let site = Fixture::new();
        let plain = site.get("/assets/app-1a2b.js", &[]);
        assert_eq!(plain.body(), b"console.log(1)");
        assert_eq!(header(&plain, "content-encoding"), "");
        assert_eq!(
            header(&plain, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        let gzipped = site.get("/assets/app-1a2b.js", &[("accept-encoding", "br, gzip")]);
        assert_eq!(gzipped.body(), b"gzipped js");
        assert_eq!(header(&gzipped, "content-encoding"), "gzip");
        assert_eq!(
            header(&gzipped, "content-type"),
            "text/javascript; charset=utf-8"
        );
        assert_ne!(header(&plain, "etag"), header(&gzipped, "etag"));
    }

    #[test]
    fn only_files_in_the_roots_assets_folder_are_immutable() {
        let parent = std::env::temp_dir().join(format!("assets-{}", uuid::Uuid::new_v4()));
        let site = Fixture::in_dir(&parent);
        for path in ["/", "/assets/not-a-file"] {
            let page = site.get(path, &[]);
            assert_eq!(page.body(), b"<!doctype html><title>app</title>", "{path}");
            assert_eq!(header(&page, "cache-control"), "no-cache", "{path}");
        }
        let asset = site.get("/assets/app-1a2b.js", &[]);
        assert_eq!(
            header(&asset, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        drop(site);
        std::fs::remove_dir_all(&parent).ok();
    }

    #[test]
    fn a_matching_etag_answers_304_without_a_body() {
        let site = Fixture::new();
        let first = site.get("/manifest.webmanifest", &[]);
        assert_eq!(header(&first, "content-type"), "application/manifest+json");
        let tag = header(&first, "etag").to_owned();
        let again = site.get("/manifest.webmanifest", &[("if-none-match", &tag)]);
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert!(again.body().is_empty());
    }

    #[test]
    fn missing_files_hidden_files_escapes_and_api_paths_are_not_found() {
        let site = Fixture::new();
        for path in [
            "/assets/gone-0000.js",
            "/../secret.txt",
            "/assets/../../secret.txt",
            "/.env",
            "/api/nothing",
        ] {
            let response = site.get(path, &[]);
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            assert_eq!(header(&response, "content-type"), "application/json");
        }
    }

    #[test]
    fn an_instance_reads_each_file_once_and_keeps_answering_it() {
        let site = Fixture::new();
        let first = site.get("/manifest.webmanifest", &[]);
        let zipped = site.get("/assets/app-1a2b.js", &[("accept-encoding", "gzip")]);
        std::fs::write(site.dir.join("manifest.webmanifest"), "{\"changed\": 1}").expect("write");
        std::fs::remove_file(site.dir.join("assets/app-1a2b.js.gz")).expect("remove");
        let again = site.get("/manifest.webmanifest", &[]);
        assert_eq!(again.body(), b"{}");
        assert_eq!(header(&again, "etag"), header(&first, "etag"));
        let zipped_again = site.get("/assets/app-1a2b.js", &[("accept-encoding", "gzip")]);
        assert_eq!(zipped_again.body(), zipped.body());
        assert_eq!(header(&zipped_again, "content-encoding"), "gzip");
    }

    #[test]
    fn paths_looked_at_are_remembered_up_to_a_bound_and_looked_at_again_beyond_it() {
        let site = Fixture::new();
        for n in 0..MAX_REMEMBERED_PATHS + 10 {
            let response = site.get(&format!("/missing-{n}.js"), &[]);
            assert_eq!(response.status(), StatusCode::NOT_FOUND);
        }
        assert_eq!(locked(&site.site.files.is_file).len(), MAX_REMEMBERED_PATHS);
        let late = format!("missing-{}.js", MAX_REMEMBERED_PATHS + 5);
        std::fs::write(site.dir.join(&late), "late").expect("write");
        let found = site.get(&format!("/{late}"), &[]);
        assert_eq!(found.status(), StatusCode::OK);
        assert_eq!(found.body(), b"late");
    }

    #[test]
    fn the_app_learns_where_the_websocket_is() {
        let site = Fixture::new();
        let response = site.get("/app-config.json", &[]);
        let config: serde_json::Value = serde_json::from_slice(response.body()).expect("JSON");
        assert_eq!(config["websocket_url"], "ws://127.0.0.1:3001/ws");
    }

    #[test]
    fn only_reads_are_allowed() {
        let site = Fixture::new();
        let request = http::Request::post("/")
            .body(Bytes::new())
            .expect("a request");
        assert_eq!(
            handle(&site.site, &request).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
}

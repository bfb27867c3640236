//! A real OpenID Connect provider for the tests: tests/oidc/provider.mjs (the certified
//! `oidc-provider` package, installed by `npm ci` in tests/oidc) on a free loopback port.
//! Its clients are people (alice, bob, gina, nemo; see the script) who get JWT access tokens
//! with the client_credentials grant.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The audience the provider's API resources have, as the services are configured for.
pub const AUDIENCE: &str = "ticketbuster-api";
/// Where the provider keeps Keycloak-style realm roles in its tokens.
pub const ROLE_CLAIM: &str = "realm_access.roles";
/// Resource indicators: which audience, algorithm and lifetime a token gets.
pub const RS256: &str = "https://api.ticketbuster.test/rs256";
pub const ES256: &str = "https://api.ticketbuster.test/es256";
/// RS256, valid for one second.
pub const SHORT_LIVED: &str = "https://api.ticketbuster.test/short";
/// RS256, for the audience `other-api`.
pub const OTHER_AUDIENCE: &str = "https://other.example.test/api";

pub struct OidcProvider {
    pub issuer: String,
    impostor_token_endpoint: String,
    http: reqwest::Client,
    /// The provider's process when this started it; it ends with this.
    _process: Option<Child>,
}

impl OidcProvider {
    /// Starts the provider and waits until it listens. Without `node` (scripts/test.sh
    /// installs it) the tests fail rather than pass untried.
    pub async fn start() -> Self {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc");
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "run `npm ci` in {} (scripts/test.sh does)",
            dir.display()
        );
        let mut process = Command::new("node")
            .arg("provider.mjs")
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start the OpenID Connect provider with node (scripts/test.sh installs it)");
        let stdout = process.stdout.take().expect("the provider's output");
        let mut first_line = String::new();
        tokio::time::timeout(
            Duration::from_secs(30),
            BufReader::new(stdout).read_line(&mut first_line),
        )
        .await
        .expect("the provider starts within 30 s")
        .expect("read the provider's output");
        Self::from_started(&first_line, Some(process))
    }

    /// A provider started elsewhere (scripts/e2e.sh), from the line it printed.
    pub fn already_running(started: &str) -> Self {
        Self::from_started(started, None)
    }

    fn from_started(line: &str, process: Option<Child>) -> Self {
        let started: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("the provider said {line:?}: {e}"));
        let text = |key: &str| started[key].as_str().expect(key).to_owned();
        Self {
            issuer: text("issuer"),
            impostor_token_endpoint: text("impostor_token_endpoint"),
            http: reqwest::Client::new(),
            _process: process,
        }
    }

    /// An access token for `client`'s person and `resource`, from the provider.
    pub async fn token(&self, client: &str, resource: &str) -> String {
        self.token_from(&format!("{}/token", self.issuer), client, resource)
            .await
    }

    /// A token like [`OidcProvider::token`] with the same issuer and key id, signed by the
    /// impostor's key, which the issuer does not publish.
    pub async fn impostor_token(&self, client: &str, resource: &str) -> String {
        self.token_from(&self.impostor_token_endpoint, client, resource)
            .await
    }

    async fn token_from(&self, endpoint: &str, client: &str, resource: &str) -> String {
        let secret = format!("{client}-secret");
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client),
            ("client_secret", &secret),
            ("resource", resource),
            ("scope", "api"),
        ];
        let answer: Value = self
            .http
            .post(endpoint)
            .form(&form)
            .send()
            .await
            .expect("the token endpoint answers")
            .json()
            .await
            .expect("a JSON answer");
        answer["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token: {answer}"))
            .to_owned()
    }

    /// How often the provider has served its JWKS.
    pub async fn jwks_fetches(&self) -> u64 {
        let answer: Value = self.control(reqwest::Method::GET, "jwks-fetches").await;
        answer["count"].as_u64().expect("a count")
    }

    /// New signing keys with new key ids; the old ones leave the JWKS.
    pub async fn rotate_keys(&self) {
        self.control(reqwest::Method::POST, "rotate").await;
    }

    async fn control(&self, method: reqwest::Method, what: &str) -> Value {
        self.http
            .request(method, format!("{}/test/{what}", self.issuer))
            .send()
            .await
            .expect("the provider answers")
            .json()
            .await
            .expect("a JSON answer")
    }
}

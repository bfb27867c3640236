//! Sign-in with an external OpenID Connect issuer, against a real provider (oidc-provider
//! on loopback, tests/oidc): its RS256 and ES256 access tokens work on every authenticated
//! service beside our own; expired ones, ones for another audience and ones signed by a key
//! it does not publish answer 401; the subject is linked to a local account on first use;
//! the role comes from the token; the JWKS is fetched once and again after a key rotation,
//! but not for every made-up key id.

use std::time::Duration;

use http::{Method, StatusCode};
use jwt_simple::prelude::*;
use serde_json::json;
use ticketbuster_domain::oidc::IssuerConfig;
use ticketbuster_services::identity::ExternalIssuer;
use ticketbuster_tests::oidc::{
    AUDIENCE, ES256, OTHER_AUDIENCE, OidcProvider, ROLE_CLAIM, RS256, SHORT_LIVED,
};
use ticketbuster_tests::{Answer, Customer, Service, TestApp, request};

/// An app that trusts a provider started for it, and the provider.
async fn app_trusting(cooldown: Option<Duration>) -> (TestApp, OidcProvider) {
    let provider = OidcProvider::start().await;
    let config = IssuerConfig::parse(&provider.issuer, AUDIENCE, ROLE_CLAIM)
        .expect("a valid configuration")
        .expect("an issuer");
    let mut issuer = ExternalIssuer::new(config);
    if let Some(cooldown) = cooldown {
        issuer = issuer.with_refresh_cooldown(cooldown);
    }
    let mut app = TestApp::spawn().await;
    app.trust_issuer(&issuer);
    (app, provider)
}

async fn me(app: &TestApp, token: &str) -> Answer {
    app.call(
        Service::Auth,
        request(Method::GET, "/api/auth/me", Some(token), None),
    )
    .await
}

/// The caller of `token` as the holds and orders services know it.
async fn signed_in(app: &TestApp, token: String) -> Customer {
    let me = me(app, &token).await;
    assert_eq!(me.status, StatusCode::OK, "{:?}", me.body);
    Customer {
        id: me.body["id"].as_str().expect("an id").to_owned(),
        email: me.body["email"].as_str().expect("an email").to_owned(),
        token,
    }
}

#[tokio::test]
async fn issuer_tokens_work_on_every_service_beside_our_own() {
    let (app, provider) = app_trusting(None).await;
    let by_rsa = signed_in(&app, provider.token("bob", RS256).await).await;
    let by_ec = signed_in(&app, provider.token("bob", ES256).await).await;
    assert_eq!(by_rsa.id, by_ec.id, "one subject, one local account");
    assert_eq!(by_rsa.email, "bob@example.com", "the verified address");
    let profile = me(&app, &by_ec.token).await.body;
    assert_eq!(profile["role"], "customer");
    assert_eq!(profile["name"], "Bob Buyer");

    let fixture = app.event(1, 1, 4).await;
    let hold = app
        .hold(&by_rsa, fixture.event_id, &fixture.seat_ids[..2])
        .await;
    assert_eq!(hold.status, StatusCode::CREATED, "{:?}", hold.body);
    let holds = app
        .call(
            Service::Holds,
            request(Method::GET, "/api/holds", Some(&by_ec.token), None),
        )
        .await;
    assert_eq!(holds.status, StatusCode::OK, "{:?}", holds.body);
    assert_eq!(
        holds.body["items"][0]["hold_id"], hold.body["hold_id"],
        "the ES256 token's caller owns the RS256 token's hold: {:?}",
        holds.body
    );
    let orders = app.get_as(&by_ec, "/api/orders").await;
    assert_eq!(orders.status, StatusCode::OK, "{:?}", orders.body);

    let ours = app.customer().await;
    let ours_hold = app
        .hold(&ours, fixture.event_id, &fixture.seat_ids[2..])
        .await;
    assert_eq!(
        ours_hold.status,
        StatusCode::CREATED,
        "our own tokens still work"
    );

    assert_eq!(
        app.count("SELECT count(*) FROM auth.external_identities")
            .await,
        1
    );
    assert_eq!(
        provider.jwks_fetches().await,
        1,
        "the key set is fetched once, then read from the key-value store"
    );

    let login = app
        .call(
            Service::Auth,
            request(
                Method::POST,
                "/api/auth/login",
                None,
                Some(json!({"email": "bob@example.com", "password": "any password at all"})),
            ),
        )
        .await;
    assert_eq!(
        login.status,
        StatusCode::UNAUTHORIZED,
        "an account without a password cannot log in: {:?}",
        login.body
    );
}

#[tokio::test]
async fn expired_foreign_and_forged_tokens_answer_401() {
    let (app, provider) = app_trusting(None).await;
    let short_lived = provider.token("bob", SHORT_LIVED).await;
    assert_eq!(me(&app, &short_lived).await.status, StatusCode::OK);
    let other_audience = provider.token("bob", OTHER_AUDIENCE).await;
    let forged_rsa = provider.impostor_token("bob", RS256).await;
    let forged_ec = provider.impostor_token("bob", ES256).await;
    let refused = [
        (
            other_audience,
            "the access token is not meant for this API (audience)",
        ),
        (forged_rsa, "the access token's signature does not verify"),
        (forged_ec, "the access token's signature does not verify"),
    ];
    for (token, why) in refused {
        let answer = me(&app, &token).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{why}");
        assert_eq!(answer.body["error"]["message"], why);
    }
    // One second of life, plus the leeway for clocks apart.
    tokio::time::sleep(Duration::from_secs(
        1 + ticketbuster_domain::oidc::CLOCK_LEEWAY_SECONDS + 1,
    ))
    .await;
    let expired = me(&app, &short_lived).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        expired.body["error"]["message"],
        "the access token has expired"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM auth.users").await,
        1,
        "only the valid token linked an account"
    );
}

#[tokio::test]
async fn the_role_comes_from_the_token_else_from_the_local_account() {
    let (app, provider) = app_trusting(None).await;
    let alice = me(&app, &provider.token("alice", ES256).await).await;
    assert_eq!(alice.body["role"], "organizer", "{:?}", alice.body);
    let gina = me(&app, &provider.token("gina", RS256).await).await;
    assert_eq!(gina.body["role"], "gate", "a role given as a string");
    let nemo = me(&app, &provider.token("nemo", RS256).await).await;
    assert_eq!(nemo.body["role"], "customer", "no role in the token");
    assert_eq!(nemo.body["name"], "External user");
    for unverified in [&gina, &nemo] {
        let email = unverified.body["email"].as_str().expect("an email");
        assert!(
            email.ends_with("@external.invalid"),
            "no verified address, no link by address: {email}"
        );
    }

    let alice = signed_in(&app, provider.token("alice", RS256).await).await;
    let fixture = app.event(1, 1, 1).await;
    let hold = app.hold(&alice, fixture.event_id, &fixture.seat_ids).await;
    assert_eq!(
        hold.status,
        StatusCode::FORBIDDEN,
        "the token's role is enforced: {:?}",
        hold.body
    );

    // A password account with the verified address of the token is the same account; the
    // token gives no role, so the account's own (granted locally) applies.
    let registered = app.register("bob@example.com").await;
    assert_eq!(registered.status, StatusCode::CREATED);
    sqlx::query("UPDATE auth.users SET role = 'organizer' WHERE email = 'bob@example.com'")
        .execute(app.pool())
        .await
        .expect("grant a role");
    let bob = me(&app, &provider.token("bob", ES256).await).await;
    assert_eq!(bob.body["id"], registered.body["user"]["id"]);
    assert_eq!(bob.body["role"], "organizer");
}

#[tokio::test]
async fn keys_are_fetched_again_after_a_rotation_but_not_for_made_up_key_ids() {
    let cooldown = Duration::from_secs(1);
    let (app, provider) = app_trusting(Some(cooldown)).await;
    let before = provider.token("bob", RS256).await;
    for _ in 0..10 {
        assert_eq!(me(&app, &before).await.status, StatusCode::OK);
    }
    assert_eq!(provider.jwks_fetches().await, 1);

    provider.rotate_keys().await;
    tokio::time::sleep(cooldown).await;
    for resource in [RS256, ES256] {
        let after = provider.token("bob", resource).await;
        assert_eq!(
            me(&app, &after).await.status,
            StatusCode::OK,
            "a new key id fetches the set again"
        );
    }
    assert_eq!(provider.jwks_fetches().await, 2);
    assert_eq!(
        me(&app, &before).await.status,
        StatusCode::UNAUTHORIZED,
        "the retired key is gone"
    );

    for attempt in 0..20 {
        let made_up = ES256KeyPair::generate().with_key_id(&format!("made-up-{attempt}"));
        let claims = Claims::create(jwt_simple::prelude::Duration::from_mins(5))
            .with_issuer(&provider.issuer)
            .with_audience(AUDIENCE)
            .with_subject("mallory");
        let token = made_up.sign(claims).expect("a token");
        let answer = me(&app, &token).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        if attempt == 10 {
            tokio::time::sleep(cooldown).await;
        }
    }
    assert_eq!(
        provider.jwks_fetches().await,
        3,
        "one refresh per cooldown, whatever the key ids"
    );
}

#[tokio::test]
async fn tokens_keep_working_from_the_cached_keys_while_the_issuer_is_down() {
    let (app, provider) = app_trusting(None).await;
    let token = provider.token("bob", ES256).await;
    let first = me(&app, &token).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    let other_token = provider.token("nemo", RS256).await;
    drop(provider);

    let again = me(&app, &token).await;
    assert_eq!(
        again.status,
        StatusCode::OK,
        "the issuer is down: {:?}",
        again.body
    );
    assert_eq!(again.body["id"], first.body["id"]);
    let newcomer = me(&app, &other_token).await;
    assert_eq!(
        newcomer.status,
        StatusCode::OK,
        "a first-time subject is linked from the cached keys too: {:?}",
        newcomer.body
    );
}

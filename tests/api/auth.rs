use crate::helpers::*;
use contactd::domain::KeyId;
use contactd::store::Scope;
use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

async fn token_by_json_and_basic(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let res = app
        .client
        .post(app.url("/v1/auth/token"))
        .json(&json!({"key_id": t.key_id, "key_secret": t.secret}))
        .send()
        .await
        .unwrap();
    let (status, v) = body(res).await;
    assert_eq!(status, 200);
    assert_eq!(v["token_type"], "Token");
    assert_eq!(v["expires_in"], 3600);
    assert!(v["token"].as_str().unwrap().starts_with("tok_"));
    assert!(v["expires_at"].as_str().unwrap().ends_with('Z'));

    let res = app.client.post(app.url("/v1/auth/token")).basic_auth(&t.key_id, Some(&t.secret)).send().await.unwrap();
    let (status, v) = body(res).await;
    assert_eq!(status, 200);
    let token = v["token"].as_str().unwrap();
    // Both header schemes work.
    for scheme in ["Token", "Bearer", "token"] {
        let res = app
            .client
            .get(app.url("/v1/billers/1001/contacts"))
            .header("Authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{scheme}");
    }
}

async fn bad_credentials_are_refused_and_throttled(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let post = |id: String, secret: &str| {
        app.client.post(app.url("/v1/auth/token")).json(&json!({"key_id": id, "key_secret": secret})).send()
    };
    let (status, v) = body(post(t.key_id.clone(), "sk_wrong").await.unwrap()).await;
    assert_eq!((status, v["code"].as_str()), (401, Some("bad_credentials")));
    let (status, v) = body(post("key_doesnotexist0000".into(), "x").await.unwrap()).await;
    assert_eq!((status, v["code"].as_str()), (401, Some("bad_credentials")));
    for _ in 0..4 {
        post(t.key_id.clone(), "sk_wrong").await.unwrap();
    }
    // Five failures: the sixth guess is refused without being checked...
    let res = post(t.key_id.clone(), "sk_wrong_again").await.unwrap();
    assert!(res.headers().get("retry-after").is_some());
    let (status, v) = body(res).await;
    assert_eq!((status, v["code"].as_str()), (429, Some("too_many_attempts")));
    // ...while the owner, whose secret was verified a moment ago, is not locked out,
    // and that success does not reset the count for the guesser.
    assert_eq!(post(t.key_id.clone(), &t.secret).await.unwrap().status(), 200);
    assert_eq!(post(t.key_id.clone(), "sk_wrong_still").await.unwrap().status(), 429);
    // Parallel guesses cannot slip past the limit: each is counted before it is checked.
    let other = app.tenant_key(&["1001"], ALL).await;
    let guesses = (0..12).map(|i| post(other.key_id.clone(), if i == 0 { "sk_a" } else { "sk_b" }));
    let statuses: Vec<u16> =
        futures_util::future::join_all(guesses).await.into_iter().map(|r| r.unwrap().status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 7, "{statuses:?}");
    // Missing and malformed bodies.
    let (status, v) = body(app.client.post(app.url("/v1/auth/token")).send().await.unwrap()).await;
    assert_eq!((status, v["code"].as_str()), (401, Some("missing_credentials")));
    let res = app
        .client
        .post(app.url("/v1/auth/token"))
        .header("content-type", "application/json")
        .body("{\"key_id\": 5}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

async fn missing_malformed_unknown_expired_and_revoked_tokens(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let path = app.url("/v1/billers/1001/contacts");
    let code = |res: reqwest::Response| async move {
        assert!(res.headers().get("www-authenticate").is_some());
        let (s, v) = body(res).await;
        assert_eq!(s, 401);
        v["code"].as_str().unwrap().to_owned()
    };
    assert_eq!(code(app.client.get(&path).send().await.unwrap()).await, "missing_credentials");
    assert_eq!(
        code(app.client.get(&path).header("Authorization", "Token abc").send().await.unwrap()).await,
        "malformed_token"
    );
    assert_eq!(
        code(app.client.get(&path).header("Authorization", "Basic Zm9vOmJhcg==").send().await.unwrap()).await,
        "malformed_token"
    );
    let unknown = format!("tok_{}", "A".repeat(43));
    assert_eq!(
        code(app.client.get(&path).header("Authorization", format!("Token {unknown}")).send().await.unwrap()).await,
        "invalid_token"
    );

    // An expired token, stored as the server would have issued it.
    let expired = format!("tok_{}", "B".repeat(43));
    let hash: [u8; 32] = Sha256::digest(expired.as_bytes()).into();
    let key_id = KeyId::parse(&t.key_id).unwrap();
    app.store.insert_token(&hash, &key_id, OffsetDateTime::now_utc() - time::Duration::seconds(5)).await.unwrap();
    assert_eq!(
        code(app.client.get(&path).header("Authorization", format!("Token {expired}")).send().await.unwrap()).await,
        "token_expired"
    );

    // Revoking the key ends its tokens and its secret.
    assert_eq!(app.request(Method::GET, "/v1/billers/1001/contacts", &t.token).send().await.unwrap().status(), 200);
    app.service.revoke_key(&t.key_id).await.unwrap();
    assert_eq!(
        code(app.request(Method::GET, "/v1/billers/1001/contacts", &t.token).send().await.unwrap()).await,
        "key_revoked"
    );
    let res = app
        .client
        .post(app.url("/v1/auth/token"))
        .json(&json!({"key_id": t.key_id, "key_secret": t.secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(code(res).await, "key_revoked");
}

async fn scopes_are_enforced(b: Backend) {
    let app = spawn_app(b).await;
    let full = app.biller("1001", ALL).await;
    let reader = app.tenant_key(&["1001"], &[Scope::ContactsRead]).await;
    let writer = app.tenant_key(&["1001"], &[Scope::ContactsRead, Scope::ContactsWrite]).await;
    let list = json!([contact("1234", "Sam Smith")]);

    let (s, v) = body(app.post(&reader, "/contacts/add", &list).await).await;
    assert_eq!((s, v["code"].as_str()), (403, Some("insufficient_scope")));
    assert_eq!(app.get(&reader, "/contacts").await.status(), 200);
    // A key that can add cannot replace unless granted.
    assert_eq!(app.post(&writer, "/contacts/add", &list).await.status(), 200);
    let (s, v) = body(app.post(&writer, "/contacts/replace", &list).await).await;
    assert_eq!((s, v["detail"].as_str()), (403, Some("this API key lacks the contacts:replace scope")));
    assert_eq!(app.post(&full, "/contacts/replace", &list).await.status(), 200);
    // Field settings need admin to change.
    let res = app
        .request(Method::PUT, "/v1/billers/1001/field-settings", &writer.token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(app.all_contacts(&full).await.len(), 1);
}

async fn a_key_sees_nothing_of_another_biller(b: Backend) {
    let app = spawn_app(b).await;
    let a = app.biller("1001", ALL).await;
    let other = app.biller("2002", ALL).await;
    let (_, created) = body(app.post(&other, "/contacts", &contact("5555", "Other Customer")).await).await;
    let id = created["id"].as_str().unwrap().to_owned();

    let nonexistent = {
        let (s, v) = body(app.request(Method::GET, "/v1/billers/9999/contacts", &a.token).send().await.unwrap()).await;
        assert_eq!(s, 404);
        v
    };
    let routes = [
        (Method::GET, "/v1/billers/2002/contacts".to_owned()),
        (Method::POST, "/v1/billers/2002/contacts".to_owned()),
        (Method::POST, "/v1/billers/2002/contacts/add".to_owned()),
        (Method::POST, "/v1/billers/2002/contacts/replace".to_owned()),
        (Method::GET, format!("/v1/billers/2002/contacts/{id}")),
        (Method::GET, "/v1/billers/2002/contacts/acct:5555".to_owned()),
        (Method::DELETE, format!("/v1/billers/2002/contacts/{id}")),
        (Method::GET, "/v1/billers/2002/field-settings".to_owned()),
        (Method::PUT, "/v1/billers/2002/field-settings".to_owned()),
    ];
    for (method, path) in routes {
        let body_json = if path.ends_with("/add") || path.ends_with("/replace") {
            json!([])
        } else if method == Method::PUT {
            json!({})
        } else {
            json!(contact("6666", "X Y"))
        };
        let mut req = app.request(method.clone(), &path, &a.token);
        if method != Method::GET && method != Method::DELETE {
            req = req.json(&body_json);
        }
        let (s, v) = body(req.send().await.unwrap()).await;
        assert_eq!(s, 404, "{method} {path}");
        assert_eq!(v["code"], nonexistent["code"], "{method} {path} must look like a missing biller");
        assert_eq!(v["detail"], nonexistent["detail"]);
    }
    // A's own path with B's contact id finds nothing either.
    assert_eq!(app.get(&a, &format!("/contacts/{id}")).await.status(), 404);
    // And B's contact is untouched.
    let (s, v) = body(app.get(&other, &format!("/contacts/{id}")).await).await;
    assert_eq!((s, v["name"].as_str()), (200, Some("Other Customer")));
    assert_eq!(app.all_contacts(&other).await.len(), 1);
}

async fn a_key_may_span_several_billers(b: Backend) {
    let app = spawn_app(b).await;
    app.biller("1001", ALL).await;
    app.biller("2002", ALL).await;
    let both = app.tenant_key(&["1001", "2002"], &[Scope::ContactsRead]).await;
    for code in ["1001", "2002"] {
        assert_eq!(
            app.request(Method::GET, &format!("/v1/billers/{code}/contacts"), &both.token)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
}

/// Tokens live in the database: a second server on it accepts the first one's,
/// sees its writes, and honours a revocation made through the first.
async fn servers_on_one_database_share_tokens_and_data(b: Backend) {
    let a = spawn_app(b).await;
    let t = a.biller("1001", ALL).await;
    let other = spawn_app_on(a.db.share(), |_| {}).await;
    assert_eq!(a.post(&t, "/contacts/add", &json!([contact("1234", "Via A")])).await.status(), 200);
    let (s, v) = body(other.get(&t, "/contacts/acct:1234").await).await;
    assert_eq!((s, v["name"].as_str()), (200, Some("Via A")));
    a.service.revoke_key(&t.key_id).await.unwrap();
    let (s, v) = body(a.get(&t, "/contacts").await).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("key_revoked")), "at once where it was revoked");
    // The other server trusts what it read for RECENT_TTL at most.
    let started = std::time::Instant::now();
    loop {
        let (s, v) = body(other.get(&t, "/contacts").await).await;
        if s == 401 {
            assert_eq!(v["code"], "key_revoked");
            break;
        }
        assert!(started.elapsed() < contactd::service::RECENT_TTL + std::time::Duration::from_secs(1), "still {s}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A key with an IP allow-list works only from there, in every API and
/// scheme; the address is the connection's, or a trusted proxy's
/// `X-Forwarded-For` entry, never a header the client picks.
async fn an_ip_allow_list_holds_in_every_api(b: Backend) {
    let app = spawn_app(b).await;
    app.service.create_biller("IPS", "Allow-listed").await.unwrap();
    let elsewhere = ["10.1.0.0/16".parse().unwrap()];
    let far = app.service.create_key(&["IPS".to_owned()], ALL, &elsewhere).await.unwrap();
    let (id, secret) = (far.key_id.as_str(), far.secret.as_str());
    let refused = |res: reqwest::Response| async move {
        let status = res.status().as_u16();
        (status, res.text().await.unwrap())
    };
    let attempts = [
        app.client.post(app.url("/v1/auth/token")).basic_auth(id, Some(secret)),
        app.client.post(app.url("/auth/token")).basic_auth(id, Some(secret)),
        app.client
            .post(app.url("/v3/token"))
            .json(&json!({"grant_type": "password", "username": id, "password": secret})),
        app.client.get(app.url("/v1/contacts")).basic_auth(id, Some(secret)),
        // A header naming an allowed address changes nothing without a trusted proxy.
        app.client.get(app.url("/v1/contacts")).basic_auth(id, Some(secret)).header("X-Forwarded-For", "10.1.2.3"),
        app.client
            .get(app.url("/contacts/profile"))
            .header("X-Ipay-Client-Id", id)
            .header("X-Ipay-Client-Secret", secret)
            .header("X-Ipay-Endpoint-Ip", "10.1.2.3")
            .header("X-Ipay-Auth-Code", "1"),
    ];
    for req in attempts {
        let (status, text) = refused(req.send().await.unwrap()).await;
        assert_eq!(status, 403, "{text}");
        assert!(!text.contains("tok_"), "no token for a refused place: {text}");
    }
    // The same from a listed place works.
    let near = app.service.create_key(&["IPS".to_owned()], ALL, &["127.0.0.1/32".parse().unwrap()]).await.unwrap();
    let token = app.token(near.key_id.as_str(), &near.secret).await;
    let res = app.client.get(app.url("/v1/billers/IPS/contacts")).header("Authorization", format!("Token {token}"));
    assert_eq!(res.send().await.unwrap().status(), 200, "from a listed place");

    // Behind a trusted proxy the client is the nearest untrusted hop.
    let proxied = spawn_app_with(b, |s| s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    proxied.service.create_biller("IPS", "Allow-listed").await.unwrap();
    let k = proxied.service.create_key(&["IPS".to_owned()], ALL, &elsewhere).await.unwrap();
    for (forwarded, want) in [
        (Some("10.1.2.3"), 200),
        (Some("203.0.113.9, 10.1.2.3"), 200),
        (Some("10.1.2.3, 203.0.113.9"), 403),
        (Some("10.1.2.3, 127.0.0.1"), 200),
        (Some("junk, 203.0.113.9"), 403),
        (Some("::ffff:10.1.2.3"), 200),
        // Nothing untrusted it can read: never taken for the proxy's own address.
        (Some("10.1.2.3:5678"), 403),
        (None, 403),
    ] {
        let mut req = proxied.client.get(proxied.url("/v1/contacts")).basic_auth(k.key_id.as_str(), Some(&k.secret));
        if let Some(f) = forwarded {
            req = req.header("X-Forwarded-For", f);
        }
        let (status, text) = refused(req.send().await.unwrap()).await;
        assert_eq!(status, want, "{forwarded:?}: {text}");
    }
}

crate::both_stores!(
    an_ip_allow_list_holds_in_every_api,
    servers_on_one_database_share_tokens_and_data,
    token_by_json_and_basic,
    bad_credentials_are_refused_and_throttled,
    missing_malformed_unknown_expired_and_revoked_tokens,
    scopes_are_enforced,
    a_key_sees_nothing_of_another_biller,
    a_key_may_span_several_billers,
);

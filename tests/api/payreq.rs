//! The Payreq dialect (seed 000) black-box: the seed's payload as printed,
//! every "Common validation issue" named at once, jobs in JSON, NDJSON and
//! CSV read as sent, the replace guard, idempotency, and no reach into
//! another biller.

use crate::both_stores;
use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

/// The seed's example payload, exactly as the seed prints it.
const SEED_PAYLOAD: &str = "[

  {

     \"biller-account-number\": \"123456\",

    \"name\": \"Sam Smith\",

     \"contact-id-1\": \"123456\",

     \"contact-id-2\": \"Mr S Smith\",

     \"contact-id-3\": \"GA123\",

     \"address-1\": \"1 Example Street\",

     \"municipality\": \"Melbourne\",

     \"province\": \"VIC\",

     \"country\": \"Australia\",

     \"postal-code\": \"3000\"

  },

  {

     \"biller-account-number\": \"789012\",

    \"name\": \"Jane Example\",

     \"contact-id-1\": \"789012\",

    \"contact-id-2\": \"Ms J Example\",

     \"contact-id-3\": \"GA456\"

  }

]";

/// The demo biller (the seed's Contact Fields) and its key, with a token
/// from Payreq's own token route.
async fn demo(app: &TestApp) -> Tenant {
    let demo = app.service.ensure_demo().await.unwrap().unwrap();
    let (id, secret) = (demo.key.key_id.to_string(), demo.key.secret);
    let res = app.client.post(app.url("/auth/token")).basic_auth(&id, Some(&secret)).send().await.unwrap();
    let (s, v) = body(res).await;
    assert_eq!((s, v["token-type"].as_str()), (200, Some("Token")), "{v}");
    assert!(v["expires-in"].as_u64().unwrap() > 0);
    Tenant { code: "DEMO".into(), key_id: id, secret, token: v["token"].as_str().unwrap().to_owned() }
}

async fn payreq(app: &TestApp, t: &Tenant, path: &str, content_type: &str, body: &str) -> (u16, Value) {
    let res = app
        .request(Method::POST, path, &t.token)
        .header("Content-Type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    crate::helpers::body(res).await
}

/// Each problem as (index, biller-account-number, field, code).
fn problems(v: &Value) -> Vec<(u64, Value, String, String)> {
    v["errors"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|e| {
            (
                e["index"].as_u64().unwrap(),
                e["biller-account-number"].clone(),
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn the_seeds_payload_is_taken_as_printed(b: Backend) {
    let app = spawn_app(b).await;
    let t = demo(&app).await;
    let (s, v) = payreq(&app, &t, "/biller/DEMO/contacts/add", "application/json", SEED_PAYLOAD).await;
    assert_eq!(
        (s, &v),
        (200, &json!({"biller-code": "DEMO", "processed": 2, "created": 2, "updated": 0, "unchanged": 0}))
    );
    let stored = app.all_contacts(&t).await;
    let sam = &stored["123456"];
    assert_eq!(sam["name"], "Sam Smith");
    assert_eq!(
        sam["fields"],
        json!({"contact-id-1": "123456", "contact-id-2": "Mr S Smith", "contact-id-3": "GA123", "address-1": "1 Example Street",
            "municipality": "Melbourne", "province": "VIC", "country": "Australia", "postal-code": "3000"})
    );
    assert_eq!(stored["789012"]["fields"]["contact-id-3"], "GA456");
    // Sent again: the same contacts, updated in place (here: unchanged).
    let (s, v) = payreq(&app, &t, "/biller/DEMO/contacts/add", "application/json", SEED_PAYLOAD).await;
    assert_eq!((s, v["unchanged"].as_u64(), v["processed"].as_u64()), (200, Some(2), Some(2)));
}

async fn every_common_validation_issue_is_named(b: Backend) {
    let app = spawn_app(b).await;
    // The Payreq-style settings: account numbers of 4 to 10 digits, contact-id-2 required, contact-id-3 GA[0-9]+.
    let t = app.biller("1001", ALL).await;
    let records = json!([
        {"biller-account-number": "1234", "contact-id-1": "1234", "contact-id-2": "A"},
        {"biller-account-number": "5555", "name": "Dup One", "contact-id-2": "A"},
        {"biller-account-number": "5555", "name": "Dup Two", "contact-id-2": "A"},
        {"biller-account-number": "12", "name": "Short", "contact-id-2": "A"},
        {"biller-account-number": "7777", "name": "Bad Group", "contact-id-2": "A", "contact-id-3": "XX1"},
        {"biller-account-number": "8888", "name": "Unknown Key", "contact-id-2": "A", "contact-id-9": "?"},
        {"biller-account-number": "9999", "name": "No Auth"}
    ]);
    let (s, v) = payreq(&app, &t, "/biller/1001/contacts/add", "application/json", &records.to_string()).await;
    assert_eq!((s, v["status"].as_u64(), v["code"].as_str()), (422, Some(422), Some("validation_failed")), "{v}");
    let p = problems(&v);
    let has = |index: u64, acct: &str, field: &str| p.iter().any(|(i, a, f, _)| *i == index && a == acct && f == field);
    assert!(has(0, "1234", "name"), "missing required field: {p:?}");
    assert!(has(1, "5555", "biller-account-number") && has(2, "5555", "biller-account-number"), "duplicate: {p:?}");
    assert!(has(3, "12", "biller-account-number"), "length: {p:?}");
    assert!(has(4, "7777", "contact-id-3"), "pattern: {p:?}");
    assert!(has(5, "8888", "contact-id-9"), "unconfigured key: {p:?}");
    assert!(has(6, "9999", "contact-id-2"), "required contact field: {p:?}");
    let messages: Vec<&str> = v["errors"].as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap()).collect();
    assert!(messages.iter().all(|m| !m.contains("account_number") && !m.contains("fields.")), "as sent: {messages:?}");
    assert_eq!(app.all_contacts(&t).await.len(), 0, "nothing was written");

    // Invalid JSON: where it broke.
    let (s, v) = payreq(&app, &t, "/biller/1001/contacts/add", "application/json", "[{\"name\": }]").await;
    assert_eq!((s, v["code"].as_str(), v["line"].as_u64()), (400, Some("invalid_json"), Some(1)));
    // The wrong biller code, an expired and a malformed token.
    let (s, v) = payreq(&app, &t, "/biller/NOPE/contacts/add", "application/json", "[]").await;
    assert_eq!((s, v["code"].as_str()), (404, Some("biller_not_found")));
    let bad = Tenant { token: "tok_short".into(), ..t };
    let (s, v) = payreq(&app, &bad, "/biller/1001/contacts/add", "application/json", "[]").await;
    assert_eq!((s, v["code"].as_str()), (401, Some("malformed_token")));
    let expired = format!("tok_{}", "C".repeat(43));
    let hash: [u8; 32] =
        sha2::Digest::finalize(sha2::Digest::chain_update(sha2::Sha256::default(), expired.as_bytes())).into();
    let key_id = contactd::domain::KeyId::parse(&bad.key_id).unwrap();
    app.store.insert_token(&hash, &key_id, time::OffsetDateTime::now_utc() - time::Duration::seconds(5)).await.unwrap();
    let old = Tenant { token: expired, ..bad };
    let (s, v) = payreq(&app, &old, "/biller/1001/contacts/add", "application/json", "[]").await;
    assert_eq!((s, v["code"].as_str()), (401, Some("token_expired")));
    let res = app.client.post(app.url("/auth/token")).basic_auth(&old.key_id, Some("sk_wrong")).send().await.unwrap();
    let (s, v) = body(res).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("bad_credentials")));
}

async fn a_replace_keeps_the_removal_guard(b: Backend) {
    let app = spawn_app(b).await;
    let t = demo(&app).await;
    let many: Vec<Value> = (0..10)
        .map(|i| json!({"biller-account-number": format!("{}", 100 + i), "name": format!("P {i}"), "contact-id-1": format!("{}", 100 + i)}))
        .collect();
    assert_eq!(
        payreq(&app, &t, "/biller/DEMO/contacts/add", "application/json", &json!(many).to_string()).await.0,
        200
    );
    let few = json!([many[0]]).to_string();
    let (s, v) = payreq(&app, &t, "/biller/DEMO/contacts/replace", "application/json", &few).await;
    assert_eq!(
        (s, v["code"].as_str(), v["would-remove"].as_u64()),
        (409, Some("removal_limit_exceeded"), Some(9)),
        "{v}"
    );
    assert!(v["message"].as_str().unwrap().contains("confirm_removals=9"), "{v}");
    assert_eq!(app.all_contacts(&t).await.len(), 10, "nothing removed");
    let (s, v) = payreq(&app, &t, "/biller/DEMO/contacts/replace?confirm_removals=9", "application/json", &few).await;
    assert_eq!((s, v["removed"].as_u64(), v["processed"].as_u64()), (200, Some(9), Some(1)), "{v}");
    assert_eq!(app.all_contacts(&t).await.len(), 1);
}

async fn job_status(app: &TestApp, t: &Tenant, id: &str) -> Value {
    let (s, v) =
        body(app.request(Method::GET, &format!("/biller/{}/jobs/{id}", t.code), &t.token).send().await.unwrap()).await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn jobs_take_json_ndjson_and_csv(b: Backend) {
    let app = spawn_app(b).await;
    let t = demo(&app).await;
    let ndjson = "{\"biller-account-number\":\"2001\",\"name\":\"Nd One\",\"contact-id-1\":\"2001\"}\n{\"biller-account-number\":\"2002\",\"name\":\"Nd Two\",\"postal-code\":\"3000\"}\n";
    let csv = "biller-account-number,name,contact-id-1,postal-code\n3001,Csv One,3001,3000\n";
    for (kind, body) in [("application/json", SEED_PAYLOAD), ("application/x-ndjson", ndjson), ("text/csv", csv)] {
        let (s, v) = payreq(&app, &t, "/biller/DEMO/contacts/job/add", kind, body).await;
        assert_eq!(
            (s, v["status"].as_str(), v["biller-code"].as_str()),
            (202, Some("in-progress"), Some("DEMO")),
            "{kind}: {v}"
        );
        let id = v["job-id"].as_str().unwrap().to_owned();
        assert_eq!(job_status(&app, &t, &id).await["status"], "in-progress");
        while app.worker.run_once().await.unwrap() {}
        let done = job_status(&app, &t, &id).await;
        assert_eq!((done["status"].as_str(), done["failed"].as_u64()), (Some("completed"), Some(0)), "{kind}: {done}");
    }
    let stored = app.all_contacts(&t).await;
    assert_eq!(stored.keys().collect::<Vec<_>>(), ["123456", "2001", "2002", "3001", "789012"]);
    assert_eq!(stored["3001"]["fields"]["postal-code"], "3000");
    // A job with bad records fails, each named as the client sent it.
    let bad = json!([{"biller-account-number": "4001", "name": "Ok", "contact-id-1": "4001"}, {"biller-account-number": "4002", "colour": "red"}]);
    let (_, v) = payreq(&app, &t, "/biller/DEMO/contacts/job/add", "application/json", &bad.to_string()).await;
    while app.worker.run_once().await.unwrap() {}
    let failed = job_status(&app, &t, v["job-id"].as_str().unwrap()).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let p = problems(&failed);
    assert!(p.contains(&(1, json!("4002"), "colour".into(), "unknown_field".into())), "{p:?}");
    assert!(p.contains(&(1, json!("4002"), "name".into(), "missing_required".into())), "{p:?}");
    assert!(!app.all_contacts(&t).await.contains_key("4001"), "a rejected job applies nothing");
    // A replace job keeps the guard too.
    let (_, v) = payreq(
        &app,
        &t,
        "/biller/DEMO/contacts/job/replace",
        "application/json",
        "[{\"biller-account-number\":\"2001\",\"name\":\"Nd One\"}]",
    )
    .await;
    while app.worker.run_once().await.unwrap() {}
    let guarded = job_status(&app, &t, v["job-id"].as_str().unwrap()).await;
    assert_eq!(guarded["status"], "failed", "{guarded}");
    assert!(guarded["error"].as_str().unwrap().contains("confirm_removals"), "{guarded}");
    assert_eq!(app.all_contacts(&t).await.len(), 5);
}

async fn an_idempotency_key_replays(b: Backend) {
    let app = spawn_app(b).await;
    let t = demo(&app).await;
    let send = |path: &'static str| {
        app.request(Method::POST, path, &t.token)
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", "sync-42")
            .body(SEED_PAYLOAD)
            .send()
    };
    let first = send("/biller/DEMO/contacts/add").await.unwrap();
    let first = body(first).await;
    let again = send("/biller/DEMO/contacts/add").await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(body(again).await, first, "the original answer, not a second write");
    let other = app
        .request(Method::POST, "/biller/DEMO/contacts/add", &t.token)
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", "sync-42")
        .body("[]")
        .send()
        .await
        .unwrap();
    let (s, v) = body(other).await;
    assert_eq!((s, v["code"].as_str()), (422, Some("idempotency_key_reused")), "in Payreq's shape: {v}");
}

async fn another_billers_routes_are_out_of_reach(b: Backend) {
    let app = spawn_app(b).await;
    let a = app.biller("1001", ALL).await;
    let other = app.biller("2002", ALL).await;
    let (_, v) = payreq(
        &app,
        &other,
        "/biller/2002/contacts/job/add",
        "application/json",
        &json!([contact_payreq("5001")]).to_string(),
    )
    .await;
    let their_job = v["job-id"].as_str().unwrap().to_owned();
    for path in [
        "/biller/2002/contacts/add",
        "/biller/2002/contacts/replace",
        "/biller/2002/contacts/job/add",
        "/biller/2002/contacts/job/replace",
    ] {
        let (s, v) = payreq(&app, &a, path, "application/json", &json!([contact_payreq("5002")]).to_string()).await;
        assert_eq!((s, v["code"].as_str()), (404, Some("biller_not_found")), "{path}");
    }
    for path in [format!("/biller/2002/jobs/{their_job}"), format!("/biller/1001/jobs/{their_job}")] {
        let (s, v) = body(app.request(Method::GET, &path, &a.token).send().await.unwrap()).await;
        assert_eq!(s, 404, "{path}: {v}");
        assert!(v["code"].as_str().unwrap().ends_with("_not_found"));
    }
    while app.worker.run_once().await.unwrap() {}
    assert_eq!(app.all_contacts(&other).await.keys().collect::<Vec<_>>(), ["5001"]);
}

fn contact_payreq(acct: &str) -> Value {
    json!({"biller-account-number": acct, "name": format!("Person {acct}"), "contact-id-1": acct, "contact-id-2": "Auth"})
}

/// Each Payreq route needs its one scope (README's table): 403 without it, nothing changed.
async fn every_route_needs_its_scope(b: Backend) {
    use contactd::store::Scope::*;
    let app = spawn_app(b).await;
    let full = app.biller("1001", ALL).await;
    let one = json!([contact_payreq("5001")]).to_string();
    let (_, v) = payreq(&app, &full, "/biller/1001/contacts/job/add", "application/json", &one).await;
    let job = v["job-id"].as_str().unwrap().to_owned();
    let routes = [
        (Method::POST, "/biller/1001/contacts/add".to_owned(), ContactsWrite),
        (Method::POST, "/biller/1001/contacts/replace".to_owned(), ContactsReplace),
        (Method::POST, "/biller/1001/contacts/job/add".to_owned(), ContactsWrite),
        (Method::POST, "/biller/1001/contacts/job/replace".to_owned(), ContactsReplace),
        (Method::GET, format!("/biller/1001/jobs/{job}"), ContactsRead),
    ];
    for (method, path, scope) in routes {
        let rest: Vec<_> = ALL.iter().copied().filter(|s| *s != scope).collect();
        let without = app.tenant_key(&["1001"], &rest).await;
        let send = |t: &Tenant| {
            let req = app.request(method.clone(), &path, &t.token);
            if method == Method::POST { req.header("Content-Type", "application/json").body(one.clone()) } else { req }
        };
        let (s, v) = body(send(&without).send().await.unwrap()).await;
        assert_eq!((s, v["code"].as_str()), (403, Some("insufficient_scope")), "{method} {path}");
        let only = app.tenant_key(&["1001"], &[scope]).await;
        let res = send(&only).send().await.unwrap();
        assert!(res.status().is_success(), "{method} {path} with {} alone: {}", scope.as_str(), res.status());
    }
}

/// Found by a hostile review: each was wrong before.
async fn what_a_hostile_client_found(b: Backend) {
    let app = spawn_app(b).await;
    let t = demo(&app).await;
    for (method, path) in [
        (Method::GET, "/auth/token"),
        (Method::GET, "/biller/DEMO/contacts/add"),
        (Method::POST, "/biller/DEMO/contacts/delete"),
        (Method::GET, "/biller/DEMO/jobs"),
    ] {
        let res = app.request(method.clone(), path, &t.token).send().await.unwrap();
        assert_eq!(res.headers()["content-type"], "application/json", "{method} {path}");
        let (s, v) = body(res).await;
        assert!(matches!(s, 404 | 405) && v["status"] == s, "{method} {path}: {v}");
    }
    let (s, v) = body(app.client.post(app.url("/biller/DEMO/contacts/add")).send().await.unwrap()).await;
    assert_eq!(s, 401);
    assert!(v["message"].as_str().unwrap().contains("POST /auth/token"), "{v}");
    let (_, v) = payreq(
        &app,
        &t,
        "/biller/DEMO/contacts/add",
        "application/json",
        r#"[{"biller-account-number":"5555","name":"B","account_number":"6666"}]"#,
    )
    .await;
    assert_eq!(
        (v["errors"][0]["field"].as_str(), v["errors"][0]["message"].as_str()),
        (Some("account_number"), Some("account_number is not a configured contact field for this biller")),
        "{v}"
    );
    let (_, v) = payreq(
        &app,
        &t,
        "/biller/DEMO/contacts/add",
        "application/json",
        r#"[{"biller-account-number":"5555","name":"B","name":"C"}]"#,
    )
    .await;
    assert!(!v.to_string().contains(".:"), "{v}");
}

both_stores!(
    what_a_hostile_client_found,
    every_route_needs_its_scope,
    the_seeds_payload_is_taken_as_printed,
    every_common_validation_issue_is_named,
    a_replace_keeps_the_removal_guard,
    jobs_take_json_ndjson_and_csv,
    an_idempotency_key_replays,
    another_billers_routes_are_out_of_reach,
);

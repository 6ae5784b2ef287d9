//! Regressions from a hostile review: each names what was wrong.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

async fn add_takes_dry_run_and_refuses_unknown_query(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let (s, v) = body(app.post(&t, "/contacts/add?dry_run=true", &json!([contact("1234", "Dry Run")])).await).await;
    assert_eq!((s, v["dry_run"].as_bool(), v["created"].as_u64()), (200, Some(true), Some(1)), "{v}");
    assert_eq!(v["account_numbers"]["created"], json!(["1234"]));
    assert!(app.all_contacts(&t).await.is_empty(), "a dry run writes nothing");
    let (s, v) = body(app.post(&t, "/contacts/add?dryrun=true", &json!([contact("1234", "Typo")])).await).await;
    assert_eq!((s, v["code"].as_str()), (400, Some("invalid_query")));
    let (s, _) = body(app.post(&t, "/contacts?dry_run=true", &contact("1234", "Create")).await).await;
    assert_eq!(s, 400);
    assert!(app.all_contacts(&t).await.is_empty());
}

async fn the_guard_in_a_dry_run_reports_instead_of_refusing(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let list: Vec<Value> = (1000..1008).map(|i| contact(&i.to_string(), "P")).collect();
    app.post(&t, "/contacts/add", &json!(list)).await;
    let (s, v) = body(app.post(&t, "/contacts/replace?dry_run=true", &json!([])).await).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["removal_guard"]["passes"], false);
    assert_eq!(v["removal_guard"]["confirm_removals"], 8);
    assert_eq!(v["account_numbers"]["removed"].as_array().unwrap().len(), 8);
    let (_, v) = body(app.post(&t, "/contacts/replace?dry_run=true", &json!(list)).await).await;
    assert_eq!(v["removal_guard"]["passes"], true);
    // A stated number must be right even under the limit.
    let (s, v) = body(app.post(&t, "/contacts/replace?confirm_removals=500", &json!(list[..6])).await).await;
    assert_eq!((s, v["code"].as_str(), v["would_remove"].as_u64()), (409, Some("removal_count_mismatch"), Some(2)));
    assert_eq!(app.all_contacts(&t).await.len(), 8);
}

async fn input_is_stored_as_sent_or_refused(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let send = |raw: String| {
        app.request(Method::POST, "/v1/billers/1001/contacts/add", &t.token)
            .header("content-type", "application/json")
            .body(raw)
            .send()
    };
    // A key given twice is refused, not silently the last one.
    let (s, v) = body(send(r#"[{"account_number":"1004","name":"x","account_number":"1005","fields":{"contact-id-1":"1005","contact-id-2":"a"}}]"#.into()).await.unwrap()).await;
    assert_eq!((s, v["errors"][0]["code"].as_str()), (422, Some("invalid_value")), "{v}");
    let (s, v) = body(send(r#"[{"account_number":"1004","name":"x","fields":{"contact-id-1":"1004","contact-id-2":"a","contact-id-2":"b"}}]"#.into()).await.unwrap()).await;
    assert_eq!(s, 422, "{v}");
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("duplicate key"), "{v}");
    let (s, _) = body(send(r#"[{"account_number":"1004","name":"x","notes":{"k":"a","k":"b"},"fields":{"contact-id-1":"1004","contact-id-2":"a"}}]"#.into()).await.unwrap()).await;
    assert_eq!(s, 422);
    // Control characters in notes, unknown countries.
    let mut c = contact("1004", "Notes");
    c["notes"] = json!({"k": "\u{0}\u{1b}[31mred"});
    c["address"] = json!({"country": "ZZ"});
    let (s, v) = body(app.post(&t, "/contacts/add", &json!([c])).await).await;
    assert_eq!(s, 422);
    let fields: Vec<&str> = v["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["address.country", "notes.k"], "{v}");
    assert!(app.all_contacts(&t).await.is_empty());
    // A single create reports a wrong type as a record error, like bulk.
    let (s, v) = body(app.post(&t, "/contacts", &json!({"account_number": 1234, "name": "x"})).await).await;
    assert_eq!((s, v["errors"][0]["code"].as_str()), (422, Some("wrong_type")), "{v}");
    let (s, _) = body(app.post(&t, "/contacts", &json!(["1234", "Positional"])).await).await;
    assert_eq!(s, 422);
}

async fn integers_and_phones_read_back_as_sent(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let doc = json!({"fields": [{"key": "count", "kind": "integer"}, {"key": "fax", "kind": "phone"}]});
    assert_eq!(
        app.request(Method::PUT, "/v1/billers/1001/field-settings", &t.token).json(&doc).send().await.unwrap().status(),
        200
    );
    let (s, v) = body(
        app.post(&t, "/contacts/add", &json!([{"account_number": "1", "name": "N", "fields": {"count": "+0300"}}]))
            .await,
    )
    .await;
    assert_eq!((s, v["errors"][0]["code"].as_str()), (422, Some("wrong_type")));
    let ok = json!([{"account_number": "1", "name": "N", "fields": {"count": "300", "fax": "(03) 9999-0000"}}]);
    assert_eq!(app.post(&t, "/contacts/add", &ok).await.status(), 200);
    let (_, c) = body(app.get(&t, "/contacts/acct:1").await).await;
    assert_eq!(c["fields"], json!({"count": 300, "fax": "0399990000"}));
}

async fn control_characters_in_lookups_are_bad_requests(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    for path in
        ["/contacts/acct:%00", "/contacts?q=%00", "/contacts?type=%00", "/contacts?cursor=%00", "/contacts/acct:%FF%FE"]
    {
        let (s, v) = body(app.get(&t, path).await).await;
        assert_eq!(s, 400, "{path}: {v}");
        assert!(v["code"].is_string(), "{path}: a problem body");
    }
    let res = app.request(Method::DELETE, "/v1/billers/1001/contacts/acct:%00", &t.token).send().await.unwrap();
    assert_eq!(res.status(), 400);
}

async fn search_folds_case_the_same_on_both_stores(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    app.post(&t, "/contacts/add", &json!([contact("1001", "émile Straße"), contact("1002", "Other")])).await;
    let (_, v) = body(app.get(&t, "/contacts?q=%C3%89MILE").await).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["data"][0]["name"], "émile Straße", "the name itself is kept as sent");
}

async fn settings_that_could_never_work_are_refused(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    for doc in [
        json!({"contact_types": ["a", "a"]}),
        json!({"contact_types": (0..101).map(|i| i.to_string()).collect::<Vec<_>>()}),
        json!({"fields": [{"key": "e", "kind": "enum", "values": [""]}]}),
        json!({"fields": [{"key": "b", "kind": "boolean", "pattern": "x"}]}),
        json!({"fields": [{"key": "i", "kind": "integer", "max_length": 3}]}),
    ] {
        let res =
            app.request(Method::PUT, "/v1/billers/1001/field-settings", &t.token).json(&doc).send().await.unwrap();
        assert_eq!(res.status(), 422, "{doc}");
    }
}

async fn headers_and_methods(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let url = app.url("/v1/billers/1001/contacts");
    // Two Authorization headers: refused rather than guessing which.
    let res = app
        .client
        .get(&url)
        .header("Authorization", format!("Token {}", t.token))
        .header("Authorization", "Token tok_x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // An unsafe request id is replaced, not echoed into logs.
    let res = app.client.get(app.url("/healthz")).header("x-request-id", "abc} status=500 x=\"y").send().await.unwrap();
    assert_ne!(res.headers()["x-request-id"], "abc} status=500 x=\"y");
    assert_eq!(res.headers()["x-request-id"].len(), 36);
    // 405 is a problem too.
    let res = app.request(Method::PUT, "/v1/billers/1001/contacts", &t.token).send().await.unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    // Basic without padding works; an oversized token request is a problem.
    let (id, secret) = (t.key_id.clone(), t.secret.clone());
    use base64::Engine;
    let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(format!("{id}:{secret}"));
    let res = app
        .client
        .post(app.url("/v1/auth/token"))
        .header("Authorization", format!("Basic {unpadded}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .post(app.url("/v1/auth/token"))
        .header("content-type", "application/json")
        .body("x".repeat(100_000))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
}

async fn a_revoked_key_is_named_only_to_its_holder(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    app.service.revoke_key(&t.key_id).await.unwrap();
    let post = |secret: &str| {
        app.client.post(app.url("/v1/auth/token")).json(&json!({"key_id": t.key_id, "key_secret": secret})).send()
    };
    let (_, v) = body(post("sk_wrong").await.unwrap()).await;
    assert_eq!(v["code"], "bad_credentials");
    let (_, v) = body(post(&t.secret).await.unwrap()).await;
    assert_eq!(v["code"], "key_revoked");
}

/// Second review: positional arrays, text rules, dates, folding, patterns.
async fn objects_only_and_one_text_rule(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let put = |body: &'static str| {
        app.request(Method::PUT, "/v1/billers/1001/field-settings", &t.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let (s, v) = body(put("[]").await.unwrap()).await;
    assert_eq!((s, v["code"].as_str()), (400, Some("invalid_body")), "an array must not reset the settings");
    assert_eq!(body(app.get(&t, "/field-settings").await).await.1["fields"].as_array().unwrap().len(), 6);
    let (s, _) = body(put(r#"{"fields": [{"key": "p", "kind": "text", "pattern": "x)|(?:.*"}]}"#).await.unwrap()).await;
    assert_eq!(s, 422, "a pattern may not escape its anchors");
    let res = app.client.post(app.url("/v1/auth/token")).json(&json!([t.key_id, t.secret])).send().await.unwrap();
    assert_eq!(res.status(), 400);

    let mut c = contact("1001", "Positional");
    c["address"] = json!(["1 Main", "", "loc", "Hobart", "TAS", "7000", "AU"]);
    c["phones"] = json!([["mobile", "0400 000 000", "AU"]]);
    let (s, v) = body(app.post(&t, "/contacts/add", &json!([c])).await).await;
    assert_eq!(s, 422, "{v}");

    let mut c = contact("1002", "  Sam Smith  ");
    c["first_name"] = json!("   ");
    c["address"] = json!({"line1": "  1 Main St "});
    assert_eq!(app.post(&t, "/contacts/add", &json!([c])).await.status(), 200);
    let (_, got) = body(app.get(&t, "/contacts/acct:1002").await).await;
    assert_eq!(
        (got["name"].as_str(), got["first_name"].as_str(), got["address"]["line1"].as_str()),
        (Some("Sam Smith"), None, Some("1 Main St"))
    );

    for (field, value) in
        [("name", json!("\u{200b}")), ("date_of_birth", json!("+2020-01-01")), ("date_of_birth", json!("0000-01-01"))]
    {
        let mut c = contact("1003", "X");
        c[field] = value.clone();
        let (s, v) = body(app.post(&t, "/contacts/add", &json!([c])).await).await;
        assert_eq!(s, 422, "{field} {value}: {v}");
    }
    assert_eq!(app.get(&t, "/contacts?type=").await.status(), 200);
    let (_, v) = body(app.get(&t, "/contacts?type=").await).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1, "an empty type filter is no filter");
}

async fn search_uses_full_case_folding(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    app.post(&t, "/contacts/add", &json!([contact("1001", "Straße Holdings"), contact("1002", "ΟΔΟΣ Ltd")])).await;
    for (q, want) in
        [("STRASSE", "1001"), ("strasse", "1001"), ("%CF%83", "1002"), ("%CE%BF%CE%B4%CE%BF%CF%83", "1002")]
    {
        let (_, v) = body(app.get(&t, &format!("/contacts?q={q}")).await).await;
        let found: Vec<&str> =
            v["data"].as_array().unwrap().iter().map(|c| c["account_number"].as_str().unwrap()).collect();
        assert_eq!(found, [want], "q={q}");
    }
}

crate::both_stores!(
    objects_only_and_one_text_rule,
    search_uses_full_case_folding,
    add_takes_dry_run_and_refuses_unknown_query,
    the_guard_in_a_dry_run_reports_instead_of_refusing,
    input_is_stored_as_sent_or_refused,
    integers_and_phones_read_back_as_sent,
    control_characters_in_lookups_are_bad_requests,
    search_folds_case_the_same_on_both_stores,
    settings_that_could_never_work_are_refused,
    headers_and_methods,
    a_revoked_key_is_named_only_to_its_holder,
);

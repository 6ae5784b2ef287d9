use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

/// Posts to add and returns the problem body, checking that nothing was stored.
async fn rejected(app: &TestApp, t: &Tenant, payload: Value) -> Value {
    let before = app.all_contacts(t).await;
    let res = app.post(t, "/contacts/add", &payload).await;
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let (s, v) = body(res).await;
    assert!(s == 422 || s == 400 || s == 413, "{s} {v}");
    assert_eq!(app.all_contacts(t).await, before, "a rejected request changes nothing");
    v
}

fn errors(v: &Value) -> Vec<(u64, String, String)> {
    v["errors"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|e| {
            (
                e["index"].as_u64().unwrap(),
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn has(v: &Value, index: u64, field: &str, code: &str) -> bool {
    errors(v).contains(&(index, field.to_owned(), code.to_owned()))
}

async fn each_validation_issue_has_its_error(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    app.post(&t, "/contacts/add", &json!([contact("5000", "Existing")])).await;

    // Missing required fields.
    let v = rejected(&app, &t, json!([{"name": "No Number"}, {"account_number": "1234", "fields": {"contact-id-1": "1234", "contact-id-2": "x"}}, {"account_number": "1235", "name": "No Auth"}])).await;
    assert_eq!(v["code"], "validation_failed");
    assert!(has(&v, 0, "account_number", "missing_required"), "{v}");
    assert!(has(&v, 1, "name", "missing_required"));
    assert!(has(&v, 2, "fields.contact-id-2", "missing_required"));

    // Duplicate account numbers: every position named.
    let v = rejected(
        &app,
        &t,
        json!([contact("1111", "A"), contact("2222", "B"), contact("1111", "C"), contact("1111", "D")]),
    )
    .await;
    let dups: Vec<u64> = errors(&v).into_iter().filter(|e| e.2 == "duplicate_account_number").map(|e| e.0).collect();
    assert_eq!(dups, [0, 2, 3]);
    assert_eq!(v["errors"][0]["account_number"], "1111");
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("0, 2, 3"));

    // Account-number length and characters (this biller: 4 to 10 digits).
    let v = rejected(
        &app,
        &t,
        json!([contact("123", "Short"), contact("12345678901", "Long"), contact("12AB", "Letters")]),
    )
    .await;
    assert!(has(&v, 0, "account_number", "invalid_length"));
    assert!(has(&v, 1, "account_number", "invalid_length"));
    assert!(has(&v, 2, "account_number", "invalid_characters"));

    // A number would lose leading zeroes: refused as the wrong type.
    let v = rejected(&app, &t, json!([{"account_number": 123456, "name": "Numeric"}])).await;
    assert!(has(&v, 0, "account_number", "wrong_type"), "{v}");

    // Field rules: pattern, id role, length, type, unknown configured key, unknown top-level key.
    let mut pattern = contact("1001", "Pattern");
    pattern["fields"]["postal-code"] = json!("30000");
    let mut id_role = contact("1002", "Id Role");
    id_role["fields"]["contact-id-1"] = json!("1003");
    let mut long = contact("1004", "Long Auth");
    long["fields"]["contact-id-2"] = json!("x".repeat(31));
    let mut typed = contact("1005", "Typed");
    typed["fields"]["paperless"] = json!("yes");
    let mut unknown = contact("1006", "Unknown");
    unknown["fields"]["favourite-colour"] = json!("blue");
    let mut flat = contact("1007", "Flat");
    flat["municipality"] = json!("Melbourne");
    let mut email = contact("1008", "Bad Email");
    email["email"] = json!("nope@");
    let mut kind = contact("1009", "Bad Type");
    kind["type"] = json!("contact_typeA");
    let v = rejected(&app, &t, json!([pattern, id_role, long, typed, unknown, flat, email, kind])).await;
    assert!(has(&v, 0, "fields.postal-code", "invalid_format"), "{v}");
    assert!(has(&v, 1, "fields.contact-id-1", "id_mismatch"));
    assert!(has(&v, 2, "fields.contact-id-2", "invalid_length"));
    assert!(has(&v, 3, "fields.paperless", "wrong_type"));
    assert!(has(&v, 4, "fields.favourite-colour", "unknown_field"));
    assert!(has(&v, 5, "municipality", "unknown_field"), "{v}");
    assert!(has(&v, 6, "email", "invalid_format"));
    assert!(has(&v, 7, "type", "invalid_value"));
    assert_eq!(v["errors_total"], 8);

    // Wrong JSON types anywhere in a record are reported per record.
    let v = rejected(&app, &t, json!([{"account_number": "1001", "name": ["x"]}, "just a string", {"account_number": "1002", "name": "N", "notes": {"a": {"deep": 1}}}])).await;
    assert!(has(&v, 0, "name", "wrong_type"), "{v}");
    assert!(has(&v, 1, "", "wrong_type"));
    assert!(has(&v, 2, "notes.a", "wrong_type"));
}

async fn invalid_json_says_where(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let send = |raw: &'static str| {
        app.request(Method::POST, "/v1/billers/1001/contacts/add", &t.token)
            .header("content-type", "application/json")
            .body(raw)
            .send()
    };
    let (s, v) = body(send("[\n  {\"account_number\": \"1234\",\n   \"name\": \"x\",,}\n]").await.unwrap()).await;
    assert_eq!((s, v["code"].as_str()), (400, Some("invalid_json")));
    assert_eq!((v["line"].as_u64(), v["column"].as_u64()), (Some(3), Some(16)), "{v}");
    assert!(v["detail"].as_str().unwrap().contains("line 3 column 16"));
    let (s, v) = body(send("{\"account_number\": \"1234\"}").await.unwrap()).await;
    assert_eq!((s, v["code"].as_str()), (400, Some("invalid_body")));
    let (s, _) = body(send("").await.unwrap()).await;
    assert_eq!(s, 400);
    // Deep nesting is refused, not a stack overflow.
    let deep: &'static str = Box::leak(format!("[{}{}]", "[".repeat(100_000), "]".repeat(100_000)).into_boxed_str());
    let (s, v) = body(send(deep).await.unwrap()).await;
    assert_eq!((s, v["errors"][0]["code"].as_str()), (422, Some("wrong_type")), "{v}");
    let deep: &'static str = Box::leak(
        format!(
            "[{{\"account_number\": \"1234\", \"fields\": {{\"x\": {}1{}}}}}]",
            "{\"a\":".repeat(50_000),
            "}".repeat(50_000)
        )
        .into_boxed_str(),
    );
    let (s, v) = body(send(deep).await.unwrap()).await;
    assert_eq!(s, 422, "{v}");
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("recursion limit"), "{v}");
    // Not JSON at all.
    let res = app
        .request(Method::POST, "/v1/billers/1001/contacts/add", &t.token)
        .header("content-type", "text/plain")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    assert!(app.all_contacts(&t).await.is_empty());
}

async fn every_bad_record_is_reported_up_to_the_cap(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let list: Vec<Value> = (0..1500)
        .map(|i| {
            let mut c = contact(&format!("{:04}", 1000 + i), "x");
            c["name"] = json!("");
            c
        })
        .collect();
    let v = rejected(&app, &t, json!(list)).await;
    assert_eq!(v["errors"].as_array().unwrap().len(), 1000);
    assert_eq!(v["errors_total"], 1500);
    assert_eq!(v["errors"][999]["index"], 999);
    assert!(v["detail"].as_str().unwrap().contains("1500 problem(s) in"));
}

async fn limits_are_enforced_with_clear_errors(b: Backend) {
    let app = spawn_app_with(b, |s| {
        s.max_sync_records = 5;
        s.max_body_bytes = 4096;
    })
    .await;
    let t = app.biller("1001", ALL).await;
    let six: Vec<Value> = (0..6).map(|i| contact(&format!("100{i}"), "P")).collect();
    let (s, v) = body(app.post(&t, "/contacts/add", &json!(six)).await).await;
    assert_eq!((s, v["code"].as_str()), (413, Some("too_many_records")));
    assert!(v["detail"].as_str().unwrap().contains("at most 5"), "{v}");
    assert!(v["detail"].as_str().unwrap().contains("contacts/job/add"), "the detail names the job endpoint: {v}");
    let (s, _) = body(app.post(&t, "/contacts/replace", &json!(six)).await).await;
    assert_eq!(s, 413);

    let huge = json!([{"account_number": "1000", "name": "x".repeat(10_000)}]);
    let (s, v) = body(app.post(&t, "/contacts/add", &huge).await).await;
    assert_eq!((s, v["code"].as_str()), (413, Some("body_too_large")));

    let long_name = json!([{"account_number": "1000", "name": "x".repeat(201), "fields": {"contact-id-1": "1000", "contact-id-2": "a"}}]);
    let (s, v) = body(app.post(&t, "/contacts/add", &long_name).await).await;
    assert_eq!((s, v["errors"][0]["code"].as_str()), (422, Some("invalid_length")));
    let notes: serde_json::Map<String, Value> = (0..16).map(|i| (format!("k{i}"), json!("v"))).collect();
    let mut many_notes = contact("1000", "Notes");
    many_notes["notes"] = Value::Object(notes);
    let (s, v) = body(app.post(&t, "/contacts/add", &json!([many_notes])).await).await;
    assert_eq!((s, v["errors"][0]["code"].as_str()), (422, Some("too_many")));
    assert!(app.all_contacts(&t).await.is_empty());
}

async fn unknown_billers_and_routes(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let (s, v) = body(
        app.request(Method::POST, "/v1/billers/NOPE/contacts/add", &t.token).json(&json!([])).send().await.unwrap(),
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (404, Some("biller_not_found")));
    let (s, v) = body(app.request(Method::GET, "/v1/nothing-here", &t.token).send().await.unwrap()).await;
    assert_eq!((s, v["code"].as_str()), (404, Some("not_found")));
}

crate::both_stores!(
    each_validation_issue_has_its_error,
    invalid_json_says_where,
    every_bad_record_is_reported_up_to_the_cap,
    limits_are_enforced_with_clear_errors,
    unknown_billers_and_routes,
);

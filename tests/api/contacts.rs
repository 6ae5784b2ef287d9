use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

async fn add_creates_then_updates(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let mut sam = contact("000123", "Sam Smith");
    sam["email"] = json!("sam@example.com");
    sam["phones"] = json!([{"kind": "mobile", "number": "0400 000 000", "country": "AU"}]);
    sam["address"] =
        json!({"line1": "1 Example Street", "city": "Melbourne", "state": "VIC", "postcode": "3000", "country": "AU"});
    sam["notes"] = json!({"notes_key_1": "Tea, Earl Grey, Hot"});
    let vip = app.tag(&t, "vip").await;
    sam["tags"] = json!([vip]);
    sam["type"] = json!("customer");
    sam["fields"]["contact-id-3"] = json!("GA123");
    sam["fields"]["paperless"] = json!(true);
    let jane = contact("0789", "Jane Example");

    let (s, v) = body(app.post(&t, "/contacts/add", &json!([sam, jane])).await).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v, json!({"biller_code": "1001", "processed": 2, "created": 2, "updated": 0, "unchanged": 0}));

    let (s, stored) = body(app.get(&t, "/contacts/acct:000123").await).await;
    assert_eq!(s, 200);
    assert!(stored["id"].as_str().unwrap().starts_with("cont_"));
    assert_eq!(stored["id"].as_str().unwrap().len(), 19);
    assert_eq!(stored["account_number"], "000123", "leading zeroes are kept");
    assert_eq!(stored["email"], "sam@example.com");
    assert_eq!(
        stored["phones"],
        json!([{"kind": "mobile", "number": "0400 000 000", "e164": "+61400000000", "country": "AU"}]),
        "kept as sent, with its E.164"
    );
    assert_eq!(stored["address"]["city"], "Melbourne");
    assert_eq!(stored["notes"]["notes_key_1"], "Tea, Earl Grey, Hot");
    assert_eq!(
        stored["fields"],
        json!({"contact-id-1": "000123", "contact-id-2": "Auth Sam Smith", "contact-id-3": "GA123", "paperless": true})
    );
    assert_eq!(stored["type"], "customer");
    assert_eq!(stored["active"], true);
    assert_eq!(stored["version"], 1);
    let id = stored["id"].as_str().unwrap().to_owned();

    // The same again: unchanged. Then a change: the details are replaced by those supplied.
    let (_, v) = body(app.post(&t, "/contacts/add", &json!([sam])).await).await;
    assert_eq!((v["unchanged"].as_u64(), v["updated"].as_u64()), (Some(1), Some(0)));
    let mut sam2 = contact("000123", "Samuel Smith");
    sam2["active"] = json!(false);
    let (_, v) = body(app.post(&t, "/contacts/add", &json!([sam2, contact("0999", "New Person")])).await).await;
    assert_eq!(v, json!({"biller_code": "1001", "processed": 2, "created": 1, "updated": 1, "unchanged": 0}));

    let (_, stored) = body(app.get(&t, &format!("/contacts/{id}")).await).await;
    assert_eq!(stored["id"], id.as_str(), "an update keeps the id");
    assert_eq!(stored["name"], "Samuel Smith");
    assert_eq!(stored["active"], false);
    assert_eq!(stored["email"], Value::Null, "fields left out of an add are cleared");
    assert_eq!(stored["phones"], json!([]));
    assert_eq!(stored["version"], 2);
    assert!(stored["updated_at"].as_str().unwrap() >= stored["created_at"].as_str().unwrap());
    assert_eq!(app.all_contacts(&t).await.len(), 3);
}

async fn replace_removes_what_is_not_supplied(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let list: Vec<Value> = (1..=4).map(|i| contact(&format!("100{i}"), &format!("Person {i}"))).collect();
    app.post(&t, "/contacts/add", &json!(list)).await;
    let (_, gone) = body(app.get(&t, "/contacts/acct:1004").await).await;

    let (s, v) = body(
        app.post(
            &t,
            "/contacts/replace",
            &json!([list[0], list[1], contact("1003", "Changed"), contact("2000", "Brand New")]),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!({"biller_code": "1001", "processed": 4, "created": 1, "updated": 1, "unchanged": 2, "removed": 1})
    );
    let all = app.all_contacts(&t).await;
    assert_eq!(all.keys().collect::<Vec<_>>(), ["1001", "1002", "1003", "2000"]);
    assert_eq!(all["1003"]["name"], "Changed");
    assert_eq!(app.get(&t, "/contacts/acct:1004").await.status(), 404);
    assert_eq!(app.get(&t, &format!("/contacts/{}", gone["id"].as_str().unwrap())).await.status(), 404);
}

async fn a_failed_replace_changes_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let list: Vec<Value> = (1..=5).map(|i| contact(&format!("100{i}"), &format!("Person {i}"))).collect();
    app.post(&t, "/contacts/add", &json!(list)).await;
    let before = app.all_contacts(&t).await;

    let mut bad = contact("1003", "Person 3");
    bad["fields"]["contact-id-1"] = json!("9999");
    let (s, v) = body(app.post(&t, "/contacts/replace", &json!([contact("1001", "Renamed"), bad])).await).await;
    assert_eq!(s, 422);
    assert_eq!(v["errors"][0]["index"], 1);
    assert_eq!(v["errors"][0]["code"], "id_mismatch");
    assert_eq!(app.all_contacts(&t).await, before, "a rejected replace changes nothing");
}

async fn dry_run_reports_and_changes_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let list: Vec<Value> = (1..=8).map(|i| contact(&format!("100{i}"), &format!("Person {i}"))).collect();
    app.post(&t, "/contacts/add", &json!(list)).await;
    let before = app.all_contacts(&t).await;

    let next = json!([list[0], contact("1002", "Changed"), contact("3000", "New"), list[3], list[4], list[5], list[6]]);
    let (s, v) = body(app.post(&t, "/contacts/replace?dry_run=true", &next).await).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["dry_run"], true);
    assert_eq!(
        (v["created"].as_u64(), v["updated"].as_u64(), v["unchanged"].as_u64(), v["removed"].as_u64()),
        (Some(1), Some(1), Some(5), Some(2))
    );
    assert_eq!(v["account_numbers"]["created"], json!(["3000"]));
    assert_eq!(v["account_numbers"]["updated"], json!(["1002"]));
    assert_eq!(v["account_numbers"]["removed"], json!(["1003", "1008"]));
    assert_eq!(v["account_numbers"]["unchanged"].as_array().unwrap().len(), 5);
    assert_eq!(app.all_contacts(&t).await, before);
}

async fn the_removal_guard_needs_the_exact_number(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let list: Vec<Value> = (1000..1020).map(|i| contact(&i.to_string(), &format!("Person {i}"))).collect();
    app.post(&t, "/contacts/add", &json!(list)).await;
    let before = app.all_contacts(&t).await;

    // 20 contacts, default share 25%: removing 5 is allowed, 6 is not.
    let keep14 = json!(list[..14]);
    let (s, v) = body(app.post(&t, "/contacts/replace", &keep14).await).await;
    assert_eq!(s, 409);
    assert_eq!(v["code"], "removal_limit_exceeded");
    assert_eq!(v["would_remove"], 6);
    assert!(v["detail"].as_str().unwrap().contains("confirm_removals=6"), "{v}");
    assert_eq!(app.post(&t, "/contacts/replace?confirm_removals=5", &keep14).await.status(), 409);
    assert_eq!(app.all_contacts(&t).await, before);

    let (s, v) = body(app.post(&t, "/contacts/replace?confirm_removals=6", &keep14).await).await;
    assert_eq!((s, v["removed"].as_u64()), (200, Some(6)));
    assert_eq!(app.all_contacts(&t).await.len(), 14);
    let (s, _) = body(app.post(&t, "/contacts/replace", &json!(list[..13])).await).await;
    assert_eq!(s, 200, "removing 1 of 14 is within the share");
    // An empty replace removes everything: refused without confirmation.
    assert_eq!(app.post(&t, "/contacts/replace", &json!([])).await.status(), 409);
    assert_eq!(app.all_contacts(&t).await.len(), 13);
}

async fn single_contact_create_get_delete(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let res = app.post(&t, "/contacts", &contact("4321", "Solo Person")).await;
    let (s, created) = body(res).await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["version"], 1);
    let id = created["id"].as_str().unwrap();
    let (s, v) = body(app.post(&t, "/contacts", &contact("4321", "Again")).await).await;
    assert_eq!((s, v["code"].as_str()), (409, Some("conflict")));
    let (s, got) = body(app.get(&t, &format!("/contacts/{id}")).await).await;
    assert_eq!((s, &got), (200, &created));

    let del = |path: String| app.request(Method::DELETE, &format!("/v1/billers/1001{path}"), &t.token).send();
    assert_eq!(del(format!("/contacts/{id}")).await.unwrap().status(), 204);
    assert_eq!(del(format!("/contacts/{id}")).await.unwrap().status(), 404);
    assert_eq!(app.get(&t, &format!("/contacts/{id}")).await.status(), 404);
    app.post(&t, "/contacts", &contact("4322", "By Account")).await;
    assert_eq!(del("/contacts/acct:4322".into()).await.unwrap().status(), 204);
    assert!(app.all_contacts(&t).await.is_empty());

    let (s, v) = body(app.get(&t, "/contacts/not-an-id").await).await;
    assert_eq!((s, v["code"].as_str()), (400, Some("invalid_contact_id")));
}

async fn list_filters(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let mut a = contact("1001", "Alice Smith");
    a["type"] = json!("employee");
    let mut bob = contact("1002", "Bob 100% Jones");
    bob["active"] = json!(false);
    app.post(&t, "/contacts/add", &json!([a, bob, contact("2001", "Carol Smith")])).await;

    let names = |v: Value| {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["account_number"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let q = |path: &'static str| async { body(app.get(&t, path).await).await.1 };
    assert_eq!(names(q("/contacts?active=false").await), ["1002"]);
    assert_eq!(names(q("/contacts?type=employee").await), ["1001"]);
    assert_eq!(names(q("/contacts?q=smith").await), ["1001", "2001"]);
    assert_eq!(names(q("/contacts?q=200").await), ["2001"]);
    assert_eq!(names(q("/contacts?q=100%25").await), ["1002"], "% is matched literally");
    assert_eq!(names(q("/contacts?updated_since=2000-01-01T00:00:00Z").await).len(), 3);
    assert!(names(q("/contacts?updated_since=2999-01-01T00:00:00Z").await).is_empty());
    for (bad, code) in [
        ("/contacts?limit=0", "invalid_query"),
        ("/contacts?limit=5000", "invalid_query"),
        ("/contacts?limit=abc", "invalid_query"),
        ("/contacts?active=maybe", "invalid_query"),
        ("/contacts?updated_since=yesterday", "invalid_query"),
        ("/contacts?cursor=", "invalid_query"),
        ("/contacts?cursor=%0A", "invalid_query"),
        (&format!("/contacts?cursor={}", "1".repeat(65)), "invalid_query"),
        ("/contacts?bogus=1", "invalid_query"),
    ] {
        let (s, v) = body(app.get(&t, bad).await).await;
        assert_eq!((s, v["code"].as_str()), (400, Some(code)), "{bad}");
    }
}

async fn field_settings_round_trip(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let (s, doc) = body(app.get(&t, "/field-settings").await).await;
    assert_eq!(s, 200);
    assert_eq!(doc["fields"].as_array().unwrap().len(), 6);
    let put = |body: Value| app.request(Method::PUT, "/v1/billers/1001/field-settings", &t.token).json(&body).send();
    let (s, v) =
        body(put(json!({"fields": [{"key": "Bad Key", "kind": "text"}], "max_replace_removal": 3})).await.unwrap())
            .await;
    assert_eq!((s, v["code"].as_str()), (422, Some("invalid_settings")));
    assert_eq!(body(app.get(&t, "/field-settings").await).await.1, doc, "rejected settings change nothing");
    let (s, _) = body(
        put(json!({"fields": [{"key": "region", "kind": "enum", "values": ["north", "south"], "required": true}]}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    let (s, v) = body(
        app.post(&t, "/contacts/add", &json!([{"account_number": "1", "name": "N", "fields": {"region": "east"}}]))
            .await,
    )
    .await;
    assert_eq!((s, v["errors"][0]["code"].as_str()), (422, Some("invalid_value")));
    assert_eq!(
        app.post(&t, "/contacts/add", &json!([{"account_number": "1", "name": "N", "fields": {"region": "north"}}]))
            .await
            .status(),
        200
    );
}

crate::both_stores!(
    add_creates_then_updates,
    replace_removes_what_is_not_supplied,
    a_failed_replace_changes_nothing,
    dry_run_reports_and_changes_nothing,
    the_removal_guard_needs_the_exact_number,
    single_contact_create_get_delete,
    list_filters,
    field_settings_round_trip,
);

//! One contact at a time: PATCH (JSON Merge Patch), protected fields,
//! conditional writes, account-number changes, and concurrent patches.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

/// A contact with something in every mergeable part.
fn rich(acct: &str) -> Value {
    json!({
        "account_number": acct,
        "name": "Ann Lee",
        "first_name": "Ann",
        "email": "ann@example.com",
        "phones": [{"kind": "mobile", "number": "0412 345 678", "country": "AU"}],
        "address": {"line1": "1 George St", "city": "Sydney", "postcode": "2000"},
        "notes": {"a": "one", "b": "two"},
        "fields": {"contact-id-1": acct, "contact-id-2": "Auth Ann", "contact-id-3": "GA1"},
    })
}

pub async fn create(app: &TestApp, t: &Tenant, record: &Value) -> Value {
    let (s, v) = body(app.post(t, "/contacts", record).await).await;
    assert_eq!(s, 201, "{v}");
    v
}

pub async fn patch(app: &TestApp, t: &Tenant, id: &str, patch: &Value) -> (u16, Value) {
    body(
        app.request(Method::PATCH, &format!("/v1/billers/{}/contacts/{id}", t.code), &t.token)
            .header("Content-Type", "application/merge-patch+json")
            .body(patch.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await
}

pub async fn stored(app: &TestApp, t: &Tenant, id: &str) -> Value {
    let (s, v) = body(app.get(t, &format!("/contacts/{id}")).await).await;
    assert_eq!(s, 200, "{v}");
    v
}

/// The fields a patch may not have changed, as stored.
fn data_of(c: &Value) -> Value {
    let mut c = c.clone();
    c.as_object_mut().unwrap().remove("updated_at");
    c
}

/// (field, code) of each error in a problem body.
pub fn errors(v: &Value) -> Vec<(String, String)> {
    v["errors"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|e| (e["field"].as_str().unwrap_or("").to_owned(), e["code"].as_str().unwrap_or("").to_owned()))
        .collect()
}

async fn a_patch_merges_what_it_names(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let c = create(&app, &t, &rich("5001")).await;
    let id = c["id"].as_str().unwrap();
    assert_eq!(c["version"], 1);

    let (s, v) = patch(
        &app,
        &t,
        id,
        &json!({
            "email": "ann.lee@example.com",
            "first_name": null,
            "notes": {"a": null, "c": "three"},
            "address": {"city": "Melbourne", "postcode": null},
            "phones": [{"kind": "home", "number": "+61 2 9876 5432"}],
            "fields": {"contact-id-3": null},
        }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["version"], 2);
    assert_eq!(v["email"], "ann.lee@example.com", "set");
    assert_eq!(v["first_name"], Value::Null, "null clears");
    assert_eq!(v["name"], "Ann Lee", "absent stays");
    assert_eq!(v["notes"], json!({"b": "two", "c": "three"}), "notes merge key by key");
    assert_eq!(
        v["address"],
        json!({"line1": "1 George St", "line2": null, "locality": null, "city": "Melbourne",
        "state": null, "postcode": null, "country": null}),
        "address merges key by key"
    );
    assert_eq!(v["phones"].as_array().unwrap().len(), 1, "phones are replaced whole");
    assert_eq!(v["phones"][0]["kind"], "home");
    assert_eq!(v["phones"][0]["e164"], "+61298765432");
    assert_eq!(v["fields"], json!({"contact-id-1": "5001", "contact-id-2": "Auth Ann"}), "fields merge");
    assert_eq!(stored(&app, &t, id).await, v, "the response is what is stored");

    // An empty patch changes nothing, not even the version.
    let (s, same) = patch(&app, &t, id, &json!({})).await;
    assert_eq!((s, &same["version"]), (200, &json!(2)));
    assert_eq!(same, v);
    // Not even after a settings change that would write it differently (a
    // default phone country gives local numbers an E.164).
    let mut settings = payreq_settings();
    settings.phone_country = Some("AU".into());
    app.service.set_field_settings("1001", settings).await.unwrap();
    let (s, same) = patch(&app, &t, id, &json!({})).await;
    assert_eq!((s, &same["version"]), (200, &json!(2)), "{same}");
    // Nor does one that sets what is already there.
    let (s, same) = patch(&app, &t, id, &json!({"email": "ann.lee@example.com", "notes": {"b": "two"}})).await;
    assert_eq!((s, &same["version"]), (200, &json!(2)), "{same}");

    // application/json is taken too.
    let res = app
        .request(Method::PATCH, &format!("/v1/billers/1001/contacts/{id}"), &t.token)
        .json(&json!({"tags": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // By account number.
    let (s, v) = patch(&app, &t, "acct:5001", &json!({"reference_id": "R-1"})).await;
    assert_eq!((s, &v["reference_id"]), (200, &json!("R-1")), "{v}");
}

async fn a_patch_cannot_clear_what_is_required(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let c = create(&app, &t, &rich("5001")).await;
    let id = c["id"].as_str().unwrap();
    for (p, field) in [
        (json!({"name": null}), "name"),
        (json!({"account_number": null}), "account_number"),
        (json!({"fields": {"contact-id-2": null}}), "fields.contact-id-2"),
        (json!({"name": "   "}), "name"),
    ] {
        let (s, v) = patch(&app, &t, id, &p).await;
        assert_eq!(s, 422, "{p} {v}");
        assert!(errors(&v).iter().any(|(f, _)| f == field), "{p}: {v}");
    }
    assert_eq!(data_of(&stored(&app, &t, id).await), data_of(&c), "a refused patch changes nothing");
}

async fn a_patch_may_not_name_what_the_server_sets(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let c = create(&app, &t, &rich("5001")).await;
    let id = c["id"].as_str().unwrap();
    for field in ["id", "version", "created_at", "updated_at", "job_id"] {
        let (s, v) = patch(&app, &t, id, &json!({field: "x", "email": "new@example.com"})).await;
        assert_eq!(s, 422, "{field}: {v}");
        assert_eq!(errors(&v), [(field.to_owned(), "read_only".to_owned())], "{v}");
    }
    let (s, v) = patch(&app, &t, id, &json!({"is_admin": true})).await;
    assert_eq!(s, 422);
    assert_eq!(errors(&v), [("is_admin".to_owned(), "unknown_field".to_owned())]);
    let (s, v) = patch(&app, &t, id, &json!({"address": {"planet": "Mars"}})).await;
    assert_eq!(s, 422);
    assert_eq!(errors(&v), [("address.planet".to_owned(), "unknown_field".to_owned())]);
    // Every wrong type is listed, not only the first.
    let (s, v) = patch(&app, &t, id, &json!({"name": 42, "active": "yes", "tags": "a,b", "notes": [1]})).await;
    assert_eq!(s, 422);
    let mut fields: Vec<String> = errors(&v).into_iter().map(|(f, _)| f).collect();
    fields.sort();
    assert_eq!(fields, ["active", "name", "notes", "tags"], "{v}");
    // Not an object, not JSON, a key twice.
    for raw in ["[1]", "\"x\"", "{", r#"{"email": "a@b.co", "email": "c@d.co"}"#] {
        let res = app
            .request(Method::PATCH, &format!("/v1/billers/1001/contacts/{id}"), &t.token)
            .header("Content-Type", "application/merge-patch+json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{raw}");
    }
    // A huge or deeply nested patch.
    let deep = format!("{{\"notes\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    let res = app
        .request(Method::PATCH, &format!("/v1/billers/1001/contacts/{id}"), &t.token)
        .header("Content-Type", "application/merge-patch+json")
        .body(deep)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let huge = json!({"notes": {"a": "x".repeat(33 << 20)}});
    let (s, _) = patch(&app, &t, id, &huge).await;
    assert_eq!(s, 413);
    // Another content type.
    let res = app
        .request(Method::PATCH, &format!("/v1/billers/1001/contacts/{id}"), &t.token)
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    assert_eq!(data_of(&stored(&app, &t, id).await), data_of(&c), "nothing changed");
}

async fn a_patch_may_move_the_account_number_to_a_free_one(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let c = create(&app, &t, &rich("5001")).await;
    create(&app, &t, &rich("5002")).await;
    let id = c["id"].as_str().unwrap();
    let (s, v) = patch(&app, &t, id, &json!({"account_number": "5002", "fields": {"contact-id-1": "5002"}})).await;
    assert_eq!(s, 409, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("5002"), "{v}");
    // The id-role field must follow it.
    let (s, v) = patch(&app, &t, id, &json!({"account_number": "5003"})).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(errors(&v)[0].1, "id_mismatch", "{v}");
    assert_eq!(data_of(&stored(&app, &t, id).await), data_of(&c));
    let (s, v) = patch(&app, &t, id, &json!({"account_number": "5003", "fields": {"contact-id-1": "5003"}})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(stored(&app, &t, "acct:5003").await["id"], c["id"]);
    let (s, _) = body(app.get(&t, "/contacts/acct:5001").await).await;
    assert_eq!(s, 404);
}

fn etag(res: &reqwest::Response) -> String {
    res.headers()["etag"].to_str().unwrap().to_owned()
}

async fn versions_make_writes_conditional(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let res = app.post(&t, "/contacts", &rich("5001")).await;
    assert_eq!(etag(&res), "\"1\"");
    let id = body(res).await.1["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/billers/1001/contacts/{id}");
    let send = |method: Method, header: Option<(&'static str, &'static str)>, patch: Option<Value>| {
        let mut r = app.request(method, &path, &t.token);
        if let Some((k, v)) = header {
            r = r.header(k, v);
        }
        if let Some(p) = patch {
            r = r.header("Content-Type", "application/merge-patch+json").body(p.to_string());
        }
        r.send()
    };
    let res = send(Method::PATCH, Some(("If-Match", "\"1\"")), Some(json!({"email": "b@example.com"}))).await.unwrap();
    assert_eq!((res.status().as_u16(), etag(&res)), (200, "\"2\"".into()));
    // A stale version: 412 with the current one, nothing changed.
    let res = send(Method::PATCH, Some(("If-Match", "\"1\"")), Some(json!({"email": "c@example.com"}))).await.unwrap();
    let (s, v) = body(res).await;
    assert_eq!((s, &v["code"], &v["current_version"]), (412, &json!("version_mismatch"), &json!(2)), "{v}");
    assert_eq!(stored(&app, &t, &id).await["email"], "b@example.com");
    // A weak tag never matches strongly; * matches any version.
    let res =
        send(Method::PATCH, Some(("If-Match", "W/\"2\"")), Some(json!({"email": "c@example.com"}))).await.unwrap();
    assert_eq!(res.status(), 412);
    // An empty If-Match lists no tag (RFC 9110 `#entity-tag`): it matches no version.
    let res = send(Method::PATCH, Some(("If-Match", "")), Some(json!({"email": "c@example.com"}))).await.unwrap();
    assert_eq!(res.status(), 412);
    let res = send(Method::PATCH, Some(("If-Match", "*")), Some(json!({"email": "c@example.com"}))).await.unwrap();
    assert_eq!(res.status(), 200);
    for bad in ["3", "\"3\", \"4\"", "\"abc", ","] {
        let res = app
            .request(Method::PATCH, &path, &t.token)
            .header("If-Match", bad)
            .header("Content-Type", "application/merge-patch+json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{bad}");
    }
    // If-None-Match: 304 at the version it names, the contact otherwise.
    let res = send(Method::GET, Some(("If-None-Match", "\"3\"")), None).await.unwrap();
    assert_eq!((res.status().as_u16(), etag(&res)), (304, "\"3\"".into()));
    assert!(res.text().await.unwrap().is_empty());
    let res = send(Method::GET, Some(("If-None-Match", "W/\"3\"")), None).await.unwrap();
    assert_eq!(res.status(), 304, "weak comparison for If-None-Match");
    let res = send(Method::GET, Some(("If-None-Match", "\"1\", \"2\"")), None).await.unwrap();
    assert_eq!((res.status().as_u16(), etag(&res)), (200, "\"3\"".into()));
    // DELETE with a stale version stays; with the current one it goes.
    let res = send(Method::DELETE, Some(("If-Match", "\"2\"")), None).await.unwrap();
    assert_eq!(res.status(), 412);
    let res = send(Method::DELETE, Some(("If-Match", "\"3\"")), None).await.unwrap();
    assert_eq!(res.status(), 204);
    let res = send(Method::PATCH, Some(("If-Match", "\"3\"")), Some(json!({"email": "d@example.com"}))).await.unwrap();
    assert_eq!(res.status(), 404);
}

async fn a_biller_may_require_if_match(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let mut settings = payreq_settings();
    settings.require_if_match = true;
    app.service.set_field_settings("1001", settings).await.unwrap();
    let id = create(&app, &t, &rich("5001")).await["id"].as_str().unwrap().to_owned();
    let (s, v) = patch(&app, &t, &id, &json!({"email": "b@example.com"})).await;
    assert_eq!((s, &v["code"]), (428, &json!("if_match_required")), "{v}");
    let res = app.request(Method::DELETE, &format!("/v1/billers/1001/contacts/{id}"), &t.token).send().await.unwrap();
    assert_eq!(res.status(), 428);
    assert_eq!(stored(&app, &t, &id).await["version"], 1);
    let res = app
        .request(Method::PATCH, &format!("/v1/billers/1001/contacts/{id}"), &t.token)
        .header("If-Match", "\"1\"")
        .header("Content-Type", "application/merge-patch+json")
        .body(json!({"email": "b@example.com"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// Without If-Match, patches of different fields all land: the merge is
/// done in the write's transaction, never read-modify-write outside it.
async fn concurrent_patches_of_different_fields_all_land(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let id = create(&app, &t, &rich("5001")).await["id"].as_str().unwrap().to_owned();
    let patches = (0..12).map(|i| {
        let (app, t, id) = (&app, &t, &id);
        async move { patch(app, t, id, &json!({"notes": {format!("k{i}"): format!("v{i}")}})).await }
    });
    for (s, v) in futures_util::future::join_all(patches).await {
        assert_eq!(s, 200, "{v}");
    }
    let c = stored(&app, &t, &id).await;
    assert_eq!(c["version"], 13);
    for i in 0..12 {
        assert_eq!(c["notes"][format!("k{i}")], format!("v{i}"), "{c}");
    }
}

/// PATCHes sent at once, which the stores write in shared transactions:
/// each gets its own answer, and only what was answered 2xx is stored. Some
/// name one contact by two references, one is refused by the unique account
/// number, one is stale, one names no contact.
async fn patches_sent_at_once_each_get_their_own_answer(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(create(&app, &t, &rich(&format!("60{i:02}"))).await["id"].as_str().unwrap().to_owned());
    }
    for round in 0..3 {
        let mut sends: Vec<(String, Value, Option<&str>, u16)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), json!({"notes": {format!("r{round}"): format!("{i}")}}), None, 200))
            .collect();
        sends.push(("acct:6000".into(), json!({"notes": {format!("a{round}"): "by number"}}), None, 200));
        sends.push((ids[1].clone(), json!({"account_number": "6002", "fields": {"contact-id-1": "6002"}}), None, 409));
        sends.push((ids[3].clone(), json!({"email": "stale@example.com"}), Some("\"99\""), 412));
        sends.push(("acct:6999".into(), json!({"email": "none@example.com"}), None, 404));
        let answers = sends.iter().map(|(by, p, if_match, _)| {
            let mut r = app
                .request(Method::PATCH, &format!("/v1/billers/1001/contacts/{by}"), &t.token)
                .header("Content-Type", "application/merge-patch+json")
                .body(p.to_string());
            if let Some(v) = if_match {
                r = r.header("If-Match", *v);
            }
            async move { body(r.send().await.unwrap()).await }
        });
        for ((by, p, _, want), (s, v)) in sends.iter().zip(futures_util::future::join_all(answers).await) {
            assert_eq!(s, *want, "{by} {p}: {v}");
            if s == 409 {
                assert!(v["detail"].as_str().unwrap().contains("6002"), "{v}");
            }
            if s == 200 {
                // The answer is this patch's contact, with what it wrote.
                let expected = if by.starts_with("acct:") { &ids[0] } else { by };
                assert_eq!(v["id"].as_str(), Some(expected.as_str()), "{by}: {v}");
                let (key, value) = p["notes"].as_object().unwrap().iter().next().unwrap();
                assert_eq!(&v["notes"][key], value, "{by}: {v}");
                let version = v["version"].as_i64().unwrap();
                assert!(version > 1 + round && version <= 3 + 2 * round, "{by}: {v}");
            }
        }
    }
    for (i, id) in ids.iter().enumerate() {
        let c = stored(&app, &t, id).await;
        assert_eq!(c["account_number"], format!("60{i:02}"), "{c}");
        assert_eq!(c["email"], "ann@example.com", "{c}");
        for round in 0..3 {
            assert_eq!(c["notes"][format!("r{round}")], format!("{i}"), "{c}");
            assert_eq!(c["notes"].get(format!("a{round}")).is_some(), i == 0, "{c}");
        }
        let version = if i == 0 { 7 } else { 4 };
        assert_eq!(c["version"], version, "{c}");
        let (_, h) = body(app.get(&t, &format!("/contacts/{id}/history?limit=100")).await).await;
        assert_eq!(h["data"].as_array().map(Vec::len), Some(version as usize), "{h}");
    }
}

/// Reads sent at once, which PostgreSQL serves several to a statement: each
/// gets the contact it names (by id or account number), or 404, and never
/// another biller's.
async fn reads_sent_at_once_each_get_their_own_contact(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let other = app.biller("2002", ALL).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(create(&app, &t, &rich(&format!("70{i:02}"))).await["id"].as_str().unwrap().to_owned());
    }
    let theirs = create(&app, &other, &rich("7000")).await["id"].as_str().unwrap().to_owned();
    let mut reads: Vec<(&Tenant, String, Option<String>)> = Vec::new();
    for round in 0..3 {
        for (i, id) in ids.iter().enumerate() {
            reads.push((&t, id.clone(), Some(id.clone())));
            if (i + round) % 2 == 0 {
                reads.push((&t, format!("acct:70{i:02}"), Some(id.clone())));
            }
        }
        reads.push((&t, theirs.clone(), None));
        reads.push((&other, theirs.clone(), Some(theirs.clone())));
        reads.push((&other, "acct:7001".into(), None));
        reads.push((&t, "acct:7999".into(), None));
    }
    let app = &app;
    let answers =
        reads.iter().map(|(who, by, _)| async move { body(app.get(who, &format!("/contacts/{by}")).await).await });
    for ((who, by, want), (s, v)) in reads.iter().zip(futures_util::future::join_all(answers).await) {
        match want {
            Some(id) => {
                assert_eq!((s, v["id"].as_str()), (200, Some(id.as_str())), "{} {by}: {v}", who.code);
                let acct = &v["account_number"];
                assert_eq!(v["fields"]["contact-id-1"], *acct, "{v}");
            }
            None => assert_eq!(s, 404, "{} {by}: {v}", who.code),
        }
    }
}

async fn other_tenants_contacts_are_out_of_reach(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let other = app.biller("2002", ALL).await;
    let id = create(&app, &t, &rich("5001")).await["id"].as_str().unwrap().to_owned();
    // Through the other biller's path: no such contact there.
    let (s, _) = patch(&app, &other, &id, &json!({"email": "x@example.com"})).await;
    assert_eq!(s, 404);
    // Through this biller's path with the other's key: as if no such biller.
    let intruder = Tenant { code: "1001".into(), ..other };
    let (s, _) = patch(&app, &intruder, &id, &json!({"email": "x@example.com"})).await;
    assert_eq!(s, 404);
    for path in ["holds", "history", "crn"] {
        let method = if path == "crn" { Method::POST } else { Method::GET };
        let res = app
            .request(method, &format!("/v1/billers/1001/contacts/{id}/{path}"), &intruder.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
    assert_eq!(stored(&app, &t, &id).await["version"], 1);
    // A read-only key may not patch.
    let reader = app.tenant_key(&["1001"], &[contactd::store::Scope::ContactsRead]).await;
    let (s, _) = patch(&app, &reader, &id, &json!({"email": "x@example.com"})).await;
    assert_eq!(s, 403);
    for bad in ["cont_short", "acct:", "nope", "cont_00000000000000"] {
        let (s, _) = patch(&app, &t, bad, &json!({})).await;
        assert!(s == 400 || s == 404, "{bad}: {s}");
    }
}

crate::both_stores!(
    a_patch_merges_what_it_names,
    a_patch_cannot_clear_what_is_required,
    a_patch_may_not_name_what_the_server_sets,
    a_patch_may_move_the_account_number_to_a_free_one,
    versions_make_writes_conditional,
    a_biller_may_require_if_match,
    concurrent_patches_of_different_fields_all_land,
    patches_sent_at_once_each_get_their_own_answer,
    reads_sent_at_once_each_get_their_own_contact,
    other_tenants_contacts_are_out_of_reach,
);

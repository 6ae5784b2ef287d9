//! The Razorpay dialect (seed 001) black-box: the seed's requests byte for
//! byte, its errors in its shape, one contact seen alike from every API,
//! and no reach into another biller.

use crate::both_stores;
use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

/// The seed's PATCH body, exactly as its curl example sends it.
const SEED_BODY: &str = r#"{
"name": "Gaurav Kumar",
"email": "gaurav.kumar@example.com",
"contact": "9000090000",
"type": "self",
"reference_id": "Acme Contact ID 12345",
"notes": {
"notes_key_1":"Tea, Earl Grey, Hot",
"notes_key_2":"Tea, Earl Grey… decaf."
}
}"#;

/// The seed's success response, less the id and time it cannot know.
fn seed_entity() -> Value {
    json!({
        "entity": "contact",
        "name": "Gaurav Kumar",
        "contact": "9000090000",
        "email": "gaurav.kumar@example.com",
        "type": "self",
        "reference_id": "Acme Contact ID 12345",
        "batch_id": null,
        "active": true,
        "notes": {"notes_key_1": "Tea, Earl Grey, Hot", "notes_key_2": "Tea, Earl Grey… decaf."}
    })
}

/// A biller on the default settings (any account number of letters and digits), and a key for it.
async fn razorpay_biller(app: &TestApp, code: &str) -> Tenant {
    app.service.create_biller(code, "Razorpay Biller").await.unwrap();
    app.tenant_key(&[code], ALL).await
}

async fn rzp(app: &TestApp, t: &Tenant, method: Method, path: &str, body: Option<&str>) -> (u16, Value, String) {
    let mut req = app.client.request(method, app.url(path)).basic_auth(&t.key_id, Some(&t.secret));
    if let Some(b) = body {
        req = req.header("Content-Type", "application/json").body(b.to_owned());
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null), text)
}

/// The error's code, description and field, checked to be Razorpay's shape.
fn rzp_error(v: &Value) -> (String, String, Value) {
    let e = &v["error"];
    for key in ["code", "description", "source", "step", "reason", "metadata", "field"] {
        assert!(e.get(key).is_some(), "{key} missing from {v}");
    }
    (e["code"].as_str().unwrap().to_owned(), e["description"].as_str().unwrap().to_owned(), e["field"].clone())
}

fn without_id_and_time(mut v: Value) -> Value {
    let o = v.as_object_mut().unwrap();
    o.remove("id");
    o.remove("created_at");
    v
}

async fn the_seeds_requests_get_the_seeds_answers(b: Backend) {
    let app = spawn_app(b).await;
    let t = razorpay_biller(&app, "RZP").await;
    let (s, created, text) = rzp(&app, &t, Method::POST, "/v1/contacts", Some(SEED_BODY)).await;
    assert_eq!(s, 201, "{text}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("cont_") && id.len() == 19, "{id}");
    let keys: Vec<&str> = ["id", "entity", "name", "contact", "email", "type", "reference_id", "batch_id", "active"]
        .into_iter()
        .chain(["notes", "created_at"])
        .collect();
    let at: Vec<usize> = keys.iter().map(|k| text.find(&format!("\"{k}\":")).unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "keys in the seed's order: {text}");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((now - created["created_at"].as_i64().unwrap()).abs() < 60);
    assert_eq!(without_id_and_time(created.clone()), seed_entity());

    // The seed's PATCH, byte for byte: the same contact, unchanged, as the seed prints it.
    let (s, patched, text) = rzp(&app, &t, Method::PATCH, &format!("/v1/contacts/{id}"), Some(SEED_BODY)).await;
    assert_eq!(s, 200, "{text}");
    assert_eq!(patched, created, "an unchanged PATCH answers the contact as it is");
    let (s, fetched, _) = rzp(&app, &t, Method::GET, &format!("/v1/contacts/{id}"), None).await;
    assert_eq!((s, fetched), (200, created));
}

async fn the_same_contact_twice_is_one_contact(b: Backend) {
    let app = spawn_app(b).await;
    let t = razorpay_biller(&app, "RZP").await;
    let (s, first, _) = rzp(&app, &t, Method::POST, "/v1/contacts", Some(SEED_BODY)).await;
    assert_eq!(s, 201);
    let (s, again, _) = rzp(&app, &t, Method::POST, "/v1/contacts", Some(SEED_BODY)).await;
    assert_eq!(
        (s, &again["id"]),
        (200, &first["id"]),
        "Razorpay's rule: name, email, contact, type, reference_id equal"
    );
    let other = SEED_BODY.replace("Acme Contact ID 12345", "Acme Contact ID 9");
    let (s, second, _) = rzp(&app, &t, Method::POST, "/v1/contacts", Some(&other)).await;
    assert_eq!(s, 201);
    assert_ne!(second["id"], first["id"]);
    let (s, list, _) = rzp(&app, &t, Method::GET, "/v1/contacts", None).await;
    assert_eq!((s, list["entity"].as_str(), list["count"].as_u64()), (200, Some("collection"), Some(2)));
}

async fn every_seed_error_in_razorpays_shape(b: Backend) {
    let app = spawn_app(b).await;
    let t = razorpay_biller(&app, "RZP").await;
    let (_, created, _) = rzp(&app, &t, Method::POST, "/v1/contacts", Some(SEED_BODY)).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let with = |key: &str, value: Value| {
        let mut v: Value = serde_json::from_str(SEED_BODY).unwrap();
        match value {
            Value::Null => v.as_object_mut().unwrap().remove(key),
            value => v.as_object_mut().unwrap().insert(key.into(), value),
        };
        v.to_string()
    };
    let notes: serde_json::Map<String, Value> = (0..16).map(|i| (format!("k{i}"), json!("v"))).collect();
    let cases = [
        (with("name", Value::Null), "The name field is required.", "name"),
        (with("name", json!("Gaurav@Kumar!")), "The name field is invalid.", "name"),
        (with("name", json!("Ga")), "The name field is invalid.", "name"),
        (with("type", json!("contact_typeA")), "Invalid type: contact_typeA", "type"),
        (with("type", json!("Self")), "Invalid type: Self", "type"),
        (
            with("reference_id", json!("r".repeat(41))),
            "The reference id may not be greater than 40 characters.",
            "reference_id",
        ),
        (with("notes", Value::Object(notes)), "at most 15 notes, got 16", "notes"),
        (with("notes", json!({"k": "v".repeat(257)})), "notes.k must be 0 to 256 characters, got 257", "notes"),
        (with("email", json!("not-an-email")), "The email must be a valid email address.", "email"),
        (with("contact", json!("12")), "The contact format is invalid.", "contact"),
        (with("id", json!("cont_00000000000001")), "id is/are not required and should not be sent", "id"),
    ];
    for (body, description, field) in cases {
        let (s, v, text) = rzp(&app, &t, Method::POST, "/v1/contacts", Some(&body)).await;
        assert_eq!(s, 400, "{body}: {text}");
        assert_eq!(rzp_error(&v), ("BAD_REQUEST_ERROR".into(), description.into(), json!(field)), "{body}");
        assert_eq!(v["error"]["reason"], "input_validation_failed");
        // Refused on PATCH too (name absent is no change there; notes merge with the stored two).
        if description != "The name field is required." {
            let (s, v, _) = rzp(&app, &t, Method::PATCH, &format!("/v1/contacts/{id}"), Some(&body)).await;
            assert_eq!((s, rzp_error(&v).2), (400, json!(field)), "PATCH {body}");
        }
    }
    for method in [Method::GET, Method::PATCH] {
        let body = (method == Method::PATCH).then_some("{\"name\":\"Some One\"}");
        let (s, v, _) = rzp(&app, &t, method.clone(), "/v1/contacts/cont_bad!", body).await;
        assert_eq!((s, rzp_error(&v).1, rzp_error(&v).2), (400, "cont_bad! is not a valid id.".into(), json!("id")));
        let (s, v, _) = rzp(&app, &t, method, "/v1/contacts/cont_00000000000001", body).await;
        assert_eq!((s, rzp_error(&v).1, rzp_error(&v).2), (400, "The id provided does not exist".into(), json!("id")));
    }
    // Credentials: none, a wrong secret, a token where Basic is wanted.
    let (s, v) = body(app.client.get(app.url("/v1/contacts")).send().await.unwrap()).await;
    assert_eq!(
        (s, rzp_error(&v).0, rzp_error(&v).1),
        (401, "BAD_REQUEST_ERROR".into(), "Please provide your api key for authentication purposes.".into())
    );
    let res = app.client.get(app.url("/v1/contacts")).basic_auth(&t.key_id, Some("sk_wrong")).send().await.unwrap();
    let (s, v) = body(res).await;
    assert_eq!((s, rzp_error(&v).1), (401, "The api key/secret provided is invalid".into()));
    let res = app.request(Method::GET, "/v1/contacts", &t.token).send().await.unwrap();
    assert_eq!(body(res).await.0, 401, "Razorpay's routes take HTTP Basic");
    // Malformed JSON, an array for an object; an unknown route under Razorpay's paths.
    for bad in ["{\"name\":", "[1]"] {
        let (s, v, _) = rzp(&app, &t, Method::POST, "/v1/contacts", Some(bad)).await;
        assert_eq!((s, rzp_error(&v).0), (400, "BAD_REQUEST_ERROR".into()), "{bad}");
    }
    let (s, v, _) = rzp(&app, &t, Method::GET, &format!("/v1/contacts/{id}/nothing"), None).await;
    assert_eq!((s, rzp_error(&v).1), (404, "The requested URL was not found on the server.".into()));
    // Nothing was written by any refused request.
    let (_, list, _) = rzp(&app, &t, Method::GET, "/v1/contacts?count=100", None).await;
    assert_eq!(list["count"], 1);
    let (_, now, _) = rzp(&app, &t, Method::GET, &format!("/v1/contacts/{id}"), None).await;
    assert_eq!(now, created);
}

async fn only_what_is_sent_changes(b: Backend) {
    let app = spawn_app(b).await;
    let t = razorpay_biller(&app, "RZP").await;
    let (_, created, _) = rzp(&app, &t, Method::POST, "/v1/contacts", Some(SEED_BODY)).await;
    let path = format!("/v1/contacts/{}", created["id"].as_str().unwrap());
    let (s, v, _) = rzp(&app, &t, Method::PATCH, &path, Some(r#"{"active": false}"#)).await;
    let mut expected = created.clone();
    expected["active"] = json!(false);
    assert_eq!((s, v), (200, expected.clone()));
    let (_, v, _) =
        rzp(&app, &t, Method::PATCH, &path, Some(r#"{"contact": "9876543210", "notes": {"notes_key_1": null}}"#)).await;
    expected["contact"] = json!("9876543210");
    expected["notes"] = json!({"notes_key_2": "Tea, Earl Grey… decaf."});
    assert_eq!(v, expected);
    let (_, v, _) = rzp(&app, &t, Method::PATCH, &path, Some(r#"{"active": true, "email": null}"#)).await;
    expected["active"] = json!(true);
    expected["email"] = Value::Null;
    assert_eq!(v, expected);
}

async fn lists_filter_and_page(b: Backend) {
    let app = spawn_app(b).await;
    let t = razorpay_biller(&app, "RZP").await;
    for i in 0..12 {
        let body = json!({"name": format!("Person {i:02}"), "email": format!("p{}@example.com", i % 3), "type": if i < 4 { "vendor" } else { "customer" }, "reference_id": format!("ref {i}")});
        assert_eq!(rzp(&app, &t, Method::POST, "/v1/contacts", Some(&body.to_string())).await.0, 201);
    }
    let ids = |v: &Value| {
        v["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    let (_, all, _) = rzp(&app, &t, Method::GET, "/v1/contacts?count=100", None).await;
    assert_eq!(all["count"], 12);
    let (_, first, _) = rzp(&app, &t, Method::GET, "/v1/contacts", None).await;
    assert_eq!(ids(&first), ids(&all)[..10], "count defaults to 10, in a stable order");
    let (_, page, _) = rzp(&app, &t, Method::GET, "/v1/contacts?count=5&skip=10", None).await;
    assert_eq!(ids(&page), ids(&all)[10..]);
    for (query, n) in [
        ("type=vendor", 4),
        ("email=p1%40example.com", 4),
        ("reference_id=ref+3", 1),
        ("name=Person+1", 2),
        ("active=1", 12),
        ("active=false", 0),
    ] {
        let (s, v, _) = rzp(&app, &t, Method::GET, &format!("/v1/contacts?{query}&count=100"), None).await;
        assert_eq!((s, v["count"].as_u64()), (200, Some(n)), "{query}");
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (_, v, _) =
        rzp(&app, &t, Method::GET, &format!("/v1/contacts?from={}&to={}&count=100", now - 60, now + 1), None).await;
    assert_eq!(v["count"], 12);
    let (_, v, _) = rzp(&app, &t, Method::GET, &format!("/v1/contacts?to={}", now - 3600), None).await;
    assert_eq!(v["count"], 0);
    for bad in ["count=0", "count=101", "skip=-1", "active=maybe", "from=yesterday", "colour=red", "to=253402300799"] {
        let (s, v, _) = rzp(&app, &t, Method::GET, &format!("/v1/contacts?{bad}"), None).await;
        assert_eq!((s, rzp_error(&v).0), (400, "BAD_REQUEST_ERROR".into()), "{bad}");
    }
}

/// One contact, however it is reached: Razorpay, native, Payreq, one history.
async fn one_contact_seen_alike_everywhere(b: Backend) {
    let app = spawn_app(b).await;
    let t = razorpay_biller(&app, "RZP").await;
    let (_, created, _) = rzp(&app, &t, Method::POST, "/v1/contacts", Some(SEED_BODY)).await;
    let id = created["id"].as_str().unwrap();
    let (s, native) = body(app.get(&t, &format!("/contacts/{id}")).await).await;
    assert_eq!(s, 200);
    assert_eq!(native["account_number"], json!(&id[5..]), "a Razorpay contact's account number is its id");
    assert_eq!(native["phones"][0]["e164"], "+919000090000");
    assert_eq!(
        (native["type"].as_str(), native["reference_id"].as_str()),
        (Some("self"), Some("Acme Contact ID 12345"))
    );
    // A native change shows through Razorpay, and the history holds both, each with its route.
    let res = app
        .request(Method::PATCH, &format!("/v1/billers/RZP/contacts/{id}"), &t.token)
        .json(&json!({"name": "Gaurav K"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (_, v, _) = rzp(&app, &t, Method::GET, &format!("/v1/contacts/{id}"), None).await;
    assert_eq!(v["name"], "Gaurav K");
    rzp(&app, &t, Method::PATCH, &format!("/v1/contacts/{id}"), Some(r#"{"active": false}"#)).await;
    let (_, h) = body(app.get(&t, &format!("/contacts/{id}/history")).await).await;
    let via: Vec<&str> = h["data"].as_array().unwrap().iter().map(|e| e["source"].as_str().unwrap_or("")).collect();
    assert_eq!(via, ["PATCH /v1/contacts/{id}", "PATCH /v1/billers/{code}/contacts/{id}", "POST /v1/contacts"], "{h}");
    // A contact written through Payreq reads the same through Razorpay.
    let res = app
        .request(Method::POST, "/biller/RZP/contacts/add", &t.token)
        .json(&json!([{"biller-account-number": "A100", "name": "Payreq Person"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (_, native) = body(app.get(&t, "/contacts/acct:A100").await).await;
    let (s, v, _) = rzp(&app, &t, Method::GET, &format!("/v1/contacts/{}", native["id"].as_str().unwrap()), None).await;
    assert_eq!((s, v["name"].as_str(), v["contact"].clone()), (200, Some("Payreq Person"), Value::Null));
}

async fn another_billers_contacts_are_out_of_reach(b: Backend) {
    let app = spawn_app(b).await;
    let a = razorpay_biller(&app, "RZPA").await;
    let other = razorpay_biller(&app, "RZPB").await;
    let (_, theirs, _) = rzp(&app, &other, Method::POST, "/v1/contacts", Some(SEED_BODY)).await;
    let path = format!("/v1/contacts/{}", theirs["id"].as_str().unwrap());
    for (method, body) in [(Method::GET, None), (Method::PATCH, Some(r#"{"active": false}"#))] {
        let (s, v, _) = rzp(&app, &a, method, &path, body).await;
        assert_eq!((s, rzp_error(&v).1), (400, "The id provided does not exist".into()));
    }
    let (_, v, _) = rzp(&app, &a, Method::GET, "/v1/contacts", None).await;
    assert_eq!(v["count"], 0, "a list shows only the key's biller");
    let (_, v, _) = rzp(&app, &a, Method::POST, "/v1/contacts", Some(SEED_BODY)).await;
    assert_ne!(v["id"], theirs["id"], "the same-contact rule looks in the key's biller only");
    // Naming the other biller in the header is no way in.
    let res = app
        .client
        .get(app.url(&path))
        .basic_auth(&a.key_id, Some(&a.secret))
        .header("X-Contactd-Biller", "RZPB")
        .send()
        .await
        .unwrap();
    let (s, v) = body(res).await;
    assert_eq!((s, rzp_error(&v).0), (400, "BAD_REQUEST_ERROR".into()));
    let (_, still, _) = rzp(&app, &other, Method::GET, &path, None).await;
    assert_eq!(still, theirs);
}

async fn a_key_of_several_billers_names_one(b: Backend) {
    let app = spawn_app(b).await;
    razorpay_biller(&app, "RZPA").await;
    razorpay_biller(&app, "RZPB").await;
    let both = app.tenant_key(&["RZPA", "RZPB"], ALL).await;
    let (s, v, _) = rzp(&app, &both, Method::POST, "/v1/contacts", Some(SEED_BODY)).await;
    assert_eq!(
        (s, rzp_error(&v).1),
        (400, "this key has several billers: name one with the X-Contactd-Biller header".into())
    );
    let res = app
        .client
        .post(app.url("/v1/contacts"))
        .basic_auth(&both.key_id, Some(&both.secret))
        .header("X-Contactd-Biller", "RZPB")
        .header("Content-Type", "application/json")
        .body(SEED_BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let b_key = app.tenant_key(&["RZPB"], ALL).await;
    let (_, v, _) = rzp(&app, &b_key, Method::GET, "/v1/contacts", None).await;
    assert_eq!(v["count"], 1, "it went to the biller the header named");
}

async fn a_dialect_switched_off_is_not_there(b: Backend) {
    let app = spawn_app_with(b, |s| s.dialects = vec!["payreq".into()]).await;
    let t = razorpay_biller(&app, "RZP").await;
    let (s, v, _) = rzp(&app, &t, Method::POST, "/v1/contacts", Some(SEED_BODY)).await;
    assert_eq!((s, v["code"].as_str()), (404, Some("not_found")), "a native 404");
    assert_eq!(app.all_contacts(&t).await.len(), 0);
}

/// Each Razorpay route needs its one scope (README's table): 403 in Razorpay's shape without it.
async fn every_route_needs_its_scope(b: Backend) {
    use contactd::store::Scope::*;
    let app = spawn_app(b).await;
    let full = razorpay_biller(&app, "RZP").await;
    let (_, c, _) = rzp(&app, &full, Method::POST, "/v1/contacts", Some(SEED_BODY)).await;
    let path = format!("/v1/contacts/{}", c["id"].as_str().unwrap());
    let other = SEED_BODY.replace("12345", "777");
    let routes = [
        (Method::POST, "/v1/contacts".to_owned(), Some(other.as_str()), ContactsWrite),
        (Method::GET, "/v1/contacts".to_owned(), None, ContactsRead),
        (Method::GET, path.clone(), None, ContactsRead),
        (Method::PATCH, path.clone(), Some(r#"{"email": "g@example.com"}"#), ContactsWrite),
    ];
    for (method, path, body, scope) in routes {
        let rest: Vec<_> = ALL.iter().copied().filter(|s| *s != scope).collect();
        let without = app.tenant_key(&["RZP"], &rest).await;
        let (s, v, _) = rzp(&app, &without, method.clone(), &path, body).await;
        assert_eq!((s, rzp_error(&v).0), (403, "BAD_REQUEST_ERROR".into()), "{method} {path}");
        let only = app.tenant_key(&["RZP"], &[scope]).await;
        let (s, _, text) = rzp(&app, &only, method.clone(), &path, body).await;
        assert!((200..300).contains(&s), "{method} {path} with {} alone: {text}", scope.as_str());
    }
}

/// Many requests at once with the same right secret, before any was checked:
/// all pass (one argon2 check, the rest wait for it; none is throttled).
async fn a_burst_of_basic_requests_all_pass(b: Backend) {
    let app = spawn_app(b).await;
    let t = razorpay_biller(&app, "RZP").await;
    let burst = (0..32).map(|_| app.client.get(app.url("/v1/contacts")).basic_auth(&t.key_id, Some(&t.secret)).send());
    let statuses: Vec<u16> =
        futures_util::future::join_all(burst).await.into_iter().map(|r| r.unwrap().status().as_u16()).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}

/// Found by a hostile review: each was wrong before.
async fn what_a_hostile_client_found(b: Backend) {
    let app = spawn_app(b).await;
    let t = razorpay_biller(&app, "RZP").await;
    // The same contact sent with spaces or an empty reference is still the same contact.
    for body in [r#"{"name":" Abc Def "}"#, r#"{"name":"Same One","email":" s@example.com ","reference_id":""}"#] {
        let (s1, first, _) = rzp(&app, &t, Method::POST, "/v1/contacts", Some(body)).await;
        let (s2, again, _) = rzp(&app, &t, Method::POST, "/v1/contacts", Some(body)).await;
        assert_eq!((s1, s2, &again["id"]), (201, 200, &first["id"]), "{body}");
    }
    // `active` cannot be cleared.
    let (_, c, _) = rzp(&app, &t, Method::POST, "/v1/contacts", Some(SEED_BODY)).await;
    let path = format!("/v1/contacts/{}", c["id"].as_str().unwrap());
    rzp(&app, &t, Method::PATCH, &path, Some(r#"{"active": false}"#)).await;
    let (s, v, _) = rzp(&app, &t, Method::PATCH, &path, Some(r#"{"active": null}"#)).await;
    assert_eq!((s, rzp_error(&v).2), (400, json!("active")));
    assert_eq!(rzp(&app, &t, Method::GET, &path, None).await.1["active"], false);
    // Methods and paths that are not routes answer in Razorpay's shape.
    for (method, p) in [(Method::DELETE, path.as_str()), (Method::PUT, "/v1/contacts"), (Method::GET, "/v1/contacts/")]
    {
        let (s, v, text) = rzp(&app, &t, method.clone(), p, None).await;
        assert!(matches!(s, 404 | 405), "{method} {p}: {s}");
        assert_eq!(rzp_error(&v).0, "BAD_REQUEST_ERROR", "{method} {p}: {text}");
    }
    // A client that has been let in is not locked out by others' guesses at its key id.
    for _ in 0..6 {
        let res = app.client.get(app.url("/v1/contacts")).basic_auth(&t.key_id, Some("sk_guess")).send().await.unwrap();
        assert!(matches!(res.status().as_u16(), 401 | 429));
    }
    let (s, _, text) = rzp(&app, &t, Method::GET, "/v1/contacts", None).await;
    assert_eq!(s, 200, "{text}");
    // A biller that requires If-Match gets it through Razorpay too.
    let settings = contactd::domain::field_settings::SettingsDoc { require_if_match: true, ..Default::default() };
    app.service.set_field_settings("RZP", settings).await.unwrap();
    let (s, _, _) = rzp(&app, &t, Method::PATCH, &path, Some(r#"{"email": "x@example.com"}"#)).await;
    assert_eq!(s, 400);
    let res = app
        .client
        .patch(app.url(&path))
        .basic_auth(&t.key_id, Some(&t.secret))
        .header("If-Match", "*")
        .header("Content-Type", "application/json")
        .body(r#"{"email": "x@example.com"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

both_stores!(
    what_a_hostile_client_found,
    a_burst_of_basic_requests_all_pass,
    every_route_needs_its_scope,
    the_seeds_requests_get_the_seeds_answers,
    the_same_contact_twice_is_one_contact,
    every_seed_error_in_razorpays_shape,
    only_what_is_sent_changes,
    lists_filter_and_page,
    one_contact_seen_alike_everywhere,
    another_billers_contacts_are_out_of_reach,
    a_key_of_several_billers_names_one,
    a_dialect_switched_off_is_not_there,
);

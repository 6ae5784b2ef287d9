//! The Pay Advantage dialect (seed 002) black-box: its token flow, its
//! customers with the seed's update rules, its errors in its shape, and no
//! reach into another biller.

use crate::both_stores;
use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

/// A biller whose contacts carry two Contact Fields, and a key for it.
async fn pa_biller(app: &TestApp, code: &str) -> Tenant {
    app.service.create_biller(code, "Pay Advantage Biller").await.unwrap();
    // Customers created here are numbered by their ids, which may hold no
    // digit: their CRNs come from the biller's sequence.
    let settings = serde_json::from_value(json!({"crn": {"base": "sequence"}, "fields": [
        {"key": "member-no", "label": "Member number", "kind": "text"},
        {"key": "paperless", "label": "Paperless", "kind": "boolean"}
    ]}))
    .unwrap();
    app.service.set_field_settings(code, settings).await.unwrap();
    app.tenant_key(&[code], ALL).await
}

/// A bearer token from `/v3/token`.
async fn pa_token(app: &TestApp, t: &Tenant) -> String {
    let body = json!({"grant_type": "password", "username": t.key_id, "password": t.secret});
    let res = app.client.post(app.url("/v3/token")).json(&body).send().await.unwrap();
    let (s, v) = body_of(res).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!((v["token_type"].as_str(), v["expires_in"].as_u64()), (Some("bearer"), Some(1800)));
    v["access_token"].as_str().unwrap().to_owned()
}

async fn body_of(res: reqwest::Response) -> (u16, Value) {
    body(res).await
}

async fn pa(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let (s, v, _) = pa_text(app, token, method, path, body).await;
    (s, v)
}

/// As `pa`, with the body's text (its key order).
async fn pa_text(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value, String) {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null), text)
}

/// The keys of a JSON object's text, in the order sent.
fn key_order(text: &str, keys: &[&str]) -> Vec<usize> {
    keys.iter().map(|k| text.find(&format!("\"{k}\":")).unwrap_or_else(|| panic!("{k} missing from {text}"))).collect()
}

/// The error's code and messages, checked to be Pay Advantage's shape.
fn pa_error(v: &Value) -> (String, Vec<String>) {
    let o = v.as_object().unwrap_or_else(|| panic!("not an object: {v}"));
    let mut keys: Vec<&String> = o.keys().collect();
    keys.sort();
    assert_eq!(keys, ["ErrorCode", "Messages"], "{v}");
    let messages = v["Messages"].as_array().unwrap().iter().map(|m| m.as_str().unwrap().to_owned()).collect();
    (v["ErrorCode"].as_str().unwrap().to_owned(), messages)
}

fn new_customer() -> Value {
    json!({
        "IsConsumer": true,
        "FirstName": "Some",
        "LastName": "Person",
        "CustomRef": "ACC52632",
        "ExternalID": "ABC001",
        "Email": "someperson@email.com",
        "Mobile": "0400 000 000",
        "MobileCountryID": 36,
        "Street": "1 Smith St",
        "Suburb": "Sydney",
        "State": "NSW",
        "CountryID": 36,
        "Postcode": "2000",
        "CustomFields": [{"Name": "member-no", "Value": "M-1"}]
    })
}

async fn tokens_are_issued_for_the_password_grant(b: Backend) {
    let app = spawn_app(b).await;
    let t = pa_biller(&app, "PA").await;
    let token = pa_token(&app, &t).await;
    let (s, v) = pa(&app, &token, Method::GET, "/v3/customers", None).await;
    assert_eq!((s, v["Meta"]["total_recs"].as_u64()), (200, Some(0)), "{v}");
    // As a form too, as OAuth clients send it.
    let form = format!("grant_type=password&username={}&password={}", t.key_id, t.secret);
    let res = app
        .client
        .post(app.url("/v3/token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // A wrong secret, another grant, no token, a bad token: refused in Pay Advantage's shape.
    let bad = json!({"grant_type": "password", "username": t.key_id, "password": "sk_wrong"});
    let (s, v) = body_of(app.client.post(app.url("/v3/token")).json(&bad).send().await.unwrap()).await;
    assert_eq!(s, 401, "{v}");
    pa_error(&v);
    let other = json!({"grant_type": "client_credentials", "username": t.key_id, "password": t.secret});
    let (s, v) = body_of(app.client.post(app.url("/v3/token")).json(&other).send().await.unwrap()).await;
    assert_eq!(s, 400, "{v}");
    assert!(pa_error(&v).1[0].contains("grant_type"), "{v}");
    let (s, v) = body_of(app.client.get(app.url("/v3/customers")).send().await.unwrap()).await;
    assert_eq!(s, 401, "{v}");
    let (_, messages) = pa_error(&v);
    assert!(messages[0].contains("POST /v3/token") && !messages[0].contains("/v1/"), "its own token route: {v}");
    let (s, v) = pa(&app, "tok_nonsense", Method::GET, "/v3/customers", None).await;
    assert_eq!(s, 401, "{v}");
    pa_error(&v);
}

async fn customers_are_created_read_and_listed(b: Backend) {
    let app = spawn_app(b).await;
    let t = pa_biller(&app, "PA").await;
    let token = pa_token(&app, &t).await;
    let (s, c, text) = pa_text(&app, &token, Method::POST, "/v3/customers?with=bpayref", Some(new_customer())).await;
    assert_eq!(s, 201, "{c}");
    let order =
        ["Code", "ExternalID", "IsConsumer", "DateJoined", "Name", "FirstName", "LastName", "CustomRef", "Email"];
    let at = key_order(&text, &order);
    assert!(at.windows(2).all(|w| w[0] < w[1]), "Pay Advantage's key order: {text}");
    let tail = key_order(&text, &["BillerCode", "BPAYRef", "DateUpdated", "DateCreated", "IsActive", "CustomFields"]);
    assert!(tail.windows(2).all(|w| w[0] < w[1]) && at[8] < tail[0], "{text}");
    let code = c["Code"].as_str().unwrap().to_owned();
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()), "{code}");
    assert_eq!(c["Name"], "Some Person", "a consumer is named from FirstName and LastName");
    assert_eq!((c["Mobile"].as_str(), c["MobileCountryID"].as_u64()), (Some("0400 000 000"), Some(36)));
    assert_eq!(
        (c["Suburb"].as_str(), c["CountryID"].as_u64(), c["IsActive"].as_bool()),
        (Some("Sydney"), Some(36), Some(true))
    );
    assert_eq!(c["CustomFields"], json!([{"Name": "member-no", "Value": "M-1"}]));
    let crn = c["BPAYRef"].as_str().expect("?with=bpayref issues a CRN").to_owned();
    // Read back by its Code, and its CRN asked for again is the same one.
    let (s, got) = pa(&app, &token, Method::GET, &format!("/v3/customers/{code}"), None).await;
    assert_eq!((s, &got["Code"]), (200, &json!(code)));
    let (s, again) = pa(&app, &token, Method::POST, &format!("/v3/customers/{code}/createbpayref"), None).await;
    assert_eq!((s, again["BPAYRef"].as_str()), (200, Some(crn.as_str())));
    // The native API shows the same contact with its alias, and finds it by it.
    let (s, native) = body(app.get(&t, &format!("/contacts/pay_advantage:{code}")).await).await;
    assert_eq!(s, 200, "{native}");
    assert_eq!(
        (native["aliases"]["pay_advantage"].as_str(), native["crn"].as_str()),
        (Some(code.as_str()), Some(crn.as_str()))
    );
    assert_eq!(native["fields"]["member-no"], "M-1");
    // Lists: the envelope, paging, filters and sort.
    for (name, last) in [("Ann", "Zed"), ("Bob", "Young"), ("Cat", "Xu")] {
        let body =
            json!({"IsConsumer": true, "FirstName": name, "LastName": last, "Email": format!("{name}@example.com")});
        assert_eq!(pa(&app, &token, Method::POST, "/v3/customers", Some(body)).await.0, 201);
    }
    let (s, v) = pa(&app, &token, Method::GET, "/v3/customers?per_page=2&page=1&sort=lastname", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["Meta"], json!({"page": 1, "recs_per_page": 2, "total_recs": 4}));
    let last: Vec<&str> = v["Records"].as_array().unwrap().iter().map(|r| r["LastName"].as_str().unwrap()).collect();
    assert_eq!(last, ["Young", "Zed"], "sorted by last name, second page of two");
    let (_, v) = pa(&app, &token, Method::GET, "/v3/customers?sort=-lastname&per_page=1", None).await;
    assert_eq!(v["Records"][0]["LastName"], "Zed");
    let (_, v) = pa(&app, &token, Method::GET, "/v3/customers?firstname=bo", None).await;
    assert_eq!((v["Meta"]["total_recs"].as_u64(), v["Records"][0]["FirstName"].as_str()), (Some(1), Some("Bob")));
    for form in ["0400%20000%20000", "0400000000", "%2B61400000000"] {
        let (_, v) = pa(&app, &token, Method::GET, &format!("/v3/customers?mobile={form}"), None).await;
        assert_eq!(v["Meta"]["total_recs"], 1, "{form}");
    }
    let (_, v) = pa(&app, &token, Method::GET, "/v3/customers?isactive=false", None).await;
    assert_eq!(v["Meta"]["total_recs"], 0);
    // Empty filters filter nothing, in the database and in memory alike.
    for empty in ["email=", "firstname=", "lastname=&mobile=", "email=&sort=lastname"] {
        let (s, v) = pa(&app, &token, Method::GET, &format!("/v3/customers?{empty}"), None).await;
        assert_eq!((s, &v["Meta"]["total_recs"]), (200, &json!(4)), "{empty}: {v}");
    }
    // Unsorted pages come from the database, in account-number order, with the whole count.
    let (_, all) = pa(&app, &token, Method::GET, "/v3/customers", None).await;
    let codes: Vec<&Value> = all["Records"].as_array().unwrap().iter().map(|r| &r["Code"]).collect();
    let (s, v) = pa(&app, &token, Method::GET, "/v3/customers?per_page=1&page=2&isactive=true", None).await;
    assert_eq!((s, &v["Meta"]["total_recs"], &v["Records"][0]["Code"]), (200, &json!(4), codes[2]), "{v}");
    let (s, v) = pa(&app, &token, Method::GET, "/v3/customers?page=184467440737095516", None).await;
    assert_eq!((s, &v["Records"], &v["Meta"]["total_recs"]), (200, &json!([]), &json!(4)), "far past the end: {v}");
    for bad in ["per_page=0", "per_page=1001", "sort=shoesize", "page=x", "colour=red"] {
        let (s, v) = pa(&app, &token, Method::GET, &format!("/v3/customers?{bad}"), None).await;
        assert_eq!(s, 400, "{bad}: {v}");
        pa_error(&v);
    }
}

async fn updates_change_only_what_is_sent(b: Backend) {
    let app = spawn_app(b).await;
    let t = pa_biller(&app, "PA").await;
    let token = pa_token(&app, &t).await;
    let (_, c) = pa(&app, &token, Method::POST, "/v3/customers", Some(new_customer())).await;
    let path = format!("/v3/customers/{}", c["Code"].as_str().unwrap());
    let (s, u) = pa(&app, &token, Method::PUT, &path, Some(json!({"Email": "new@example.com"}))).await;
    assert_eq!(s, 200, "{u}");
    let mut expected = c.clone();
    expected["Email"] = json!("new@example.com");
    expected["DateUpdated"] = u["DateUpdated"].clone();
    assert_eq!(u, expected, "only Email changed");
    // null clears; phones by their own parameters, each with its Country ID; a home phone in NZ.
    let change = json!({"ExternalID": null, "HomePhone": "09 300 1234", "HomePhoneCountryID": 554, "Mobile": null});
    let (s, u) = pa(&app, &token, Method::PUT, &path, Some(change)).await;
    assert_eq!(s, 200, "{u}");
    assert_eq!((u["ExternalID"].clone(), u["Mobile"].clone()), (Value::Null, Value::Null));
    assert_eq!((u["HomePhone"].as_str(), u["HomePhoneCountryID"].as_u64()), (Some("09 300 1234"), Some(554)));
    // CustomFields merge onto the Contact Fields.
    let (_, u) =
        pa(&app, &token, Method::PUT, &path, Some(json!({"CustomFields": [{"Name": "paperless", "Value": true}]})))
            .await;
    assert_eq!(u["CustomFields"], json!([{"Name": "member-no", "Value": "M-1"}, {"Name": "paperless", "Value": true}]));
    // A business needs a business name; given one, it is the customer's Name.
    let (s, v) = pa(&app, &token, Method::PUT, &path, Some(json!({"IsConsumer": false}))).await;
    assert_eq!(s, 400, "{v}");
    assert!(pa_error(&v).1.iter().any(|m| m.contains("business Name")), "{v}");
    let (s, u) = pa(&app, &token, Method::PUT, &path, Some(json!({"IsConsumer": false, "Name": "Acme Pty Ltd"}))).await;
    assert_eq!((s, u["IsConsumer"].as_bool(), u["Name"].as_str()), (200, Some(false), Some("Acme Pty Ltd")), "{u}");
    let (_, u) = pa(&app, &token, Method::PUT, &path, Some(json!({"Name": "Acme Group"}))).await;
    let (_, native) =
        body(app.get(&t, &format!("/contacts/pay_advantage:{}", c["Code"].as_str().unwrap())).await).await;
    assert_eq!((u["Name"].as_str(), native["business_name"].as_str()), (Some("Acme Group"), Some("Acme Group")));
    // IsActive false is refused while a direct debit holds the customer; released, it goes; true again re-activates.
    let hold_path = format!("/contacts/pay_advantage:{}/holds", c["Code"].as_str().unwrap());
    let (s, hold) = body(app.post(&t, &hold_path, &json!({"kind": "direct_debit", "reference": "DDR-1"})).await).await;
    assert_eq!(s, 201, "{hold}");
    let (s, v) = pa(&app, &token, Method::PUT, &path, Some(json!({"IsActive": false}))).await;
    assert_eq!(s, 409, "{v}");
    let (_, messages) = pa_error(&v);
    assert!(messages[0].contains("direct_debit DDR-1"), "names the reason: {v}");
    let res = app
        .request(Method::DELETE, &format!("/v1/billers/PA{hold_path}/{}", hold["hold_id"].as_str().unwrap()), &t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (_, u) = pa(&app, &token, Method::PUT, &path, Some(json!({"IsActive": false}))).await;
    assert_eq!(u["IsActive"], false);
    let (_, u) = pa(&app, &token, Method::PUT, &path, Some(json!({"IsActive": true}))).await;
    assert_eq!(u["IsActive"], true);
    // The email flags: unset, the biller's defaults; set, the customer's own.
    assert_eq!((u["FailureEmails"].as_bool(), u["ReceiptEmails"].as_bool()), (Some(true), Some(true)));
    let (_, u) = pa(&app, &token, Method::PUT, &path, Some(json!({"FailureEmails": false}))).await;
    assert_eq!((u["FailureEmails"].as_bool(), u["ReceiptEmails"].as_bool()), (Some(false), Some(true)));
    let mut doc = app.service.biller("PA").await.unwrap().settings.doc().clone();
    doc.notification_defaults.email_receipts = false;
    app.service.set_field_settings("PA", doc).await.unwrap();
    let (_, u) = pa(&app, &token, Method::GET, &path, None).await;
    assert_eq!((u["FailureEmails"].as_bool(), u["ReceiptEmails"].as_bool()), (Some(false), Some(false)));
    let (_, native) =
        body(app.get(&t, &format!("/contacts/pay_advantage:{}", c["Code"].as_str().unwrap())).await).await;
    assert_eq!((native["email_on_failure"].as_bool(), native["email_receipts"].as_bool()), (Some(false), None));
    // ?with=bpayref on an update issues a CRN.
    let (_, u) = pa(&app, &token, Method::PUT, &format!("{path}?with=bpayref"), Some(json!({}))).await;
    assert!(u["BPAYRef"].is_string(), "{u}");
}

async fn every_seed_error_in_pay_advantages_shape(b: Backend) {
    let app = spawn_app(b).await;
    let t = pa_biller(&app, "PA").await;
    let token = pa_token(&app, &t).await;
    let (_, c) = pa(&app, &token, Method::POST, "/v3/customers", Some(new_customer())).await;
    let path = format!("/v3/customers/{}", c["Code"].as_str().unwrap());
    let before = app.all_contacts(&t).await;
    // Every problem of the request at once: international form, special characters, unknown Country IDs, bad email.
    let bad = json!({
        "Mobile": "+61400000000",
        "Phone": "(02) 9999-0000",
        "HomePhone": "0299990000",
        "HomePhoneCountryID": 999,
        "CountryID": 1000,
        "Email": "not-an-email",
        "Colour": "red"
    });
    let (s, v) = pa(&app, &token, Method::PUT, &path, Some(bad)).await;
    assert_eq!(s, 400, "{v}");
    let (code, messages) = pa_error(&v);
    assert_eq!(code, "validation_failed");
    for needle in [
        "Mobile must be a local number",
        "Phone may hold only digits",
        "HomePhoneCountryID 999",
        "CountryID 1000",
        "Colour",
    ] {
        assert!(messages.iter().any(|m| m.contains(needle)), "{needle} missing from {messages:?}");
    }
    let (s, v) =
        pa(&app, &token, Method::PUT, &path, Some(json!({"Email": "not-an-email", "DateOfBirth": "2999-01-01"}))).await;
    assert_eq!(s, 400, "{v}");
    let (_, messages) = pa_error(&v);
    assert!(
        messages.iter().any(|m| m.starts_with("Email")) && messages.iter().any(|m| m.starts_with("DateOfBirth")),
        "{messages:?}"
    );
    for (method, body) in [
        (Method::PUT, Some(json!({"IsActive": "no"}))),
        (Method::PUT, Some(json!([1]))),
        (Method::POST, Some(json!({}))),
        // A custom field named twice, or carrying what would go unread.
        (
            Method::PUT,
            Some(json!({"CustomFields": [{"Name": "member-no", "Value": "A"}, {"Name": "member-no", "Value": "B"}]})),
        ),
        (Method::PUT, Some(json!({"CustomFields": [{"Name": "member-no", "Value": "A", "Junk": 1}]}))),
    ] {
        let p = if method == Method::POST { "/v3/customers".to_owned() } else { path.clone() };
        let (s, v) = pa(&app, &token, method, &p, body).await;
        assert_eq!(s, 400, "{v}");
        pa_error(&v);
    }
    let (s, v) = pa(&app, &token, Method::POST, &format!("{path}/createbpayref?with=x"), None).await;
    assert_eq!(s, 400, "a query it does not take: {v}");
    pa_error(&v);
    // Unknown codes, malformed ones: 404.
    for code in ["ZZZZZZ", "abc", "ab%2Fcd", "AAAAAAA"] {
        let (s, v) = pa(&app, &token, Method::GET, &format!("/v3/customers/{code}"), None).await;
        assert_eq!(s, 404, "{code}: {v}");
        pa_error(&v);
    }
    let (s, v) = pa(&app, &token, Method::GET, "/v3/nothing-here", None).await;
    assert_eq!(s, 404, "{v}");
    pa_error(&v);
    assert_eq!(app.all_contacts(&t).await, before, "a refused request changes nothing");
}

async fn another_billers_customers_are_out_of_reach(b: Backend) {
    let app = spawn_app(b).await;
    let a = pa_biller(&app, "PA_A").await;
    let other = pa_biller(&app, "PA_B").await;
    let (ta, tb) = (pa_token(&app, &a).await, pa_token(&app, &other).await);
    let (_, c) = pa(&app, &tb, Method::POST, "/v3/customers", Some(new_customer())).await;
    let code = c["Code"].as_str().unwrap();
    let before = app.all_contacts(&other).await;
    for (method, path, body) in [
        (Method::GET, format!("/v3/customers/{code}"), None),
        (Method::PUT, format!("/v3/customers/{code}"), Some(json!({"Email": "x@example.com"}))),
        (Method::POST, format!("/v3/customers/{code}/createbpayref"), None),
    ] {
        let (s, v) = pa(&app, &ta, method, &path, body).await;
        assert_eq!(s, 404, "{path}: {v}");
        pa_error(&v);
    }
    let (_, v) = pa(&app, &ta, Method::GET, "/v3/customers", None).await;
    assert_eq!(v["Meta"]["total_recs"], 0);
    assert_eq!(app.all_contacts(&other).await, before);
}

/// A key that may only write gets what it wrote back (the seed's create and
/// update answer with the customer), and still may not read.
async fn a_write_only_key_gets_what_it_wrote(b: Backend) {
    let app = spawn_app(b).await;
    let admin = pa_biller(&app, "PA_WO").await;
    let writer = app.tenant_key(&["PA_WO"], &[contactd::store::Scope::ContactsWrite]).await;
    let token = pa_token(&app, &writer).await;
    let (s, v) = pa(&app, &token, Method::POST, "/v3/customers", Some(new_customer())).await;
    assert_eq!(s, 201, "{v}");
    let code = v["Code"].as_str().unwrap().to_owned();
    let (s, v) =
        pa(&app, &token, Method::PUT, &format!("/v3/customers/{code}"), Some(json!({"Email": "new@email.com"}))).await;
    assert_eq!((s, v["Email"].as_str()), (200, Some("new@email.com")), "{v}");
    let (s, v) = pa(&app, &token, Method::GET, &format!("/v3/customers/{code}"), None).await;
    assert_eq!(s, 403, "reading needs contacts:read: {v}");
    let stored = app.all_contacts(&admin).await;
    assert_eq!(stored.len(), 1);
    let c = stored.values().next().unwrap();
    assert_eq!(
        (c["aliases"]["pay_advantage"].as_str(), c["email"].as_str()),
        (Some(code.as_str()), Some("new@email.com"))
    );
}

/// Reads and updates by code sent at once (served several to a statement or
/// transaction on PostgreSQL): each answers for the customer its code names.
async fn requests_by_code_sent_at_once_each_answer_for_their_customer(b: Backend) {
    let app = spawn_app(b).await;
    let t = pa_biller(&app, "PA").await;
    let token = pa_token(&app, &t).await;
    let mut codes = Vec::new();
    for i in 0..5 {
        let mut c = new_customer();
        c["CustomRef"] = json!(format!("ACC{i}"));
        let (s, v) = pa(&app, &token, Method::POST, "/v3/customers", Some(c)).await;
        assert_eq!(s, 201, "{v}");
        codes.push(v["Code"].as_str().unwrap().to_owned());
    }
    let (app, token) = (&app, &token);
    let sends = codes.iter().enumerate().flat_map(|(i, code)| {
        let path = format!("/v3/customers/{code}");
        let change = json!({"Email": format!("c{i}@example.com")});
        [(Method::PUT, path.clone(), Some(change), i), (Method::GET, path, None, i)]
    });
    let sends: Vec<_> = sends.collect();
    let answers = sends.iter().map(|(m, path, b, _)| async move { pa(app, token, m.clone(), path, b.clone()).await });
    for ((m, path, _, i), (s, v)) in sends.iter().zip(futures_util::future::join_all(answers).await) {
        assert_eq!(
            (s, v["Code"].as_str(), v["CustomRef"].as_str()),
            (200, Some(codes[*i].as_str()), Some(format!("ACC{i}").as_str())),
            "{m} {path}: {v}"
        );
        if *m == Method::PUT {
            assert_eq!(v["Email"], format!("c{i}@example.com"), "{v}");
        }
    }
    for (i, code) in codes.iter().enumerate() {
        let (_, v) = pa(app, token, Method::GET, &format!("/v3/customers/{code}"), None).await;
        assert_eq!(v["Email"], format!("c{i}@example.com"), "{v}");
    }
    let (s, _) = pa(app, token, Method::GET, "/v3/customers/ZZZZZZ", None).await;
    assert_eq!(s, 404);
}

both_stores!(
    a_write_only_key_gets_what_it_wrote,
    tokens_are_issued_for_the_password_grant,
    customers_are_created_read_and_listed,
    updates_change_only_what_is_sent,
    every_seed_error_in_pay_advantages_shape,
    another_billers_customers_are_out_of_reach,
    requests_by_code_sent_at_once_each_answer_for_their_customer,
);

//! The Instantpay dialect (seed 003) black-box: the seed's PATCH byte for
//! byte, its other contact calls, its envelope and status codes, header
//! credentials with the key's IP allow-list, and no reach into another biller.

use crate::both_stores;
use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

/// The seed's request body, as printed, but for its obfuscated email.
const SEED_BODY: &str = r#"{
    "contactId":"645383ba4acec95a32089822",
    "name": "Karan",
    "email": "karan@example.com",
    "mobile": "9219133921",
    "tagDetails" : [
            {
                "tagId": "645381c92c8e9e093406ccb2"
            }
    ]
}"#;

/// The seed's email as its page printed it.
const OBFUSCATED: &str = "[email protected]";

/// The seed's endpoint IP header value, two spaces and all.
const SEED_IP: &str = " 14.142.186.142";

struct Ipay {
    code: String,
    id: String,
    secret: String,
    /// A native token of the same key.
    tenant: Tenant,
}

/// A biller and a key that may be used from the seed's endpoint IP (and 10.1.0.0/16, and this machine).
async fn ipay_biller(app: &TestApp, code: &str) -> Ipay {
    app.service.create_biller(code, "Instantpay Biller").await.unwrap();
    // The test client connects from 127.0.0.1: a key is used from its listed places only.
    let nets = ["14.142.186.142/32".parse().unwrap(), "10.1.0.0/16".parse().unwrap(), "127.0.0.1/32".parse().unwrap()];
    let key = app.service.create_key(&[code.to_owned()], ALL, &nets).await.unwrap();
    let token = app.token(key.key_id.as_str(), &key.secret).await;
    let tenant = Tenant { code: code.into(), key_id: key.key_id.to_string(), secret: key.secret.clone(), token };
    Ipay { code: code.into(), id: key.key_id.to_string(), secret: key.secret, tenant }
}

/// Sends with the seed's headers (credentials replaced) and returns status, JSON and text.
async fn ipay(app: &TestApp, k: &Ipay, method: Method, body: Option<&str>) -> (u16, Value, String) {
    ipay_from(app, k, method, body, SEED_IP, &k.secret).await
}

async fn ipay_from(
    app: &TestApp,
    k: &Ipay,
    method: Method,
    body: Option<&str>,
    ip: &str,
    secret: &str,
) -> (u16, Value, String) {
    let mut req = app
        .client
        .request(method, app.url("/contacts/profile"))
        .header("Content-Type", "application/json")
        .header("X-Ipay-Client-Id", &k.id)
        .header("X-Ipay-Client-Secret", secret)
        .header("X-Ipay-Endpoint-Ip", ip)
        .header("X-Ipay-Auth-Code", "1");
    if let Some(b) = body {
        req = req.body(b.to_owned());
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null), text)
}

/// The envelope's keys in the seed's order, its fixed values, and its statuscode.
fn envelope(text: &str, v: &Value) -> String {
    let keys =
        ["statuscode", "actcode", "status", "data", "timestamp", "ipay_uuid", "orderid", "environment", "internalCode"];
    let at: Vec<usize> =
        keys.iter().map(|k| text.find(&format!("\"{k}\":")).unwrap_or_else(|| panic!("{k}: {text}"))).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "the seed's key order: {text}");
    assert_eq!(
        (v["actcode"].clone(), v["orderid"].clone(), v["internalCode"].clone()),
        (Value::Null, Value::Null, Value::Null)
    );
    assert_eq!(v["environment"], "LIVE");
    let ts = v["timestamp"].as_str().unwrap();
    assert!(
        time::PrimitiveDateTime::parse(
            ts,
            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")
        )
        .is_ok(),
        "{ts}"
    );
    let uuid = v["ipay_uuid"].as_str().unwrap();
    assert!(uuid.starts_with('h') && uuid.len() == 40 && uuid.matches('-').count() == 4, "{uuid}");
    v["statuscode"].as_str().unwrap().to_owned()
}

/// The seed's contact and tag, with the ids its example names.
async fn seed_contact(app: &TestApp, k: &Ipay) -> String {
    let t = &k.tenant;
    let (s, tag) =
        body(app.post(t, "/tags", &json!({"name": "Friends", "id": "645381c92c8e9e093406ccb2"})).await).await;
    assert_eq!(s, 201, "{tag}");
    let c = json!({"account_number": "K1", "name": "Old Name", "business_name": "XYZ", "email": "old@example.com"});
    let (s, c) = body(app.post(t, "/contacts", &c).await).await;
    assert_eq!(s, 201, "{c}");
    let path = format!("/contacts/{}/aliases", c["id"].as_str().unwrap());
    let (s, v) =
        body(app.post(t, &path, &json!({"dialect": "instantpay", "alias": "645383ba4acec95a32089822"})).await).await;
    assert_eq!((s, v["aliases"]["instantpay"].as_str()), (200, Some("645383ba4acec95a32089822")), "{v}");
    c["id"].as_str().unwrap().to_owned()
}

async fn the_seeds_request_gets_the_seeds_answer(b: Backend) {
    let app = spawn_app(b).await;
    let k = ipay_biller(&app, "IPAY").await;
    let id = seed_contact(&app, &k).await;
    let (s, v, text) = ipay(&app, &k, Method::PATCH, Some(SEED_BODY)).await;
    assert_eq!(s, 200, "{text}");
    assert_eq!(envelope(&text, &v), "TXN");
    assert_eq!(v["status"], "Contact Updated Successfully");
    let data_keys =
        ["_id", "userId", "name", "email", "mobile", "callingCode", "companyName", "updated_at", "created_at", "tagId"];
    let at: Vec<usize> = data_keys.iter().map(|k| text.find(&format!("\"{k}\":")).unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
    let d = &v["data"];
    assert_eq!(d["_id"], "645383ba4acec95a32089822");
    assert!(d["userId"].is_i64());
    assert_eq!(
        (d["name"].as_str(), d["email"].as_str(), d["mobile"].as_str()),
        (Some("Karan"), Some("karan@example.com"), Some("9219133921"))
    );
    assert_eq!((d["callingCode"].as_str(), d["companyName"].as_str()), (Some("91"), Some("XYZ")));
    assert_eq!(d["tagId"], json!(["645381c92c8e9e093406ccb2"]));
    for t in ["updated_at", "created_at"] {
        let s = d[t].as_str().unwrap();
        assert!(s.len() == 27 && s.ends_with('Z') && s.as_bytes()[19] == b'.', "{t}: {s}");
    }
    // The same contact natively: the mobile read in India, stored in E.164, one history.
    let (_, native) = body(app.get(&k.tenant, &format!("/contacts/{id}")).await).await;
    assert_eq!(native["phones"][0]["e164"], "+919219133921");
    assert_eq!(native["tags"], json!(["645381c92c8e9e093406ccb2"]));
    let (_, h) = body(app.get(&k.tenant, &format!("/contacts/{id}/history")).await).await;
    assert_eq!(h["data"][0]["source"], "PATCH /contacts/profile");
}

async fn contacts_are_added_listed_and_deleted(b: Backend) {
    let app = spawn_app(b).await;
    let k = ipay_biller(&app, "IPAY").await;
    let tag = app.tag(&k.tenant, "Family").await;
    let add = json!({"name": "Asha", "email": "asha@example.com", "mobile": "9876543210", "companyName": "Asha Traders", "tagDetails": [{"tagId": tag}]});
    let (s, v, text) = ipay(&app, &k, Method::POST, Some(&add.to_string())).await;
    assert_eq!(s, 200, "{text}");
    assert_eq!((envelope(&text, &v), v["status"].as_str()), ("TXN".into(), Some("Contact Added Successfully")));
    let id = v["data"]["_id"].as_str().unwrap().to_owned();
    assert!(id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{id}");
    let (s, v, text) = ipay(&app, &k, Method::GET, None).await;
    assert_eq!((s, envelope(&text, &v)), (200, "TXN".into()), "{text}");
    let items = v["data"].as_array().unwrap();
    assert_eq!((items.len(), &items[0]["_id"], &items[0]["tagId"]), (1, &json!(id), &json!([tag])));
    // The alias is stable: listed again, the same.
    let (_, again, _) = ipay(&app, &k, Method::GET, None).await;
    assert_eq!(again["data"][0]["_id"], json!(id));
    // Pages by number, `limit` a page, as the whole list has them.
    let other = r#"{"name": "Other One", "email": "other@example.com", "mobile": "9219133922"}"#;
    let (_, v, text) = ipay(&app, &k, Method::POST, Some(other)).await;
    let other_id = v["data"]["_id"].as_str().unwrap_or_else(|| panic!("{text}")).to_owned();
    let (_, all, _) = ipay(&app, &k, Method::GET, None).await;
    let listed: Vec<&Value> = all["data"].as_array().unwrap().iter().map(|p| &p["_id"]).collect();
    let mut paged = Vec::new();
    for page in ["page=1&limit=1", "page=2&limit=1", "page=3&limit=1", "page=99999999999&limit=1"] {
        let res = app
            .client
            .get(app.url(&format!("/contacts/profile?{page}")))
            .header("X-Ipay-Client-Id", &k.id)
            .header("X-Ipay-Client-Secret", &k.secret)
            .header("X-Ipay-Endpoint-Ip", SEED_IP)
            .header("X-Ipay-Auth-Code", "1")
            .send()
            .await
            .unwrap();
        let (s, v) = body(res).await;
        assert_eq!(s, 200, "{page}: {v}");
        paged.extend(v["data"].as_array().unwrap().iter().map(|p| p["_id"].clone()));
    }
    assert_eq!(paged.iter().collect::<Vec<_>>(), listed);
    assert_eq!(listed.len(), 2);
    let (s, _, text) = ipay(&app, &k, Method::DELETE, Some(&json!({"contactId": other_id}).to_string())).await;
    assert_eq!(s, 200, "{text}");
    let (s, v, text) = ipay(&app, &k, Method::DELETE, Some(&json!({"contactId": id}).to_string())).await;
    assert_eq!((s, envelope(&text, &v), v["data"].clone()), (200, "TXN".into(), Value::Null), "{text}");
    assert!(app.all_contacts(&k.tenant).await.is_empty());
    // Deleted: the id names nothing, and is never given again.
    let (s, v, text) = ipay(&app, &k, Method::DELETE, Some(&json!({"contactId": id}).to_string())).await;
    assert_eq!((s, envelope(&text, &v)), (404, "ERR".into()), "{text}");
    let (_, v, _) = ipay(&app, &k, Method::POST, Some(&add.to_string())).await;
    assert_ne!(v["data"]["_id"], json!(id));
}

async fn every_seed_error_in_instantpays_envelope(b: Backend) {
    let app = spawn_app(b).await;
    let k = ipay_biller(&app, "IPAY").await;
    seed_contact(&app, &k).await;
    let before = app.all_contacts(&k.tenant).await;
    // The seed's email as printed is not an email address.
    let (s, v, text) = ipay(&app, &k, Method::PATCH, Some(&SEED_BODY.replace("karan@example.com", OBFUSCATED))).await;
    assert_eq!((s, envelope(&text, &v)), (400, "RPI".into()), "{text}");
    assert!(v["status"].as_str().unwrap().contains("email"), "{text}");
    // Each mandatory parameter left out is named.
    for key in ["contactId", "name", "email", "mobile", "tagDetails"] {
        let mut body: serde_json::Map<String, Value> = serde_json::from_str(SEED_BODY).unwrap();
        body.remove(key);
        let (s, v, text) = ipay(&app, &k, Method::PATCH, Some(&Value::Object(body).to_string())).await;
        assert_eq!((s, envelope(&text, &v)), (400, "RPI".into()), "{key}: {text}");
        assert!(v["status"].as_str().unwrap().contains(key), "{key}: {text}");
    }
    for (bad, named) in [
        (SEED_BODY.replace("9219133921", "+91 92191"), "mobile"),
        (SEED_BODY.replace("9219133921", "12"), "mobile"),
        (SEED_BODY.replace("645381c92c8e9e093406ccb2", "645381c92c8e9e093406ccb3"), "tagDetails"),
        (SEED_BODY.replace("645383ba4acec95a32089822", "nope"), "contactId"),
        ("[1, 2]".to_owned(), "object"),
        (SEED_BODY.replace("\"name\": \"Karan\"", "\"nam\": \"Karan\""), "nam"),
        ("{\"name\":".to_owned(), "JSON"),
    ] {
        let (s, v, text) = ipay(&app, &k, Method::PATCH, Some(&bad)).await;
        assert_eq!((s, envelope(&text, &v)), (400, "RPI".into()), "{bad}: {text}");
        assert!(v["status"].as_str().unwrap().contains(named), "{named}: {text}");
    }
    let (s, v, text) =
        ipay(&app, &k, Method::PATCH, Some(&SEED_BODY.replace("645383ba4acec95a32089822", "645383ba4acec95a32089823")))
            .await;
    assert_eq!((s, envelope(&text, &v)), (404, "ERR".into()), "an unknown contact: {text}");
    // Credentials: IAT; the endpoint IP: UAD.
    let (s, v, text) = ipay_from(&app, &k, Method::PATCH, Some(SEED_BODY), SEED_IP, "sk_wrong").await;
    assert_eq!((s, envelope(&text, &v)), (401, "IAT".into()), "{text}");
    for ip in ["14.142.186.143", "not-an-ip", ""] {
        let (s, v, text) = ipay_from(&app, &k, Method::PATCH, Some(SEED_BODY), ip, &k.secret).await;
        assert_eq!((s, envelope(&text, &v)), (403, "UAD".into()), "{ip}: {text}");
    }
    let (s, _, text) = ipay_from(&app, &k, Method::GET, None, "10.1.200.7", &k.secret).await;
    assert_eq!(s, 200, "an address in the allowed range: {text}");
    let res = app
        .client
        .get(app.url("/contacts/profile"))
        .header("X-Ipay-Client-Id", &k.id)
        .header("X-Ipay-Client-Secret", &k.secret)
        .header("X-Ipay-Endpoint-Ip", SEED_IP)
        .header("X-Ipay-Auth-Code", "2")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = app.client.get(app.url("/contacts/profile")).send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    assert_eq!((status, envelope(&text, &serde_json::from_str(&text).unwrap())), (401, "IAT".into()));
    // A key without an allow-list is refused whatever the IP.
    let plain = app.tenant_key(&["IPAY"], ALL).await;
    let k2 = Ipay { code: "IPAY".into(), id: plain.key_id.clone(), secret: plain.secret.clone(), tenant: plain };
    let (s, v, text) = ipay(&app, &k2, Method::GET, None).await;
    assert_eq!((s, envelope(&text, &v)), (403, "UAD".into()), "{text}");
    assert!(v["status"].as_str().unwrap().contains("allow-list"), "{text}");
    // An add names no contactId: the contact is given one.
    let (s, v, text) = ipay(&app, &k, Method::POST, Some(SEED_BODY)).await;
    assert_eq!((s, envelope(&text, &v)), (400, "RPI".into()), "{text}");
    assert!(v["status"].as_str().unwrap().contains("contactId"), "{text}");
    let (s, v, text) = ipay(&app, &k, Method::PUT, Some(SEED_BODY)).await;
    assert_eq!((s, envelope(&text, &v)), (405, "ERR".into()), "{text}");
    assert_eq!(app.all_contacts(&k.tenant).await, before, "a refused request changes nothing");
    // Guessing at a key's secret is throttled, with when to retry.
    let throttled = loop {
        let res = app
            .client
            .get(app.url("/contacts/profile"))
            .header("X-Ipay-Client-Id", &k.id)
            .header("X-Ipay-Client-Secret", "sk_guess")
            .header("X-Ipay-Endpoint-Ip", SEED_IP)
            .header("X-Ipay-Auth-Code", "1")
            .send()
            .await
            .unwrap();
        if res.status() != 401 {
            break res;
        }
    };
    assert_eq!(throttled.status(), 429);
    assert!(throttled.headers().get("retry-after").is_some(), "{:?}", throttled.headers());
    let text = throttled.text().await.unwrap();
    assert_eq!(envelope(&text, &serde_json::from_str(&text).unwrap()), "ERR", "{text}");
    assert_eq!(k.code, "IPAY");
}

async fn another_billers_contacts_are_out_of_reach(b: Backend) {
    let app = spawn_app(b).await;
    let a = ipay_biller(&app, "IP_A").await;
    let other = ipay_biller(&app, "IP_B").await;
    seed_contact(&app, &other).await;
    let before = app.all_contacts(&other.tenant).await;
    let (s, v, text) = ipay(&app, &a, Method::PATCH, Some(&SEED_BODY.replace("\"tagDetails\" : [\n            {\n                \"tagId\": \"645381c92c8e9e093406ccb2\"\n            }\n    ]", "\"tagDetails\": []"))).await;
    assert_eq!((s, envelope(&text, &v)), (404, "ERR".into()), "{text}");
    let (s, v, text) = ipay(&app, &a, Method::DELETE, Some(r#"{"contactId": "645383ba4acec95a32089822"}"#)).await;
    assert_eq!((s, envelope(&text, &v)), (404, "ERR".into()), "{text}");
    let (_, v, _) = ipay(&app, &a, Method::GET, None).await;
    assert_eq!(v["data"], json!([]));
    // B's tag is no tag of A's.
    let add = json!({"name": "Asha", "email": "asha@example.com", "mobile": "9876543210", "tagDetails": [{"tagId": "645381c92c8e9e093406ccb2"}]});
    let (s, v, text) = ipay(&app, &a, Method::POST, Some(&add.to_string())).await;
    assert_eq!((s, envelope(&text, &v)), (400, "RPI".into()), "{text}");
    assert_eq!(app.all_contacts(&other.tenant).await, before);
}

/// A key that may only write gets the profile it added or changed back, and
/// still may not list.
async fn a_write_only_key_gets_what_it_wrote(b: Backend) {
    let app = spawn_app(b).await;
    let admin = ipay_biller(&app, "IP_WO").await;
    let nets = ["14.142.186.142/32".parse().unwrap(), "127.0.0.1/32".parse().unwrap()];
    let key =
        app.service.create_key(&["IP_WO".to_owned()], &[contactd::store::Scope::ContactsWrite], &nets).await.unwrap();
    let k = Ipay { id: key.key_id.to_string(), secret: key.secret.clone(), ..admin };
    let add = r#"{"name": "Write Only", "email": "wo@example.com", "mobile": "9219133921"}"#;
    let (s, v, text) = ipay(&app, &k, Method::POST, Some(add)).await;
    assert_eq!((s, envelope(&text, &v)), (200, "TXN".into()), "{text}");
    let id = v["data"]["_id"].as_str().unwrap().to_owned();
    let change = format!(
        r#"{{"contactId": "{id}", "name": "Written", "email": "wo@example.com", "mobile": "9219133921", "tagDetails": []}}"#
    );
    let (s, v, text) = ipay(&app, &k, Method::PATCH, Some(&change)).await;
    assert_eq!((s, v["data"]["name"].as_str()), (200, Some("Written")), "{text}");
    let (s, v, text) = ipay(&app, &k, Method::GET, None).await;
    assert_eq!((s, envelope(&text, &v)), (403, "UAD".into()), "listing needs contacts:read: {text}");
    let stored = app.all_contacts(&k.tenant).await;
    assert_eq!(stored.len(), 1);
    let c = stored.values().next().unwrap();
    assert_eq!((c["aliases"]["instantpay"].as_str(), c["name"].as_str()), (Some(id.as_str()), Some("Written")));
}

both_stores!(
    a_write_only_key_gets_what_it_wrote,
    the_seeds_request_gets_the_seeds_answer,
    contacts_are_added_listed_and_deleted,
    every_seed_error_in_instantpays_envelope,
    another_billers_contacts_are_out_of_reach,
);

//! What a biller keeps beside its contacts and the rules they bring:
//! contact types, the tag catalogue, phones, holds and BPAY CRNs.

use crate::helpers::*;
use crate::single::{create, errors, patch, stored};
use contactd::domain::field_settings::{CrnBase, SettingsDoc};
use reqwest::Method;
use serde_json::{Value, json};

/// `json!` cannot spread; this merges `extra` over a valid contact.
macro_rules! json_merge {
    ($base:expr, $extra:expr) => {{
        let mut base = $base;
        if let (Value::Object(b), Value::Object(e)) = (&mut base, $extra) {
            b.extend(e);
        }
        base
    }};
}

async fn delete(app: &TestApp, t: &Tenant, path: &str) -> (u16, Value) {
    body(app.request(Method::DELETE, &format!("/v1/billers/{}{path}", t.code), &t.token).send().await.unwrap()).await
}

async fn contact_types_are_the_billers_own(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let (s, v) = body(app.get(&t, "/contact-types").await).await;
    assert_eq!((s, &v["data"]), (200, &json!(["vendor", "customer", "employee", "self"])));
    let with_type = |ty: &str| json_merge!(contact("5001", "Ann Lee"), json!({"type": ty}));
    // A write can only use a type that exists, case-sensitively.
    let (s, v) = body(app.post(&t, "/contacts", &with_type("partner")).await).await;
    assert_eq!(s, 422, "{v}");
    assert!(v["errors"][0]["message"].as_str().unwrap().starts_with("Invalid type: partner"), "{v}");
    let (s, v) = body(app.post(&t, "/contact-types", &json!({"name": "partner"})).await).await;
    assert_eq!(s, 201, "{v}");
    assert!(v["data"].as_array().unwrap().contains(&json!("partner")));
    let (s, _) = body(app.post(&t, "/contacts", &with_type("partner")).await).await;
    assert_eq!(s, 201);
    let (s, v) = body(app.post(&t, "/contacts/add", &json!([with_type("Partner")])).await).await;
    assert_eq!(s, 422, "case matters: {v}");
    // At most 40 characters; a name once.
    let (s, _) = body(app.post(&t, "/contact-types", &json!({"name": "x".repeat(41)})).await).await;
    assert_eq!(s, 400);
    let (s, _) = body(app.post(&t, "/contact-types", &json!({"name": "partner"})).await).await;
    assert_eq!(s, 409);
    for bad in [json!({"name": 7}), json!({}), json!({"name": "a", "b": 1}), json!({"name": "\u{0}x"})] {
        let (s, v) = body(app.post(&t, "/contact-types", &bad).await).await;
        assert!(s == 400 || s == 422, "{bad}: {s} {v}");
    }
    // Admin only.
    let writer = app.tenant_key(&["1001"], &[contactd::store::Scope::ContactsWrite]).await;
    let (s, _) = body(app.post(&writer, "/contact-types", &json!({"name": "other"})).await).await;
    assert_eq!(s, 403);
    let (_, v) = body(app.get(&t, "/contact-types").await).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 5, "{v}");
}

async fn tags_are_a_catalogue(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let (s, v) = body(app.post(&t, "/tags", &json!({"name": "VIP"})).await).await;
    assert_eq!(s, 201, "{v}");
    let vip = v["id"].as_str().unwrap().to_owned();
    assert!(vip.len() == 24 && vip.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{vip}");
    let (s, _) = body(app.post(&t, "/tags", &json!({"name": "VIP"})).await).await;
    assert_eq!(s, 409, "a name once per biller");
    let late = app.tag(&t, "Late payer").await;
    let (_, v) = body(app.get(&t, "/tags").await).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 2);

    let tagged = |acct: &str, tags: Value| json_merge!(contact(acct, "Ann Lee"), json!({"tags": tags}));
    let a = create(&app, &t, &tagged("5001", json!([vip, late]))).await;
    create(&app, &t, &tagged("5002", json!([vip]))).await;
    // An unknown id is named.
    let unknown = "0123456789abcdef01234567";
    let (s, v) = body(app.post(&t, "/contacts", &tagged("5003", json!([unknown]))).await).await;
    assert_eq!(s, 422);
    assert!(v["errors"][0]["message"].as_str().unwrap().contains(unknown), "{v}");
    let (s, _) = body(app.post(&t, "/contacts", &tagged("5003", json!(["VIP"]))).await).await;
    assert_eq!(s, 422, "tags are ids, not names");
    // Another biller's tag is unknown here.
    let other = app.biller("2002", ALL).await;
    let theirs = app.tag(&other, "Theirs").await;
    let (s, _) = patch(&app, &t, a["id"].as_str().unwrap(), &json!({"tags": [theirs]})).await;
    assert_eq!(s, 422);
    let (s, _) = delete(&app, &t, &format!("/tags/{theirs}")).await;
    assert_eq!(s, 404);

    // Deleting a tag contacts carry is refused with their count...
    let (s, v) = delete(&app, &t, &format!("/tags/{vip}")).await;
    assert_eq!((s, &v["code"], &v["count"]), (409, &json!("tag_in_use"), &json!(2)), "{v}");
    // ...unless it is taken off them, each a new version.
    let (s, _) = delete(&app, &t, &format!("/tags/{vip}?detach=true")).await;
    assert_eq!(s, 204);
    let after = stored(&app, &t, a["id"].as_str().unwrap()).await;
    assert_eq!((&after["tags"], &after["version"]), (&json!([late]), &json!(2)));
    assert_eq!(stored(&app, &t, "acct:5002").await["tags"], json!([]));
    let (_, v) = body(app.get(&t, &format!("/contacts?tag={late}")).await).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    let (_, v) = body(app.get(&t, &format!("/contacts?tag={vip}")).await).await;
    assert_eq!(v["data"], json!([]));
    let (s, _) = delete(&app, &t, &format!("/tags/{vip}")).await;
    assert_eq!(s, 404);
    let (s, _) = delete(&app, &t, "/tags/nope").await;
    assert!(s == 400 || s == 404);
    for bad in [json!({"name": ""}), json!({"name": "x".repeat(65)}), json!({"name": ["a"]})] {
        let (s, _) = body(app.post(&t, "/tags", &bad).await).await;
        assert!(s == 400 || s == 422, "{bad}");
    }
}

async fn phones_are_read_in_their_country(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let with = |acct: &str, phones: Value| json_merge!(contact(acct, "Ann Lee"), json!({"phones": phones}));
    let c = create(
        &app,
        &t,
        &with(
            "5001",
            json!([
                {"kind": "mobile", "number": "0412 345 678", "country": "AU"},
                {"kind": "home", "number": "020 7946 0958", "country": "826"},
                {"kind": "primary", "number": "+1 (202) 456-1111"},
            ]),
        ),
    )
    .await;
    let phones = c["phones"].as_array().unwrap();
    assert_eq!(phones[0]["e164"], "+61412345678");
    assert_eq!(phones[0]["number"], "0412 345 678", "kept as sent");
    assert_eq!(phones[1]["e164"], "+442079460958");
    assert_eq!(phones[1]["country"], "GB", "ISO numeric 826 is GB");
    assert_eq!(phones[2]["e164"], "+12024561111");
    // Found by either form.
    for q in ["%2B61412345678", "0412%20345%20678", "%2B44%2020%207946%200958"] {
        let (_, v) = body(app.get(&t, &format!("/contacts?phone={q}")).await).await;
        assert_eq!(v["data"].as_array().unwrap().len(), 1, "{q}: {v}");
    }
    // Invalid numbers are refused with the reason; hostile ones never hurt the server.
    let long = "9".repeat(10_000);
    let arabic = "\u{0660}\u{0664}\u{0661}\u{0662}";
    for (number, country) in [
        ("12", "AU"),
        ("0412 345 678", "ZZ"),
        ("not a number", "AU"),
        ("+999 123", ""),
        (long.as_str(), "AU"),
        ("++++++++", "AU"),
        (arabic, "EG"),
        ("+61 4\u{0}12", "AU"),
        ("0412 345 678", "999"),
    ] {
        let mut phone = json!({"kind": "mobile", "number": number});
        if !country.is_empty() {
            phone["country"] = json!(country);
        }
        let (s, v) = body(app.post(&t, "/contacts", &with("5002", json!([phone]))).await).await;
        assert_eq!(s, 422, "{number:.20} {country}: {v}");
        assert!(errors(&v).iter().any(|(f, _)| f.starts_with("phones")), "{v}");
    }
    let (s, v) =
        body(app.post(&t, "/contacts", &with("5002", json!([{"kind": "fax", "number": "0412345678"}]))).await).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(app.all_contacts(&t).await.len(), 1, "nothing refused was stored");
    assert_eq!(app.get(&t, "/contacts/acct:5001").await.status(), 200, "the server is still up");
}

async fn place_hold(app: &TestApp, t: &Tenant, id: &str, kind: &str) -> String {
    let (s, v) =
        body(app.post(t, &format!("/contacts/{id}/holds"), &json!({"kind": kind, "reference": "DD-7"})).await).await;
    assert_eq!(s, 201, "{v}");
    v["hold_id"].as_str().unwrap().to_owned()
}

async fn holds_keep_a_contact(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let held = create(&app, &t, &contact("5001", "Held One")).await;
    let id = held["id"].as_str().unwrap().to_owned();
    create(&app, &t, &contact("5002", "Free One")).await;
    let hold = place_hold(&app, &t, &id, "direct_debit").await;
    let second = place_hold(&app, &t, "acct:5001", "pending_payment").await;
    let (_, v) = body(app.get(&t, &format!("/contacts/{id}/holds")).await).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["data"][0]["kind"], "direct_debit");
    // Neither deactivated nor deleted: each hold named.
    let (s, v) = patch(&app, &t, &id, &json!({"active": false})).await;
    assert_eq!((s, &v["code"]), (409, &json!("contact_held")), "{v}");
    assert_eq!(v["held"][0]["contact_id"], json!(id), "{v}");
    let named: Vec<&str> =
        v["held"][0]["holds"].as_array().unwrap().iter().map(|h| h["hold_id"].as_str().unwrap()).collect();
    assert_eq!(named, [hold.as_str(), second.as_str()]);
    let (s, v) = delete(&app, &t, &format!("/contacts/{id}")).await;
    assert_eq!((s, &v["code"]), (409, &json!("contact_held")));
    // A bulk add may not deactivate it either.
    let inactive = json_merge!(contact("5001", "Held One"), json!({"active": false}));
    let (s, v) = body(app.post(&t, "/contacts/add", &json!([inactive])).await).await;
    assert_eq!((s, &v["code"]), (409, &json!("contacts_held")), "{v}");
    // A replace that would remove it is refused, naming it and its holds...
    let (s, v) =
        body(app.post(&t, "/contacts/replace?confirm_removals=1", &json!([contact("5002", "Free One")])).await).await;
    assert_eq!((s, &v["code"]), (409, &json!("contacts_held")), "{v}");
    assert_eq!(v["held"][0]["account_number"], "5001");
    assert_eq!(v["held"][0]["holds"].as_array().unwrap().len(), 2);
    assert_eq!(stored(&app, &t, &id).await["active"], true);
    // ...as is a replace job.
    let (s, v) =
        body(app.post(&t, "/contacts/job/replace?confirm_removals=1", &json!([contact("5002", "Free One")])).await)
            .await;
    assert_eq!(s, 202, "{v}");
    let job = v["job_id"].as_str().unwrap().to_owned();
    app.worker.run_once().await.unwrap();
    let (_, v) = body(app.get(&t, &format!("/jobs/{job}")).await).await;
    assert_eq!(v["status"], "failed", "{v}");
    assert!(v["error"].as_str().unwrap().contains("5001"), "{v}");
    assert_eq!(app.all_contacts(&t).await.len(), 2);
    // Released, it may be deactivated; forced, a replace removes a held one.
    let (s, _) = delete(&app, &t, &format!("/contacts/{id}/holds/{second}")).await;
    assert_eq!(s, 204);
    let (s, _) = delete(&app, &t, &format!("/contacts/{id}/holds/{second}")).await;
    assert_eq!(s, 404);
    let (s, v) = body(
        app.post(&t, "/contacts/replace?confirm_removals=1&force_holds=true", &json!([contact("5002", "Free One")]))
            .await,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(app.all_contacts(&t).await.keys().collect::<Vec<_>>(), ["5002"]);
    let (s, _) = body(app.get(&t, &format!("/contacts/{id}/holds")).await).await;
    assert_eq!(s, 404, "the removed contact's holds went with it");
    // Hostile holds.
    let free = stored(&app, &t, "acct:5002").await["id"].as_str().unwrap().to_owned();
    for bad in [
        json!({"kind": ""}),
        json!({"kind": "Direct Debit"}),
        json!({"kind": "x".repeat(41)}),
        json!({"kind": "direct_debit", "reference": "r".repeat(101)}),
        json!({"kind": 1}),
        json!({"kind": "direct_debit", "extra": true}),
    ] {
        let (s, v) = body(app.post(&t, &format!("/contacts/{free}/holds"), &bad).await).await;
        assert!(s == 400 || s == 422, "{bad}: {s} {v}");
    }
    let (_, v) = body(app.get(&t, &format!("/contacts/{free}/holds")).await).await;
    assert_eq!(v["data"], json!([]));
    let (s, _) = patch(&app, &t, &free, &json!({"active": false})).await;
    assert_eq!(s, 200);
    let (s, v) = patch(&app, &t, &free, &json!({"active": true})).await;
    assert_eq!((s, &v["active"]), (200, &json!(true)));
}

async fn set_crn(app: &TestApp, algorithm: &str, base: CrnBase) {
    let mut settings: SettingsDoc = payreq_settings();
    settings.crn.algorithm = algorithm.into();
    settings.crn.base = base;
    app.service.set_field_settings("1001", settings).await.unwrap();
}

async fn crns_are_made_and_checked_by_the_billers_rule(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    // MOD10V01 (Luhn) from the account number: the published example 7992739871 -> 79927398713.
    let c = create(&app, &t, &contact("7992739871", "Luhn Example")).await;
    let id = c["id"].as_str().unwrap().to_owned();
    let (s, v) = body(app.post(&t, &format!("/contacts/{id}/crn"), &json!({})).await).await;
    assert_eq!((s, &v["crn"], &v["version"]), (201, &json!("79927398713"), &json!(2)), "{v}");
    let (s, v) = body(app.post(&t, &format!("/contacts/{id}/crn"), &json!({})).await).await;
    assert_eq!((s, &v["crn"], &v["version"]), (200, &json!("79927398713"), &json!(2)), "issued once");
    // Supplied CRNs are checked by the same rule.
    let (s, v) =
        body(app.post(&t, "/contacts", &json_merge!(contact("5002", "B"), json!({"crn": "79927398710"}))).await).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(errors(&v)[0].0, "crn");
    for bad in ["7", "123456789012345678901", "12a4", " 18"] {
        let (s, _) =
            body(app.post(&t, "/contacts", &json_merge!(contact("5002", "B"), json!({"crn": bad}))).await).await;
        assert_eq!(s, 422, "{bad}");
    }
    let (s, v) = body(app.post(&t, "/contacts", &json_merge!(contact("5002", "B"), json!({"crn": "18"}))).await).await;
    assert_eq!(s, 201, "{v}");
    // Unique per biller.
    let (s, v) =
        body(app.post(&t, "/contacts", &json_merge!(contact("5003", "C"), json!({"crn": "79927398713"}))).await).await;
    assert_eq!(s, 409, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("79927398713"));
    // Fixed once issued: another value is refused on every path, a write that
    // names none keeps it, and only an explicit clear frees it.
    let (s, v) = patch(&app, &t, &id, &json!({"crn": "26"})).await;
    assert_eq!((s, &v["code"]), (409, &json!("crn_fixed")), "{v}");
    let (s, v) = body(
        app.post(
            &t,
            "/contacts/add",
            &json!([json_merge!(contact("7992739871", "Luhn Example"), json!({"crn": "26"}))]),
        )
        .await,
    )
    .await;
    assert_eq!((s, &v["code"]), (409, &json!("crn_fixed")), "{v}");
    let (s, _) = body(app.post(&t, "/contacts/add", &json!([contact("7992739871", "Renamed")])).await).await;
    assert_eq!(s, 200);
    assert_eq!(stored(&app, &t, &id).await["crn"], "79927398713", "kept when not named");
    let (s, v) = patch(&app, &t, &id, &json!({"crn": null})).await;
    assert_eq!((s, &v["crn"]), (200, &Value::Null));
    // ?with=crn on create and on PATCH.
    let (s, v) = body(app.post(&t, "/contacts?with=crn", &contact("4000", "D")).await).await;
    assert_eq!((s, &v["crn"]), (201, &json!("40006")), "{v}");
    let (s, v) = body(
        app.request(Method::PATCH, &format!("/v1/billers/1001/contacts/{id}?with=crn"), &t.token)
            .header("Content-Type", "application/merge-patch+json")
            .body("{}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, &v["crn"]), (200, &json!("79927398713")), "{v}");
    // Cleared and asked for in one PATCH: made afresh (its own old CRN is no conflict).
    let (s, v) = body(
        app.request(Method::PATCH, &format!("/v1/billers/1001/contacts/{id}?with=crn"), &t.token)
            .header("Content-Type", "application/merge-patch+json")
            .body(r#"{"crn": null}"#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, &v["crn"]), (200, &json!("79927398713")), "{v}");

    // MOD10V05: weights 1, 2, 3 ... from the left, sum mod 10 (40007923 -> 400079231).
    set_crn(&app, "MOD10V05", CrnBase::AccountNumber).await;
    let c = create(&app, &t, &contact("40007923", "V05")).await;
    let (s, v) = body(app.post(&t, &format!("/contacts/{}/crn", c["id"].as_str().unwrap()), &json!({})).await).await;
    assert_eq!((s, &v["crn"]), (201, &json!("400079231")), "{v}");
    let (s, _) =
        body(app.post(&t, "/contacts", &json_merge!(contact("5005", "E"), json!({"crn": "400079232"}))).await).await;
    assert_eq!(s, 422);

    // A CRN made from the account number that another contact has: 409.
    create(&app, &t, &json_merge!(contact("5004", "F"), json!({"crn": "60010"}))).await;
    let c = create(&app, &t, &contact("6001", "Collides")).await;
    let (s, v) = body(app.post(&t, &format!("/contacts/{}/crn", c["id"].as_str().unwrap()), &json!({})).await).await;
    assert_eq!(s, 409, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("60010"), "{v}");
    // Asked for with a write, such a CRN refuses the write whole: the patch
    // is not kept, and the contact to create is not made.
    let id = c["id"].as_str().unwrap();
    let res = app
        .request(Method::PATCH, &format!("/v1/billers/1001/contacts/{id}?with=crn"), &t.token)
        .header("Content-Type", "application/merge-patch+json")
        .body(json!({"name": "Renamed"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    let after = stored(&app, &t, id).await;
    assert_eq!((&after["name"], &after["version"], &after["crn"]), (&json!("Collides"), &json!(1), &Value::Null));
    create(&app, &t, &json_merge!(contact("5006", "H"), json!({"crn": "60024"}))).await;
    let (s, v) = body(app.post(&t, "/contacts?with=crn", &contact("6002", "Collides Too")).await).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(app.get(&t, "/contacts/acct:6002").await.status(), 404, "nothing was written");
    let (s, v) = body(app.get(&t, &format!("/contacts/{id}/history")).await).await;
    assert_eq!((s, v["data"].as_array().map(Vec::len)), (200, Some(1)), "only its creation: {v}");

    // From a sequence (a biller of its own): 1 -> 18 (Luhn); a number whose
    // CRN a contact already has is skipped (2 -> 26 is issued), and the next
    // issue goes on from there (3 -> 34).
    let t = app.biller("3003", ALL).await;
    let mut seq = payreq_settings();
    seq.crn.base = CrnBase::Sequence;
    app.service.set_field_settings("3003", seq).await.unwrap();
    create(&app, &t, &json_merge!(contact("5002", "B"), json!({"crn": "18"}))).await;
    let c = create(&app, &t, &contact("6001", "Seq")).await;
    let (s, v) = body(app.post(&t, &format!("/contacts/{}/crn", c["id"].as_str().unwrap()), &json!({})).await).await;
    assert_eq!((s, &v["crn"]), (201, &json!("26")), "{v}");
    let (s, v) = body(app.post(&t, "/contacts?with=crn", &contact("6002", "Seq Two")).await).await;
    assert_eq!((s, &v["crn"]), (201, &json!("34")), "{v}");
    let t = app.tenant_key(&["1001"], ALL).await;
    // No digits to make one from.
    let mut letters = payreq_settings();
    letters.account_number.charset = contactd::domain::account_number::Charset::Alphanumeric;
    app.service.set_field_settings("1001", letters).await.unwrap();
    let c = create(&app, &t, &contact("ABCD", "Letters")).await;
    let (s, v) = body(app.post(&t, &format!("/contacts/{}/crn", c["id"].as_str().unwrap()), &json!({})).await).await;
    assert_eq!(s, 422, "{v}");
    // Asked for with a write, a CRN that cannot be made refuses the write whole.
    let (s, v) = body(app.post(&t, "/contacts?with=crn", &contact("WXYZ", "Letters Too")).await).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(app.get(&t, "/contacts/acct:WXYZ").await.status(), 404, "nothing was written");
    let res = app
        .request(Method::PATCH, &format!("/v1/billers/1001/contacts/{}?with=crn", c["id"].as_str().unwrap()), &t.token)
        .header("Content-Type", "application/merge-patch+json")
        .body(json!({"name": "Renamed"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let after = stored(&app, &t, c["id"].as_str().unwrap()).await;
    assert_eq!((&after["name"], &after["version"]), (&json!("Letters"), &json!(1)));
    // A bulk write naming another contact's CRN says so, in words.
    let (s, v) =
        body(app.post(&t, "/contacts/add", &json!([json_merge!(contact("5009", "G"), json!({"crn": "18"}))])).await)
            .await;
    assert_eq!(s, 409, "{v}");
    assert!(!v["detail"].as_str().unwrap().contains("constraint"), "{v}");
    assert!(v["detail"].as_str().unwrap().contains("CRN"), "{v}");
}

crate::both_stores!(
    contact_types_are_the_billers_own,
    tags_are_a_catalogue,
    phones_are_read_in_their_country,
    holds_keep_a_contact,
    crns_are_made_and_checked_by_the_billers_rule,
);

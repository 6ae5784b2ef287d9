//! Every change to a contact is in its history, whatever made it; settings
//! changes are weighed against stored contacts; list filters over HTTP.

use crate::helpers::*;
use crate::single::{create, patch};
use reqwest::Method;
use serde_json::{Value, json};

async fn history(app: &TestApp, t: &Tenant, id: &str) -> Vec<Value> {
    let (s, v) = body(app.get(t, &format!("/contacts/{id}/history")).await).await;
    assert_eq!(s, 200, "{v}");
    v["data"].as_array().unwrap().clone()
}

/// `field: before -> after` of an entry's changes.
fn changes(entry: &Value) -> Vec<(String, Value, Value)> {
    entry["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["field"].as_str().unwrap().to_owned(), c["before"].clone(), c["after"].clone()))
        .collect()
}

async fn every_kind_of_change_is_in_the_history(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let c = create(&app, &t, &contact("7992739871", "Ann Lee")).await;
    let id = c["id"].as_str().unwrap().to_owned();
    let h = history(&app, &t, &id).await;
    assert_eq!(h.len(), 1);
    assert_eq!((&h[0]["action"], &h[0]["version"], &h[0]["key_id"]), (&json!("created"), &json!(1), &json!(t.key_id)));
    assert_eq!(h[0]["source"], "POST /v1/billers/{code}/contacts");
    assert!(changes(&h[0]).contains(&("name".into(), Value::Null, json!("Ann Lee"))), "{}", h[0]);

    // A patch: each changed field before and after, nothing else.
    let (s, _) = patch(&app, &t, &id, &json!({"email": "ann@example.com", "notes": {"k": "v"}})).await;
    assert_eq!(s, 200);
    let (s, _) = patch(&app, &t, &id, &json!({"email": "lee@example.com"})).await;
    assert_eq!(s, 200);
    let h = history(&app, &t, &id).await;
    assert_eq!(changes(&h[0]), [("email".into(), json!("ann@example.com"), json!("lee@example.com"))]);
    assert_eq!(h[0]["source"], "PATCH /v1/billers/{code}/contacts/{id}");
    assert_eq!(
        changes(&h[1]),
        [("email".into(), Value::Null, json!("ann@example.com")), ("notes.k".into(), Value::Null, json!("v"))]
    );
    // Holds, a CRN, a deactivation, a sync add, a job.
    let (_, hold) = body(app.post(&t, &format!("/contacts/{id}/holds"), &json!({"kind": "direct_debit"})).await).await;
    let hold_id = hold["hold_id"].as_str().unwrap();
    let res = app.request(Method::DELETE, &format!("/v1/billers/1001/contacts/{id}/holds/{hold_id}"), &t.token);
    assert_eq!(res.send().await.unwrap().status(), 204);
    let (s, _) = body(app.post(&t, &format!("/contacts/{id}/crn"), &json!({})).await).await;
    assert_eq!(s, 201);
    let (s, _) = patch(&app, &t, &id, &json!({"active": false})).await;
    assert_eq!(s, 200);
    let renamed = json!([{"account_number": "7992739871", "name": "Ann Renamed", "email": "lee@example.com",
        "active": false, "notes": {"k": "v"}, "fields": {"contact-id-1": "7992739871", "contact-id-2": "Auth Ann Lee"}}]);
    let (s, v) = body(app.post(&t, "/contacts/add", &renamed).await).await;
    assert_eq!(s, 200, "{v}");
    let mut by_job = renamed.clone();
    by_job[0]["name"] = json!("Ann By Job");
    let (s, v) = body(app.post(&t, "/contacts/job/add", &by_job).await).await;
    assert_eq!(s, 202, "{v}");
    let job = v["job_id"].as_str().unwrap().to_owned();
    app.worker.run_once().await.unwrap();
    let h = history(&app, &t, &id).await;
    let actions: Vec<&str> = h.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["updated", "updated", "updated", "updated", "hold_released", "hold_placed", "updated", "updated", "created"],
        "newest first"
    );
    assert_eq!(h[0]["source"], format!("job {job}"));
    assert_eq!(changes(&h[0]), [("name".into(), json!("Ann Renamed"), json!("Ann By Job"))]);
    assert_eq!(h[1]["source"], "POST /v1/billers/{code}/contacts/add");
    assert_eq!(changes(&h[2]), [("active".into(), json!(true), json!(false))]);
    assert_eq!(changes(&h[3]), [("crn".into(), Value::Null, json!("79927398713"))]);
    assert_eq!(h[5]["hold"]["kind"], "direct_debit");
    let versions: Vec<i64> = h.iter().map(|e| e["version"].as_i64().unwrap()).collect();
    assert_eq!(versions, [7, 6, 5, 4, 3, 3, 3, 2, 1], "a hold changes no field, so no version");

    // Paging: newest first, a cursor continues.
    let (_, page) = body(app.get(&t, &format!("/contacts/{id}/history?limit=4")).await).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 4);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = body(app.get(&t, &format!("/contacts/{id}/history?limit=100&cursor={cursor}")).await).await;
    let rest = rest["data"].as_array().unwrap();
    assert_eq!(rest.len(), 5);
    assert_eq!(rest[0], h[4], "the next page starts where the first ended");
    // One entry a page, from every position: the same entries, the same changes.
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor.as_ref().map_or("limit=1".to_owned(), |c| format!("limit=1&cursor={c}"));
        let (_, page) = body(app.get(&t, &format!("/contacts/{id}/history?{q}")).await).await;
        walked.extend(page["data"].as_array().unwrap().clone());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(walked, h, "paged one by one, as read whole");
    // Any position is a cursor: past the newest, everything.
    let past = h[0]["seq"].as_i64().unwrap() + 1000;
    let (_, all) = body(app.get(&t, &format!("/contacts/{id}/history?cursor={past}")).await).await;
    assert_eq!(all["data"].as_array().unwrap(), &h);
    for bad in ["limit=0", "limit=1001", "cursor=abc", "cursor=-1", "limit=x", "other=1"] {
        let (s, v) = body(app.get(&t, &format!("/contacts/{id}/history?{bad}")).await).await;
        assert_eq!(s, 400, "{bad}: {v}");
    }

    // Deleted, its history stays readable by its id.
    let res = app.request(Method::DELETE, &format!("/v1/billers/1001/contacts/{id}"), &t.token);
    assert_eq!(res.send().await.unwrap().status(), 204);
    let h = history(&app, &t, &id).await;
    assert_eq!(h.len(), 10);
    assert_eq!(h[0]["action"], "deleted");
    assert!(changes(&h[0]).contains(&("name".into(), json!("Ann By Job"), Value::Null)));
    let (s, _) = body(app.get(&t, "/contacts/acct:7992739871/history").await).await;
    assert_eq!(s, 404, "an account number names no deleted contact");
    // Not another biller's.
    let other = app.biller("2002", ALL).await;
    let (s, _) = body(app.get(&other, &format!("/contacts/{id}/history")).await).await;
    assert_eq!(s, 404);
}

/// A job's new contacts cost no history rows, yet show where they came from.
async fn a_jobs_new_contacts_show_their_job(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let (s, v) = body(app.post(&t, "/contacts/job/add", &json!([contact("5001", "From Job")])).await).await;
    assert_eq!(s, 202);
    let job = v["job_id"].as_str().unwrap().to_owned();
    app.worker.run_once().await.unwrap();
    let c = app.all_contacts(&t).await["5001"].clone();
    assert_eq!(c["job_id"], json!(job));
    let h = history(&app, &t, c["id"].as_str().unwrap()).await;
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!((&h[0]["action"], &h[0]["key_id"]), (&json!("created"), &json!(t.key_id)));
    assert_eq!(h[0]["source"], format!("job {job}"));
    // A replace job that removes it records the removal.
    let (s, v) =
        body(app.post(&t, "/contacts/job/replace?confirm_removals=1", &json!([contact("5002", "Other")])).await).await;
    assert_eq!(s, 202, "{v}");
    let replace = v["job_id"].as_str().unwrap().to_owned();
    app.worker.run_once().await.unwrap();
    let h = history(&app, &t, c["id"].as_str().unwrap()).await;
    assert_eq!((&h[0]["action"], &h[0]["source"]), (&json!("deleted"), &json!(format!("job {replace}"))));
}

async fn a_snapshot_restore_is_in_the_history(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let c = create(&app, &t, &contact("5001", "Before")).await;
    let id = c["id"].as_str().unwrap().to_owned();
    // A replace keeps a snapshot of what it replaced.
    let (s, v) = body(app.post(&t, "/contacts/replace", &json!([contact("5001", "After")])).await).await;
    assert_eq!(s, 200, "{v}");
    let (_, snaps) = body(app.get(&t, "/snapshots").await).await;
    let snap = snaps["data"][0]["snapshot_id"].as_str().unwrap().to_owned();
    let (s, v) = body(app.post(&t, &format!("/snapshots/{snap}/restore"), &json!({})).await).await;
    assert_eq!(s, 202, "{v}");
    let restore = v["job_id"].as_str().unwrap().to_owned();
    app.worker.run_once().await.unwrap();
    let h = history(&app, &t, &id).await;
    assert_eq!(h[0]["source"], format!("job {restore}"), "{h:?}");
    assert_eq!(
        changes(&h[0]),
        [
            ("fields.contact-id-2".into(), json!("Auth After"), json!("Auth Before")),
            ("name".into(), json!("After"), json!("Before"))
        ]
    );
    assert_eq!(h[1]["source"], "POST /v1/billers/{code}/contacts/replace");
}

async fn settings_changes_are_weighed_against_stored_contacts(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    for i in 0..3 {
        create(&app, &t, &contact(&format!("500{i}"), "Ann Lee")).await;
    }
    let put = |q: &'static str, doc: Value| {
        let (app, t) = (&app, &t);
        async move {
            body(
                app.request(Method::PUT, &format!("/v1/billers/1001/field-settings{q}"), &t.token)
                    .json(&doc)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let (_, before) = body(app.get(&t, "/field-settings").await).await;
    // `{}` would drop every field the contacts carry: refused with counts.
    let (s, v) = put("", json!({})).await;
    assert_eq!((s, &v["code"]), (409, &json!("settings_would_invalidate")), "{v}");
    assert_eq!(v["impact"]["contacts"], 3);
    assert_eq!(v["impact"]["invalid"], 3);
    assert!(v["impact"]["problems"].as_array().unwrap().iter().any(|p| p["field"] == "fields.contact-id-1"), "{v}");
    let (_, now) = body(app.get(&t, "/field-settings").await).await;
    assert_eq!(now, before, "nothing changed");
    // A dry run reports the same and changes nothing.
    let (s, v) = put("?dry_run=true", json!({})).await;
    assert_eq!((s, &v["applied"], &v["impact"]["invalid"]), (200, &json!(false), &json!(3)), "{v}");
    // A tighter rule: the auth field at most 5 characters ("Auth Ann Lee" is 12).
    let mut tighter = before.clone();
    tighter["fields"][1]["max_length"] = json!(5);
    let (s, v) = put("", tighter).await;
    assert_eq!(s, 409, "{v}");
    // A harmless change goes through, and earlier versions stay readable.
    let mut wider = before.clone();
    wider["fields"][1]["max_length"] = json!(60);
    let (s, v) = put("", wider).await;
    assert_eq!((s, &v["applied"], &v["impact"]["invalid"]), (200, &json!(true), &json!(0)), "{v}");
    // Confirmed, a change that invalidates is applied.
    let (s, v) = put("?confirm=true", json!({})).await;
    assert_eq!((s, &v["applied"]), (200, &json!(true)), "{v}");
    let (_, versions) = body(app.get(&t, "/field-settings/versions").await).await;
    let versions = versions["data"].as_array().unwrap();
    assert!(versions.len() >= 3, "{versions:?}");
    assert_eq!(versions[0]["settings"]["fields"], json!([]), "newest first");
    assert_eq!(versions[1]["settings"]["fields"][1]["max_length"], 60);
    for bad in ["?confirm=yes", "?dry_run=1&x=2"] {
        let (s, _) = put(bad, json!({})).await;
        assert_eq!(s, 400, "{bad}");
    }
}

async fn lists_filter_by_each_key(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let vip = app.tag(&t, "VIP").await;
    let with = |acct: &str, name: &str, extra: Value| {
        let mut c = contact(acct, name);
        c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        c
    };
    let records = json!([
        with(
            "5001",
            "Ann Lee",
            json!({"email": "Ann@Example.com", "reference_id": "R1", "tags": [vip],
            "phones": [{"kind": "mobile", "number": "0412 345 678", "country": "AU"}]})
        ),
        with("5002", "Annabel Ng", json!({"external_id": "X2", "type": "vendor"})),
        with("5003", "Bob Tan", json!({"active": false})),
    ]);
    let (s, v) = body(app.post(&t, "/contacts/add", &records).await).await;
    assert_eq!(s, 200, "{v}");
    let found = |q: String| {
        let (app, t) = (&app, &t);
        async move {
            let (s, v) = body(app.get(t, &format!("/contacts?{q}")).await).await;
            assert_eq!(s, 200, "{q}: {v}");
            v["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["account_number"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(found("name=ann".into()).await, ["5001", "5002"]);
    assert_eq!(found("name=ANNA".into()).await, ["5002"]);
    assert_eq!(found("email=ann%40example.COM".into()).await, ["5001"]);
    assert_eq!(found("phone=%2B61412345678".into()).await, ["5001"]);
    assert_eq!(found("reference_id=R1".into()).await, ["5001"]);
    assert_eq!(found("external_id=X2".into()).await, ["5002"]);
    assert_eq!(found(format!("tag={vip}")).await, ["5001"]);
    assert_eq!(found("type=vendor".into()).await, ["5002"]);
    assert_eq!(found("active=false".into()).await, ["5003"]);
    assert_eq!(found("name=ann&active=true&type=vendor".into()).await, ["5002"]);
    assert_eq!(found("created_after=2000-01-01T00:00:00Z&created_before=2100-01-01T00:00:00Z".into()).await.len(), 3);
    assert_eq!(found("updated_after=2100-01-01T00:00:00Z".into()).await.len(), 0);
    assert_eq!(found("updated_before=2000-01-01T00:00:00Z".into()).await.len(), 0);
    assert_eq!(found("name=%25".into()).await.len(), 0, "no wildcards");
    // A PATCH and a job move the keys.
    let (s, _) = patch(&app, &t, "acct:5003", &json!({"email": "bob@example.com"})).await;
    assert_eq!(s, 200);
    assert_eq!(found("email=bob%40example.com".into()).await, ["5003"]);
    let (s, _) =
        body(app.post(&t, "/contacts/job/add", &json!([with("5004", "Cara", json!({"reference_id": "R1"}))])).await)
            .await;
    assert_eq!(s, 202);
    app.worker.run_once().await.unwrap();
    assert_eq!(found("reference_id=R1".into()).await, ["5001", "5004"]);
    // Bad values name their parameter.
    for (q, name) in [
        ("tag=VIP", "tag"),
        ("created_after=yesterday", "created_after"),
        ("updated_before=2026-13-01T00:00:00Z", "updated_before"),
        ("active=maybe", "active"),
        ("limit=0", "limit"),
        ("email=a%00b", "email"),
        ("unknown=1", "unknown"),
    ] {
        let (s, v) = body(app.get(&t, &format!("/contacts?{q}")).await).await;
        assert_eq!(s, 400, "{q}: {v}");
        assert!(v["detail"].as_str().unwrap().contains(name), "{q}: {v}");
    }
    let long = "a".repeat(101);
    let (s, _) = body(app.get(&t, &format!("/contacts?name={long}")).await).await;
    assert_eq!(s, 400);
}

/// Over the record limit, a sync write says which job endpoint takes it.
async fn an_oversized_sync_write_names_the_job_endpoint(b: Backend) {
    let app = spawn_app_with(b, |s| s.max_sync_records = 3).await;
    let t = app.biller("1001", ALL).await;
    let four: Vec<Value> = (0..4).map(|i| contact(&format!("500{i}"), "Ann Lee")).collect();
    for (path, job) in [("/contacts/add", "/contacts/job/add"), ("/contacts/replace", "/contacts/job/replace")] {
        let (s, v) = body(app.post(&t, path, &json!(four)).await).await;
        assert_eq!(s, 413, "{v}");
        assert!(v["detail"].as_str().unwrap().contains(&format!("/v1/billers/1001{job}")), "{v}");
    }
    assert!(app.all_contacts(&t).await.is_empty());
}

crate::both_stores!(
    every_kind_of_change_is_in_the_history,
    a_jobs_new_contacts_show_their_job,
    a_snapshot_restore_is_in_the_history,
    settings_changes_are_weighed_against_stored_contacts,
    lists_filter_by_each_key,
    an_oversized_sync_write_names_the_job_endpoint,
);

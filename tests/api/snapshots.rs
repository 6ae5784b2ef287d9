//! Replace snapshots: taken before a replace changes anything, listed,
//! downloaded as they were, restored as a guarded replace job, and pruned.

use crate::helpers::*;
use crate::jobs::{job, json_list, submit};
use contactd::store::Scope;
use reqwest::Method;
use serde_json::{Value, json};

fn rich(acct: &str, name: &str, tags: &[String]) -> Value {
    let mut c = contact(acct, name);
    let extra = json!({
        "email": format!("{acct}@example.com"),
        "phones": [{"kind": "mobile", "number": "+61412345678", "country": "AU"}],
        "address": {"line1": "1 \"Quoted\" St, Unit 2", "city": "Sydney", "postcode": "2000", "country": "AU"},
        "date_of_birth": "1980-02-29",
        "tags": tags,
        "notes": {"source": "import, line 1"},
        "fields": {"contact-id-1": acct, "contact-id-2": format!("Auth {name}"), "paperless": true}
    });
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

async fn snapshots(app: &TestApp, t: &Tenant) -> Vec<Value> {
    let (s, v) = body(app.get(t, "/snapshots").await).await;
    assert_eq!(s, 200, "{v}");
    v["data"].as_array().unwrap().clone()
}

/// Contacts as a replace would send them back: what matters to a restore.
fn content(all: &std::collections::BTreeMap<String, Value>) -> Vec<Value> {
    all.values()
        .map(|c| {
            let mut c = c.clone();
            // A contact that comes back is new, made by the restore job.
            for k in ["id", "version", "created_at", "updated_at", "job_id"] {
                c.as_object_mut().unwrap().remove(k);
            }
            c
        })
        .collect()
}

async fn sync_replace_keeps_a_snapshot_and_restore_brings_it_back(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let tags = [app.tag(&t, "vip").await, app.tag(&t, "paper").await];
    let before: Vec<Value> = (1..=4).map(|i| rich(&format!("{i:04}"), &format!("Person {i}"), &tags)).collect();
    assert_eq!(app.post(&t, "/contacts/add", &json!(before)).await.status(), 200);
    assert!(snapshots(&app, &t).await.is_empty(), "an add takes no snapshot");
    let original = app.all_contacts(&t).await;

    // Replace: 0001 changes, 0002 goes (1 of 4, within the guard), 0005 comes.
    let next = json!([
        contact("0001", "Renamed"),
        rich("0003", "Person 3", &tags),
        rich("0004", "Person 4", &tags),
        contact("0005", "New")
    ]);
    let (s, v) = body(app.post(&t, "/contacts/replace", &next).await).await;
    assert_eq!(s, 200, "{v}");
    let list = snapshots(&app, &t).await;
    assert_eq!(list.len(), 1);
    let snap = &list[0];
    assert_eq!(
        (snap["contacts"].as_u64(), &snap["job_id"], snap["biller_code"].as_str()),
        (Some(4), &Value::Null, Some("1001"))
    );
    let id = snap["snapshot_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("snap_"));
    let (s, one) = body(app.get(&t, &format!("/snapshots/{id}")).await).await;
    assert_eq!((s, &one), (200, snap));

    // The JSON download is the contacts exactly as they were: ids, versions, times.
    let res = app.get(&t, &format!("/snapshots/{id}/contacts")).await;
    assert_eq!(res.headers()["content-type"], "application/json");
    let (s, kept) = body(res).await;
    assert_eq!(s, 200);
    assert_eq!(kept.as_array().unwrap(), &original.values().cloned().collect::<Vec<_>>());
    let res = app.get(&t, &format!("/snapshots/{id}/contacts?format=ndjson")).await;
    let lines: Vec<Value> = res.text().await.unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines, original.values().cloned().collect::<Vec<_>>());
    let res = app.get(&t, &format!("/snapshots/{id}/contacts?format=csv")).await;
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = res.text().await.unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert!(rows[0].starts_with("account_number,name,"), "{csv}");
    assert!(rows[1].starts_with("0001,Person 1,") && rows[2].starts_with("0002,Person 2,"), "{csv}");
    assert!(csv.contains("\"1 \"\"Quoted\"\" St, Unit 2\""), "quotes survive: {csv}");
    assert_eq!(rows.last(), Some(&"TRAILER,4"));

    // Restore: a replace job back to the four; 0005 goes, 0002 comes back.
    let res =
        app.request(Method::POST, &format!("/v1/billers/1001/snapshots/{id}/restore"), &t.token).send().await.unwrap();
    let location = res.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
    let (s, v) = body(res).await;
    assert_eq!((s, v["status"].as_str()), (202, Some("queued")), "{v}");
    let job_id = v["job_id"].as_str().unwrap().to_owned();
    assert_eq!(location, Some(format!("/v1/billers/1001/jobs/{job_id}")));
    assert!(app.worker.run_once().await.unwrap());
    let done = job(&app, &t, &job_id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        (
            done["kind"].as_str(),
            done["total"].as_u64(),
            done["created"].as_u64(),
            done["updated"].as_u64(),
            done["removed"].as_u64()
        ),
        (Some("replace"), Some(4), Some(1), Some(1), Some(1))
    );
    let restored = app.all_contacts(&t).await;
    assert_eq!(content(&restored), content(&original));
    assert_eq!(restored["0003"]["id"], original["0003"]["id"], "an untouched contact keeps its id");

    // The restore is a replace too: it kept what it replaced.
    let list = snapshots(&app, &t).await;
    assert_eq!(list.len(), 2);
    assert_eq!((list[0]["job_id"].as_str(), list[0]["contacts"].as_u64()), (Some(job_id.as_str()), Some(4)));
    assert_eq!(list[1]["snapshot_id"], id.as_str(), "newest first");
}

async fn retention_and_replaces_that_take_none(b: Backend) {
    let app = spawn_app_with(b, |s| s.snapshot_retention = 2).await;
    let t = app.biller("1001", ALL).await;
    let mut ids = Vec::new();
    for round in 1..=3 {
        let list: Vec<Value> = (1..=4).map(|i| contact(&format!("{i:04}"), &format!("Round {round} {i}"))).collect();
        let (s, v, _) = submit(&app, &t, "replace", "", "application/json", json_list(&list)).await;
        assert_eq!(s, 202, "{v}");
        app.worker.run_once().await.unwrap();
        let id = v["job_id"].as_str().unwrap().to_owned();
        assert_eq!(job(&app, &t, &id).await["status"], "completed");
        ids.push(id);
    }
    let list = snapshots(&app, &t).await;
    let taken_by: Vec<&str> = list.iter().map(|s| s["job_id"].as_str().unwrap()).collect();
    assert_eq!(taken_by, [ids[2].as_str(), ids[1].as_str()], "the newest two are kept");
    assert_eq!((list[0]["contacts"].as_u64(), list[1]["contacts"].as_u64()), (Some(4), Some(4)));
    let (_, first) = body(app.get(&t, "/snapshots?limit=1").await).await;
    assert_eq!(first["data"], json!([list[0]]));
    let (_, second) =
        body(app.get(&t, &format!("/snapshots?limit=1&cursor={}", first["next_cursor"].as_str().unwrap())).await).await;
    assert_eq!((&second["data"], &second["next_cursor"]), (&json!([list[1]]), &Value::Null));

    // The same set again changes nothing: no snapshot. Nor does a dry run, nor a refused replace.
    let same: Vec<Value> = (1..=4).map(|i| contact(&format!("{i:04}"), &format!("Round 3 {i}"))).collect();
    let (_, v, _) = submit(&app, &t, "replace", "", "application/json", json_list(&same)).await;
    app.worker.run_once().await.unwrap();
    assert_eq!(job(&app, &t, v["job_id"].as_str().unwrap()).await["unchanged"], 4);
    let (_, v, _) = submit(&app, &t, "replace", "?dry_run=true", "application/json", json_list(&same[..1])).await;
    app.worker.run_once().await.unwrap();
    assert_eq!(job(&app, &t, v["job_id"].as_str().unwrap()).await["status"], "completed");
    let (s, _) = body(app.post(&t, "/contacts/replace", &json!(same[..1])).await).await;
    assert_eq!(s, 409, "the guard refuses removing 3 of 4");
    let mut bad = same.clone();
    bad[0]["name"] = json!("");
    let (s, _) = body(app.post(&t, "/contacts/replace", &json!(bad)).await).await;
    assert_eq!(s, 422);
    assert_eq!(snapshots(&app, &t).await, list);
}

async fn restore_is_guarded_and_snapshots_are_private(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let other = app.biller("2002", ALL).await;
    let reader = app.tenant_key(&["1001"], &[Scope::ContactsRead]).await;
    app.post(&t, "/contacts/add", &json!([contact("0001", "A")])).await;
    let many: Vec<Value> = (1..=8).map(|i| contact(&format!("{i:04}"), "B")).collect();
    assert_eq!(app.post(&t, "/contacts/replace", &json!(many)).await.status(), 200);
    let id = snapshots(&app, &t).await[0]["snapshot_id"].as_str().unwrap().to_owned();

    // Another tenant, a malformed id, a bad format, a bad query: refused, nothing queued.
    for (who, path) in [
        (&other, format!("/v1/billers/2002/snapshots/{id}")),
        (&other, format!("/v1/billers/1001/snapshots/{id}")),
        (&t, "/v1/billers/1001/snapshots/snap_nope".to_owned()),
        (&t, "/v1/billers/1001/snapshots/..%2F..%2Fetc".to_owned()),
    ] {
        let (s, v) = body(app.request(Method::GET, &path, &who.token).send().await.unwrap()).await;
        assert_eq!(s, 404, "{path}: {v}");
        let (s, _) =
            body(app.request(Method::POST, &format!("{path}/restore"), &who.token).send().await.unwrap()).await;
        assert_eq!(s, 404, "{path}");
    }
    let (s, v) = body(app.get(&t, &format!("/snapshots/{id}/contacts?format=xml")).await).await;
    assert_eq!((s, v["code"].as_str()), (400, Some("invalid_query")));
    let (s, _) = body(app.get(&t, "/snapshots?limit=0").await).await;
    assert_eq!(s, 400);
    let (s, _) = body(app.post(&t, &format!("/snapshots/{id}/restore?confirm_removals=x"), &json!(null)).await).await;
    assert_eq!(s, 400);
    // Reading needs contacts:read; restoring needs contacts:replace.
    assert_eq!(app.get(&reader, "/snapshots").await.status(), 200);
    let (s, v) = body(app.post(&reader, &format!("/snapshots/{id}/restore"), &json!(null)).await).await;
    assert_eq!((s, v["code"].as_str()), (403, Some("insufficient_scope")));
    assert!(!app.worker.run_once().await.unwrap(), "nothing was queued");

    // Back to one contact would remove 7 of 8: the guard fails the job, nothing changes.
    let (_, v) = body(app.post(&t, &format!("/snapshots/{id}/restore"), &json!(null)).await).await;
    app.worker.run_once().await.unwrap();
    let refused = job(&app, &t, v["job_id"].as_str().unwrap()).await;
    assert_eq!(refused["status"], "failed", "{refused}");
    assert!(refused["error"].as_str().unwrap().contains("confirm_removals"), "{refused}");
    assert_eq!(app.all_contacts(&t).await.len(), 8);
    // A dry run says what it would do; confirmed, it applies.
    let (_, v) = body(app.post(&t, &format!("/snapshots/{id}/restore?dry_run=true"), &json!(null)).await).await;
    app.worker.run_once().await.unwrap();
    let dry = job(&app, &t, v["job_id"].as_str().unwrap()).await;
    assert_eq!(
        (dry["status"].as_str(), dry["removed"].as_u64(), dry["dry_run"].as_bool()),
        (Some("completed"), Some(7), Some(true))
    );
    assert_eq!(app.all_contacts(&t).await.len(), 8);
    let (_, v) = body(app.post(&t, &format!("/snapshots/{id}/restore?confirm_removals=7"), &json!(null)).await).await;
    app.worker.run_once().await.unwrap();
    assert_eq!(job(&app, &t, v["job_id"].as_str().unwrap()).await["status"], "completed");
    let now = app.all_contacts(&t).await;
    assert_eq!((now.len(), now["0001"]["name"].as_str()), (1, Some("A")));
}

/// Snapshots are stored packed (PostgreSQL: a thousand contacts to a row, a
/// row cut short past 4 MiB of text): a download reads across rows and a
/// restore brings every contact back, by count and by size.
async fn a_snapshot_over_several_stored_rows_reads_back_whole(b: Backend) {
    let app = spawn_app(b).await;
    // By count: 2,500 contacts, three rows, download pages of 1,000.
    let t = app.biller("1001", ALL).await;
    let many: Vec<Value> = (1..=2500).map(|i| contact(&format!("{i:05}"), &format!("Person {i}"))).collect();
    assert_eq!(app.post(&t, "/contacts/add", &json!(many)).await.status(), 200);
    let original = app.all_contacts(&t).await;
    let mut next = many.clone();
    next[1200]["name"] = json!("Renamed");
    assert_eq!(app.post(&t, "/contacts/replace", &json!(next)).await.status(), 200);
    let id = snapshots(&app, &t).await[0]["snapshot_id"].as_str().unwrap().to_owned();
    let (s, kept) = body(app.get(&t, &format!("/snapshots/{id}/contacts")).await).await;
    assert_eq!(s, 200);
    assert_eq!(kept.as_array().unwrap(), &original.values().cloned().collect::<Vec<_>>());
    let csv = app.get(&t, &format!("/snapshots/{id}/contacts?format=csv")).await.text().await.unwrap();
    assert_eq!((csv.lines().count(), csv.lines().last()), (2502, Some("TRAILER,2500")));

    // By size: 1,100 contacts of 10 KB, rows of about 400 (4 MiB), so the
    // second download page starts inside a stored row.
    let big = app.service.create_biller("2002", "Big Pty Ltd").await.unwrap();
    let fields: Vec<Value> =
        (0..10).map(|i| json!({"key": format!("f{i}"), "label": format!("F{i}"), "kind": "text"})).collect();
    app.service
        .set_field_settings(&big.code, serde_json::from_value(json!({"fields": fields})).unwrap())
        .await
        .unwrap();
    let t = app.tenant_key(&["2002"], ALL).await;
    let wide = |i: usize, name: &str| {
        let fields: serde_json::Map<String, Value> =
            (0..10).map(|f| (format!("f{f}"), json!(format!("{i:04}{}", "x".repeat(1000))))).collect();
        json!({"account_number": format!("{i:04}"), "name": name, "fields": fields})
    };
    let list: Vec<Value> = (1..=1100).map(|i| wide(i, "Wide")).collect();
    assert_eq!(app.post(&t, "/contacts/add", &json!(list)).await.status(), 200);
    let original = app.all_contacts(&t).await;
    let renamed: Vec<Value> = (1..=1100).map(|i| wide(i, "Renamed")).collect();
    let (s, v) = body(app.post(&t, "/contacts/replace", &json!(renamed)).await).await;
    assert_eq!(s, 200, "{v}");
    let id = snapshots(&app, &t).await[0]["snapshot_id"].as_str().unwrap().to_owned();
    let (_, kept) = body(app.get(&t, &format!("/snapshots/{id}/contacts")).await).await;
    assert_eq!(kept.as_array().unwrap(), &original.values().cloned().collect::<Vec<_>>());
    let res = app.get(&t, &format!("/snapshots/{id}/contacts?format=ndjson")).await;
    assert_eq!(res.text().await.unwrap().lines().count(), 1100);
    let (s, v) = body(app.post(&t, &format!("/snapshots/{id}/restore"), &json!(null)).await).await;
    assert_eq!(s, 202, "{v}");
    app.worker.run_once().await.unwrap();
    let done = job(&app, &t, v["job_id"].as_str().unwrap()).await;
    assert_eq!((done["status"].as_str(), done["updated"].as_u64()), (Some("completed"), Some(1100)), "{done}");
    assert_eq!(content(&app.all_contacts(&t).await), content(&original));
}

crate::both_stores!(
    sync_replace_keeps_a_snapshot_and_restore_brings_it_back,
    retention_and_replaces_that_take_none,
    restore_is_guarded_and_snapshots_are_private,
    a_snapshot_over_several_stored_rows_reads_back_whole,
);

/// PostgreSQL copies a replace's snapshot on a connection of its own: a copy
/// whose replace does not write (nothing changes, a refused replace) rolls
/// back, and one a replace that died left unlisted is swept, but not while
/// its biller is being replaced (its copy may be about to be listed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_snapshot_copies_no_replace_lists_are_dropped() {
    let app = spawn_app(Backend::Postgres).await;
    let t = app.biller("1001", ALL).await;
    let other = app.biller("2002", ALL).await;
    let four: Vec<Value> = (1..=4).map(|i| contact(&format!("{i:04}"), "First")).collect();
    for tenant in [&t, &other] {
        assert_eq!(app.post(tenant, "/contacts/add", &json!(four)).await.status(), 200);
        let (s, v) = body(app.post(tenant, "/contacts/replace", &json!(four[..3])).await).await;
        assert_eq!(s, 200, "{v}");
    }
    let (db, conn) = tokio_postgres::connect(&app.db.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let rows = |code: &'static str| {
        let db = &db;
        async move {
            let r = db
                .query_one(
                    "SELECT count(*), count(*) FILTER (WHERE s.seq IS NULL) FROM snapshot_rows r
                     JOIN billers b ON b.id = r.biller_id LEFT JOIN snapshots s ON s.seq = r.snapshot_seq
                     WHERE b.code = $1",
                    &[&code],
                )
                .await
                .unwrap();
            (r.get::<_, i64>(0), r.get::<_, i64>(1))
        }
    };
    assert_eq!(rows("1001").await, (1, 0));

    let (s, v) = body(app.post(&t, "/contacts/replace", &json!(four[..3])).await).await;
    assert_eq!((s, v["unchanged"].as_u64()), (200, Some(3)), "{v}");
    let (s, _) = body(app.post(&t, "/contacts/replace", &json!(four[..1])).await).await;
    assert_eq!(s, 409, "the guard refuses removing 2 of 3");
    assert_eq!(rows("1001").await, (1, 0), "neither kept its copy");

    // A copy no snapshot lists, in each biller, as a replace that died would leave.
    db.batch_execute(
        "INSERT INTO snapshot_rows (biller_id, snapshot_seq, last_number, contacts)
         SELECT biller_id, snapshot_seq + 1000, last_number, contacts FROM snapshot_rows",
    )
    .await
    .unwrap();
    assert_eq!((rows("1001").await, rows("2002").await), ((2, 1), (2, 1)));
    let (replacing, conn) = tokio_postgres::connect(&app.db.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    replacing.batch_execute("BEGIN; SELECT 1 FROM billers WHERE code = '2002' FOR UPDATE").await.unwrap();
    let store = &app.store;
    assert_eq!(store.purge_finished_work().await.unwrap(), 1);
    assert_eq!((rows("1001").await, rows("2002").await), ((1, 0), (2, 1)), "2002 is being replaced");
    replacing.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(store.purge_finished_work().await.unwrap(), 1);
    assert_eq!(rows("2002").await, (1, 0));
    assert_eq!(snapshots(&app, &t).await.len(), 1);
}

/// PostgreSQL: replaces of several billers at once, more than copy their
/// snapshots beside them (the rest copy inside), each keep their own set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replaces_at_once_each_snapshot_their_own_contacts() {
    let app = spawn_app(Backend::Postgres).await;
    let mut tenants = Vec::new();
    for b in 0..8 {
        let t = app.biller(&format!("{}", 3000 + b), ALL).await;
        let list: Vec<Value> = (0..300).map(|i| contact(&format!("{i:05}"), &format!("Biller {b} first"))).collect();
        assert_eq!(app.post(&t, "/contacts/add", &json!(list)).await.status(), 200);
        tenants.push(t);
    }
    let app = &app;
    let replaced = futures_util::future::join_all(tenants.iter().enumerate().map(|(b, t)| {
        let list: Vec<Value> = (0..300).map(|i| contact(&format!("{i:05}"), &format!("Biller {b} second"))).collect();
        async move { body(app.post(t, "/contacts/replace", &json!(list)).await).await }
    }))
    .await;
    for (b, (t, (s, v))) in tenants.iter().zip(replaced).enumerate() {
        assert_eq!((s, v["updated"].as_u64()), (200, Some(300)), "{v}");
        let list = snapshots(app, t).await;
        assert_eq!((list.len(), list[0]["contacts"].as_u64()), (1, Some(300)));
        let (_, kept) =
            body(app.get(t, &format!("/snapshots/{}/contacts", list[0]["snapshot_id"].as_str().unwrap())).await).await;
        let names: Vec<&str> = kept.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, vec![format!("Biller {b} first"); 300]);
    }
}

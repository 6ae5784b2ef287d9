//! A database an older contactd left upgrades in place: the migrations run
//! over real data, and what was stored works afterwards. The older schema is
//! the one from before uploads were packed into rows (SQLite 5, PostgreSQL
//! 7), so the move of a queued job's records is exercised too.

use crate::helpers::*;
use crate::jobs::job;
use reqwest::Method;
use serde_json::Value;

const SQLITE_OLD: &[&str] = &[
    include_str!("../../src/store/sqlite/0001_init.sql"),
    include_str!("../../src/store/sqlite/0002_jobs.sql"),
    include_str!("../../src/store/sqlite/0003_idempotency.sql"),
    include_str!("../../src/store/sqlite/0004_snapshots.sql"),
    include_str!("../../src/store/sqlite/0005_staging_keys.sql"),
];

const POSTGRES_OLD: &[&str] = &[
    include_str!("../../src/store/postgres/0001_init.sql"),
    include_str!("../../src/store/postgres/0002_jobs.sql"),
    include_str!("../../src/store/postgres/0003_idempotency.sql"),
    include_str!("../../src/store/postgres/0004_snapshots.sql"),
    include_str!("../../src/store/postgres/0005_staging_without_key_check.sql"),
    include_str!("../../src/store/postgres/0006_staging_keys.sql"),
    include_str!("../../src/store/postgres/0007_bulk_tables.sql"),
];

/// Biller 1001 with one contact (0001, stored as the encoder wrote it then),
/// an add job, queued, whose two records rename 0001 and add 0002, and a
/// replace snapshot of two contacts taken at `at`.
fn old_data(settings: &str, now: &str, yes: &str, at: &str) -> String {
    let biller = "(SELECT id FROM billers WHERE code = '1001')";
    let records: Vec<String> = [("0001", "Renamed", 0), ("0002", "Added", 1)]
        .iter()
        .map(|(a, n, i)| {
            let body = contact(a, n).to_string().replace('\'', "''");
            format!(
                "({biller}, (SELECT seq FROM jobs WHERE id = 'job_OldUpgrade0001'), {i}, {line}, '{body}')",
                line = i + 1
            )
        })
        .collect();
    format!(
        "INSERT INTO billers (code, name, settings, created_at) VALUES ('1001', 'Old Biller', '{settings}', {now});
         INSERT INTO contacts (biller_id, id, account_number, name_folded, contact_type, active, doc, fingerprint,
             version, created_at, updated_at)
         VALUES ({biller}, 'cont_0ldC0ntact0001', '0001', 'a', NULL, {yes}, '{{\"active\":true,\"name\":\"A\"}}',
             -2252214534646587854, 1, {now}, {now});
         INSERT INTO jobs (biller_id, id, kind, status, on_error, dry_run, total, created_at, queue_order)
         VALUES ({biller}, 'job_OldUpgrade0001', 'add', 'queued', 'reject', NOT {yes}, 2, {now}, 1);
         INSERT INTO job_records (biller_id, job_seq, idx, line, body) VALUES {};
         INSERT INTO snapshots (biller_id, id, job_id, contacts, created_at)
         VALUES ({biller}, 'snap_OldSnapshot001', NULL, 2, {now});
         INSERT INTO snapshot_contacts (biller_id, snapshot_seq, account_number, id, doc, version, created_at, updated_at)
         SELECT {biller}, (SELECT seq FROM snapshots WHERE id = 'snap_OldSnapshot001'), a, i, d, 3, {at}, {at}
         FROM (SELECT '0009' AS a, 'cont_0ldSnapsh0t009' AS i, '{{\"active\":true,\"name\":\"Nine\"}}' AS d
               UNION ALL SELECT '0008', 'cont_0ldSnapsh0t008', '{{\"active\":false,\"name\":\"Eight\"}}') s;",
        records.join(", ")
    )
}

async fn an_old_database_upgrades_with_its_data(b: Backend) {
    let db = TestDb::new(b).await;
    let settings = serde_json::to_string(&payreq_settings()).unwrap();
    match b {
        Backend::Sqlite => {
            let path = db.url.strip_prefix("sqlite://").unwrap().to_owned();
            let c = rusqlite::Connection::open(path).unwrap();
            for sql in SQLITE_OLD {
                c.execute_batch(sql).unwrap();
            }
            c.execute_batch(&format!("PRAGMA user_version = {}", SQLITE_OLD.len())).unwrap();
            c.execute_batch(&old_data(&settings, "0", "1", "1709201472345678")).unwrap();
        }
        Backend::Postgres => {
            let (c, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(conn);
            for sql in POSTGRES_OLD {
                c.batch_execute(sql).await.unwrap();
            }
            c.batch_execute(&format!(
                "CREATE TABLE schema_migrations (version INT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
                 INSERT INTO schema_migrations (version) SELECT generate_series(1, {});",
                POSTGRES_OLD.len()
            ))
            .await
            .unwrap();
            c.batch_execute(&old_data(&settings, "now()", "true", "'2024-02-29T10:11:12.345678Z'::timestamptz"))
                .await
                .unwrap();
        }
    }

    // This version's server migrates the database as it starts.
    let app = spawn_app_on(db, |_| {}).await;
    let t = app.tenant_key(&["1001"], ALL).await;
    let before = app.all_contacts(&t).await;
    assert_eq!((before.len(), before["0001"]["name"].as_str()), (1, Some("A")), "{before:?}");
    assert_eq!(before["0001"]["id"], "cont_0ldC0ntact0001");

    // The job queued before the upgrade runs from its records, moved into rows.
    assert!(app.worker.run_once().await.unwrap());
    let j = job(&app, &t, "job_OldUpgrade0001").await;
    assert_eq!(
        (j["status"].as_str(), j["created"].as_u64(), j["updated"].as_u64()),
        (Some("completed"), Some(1), Some(1)),
        "{j}"
    );
    let after = app.all_contacts(&t).await;
    let names: Vec<(&str, &str, u64)> = after
        .values()
        .map(|c| (c["account_number"].as_str().unwrap(), c["name"].as_str().unwrap(), c["version"].as_u64().unwrap()))
        .collect();
    assert_eq!(names, [("0001", "Renamed", 2), ("0002", "Added", 1)]);
    assert_eq!(after["0001"]["id"], "cont_0ldC0ntact0001", "an upgraded contact keeps its id");

    // New work on the upgraded database: a replace job, with its snapshot.
    let list = serde_json::to_string(&[contact("0002", "Added"), contact("0003", "New")]).unwrap();
    let (s, v, _) = crate::jobs::submit(&app, &t, "replace", "?confirm_removals=1", "application/json", list).await;
    assert_eq!(s, 202, "{v}");
    app.worker.run_once().await.unwrap();
    let j = job(&app, &t, v["job_id"].as_str().unwrap()).await;
    assert_eq!((j["status"].as_str(), j["removed"].as_u64()), (Some("completed"), Some(1)), "{j}");
    let (_, snaps) = body(app.get(&t, "/snapshots").await).await;
    assert_eq!(snaps["data"][0]["contacts"], Value::from(2), "{snaps}");

    // The snapshot taken before the upgrade reads back as it was.
    assert_eq!(snaps["data"][1]["snapshot_id"], "snap_OldSnapshot001", "{snaps}");
    let (s, kept) = body(app.get(&t, "/snapshots/snap_OldSnapshot001/contacts").await).await;
    assert_eq!(s, 200, "{kept}");
    let kept: Vec<(&str, &str, &str, u64, bool, &str)> = kept
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let text = |k: &str| c[k].as_str().unwrap();
            (
                text("account_number"),
                text("id"),
                text("name"),
                c["version"].as_u64().unwrap(),
                c["active"].as_bool().unwrap(),
                text("updated_at"),
            )
        })
        .collect();
    assert_eq!(
        kept,
        [
            ("0008", "cont_0ldSnapsh0t008", "Eight", 3, false, "2024-02-29T10:11:12.345678Z"),
            ("0009", "cont_0ldSnapsh0t009", "Nine", 3, true, "2024-02-29T10:11:12.345678Z")
        ]
    );

    // And restores from it: a replace job of its two contacts, in order, which
    // the biller's settings since then (the Payreq ones) find incomplete.
    let path = "/v1/billers/1001/snapshots/snap_OldSnapshot001/restore?confirm_removals=2";
    let (s, v) = body(app.request(Method::POST, path, &t.token).send().await.unwrap()).await;
    assert_eq!(s, 202, "{v}");
    app.worker.run_once().await.unwrap();
    let id = v["job_id"].as_str().unwrap();
    let j = job(&app, &t, id).await;
    assert_eq!((j["status"].as_str(), j["total"].as_u64(), j["failed"].as_u64()), (Some("failed"), Some(2), Some(2)));
    let (_, errs) = body(app.get(&t, &format!("/jobs/{id}/errors")).await).await;
    let mut at: Vec<(u64, u64, &str)> = errs["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["index"].as_u64().unwrap(), e["line"].as_u64().unwrap(), e["account_number"].as_str().unwrap()))
        .collect();
    at.dedup();
    assert_eq!(at, [(0, 2, "0008"), (1, 3, "0009")], "{errs}");
}

crate::both_stores!(an_old_database_upgrades_with_its_data);

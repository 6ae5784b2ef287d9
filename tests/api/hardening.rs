//! What a hostile client found: job cancel scope, every route's scope,
//! lists past their limits, jobs of one biller holding another's, CSV
//! formula cells, counts past what a store keeps, stalled bodies and
//! half-open connections, and what a client-caused job failure logs.

use crate::helpers::*;
use contactd::store::Scope;
use reqwest::Method;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

async fn submit(app: &TestApp, t: &Tenant, kind: &str, content_type: &str, body: String) -> String {
    let res = app
        .request(Method::POST, &format!("/v1/billers/{}/contacts/job/{kind}", t.code), &t.token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let (s, v) = crate::helpers::body(res).await;
    assert_eq!(s, 202, "{v}");
    v["job_id"].as_str().unwrap().to_owned()
}

async fn job(app: &TestApp, t: &Tenant, id: &str) -> Value {
    crate::helpers::body(app.get(t, &format!("/jobs/{id}")).await).await.1
}

/// Each route and the one scope it needs: the README's table, route by route.
/// A key with every other scope gets 403 and changes nothing; a key with
/// that scope alone gets through.
async fn every_route_needs_its_scope(b: Backend) {
    let app = spawn_app(b).await;
    let full = app.biller("1001", ALL).await;
    let list = json!([contact("1234", "Sam Smith"), contact("5678", "Jo Citizen")]);
    assert_eq!(app.post(&full, "/contacts/add", &list).await.status(), 200);
    let replaced =
        app.post(&full, "/contacts/replace?confirm_removals=1", &json!([contact("1234", "Sam Smith")])).await;
    assert_eq!(replaced.status(), 200);
    let (_, snaps) = body(app.get(&full, "/snapshots").await).await;
    let snap = snaps["data"][0]["snapshot_id"].as_str().unwrap().to_owned();
    let (_, sam) = body(app.get(&full, "/contacts/acct:1234").await).await;
    let id = sam["id"].as_str().unwrap().to_owned();
    let records = serde_json::to_string(&json!([contact("9999", "Job Person")])).unwrap();
    let add_job = submit(&app, &full, "add", "application/json", records.clone()).await;
    let replace_job = submit(&app, &full, "replace", "application/json", records.clone()).await;
    let (_, held) = body(app.post(&full, "/contacts", &contact("2468", "Held Person")).await).await;
    let held = held["id"].as_str().unwrap().to_owned();
    let (_, hold) =
        body(app.post(&full, &format!("/contacts/{held}/holds"), &json!({"kind": "direct_debit"})).await).await;
    let hold = hold["hold_id"].as_str().unwrap().to_owned();
    let old_tag = app.tag(&full, "Old").await;

    use Scope::*;
    let settings = serde_json::to_value(payreq_settings()).unwrap();
    let routes: Vec<(Method, String, Option<Value>, Scope)> = vec![
        (Method::GET, "/field-settings".into(), None, ContactsRead),
        (Method::PUT, "/field-settings".into(), Some(settings), Admin),
        (Method::GET, "/contacts".into(), None, ContactsRead),
        (Method::POST, "/contacts".into(), Some(contact("4321", "New Person")), ContactsWrite),
        (Method::POST, "/contacts/add".into(), Some(json!([contact("1234", "Sam Smith")])), ContactsWrite),
        (
            Method::POST,
            "/contacts/replace".into(),
            Some(json!([contact("1234", "Sam Smith"), contact("4321", "New Person"), contact("2468", "Held Person")])),
            ContactsReplace,
        ),
        (Method::GET, format!("/contacts/{id}"), None, ContactsRead),
        (Method::POST, "/contacts/job/add".into(), Some(json!([contact("1234", "Sam Smith")])), ContactsWrite),
        (Method::POST, "/contacts/job/replace".into(), Some(json!([contact("1234", "Sam Smith")])), ContactsReplace),
        (Method::GET, "/jobs".into(), None, ContactsRead),
        (Method::GET, format!("/jobs/{add_job}"), None, ContactsRead),
        (Method::GET, format!("/jobs/{add_job}/errors"), None, ContactsRead),
        (Method::POST, format!("/jobs/{add_job}/cancel"), None, ContactsWrite),
        (Method::POST, format!("/jobs/{replace_job}/cancel"), None, ContactsReplace),
        (Method::GET, "/snapshots".into(), None, ContactsRead),
        (Method::GET, format!("/snapshots/{snap}"), None, ContactsRead),
        (Method::GET, format!("/snapshots/{snap}/contacts"), None, ContactsRead),
        (Method::POST, format!("/snapshots/{snap}/restore?dry_run=true"), None, ContactsReplace),
        (Method::GET, "/field-settings/versions".into(), None, Admin),
        (Method::GET, "/contact-types".into(), None, Admin),
        (Method::POST, "/contact-types".into(), Some(json!({"name": "partner"})), Admin),
        (Method::GET, "/tags".into(), None, Admin),
        (Method::POST, "/tags".into(), Some(json!({"name": "VIP"})), Admin),
        (Method::DELETE, format!("/tags/{old_tag}"), None, Admin),
        (Method::PATCH, format!("/contacts/{id}"), Some(json!({"email": "sam@example.com"})), ContactsWrite),
        (Method::POST, format!("/contacts/{id}/crn"), None, ContactsWrite),
        (Method::GET, format!("/contacts/{id}/history"), None, ContactsRead),
        (Method::GET, format!("/contacts/{held}/holds"), None, ContactsRead),
        (Method::POST, format!("/contacts/{held}/holds"), Some(json!({"kind": "pending_payment"})), ContactsWrite),
        (Method::DELETE, format!("/contacts/{held}/holds/{hold}"), None, ContactsWrite),
        (Method::DELETE, format!("/contacts/{id}"), None, ContactsWrite),
    ];
    let mut only = std::collections::HashMap::new();
    let mut without = std::collections::HashMap::new();
    for scope in ALL {
        only.insert(*scope, app.tenant_key(&["1001"], &[*scope]).await);
        let rest: Vec<Scope> = ALL.iter().copied().filter(|s| s != scope).collect();
        without.insert(*scope, app.tenant_key(&["1001"], &rest).await);
    }
    let send = |t: &Tenant, method: &Method, path: &str, body: &Option<Value>| {
        let mut req = app.request(method.clone(), &format!("/v1/billers/1001{path}"), &t.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send()
    };
    let before = app.all_contacts(&full).await;
    for (method, path, body, scope) in &routes {
        let (s, v) = crate::helpers::body(send(&without[scope], method, path, body).await.unwrap()).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (403, Some("insufficient_scope")),
            "{method} {path} without {}: {v}",
            scope.as_str()
        );
    }
    assert_eq!(app.all_contacts(&full).await, before, "no refused request changed a contact");
    for id in [&add_job, &replace_job] {
        assert_eq!(job(&app, &full, id).await["status"], "queued", "no refused request stopped a job");
    }
    let (_, jobs) = body(app.get(&full, "/jobs").await).await;
    assert_eq!(jobs["data"].as_array().unwrap().len(), 2, "no refused request submitted a job");
    for (method, path, body, scope) in &routes {
        let res = send(&only[scope], method, path, body).await.unwrap();
        assert!(res.status().is_success(), "{method} {path} with {} alone: {}", scope.as_str(), res.status());
    }
    for id in [&add_job, &replace_job] {
        assert_eq!(job(&app, &full, id).await["status"], "cancelled");
    }
}

/// A list past its limit is one `too_many` error, however long it is: the
/// validator stops there instead of comparing every item with the others.
async fn lists_stop_at_their_limits(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let with = |key: &str, value: Value| {
        let mut c = contact("1234", "Sam Smith");
        c[key] = value;
        json!([c])
    };
    let same_tag: Vec<&str> = vec!["a"; 100_000];
    let many_notes: serde_json::Map<String, Value> = (0..100_000).map(|i| (format!("k{i}"), json!("v"))).collect();
    let many_fields: serde_json::Map<String, Value> = (0..100_000).map(|i| (format!("f{i}"), json!("v"))).collect();
    let many_phones: Vec<Value> = (0..100_000).map(|_| json!({"number": "x"})).collect();
    for (key, value, field) in [
        ("tags", json!(same_tag), "tags"),
        ("tags", json!(vec!["t"; 33]), "tags"),
        ("notes", Value::Object(many_notes), "notes"),
        ("fields", Value::Object(many_fields), "fields"),
        ("phones", json!(many_phones), "phones"),
    ] {
        let (s, v) = body(app.post(&t, "/contacts/add", &with(key, value)).await).await;
        assert_eq!(s, 422, "{key}");
        assert_eq!(v["errors_total"], 1, "{key}: one error for the list, none per item: {}", v["errors"][0]);
        assert_eq!(
            (v["errors"][0]["field"].as_str(), v["errors"][0]["code"].as_str()),
            (Some(field), Some("too_many"))
        );
    }
    // A job of such records fails with one error each, too.
    let lines: Vec<String> = (0..3)
        .map(|i| {
            let mut c = contact(&format!("{i:04}"), "Sam Smith");
            c["tags"] = json!(vec!["a"; 100_000]);
            c.to_string()
        })
        .collect();
    let id = submit(&app, &t, "add", "application/x-ndjson", lines.join("\n")).await;
    assert!(app.worker.run_once().await.unwrap());
    let j = job(&app, &t, &id).await;
    assert_eq!((j["status"].as_str(), j["failed"].as_u64()), (Some("failed"), Some(3)), "{j}");
    let (_, errors) = body(app.get(&t, &format!("/jobs/{id}/errors")).await).await;
    assert_eq!(errors["data"].as_array().unwrap().len(), 3, "{errors}");
    assert!(app.all_contacts(&t).await.is_empty());
}

/// Two billers' large jobs take one worker; the other worker stays free, so
/// a third biller's small job, queued after both, runs before the second
/// large one starts. A biller's own jobs stay in their order.
async fn small_jobs_do_not_wait_for_other_billers_large_ones(b: Backend) {
    let app = spawn_app_with(b, |s| {
        s.workers = 2;
        s.large_job_records = 1_000;
    })
    .await;
    let a = app.biller("1001", ALL).await;
    let c = app.biller("3003", ALL).await;
    let small = app.biller("2002", ALL).await;
    let ndjson = |n: usize| {
        (0..n).map(|i| contact(&format!("{i:06}"), &format!("Person {i}")).to_string()).collect::<Vec<_>>().join("\n")
    };
    let first = submit(&app, &a, "add", "application/x-ndjson", ndjson(100_000)).await;
    let second = submit(&app, &c, "add", "application/x-ndjson", ndjson(100_000)).await;
    let quick = submit(&app, &small, "add", "application/x-ndjson", ndjson(1)).await;
    let started = Instant::now();
    loop {
        let q = job(&app, &small, &quick).await;
        if q["status"] == "completed" {
            let (f, s) = (job(&app, &a, &first).await, job(&app, &c, &second).await);
            assert_ne!(f["status"], "completed", "the test needs the first large job still running: {f}");
            assert_eq!(s["status"], "queued", "the second large job waits for the first, not the small one: {s}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the small job never ran: {q}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (t, id) in [(&a, &first), (&c, &second)] {
        let started = Instant::now();
        while job(&app, t, id).await["status"] != "completed" {
            assert!(started.elapsed() < Duration::from_secs(120), "{id} never completed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Cells a spreadsheet would run as formulas go out with a leading `'` in
/// every CSV contactd writes, and an export sent back restores the values.
async fn csv_formula_cells_are_neutralised_and_read_back(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let mut hostile = contact("0001", "=HYPERLINK(\"http://evil.example\",\"click\")");
    hostile["email"] = json!("a@example.com");
    hostile["phones"] = json!([{"kind": "mobile", "number": "+61400000000"}]);
    hostile["fields"]["address-1"] = json!("@SUM(A1:A9)");
    hostile["fields"]["contact-id-2"] = json!("'=already quoted");
    hostile["reference_id"] = json!("-5");
    let mut tabbed = contact("0002", "Plain Name");
    tabbed["fields"]["address-1"] = json!("-dash");
    tabbed["fields"]["contact-id-2"] = json!("'Tis");
    let list = json!([hostile, tabbed, contact("0003", "Removed Later")]);
    assert_eq!(app.post(&t, "/contacts/add", &list).await.status(), 200);
    let stored = app.all_contacts(&t).await;

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_contactd"))
        .args(["export", "--biller", "1001", "--format", "csv", "--database", &app.db.url])
        .env_remove("CONTACTD_DATABASE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv_text = String::from_utf8(out.stdout).unwrap();
    let cells: Vec<Vec<String>> = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(csv_text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    let risky = |c: &String| c.starts_with(['=', '+', '-', '@', '\t', '\r']);
    assert!(cells.iter().flatten().all(|c| !risky(c)), "no cell starts like a formula: {csv_text}");
    let row = cells.iter().find(|r| r[0] == "0001").unwrap();
    for want in
        ["'=HYPERLINK(\"http://evil.example\",\"click\")", "'+61400000000", "'-5", "'@SUM(A1:A9)", "''=already quoted"]
    {
        assert!(row.contains(&want.to_owned()), "{want} in {row:?}");
    }
    let row = cells.iter().find(|r| r[0] == "0002").unwrap();
    assert!(row.contains(&"'-dash".to_owned()) && row.contains(&"'Tis".to_owned()), "{row:?}");

    // The export sent back as a replace job is exactly the stored contacts.
    let id = submit(&app, &t, "replace", "text/csv", csv_text).await;
    assert!(app.worker.run_once().await.unwrap());
    let j = job(&app, &t, &id).await;
    assert_eq!((j["status"].as_str(), j["unchanged"].as_u64()), (Some("completed"), Some(3)), "{j}");
    assert_eq!(app.all_contacts(&t).await, stored);

    // A snapshot download and a job's error report are escaped alike.
    let replaced =
        app.post(&t, "/contacts/replace?confirm_removals=2", &json!([contact("0003", "Removed Later")])).await;
    assert_eq!(replaced.status(), 200);
    let (_, snaps) = body(app.get(&t, "/snapshots").await).await;
    let snap = snaps["data"][0]["snapshot_id"].as_str().unwrap();
    let download = app.get(&t, &format!("/snapshots/{snap}/contacts?format=csv")).await.text().await.unwrap();
    assert!(download.contains("'=HYPERLINK") && !download.contains(",=HYPERLINK"), "{download}");
    let bad = json!({"account_number": "=1+1", "name": "@Bad"}).to_string();
    let id = submit(&app, &t, "add", "application/x-ndjson", bad).await;
    assert!(app.worker.run_once().await.unwrap());
    let report = app.get(&t, &format!("/jobs/{id}/errors?format=csv")).await.text().await.unwrap();
    assert!(report.contains(",'=1+1,") && !report.contains(",=1+1,"), "{report}");
}

/// `confirm_removals` means one thing on every route: a count from 0 to the
/// largest a store keeps; anything else is a 400 naming it, and nothing runs.
async fn confirm_removals_is_a_count_on_every_route(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let list = json!([contact("1234", "Sam Smith"), contact("5678", "Jo Citizen")]);
    assert_eq!(app.post(&t, "/contacts/add", &list).await.status(), 200);
    assert_eq!(
        app.post(&t, "/contacts/replace?confirm_removals=1", &json!([contact("1234", "Sam Smith")])).await.status(),
        200
    );
    let (_, snaps) = body(app.get(&t, "/snapshots").await).await;
    let snap = snaps["data"][0]["snapshot_id"].as_str().unwrap().to_owned();
    for value in ["9223372036854775808", "18446744073709551615", "18446744073709551616", "-1", "1.5", "+1", "lots", ""]
    {
        for path in [
            format!("/contacts/replace?confirm_removals={value}"),
            format!("/contacts/job/replace?confirm_removals={value}"),
            format!("/snapshots/{snap}/restore?confirm_removals={value}"),
        ] {
            let res = app
                .request(Method::POST, &format!("/v1/billers/1001{path}"), &t.token)
                .json(&json!([contact("1234", "Sam Smith")]))
                .send()
                .await
                .unwrap();
            let (s, v) = body(res).await;
            assert_eq!((s, v["code"].as_str()), (400, Some("invalid_query")), "{path}: {v}");
            assert!(v["detail"].as_str().unwrap().contains("confirm_removals"), "{path}: {v}");
        }
    }
    let (_, jobs) = body(app.get(&t, "/jobs").await).await;
    assert!(jobs["data"].as_array().unwrap().is_empty(), "no job was accepted: {jobs}");
    // The largest count itself is a count: the replace runs and is refused by the guard as a mismatch.
    let res =
        app.post(&t, "/contacts/replace?confirm_removals=9223372036854775807", &json!([contact("5678", "Jo")])).await;
    assert_eq!(body(res).await.1["code"], "removal_count_mismatch");
    let id = submit(
        &app,
        &t,
        "replace?confirm_removals=9223372036854775807",
        "application/json",
        json!([contact("5678", "Jo")]).to_string(),
    )
    .await;
    assert!(app.worker.run_once().await.unwrap());
    let j = job(&app, &t, &id).await;
    assert_eq!(j["status"], "failed");
    assert!(j["error"].as_str().unwrap().contains("confirm_removals=9223372036854775807"), "{j}");
    // Other query errors name their parameter too.
    let (s, v) = body(app.get(&t, "/contacts?limit=abc").await).await;
    assert_eq!(s, 400);
    assert!(v["detail"].as_str().unwrap().contains("limit"), "{v}");
    let (_, v) = body(app.get(&t, "/contacts?nope=1").await).await;
    assert!(v["detail"].as_str().unwrap().contains("unknown query parameter `nope`"), "{v}");
}

/// Sends `head` on a raw connection and returns what the server answers, up
/// to when it closes the connection (or `wait` passes).
fn raw_exchange(app: &TestApp, head: &str, wait: Duration) -> (String, Duration) {
    let mut s = TcpStream::connect(app.addr).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            // Closed without reading what was sent: the peer sees a reset.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "the server kept the connection open for {:?}: {e}; got {:?}",
                started.elapsed(),
                String::from_utf8_lossy(&out)
            ),
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), started.elapsed())
}

/// A body that stops arriving is dropped after the request timeout with a
/// 408, on the sync routes as on job uploads; so are headers that never end.
async fn stalled_requests_are_dropped() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.request_timeout = Duration::from_secs(1)).await;
    let t = app.biller("1001", ALL).await;
    for path in ["/contacts/add", "/contacts", "/contacts/job/add", "/field-settings"] {
        let method = if path == "/field-settings" { "PUT" } else { "POST" };
        let head = format!(
            "{method} /v1/billers/1001{path} HTTP/1.1\r\nHost: x\r\nAuthorization: Token {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{{",
            t.token
        );
        let (answer, took) = raw_exchange(&app, &head, Duration::from_secs(20));
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(answer.contains("request_timeout"), "{answer}");
        assert!(took < Duration::from_secs(10), "{path} took {took:?}");
    }
    let (answer, took) = raw_exchange(&app, "GET /healthz HTTP/1.1\r\nHost:", Duration::from_secs(20));
    assert!(!answer.contains("200 OK"), "{answer}");
    assert!(took < Duration::from_secs(10), "unfinished headers held the connection {took:?}");
    assert!(app.all_contacts(&t).await.is_empty());
    let (_, jobs) = body(app.get(&t, "/jobs").await).await;
    assert!(jobs["data"].as_array().unwrap().is_empty(), "{jobs}");
}

/// One client may hold only so many connections with a request not yet
/// received; more are refused, and finished requests hold none.
async fn half_open_connections_per_client_are_limited() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.max_half_open = 2).await;
    for _ in 0..5 {
        assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);
    }
    let hold = |head: &str| {
        let mut s = TcpStream::connect(app.addr).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        s
    };
    let first = hold("GET /healthz HTTP/1.1\r\nHost:");
    let second = hold("POST /v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{");
    std::thread::sleep(Duration::from_millis(200));
    let (answer, took) = raw_exchange(&app, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", Duration::from_secs(5));
    assert!(answer.is_empty() && took < Duration::from_secs(2), "a third half-open connection is refused: {answer}");
    drop((first, second));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);
}

/// A job refused by its own records or the replace guard is the client's
/// problem: the server logs it as a warning, never as an error.
async fn client_caused_job_failures_are_not_logged_as_errors() {
    let app = spawn_app(Backend::Sqlite).await;
    let t = app.biller("1001", ALL).await;
    let list: Vec<Value> = (0..4).map(|i| contact(&format!("{i:04}"), "Sam Smith")).collect();
    assert_eq!(app.post(&t, "/contacts/add", &json!(list)).await.status(), 200);
    let dir = std::env::temp_dir().join(format!("contactd-logs-{}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |name: &str, text: &str, extra: &[&str]| {
        let file = dir.join(name);
        std::fs::write(&file, text).unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_contactd"))
            .args(["import", file.to_str().unwrap(), "--biller", "1001", "--database", &app.db.url])
            .args(extra)
            .env_remove("CONTACTD_DATABASE")
            .env_remove("CONTACTD_LOG")
            .output()
            .unwrap()
    };
    let guarded = run("one.ndjson", &contact("0000", "Sam Smith").to_string(), &["--replace"]);
    let invalid = run("bad.ndjson", &json!({"account_number": "1", "name": "Too Short"}).to_string(), &[]);
    for out in [guarded, invalid] {
        assert!(!out.status.success());
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(!log.contains("ERROR"), "{log}");
        assert!(log.contains("job failed"), "{log}");
    }
    assert_eq!(app.all_contacts(&t).await.len(), 4);
    std::fs::remove_dir_all(&dir).ok();
}

crate::both_stores!(
    every_route_needs_its_scope,
    lists_stop_at_their_limits,
    small_jobs_do_not_wait_for_other_billers_large_ones,
    csv_formula_cells_are_neutralised_and_read_back,
    confirm_removals_is_a_count_on_every_route,
);

mod sqlite_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stalled_requests_are_dropped() {
        super::stalled_requests_are_dropped().await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn half_open_connections_per_client_are_limited() {
        super::half_open_connections_per_client_are_limited().await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn client_caused_job_failures_are_not_logged_as_errors() {
        super::client_caused_job_failures_are_not_logged_as_errors().await
    }
}

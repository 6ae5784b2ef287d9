//! Background jobs, driven with `worker.run_once()` (and once by the server's own worker).

use crate::helpers::*;
use contactd::store::{Fence, Heartbeat};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

pub(crate) async fn submit(
    app: &TestApp,
    t: &Tenant,
    kind: &str,
    query: &str,
    content_type: &str,
    payload: String,
) -> (u16, Value, Option<String>) {
    let res = app
        .request(Method::POST, &format!("/v1/billers/{}/contacts/job/{kind}{query}", t.code), &t.token)
        .header("content-type", content_type)
        .body(payload)
        .send()
        .await
        .unwrap();
    let location = res.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
    let (s, v) = body(res).await;
    (s, v, location)
}

pub(crate) async fn job(app: &TestApp, t: &Tenant, id: &str) -> Value {
    let (s, v) = body(app.get(t, &format!("/jobs/{id}")).await).await;
    assert_eq!(s, 200, "{v}");
    v
}

pub(crate) fn json_list(list: &[Value]) -> String {
    serde_json::to_string_pretty(list).unwrap()
}

fn ndjson(list: &[Value]) -> String {
    list.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("\n")
}

async fn add_job_lifecycle(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    app.post(&t, "/contacts/add", &json!([contact("0001", "Existing Name")])).await;
    let list: Vec<Value> = (1..=5).map(|i| contact(&format!("{i:04}"), &format!("Person {i}"))).collect();
    let (s, v, location) = submit(&app, &t, "add", "", "application/json", json_list(&list)).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!((v["status"].as_str(), v["biller_code"].as_str()), (Some("queued"), Some("1001")));
    let id = v["job_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("job_"));
    assert_eq!(location.as_deref(), Some(format!("/v1/billers/1001/jobs/{id}").as_str()));
    let queued = job(&app, &t, &id).await;
    assert_eq!((queued["status"].as_str(), queued["total"].as_u64()), (Some("queued"), Some(5)));

    assert!(app.worker.run_once().await.unwrap());
    let done = job(&app, &t, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        (done["processed"].as_u64(), done["created"].as_u64(), done["updated"].as_u64(), done["failed"].as_u64()),
        (Some(5), Some(4), Some(1), Some(0))
    );
    assert!(done["finished_at"].is_string() && done["started_at"].is_string());
    let all = app.all_contacts(&t).await;
    assert_eq!(all.len(), 5);
    assert_eq!(all["0001"]["name"], "Person 1");
    assert_eq!(all["0001"]["version"], 2);
    assert!(!app.worker.run_once().await.unwrap(), "nothing left to run");

    // The same again: all unchanged, nothing rewritten.
    let (_, v, _) = submit(&app, &t, "add", "", "application/json", json_list(&list)).await;
    app.worker.run_once().await.unwrap();
    let again = job(&app, &t, v["job_id"].as_str().unwrap()).await;
    assert_eq!(again["unchanged"], 5);
    assert_eq!(app.all_contacts(&t).await["0001"]["version"], 2);
}

async fn ndjson_errors_map_to_lines_and_on_error_modes(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let body = [
        contact("1001", "Good One").to_string(),
        String::new(),
        contact("12", "Short Account").to_string(),
        contact("1002", "Good Two").to_string(),
        "{\"account_number\": \"1003\", \"name\": ".to_owned(),
        contact("1001", "Duplicate").to_string(),
    ]
    .join("\n");
    // reject (the default): nothing applied, every error reported.
    let (s, v, _) = submit(&app, &t, "add", "", "application/x-ndjson", body.clone()).await;
    assert_eq!(s, 202, "{v}");
    let id = v["job_id"].as_str().unwrap().to_owned();
    app.worker.run_once().await.unwrap();
    let failed = job(&app, &t, &id).await;
    assert_eq!(
        (failed["status"].as_str(), failed["failed"].as_u64(), failed["total"].as_u64()),
        (Some("failed"), Some(3), Some(5))
    );
    assert!(failed["error"].as_str().unwrap().contains("nothing was applied"), "{failed}");
    assert!(app.all_contacts(&t).await.is_empty());
    let (_, errs) = body_of(app.get(&t, &format!("/jobs/{id}/errors")).await).await;
    let got: Vec<(u64, u64, String)> = errs["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["index"].as_u64().unwrap(), e["line"].as_u64().unwrap(), e["code"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        got,
        [
            (1, 3, "invalid_length".to_owned()),
            (3, 5, "invalid_format".to_owned()),
            (4, 6, "duplicate_account_number".to_owned())
        ],
        "{errs}"
    );
    assert!(errs["data"][2]["message"].as_str().unwrap().contains("index 0 (line 1)"));
    let res = app.get(&t, &format!("/jobs/{id}/errors?format=csv")).await;
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = res.text().await.unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 4, "{csv}");
    assert_eq!(rows[0], "index,line,account_number,field,code,message");
    assert!(rows[1].starts_with("1,3,12,account_number,invalid_length,"), "{csv}");
    assert_eq!(app.get(&t, &format!("/jobs/{id}/errors?format=xml")).await.status(), 400);
    assert_eq!(app.get(&t, "/jobs?format=csv").await.status(), 400);

    // skip: the valid ones are applied, the invalid counted.
    let (_, v, _) = submit(&app, &t, "add", "?on_error=skip", "application/x-ndjson", body).await;
    app.worker.run_once().await.unwrap();
    let done = job(&app, &t, v["job_id"].as_str().unwrap()).await;
    assert_eq!(
        (done["status"].as_str(), done["created"].as_u64(), done["failed"].as_u64()),
        (Some("completed"), Some(2), Some(3))
    );
    assert_eq!(app.all_contacts(&t).await.keys().collect::<Vec<_>>(), ["1001", "1002"]);
    assert_eq!(app.all_contacts(&t).await["1001"]["name"], "Good One", "the first of duplicates is kept");
}

async fn replace_jobs_are_all_or_nothing_and_guarded(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let list: Vec<Value> = (1000..1010).map(|i| contact(&i.to_string(), &format!("P {i}"))).collect();
    app.post(&t, "/contacts/add", &json!(list)).await;
    let before = app.all_contacts(&t).await;
    let run = |query: &'static str, records: Vec<Value>| {
        let app = &app;
        let t = &t;
        async move {
            let (s, v, _) = submit(app, t, "replace", query, "application/json", json_list(&records)).await;
            assert_eq!(s, 202, "{v}");
            app.worker.run_once().await.unwrap();
            job(app, t, v["job_id"].as_str().unwrap()).await
        }
    };
    // One invalid record: the whole replace fails and nothing changes.
    let mut bad = list[..8].to_vec();
    bad.push(json!({"account_number": "9", "name": "x"}));
    let j = run("", bad).await;
    assert_eq!((j["status"].as_str(), j["failed"].as_u64()), (Some("failed"), Some(1)));
    assert_eq!(app.all_contacts(&t).await, before);
    // More than the allowed share would go: refused; a dry run reports it.
    let keep = list[..5].to_vec();
    let j = run("", keep.clone()).await;
    assert_eq!(j["status"], "failed");
    assert!(j["error"].as_str().unwrap().contains("confirm_removals=5"), "{j}");
    assert_eq!(app.all_contacts(&t).await, before);
    let j = run("?dry_run=true", keep.clone()).await;
    assert_eq!(
        (j["status"].as_str(), j["removed"].as_u64(), j["dry_run"].as_bool()),
        (Some("completed"), Some(5), Some(true))
    );
    assert!(j["error"].as_str().unwrap().contains("confirm_removals=5"));
    assert_eq!(app.all_contacts(&t).await, before, "a dry run changes nothing");
    // Confirmed: exactly the supplied set remains.
    let mut next = keep.clone();
    next.push(contact("2000", "New"));
    next[0] = contact("1000", "Renamed");
    let j = run("?confirm_removals=5", next).await;
    assert_eq!(j["status"], "completed", "{j}");
    assert_eq!(
        (j["created"].as_u64(), j["updated"].as_u64(), j["unchanged"].as_u64(), j["removed"].as_u64()),
        (Some(1), Some(1), Some(4), Some(5))
    );
    let after = app.all_contacts(&t).await;
    assert_eq!(after.keys().collect::<Vec<_>>(), ["1000", "1001", "1002", "1003", "1004", "2000"]);
    assert_eq!(after["1000"]["name"], "Renamed");
    assert_eq!(after["1001"]["id"], before["1001"]["id"], "kept contacts keep their ids");
}

async fn cancel_list_and_order(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let (_, first, _) = submit(&app, &t, "add", "", "application/json", json_list(&[contact("1001", "First")])).await;
    let (_, second, _) = submit(&app, &t, "add", "", "application/json", json_list(&[contact("1001", "Second")])).await;
    let (_, third, _) = submit(&app, &t, "add", "", "application/json", json_list(&[contact("1002", "Third")])).await;
    let cancel = |id: &str| app.request(Method::POST, &format!("/v1/billers/1001/jobs/{id}/cancel"), &t.token).send();
    let (s, v) = body_of(cancel(third["job_id"].as_str().unwrap()).await.unwrap()).await;
    assert_eq!((s, v["status"].as_str()), (202, Some("cancelled")));
    let (s, v) = body_of(cancel(third["job_id"].as_str().unwrap()).await.unwrap()).await;
    assert_eq!((s, v["code"].as_str()), (409, Some("job_finished")));

    // Jobs of one biller apply in submission order.
    assert!(app.worker.run_once().await.unwrap());
    assert!(app.worker.run_once().await.unwrap());
    assert!(!app.worker.run_once().await.unwrap());
    let all = app.all_contacts(&t).await;
    assert_eq!(all.keys().collect::<Vec<_>>(), ["1001"], "the cancelled job changed nothing");
    assert_eq!(all["1001"]["name"], "Second");

    let (_, v) = body_of(app.get(&t, "/jobs?limit=2").await).await;
    let ids: Vec<&str> = v["data"].as_array().unwrap().iter().map(|j| j["job_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [third["job_id"].as_str().unwrap(), second["job_id"].as_str().unwrap()], "newest first");
    let (_, rest) =
        body_of(app.get(&t, &format!("/jobs?limit=2&cursor={}", v["next_cursor"].as_str().unwrap())).await).await;
    assert_eq!(rest["data"][0]["job_id"], first["job_id"]);
    assert!(rest["next_cursor"].is_null());
    let (_, v) = body_of(app.get(&t, "/jobs?status=cancelled").await).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    for bad in ["/jobs?status=receiving", "/jobs?limit=0", "/jobs?cursor=zz", "/jobs?bogus=1"] {
        assert_eq!(app.get(&t, bad).await.status(), 400, "{bad}");
    }
}

async fn bad_submissions_store_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let other = app.biller("2002", ALL).await;
    let adder =
        app.tenant_key(&["1001"], &[contactd::store::Scope::ContactsRead, contactd::store::Scope::ContactsWrite]).await;
    let body = json_list(&[contact("1001", "X")]);
    let (s, v, _) = submit(&app, &adder, "replace", "", "application/json", body.clone()).await;
    assert_eq!((s, v["code"].as_str()), (403, Some("insufficient_scope")));
    let (s, _, _) = submit(&app, &t, "add", "", "text/plain", body.clone()).await;
    assert_eq!(s, 415);
    let (s, _, _) = submit(&app, &t, "replace", "?on_error=skip", "application/json", body.clone()).await;
    assert_eq!(s, 400);
    let (s, v, _) =
        submit(&app, &t, "add", "", "application/json", "[{\"account_number\": \"1\"},\n  {oops}]".into()).await;
    assert_eq!((s, v["code"].as_str(), v["line"].as_u64()), (400, Some("invalid_json"), Some(2)), "{v}");
    let (s, _, _) = submit(&app, &t, "add", "", "application/json", "{\"not\": \"an array\"}".into()).await;
    assert_eq!(s, 400);
    let huge = format!("[{{\"account_number\": \"1\", \"name\": \"{}\"}}]", "x".repeat(2 << 20));
    let (s, _, _) = submit(&app, &t, "add", "", "application/json", huge).await;
    assert_eq!(s, 400, "a record over the size limit is refused before it is buffered");
    let (_, v) = body_of(app.get(&t, "/jobs").await).await;
    assert!(v["data"].as_array().unwrap().is_empty(), "a failed upload leaves no job: {v}");
    assert!(!app.worker.run_once().await.unwrap());

    // Another biller's job is not there for this key.
    let (_, v, _) = submit(&app, &other, "add", "", "application/json", body).await;
    let (s, v) = body_of(app.get(&t, &format!("/jobs/{}", v["job_id"].as_str().unwrap())).await).await;
    assert_eq!((s, v["code"].as_str()), (404, Some("job_not_found")));
    assert_eq!(app.get(&t, "/jobs/not-a-job").await.status(), 404);
}

/// A worker that lost its job (lease expired, taken over) can write nothing more.
async fn a_taken_over_job_is_finished_exactly_once(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let list: Vec<Value> = (1..=3).map(|i| contact(&format!("{i:04}"), "P")).collect();
    let (_, v, _) = submit(&app, &t, "add", "", "application/json", json_list(&list)).await;
    let store = &app.store;
    // A first worker claims it with a lease that has already run out, then "dies".
    let dead = store.claim_job("dead-worker", contactd::service::now(), Duration::ZERO, None).await.unwrap().unwrap();
    let stale = Fence { seq: dead.seq, owner: "dead-worker".into(), attempt: dead.attempts };
    // Another worker takes it over and finishes it.
    assert!(app.worker.run_once().await.unwrap());
    let j = job(&app, &t, v["job_id"].as_str().unwrap()).await;
    assert_eq!((j["status"].as_str(), j["created"].as_u64()), (Some("completed"), Some(3)));
    // The first worker wakes up: every write it tries is refused.
    let now = contactd::service::now();
    assert_eq!(
        store
            .job_heartbeat(
                &stale,
                contactd::domain::job::JobStatus::Running,
                Default::default(),
                now,
                Duration::from_secs(60)
            )
            .await
            .unwrap(),
        Heartbeat::Lost
    );
    assert!(
        !store
            .finish_job(&stale, contactd::domain::job::JobStatus::Failed, Some("late".into()), Default::default(), now)
            .await
            .unwrap()
    );
    assert_eq!(job(&app, &t, v["job_id"].as_str().unwrap()).await["status"], "completed");
    assert_eq!(app.all_contacts(&t).await.len(), 3);
}

/// The job once a worker in the background has ended it (30 s at most).
async fn ended(app: &TestApp, t: &Tenant, id: &str) -> Value {
    for _ in 0..600 {
        let j = job(app, t, id).await;
        if ["completed", "failed", "cancelled"].contains(&j["status"].as_str().unwrap()) {
            return j;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} still running after 30 s");
}

/// The server's own worker picks jobs up.
async fn the_server_runs_jobs_itself(b: Backend) {
    let app = spawn_app_with(b, |s| s.workers = 1).await;
    let t = app.biller("1001", ALL).await;
    let list: Vec<Value> = (0..2500).map(|i| contact(&format!("{i:06}"), &format!("Person {i}"))).collect();
    let (s, v, _) = submit(&app, &t, "add", "", "application/x-ndjson", ndjson(&list)).await;
    assert_eq!(s, 202);
    let id = v["job_id"].as_str().unwrap().to_owned();
    assert_eq!(ended(&app, &t, &id).await["status"], "completed");
    assert_eq!(app.all_contacts(&t).await.len(), 2500);
}

/// An idle worker takes a job queued on its server at once, not at its next
/// look for other servers' jobs (an hour here).
async fn an_idle_worker_wakes_for_a_job_queued_here(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = contactd::app::worker(&app.service).idle_poll(Duration::from_secs(3600));
    let running = tokio::spawn(worker.run(stopped));
    tokio::time::sleep(Duration::from_millis(500)).await; // it has looked once and found nothing
    let (s, v, _) = submit(&app, &t, "add", "", "application/json", json_list(&[contact("0001", "Woken")])).await;
    assert_eq!(s, 202, "{v}");
    let id = v["job_id"].as_str().unwrap().to_owned();
    assert_eq!(ended(&app, &t, &id).await["status"], "completed");
    assert_eq!(app.all_contacts(&t).await.len(), 1);
    stop.send(true).unwrap();
    running.await.unwrap();
}

async fn csv_files_as_billers_send_them(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let file = "\u{feff}ADD_CONTACTS\r\nbiller-account-number,name,contact-id-1,contact-id-2,address_city,mobile\r\n\
                000123,\"Smith, Sam\",000123,Mr S Smith,Hobart,0400 000 000\r\n\
                12,Too Short,12,x,,\r\n\
                0789,\"Jane \"\"JJ\"\" Example\",0789,Ms J,,\r\n\
                TRAILER,3\r\n";
    let (s, v, _) = submit(&app, &t, "add", "?on_error=skip", "text/csv", file.into()).await;
    assert_eq!(s, 202, "{v}");
    app.worker.run_once().await.unwrap();
    let id = v["job_id"].as_str().unwrap();
    let j = job(&app, &t, id).await;
    assert_eq!(
        (j["status"].as_str(), j["created"].as_u64(), j["failed"].as_u64()),
        (Some("completed"), Some(2), Some(1)),
        "{j}"
    );
    let (_, errs) = body_of(app.get(&t, &format!("/jobs/{id}/errors")).await).await;
    assert_eq!(
        (errs["data"][0]["line"].as_u64(), errs["data"][0]["index"].as_u64()),
        (Some(4), Some(1)),
        "errors map to file lines: {errs}"
    );
    let all = app.all_contacts(&t).await;
    assert_eq!(all["000123"]["name"], "Smith, Sam");
    assert_eq!(all["000123"]["address"]["city"], "Hobart");
    assert_eq!(all["000123"]["phones"][0]["number"], "0400 000 000", "kept as sent");
    assert_eq!(all["0789"]["name"], "Jane \"JJ\" Example");

    // A replace file must prove it is whole.
    let body = "account_number,name,contact-id-1,contact-id-2\n000123,Sam,000123,a\n";
    let (s, v, _) = submit(&app, &t, "replace", "", "text/csv", body.into()).await;
    assert_eq!((s, v["code"].as_str()), (400, Some("invalid_upload")), "{v}");
    assert!(v["detail"].as_str().unwrap().contains("TRAILER"));
    let (s, v, _) = submit(&app, &t, "replace", "", "text/csv", format!("{body}TRAILER,2\n")).await;
    assert!(s == 400 && v["detail"].as_str().unwrap().contains("truncated"), "{v}");
    // A stray quote would read every row after it into one cell: refused where it opens.
    let stray = "account_number,name,contact-id-1,contact-id-2\n000200,\"Ann,000200,a\n000201,Bob,000201,b\n";
    let (s, v, _) = submit(&app, &t, "add", "", "text/csv", stray.into()).await;
    assert_eq!((s, v["code"].as_str()), (400, Some("invalid_upload")), "{v}");
    assert!(v["detail"].as_str().unwrap().starts_with("line 2:"), "{v}");
    let (_, list) = body_of(app.get(&t, "/jobs").await).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "refused files leave no job");
    assert!(!app.all_contacts(&t).await.contains_key("000201"));
    // With more than a record's size after it, the error still names the quote's line.
    let rows: String = (0..80_000).map(|i| format!("{:06},Row {i},{:06},x\n", 300_000 + i, 300_000 + i)).collect();
    let (s, v, _) = submit(&app, &t, "add", "", "text/csv", format!("{stray}{rows}")).await;
    assert_eq!(s, 400, "{v}");
    let detail = v["detail"].as_str().unwrap();
    assert!(detail.starts_with("line 2:") && detail.contains("closing quote missing"), "{v}");
    let (s, _, _) = submit(&app, &t, "replace", "?confirm_removals=1", "text/csv", format!("{body}TRAILER,1\n")).await;
    assert_eq!(s, 202);
    app.worker.run_once().await.unwrap();
    assert_eq!(app.all_contacts(&t).await.keys().collect::<Vec<_>>(), ["000123"]);
}

/// Third review: exact JSON lines, trailing garbage, duplicates of invalid records, counts of failed jobs.
async fn errors_point_at_the_right_place(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let mut list: Vec<Value> = (0..300).map(|i| contact(&format!("{:04}", 1000 + i), "P")).collect();
    list[5]["email"] = json!("bad@");
    list[250]["email"] = json!("bad@");
    // Pretty-printed: each record spans several lines.
    let text = json_list(&list);
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() as u64 + 1;
    let (_, v, _) = submit(&app, &t, "add", "?on_error=skip", "application/json", text.clone()).await;
    app.worker.run_once().await.unwrap();
    let (_, errs) = body_of(app.get(&t, &format!("/jobs/{}/errors", v["job_id"].as_str().unwrap())).await).await;
    let lines: Vec<u64> = errs["data"].as_array().unwrap().iter().map(|e| e["line"].as_u64().unwrap()).collect();
    // A record's line is where it ends: the line after its last field.
    assert_eq!(lines.len(), 2, "{errs}");
    assert!(lines[0] > line_of("\"1005\"") && lines[0] < line_of("\"1006\""), "{lines:?}");
    assert!(lines[1] > line_of("\"1250\"") && lines[1] < line_of("\"1251\""), "{lines:?}");

    let mut bad_first = contact("2000", "Bad First");
    bad_first["email"] = json!("nope@");
    let body = [
        bad_first.to_string(),
        contact("2000", "Second").to_string(),
        format!("{} {{\"x\":1}}", contact("2001", "Trailing")),
    ]
    .join("\n");
    let (_, v, _) = submit(&app, &t, "add", "?on_error=skip", "application/x-ndjson", body).await;
    app.worker.run_once().await.unwrap();
    let j = job(&app, &t, v["job_id"].as_str().unwrap()).await;
    assert_eq!((j["created"].as_u64(), j["failed"].as_u64()), (Some(0), Some(3)), "{j}");
    let all = app.all_contacts(&t).await;
    assert!(
        !all.contains_key("2000") && !all.contains_key("2001"),
        "neither occurrence of a duplicate is applied; nothing after an object"
    );

    // A job refused by the guard still reports what it validated.
    let (_, v, _) = submit(&app, &t, "replace", "", "application/json", json_list(&list[..10])).await;
    app.worker.run_once().await.unwrap();
    let j = job(&app, &t, v["job_id"].as_str().unwrap()).await;
    assert_eq!(
        (j["status"].as_str(), j["processed"].as_u64(), j["total"].as_u64()),
        (Some("failed"), Some(10), Some(10)),
        "{j}"
    );
}

async fn body_of(res: reqwest::Response) -> (u16, Value) {
    body(res).await
}

/// Duplicates are found across the worker's chunks, and still after an
/// all-or-nothing job has failed (when only account numbers are staged).
async fn duplicates_across_a_large_job(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let mut lines: Vec<String> = (0..5_000).map(|i| contact(&format!("{:06}", i), "P").to_string()).collect();
    lines[10] = {
        let mut bad = contact("000010", "Bad");
        bad["email"] = json!("bad@");
        bad.to_string()
    };
    lines[4_500] = contact("000005", "Again").to_string();
    lines[4_600] = contact("000010", "Again").to_string();
    let body = lines.join("\n");
    for mode in ["", "?on_error=skip"] {
        let (_, v, _) = submit(&app, &t, "add", mode, "application/x-ndjson", body.clone()).await;
        app.worker.run_once().await.unwrap();
        let id = v["job_id"].as_str().unwrap();
        let (_, errs) = body_of(app.get(&t, &format!("/jobs/{id}/errors")).await).await;
        let got: Vec<(u64, &str, &str)> = errs["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["index"].as_u64().unwrap(), e["code"].as_str().unwrap(), e["message"].as_str().unwrap()))
            .map(|(i, c, m)| (i, c, if c == "duplicate_account_number" { m } else { "" }))
            .collect();
        assert_eq!(
            got,
            [
                (10, "invalid_format", ""),
                (4_500, "duplicate_account_number", "account number 000005 already appears at index 5 (line 6)"),
                (4_600, "duplicate_account_number", "account number 000010 already appears at index 10 (line 11)"),
            ],
            "{mode}: {errs}"
        );
        let j = job(&app, &t, id).await;
        assert_eq!(j["failed"], 3, "{j}");
        let stored = app.all_contacts(&t).await;
        if mode.is_empty() {
            assert_eq!(j["status"], "failed");
            assert!(stored.is_empty(), "a failed add applies nothing");
        } else {
            assert_eq!((j["status"].as_str(), j["created"].as_u64()), (Some("completed"), Some(4_997)), "{j}");
            assert_eq!(stored.len(), 4_997);
            assert_eq!(stored["000005"]["name"], "P", "the first use is kept");
            assert!(!stored.contains_key("000010"), "an invalid record's number is not applied by its duplicate");
        }
    }
}

/// A first load (an add into a biller with no contacts, written straight
/// into contacts on PostgreSQL) reports a number used twice as staging
/// does, whichever use is invalid, and applies nothing of a repeated one.
async fn a_first_load_reports_repeats_as_staging_does(b: Backend) {
    let app = spawn_app(b).await;
    let invalid = |acct: &str| {
        let mut c = contact(acct, "Bad");
        c["email"] = json!("bad@");
        c.to_string()
    };
    // Each case in a biller of its own, so one repeat cannot hide another.
    let cases = [
        // An invalid use, then a valid one: the valid one is the repeat.
        (
            "1001",
            vec![contact("1001", "First").to_string(), invalid("1002"), contact("1002", "After").to_string()],
            vec![(1, "invalid_format"), (2, "duplicate_account_number")],
            vec!["1001"],
        ),
        // A valid use, then an invalid one: reported as the repeat it is.
        (
            "2002",
            vec![contact("2001", "First").to_string(), invalid("2001"), contact("2003", "C").to_string()],
            vec![(1, "duplicate_account_number")],
            vec!["2001", "2003"],
        ),
        // Invalid records alone, each number once: counted, the rest loaded.
        (
            "3003",
            vec![contact("3001", "A").to_string(), invalid("3002"), contact("3003", "C").to_string()],
            vec![(1, "invalid_format")],
            vec!["3001", "3003"],
        ),
    ];
    for (code, lines, want_errors, want_stored) in cases {
        let t = app.biller(code, ALL).await;
        let (s, v, _) = submit(&app, &t, "add", "?on_error=skip", "application/x-ndjson", lines.join("\n")).await;
        assert_eq!(s, 202, "{v}");
        app.worker.run_once().await.unwrap();
        let id = v["job_id"].as_str().unwrap();
        let j = job(&app, &t, id).await;
        assert_eq!(
            (j["status"].as_str(), j["created"].as_u64(), j["failed"].as_u64()),
            (Some("completed"), Some(want_stored.len() as u64), Some(want_errors.len() as u64)),
            "{code}: {j}"
        );
        let (_, errs) = body_of(app.get(&t, &format!("/jobs/{id}/errors")).await).await;
        let got: Vec<(u64, &str)> = errs["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["index"].as_u64().unwrap(), e["code"].as_str().unwrap()))
            .collect();
        assert_eq!(got, want_errors, "{code}: {errs}");
        let stored = app.all_contacts(&t).await;
        assert_eq!(stored.keys().map(String::as_str).collect::<Vec<_>>(), want_stored, "{code}");
        assert_eq!(stored[want_stored[0]]["name"], if code == "3003" { "A" } else { "First" });
    }
}

/// A repeat a chunk (10,000 records) or more after the first use: a valid
/// one breaks the unique key of the chunk's load, an invalid one is probed;
/// either way the job ends as the staged path reports it.
async fn a_first_load_finds_repeats_across_chunks(b: Backend) {
    let app = spawn_app(b).await;
    let mut bad = contact("000005", "Bad");
    bad["email"] = json!("bad@");
    for (code, repeat) in [("4004", contact("000005", "Again")), ("5005", bad)] {
        let t = app.biller(code, ALL).await;
        let mut lines: Vec<String> = (0..10_000).map(|i| contact(&format!("{i:06}"), "N").to_string()).collect();
        lines.push(repeat.to_string());
        let (s, v, _) = submit(&app, &t, "add", "?on_error=skip", "application/x-ndjson", lines.join("\n")).await;
        assert_eq!(s, 202, "{v}");
        app.worker.run_once().await.unwrap();
        let id = v["job_id"].as_str().unwrap();
        let j = job(&app, &t, id).await;
        assert_eq!(
            (j["status"].as_str(), j["created"].as_u64(), j["failed"].as_u64()),
            (Some("completed"), Some(10_000), Some(1)),
            "{code}: {j}"
        );
        let (_, errs) = body_of(app.get(&t, &format!("/jobs/{id}/errors")).await).await;
        assert_eq!(errs["data"][0]["index"], 10_000, "{code}: {errs}");
        assert_eq!(errs["data"][0]["code"], "duplicate_account_number", "{code}: {errs}");
        let stored = app.all_contacts(&t).await;
        assert_eq!((stored.len(), stored["000005"]["name"].as_str()), (10_000, Some("N")), "{code}");
    }
}

/// While a first load runs, the biller's other writes go on (it holds no
/// lock of the biller until its end); a settings change meanwhile sends the
/// job to the staged path, with nothing of the load applied.
async fn a_first_load_lets_its_biller_be_written_meanwhile(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let (_, v, _) = submit(&app, &t, "add", "", "application/json", json_list(&[contact("0001", "P")])).await;
    let store = &app.store;
    let now = contactd::service::now();
    let claimed = store.claim_job("w", now, Duration::from_secs(60), None).await.unwrap().unwrap();
    let fence = Fence { seq: claimed.seq, owner: "w".into(), attempt: claimed.attempts };
    let biller = store.biller("1001").await.unwrap().unwrap();
    let Some(load) = store.begin_direct_load(biller.id, biller.settings_version, &claimed.id, now).await.unwrap()
    else {
        // SQLite has no direct load: its one writer applies a job in one go.
        assert_eq!(b, Backend::Sqlite);
        return;
    };
    let written = tokio::time::timeout(Duration::from_secs(10), async {
        let created = app.post(&t, "/contacts", &contact("0002", "Meanwhile")).await.status();
        app.service.set_field_settings("1001", payreq_settings()).await.expect("settings");
        created
    })
    .await
    .expect("the biller's writes wait for the load");
    assert_eq!(written, 201);
    let counts = contactd::domain::job::JobCounts { total: 1, processed: 1, created: 0, ..Default::default() };
    assert_eq!(load.finish(fence, counts, now).await.unwrap(), contactd::store::LoadEnd::TakeStagedPath);
    assert_eq!(job(&app, &t, v["job_id"].as_str().unwrap()).await["status"], "validating");
    assert_eq!(app.all_contacts(&t).await.keys().collect::<Vec<_>>(), ["0002"]);
}

/// Every kind of row in one merge (unchanged, updated, created, invalid,
/// repeated; kept, changed, removed), beside another biller's contacts with
/// the same numbers, which no job of this one may touch.
async fn merges_count_each_kind_and_touch_only_their_biller(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let other = app.biller("2002", ALL).await;
    app.post(&t, "/contacts/add", &json!([contact("0000", "Kept"), contact("0001", "Old"), contact("0002", "Gone")]))
        .await;
    app.post(&other, "/contacts/add", &json!([contact("0000", "Other"), contact("0001", "Other")])).await;
    let others = app.all_contacts(&other).await;
    let run = |kind: &'static str, query: &'static str, list: Vec<Value>| {
        let app = &app;
        let t = &t;
        async move {
            let (s, v, _) = submit(app, t, kind, query, "application/x-ndjson", ndjson(&list)).await;
            assert_eq!(s, 202, "{v}");
            app.worker.run_once().await.unwrap();
            let j = job(app, t, v["job_id"].as_str().unwrap()).await;
            assert_eq!(j["status"], "completed", "{j}");
            ["created", "updated", "unchanged", "removed", "failed"].map(|k| j[k].as_u64().unwrap())
        }
    };
    let add = vec![
        contact("0000", "Kept"),
        contact("0001", "New Name"),
        contact("0003", "Created"),
        contact("12", "Too Short"),
        contact("0003", "Repeated"),
    ];
    assert_eq!(run("add", "?on_error=skip", add).await, [1, 1, 1, 0, 2]);
    let stored = app.all_contacts(&t).await;
    assert_eq!(stored.keys().collect::<Vec<_>>(), ["0000", "0001", "0002", "0003"]);
    let names = |m: &std::collections::BTreeMap<String, Value>| {
        m.values().map(|c| (c["name"].as_str().unwrap().to_owned(), c["version"].as_u64().unwrap())).collect::<Vec<_>>()
    };
    let expect = [("Kept", 1), ("New Name", 2), ("Gone", 1), ("Created", 1)].map(|(n, v)| (n.to_owned(), v));
    assert_eq!(names(&stored), expect);

    let replace = vec![contact("0000", "Kept"), contact("0003", "Changed"), contact("0004", "Arrived")];
    assert_eq!(run("replace", "?confirm_removals=2", replace).await, [1, 1, 1, 2, 0]);
    let stored = app.all_contacts(&t).await;
    assert_eq!(stored.keys().collect::<Vec<_>>(), ["0000", "0003", "0004"]);
    let expect = [("Kept", 1), ("Changed", 2), ("Arrived", 1)].map(|(n, v)| (n.to_owned(), v));
    assert_eq!(names(&stored), expect);
    assert_eq!(app.all_contacts(&other).await, others, "the other biller's contacts are as they were");
}

/// PostgreSQL: runs `action` (SQL) as a job turns from validating to its
/// merge, when `when` (SQL, on the job's row `NEW`) holds; every such turn
/// is noted in table `merges` after. Returns a client on the app's database.
async fn at_merges(app: &TestApp, when: &str, action: &str) -> tokio_postgres::Client {
    let (c, conn) = tokio_postgres::connect(&app.db.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    c.batch_execute(&format!(
        "CREATE TABLE merges (job_seq BIGINT NOT NULL);
         CREATE FUNCTION at_merge() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.status = 'running' AND OLD.status = 'validating' THEN
                 IF {when} THEN
                     {action}
                 END IF;
                 INSERT INTO merges VALUES (NEW.seq);
             END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER at_merge AFTER UPDATE ON jobs FOR EACH ROW EXECUTE FUNCTION at_merge();"
    ))
    .await
    .unwrap();
    c
}

/// PostgreSQL empties unlogged staging when it restarts. A job whose merge
/// finds its staging gone validates again from its stored records and
/// completes, exactly once. A trigger plays the restart: as the job turns to
/// its merge the first time, its staged rows go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_staging_is_lost_is_validated_again() {
    let app = spawn_app(Backend::Postgres).await;
    let t = app.biller("1001", ALL).await;
    let c = at_merges(
        &app,
        "NOT EXISTS (SELECT 1 FROM merges WHERE job_seq = NEW.seq)",
        "DELETE FROM job_rows WHERE job_seq = NEW.seq;",
    )
    .await;
    app.post(&t, "/contacts/add", &json!([contact("0001", "Old")])).await;
    let list: Vec<Value> = (1..=300).map(|i| contact(&format!("{i:04}"), &format!("Person {i}"))).collect();
    let (_, v, _) = submit(&app, &t, "replace", "", "application/x-ndjson", ndjson(&list)).await;
    assert!(app.worker.run_once().await.unwrap());
    let j = job(&app, &t, v["job_id"].as_str().unwrap()).await;
    assert_eq!(
        (j["status"].as_str(), j["created"].as_u64(), j["updated"].as_u64(), j["removed"].as_u64()),
        (Some("completed"), Some(299), Some(1), Some(0)),
        "{j}"
    );
    let merges: i64 = c.query_one("SELECT COUNT(*) FROM merges", &[]).await.unwrap().get(0);
    assert_eq!(merges, 2, "the staging was lost once, then the job merged again");
    let stored = app.all_contacts(&t).await;
    assert_eq!(stored.len(), 300);
    assert_eq!(stored["0001"]["name"], "Person 1");

    // Lost at every merge: the second round fails the job, nothing applied.
    c.batch_execute(
        "CREATE OR REPLACE FUNCTION at_merge() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.status = 'running' AND OLD.status = 'validating' THEN
                 DELETE FROM job_rows WHERE job_seq = NEW.seq;
             END IF;
             RETURN NEW;
         END $$;",
    )
    .await
    .unwrap();
    let (_, v, _) = submit(&app, &t, "replace", "", "application/x-ndjson", ndjson(&list[..10])).await;
    assert!(app.worker.run_once().await.unwrap());
    let j = job(&app, &t, v["job_id"].as_str().unwrap()).await;
    assert_eq!(j["status"], "failed", "{j}");
    assert!(j["error"].as_str().unwrap().contains("lost (was the database restarted?); nothing was applied"), "{j}");
    assert_eq!(app.all_contacts(&t).await, stored, "nothing changed");
}

/// On PostgreSQL records equal to their contacts are staged by key alone. A
/// contact a write changes after validation looked is found at the merge,
/// and the job validates again, staging every row whole: it ends as if the
/// write came first. A trigger plays the write, as the job turns to its merge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_changed_while_a_job_validates_is_found_at_its_merge() {
    let app = spawn_app(Backend::Postgres).await;
    let t = app.biller("1001", ALL).await;
    // Hints are loaded for jobs of a chunk or more.
    let list: Vec<Value> = (0..10_000).map(|i| contact(&format!("{i:05}"), &format!("Person {i}"))).collect();
    let (_, v, _) = submit(&app, &t, "add", "", "application/x-ndjson", ndjson(&list)).await;
    assert!(app.worker.run_once().await.unwrap());
    assert_eq!(job(&app, &t, v["job_id"].as_str().unwrap()).await["created"], 10_000);
    let c = at_merges(
        &app,
        "NOT EXISTS (SELECT 1 FROM merges)",
        "UPDATE contacts SET doc = replace(doc, '\"Person 1\"', '\"Changed\"'), fingerprint = fingerprint + 1
         WHERE account_number = '00001';",
    )
    .await;
    let mut next = list.clone();
    next[9_999]["name"] = json!("New");
    let (_, v, _) = submit(&app, &t, "replace", "", "application/x-ndjson", ndjson(&next)).await;
    assert!(app.worker.run_once().await.unwrap());
    let j = job(&app, &t, v["job_id"].as_str().unwrap()).await;
    assert_eq!(
        (j["status"].as_str(), j["updated"].as_u64(), j["unchanged"].as_u64()),
        (Some("completed"), Some(2), Some(9_998)),
        "{j}"
    );
    let merges: i64 = c.query_one("SELECT COUNT(*) FROM merges", &[]).await.unwrap().get(0);
    assert_eq!(merges, 2, "the write was found at the first merge, and the job validated again");
    let stored = app.all_contacts(&t).await;
    assert_eq!((stored["00001"]["name"].as_str(), stored["09999"]["name"].as_str()), (Some("Person 1"), Some("New")));
    // The same list again changes nothing: what is stored matches it exactly.
    let (_, v, _) = submit(&app, &t, "replace", "", "application/x-ndjson", ndjson(&next)).await;
    assert!(app.worker.run_once().await.unwrap());
    assert_eq!(job(&app, &t, v["job_id"].as_str().unwrap()).await["unchanged"], 10_000);
    let merges: i64 = c.query_one("SELECT COUNT(*) FROM merges", &[]).await.unwrap().get(0);
    assert_eq!(merges, 3, "merged once");
}

/// A merge that writes many contacts vacuums them afterwards, in the
/// background; a small one leaves that to autovacuum.
#[tokio::test]
async fn a_large_merge_vacuums_contacts() {
    let app = spawn_app(Backend::Postgres).await;
    let t = app.biller("1001", ALL).await;
    let (c, conn) = tokio_postgres::connect(&app.db.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    // An autovacuum holding the table would make the job's vacuum skip it.
    c.batch_execute("ALTER TABLE contacts SET (autovacuum_enabled = off)").await.unwrap();
    let vacuums = async || -> i64 {
        let sql = "SELECT vacuum_count FROM pg_stat_user_tables WHERE relid = 'contacts'::regclass";
        c.query_one(sql, &[]).await.unwrap().get(0)
    };
    let large = contactd::store::postgres::VACUUM_AFTER as usize;
    let list: Vec<Value> = (0..large).map(|i| contact(&format!("{i:06}"), "P")).collect();
    submit(&app, &t, "add", "", "application/x-ndjson", ndjson(&list[..large - 1])).await;
    assert!(app.worker.run_once().await.unwrap());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(vacuums().await, 0, "one row short of a large merge");

    let (_, v, _) =
        submit(&app, &t, "replace", "?confirm_removals=1", "application/x-ndjson", ndjson(&list[1..])).await;
    assert!(app.worker.run_once().await.unwrap());
    let j = job(&app, &t, v["job_id"].as_str().unwrap()).await;
    assert_eq!((j["created"].as_u64(), j["removed"].as_u64()), (Some(1), Some(1)), "{j}");
    // Not large: 2 rows written.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(vacuums().await, 0);

    let renamed: Vec<Value> = list.iter().map(|c| contact(c["account_number"].as_str().unwrap(), "Q")).collect();
    let (_, v, _) = submit(&app, &t, "add", "", "application/x-ndjson", ndjson(&renamed)).await;
    assert!(app.worker.run_once().await.unwrap());
    let j = job(&app, &t, v["job_id"].as_str().unwrap()).await;
    assert_eq!((j["created"].as_u64(), j["updated"].as_u64()), (Some(1), Some(large as u64 - 1)), "{j}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while vacuums().await == 0 {
        assert!(std::time::Instant::now() < deadline, "contacts were not vacuumed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stored = app.all_contacts(&t).await;
    assert_eq!(stored.len(), large);
    assert!(stored.values().all(|c| c["name"] == "Q"));
}

crate::both_stores!(
    duplicates_across_a_large_job,
    a_first_load_reports_repeats_as_staging_does,
    a_first_load_finds_repeats_across_chunks,
    a_first_load_lets_its_biller_be_written_meanwhile,
    merges_count_each_kind_and_touch_only_their_biller,
    add_job_lifecycle,
    ndjson_errors_map_to_lines_and_on_error_modes,
    replace_jobs_are_all_or_nothing_and_guarded,
    cancel_list_and_order,
    bad_submissions_store_nothing,
    a_taken_over_job_is_finished_exactly_once,
    the_server_runs_jobs_itself,
    an_idle_worker_wakes_for_a_job_queued_here,
    csv_files_as_billers_send_them,
    errors_point_at_the_right_place,
);

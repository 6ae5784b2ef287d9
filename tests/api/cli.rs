//! The admin CLI and first-start behaviour, run as a user would: the real binary.

use crate::helpers::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

fn contactd(db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_contactd"))
        .args(args)
        .arg("--database")
        .arg(&db.url)
        .env_remove("CONTACTD_DATABASE")
        .output()
        .expect("run contactd")
}

fn json_out(o: &Output) -> Value {
    assert!(o.status.success(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}

async fn admin_commands(b: Backend) {
    let db = TestDb::new(b).await;
    assert_eq!(json_out(&contactd(&db, &["migrate", "--json"]))["migrated"], true);
    assert_eq!(
        json_out(&contactd(&db, &["biller", "create", "--code", "1001", "--name", "Acme Water", "--json"]))["code"],
        "1001"
    );
    let dup = contactd(&db, &["biller", "create", "--code", "1001", "--name", "Again"]);
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));

    let file = std::env::temp_dir().join(format!("contactd-fields-{}.json", std::process::id()));
    std::fs::write(&file, serde_json::to_string(&payreq_settings()).unwrap()).unwrap();
    let set = json_out(&contactd(
        &db,
        &["biller", "fields", "set", "--code", "1001", "--file", file.to_str().unwrap(), "--json"],
    ));
    assert_eq!(set["fields"], 6);
    let shown: Value =
        serde_json::from_slice(&contactd(&db, &["biller", "fields", "show", "--code", "1001"]).stdout).unwrap();
    assert_eq!(shown["fields"][0]["key"], "contact-id-1");
    std::fs::write(&file, "{\"fields\": [{\"key\": \"x\", \"kind\": \"colour\"}]}").unwrap();
    let bad = contactd(&db, &["biller", "fields", "set", "--code", "1001", "--file", file.to_str().unwrap()]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("line 1"), "{}", String::from_utf8_lossy(&bad.stderr));
    std::fs::remove_file(&file).ok();

    let key = json_out(&contactd(
        &db,
        &["key", "create", "--biller", "1001", "--scopes", "contacts:read,contacts:write", "--json"],
    ));
    let key_id = key["key_id"].as_str().unwrap().to_owned();
    assert!(key["key_secret"].as_str().unwrap().starts_with("sk_"));
    let bad_scope = contactd(&db, &["key", "create", "--biller", "1001", "--scopes", "contacts:everything"]);
    assert!(!bad_scope.status.success());
    let no_biller = contactd(&db, &["key", "create", "--biller", "NOPE", "--scopes", "contacts:read"]);
    assert!(!no_biller.status.success());
    // A range with bits past its prefix is refused with both readings, and no key is made.
    let host_bits =
        contactd(&db, &["key", "create", "--biller", "1001", "--scopes", "contacts:read", "--allow-ip", "10.0.0.1/8"]);
    assert!(!host_bits.status.success());
    let said = String::from_utf8_lossy(&host_bits.stderr);
    assert!(said.contains("10.0.0.0/8") && said.contains("10.0.0.1"), "{said}");

    let list = json_out(&contactd(&db, &["key", "list", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["scopes"], serde_json::json!(["contacts:read", "contacts:write"]));
    assert!(
        !String::from_utf8_lossy(&contactd(&db, &["key", "list"]).stdout).contains("sk_"),
        "secrets are never listed"
    );
    assert_eq!(json_out(&contactd(&db, &["key", "revoke", &key_id, "--json"]))["revoked"], key_id.as_str());
    assert_eq!(json_out(&contactd(&db, &["key", "list", "--json"]))[0]["revoked"], true);
    assert!(!contactd(&db, &["key", "revoke", "key_0000000000000000"]).status.success());
}

/// Starts `contactd serve`, reads stdout until it has printed `until`, then stops it.
fn serve_output(db: &TestDb, extra: &[&str], until: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_contactd"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &db.url])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = BufReader::new(child.stderr.take().unwrap());
    // The listening log line comes after the demo banner is printed.
    for line in stderr.lines() {
        if line.expect("line").contains("contactd listening") {
            break;
        }
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(until.is_empty() || text.contains(until), "{text}");
    text
}

async fn first_start_prints_demo_credentials_once(b: Backend) {
    let db = TestDb::new(b).await;
    let first = serve_output(&db, &[], "key secret: sk_");
    assert!(first.contains("/v1/auth/token"));
    assert!(first.contains("/v1/billers/DEMO/contacts/add"));
    let second = serve_output(&db, &[], "");
    assert!(!second.contains("key secret"), "never on a database that already has a biller");

    let quiet = TestDb::new(b).await;
    assert!(!serve_output(&quiet, &["--no-demo"], "").contains("key secret"));
    assert!(quiet_has_no_billers(&quiet));
}

fn quiet_has_no_billers(db: &TestDb) -> bool {
    json_out(&contactd(db, &["biller", "list", "--json"])).as_array().is_some_and(|a| a.is_empty())
}

async fn unknown_database_schemes_are_refused(_b: Backend) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_contactd")).args(["migrate", "--database", "mysql://x/y"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unsupported database URL"));
    let out = Command::new(env!("CARGO_BIN_EXE_contactd"))
        .args(["migrate", "--database", "mysql://user:hunter2@h/db"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2"), "a password never reaches the output");
}

/// SIGTERM stops the server cleanly, and its logs carry request ids but never a secret or token.
async fn shuts_down_on_sigterm_and_logs_no_secrets(b: Backend) {
    let db = TestDb::new(b).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_contactd"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &db.url])
        .env("CONTACTD_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    let addr = loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "server exited: {log}");
        log.push_str(&line);
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let mut stdout = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    while !stdout.contains("Add a contact") {
        assert!(out.read_line(&mut stdout).unwrap() > 0);
    }
    let field = |name: &str| stdout.split(name).nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    let (key_id, secret) = (field("key id:"), field("key secret:"));
    let client = reqwest::Client::new();
    let token: Value = client
        .post(format!("http://{addr}/v1/auth/token"))
        .basic_auth(&key_id, Some(&secret))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let res = client
        .get(format!("http://{addr}/v1/billers/DEMO/contacts?q=x"))
        .header("Authorization", format!("Token {token}"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    std::io::Read::read_to_string(&mut stderr, &mut log).unwrap();
    assert!(exit.success(), "a clean exit on SIGTERM: {exit:?}\n{log}");
    assert!(log.contains("contactd stopped"), "{log}");
    assert!(log.contains("trace-me-123"), "requests are logged with their id: {log}");
    for secret in [&secret, &token] {
        assert!(!log.contains(secret.as_str()), "a secret reached the log");
    }
}

/// Export streams every contact; its CSV goes straight back in as a replace job.
async fn export_round_trips(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let mut sam = contact("000123", "Smith, Sam");
    // A phone read in its own country keeps it through the CSV.
    sam["phones"] = serde_json::json!([{"kind": "mobile", "number": "0400000000"},
        {"kind": "home", "number": "9219133921", "country": "IN"}]);
    sam["address"] = serde_json::json!({"city": "Hobart", "country": "AU"});
    sam["tags"] = serde_json::json!([app.tag(&t, "a").await, app.tag(&t, "b").await]);
    let list: Vec<Value> =
        std::iter::once(sam).chain((0..2500).map(|i| contact(&format!("{i:07}"), &format!("Person {i}")))).collect();
    for chunk in list.chunks(1000) {
        assert_eq!(app.post(&t, "/contacts/add", &serde_json::json!(chunk)).await.status(), 200);
    }
    let export = |format: &str| contactd(&app.db, &["export", "--biller", "1001", "--format", format]);
    let ndjson = export("ndjson");
    assert!(ndjson.status.success(), "{}", String::from_utf8_lossy(&ndjson.stderr));
    let lines: Vec<Value> =
        String::from_utf8_lossy(&ndjson.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2501);
    let all = app.all_contacts(&t).await;
    let sam = lines.iter().find(|l| l["account_number"] == "000123").unwrap();
    assert_eq!(sam, &all["000123"], "each line is the contact as the API shows it");
    let json: Value = serde_json::from_slice(&export("json").stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2501);

    let csv = export("csv");
    let text = String::from_utf8(csv.stdout).unwrap();
    assert!(text.starts_with("account_number,name,"), "{}", &text[..100]);
    assert!(text.trim_end().ends_with("TRAILER,2501"));
    let res = app
        .request(reqwest::Method::POST, "/v1/billers/1001/contacts/job/replace", &t.token)
        .header("content-type", "text/csv")
        .body(text)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let id = res.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().to_owned();
    assert!(app.worker.run_once().await.unwrap());
    let (_, j) = body(app.get(&t, &format!("/jobs/{id}")).await).await;
    assert_eq!(
        (j["status"].as_str(), j["unchanged"].as_u64(), j["updated"].as_u64(), j["removed"].as_u64()),
        (Some("completed"), Some(2501), Some(0), Some(0)),
        "{j}"
    );
    assert_eq!(app.all_contacts(&t).await, all, "an export replaced back changes nothing");
    assert!(!contactd(&app.db, &["export", "--biller", "NOPE"]).status.success());
}

/// Import submits a file as a job and follows it to its end, with or without a server's worker.
async fn import_files(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let dir = std::env::temp_dir().join(format!("contactd-import-{}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    let ndjson = dir.join("contacts.ndjson");
    let mut lines: Vec<String> =
        (0..3000).map(|i| contact(&format!("{i:06}"), &format!("Person {i}")).to_string()).collect();
    lines.push(serde_json::json!({"account_number": "12", "name": "Too Short"}).to_string());
    std::fs::write(&ndjson, lines.join("\n")).unwrap();
    let run = |args: &[&str]| contactd(&app.db, &[&["import"][..], args, &["--biller", "1001", "--json"]].concat());

    let rejected = run(&[ndjson.to_str().unwrap()]);
    assert!(!rejected.status.success(), "one invalid record fails an add by default");
    let v: Value = serde_json::from_slice(&rejected.stdout).unwrap();
    assert_eq!((v["status"].as_str(), v["failed"].as_u64()), (Some("failed"), Some(1)), "{v}");
    assert!(app.all_contacts(&t).await.is_empty());

    let dry = json_out(&run(&[ndjson.to_str().unwrap(), "--skip-invalid", "--dry-run"]));
    assert_eq!((dry["status"].as_str(), dry["created"].as_u64()), (Some("completed"), Some(3000)));
    assert!(app.all_contacts(&t).await.is_empty(), "a dry run changes nothing");

    let done = json_out(&run(&[ndjson.to_str().unwrap(), "--skip-invalid"]));
    assert_eq!((done["created"].as_u64(), done["failed"].as_u64()), (Some(3000), Some(1)), "{done}");
    assert_eq!(app.all_contacts(&t).await.len(), 3000);
    let human = contactd(&app.db, &["import", ndjson.to_str().unwrap(), "--skip-invalid", "--biller", "1001"]);
    let human = String::from_utf8(human.stdout).unwrap();
    // The error report is a command that reads it (a local import has no server to point at).
    let command = human.lines().find_map(|l| l.strip_prefix("errors: ")).unwrap_or_else(|| panic!("{human}"));
    assert!(
        human.contains("3000 unchanged") && command.starts_with("contactd job errors --biller 1001 job_"),
        "{human}"
    );
    let args: Vec<&str> = command.split(' ').skip(1).collect();
    let report = contactd(&app.db, &args);
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    let report = String::from_utf8(report.stdout).unwrap();
    let rows: Vec<&str> = report.lines().collect();
    assert_eq!(rows[0], "index,line,account_number,field,code,message");
    assert!(rows.len() == 3 && rows[1].starts_with("3000,3001,12,account_number,invalid_length,"), "{report}");
    assert!(rows[2].starts_with("3000,3001,12,fields.contact-id-2,missing_required,"), "{report}");
    let unknown = contactd(&app.db, &["job", "errors", "--biller", "1001", "job_00000000000000"]);
    assert!(!unknown.status.success());

    let csv = dir.join("all.csv");
    std::fs::write(&csv, "account_number,name,contact-id-1,contact-id-2\n000001,One,000001,a\n").unwrap();
    let refused = run(&[csv.to_str().unwrap(), "--replace"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("TRAILER"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    std::fs::write(&csv, "account_number,name,contact-id-1,contact-id-2\n000001,One,000001,a\nTRAILER,1\n").unwrap();
    let replaced = json_out(&run(&[csv.to_str().unwrap(), "--replace", "--confirm-removals", "2999"]));
    assert_eq!((replaced["removed"].as_u64(), replaced["updated"].as_u64()), (Some(2999), Some(1)), "{replaced}");
    assert_eq!(app.all_contacts(&t).await.keys().collect::<Vec<_>>(), ["000001"]);
    let missing = run(&["/nonexistent/file.txt"]);
    assert!(!missing.status.success());
    let v: Value = serde_json::from_slice(&missing.stdout).unwrap();
    assert!(v["error"].as_str().unwrap().contains("file.txt"), "--json always prints a document: {v}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Import through a server: the file streams up as a job the server works;
/// nothing local is opened.
async fn import_through_a_server(b: Backend) {
    let app = spawn_app_with(b, |s| s.workers = 1).await;
    let t = app.biller("1001", ALL).await;
    let reader = app.tenant_key(&["1001"], &[contactd::store::Scope::ContactsRead]).await;
    let dir = std::env::temp_dir().join(format!("contactd-remote-{}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("contacts.csv");
    let mut text = "ADD_CONTACTS\r\nbiller-account-number,name,contact-id-1,contact-id-2\r\n".to_owned();
    for i in 0..2500 {
        text.push_str(&format!("{i:06},\"Smith, Sam {i}\",{i:06},Auth {i}\r\n"));
    }
    text.push_str("12,Too Short,x,y\r\nTRAILER,2501\r\n");
    std::fs::write(&csv, &text).unwrap();
    let server = format!("http://{}", app.addr);
    let run = |token: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_contactd"))
            .current_dir(&dir)
            .args(["import", csv.to_str().unwrap(), "--biller", "1001", "--server", &server, "--token", token])
            .args(args)
            .env_remove("CONTACTD_DATABASE")
            .output()
            .expect("run contactd")
    };

    let done = run(&t.token, &["--skip-invalid"]);
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(done.status.success(), "{stdout} {}", String::from_utf8_lossy(&done.stderr));
    assert!(stdout.contains("completed: 2501 records") && stdout.contains("2500 created, 0 updated"), "{stdout}");
    assert!(stdout.contains(&format!("errors: {server}/v1/billers/1001/jobs/job_")), "{stdout}");
    let all = app.all_contacts(&t).await;
    assert_eq!((all.len(), all["000042"]["name"].as_str()), (2500, Some("Smith, Sam 42")));

    // The file says ADD_CONTACTS: the server refuses it as a replace.
    let refused = run(&t.token, &["--replace"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("400") && stderr.contains("ADD_CONTACTS"), "{stderr}");
    // As a replace file, the invalid record fails it whole (and the summary says so).
    std::fs::write(&csv, text.replace("ADD_CONTACTS", "REPLACE_CONTACTS")).unwrap();
    let failed = run(&t.token, &["--replace", "--json"]);
    assert!(!failed.status.success());
    let v: Value = serde_json::from_slice(&failed.stdout).unwrap();
    assert_eq!((v["status"].as_str(), v["failed"].as_u64()), (Some("failed"), Some(1)), "{v}");
    // The server's refusals come back as they are: a wrong scope, a bad token.
    let forbidden = run(&reader.token, &[]);
    let stderr = String::from_utf8_lossy(&forbidden.stderr);
    assert!(!forbidden.status.success() && stderr.contains("403") && stderr.contains("insufficient_scope"), "{stderr}");
    // A key that may submit but not read: the job is taken, then its status
    // is refused; the import says the job goes on, and where to follow it.
    let writer = app.tenant_key(&["1001"], &[contactd::store::Scope::ContactsWrite]).await;
    std::fs::write(&csv, &text).unwrap();
    let blind = run(&writer.token, &["--skip-invalid"]);
    let stderr = String::from_utf8_lossy(&blind.stderr);
    assert!(!blind.status.success() && stderr.contains("403"), "{stderr}");
    assert!(stderr.contains("was submitted and goes on: follow it at http"), "{stderr}");
    let unknown = run("tok_not_a_real_token", &[]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("401"), "{}", String::from_utf8_lossy(&unknown.stderr));
    assert_eq!(app.all_contacts(&t).await, all, "nothing changed");
    assert!(!dir.join("contactd.db").exists(), "no local database was opened");
    std::fs::remove_dir_all(&dir).ok();
}

/// While import follows a job, answers that mean "not now" (429 with
/// `Retry-After`, 503, 408: a proxy or a busy server) are waited out; they
/// are not the job's end. A stand-in server answers the three, then the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_waits_out_busy_answers_while_following() {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let polls = Arc::new(AtomicUsize::new(0));
    let counted = polls.clone();
    let done = serde_json::json!({"job_id": "job_0000000000000A", "status": "completed", "dry_run": false, "total": 2,
        "processed": 2, "created": 2, "updated": 0, "unchanged": 0, "removed": 0, "failed": 0, "error": null});
    let accepted = serde_json::json!({"job_id": "job_0000000000000A", "status": "queued", "biller_code": "1001"});
    let server = axum::Router::new()
        .route(
            "/v1/billers/1001/contacts/job/add",
            axum::routing::post(
                move |_: axum::body::Bytes| async move { (StatusCode::ACCEPTED, axum::Json(accepted)) },
            ),
        )
        .route(
            "/v1/billers/1001/jobs/job_0000000000000A",
            axum::routing::get(move || async move {
                match counted.fetch_add(1, Ordering::SeqCst) {
                    0 => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "slow down").into_response(),
                    1 => StatusCode::SERVICE_UNAVAILABLE.into_response(),
                    2 => StatusCode::REQUEST_TIMEOUT.into_response(),
                    _ => axum::Json(done).into_response(),
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, server).await });
    let file = std::env::temp_dir().join(format!("contactd-busy-{}.ndjson", rand::random::<u32>()));
    std::fs::write(&file, format!("{}\n{}\n", contact("0001", "One"), contact("0002", "Two"))).unwrap();
    let server = format!("http://{addr}");
    let started = std::time::Instant::now();
    let path = file.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_contactd"))
            .args(["import", path.to_str().unwrap(), "--biller", "1001", "--server", &server, "--token", "tok_x"])
            .env_remove("CONTACTD_DATABASE")
            .output()
            .expect("run contactd")
    })
    .await
    .unwrap();
    std::fs::remove_file(&file).ok();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("completed: 2 records") && stdout.contains("2 created"), "{stdout}");
    assert!(polls.load(Ordering::SeqCst) >= 4, "three busy answers, then the job");
    assert!(started.elapsed() >= std::time::Duration::from_secs(3), "each was waited out, a second at least");
}

/// `export | head`: the reader closing the pipe early is a normal end.
async fn an_export_read_in_part_ends_quietly(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let list: Vec<Value> = (0..5000).map(|i| contact(&format!("{i:06}"), &format!("Person {i}"))).collect();
    assert_eq!(app.post(&t, "/contacts/add", &Value::Array(list)).await.status(), 200);
    let mut child = Command::new(env!("CARGO_BIN_EXE_contactd"))
        .args(["export", "--biller", "1001", "--database", &app.db.url])
        .env_remove("CONTACTD_DATABASE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.starts_with("account_number,"), "{first}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !stderr.contains("error"), "{}: {stderr}", out.status);
}

/// `biller fields set` weighs a change against the stored contacts, as the API does.
async fn fields_set_weighs_the_change(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    assert_eq!(app.post(&t, "/contacts/add", &serde_json::json!([contact("1234", "Sam Smith")])).await.status(), 200);
    let file = std::env::temp_dir().join(format!("contactd-empty-fields-{}.json", rand::random::<u32>()));
    std::fs::write(&file, "{}").unwrap();
    let set = |extra: &[&str]| {
        contactd(
            &app.db,
            &[&["biller", "fields", "set", "--code", "1001", "--file", file.to_str().unwrap()][..], extra].concat(),
        )
    };
    let refused = set(&[]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("1 of biller 1001's 1 contacts invalid"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let dry = json_out(&set(&["--dry-run", "--json"]));
    assert_eq!((dry["applied"].as_bool(), dry["invalid"].as_u64()), (Some(false), Some(1)), "{dry}");
    let (_, kept) = body(app.get(&t, "/field-settings").await).await;
    assert_eq!(kept["fields"].as_array().unwrap().len(), 6, "nothing changed: {kept}");
    let done = json_out(&set(&["--confirm", "--json"]));
    assert_eq!(done["applied"], true, "{done}");
    std::fs::remove_file(&file).ok();
}

crate::both_stores!(
    fields_set_weighs_the_change,
    an_export_read_in_part_ends_quietly,
    import_files,
    import_through_a_server,
    export_round_trips,
    admin_commands,
    first_start_prints_demo_credentials_once,
    unknown_database_schemes_are_refused,
    shuts_down_on_sigterm_and_logs_no_secrets,
);

//! The drop folder: files become jobs, then move to done/ or failed/ beside
//! an acknowledgement; half-written files are left alone.

use crate::helpers::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

async fn inbox_app(b: Backend) -> (TestApp, PathBuf) {
    let dir = std::env::temp_dir().join(format!("contactd-inbox-{}", rand::random::<u32>()));
    std::fs::create_dir_all(dir.join("1001")).unwrap();
    let root = dir.clone();
    let app = spawn_app_with(b, move |s| {
        s.workers = 1;
        s.inbox = Some(root);
        s.inbox_settle = Duration::from_secs(1);
    })
    .await;
    (app, dir)
}

/// Waits for `DIR/1001/{done,failed}/NAME.ack.json`; returns the ack and which folder.
async fn ack(dir: &Path, code: &str, name: &str) -> (&'static str, Value) {
    for _ in 0..300 {
        for outcome in ["done", "failed"] {
            let path = dir.join(code).join(outcome).join(format!("{name}.ack.json"));
            // The ack is renamed into place first, then the file moves beside it.
            if let Ok(text) = std::fs::read_to_string(&path)
                && dir.join(code).join(outcome).join(name).is_file()
            {
                return (outcome, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no acknowledgement for {name}");
}

fn rows(range: std::ops::Range<u32>, name: &str) -> String {
    range.map(|i| format!("{i:06},{name} {i},{i:06},Auth {i}\r\n")).collect()
}

async fn files_become_jobs(b: Backend) {
    let (app, dir) = inbox_app(b).await;
    let t = app.biller("1001", ALL).await;
    let inbox = dir.join("1001");
    let header = "biller-account-number,name,contact-id-1,contact-id-2\r\n";

    // An add, by its Payreq file type row.
    std::fs::write(inbox.join("a.csv"), format!("ADD_CONTACTS\r\n{header}{}TRAILER,10\r\n", rows(0..10, "P"))).unwrap();
    let (outcome, a) = ack(&dir, "1001", "a.csv").await;
    assert_eq!(
        (outcome, a["kind"].as_str(), a["status"].as_str(), a["created"].as_u64()),
        ("done", Some("add"), Some("completed"), Some(10)),
        "{a}"
    );
    assert_eq!(
        (a["file"].as_str(), a["biller_code"].as_str(), &a["errors"]),
        (Some("a.csv"), Some("1001"), &Value::Array(vec![]))
    );
    assert!(a["job_id"].as_str().unwrap().starts_with("job_"));
    assert_eq!(app.all_contacts(&t).await.len(), 10);
    assert!(!inbox.join("a.csv").exists() && !inbox.join("processing/a.csv").exists());

    // A replace by its row; another by its name (JSON).
    let body = format!("REPLACE_CONTACTS\r\n{header}{}TRAILER,10\r\n", rows(0..10, "Q"));
    std::fs::write(inbox.join("b.csv"), body).unwrap();
    let (outcome, v) = ack(&dir, "1001", "b.csv").await;
    assert_eq!((outcome, v["kind"].as_str(), v["updated"].as_u64()), ("done", Some("replace"), Some(10)), "{v}");
    let list: Vec<Value> = (0..9).map(|i| contact(&format!("{i:06}"), "R")).collect();
    std::fs::write(inbox.join("c.replace.json"), serde_json::to_string(&list).unwrap()).unwrap();
    let (outcome, v) = ack(&dir, "1001", "c.replace.json").await;
    assert_eq!((outcome, v["kind"].as_str(), v["removed"].as_u64()), ("done", Some("replace"), Some(1)), "{v}");
    let all = app.all_contacts(&t).await;
    assert_eq!((all.len(), all["000003"]["name"].as_str()), (9, Some("R")));

    // Bad files go to failed/ with every error, and change nothing.
    let bad = format!("{header}{}12,Too Short,x,y\r\n000001,Twice,000001,z\r\n", rows(0..3, "S"));
    std::fs::write(inbox.join("bad.csv"), bad).unwrap();
    let (outcome, v) = ack(&dir, "1001", "bad.csv").await;
    assert_eq!((outcome, v["status"].as_str(), v["failed"].as_u64()), ("failed", Some("failed"), Some(2)), "{v}");
    let lines: Vec<u64> = v["errors"].as_array().unwrap().iter().map(|e| e["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [5, 5, 6], "{v}");
    assert_eq!(v["errors"][2]["code"], "duplicate_account_number");
    std::fs::write(inbox.join("cut.csv"), format!("REPLACE_CONTACTS\r\n{header}{}", rows(0..3, "T"))).unwrap();
    let (outcome, v) = ack(&dir, "1001", "cut.csv").await;
    assert_eq!((outcome, v["kind"].as_str()), ("failed", Some("replace")));
    assert!(v["refused"].as_str().unwrap().contains("TRAILER"), "{v}");
    std::fs::write(inbox.join("notes.txt"), "hello").unwrap();
    let (outcome, v) = ack(&dir, "1001", "notes.txt").await;
    assert!(outcome == "failed" && v["refused"].as_str().unwrap().contains(".csv"), "{v}");
    std::fs::create_dir_all(dir.join("9999")).unwrap();
    std::fs::write(dir.join("9999/x.csv"), format!("{header}{}", rows(0..1, "U"))).unwrap();
    let (outcome, v) = ack(&dir, "9999", "x.csv").await;
    assert!(outcome == "failed" && v["refused"].as_str().unwrap().contains("biller"), "{v}");
    assert_eq!(app.all_contacts(&t).await, all);

    // The same name again is kept apart, not overwritten.
    std::fs::write(inbox.join("a.csv"), format!("{header}{}", rows(0..9, "R"))).unwrap();
    for _ in 0..300 {
        if std::fs::read_dir(inbox.join("done")).unwrap().count() == 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let done: Vec<String> =
        std::fs::read_dir(inbox.join("done")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(done.len(), 8, "{done:?}");
    assert!(done.iter().any(|n| n.ends_with("-a.csv.ack.json")), "{done:?}");
    std::fs::remove_dir_all(&dir).ok();
}

async fn half_written_files_wait(b: Backend) {
    let (app, dir) = inbox_app(b).await;
    let t = app.biller("1001", ALL).await;
    let inbox = dir.join("1001");
    let header = "biller-account-number,name,contact-id-1,contact-id-2\r\n";

    // A file still growing is left alone; once it stops, all of it is taken.
    let path = inbox.join("slow.csv");
    std::fs::write(&path, header).unwrap();
    for i in 0..12u32 {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(rows(i * 10..i * 10 + 10, "Slow").as_bytes()).unwrap();
        drop(f);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(path.exists(), "taken while still being written (after {i} appends)");
    }
    // Links and nested folders are not followed (and a file beside the biller folders is no one's).
    std::fs::write(dir.join("outside.csv"), format!("{header}{}", rows(300..302, "Link"))).unwrap();
    std::os::unix::fs::symlink(dir.join("outside.csv"), inbox.join("link.csv")).unwrap();
    std::fs::create_dir_all(inbox.join("nested")).unwrap();
    std::fs::write(inbox.join("nested/n.csv"), format!("{header}{}", rows(400..402, "Nested"))).unwrap();
    // A .part file is never taken, however old; renamed into place, it is.
    std::fs::write(inbox.join("next.csv.part"), format!("{header}{}", rows(200..205, "Part"))).unwrap();
    let (outcome, v) = ack(&dir, "1001", "slow.csv").await;
    assert_eq!((outcome, v["total"].as_u64(), v["created"].as_u64()), ("done", Some(120), Some(120)), "{v}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(inbox.join("next.csv.part").exists());
    for left in [inbox.join("link.csv"), inbox.join("nested/n.csv"), dir.join("outside.csv")] {
        assert!(left.exists(), "{} was moved", left.display());
    }
    assert_eq!(app.all_contacts(&t).await.len(), 120);
    std::fs::rename(inbox.join("next.csv.part"), inbox.join("next.csv")).unwrap();
    let (outcome, v) = ack(&dir, "1001", "next.csv").await;
    assert_eq!((outcome, v["created"].as_u64()), ("done", Some(5)), "{v}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A server that stopped mid-file finishes it on restart: a file with a kept
/// job id follows that job (no second submission); one without is submitted.
async fn a_restarted_server_finishes_what_it_took(b: Backend) {
    let first = spawn_app_with(b, |s| s.workers = 1).await;
    let t = first.biller("1001", ALL).await;
    let dir = std::env::temp_dir().join(format!("contactd-inbox-{}", rand::random::<u32>()));
    let processing = dir.join("1001/processing");
    std::fs::create_dir_all(&processing).unwrap();
    let header = "biller-account-number,name,contact-id-1,contact-id-2\r\n";
    let res = first
        .request(reqwest::Method::POST, "/v1/billers/1001/contacts/job/add", &t.token)
        .header("content-type", "text/csv")
        .body(format!("{header}{}", rows(0..4, "Sent")))
        .send()
        .await
        .unwrap();
    let job_id = body(res).await.1["job_id"].as_str().unwrap().to_owned();
    std::fs::write(processing.join("sent.csv"), format!("{header}{}", rows(0..4, "Sent"))).unwrap();
    std::fs::write(processing.join("sent.csv.job"), &job_id).unwrap();
    std::fs::write(processing.join("unsent.csv"), format!("{header}{}", rows(10..12, "Unsent"))).unwrap();

    let root = dir.clone();
    let second = spawn_app_on(first.db.share(), move |s| {
        s.workers = 1;
        s.inbox = Some(root);
    })
    .await;
    let (outcome, sent) = ack(&dir, "1001", "sent.csv").await;
    assert_eq!((outcome, sent["job_id"].as_str(), sent["created"].as_u64()), ("done", Some(job_id.as_str()), Some(4)));
    let (outcome, unsent) = ack(&dir, "1001", "unsent.csv").await;
    assert_eq!((outcome, unsent["created"].as_u64()), ("done", Some(2)));
    let (_, jobs) = body(second.get(&t, "/jobs").await).await;
    assert_eq!(jobs["data"].as_array().unwrap().len(), 2, "one job per file: {jobs}");
    assert_eq!(std::fs::read_dir(&processing).unwrap().count(), 0, "nothing left in processing/");

    // A new file named like one left in processing/ (with a job id) is its own job.
    std::fs::write(processing.join("dup.csv"), "stale").unwrap();
    std::fs::write(processing.join("dup.csv.job"), &job_id).unwrap();
    std::fs::write(dir.join("1001/dup.csv"), format!("{header}{}", rows(20..22, "Dup"))).unwrap();
    for _ in 0..300 {
        if second.all_contacts(&t).await.contains_key("000021") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(second.all_contacts(&t).await["000021"]["name"], "Dup 21");
    assert_eq!(std::fs::read_to_string(processing.join("dup.csv")).unwrap(), "stale", "not overwritten");
    std::fs::remove_dir_all(&dir).ok();
}

crate::both_stores!(files_become_jobs, half_written_files_wait, a_restarted_server_finishes_what_it_took);

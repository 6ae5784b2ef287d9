//! Crash safety: the real binary is killed with SIGKILL while a job runs; a
//! restarted server takes the job over when its lease ends and finishes it
//! exactly once.

use crate::helpers::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    pub base: String,
}

/// Starts `contactd serve` and reads its address (and, on a first start, the demo key).
pub fn start(db: &TestDb, first: bool) -> (Server, Option<(String, String)>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_contactd"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &db.url, "--workers", "1", "--job-lease-secs", "2"])
        .args(if first { &[][..] } else { &["--no-demo"][..] })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let addr = loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "the server exited");
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in stderr.lines() {});
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut key = None;
    if first {
        // The banner is printed before the listening line, so it is all there.
        let mut text = String::new();
        while !text.contains("Add a contact") {
            assert!(out.read_line(&mut text).unwrap() > 0, "no demo banner: {text}");
        }
        let field = |name: &str| text.split(name).nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
        key = Some((field("key id:"), field("key secret:")));
    }
    std::thread::spawn(move || for _ in out.lines() {});
    (Server { child, base: format!("http://{addr}") }, key)
}

impl Server {
    fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn token(c: &reqwest::Client, base: &str, key: &(String, String)) -> String {
    let v: Value = c
        .post(format!("{base}/v1/auth/token"))
        .basic_auth(&key.0, Some(&key.1))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["token"].as_str().unwrap().to_owned()
}

async fn job_status(c: &reqwest::Client, base: &str, token: &str, id: &str) -> Value {
    c.get(format!("{base}/v1/billers/DEMO/jobs/{id}"))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn count(c: &reqwest::Client, base: &str, token: &str) -> usize {
    let mut n = 0;
    let mut cursor = String::new();
    loop {
        let v: Value = c
            .get(format!("{base}/v1/billers/DEMO/contacts?limit=1000{cursor}"))
            .header("Authorization", format!("Token {token}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        n += v["data"].as_array().unwrap().len();
        match v["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return n,
        }
    }
}

/// Submits an NDJSON job through `base`; returns its id.
async fn submit_ndjson(c: &reqwest::Client, base: &str, token: &str, kind: &str, body: String) -> String {
    let res = c
        .post(format!("{base}/v1/billers/DEMO/contacts/job/{kind}"))
        .header("Authorization", format!("Token {token}"))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    res.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().to_owned()
}

/// Polls the job through `base` until `done` says so; fails after `limit`.
async fn wait_for(
    c: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let s = job_status(c, base, token, id).await;
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "the job did not get there in time: {s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ended(s: &Value) -> bool {
    s["status"] == "completed" || s["status"] == "failed"
}

/// Kills the server when `moment` says so, restarts it, and checks the job ends exactly once.
async fn kill_and_recover(b: Backend, kind: &str, moment: fn(&Value) -> bool) {
    let db = TestDb::new(b).await;
    let (server, key) = start(&db, true);
    let key = key.expect("demo key on first start");
    let c = reqwest::Client::new();
    let t = token(&c, &server.base, &key).await;
    const N: usize = 20_000;
    let body: String = (0..N)
        .map(|i| {
            format!(
                "{{\"account_number\":\"{i:07}\",\"name\":\"Person {i}\",\"fields\":{{\"contact-id-1\":\"{i:07}\"}}}}\n"
            )
        })
        .collect();
    let id = submit_ndjson(&c, &server.base, &t, kind, body).await;
    wait_for(&c, &server.base, &t, &id, Duration::from_secs(60), |s| moment(s) || s["status"] == "completed").await;
    server.kill9();

    let (server, _) = start(&db, false);
    let done = wait_for(&c, &server.base, &t, &id, Duration::from_secs(120), ended).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["created"].as_u64(), Some(N as u64), "applied exactly once: {done}");
    assert_eq!(count(&c, &server.base, &t).await, N, "the exact contact set");
}

async fn killed_while_validating(b: Backend) {
    kill_and_recover(b, "add", |s| s["status"] == "validating" && s["processed"].as_u64().unwrap_or(0) > 0).await;
}

async fn killed_as_soon_as_queued(b: Backend) {
    kill_and_recover(b, "replace", |_| true).await;
}

/// Two servers on one PostgreSQL database: a token from A works on B, writes
/// through A read through B, and a 200,000-contact job that A is working when
/// it is killed is finished by B, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_one_database_one_dies() {
    let db = TestDb::new(Backend::Postgres).await;
    let (a, key) = start(&db, true);
    let key = key.expect("demo key");
    let c = reqwest::Client::new();
    let t = token(&c, &a.base, &key).await;
    let add = c
        .post(format!("{}/v1/billers/DEMO/contacts/add", a.base))
        .header("Authorization", format!("Token {t}"))
        .json(&serde_json::json!([{"account_number": "A1", "name": "Via A"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(add.status(), 200);

    const N: usize = 200_000;
    let body: String = (0..N).map(|i| format!("{{\"account_number\":\"{i:07}\",\"name\":\"Person {i}\"}}\n")).collect();
    let id = submit_ndjson(&c, &a.base, &t, "add", body).await;
    // A, the only server so far, is working the job...
    wait_for(&c, &a.base, &t, &id, Duration::from_secs(60), |s| s["processed"].as_u64().unwrap_or(0) > 0).await;
    // ...when B joins: A's token works on B, and B reads A's writes.
    let (b, _) = start(&db, false);
    let via_b: Value = c
        .get(format!("{}/v1/billers/DEMO/contacts/acct:A1", b.base))
        .header("Authorization", format!("Token {t}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(via_b["name"], "Via A");
    a.kill9();
    let done = wait_for(&c, &b.base, &t, &id, Duration::from_secs(240), ended).await;
    assert_eq!((done["status"].as_str(), done["created"].as_u64()), (Some("completed"), Some(N as u64)), "{done}");
    assert_eq!(count(&c, &b.base, &t).await, N + 1, "the exact set: the job's contacts and A1");
}

crate::both_stores!(killed_while_validating, killed_as_soon_as_queued);

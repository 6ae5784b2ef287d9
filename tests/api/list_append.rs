//! A list-append test in the style of Jepsen's: clients read a contact and
//! append a unique token to one of its notes with a conditional PATCH
//! (If-Match), retrying on 412, against real `contactd serve` processes (one
//! on SQLite; two sharing one PostgreSQL database). Afterwards the stored
//! list holds exactly the acknowledged tokens, and the acknowledged writes
//! form one chain: each saw the version and list the one before it left.

use crate::crash::{start, token};
use crate::helpers::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const CLIENTS: usize = 16;
/// Appends per client: 80 tokens of 2 characters and a comma fit a note's 256.
const APPENDS: usize = 5;

/// One acknowledged append: its token, and the version and list it produced.
#[derive(Debug)]
struct Ack {
    token: String,
    version: i64,
    list: String,
}

/// A client's acknowledged appends, and how many of its PATCHes met a 412.
async fn client(http: reqwest::Client, base: String, auth: String, id: String, me: usize) -> (Vec<Ack>, usize) {
    let url = format!("{base}/v1/billers/DEMO/contacts/{id}");
    let (mut acks, mut refused) = (Vec::new(), 0);
    for n in 0..APPENDS {
        let token = format!("{me:x}{n}");
        loop {
            let res = http.get(&url).header("Authorization", &auth).send().await.unwrap();
            assert_eq!(res.status(), 200);
            let etag = res.headers()["etag"].to_str().unwrap().to_owned();
            let c: Value = res.json().await.unwrap();
            let list = c["notes"]["log"].as_str().unwrap_or("");
            let next = if list.is_empty() { token.clone() } else { format!("{list},{token}") };
            let res = http
                .patch(&url)
                .header("Authorization", &auth)
                .header("If-Match", &etag)
                .header("Content-Type", "application/merge-patch+json")
                .body(json!({"notes": {"log": next}}).to_string())
                .send()
                .await
                .unwrap();
            match res.status().as_u16() {
                200 => {
                    let c: Value = res.json().await.unwrap();
                    let list = c["notes"]["log"].as_str().unwrap().to_owned();
                    acks.push(Ack { token: token.clone(), version: c["version"].as_i64().unwrap(), list });
                    break;
                }
                412 => refused += 1,
                other => panic!("PATCH answered {other}: {}", res.text().await.unwrap_or_default()),
            }
        }
    }
    (acks, refused)
}

async fn list_append(backend: Backend, servers: usize) {
    let db = TestDb::new(backend).await;
    let (first, key) = start(&db, true);
    let key = key.expect("the demo key");
    let mut all = vec![first];
    for _ in 1..servers {
        all.push(start(&db.share(), false).0);
    }
    let http = reqwest::Client::new();
    let auth = format!("Token {}", token(&http, &all[0].base, &key).await);
    let res = http
        .post(format!("{}/v1/billers/DEMO/contacts", all[0].base))
        .header("Authorization", &auth)
        .json(&json!({"account_number": "000123", "name": "Sam Smith",
            "fields": {"contact-id-1": "000123", "contact-id-2": "Mr S Smith"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();

    let runs = (0..CLIENTS).map(|me| {
        let base = all[me % all.len()].base.clone();
        tokio::spawn(client(http.clone(), base, auth.clone(), id.clone(), me))
    });
    let (mut acks, mut refused): (Vec<Ack>, usize) = (Vec::new(), 0);
    for (me, run) in futures_util::future::join_all(runs).await.into_iter().enumerate() {
        let (mine, conflicts) = run.unwrap();
        refused += conflicts;
        assert!(mine.windows(2).all(|w| w[0].version < w[1].version), "client {me}'s versions rise");
        acks.extend(mine);
    }
    assert_eq!(acks.len(), CLIENTS * APPENDS);
    assert!(refused > 0, "the clients raced (else this test shows nothing)");

    // The stored list: exactly the acknowledged tokens, each once.
    let stored: Value = http
        .get(format!("{}/v1/billers/DEMO/contacts/{id}", all[all.len() - 1].base))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list: Vec<&str> = stored["notes"]["log"].as_str().unwrap().split(',').collect();
    let unique: BTreeSet<&str> = list.iter().copied().collect();
    assert_eq!(unique.len(), list.len(), "no token twice: {list:?}");
    let acked: BTreeSet<&str> = acks.iter().map(|a| a.token.as_str()).collect();
    assert_eq!(unique, acked, "the stored tokens are the acknowledged ones");

    // One chain: versions 2, 3, ... with no gap or repeat, each list the one
    // before it with its own token appended.
    acks.sort_by_key(|a| a.version);
    let mut previous = String::new();
    for (i, a) in acks.iter().enumerate() {
        assert_eq!(a.version, i as i64 + 2, "versions strictly increase by one");
        let expected = if previous.is_empty() { a.token.clone() } else { format!("{previous},{}", a.token) };
        assert_eq!(a.list, expected, "version {} saw the list version {} left", a.version, a.version - 1);
        previous = a.list.clone();
    }
    assert_eq!(stored["version"], acks.len() as i64 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_append_on_sqlite() {
    list_append(Backend::Sqlite, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_append_on_two_servers_sharing_postgres() {
    list_append(Backend::Postgres, 2).await;
}

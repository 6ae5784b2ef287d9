use crate::helpers::*;
use serde_json::{Value, json};
use std::collections::HashMap;

/// Walks every contact page by page while another task adds, updates and
/// creates contacts: each contact that exists throughout is seen exactly once.
async fn walk_sees_every_contact_once_during_writes(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let original: Vec<Value> = (0..600).map(|i| contact(&format!("{:06}", i * 2), &format!("Person {i}"))).collect();
    for chunk in original.chunks(300) {
        assert_eq!(app.post(&t, "/contacts/add", &json!(chunk)).await.status(), 200);
    }

    let writer = {
        let (client, url, token) = (app.client.clone(), app.url("/v1/billers/1001/contacts/add"), t.token.clone());
        tokio::spawn(async move {
            for round in 0..20 {
                // New contacts between existing ones, and updates of existing ones.
                let batch: Vec<Value> = (0..30)
                    .map(|i| {
                        let n = round * 30 + i;
                        if i % 2 == 0 {
                            contact(&format!("{:06}", n * 2 + 1), "Inserted")
                        } else {
                            contact(&format!("{:06}", n * 2), &format!("Updated {round}"))
                        }
                    })
                    .collect();
                let res = client
                    .post(&url)
                    .header("Authorization", format!("Token {token}"))
                    .json(&batch)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200);
            }
        })
    };

    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            None => "/contacts?limit=25".to_owned(),
            Some(c) => format!("/contacts?limit=25&cursor={c}"),
        };
        let (s, page) = body(app.get(&t, &path).await).await;
        assert_eq!(s, 200);
        pages += 1;
        for c in page["data"].as_array().unwrap() {
            *seen.entry(c["account_number"].as_str().unwrap().to_owned()).or_default() += 1;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    writer.await.unwrap();
    assert!(pages >= 24);
    assert!(seen.values().all(|n| *n == 1), "no contact is seen twice");
    for c in &original {
        assert_eq!(seen.get(c["account_number"].as_str().unwrap()), Some(&1), "every original contact is seen once");
    }
    // After the writes, a fresh walk sees the final set exactly.
    assert_eq!(app.all_contacts(&t).await.len(), 600 + 300);
}

crate::both_stores!(walk_sees_every_contact_once_during_writes);

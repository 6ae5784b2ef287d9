use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

async fn post_with_key(
    app: &TestApp,
    t: &Tenant,
    path: &str,
    key: &str,
    content_type: &str,
    payload: String,
) -> (u16, Value, bool) {
    let res = app
        .request(Method::POST, &format!("/v1/billers/{}{path}", t.code), &t.token)
        .header("idempotency-key", key)
        .header("content-type", content_type)
        .body(payload)
        .send()
        .await
        .unwrap();
    let replayed = res.headers().get("idempotent-replayed").is_some();
    let (s, v) = body(res).await;
    (s, v, replayed)
}

async fn sync_writes_replay_and_refuse_a_different_body(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let first = json!([contact("1001", "Sam")]).to_string();
    let (s, v, replayed) = post_with_key(&app, &t, "/contacts/add", "k-1", "application/json", first.clone()).await;
    assert_eq!((s, v["created"].as_u64(), replayed), (200, Some(1), false));
    // Meanwhile the contact changes; the replay must not touch it.
    app.post(&t, "/contacts/add", &json!([contact("1001", "Changed")])).await;
    let (s, again, replayed) = post_with_key(&app, &t, "/contacts/add", "k-1", "application/json", first.clone()).await;
    assert_eq!((s, &again, replayed), (200, &v, true), "the same key and body: the original response");
    assert_eq!(app.all_contacts(&t).await["1001"]["name"], "Changed", "a replay writes nothing");
    let (s, v, _) = post_with_key(
        &app,
        &t,
        "/contacts/add",
        "k-1",
        "application/json",
        json!([contact("1002", "Other")]).to_string(),
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (422, Some("idempotency_key_reused")));
    // The same key on another endpoint is another request.
    let (s, _, _) =
        post_with_key(&app, &t, "/contacts/replace?confirm_removals=0", "k-1", "application/json", first.clone()).await;
    assert_eq!(s, 422);
    // Errors are kept too: a rejected request replays its error.
    let bad = json!([{"account_number": "1"}]).to_string();
    let (s, v, _) = post_with_key(&app, &t, "/contacts/add", "k-2", "application/json", bad.clone()).await;
    let (s2, v2, replayed) = post_with_key(&app, &t, "/contacts/add", "k-2", "application/json", bad).await;
    assert_eq!((s, s2, replayed), (422, 422, true));
    assert_eq!(v, v2);
    // Keys are per biller.
    let other = app.biller("2002", ALL).await;
    let (s, _, replayed) = post_with_key(
        &app,
        &other,
        "/contacts/add",
        "k-1",
        "application/json",
        json!([contact("9999", "X")]).to_string(),
    )
    .await;
    assert_eq!((s, replayed), (200, false));
    // A malformed key is refused, and nothing is written.
    let (s, v, _) = post_with_key(
        &app,
        &t,
        "/contacts/add",
        "has space",
        "application/json",
        json!([contact("3000", "Y")]).to_string(),
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (400, Some("invalid_idempotency_key")));
    assert!(!app.all_contacts(&t).await.contains_key("3000"));
    // After 24 hours the key is forgotten (the hourly purge; run here directly).
    app.store.purge_keys(contactd::service::now() + time::Duration::seconds(1)).await.unwrap();
    let (s, v, replayed) = post_with_key(
        &app,
        &t,
        "/contacts/add",
        "k-1",
        "application/json",
        json!([contact("1002", "Other")]).to_string(),
    )
    .await;
    assert_eq!((s, v["created"].as_u64(), replayed), (200, Some(1), false));
}

async fn a_job_submitted_twice_is_one_job(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let ndjson =
        [contact("1001", "A"), contact("1002", "B")].iter().map(|c| c.to_string()).collect::<Vec<_>>().join("\n");
    let (s, first, _) =
        post_with_key(&app, &t, "/contacts/job/add", "job-1", "application/x-ndjson", ndjson.clone()).await;
    assert_eq!(s, 202);
    let (s, second, replayed) =
        post_with_key(&app, &t, "/contacts/job/add", "job-1", "application/x-ndjson", ndjson).await;
    assert_eq!((s, replayed), (202, true));
    assert_eq!(first["job_id"], second["job_id"]);
    let (s, v, _) =
        post_with_key(&app, &t, "/contacts/job/add", "job-1", "application/x-ndjson", contact("1003", "C").to_string())
            .await;
    assert_eq!((s, v["code"].as_str()), (422, Some("idempotency_key_reused")));
    let (_, jobs) = body(app.get(&t, "/jobs").await).await;
    assert_eq!(jobs["data"].as_array().unwrap().len(), 1, "one job, whatever the retries: {jobs}");
    assert!(app.worker.run_once().await.unwrap());
    assert!(!app.worker.run_once().await.unwrap());
    assert_eq!(app.all_contacts(&t).await.len(), 2);
}

crate::both_stores!(sync_writes_replay_and_refuse_a_different_body, a_job_submitted_twice_is_one_job);

use crate::helpers::*;
use serde_json::Value;
use std::time::Duration;

async fn health_readiness_request_ids_and_openapi(b: Backend) {
    let app = spawn_app(b).await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated.len(), 36, "a UUID is generated");
    let (s, v) = body(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(v["database"], if b == Backend::Sqlite { "sqlite" } else { "postgres" });

    let res = app.client.get(app.url("/v1/billers/X/contacts")).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["x-request-id"], "abc-123", "a client's request id is echoed, errors included");

    let (s, doc) = body(app.client.get(app.url("/openapi.json")).send().await.unwrap()).await;
    assert_eq!(s, 200);
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/auth/token", "post"),
        ("/v1/billers/{code}/contacts/add", "post"),
        ("/v1/billers/{code}/contacts/replace", "post"),
        ("/v1/billers/{code}/contacts", "post"),
        ("/v1/billers/{code}/contacts", "get"),
        ("/v1/billers/{code}/contacts/{id}", "get"),
        ("/v1/billers/{code}/contacts/{id}", "delete"),
        ("/v1/billers/{code}/field-settings", "get"),
        ("/v1/billers/{code}/field-settings", "put"),
        ("/v1/billers/{code}/contacts/job/add", "post"),
        ("/v1/billers/{code}/contacts/job/replace", "post"),
        ("/v1/billers/{code}/jobs", "get"),
        ("/v1/billers/{code}/jobs/{job_id}", "get"),
        ("/v1/billers/{code}/jobs/{job_id}/errors", "get"),
        ("/v1/billers/{code}/jobs/{job_id}/cancel", "post"),
        ("/openapi.json", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some_and(Value::is_object),
            "openapi lacks {method} {path}"
        );
    }
}

/// The document says where each parameter goes and what each operation
/// answers (schemathesis checks the rest against a live server in CI).
async fn openapi_places_parameters_and_errors_exactly(b: Backend) {
    let app = spawn_app(b).await;
    let (_, doc) = body(app.client.get(app.url("/openapi.json")).send().await.unwrap()).await;
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(ids.insert(op["operationId"].as_str().unwrap().to_owned()), "operationIds are unique");
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                let place = if path.contains(&format!("{{{name}}}")) {
                    "path"
                } else if ["Idempotency-Key", "If-Match", "If-None-Match"].contains(&name) {
                    "header"
                } else {
                    "query"
                };
                assert_eq!(p["in"], place, "{method} {path} {name}");
            }
            let responses = op["responses"].as_object().unwrap();
            for (status, r) in responses {
                if status.as_str() >= "400" {
                    let content: Vec<&String> = r["content"].as_object().unwrap().keys().collect();
                    assert_eq!(content, ["application/problem+json"], "{method} {path} {status}");
                }
            }
            if op.get("security").is_some() {
                for status in ["400", "401", "403", "404", "500", "503"] {
                    assert!(responses.contains_key(status), "{method} {path} documents {status}");
                }
            }
        }
    }
    let names = |path: &str, method: &str| -> Vec<String> {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(!names("/v1/billers/{code}/jobs", "get").contains(&"format".to_owned()));
    assert!(!names("/v1/billers/{code}/jobs/{job_id}/errors", "get").contains(&"status".to_owned()));
    let input = &doc["components"]["schemas"]["ContactInput"];
    assert_eq!(input["required"], serde_json::json!(["account_number", "name"]));
    assert_eq!(input["properties"]["account_number"]["type"], "string", "account_number may not be null");
    assert_eq!(input["properties"]["tags"]["items"]["pattern"], "^[0-9a-f]{24}$");
    let limit = doc["paths"]["/v1/billers/{code}/snapshots"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap()["schema"]
        .clone();
    assert_eq!((limit["minimum"].as_u64(), limit["maximum"].as_u64()), (Some(1), Some(1000)));
}

crate::both_stores!(health_readiness_request_ids_and_openapi, openapi_places_parameters_and_errors_exactly);

/// PostgreSQL: with every pooled connection held by a write waiting on a
/// lock, a further request waits 10 s for one, then gets `503` with
/// `Retry-After` (rather than waiting for ever), and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_server_out_of_connections_answers_busy() {
    let app = spawn_app(Backend::Postgres).await;
    let t = app.biller("1001", ALL).await;
    let (locker, conn) = tokio_postgres::connect(&app.db.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    // The biller's lock, as a bulk write takes it (see `BillerLock`).
    locker
        .batch_execute("BEGIN; SELECT pg_advisory_xact_lock(1668247156, id::int) FROM billers WHERE code = '1001'")
        .await
        .unwrap();
    // Single creates do not queue in the server: each holds a connection
    // while it waits for the biller's lock, sixteen of them the whole pool.
    let bodies: Vec<Value> = (0..16).map(|i| contact(&format!("{i:04}"), "Waiting")).collect();
    let waiting = futures_util::future::join_all(bodies.iter().map(|b| app.post(&t, "/contacts", b)));
    let late = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let started = std::time::Instant::now();
        let res =
            tokio::time::timeout(Duration::from_secs(30), app.post(&t, "/contacts", &contact("9999", "Late"))).await;
        let waited = started.elapsed();
        locker.batch_execute("ROLLBACK").await.unwrap();
        (res.expect("an answer, not a wait for ever"), waited)
    };
    let (waited_for_lock, (late, waited)) = tokio::join!(waiting, late);
    assert_eq!(late.status(), 503);
    assert!(late.headers().get("retry-after").is_some());
    assert!(waited >= Duration::from_secs(9), "answered after {waited:?}");
    assert!(waited_for_lock.iter().all(|r| r.status() == 201));
    let stored = app.all_contacts(&t).await;
    assert_eq!((stored.len(), stored.contains_key("9999")), (16, false));
}

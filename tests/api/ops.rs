use crate::helpers::*;
use serde_json::Value;

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

crate::both_stores!(health_readiness_request_ids_and_openapi);

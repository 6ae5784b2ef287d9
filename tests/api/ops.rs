use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};
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

    let schemas = &doc["components"]["schemas"];
    // A history entry's before and after are any JSON value.
    for side in ["before", "after"] {
        assert!(schemas["FieldChange"]["properties"][side].get("type").is_none(), "{side} is any value");
    }
    // A record's lists and objects may be null (absent); `e164` is ignored, whatever it is.
    for p in ["phones", "notes", "tags", "fields"] {
        assert!(input["properties"][p]["type"].as_array().unwrap().contains(&json!("null")), "{p}");
    }
    assert!(schemas["PhoneInput"]["properties"]["e164"].get("type").is_none());
    // A merge patch: ContactInput's properties, none required, each nullable, no others.
    let patch = &schemas["ContactPatch"];
    assert!(patch.get("required").is_none());
    assert_eq!(patch["additionalProperties"], false);
    let (props, input_props) = (patch["properties"].as_object().unwrap(), input["properties"].as_object().unwrap());
    assert_eq!(props.keys().collect::<Vec<_>>(), input_props.keys().collect::<Vec<_>>());
    for (name, p) in props {
        let nullable = p["type"].as_array().is_some_and(|t| t.contains(&json!("null")))
            || p["oneOf"].as_array().is_some_and(|o| o.contains(&json!({"type": "null"})));
        assert!(nullable, "ContactPatch.{name} may be null: {p}");
    }
    assert_eq!(props["notes"]["additionalProperties"]["type"], json!(["string", "null"]));
    let contact_op = &doc["paths"]["/v1/billers/{code}/contacts/{id}"];
    for media in ["application/json", "application/merge-patch+json"] {
        let schema = &contact_op["patch"]["requestBody"]["content"][media]["schema"];
        assert_eq!(schema["$ref"], "#/components/schemas/ContactPatch", "{media}");
    }
    // The settings document, read and written: every key `SettingsDoc` has.
    let settings = &schemas["FieldSettings"]["properties"];
    for key in ["name_rules", "crn", "require_if_match", "phone_country"] {
        assert!(settings.get(key).is_some(), "FieldSettings.{key}");
    }
    let fs = &doc["paths"]["/v1/billers/{code}/field-settings"];
    assert_eq!(
        fs["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/FieldSettings"
    );
    assert_eq!(
        fs["put"]["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/FieldSettings"
    );
    assert_eq!(
        fs["put"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/SettingsResult"
    );
    assert_eq!(schemas["SettingsResult"]["properties"]["settings"]["$ref"], "#/components/schemas/FieldSettings");
    // Links from what makes a hold or a tag to what removes it.
    let holds = &doc["paths"]["/v1/billers/{code}/contacts/{id}/holds"]["post"]["responses"]["201"]["links"];
    assert_eq!(holds["ReleaseHold"]["operationId"], "release_hold");
    assert_eq!(holds["ReleaseHold"]["parameters"]["id"], "$request.path.id");
    assert_eq!(holds["ReleaseHold"]["parameters"]["hold_id"], "$response.body#/hold_id");
    let tags = &doc["paths"]["/v1/billers/{code}/tags"]["post"]["responses"]["201"]["links"];
    assert_eq!(tags["DeleteTag"]["operationId"], "delete_tag");
    assert_eq!(tags["DeleteTag"]["parameters"]["tag_id"], "$response.body#/id");
}

/// The patterns the document gives conditional headers, catalogue names,
/// holds and the settings take what the server takes: no more, no less.
async fn openapi_patterns_are_what_the_server_takes(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.biller("1001", ALL).await;
    let (_, doc) = body(app.client.get(app.url("/openapi.json")).send().await.unwrap()).await;
    let schemas = &doc["components"]["schemas"];
    let regex = |schema: &Value| regex::Regex::new(schema["pattern"].as_str().unwrap()).unwrap();
    let header = |method: &str, name: &str| {
        let params = doc["paths"]["/v1/billers/{code}/contacts/{id}"][method]["parameters"].as_array().unwrap();
        regex(&params.iter().find(|p| p["name"] == name).unwrap()["schema"])
    };
    let (s, v) = body(app.post(&t, "/contacts", &contact("5001", "Ann Lee")).await).await;
    assert_eq!(s, 201, "{v}");
    let path = format!("/v1/billers/1001/contacts/{}", v["id"].as_str().unwrap());

    // If-Match: `*`, one tag (any: it matches or is 412), or none (412).
    let if_match = header("patch", "If-Match");
    for value in [
        "",
        " ",
        "*",
        " * ",
        "\"1\"",
        "W/\"1\"",
        "\"a\"b\"",
        "\"\"",
        "\t\"9\"\t",
        "\"a b\"",
        ",",
        "\"1\", \"2\"",
        "1",
        "\"1",
        "null",
        "**",
        "W/1",
        "W/W/\"1\"",
        "\"1\",",
    ] {
        let res = app
            .request(Method::PATCH, &path, &t.token)
            .header("If-Match", value)
            .header("Content-Type", "application/merge-patch+json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status() != 400, if_match.is_match(value), "If-Match {value:?}: {}", res.status());
    }
    // If-None-Match: a list of tags (weak ones too) or `*`, empty items allowed.
    let if_none_match = header("get", "If-None-Match");
    for value in ["", "*", "\"1\", W/\"2\"", ",,", " \"1\" \"2\" ", "\"x\",*", "1", "\"1\",x", "W/x", "\"1"] {
        let res = app.request(Method::GET, &path, &t.token).header("If-None-Match", value).send().await.unwrap();
        assert_eq!(res.status() != 400, if_none_match.is_match(value), "If-None-Match {value:?}: {}", res.status());
    }

    // Names and kinds: each a distinct value, 201 exactly when the pattern matches.
    let cases: [(&str, &str, &str, &[&str]); 4] = [
        (
            "NewTag",
            "name",
            "/tags",
            &["x", " y ", &"z".repeat(64), &"w".repeat(65), "", "   ", "a\u{7}b", "\u{a0}q\u{3000}"],
        ),
        (
            "NewContactType",
            "name",
            "/contact-types",
            &["p", &"t".repeat(40), &"u".repeat(41), "", " p2", "p3 ", "a\u{1}b", "\u{3000}"],
        ),
        (
            "NewHold",
            "kind",
            "/contacts/acct:5001/holds",
            &["direct_debit", "a-b_1", &"k".repeat(40), &"k".repeat(41), "", "A", "1a", "a b", "é"],
        ),
        (
            "NewHold",
            "reference",
            "/contacts/acct:5001/holds",
            &["", "  ", &"r".repeat(100), " r ", &"r".repeat(101), "a\nb", "\u{85}"],
        ),
    ];
    for (schema, field, route, values) in cases {
        let re = regex(&schemas[schema]["properties"][field]);
        for value in values {
            let sent = if schema == "NewHold" && field == "reference" {
                json!({"kind": "direct_debit", "reference": value})
            } else {
                json!({ field: value })
            };
            let (s, v) = body(app.post(&t, route, &sent).await).await;
            assert_eq!(s == 201, re.is_match(value), "{schema}.{field} {value:?}: {s} {v}");
        }
    }

    // A record's countries: alpha-2 in either case or a numeric id, trimmed.
    let country = regex(&schemas["PhoneInput"]["properties"]["country"]);
    for (value, known) in
        [("AU", true), ("nz", true), ("036", true), (" 36 ", true), ("", true), ("XX", false), ("A1", false)]
    {
        assert_eq!(country.is_match(value), known, "{value:?}");
    }
    let number = regex(&schemas["PhoneInput"]["properties"]["number"]);
    let phoned = json!({"account_number": "5002", "name": "Bo Lee", "fields": {"contact-id-1": "5002", "contact-id-2": "x"},
        "phones": [{"number": "\t0412 345 678 ", "country": " 036", "e164": 7}], "tags": null, "notes": null});
    assert!(number.is_match("\t0412 345 678 "));
    let (s, v) = body(app.post(&t, "/contacts", &phoned).await).await;
    assert_eq!((s, &v["phones"][0]["country"]), (201, &json!("AU")), "{v}");

    // A date of birth: YYYY-MM-DD from year 1000 (a real, past date, or 422).
    let date = regex(&schemas["ContactInput"]["properties"]["date_of_birth"]);
    for (acct, value) in [("5003", "1999-12-31"), ("5004", ""), ("5005", "0999-12-31")] {
        let born = json!({"account_number": acct, "name": "Cy Lee", "date_of_birth": value,
            "fields": {"contact-id-1": acct, "contact-id-2": "x"}});
        let (s, v) = body(app.post(&t, "/contacts", &born).await).await;
        assert_eq!(s == 201, date.is_match(value), "date_of_birth {value:?}: {s} {v}");
    }
    // One phone of each kind (none named: primary).
    let phones = &schemas["ContactInput"]["properties"]["phones"]["allOf"];
    assert_eq!(phones[0]["contains"]["properties"]["kind"]["enum"], json!(["primary", null]));
    assert_eq!(phones.as_array().unwrap().iter().map(|c| &c["maxContains"]).collect::<Vec<_>>(), [&json!(1); 4]);

    // The settings document as the server answers it, every key in the schema.
    let mut doc_now = body(app.get(&t, "/field-settings").await).await.1;
    doc_now["phone_country"] = json!("au");
    doc_now["crn"]["algorithm"] = json!("mod10v05");
    let res = app
        .request(Method::PUT, "/v1/billers/1001/field-settings?confirm=true", &t.token)
        .json(&doc_now)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let settings = &schemas["FieldSettings"]["properties"];
    let (_, now) = body(app.get(&t, "/field-settings").await).await;
    for (key, value) in now.as_object().unwrap() {
        assert!(settings.get(key).is_some(), "FieldSettings lacks {key}");
        if let Some(p) = settings[key].get("pattern") {
            assert!(regex(&settings[key]).is_match(value.as_str().unwrap()), "{key} {value} against {p}");
        }
    }
    assert!(regex(&settings["crn"]["properties"]["algorithm"]).is_match(now["crn"]["algorithm"].as_str().unwrap()));
}

crate::both_stores!(
    health_readiness_request_ids_and_openapi,
    openapi_places_parameters_and_errors_exactly,
    openapi_patterns_are_what_the_server_takes
);

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

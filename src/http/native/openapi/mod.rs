//! The OpenAPI document: generated from the handlers' annotations, then made
//! exact in one pass (`exact`): every status and media type each operation
//! can answer, parameters with the rules the server applies, and request
//! schemas with the validator's limits, built from the same constants.
//! `schemathesis` runs against the served document in CI.

use crate::http::native::{billers, catalogue, contact, contacts, job_submit, jobs, ops, snapshots, tokens};
use crate::http::problem;
use crate::wire::dto;
use serde_json::{Value, json};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

mod schemas;

use schemas::{alias_schema, contact_patch, path_parameter, query_parameter, request_schemas, settings_schema};

struct TokenAuth;

impl Modify for TokenAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "Token <token> (or Bearer <token>)",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "contactd", description = "Multi-tenant contact directory and sync service for billers"),
    paths(
        tokens::issue,
        contacts::add,
        contacts::replace,
        contact::create,
        contacts::list,
        contact::get,
        contact::patch,
        contact::delete,
        contact::issue_crn,
        contact::add_alias,
        catalogue::holds,
        catalogue::place_hold,
        catalogue::release_hold,
        catalogue::history,
        catalogue::tags,
        catalogue::create_tag,
        catalogue::delete_tag,
        catalogue::contact_types,
        catalogue::add_contact_type,
        billers::versions,
        job_submit::submit_add,
        job_submit::submit_replace,
        jobs::list,
        jobs::get,
        jobs::errors,
        jobs::cancel,
        snapshots::list,
        snapshots::get,
        snapshots::download,
        snapshots::restore,
        billers::get,
        billers::put,
        ops::healthz,
        ops::readyz,
        serve,
    ),
    components(schemas(dto::ContactInput, dto::ContactBody, dto::AliasesBody, dto::ContactList, dto::WriteResult, dto::TokenRequest, dto::TokenResponse, problem::Problem)),
    modifiers(&TokenAuth)
)]
struct ApiDoc;

/// This document.
#[utoipa::path(get, path = "/openapi.json", operation_id = "openapi", tag = "ops", responses((status = 200, body = Object)))]
pub async fn serve() -> axum::Json<&'static Value> {
    axum::Json(document())
}

/// The served document, built once.
pub fn document() -> &'static Value {
    static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        exact(&mut doc);
        doc
    })
}

/// One OpenAPI link: from an operation's response to another operation,
/// with the parameters it gives it (besides the biller's `code`).
type Link = (&'static str, &'static str, &'static str, &'static str, Vec<(&'static str, &'static str)>);

/// Where an answer leads (OpenAPI links).
fn links() -> Vec<Link> {
    let mut out: Vec<Link> = Vec::new();
    for from in ["submit_add_job", "submit_replace_job", "restore_snapshot"] {
        for (name, to) in [("GetJob", "get_job"), ("JobErrors", "list_job_errors"), ("CancelJob", "cancel_job")] {
            out.push((from, "202", name, to, vec![("job_id", "$response.body#/job_id")]));
        }
    }
    for (name, to) in [("GetContact", "get_contact"), ("DeleteContact", "delete_contact")] {
        out.push(("create_contact", "201", name, to, vec![("id", "$response.body#/id")]));
        out.push(("list_contacts", "200", name, to, vec![("id", "$response.body#/data/0/id")]));
    }
    out.push(("list_jobs", "200", "GetJob", "get_job", vec![("job_id", "$response.body#/data/0/job_id")]));
    for (name, to) in [
        ("GetSnapshot", "get_snapshot"),
        ("DownloadSnapshot", "download_snapshot"),
        ("RestoreSnapshot", "restore_snapshot"),
    ] {
        out.push(("list_snapshots", "200", name, to, vec![("snapshot_id", "$response.body#/data/0/snapshot_id")]));
    }
    let hold = vec![("id", "$request.path.id"), ("hold_id", "$response.body#/hold_id")];
    out.push(("place_hold", "201", "ReleaseHold", "release_hold", hold));
    out.push(("create_tag", "201", "DeleteTag", "delete_tag", vec![("tag_id", "$response.body#/id")]));
    out
}

fn add_links(paths: &mut serde_json::Map<String, Value>) {
    let mut at = std::collections::HashMap::new();
    for (path, item) in paths.iter() {
        for (method, op) in item.as_object().into_iter().flatten() {
            if let Some(id) = op["operationId"].as_str() {
                at.insert(id.to_owned(), (path.clone(), method.clone()));
            }
        }
    }
    for (from, status, name, to, given) in links() {
        let Some((path, method)) = at.get(from) else { continue };
        let mut parameters = serde_json::Map::from_iter([("code".to_owned(), json!("$request.path.code"))]);
        parameters.extend(given.into_iter().map(|(p, v)| (p.to_owned(), json!(v))));
        let link = json!({"operationId": to, "parameters": parameters});
        if let Some(response) = paths
            .get_mut(path)
            .and_then(|i| i.get_mut(method))
            .and_then(|o| o.pointer_mut(&format!("/responses/{status}")))
        {
            response["links"][name] = link;
        }
    }
}

fn problem(description: &str) -> Value {
    json!({"description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}})
}

/// Sets every operation's parameters, request schemas, and error responses.
fn exact(doc: &mut Value) {
    if let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        for (schema, property, constraints) in request_schemas() {
            if let Some(p) = schemas.get_mut(schema).and_then(|s| s.get_mut("properties")) {
                p[property] = constraints;
            }
        }
        for (schema, required) in
            [("ContactInput", json!(["account_number", "name"])), ("PhoneInput", json!(["number"]))]
        {
            if let Some(s) = schemas.get_mut(schema) {
                s["required"] = required;
            }
        }
        schemas.insert("FieldSettings".into(), settings_schema());
        schemas.insert("NewAlias".into(), alias_schema());
        for schema in ["SettingsResult", "SettingsVersionBody"] {
            if let Some(p) = schemas.get_mut(schema).and_then(|s| s.get_mut("properties")) {
                p["settings"] = json!({"$ref": "#/components/schemas/FieldSettings"});
            }
        }
        if let Some(input) = schemas.get("ContactInput") {
            let patch = contact_patch(input.clone());
            schemas.insert("ContactPatch".into(), patch);
        }
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for op in item.values_mut() {
            operation(path, op);
        }
    }
    add_links(paths);
}

fn operation(path: &str, op: &mut Value) {
    for p in op.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
        let (name, at) = (p["name"].as_str().unwrap_or("").to_owned(), p["in"].as_str().unwrap_or(""));
        let schema = match at {
            "path" => path_parameter(&name),
            _ => query_parameter(path, &name),
        };
        if let Some(schema) = schema {
            p["schema"] = schema;
        }
    }
    // Bodies the handlers read by hand, and the settings document.
    let (body, media): (&str, &[&str]) = match op["operationId"].as_str() {
        Some("patch_contact") => ("ContactPatch", &["application/merge-patch+json", "application/json"]),
        Some("put_field_settings") => ("FieldSettings", &["application/json"]),
        _ => ("", &[]),
    };
    for m in media {
        if let Some(s) = op.pointer_mut(&format!("/requestBody/content/{}/schema", m.replace('/', "~1"))) {
            *s = json!({"$ref": format!("#/components/schemas/{body}")});
        }
    }
    if op["operationId"] == "get_field_settings"
        && let Some(s) = op.pointer_mut("/responses/200/content/application~1json/schema")
    {
        *s = json!({"$ref": "#/components/schemas/FieldSettings"});
    }
    let secured = op.get("security").is_some();
    let has_body = op.get("requestBody").is_some();
    let database = !matches!(path, "/healthz" | "/openapi.json");
    let mut common: Vec<(&str, &str)> = Vec::new();
    if secured {
        common.extend([
            ("400", "A malformed path, query string or body; the detail names what"),
            ("401", "Missing, malformed, unknown, expired or revoked credentials"),
            ("403", "The key lacks the scope this route needs"),
            ("404", "No such biller (or none this key may see), or no such item"),
        ]);
    }
    if has_body {
        common.extend([
            ("400", "The body is not what this route reads"),
            ("408", "The body stalled (nothing for the request timeout)"),
            ("413", "The body is over the size limit"),
            ("415", "The body's Content-Type is not one this route reads"),
            ("429", "Too many attempts, or this client holds too many half-open connections"),
        ]);
    }
    if database {
        common.extend([
            ("500", "An internal error (the log has it under the request id)"),
            ("503", "The database is busy; retry after Retry-After"),
        ]);
    }
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else { return };
    for (status, description) in common {
        responses.entry(status).or_insert_with(|| problem(description));
    }
    // Every error is problem+json, whatever the handler's annotation said.
    for (status, response) in responses.iter_mut() {
        if status.as_str() >= "400" {
            let description = match response["description"].as_str() {
                Some(d) if !d.is_empty() => d.to_owned(),
                _ => status
                    .parse::<u16>()
                    .ok()
                    .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("Error")
                    .to_owned(),
            };
            *response = problem(&description);
        }
    }
}

//! The OpenAPI document: generated from the handlers' annotations, then made
//! exact in one pass (`exact`): every status and media type each operation
//! can answer, parameters with the rules the server applies, and request
//! schemas with the validator's limits, built from the same constants.
//! `schemathesis` runs against the served document in CI.

use crate::domain::account_number::MAX_ACCOUNT_NUMBER_LENGTH;
use crate::domain::field_settings::{MAX_CONTACT_TYPES, MAX_ENUM_VALUES, MAX_FIELD_LENGTH, MAX_FIELDS};
use crate::domain::sync::MAX_COUNT;
use crate::domain::validate as v;
use crate::http::{billers, catalogue, contact, contacts, dto, jobs, ops, problem, snapshots, tokens};
use serde_json::{Value, json};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

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
        jobs::submit_add,
        jobs::submit_replace,
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
        ops::openapi,
    ),
    components(schemas(dto::ContactInput, dto::ContactBody, dto::ContactList, dto::WriteResult, dto::TokenRequest, dto::TokenResponse, problem::Problem)),
    modifiers(&TokenAuth)
)]
struct ApiDoc;

/// The served document, built once.
pub fn document() -> &'static Value {
    static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        exact(&mut doc);
        doc
    })
}

/// What a character class leaves out: control characters (`char::is_control`).
const CONTROL: &str = r"\u0000-\u001F\u007F-\u009F";
/// What `str::trim` takes off: Unicode White_Space, which `\s` (ASCII in
/// some regex dialects) does not match alike, hence spelt out.
const SPACE: &str = r"\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// Free text as the validator reads it: surrounding white space is trimmed
/// (what is left empty counts as absent, unless `required`), and what is
/// left is at most `max` characters, none of them control characters.
fn trimmed_text(max: usize, required: bool) -> String {
    let edge = format!("[^{CONTROL}{SPACE}]");
    let inner = format!("[^{CONTROL}]");
    let core = format!("{edge}(?:{inner}{{0,{}}}{edge})?", max.saturating_sub(2));
    let core = if required { core } else { format!("(?:{core})?") };
    format!("^[{SPACE}]*{core}[{SPACE}]*$")
}

/// Text taken as sent: `min` to `max` characters, no control characters.
fn plain_text(min: usize, max: usize) -> String {
    format!("^[^{CONTROL}]{{{min},{max}}}$")
}

/// A name in a settings list: 1 to `max` characters as sent, no control
/// characters, not only white space.
fn listed_name(max: usize) -> Value {
    json!({"type": "string", "allOf": [{"pattern": plain_text(1, max)}, {"pattern": format!("[^{CONTROL}{SPACE}]")}]})
}

fn string(pattern: String) -> Value {
    json!({"type": "string", "pattern": pattern})
}

fn nullable(pattern: String) -> Value {
    json!({"type": ["string", "null"], "pattern": pattern})
}

/// An ISO 3166-1 alpha-2 code in either case, or empty (absent).
fn country() -> Value {
    nullable("^(?:[A-Za-z]{2})?$".into())
}

/// The constraints of each request schema's properties, by component.
fn request_schemas() -> Vec<(&'static str, &'static str, Value)> {
    let text = |max| nullable(trimmed_text(max, false));
    vec![
        ("ContactInput", "account_number", string(format!("^[A-Za-z0-9_./-]{{1,{MAX_ACCOUNT_NUMBER_LENGTH}}}$"))),
        (
            "ContactInput",
            "name",
            json!({"type": "string", "allOf": [
                {"pattern": trimmed_text(v::MAX_NAME, true)},
                {"pattern": r"[\p{L}\p{N}]"}
            ]}),
        ),
        ("ContactInput", "first_name", text(v::MAX_PERSON_NAME)),
        ("ContactInput", "last_name", text(v::MAX_PERSON_NAME)),
        ("ContactInput", "business_name", text(v::MAX_NAME)),
        ("ContactInput", "email", text(v::MAX_EMAIL)),
        ("ContactInput", "reference_id", text(v::MAX_REFERENCE_ID)),
        ("ContactInput", "external_id", text(v::MAX_EXTERNAL_ID)),
        ("ContactInput", "type", text(40)),
        ("ContactInput", "crn", nullable("^(?:[0-9]{2,20})?$".into())),
        (
            "ContactInput",
            "date_of_birth",
            nullable("^(?:[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01]))?$".into()),
        ),
        (
            "ContactInput",
            "phones",
            json!({"type": "array", "maxItems": v::MAX_PHONES, "items": {"$ref": "#/components/schemas/PhoneInput"}}),
        ),
        (
            "ContactInput",
            "notes",
            json!({"type": "object", "maxProperties": v::MAX_NOTES,
                "propertyNames": {"pattern": plain_text(1, v::MAX_NOTE_KEY)},
                "additionalProperties": string(plain_text(0, v::MAX_NOTE_VALUE))}),
        ),
        (
            "ContactInput",
            "tags",
            json!({"type": "array", "maxItems": v::MAX_TAGS, "uniqueItems": true,
                "description": "Ids from the biller's tag catalogue (GET …/tags)",
                "items": string(format!("^[0-9a-f]{{{}}}$", crate::domain::TagId::LEN))}),
        ),
        (
            "ContactInput",
            "fields",
            json!({"type": "object", "maxProperties": MAX_FIELDS,
                "description": "The biller's configured Contact Fields, by key (GET …/field-settings lists them).",
                "additionalProperties": {"type": ["string", "integer", "boolean", "null"]}}),
        ),
        (
            "PhoneInput",
            "kind",
            json!({"type": ["string", "null"], "enum": ["primary", "mobile", "home", "work", null]}),
        ),
        // Separators people type anywhere, an optional leading `+`, 4 to 20 digits.
        ("PhoneInput", "number", string(r"^[ .()-]*(?:\+[ .()-]*)?(?:[0-9][ .()-]*){4,20}$".into())),
        ("PhoneInput", "country", country()),
        ("AddressBody", "line1", text(v::MAX_ADDRESS_LINE)),
        ("AddressBody", "line2", text(v::MAX_ADDRESS_LINE)),
        ("AddressBody", "locality", text(v::MAX_ADDRESS_LINE)),
        ("AddressBody", "city", text(v::MAX_ADDRESS_LINE)),
        ("AddressBody", "state", text(64)),
        ("AddressBody", "postcode", text(16)),
        ("AddressBody", "country", country()),
    ]
}

/// A biller's settings document, with the limits `BillerSettings::parse` checks.
fn settings_schema() -> Value {
    let length = json!({"type": ["integer", "null"], "minimum": 0, "maximum": MAX_FIELD_LENGTH});
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "account_number": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "min_length": {"type": "integer", "minimum": 1, "maximum": MAX_ACCOUNT_NUMBER_LENGTH},
                    "max_length": {"type": "integer", "minimum": 1, "maximum": MAX_ACCOUNT_NUMBER_LENGTH},
                    "charset": {"enum": ["digits", "alphanumeric", "alphanumeric_punct"]}
                }
            },
            "fields": {
                "type": "array",
                "maxItems": MAX_FIELDS,
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["key", "kind"],
                    "properties": {
                        "key": string("^[a-z0-9][a-z0-9_-]{0,63}$".into()),
                        "label": string(plain_text(0, 100)),
                        "kind": {"enum": ["text", "email", "phone", "date", "integer", "boolean", "enum"]},
                        "required": {"type": "boolean"},
                        "min_length": length,
                        "max_length": length,
                        "pattern": {"type": ["string", "null"]},
                        "values": {"type": "array", "maxItems": MAX_ENUM_VALUES, "uniqueItems": true,
                            "items": listed_name(256)},
                        "role": {"enum": ["none", "id", "auth"]}
                    },
                    "allOf": [
                        // Lengths and patterns are for text-like kinds only.
                        {"if": {"properties": {"kind": {"not": {"enum": ["text", "email", "phone"]}}}},
                         "then": {"properties": {"pattern": {"type": "null"}, "min_length": {"type": "null"},
                             "max_length": {"type": "null"}}}},
                        // An enum has values; nothing else does.
                        {"if": {"properties": {"kind": {"const": "enum"}}},
                         "then": {"required": ["values"], "properties": {"values": {"minItems": 1}}},
                         "else": {"properties": {"values": {"maxItems": 0}}}},
                        // Roles need a text field.
                        {"if": {"properties": {"role": {"enum": ["id", "auth"]}}, "required": ["role"]},
                         "then": {"properties": {"kind": {"const": "text"}}}}
                    ]
                },
                // At most one field has the id role.
                "contains": {"properties": {"role": {"const": "id"}}, "required": ["role"]},
                "minContains": 0,
                "maxContains": 1
            },
            "contact_types": {"type": "array", "minItems": 1, "maxItems": MAX_CONTACT_TYPES, "uniqueItems": true,
                "items": listed_name(40)},
            "max_replace_removal": {"type": "number", "minimum": 0, "maximum": 1}
        }
    })
}

/// Path parameters, by name: what the routes take.
fn path_parameter(name: &str) -> Option<Value> {
    Some(match name {
        "code" => json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,32}$", "example": "DEMO"}),
        "id" => string(format!("^(?:cont_[0-9A-Za-z]{{14}}|acct:[^{CONTROL}]{{1,{MAX_ACCOUNT_NUMBER_LENGTH}}})$")),
        "job_id" => string("^job_[0-9A-Za-z]{14}$".into()),
        "snapshot_id" => string("^snap_[0-9A-Za-z]{14}$".into()),
        _ => return None,
    })
}

/// Query parameters whose rules the server checks by hand, by name (and
/// for `cursor`, by whether the list pages by account number).
fn query_parameter(path: &str, name: &str) -> Option<Value> {
    Some(match name {
        "cursor" if path.ends_with("/contacts") => string(plain_text(1, MAX_ACCOUNT_NUMBER_LENGTH)),
        "cursor" => string("^[0-9]{1,18}$".into()),
        "type" => string(plain_text(0, 40)),
        "q" | "name" | "email" | "phone" | "reference_id" | "external_id" => {
            string(plain_text(0, crate::domain::query::MAX_QUERY_LENGTH))
        }
        "tag" => string("^(?:[0-9a-f]{24})?$".into()),
        "confirm_removals" => json!({"type": "integer", "minimum": 0, "maximum": MAX_COUNT}),
        "Idempotency-Key" => string("^[!-~]{1,255}$".into()),
        _ => return None,
    })
}

/// Where an answer leads (OpenAPI links): from an operation's response to
/// others, with the parameters it gives them.
fn links() -> Vec<(&'static str, &'static str, &'static str, &'static str, &'static str, &'static str)> {
    let mut out = Vec::new();
    for from in ["submit_add_job", "submit_replace_job", "restore_snapshot"] {
        for (name, to) in [("GetJob", "get_job"), ("JobErrors", "list_job_errors"), ("CancelJob", "cancel_job")] {
            out.push((from, "202", name, to, "job_id", "$response.body#/job_id"));
        }
    }
    for (name, to) in [("GetContact", "get_contact"), ("DeleteContact", "delete_contact")] {
        out.push(("create_contact", "201", name, to, "id", "$response.body#/id"));
        out.push(("list_contacts", "200", name, to, "id", "$response.body#/data/0/id"));
    }
    out.push(("list_jobs", "200", "GetJob", "get_job", "job_id", "$response.body#/data/0/job_id"));
    for (name, to) in [
        ("GetSnapshot", "get_snapshot"),
        ("DownloadSnapshot", "download_snapshot"),
        ("RestoreSnapshot", "restore_snapshot"),
    ] {
        out.push(("list_snapshots", "200", name, to, "snapshot_id", "$response.body#/data/0/snapshot_id"));
    }
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
    for (from, status, name, to, parameter, value) in links() {
        let Some((path, method)) = at.get(from) else { continue };
        let link = json!({"operationId": to, "parameters": {"code": "$request.path.code", parameter: value}});
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
    if path.ends_with("/field-settings") {
        for at in ["/requestBody/content/application~1json/schema", "/responses/200/content/application~1json/schema"] {
            if let Some(s) = op.pointer_mut(at) {
                *s = json!({"$ref": "#/components/schemas/FieldSettings"});
            }
        }
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

//! The schemas and parameters the OpenAPI document states exactly: each
//! built from the validator's own constants, so the two cannot drift.

use crate::domain::account_number::MAX_ACCOUNT_NUMBER_LENGTH;
use crate::domain::contact::PhoneKind;
use crate::domain::field_settings::{MAX_CONTACT_TYPES, MAX_ENUM_VALUES, MAX_FIELD_LENGTH, MAX_FIELDS};
use crate::domain::sync::MAX_COUNT;
use crate::domain::validate as v;
use crate::domain::{AliasKind, holds, phone};
use crate::service::{MAX_CONTACT_TYPE, MAX_TAG_NAME};
use serde_json::{Value, json};

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

/// The ISO 3166-1 alpha-2 codes `phone::country` knows, in either case,
/// grouped by first letter: `(?:[Aa][DdEe…]|[Bb][…]|…)`.
fn alpha2() -> String {
    let mut by_first: std::collections::BTreeMap<char, String> = Default::default();
    for code in phone::alpha2_codes() {
        if let [a, b] = code.as_bytes() {
            by_first.entry(char::from(*a)).or_default().extend([char::from(*b), char::from(b.to_ascii_lowercase())]);
        }
    }
    let groups: Vec<String> =
        by_first.iter().map(|(a, rest)| format!("[{a}{}][{rest}]", a.to_ascii_lowercase())).collect();
    format!("(?:{})", groups.join("|"))
}

/// An ISO 3166-1 country as `phone::country` reads it: alpha-2 in either
/// case or a numeric id (one it knows, else 422), trimmed; empty (or only
/// white space) is absent.
fn country() -> Value {
    nullable(format!("^[{SPACE}]*(?:{}|[0-9]{{1,3}})?[{SPACE}]*$", alpha2()))
}

/// A contact has at most one phone of each kind; one that names none is primary.
fn one_phone_per_kind() -> Vec<Value> {
    let at_most_one =
        |kind: Value| json!({"contains": {"properties": {"kind": kind}}, "minContains": 0, "maxContains": 1});
    PhoneKind::ALL
        .into_iter()
        .map(|k| match k {
            PhoneKind::Primary => at_most_one(json!({"enum": ["primary", null]})),
            other => at_most_one(json!({"const": other.as_str()})),
        })
        .collect()
}

/// A name kept as sent: 1 to `max` characters, no control characters, no
/// white space at either end.
fn exact_name(max: usize) -> String {
    let edge = format!("[^{CONTROL}{SPACE}]");
    format!("^{edge}(?:[^{CONTROL}]{{0,{}}}{edge})?$", max.saturating_sub(2))
}

/// An entity tag as `tag_version` reads one: `"…"` or `W/"…"` of what
/// `HeaderValue::to_str` takes (visible ASCII, space, tab), with no comma
/// (what separates tags).
const ENTITY_TAG: &str = r#"(?:W/)?"[\t\u0020-\u002B\u002D-\u007E]*""#;

/// The constraints of each request schema's properties, by component.
pub(super) fn request_schemas() -> Vec<(&'static str, &'static str, Value)> {
    let text = |max| nullable(trimmed_text(max, false));
    // A record's list or object given as `null` is absent (`record::draft_of`).
    let or_null = |t: &str| json!([t, "null"]);
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
            nullable("^(?:[1-9][0-9]{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01]))?$".into()),
        ),
        (
            "ContactInput",
            "phones",
            json!({"type": or_null("array"), "maxItems": v::MAX_PHONES,
                "items": {"$ref": "#/components/schemas/PhoneInput"}, "allOf": one_phone_per_kind()}),
        ),
        (
            "ContactInput",
            "notes",
            json!({"type": or_null("object"), "maxProperties": v::MAX_NOTES,
                "propertyNames": {"pattern": plain_text(1, v::MAX_NOTE_KEY)},
                "additionalProperties": string(plain_text(0, v::MAX_NOTE_VALUE))}),
        ),
        (
            "ContactInput",
            "tags",
            json!({"type": or_null("array"), "maxItems": v::MAX_TAGS, "uniqueItems": true,
                "description": "Ids from the biller's tag catalogue (GET …/tags)",
                "items": string(format!("^[0-9a-f]{{{}}}$", crate::domain::TagId::LEN))}),
        ),
        (
            "ContactInput",
            "fields",
            json!({"type": or_null("object"), "maxProperties": MAX_FIELDS,
                "description": "The biller's configured Contact Fields, by key (GET …/field-settings lists them).",
                "additionalProperties": {"type": ["string", "integer", "boolean", "null"]}}),
        ),
        (
            "PhoneInput",
            "kind",
            json!({"type": ["string", "null"], "enum": ["primary", "mobile", "home", "work", null]}),
        ),
        // Trimmed: separators people type anywhere, an optional leading `+`, 4 to 20 digits.
        (
            "PhoneInput",
            "number",
            string(format!(r"^[{SPACE}]*[ .()-]*(?:\+[ .()-]*)?(?:[0-9][ .()-]*){{4,20}}[{SPACE}]*$")),
        ),
        ("PhoneInput", "country", country()),
        (
            "PhoneInput",
            "e164",
            json!({"description": "Worked out by contactd; sent back (as a read returns it), it is ignored, whatever it is."}),
        ),
        ("AddressBody", "line1", text(v::MAX_ADDRESS_LINE)),
        ("AddressBody", "line2", text(v::MAX_ADDRESS_LINE)),
        ("AddressBody", "locality", text(v::MAX_ADDRESS_LINE)),
        ("AddressBody", "city", text(v::MAX_ADDRESS_LINE)),
        ("AddressBody", "state", text(64)),
        ("AddressBody", "postcode", text(16)),
        ("AddressBody", "country", country()),
        ("NewTag", "name", string(trimmed_text(MAX_TAG_NAME, true))),
        ("NewTag", "id", nullable(format!("^[0-9a-f]{{{}}}$", crate::domain::TagId::LEN))),
        ("NewContactType", "name", string(exact_name(MAX_CONTACT_TYPE))),
        ("NewHold", "kind", string(format!("^[a-z][a-z0-9_-]{{0,{}}}$", holds::MAX_KIND - 1))),
        ("NewHold", "reference", text(holds::MAX_REFERENCE)),
    ]
}

/// A carried-over alias: each dialect's own form.
pub(super) fn alias_schema() -> Value {
    let one = |kind: AliasKind, pattern: &str| json!({"properties": {"dialect": {"const": kind.as_str()}, "alias": {"type": "string", "pattern": pattern}}});
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["dialect", "alias"],
        "properties": {
            "dialect": {"enum": AliasKind::ALL.map(AliasKind::as_str)},
            "alias": {"type": "string"}
        },
        "oneOf": [one(AliasKind::PayAdvantage, "^[0-9A-Z]{6}$"), one(AliasKind::Instantpay, "^[0-9a-f]{24}$")]
    })
}

/// A biller's settings document, with the limits `BillerSettings::parse` checks.
pub(super) fn settings_schema() -> Value {
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
            "max_replace_removal": {"type": "number", "minimum": 0, "maximum": 1},
            "name_rules": {"enum": ["default", "razorpay"]},
            "crn": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    // `CrnAlgorithm::parse`: BPAY's names in any case.
                    "algorithm": string("^[Mm][Oo][Dd]10[Vv]0[15]$".into()),
                    "base": {"enum": ["account_number", "sequence"]}
                }
            },
            "require_if_match": {"type": "boolean"},
            "notification_defaults": {
                "type": "object",
                "additionalProperties": false,
                "properties": {"email_on_failure": {"type": "boolean"}, "email_receipts": {"type": "boolean"}}
            },
            // Alpha-2 only, as sent (a numeric id is refused here).
            "phone_country": nullable(format!("^{}$", alpha2()))
        }
    })
}

/// A merge patch of a contact (`record::patch_of`): `ContactInput`'s
/// properties, none required, each also `null` (it clears the field), and
/// in `notes` a key's `null` removes it.
pub(super) fn contact_patch(mut input: Value) -> Value {
    if let Some(s) = input.as_object_mut() {
        s.remove("required");
        s.insert(
            "description".into(),
            json!("A JSON Merge Patch (RFC 7396) of a contact: only the fields sent change; null clears one"),
        );
    }
    for (name, p) in input["properties"].as_object_mut().into_iter().flatten() {
        match p.get_mut("type") {
            Some(Value::Array(types)) if !types.contains(&json!("null")) => types.push(json!("null")),
            Some(Value::Array(_)) => {}
            Some(t) => *t = json!([t.take(), "null"]),
            // `address` is already a `oneOf` with null.
            None => {}
        }
        if name == "notes" {
            p["additionalProperties"]["type"] = json!(["string", "null"]);
        }
    }
    input
}

/// Path parameters, by name: what the routes take.
pub(super) fn path_parameter(name: &str) -> Option<Value> {
    Some(match name {
        "code" => json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,32}$", "example": "DEMO"}),
        "id" => string(format!(
            "^(?:cont_[0-9A-Za-z]{{14}}|acct:[^{CONTROL}]{{1,{MAX_ACCOUNT_NUMBER_LENGTH}}}\
             |pay_advantage:[0-9A-Z]{{6}}|instantpay:[0-9a-f]{{24}})$"
        )),
        "job_id" => string("^job_[0-9A-Za-z]{14}$".into()),
        "snapshot_id" => string("^snap_[0-9A-Za-z]{14}$".into()),
        "hold_id" => string("^hold_[0-9A-Za-z]{14}$".into()),
        "tag_id" => string(format!("^[0-9a-f]{{{}}}$", crate::domain::TagId::LEN)),
        _ => return None,
    })
}

/// Query and header parameters whose rules the server checks by hand, by
/// name (and for `cursor`, by whether the list pages by account number).
pub(super) fn query_parameter(path: &str, name: &str) -> Option<Value> {
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
        // `contact::if_match`: `*`, one tag or none; `contact::not_modified`: a list.
        "If-Match" => string(format!(r"^[\t ]*(?:\*|{ENTITY_TAG})?[\t ]*$")),
        "If-None-Match" => {
            let item = format!(r"[\t ]*(?:\*|{ENTITY_TAG})?[\t ]*");
            string(format!("^{item}(?:,{item})*$"))
        }
        _ => return None,
    })
}

//! The stored form of a contact, shared by both backends: indexed columns for
//! what queries filter on, and one canonical JSON document for the rest. The
//! document's hash is the fingerprint that tells "unchanged" from "updated".

use crate::domain::{AccountNumber, Address, BillerSettings, Contact, ContactData, FieldValue, Phone, PhoneKind};
use crate::store::{ContactPage, Scope};
use crate::store::{StoreError, StoreResult};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use time::Date;
use time::macros::format_description;

/// A contact's data ready for a row.
pub struct Encoded {
    pub doc: String,
    pub fingerprint: i64,
}

const DATE: &[time::format_description::BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

fn put(map: &mut Map<String, Value>, key: &str, value: &Option<String>) {
    if let Some(v) = value {
        map.insert(key.to_owned(), Value::String(v.clone()));
    }
}

pub fn encode(c: &ContactData) -> StoreResult<Encoded> {
    let mut m = Map::new();
    m.insert("name".into(), Value::String(c.name.clone()));
    put(&mut m, "first_name", &c.first_name);
    put(&mut m, "last_name", &c.last_name);
    put(&mut m, "business_name", &c.business_name);
    if let Some(b) = c.is_consumer {
        m.insert("is_consumer".into(), Value::Bool(b));
    }
    put(&mut m, "email", &c.email);
    if !c.phones.is_empty() {
        let phones =
            c.phones.iter().map(|p| json!({"kind": p.kind.as_str(), "number": p.number, "country": p.country}));
        m.insert("phones".into(), Value::Array(phones.collect()));
    }
    if let Some(d) = c.date_of_birth {
        let s = d.format(DATE).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        m.insert("date_of_birth".into(), Value::String(s));
    }
    if !c.address.is_empty() {
        let a = &c.address;
        let mut am = Map::new();
        put(&mut am, "line1", &a.line1);
        put(&mut am, "line2", &a.line2);
        put(&mut am, "locality", &a.locality);
        put(&mut am, "city", &a.city);
        put(&mut am, "state", &a.state);
        put(&mut am, "postcode", &a.postcode);
        put(&mut am, "country", &a.country);
        m.insert("address".into(), Value::Object(am));
    }
    put(&mut m, "reference_id", &c.reference_id);
    put(&mut m, "external_id", &c.external_id);
    put(&mut m, "crn", &c.crn);
    put(&mut m, "type", &c.contact_type);
    m.insert("active".into(), Value::Bool(c.active));
    if !c.notes.is_empty() {
        m.insert("notes".into(), json!(c.notes));
    }
    if !c.tags.is_empty() {
        m.insert("tags".into(), json!(c.tags));
    }
    if !c.fields.is_empty() {
        let fields = c.fields.iter().map(|(k, v)| {
            let v = match v {
                FieldValue::Text(s) => Value::String(s.clone()),
                FieldValue::Integer(i) => Value::from(*i),
                FieldValue::Bool(b) => Value::Bool(*b),
            };
            (k.clone(), v)
        });
        m.insert("fields".into(), Value::Object(fields.collect()));
    }
    // serde_json's Map is a BTreeMap here (no preserve_order), so the text is canonical.
    let doc = Value::Object(m).to_string();
    let digest = Sha256::digest(doc.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    Ok(Encoded { doc, fingerprint: i64::from_le_bytes(first) })
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("contact document: bad {what}"))
}

fn text(m: &Map<String, Value>, key: &str) -> Option<String> {
    m.get(key).and_then(Value::as_str).map(str::to_owned)
}

pub fn decode(account_number: String, doc: &str) -> StoreResult<ContactData> {
    let v: Value = serde_json::from_str(doc).map_err(|_| corrupt("json"))?;
    let m = v.as_object().ok_or_else(|| corrupt("root"))?;
    let phones = match m.get("phones").and_then(Value::as_array) {
        None => Vec::new(),
        Some(list) => list
            .iter()
            .map(|p| {
                let p = p.as_object().ok_or_else(|| corrupt("phone"))?;
                Ok(Phone {
                    kind: text(p, "kind").and_then(|k| PhoneKind::parse(&k)).ok_or_else(|| corrupt("phone kind"))?,
                    number: text(p, "number").ok_or_else(|| corrupt("phone number"))?,
                    country: text(p, "country"),
                })
            })
            .collect::<StoreResult<_>>()?,
    };
    let address = match m.get("address").and_then(Value::as_object) {
        None => Address::default(),
        Some(a) => Address {
            line1: text(a, "line1"),
            line2: text(a, "line2"),
            locality: text(a, "locality"),
            city: text(a, "city"),
            state: text(a, "state"),
            postcode: text(a, "postcode"),
            country: text(a, "country"),
        },
    };
    let date_of_birth = match text(m, "date_of_birth") {
        None => None,
        Some(d) => Some(Date::parse(&d, DATE).map_err(|_| corrupt("date_of_birth"))?),
    };
    let strings = |key: &str| -> BTreeMap<String, String> {
        m.get(key)
            .and_then(Value::as_object)
            .map(|o| o.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
            .unwrap_or_default()
    };
    let fields = m
        .get("fields")
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => FieldValue::Text(s.clone()),
                        Value::Bool(b) => FieldValue::Bool(*b),
                        Value::Number(n) => FieldValue::Integer(n.as_i64()?),
                        _ => return None,
                    };
                    Some((k.clone(), v))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ContactData {
        account_number: AccountNumber::from_trusted(account_number),
        name: text(m, "name").ok_or_else(|| corrupt("name"))?,
        first_name: text(m, "first_name"),
        last_name: text(m, "last_name"),
        business_name: text(m, "business_name"),
        is_consumer: m.get("is_consumer").and_then(Value::as_bool),
        email: text(m, "email"),
        phones,
        date_of_birth,
        address,
        reference_id: text(m, "reference_id"),
        external_id: text(m, "external_id"),
        crn: text(m, "crn"),
        contact_type: text(m, "type"),
        active: m.get("active").and_then(Value::as_bool).unwrap_or(true),
        notes: strings("notes"),
        tags: m
            .get("tags")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
        fields,
    })
}

/// The columns every contact read selects, in this order.
pub const CONTACT_COLUMNS: &str = "id, account_number, doc, version, created_at, updated_at";

pub fn settings_json(settings: &BillerSettings) -> StoreResult<String> {
    serde_json::to_string(settings.doc()).map_err(|e| StoreError::Backend(e.to_string()))
}

pub fn settings_from_json(code: &str, text: &str) -> StoreResult<BillerSettings> {
    let doc = serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("settings of {code}: {e}")))?;
    BillerSettings::parse(doc).map_err(|e| StoreError::Corrupt(format!("settings of {code}: {e:?}")))
}

pub fn scopes_text(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
}

pub fn parse_scopes(text: &str) -> Vec<Scope> {
    text.split_whitespace().filter_map(Scope::parse).collect()
}

/// Turns `limit + 1` fetched rows into a page and its continuation.
pub fn page_of(mut contacts: Vec<Contact>, limit: usize) -> ContactPage {
    let next_after = if contacts.len() > limit {
        contacts.truncate(limit);
        contacts.last().map(|c| c.data.account_number.as_str().to_owned())
    } else {
        None
    };
    ContactPage { contacts, next_after }
}

/// Unicode case folding for search, done here so both stores match alike
/// ("Straße" is found by "STRASSE").
pub fn fold(text: &str) -> String {
    caseless::default_case_fold_str(text)
}

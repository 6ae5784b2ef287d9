//! One native contact object read field by field from its JSON: what a
//! record that failed the fast typed read (`ContactInput`) is read again
//! with, so that every field of the wrong type is reported, not the first
//! one serde stops at; and what a merge patch (RFC 7396) is read with, where
//! `null` clears a field and the server's own fields may not be named.

use crate::domain::contact::{ContactDraft, PhoneDraft, RawValue};
use crate::domain::patch::{AddressPatch, Change, ContactPatch};
use crate::domain::{ErrorCode, FieldError};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A JSON document as a `Value`, refusing a key given twice in any object
/// (serde_json would keep the last).
pub struct Unique(pub Value);

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Unique;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, b: bool) -> Result<Unique, E> {
                Ok(Unique(Value::Bool(b)))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Unique, E> {
                Ok(Unique(Value::from(n)))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Unique, E> {
                Ok(Unique(Value::from(n)))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Unique, E> {
                Ok(Unique(serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Unique, E> {
                Ok(Unique(Value::String(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Unique, E> {
                Ok(Unique(Value::String(s)))
            }
            fn visit_unit<E>(self) -> Result<Unique, E> {
                Ok(Unique(Value::Null))
            }
            fn visit_none<E>(self) -> Result<Unique, E> {
                Ok(Unique(Value::Null))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Unique, A::Error> {
                let mut out = Vec::new();
                while let Some(Unique(v)) = seq.next_element()? {
                    out.push(v);
                }
                Ok(Unique(Value::Array(out)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unique, A::Error> {
                let mut out = Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    if out.contains_key(&key) {
                        return Err(serde::de::Error::custom(format!("duplicate key `{key}`")));
                    }
                    let Unique(v) = map.next_value()?;
                    out.insert(key, v);
                }
                Ok(Unique(Value::Object(out)))
            }
        }
        d.deserialize_any(V)
    }
}

/// The name of a JSON value's type, for an error.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Collects every problem found while reading a record.
#[derive(Default)]
struct Reader {
    errors: Vec<FieldError>,
}

impl Reader {
    fn wrong(&mut self, path: &str, want: &str, got: &Value) {
        let message = if path == "account_number" && got.is_number() {
            "account_number must be a JSON string (a number would lose leading zeroes)".to_owned()
        } else {
            format!("{path} must be {want}, got {}", kind(got))
        };
        self.errors.push(FieldError::new(path, ErrorCode::WrongType, message));
    }

    fn unknown(&mut self, path: &str, name: &str, top: bool) {
        let message = if top {
            format!("{name} is not a contact field; configured fields go under \"fields\"")
        } else {
            format!("{name} is not a field of {}", path.rsplit_once('.').map_or(path, |(p, _)| p))
        };
        self.errors.push(FieldError::new(path, ErrorCode::UnknownField, message));
    }

    /// A string or null (`Clear` in a patch, absent in a record).
    fn text(&mut self, path: &str, v: Value) -> Change<String> {
        match v {
            Value::Null => Change::Clear,
            Value::String(s) => Change::Set(s),
            other => {
                self.wrong(path, "a string", &other);
                Change::Keep
            }
        }
    }

    fn flag(&mut self, path: &str, v: Value) -> Change<bool> {
        match v {
            Value::Null => Change::Clear,
            Value::Bool(b) => Change::Set(b),
            other => {
                self.wrong(path, "true or false", &other);
                Change::Keep
            }
        }
    }

    fn phones(&mut self, v: Value) -> Change<Vec<PhoneDraft>> {
        let list = match v {
            Value::Null => return Change::Clear,
            Value::Array(list) => list,
            other => {
                self.wrong("phones", "an array", &other);
                return Change::Keep;
            }
        };
        let mut out = Vec::with_capacity(list.len().min(crate::domain::validate::MAX_PHONES + 1));
        for (i, p) in list.into_iter().enumerate() {
            // Past the limit the validator says too_many; no item is read.
            if i > crate::domain::validate::MAX_PHONES {
                out.push(PhoneDraft::default());
                continue;
            }
            let path = format!("phones[{i}]");
            let Value::Object(fields) = p else {
                self.wrong(&path, "an object", &p);
                continue;
            };
            let mut phone = PhoneDraft::default();
            for (k, v) in fields {
                let at = format!("{path}.{k}");
                let slot = match k.as_str() {
                    "kind" => &mut phone.kind,
                    "number" => &mut phone.number,
                    "country" => &mut phone.country,
                    // Worked out by contactd: what a client sends back of it is ignored.
                    "e164" => continue,
                    _ => {
                        self.unknown(&at, &k, false);
                        continue;
                    }
                };
                *slot = match self.text(&at, v) {
                    Change::Set(s) => Some(s),
                    Change::Clear | Change::Keep => None,
                };
            }
            out.push(phone);
        }
        Change::Set(out)
    }

    fn address(&mut self, v: Value) -> Change<AddressPatch> {
        let fields = match v {
            Value::Null => return Change::Clear,
            Value::Object(fields) => fields,
            other => {
                self.wrong("address", "an object", &other);
                return Change::Keep;
            }
        };
        let mut a = AddressPatch::default();
        for (k, v) in fields {
            let at = format!("address.{k}");
            let slot = match k.as_str() {
                "line1" => &mut a.line1,
                "line2" => &mut a.line2,
                "locality" => &mut a.locality,
                "city" => &mut a.city,
                "state" => &mut a.state,
                "postcode" => &mut a.postcode,
                "country" => &mut a.country,
                _ => {
                    self.unknown(&at, &k, false);
                    continue;
                }
            };
            *slot = self.text(&at, v);
        }
        Change::Set(a)
    }

    /// An object of strings; in a patch a key's `null` removes it.
    fn notes(&mut self, v: Value, patch: bool) -> Change<BTreeMap<String, Option<String>>> {
        let fields = match v {
            Value::Null => return Change::Clear,
            Value::Object(fields) => fields,
            other => {
                self.wrong("notes", "an object", &other);
                return Change::Keep;
            }
        };
        let mut out = BTreeMap::new();
        for (k, v) in fields {
            match v {
                Value::String(s) => {
                    out.insert(k, Some(s));
                }
                Value::Null if patch => {
                    out.insert(k, None);
                }
                other => self.wrong(&format!("notes.{k}"), "a string", &other),
            }
        }
        Change::Set(out)
    }

    fn tags(&mut self, v: Value) -> Change<Vec<String>> {
        let list = match v {
            Value::Null => return Change::Clear,
            Value::Array(list) => list,
            other => {
                self.wrong("tags", "an array", &other);
                return Change::Keep;
            }
        };
        let mut out = Vec::with_capacity(list.len().min(crate::domain::validate::MAX_TAGS + 1));
        for (i, t) in list.into_iter().enumerate() {
            match t {
                Value::String(s) => out.push(s),
                // Past the limit the validator says too_many; no item is looked at.
                _ if i > crate::domain::validate::MAX_TAGS => out.push(String::new()),
                other => self.wrong(&format!("tags[{i}]"), "a string", &other),
            }
        }
        Change::Set(out)
    }

    fn fields(&mut self, v: Value, patch: bool) -> Change<BTreeMap<String, Option<RawValue>>> {
        let fields = match v {
            Value::Null => return Change::Clear,
            Value::Object(fields) => fields,
            other => {
                self.wrong("fields", "an object", &other);
                return Change::Keep;
            }
        };
        Change::Set(
            fields
                .into_iter()
                .map(|(k, v)| {
                    let raw = match v {
                        Value::Null if patch => None,
                        v => Some(raw(v)),
                    };
                    (k, raw)
                })
                .collect(),
        )
    }
}

/// A configured field's value as sent, before its kind is checked.
pub fn raw(value: Value) -> RawValue {
    match value {
        Value::Null => RawValue::Null,
        Value::Bool(b) => RawValue::Bool(b),
        Value::Number(n) => {
            n.as_i64().map(RawValue::Integer).unwrap_or(RawValue::Float(n.as_f64().unwrap_or(f64::NAN)))
        }
        Value::String(s) => RawValue::Text(s),
        Value::Array(_) => RawValue::Other("array"),
        Value::Object(_) => RawValue::Other("object"),
    }
}

/// The server's own fields: never set by a client.
pub const READ_ONLY: [&str; 7] = ["id", "version", "created_at", "updated_at", "job_id", "aliases", "entity"];

/// Reads a patch object: each field present becomes a change; `null`
/// clears it. Every problem is reported, the server's own fields included.
pub fn patch_of(fields: Map<String, Value>) -> Result<ContactPatch, Vec<FieldError>> {
    read(fields, true)
}

/// Reads a record object whole (a create, add or replace), as the typed
/// read would take it, but reporting every problem: a field left out or
/// `null` is absent.
pub fn draft_of(fields: Map<String, Value>) -> Result<ContactDraft, Vec<FieldError>> {
    Ok(read(fields, false)?.apply(ContactDraft::default()))
}

fn read(fields: Map<String, Value>, patch: bool) -> Result<ContactPatch, Vec<FieldError>> {
    let mut r = Reader::default();
    let mut p = ContactPatch::default();
    for (k, v) in fields {
        match k.as_str() {
            "account_number" => p.account_number = r.text(&k, v),
            "name" => p.name = r.text(&k, v),
            "first_name" => p.first_name = r.text(&k, v),
            "last_name" => p.last_name = r.text(&k, v),
            "business_name" => p.business_name = r.text(&k, v),
            "is_consumer" => p.is_consumer = r.flag(&k, v),
            "email" => p.email = r.text(&k, v),
            "email_on_failure" => p.email_on_failure = r.flag(&k, v),
            "email_receipts" => p.email_receipts = r.flag(&k, v),
            "phones" => p.phones = r.phones(v),
            "date_of_birth" => p.date_of_birth = r.text(&k, v),
            "address" => p.address = r.address(v),
            "reference_id" => p.reference_id = r.text(&k, v),
            "external_id" => p.external_id = r.text(&k, v),
            "crn" => p.crn = r.text(&k, v),
            "type" => p.contact_type = r.text(&k, v),
            // Always true or false: a patch cannot clear it (a record leaving it out is active).
            "active" if patch && v.is_null() => r.wrong(&k, "true or false (it cannot be cleared)", &v),
            "active" => p.active = r.flag(&k, v),
            "notes" => p.notes = r.notes(v, patch),
            "tags" => p.tags = r.tags(v),
            "fields" => p.fields = r.fields(v, patch),
            other if patch && READ_ONLY.contains(&other) => r.errors.push(FieldError::new(
                other,
                ErrorCode::ReadOnly,
                format!("{other} is the server's to set; a patch may not name it"),
            )),
            other => r.unknown(other, other, true),
        }
    }
    if r.errors.is_empty() { Ok(p) } else { Err(r.errors) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn every_wrong_type_is_reported() {
        let errs = draft_of(object(json!({"name": 42, "active": "yes", "tags": "a,b", "nope": 1}))).unwrap_err();
        let fields: Vec<(&str, ErrorCode)> = errs.iter().map(|e| (e.field.as_str(), e.code)).collect();
        for want in [
            ("name", ErrorCode::WrongType),
            ("active", ErrorCode::WrongType),
            ("tags", ErrorCode::WrongType),
            ("nope", ErrorCode::UnknownField),
        ] {
            assert!(fields.contains(&want), "{want:?} in {fields:?}");
        }
    }

    #[test]
    fn a_patch_may_not_name_the_servers_fields() {
        let errs = patch_of(object(json!({"id": "cont_x", "version": 3, "name": "A"}))).unwrap_err();
        assert_eq!(errs.iter().filter(|e| e.code == ErrorCode::ReadOnly).count(), 2);
        let p = patch_of(object(json!({"email": null, "notes": {"a": null, "b": "x"}, "address": {"city": "Hobart"}})))
            .unwrap();
        assert_eq!(p.email, Change::Clear);
        assert_eq!(p.notes, Change::Set([("a".into(), None), ("b".into(), Some("x".into()))].into()));
        assert!(matches!(p.address, Change::Set(AddressPatch { city: Change::Set(_), .. })));
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        for text in [r#"{"a":1,"a":2}"#, r#"{"notes":{"k":"1","k":"2"}}"#, r#"[{"x":{"y":1,"y":1}}]"#] {
            assert!(serde_json::from_str::<Unique>(text).is_err(), "{text}");
        }
        assert!(serde_json::from_str::<Unique>(r#"{"a":{"a":1}}"#).is_ok());
    }
}

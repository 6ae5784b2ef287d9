//! Razorpay's contact entity, out and in: the JSON its clients read (key
//! order as the seed prints it) and the request bodies they send, mapped
//! onto the native contact.

use crate::domain::contact::{PhoneDraft, PhoneKind};
use crate::domain::patch::{Change, ContactPatch};
use crate::domain::validate::razorpay_name;
use crate::domain::{Contact, ErrorCode, FieldError};
use crate::wire::record;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Where Razorpay's numbers are: a `contact` in national form is read as Indian.
pub const PHONE_COUNTRY: &str = "IN";

/// The keys a Razorpay contact body may carry (`active` on PATCH only).
const WRITABLE: [&str; 7] = ["name", "email", "contact", "type", "reference_id", "notes", "active"];

#[derive(Serialize)]
pub struct Entity {
    id: String,
    entity: &'static str,
    name: String,
    contact: Option<String>,
    email: Option<String>,
    #[serde(rename = "type")]
    contact_type: Option<String>,
    reference_id: Option<String>,
    batch_id: Option<String>,
    active: bool,
    notes: BTreeMap<String, String>,
    created_at: i64,
}

impl From<Contact> for Entity {
    fn from(c: Contact) -> Self {
        let d = c.data;
        let primary = d.phones.into_iter().find(|p| p.kind == PhoneKind::Primary);
        Self {
            id: c.id.to_string(),
            entity: "contact",
            name: d.name,
            contact: primary.map(|p| p.number),
            email: d.email,
            contact_type: d.contact_type,
            reference_id: d.reference_id,
            // A job's contacts came in a batch: Razorpay's bulk upload.
            batch_id: c.job_id.map(|j| format!("batch_{}", j.as_str().trim_start_matches("job_"))),
            active: d.active,
            notes: d.notes,
            created_at: c.created_at.unix_timestamp(),
        }
    }
}

#[derive(Serialize)]
pub struct Collection {
    pub entity: &'static str,
    pub count: usize,
    pub items: Vec<Entity>,
}

/// Reads a create (`patch` false: `active` is not Razorpay's to send there)
/// or PATCH body as a native patch. Every problem is reported, in
/// Razorpay's field names; the name rule is Razorpay's whatever the
/// biller's own.
pub fn read(body: Map<String, Value>, patch: bool) -> Result<ContactPatch, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut native = Map::new();
    let mut contact = Change::Keep;
    for (key, value) in body {
        match key.as_str() {
            "contact" => match value {
                Value::Null => contact = Change::Clear,
                Value::String(n) => {
                    contact = Change::Set(PhoneDraft {
                        kind: None,
                        number: Some(n.clone()),
                        // International numbers name their country.
                        country: (!n.trim_start().starts_with('+')).then(|| PHONE_COUNTRY.to_owned()),
                    })
                }
                _ => errors.push(FieldError::new("contact", ErrorCode::WrongType, "The contact must be a string.")),
            },
            "active" if !patch => errors.push(not_allowed(&key)),
            k if WRITABLE.contains(&k) => {
                native.insert(key, value);
            }
            _ => errors.push(not_allowed(&key)),
        }
    }
    match native.get("name") {
        None if !patch => {
            errors.push(FieldError::new("name", ErrorCode::MissingRequired, "The name field is required."))
        }
        Some(Value::String(n)) if razorpay_name(n.trim()).is_err() => {
            errors.push(FieldError::new("name", ErrorCode::InvalidFormat, "The name field is invalid."))
        }
        _ => {}
    }
    let mut p = match record::patch_of(native) {
        Ok(p) => p,
        Err(found) => {
            errors.extend(found);
            ContactPatch::default()
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    p.phone_kinds.insert(PhoneKind::Primary, contact);
    Ok(p)
}

fn not_allowed(key: &str) -> FieldError {
    FieldError::new(key, ErrorCode::UnknownField, format!("{key} is/are not required and should not be sent"))
}

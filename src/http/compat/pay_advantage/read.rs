//! The PascalCase bodies Pay Advantage's clients send (create and update),
//! read onto a native patch with every problem at once, in its names.

use super::customer::{PHONE_COUNTRY, PHONES};
use crate::domain::contact::{PhoneDraft, PhoneKind, RawValue};
use crate::domain::patch::{AddressPatch, Change, ContactPatch};
use crate::domain::{ErrorCode, FieldError, phone};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What one request body problem is, in Pay Advantage's field names.
fn problem(field: &str, code: ErrorCode, message: impl Into<String>) -> FieldError {
    FieldError::new(field, code, message)
}

/// Collects the body's fields into a native patch, every problem at once.
#[derive(Default)]
struct Reader {
    patch: ContactPatch,
    address: AddressPatch,
    errors: Vec<FieldError>,
}

impl Reader {
    fn text(&mut self, key: &str, v: Value) -> Change<String> {
        match v {
            Value::Null => Change::Clear,
            Value::String(s) if s.trim().is_empty() => Change::Clear,
            Value::String(s) => Change::Set(s),
            _ => {
                self.errors.push(problem(key, ErrorCode::WrongType, format!("{key} must be a string or null")));
                Change::Keep
            }
        }
    }

    fn flag(&mut self, key: &str, v: Value) -> Change<bool> {
        match v {
            Value::Null => Change::Clear,
            Value::Bool(b) => Change::Set(b),
            _ => {
                self.errors.push(problem(key, ErrorCode::WrongType, format!("{key} must be true, false or null")));
                Change::Keep
            }
        }
    }

    /// A Country ID (ISO 3166-1 numeric) as the alpha-2 the native contact keeps.
    fn country(&mut self, key: &str, v: Value) -> Change<String> {
        match v {
            Value::Null => Change::Clear,
            Value::Number(n) => match n.as_u64().and_then(|id| phone::country(&id.to_string())) {
                Some(alpha2) => Change::Set(alpha2.to_owned()),
                None => {
                    self.errors.push(problem(
                        key,
                        ErrorCode::InvalidValue,
                        format!("{key} {n} is not a known Country ID"),
                    ));
                    Change::Keep
                }
            },
            _ => {
                self.errors.push(problem(key, ErrorCode::WrongType, format!("{key} must be a Country ID (a number)")));
                Change::Keep
            }
        }
    }

    /// A phone: local digits only (spaces allowed), read in its Country ID's country.
    fn phone(&mut self, key: &str, number: Value, country: Change<String>) {
        let kind = PHONES.iter().find(|(k, ..)| *k == key).map(|p| p.2).unwrap_or(PhoneKind::Primary);
        let change = match number {
            Value::Null => Change::Clear,
            Value::String(n) if n.trim().is_empty() => Change::Clear,
            Value::String(n) => {
                let country = match country {
                    Change::Set(c) => c,
                    Change::Keep | Change::Clear => PHONE_COUNTRY.to_owned(),
                };
                if n.trim_start().starts_with('+') {
                    self.errors.push(problem(
                        key,
                        ErrorCode::InvalidFormat,
                        format!("{key} must be a local number: send 0700000000, not +61700000000"),
                    ));
                    return;
                }
                if !n.chars().all(|c| c.is_ascii_digit() || c == ' ') {
                    self.errors.push(problem(
                        key,
                        ErrorCode::InvalidFormat,
                        format!("{key} may hold only digits: no special characters"),
                    ));
                    return;
                }
                if let Err(why) = phone::parse(&n, Some(&country)) {
                    self.errors.push(problem(key, ErrorCode::InvalidFormat, format!("{key} {why}")));
                    return;
                }
                Change::Set(PhoneDraft {
                    kind: Some(kind.as_str().to_owned()),
                    number: Some(n),
                    country: Some(country),
                })
            }
            _ => {
                self.errors.push(problem(key, ErrorCode::WrongType, format!("{key} must be a string or null")));
                return;
            }
        };
        self.patch.phone_kinds.insert(kind, change);
    }

    /// `[{"Name": key, "Value": value}, ...]` onto the biller's Contact Fields.
    fn custom_fields(&mut self, v: Value) {
        let items = match v {
            Value::Null => {
                self.patch.fields = Change::Clear;
                return;
            }
            Value::Array(items) => items,
            _ => {
                self.errors.push(problem(
                    "CustomFields",
                    ErrorCode::WrongType,
                    "CustomFields must be a list of {\"Name\", \"Value\"}",
                ));
                return;
            }
        };
        let mut fields = BTreeMap::new();
        for (i, item) in items.into_iter().enumerate() {
            let (name, value) = match item {
                // Nothing else may ride along: it would be dropped unread.
                Value::Object(mut o) if o.keys().all(|k| k == "Name" || k == "Value") => {
                    (o.remove("Name"), o.remove("Value"))
                }
                _ => (None, None),
            };
            let Some(Value::String(name)) = name else {
                self.errors.push(problem(
                    format!("CustomFields[{i}]").as_str(),
                    ErrorCode::WrongType,
                    format!("CustomFields[{i}] must be {{\"Name\": \"...\", \"Value\": ...}}"),
                ));
                continue;
            };
            let value = match value.unwrap_or(Value::Null) {
                Value::Null => None,
                Value::Bool(b) => Some(RawValue::Bool(b)),
                Value::String(s) => Some(RawValue::Text(s)),
                Value::Number(n) => {
                    Some(n.as_i64().map(RawValue::Integer).unwrap_or(RawValue::Float(n.as_f64().unwrap_or(f64::NAN))))
                }
                Value::Array(_) => Some(RawValue::Other("array")),
                Value::Object(_) => Some(RawValue::Other("object")),
            };
            if fields.contains_key(&name) {
                self.errors.push(problem(
                    format!("CustomFields[{i}]").as_str(),
                    ErrorCode::InvalidValue,
                    format!("CustomFields names {name} twice"),
                ));
                continue;
            }
            fields.insert(name, value);
        }
        self.patch.fields = Change::Set(fields);
    }
}

/// Reads a create (`create` true) or update body as a native patch. Every
/// problem is reported, in Pay Advantage's names. `Name` is the business
/// name of a business (`IsConsumer` false) and the name of anyone; a
/// create without it is named from `FirstName` and `LastName`.
pub fn read(body: Map<String, Value>, create: bool) -> Result<ContactPatch, Vec<FieldError>> {
    let mut r = Reader::default();
    let mut phones: BTreeMap<&str, (Option<Value>, Change<String>)> = BTreeMap::new();
    let mut name = Change::Keep;
    for (key, value) in body {
        match key.as_str() {
            "Name" => name = r.text(&key, value),
            "FirstName" => r.patch.first_name = r.text(&key, value),
            "LastName" => r.patch.last_name = r.text(&key, value),
            "IsConsumer" => r.patch.is_consumer = r.flag(&key, value),
            "ExternalID" => r.patch.external_id = r.text(&key, value),
            "CustomRef" => r.patch.reference_id = r.text(&key, value),
            "Email" => r.patch.email = r.text(&key, value),
            "DateOfBirth" => {
                // `1990-01-31` or `1990-01-31T00:00:00`: the date is what counts.
                r.patch.date_of_birth = match r.text(&key, value) {
                    Change::Set(d) => Change::Set(d.split('T').next().unwrap_or(&d).to_owned()),
                    other => other,
                }
            }
            "IsActive" => r.patch.active = r.flag(&key, value),
            "FailureEmails" => r.patch.email_on_failure = r.flag(&key, value),
            "ReceiptEmails" => r.patch.email_receipts = r.flag(&key, value),
            "Street" => r.address.line1 = r.text(&key, value),
            "Street2" => r.address.line2 = r.text(&key, value),
            "Locality" => r.address.locality = r.text(&key, value),
            "Suburb" => r.address.city = r.text(&key, value),
            "State" => r.address.state = r.text(&key, value),
            "Postcode" => r.address.postcode = r.text(&key, value),
            "CountryID" => r.address.country = r.country(&key, value),
            "CustomFields" => r.custom_fields(value),
            k => match PHONES.iter().find(|(n, c, _)| *n == k || *c == k) {
                Some((number, country, _)) => {
                    let entry = phones.entry(number).or_insert((None, Change::Keep));
                    if *country == k {
                        entry.1 = r.country(country, value);
                    } else {
                        entry.0 = Some(value);
                    }
                }
                None => {
                    r.errors.push(problem(&key, ErrorCode::UnknownField, format!("{key} is not a customer parameter")))
                }
            },
        }
    }
    for (number, (value, country)) in phones {
        // A Country ID sent alone re-reads the number it goes with: send both.
        match value {
            Some(value) => r.phone(number, value, country),
            None => {
                r.errors.push(problem(number, ErrorCode::MissingRequired, format!("send {number} with its Country ID")))
            }
        }
    }
    if r.address != AddressPatch::default() {
        r.patch.address = Change::Set(std::mem::take(&mut r.address));
    }
    if create && name.is_keep() {
        let full: Vec<&str> = [&r.patch.first_name, &r.patch.last_name]
            .into_iter()
            .filter_map(|c| match c {
                Change::Set(s) => Some(s.as_str()),
                _ => None,
            })
            .collect();
        if full.is_empty() {
            r.errors.push(problem("Name", ErrorCode::MissingRequired, "Name (or FirstName) is required"));
        } else {
            name = Change::Set(full.join(" "));
        }
    }
    if let Change::Clear = name {
        r.errors.push(problem("Name", ErrorCode::MissingRequired, "Name cannot be cleared"));
    }
    // A business's name is its business name.
    if let Change::Set(n) = &name
        && r.patch.is_consumer == Change::Set(false)
    {
        r.patch.business_name = Change::Set(n.clone());
    }
    r.patch.name = name;
    if r.errors.is_empty() { Ok(r.patch) } else { Err(r.errors) }
}

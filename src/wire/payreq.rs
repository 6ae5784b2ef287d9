//! Payreq's record format (seed 000): a JSON object with kebab-case keys,
//! `biller-account-number` and `name`, and the biller's configured Contact
//! Fields (`contact-id-1`, `address-1`, `postal-code`, ...) at the top
//! level. It reads into the native record (every other key is a Contact
//! Field, which the validator checks against the biller's settings), and
//! native field names map back to Payreq's for its error reports.

use crate::domain::{ContactDraft, ErrorCode, FieldError};
use crate::service::Unreadable;
use crate::wire::record;
use serde_json::{Map, Value};

pub const ACCOUNT_NUMBER: &str = "biller-account-number";

/// Reads one Payreq record; every problem in it is reported.
pub fn read_record(text: &str) -> Result<ContactDraft, Unreadable> {
    let fields = match serde_json::from_str::<record::Unique>(text) {
        Ok(record::Unique(Value::Object(fields))) => fields,
        Ok(_) => return Err(FieldError::new("", ErrorCode::WrongType, "each contact must be a JSON object").into()),
        Err(e) => {
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
            return Err(FieldError::new("", ErrorCode::InvalidFormat, format!("not valid JSON: {message}")).into());
        }
    };
    let account_number = fields.get(ACCOUNT_NUMBER).and_then(Value::as_str).map(str::to_owned);
    let mut native = Map::new();
    let mut contact_fields = Map::new();
    for (key, value) in fields {
        match key.as_str() {
            ACCOUNT_NUMBER => {
                native.insert("account_number".into(), value);
            }
            "name" => {
                native.insert(key, value);
            }
            _ => {
                contact_fields.insert(key, value);
            }
        }
    }
    if !contact_fields.is_empty() {
        native.insert("fields".into(), Value::Object(contact_fields));
    }
    record::draft_of(native).map_err(|errors| Unreadable { account_number, errors })
}

/// A native field path as a Payreq client sent it.
pub fn field_name(native: &str) -> String {
    if native == "account_number" {
        return ACCOUNT_NUMBER.into();
    }
    native.strip_prefix("fields.").unwrap_or(native).to_owned()
}

/// A native message in Payreq's field names: a message starts with the
/// field it is about (a Contact Field's by its key alone, as Payreq's).
pub fn message(native_field: &str, message: &str) -> String {
    match message.strip_prefix(native_field) {
        Some(rest) if !native_field.is_empty() => format!("{}{rest}", field_name(native_field)),
        _ => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_record_reads_into_the_native_one() {
        let d = read_record(
            r#"{"biller-account-number": "123456", "name": "Sam Smith", "contact-id-1": "123456", "postal-code": "3000"}"#,
        )
        .unwrap();
        assert_eq!((d.account_number.as_deref(), d.name.as_deref()), (Some("123456"), Some("Sam Smith")));
        assert_eq!(d.fields.keys().collect::<Vec<_>>(), ["contact-id-1", "postal-code"]);
        let e = read_record(r#"{"biller-account-number": 5, "name": "X", "name": "Y"}"#).unwrap_err();
        assert!(e.errors[0].message.contains("duplicate"), "{e:?}");
        let e = read_record(r#"{"biller-account-number": 5, "name": "X"}"#).unwrap_err();
        assert_eq!(field_name(&e.errors[0].field), ACCOUNT_NUMBER);
        assert_eq!(message("fields.contact-id-2", "fields.contact-id-2 is required"), "contact-id-2 is required");
        assert_eq!(message("account_number", "account_number is required"), "biller-account-number is required");
        let unknown = "account_number is not a configured contact field for this biller";
        assert_eq!(message("fields.account_number", unknown), unknown, "a Contact Field named so stays as sent");
    }
}

//! A biller's Contact Fields: each value of its configured kind, length,
//! pattern and role; unknown keys named.

use super::checker::Checker;
use crate::domain::contact::{FieldValue, RawValue};
use crate::domain::errors::{ErrorCode, short_list};
use crate::domain::field_settings::{BillerSettings, Field, FieldKind, FieldRole, MAX_FIELDS};
use std::collections::BTreeMap;

pub(super) fn fields(
    c: &mut Checker,
    mut raw: BTreeMap<String, RawValue>,
    settings: &BillerSettings,
    account_number: Option<&str>,
) -> BTreeMap<String, FieldValue> {
    if raw.len() > MAX_FIELDS {
        c.fail("fields", ErrorCode::TooMany, format!("at most {MAX_FIELDS} fields, got {}", raw.len()));
        return BTreeMap::new();
    }
    for key in raw.keys().filter(|k| settings.field(k).is_none()) {
        c.fail(
            format!("fields.{key}"),
            ErrorCode::UnknownField,
            format!("{key} is not a configured contact field for this biller"),
        );
    }
    let mut out = BTreeMap::new();
    for field in settings.fields() {
        let (key, path) = (&field.def.key, &field.path);
        match raw.remove(key) {
            None | Some(RawValue::Null) => {
                if field.def.required {
                    c.fail(path, ErrorCode::MissingRequired, format!("{key} is required"));
                }
            }
            Some(RawValue::Text(s)) if s.is_empty() => {
                if field.def.required {
                    c.fail(path, ErrorCode::MissingRequired, format!("{key} is required"));
                }
            }
            Some(value) => {
                if let Some(v) = field_value(c, path, field, value, account_number) {
                    out.insert(key.clone(), v);
                }
            }
        }
    }
    out
}

fn field_value(
    c: &mut Checker,
    path: &str,
    field: &Field,
    value: RawValue,
    account_number: Option<&str>,
) -> Option<FieldValue> {
    let def = &field.def;
    let got = match value {
        RawValue::Null => "null",
        RawValue::Bool(_) => "boolean",
        RawValue::Integer(_) | RawValue::Float(_) => "number",
        RawValue::Text(_) => "string",
        RawValue::Other(kind) => kind,
    };
    let wrong_type = |c: &mut Checker, want: &str| {
        c.fail(path, ErrorCode::WrongType, format!("{} must be {want}, got {got}", def.key));
        None
    };
    let value = match (&def.kind, value) {
        (FieldKind::Boolean, RawValue::Bool(b)) => FieldValue::Bool(b),
        (FieldKind::Boolean, RawValue::Text(s)) if s == "true" || s == "false" => FieldValue::Bool(s == "true"),
        (FieldKind::Boolean, _) => return wrong_type(c, "true or false"),
        (FieldKind::Integer, RawValue::Integer(i)) => FieldValue::Integer(i),
        // Only the plain form: "+5" or "007" would not read back as sent.
        (FieldKind::Integer, RawValue::Text(s)) => match s.parse::<i64>() {
            Ok(i) if i.to_string() == s => FieldValue::Integer(i),
            _ => return wrong_type(c, "an integer written plainly (no sign or leading zeroes)"),
        },
        (FieldKind::Integer, _) => return wrong_type(c, "an integer"),
        (_, RawValue::Text(s)) => FieldValue::Text(s),
        (_, _) => return wrong_type(c, "a string"),
    };
    let mut normalized = None;
    if let FieldValue::Text(s) = &value {
        let before = c.errors.len();
        let ok = c.check_text(
            path,
            s,
            def.min_length.unwrap_or(0),
            def.max_length.unwrap_or(crate::domain::field_settings::MAX_FIELD_LENGTH),
        );
        if ok {
            match def.kind {
                FieldKind::Email => {
                    c.email(path, s);
                }
                FieldKind::Phone => {
                    normalized = c.phone_number(path, s);
                }
                FieldKind::Date => {
                    c.date(path, s);
                }
                FieldKind::Enum if !def.values.contains(s) => {
                    c.fail(
                        path,
                        ErrorCode::InvalidValue,
                        format!("{} must be one of: {}", def.key, short_list(&def.values, 10)),
                    );
                }
                _ => {}
            }
            if field.pattern.as_ref().is_some_and(|re| !re.is_match(s)) {
                c.fail(path, ErrorCode::InvalidFormat, format!("{} does not match the configured pattern", def.key));
            }
            if def.role == FieldRole::Id && account_number.is_some_and(|a| a != s) {
                c.fail(
                    path,
                    ErrorCode::IdMismatch,
                    format!("{} has the id role and must equal the account number", def.key),
                );
            }
        }
        if c.errors.len() != before {
            return None;
        }
    }
    Some(normalized.map(FieldValue::Text).unwrap_or(value))
}

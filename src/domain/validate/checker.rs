//! The checker one record's validation fills with every problem found, and
//! the format checks the dialects also use on their own.

use super::MAX_EMAIL;
use crate::domain::errors::{ErrorCode, FieldError};
use crate::domain::phone;
use time::Date;
use time::macros::format_description;

/// Collects every problem with one record instead of stopping at the first.
pub(super) struct Checker {
    pub(super) errors: Vec<FieldError>,
}

impl Checker {
    pub(super) fn fail(&mut self, field: impl Into<String>, code: ErrorCode, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, code, message));
    }

    /// Optional free text: surrounding whitespace is trimmed, and what is left
    /// empty counts as absent (one rule for every standard text field).
    pub(super) fn text(&mut self, field: &str, value: Option<String>, max: usize) -> Option<String> {
        let value = trimmed(value)?;
        self.check_text(field, &value, 0, max).then_some(value)
    }

    pub(super) fn check_text(&mut self, field: &str, value: &str, min: usize, max: usize) -> bool {
        let len = value.chars().count();
        if len < min || len > max {
            self.fail(field, ErrorCode::InvalidLength, format!("{field} must be {min} to {max} characters, got {len}"));
            return false;
        }
        if value.chars().any(char::is_control) {
            self.fail(field, ErrorCode::InvalidCharacters, format!("{field} must not contain control characters"));
            return false;
        }
        true
    }

    pub(super) fn email(&mut self, field: &str, value: &str) -> bool {
        if !valid_email(value) {
            self.fail(field, ErrorCode::InvalidFormat, format!("{field} is not a valid email address"));
            return false;
        }
        true
    }

    pub(super) fn phone_number(&mut self, field: &str, value: &str) -> Option<String> {
        let number = normalize_phone(value);
        if number.is_none() {
            self.fail(
                field,
                ErrorCode::InvalidFormat,
                format!("{field} must be 4 to 20 digits, optionally with a leading +"),
            );
        }
        number
    }

    /// An ISO 3166-1 country, given as alpha-2 (any case) or as its numeric id.
    pub(super) fn country(&mut self, field: &str, value: Option<String>) -> Option<String> {
        let value = value.filter(|v| !v.trim().is_empty())?;
        match phone::country(&value) {
            Some(code) => Some(code.to_owned()),
            None => {
                self.fail(
                    field,
                    ErrorCode::InvalidFormat,
                    format!("{field} must be an ISO 3166-1 country: alpha-2 such as AU, or its numeric id such as 036"),
                );
                None
            }
        }
    }

    pub(super) fn date(&mut self, field: &str, value: &str) -> Option<Date> {
        // Exactly YYYY-MM-DD: the parser alone would also take "+2020-01-01".
        let shape = value.len() == 10
            && value.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
        let parsed = shape
            .then(|| Date::parse(value, format_description!("[year]-[month]-[day]")).ok())
            .flatten()
            .filter(|d| d.year() >= 1000);
        if parsed.is_none() {
            self.fail(field, ErrorCode::InvalidFormat, format!("{field} must be a date as YYYY-MM-DD"));
        }
        parsed
    }
}

pub(super) fn trimmed(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// An email address: RFC 5322 syntax (the `email_address` crate), at most
/// 254 characters, and a domain with a dot in it (`a@localhost` reaches no one).
pub fn valid_email(value: &str) -> bool {
    value.len() <= MAX_EMAIL
        && email_address::EmailAddress::is_valid(value)
        && value.rsplit_once('@').is_some_and(|(_, domain)| {
            let domain = domain.trim_end_matches('.');
            domain.contains('.') && !domain.starts_with('.') && !domain.starts_with('[')
        })
}

/// Strips the separators people type (spaces, dashes, dots, brackets) and
/// checks what is left is `+`? and 4 to 20 digits.
pub fn normalize_phone(value: &str) -> Option<String> {
    let cleaned: String = value.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
    let digits = cleaned.strip_prefix('+').unwrap_or(&cleaned);
    (digits.len() >= 4 && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(cleaned)
}

/// Razorpay's name rule, as its clients expect it: 3 to 50 characters of
/// `a-z A-Z 0-9`, space and `' - _ / ( ) , .`, not ending in a special
/// character other than `.`. Returns which part was broken.
pub fn razorpay_name(name: &str) -> Result<(), &'static str> {
    let len = name.chars().count();
    if !(3..=50).contains(&len) {
        return Err("must be 3 to 50 characters");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || " '-_/(),.".contains(c)) {
        return Err("may contain only a-z A-Z 0-9, space and ' - _ / ( ) , .");
    }
    if !name.chars().last().is_some_and(|c| c.is_ascii_alphanumeric() || c == '.') {
        return Err("must end in a letter, a digit or .");
    }
    Ok(())
}

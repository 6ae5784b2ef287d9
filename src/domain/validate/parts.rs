//! The parts of a contact with rules of their own: phones, the address,
//! notes and tags.

use super::checker::Checker;
use super::{MAX_ADDRESS_LINE, MAX_NOTE_KEY, MAX_NOTE_VALUE, MAX_NOTES, MAX_PHONES, MAX_TAGS};
use crate::domain::contact::{Address, AddressDraft, Phone, PhoneDraft, PhoneKind};
use crate::domain::errors::ErrorCode;
use crate::domain::ids::TagId;
use crate::domain::phone;
use std::collections::{BTreeMap, HashSet};

pub(super) fn phones(c: &mut Checker, drafts: Vec<PhoneDraft>, default_country: Option<&str>) -> Vec<Phone> {
    if drafts.len() > MAX_PHONES {
        c.fail("phones", ErrorCode::TooMany, format!("at most {MAX_PHONES} phones"));
        return Vec::new();
    }
    let mut out: Vec<Phone> = Vec::with_capacity(drafts.len());
    for (i, p) in drafts.into_iter().enumerate() {
        let path = format!("phones[{i}]");
        let kind = match p.kind.as_deref() {
            None => Some(PhoneKind::Primary),
            Some(k) => PhoneKind::parse(k).or_else(|| {
                c.fail(format!("{path}.kind"), ErrorCode::InvalidValue, "kind must be primary, mobile, home or work");
                None
            }),
        };
        if let Some(kind) = kind.filter(|k| out.iter().any(|o| o.kind == *k)) {
            c.fail(format!("{path}.kind"), ErrorCode::InvalidValue, format!("only one {} phone", kind.as_str()));
        }
        let country = c.country(&format!("{path}.country"), p.country);
        let number = match p.number.as_deref().map(str::trim) {
            None | Some("") => {
                c.fail(format!("{path}.number"), ErrorCode::MissingRequired, "a phone needs a number");
                None
            }
            Some(n) => phone_number(c, &format!("{path}.number"), n, country.as_deref().or(default_country)),
        };
        if let (Some(kind), Some((number, e164))) = (kind, number) {
            out.push(Phone { kind, number, e164, country });
        }
    }
    out
}

/// A phone number as sent, and its E.164 form: read in its country (or the
/// biller's) with the `phonenumber` crate, or, in international form, on its
/// own; with no country to read a local number in, kept as sent once it is
/// 4 to 20 digits (its E.164 unknown).
fn phone_number(c: &mut Checker, field: &str, number: &str, country: Option<&str>) -> Option<(String, Option<String>)> {
    if country.is_none() && !number.starts_with('+') {
        return c.phone_number(field, number).map(|_| (number.to_owned(), None));
    }
    match phone::parse(number, country) {
        Ok(parsed) => Some((number.to_owned(), Some(parsed.e164))),
        Err(why) => {
            c.fail(field, ErrorCode::InvalidFormat, format!("{field} {why}"));
            None
        }
    }
}

pub(super) fn address(c: &mut Checker, a: AddressDraft) -> Address {
    Address {
        line1: c.text("address.line1", a.line1, MAX_ADDRESS_LINE),
        line2: c.text("address.line2", a.line2, MAX_ADDRESS_LINE),
        locality: c.text("address.locality", a.locality, MAX_ADDRESS_LINE),
        city: c.text("address.city", a.city, MAX_ADDRESS_LINE),
        state: c.text("address.state", a.state, 64),
        postcode: c.text("address.postcode", a.postcode, 16),
        country: c.country("address.country", a.country),
    }
}

// Every list in a record stops at its limit: past it, the one error is
// `too_many` and no item is looked at, so a hostile record of 100,000 items
// costs what one of 33 does.

pub(super) fn notes(c: &mut Checker, notes: &BTreeMap<String, String>) {
    if notes.len() > MAX_NOTES {
        c.fail("notes", ErrorCode::TooMany, format!("at most {MAX_NOTES} notes, got {}", notes.len()));
        return;
    }
    for (k, v) in notes {
        let path = format!("notes.{k}");
        if c.check_text(&path, k, 1, MAX_NOTE_KEY) {
            c.check_text(&path, v, 0, MAX_NOTE_VALUE);
        }
    }
}

/// Tags are ids from the biller's catalogue (`GET …/tags`), each once.
pub(super) fn tags(c: &mut Checker, tags: &[String], known: &HashSet<String>) {
    if tags.len() > MAX_TAGS {
        c.fail("tags", ErrorCode::TooMany, format!("at most {MAX_TAGS} tags, got {}", tags.len()));
        return;
    }
    let mut seen = HashSet::with_capacity(tags.len());
    for (i, t) in tags.iter().enumerate() {
        let path = format!("tags[{i}]");
        if TagId::parse(t).is_none() {
            c.fail(path, ErrorCode::InvalidFormat, format!("tag {t:?} is not a tag id (24 lowercase hex characters)"));
        } else if !known.contains(t) {
            c.fail(path, ErrorCode::InvalidValue, format!("tag {t} is not in the biller's tag catalogue"));
        } else if !seen.insert(t.as_str()) {
            c.fail(path, ErrorCode::InvalidValue, format!("tag {t} is listed twice"));
        }
    }
}

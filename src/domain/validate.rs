//! The one validator: every write path (bulk add and replace, jobs, single
//! create and patch, every dialect) turns a `ContactDraft` into
//! `ContactData` here, against the biller's settings, its tag catalogue and
//! today's date (`Rules`).

use crate::domain::account_number::AccountNumber;
use crate::domain::contact::{
    Address, AddressDraft, ContactData, ContactDraft, FieldValue, Phone, PhoneDraft, PhoneKind, RawValue,
};
use crate::domain::errors::{BatchErrors, ErrorCode, FieldError, RecordError, short_list};
use crate::domain::field_settings::{BillerSettings, Field, FieldKind, FieldRole, MAX_FIELDS, NameRules};
use crate::domain::ids::TagId;
use crate::domain::{crn, phone};
use std::collections::{BTreeMap, HashMap, HashSet};
use time::Date;
use time::macros::format_description;

/// What a contact is checked against, besides itself.
#[derive(Clone, Copy)]
pub struct Rules<'a> {
    pub settings: &'a BillerSettings,
    /// The ids of the biller's catalogue tags a contact may carry (at least
    /// those it names).
    pub tags: &'a HashSet<String>,
    /// A date of birth must be before it.
    pub today: Date,
}

impl<'a> Rules<'a> {
    pub fn new(settings: &'a BillerSettings, tags: &'a HashSet<String>, today: Date) -> Self {
        Self { settings, tags, today }
    }
}

pub const MAX_NAME: usize = 200;
pub const MAX_PERSON_NAME: usize = 100;
pub const MAX_EMAIL: usize = 254;
pub const MAX_PHONES: usize = 4;
pub const MAX_ADDRESS_LINE: usize = 128;
pub const MAX_REFERENCE_ID: usize = 40;
pub const MAX_EXTERNAL_ID: usize = 64;
pub const MAX_NOTES: usize = 15;
pub const MAX_NOTE_KEY: usize = 64;
pub const MAX_NOTE_VALUE: usize = 256;
pub const MAX_TAGS: usize = 32;
pub const MAX_TAG: usize = 64;

/// Collects every problem with one record instead of stopping at the first.
struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    fn fail(&mut self, field: impl Into<String>, code: ErrorCode, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, code, message));
    }

    /// Optional free text: empty means absent; control characters and overlong values are errors.
    /// Optional free text: surrounding whitespace is trimmed, and what is left
    /// empty counts as absent (one rule for every standard text field).
    fn text(&mut self, field: &str, value: Option<String>, max: usize) -> Option<String> {
        let value = trimmed(value)?;
        self.check_text(field, &value, 0, max).then_some(value)
    }

    fn check_text(&mut self, field: &str, value: &str, min: usize, max: usize) -> bool {
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

    fn email(&mut self, field: &str, value: &str) -> bool {
        if !valid_email(value) {
            self.fail(field, ErrorCode::InvalidFormat, format!("{field} is not a valid email address"));
            return false;
        }
        true
    }

    fn phone_number(&mut self, field: &str, value: &str) -> Option<String> {
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
    fn country(&mut self, field: &str, value: Option<String>) -> Option<String> {
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

    fn date(&mut self, field: &str, value: &str) -> Option<Date> {
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

fn trimmed(value: Option<String>) -> Option<String> {
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

/// Validates one contact. Every problem is reported, not just the first.
pub fn validate_contact(draft: ContactDraft, rules: &Rules) -> Result<ContactData, Vec<FieldError>> {
    let settings = rules.settings;
    let mut c = Checker { errors: Vec::new() };

    let account_number = match draft.account_number.as_deref() {
        None | Some("") => {
            c.fail("account_number", ErrorCode::MissingRequired, "account_number is required");
            None
        }
        Some(raw) => AccountNumber::parse(raw, settings.account_number()).map_err(|e| c.errors.push(e)).ok(),
    };

    let name = match trimmed(draft.name) {
        None => {
            c.fail("name", ErrorCode::MissingRequired, "name is required");
            None
        }
        Some(n) if settings.name_rules() == NameRules::Razorpay => match razorpay_name(&n) {
            Ok(()) => Some(n),
            Err(why) => {
                c.fail("name", ErrorCode::InvalidFormat, format!("name {why} (the biller's Razorpay name rules)"));
                None
            }
        },
        Some(n) if !n.chars().any(char::is_alphanumeric) => {
            c.fail("name", ErrorCode::InvalidCharacters, "name must contain a letter or digit");
            None
        }
        Some(n) => c.check_text("name", &n, 1, MAX_NAME).then_some(n),
    };

    let first_name = c.text("first_name", draft.first_name, MAX_PERSON_NAME);
    let last_name = c.text("last_name", draft.last_name, MAX_PERSON_NAME);
    let business_name = c.text("business_name", draft.business_name, MAX_NAME);
    let email = c.text("email", draft.email, MAX_EMAIL).filter(|e| c.email("email", e));
    let phones = phones(&mut c, draft.phones, settings.phone_country());
    let date_of_birth = draft.date_of_birth.filter(|d| !d.is_empty()).and_then(|d| c.date("date_of_birth", &d));
    if let Some(d) = date_of_birth.filter(|d| *d >= rules.today) {
        c.fail("date_of_birth", ErrorCode::InvalidValue, format!("date_of_birth {d} is not in the past"));
    }
    let address = address(&mut c, draft.address);
    let reference_id = c.text("reference_id", draft.reference_id, MAX_REFERENCE_ID);
    let external_id = c.text("external_id", draft.external_id, MAX_EXTERNAL_ID);
    let crn = draft.crn.filter(|v| !v.is_empty()).filter(|v| {
        let ok = (crn::MIN_CRN..=crn::MAX_CRN).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit());
        if !ok {
            c.fail("crn", ErrorCode::InvalidFormat, "crn must be 2 to 20 digits");
            return false;
        }
        let algorithm = settings.crn_algorithm();
        if !crn::is_valid(algorithm, v) {
            c.fail(
                "crn",
                ErrorCode::InvalidValue,
                format!("crn {v} fails the biller's check digit ({})", algorithm.as_str()),
            );
            return false;
        }
        true
    });
    if draft.is_consumer == Some(false) && business_name.is_none() {
        c.fail("business_name", ErrorCode::MissingRequired, "a business (is_consumer false) needs a business_name");
    }
    let contact_type = c.text("type", draft.contact_type, 40).filter(|t| {
        let ok = settings.allows_type(t);
        if !ok {
            c.fail(
                "type",
                ErrorCode::InvalidValue,
                format!("Invalid type: {t} (allowed: {})", short_list(&settings.doc().contact_types, 10)),
            );
        }
        ok
    });
    notes(&mut c, &draft.notes);
    tags(&mut c, &draft.tags, rules.tags);
    let fields = fields(&mut c, draft.fields, settings, draft.account_number.as_deref());

    match (account_number, name) {
        (Some(account_number), Some(name)) if c.errors.is_empty() => Ok(ContactData {
            account_number,
            name,
            first_name,
            last_name,
            business_name,
            is_consumer: draft.is_consumer,
            email,
            email_on_failure: draft.email_on_failure,
            email_receipts: draft.email_receipts,
            phones,
            date_of_birth,
            address,
            reference_id,
            external_id,
            crn,
            contact_type,
            active: draft.active.unwrap_or(true),
            notes: draft.notes,
            tags: draft.tags,
            fields,
        }),
        _ => Err(c.errors),
    }
}

fn phones(c: &mut Checker, drafts: Vec<PhoneDraft>, default_country: Option<&str>) -> Vec<Phone> {
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

fn address(c: &mut Checker, a: AddressDraft) -> Address {
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

fn notes(c: &mut Checker, notes: &BTreeMap<String, String>) {
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
fn tags(c: &mut Checker, tags: &[String], known: &HashSet<String>) {
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

fn fields(
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

/// Validates a whole batch: every record, then duplicate account numbers
/// across the batch (each position named). Returns the valid records with
/// their positions and the errors found (bounded, with their total).
pub fn validate_batch(
    drafts: impl IntoIterator<Item = (usize, ContactDraft)>,
    rules: &Rules,
) -> (Vec<(usize, ContactData)>, BatchErrors) {
    let mut valid = Vec::new();
    let mut errors = BatchErrors::default();
    let mut positions: HashMap<String, Vec<usize>> = HashMap::new();
    for (index, draft) in drafts {
        let account_number = draft.account_number.clone().filter(|a| !a.is_empty());
        if let Some(a) = &account_number {
            positions.entry(a.clone()).or_default().push(index);
        }
        match validate_contact(draft, rules) {
            Ok(data) => valid.push((index, data)),
            Err(errs) => {
                for error in errs {
                    errors.push(RecordError { index, account_number: account_number.clone(), error });
                }
            }
        }
    }
    for (account_number, at) in positions.into_iter().filter(|(_, at)| at.len() > 1) {
        let list = short_list(&at, 10);
        for &index in &at {
            errors.push(RecordError {
                index,
                account_number: Some(account_number.clone()),
                error: FieldError::new(
                    "account_number",
                    ErrorCode::DuplicateAccountNumber,
                    format!(
                        "account number {account_number} appears {} times in this request, at positions {list}",
                        at.len()
                    ),
                ),
            });
        }
    }
    valid.retain(|(i, _)| !errors.has(*i));
    (valid, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::field_settings::{FieldDef, SettingsDoc};
    use proptest::prelude::*;

    fn payreq_settings() -> BillerSettings {
        let mut id = FieldDef::new("contact-id-1", FieldKind::Text);
        id.role = FieldRole::Id;
        let mut auth = FieldDef::new("contact-id-2", FieldKind::Text);
        auth.role = FieldRole::Auth;
        auth.required = true;
        auth.max_length = Some(20);
        let mut group = FieldDef::new("contact-id-3", FieldKind::Text);
        group.pattern = Some("GA[0-9]+".into());
        let mut plan = FieldDef::new("plan", FieldKind::Enum);
        plan.values = vec!["basic".into(), "pro".into()];
        let doc = SettingsDoc {
            fields: vec![
                id,
                auth,
                group,
                plan,
                FieldDef::new("postal-code", FieldKind::Integer),
                FieldDef::new("paperless", FieldKind::Boolean),
            ],
            ..SettingsDoc::default()
        };
        BillerSettings::parse(doc).unwrap()
    }

    fn today() -> Date {
        time::macros::date!(2026 - 12 - 03)
    }

    fn check(d: ContactDraft) -> Result<ContactData, Vec<FieldError>> {
        validate_contact(d, &Rules::new(&payreq_settings(), &HashSet::new(), today()))
    }

    fn draft(acct: &str, name: &str) -> ContactDraft {
        let mut d = ContactDraft { account_number: Some(acct.into()), name: Some(name.into()), ..Default::default() };
        d.fields.insert("contact-id-1".into(), RawValue::Text(acct.into()));
        d.fields.insert("contact-id-2".into(), RawValue::Text("Mr S Smith".into()));
        d
    }

    fn codes(errs: &[FieldError]) -> Vec<(&str, ErrorCode)> {
        errs.iter().map(|e| (e.field.as_str(), e.code)).collect()
    }

    #[test]
    fn the_seed_example_is_valid() {
        let mut d = draft("123456", "Sam Smith");
        d.fields.insert("contact-id-3".into(), RawValue::Text("GA123".into()));
        d.fields.insert("postal-code".into(), RawValue::Text("3000".into()));
        d.fields.insert("paperless".into(), RawValue::Bool(true));
        let data = check(d).unwrap();
        assert_eq!(data.account_number.as_str(), "123456");
        assert_eq!(data.fields["postal-code"], FieldValue::Integer(3000));
        assert!(data.active);
    }

    #[test]
    fn every_problem_in_a_record_is_reported() {
        let mut d = draft("123456", "");
        d.account_number = None;
        d.email = Some("not-an-email".into());
        d.contact_type = Some("contact_typeA".into());
        d.fields.insert("nope".into(), RawValue::Text("x".into()));
        d.fields.insert("contact-id-3".into(), RawValue::Text("XX1".into()));
        d.fields.insert("plan".into(), RawValue::Text("gold".into()));
        d.fields.insert("paperless".into(), RawValue::Integer(1));
        d.fields.remove("contact-id-2");
        let errs = check(d).unwrap_err();
        let got = codes(&errs);
        for want in [
            ("account_number", ErrorCode::MissingRequired),
            ("name", ErrorCode::MissingRequired),
            ("email", ErrorCode::InvalidFormat),
            ("type", ErrorCode::InvalidValue),
            ("fields.nope", ErrorCode::UnknownField),
            ("fields.contact-id-2", ErrorCode::MissingRequired),
            ("fields.contact-id-3", ErrorCode::InvalidFormat),
            ("fields.plan", ErrorCode::InvalidValue),
            ("fields.paperless", ErrorCode::WrongType),
        ] {
            assert!(got.contains(&want), "missing {want:?} in {got:?}");
        }
    }

    #[test]
    fn id_role_must_equal_the_account_number() {
        let mut d = draft("000123", "Sam");
        d.fields.insert("contact-id-1".into(), RawValue::Text("123".into()));
        let errs = check(d).unwrap_err();
        assert_eq!(codes(&errs), [("fields.contact-id-1", ErrorCode::IdMismatch)]);
    }

    #[test]
    fn field_lengths_and_notes_limits() {
        let mut d = draft("1", "Sam");
        d.fields.insert("contact-id-2".into(), RawValue::Text("x".repeat(21)));
        for i in 0..16 {
            d.notes.insert(format!("k{i}"), "v".into());
        }
        let errs = check(d).unwrap_err();
        assert_eq!(codes(&errs), [("notes", ErrorCode::TooMany), ("fields.contact-id-2", ErrorCode::InvalidLength)]);
    }

    #[test]
    fn phones_are_normalised_and_checked() {
        let mut d = draft("1", "Sam");
        d.phones = vec![
            PhoneDraft { kind: Some("mobile".into()), number: Some("0400 000-000".into()), country: Some("au".into()) },
            PhoneDraft { kind: Some("fax".into()), number: Some("12ab".into()), country: None },
        ];
        let errs = check(d.clone()).unwrap_err();
        assert_eq!(
            codes(&errs),
            [("phones[1].kind", ErrorCode::InvalidValue), ("phones[1].number", ErrorCode::InvalidFormat)]
        );
        d.phones.truncate(1);
        let data = check(d.clone()).unwrap();
        assert_eq!(data.phones[0].number, "0400 000-000", "kept as sent");
        assert_eq!(data.phones[0].e164.as_deref(), Some("+61400000000"));
        assert_eq!(data.phones[0].country.as_deref(), Some("AU"));
        // Read in its country, a number that is not one is refused with the reason.
        d.phones[0].number = Some("0400 000".into());
        let errs = check(d.clone()).unwrap_err();
        assert_eq!(codes(&errs), [("phones[0].number", ErrorCode::InvalidFormat)]);
        assert!(errs[0].message.contains("AU"), "{}", errs[0].message);
        // International form needs no country; a numeric country id is one.
        d.phones[0] = PhoneDraft { kind: None, number: Some("+91 92191 33921".into()), country: None };
        assert_eq!(check(d.clone()).unwrap().phones[0].e164.as_deref(), Some("+919219133921"));
        d.phones[0] = PhoneDraft { kind: None, number: Some("9219133921".into()), country: Some("356".into()) };
        let data = check(d.clone()).unwrap();
        assert_eq!(
            (data.phones[0].e164.as_deref(), data.phones[0].country.as_deref()),
            (Some("+919219133921"), Some("IN"))
        );
        // Without any country a local number is kept as sent, unchecked beyond its digits.
        d.phones[0] = PhoneDraft { kind: None, number: Some("0400 000 000".into()), country: None };
        assert_eq!(check(d.clone()).unwrap().phones[0].e164, None);
        // Hostile input is refused before the crate reads it.
        d.phones[0] = PhoneDraft { kind: None, number: Some(format!("+{}", "9".repeat(10_000))), country: None };
        assert_eq!(codes(&check(d).unwrap_err()), [("phones[0].number", ErrorCode::InvalidFormat)]);
    }

    #[test]
    fn duplicates_name_every_position() {
        let drafts = vec![draft("1", "A"), draft("2", "B"), draft("1", "C"), draft("1", "D")];
        let (valid, errors) =
            validate_batch(drafts.into_iter().enumerate(), &Rules::new(&payreq_settings(), &HashSet::new(), today()));
        assert_eq!(valid.len(), 1);
        assert_eq!((errors.total(), errors.records_with_errors()), (3, 3));
        let errors = errors.into_listed();
        let dup: Vec<usize> =
            errors.iter().filter(|e| e.error.code == ErrorCode::DuplicateAccountNumber).map(|e| e.index).collect();
        assert_eq!(dup, [0, 2, 3]);
        assert!(errors[0].error.message.contains("appears 3 times"));
        assert!(errors[0].error.message.contains("0, 2, 3"));
    }

    #[test]
    fn batch_errors_stay_bounded_and_counted() {
        let drafts = (0..5000).map(|i| (i, draft("1", "Same")));
        let (valid, errors) = validate_batch(drafts, &Rules::new(&payreq_settings(), &HashSet::new(), today()));
        assert!(valid.is_empty());
        assert_eq!((errors.total(), errors.records_with_errors()), (5000, 5000));
        let listed = errors.into_listed();
        assert_eq!(listed.len(), crate::domain::MAX_REPORTED_ERRORS);
        assert_eq!(listed[999].index, 999);
        assert!(listed[0].error.message.len() < 200, "the positions listed are capped: {}", listed[0].error.message);
    }

    proptest! {
        #[test]
        fn validator_never_panics(acct in "\\PC{0,50}", name in "\\PC{0,250}", email in "\\PC{0,30}", v in "\\PC{0,40}") {
            let mut d = draft(&acct, &name);
            d.email = Some(email);
            d.fields.insert("contact-id-3".into(), RawValue::Text(v.clone()));
            d.fields.insert("postal-code".into(), RawValue::Text(v));
            if let Ok(data) = check(d) {
                prop_assert_eq!(data.account_number.as_str(), acct.as_str());
                prop_assert_eq!(data.fields.get("contact-id-1"), Some(&FieldValue::Text(acct.clone())));
            }
        }
    }
}

//! The one validator: every write path (bulk add and replace, jobs, single
//! create and patch, every dialect) turns a `ContactDraft` into
//! `ContactData` here, against the biller's settings, its tag catalogue and
//! today's date (`Rules`).

mod checker;
mod contact_fields;
mod parts;

use checker::{Checker, trimmed};
pub use checker::{normalize_phone, razorpay_name, valid_email};
use contact_fields::fields;
use parts::{address, notes, phones, tags};

use crate::domain::account_number::AccountNumber;
use crate::domain::contact::{ContactData, ContactDraft};
use crate::domain::crn;
use crate::domain::errors::{BatchErrors, ErrorCode, FieldError, RecordError, short_list};
use crate::domain::field_settings::{BillerSettings, NameRules};
use std::collections::{HashMap, HashSet};
use time::Date;

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
    use crate::domain::contact::{FieldValue, PhoneDraft, RawValue};
    use crate::domain::field_settings::{FieldDef, FieldKind, FieldRole, SettingsDoc};
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

//! Per-biller Contact Field Settings (Payreq's model): the configured extra
//! fields, account-number rules, contact types and the replace guard.
//!
//! The settings document is configuration an operator writes as JSON, so its
//! shape lives here with serde; `BillerSettings::parse` turns it into the
//! checked form the validator uses.

use crate::domain::account_number::{AccountNumberRules, MAX_ACCOUNT_NUMBER_LENGTH};
use crate::domain::crn::CrnAlgorithm;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

pub const MAX_FIELDS: usize = 64;
pub const MAX_FIELD_LENGTH: usize = 1024;
pub const MAX_CONTACT_TYPES: usize = 100;
pub const MAX_ENUM_VALUES: usize = 200;
pub const DEFAULT_CONTACT_TYPES: [&str; 4] = ["vendor", "customer", "employee", "self"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Email,
    Phone,
    Date,
    Integer,
    Boolean,
    Enum,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldRole {
    #[default]
    None,
    /// The value must equal the contact's account number.
    Id,
    /// The value a customer quotes to subscribe.
    Auth,
}

/// One configured Contact Field, as written in the settings document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    pub key: String,
    #[serde(default)]
    pub label: String,
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional_whole_number")]
    pub min_length: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional_whole_number")]
    pub max_length: Option<usize>,
    /// Regular expression the whole value must match (text-like kinds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Allowed values for `enum` fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(default)]
    pub role: FieldRole,
}

impl FieldDef {
    /// An optional field with no rules beyond its kind.
    pub fn new(key: &str, kind: FieldKind) -> Self {
        Self {
            key: key.into(),
            label: key.into(),
            kind,
            required: false,
            min_length: None,
            max_length: None,
            pattern: None,
            values: vec![],
            role: FieldRole::None,
        }
    }
}

fn optional_whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    #[derive(Deserialize)]
    struct Whole(#[serde(deserialize_with = "crate::domain::account_number::whole_number")] usize);
    Ok(Option::<Whole>::deserialize(d)?.map(|w| w.0))
}

/// Which rules a contact's `name` follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameRules {
    /// 1 to 200 characters with a letter or digit.
    #[default]
    Default,
    /// Razorpay's: 3 to 50 of `a-z A-Z 0-9`, space and `' - _ / ( ) , .`,
    /// ending in a letter, a digit or `.`.
    Razorpay,
}

/// Where a generated BPAY CRN's digits come from, before its check digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrnBase {
    /// The account number's digits (it must have some).
    #[default]
    AccountNumber,
    /// A number the biller counts up, one per CRN issued.
    Sequence,
}

/// How the biller's BPAY Customer Reference Numbers are made and checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrnSettings {
    /// `MOD10V01` (Luhn, the default) or `MOD10V05`.
    pub algorithm: String,
    pub base: CrnBase,
}

impl Default for CrnSettings {
    fn default() -> Self {
        Self { algorithm: CrnAlgorithm::Mod10V01.as_str().to_owned(), base: CrnBase::AccountNumber }
    }
}

/// The settings document of one biller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SettingsDoc {
    pub account_number: AccountNumberRules,
    pub fields: Vec<FieldDef>,
    pub contact_types: Vec<String>,
    /// Largest share (0.0 to 1.0) of a biller's contacts a replace may remove
    /// without `confirm_removals`.
    pub max_replace_removal: f64,
    pub name_rules: NameRules,
    pub crn: CrnSettings,
    /// PATCH and DELETE of one contact need `If-Match` (428 without).
    pub require_if_match: bool,
    /// The country a phone number in local form is read in when its own
    /// country is not given (ISO 3166-1 alpha-2); none: such a number is
    /// kept as sent, unchecked beyond its digits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_country: Option<String>,
    /// What a contact's `email_on_failure` and `email_receipts` are when it
    /// sets none (Pay Advantage's portal defaults).
    pub notification_defaults: NotificationDefaults,
}

/// Whether contacts that say nothing are emailed on direct-debit failures and with receipts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationDefaults {
    pub email_on_failure: bool,
    pub email_receipts: bool,
}

impl Default for NotificationDefaults {
    fn default() -> Self {
        Self { email_on_failure: true, email_receipts: true }
    }
}

impl Default for SettingsDoc {
    fn default() -> Self {
        Self {
            account_number: AccountNumberRules::default(),
            fields: Vec::new(),
            contact_types: DEFAULT_CONTACT_TYPES.iter().map(|s| s.to_string()).collect(),
            max_replace_removal: 0.25,
            name_rules: NameRules::default(),
            crn: CrnSettings::default(),
            require_if_match: false,
            phone_country: None,
            notification_defaults: NotificationDefaults::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SettingsError {
    pub path: String,
    pub message: String,
}

fn err(path: impl Into<String>, message: impl Into<String>) -> SettingsError {
    SettingsError { path: path.into(), message: message.into() }
}

/// A field definition with its pattern compiled.
#[derive(Debug, Clone)]
pub struct Field {
    pub def: FieldDef,
    pub pattern: Option<Regex>,
    /// Where its errors point: `fields.{key}`.
    pub path: String,
}

/// Checked settings: what the validator runs on. Shared, not copied: every
/// request of the biller holds them.
#[derive(Debug, Clone)]
pub struct BillerSettings(std::sync::Arc<Checked>);

#[derive(Debug)]
struct Checked {
    doc: SettingsDoc,
    fields: Vec<Field>,
    crn: CrnAlgorithm,
    phone_country: Option<&'static str>,
}

impl Default for BillerSettings {
    fn default() -> Self {
        Self(std::sync::Arc::new(Checked {
            doc: SettingsDoc::default(),
            fields: Vec::new(),
            crn: CrnAlgorithm::Mod10V01,
            phone_country: None,
        }))
    }
}

/// Names a list offers to choose from: non-empty, short, plain and distinct.
fn check_names(errors: &mut Vec<SettingsError>, path: &str, names: &[String], max: usize) {
    for (i, n) in names.iter().enumerate() {
        if n.trim().is_empty() || n.chars().count() > max || n.chars().any(char::is_control) {
            errors.push(err(
                format!("{path}[{i}]"),
                format!("must be 1 to {max} characters, with no control characters"),
            ));
        } else if names[..i].contains(n) {
            errors.push(err(format!("{path}[{i}]"), format!("{n:?} is listed twice")));
        }
    }
}

fn valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && key.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

impl BillerSettings {
    /// Checks a settings document whole and reports every problem in it.
    pub fn parse(doc: SettingsDoc) -> Result<Self, Vec<SettingsError>> {
        let mut errors = Vec::new();
        let an = &doc.account_number;
        if an.min_length == 0 || an.min_length > an.max_length || an.max_length > MAX_ACCOUNT_NUMBER_LENGTH {
            errors.push(err(
                "account_number",
                format!("need 1 <= min_length <= max_length <= {MAX_ACCOUNT_NUMBER_LENGTH}"),
            ));
        }
        if !(0.0..=1.0).contains(&doc.max_replace_removal) {
            errors.push(err("max_replace_removal", "must be between 0.0 and 1.0"));
        }
        if doc.contact_types.is_empty() {
            errors.push(err("contact_types", "at least one contact type is needed"));
        }
        if doc.contact_types.len() > MAX_CONTACT_TYPES {
            errors.push(err("contact_types", format!("at most {MAX_CONTACT_TYPES} contact types")));
        }
        check_names(&mut errors, "contact_types", &doc.contact_types, 40);
        if doc.fields.len() > MAX_FIELDS {
            errors.push(err("fields", format!("at most {MAX_FIELDS} fields may be configured")));
        }
        let mut seen = HashSet::new();
        let mut fields = Vec::with_capacity(doc.fields.len());
        for (i, def) in doc.fields.iter().enumerate() {
            let path = format!("fields[{i}]");
            if !valid_key(&def.key) {
                errors.push(err(&path, "key must be 1 to 64 of a-z 0-9 - _ starting with a letter or digit"));
            }
            if !seen.insert(def.key.as_str()) {
                errors.push(err(&path, format!("key {:?} is configured twice", def.key)));
            }
            let (min, max) = (def.min_length.unwrap_or(0), def.max_length.unwrap_or(MAX_FIELD_LENGTH));
            if min > max || max > MAX_FIELD_LENGTH {
                errors.push(err(&path, format!("need min_length <= max_length <= {MAX_FIELD_LENGTH}")));
            }
            if def.kind == FieldKind::Enum && def.values.is_empty() {
                errors.push(err(&path, "an enum field needs a non-empty values list"));
            }
            if def.kind != FieldKind::Enum && !def.values.is_empty() {
                errors.push(err(&path, "values is only for enum fields"));
            }
            if def.values.len() > MAX_ENUM_VALUES {
                errors.push(err(&path, format!("at most {MAX_ENUM_VALUES} enum values")));
            }
            check_names(&mut errors, &format!("{path}.values"), &def.values, 256);
            let text_like = matches!(def.kind, FieldKind::Text | FieldKind::Email | FieldKind::Phone);
            if !text_like && (def.pattern.is_some() || def.min_length.is_some() || def.max_length.is_some()) {
                errors
                    .push(err(&path, "pattern, min_length and max_length apply to text, email and phone fields only"));
            }
            if def.label.chars().count() > 100 || def.label.chars().any(char::is_control) {
                errors.push(err(&path, "label is at most 100 characters, with no control characters"));
            }
            if def.role != FieldRole::None && def.kind != FieldKind::Text {
                errors.push(err(&path, "id and auth roles need a text field (integers would lose leading zeroes)"));
            }
            let pattern = match &def.pattern {
                None => None,
                // Compiled alone first: "x)|(?:.*" would otherwise escape the anchors.
                Some(p) => match regex::RegexBuilder::new(p)
                    .size_limit(1 << 20)
                    .build()
                    .and_then(|_| regex::RegexBuilder::new(&format!("^(?:{p})$")).size_limit(1 << 20).build())
                {
                    Ok(re) => Some(re),
                    Err(e) => {
                        errors.push(err(&path, format!("pattern does not compile: {e}")));
                        None
                    }
                },
            };
            fields.push(Field { path: format!("fields.{}", def.key), def: def.clone(), pattern });
        }
        if doc.fields.iter().filter(|f| f.role == FieldRole::Id).count() > 1 {
            errors.push(err("fields", "at most one field may have the id role"));
        }
        let crn = CrnAlgorithm::parse(&doc.crn.algorithm).unwrap_or_else(|| {
            errors.push(err("crn.algorithm", "must be MOD10V01 or MOD10V05"));
            CrnAlgorithm::Mod10V01
        });
        let phone_country = match doc.phone_country.as_deref() {
            None => None,
            Some(c) => crate::domain::phone::country(c).filter(|_| c.len() == 2).or_else(|| {
                errors.push(err("phone_country", "must be an ISO 3166-1 alpha-2 code such as AU"));
                None
            }),
        };
        if errors.is_empty() {
            Ok(Self(std::sync::Arc::new(Checked { doc, fields, crn, phone_country })))
        } else {
            Err(errors)
        }
    }

    pub fn crn_algorithm(&self) -> CrnAlgorithm {
        self.0.crn
    }

    pub fn phone_country(&self) -> Option<&'static str> {
        self.0.phone_country
    }

    pub fn name_rules(&self) -> NameRules {
        self.0.doc.name_rules
    }

    pub fn require_if_match(&self) -> bool {
        self.0.doc.require_if_match
    }

    pub fn doc(&self) -> &SettingsDoc {
        &self.0.doc
    }

    pub fn account_number(&self) -> &AccountNumberRules {
        &self.0.doc.account_number
    }

    pub fn fields(&self) -> &[Field] {
        &self.0.fields
    }

    pub fn field(&self, key: &str) -> Option<&Field> {
        self.0.fields.iter().find(|f| f.def.key == key)
    }

    pub fn allows_type(&self, contact_type: &str) -> bool {
        self.0.doc.contact_types.iter().any(|t| t == contact_type)
    }

    pub fn max_replace_removal(&self) -> f64 {
        self.0.doc.max_replace_removal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_settings_are_valid() {
        assert!(BillerSettings::parse(SettingsDoc::default()).is_ok());
    }

    #[test]
    fn accepts_many_fields_and_reports_every_problem() {
        let mut doc = SettingsDoc {
            fields: (0..40).map(|i| FieldDef::new(&format!("contact-id-{i}"), FieldKind::Text)).collect(),
            ..SettingsDoc::default()
        };
        assert!(BillerSettings::parse(doc.clone()).is_ok(), "40 fields must be accepted");

        doc.fields.push(FieldDef::new("contact-id-1", FieldKind::Text));
        doc.fields.push(FieldDef::new("Bad Key", FieldKind::Text));
        let mut bad_pattern = FieldDef::new("p", FieldKind::Text);
        bad_pattern.pattern = Some("(".into());
        doc.fields.push(bad_pattern);
        doc.max_replace_removal = 2.0;
        let errors = BillerSettings::parse(doc).unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
    }

    #[test]
    fn roles_need_text_like_fields_and_one_id() {
        let mut doc = SettingsDoc::default();
        let mut a = FieldDef::new("a", FieldKind::Text);
        a.role = FieldRole::Id;
        let mut b = FieldDef::new("b", FieldKind::Text);
        b.role = FieldRole::Id;
        let mut c = FieldDef::new("c", FieldKind::Boolean);
        c.role = FieldRole::Auth;
        doc.fields = vec![a, b, c];
        assert_eq!(BillerSettings::parse(doc).unwrap_err().len(), 2);
    }
}

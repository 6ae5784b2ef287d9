//! The contact model: the raw draft every API produces, the validated data
//! every store keeps, and the stored contact with its identity and version.

use crate::domain::account_number::AccountNumber;
use crate::domain::alias::Aliases;
use crate::domain::ids::{ContactId, JobId};
use std::collections::BTreeMap;
use time::{Date, OffsetDateTime};

/// A custom field value as a client sent it, before validation.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    Null,
    Bool(bool),
    Integer(i64),
    Float(f64),
    Text(String),
    /// Arrays and objects: never valid for a field; named for the error.
    Other(&'static str),
}

/// An unvalidated contact, as parsed from any wire format. `None` means the
/// client did not supply the field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactDraft {
    pub account_number: Option<String>,
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub business_name: Option<String>,
    pub is_consumer: Option<bool>,
    pub email: Option<String>,
    pub email_on_failure: Option<bool>,
    pub email_receipts: Option<bool>,
    pub phones: Vec<PhoneDraft>,
    pub date_of_birth: Option<String>,
    pub address: AddressDraft,
    pub reference_id: Option<String>,
    pub external_id: Option<String>,
    pub crn: Option<String>,
    pub contact_type: Option<String>,
    pub active: Option<bool>,
    pub notes: BTreeMap<String, String>,
    pub tags: Vec<String>,
    pub fields: BTreeMap<String, RawValue>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhoneDraft {
    pub kind: Option<String>,
    pub number: Option<String>,
    pub country: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AddressDraft {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub locality: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postcode: Option<String>,
    pub country: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PhoneKind {
    Primary,
    Mobile,
    Home,
    Work,
}

impl PhoneKind {
    pub const ALL: [PhoneKind; 4] = [Self::Primary, Self::Mobile, Self::Home, Self::Work];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Mobile => "mobile",
            Self::Home => "home",
            Self::Work => "work",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    pub kind: PhoneKind,
    /// As the client sent it (trimmed).
    pub number: String,
    /// The number in E.164 (`+61400000000`), when it could be read: it is in
    /// international form, or its country (or the biller's) is known.
    pub e164: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub locality: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postcode: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
}

impl Address {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A validated custom field value, typed by its field's kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    Text(String),
    Integer(i64),
    Bool(bool),
}

/// Everything a client controls about a contact, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactData {
    pub account_number: AccountNumber,
    pub name: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub business_name: Option<String>,
    pub is_consumer: Option<bool>,
    pub email: Option<String>,
    /// Whether the biller's payment provider emails the contact when a
    /// direct debit fails, and with receipts; `None` follows the biller's
    /// `notification_defaults` (Pay Advantage's two flags).
    pub email_on_failure: Option<bool>,
    pub email_receipts: Option<bool>,
    pub phones: Vec<Phone>,
    pub date_of_birth: Option<Date>,
    pub address: Address,
    pub reference_id: Option<String>,
    pub external_id: Option<String>,
    pub crn: Option<String>,
    pub contact_type: Option<String>,
    pub active: bool,
    pub notes: BTreeMap<String, String>,
    pub tags: Vec<String>,
    pub fields: BTreeMap<String, FieldValue>,
}

/// A stored contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub id: ContactId,
    pub data: ContactData,
    /// Starts at 1 and grows by one on every change: the contact's ETag.
    pub version: i64,
    /// The job that created it, if a job did.
    pub job_id: Option<JobId>,
    /// The ids dialects know it by, as issued (not part of its data: no
    /// write changes them, and they are no field of its history).
    pub aliases: Aliases,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl ContactData {
    /// The draft that validates back to this data: what a partial update
    /// starts from, so the patched contact goes through the one validator.
    pub fn to_draft(&self) -> ContactDraft {
        let a = &self.address;
        ContactDraft {
            account_number: Some(self.account_number.as_str().to_owned()),
            name: Some(self.name.clone()),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            business_name: self.business_name.clone(),
            is_consumer: self.is_consumer,
            email: self.email.clone(),
            email_on_failure: self.email_on_failure,
            email_receipts: self.email_receipts,
            phones: self
                .phones
                .iter()
                .map(|p| PhoneDraft {
                    kind: Some(p.kind.as_str().to_owned()),
                    number: Some(p.number.clone()),
                    country: p.country.clone(),
                })
                .collect(),
            date_of_birth: self.date_of_birth.map(|d| d.to_string()),
            address: AddressDraft {
                line1: a.line1.clone(),
                line2: a.line2.clone(),
                locality: a.locality.clone(),
                city: a.city.clone(),
                state: a.state.clone(),
                postcode: a.postcode.clone(),
                country: a.country.clone(),
            },
            reference_id: self.reference_id.clone(),
            external_id: self.external_id.clone(),
            crn: self.crn.clone(),
            contact_type: self.contact_type.clone(),
            active: Some(self.active),
            notes: self.notes.clone(),
            tags: self.tags.clone(),
            fields: self
                .fields
                .iter()
                .map(|(k, v)| {
                    let raw = match v {
                        FieldValue::Text(t) => RawValue::Text(t.clone()),
                        FieldValue::Integer(i) => RawValue::Integer(*i),
                        FieldValue::Bool(b) => RawValue::Bool(*b),
                    };
                    (k.clone(), raw)
                })
                .collect(),
        }
    }
}

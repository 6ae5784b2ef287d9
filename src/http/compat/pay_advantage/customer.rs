//! Pay Advantage's customer as its clients read it (key order as its
//! reference prints it), and its field names; `read` takes the bodies
//! they send.

use crate::domain::contact::PhoneKind;
use crate::domain::field_settings::NotificationDefaults;
use crate::domain::{Contact, FieldValue, phone};
use crate::wire::dto::rfc3339;
use serde::Serialize;
use serde_json::Value;

/// Pay Advantage's numbers are Australian unless a Country ID says otherwise.
pub const PHONE_COUNTRY: &str = "AU";

/// The three phones, each with its Country ID: (number key, country key, kind).
pub(super) const PHONES: [(&str, &str, PhoneKind); 3] = [
    ("Phone", "PhoneCountryID", PhoneKind::Primary),
    ("HomePhone", "HomePhoneCountryID", PhoneKind::Home),
    ("Mobile", "MobileCountryID", PhoneKind::Mobile),
];

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomField {
    name: String,
    value: Value,
}

#[derive(Serialize)]
pub struct Customer {
    #[serde(rename = "Code")]
    code: Option<String>,
    #[serde(rename = "ExternalID")]
    external_id: Option<String>,
    #[serde(rename = "IsConsumer")]
    is_consumer: bool,
    #[serde(rename = "DateJoined")]
    date_joined: String,
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "FirstName")]
    first_name: Option<String>,
    #[serde(rename = "LastName")]
    last_name: Option<String>,
    #[serde(rename = "CustomRef")]
    custom_ref: Option<String>,
    #[serde(rename = "Email")]
    email: Option<String>,
    #[serde(rename = "DateOfBirth")]
    date_of_birth: Option<String>,
    #[serde(rename = "Phone")]
    phone: Option<String>,
    #[serde(rename = "PhoneCountryID")]
    phone_country_id: Option<u32>,
    #[serde(rename = "HomePhone")]
    home_phone: Option<String>,
    #[serde(rename = "HomePhoneCountryID")]
    home_phone_country_id: Option<u32>,
    #[serde(rename = "Mobile")]
    mobile: Option<String>,
    #[serde(rename = "MobileCountryID")]
    mobile_country_id: Option<u32>,
    #[serde(rename = "Street")]
    street: Option<String>,
    #[serde(rename = "Street2")]
    street2: Option<String>,
    #[serde(rename = "Locality")]
    locality: Option<String>,
    #[serde(rename = "Suburb")]
    suburb: Option<String>,
    #[serde(rename = "State")]
    state: Option<String>,
    #[serde(rename = "CountryID")]
    country_id: Option<u32>,
    #[serde(rename = "Postcode")]
    postcode: Option<String>,
    #[serde(rename = "FailureEmails")]
    failure_emails: bool,
    #[serde(rename = "ReceiptEmails")]
    receipt_emails: bool,
    #[serde(rename = "BillerCode")]
    biller_code: Option<String>,
    #[serde(rename = "BPAYRef")]
    bpay_ref: Option<String>,
    #[serde(rename = "DateUpdated")]
    date_updated: String,
    #[serde(rename = "DateCreated")]
    date_created: String,
    #[serde(rename = "IsActive")]
    is_active: bool,
    #[serde(rename = "CustomFields")]
    custom_fields: Vec<CustomField>,
}

/// Pay Advantage's timestamps: `2013-09-13T14:10:31.247`, here in UTC.
fn stamp(t: time::OffsetDateTime) -> String {
    let text = rfc3339(t);
    let text = text.trim_end_matches('Z');
    match text.split_once('.') {
        Some((secs, frac)) => format!("{secs}.{:0<3}", &frac[..frac.len().min(3)]),
        None => format!("{text}.000"),
    }
}

impl Customer {
    /// The customer a contact is; its unset email flags are the biller's defaults.
    pub fn of(c: Contact, defaults: NotificationDefaults) -> Self {
        let d = c.data;
        let phone = |kind: PhoneKind| d.phones.iter().find(|p| p.kind == kind);
        let number = |kind| phone(kind).map(|p| p.number.clone());
        let country = |kind| phone(kind).and_then(|p| p.country.as_deref()).and_then(phone::numeric_id);
        let is_consumer = d.is_consumer != Some(false);
        let a = d.address.clone();
        Self {
            code: c.aliases.pay_advantage,
            external_id: d.external_id.clone(),
            is_consumer,
            date_joined: stamp(c.created_at),
            name: if is_consumer { d.name.clone() } else { d.business_name.clone().unwrap_or_else(|| d.name.clone()) },
            first_name: d.first_name.clone(),
            last_name: d.last_name.clone(),
            custom_ref: d.reference_id.clone(),
            email: d.email.clone(),
            date_of_birth: d.date_of_birth.map(|b| b.to_string()),
            phone: number(PhoneKind::Primary),
            phone_country_id: country(PhoneKind::Primary),
            home_phone: number(PhoneKind::Home),
            home_phone_country_id: country(PhoneKind::Home),
            mobile: number(PhoneKind::Mobile),
            mobile_country_id: country(PhoneKind::Mobile),
            street: a.line1,
            street2: a.line2,
            locality: a.locality,
            suburb: a.city,
            state: a.state,
            country_id: a.country.as_deref().and_then(phone::numeric_id),
            postcode: a.postcode,
            failure_emails: d.email_on_failure.unwrap_or(defaults.email_on_failure),
            receipt_emails: d.email_receipts.unwrap_or(defaults.email_receipts),
            biller_code: None,
            bpay_ref: d.crn.clone(),
            date_updated: stamp(c.updated_at),
            date_created: stamp(c.created_at),
            is_active: d.active,
            custom_fields: d
                .fields
                .iter()
                .map(|(k, v)| CustomField {
                    name: k.clone(),
                    value: match v {
                        FieldValue::Text(t) => Value::String(t.clone()),
                        FieldValue::Integer(i) => Value::from(*i),
                        FieldValue::Bool(b) => Value::Bool(*b),
                    },
                })
                .collect(),
        }
    }
}

/// A native field path as Pay Advantage names it.
pub fn field_name(path: &str) -> String {
    let (head, rest) = path.split_once('.').unwrap_or((path, ""));
    let head = head.split('[').next().unwrap_or(head);
    let name = match (head, rest) {
        ("name" | "business_name", _) => "Name",
        ("first_name", _) => "FirstName",
        ("last_name", _) => "LastName",
        ("is_consumer", _) => "IsConsumer",
        ("email", _) => "Email",
        ("date_of_birth", _) => "DateOfBirth",
        ("reference_id", _) => "CustomRef",
        ("external_id", _) => "ExternalID",
        ("crn", _) => "BPAYRef",
        ("active", _) => "IsActive",
        ("email_on_failure", _) => "FailureEmails",
        ("email_receipts", _) => "ReceiptEmails",
        ("phones", _) => "Phone",
        ("address", "line1") => "Street",
        ("address", "line2") => "Street2",
        ("address", "locality") => "Locality",
        ("address", "city") => "Suburb",
        ("address", "state") => "State",
        ("address", "country") => "CountryID",
        ("address", "postcode") => "Postcode",
        ("fields", key) => return format!("CustomFields.{key}"),
        (other, _) => other,
    };
    name.to_owned()
}

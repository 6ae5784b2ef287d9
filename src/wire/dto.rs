//! The native API's wire types (snake_case JSON) and their conversions to and
//! from the domain. Nothing here is seen below the HTTP layer.

use crate::domain::contact::{AddressDraft, PhoneDraft};
use crate::domain::{Contact, ContactDraft, FieldValue};
use crate::service::WriteOutcome;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneInput {
    /// `primary` (default), `mobile`, `home` or `work`.
    pub kind: Option<String>,
    /// As a person types it: local (read in `country`, or the biller's
    /// `phone_country`) or international (`+61…`).
    pub number: Option<String>,
    /// ISO 3166-1 alpha-2 (`AU`), or its numeric id (`036`).
    pub country: Option<String>,
    /// Worked out by contactd; sent back (as a read returns it), it is ignored.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub e164: serde::de::IgnoredAny,
}

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressBody {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub locality: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postcode: Option<String>,
    /// ISO 3166-1 alpha-2, e.g. `AU`.
    pub country: Option<String>,
}

/// A contact as clients send it. `account_number` and `name` are required;
/// the biller's configured Contact Fields go under `fields`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    /// Unique per biller; always a string, leading zeroes kept.
    pub account_number: Option<String>,
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub business_name: Option<String>,
    pub is_consumer: Option<bool>,
    pub email: Option<String>,
    /// Whether the contact is emailed when a direct debit fails (unset: the
    /// biller's `notification_defaults`).
    pub email_on_failure: Option<bool>,
    /// Whether the contact is emailed receipts (unset: the biller's default).
    pub email_receipts: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Vec<PhoneInput>)]
    pub phones: Vec<Obj<PhoneInput>>,
    /// `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    #[schema(value_type = Option<AddressBody>)]
    pub address: Option<Obj<AddressBody>>,
    pub reference_id: Option<String>,
    pub external_id: Option<String>,
    /// BPAY customer reference number (digits).
    pub crn: Option<String>,
    /// One of the biller's contact types (default `vendor`, `customer`, `employee`, `self`).
    #[serde(rename = "type")]
    pub contact_type: Option<String>,
    pub active: Option<bool>,
    /// At most 15 keys, values at most 256 characters.
    #[serde(default, deserialize_with = "unique_map")]
    pub notes: BTreeMap<String, String>,
    /// Ids from the biller's tag catalogue (`GET …/tags`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// The biller's configured Contact Fields, by key.
    #[serde(default, deserialize_with = "unique_map")]
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, Value>,
}

/// A struct that must come as a JSON object: serde's derive would also take
/// a positional array, which no client means.
#[derive(Debug)]
pub struct Obj<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjectOnly<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for ObjectOnly<T> {
            type Value = T;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(ObjectOnly(std::marker::PhantomData)).map(Obj)
    }
}

/// A JSON object as a map, refusing a key given twice (serde would keep the last).
fn unique_map<'de, D, V>(d: D) -> Result<BTreeMap<String, V>, D::Error>
where
    D: serde::Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Unique<V>(std::marker::PhantomData<V>);
    impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Unique<V> {
        type Value = BTreeMap<String, V>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((k, v)) = map.next_entry::<String, V>()? {
                if out.contains_key(&k) {
                    return Err(serde::de::Error::custom(format!("duplicate key `{k}`")));
                }
                out.insert(k, v);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Unique(std::marker::PhantomData))
}

impl From<ContactInput> for ContactDraft {
    fn from(c: ContactInput) -> Self {
        let a = c.address.map(|a| a.0).unwrap_or_default();
        ContactDraft {
            account_number: c.account_number,
            name: c.name,
            first_name: c.first_name,
            last_name: c.last_name,
            business_name: c.business_name,
            is_consumer: c.is_consumer,
            email: c.email,
            email_on_failure: c.email_on_failure,
            email_receipts: c.email_receipts,
            phones: c
                .phones
                .into_iter()
                .map(|Obj(p)| PhoneDraft { kind: p.kind, number: p.number, country: p.country })
                .collect(),
            date_of_birth: c.date_of_birth,
            address: AddressDraft {
                line1: a.line1,
                line2: a.line2,
                locality: a.locality,
                city: a.city,
                state: a.state,
                postcode: a.postcode,
                country: a.country,
            },
            reference_id: c.reference_id,
            external_id: c.external_id,
            crn: c.crn,
            contact_type: c.contact_type,
            active: c.active,
            notes: c.notes,
            tags: c.tags,
            fields: c.fields.into_iter().map(|(k, v)| (k, crate::wire::record::raw(v))).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PhoneBody {
    pub kind: &'static str,
    /// As sent.
    pub number: String,
    /// E.164, when it could be worked out (the number was international, or
    /// its country, or the biller's, was known).
    pub e164: Option<String>,
    pub country: Option<String>,
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AliasesBody {
    /// Pay Advantage's customer `Code`: 6 of 0-9 A-Z.
    pub pay_advantage: Option<String>,
    /// Instantpay's `_id`: 24 lowercase hex characters.
    pub instantpay: Option<String>,
}

/// A stored contact.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactBody {
    /// `cont_` and 14 base62 characters.
    pub id: String,
    pub account_number: String,
    pub name: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub business_name: Option<String>,
    pub is_consumer: Option<bool>,
    pub email: Option<String>,
    /// Unset: the biller's `notification_defaults` apply.
    pub email_on_failure: Option<bool>,
    pub email_receipts: Option<bool>,
    pub phones: Vec<PhoneBody>,
    pub date_of_birth: Option<String>,
    pub address: Option<AddressBody>,
    pub reference_id: Option<String>,
    pub external_id: Option<String>,
    /// BPAY Customer Reference Number: fixed once issued.
    pub crn: Option<String>,
    #[serde(rename = "type")]
    pub contact_type: Option<String>,
    pub active: bool,
    pub notes: BTreeMap<String, String>,
    /// Tag catalogue ids.
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, Value>,
    /// The job that created it, if a job did.
    pub job_id: Option<String>,
    /// The ids the dialects' clients know it by, once issued (on its first
    /// use through that dialect): never changed, never reused.
    pub aliases: AliasesBody,
    /// Rises by one on each change; the contact's `ETag`.
    pub version: i64,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
}

impl From<Contact> for ContactBody {
    fn from(c: Contact) -> Self {
        let d = c.data;
        let a = d.address;
        let address = (!a.is_empty()).then_some(AddressBody {
            line1: a.line1,
            line2: a.line2,
            locality: a.locality,
            city: a.city,
            state: a.state,
            postcode: a.postcode,
            country: a.country,
        });
        ContactBody {
            id: c.id.to_string(),
            account_number: d.account_number.into_string(),
            name: d.name,
            first_name: d.first_name,
            last_name: d.last_name,
            business_name: d.business_name,
            is_consumer: d.is_consumer,
            email: d.email,
            email_on_failure: d.email_on_failure,
            email_receipts: d.email_receipts,
            phones: d
                .phones
                .into_iter()
                .map(|p| PhoneBody { kind: p.kind.as_str(), number: p.number, e164: p.e164, country: p.country })
                .collect(),
            date_of_birth: d.date_of_birth.map(|d| d.to_string()),
            address,
            reference_id: d.reference_id,
            external_id: d.external_id,
            crn: d.crn,
            contact_type: d.contact_type,
            active: d.active,
            notes: d.notes,
            tags: d.tags,
            fields: d
                .fields
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        FieldValue::Text(s) => Value::String(s),
                        FieldValue::Integer(i) => Value::from(i),
                        FieldValue::Bool(b) => Value::Bool(b),
                    };
                    (k, v)
                })
                .collect(),
            job_id: c.job_id.map(|j| j.to_string()),
            aliases: AliasesBody { pay_advantage: c.aliases.pay_advantage, instantpay: c.aliases.instantpay },
            version: c.version,
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactList {
    pub data: Vec<ContactBody>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// First account numbers (up to 100) of each outcome, in a dry run.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutcomeSample {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    pub removed: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WriteResult {
    pub biller_code: String,
    pub processed: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Replace only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_numbers: Option<OutcomeSample>,
    /// Dry run of a replace: whether the removal guard would let it through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removal_guard: Option<GuardReport>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GuardReport {
    pub passes: bool,
    /// Why it would be refused, and the `confirm_removals` that would let it through.
    pub detail: Option<String>,
    pub confirm_removals: Option<u64>,
}

impl WriteResult {
    pub fn new(biller_code: &str, o: WriteOutcome, replace: bool, dry_run: bool) -> Self {
        let c = o.counts;
        Self {
            biller_code: biller_code.to_owned(),
            processed: c.created + c.updated + c.unchanged,
            created: c.created,
            updated: c.updated,
            unchanged: c.unchanged,
            removed: replace.then_some(c.removed),
            dry_run,
            removal_guard: (dry_run && replace).then(|| GuardReport {
                passes: o.refused.is_none(),
                detail: o.refused.as_ref().map(|r| r.to_string()),
                confirm_removals: o.refused.as_ref().map(|r| r.would_remove()),
            }),
            account_numbers: dry_run.then_some(OutcomeSample {
                created: o.created,
                updated: o.updated,
                unchanged: o.unchanged,
                removed: o.removed,
            }),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub key_id: String,
    pub key_secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub token: String,
    /// Always `Token`: send `Authorization: Token <token>`.
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: u64,
    pub expires_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImpactProblem {
    pub field: String,
    pub code: String,
    /// Contacts with this problem.
    pub contacts: u64,
}

/// What the settings do to the biller's stored contacts.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImpactBody {
    /// Contacts checked: all of the biller's.
    pub contacts: u64,
    /// Of those, the ones the settings find invalid.
    pub invalid: u64,
    pub problems: Vec<ImpactProblem>,
}

impl From<crate::service::SettingsImpact> for ImpactBody {
    fn from(i: crate::service::SettingsImpact) -> Self {
        Self {
            contacts: i.contacts,
            invalid: i.invalid,
            problems: i
                .problems
                .into_iter()
                .map(|(field, code, contacts)| ImpactProblem { field, code, contacts })
                .collect(),
        }
    }
}

//! The stored form of a contact, shared by both backends: indexed columns for
//! what queries filter on, and one canonical JSON document for the rest. The
//! document's hash is the fingerprint that tells "unchanged" from "updated".
//! The CRN is a column of its own, outside the document: a write that names
//! none keeps the one issued.

use crate::domain::{
    AccountNumber, Address, BillerSettings, Contact, ContactData, ContactRef, FieldValue, Phone, PhoneKind,
};
use crate::store::{ContactPage, Scope};
use crate::store::{StoreError, StoreResult};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use time::Date;
use time::macros::format_description;

/// A contact's data ready for a row.
pub struct Encoded {
    pub doc: String,
    pub fingerprint: i64,
    pub keys: SearchKeys,
}

/// What list filters look a contact up by, beside its document: worked out
/// here, once, so no query parses documents. Email case-folded; phones and
/// tags as `|`-separated tokens (`|0400 000 000|+61400000000|`), each number
/// as sent and in E.164.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchKeys {
    pub email: Option<String>,
    pub reference_id: Option<String>,
    pub external_id: Option<String>,
    pub phones: Option<String>,
    pub tags: Option<String>,
}

/// `|a|b|`, or none for no tokens.
fn tokens<'a>(items: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut out = String::new();
    for item in items {
        if out.is_empty() {
            out.push('|');
        }
        out.push_str(item);
        out.push('|');
    }
    (!out.is_empty()).then_some(out)
}

impl SearchKeys {
    pub fn of(c: &ContactData) -> Self {
        let phones = c.phones.iter().flat_map(|p| std::iter::once(p.number.as_str()).chain(p.e164.as_deref()));
        Self {
            email: c.email.as_deref().map(fold),
            reference_id: c.reference_id.clone(),
            external_id: c.external_id.clone(),
            phones: tokens(phones),
            tags: tokens(c.tags.iter().map(String::as_str)),
        }
    }
}

const DATE: &[time::format_description::BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// The stored document, borrowed from the contact. Its fields are declared
/// in key order and absent values are left out, so the text is canonical
/// (what a BTreeMap-keyed JSON object of the same values would print) and
/// equal data always hashes to the same fingerprint.
#[derive(Serialize)]
struct Doc<'a> {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<AddressDoc<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    business_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    date_of_birth: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_on_failure: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_receipts: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", serialize_with = "field_values")]
    fields: &'a BTreeMap<String, FieldValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_consumer: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_name: Option<&'a str>,
    name: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    notes: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    phones: Vec<PhoneDoc<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference_id: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    tags: &'a [String],
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    contact_type: Option<&'a str>,
}

#[derive(Serialize)]
struct AddressDoc<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line1: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line2: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    locality: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postcode: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'a str>,
}

/// A phone's country is written even when absent (as null); its E.164
/// form only when known.
#[derive(Serialize)]
struct PhoneDoc<'a> {
    country: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    e164: Option<&'a str>,
    kind: &'a str,
    number: &'a str,
}

fn field_values<S: serde::Serializer>(fields: &&BTreeMap<String, FieldValue>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    #[serde(untagged)]
    enum Value<'a> {
        Text(&'a str),
        Integer(i64),
        Bool(bool),
    }
    s.collect_map(fields.iter().map(|(k, v)| {
        let v = match v {
            FieldValue::Text(t) => Value::Text(t),
            FieldValue::Integer(i) => Value::Integer(*i),
            FieldValue::Bool(b) => Value::Bool(*b),
        };
        (k, v)
    }))
}

pub fn encode(c: &ContactData) -> StoreResult<Encoded> {
    let a = &c.address;
    let doc = Doc {
        active: c.active,
        address: (!a.is_empty()).then_some(AddressDoc {
            city: a.city.as_deref(),
            country: a.country.as_deref(),
            line1: a.line1.as_deref(),
            line2: a.line2.as_deref(),
            locality: a.locality.as_deref(),
            postcode: a.postcode.as_deref(),
            state: a.state.as_deref(),
        }),
        business_name: c.business_name.as_deref(),
        date_of_birth: c
            .date_of_birth
            .map(|d| d.format(DATE))
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        email: c.email.as_deref(),
        email_on_failure: c.email_on_failure,
        email_receipts: c.email_receipts,
        external_id: c.external_id.as_deref(),
        fields: &c.fields,
        first_name: c.first_name.as_deref(),
        is_consumer: c.is_consumer,
        last_name: c.last_name.as_deref(),
        name: &c.name,
        notes: &c.notes,
        phones: c
            .phones
            .iter()
            .map(|p| PhoneDoc {
                country: p.country.as_deref(),
                e164: p.e164.as_deref(),
                kind: p.kind.as_str(),
                number: &p.number,
            })
            .collect(),
        reference_id: c.reference_id.as_deref(),
        tags: &c.tags,
        contact_type: c.contact_type.as_deref(),
    };
    let doc = serde_json::to_string(&doc).map_err(|e| StoreError::Backend(e.to_string()))?;
    let digest = Sha256::digest(doc.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    Ok(Encoded { doc, fingerprint: i64::from_le_bytes(first), keys: SearchKeys::of(c) })
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("contact document: bad {what}"))
}

fn text(m: &Map<String, Value>, key: &str) -> Option<String> {
    m.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// A stored contact's data from its columns. `crn` is the column; a
/// document stored before CRNs had one may still carry it.
pub fn decode(account_number: String, doc: &str, crn: Option<String>) -> StoreResult<ContactData> {
    let v: Value = serde_json::from_str(doc).map_err(|_| corrupt("json"))?;
    let m = v.as_object().ok_or_else(|| corrupt("root"))?;
    let phones = match m.get("phones").and_then(Value::as_array) {
        None => Vec::new(),
        Some(list) => list
            .iter()
            .map(|p| {
                let p = p.as_object().ok_or_else(|| corrupt("phone"))?;
                Ok(Phone {
                    kind: text(p, "kind").and_then(|k| PhoneKind::parse(&k)).ok_or_else(|| corrupt("phone kind"))?,
                    number: text(p, "number").ok_or_else(|| corrupt("phone number"))?,
                    e164: text(p, "e164"),
                    country: text(p, "country"),
                })
            })
            .collect::<StoreResult<_>>()?,
    };
    let address = match m.get("address").and_then(Value::as_object) {
        None => Address::default(),
        Some(a) => Address {
            line1: text(a, "line1"),
            line2: text(a, "line2"),
            locality: text(a, "locality"),
            city: text(a, "city"),
            state: text(a, "state"),
            postcode: text(a, "postcode"),
            country: text(a, "country"),
        },
    };
    let date_of_birth = match text(m, "date_of_birth") {
        None => None,
        Some(d) => Some(Date::parse(&d, DATE).map_err(|_| corrupt("date_of_birth"))?),
    };
    let strings = |key: &str| -> BTreeMap<String, String> {
        m.get(key)
            .and_then(Value::as_object)
            .map(|o| o.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
            .unwrap_or_default()
    };
    let fields = m
        .get("fields")
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => FieldValue::Text(s.clone()),
                        Value::Bool(b) => FieldValue::Bool(*b),
                        Value::Number(n) => FieldValue::Integer(n.as_i64()?),
                        _ => return None,
                    };
                    Some((k.clone(), v))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ContactData {
        account_number: AccountNumber::from_trusted(account_number),
        name: text(m, "name").ok_or_else(|| corrupt("name"))?,
        first_name: text(m, "first_name"),
        last_name: text(m, "last_name"),
        business_name: text(m, "business_name"),
        is_consumer: m.get("is_consumer").and_then(Value::as_bool),
        email: text(m, "email"),
        email_on_failure: m.get("email_on_failure").and_then(Value::as_bool),
        email_receipts: m.get("email_receipts").and_then(Value::as_bool),
        phones,
        date_of_birth,
        address,
        reference_id: text(m, "reference_id"),
        external_id: text(m, "external_id"),
        crn: crn.or_else(|| text(m, "crn")),
        contact_type: text(m, "type"),
        active: m.get("active").and_then(Value::as_bool).unwrap_or(true),
        notes: strings("notes"),
        tags: m
            .get("tags")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
        fields,
    })
}

/// The columns every contact read selects, in this order, from `contacts`
/// (not renamed): the row, then its aliases, each an index lookup in the
/// same statement.
pub const CONTACT_COLUMNS: &str = "id, account_number, doc, version, created_at, updated_at, crn, job_id, \
     (SELECT alias FROM contact_aliases a WHERE a.biller_id = contacts.biller_id AND a.dialect = 'pay_advantage' \
      AND a.contact_id = contacts.id), \
     (SELECT alias FROM contact_aliases a WHERE a.biller_id = contacts.biller_id AND a.dialect = 'instantpay' \
      AND a.contact_id = contacts.id)";

/// The condition on `contacts` a reference makes, with placeholders `biller`
/// and `key` for the biller id and the returned key.
pub fn ref_condition<'a>(by: &'a ContactRef, biller: &str, key: &str) -> (String, &'a str) {
    match by {
        ContactRef::Id(id) => (format!("contacts.id = {key}"), id.as_str()),
        ContactRef::AccountNumber(a) => (format!("contacts.account_number = {key}"), a.as_str()),
        ContactRef::Alias(kind, alias) => (
            format!(
                "contacts.id = (SELECT contact_id FROM contact_aliases WHERE biller_id = {biller} \
                 AND dialect = '{}' AND alias = {key})",
                kind.as_str()
            ),
            alias.as_str(),
        ),
    }
}

pub fn settings_json(settings: &BillerSettings) -> StoreResult<String> {
    serde_json::to_string(settings.doc()).map_err(|e| StoreError::Backend(e.to_string()))
}

pub fn settings_from_json(code: &str, text: &str) -> StoreResult<BillerSettings> {
    let doc = serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("settings of {code}: {e}")))?;
    BillerSettings::parse(doc).map_err(|e| StoreError::Corrupt(format!("settings of {code}: {e:?}")))
}

pub fn scopes_text(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
}

pub fn nets_text(nets: &[ipnet::IpNet]) -> Option<String> {
    (!nets.is_empty()).then(|| nets.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "))
}

pub fn parse_nets(text: Option<&str>) -> StoreResult<Vec<ipnet::IpNet>> {
    text.unwrap_or_default()
        .split_whitespace()
        .map(|n| n.parse().map_err(|_| StoreError::Corrupt(format!("allowed IP {n}"))))
        .collect()
}

pub fn parse_scopes(text: &str) -> Vec<Scope> {
    text.split_whitespace().filter_map(Scope::parse).collect()
}

/// Turns `limit + 1` fetched rows into a page and its continuation.
pub fn page_of(mut contacts: Vec<Contact>, limit: usize) -> ContactPage {
    let next_after = if contacts.len() > limit {
        contacts.truncate(limit);
        contacts.last().map(|c| c.data.account_number.as_str().to_owned())
    } else {
        None
    };
    ContactPage { contacts, next_after }
}

/// Unicode case folding for search, done here so both stores match alike
/// ("Straße" is found by "STRASSE").
pub fn fold(text: &str) -> String {
    // ASCII folds to its lowercase: most names are ASCII, and the Unicode
    // fold was 2% of a million-record job's CPU.
    if text.is_ascii() { text.to_ascii_lowercase() } else { caseless::default_case_fold_str(text) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ascii_folds_as_unicode_does() {
        let all: String = (0u8..128).map(char::from).collect();
        assert_eq!(super::fold(&all), caseless::default_case_fold_str(&all));
        assert_eq!(super::fold("Ann LEE-Smith 42"), "ann lee-smith 42");
        assert_eq!(super::fold("STRASSE"), super::fold("Straße"));
    }

    fn minimal(name: &str) -> ContactData {
        ContactData {
            account_number: AccountNumber::from_trusted("0001".into()),
            name: name.into(),
            first_name: None,
            last_name: None,
            business_name: None,
            is_consumer: None,
            email: None,
            email_on_failure: None,
            email_receipts: None,
            phones: Vec::new(),
            date_of_birth: None,
            address: Address::default(),
            reference_id: None,
            external_id: None,
            crn: None,
            contact_type: None,
            active: true,
            notes: BTreeMap::new(),
            tags: Vec::new(),
            fields: BTreeMap::new(),
        }
    }

    fn full() -> ContactData {
        let mut c = minimal("Ada \"Quote\" Lovelace\u{e9}");
        c.first_name = Some("Ada".into());
        c.last_name = Some("Lovelace".into());
        c.business_name = Some("Engines & Co".into());
        c.is_consumer = Some(false);
        c.email = Some("ada@example.com".into());
        c.phones = vec![
            Phone {
                kind: PhoneKind::Mobile,
                number: "+61 400 000 000".into(),
                e164: Some("+61400000000".into()),
                country: Some("AU".into()),
            },
            Phone { kind: PhoneKind::Home, number: "0390000000".into(), e164: None, country: None },
        ];
        c.date_of_birth = Some(time::macros::date!(1815 - 12 - 10));
        c.address = Address { line1: Some("1 Main St".into()), postcode: Some("3000".into()), ..Address::default() };
        c.reference_id = Some("REF-1".into());
        c.external_id = Some("X\\1".into());
        c.crn = Some("123".into());
        c.contact_type = Some("customer".into());
        c.active = false;
        c.notes = [("b".to_owned(), "two".to_owned()), ("a".to_owned(), "one\nline".to_owned())].into();
        c.tags = vec!["z".into(), "a".into()];
        c.fields = [
            ("postal-code".to_owned(), FieldValue::Integer(3000)),
            ("contact-id-1".to_owned(), FieldValue::Text("0001".into())),
            ("paperless".to_owned(), FieldValue::Bool(true)),
        ]
        .into();
        c
    }

    /// The documents (and so the fingerprints) of contacts already stored
    /// stay what they were: these texts and hashes are pinned (the minimal
    /// one since the first encoder; the full one since CRNs left the
    /// document and phones gained their E.164, migration 9 / 13).
    #[test]
    fn documents_are_canonical_and_stable() {
        let pinned = [
            (minimal("A"), r#"{"active":true,"name":"A"}"#, -2252214534646587854),
            (full(), PINNED_FULL, 7668826232260228562),
        ];
        for (c, text, fingerprint) in pinned {
            let e = encode(&c).unwrap();
            assert_eq!(e.doc, text);
            assert_eq!(e.fingerprint, fingerprint);
            assert_eq!(decode("0001".into(), &e.doc, c.crn.clone()).unwrap(), c);
        }
        // The email flags, when set, sort into their place.
        let flagged = ContactData { email_on_failure: Some(false), email_receipts: Some(true), ..full() };
        let e = encode(&flagged).unwrap();
        assert!(
            e.doc.contains(r#""email":"ada@example.com","email_on_failure":false,"email_receipts":true,"external_id""#)
        );
        assert_eq!(decode("0001".into(), &e.doc, flagged.crn.clone()).unwrap(), flagged);
    }

    const PINNED_FULL: &str = r#"{"active":false,"address":{"line1":"1 Main St","postcode":"3000"},"business_name":"Engines & Co","date_of_birth":"1815-12-10","email":"ada@example.com","external_id":"X\\1","fields":{"contact-id-1":"0001","paperless":true,"postal-code":3000},"first_name":"Ada","is_consumer":false,"last_name":"Lovelace","name":"Ada \"Quote\" Lovelaceé","notes":{"a":"one\nline","b":"two"},"phones":[{"country":"AU","e164":"+61400000000","kind":"mobile","number":"+61 400 000 000"},{"country":null,"kind":"home","number":"0390000000"}],"reference_id":"REF-1","tags":["z","a"],"type":"customer"}"#;

    proptest! {
        /// Whatever the values, the text is what a sorted JSON object of
        /// them prints, and it reads back as the same contact.
        #[test]
        fn any_contact_encodes_canonically_and_reads_back(
            name in "\\PC{1,20}",
            email in proptest::option::of("[a-z]{1,8}@[a-z]{1,8}\\.com"),
            tags in proptest::collection::vec("\\PC{1,8}", 0..3),
            notes in proptest::collection::btree_map("[a-z]{1,5}", "\\PC{0,8}", 0..3),
            int in proptest::option::of(any::<i64>()),
            flag in proptest::option::of(any::<bool>()),
            text in proptest::option::of("\\PC{1,10}"),
            country in proptest::option::of("[A-Z]{2}"),
        ) {
            let mut c = minimal(&name);
            c.email = email;
            c.tags = tags;
            c.notes = notes;
            c.is_consumer = flag;
            c.address.country = country.clone();
            if let Some(i) = int { c.fields.insert("n".into(), FieldValue::Integer(i)); }
            if let Some(b) = flag { c.fields.insert("b".into(), FieldValue::Bool(b)); }
            if let Some(t) = text { c.fields.insert("t".into(), FieldValue::Text(t)); }
            if let Some(country) = country {
                c.phones.push(Phone { kind: PhoneKind::Work, number: "123456".into(), e164: None, country: Some(country) });
                c.phones.push(Phone { kind: PhoneKind::Primary, number: "+654321".into(), e164: Some("+654321".into()), country: None });
            }
            let e = encode(&c).unwrap();
            let sorted: Value = serde_json::from_str(&e.doc).unwrap();
            prop_assert_eq!(&e.doc, &sorted.to_string());
            prop_assert_eq!(decode("0001".into(), &e.doc, c.crn.clone()).unwrap(), c);
        }
    }
}

//! A partial update (JSON Merge Patch, RFC 7396, over the native contact):
//! what a client sent to change, applied to a stored contact's draft, which
//! then goes through the one validator. Only the fields present change;
//! `notes`, `fields` and `address` merge key by key; `phones` and `tags`
//! are replaced whole.

use crate::domain::contact::{AddressDraft, ContactDraft, PhoneDraft, PhoneKind, RawValue};
use std::collections::BTreeMap;

/// One field of a patch.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Change<T> {
    /// Not in the patch: left as it is.
    #[default]
    Keep,
    /// `null`: cleared.
    Clear,
    Set(T),
}

impl<T> Change<T> {
    fn apply(self, to: &mut Option<T>) {
        match self {
            Change::Keep => {}
            Change::Clear => *to = None,
            Change::Set(v) => *to = Some(v),
        }
    }

    pub fn is_keep(&self) -> bool {
        matches!(self, Change::Keep)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AddressPatch {
    pub line1: Change<String>,
    pub line2: Change<String>,
    pub locality: Change<String>,
    pub city: Change<String>,
    pub state: Change<String>,
    pub postcode: Change<String>,
    pub country: Change<String>,
}

/// What a partial update changes. Maps hold only the keys sent: `None` for
/// a key sent as `null` (removed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactPatch {
    pub account_number: Change<String>,
    pub name: Change<String>,
    pub first_name: Change<String>,
    pub last_name: Change<String>,
    pub business_name: Change<String>,
    pub is_consumer: Change<bool>,
    pub email: Change<String>,
    pub email_on_failure: Change<bool>,
    pub email_receipts: Change<bool>,
    /// Replaced whole (`Clear`: no phones).
    pub phones: Change<Vec<PhoneDraft>>,
    /// One phone of a kind set or cleared, the others kept (a dialect's
    /// one-number fields, such as Razorpay's `contact`). Applied after `phones`.
    pub phone_kinds: BTreeMap<PhoneKind, Change<PhoneDraft>>,
    pub date_of_birth: Change<String>,
    /// `Clear` removes the whole address; `Set` merges key by key.
    pub address: Change<AddressPatch>,
    pub reference_id: Change<String>,
    pub external_id: Change<String>,
    pub crn: Change<String>,
    pub contact_type: Change<String>,
    pub active: Change<bool>,
    /// `Clear` removes every note.
    pub notes: Change<BTreeMap<String, Option<String>>>,
    /// Replaced whole (`Clear`: no tags).
    pub tags: Change<Vec<String>>,
    /// `Clear` removes every field.
    pub fields: Change<BTreeMap<String, Option<RawValue>>>,
}

fn merge<V>(into: &mut BTreeMap<String, V>, change: Change<BTreeMap<String, Option<V>>>) {
    match change {
        Change::Keep => {}
        Change::Clear => into.clear(),
        Change::Set(keys) => {
            for (k, v) in keys {
                match v {
                    Some(v) => {
                        into.insert(k, v);
                    }
                    None => {
                        into.remove(&k);
                    }
                }
            }
        }
    }
}

impl ContactPatch {
    /// The draft after this patch: what the validator then checks whole.
    pub fn apply(self, mut d: ContactDraft) -> ContactDraft {
        self.account_number.apply(&mut d.account_number);
        self.name.apply(&mut d.name);
        self.first_name.apply(&mut d.first_name);
        self.last_name.apply(&mut d.last_name);
        self.business_name.apply(&mut d.business_name);
        self.is_consumer.apply(&mut d.is_consumer);
        self.email.apply(&mut d.email);
        self.email_on_failure.apply(&mut d.email_on_failure);
        self.email_receipts.apply(&mut d.email_receipts);
        match self.phones {
            Change::Keep => {}
            Change::Clear => d.phones.clear(),
            Change::Set(p) => d.phones = p,
        }
        for (kind, change) in self.phone_kinds {
            let at = d.phones.iter().position(|p| p.kind.as_deref() == Some(kind.as_str()));
            match (change, at) {
                (Change::Keep, _) | (Change::Clear, None) => {}
                (Change::Clear, Some(i)) => {
                    d.phones.remove(i);
                }
                (Change::Set(phone), at) => {
                    let phone = PhoneDraft { kind: Some(kind.as_str().to_owned()), ..phone };
                    match at {
                        Some(i) => d.phones[i] = phone,
                        None => d.phones.push(phone),
                    }
                }
            }
        }
        self.date_of_birth.apply(&mut d.date_of_birth);
        match self.address {
            Change::Keep => {}
            Change::Clear => d.address = AddressDraft::default(),
            Change::Set(a) => {
                let to = &mut d.address;
                a.line1.apply(&mut to.line1);
                a.line2.apply(&mut to.line2);
                a.locality.apply(&mut to.locality);
                a.city.apply(&mut to.city);
                a.state.apply(&mut to.state);
                a.postcode.apply(&mut to.postcode);
                a.country.apply(&mut to.country);
            }
        }
        self.reference_id.apply(&mut d.reference_id);
        self.external_id.apply(&mut d.external_id);
        self.crn.apply(&mut d.crn);
        self.contact_type.apply(&mut d.contact_type);
        self.active.apply(&mut d.active);
        merge(&mut d.notes, self.notes);
        match self.tags {
            Change::Keep => {}
            Change::Clear => d.tags.clear(),
            Change::Set(t) => d.tags = t,
        }
        // A field cleared is absent: `RawValue::Null` reads as not given.
        merge(&mut d.fields, self.fields);
        d
    }

    /// The tags this patch sets, which must be in the biller's catalogue.
    pub fn tags_named(&self) -> &[String] {
        match &self.tags {
            Change::Set(t) => t,
            Change::Keep | Change::Clear => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> ContactDraft {
        let mut d = ContactDraft {
            account_number: Some("1001".into()),
            name: Some("Sam Smith".into()),
            email: Some("sam@example.com".into()),
            tags: vec!["a".into(), "b".into()],
            ..ContactDraft::default()
        };
        d.notes.insert("k1".into(), "v1".into());
        d.notes.insert("k2".into(), "v2".into());
        d.fields.insert("f1".into(), RawValue::Text("x".into()));
        d.address.city = Some("Hobart".into());
        d.address.state = Some("TAS".into());
        d
    }

    #[test]
    fn only_what_is_sent_changes() {
        assert_eq!(ContactPatch::default().apply(stored()), stored(), "an empty patch changes nothing");
        let mut notes = BTreeMap::new();
        notes.insert("k1".into(), None);
        notes.insert("k3".into(), Some("v3".into()));
        let patch = ContactPatch {
            email: Change::Clear,
            name: Change::Set("Sam Jones".into()),
            notes: Change::Set(notes),
            address: Change::Set(AddressPatch { city: Change::Set("Launceston".into()), ..AddressPatch::default() }),
            tags: Change::Set(vec!["c".into()]),
            ..ContactPatch::default()
        };
        let d = patch.apply(stored());
        assert_eq!((d.name.as_deref(), d.email.as_deref()), (Some("Sam Jones"), None));
        assert_eq!(d.notes.keys().collect::<Vec<_>>(), ["k2", "k3"], "notes merge key by key");
        assert_eq!((d.address.city.as_deref(), d.address.state.as_deref()), (Some("Launceston"), Some("TAS")));
        assert_eq!(d.tags, ["c"], "tags are replaced whole");
        assert_eq!(d.fields.len(), 1, "fields not sent stay");
    }

    #[test]
    fn one_phone_of_a_kind_changes_alone() {
        let phone = |kind: &str, n: &str| PhoneDraft {
            kind: Some(kind.into()),
            number: Some(n.into()),
            country: Some("AU".into()),
        };
        let mut d = stored();
        d.phones = vec![phone("primary", "1"), phone("mobile", "2")];
        let mut kinds = BTreeMap::new();
        kinds.insert(PhoneKind::Primary, Change::Set(PhoneDraft { number: Some("3".into()), ..PhoneDraft::default() }));
        kinds.insert(PhoneKind::Home, Change::Set(phone("x", "4")));
        let p = ContactPatch { phone_kinds: kinds, ..ContactPatch::default() }.apply(d.clone());
        assert_eq!(p.phones[0], PhoneDraft { kind: Some("primary".into()), number: Some("3".into()), country: None });
        assert_eq!((p.phones[1].clone(), p.phones[2].kind.as_deref()), (phone("mobile", "2"), Some("home")));
        let mut kinds = BTreeMap::new();
        kinds.insert(PhoneKind::Mobile, Change::Clear);
        kinds.insert(PhoneKind::Work, Change::Clear);
        let p = ContactPatch { phone_kinds: kinds, ..ContactPatch::default() }.apply(d);
        assert_eq!(p.phones, [phone("primary", "1")], "only the mobile goes; no work phone is no change");
    }

    #[test]
    fn clearing_objects_and_lists() {
        let patch = ContactPatch {
            address: Change::Clear,
            notes: Change::Clear,
            fields: Change::Clear,
            tags: Change::Clear,
            ..ContactPatch::default()
        };
        let d = patch.apply(stored());
        assert!(d.notes.is_empty() && d.fields.is_empty() && d.tags.is_empty());
        assert_eq!(d.address, AddressDraft::default());
        let cleared = ContactPatch { name: Change::Clear, ..ContactPatch::default() }.apply(stored());
        assert_eq!(cleared.name, None, "the validator then says name is required");
    }
}

//! Contacts as contactd stored them before one-contact-at-a-time (SQLite
//! migration 10, PostgreSQL 14): a CRN inside the document, tags by their
//! text, phones without their E.164 form, no search keys. Each such contact
//! is read and written again in today's form; the backends map tag texts to
//! catalogue ids.

use crate::domain::ContactData;
use crate::domain::phone;
use crate::store::{StoreResult, codec};

/// Where to look: a document that may be in the old form (a new one never
/// is before this migration runs; one that is not comes out the same).
pub const LEGACY_FILTER: &str = r#"doc LIKE '%"crn":%' OR doc LIKE '%"tags":%' OR doc LIKE '%"phones":%'
    OR doc LIKE '%"email":%' OR doc LIKE '%"reference_id":%' OR doc LIKE '%"external_id":%'"#;

/// An old document's data, its phones' E.164 worked out where their country
/// (or international form) allows; its tags are still texts.
pub fn read(account_number: String, doc: &str, crn: Option<String>) -> StoreResult<ContactData> {
    let mut data = codec::decode(account_number, doc, crn)?;
    for p in &mut data.phones {
        if p.e164.is_none() && (p.country.is_some() || p.number.starts_with('+')) {
            p.e164 = phone::parse(&p.number, p.country.as_deref()).ok().map(|parsed| parsed.e164);
        }
    }
    Ok(data)
}

/// The new row of a migrated contact: its document and fingerprint.
pub fn write(data: &ContactData) -> StoreResult<codec::Encoded> {
    codec::encode(data)
}

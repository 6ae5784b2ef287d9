//! A contact's row on PostgreSQL: read into a `Contact` (and a hold's row
//! into a `Hold`), and rewritten with its history in one statement.

use crate::domain::history::{Action, Origin};
use crate::domain::holds::Hold;
use crate::domain::{Aliases, Contact, ContactId, JobId};
use crate::store::codec;
use crate::store::{BillerId, StoreError, StoreResult};
use tokio_postgres::Row;

pub(super) fn to_contact(r: &Row) -> StoreResult<Contact> {
    let id: String = r.get(0);
    let doc: String = r.get(2);
    let job: Option<String> = r.get(7);
    Ok(Contact {
        id: ContactId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("contact id {id}")))?,
        data: codec::decode(r.get(1), &doc, r.get(6))?,
        version: r.get(3),
        job_id: job.as_deref().and_then(JobId::parse),
        aliases: Aliases { pay_advantage: r.get(8), instantpay: r.get(9) },
        created_at: r.get(4),
        updated_at: r.get(5),
    })
}

pub(super) fn to_hold(r: &Row) -> StoreResult<Hold> {
    let id: String = r.get(0);
    let contact: String = r.get(1);
    let corrupt = || StoreError::Corrupt(format!("hold {id}"));
    Ok(Hold {
        id: crate::domain::HoldId::parse(&id).ok_or_else(corrupt)?,
        contact_id: ContactId::parse(&contact).ok_or_else(corrupt)?,
        kind: r.get(2),
        reference: r.get(3),
        created_at: r.get(4),
    })
}

/// A unique index refused the write: which value is taken.
pub(super) fn taken(e: tokio_postgres::Error, contact: &Contact) -> StoreError {
    let crn = e.as_db_error().and_then(|d| d.constraint()).is_some_and(|c| c == "contacts_crn");
    match StoreError::from(e) {
        StoreError::Conflict(_) if crn => {
            StoreError::Conflict(format!("CRN {}", contact.data.crn.as_deref().unwrap_or_default()))
        }
        StoreError::Conflict(_) => StoreError::Conflict(format!("account number {}", contact.data.account_number)),
        other => other,
    }
}

/// A transaction on a pooled connection, whose statements are prepared once
/// per connection (an unprepared one costs a second round trip).
pub(super) type Tx<'a> = deadpool_postgres::Transaction<'a>;

/// The statement `rewrite` runs.
pub(super) const REWRITE: &str =
    "WITH h AS (INSERT INTO contact_history (biller_id, contact_id, at, key_id, source, action, version,
                    account_number, crn, before)
                SELECT biller_id, id, $10, $16, $17, $18, version + 1, account_number, crn, doc FROM contacts
                WHERE biller_id = $1 AND id = $2)
     UPDATE contacts SET account_number = $3, name_folded = $4, contact_type = $5, active = $6, doc = $7,
         fingerprint = $8, crn = $9, version = version + 1, updated_at = $10, email_key = $11,
         reference_key = $12, external_key = $13, phone_keys = $14, tag_keys = $15
     WHERE biller_id = $1 AND id = $2";

/// Writes a contact's new data (and CRN) over its row, a version on, and
/// its history (the row as it was) in the same statement.
pub(super) async fn rewrite(
    tx: &Tx<'_>,
    biller: BillerId,
    contact: &Contact,
    action: Action,
    origin: &Origin,
) -> StoreResult<()> {
    let d = &contact.data;
    let row = codec::encode(d)?;
    let stmt = tx.prepare_cached(REWRITE).await?;
    tx.execute(
        &stmt,
        &[
            &biller,
            &contact.id.as_str(),
            &d.account_number.as_str(),
            &codec::fold(&d.name),
            &d.contact_type,
            &d.active,
            &row.doc,
            &row.fingerprint,
            &d.crn,
            &contact.updated_at,
            &row.keys.email,
            &row.keys.reference_id,
            &row.keys.external_id,
            &row.keys.phones,
            &row.keys.tags,
            &origin.key_id.as_ref().map(|k| k.as_str()),
            &origin.source,
            &action.as_str(),
        ],
    )
    .await
    .map_err(|e| taken(e, contact))?;
    Ok(())
}

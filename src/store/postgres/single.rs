//! One contact at a time on PostgreSQL: create, partial update and delete,
//! and CRN issue. Each shares its biller's lock with other single writes
//! (and waits for a bulk write), locks the contact's row, decides and writes
//! with its history in one transaction: concurrent updates of one contact
//! queue on its row and never lose one another.

use crate::domain::history::{Action, Origin};
use crate::domain::holds::Hold;
use crate::domain::{Contact, ContactRef};
use crate::store::codec;
use crate::store::postgres::PgStore;
use crate::store::postgres::contact_rows::{Tx, rewrite, taken};
use crate::store::postgres::contacts::{BillerLock, check_settings_version, history_of, lock_biller};
use crate::store::postgres::named::{Named, holds_of, named};
use crate::store::postgres::patch_group::{Patch, patch_turn};
use crate::store::{
    BillerId, CrnIssued, Decide, MakeCrn, Refused, SingleContactStore, StoreError, StoreResult, Updated,
};
use async_trait::async_trait;
use time::OffsetDateTime;

/// The biller's CRN sequence, its row locked: CRNs of one biller are issued
/// one at a time. Taken before any contact row, so writes that issue one
/// lock in one order; `NO KEY UPDATE`, so the foreign-key checks of other
/// writes (a contact, an alias, a job) never wait for it.
async fn crn_sequence(tx: &Tx<'_>, biller: BillerId) -> StoreResult<i64> {
    let stmt = tx.prepare_cached("SELECT crn_sequence FROM billers WHERE id = $1 FOR NO KEY UPDATE").await?;
    Ok(tx.query_one(&stmt, &[&biller]).await?.get(0))
}

/// Gives `contact` (which has no CRN) the first free one `make` makes from
/// `sequence` on, and moves the biller's sequence past the numbers used up.
async fn assign_crn(
    tx: &Tx<'_>,
    biller: BillerId,
    contact: &mut Contact,
    make: &MakeCrn,
    sequence: i64,
) -> StoreResult<Result<(), Refused>> {
    // Another contact's: this one's row may still hold a CRN the write clears.
    let taken = tx.prepare_cached("SELECT 1 FROM contacts WHERE biller_id = $1 AND crn = $2 AND id <> $3").await?;
    let mut last = String::new();
    let mut free = None;
    for candidate in make.candidates(contact, sequence) {
        let (crn, next) = match candidate {
            Ok(c) => c,
            Err(refused) => return Ok(Err(refused)),
        };
        if tx.query_opt(&taken, &[&biller, &crn, &contact.id.as_str()]).await?.is_none() {
            free = Some((crn, next));
            break;
        }
        last = crn;
    }
    let Some((crn, next)) = free else { return Err(StoreError::Conflict(format!("CRN {last}"))) };
    tx.execute("UPDATE billers SET crn_sequence = $2 WHERE id = $1", &[&biller, &next]).await?;
    contact.data.crn = Some(crn);
    Ok(Ok(()))
}

/// The contact a reference names, locked for the write, with its holds.
async fn find_for_write(tx: &Tx<'_>, biller: BillerId, by: &ContactRef) -> StoreResult<Option<(Contact, Vec<Hold>)>> {
    let rows = named(tx, biller, &[by], Named::ForWrite).await?;
    let mut holds = holds_of(tx, biller, &rows).await?;
    Ok(rows.into_iter().next().map(|(c, _)| {
        let held = holds.remove(&c.id).unwrap_or_default();
        (c, held)
    }))
}

#[async_trait]
impl SingleContactStore for PgStore {
    async fn create_contact(
        &self,
        biller: BillerId,
        settings_version: i64,
        contact: &Contact,
        origin: &Origin,
        crn: Option<MakeCrn>,
    ) -> StoreResult<Result<Contact, Refused>> {
        let mut contact = contact.clone();
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // Shares the biller lock with other single writes; waits for bulk writes.
        check_settings_version(&tx, biller, settings_version, BillerLock::Shared).await?;
        if let Some(make) = crn.filter(|_| contact.data.crn.is_none()) {
            let sequence = crn_sequence(&tx, biller).await?;
            if let Err(refused) = assign_crn(&tx, biller, &mut contact, &make, sequence).await? {
                return Ok(Err(refused));
            }
        }
        let row = codec::encode(&contact.data)?;
        let d = &contact.data;
        // The contact and its history's first entry, in one statement.
        let stmt = tx
            .prepare_cached(
                "WITH new AS (INSERT INTO contacts (biller_id, id, account_number, name_folded, contact_type, active, doc,
                                  fingerprint, version, created_at, updated_at, crn, email_key, reference_key,
                                  external_key, phone_keys, tag_keys)
                              VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
                              RETURNING id)
                 INSERT INTO contact_history (biller_id, contact_id, at, key_id, source, action, version, account_number,
                     crn)
                 SELECT $1, id, $10, $18, $19, 'created', 1, $3, $12 FROM new",
            )
            .await?;
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
                &contact.version,
                &contact.created_at,
                &contact.updated_at,
                &d.crn,
                &row.keys.email,
                &row.keys.reference_id,
                &row.keys.external_id,
                &row.keys.phones,
                &row.keys.tags,
                &origin.key_id.as_ref().map(|k| k.as_str()),
                &origin.source,
            ],
        )
        .await
        .map_err(|e| taken(e, &contact))?;
        tx.commit().await?;
        Ok(Ok(contact))
    }

    async fn update_contact(
        &self,
        biller: BillerId,
        by: &ContactRef,
        settings_version: i64,
        origin: &Origin,
        now: OffsetDateTime,
        decide: Decide,
        crn: Option<MakeCrn>,
    ) -> StoreResult<Result<Updated, Refused>> {
        let Some(make) = crn else {
            let patch = Patch { by: by.clone(), settings_version, origin: origin.clone(), now, decide };
            let pool = self.pool.clone();
            return self.patches.submit(biller, patch, move |b, q| patch_turn(pool.clone(), b, q)).await;
        };
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // With a CRN asked for, the biller's lock and then its sequence row
        // are taken in turn, before the contact's row (not pipelined: a
        // statement prepared on the way could let the contact's lock go first).
        check_settings_version(&tx, biller, settings_version, BillerLock::Shared).await?;
        let sequence = crn_sequence(&tx, biller).await?;
        let Some((contact, held)) = find_for_write(&tx, biller, by).await? else {
            return Ok(Err(Refused::NotFound));
        };
        let data = match decide(&contact, &held) {
            Ok(data) => data,
            Err(refused) => return Ok(Err(refused)),
        };
        let mut updated = Contact { data, version: contact.version + 1, updated_at: now, ..contact.clone() };
        if updated.data.crn.is_none()
            && let Err(refused) = assign_crn(&tx, biller, &mut updated, &make, sequence).await?
        {
            return Ok(Err(refused));
        }
        if updated.data == contact.data {
            return Ok(Ok(Updated { contact, changed: false }));
        }
        rewrite(&tx, biller, &updated, Action::Updated, origin).await?;
        tx.commit().await?;
        Ok(Ok(Updated { contact: updated, changed: true }))
    }

    async fn delete_contact(
        &self,
        biller: BillerId,
        by: &ContactRef,
        expected: Option<i64>,
        origin: &Origin,
        now: OffsetDateTime,
    ) -> StoreResult<Result<(), Refused>> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        lock_biller(&tx, biller, BillerLock::Shared).await?;
        let Some((contact, held)) = find_for_write(&tx, biller, by).await? else {
            return Ok(Err(Refused::NotFound));
        };
        if expected.is_some_and(|v| v != contact.version) {
            return Ok(Err(Refused::VersionMismatch { current: contact.version }));
        }
        if !held.is_empty() {
            return Ok(Err(Refused::Held(held)));
        }
        history_of(&tx, biller, &[contact.id.to_string()], Action::Deleted.as_str(), origin, now).await?;
        tx.execute("DELETE FROM contacts WHERE biller_id = $1 AND id = $2", &[&biller, &contact.id.as_str()]).await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    async fn issue_crn(
        &self,
        biller: BillerId,
        by: &ContactRef,
        origin: &Origin,
        now: OffsetDateTime,
        make: MakeCrn,
    ) -> StoreResult<Result<CrnIssued, Refused>> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        lock_biller(&tx, biller, BillerLock::Shared).await?;
        let sequence = crn_sequence(&tx, biller).await?;
        let Some((contact, _)) = find_for_write(&tx, biller, by).await? else { return Ok(Err(Refused::NotFound)) };
        if contact.data.crn.is_some() {
            return Ok(Ok(CrnIssued { contact, issued: false }));
        }
        let mut updated = Contact { version: contact.version + 1, updated_at: now, ..contact };
        if let Err(refused) = assign_crn(&tx, biller, &mut updated, &make, sequence).await? {
            return Ok(Err(refused));
        }
        rewrite(&tx, biller, &updated, Action::Updated, origin).await?;
        tx.commit().await?;
        Ok(Ok(CrnIssued { contact: updated, issued: true }))
    }
}

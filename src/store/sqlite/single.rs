//! One contact at a time on SQLite: create, partial update and delete, and
//! CRN issue, each deciding and writing (with its history) in one
//! transaction of the one writer.

use crate::domain::history::{Action, Origin};
use crate::domain::{Contact, ContactRef};
use crate::store::codec;
use crate::store::sqlite::SqliteStore;
use crate::store::sqlite::contacts::{check_settings_version, find};
use crate::store::sqlite::history::{hold_of, record, to_hold};
use crate::store::time_conv::{from_micros, to_micros};
use crate::store::{
    BillerId, CrnIssued, Decide, MakeCrn, Refused, SingleContactStore, StoreError, StoreResult, Updated,
};
use async_trait::async_trait;
use rusqlite::{Connection, TransactionBehavior, params};
use time::OffsetDateTime;

/// A unique index refused the write: which value is taken.
fn taken(e: StoreError, contact: &Contact) -> StoreError {
    match e {
        StoreError::Conflict(why) if why.contains("CRN") => {
            StoreError::Conflict(format!("CRN {}", contact.data.crn.as_deref().unwrap_or_default()))
        }
        StoreError::Conflict(_) => StoreError::Conflict(format!("account number {}", contact.data.account_number)),
        other => other,
    }
}

fn holds(c: &Connection, biller: BillerId, contact: &Contact) -> StoreResult<Vec<crate::domain::holds::Hold>> {
    c.prepare_cached(
        "SELECT id, contact_id, kind, reference, created_at FROM holds WHERE biller_id = ?1 AND contact_id = ?2 ORDER BY created_at, id",
    )?
    .query_map(params![biller, contact.id.as_str()], hold_of)?
    .map(|r| to_hold(r?))
    .collect()
}

/// Writes a contact's new data (and CRN) over its row, a version on.
fn rewrite(c: &Connection, biller: BillerId, contact: &Contact, now: i64) -> StoreResult<()> {
    let d = &contact.data;
    let row = codec::encode(d)?;
    c.prepare_cached(
        "UPDATE contacts SET account_number = ?3, name_folded = ?4, contact_type = ?5, active = ?6, doc = ?7,
             fingerprint = ?8, crn = ?9, version = version + 1, updated_at = ?10, email_key = ?11,
             reference_key = ?12, external_key = ?13, phone_keys = ?14, tag_keys = ?15
         WHERE biller_id = ?1 AND id = ?2",
    )?
    .execute(params![
        biller,
        contact.id.as_str(),
        d.account_number.as_str(),
        codec::fold(&d.name),
        d.contact_type,
        d.active,
        row.doc,
        row.fingerprint,
        d.crn,
        now,
        row.keys.email,
        row.keys.reference_id,
        row.keys.external_id,
        row.keys.phones,
        row.keys.tags,
    ])
    .map_err(|e| taken(e.into(), contact))?;
    Ok(())
}

/// Gives `contact` (which has no CRN) the first free one `make` makes, and
/// moves the biller's sequence past the numbers it used up.
fn assign_crn(
    c: &Connection,
    biller: BillerId,
    contact: &mut Contact,
    make: &MakeCrn,
) -> StoreResult<Result<(), Refused>> {
    let first: i64 = c.query_row("SELECT crn_sequence FROM billers WHERE id = ?1", [biller], |r| r.get(0))?;
    // Another contact's: this one's row may still hold a CRN the write clears.
    let mut taken = c.prepare_cached("SELECT 1 FROM contacts WHERE biller_id = ?1 AND crn = ?2 AND id <> ?3")?;
    let mut last = String::new();
    let mut free = None;
    for candidate in make.candidates(contact, first) {
        let (crn, used) = match candidate {
            Ok(c) => c,
            Err(refused) => return Ok(Err(refused)),
        };
        if !taken.exists(params![biller, crn, contact.id.as_str()])? {
            free = Some((crn, used));
            break;
        }
        last = crn;
    }
    let Some((crn, used)) = free else { return Err(StoreError::Conflict(format!("CRN {last}"))) };
    c.execute("UPDATE billers SET crn_sequence = ?2 WHERE id = ?1", params![biller, used])?;
    contact.data.crn = Some(crn);
    Ok(Ok(()))
}

#[async_trait]
impl SingleContactStore for SqliteStore {
    async fn create_contact(
        &self,
        biller: BillerId,
        settings_version: i64,
        contact: &Contact,
        origin: &Origin,
        crn: Option<MakeCrn>,
    ) -> StoreResult<Result<Contact, Refused>> {
        let (mut contact, origin) = (contact.clone(), origin.clone());
        self.group
            .write(&self.writer, move |tx| {
                check_settings_version(tx, biller, settings_version)?;
                if let Some(make) = crn.filter(|_| contact.data.crn.is_none())
                    && let Err(refused) = assign_crn(tx, biller, &mut contact, &make)?
                {
                    return Ok(Err(refused));
                }
                let d = &contact.data;
                let row = codec::encode(d)?;
                tx.prepare_cached(
                    "INSERT INTO contacts (biller_id, id, account_number, name_folded, contact_type, active, doc,
                         fingerprint, version, created_at, updated_at, crn, email_key, reference_key,
                         external_key, phone_keys, tag_keys)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                )?
                .execute(params![
                    biller,
                    contact.id.as_str(),
                    d.account_number.as_str(),
                    codec::fold(&d.name),
                    d.contact_type,
                    d.active,
                    row.doc,
                    row.fingerprint,
                    contact.version,
                    to_micros(contact.created_at),
                    to_micros(contact.updated_at),
                    d.crn,
                    row.keys.email,
                    row.keys.reference_id,
                    row.keys.external_id,
                    row.keys.phones,
                    row.keys.tags,
                ])
                .map_err(|e| taken(e.into(), &contact))?;
                let now = to_micros(contact.created_at);
                record::created(tx, biller, &contact.id, d.account_number.as_str(), d.crn.as_deref(), &origin, now)?;
                Ok(Ok(contact))
            })
            .await
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
        let (by, origin) = (by.clone(), origin.clone());
        self.group
            .write(&self.writer, move |tx| {
                check_settings_version(tx, biller, settings_version)?;
                let Some(contact) = find(tx, biller, &by)? else { return Ok(Err(Refused::NotFound)) };
                let held = holds(tx, biller, &contact)?;
                let data = match decide(&contact, &held) {
                    Ok(data) => data,
                    Err(refused) => return Ok(Err(refused)),
                };
                let now_us = to_micros(now);
                let mut updated =
                    Contact { data, version: contact.version + 1, updated_at: from_micros(now_us)?, ..contact.clone() };
                if let Some(make) = crn.filter(|_| updated.data.crn.is_none())
                    && let Err(refused) = assign_crn(tx, biller, &mut updated, &make)?
                {
                    return Ok(Err(refused));
                }
                if updated.data == contact.data {
                    return Ok(Ok(Updated { contact, changed: false }));
                }
                record::changed(tx, biller, &contact.id, Action::Updated, &origin, now_us)?;
                rewrite(tx, biller, &updated, now_us)?;
                Ok(Ok(Updated { contact: updated, changed: true }))
            })
            .await
    }

    async fn delete_contact(
        &self,
        biller: BillerId,
        by: &ContactRef,
        expected: Option<i64>,
        origin: &Origin,
        now: OffsetDateTime,
    ) -> StoreResult<Result<(), Refused>> {
        let (by, origin) = (by.clone(), origin.clone());
        self.group
            .write(&self.writer, move |tx| {
                let Some(contact) = find(tx, biller, &by)? else { return Ok(Err(Refused::NotFound)) };
                if expected.is_some_and(|v| v != contact.version) {
                    return Ok(Err(Refused::VersionMismatch { current: contact.version }));
                }
                let held = holds(tx, biller, &contact)?;
                if !held.is_empty() {
                    return Ok(Err(Refused::Held(held)));
                }
                record::changed(tx, biller, &contact.id, Action::Deleted, &origin, to_micros(now))?;
                tx.prepare_cached("DELETE FROM contacts WHERE biller_id = ?1 AND id = ?2")?
                    .execute(params![biller, contact.id.as_str()])?;
                Ok(Ok(()))
            })
            .await
    }

    async fn issue_crn(
        &self,
        biller: BillerId,
        by: &ContactRef,
        origin: &Origin,
        now: OffsetDateTime,
        make: MakeCrn,
    ) -> StoreResult<Result<CrnIssued, Refused>> {
        let (by, origin) = (by.clone(), origin.clone());
        self.writer
            .run(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let Some(contact) = find(&tx, biller, &by)? else { return Ok(Err(Refused::NotFound)) };
                if contact.data.crn.is_some() {
                    return Ok(Ok(CrnIssued { contact, issued: false }));
                }
                let now_us = to_micros(now);
                let mut updated =
                    Contact { version: contact.version + 1, updated_at: from_micros(now_us)?, ..contact.clone() };
                if let Err(refused) = assign_crn(&tx, biller, &mut updated, &make)? {
                    return Ok(Err(refused));
                }
                record::changed(&tx, biller, &contact.id, Action::Updated, &origin, now_us)?;
                rewrite(&tx, biller, &updated, now_us)?;
                tx.commit()?;
                Ok(Ok(CrnIssued { contact: updated, issued: true }))
            })
            .await
    }
}

//! Contact history and holds checks on SQLite: the rows every write adds in
//! its own transaction, reading them back, and the hourly sweep.

use crate::domain::ContactId;
use crate::domain::holds::Hold;
use crate::store::history_rows::{self, Columns, HISTORY_COLUMNS};
use crate::store::sqlite::SqliteStore;
use crate::store::time_conv::{from_micros, to_micros};
use crate::store::{BillerId, HELD_LISTED, HeldContacts, HistoryFrom, HistoryRow, HistoryStore, StoreResult};
use async_trait::async_trait;
use rusqlite::{Connection, params};
use std::collections::HashMap;
use time::OffsetDateTime;

/// History rows, written inside the change's own transaction.
pub(super) mod record {
    use crate::domain::ContactId;
    use crate::domain::history::{Action, Origin};
    use crate::store::{BillerId, StoreResult};
    use rusqlite::{Connection, params};

    /// A contact created outside a job (a job's new contacts carry its id instead).
    pub fn created(
        c: &Connection,
        biller: BillerId,
        id: &ContactId,
        account_number: &str,
        crn: Option<&str>,
        origin: &Origin,
        now: i64,
    ) -> StoreResult<()> {
        c.prepare_cached(
            "INSERT INTO contact_history (biller_id, contact_id, at, key_id, source, action, version, account_number, crn)
             VALUES (?1, ?2, ?3, ?4, ?5, 'created', 1, ?6, ?7)",
        )?
        .execute(params![
            biller,
            id.as_str(),
            now,
            origin.key_id.as_ref().map(|k| k.as_str()),
            origin.source,
            account_number,
            crn
        ])?;
        Ok(())
    }

    /// The contact as it is, before the change about to be made to it.
    pub fn changed(
        c: &Connection,
        biller: BillerId,
        id: &ContactId,
        action: Action,
        origin: &Origin,
        now: i64,
    ) -> StoreResult<()> {
        c.prepare_cached(
            "INSERT INTO contact_history (biller_id, contact_id, at, key_id, source, action, version, account_number,
                 crn, before)
             SELECT biller_id, id, ?3, ?4, ?5, ?6, version + 1, account_number, crn, doc FROM contacts
             WHERE biller_id = ?1 AND id = ?2",
        )?
        .execute(params![
            biller,
            id.as_str(),
            now,
            origin.key_id.as_ref().map(|k| k.as_str()),
            origin.source,
            action.as_str()
        ])?;
        Ok(())
    }

    /// A hold placed or released: the contact did not change (its version stays).
    pub fn hold(
        c: &Connection,
        biller: BillerId,
        id: &ContactId,
        action: Action,
        detail: &str,
        origin: &Origin,
        now: i64,
    ) -> StoreResult<()> {
        c.prepare_cached(
            "INSERT INTO contact_history (biller_id, contact_id, at, key_id, source, action, version, detail,
                 account_number, crn, before)
             SELECT biller_id, id, ?3, ?4, ?5, ?6, version, ?7, account_number, crn, doc FROM contacts
             WHERE biller_id = ?1 AND id = ?2",
        )?
        .execute(params![
            biller,
            id.as_str(),
            now,
            origin.key_id.as_ref().map(|k| k.as_str()),
            origin.source,
            action.as_str(),
            detail
        ])?;
        Ok(())
    }
}

pub(super) fn hold_of(r: &rusqlite::Row) -> rusqlite::Result<(String, String, String, Option<String>, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

pub(super) fn to_hold(
    (id, contact, kind, reference, at): (String, String, String, Option<String>, i64),
) -> StoreResult<Hold> {
    let corrupt = || crate::store::StoreError::Corrupt(format!("hold {id}"));
    Ok(Hold {
        id: crate::domain::HoldId::parse(&id).ok_or_else(corrupt)?,
        contact_id: ContactId::parse(&contact).ok_or_else(corrupt)?,
        kind,
        reference,
        created_at: from_micros(at)?,
    })
}

/// Which of `ids` have holds (for `deactivating`, only those active now):
/// `None` when none do. Holds are few, so the biller's are read whole.
pub(super) fn held(
    c: &Connection,
    biller: BillerId,
    ids: &[&ContactId],
    deactivating: bool,
) -> StoreResult<Option<HeldContacts>> {
    if ids.is_empty() {
        return Ok(None);
    }
    let mut by_contact: HashMap<String, Vec<Hold>> = HashMap::new();
    let rows = c
        .prepare_cached(
            "SELECT id, contact_id, kind, reference, created_at FROM holds WHERE biller_id = ?1 ORDER BY created_at, id",
        )?
        .query_map([biller], hold_of)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if rows.is_empty() {
        return Ok(None);
    }
    for row in rows {
        let hold = to_hold(row)?;
        by_contact.entry(hold.contact_id.to_string()).or_default().push(hold);
    }
    let mut found = HeldContacts { contacts: Vec::new(), total: 0, deactivating };
    let mut contact =
        c.prepare_cached("SELECT account_number, active FROM contacts WHERE biller_id = ?1 AND id = ?2")?;
    for id in ids {
        let Some(holds) = by_contact.get(id.as_str()) else { continue };
        let (number, active): (String, bool) =
            contact.query_row(params![biller, id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?;
        if deactivating && !active {
            continue;
        }
        found.total += 1;
        if found.contacts.len() < HELD_LISTED {
            found.contacts.push((number, holds.clone()));
        }
    }
    Ok((found.total > 0).then_some(found))
}

fn columns(r: &rusqlite::Row) -> rusqlite::Result<(Columns, i64)> {
    Ok((
        Columns {
            seq: r.get(0)?,
            at: OffsetDateTime::UNIX_EPOCH,
            key_id: r.get(2)?,
            source: r.get(3)?,
            action: r.get(4)?,
            version: r.get(5)?,
            account_number: r.get(6)?,
            crn: r.get(7)?,
            before: r.get(8)?,
            detail: r.get(9)?,
        },
        r.get(1)?,
    ))
}

#[async_trait]
impl HistoryStore for SqliteStore {
    async fn history(
        &self,
        biller: BillerId,
        contact: &ContactId,
        from: HistoryFrom,
        limit: usize,
    ) -> StoreResult<Vec<HistoryRow>> {
        let contact = contact.as_str().to_owned();
        let (seq, order, at) = from.sql("?3");
        let rows = self
            .readers
            .run(move |c| {
                Ok(c.prepare_cached(&format!(
                    "SELECT {HISTORY_COLUMNS} FROM contact_history WHERE biller_id = ?1 AND contact_id = ?2 AND {seq}
                     ORDER BY {order} LIMIT ?4"
                ))?
                .query_map(params![biller, contact, at, limit as i64], columns)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await?;
        rows.into_iter()
            .map(|(mut c, at)| {
                c.at = from_micros(at)?;
                history_rows::decode(c)
            })
            .collect()
    }

    async fn purge_history(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let before = to_micros(before);
        let mut removed = 0u64;
        // In batches, so other writes wait for one at most.
        loop {
            let n = self
                .writer
                .run(move |c| {
                    Ok(c.execute(
                        "DELETE FROM contact_history WHERE seq IN (SELECT seq FROM contact_history WHERE at < ?1 LIMIT 20000)",
                        [before],
                    )? as u64)
                })
                .await?;
            removed += n;
            if n == 0 {
                return Ok(removed);
            }
        }
    }
}

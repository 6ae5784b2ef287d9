//! Contacts on PostgreSQL: set-based synchronous bulk writes, reads, lists.

use crate::domain::history::Origin;
use crate::domain::holds::Hold;
use crate::domain::query::{ContactFilter, PageRequest};
use crate::domain::sync::{Action, Existing, WriteMode};
use crate::domain::{Contact, ContactId, ContactIdRun, ContactRef};
use crate::store::codec::{self, CONTACT_COLUMNS, page_of};
use crate::store::list_query::{Arg, POSTGRES, count_query, list_query};
use crate::store::postgres::PgStore;
use crate::store::postgres::contact_rows::{to_contact, to_hold};
use crate::store::postgres::named::read_turn;
use crate::store::postgres::snapshots::SnapshotCopy;
use crate::store::{
    BillerId, ContactPage, ContactStore, HELD_LISTED, HeldContacts, StoreError, StoreResult, WriteBatch, WriteOutcome,
    encode_all, prepare, snapshot_due,
};
use async_trait::async_trait;
use std::collections::HashMap;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

fn to_existing(map: &mut HashMap<String, Existing>, r: &Row) -> StoreResult<()> {
    let id: String = r.get(1);
    let id = ContactId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("contact id {id}")))?;
    map.insert(r.get(0), Existing { id, fingerprint: r.get(2), version: r.get(3), crn: r.get(4) });
    Ok(())
}

/// How a write holds its biller: one-contact writes share it; bulk writes,
/// settings changes and tag deletes, which no other write of the biller may
/// overlap, take it alone. It lives in PostgreSQL's lock manager, not on the
/// biller's row: a row share-locked by many transactions at once gets a new
/// multixact for each, and one-contact writes of a biller queued on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BillerLock {
    Shared,
    Exclusive,
}

/// The advisory-lock class of billers' locks (the two-key form, apart from
/// the migration lock's one key). Ids past 2^31 wrap onto smaller ones':
/// more waiting, never less safety.
const BILLER_LOCKS: i32 = 0x636f_6e74;

/// `SELECT` of the biller's lock (numbers only: sent as a simple query, one
/// round trip with no statement to prepare).
fn lock_sql(biller: BillerId, lock: BillerLock) -> String {
    let take = match lock {
        BillerLock::Shared => "pg_advisory_xact_lock_shared",
        BillerLock::Exclusive => "pg_advisory_xact_lock",
    };
    format!("SELECT {take}({BILLER_LOCKS}, {})", biller as i32)
}

/// Takes the biller's lock until the transaction ends.
pub(super) async fn lock_biller(
    tx: &tokio_postgres::Transaction<'_>,
    biller: BillerId,
    lock: BillerLock,
) -> StoreResult<()> {
    tx.batch_execute(&lock_sql(biller, lock)).await?;
    Ok(())
}

/// Takes the biller's lock and refuses a write validated against settings
/// that have since changed (one round trip for both).
pub(super) async fn check_settings_version(
    tx: &tokio_postgres::Transaction<'_>,
    biller: BillerId,
    expected: i64,
    lock: BillerLock,
) -> StoreResult<()> {
    let current = settings_version(tx, biller, lock).await?;
    if current == Some(expected) { Ok(()) } else { Err(StoreError::SettingsChanged) }
}

/// Takes the biller's lock and reads the version of its settings (one
/// round trip for both); `None` if it has gone.
pub(super) async fn settings_version(
    tx: &tokio_postgres::Transaction<'_>,
    biller: BillerId,
    lock: BillerLock,
) -> StoreResult<Option<i64>> {
    let sql = format!("{}; SELECT settings_version FROM billers WHERE id = {biller}", lock_sql(biller, lock));
    Ok(tx.simple_query(&sql).await?.into_iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r)
            if r.columns().first().is_some_and(|c| c.name() == "settings_version") =>
        {
            r.get(0).and_then(|v| v.parse::<i64>().ok())
        }
        _ => None,
    }))
}

#[async_trait]
impl ContactStore for PgStore {
    async fn write_contacts(
        &self,
        biller: BillerId,
        batch: WriteBatch,
        now: OffsetDateTime,
    ) -> StoreResult<WriteOutcome> {
        // Encoding is CPU work: off the async threads, and before any lock.
        let (batch, rows) = tokio::task::spawn_blocking(move || {
            let rows = encode_all(&batch);
            (batch, rows)
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?;
        let rows = rows?;
        let mut c = self.pool.get().await?;
        let copy_conn = self.copy_connection(batch.snapshot.as_ref(), batch.mode, batch.dry_run).await?;
        let tx = c.transaction().await?;
        // One bulk writer per biller at a time, so the plan sees what it changes.
        check_settings_version(&tx, biller, batch.settings_version, BillerLock::Exclusive).await?;
        let copy = SnapshotCopy::start(copy_conn, biller).await?;
        let mut existing = HashMap::new();
        let total = match batch.mode {
            WriteMode::Replace => {
                for r in tx
                    .query(
                        "SELECT account_number, id, fingerprint, version, crn FROM contacts WHERE biller_id = $1",
                        &[&biller],
                    )
                    .await?
                {
                    to_existing(&mut existing, &r)?;
                }
                existing.len() as u64
            }
            WriteMode::Add => {
                let accts: Vec<&str> = batch.records.iter().map(|r| r.account_number.as_str()).collect();
                let rows = tx
                    .query(
                        "SELECT account_number, id, fingerprint, version, crn FROM contacts
                         WHERE biller_id = $1 AND account_number = ANY($2)",
                        &[&biller, &accts],
                    )
                    .await?;
                for r in &rows {
                    to_existing(&mut existing, r)?;
                }
                0
            }
        };
        let prepared = prepare(&batch, rows, &existing, total)?;
        let fixed: Vec<&str> = batch
            .records
            .iter()
            .filter(|r| {
                let stored = existing.get(r.account_number.as_str()).and_then(|e| e.crn.as_deref());
                matches!((r.crn.as_deref(), stored), (Some(new), Some(old)) if new != old)
            })
            .map(|r| r.account_number.as_str())
            .collect();
        if !fixed.is_empty() {
            return Err(crn_fixed(&fixed));
        }
        // Contacts with holds may be neither removed (unless forced) nor deactivated.
        let removing: Vec<&str> = if batch.force_holds {
            Vec::new()
        } else {
            prepared.plan.removals.iter().map(|(id, _)| id.as_str()).collect()
        };
        let deactivating: Vec<&str> = batch
            .records
            .iter()
            .zip(&prepared.plan.actions)
            .filter_map(|(r, a)| match a {
                Action::Update { id, .. } if !r.active => Some(id.as_str()),
                _ => None,
            })
            .collect();
        for (ids, deactivating) in [(&removing, false), (&deactivating, true)] {
            if let Some(h) = held(&tx, biller, ids, deactivating).await? {
                return Err(StoreError::Held(h));
            }
        }
        if batch.dry_run {
            return Ok(prepared.outcome);
        }
        let n = prepared.outcome.counts;
        let kept = match snapshot_due(batch.snapshot.as_ref(), batch.mode, n.created, n.updated, n.removed) {
            Some(snap) => Some(copy.keep(&tx, biller, snap, total, now).await?),
            None => None,
        };
        let mut ids = ContactIdRun::new(&mut rand::thread_rng());
        let mut new = Columns::default();
        let mut changed = Columns::default();
        for ((record, row), action) in batch.records.iter().zip(&prepared.rows).zip(&prepared.plan.actions) {
            let (cols, id) = match action {
                Action::Create => (&mut new, ids.next_id().as_str().to_owned()),
                Action::Update { id, .. } => (&mut changed, id.as_str().to_owned()),
                Action::Unchanged => continue,
            };
            cols.id.push(id);
            cols.account_number.push(record.account_number.as_str().to_owned());
            cols.name.push(codec::fold(&record.name));
            cols.contact_type.push(record.contact_type.clone());
            cols.active.push(record.active);
            cols.doc.push(row.doc.clone());
            cols.fingerprint.push(row.fingerprint);
            cols.crn.push(record.crn.clone());
            cols.email.push(row.keys.email.clone());
            cols.reference.push(row.keys.reference_id.clone());
            cols.external.push(row.keys.external_id.clone());
            cols.phones.push(row.keys.phones.clone());
            cols.tags.push(row.keys.tags.clone());
        }
        let (key, source) = (batch.origin.key_id.as_ref().map(|k| k.as_str()), batch.origin.source.as_str());
        if !new.id.is_empty() {
            tx.execute(
                &format!("INSERT INTO contacts (biller_id, id, account_number, name_folded, contact_type, active, doc, fingerprint,
                     version, created_at, updated_at, crn, email_key, reference_key, external_key, phone_keys, tag_keys)
                 SELECT $1, u.id, u.acct, u.name, u.ctype, u.active, u.doc, u.fp, 1, $9, $9, u.crn, u.email,
                     u.reference, u.external, u.phones, u.tags
                 FROM unnest({UNNEST}) AS u({UNNESTED})"),
                &new.params(&biller, &now),
            )
            .await?;
            tx.execute(
                "INSERT INTO contact_history (biller_id, contact_id, at, key_id, source, action, version, account_number, crn)
                 SELECT $1, u.id, $4, $5, $6, 'created', 1, u.acct, u.crn
                 FROM unnest($2::text[], $3::text[], $7::text[]) AS u(id, acct, crn)",
                &[&biller, &new.id, &new.account_number, &now, &key, &source, &new.crn],
            )
            .await?;
        }
        if !changed.id.is_empty() {
            history_of(&tx, biller, &changed.id, "updated", &batch.origin, now).await?;
            tx.execute(
                &format!("UPDATE contacts c SET name_folded = u.name, contact_type = u.ctype, active = u.active, doc = u.doc,
                     fingerprint = u.fp, version = c.version + 1, updated_at = $9, crn = COALESCE(u.crn, c.crn),
                     email_key = u.email, reference_key = u.reference, external_key = u.external,
                     phone_keys = u.phones, tag_keys = u.tags
                 FROM unnest({UNNEST}) AS u({UNNESTED})
                 WHERE c.biller_id = $1 AND c.id = u.id"),
                &changed.params(&biller, &now),
            )
            .await?;
        }
        if !prepared.plan.removals.is_empty() {
            let ids: Vec<String> = prepared.plan.removals.iter().map(|(id, _)| id.as_str().to_owned()).collect();
            history_of(&tx, biller, &ids, "deleted", &batch.origin, now).await?;
            tx.execute("DELETE FROM holds WHERE biller_id = $1 AND contact_id = ANY($2)", &[&biller, &ids]).await?;
            tx.execute("DELETE FROM contacts WHERE biller_id = $1 AND id = ANY($2)", &[&biller, &ids]).await?;
        }
        if let Some(kept) = kept {
            kept.committed().await?;
        }
        tx.commit().await?;
        Ok(prepared.outcome)
    }

    async fn contact(&self, biller: BillerId, by: &ContactRef) -> StoreResult<Option<Contact>> {
        let pool = self.pool.clone();
        self.reads.submit(biller, by.clone(), move |b, q| read_turn(pool.clone(), b, q)).await
    }

    async fn contacts(&self, biller: BillerId, filter: &ContactFilter, page: &PageRequest) -> StoreResult<ContactPage> {
        let c = self.pool.get().await?;
        let q = list_query(CONTACT_COLUMNS, biller, filter, page, &POSTGRES);
        let rows = c.query(&q.sql, &params(&q.args)).await?;
        Ok(page_of(rows.iter().map(to_contact).collect::<StoreResult<Vec<_>>>()?, page.limit))
    }

    async fn count_contacts(&self, biller: BillerId, filter: &ContactFilter) -> StoreResult<u64> {
        let c = self.pool.get().await?;
        let q = count_query(biller, filter, &POSTGRES);
        let n: i64 = c.query_one(&q.sql, &params(&q.args)).await?.get(0);
        Ok(n.max(0) as u64)
    }
}

/// A list query's arguments as PostgreSQL binds them.
fn params(args: &[Arg]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter()
        .map(|a| -> &(dyn ToSql + Sync) {
            match a {
                Arg::Int(i) => i,
                Arg::Bool(b) => b,
                Arg::Text(t) => t,
                Arg::Time(t) => t,
            }
        })
        .collect()
}

/// Column arrays for one set-based statement.
#[derive(Default)]
struct Columns {
    id: Vec<String>,
    account_number: Vec<String>,
    name: Vec<String>,
    contact_type: Vec<Option<String>>,
    active: Vec<bool>,
    doc: Vec<String>,
    fingerprint: Vec<i64>,
    crn: Vec<Option<String>>,
    email: Vec<Option<String>>,
    reference: Vec<Option<String>>,
    external: Vec<Option<String>>,
    phones: Vec<Option<String>>,
    tags: Vec<Option<String>>,
}

/// `Columns::params` as unnest's arguments ($1 is the biller, $9 the time).
const UNNEST: &str = "$2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::text[], $8::int8[], \
    $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[]";
const UNNESTED: &str = "id, acct, name, ctype, active, doc, fp, crn, email, reference, external, phones, tags";

impl Columns {
    fn params<'a>(&'a self, biller: &'a BillerId, now: &'a OffsetDateTime) -> [&'a (dyn ToSql + Sync); 15] {
        [
            biller,
            &self.id,
            &self.account_number,
            &self.name,
            &self.contact_type,
            &self.active,
            &self.doc,
            &self.fingerprint,
            now,
            &self.crn,
            &self.email,
            &self.reference,
            &self.external,
            &self.phones,
            &self.tags,
        ]
    }
}

/// Each change's history: the contacts `ids` as they are, before it.
pub(super) async fn history_of(
    tx: &tokio_postgres::Transaction<'_>,
    biller: BillerId,
    ids: &[String],
    action: &str,
    origin: &Origin,
    now: OffsetDateTime,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO contact_history (biller_id, contact_id, at, key_id, source, action, version, account_number, crn, before)
         SELECT biller_id, id, $3, $4, $5, $6, version + 1, account_number, crn, doc FROM contacts
         WHERE biller_id = $1 AND id = ANY($2)",
        &[&biller, &ids, &now, &origin.key_id.as_ref().map(|k| k.as_str()), &origin.source, &action],
    )
    .await?;
    Ok(())
}

/// A CRN, once a contact has one, changes only when cleared first.
pub(super) fn crn_fixed(numbers: &[&str]) -> StoreError {
    StoreError::CrnFixed(numbers.iter().map(|n| n.to_string()).collect())
}

/// Which of `ids` have holds (for `deactivating`, only those active now):
/// `None` when none do. Holds are few: the biller's are read whole.
pub(super) async fn held(
    tx: &tokio_postgres::Transaction<'_>,
    biller: BillerId,
    ids: &[&str],
    deactivating: bool,
) -> StoreResult<Option<HeldContacts>> {
    if ids.is_empty() {
        return Ok(None);
    }
    let holds = tx
        .query(
            "SELECT h.id, h.contact_id, h.kind, h.reference, h.created_at, c.account_number, c.active
             FROM holds h JOIN contacts c ON c.biller_id = h.biller_id AND c.id = h.contact_id
             WHERE h.biller_id = $1 ORDER BY h.created_at, h.id",
            &[&biller],
        )
        .await?;
    if holds.is_empty() {
        return Ok(None);
    }
    let mut by_contact: HashMap<String, (String, bool, Vec<Hold>)> = HashMap::new();
    for r in &holds {
        let hold = to_hold(r)?;
        let entry = by_contact.entry(hold.contact_id.to_string()).or_insert_with(|| (r.get(5), r.get(6), Vec::new()));
        entry.2.push(hold);
    }
    let mut found = HeldContacts { contacts: Vec::new(), total: 0, deactivating };
    for id in ids {
        let Some((number, active, holds)) = by_contact.get(*id) else { continue };
        if deactivating && !active {
            continue;
        }
        found.total += 1;
        if found.contacts.len() < HELD_LISTED {
            found.contacts.push((number.clone(), holds.clone()));
        }
    }
    Ok((found.total > 0).then_some(found))
}

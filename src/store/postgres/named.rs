//! Contacts named by references, many in one statement: for the reads and
//! PATCHes that `turns` groups.

use crate::domain::holds::Hold;
use crate::domain::{Contact, ContactId, ContactRef};
use crate::store::codec::CONTACT_COLUMNS;
use crate::store::postgres::ID_COLLATION;
use crate::store::postgres::contact_rows::{to_contact, to_hold};
use crate::store::postgres::turns::{Queued, share};
use crate::store::{BillerId, StoreResult};
use deadpool_postgres::{GenericClient, Pool};
use std::collections::HashMap;

/// Whether `by` names `contact`.
pub(super) fn names(by: &ContactRef, contact: &Contact) -> bool {
    match by {
        ContactRef::Id(id) => *id == contact.id,
        ContactRef::AccountNumber(a) => a.as_str() == contact.data.account_number.as_str(),
        ContactRef::Alias(kind, alias) => contact.aliases.get(*kind) == Some(alias.as_str()),
    }
}

/// How `named` reads: for a write, the rows are locked in id order (so
/// groups on several servers never deadlock) and each comes with its count
/// of holds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Named {
    Read,
    ForWrite,
}

/// The contacts `refs` name, each with its count of holds (0 for a read):
/// one statement, its three conditions each an index scan.
pub(super) async fn named(
    c: &impl GenericClient,
    biller: BillerId,
    refs: &[&ContactRef],
    how: Named,
) -> StoreResult<Vec<(Contact, i64)>> {
    let (mut ids, mut accounts, mut dialects, mut aliases) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for by in refs {
        match by {
            ContactRef::Id(id) => ids.push(id.as_str()),
            ContactRef::AccountNumber(a) => accounts.push(a.as_str()),
            ContactRef::Alias(kind, alias) => {
                dialects.push(kind.as_str());
                aliases.push(alias.as_str());
            }
        }
    }
    let (holds, lock) = match how {
        Named::Read => ("0::bigint", ""),
        Named::ForWrite => (
            "(SELECT count(*) FROM holds h WHERE h.biller_id = $1 AND h.contact_id = contacts.id)",
            "ORDER BY contacts.id FOR UPDATE OF contacts",
        ),
    };
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {CONTACT_COLUMNS}, {holds}
             FROM contacts
             WHERE contacts.biller_id = $1 AND (contacts.id = ANY($2::text[])
                 OR contacts.account_number = ANY($3::text[])
                 OR contacts.id = ANY(ARRAY(SELECT a.contact_id{ID_COLLATION} FROM contact_aliases a
                     JOIN unnest($4::text[], $5::text[]) AS r (dialect, alias)
                       ON a.dialect = r.dialect AND a.alias = r.alias
                     WHERE a.biller_id = $1)))
             {lock}"
        ))
        .await?;
    c.query(&stmt, &[&biller, &ids, &accounts, &dialects, &aliases])
        .await?
        .iter()
        .map(|r| Ok((to_contact(r)?, r.get(10))))
        .collect()
}

/// The holds of those of `rows` that have any, by contact.
pub(super) async fn holds_of(
    tx: &deadpool_postgres::Transaction<'_>,
    biller: BillerId,
    rows: &[(Contact, i64)],
) -> StoreResult<HashMap<ContactId, Vec<Hold>>> {
    let held: Vec<&str> = rows.iter().filter(|(_, n)| *n > 0).map(|(c, _)| c.id.as_str()).collect();
    let mut by_contact: HashMap<ContactId, Vec<Hold>> = HashMap::new();
    if held.is_empty() {
        return Ok(by_contact);
    }
    let stmt = tx
        .prepare_cached(
            "SELECT id, contact_id, kind, reference, created_at FROM holds
             WHERE biller_id = $1 AND contact_id = ANY($2::text[]) ORDER BY created_at, id",
        )
        .await?;
    for r in tx.query(&stmt, &[&biller, &held]).await? {
        let hold = to_hold(&r)?;
        by_contact.entry(hold.contact_id.clone()).or_default().push(hold);
    }
    Ok(by_contact)
}

/// A turn of reads of one contact each: one statement for all of them.
pub(super) async fn read_turn(
    pool: Pool,
    biller: BillerId,
    queued: Vec<Queued<ContactRef, Option<Contact>>>,
) -> Vec<Queued<ContactRef, Option<Contact>>> {
    let refs: Vec<&ContactRef> = queued.iter().map(|q| &q.request).collect();
    let found = async { named(&pool.get().await?, biller, &refs, Named::Read).await }.await;
    match found {
        Ok(rows) => {
            for q in queued {
                let contact = rows.iter().find(|(c, _)| names(&q.request, c)).map(|(c, _)| c.clone());
                let _ = q.reply.send(Ok(contact));
            }
        }
        Err(e) => {
            for q in queued {
                let _ = q.reply.send(Err(share(&e)));
            }
        }
    }
    Vec::new()
}

//! Group commit for partial updates on PostgreSQL. A PATCH in a transaction
//! of its own spends most of PostgreSQL's time around its one write: the
//! begin, the biller's lock and settings check, the commit and its WAL flush,
//! and a round trip for each. PATCHes of one biller that arrive while its
//! last group runs queue here and go together in the next, on one
//! connection: one statement locks all their contacts, in id order (so the
//! groups of several servers never deadlock), each is decided as if alone,
//! their rewrites are sent at once and committed once. None is answered
//! before the commit that makes it durable.
//!
//! A PATCH naming a contact that another of its group rewrites waits for the
//! next group, so it is decided on what the first wrote. A group writes one
//! new account number or CRN at most (more wait for the next), in a
//! savepoint, so a unique index refusing it fails it alone, and two groups
//! can never each wait for a key the other wrote. PATCHes that issue a CRN
//! take the one-write path: they lock the biller's sequence before any contact.

use crate::domain::history::{Action, Origin};
use crate::domain::{Contact, ContactRef};
use crate::store::postgres::contact_rows::{REWRITE, rewrite};
use crate::store::postgres::contacts::{BillerLock, settings_version};
use crate::store::postgres::named::{Named, holds_of, named, names};
use crate::store::postgres::turns::{Queued, share};
use crate::store::{BillerId, Decide, Refused, StoreError, StoreResult, Updated};
use deadpool_postgres::Pool;
use std::collections::HashSet;
use time::OffsetDateTime;
use tokio::sync::oneshot;

/// PATCHes in one group at most: its transaction and locks stay short.
pub(super) const MAX_GROUP: usize = 256;

/// One partial update, as `SingleContactStore::update_contact` takes it.
pub(super) struct Patch {
    pub by: ContactRef,
    pub settings_version: i64,
    pub origin: Origin,
    pub now: OffsetDateTime,
    pub decide: Decide,
}

pub(super) type Answer = Result<Updated, Refused>;

/// A decided PATCH that writes.
struct Write {
    contact: Contact,
    origin: Origin,
    /// It writes a new account number or CRN, which a unique index may refuse.
    risky: bool,
    reply: oneshot::Sender<StoreResult<Answer>>,
}

/// Runs one group; returns the PATCHes left for the next.
pub(super) async fn patch_turn(
    pool: Pool,
    biller: BillerId,
    group: Vec<Queued<Patch, Answer>>,
) -> Vec<Queued<Patch, Answer>> {
    let mut writes = Vec::new();
    let mut deferred = Vec::new();
    let mut group = Some(group);
    let outcome = apply(&pool, biller, &mut group, &mut writes, &mut deferred).await;
    match outcome {
        Ok(()) => {
            for w in writes {
                let _ = w.reply.send(Ok(Ok(Updated { contact: w.contact, changed: true })));
            }
        }
        Err(e) => {
            let unanswered = group.into_iter().flatten().map(|q| q.reply);
            for reply in writes.into_iter().map(|w| w.reply).chain(unanswered) {
                let _ = reply.send(Err(share(&e)));
            }
        }
    }
    deferred
}

/// Locks, decides and writes the group in one transaction. `group` is taken
/// once its PATCHes are decided; decided ones that write are left in `writes`
/// to be answered when the caller knows how the transaction ended.
async fn apply(
    pool: &Pool,
    biller: BillerId,
    group: &mut Option<Vec<Queued<Patch, Answer>>>,
    writes: &mut Vec<Write>,
    deferred: &mut Vec<Queued<Patch, Answer>>,
) -> StoreResult<()> {
    let started = std::time::Instant::now();
    let mut c = pool.get().await?;
    let tx = c.transaction().await?;
    let refs: Vec<&ContactRef> = group.iter().flatten().map(|q| &q.request.by).collect();
    // Pipelined, in this order: the biller's lock, then its contacts' rows.
    let (current, rows) =
        tokio::join!(settings_version(&tx, biller, BillerLock::Shared), named(&tx, biller, &refs, Named::ForWrite));
    let (current, rows) = (current?, rows?);
    let holds = holds_of(&tx, biller, &rows).await?;
    let empty = Vec::new();
    let mut claimed = HashSet::new();
    let mut keyed = false;
    for q in group.take().into_iter().flatten() {
        // Its caller gone while the rows were locked: not written.
        if q.reply.is_closed() {
            continue;
        }
        if Some(q.request.settings_version) != current {
            let _ = q.reply.send(Err(StoreError::SettingsChanged));
            continue;
        }
        let Some((contact, _)) = rows.iter().find(|(c, _)| names(&q.request.by, c)) else {
            let _ = q.reply.send(Ok(Err(Refused::NotFound)));
            continue;
        };
        if claimed.contains(&contact.id) {
            deferred.push(q);
            continue;
        }
        let held = holds.get(&contact.id).unwrap_or(&empty);
        // A panic in one decision (a bug) fails that PATCH alone.
        let data = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (q.request.decide)(contact, held))) {
            Ok(Ok(data)) => data,
            Ok(Err(refused)) => {
                let _ = q.reply.send(Ok(Err(refused)));
                continue;
            }
            Err(_) => {
                let _ = q.reply.send(Err(StoreError::Backend("the update failed (a fault in deciding it)".into())));
                continue;
            }
        };
        if data == contact.data {
            let _ = q.reply.send(Ok(Ok(Updated { contact: contact.clone(), changed: false })));
            continue;
        }
        // One new unique key (account number, CRN) a group at most: two
        // groups each waiting for a key the other wrote would deadlock. The
        // next turn decides it again.
        let risky = data.account_number != contact.data.account_number || data.crn != contact.data.crn;
        if risky && keyed {
            deferred.push(q);
            continue;
        }
        keyed |= risky;
        let updated = Contact { data, version: contact.version + 1, updated_at: q.request.now, ..contact.clone() };
        claimed.insert(contact.id.clone());
        writes.push(Write { contact: updated, origin: q.request.origin, risky, reply: q.reply });
    }
    // Warmed once, so each rewrite below is sent as soon as it is polled.
    tx.prepare_cached(REWRITE).await?;
    let safe = writes.iter().filter(|w| !w.risky).map(|w| rewrite(&tx, biller, &w.contact, Action::Updated, &w.origin));
    futures_util::future::try_join_all(safe).await?;
    // The one that may meet a taken key, in a savepoint: refused, it fails alone.
    if let Some(i) = writes.iter().position(|w| w.risky) {
        tx.batch_execute("SAVEPOINT keyed").await?;
        match rewrite(&tx, biller, &writes[i].contact, Action::Updated, &writes[i].origin).await {
            Ok(()) => tx.batch_execute("RELEASE keyed").await?,
            Err(e @ StoreError::Conflict(_)) => {
                tx.batch_execute("ROLLBACK TO keyed; RELEASE keyed").await?;
                let _ = writes.remove(i).reply.send(Err(e));
            }
            Err(e) => return Err(e),
        }
    }
    tx.commit().await?;
    tracing::debug!(writes = writes.len(), elapsed = ?started.elapsed(), "PATCH group committed");
    Ok(())
}

//! The shared part of both backends' synchronous bulk write: records
//! encoded before any lock is taken, then planned against what is stored.

use super::{SAMPLE, StoreResult, WriteBatch, WriteOutcome, codec};
use crate::domain::sync::{self, Action, Existing, Plan};
use std::collections::HashMap;

/// A bulk write ready to apply: the shared part of both backends' write path.
pub(super) struct Prepared {
    pub(super) plan: Plan,
    pub(super) rows: Vec<codec::Encoded>,
    pub(super) outcome: WriteOutcome,
}

/// Encodes every record: CPU work, done before any lock is taken.
pub(super) fn encode_all(batch: &WriteBatch) -> StoreResult<Vec<codec::Encoded>> {
    batch.records.iter().map(codec::encode).collect()
}

/// Plans the encoded batch against `existing` (all of the biller's
/// contacts for a replace, the incoming account numbers for an add), and
/// applies the replace guard.
pub(super) fn prepare(
    batch: &WriteBatch,
    rows: Vec<codec::Encoded>,
    existing: &HashMap<String, Existing>,
    existing_total: u64,
) -> StoreResult<Prepared> {
    let keys: Vec<sync::Incoming> = batch
        .records
        .iter()
        .zip(&rows)
        .map(|(r, e)| (r.account_number.as_str(), e.fingerprint, r.crn.as_deref()))
        .collect();
    let plan = sync::plan(&keys, existing, batch.mode);
    let counts = plan.counts();
    // A dry run reports what the guard would say instead of stopping at it.
    let refused = match batch.guard.map(|g| g.check(counts.removed, existing_total)) {
        Some(Err(refusal)) if !batch.dry_run => return Err(refusal.into()),
        Some(Err(refusal)) => Some(refusal),
        _ => None,
    };
    let mut outcome = WriteOutcome { counts, refused, ..WriteOutcome::default() };
    for (record, action) in batch.records.iter().zip(&plan.actions) {
        let list = match action {
            Action::Create => &mut outcome.created,
            Action::Update { .. } => &mut outcome.updated,
            Action::Unchanged => &mut outcome.unchanged,
        };
        if list.len() < SAMPLE {
            list.push(record.account_number.as_str().to_owned());
        }
    }
    outcome.removed = plan.removals.iter().take(SAMPLE).map(|(_, a)| a.clone()).collect();
    Ok(Prepared { plan, rows, outcome })
}

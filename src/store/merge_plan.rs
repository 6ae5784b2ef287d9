//! The arithmetic of a job merge both backends share: its join's counts,
//! the plan they make, and the guard and dry-run decision on it.

use super::{ApplyJob, StoreError, StoreResult};
use crate::domain::job::JobCounts;
use crate::domain::sync::WriteMode;

/// After the merge drops the keys invalid records claimed (`dropped` rows):
/// they too must all have been there, or a lost one let a later use of its
/// number pass as a first use.
pub(super) fn check_key_rows(apply: &ApplyJob, dropped: u64) -> StoreResult<()> {
    let valid = apply.counts.total.saturating_sub(apply.counts.failed);
    if dropped != apply.staged.saturating_sub(valid) {
        return Err(StoreError::StagingLost);
    }
    Ok(())
}

/// One pass of a job merge's join: an add's goes over its staged numbers,
/// each looking up a contact; a replace's over the biller's contacts, each
/// looking up a staged number (it cannot see the new ones, so `staged` says
/// how many there are in all).
#[derive(Debug, Clone, Copy)]
pub(super) struct JoinPass {
    pub(super) rows: u64,
    /// Rows whose staged number and contact are the same.
    pub(super) unchanged: u64,
    /// Rows with nothing on the other side: new numbers in an add, contacts
    /// to remove in a replace.
    pub(super) unmatched: u64,
    pub(super) staged: u64,
}

/// What a job's merge will do, from its join's pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MergePlan {
    pub(super) created: u64,
    pub(super) updated: u64,
    pub(super) unchanged: u64,
    pub(super) removed: u64,
    /// The biller's contacts before a replace (its guard weighs removals against them).
    pub(super) existing: u64,
}

impl MergePlan {
    /// Numbers are unique in staging and in contacts, so a matched row is one
    /// staged number and one contact; counts that say otherwise are corruption.
    pub(super) fn of(mode: WriteMode, pass: JoinPass) -> StoreResult<Self> {
        let corrupt = || StoreError::Corrupt(format!("a job merge's join found {pass:?}"));
        let matched = pass.rows.checked_sub(pass.unmatched).ok_or_else(corrupt)?;
        let updated = matched.checked_sub(pass.unchanged).ok_or_else(corrupt)?;
        Ok(match mode {
            WriteMode::Add => {
                Self { created: pass.unmatched, updated, unchanged: pass.unchanged, removed: 0, existing: 0 }
            }
            WriteMode::Replace => Self {
                created: pass.staged.checked_sub(matched).ok_or_else(corrupt)?,
                updated,
                unchanged: pass.unchanged,
                removed: pass.unmatched,
                existing: pass.rows,
            },
        })
    }

    pub(super) fn counts(&self, of: JobCounts) -> JobCounts {
        JobCounts {
            created: self.created,
            updated: self.updated,
            unchanged: self.unchanged,
            removed: self.removed,
            ..of
        }
    }
}

/// The guard and dry-run decision of a job merge, once the counts are known:
/// `Some` ends the merge here (a dry run, with what the guard would say),
/// `None` lets it write; a guard refusal of a real run is an error.
pub(super) fn judge(
    apply: &ApplyJob,
    counts: JobCounts,
    existing: u64,
) -> StoreResult<Option<(JobCounts, Option<String>)>> {
    // Staging need not be durable (any re-run redoes it), so check it is all
    // there: every valid record is staged exactly once.
    if counts.created + counts.updated + counts.unchanged != apply.counts.total.saturating_sub(apply.counts.failed) {
        return Err(StoreError::StagingLost);
    }
    let refusal = match &apply.guard {
        Some(guard) => guard.check(counts.removed, existing).err(),
        None => None,
    };
    match (refusal, apply.dry_run) {
        (Some(r), false) => Err(r.into()),
        (refusal, true) => Ok(Some((counts, refusal.map(|r| r.to_string())))),
        (None, false) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_merge_plan_counts_each_side_of_the_join() {
        use super::{JoinPass, MergePlan, StoreError};
        use crate::domain::sync::WriteMode;
        // Replace 1,000 contacts with 950 numbers: 100 changed, 850 the same, 50 gone, 0 new.
        let pass = JoinPass { rows: 1_000, unchanged: 850, unmatched: 50, staged: 950 };
        let plan = MergePlan { created: 0, updated: 100, unchanged: 850, removed: 50, existing: 1_000 };
        assert_eq!(MergePlan::of(WriteMode::Replace, pass).unwrap(), plan);
        // Add 10 numbers, 3 of them new and 5 the same.
        let pass = JoinPass { rows: 10, unchanged: 5, unmatched: 3, staged: 10 };
        let plan = MergePlan { created: 3, updated: 2, unchanged: 5, removed: 0, existing: 0 };
        assert_eq!(MergePlan::of(WriteMode::Add, pass).unwrap(), plan);
        // More matches than staged numbers cannot happen with unique numbers: refused, not wrapped.
        for (mode, pass) in [
            (WriteMode::Replace, JoinPass { rows: 10, unchanged: 2, unmatched: 1, staged: 5 }),
            (WriteMode::Add, JoinPass { rows: 10, unchanged: 8, unmatched: 3, staged: 10 }),
        ] {
            assert!(matches!(MergePlan::of(mode, pass), Err(StoreError::Corrupt(_))));
        }
    }
}

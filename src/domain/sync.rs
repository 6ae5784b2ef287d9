//! Planning a bulk write: given what a biller has and what a request brings,
//! decide what is created, updated, left alone and (for replace) removed.
//! Both stores call this inside their write transaction, so the decision is
//! made once, the same way, against a consistent view.

use crate::domain::ids::ContactId;
use std::collections::{HashMap, HashSet};

/// The largest count of contacts anything names (`confirm_removals`): the
/// stores keep counts as signed 64-bit integers.
pub const MAX_COUNT: u64 = i64::MAX as u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Upsert by account number.
    Add,
    /// Afterwards the biller holds exactly the supplied set.
    Replace,
}

/// What a store knows of an existing contact: its id and a fingerprint of its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub id: ContactId,
    pub fingerprint: i64,
    pub version: i64,
    pub crn: Option<String>,
}

/// One incoming record as the plan sees it: its number, its document's
/// fingerprint, and the CRN it names (kept outside the document: a record
/// that names none leaves the contact's as it is).
pub type Incoming<'a> = (&'a str, i64, Option<&'a str>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create,
    Update { id: ContactId, version: i64 },
    Unchanged,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// One action per incoming record, in request order.
    pub actions: Vec<Action>,
    /// Existing contacts absent from a replace: (id, account number).
    pub removals: Vec<(ContactId, String)>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub removed: u64,
}

impl Plan {
    pub fn counts(&self) -> Counts {
        let mut c = Counts { removed: self.removals.len() as u64, ..Counts::default() };
        for a in &self.actions {
            match a {
                Action::Create => c.created += 1,
                Action::Update { .. } => c.updated += 1,
                Action::Unchanged => c.unchanged += 1,
            }
        }
        c
    }
}

/// `incoming` is (account number, fingerprint) per record; account numbers are
/// unique (the validator rejects duplicates). For `Add`, `existing` need only
/// hold the incoming account numbers; for `Replace` it must hold them all.
pub fn plan(incoming: &[Incoming], existing: &HashMap<String, Existing>, mode: WriteMode) -> Plan {
    let actions = incoming
        .iter()
        .map(|(acct, fp, crn)| match existing.get(*acct) {
            None => Action::Create,
            Some(e) if e.fingerprint == *fp && crn.is_none_or(|c| e.crn.as_deref() == Some(c)) => Action::Unchanged,
            Some(e) => Action::Update { id: e.id.clone(), version: e.version },
        })
        .collect();
    let removals = match mode {
        WriteMode::Add => Vec::new(),
        WriteMode::Replace => {
            let keep: HashSet<&str> = incoming.iter().map(|(a, ..)| *a).collect();
            let mut r: Vec<(ContactId, String)> = existing
                .iter()
                .filter(|(acct, _)| !keep.contains(acct.as_str()))
                .map(|(acct, e)| (e.id.clone(), acct.clone()))
                .collect();
            r.sort_by(|a, b| a.1.cmp(&b.1));
            r
        }
    };
    Plan { actions, removals }
}

/// The replace guard: refuse to remove more than `max_share` of `existing_total`
/// contacts unless the caller confirms the exact number that would go.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RemovalGuard {
    pub max_share: f64,
    pub confirm_removals: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemovalRefused {
    #[error(
        "this replace would remove {would_remove} of {existing} contacts, more than the allowed {allowed}; repeat it with confirm_removals={would_remove} to proceed"
    )]
    OverLimit { would_remove: u64, existing: u64, allowed: u64 },
    #[error("confirm_removals={confirmed} but this replace would remove {would_remove} contacts; nothing was changed")]
    Mismatch { would_remove: u64, confirmed: u64 },
}

impl RemovalRefused {
    pub fn would_remove(&self) -> u64 {
        match self {
            Self::OverLimit { would_remove, .. } | Self::Mismatch { would_remove, .. } => *would_remove,
        }
    }
}

impl RemovalGuard {
    /// A stated `confirm_removals` must match exactly, whatever the share: a
    /// client whose expectation is wrong is stopped.
    pub fn check(&self, would_remove: u64, existing: u64) -> Result<(), RemovalRefused> {
        let allowed = (self.max_share * existing as f64).floor() as u64;
        match self.confirm_removals {
            Some(confirmed) if confirmed != would_remove => Err(RemovalRefused::Mismatch { would_remove, confirmed }),
            Some(_) => Ok(()),
            None if would_remove > allowed => Err(RemovalRefused::OverLimit { would_remove, existing, allowed }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn existing(entries: &[(&str, i64)]) -> HashMap<String, Existing> {
        let mut rng = rand::thread_rng();
        entries
            .iter()
            .map(|(a, fp)| {
                let id = ContactId::generate(&mut rng);
                (a.to_string(), Existing { id, fingerprint: *fp, version: 1, crn: Some(format!("{a}9")) })
            })
            .collect()
    }

    #[test]
    fn add_creates_updates_and_leaves_unchanged() {
        let ex = existing(&[("1", 10), ("2", 20), ("9", 90)]);
        let p = plan(&[("1", 10, None), ("2", 21, None), ("3", 30, None)], &ex, WriteMode::Add);
        assert_eq!(p.counts(), Counts { created: 1, updated: 1, unchanged: 1, removed: 0 });
        assert!(matches!(p.actions[1], Action::Update { .. }));
        // A CRN named is compared; one not named leaves the stored one.
        let p = plan(&[("1", 10, Some("19")), ("9", 90, Some("98"))], &ex, WriteMode::Add);
        assert_eq!(p.counts(), Counts { created: 0, updated: 1, unchanged: 1, removed: 0 });
    }

    #[test]
    fn replace_removes_what_is_missing() {
        let ex = existing(&[("1", 10), ("2", 20), ("9", 90), ("8", 80)]);
        let p = plan(&[("1", 10, None), ("3", 30, None)], &ex, WriteMode::Replace);
        assert_eq!(p.counts(), Counts { created: 1, updated: 0, unchanged: 1, removed: 3 });
        let gone: Vec<&str> = p.removals.iter().map(|(_, a)| a.as_str()).collect();
        assert_eq!(gone, ["2", "8", "9"]);
    }

    #[test]
    fn guard_refuses_large_removals_unless_confirmed_exactly() {
        let g = RemovalGuard { max_share: 0.25, confirm_removals: None };
        assert!(g.check(25, 100).is_ok());
        assert_eq!(g.check(26, 100), Err(RemovalRefused::OverLimit { would_remove: 26, existing: 100, allowed: 25 }));
        assert!(RemovalGuard { confirm_removals: Some(26), ..g }.check(26, 100).is_ok());
        assert!(RemovalGuard { confirm_removals: Some(27), ..g }.check(26, 100).is_err());
        assert!(g.check(0, 0).is_ok());
        let stated = RemovalGuard { confirm_removals: Some(3), ..g };
        assert_eq!(stated.check(2, 100), Err(RemovalRefused::Mismatch { would_remove: 2, confirmed: 3 }));
    }
}

//! How a contact is addressed and how lists are filtered: produced by every
//! API, compiled to SQL by every store.

use crate::domain::alias::AliasKind;
use crate::domain::ids::ContactId;
use time::OffsetDateTime;

/// A contact named by its id, by its account number (`acct:NUMBER` on the
/// wire), or by an alias a dialect's clients know it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactRef {
    Id(ContactId),
    AccountNumber(String),
    Alias(AliasKind, String),
}

pub const MAX_PAGE_SIZE: usize = 1000;
pub const DEFAULT_PAGE_SIZE: usize = 100;
pub const MAX_QUERY_LENGTH: usize = 100;

/// Which contacts a list shows: every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactFilter {
    pub active: Option<bool>,
    pub contact_type: Option<String>,
    /// Case-insensitive substring of the name or the account number.
    pub q: Option<String>,
    /// Case-insensitive prefix of the name.
    pub name: Option<String>,
    /// The email, compared case-insensitively.
    pub email: Option<String>,
    /// Any of the contact's numbers, as sent or in E.164 (a query in
    /// international form also matches by its E.164).
    pub phone: Option<String>,
    pub reference_id: Option<String>,
    pub external_id: Option<String>,
    /// A tag id the contact carries.
    pub tag: Option<String>,
    pub created: TimeRange,
    pub updated: TimeRange,
}

/// A half-open window `[after, before)`: consecutive windows never overlap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// At or after.
    pub after: Option<OffsetDateTime>,
    /// Strictly before.
    pub before: Option<OffsetDateTime>,
}

/// Keyset pagination over account numbers: a page starts after `after`.
/// A walk sees every contact that exists throughout it, and keeps its
/// account number, exactly once, whatever is written meanwhile (a contact
/// moved to another number may be seen at both, or at neither).
///
/// `skip` passes over that many contacts first, for dialects whose clients
/// ask for page N: the database walks the index to it (no contact is read
/// into the server), so a deep page costs more than a keyset one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub after: Option<String>,
    pub limit: usize,
    pub skip: u64,
}

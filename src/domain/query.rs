//! How a contact is addressed and how lists are filtered: produced by every
//! API, compiled to SQL by every store.

use crate::domain::ids::ContactId;
use time::OffsetDateTime;

/// A contact named by its id or by its account number (`acct:NUMBER` on the wire).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactRef {
    Id(ContactId),
    AccountNumber(String),
}

pub const MAX_PAGE_SIZE: usize = 1000;
pub const DEFAULT_PAGE_SIZE: usize = 100;
pub const MAX_QUERY_LENGTH: usize = 100;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactFilter {
    pub active: Option<bool>,
    pub contact_type: Option<String>,
    pub updated_since: Option<OffsetDateTime>,
    /// Case-insensitive substring of the name or the account number.
    pub q: Option<String>,
}

/// Keyset pagination over account numbers: a page starts after `after`.
/// Account numbers never change, so a walk sees every contact that exists
/// throughout it exactly once, whatever is written meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub after: Option<String>,
    pub limit: usize,
}

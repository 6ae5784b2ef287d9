//! A contact's history: every change, when, by which key, through what
//! (a route, a job), with the contact before and after it.

use crate::domain::contact::ContactData;
use crate::domain::ids::{ContactId, KeyId};
use time::OffsetDateTime;

/// How long history is kept unless configured otherwise.
pub const DEFAULT_RETENTION_DAYS: u32 = 400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Created,
    Updated,
    Deleted,
    HoldPlaced,
    HoldReleased,
}

impl Action {
    pub const ALL: [Action; 5] = [Self::Created, Self::Updated, Self::Deleted, Self::HoldPlaced, Self::HoldReleased];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
            Self::HoldPlaced => "hold_placed",
            Self::HoldReleased => "hold_released",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// Who made a change and through what: every write carries one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The API key, when a key made it (not the CLI or the inbox).
    pub key_id: Option<KeyId>,
    /// The route (`PATCH /v1/billers/{code}/contacts/{ref}`), or a job (`job job_…`).
    pub source: String,
}

impl Origin {
    pub fn new(key_id: Option<KeyId>, source: impl Into<String>) -> Self {
        Self { key_id, source: source.into() }
    }
}

/// One change to one contact, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Its position: entries are newest first by it.
    pub seq: i64,
    pub contact_id: ContactId,
    pub at: OffsetDateTime,
    pub origin: Origin,
    pub action: Action,
    /// The contact's version after the change.
    pub version: i64,
    /// The contact before and after (none before a creation, none after a deletion).
    pub before: Option<ContactData>,
    pub after: Option<ContactData>,
    /// A hold placed or released: its id, kind and reference.
    pub hold: Option<(String, String, Option<String>)>,
}

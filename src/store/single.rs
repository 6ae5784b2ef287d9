//! The store's side of one contact at a time: partial updates and deletes
//! decided inside their transaction, CRNs, the tag catalogue, holds, and
//! every change's history.

use crate::domain::history::{Action, Origin};
use crate::domain::holds::Hold;
use crate::domain::{
    AliasKind, Contact, ContactData, ContactId, ContactRef, ErrorCode, FieldError, HoldId, KeyId, TagId,
};
use crate::store::{BillerId, StoreResult};
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use time::OffsetDateTime;

/// Why a write to one contact was not made; nothing changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    NotFound,
    /// `If-Match` named another version than the contact's.
    VersionMismatch {
        current: i64,
    },
    /// The contact after the change would not be valid.
    Invalid(Vec<FieldError>),
    /// The contact's holds forbid it (deactivating, deleting).
    Held(Vec<Hold>),
    /// It would change the CRN the contact was issued (what it says).
    CrnFixed(String),
}

/// What a partial update becomes once it sees the stored contact and its
/// holds, inside the write's transaction: new data, or the same data (nothing
/// is written, the version stays). A store may decide it again, on the
/// contact as it is then, should it put the write off (see PostgreSQL's
/// `patch_group`).
pub type Decide = Box<dyn Fn(&Contact, &[Hold]) -> Result<ContactData, Refused> + Send>;

/// Makes a CRN from a contact and a sequence number, or says why it cannot.
pub type CrnRule = dyn Fn(&Contact, i64) -> Result<String, String> + Send + Sync;

/// Makes a CRN for a contact that has none, from it and a number of the
/// biller's sequence; `Err` says why it cannot.
pub struct MakeCrn {
    pub make: Box<CrnRule>,
    /// Whether the CRN comes from the sequence: one another contact has
    /// already is then skipped (its number is used up), where one made from
    /// the contact itself is a conflict.
    pub from_sequence: bool,
}

/// Sequence numbers an issue skips at most, past CRNs taken, before it gives up.
pub const MAX_CRN_SKIPS: i64 = 1000;

impl MakeCrn {
    /// The CRNs to try in turn, each with the sequence number it uses up:
    /// the first one free is the contact's; none free is a conflict.
    pub fn candidates<'a>(
        &'a self,
        contact: &'a Contact,
        sequence: i64,
    ) -> impl Iterator<Item = Result<(String, i64), Refused>> + 'a {
        let tries = if self.from_sequence { MAX_CRN_SKIPS } else { 1 };
        (sequence..sequence + tries).map(move |n| {
            (self.make)(contact, n)
                .map(|crn| (crn, if self.from_sequence { n + 1 } else { sequence }))
                .map_err(|why| Refused::Invalid(vec![FieldError::new("crn", ErrorCode::InvalidValue, why)]))
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Updated {
    pub contact: Contact,
    /// False when the update changed nothing (no version was spent).
    pub changed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrnIssued {
    pub contact: Contact,
    /// False when the contact already had one (returned as it is).
    pub issued: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub id: TagId,
    pub name: String,
    pub created_at: OffsetDateTime,
}

/// How deleting a tag ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagDeleted {
    NotFound,
    /// Contacts carry it and `detach` was not asked for: how many.
    InUse(u64),
    /// Deleted, after taking it off this many contacts.
    Deleted(u64),
}

/// Where a read of history rows starts, and which way it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryFrom {
    /// Newest first, from this seq (inclusive) down.
    AtOrBelow(i64),
    /// Oldest first, from this seq (inclusive) up.
    AtOrAbove(i64),
}

impl HistoryFrom {
    /// The condition on `seq` (its one argument `{}`) and the order.
    pub fn sql(self, arg: &str) -> (String, &'static str, i64) {
        match self {
            Self::AtOrBelow(s) => (format!("seq <= {arg}"), "seq DESC", s),
            Self::AtOrAbove(s) => (format!("seq >= {arg}"), "seq ASC", s),
        }
    }
}

/// One stored history row: the contact as it was before the change (for a
/// hold, as it was then: a hold changes no field).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    pub seq: i64,
    pub at: OffsetDateTime,
    pub key_id: Option<KeyId>,
    pub source: String,
    pub action: Action,
    pub version: i64,
    pub before: Option<ContactData>,
    /// A hold's (id, kind, reference), for hold rows.
    pub hold: Option<(String, String, Option<String>)>,
}

#[async_trait]
pub trait SingleContactStore {
    /// Creates one contact validated against `settings_version`, with its
    /// history; `Conflict` when the account number (or CRN) is taken.
    /// With `crn`, a contact without one is given one in the same
    /// transaction (as `issue_crn` would): a refused CRN creates nothing.
    /// Returns the contact as stored.
    async fn create_contact(
        &self,
        biller: BillerId,
        settings_version: i64,
        contact: &Contact,
        origin: &Origin,
        crn: Option<MakeCrn>,
    ) -> StoreResult<Result<Contact, Refused>>;
    /// Reads the contact and its holds, asks `decide` what it becomes, and
    /// writes that with its history and a new version, all in one
    /// transaction (so concurrent updates of one contact never lose one).
    /// `Conflict` when the new account number or CRN is another contact's.
    /// With `crn`, a contact left without one is given one in the same
    /// transaction: a refused CRN changes nothing.
    #[allow(clippy::too_many_arguments)]
    async fn update_contact(
        &self,
        biller: BillerId,
        by: &ContactRef,
        settings_version: i64,
        origin: &Origin,
        now: OffsetDateTime,
        decide: Decide,
        crn: Option<MakeCrn>,
    ) -> StoreResult<Result<Updated, Refused>>;
    /// Deletes a contact without holds, if its version is `expected` (when
    /// given), keeping its last state in its history.
    async fn delete_contact(
        &self,
        biller: BillerId,
        by: &ContactRef,
        expected: Option<i64>,
        origin: &Origin,
        now: OffsetDateTime,
    ) -> StoreResult<Result<(), Refused>>;
    /// Gives a contact without a CRN the one `make` makes (from the biller's
    /// sequence, which moves on), or returns its own.
    async fn issue_crn(
        &self,
        biller: BillerId,
        by: &ContactRef,
        origin: &Origin,
        now: OffsetDateTime,
        make: MakeCrn,
    ) -> StoreResult<Result<CrnIssued, Refused>>;
}

#[async_trait]
pub trait CatalogueStore {
    async fn tags(&self, biller: BillerId) -> StoreResult<Vec<Tag>>;
    /// Which of `ids` are the biller's tags.
    async fn known_tags(&self, biller: BillerId, ids: &[String]) -> StoreResult<HashSet<String>>;
    /// `Conflict` when the name is taken.
    async fn create_tag(&self, biller: BillerId, tag: &Tag) -> StoreResult<()>;
    /// Refuses while contacts carry the tag, unless `detach`: then takes it
    /// off them (each a new version with its history) first. Moves the
    /// biller's settings version on, so a write validated with the tag
    /// before cannot land after.
    async fn delete_tag(
        &self,
        biller: BillerId,
        id: &TagId,
        detach: bool,
        origin: &Origin,
        now: OffsetDateTime,
    ) -> StoreResult<TagDeleted>;
    async fn holds(&self, biller: BillerId, contact: &ContactId) -> StoreResult<Vec<Hold>>;
    /// Places a hold on an existing contact, with its history; `false` when
    /// there is no such contact.
    async fn place_hold(&self, biller: BillerId, hold: &Hold, origin: &Origin) -> StoreResult<bool>;
    /// `false` when the contact has no such hold.
    async fn release_hold(
        &self,
        biller: BillerId,
        contact: &ContactId,
        hold: &HoldId,
        origin: &Origin,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
}

#[async_trait]
pub trait HistoryStore {
    /// A contact's history rows from a seq on, at most `limit`.
    async fn history(
        &self,
        biller: BillerId,
        contact: &ContactId,
        from: HistoryFrom,
        limit: usize,
    ) -> StoreResult<Vec<HistoryRow>>;
    /// Removes history older than `before`; returns the rows removed.
    async fn purge_history(&self, before: OffsetDateTime) -> StoreResult<u64>;
}

/// The ids dialects know contacts by. Every alias issued is kept, even after
/// its contact is deleted, so none is ever reused.
#[async_trait]
pub trait AliasStore {
    /// Gives each contact of `ids` that has no alias of `kind` one, made
    /// from the biller's count (a few statements however many), and returns
    /// the aliases of `kind` that `ids` have (a deleted contact has none).
    async fn issue_aliases(
        &self,
        biller: BillerId,
        kind: AliasKind,
        ids: &[ContactId],
        now: OffsetDateTime,
    ) -> StoreResult<HashMap<ContactId, String>>;
    /// Gives a contact without an alias of `kind` the one given (carried over
    /// from the provider its clients used); `false` when there is no such
    /// contact, `Conflict` when the alias was ever issued or the contact has one.
    async fn add_alias(
        &self,
        biller: BillerId,
        kind: AliasKind,
        id: &ContactId,
        alias: &str,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
}

/// The aliases of `kind` numbered `first..` for `ids`, as `[[alias, id], ...]`.
pub fn numbered_aliases(kind: AliasKind, first: i64, ids: &[String], now: OffsetDateTime) -> Vec<(String, String)> {
    ids.iter().zip(first..).map(|(id, n)| (kind.make(n as u64, now), id.clone())).collect()
}

/// Times an issue goes round again for contacts whose new alias was one
/// already taken (carried over from a provider) before it gives up.
pub const ALIAS_ROUNDS: usize = 4;

use crate::domain::BatchErrors;
use crate::domain::sync::RemovalRefused;
use crate::store::{Scope, StoreError};
use std::time::Duration;

/// Why a request could not be authenticated; each has its own code on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    MissingCredentials,
    MalformedToken,
    UnknownToken,
    ExpiredToken,
    RevokedKey,
    BadCredentials,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Biller,
    Contact,
    Key,
    Job,
    Snapshot,
    Tag,
    Hold,
    SettingsVersion,
}

impl Resource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Biller => "biller",
            Self::Contact => "contact",
            Self::Key => "key",
            Self::Job => "job",
            Self::Snapshot => "snapshot",
            Self::Tag => "tag",
            Self::Hold => "hold",
            Self::SettingsVersion => "settings version",
        }
    }
}

/// What a contact's holds stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldWrite {
    Deactivate,
    Delete,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("authentication failed: {0:?}")]
    Unauthenticated(AuthFailure),
    #[error("too many failed attempts; retry after {0:?}")]
    Throttled(Duration),
    #[error("this key lacks the {} scope", .0.as_str())]
    Forbidden(Scope),
    #[error("{} not found", .0.as_str())]
    NotFound(Resource),
    #[error("{} problems in the records", .errors.total())]
    Invalid { errors: BatchErrors, records: usize },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    TooManyRecords(String),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{0}")]
    LimitReached(String),
    #[error(transparent)]
    RemovalRefused(RemovalRefused),
    #[error("settings are invalid: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    InvalidSettings(Vec<crate::domain::SettingsError>),
    #[error("the job has already ended ({0})")]
    JobFinished(crate::domain::job::JobStatus),
    #[error("the biller's field settings changed during this request; send it again")]
    SettingsChanged,
    #[error("the database is busy; retry shortly")]
    Unavailable,
    /// `If-Match` named another version.
    #[error("the contact is at version {current}, not the one If-Match names")]
    PreconditionFailed { current: i64 },
    /// The biller requires `If-Match` on this write.
    #[error("this biller requires If-Match on this write")]
    PreconditionRequired,
    /// A bulk write would remove or deactivate contacts with holds.
    #[error(transparent)]
    Held(HeldError),
    /// One contact's holds stop this write.
    #[error("the contact has holds: {}; it cannot be {}", crate::domain::holds::describe(.holds), match .write { HeldWrite::Deactivate => "deactivated", HeldWrite::Delete => "deleted" })]
    ContactHeld { write: HeldWrite, holds: Vec<crate::domain::holds::Hold> },
    /// A settings change would leave stored contacts invalid.
    #[error("{0}")]
    SettingsWouldInvalidate(SettingsImpact),
    /// A write names another CRN for a contact that has one.
    #[error("{0}")]
    CrnFixed(String),
    /// Contacts carry the tag (how many).
    #[error("{0} contacts carry this tag; delete it with detach=true to take it off them")]
    TagInUse(u64),
    #[error("internal error: {0}")]
    Internal(String),
}

/// The store's refusal of a bulk write over held contacts.
#[derive(Debug, thiserror::Error)]
#[error("{}", crate::store::describe_held(.0))]
pub struct HeldError(pub crate::store::HeldContacts);

/// What a settings change would do to the biller's stored contacts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SettingsImpact {
    /// Contacts checked (all of the biller's).
    pub contacts: u64,
    /// Of those, contacts the new settings would find invalid.
    pub invalid: u64,
    /// The problems found, by field and code, with how many contacts each.
    pub problems: Vec<(String, String, u64)>,
}

impl std::fmt::Display for SettingsImpact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the new settings would make {} of the biller's {} contacts invalid; send it again with confirm=true to apply it anyway (dry_run=true reports without changing anything)",
            self.invalid, self.contacts
        )
    }
}

impl ServiceError {
    /// Whether an operator must act on this error; the rest are the
    /// client's to fix, or pass by themselves.
    pub fn needs_operator(&self) -> bool {
        match self {
            Self::Internal(_) => true,
            Self::PreconditionFailed { .. }
            | Self::PreconditionRequired
            | Self::Held(_)
            | Self::ContactHeld { .. }
            | Self::SettingsWouldInvalidate(_)
            | Self::TagInUse(_)
            | Self::CrnFixed(_)
            | Self::Unauthenticated(_)
            | Self::Throttled(_)
            | Self::Forbidden(_)
            | Self::NotFound(_)
            | Self::Invalid { .. }
            | Self::BadRequest(_)
            | Self::TooManyRecords(_)
            | Self::Conflict(_)
            | Self::LimitReached(_)
            | Self::RemovalRefused(_)
            | Self::InvalidSettings(_)
            | Self::JobFinished(_)
            | Self::SettingsChanged
            | Self::Unavailable => false,
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => ServiceError::Conflict(what),
            StoreError::LimitReached(what) => ServiceError::LimitReached(what),
            StoreError::RemovalRefused(r) => ServiceError::RemovalRefused(r),
            StoreError::SettingsChanged => ServiceError::SettingsChanged,
            StoreError::Busy => ServiceError::Unavailable,
            StoreError::Held(h) => ServiceError::Held(HeldError(h)),
            e @ StoreError::CrnFixed(_) => ServiceError::CrnFixed(e.to_string()),
            e @ StoreError::UploadAbandoned => ServiceError::BadRequest(e.to_string()),
            e @ (StoreError::UnsupportedUrl(_)
            | StoreError::Corrupt(_)
            | StoreError::Backend(_)
            | StoreError::StagingLost
            | StoreError::StaleHints) => ServiceError::Internal(e.to_string()),
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

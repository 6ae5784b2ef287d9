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
}

impl Resource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Biller => "biller",
            Self::Contact => "contact",
            Self::Key => "key",
            Self::Job => "job",
            Self::Snapshot => "snapshot",
        }
    }
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
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    /// Whether an operator must act on this error; the rest are the
    /// client's to fix, or pass by themselves.
    pub fn needs_operator(&self) -> bool {
        match self {
            Self::Internal(_) => true,
            Self::Unauthenticated(_)
            | Self::Throttled(_)
            | Self::Forbidden(_)
            | Self::NotFound(_)
            | Self::Invalid { .. }
            | Self::BadRequest(_)
            | Self::TooManyRecords(_)
            | Self::Conflict(_)
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
            StoreError::RemovalRefused(r) => ServiceError::RemovalRefused(r),
            StoreError::SettingsChanged => ServiceError::SettingsChanged,
            StoreError::Busy => ServiceError::Unavailable,
            e @ StoreError::UploadAbandoned => ServiceError::BadRequest(e.to_string()),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

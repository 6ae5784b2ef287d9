//! Stable error codes shared by every write path; clients match on these.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    MissingRequired,
    WrongType,
    InvalidLength,
    InvalidCharacters,
    InvalidFormat,
    InvalidValue,
    UnknownField,
    IdMismatch,
    TooMany,
    DuplicateAccountNumber,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingRequired => "missing_required",
            Self::WrongType => "wrong_type",
            Self::InvalidLength => "invalid_length",
            Self::InvalidCharacters => "invalid_characters",
            Self::InvalidFormat => "invalid_format",
            Self::InvalidValue => "invalid_value",
            Self::UnknownField => "unknown_field",
            Self::IdMismatch => "id_mismatch",
            Self::TooMany => "too_many",
            Self::DuplicateAccountNumber => "duplicate_account_number",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem with one field of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the field as the client sent it, e.g. `fields.contact-id-1`.
    pub field: String,
    pub code: ErrorCode,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

/// A field error located in a batch: which record, and its account number if it had one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub index: usize,
    pub account_number: Option<String>,
    pub error: FieldError,
}

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
    /// A field only the server sets.
    ReadOnly,
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
            Self::ReadOnly => "read_only",
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
        Self { field: field.into(), code, message: message.into() }
    }
}

/// A field error located in a batch: which record, and its account number if it had one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub index: usize,
    pub account_number: Option<String>,
    pub error: FieldError,
}

/// At most this many record errors are kept and reported; the rest are counted.
pub const MAX_REPORTED_ERRORS: usize = 1000;

/// The errors of a batch, bounded: the first `MAX_REPORTED_ERRORS` by record
/// position, the total, and how many records had any. A hostile request can
/// make many errors; it cannot make them cost unbounded memory.
#[derive(Debug, Clone, Default)]
pub struct BatchErrors {
    listed: Vec<RecordError>,
    total: usize,
    bad_records: std::collections::HashSet<usize>,
}

impl BatchErrors {
    pub fn push(&mut self, e: RecordError) {
        self.total += 1;
        self.bad_records.insert(e.index);
        self.listed.push(e);
        if self.listed.len() >= 2 * MAX_REPORTED_ERRORS {
            self.trim();
        }
    }

    pub fn merge(&mut self, other: BatchErrors) {
        self.total += other.total;
        self.bad_records.extend(other.bad_records);
        for e in other.listed {
            self.listed.push(e);
            if self.listed.len() >= 2 * MAX_REPORTED_ERRORS {
                self.trim();
            }
        }
    }

    fn trim(&mut self) {
        // Stable: a record's errors keep their order.
        self.listed.sort_by_key(|e| e.index);
        self.listed.truncate(MAX_REPORTED_ERRORS);
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    pub fn has(&self, index: usize) -> bool {
        self.bad_records.contains(&index)
    }

    pub fn total(&self) -> usize {
        self.total
    }

    pub fn records_with_errors(&self) -> usize {
        self.bad_records.len()
    }

    /// The reported errors, in record order.
    pub fn into_listed(mut self) -> Vec<RecordError> {
        self.trim();
        self.listed
    }
}

/// Lists at most `max` items, saying how many there are in all when cut.
pub fn short_list<T: fmt::Display>(items: &[T], max: usize) -> String {
    let shown: Vec<String> = items.iter().take(max).map(|i| i.to_string()).collect();
    if items.len() > max { format!("{} and {} more", shown.join(", "), items.len() - max) } else { shown.join(", ") }
}

//! The pure core: contacts, field settings, validation and sync planning.
//! No I/O, no async, no wire formats: every API and store builds on these types.

pub mod account_number;
pub mod alias;
pub mod contact;
pub mod crn;
pub mod errors;
pub mod field_settings;
pub mod history;
pub mod holds;
pub mod ids;
pub mod job;
pub mod patch;
pub mod phone;
pub mod query;
pub mod sync;
pub mod validate;

pub use account_number::{AccountNumber, AccountNumberRules, Charset};
pub use alias::{AliasKind, Aliases};
pub use contact::{Address, Contact, ContactData, ContactDraft, FieldValue, Phone, PhoneKind};
pub use errors::{BatchErrors, ErrorCode, FieldError, MAX_REPORTED_ERRORS, RecordError};
pub use field_settings::{BillerSettings, FieldDef, FieldKind, FieldRole, SettingsError};
pub use ids::{ContactId, ContactIdRun, HoldId, JobId, KeyId, SnapshotId, TagId};
pub use query::{ContactFilter, ContactRef};
pub use validate::{validate_batch, validate_contact};

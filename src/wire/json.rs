//! The native JSON wire format: one document read strictly (duplicate keys
//! caught, errors with line and column), and contact records read so that
//! every problem in a record is reported at once.

use crate::domain::{BatchErrors, ContactDraft, ErrorCode, FieldError, RecordError};
use crate::service::{ContactBatch, Unreadable};
use crate::wire::dto::ContactInput;
use crate::wire::record;
use crate::wire::{ApiError, Fault, FaultKind};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

pub fn syntax_error(e: &serde_json::Error) -> Option<ApiError> {
    use serde_json::error::Category;
    matches!(e.classify(), Category::Syntax | Category::Eof | Category::Io).then(|| {
        Fault::new(FaultKind::InvalidJson, format!("invalid JSON at line {} column {}: {e}", e.line(), e.column()))
            .at(e.line(), e.column())
            .into()
    })
}

/// Parses a JSON document straight into `T` (so duplicate keys are caught);
/// syntax errors carry line and column, type errors the field's path.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde's derive would also take a positional array for a struct.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(Fault::new(FaultKind::InvalidBody, "the body must be a JSON object").into());
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| match syntax_error(e.inner()) {
        Some(err) => err,
        None if e.path().to_string() == "." => Fault::new(FaultKind::InvalidBody, e.inner().to_string()).into(),
        None => Fault::new(FaultKind::InvalidBody, format!("{}: {}", e.path(), e.inner())).into(),
    })?;
    // Trailing characters after the document are a syntax error too.
    de.end()
        .map_err(|e| syntax_error(&e).unwrap_or_else(|| Fault::new(FaultKind::InvalidJson, e.to_string()).into()))?;
    Ok(value)
}

/// Reads one record, a JSON object in the native form. The fast typed read
/// takes a valid record; one it refuses is read again field by field, so
/// every problem in it is reported, with its account number if readable.
pub fn read_record(text: &str) -> Result<ContactDraft, Unreadable> {
    // (A struct would also read from a JSON array: only objects are contacts.)
    if !text.starts_with('{') {
        return Err(FieldError::new("", ErrorCode::WrongType, "each contact must be a JSON object").into());
    }
    if let Ok(input) = serde_json::from_str::<ContactInput>(text) {
        return Ok(input.into());
    }
    match serde_json::from_str::<record::Unique>(text) {
        Ok(record::Unique(serde_json::Value::Object(fields))) => {
            let account_number = fields.get("account_number").and_then(|a| a.as_str()).map(str::to_owned);
            record::draft_of(fields).map_err(|errors| Unreadable { account_number, errors })
        }
        Ok(_) => Err(FieldError::new("", ErrorCode::WrongType, "each contact must be a JSON object").into()),
        Err(e) if e.is_data() => Err(FieldError::new("", ErrorCode::InvalidValue, e.to_string()).into()),
        Err(e) => {
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
            Err(FieldError::new("", ErrorCode::InvalidFormat, format!("not valid JSON: {message}")).into())
        }
    }
}

/// Reads one record's text in some wire format.
pub type ReadRecord = fn(&str) -> Result<ContactDraft, Unreadable>;

/// Reads one record of a batch; what cannot be read becomes record errors.
fn record(index: usize, raw: &RawValue, read: ReadRecord, errors: &mut BatchErrors) -> Option<ContactDraft> {
    match read(raw.get()) {
        Ok(draft) => Some(draft),
        Err(Unreadable { account_number, errors: found }) => {
            for error in found {
                errors.push(RecordError { index, account_number: account_number.clone(), error });
            }
            None
        }
    }
}

/// Parses a JSON array of contacts. Every record that cannot be read becomes
/// a record error (with its index), so the caller reports them all at once.
pub fn parse_contacts(bytes: &[u8]) -> Result<ContactBatch, ApiError> {
    parse_records(bytes, read_record)
}

/// Parses a JSON array of records in the format `read` reads.
pub fn parse_records(bytes: &[u8], read: ReadRecord) -> Result<ContactBatch, ApiError> {
    let items: Vec<&RawValue> = serde_json::from_slice(bytes).map_err(|e| {
        syntax_error(&e)
            .unwrap_or_else(|| Fault::new(FaultKind::InvalidBody, "the body must be a JSON array of contacts").into())
    })?;
    let mut batch = ContactBatch { records: items.len(), ..ContactBatch::default() };
    for (index, raw) in items.into_iter().enumerate() {
        if let Some(draft) = record(index, raw, read, &mut batch.errors) {
            batch.drafts.push((index, draft));
        }
    }
    Ok(batch)
}

/// Parses one contact object as a batch of one.
pub fn parse_contact(bytes: &[u8]) -> Result<ContactBatch, ApiError> {
    let raw: &RawValue = serde_json::from_slice(bytes)
        .map_err(|e| syntax_error(&e).unwrap_or_else(|| Fault::new(FaultKind::InvalidBody, e.to_string()).into()))?;
    let mut batch = ContactBatch { records: 1, ..ContactBatch::default() };
    if let Some(draft) = record(0, raw, read_record, &mut batch.errors) {
        batch.drafts.push((0, draft));
    }
    Ok(batch)
}

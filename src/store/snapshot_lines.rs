//! How a snapshot's contacts are stored, on both stores: up to
//! `record_rows::PER_ROW` consecutive contacts (in account-number order) to
//! a row, keyed by the row's last number; a row's text is cut once it
//! reaches `record_rows::MAX_ROW_BYTES`. One contact to a line: account
//! number, id, version, created and updated (microseconds since the epoch),
//! then the stored document, separated by tabs. Neither an account number
//! (its charsets) nor a document (compact JSON escapes control characters)
//! holds a tab or a newline.

use crate::domain::{Contact, ContactId};
use crate::store::{StoreError, StoreResult, codec, record_rows, time_conv};
use std::fmt::Write;

/// Rows being filled, one contact at a time.
#[derive(Default)]
pub struct Packer {
    text: String,
    count: usize,
    last_number: String,
}

impl Packer {
    /// Adds a contact; returns a row (last number, text) once one is full.
    pub fn push(
        &mut self,
        number: &str,
        id: &str,
        version: i64,
        created_us: i64,
        updated_us: i64,
        doc: &str,
    ) -> Option<(String, String)> {
        if self.count > 0 {
            self.text.push('\n');
        }
        // Writing to a String cannot fail.
        let _ = write!(self.text, "{number}\t{id}\t{version}\t{created_us}\t{updated_us}\t{doc}");
        self.count += 1;
        self.last_number.clear();
        self.last_number.push_str(number);
        let full = self.count >= record_rows::PER_ROW || self.text.len() >= record_rows::MAX_ROW_BYTES;
        full.then(|| self.take()).flatten()
    }

    /// The last, partly filled row, if any.
    pub fn take(&mut self) -> Option<(String, String)> {
        (self.count > 0).then(|| {
            self.count = 0;
            (std::mem::take(&mut self.last_number), std::mem::take(&mut self.text))
        })
    }
}

/// Adds the contacts of a stored row's text that come after `after` to a
/// download page, up to one past `limit` (which says there is more). A row
/// the page starts inside has its lines up to `after` skipped, undecoded.
pub fn fill_page(text: &str, after: &str, limit: usize, contacts: &mut Vec<Contact>) -> StoreResult<()> {
    for line in text.split('\n') {
        if contacts.len() > limit {
            break;
        }
        if line.split('\t').next().unwrap_or_default() > after {
            contacts.push(from_line(line)?);
        }
    }
    Ok(())
}

/// One contact of a stored row's text.
pub fn from_line(line: &str) -> StoreResult<Contact> {
    let (number, id, version, created, updated, doc) = fields(line)?;
    let micros = |s: &str| time_conv::from_micros(s.parse().map_err(|_| corrupt(line))?);
    Ok(Contact {
        id: ContactId::parse(id).ok_or_else(|| corrupt(line))?,
        data: codec::decode(number.to_owned(), doc)?,
        version: version.parse().map_err(|_| corrupt(line))?,
        created_at: micros(created)?,
        updated_at: micros(updated)?,
    })
}

/// A line as a job record: the API's contact JSON, which is the stored
/// document (an object without the account number) with the number put first.
pub fn record_body(line: &str) -> StoreResult<String> {
    let (number, .., doc) = fields(line)?;
    let number = serde_json::to_string(number).map_err(|_| corrupt(line))?;
    Ok(match doc.strip_prefix('{') {
        Some("}") => format!("{{\"account_number\":{number}}}"),
        Some(rest) => format!("{{\"account_number\":{number},{rest}"),
        None => return Err(corrupt(line)),
    })
}

type Fields<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str, &'a str);

fn fields(line: &str) -> StoreResult<Fields<'_>> {
    let mut f = line.splitn(6, '\t');
    let mut next = || f.next().ok_or_else(|| corrupt(line));
    Ok((next()?, next()?, next()?, next()?, next()?, next()?))
}

fn corrupt(line: &str) -> StoreError {
    StoreError::Corrupt(format!("snapshot line {}", line.chars().take(40).collect::<String>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_cut_by_count_and_hold_consecutive_lines() {
        let mut p = Packer::default();
        let mut rows = Vec::new();
        for i in 0..2_500 {
            rows.extend(p.push(&format!("{i:06}"), "cont_x", 1, 0, 0, "{}"));
        }
        rows.extend(p.take());
        assert_eq!(rows.iter().map(|(_, t)| t.lines().count()).collect::<Vec<_>>(), [1000, 1000, 500]);
        assert_eq!(rows.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["000999", "001999", "002499"]);
        assert!(rows[1].1.starts_with("001000\t"));
        assert!(p.take().is_none());
    }

    #[test]
    fn rows_are_cut_by_size() {
        let mut p = Packer::default();
        let doc = format!("{{\"name\":\"{}\"}}", "x".repeat(1 << 20));
        let rows: Vec<_> = (0..6).filter_map(|i| p.push(&i.to_string(), "cont_x", 1, 0, 0, &doc)).collect();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].1.lines().count(), 4);
    }

    #[test]
    fn a_line_becomes_a_record_with_its_number_first() {
        assert_eq!(record_body("007\tcont_x\t1\t0\t0\t{}").unwrap(), r#"{"account_number":"007"}"#);
        assert_eq!(
            record_body("007\tcont_x\t1\t0\t0\t{\"name\":\"A\\tB\"}").unwrap(),
            r#"{"account_number":"007","name":"A\tB"}"#
        );
        assert!(record_body("007\tcont_x\t1").is_err());
        assert!(record_body("007\tcont_x\t1\t0\t0\t[]").is_err());
    }
}

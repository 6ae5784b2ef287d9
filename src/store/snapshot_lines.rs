//! How a snapshot's contacts are stored, on both stores: up to
//! `record_rows::PER_ROW` consecutive contacts (in account-number order) to
//! a row, keyed by the row's last number; a row's text is cut once it
//! reaches `record_rows::MAX_ROW_BYTES`. One contact to a line: account
//! number, id, version, created and updated (microseconds since the epoch),
//! the stored document, then its CRN and the job that created it (empty
//! when none; lines stored before CRNs left the document end at it),
//! separated by tabs. Neither an account number (its charsets), a document
//! (compact JSON escapes control characters), a CRN (digits) nor a job id
//! holds a tab or a newline.

use crate::domain::{Contact, ContactId, JobId};
use crate::store::{StoreError, StoreResult, codec, record_rows, time_conv};
use std::fmt::Write;

/// One contact's columns, as a line holds them.
pub struct LineColumns<'a> {
    pub number: &'a str,
    pub id: &'a str,
    pub version: i64,
    pub created_us: i64,
    pub updated_us: i64,
    pub doc: &'a str,
    pub crn: Option<&'a str>,
    pub job_id: Option<&'a str>,
}

/// Rows being filled, one contact at a time.
#[derive(Default)]
pub struct Packer {
    text: String,
    count: usize,
    last_number: String,
}

impl Packer {
    /// Adds a contact; returns a row (last number, text) once one is full.
    pub fn push(&mut self, c: &LineColumns<'_>) -> Option<(String, String)> {
        if self.count > 0 {
            self.text.push('\n');
        }
        let (number, id, version, created, updated, doc) =
            (c.number, c.id, c.version, c.created_us, c.updated_us, c.doc);
        let (crn, job) = (c.crn.unwrap_or_default(), c.job_id.unwrap_or_default());
        // Writing to a String cannot fail.
        let _ = write!(self.text, "{number}\t{id}\t{version}\t{created}\t{updated}\t{doc}\t{crn}\t{job}");
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
    let f = fields(line)?;
    let micros = |s: &str| time_conv::from_micros(s.parse().map_err(|_| corrupt(line))?);
    let some = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_owned);
    Ok(Contact {
        id: ContactId::parse(f.id).ok_or_else(|| corrupt(line))?,
        data: codec::decode(f.number.to_owned(), f.doc, some(f.crn))?,
        version: f.version.parse().map_err(|_| corrupt(line))?,
        job_id: some(f.job_id).as_deref().and_then(JobId::parse),
        aliases: Default::default(),
        created_at: micros(f.created)?,
        updated_at: micros(f.updated)?,
    })
}

/// A restore job's record (a snapshot line, stored as it is) as a draft:
/// the contact as it was, to validate against today's settings.
pub fn draft_of(line: &str) -> Result<crate::domain::ContactDraft, crate::domain::FieldError> {
    from_line(line)
        .map(|c| c.data.to_draft())
        .map_err(|e| crate::domain::FieldError::new("", crate::domain::ErrorCode::InvalidFormat, e.to_string()))
}

struct Fields<'a> {
    number: &'a str,
    id: &'a str,
    version: &'a str,
    created: &'a str,
    updated: &'a str,
    doc: &'a str,
    crn: Option<&'a str>,
    job_id: Option<&'a str>,
}

fn fields(line: &str) -> StoreResult<Fields<'_>> {
    let mut f = line.split('\t');
    let mut next = || f.next().ok_or_else(|| corrupt(line));
    let (number, id, version, created, updated, doc) = (next()?, next()?, next()?, next()?, next()?, next()?);
    Ok(Fields { number, id, version, created, updated, doc, crn: f.next(), job_id: f.next() })
}

fn corrupt(line: &str) -> StoreError {
    StoreError::Corrupt(format!("snapshot line {}", line.chars().take(40).collect::<String>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(number: &'a str, doc: &'a str) -> LineColumns<'a> {
        let id = "cont_0000000000000a";
        LineColumns { number, id, version: 1, created_us: 0, updated_us: 0, doc, crn: None, job_id: None }
    }

    #[test]
    fn rows_are_cut_by_count_and_hold_consecutive_lines() {
        let mut p = Packer::default();
        let mut rows = Vec::new();
        for i in 0..2_500 {
            let number = format!("{i:06}");
            rows.extend(p.push(&line(&number, "{}")));
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
        let rows: Vec<_> = (0..6).filter_map(|i| p.push(&line(&i.to_string(), &doc))).collect();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].1.lines().count(), 4);
    }

    #[test]
    fn lines_keep_the_crn_and_job_and_old_lines_still_read() {
        let mut p = Packer::default();
        let mut c = line("007", r#"{"active":true,"name":"A"}"#);
        c.crn = Some("1234");
        c.job_id = Some("job_0000000000000a");
        let (_, text) = p.push(&c).or_else(|| p.take()).unwrap();
        let contact = from_line(&text).unwrap();
        assert_eq!(contact.data.crn.as_deref(), Some("1234"));
        assert_eq!(contact.job_id.map(|j| j.to_string()).as_deref(), Some("job_0000000000000a"));
        let old =
            from_line("007\tcont_0000000000000a\t1\t0\t0\t{\"active\":true,\"crn\":\"26\",\"name\":\"A\"}").unwrap();
        assert_eq!((old.data.crn.as_deref(), old.job_id), (Some("26"), None));
        assert!(draft_of("007\tcont_x\t1").is_err());
    }
}

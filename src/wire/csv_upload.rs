//! CSV job uploads as billers' files really are: UTF-8 with or without BOM,
//! quoted fields, CRLF, leading zeroes kept (every cell is text). A header
//! row names the fields; an optional first row `ADD_CONTACTS` or
//! `REPLACE_CONTACTS` (Payreq's file type identifier) must match the job; an
//! optional last row `TRAILER,N` must carry the record count, and a replace
//! needs one, so a truncated file can never delete contacts.
//!
//! Each row becomes the same JSON object the other formats send. A cell is
//! read through `csv_cell::unescape`: the `'` contactd's own CSV puts before
//! a formula-like cell is taken off again.

use crate::wire::csv_cell;
use serde_json::{Map, Value};
use std::io::Read;

/// Where a CSV column goes in the contact.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Column {
    Text(&'static str),
    Bool(&'static str),
    Phone(&'static str),
    /// The country a phone of this kind is read in.
    PhoneCountry(&'static str),
    Address(&'static str),
    Note(String),
    Tags,
    Field(String),
}

const TEXT: [&str; 11] = [
    "account_number",
    "name",
    "first_name",
    "last_name",
    "business_name",
    "email",
    "date_of_birth",
    "reference_id",
    "external_id",
    "crn",
    "type",
];
const ADDRESS: [&str; 7] = ["line1", "line2", "locality", "city", "state", "postcode", "country"];

fn column(name: &str) -> Column {
    let name = name.trim();
    if name == "biller-account-number" {
        return Column::Text("account_number");
    }
    if let Some(t) = TEXT.iter().find(|t| **t == name) {
        return Column::Text(t);
    }
    match name {
        "is_consumer" => return Column::Bool("is_consumer"),
        "email_on_failure" => return Column::Bool("email_on_failure"),
        "email_receipts" => return Column::Bool("email_receipts"),
        "active" => return Column::Bool("active"),
        "phone" => return Column::Phone("primary"),
        "mobile" => return Column::Phone("mobile"),
        "home_phone" => return Column::Phone("home"),
        "work_phone" => return Column::Phone("work"),
        "phone_country" => return Column::PhoneCountry("primary"),
        "mobile_country" => return Column::PhoneCountry("mobile"),
        "home_phone_country" => return Column::PhoneCountry("home"),
        "work_phone_country" => return Column::PhoneCountry("work"),
        "tags" => return Column::Tags,
        _ => {}
    }
    let address = name.strip_prefix("address_").or_else(|| name.strip_prefix("address."));
    if let Some(a) = address.and_then(|a| ADDRESS.iter().find(|x| **x == a)) {
        return Column::Address(a);
    }
    match name.strip_prefix("notes.") {
        Some(k) => Column::Note(k.to_owned()),
        None => Column::Field(name.to_owned()),
    }
}

fn to_object(columns: &[Column], row: &csv::StringRecord) -> Value {
    let mut obj = Map::new();
    // Each kind's number and country, in the order their columns come.
    let mut phones: Vec<(&str, Map<String, Value>)> = Vec::new();
    let mut phone = |kind: &'static str, key: &str, value: Value| {
        let at = match phones.iter().position(|(k, _)| *k == kind) {
            Some(at) => at,
            None => {
                phones.push((kind, Map::from_iter([("kind".to_owned(), Value::String(kind.to_owned()))])));
                phones.len() - 1
            }
        };
        phones[at].1.insert(key.to_owned(), value);
    };
    let mut address = Map::new();
    let mut notes = Map::new();
    let mut fields = Map::new();
    for (col, cell) in columns.iter().zip(row.iter()) {
        let cell = csv_cell::unescape(cell);
        if cell.is_empty() {
            continue;
        }
        let text = Value::String(cell.to_owned());
        match col {
            Column::Text(k) => {
                obj.insert((*k).to_owned(), text);
            }
            // "true"/"false" become booleans; anything else stays text for the validator to name.
            Column::Bool(k) => {
                let v = match cell.trim().to_ascii_lowercase().as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => text,
                };
                obj.insert((*k).to_owned(), v);
            }
            Column::Phone(kind) => phone(kind, "number", text),
            Column::PhoneCountry(kind) => phone(kind, "country", text),
            Column::Address(k) => {
                address.insert((*k).to_owned(), text);
            }
            Column::Note(k) => {
                notes.insert(k.clone(), text);
            }
            Column::Tags => {
                let tags =
                    cell.split(';').map(str::trim).filter(|t| !t.is_empty()).map(|t| Value::String(t.to_owned()));
                obj.insert("tags".into(), Value::Array(tags.collect()));
            }
            Column::Field(k) => {
                fields.insert(k.clone(), text);
            }
        }
    }
    for (key, value) in [("address", address), ("notes", notes), ("fields", fields)] {
        if !value.is_empty() {
            obj.insert(key.into(), Value::Object(value));
        }
    }
    if !phones.is_empty() {
        obj.insert("phones".into(), Value::Array(phones.into_iter().map(|(_, p)| Value::Object(p)).collect()));
    }
    Value::Object(obj)
}

/// Where a CSV's quoting stands, byte by byte, as the csv crate reads it: a
/// quote opens a quoted cell only at a cell's start, `""` inside one is a
/// quote, and a quote followed by anything else ends it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quoting {
    CellStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

/// Passes a CSV through, noting whether it ends inside a quoted cell and
/// where that cell opened. The csv crate ends such a cell at the end of the
/// file, so one stray quote would read every row after it into one cell:
/// rows lost without a word, where a file saying what it means is refused.
struct QuoteCheck<R> {
    inner: R,
    state: Quoting,
    /// Bytes passed so far, and the offset of the last opening quote.
    at: u64,
    opened: u64,
    /// That offset while the bytes passed end inside a quoted cell.
    open: std::rc::Rc<std::cell::Cell<Option<u64>>>,
}

impl<R: Read> Read for QuoteCheck<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = self.inner.read(buf)?;
        // The csv crate looks for a byte-order mark in its first read only,
        // and takes a first read of the mark alone for the end: give it the
        // mark and more, whatever size the upload's first piece was.
        while self.at == 0 && (1..=3).contains(&n) && n < buf.len() {
            match self.inner.read(&mut buf[n..])? {
                0 => break,
                more => n += more,
            }
        }
        let bytes = &buf[..n];
        // A byte-order mark is no cell's start: the csv crate drops it.
        let mut i = if self.at == 0 && bytes.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
        while i < n {
            match self.state {
                Quoting::CellStart => {
                    self.state = match bytes[i] {
                        b'"' => {
                            self.opened = self.at + i as u64;
                            Quoting::Quoted
                        }
                        b',' | b'\n' | b'\r' => Quoting::CellStart,
                        _ => Quoting::Unquoted,
                    };
                    i += 1;
                }
                Quoting::Unquoted => match memchr::memchr3(b',', b'\n', b'\r', &bytes[i..]) {
                    Some(k) => {
                        i += k + 1;
                        self.state = Quoting::CellStart;
                    }
                    None => i = n,
                },
                Quoting::Quoted => match memchr::memchr(b'"', &bytes[i..]) {
                    Some(k) => {
                        i += k + 1;
                        self.state = Quoting::QuoteInQuoted;
                    }
                    None => i = n,
                },
                Quoting::QuoteInQuoted => {
                    self.state = match bytes[i] {
                        b'"' => Quoting::Quoted,
                        b',' | b'\n' | b'\r' => Quoting::CellStart,
                        _ => Quoting::Unquoted,
                    };
                    i += 1;
                }
            }
        }
        self.at += n as u64;
        self.open.set(Some(self.opened).filter(|_| self.state == Quoting::Quoted));
        Ok(n)
    }
}

/// Reads a CSV upload, calling `record(line, json)` for each contact row.
/// `line_at(byte)` gives the line of the record starting at `byte`, counting
/// newlines up to and including that byte (the csv crate's own line count,
/// and its byte offset, point at the '\n' of a CRLF before the record). Returns the number of records; an
/// error says what is wrong and where.
pub fn read(
    reader: impl Read,
    replace: bool,
    line_at: impl FnMut(u64) -> u64,
    mut record: impl FnMut(u64, String) -> Result<(), String>,
) -> Result<u64, String> {
    let open = std::rc::Rc::new(std::cell::Cell::new(None));
    let reader = QuoteCheck { inner: reader, state: Quoting::CellStart, at: 0, opened: 0, open: open.clone() };
    let mut csv = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(reader);
    let mut rows = csv.records();
    let line_at = std::cell::RefCell::new(line_at);
    let line_at = |byte: u64| (line_at.borrow_mut())(byte);
    // A read that fails inside a quoted cell (one record grown past the
    // limit, say) most likely lost its closing quote: said where it opened.
    let mut next = || {
        rows.next().transpose().map_err(|e| match open.get() {
            Some(opened) => format!(
                "line {}: a quoted cell opens here and runs on past the size of a record ({e}); is its closing quote missing?",
                line_at(opened)
            ),
            None => format!("CSV: {e}"),
        })
    };
    let line_of = |r: &csv::StringRecord| r.position().map_or(0, |p| line_at(p.byte()));
    let mut first = next()?.ok_or("the file is empty: it needs a header row")?;
    if first.len() == 1 {
        let kind = first.get(0).unwrap_or("").trim();
        match (kind, replace) {
            ("ADD_CONTACTS", false) | ("REPLACE_CONTACTS", true) => {}
            ("ADD_CONTACTS", true) | ("REPLACE_CONTACTS", false) => {
                return Err(format!(
                    "the file says {kind} but was sent to the {} endpoint",
                    if replace { "replace" } else { "add" }
                ));
            }
            _ => return Err(format!("line 1: a header row needs account_number and name columns, found {kind:?}")),
        }
        first = next()?.ok_or("the file has no header row after its type row")?;
    }
    let columns: Vec<Column> = first.iter().map(column).collect();
    for (i, c) in columns.iter().enumerate() {
        if columns[..i].contains(c) {
            return Err(format!("line {}: column {:?} appears twice", line_of(&first), first.get(i).unwrap_or("")));
        }
    }
    if !columns.contains(&Column::Text("account_number")) {
        return Err(format!(
            "line {}: the header row has no account_number (or biller-account-number) column",
            line_of(&first)
        ));
    }
    let mut count = 0u64;
    let mut trailer: Option<u64> = None;
    while let Some(row) = next()? {
        let line = line_of(&row);
        if trailer.is_some() {
            return Err(format!("line {line}: nothing may follow the TRAILER record"));
        }
        if row.get(0).map(str::trim) == Some("TRAILER") && row.len() <= 2 {
            let n = row.get(1).unwrap_or("").trim();
            trailer = Some(n.parse().map_err(|_| format!("line {line}: TRAILER needs the record count, found {n:?}"))?);
            continue;
        }
        if row.len() > columns.len() {
            return Err(format!("line {line}: {} cells, but the header names {}", row.len(), columns.len()));
        }
        record(line, to_object(&columns, &row).to_string())?;
        count += 1;
    }
    if let Some(opened) = open.get() {
        return Err(format!(
            "line {}: a quoted cell opens here and is never closed, so every row after it would be read into it; \
             close the quote (a quote inside a quoted cell is written \"\")",
            line_at(opened)
        ));
    }
    match trailer {
        Some(n) if n != count => Err(format!("the TRAILER says {n} records but the file has {count}; it may be truncated")),
        None if replace => Err("a CSV replace needs a last row TRAILER,N with the record count, so a truncated file cannot remove contacts".into()),
        _ => Ok(count),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str, replace: bool) -> Result<Vec<(u64, Value)>, String> {
        let mut out = Vec::new();
        // A CRLF record starts on the '\n' that ends the line before it: count it.
        let line_at =
            |byte: u64| 1 + text.as_bytes().iter().take(byte as usize + 1).filter(|b| **b == b'\n').count() as u64;
        read(text.as_bytes(), replace, line_at, |line, json| {
            out.push((line, serde_json::from_str(&json).unwrap()));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn a_billers_file_reads_as_sent() {
        let file = "\u{feff}REPLACE_CONTACTS\r\nbiller-account-number,name,contact-id-1,address_city,active,mobile,notes.k\r\n\
                    000123,\"Smith, Sam\",000123,Hobart,false,0400 000 000,\"say \"\"hi\"\"\"\r\n0789,Jane,,,,,\r\nTRAILER,2\r\n";
        let got = rows(file, true).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].0, got[1].0), (3, 4));
        assert_eq!(
            got[0].1,
            serde_json::json!({"account_number": "000123", "name": "Smith, Sam", "active": false,
                "phones": [{"kind": "mobile", "number": "0400 000 000"}], "address": {"city": "Hobart"},
                "notes": {"k": "say \"hi\""}, "fields": {"contact-id-1": "000123"}})
        );
        assert_eq!(got[1].1, serde_json::json!({"account_number": "0789", "name": "Jane"}));
        // A phone's country, in its own column, joins its number.
        let file = "account_number,name,mobile_country,mobile,phone\n1,A,IN,9219133921,0400 000 000\n2,B,AU,,\n";
        let got = rows(file, false).unwrap();
        assert_eq!(
            got[0].1["phones"],
            serde_json::json!([{"kind": "mobile", "country": "IN", "number": "9219133921"},
                {"kind": "primary", "number": "0400 000 000"}])
        );
        assert_eq!(
            got[1].1["phones"],
            serde_json::json!([{"kind": "mobile", "country": "AU"}]),
            "for the validator to name"
        );
    }

    #[test]
    fn trailers_and_type_rows_are_checked() {
        let body = "account_number,name\n1,A\n2,B\n";
        assert!(rows(body, false).is_ok(), "a trailer is optional for add");
        assert!(rows(body, true).unwrap_err().contains("TRAILER"), "a replace needs one");
        assert!(rows(&format!("{body}TRAILER,3\n"), true).unwrap_err().contains("truncated"));
        assert!(rows(&format!("{body}TRAILER,2\n3,C\n"), false).is_err());
        assert!(rows(&format!("ADD_CONTACTS\n{body}"), true).unwrap_err().contains("ADD_CONTACTS"));
        assert!(rows("name,email\nA,a@b.c\n", false).unwrap_err().contains("account_number"));
        assert!(rows("account_number,name,name\n1,A,B\n", false).unwrap_err().contains("twice"));
        assert!(rows("account_number,name\n1,A,extra\n", false).unwrap_err().contains("cells"));
        assert!(rows("", false).is_err());
    }

    /// Hands out one byte a read, as an upload's first piece may be short.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Some((first, rest)) = self.0.split_first() else { return Ok(0) };
            buf[0] = *first;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn a_byte_order_mark_in_pieces_is_still_one() {
        let file = "\u{feff}\"account_number\",name\n0012,\"A, B\"\n";
        let mut got = Vec::new();
        let n = read(
            Trickle(file.as_bytes()),
            false,
            |_| 1,
            |_, json| {
                got.push(json);
                Ok(())
            },
        );
        assert_eq!(n, Ok(1));
        assert_eq!(got, [r#"{"account_number":"0012","name":"A, B"}"#]);
    }

    #[test]
    fn an_unclosed_quote_is_refused_where_it_opens() {
        let e = rows("account_number,name\n1,A\n2,\"B\n3,C\n4,D\n", false).unwrap_err();
        assert!(e.starts_with("line 3:") && e.contains("never closed"), "{e}");
        let e = rows("account_number,name\r\n1,\"A, \"\"Jr\"\"\r\n", false).unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");

        // Quotes that close, escaped quotes, quotes inside an unquoted cell
        // (read as text) and a quoted last cell with no newline all pass.
        for ok in [
            "account_number,name\n1,\"A \"\"B\"\"\"\n",
            "account_number,name\n1,5\" screen\n2,B\n",
            "account_number,name\n1,\"multi\nline\"\n2,\"B\"",
            "account_number,name\n1,\"\"\n",
            "\u{feff}\"account_number\",\"name, \"\"as sent\"\"\"\n1,A\n",
            // After a byte-order mark the first cell's quote opens a quoted cell.
            "\u{feff}\"x,\",account_number,name\n1,A,B\n",
        ] {
            assert!(rows(ok, false).is_ok(), "{ok:?}: {:?}", rows(ok, false));
        }
    }
}

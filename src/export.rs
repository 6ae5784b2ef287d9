//! `contactd export`: every contact of a biller, streamed page by page in
//! constant memory, as NDJSON, a JSON array, or CSV in the same columns a CSV
//! job takes (ending with `TRAILER,N`, so an export can be replaced back whole).

use crate::domain::query::{ContactFilter, PageRequest};
use crate::domain::{Contact, FieldValue};
use crate::http::ContactBody;
use crate::service::{Service, ServiceError, ServiceResult};
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
    Ndjson,
}

const PAGE: usize = 1000;

const CSV_COLUMNS: [&str; 25] = [
    "account_number",
    "name",
    "first_name",
    "last_name",
    "business_name",
    "is_consumer",
    "email",
    "phone",
    "mobile",
    "home_phone",
    "work_phone",
    "date_of_birth",
    "address_line1",
    "address_line2",
    "address_locality",
    "address_city",
    "address_state",
    "address_postcode",
    "address_country",
    "reference_id",
    "external_id",
    "crn",
    "type",
    "active",
    "tags",
];

fn csv_row(c: &Contact, fields: &[String]) -> Vec<String> {
    let d = &c.data;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let phone =
        |kind: &str| d.phones.iter().find(|p| p.kind.as_str() == kind).map(|p| p.number.clone()).unwrap_or_default();
    let a = &d.address;
    let mut row = vec![
        d.account_number.as_str().to_owned(),
        d.name.clone(),
        text(&d.first_name),
        text(&d.last_name),
        text(&d.business_name),
        d.is_consumer.map(|b| b.to_string()).unwrap_or_default(),
        text(&d.email),
        phone("primary"),
        phone("mobile"),
        phone("home"),
        phone("work"),
        d.date_of_birth.map(|x| x.to_string()).unwrap_or_default(),
        text(&a.line1),
        text(&a.line2),
        text(&a.locality),
        text(&a.city),
        text(&a.state),
        text(&a.postcode),
        text(&a.country),
        text(&d.reference_id),
        text(&d.external_id),
        text(&d.crn),
        text(&d.contact_type),
        d.active.to_string(),
        d.tags.join(";"),
    ];
    row.extend(fields.iter().map(|k| match d.fields.get(k) {
        None => String::new(),
        Some(FieldValue::Text(s)) => s.clone(),
        Some(FieldValue::Integer(i)) => i.to_string(),
        Some(FieldValue::Bool(b)) => b.to_string(),
    }));
    row
}

fn io(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(format!("writing the export: {e}"))
}

/// Where contacts go, in their format.
enum Sink<W: Write> {
    Csv(Box<csv::Writer<W>>, Vec<String>),
    Json(W),
    Ndjson(W),
}

impl<W: Write> Sink<W> {
    fn new(format: ExportFormat, out: W, fields: Vec<String>) -> ServiceResult<Self> {
        Ok(match format {
            ExportFormat::Csv => {
                // Flexible: the trailer row has two cells.
                let mut w = csv::WriterBuilder::new().flexible(true).from_writer(out);
                w.write_record(CSV_COLUMNS.iter().map(|c| c.to_string()).chain(fields.iter().cloned())).map_err(io)?;
                Sink::Csv(Box::new(w), fields)
            }
            ExportFormat::Json => {
                let mut out = out;
                out.write_all(b"[").map_err(io)?;
                Sink::Json(out)
            }
            ExportFormat::Ndjson => Sink::Ndjson(out),
        })
    }

    fn write(&mut self, c: Contact, nth: u64) -> ServiceResult<()> {
        match self {
            Sink::Csv(w, fields) => w.write_record(csv_row(&c, fields)).map_err(io),
            Sink::Json(out) => {
                if nth > 0 {
                    out.write_all(b",").map_err(io)?;
                }
                serde_json::to_writer(out, &ContactBody::from(c)).map_err(io)
            }
            Sink::Ndjson(out) => {
                serde_json::to_writer(&mut *out, &ContactBody::from(c)).map_err(io)?;
                out.write_all(b"\n").map_err(io)
            }
        }
    }

    fn finish(self, count: u64) -> ServiceResult<()> {
        match self {
            Sink::Csv(mut w, _) => {
                w.write_record(["TRAILER".to_owned(), count.to_string()]).map_err(io)?;
                w.flush().map_err(io)
            }
            Sink::Json(mut out) => {
                out.write_all(b"]\n").map_err(io)?;
                out.flush().map_err(io)
            }
            Sink::Ndjson(mut out) => out.flush().map_err(io),
        }
    }
}

/// Writes every contact of `code` to `out`, a page at a time; returns how many.
pub async fn export(service: &Service, code: &str, format: ExportFormat, out: impl Write) -> ServiceResult<u64> {
    let biller = service.biller(code).await?;
    let fields: Vec<String> = biller.settings.fields().iter().map(|f| f.def.key.clone()).collect();
    let mut sink = Sink::new(format, std::io::BufWriter::new(out), fields)?;
    let mut after = None;
    let mut count = 0u64;
    loop {
        let page =
            service.store().contacts(biller.id, &ContactFilter::default(), &PageRequest { after, limit: PAGE }).await?;
        for c in page.contacts {
            sink.write(c, count)?;
            count += 1;
        }
        match page.next_after {
            Some(a) => after = Some(a),
            None => break,
        }
    }
    sink.finish(count)?;
    Ok(count)
}

//! Exports: every contact of a biller (`contactd export`) or of one of its
//! replace snapshots (the snapshot download), streamed page by page in
//! constant memory, as NDJSON, a JSON array, or CSV in the same columns a CSV
//! job takes (ending with `TRAILER,N`, so an export can be replaced back whole).

use crate::domain::{Contact, FieldValue};
use crate::service::{Service, ServiceError, ServiceResult};
use crate::store::{Biller, BillerId};
use crate::wire::csv_cell;
use crate::wire::dto::ContactBody;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
    Ndjson,
}

const PAGE: usize = 1000;

const CSV_COLUMNS: [&str; 31] = [
    "account_number",
    "name",
    "first_name",
    "last_name",
    "business_name",
    "is_consumer",
    "email",
    "email_on_failure",
    "email_receipts",
    "phone",
    "mobile",
    "home_phone",
    "work_phone",
    "phone_country",
    "mobile_country",
    "home_phone_country",
    "work_phone_country",
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
    let of_kind = |kind: &str| d.phones.iter().find(|p| p.kind.as_str() == kind);
    let phone = |kind: &str| of_kind(kind).map(|p| p.number.clone()).unwrap_or_default();
    let country = |kind: &str| of_kind(kind).and_then(|p| p.country.clone()).unwrap_or_default();
    let a = &d.address;
    let mut row = vec![
        d.account_number.as_str().to_owned(),
        d.name.clone(),
        text(&d.first_name),
        text(&d.last_name),
        text(&d.business_name),
        d.is_consumer.map(|b| b.to_string()).unwrap_or_default(),
        text(&d.email),
        d.email_on_failure.map(|b| b.to_string()).unwrap_or_default(),
        d.email_receipts.map(|b| b.to_string()).unwrap_or_default(),
        phone("primary"),
        phone("mobile"),
        phone("home"),
        phone("work"),
        country("primary"),
        country("mobile"),
        country("home"),
        country("work"),
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

/// Whose contacts an export reads.
#[derive(Debug, Clone)]
pub enum Source {
    /// The biller's contacts now.
    Contacts,
    /// A replace snapshot.
    Snapshot(crate::store::Snapshot),
}

/// Renders contacts in one format: a head, pages, and a tail.
struct Render {
    format: ExportFormat,
    fields: Vec<String>,
}

impl Render {
    fn csv_writer() -> csv::Writer<Vec<u8>> {
        // Flexible: the trailer row has two cells.
        csv::WriterBuilder::new().flexible(true).from_writer(Vec::new())
    }

    fn head(&self) -> ServiceResult<Vec<u8>> {
        match self.format {
            ExportFormat::Csv => {
                let mut w = Self::csv_writer();
                w.write_record(CSV_COLUMNS.iter().map(|c| c.to_string()).chain(self.fields.iter().cloned()))
                    .map_err(io)?;
                w.into_inner().map_err(io)
            }
            ExportFormat::Json => Ok(b"[".to_vec()),
            ExportFormat::Ndjson => Ok(Vec::new()),
        }
    }

    /// One page; `before` is how many contacts came before it.
    fn page(&self, contacts: Vec<Contact>, before: u64) -> ServiceResult<Vec<u8>> {
        match self.format {
            ExportFormat::Csv => {
                let mut w = Self::csv_writer();
                for c in &contacts {
                    w.write_record(csv_row(c, &self.fields).iter().map(|cell| csv_cell::escape(cell).into_owned()))
                        .map_err(io)?;
                }
                w.into_inner().map_err(io)
            }
            ExportFormat::Json | ExportFormat::Ndjson => {
                let mut out = Vec::new();
                for (i, c) in contacts.into_iter().enumerate() {
                    if self.format == ExportFormat::Json && before + i as u64 > 0 {
                        out.push(b',');
                    }
                    serde_json::to_writer(&mut out, &ContactBody::from(c)).map_err(io)?;
                    if self.format == ExportFormat::Ndjson {
                        out.push(b'\n');
                    }
                }
                Ok(out)
            }
        }
    }

    fn tail(&self, count: u64) -> ServiceResult<Vec<u8>> {
        match self.format {
            ExportFormat::Csv => {
                let mut w = Self::csv_writer();
                w.write_record(["TRAILER".to_owned(), count.to_string()]).map_err(io)?;
                w.into_inner().map_err(io)
            }
            ExportFormat::Json => Ok(b"]\n".to_vec()),
            ExportFormat::Ndjson => Ok(Vec::new()),
        }
    }
}

/// An export in progress: yields its output a page at a time, so any number
/// of contacts goes out in constant memory.
pub struct Export {
    service: Service,
    biller: BillerId,
    source: Source,
    render: Render,
    after: Option<String>,
    count: u64,
    started: bool,
    done: bool,
}

impl Export {
    /// An export of `biller`'s contacts or one of its snapshots. The caller
    /// has checked access.
    pub fn new(service: Service, biller: &Biller, source: Source, format: ExportFormat) -> Self {
        let fields = biller.settings.fields().iter().map(|f| f.def.key.clone()).collect();
        let render = Render { format, fields };
        Self { service, biller: biller.id, source, render, after: None, count: 0, started: false, done: false }
    }

    /// The next piece of output, or `None` at the end.
    pub async fn next(&mut self) -> ServiceResult<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        if !self.started {
            self.started = true;
            return self.render.head().map(Some);
        }
        let after = self.after.take();
        let page = match &self.source {
            Source::Contacts => self.service.operator_contacts(self.biller, after, PAGE).await?,
            Source::Snapshot(snap) => {
                self.service.operator_snapshot_contacts(self.biller, snap.seq, after, PAGE).await?
            }
        };
        let n = page.contacts.len() as u64;
        let mut out = self.render.page(page.contacts, self.count)?;
        self.count += n;
        match page.next_after {
            Some(a) => self.after = Some(a),
            None => {
                // A snapshot pruned mid-download ends early: fail rather than
                // end with a trailer that would make the cut look whole.
                if let Source::Snapshot(snap) = &self.source
                    && !self.service.snapshot_kept(self.biller, &snap.id).await?
                {
                    return Err(ServiceError::Internal(format!(
                        "snapshot {} was dropped (retention) during the download, which is incomplete",
                        snap.id
                    )));
                }
                out.extend(self.render.tail(self.count)?);
                self.done = true;
            }
        }
        Ok(Some(out))
    }

    /// How many contacts have gone out so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The whole export as a byte stream, for an HTTP body.
    pub fn into_stream(self) -> impl futures_util::Stream<Item = ServiceResult<Vec<u8>>> + Send {
        futures_util::stream::try_unfold(self, |mut e| async move { Ok(e.next().await?.map(|bytes| (bytes, e))) })
    }
}

/// Writes every contact of `code` to `out`, a page at a time; returns how many.
pub async fn export(service: &Service, code: &str, format: ExportFormat, out: impl Write) -> ServiceResult<u64> {
    let biller = service.biller(code).await?;
    let mut export = Export::new(service.clone(), &biller, Source::Contacts, format);
    let mut out = std::io::BufWriter::new(out);
    // A reader that stops early (`| head`) closes the pipe: a normal end.
    let closed = |e: &std::io::Error| e.kind() == std::io::ErrorKind::BrokenPipe;
    while let Some(bytes) = export.next().await? {
        match out.write_all(&bytes) {
            Err(e) if closed(&e) => return Ok(export.count()),
            written => written.map_err(io)?,
        }
    }
    match out.flush() {
        Err(e) if closed(&e) => {}
        flushed => flushed.map_err(io)?,
    }
    Ok(export.count())
}

/// Writes a job's record errors to `out` as CSV (the header, then a row per
/// problem, a page at a time); returns how many. An operator's read: no key.
pub async fn job_errors(service: &Service, code: &str, job_id: &str, out: impl Write) -> ServiceResult<u64> {
    let id = crate::domain::JobId::parse(job_id).ok_or(ServiceError::NotFound(crate::service::Resource::Job))?;
    let job = service.operator_job(code, &id).await?;
    let mut out = std::io::BufWriter::new(out);
    let closed = |e: &std::io::Error| e.kind() == std::io::ErrorKind::BrokenPipe;
    let (mut after, mut count) = (None, 0);
    let mut page = crate::wire::job_errors::HEADER.as_bytes().to_vec();
    loop {
        match out.write_all(&page) {
            Err(e) if closed(&e) => return Ok(count),
            written => written.map_err(io)?,
        }
        let rows = service.operator_job_errors(job.biller_id, job.seq, after, PAGE).await?;
        let Some((last, _)) = rows.last() else { break };
        after = Some(*last);
        count += rows.len() as u64;
        page = crate::wire::job_errors::csv_rows(&rows).map_err(|e| ServiceError::Internal(e.to_string()))?;
    }
    match out.flush() {
        Err(e) if closed(&e) => {}
        flushed => flushed.map_err(io)?,
    }
    Ok(count)
}

//! A job's record errors as CSV: the same report over HTTP
//! (`?format=csv`) and from the CLI (`contactd job errors`), its cells
//! neutralised for spreadsheets.

use crate::service::JobError;
use crate::wire::csv_cell;

pub const HEADER: &str = "index,line,account_number,field,code,message\n";

/// A page of errors as CSV rows (no header).
pub fn csv_rows(rows: &[(u64, JobError)]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for (_, e) in rows {
        let record = [
            e.idx.to_string(),
            e.line.to_string(),
            e.account_number.clone().unwrap_or_default(),
            e.field.clone(),
            e.code.clone(),
            e.message.clone(),
        ];
        w.write_record(record.iter().map(|cell| csv_cell::escape(cell).into_owned()))?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

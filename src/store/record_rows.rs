//! How an upload's records are stored: up to `PER_ROW` consecutive records to
//! a row, their texts end to end, with each one's line and where it ends. At
//! a million records that is a thousand rows rather than a million: a
//! fraction of the index work, the WAL and the deletes, and PostgreSQL
//! compresses the text (350 MB of records took 40 MB).

use crate::store::{JobRecord, StoreError, StoreResult};
use std::fmt::Write;

/// Records per row at most; reads rely on it to bound their key range.
pub const PER_ROW: usize = 1_000;
/// A row's text stops growing here (a record may be up to 1 MiB), far below
/// PostgreSQL's 1 GB limit for one value.
pub const MAX_ROW_BYTES: usize = 4 << 20;

/// One stored row: records `first_idx..=last_idx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    pub first_idx: i64,
    pub last_idx: i64,
    /// Each record's line, comma-separated.
    pub lines: String,
    /// Each record's end in `bodies`, in bytes, comma-separated.
    pub ends: String,
    pub bodies: String,
}

/// Packs records into rows, freeing each as it goes; a row holds consecutive indexes only.
pub fn pack(records: Vec<JobRecord>) -> Vec<RecordRow> {
    let mut rows: Vec<RecordRow> = Vec::new();
    let mut count = 0;
    for r in records {
        let idx = r.idx as i64;
        let fits = rows.last().is_some_and(|row| {
            row.last_idx + 1 == idx && count < PER_ROW && row.bodies.len() + r.body.len() <= MAX_ROW_BYTES
        });
        if !fits {
            count = 0;
            let (lines, ends, bodies) = (String::new(), String::new(), String::new());
            rows.push(RecordRow { first_idx: idx, last_idx: idx, lines, ends, bodies });
        }
        if let Some(row) = rows.last_mut() {
            if count > 0 {
                row.lines.push(',');
                row.ends.push(',');
            }
            row.last_idx = idx;
            row.bodies.push_str(&r.body);
            // Writing to a String cannot fail.
            let _ = write!(row.lines, "{}", r.line);
            let _ = write!(row.ends, "{}", row.bodies.len());
            count += 1;
        }
    }
    rows
}

/// The records of a stored row, in order.
pub fn unpack(first_idx: i64, lines: &str, ends: &str, bodies: &str) -> StoreResult<Vec<JobRecord>> {
    let corrupt = || StoreError::Corrupt(format!("job records from index {first_idx}"));
    let numbers =
        |s: &str| s.split(',').map(|n| n.parse::<u64>().map_err(|_| corrupt())).collect::<StoreResult<Vec<_>>>();
    let (lines, ends) = (numbers(lines)?, numbers(ends)?);
    if lines.len() != ends.len() || ends.last().copied() != Some(bodies.len() as u64) {
        return Err(corrupt());
    }
    let mut start = 0;
    lines
        .iter()
        .zip(&ends)
        .enumerate()
        .map(|(i, (&line, &end))| {
            let body = bodies.get(start..end as usize).ok_or_else(corrupt)?.to_owned();
            start = end as usize;
            Ok(JobRecord { idx: first_idx as u64 + i as u64, line, body })
        })
        .collect()
}

/// A read of records stops after the row that takes its text past this: a
/// record may be up to 1 MiB, so a count of records alone would not bound
/// what a chunk of a job holds in memory.
pub const READ_BYTES: usize = 4 << 20;

/// Records read in order, row by row, from after `after`, until `limit`
/// records or `READ_BYTES` of text.
pub struct Chunk {
    after: i64,
    limit: usize,
    bytes: usize,
    pub records: Vec<JobRecord>,
}

impl Chunk {
    /// `after` is -1 to read from the first record.
    pub fn new(after: i64, limit: usize) -> Self {
        Self { after, limit, bytes: 0, records: Vec::new() }
    }

    /// Adds a stored row's records after `after`; says whether to read on.
    pub fn add(&mut self, (first_idx, lines, ends, bodies): (i64, &str, &str, &str)) -> StoreResult<bool> {
        self.bytes += bodies.len();
        let after = self.after;
        self.records.extend(unpack(first_idx, lines, ends, bodies)?.into_iter().filter(|r| r.idx as i64 > after));
        Ok(self.records.len() < self.limit && self.bytes < READ_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(idx: u64, body: &str) -> JobRecord {
        JobRecord { idx, line: idx * 3 + 2, body: body.to_owned() }
    }

    #[test]
    fn records_come_back_as_stored() {
        // Multi-byte text, commas and newlines inside a record, an empty one.
        let records: Vec<JobRecord> = (0..2_500)
            .map(|i| record(i, &format!("{{\"name\":\"Zoë, {i}\",\n\"note\":\"日本\"}}")))
            .chain([record(2_500, "")])
            .collect();
        let rows = pack(records.clone());
        assert_eq!(
            rows.iter().map(|r| (r.first_idx, r.last_idx)).collect::<Vec<_>>(),
            [(0, 999), (1_000, 1_999), (2_000, 2_500)]
        );
        let back: Vec<JobRecord> =
            rows.iter().flat_map(|r| unpack(r.first_idx, &r.lines, &r.ends, &r.bodies).unwrap()).collect();
        assert_eq!(back, records);
    }

    #[test]
    fn a_row_holds_consecutive_records_within_its_size() {
        let big = "x".repeat(MAX_ROW_BYTES / 2 + 1);
        let records = vec![record(0, &big), record(1, &big), record(2, "a"), record(5, "b")];
        let rows = pack(records);
        assert_eq!(rows.iter().map(|r| (r.first_idx, r.last_idx)).collect::<Vec<_>>(), [(0, 0), (1, 2), (5, 5)]);
    }

    #[test]
    fn a_chunk_stops_at_its_count_or_its_size() {
        let rows = pack((0..3_000).map(|i| record(i, "small")).collect());
        let mut chunk = Chunk::new(499, 1_000);
        assert!(chunk.add(row_text(&rows[0])).unwrap(), "500 records of 1,000 wanted");
        assert!(!chunk.add(row_text(&rows[1])).unwrap(), "1,500 records: the count is reached");
        assert_eq!(chunk.records.first().map(|r| r.idx), Some(500));
        assert_eq!(chunk.records.len(), 1_500);

        let big = "x".repeat(MAX_ROW_BYTES / 4);
        let rows = pack((0..12).map(|i| record(i, &big)).collect());
        let mut chunk = Chunk::new(-1, 1_000);
        assert!(rows.iter().take_while(|r| chunk.add(row_text(r)).unwrap()).count() < rows.len() - 1);
        assert!(chunk.records.len() < 12, "stopped by size, not count: {}", chunk.records.len());
    }

    fn row_text(r: &RecordRow) -> (i64, &str, &str, &str) {
        (r.first_idx, &r.lines, &r.ends, &r.bodies)
    }

    #[test]
    fn a_damaged_row_is_an_error_not_a_panic() {
        for (lines, ends, bodies) in
            [("1,2", "3", "abc"), ("1", "4", "abc"), ("1,x", "1,3", "abc"), ("1,2", "1,2", "é"), ("1", "", "")]
        {
            assert!(matches!(unpack(0, lines, ends, bodies), Err(StoreError::Corrupt(_))), "{lines} {ends} {bodies}");
        }
    }
}

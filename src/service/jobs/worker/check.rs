//! Checking a job's records: read chunk by chunk, parsed with the job's
//! format's parser and validated on blocking threads, staged or reported.

use super::super::RecordParser;
use super::{CHECKERS, CHUNK, PROGRESS_EVERY, Validated, Worker};
use crate::domain::account_number::MAX_ACCOUNT_NUMBER_LENGTH;
use crate::domain::job::{JobCounts, JobKind, JobStatus, OnError};
use crate::domain::validate::Rules;
use crate::domain::{ContactIdRun, ErrorCode, FieldError, validate_contact};
use crate::service::{ServiceError, ServiceResult};
use crate::store::{Fence, Heartbeat, Job, JobError, JobRecord, StageItem, StagedRow};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

impl Worker {
    /// Reads the job's records chunk by chunk and checks them (CPU, on
    /// CHECKERS blocking threads at once), handing each chunk on in job
    /// order. Returns the work (its read and check times) and where the
    /// chunks arrive; it ends early once that end is dropped.
    pub(super) fn check_records<'a>(
        &'a self,
        job: &'a Job,
        settings: &'a crate::domain::BillerSettings,
        tags: &'a HashSet<String>,
    ) -> (
        impl std::future::Future<Output = ServiceResult<(Duration, Duration)>> + 'a,
        tokio::sync::mpsc::Receiver<Vec<Checked>>,
    ) {
        let store = &self.service.store;
        let (checked_tx, checked_rx) = tokio::sync::mpsc::channel::<Vec<Checked>>(2);
        let check = async move {
            let (mut after, mut read, mut check) = (None, Duration::ZERO, Duration::ZERO);
            let mut checking = std::collections::VecDeque::new();
            let mut more = true;
            loop {
                while more && checking.len() < CHECKERS {
                    let t = std::time::Instant::now();
                    let records = store.job_records(job.biller_id, job.seq, after, CHUNK).await?;
                    read += t.elapsed();
                    let Some(last) = records.last() else {
                        more = false;
                        break;
                    };
                    after = Some(last.idx);
                    let parser = (self.parsers)(job.format);
                    let (settings, tags) = (settings.clone(), tags.clone());
                    checking.push_back(tokio::task::spawn_blocking(move || {
                        let t = std::time::Instant::now();
                        let rules = Rules::new(&settings, &tags, crate::service::now().date());
                        (check_chunk(&parser, &rules, records), t.elapsed())
                    }));
                }
                // Handed on in job order, whichever finishes first.
                let Some(next) = checking.pop_front() else { return Ok((read, check)) };
                let (checked, took) = next.await.map_err(|e| ServiceError::Internal(e.to_string()))?;
                check += took;
                if checked_tx.send(checked?).await.is_err() {
                    return Ok((read, check)); // the storing side stopped
                }
            }
        };
        (check, checked_rx)
    }

    /// Validates every record, chunk by chunk: valid ones are staged, errors
    /// stored with their index and line. `None` when told to stop. Reading
    /// and checking the next chunks (CPU, on two threads) overlaps storing the last one.
    pub(super) async fn validate(
        &self,
        job: &Job,
        fence: &Fence,
        settings: &crate::domain::BillerSettings,
        hints: bool,
        progress: &mut JobCounts,
    ) -> ServiceResult<Option<Validated>> {
        let store = &self.service.store;
        let tags = store.tags(job.biller_id).await?.into_iter().map(|t| t.id.as_str().to_owned()).collect();
        let (check, mut checked_rx) = self.check_records(job, settings, &tags);
        let all_or_nothing = job.on_error == OnError::Reject || job.kind == JobKind::Replace;
        let store_checked = async move {
            let mut counts = JobCounts { total: job.counts.total, ..JobCounts::default() };
            let mut errors_stored = 0u64;
            let (mut write, mut beat, mut staged) = (Duration::ZERO, std::time::Instant::now(), 0u64);
            // Rows equal to the biller's contacts are staged by key alone (on
            // PostgreSQL); loaded while the first chunks are checked. A job of
            // less than a chunk would wait longer for them than they save.
            let known = if hints && job.counts.total >= CHUNK as u64 {
                store.known_fingerprints(job.biller_id).await.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "loading the biller's fingerprints failed; staging every row whole");
                    None
                })
            } else {
                None
            };
            let mut unchanged_staged = 0u64;
            // Keys used so far, approximately: most records are the first use
            // of their number, and the store stages those without a conflict check.
            let mut used = numbers_seen(job)?;
            while let Some(mut chunk) = checked_rx.recv().await {
                let t = std::time::Instant::now();
                let invalid = chunk.iter().filter(|r| !r.errors.is_empty()).count() as u64;
                // Once an all-or-nothing job has failed, only keys are staged (for the duplicate check).
                let keep_rows = !(all_or_nothing && counts.failed + invalid > 0);
                let (items, positions): (Vec<StageItem>, Vec<usize>) = chunk
                    .iter_mut()
                    .enumerate()
                    .filter_map(|(i, r)| {
                        let account_number = r.account_number.clone()?;
                        let row = r.row.take().filter(|_| keep_rows);
                        let maybe_repeated = used.check_and_set(&account_number);
                        let unchanged = known
                            .as_ref()
                            .zip(row.as_ref())
                            .is_some_and(|(k, row)| row.crn.is_none() && k.unchanged(&account_number, row.fingerprint));
                        let (idx, line) = (r.idx, r.line);
                        Some((StageItem { account_number, idx, line, row, maybe_repeated, unchanged }, i))
                    })
                    .unzip();
                let offered = items.len() as u64;
                let unchanged: Vec<bool> = items.iter().map(|i| i.unchanged).collect();
                let (state, duplicates) = store.stage_job_rows(fence, job.biller_id, items).await?;
                staged += offered - duplicates.len() as u64;
                unchanged_staged += unchanged.iter().filter(|u| **u).count() as u64
                    - duplicates.iter().filter(|d| unchanged[d.item]).count() as u64;
                if state != Heartbeat::Continue {
                    return Ok(None);
                }
                let first_use: HashMap<usize, (u64, u64)> =
                    duplicates.iter().map(|d| (positions[d.item], (d.first_idx, d.first_line))).collect();
                let mut errors = Vec::new();
                counts.processed += chunk.len() as u64;
                for (i, r) in chunk.into_iter().enumerate() {
                    // A repeated number is reported as that alone, valid or not (as in the sync endpoints).
                    if let Some((idx, line)) = first_use.get(&i) {
                        let a = r.account_number.as_deref().unwrap_or_default();
                        let message = format!("account number {a} already appears at index {idx} (line {line})");
                        errors.push(r.error(FieldError::new(
                            "account_number",
                            ErrorCode::DuplicateAccountNumber,
                            message,
                        )));
                        counts.failed += 1;
                    } else if !r.errors.is_empty() {
                        errors.extend(r.errors);
                        counts.failed += 1;
                    }
                }
                *progress = counts;
                if !errors.is_empty() {
                    let n = errors.len() as u64;
                    if store.add_job_errors(fence, job.biller_id, errors_stored, errors).await? != Heartbeat::Continue {
                        return Ok(None);
                    }
                    errors_stored += n;
                }
                // Each staging step already checks the fence; progress and the
                // lease are written once a second, not once a chunk.
                if beat.elapsed() >= PROGRESS_EVERY.min(self.lease() / 4) {
                    beat = std::time::Instant::now();
                    if store
                        .job_heartbeat(fence, JobStatus::Validating, counts, crate::service::now(), self.lease())
                        .await?
                        != Heartbeat::Continue
                    {
                        return Ok(None);
                    }
                }
                write += t.elapsed();
            }
            Ok::<_, ServiceError>(Some((counts, errors_stored, staged, unchanged_staged, write)))
        };
        let ((read, check), stored) = tokio::try_join!(check, store_checked)?;
        let validated = stored.map(|(counts, errors, staged, unchanged_staged, write)| Validated {
            counts,
            errors,
            staged,
            unchanged_staged,
            read,
            check,
            write,
        });
        if let Some(v) = &validated
            && v.counts.processed != job.counts.total
        {
            return Err(ServiceError::Internal(format!(
                "job {} has {} stored records of {}",
                job.id, v.counts.processed, job.counts.total
            )));
        }
        Ok(validated)
    }
}

/// One record after parsing and validation: its row ready to stage, or its errors.
pub(super) struct Checked {
    pub(super) idx: u64,
    pub(super) line: u64,
    /// As given; `None` when missing, or too long to be anyone's (it is an error then).
    pub(super) account_number: Option<String>,
    /// Set when the record is valid (`errors` is then empty).
    pub(super) row: Option<StagedRow>,
    pub(super) errors: Vec<JobError>,
}

impl Checked {
    fn error(&self, e: FieldError) -> JobError {
        JobError {
            idx: self.idx,
            line: self.line,
            account_number: self.account_number.clone(),
            field: e.field,
            code: e.code.as_str().to_owned(),
            message: e.message,
        }
    }
}

/// The account numbers of a job's records seen so far, approximately (a
/// few MB at any job size, 1% false alarms).
pub(super) fn numbers_seen(job: &Job) -> ServiceResult<bloomfilter::Bloom<str>> {
    let expected = usize::try_from(job.counts.total).unwrap_or(usize::MAX).max(1);
    bloomfilter::Bloom::new_for_fp_rate_with_seed(expected, 0.01, &rand::random())
        .map_err(|e| ServiceError::Internal(e.into()))
}

/// Parses, validates and encodes one chunk (CPU work, on a blocking thread).
fn check_chunk(parser: &RecordParser, rules: &Rules, records: Vec<JobRecord>) -> ServiceResult<Vec<Checked>> {
    let mut ids = ContactIdRun::new(&mut rand::thread_rng());
    let mut checked = Vec::with_capacity(records.len());
    for r in records {
        let mut c = Checked { idx: r.idx, line: r.line, account_number: None, row: None, errors: Vec::new() };
        match parser(&r.body) {
            Err(e) => {
                c.account_number =
                    e.account_number.filter(|a| !a.is_empty() && a.chars().count() <= MAX_ACCOUNT_NUMBER_LENGTH);
                c.errors = e.errors.into_iter().map(|e| c.error(e)).collect();
            }
            Ok(draft) => {
                c.account_number = draft
                    .account_number
                    .clone()
                    .filter(|a| !a.is_empty() && a.chars().count() <= MAX_ACCOUNT_NUMBER_LENGTH);
                match validate_contact(draft, rules) {
                    Ok(data) => c.row = Some(StagedRow::new(&data, &mut ids)?),
                    Err(errs) => c.errors = errs.into_iter().map(|e| c.error(e)).collect(),
                }
            }
        }
        checked.push(c);
    }
    Ok(checked)
}

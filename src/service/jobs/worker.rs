//! The worker: takes a queued job, validates it whole (parsing each record
//! with its format's parser, checking chunks on blocking threads) and
//! applies it in one set-based merge, or a first bulk load.

use super::{RecordParser, RecordParsers};
use crate::domain::account_number::MAX_ACCOUNT_NUMBER_LENGTH;
use crate::domain::job::{JobCounts, JobKind, JobStatus, OnError};
use crate::domain::sync::{RemovalGuard, WriteMode};
use crate::domain::validate::Rules;
use crate::domain::{ContactIdRun, ErrorCode, FieldError, JobId, validate_contact};
use crate::service::error::Resource;
use crate::service::{Service, ServiceError, ServiceResult};
use crate::store::{
    ApplyJob, DirectLoad, Fence, Heartbeat, Job, JobError, JobRecord, LoadEnd, StageItem, StagedRow, StoreError,
};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tracing::Instrument;

/// Records validated, staged and reported per step (bounds the worker's memory).
const CHUNK: usize = 10_000;
/// Chunks checked at once, each on a blocking thread. Checking a record costs
/// more than staging it, so two keep the one writer busy.
const CHECKERS: usize = 2;
/// Invalid records' numbers a first bulk load keeps exactly (to report a
/// later valid use as repeated); past this many it takes the staged path.
const MAX_INVALID_NUMBERS: usize = 100_000;
/// How often a validating job's progress (and lease) is written, at most
/// (more often under a lease shorter than four of these).
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Takes jobs from the database and runs them; any server's worker may take
/// any job, and a job whose worker died is taken over when its lease ends.
pub struct Worker {
    service: Service,
    parsers: RecordParsers,
    owner: String,
    idle_poll: Duration,
}

/// How one validation and merge of a job ended.
enum Round {
    /// Applied, failed, cancelled or taken over: nothing more to do here.
    Ended,
    /// The merge found staging gone; nothing was applied.
    StagingLost,
    /// The merge found a row staged as unchanged changed meanwhile; nothing
    /// was applied.
    StaleHints,
}

/// How checking a first bulk load's records ended.
enum Loaded {
    /// Every record checked and sent: finish the load.
    Checked(JobCounts),
    /// The load ended before every row was sent.
    EndedEarly(JobCounts),
    /// Give the load up and take the staged path.
    StagedPath,
    /// Told to stop (cancelled or taken over), with the counts so far.
    Stopped(JobCounts),
}

/// What validation of a whole job found, and where its time went.
struct Validated {
    counts: JobCounts,
    errors: u64,
    /// Rows staging took, which the merge checks are all still there.
    staged: u64,
    /// Of those, rows staged as unchanged, which the merge checks still are.
    unchanged_staged: u64,
    /// Reading records, checking them (CPU, summed over the checkers), and
    /// writing staging, errors and heartbeats: all three overlap.
    read: Duration,
    check: Duration,
    write: Duration,
}

impl Worker {
    pub fn new(service: Service, parsers: RecordParsers) -> Self {
        let owner = format!("{}-{}", std::process::id(), JobId::generate(&mut rand::thread_rng()));
        Self { service, parsers, owner, idle_poll: Duration::from_millis(250) }
    }

    /// How often an idle worker looks for jobs queued by other servers
    /// (and for jobs whose lease ran out); 250 ms unless set.
    pub fn idle_poll(self, every: Duration) -> Self {
        Self { idle_poll: every, ..self }
    }

    /// Runs jobs until `stop` resolves; a job in progress at that moment is
    /// left to its lease (nothing half-applied: the merge is one transaction).
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            let worked = tokio::select! {
                r = self.run_once() => r,
                _ = stop.changed() => return,
            };
            match worked {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "job worker"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.idle_poll) => {}
                _ = self.service.job_queued.notified() => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// How long a claim holds without a heartbeat; a worker that dies is
    /// replaced after at most this.
    fn lease(&self) -> Duration {
        self.service.config.job_lease
    }

    /// Takes one job, if any is runnable, and runs it to its end. Returns
    /// whether there was one.
    pub async fn run_once(&self) -> ServiceResult<bool> {
        let store = &self.service.store;
        // With every large-job slot taken, only a small job may be claimed.
        let large = self.service.config.large_job_records;
        let lane = self.service.lanes.reserve();
        let max_records = lane.is_none().then(|| large.saturating_sub(1));
        let Some(job) = store.claim_job(&self.owner, crate::service::now(), self.lease(), max_records).await? else {
            return Ok(false);
        };
        let _lane = lane.filter(|_| job.counts.total >= large);
        let fence = Fence { seq: job.seq, owner: self.owner.clone(), attempt: job.attempts };
        let span = tracing::info_span!("job", id = %job.id, kind = %job.kind, attempt = job.attempts);
        let mut progress = job.counts;
        let result = self.run_job(&job, &fence, &mut progress).instrument(span.clone()).await;
        if let Err(e) = &result {
            // A job its own records or settings ended (a guard, a settings
            // change) is the client's to fix; ERROR is for what an operator must.
            span.in_scope(|| {
                if e.needs_operator() {
                    tracing::error!(error = %e, "job failed");
                } else {
                    tracing::warn!(error = %e, "job failed");
                }
            });
            let message = match e {
                ServiceError::Internal(_) => "an internal error ended the job; see the server log".to_owned(),
                other => other.to_string(),
            };
            store.finish_job(&fence, JobStatus::Failed, Some(message), progress, crate::service::now()).await?;
        }
        Ok(true)
    }

    /// Runs a claimed job; `progress` always holds the counts so far, for
    /// whoever records how it ended. Staging is not durable: a merge that
    /// finds it lost (PostgreSQL restarted, or SQLite's writer connection
    /// went), or finds a row staged as unchanged changed by a write meanwhile,
    /// validates once more from the stored records, staging every row whole,
    /// and merges again.
    async fn run_job(&self, job: &Job, fence: &Fence, progress: &mut JobCounts) -> ServiceResult<()> {
        tracing::info!("job started");
        let biller =
            self.service.store.biller_by_id(job.biller_id).await?.ok_or(ServiceError::NotFound(Resource::Biller))?;
        let mut why = StoreError::StagingLost;
        for hints in [true, false] {
            if !hints {
                tracing::warn!(reason = %why, "validating the job again, staging every row whole");
                // Shown as validating from the start, not as a merge at 100%.
                *progress = JobCounts { total: job.counts.total, ..JobCounts::default() };
                let store = &self.service.store;
                if store
                    .job_heartbeat(fence, JobStatus::Validating, *progress, crate::service::now(), self.lease())
                    .await?
                    != Heartbeat::Continue
                {
                    return self.stopped(fence, *progress).await;
                }
            }
            why = match self.validate_and_apply(job, fence, &biller, hints, progress).await? {
                Round::Ended => return Ok(()),
                Round::StagingLost => StoreError::StagingLost,
                Round::StaleHints => StoreError::StaleHints,
            };
        }
        Err(ServiceError::BadRequest(format!("{why}; nothing was applied, submit it again")))
    }

    async fn validate_and_apply(
        &self,
        job: &Job,
        fence: &Fence,
        biller: &crate::store::Biller,
        hints: bool,
        progress: &mut JobCounts,
    ) -> ServiceResult<Round> {
        let store = &self.service.store;
        if store.reset_job_work(fence, biller.id).await? != Heartbeat::Continue {
            return self.stopped(fence, *progress).await.map(|()| Round::Ended);
        }
        if job.kind == JobKind::Add
            && !job.dry_run
            && let Some(load) =
                store.begin_direct_load(biller.id, biller.settings_version, &job.id, crate::service::now()).await?
        {
            if let Some(round) = self.load_directly(job, fence, biller, load, progress).await? {
                return Ok(round);
            }
            tracing::info!(
                "a number used twice, an invalid record or a settings change: the job takes the staged path"
            );
            *progress = JobCounts { total: job.counts.total, ..JobCounts::default() };
            if store.reset_job_work(fence, biller.id).await? != Heartbeat::Continue {
                return self.stopped(fence, *progress).await.map(|()| Round::Ended);
            }
        }
        let started = std::time::Instant::now();
        let Some(v) = self.validate(job, fence, &biller.settings, hints, progress).await? else {
            return self.stopped(fence, *progress).await.map(|()| Round::Ended);
        };
        tracing::info!(
            records = v.counts.total,
            failed = v.counts.failed,
            staged_by_key = v.unchanged_staged,
            ms = started.elapsed().as_millis(),
            read_ms = v.read.as_millis(),
            check_ms = v.check.as_millis(),
            write_ms = v.write.as_millis(),
            "job validated"
        );
        let started = std::time::Instant::now();
        let all_or_nothing = job.on_error == OnError::Reject || job.kind == JobKind::Replace;
        if v.errors > 0 && all_or_nothing {
            let message = format!(
                "{} of {} records are invalid; nothing was applied (see the job's errors)",
                v.counts.failed, v.counts.total
            );
            tracing::info!(failed = v.counts.failed, "job failed: invalid records");
            store.finish_job(fence, JobStatus::Failed, Some(message), v.counts, crate::service::now()).await?;
            return Ok(Round::Ended);
        }
        if store.job_heartbeat(fence, JobStatus::Running, v.counts, crate::service::now(), self.lease()).await?
            != Heartbeat::Continue
        {
            return self.stopped(fence, v.counts).await.map(|()| Round::Ended);
        }
        let mode = match job.kind {
            JobKind::Add => WriteMode::Add,
            JobKind::Replace => WriteMode::Replace,
        };
        let guard = (mode == WriteMode::Replace).then_some(RemovalGuard {
            max_share: biller.settings.max_replace_removal(),
            confirm_removals: job.confirm_removals,
        });
        let apply = ApplyJob {
            mode,
            guard,
            dry_run: job.dry_run,
            settings_version: biller.settings_version,
            counts: v.counts,
            staged: v.staged,
            unchanged_staged: v.unchanged_staged,
            snapshot: self.service.snapshot_for(mode, Some(job.id.clone())),
            force_holds: job.force_holds,
            job_id: job.id.clone(),
            origin: job.origin.clone(),
        };
        match store.apply_job(fence, biller.id, &apply, crate::service::now()).await {
            Ok(Some(counts)) => {
                tracing::info!(
                    created = counts.created,
                    updated = counts.updated,
                    removed = counts.removed,
                    ms = started.elapsed().as_millis(),
                    "job completed"
                );
                Ok(Round::Ended)
            }
            Ok(None) => self.stopped(fence, v.counts).await.map(|()| Round::Ended),
            Err(StoreError::StagingLost) => Ok(Round::StagingLost),
            Err(StoreError::StaleHints) => Ok(Round::StaleHints),
            Err(StoreError::SettingsChanged) => Err(ServiceError::BadRequest(
                "the biller's field settings (or tag catalogue) changed while the job ran; nothing was applied, submit it again"
                    .into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// A first bulk load (see `store::DirectLoad`): every record is checked
    /// and each valid row goes straight into the biller's contacts, in the
    /// load's one transaction. `None` when the job must take the staged path
    /// instead, nothing of this attempt applied: a number is used twice (in
    /// the job, or by a write meanwhile), an all-or-nothing job has an
    /// invalid record, or the biller's settings changed (the staged path
    /// reports every error, repeated numbers included).
    async fn load_directly(
        &self,
        job: &Job,
        fence: &Fence,
        biller: &crate::store::Biller,
        load: DirectLoad,
        progress: &mut JobCounts,
    ) -> ServiceResult<Option<Round>> {
        let store = &self.service.store;
        let started = std::time::Instant::now();
        let tags = self.service.store.tags(biller.id).await?.into_iter().map(|t| t.id.as_str().to_owned()).collect();
        let (check, mut checked_rx) = self.check_records(job, &biller.settings, &tags);
        let loading = &load;
        let load_checked = async move {
            // `created` stays 0 until the load commits: nothing is applied before.
            let (mut counts, mut loaded) = (JobCounts { total: job.counts.total, ..JobCounts::default() }, 0u64);
            let (mut errors_stored, mut beat) = (0u64, std::time::Instant::now());
            // A number used twice is reported as repeated, whichever use is
            // invalid (as staging does): the unique key catches two valid
            // uses, `invalid_numbers` an invalid use before a valid one, and
            // the load itself (probed) a valid use before an invalid one.
            let (mut used, mut invalid_numbers) = (numbers_seen(job)?, HashSet::new());
            while let Some(chunk) = checked_rx.recv().await {
                let (mut rows, mut probe, mut errors) = (Vec::with_capacity(chunk.len()), Vec::new(), Vec::new());
                counts.processed += chunk.len() as u64;
                for r in chunk {
                    match (r.account_number, r.row) {
                        (Some(number), Some(row)) => {
                            if invalid_numbers.contains(&number) {
                                return Ok(Loaded::StagedPath);
                            }
                            used.set(&number);
                            rows.push((number, row));
                        }
                        (number, _) => {
                            if let Some(number) = number {
                                if invalid_numbers.contains(&number) || invalid_numbers.len() >= MAX_INVALID_NUMBERS {
                                    return Ok(Loaded::StagedPath);
                                }
                                if used.check_and_set(&number) {
                                    probe.push(number.clone());
                                }
                                invalid_numbers.insert(number);
                            }
                            errors.extend(r.errors);
                            counts.failed += 1;
                        }
                    }
                }
                if counts.failed > 0 && job.on_error == OnError::Reject {
                    return Ok(Loaded::StagedPath);
                }
                loaded += rows.len() as u64;
                *progress = counts;
                if !loading.rows(rows, probe).await {
                    return Ok(Loaded::EndedEarly(counts));
                }
                if !errors.is_empty() {
                    let n = errors.len() as u64;
                    if store.add_job_errors(fence, job.biller_id, errors_stored, errors).await? != Heartbeat::Continue {
                        return Ok(Loaded::Stopped(counts));
                    }
                    errors_stored += n;
                }
                if beat.elapsed() >= PROGRESS_EVERY.min(self.lease() / 4) {
                    beat = std::time::Instant::now();
                    if store
                        .job_heartbeat(fence, JobStatus::Validating, counts, crate::service::now(), self.lease())
                        .await?
                        != Heartbeat::Continue
                    {
                        return Ok(Loaded::Stopped(counts));
                    }
                }
            }
            Ok::<_, ServiceError>(Loaded::Checked(JobCounts { created: loaded, ..counts }))
        };
        let (_, loaded) = tokio::try_join!(check, load_checked)?;
        let counts = match loaded {
            Loaded::Checked(counts) => counts,
            // Finishing it says why: a repeated number, or an error.
            Loaded::EndedEarly(counts) => {
                return match load.finish(fence.clone(), counts, crate::service::now()).await? {
                    LoadEnd::TakeStagedPath => Ok(None),
                    end => Err(ServiceError::Internal(format!("a direct load ended early as {end:?}"))),
                };
            }
            Loaded::StagedPath => return Ok(None),
            Loaded::Stopped(counts) => {
                drop(load); // rolls back
                return self.stopped(fence, counts).await.map(|()| Some(Round::Ended));
            }
        };
        if counts.processed != job.counts.total {
            // Dropping the load rolls it back.
            return Err(ServiceError::Internal(format!(
                "job {} has {} stored records of {}",
                job.id, counts.processed, job.counts.total
            )));
        }
        match load.finish(fence.clone(), counts, crate::service::now()).await? {
            LoadEnd::Completed => {
                tracing::info!(
                    created = counts.created,
                    failed = counts.failed,
                    ms = started.elapsed().as_millis(),
                    "job completed, loaded directly"
                );
                Ok(Some(Round::Ended))
            }
            LoadEnd::Stopped => {
                self.stopped(fence, JobCounts { created: 0, ..counts }).await.map(|()| Some(Round::Ended))
            }
            LoadEnd::TakeStagedPath => Ok(None),
        }
    }

    /// After the fence said stop: record a requested cancel; if the job was
    /// taken over, write nothing more.
    async fn stopped(&self, fence: &Fence, counts: JobCounts) -> ServiceResult<()> {
        let store = &self.service.store;
        if store.job_heartbeat(fence, JobStatus::Running, counts, crate::service::now(), self.lease()).await?
            == Heartbeat::CancelRequested
        {
            store.finish_job(fence, JobStatus::Cancelled, None, counts, crate::service::now()).await?;
            tracing::info!("job cancelled");
        }
        Ok(())
    }

    /// Reads the job's records chunk by chunk and checks them (CPU, on
    /// CHECKERS blocking threads at once), handing each chunk on in job
    /// order. Returns the work (its read and check times) and where the
    /// chunks arrive; it ends early once that end is dropped.
    fn check_records<'a>(
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
    async fn validate(
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
struct Checked {
    idx: u64,
    line: u64,
    /// As given; `None` when missing, or too long to be anyone's (it is an error then).
    account_number: Option<String>,
    /// Set when the record is valid (`errors` is then empty).
    row: Option<StagedRow>,
    errors: Vec<JobError>,
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
fn numbers_seen(job: &Job) -> ServiceResult<bloomfilter::Bloom<str>> {
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

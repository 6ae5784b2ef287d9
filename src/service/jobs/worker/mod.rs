//! The worker: takes a queued job, validates it whole (parsing each record
//! with its format's parser, checking chunks on blocking threads) and
//! applies it in one set-based merge, or a first bulk load.

use super::RecordParsers;
use crate::domain::JobId;
use crate::domain::job::{JobCounts, JobKind, JobStatus, OnError};
use crate::domain::sync::{RemovalGuard, WriteMode};
use crate::service::error::Resource;
use crate::service::{Service, ServiceError, ServiceResult};
use crate::store::{ApplyJob, Fence, Heartbeat, Job, StoreError};
use std::time::Duration;
use tracing::Instrument;

mod check;
mod direct;

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
}

//! A biller's first bulk load, written straight into its contacts (no
//! staging), falling back to the staged path when it cannot be.

use super::check::numbers_seen;
use super::{Loaded, MAX_INVALID_NUMBERS, PROGRESS_EVERY, Round, Worker};
use crate::domain::job::{JobCounts, JobStatus, OnError};
use crate::service::{ServiceError, ServiceResult};
use crate::store::{DirectLoad, Fence, Heartbeat, Job, LoadEnd};
use std::collections::HashSet;

impl Worker {
    /// A first bulk load (see `store::DirectLoad`): every record is checked
    /// and each valid row goes straight into the biller's contacts, in the
    /// load's one transaction. `None` when the job must take the staged path
    /// instead, nothing of this attempt applied: a number is used twice (in
    /// the job, or by a write meanwhile), an all-or-nothing job has an
    /// invalid record, or the biller's settings changed (the staged path
    /// reports every error, repeated numbers included).
    pub(super) async fn load_directly(
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
}

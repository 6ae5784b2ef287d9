//! Import straight into the database: the same streaming, validation and
//! merge as the job endpoints; queued jobs are worked in-process until this
//! one has ended, so it finishes with or without a running server.

use crate::domain::job::JobKind;
use crate::import::{ImportError, ImportOptions, JobReport, follow, format_of};
use crate::service::{JobOptions, Service, ServiceError, Worker};
use crate::wire::upload;
use std::path::Path;
use std::time::Duration;

/// Imports `path` into biller `code`; returns the finished job.
pub async fn import(
    service: &Service,
    worker: Worker,
    code: &str,
    path: &Path,
    o: ImportOptions,
) -> Result<JobReport, ImportError> {
    let (format, _) = format_of(path, o.replace)?;
    let kind = if o.replace { JobKind::Replace } else { JobKind::Add };
    let options = JobOptions {
        on_error: o.on_error,
        dry_run: o.dry_run,
        confirm_removals: o.confirm_removals,
        force_holds: false,
    };
    let upload = service.begin_operator_job(code, kind, options).await?;
    let upload = upload::receive_file(path, format, upload)
        .await
        .map_err(|e| ServiceError::BadRequest(e.detail().to_owned()))?;
    let job = upload.finish().await?;
    eprintln!("submitted {} records as job {} ({kind})", job.counts.total, job.id);

    // Work queued jobs (oldest first, this one among them) until this one has ended.
    let working = tokio::spawn(async move {
        loop {
            match worker.run_once().await {
                Ok(true) => {}
                Ok(false) => tokio::time::sleep(Duration::from_millis(200)).await,
                Err(e) => {
                    tracing::error!(error = %e, "import worker");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    let done =
        follow(job.counts.total, || async { Ok(JobReport::from(&service.operator_job(code, &job.id).await?)) }).await;
    working.abort();
    done
}

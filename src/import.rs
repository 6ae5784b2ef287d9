//! `contactd import`: submits a file as a background job straight into the
//! database, works queued jobs in-process until it has ended (so it finishes
//! with or without a running server), and shows progress on the way.

use crate::domain::job::{JobKind, JobStatus, OnError};
use crate::http::upload::{self, Format};
use crate::service::{Job, JobOptions, Service, ServiceError, ServiceResult, Worker};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub replace: bool,
    pub dry_run: bool,
    pub on_error: OnError,
    pub confirm_removals: Option<u64>,
}

fn format_of(path: &Path, replace: bool) -> ServiceResult<Format> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("csv") => Ok(Format::Csv { replace }),
        Some("ndjson") | Some("jsonl") => Ok(Format::Ndjson),
        Some("json") => Ok(Format::JsonArray),
        _ => Err(ServiceError::BadRequest(format!("{}: name the file .csv, .json or .ndjson", path.display()))),
    }
}

/// Imports `path` into biller `code`; returns the finished job.
pub async fn import(
    service: &Service,
    worker: Worker,
    code: &str,
    path: &Path,
    o: ImportOptions,
) -> ServiceResult<Job> {
    let format = format_of(path, o.replace)?;
    let kind = if o.replace { JobKind::Replace } else { JobKind::Add };
    let options = JobOptions { on_error: o.on_error, dry_run: o.dry_run, confirm_removals: o.confirm_removals };
    let upload = service.begin_operator_job(code, kind, options).await?;
    let (upload, _) = upload::receive_file(path, format, upload)
        .await
        .map_err(|e| ServiceError::BadRequest(e.detail().to_owned()))?;
    let job = upload.finish().await?;
    eprintln!("submitted {} records as job {} ({kind})", job.counts.total, job.id);

    let bar = ProgressBar::new(job.counts.total.max(1));
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg:>10} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
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
    let done = loop {
        let now = service.operator_job(code, &job.id).await?;
        bar.set_message(now.status.as_str());
        bar.set_position(now.counts.processed);
        if now.status.is_finished() {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    working.abort();
    bar.finish_and_clear();
    Ok(done)
}

/// The closing summary a person reads.
pub fn summary(job: &Job, code: &str) -> String {
    let c = job.counts;
    let mut text = format!(
        "job {} {}: {} records, {} processed, {} created, {} updated, {} unchanged, {} removed, {} failed",
        job.id, job.status, c.total, c.processed, c.created, c.updated, c.unchanged, c.removed, c.failed
    );
    if job.dry_run {
        text.push_str(" (dry run: nothing was changed)");
    }
    if let Some(e) = &job.error {
        text.push_str(&format!("\n{e}"));
    }
    if c.failed > 0 {
        text.push_str(&format!("\nerrors: GET /v1/billers/{code}/jobs/{}/errors", job.id));
    }
    if job.status != JobStatus::Completed {
        text.push_str("\nnothing was applied");
    }
    text
}

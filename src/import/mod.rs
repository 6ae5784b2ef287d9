//! `contactd import`: submits a file as a background job and follows it to
//! its end with a progress bar, then prints a summary. Either straight into
//! the database (`local`, which also works the job in-process) or through a
//! server's job endpoints (`remote`).

mod local;
mod remote;

pub use local::import as import_local;
pub use remote::{Remote, import as import_remote};

use crate::domain::job::OnError;
use crate::service::{Job, ServiceError};
use crate::wire::upload::Format;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub replace: bool,
    pub dry_run: bool,
    pub on_error: OnError,
    pub confirm_removals: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("{0}")]
    Input(String),
    #[error("the server refused the import ({status}): {detail}")]
    Refused { status: u16, detail: String },
    #[error("talking to the server: {0}")]
    Http(String),
}

/// The upload format a file's name says, and its media type.
pub(crate) fn format_of(path: &Path, replace: bool) -> Result<(Format, &'static str), ImportError> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("csv") => Ok((Format::Csv { replace }, "text/csv")),
        Some("ndjson") | Some("jsonl") => Ok((Format::Ndjson, "application/x-ndjson")),
        Some("json") => Ok((Format::JsonArray, "application/json")),
        _ => Err(ImportError::Input(format!("{}: name the file .csv, .json or .ndjson", path.display()))),
    }
}

/// A job as `import` reports it, read from the database or from a server
/// (the field names are the job endpoint's).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct JobReport {
    pub job_id: String,
    pub status: String,
    pub dry_run: bool,
    pub total: u64,
    pub processed: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub removed: u64,
    pub failed: u64,
    pub error: Option<String>,
}

impl From<&Job> for JobReport {
    fn from(j: &Job) -> Self {
        let c = j.counts;
        Self {
            job_id: j.id.to_string(),
            status: j.status.as_str().to_owned(),
            dry_run: j.dry_run,
            total: c.total,
            processed: c.processed,
            created: c.created,
            updated: c.updated,
            unchanged: c.unchanged,
            removed: c.removed,
            failed: c.failed,
            error: j.error.clone(),
        }
    }
}

impl JobReport {
    pub fn completed(&self) -> bool {
        self.status == "completed"
    }

    fn finished(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "failed" | "cancelled")
    }

    /// The closing summary a person reads; `errors_at` is where the error report is.
    pub fn summary(&self, errors_at: &str) -> String {
        let mut text = format!(
            "job {} {}: {} records, {} processed, {} created, {} updated, {} unchanged, {} removed, {} failed",
            self.job_id,
            self.status,
            self.total,
            self.processed,
            self.created,
            self.updated,
            self.unchanged,
            self.removed,
            self.failed
        );
        if self.dry_run {
            text.push_str(" (dry run: nothing was changed)");
        }
        if let Some(e) = &self.error {
            text.push_str(&format!("\n{e}"));
        }
        if self.failed > 0 {
            text.push_str(&format!("\nerrors: {errors_at}"));
        }
        if !self.completed() {
            text.push_str("\nnothing was applied");
        }
        text
    }
}

fn bar(len: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::new(len.max(1));
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key("rate", |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.0}/s", s.per_sec());
        })
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// The progress bar on screen, if any: log lines are written around it.
static SHOWN: std::sync::Mutex<Option<ProgressBar>> = std::sync::Mutex::new(None);

fn show(bar: Option<&ProgressBar>) {
    if let Ok(mut shown) = SHOWN.lock() {
        *shown = bar.cloned();
    }
}

/// Where log lines go: stderr, with a progress bar on screen hidden while a
/// line is written, so lines never print over it.
pub struct LogWriter;

/// One log line, written whole when dropped.
pub struct LogLine(Vec<u8>);

impl std::io::Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let write = || {
            let _ = std::io::Write::write_all(&mut std::io::stderr(), &self.0);
        };
        match SHOWN.lock().ok().and_then(|s| s.clone()) {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine(Vec::new())
    }
}

/// Polls a job until it has ended, showing its status and records processed
/// with rate and ETA (on stderr; hidden when that is not a terminal).
async fn follow<F, Fut>(total: u64, mut poll: F) -> Result<JobReport, ImportError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<JobReport, ImportError>>,
{
    let bar = bar(total, "{spinner} {msg:>10} [{bar:40}] {pos}/{len} ({rate}, eta {eta})");
    show(Some(&bar));
    let done = loop {
        let now = match poll().await {
            Ok(now) => now,
            Err(e) => break Err(e),
        };
        bar.set_message(now.status.clone());
        bar.set_position(now.processed);
        if now.finished() {
            break Ok(now);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    show(None);
    bar.finish_and_clear();
    done
}

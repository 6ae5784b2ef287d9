//! The drop folder (`serve --inbox DIR`): a file put in `DIR/{biller_code}/`
//! is imported as a background job, then moved to `done/` or `failed/` beside
//! an acknowledgement (`NAME.ack.json`: the counts and every error).
//!
//! A file is taken only once it is settled: its size and modification time
//! unchanged across two scans and its last change at least `settle` old.
//! Names starting with `.` or ending `.part` or `.tmp` are never taken, so a
//! writer may also write under such a name and rename into place. A taken
//! file is first renamed into `processing/` (atomic: one taker), and its job
//! id is kept beside it, so a server that restarts follows the same job
//! instead of submitting the file twice.

use crate::domain::job::JobKind;
use crate::import::JobReport;
use crate::service::{Job, JobOptions, Service, ServiceError};
use crate::wire::upload;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::io::AsyncWriteExt;

const SCAN_EVERY: Duration = Duration::from_secs(1);
const PROCESSING: &str = "processing";
const DONE: &str = "done";
const FAILED: &str = "failed";
/// Tries at writing an acknowledgement (10 s apart) before leaving it to a restart.
const ACK_ATTEMPTS: u32 = 30;

pub struct Inbox {
    root: PathBuf,
    settle: Duration,
    service: Service,
}

/// What a scan last saw of a file: its size and modification time.
type Seen = HashMap<PathBuf, (u64, SystemTime)>;

/// The acknowledgement's head; every error follows it in `errors`.
#[derive(Debug, Serialize)]
struct Ack<'a> {
    file: &'a str,
    biller_code: &'a str,
    kind: Option<&'static str>,
    #[serde(flatten)]
    job: Option<JobReport>,
    /// Why the file was refused before a job could run, if it was.
    refused: Option<String>,
}

/// How a file ended: its job (finished), or why no job ran.
enum Outcome {
    Job(Box<Job>),
    Refused { kind: Option<JobKind>, reason: String },
}

fn is_ignored(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    name.starts_with('.') || lower.ends_with(".part") || lower.ends_with(".tmp") || lower.ends_with(".ack.json")
}

/// A name free in `dir` (no file, no kept job id): `name` itself, or with a
/// unique prefix when taken.
fn free_name(dir: &Path, name: &str) -> PathBuf {
    let plain = dir.join(name);
    if !plain.exists() && !dir.join(format!("{name}.job")).exists() {
        return plain;
    }
    let micros = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_micros();
    dir.join(format!("{micros}-{name}"))
}

/// The files of every biller folder that have settled since the last scan
/// (blocking: runs on the blocking pool). `seen` is updated for the next one.
fn settled_files(root: &Path, settle: Duration, seen: &mut Seen) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut ready = Vec::new();
    let mut present = Seen::new();
    let now = SystemTime::now();
    for biller in std::fs::read_dir(root)?.flatten() {
        if biller.file_name().to_str().is_none_or(is_ignored) {
            continue;
        }
        if !biller.file_type().is_ok_and(|t| t.is_dir()) {
            left_alone(biller.path(), "not a biller folder", seen, &mut present);
            continue;
        }
        let Some(code) = biller.file_name().to_str().map(str::to_owned) else { continue };
        // One unreadable folder must not hold up the others.
        let mut files: Vec<_> = match std::fs::read_dir(biller.path()) {
            Ok(files) => files.flatten().collect(),
            Err(e) => {
                tracing::warn!(error = %e, dir = %biller.path().display(), "cannot read an inbox folder");
                continue;
            }
        };
        // Files of one biller become jobs, and so apply, in name order.
        files.sort_by_key(|f| f.file_name());
        for file in files {
            // Not following links: only regular files put in the folder itself.
            let Ok(meta) = file.metadata() else { continue };
            let name = file.file_name();
            let path = file.path();
            if name.to_str().is_none_or(is_ignored)
                || (meta.is_dir() && [PROCESSING, DONE, FAILED].iter().any(|own| name == *own))
            {
                continue;
            }
            if !meta.is_file() {
                left_alone(path, "not a regular file (a link or a folder)", seen, &mut present);
                continue;
            }
            let Ok(modified) = meta.modified() else { continue };
            let state = (meta.len(), modified);
            let old_enough = now.duration_since(state.1).is_ok_and(|age| age >= settle);
            if old_enough && seen.get(&path) == Some(&state) {
                ready.push((code.clone(), path.clone()));
            }
            present.insert(path, state);
        }
    }
    *seen = present;
    Ok(ready)
}

/// Logs, once while it stays there, an entry the inbox will not take.
fn left_alone(path: PathBuf, why: &str, seen: &Seen, present: &mut Seen) {
    if !seen.contains_key(&path) {
        tracing::warn!(path = %path.display(), "inbox: {why}; left alone");
    }
    present.insert(path, (0, SystemTime::UNIX_EPOCH));
}

async fn file_state(path: &Path) -> Option<(u64, SystemTime)> {
    let meta = tokio::fs::metadata(path).await.ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

/// A job's kind: a `*.replace.*` name, or a CSV whose first row is
/// `REPLACE_CONTACTS` (Payreq's file type identifier), is a replace.
async fn kind_of(path: &Path, name: &str) -> std::io::Result<JobKind> {
    let lower = name.to_ascii_lowercase();
    if [".replace.csv", ".replace.json", ".replace.ndjson"].iter().any(|s| lower.ends_with(s)) {
        return Ok(JobKind::Replace);
    }
    if !lower.ends_with(".csv") {
        return Ok(JobKind::Add);
    }
    let mut head = vec![0u8; 64];
    let mut file = tokio::fs::File::open(path).await?;
    let n = tokio::io::AsyncReadExt::read(&mut file, &mut head).await?;
    let text = String::from_utf8_lossy(&head[..n]);
    let first = text.trim_start_matches('\u{feff}').lines().next().unwrap_or("");
    let first = first.split(',').next().unwrap_or("").trim().trim_matches('"');
    Ok(if first == "REPLACE_CONTACTS" { JobKind::Replace } else { JobKind::Add })
}

impl Inbox {
    pub fn new(root: PathBuf, settle: Duration, service: Service) -> Self {
        Self { root, settle, service }
    }

    /// Scans until `stop` changes. Files a previous run left in `processing/`
    /// are finished first.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        tracing::info!(dir = %self.root.display(), "watching the inbox");
        let this = std::sync::Arc::new(self);
        this.resume().await;
        let mut seen = Seen::new();
        loop {
            let (root, settle) = (this.root.clone(), this.settle);
            let scan = tokio::task::spawn_blocking(move || {
                let ready = settled_files(&root, settle, &mut seen);
                (ready, seen)
            })
            .await;
            match scan {
                Ok((Ok(ready), back)) => {
                    seen = back;
                    for (code, path) in ready {
                        this.take(&code, &path).await;
                    }
                }
                Ok((Err(e), back)) => {
                    seen = back;
                    tracing::warn!(error = %e, dir = %this.root.display(), "scanning the inbox");
                }
                Err(e) => {
                    tracing::error!(error = %e, "inbox scan");
                    seen = Seen::new();
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(SCAN_EVERY) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Picks up files a stopped server left in `processing/`.
    async fn resume(self: &std::sync::Arc<Self>) {
        let Ok(billers) = std::fs::read_dir(&self.root) else { return };
        for biller in billers.flatten() {
            let Some(code) = biller.file_name().to_str().map(str::to_owned) else { continue };
            let Ok(files) = std::fs::read_dir(biller.path().join(PROCESSING)) else { continue };
            let mut files: Vec<_> = files.flatten().map(|f| f.path()).collect();
            files.sort();
            for path in files {
                let is_data = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| !n.ends_with(".job"));
                if is_data && path.is_file() {
                    tracing::info!(file = %path.display(), "resuming an inbox file");
                    self.submit(code.clone(), path, true).await;
                }
            }
        }
    }

    /// Claims a settled file by renaming it into `processing/`, then submits it.
    async fn take(self: &std::sync::Arc<Self>, code: &str, path: &Path) {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return };
        let processing = dir.join(PROCESSING);
        if let Err(e) = tokio::fs::create_dir_all(&processing).await {
            tracing::warn!(error = %e, dir = %processing.display(), "cannot create the processing folder");
            return;
        }
        let claimed = free_name(&processing, &name.to_string_lossy());
        // Another server (or a person) may have taken it first: then it is theirs.
        if tokio::fs::rename(path, &claimed).await.is_err() {
            return;
        }
        tracing::info!(file = %claimed.display(), biller = code, "inbox file taken");
        self.submit(code.to_owned(), claimed, false).await;
    }

    /// Submits a claimed file as a job (unless its job id was kept: a resume),
    /// and leaves a task to acknowledge it when the job ends. Submission is
    /// awaited, so one biller's files queue in the order they were taken.
    async fn submit(self: &std::sync::Arc<Self>, code: String, file: PathBuf, resuming: bool) {
        let job_file = PathBuf::from(format!("{}.job", file.display()));
        let known = match resuming {
            true => tokio::fs::read_to_string(&job_file).await.ok().and_then(|s| crate::domain::JobId::parse(s.trim())),
            false => None,
        };
        let job = match known {
            Some(id) => self.service.operator_job(&code, &id).await.map_err(|e| (None, e.to_string())),
            None => self.queue(&code, &file, &job_file).await,
        };
        let this = self.clone();
        tokio::spawn(async move {
            let outcome = match job {
                Ok(job) => this.wait(&code, job).await,
                Err((kind, reason)) => Outcome::Refused { kind, reason },
            };
            // Until the ack is written the job id stays beside the file, so a
            // restart follows the same job rather than submitting the file again.
            for attempt in 1.. {
                match this.acknowledge(&code, &file, &outcome).await {
                    Ok(()) => {
                        let _ = tokio::fs::remove_file(&job_file).await;
                        return;
                    }
                    Err(e) if attempt < ACK_ATTEMPTS => {
                        tracing::warn!(error = %e, file = %file.display(), attempt, "acknowledging an inbox file; retrying");
                        tokio::time::sleep(Duration::from_secs(10)).await;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, file = %file.display(), "acknowledging an inbox file; left in processing/ until a restart");
                        return;
                    }
                }
            }
        });
    }

    /// Streams the file into a new job and queues it; its id is kept beside it.
    async fn queue(&self, code: &str, file: &Path, job_file: &Path) -> Result<Job, (Option<JobKind>, String)> {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let kind = kind_of(file, name).await.map_err(|e| (None, format!("reading the file: {e}")))?;
        let refused = |reason: String| (Some(kind), reason);
        let (format, _) =
            crate::import::format_of(file, kind == JobKind::Replace).map_err(|e| refused(e.to_string()))?;
        let upload = self
            .service
            .begin_operator_job(code, kind, JobOptions::default())
            .await
            .map_err(|e| refused(e.to_string()))?;
        let before = file_state(file).await;
        let upload = upload::receive_file(file, format, upload).await.map_err(|e| refused(e.detail().to_owned()))?;
        // A writer still holding the file open may have added to it: refuse
        // rather than import part of it.
        if before.is_none() || file_state(file).await != before {
            upload.abort().await;
            return Err(refused(
                "the file changed while it was read: write it under a .part name and rename it into place".into(),
            ));
        }
        let job = upload.finish().await.map_err(|e| refused(e.to_string()))?;
        if let Err(e) = tokio::fs::write(job_file, job.id.as_str()).await {
            tracing::warn!(error = %e, "keeping an inbox file's job id");
        }
        tracing::info!(job = %job.id, kind = %kind, records = job.counts.total, "inbox file queued");
        Ok(job)
    }

    /// Waits for the job to end (any server's worker may run it).
    async fn wait(&self, code: &str, mut job: Job) -> Outcome {
        let mut failures = 0;
        while !job.status.is_finished() {
            tokio::time::sleep(Duration::from_millis(500)).await;
            match self.service.operator_job(code, &job.id).await {
                Ok(j) => job = j,
                Err(ServiceError::NotFound(_)) => {
                    return Outcome::Refused { kind: Some(job.kind), reason: "the job is gone".into() };
                }
                Err(e) => {
                    failures += 1;
                    if failures % 20 == 1 {
                        tracing::warn!(error = %e, job = %job.id, "following an inbox job");
                    }
                }
            }
        }
        Outcome::Job(Box::new(job))
    }

    /// Writes `NAME.ack.json` into `done/` (a completed job) or `failed/`,
    /// then moves the file beside it.
    async fn acknowledge(&self, code: &str, file: &Path, outcome: &Outcome) -> std::io::Result<()> {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("file").to_owned();
        let completed = matches!(outcome, Outcome::Job(j) if j.status == crate::domain::job::JobStatus::Completed);
        let biller_dir = file.parent().and_then(Path::parent).unwrap_or(&self.root);
        let dest_dir = biller_dir.join(if completed { DONE } else { FAILED });
        tokio::fs::create_dir_all(&dest_dir).await?;
        let dest = free_name(&dest_dir, &name);
        let dest_name = dest.file_name().and_then(|n| n.to_str()).unwrap_or(&name).to_owned();
        let ack_path = dest_dir.join(format!("{dest_name}.ack.json"));
        let tmp = dest_dir.join(format!(".{dest_name}.ack.json.tmp"));
        let mut out = tokio::io::BufWriter::new(tokio::fs::File::create(&tmp).await?);
        let (kind, job, refused) = match outcome {
            Outcome::Job(j) => (Some(j.kind), Some(j.as_ref()), None),
            Outcome::Refused { kind, reason } => (*kind, None, Some(reason.clone())),
        };
        let head = Ack {
            file: &name,
            biller_code: code,
            kind: kind.map(JobKind::as_str),
            job: job.map(JobReport::from),
            refused,
        };
        // The head's closing brace gives way to the errors, written a page at a time.
        let head = serde_json::to_string(&head).map_err(std::io::Error::other)?;
        out.write_all(head.strip_suffix('}').unwrap_or(&head).as_bytes()).await?;
        out.write_all(b",\"errors\":[").await?;
        if let Some(job) = job {
            self.write_errors(job, &mut out).await?;
        }
        out.write_all(b"]}\n").await?;
        out.flush().await?;
        out.into_inner().sync_all().await?;
        tokio::fs::rename(&tmp, &ack_path).await?;
        tokio::fs::rename(file, &dest).await?;
        tracing::info!(file = %dest.display(), completed, "inbox file acknowledged");
        Ok(())
    }

    async fn write_errors(&self, job: &Job, out: &mut (impl AsyncWriteExt + Unpin)) -> std::io::Result<()> {
        let mut after = None;
        let mut first = true;
        loop {
            let page = self
                .service
                .operator_job_errors(job.biller_id, job.seq, after, 1000)
                .await
                .map_err(std::io::Error::other)?;
            let Some((last, _)) = page.last() else { return Ok(()) };
            after = Some(*last);
            for (_, e) in &page {
                if !first {
                    out.write_all(b",").await?;
                }
                first = false;
                let e = serde_json::json!({"index": e.idx, "line": e.line, "account_number": e.account_number,
                    "field": e.field, "code": e.code, "message": e.message});
                out.write_all(e.to_string().as_bytes()).await?;
            }
        }
    }
}

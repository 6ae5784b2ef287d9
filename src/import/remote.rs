//! Import through a server's job endpoints: the file is streamed up (a bar
//! shows the bytes sent), then the job is polled to its end. Nothing is
//! opened locally: no database, no worker.

use crate::import::{ImportError, ImportOptions, JobReport, bar, follow, format_of};
use futures_util::TryStreamExt;
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use tokio_util::io::ReaderStream;
use url::Url;

/// A server and the token to call it with.
pub struct Remote {
    base: Url,
    token: String,
    client: Client,
}

/// Failed polls in a row tolerated (a server restarting mid-job, or asking
/// to be called later) before giving up.
const POLL_RETRIES: u32 = 30;
/// The longest wait a poll's `Retry-After` is honoured for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// One status request; a server that accepts but never answers counts as a failed poll.
const POLL_TIMEOUT: Duration = Duration::from_secs(10);

impl Remote {
    pub fn new(server: &str, token: String) -> Result<Self, ImportError> {
        let bad = |why: &str| ImportError::Input(format!("--server {server:?}: {why}"));
        let base = Url::parse(server).map_err(|e| bad(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(bad("give the server's base URL, e.g. https://contacts.example.com"));
        }
        if token.trim().is_empty() {
            return Err(ImportError::Input("--token is empty".into()));
        }
        let client = Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("contactd-import/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ImportError::Http(e.to_string()))?;
        Ok(Self { base, token, client })
    }

    /// `segments` appended to the base URL's path, each percent-encoded.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    pub fn errors_url(&self, code: &str, job_id: &str) -> String {
        let mut url = self.url(&["v1", "billers", code, "jobs", job_id, "errors"]);
        url.query_pairs_mut().append_pair("format", "csv");
        url.to_string()
    }

    fn auth(&self) -> String {
        format!("Token {}", self.token)
    }

    async fn job(&self, code: &str, job_id: &str) -> Result<JobReport, ImportError> {
        let url = self.url(&["v1", "billers", code, "jobs", job_id]);
        let mut failures = 0;
        loop {
            let poll = self.client.get(url.clone()).header("Authorization", self.auth()).timeout(POLL_TIMEOUT);
            let mut wait = Duration::from_secs(1);
            let error = match poll.send().await {
                Ok(res) if res.status() == StatusCode::OK => {
                    return res.json().await.map_err(|e| ImportError::Http(e.to_string()));
                }
                Ok(res) if !passing(res.status()) => {
                    let status = res.status();
                    let detail = problem_of(res).await;
                    return Err(ImportError::Http(format!(
                        "the server answered {status} when asked how the job stands ({detail}); \
                         job {job_id} was submitted and goes on: follow it at {url}"
                    )));
                }
                Ok(res) => {
                    wait = retry_after(&res).unwrap_or(wait);
                    format!("HTTP {}", res.status())
                }
                Err(e) => e.to_string(),
            };
            failures += 1;
            if failures > POLL_RETRIES {
                return Err(ImportError::Http(format!(
                    "{error}; job {job_id} was submitted and goes on: follow it at {url}"
                )));
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// Answers that say "not now" rather than "no": the server or a proxy in
/// front of it is failing, busy, or timed the request out.
fn passing(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS
}

/// A `Retry-After` in seconds, from 1 s (so the retries are not spent at
/// once) up to `MAX_RETRY_AFTER`.
fn retry_after(res: &Response) -> Option<Duration> {
    let secs: u64 = res.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs).clamp(Duration::from_secs(1), MAX_RETRY_AFTER))
}

/// A refusal's problem+json `code` and `detail`, or its body as text.
async fn problem_of(res: Response) -> String {
    let text = res.text().await.unwrap_or_default();
    serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| Some(format!("{}: {}", v["code"].as_str()?, v["detail"].as_str().unwrap_or(""))))
        .unwrap_or(text)
}

async fn refused(res: Response) -> ImportError {
    let status = res.status().as_u16();
    ImportError::Refused { status, detail: problem_of(res).await }
}

/// Streams `path` to the server as a job for biller `code` and follows it.
pub async fn import(remote: &Remote, code: &str, path: &Path, o: ImportOptions) -> Result<JobReport, ImportError> {
    let (_, content_type) = format_of(path, o.replace)?;
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| ImportError::Input(format!("reading {}: {e}", path.display())))?;
    let size = file.metadata().await.map(|m| m.len()).unwrap_or(0);

    let kind = if o.replace { "replace" } else { "add" };
    let mut url = remote.url(&["v1", "billers", code, "contacts", "job", kind]);
    {
        let mut q = url.query_pairs_mut();
        if o.dry_run {
            q.append_pair("dry_run", "true");
        }
        if !o.replace {
            q.append_pair("on_error", o.on_error.as_str());
        }
        if let Some(n) = o.confirm_removals {
            q.append_pair("confirm_removals", &n.to_string());
        }
    }
    let sending = bar(size, "{spinner} uploading  [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})");
    let counter = sending.clone();
    let body = ReaderStream::with_capacity(file, 64 * 1024).inspect_ok(move |chunk| counter.inc(chunk.len() as u64));
    let res = remote
        .client
        .post(url)
        .header("Authorization", remote.auth())
        .header("Content-Type", content_type)
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .map_err(|e| ImportError::Http(e.to_string()))?;
    sending.finish_and_clear();
    if res.status() != StatusCode::ACCEPTED {
        return Err(refused(res).await);
    }
    let accepted: Value = res.json().await.map_err(|e| ImportError::Http(e.to_string()))?;
    let job_id = accepted["job_id"].as_str().ok_or_else(|| ImportError::Http("no job_id in the 202".into()))?;
    let first = remote.job(code, job_id).await?;
    eprintln!("submitted {} records as job {job_id} ({kind})", first.total);
    follow(first.total, || remote.job(code, job_id)).await
}

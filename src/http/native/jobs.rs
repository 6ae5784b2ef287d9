//! Background job routes: submit (JSON array or NDJSON, streamed), status,
//! list, per-record errors and cancel.

use crate::domain::job::{JobKind, JobStatus, OnError};
use crate::http::AppState;
use crate::http::auth::Auth;
use crate::http::idempotency::{self, Errors, NATIVE, request_hash};
use crate::http::path::PathParams;
use crate::http::problem::{ApiError, ApiResult, Problem};
use crate::http::query::{numbered_position, query, removal_count};
use crate::service::{Job, JobOptions, RecordFormat, job_scope};
use crate::wire::dto::{ContactInput, rfc3339};
use crate::wire::job_errors;
use crate::wire::upload::{self, Format};
use crate::wire::{Fault, FaultKind};
use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// What an add job does with invalid records.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnErrorParam {
    /// Fail the job on any invalid record (the default).
    Reject,
    /// Apply the valid records; report the rest.
    Skip,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AddJobQuery {
    /// `reject` (default) fails the job on any invalid record; `skip` applies the valid ones.
    #[param(inline)]
    on_error: Option<OnErrorParam>,
    /// Validate and count; change nothing.
    #[serde(default)]
    dry_run: bool,
}

/// A replace is all or nothing: it takes no `on_error`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReplaceJobQuery {
    /// Validate and count; change nothing.
    #[serde(default)]
    dry_run: bool,
    /// The exact number of removals, when more than the allowed share would go.
    #[serde(default, deserialize_with = "removal_count")]
    #[param(value_type = Option<i64>, minimum = 0)]
    confirm_removals: Option<u64>,
    /// Remove contacts with holds too (otherwise such a replace fails, naming them).
    #[serde(default)]
    force_holds: bool,
}

impl JobKind {
    fn options(self, raw: Option<String>) -> ApiResult<JobOptions> {
        Ok(match self {
            JobKind::Add => {
                let q: AddJobQuery = query(raw)?;
                let on_error = match q.on_error {
                    None | Some(OnErrorParam::Reject) => OnError::Reject,
                    Some(OnErrorParam::Skip) => OnError::Skip,
                };
                JobOptions { on_error, dry_run: q.dry_run, confirm_removals: None, force_holds: false }
            }
            JobKind::Replace => {
                let q: ReplaceJobQuery = query(raw)?;
                JobOptions {
                    on_error: OnError::Reject,
                    dry_run: q.dry_run,
                    confirm_removals: q.confirm_removals,
                    force_holds: q.force_holds,
                }
            }
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobAccepted {
    pub job_id: String,
    pub status: &'static str,
    pub biller_code: String,
}

impl JobAccepted {
    pub fn new(code: &str, job: &Job) -> Self {
        Self { job_id: job.id.to_string(), status: JobStatus::Queued.as_str(), biller_code: code.to_owned() }
    }
}

impl JobAccepted {
    fn location(&self) -> String {
        format!("/v1/billers/{}/jobs/{}", self.biller_code, self.job_id)
    }
}

/// 202 with the job's address in `Location`.
impl IntoResponse for JobAccepted {
    fn into_response(self) -> axum::response::Response {
        let location = HeaderValue::from_str(&self.location());
        let mut res = (StatusCode::ACCEPTED, Json(self)).into_response();
        if let Ok(v) = location {
            res.headers_mut().insert(header::LOCATION, v);
        }
        res
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobBody {
    pub job_id: String,
    pub biller_code: String,
    pub kind: &'static str,
    pub status: &'static str,
    pub on_error: &'static str,
    pub dry_run: bool,
    pub total: u64,
    pub processed: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub removed: u64,
    pub failed: u64,
    /// Why the job failed (or, for a dry run, what the removal guard would say).
    pub error: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

impl JobBody {
    fn new(code: &str, j: Job) -> Self {
        let c = j.counts;
        Self {
            job_id: j.id.to_string(),
            biller_code: code.to_owned(),
            kind: j.kind.as_str(),
            status: j.status.as_str(),
            on_error: j.on_error.as_str(),
            dry_run: j.dry_run,
            total: c.total,
            processed: c.processed,
            created: c.created,
            updated: c.updated,
            unchanged: c.unchanged,
            removed: c.removed,
            failed: c.failed,
            error: j.error,
            created_at: rfc3339(j.created_at),
            started_at: j.started_at.map(rfc3339),
            finished_at: j.finished_at.map(rfc3339),
        }
    }
}

fn format_of(headers: &HeaderMap, kind: JobKind) -> ApiResult<Format> {
    let mime = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    match mime.split(';').next().unwrap_or("").trim().to_ascii_lowercase().as_str() {
        "application/json" => Ok(Format::JsonArray),
        "application/x-ndjson" | "application/ndjson" => Ok(Format::Ndjson),
        "text/csv" => Ok(Format::Csv { replace: kind == JobKind::Replace }),
        _ => Err(Fault::new(FaultKind::UnsupportedMediaType, "send a job as Content-Type: application/json (an array), application/x-ndjson (one contact per line) or text/csv (a header row of field keys)",
        )
        .into()),
    }
}

/// A job submission route: what it submits and how it answers.
pub struct JobRoute {
    pub kind: JobKind,
    /// The request's path (what an Idempotency-Key's request is compared by).
    pub path: String,
    /// The format of JSON and NDJSON records (CSV rows are read into native records).
    pub records: RecordFormat,
    pub errors: Errors,
    /// The 202's body and `Location`.
    pub accepted: fn(&str, &Job) -> (serde_json::Value, String),
}

fn native_accepted(code: &str, job: &Job) -> (serde_json::Value, String) {
    let body = JobAccepted::new(code, job);
    let location = body.location();
    (serde_json::json!(body), location)
}

fn native_route(kind: JobKind, code: &str) -> JobRoute {
    JobRoute {
        kind,
        path: format!("/v1/billers/{code}/contacts/job/{kind}"),
        records: RecordFormat::Native,
        errors: NATIVE,
        accepted: native_accepted,
    }
}

/// Streams a job's records into the job store and queues it. A refused
/// request still has its body drained, so the client hears why.
pub async fn submit(
    s: AppState,
    auth: Result<Auth, ApiError>,
    code: String,
    route: JobRoute,
    raw: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let kind = route.kind;
    let admitted = async {
        let Auth(who) = auth?;
        let options = kind.options(raw.clone())?;
        let format = format_of(&headers, kind)?;
        let records = if matches!(format, Format::Csv { .. }) { RecordFormat::Native } else { route.records };
        let key = idempotency::key_of(&headers)?;
        let scope = job_scope(kind);
        let Ok(slot) = s.uploads.clone().try_acquire_owned() else {
            return Err(crate::service::ServiceError::Unavailable.into());
        };
        let upload = s.service.begin_job(&who, &code, kind, options, records).await?;
        Ok::<_, ApiError>((who, format, key, scope, slot, upload))
    };
    let (who, format, key, scope, _slot, upload) = match admitted.await {
        Ok(admitted) => admitted,
        Err(e) => {
            upload::drain_refused(body).await;
            return Err(e);
        }
    };
    let (upload, digest) = upload::receive(body, format, upload, key.is_some()).await?;
    // The key is judged once the whole body is known: a replay or a clash drops this upload.
    let claimed = match key {
        None => None,
        Some(key) => {
            let Some(digest) = digest else {
                upload.abort().await;
                return Err(crate::service::ServiceError::Internal("an upload with a key has no digest".into()).into());
            };
            let hash = request_hash("POST", &route.path, raw.as_deref(), &digest);
            match idempotency::claim(&s, &who, &code, scope, key, &hash, route.errors).await {
                Ok(c) => Some(c),
                Err(response) => {
                    upload.abort().await;
                    return Ok(response);
                }
            }
        }
    };
    let job = match upload.finish().await {
        Ok(job) => job,
        Err(e) => {
            if let Some(c) = claimed {
                c.release(&s).await;
            }
            return Err(e.into());
        }
    };
    let (accepted, location) = (route.accepted)(&code, &job);
    if let Some(c) = claimed {
        c.complete(&s, StatusCode::ACCEPTED, &accepted.to_string()).await;
    }
    let mut res = (StatusCode::ACCEPTED, Json(accepted)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

/// Submits contacts to add or update as a background job.
#[utoipa::path(post, path = "/v1/billers/{code}/contacts/job/add", operation_id = "submit_add_job", tag = "jobs",
    params(("code" = String, Path, description = "Biller code"), AddJobQuery,
        ("Idempotency-Key" = Option<String>, Header, description = "Same key and body: the original job")),
    request_body(description = "A JSON array of contacts, NDJSON (one contact per line) or CSV (a header row of field keys, an optional last row TRAILER,N; a replace needs it)",
        content((Vec<ContactInput> = "application/json"), (String = "application/x-ndjson"), (String = "text/csv"))),
    responses((status = 202, body = JobAccepted),
        (status = 409, description = "A request with this Idempotency-Key is in progress"),
        (status = 413, description = "More records than a job takes"),
        (status = 422, description = "An Idempotency-Key used with another request")),
    security(("token" = [])))]
pub async fn submit_add(
    State(s): State<AppState>,
    auth: Result<Auth, ApiError>,
    PathParams(code): PathParams<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let route = native_route(JobKind::Add, &code);
    submit(s, auth, code, route, raw, headers, body).await
}

/// Submits the biller's full contact list as a background replace job.
#[utoipa::path(post, path = "/v1/billers/{code}/contacts/job/replace", operation_id = "submit_replace_job", tag = "jobs",
    params(("code" = String, Path, description = "Biller code"), ReplaceJobQuery,
        ("Idempotency-Key" = Option<String>, Header, description = "Same key and body: the original job")),
    request_body(description = "A JSON array of contacts, NDJSON (one contact per line) or CSV (a header row of field keys, an optional last row TRAILER,N; a replace needs it)",
        content((Vec<ContactInput> = "application/json"), (String = "application/x-ndjson"), (String = "text/csv"))),
    responses((status = 202, body = JobAccepted),
        (status = 409, description = "A request with this Idempotency-Key is in progress"),
        (status = 413, description = "More records than a job takes"),
        (status = 422, description = "An Idempotency-Key used with another request")),
    security(("token" = [])))]
pub async fn submit_replace(
    State(s): State<AppState>,
    auth: Result<Auth, ApiError>,
    PathParams(code): PathParams<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let route = native_route(JobKind::Replace, &code);
    submit(s, auth, code, route, raw, headers, body).await
}

/// A job's status and counts.
#[utoipa::path(get, path = "/v1/billers/{code}/jobs/{job_id}", operation_id = "get_job", tag = "jobs",
    params(("code" = String, Path, description = "Biller code"), ("job_id" = String, Path, description = "job_...")),
    responses((status = 200, body = JobBody), (status = 404, body = Problem)),
    security(("token" = [])))]
pub async fn get(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams((code, id)): PathParams<(String, String)>,
) -> ApiResult<Json<JobBody>> {
    let job = s.service.job(&who, &code, &id).await?;
    Ok(Json(JobBody::new(&code, job)))
}

/// Cancels a queued or running job; a cancelled job changes nothing.
#[utoipa::path(post, path = "/v1/billers/{code}/jobs/{job_id}/cancel", operation_id = "cancel_job", tag = "jobs",
    params(("code" = String, Path, description = "Biller code"), ("job_id" = String, Path, description = "job_...")),
    responses((status = 202, body = JobBody), (status = 409, body = Problem), (status = 404, body = Problem)),
    security(("token" = [])))]
pub async fn cancel(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams((code, id)): PathParams<(String, String)>,
) -> ApiResult<(StatusCode, Json<JobBody>)> {
    let job = s.service.cancel_job(&who, &code, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(JobBody::new(&code, job))))
}

/// A job's status, as a list filter.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusParam {
    Queued,
    Validating,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl From<StatusParam> for JobStatus {
    fn from(s: StatusParam) -> Self {
        match s {
            StatusParam::Queued => JobStatus::Queued,
            StatusParam::Validating => JobStatus::Validating,
            StatusParam::Running => JobStatus::Running,
            StatusParam::Completed => JobStatus::Completed,
            StatusParam::Failed => JobStatus::Failed,
            StatusParam::Cancelled => JobStatus::Cancelled,
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct JobListQuery {
    /// 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only jobs in this status.
    #[param(inline)]
    status: Option<StatusParam>,
}

/// How a job's errors come.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorsFormat {
    /// A page of JSON (the default).
    #[default]
    Json,
    /// Every error as CSV, streamed.
    Csv,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ErrorsQuery {
    /// 1 to 1000 (default 100). A CSV has every error: it checks `limit`
    /// and `cursor` but pages by neither.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    #[param(inline)]
    format: Option<ErrorsFormat>,
}

/// A page's size and where it starts, from `limit` and `cursor`.
pub(super) fn page(limit: Option<usize>, cursor: Option<&str>) -> ApiResult<(usize, Option<u64>)> {
    let limit = limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(Fault::new(FaultKind::InvalidQuery, "limit must be 1 to 1000").into());
    }
    Ok((limit, numbered_position(cursor)?))
}

pub(super) fn cursor(n: u64) -> String {
    n.to_string()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobList {
    pub data: Vec<JobBody>,
    pub next_cursor: Option<String>,
}

/// The biller's jobs, newest first.
#[utoipa::path(get, path = "/v1/billers/{code}/jobs", operation_id = "list_jobs", tag = "jobs",
    params(("code" = String, Path, description = "Biller code"), JobListQuery),
    responses((status = 200, body = JobList), (status = 400, body = Problem)),
    security(("token" = [])))]
pub async fn list(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams(code): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<JobList>> {
    let q: JobListQuery = query(raw)?;
    let (limit, before) = page(q.limit, q.cursor.as_deref())?;
    let status = q.status.map(JobStatus::from);
    let jobs = s.service.jobs(&who, &code, status, before.map(|b| b as i64), limit + 1).await?;
    let more = jobs.len() > limit;
    let jobs: Vec<Job> = jobs.into_iter().take(limit).collect();
    let next_cursor = if more { jobs.last().map(|j| cursor(j.seq as u64)) } else { None };
    Ok(Json(JobList { data: jobs.into_iter().map(|j| JobBody::new(&code, j)).collect(), next_cursor }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobErrorBody {
    /// Position of the record in the upload (0-based).
    pub index: u64,
    /// Line of the upload the record is on (where it ends, for a JSON array).
    pub line: u64,
    pub account_number: Option<String>,
    pub field: String,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobErrorList {
    pub data: Vec<JobErrorBody>,
    pub next_cursor: Option<String>,
}

/// Every per-record error of a job, in upload order.
#[utoipa::path(get, path = "/v1/billers/{code}/jobs/{job_id}/errors", operation_id = "list_job_errors", tag = "jobs",
    params(("code" = String, Path, description = "Biller code"), ("job_id" = String, Path, description = "job_..."), ErrorsQuery),
    responses((status = 200, description = "A page of JSON; with ?format=csv, every error as CSV",
        content((JobErrorList = "application/json"), (String = "text/csv")))),
    security(("token" = [])))]
pub async fn errors(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams((code, id)): PathParams<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::response::Response> {
    let q: ErrorsQuery = query(raw)?;
    let (limit, after) = page(q.limit, q.cursor.as_deref())?;
    if let Some(ErrorsFormat::Csv) = q.format {
        return errors_csv(s, who, code, id).await;
    }
    let rows = s.service.job_errors(&who, &code, &id, after, limit + 1).await?;
    let more = rows.len() > limit;
    let rows: Vec<_> = rows.into_iter().take(limit).collect();
    let next_cursor = if more { rows.last().map(|(ord, _)| cursor(*ord)) } else { None };
    let data = rows
        .into_iter()
        .map(|(_, e)| JobErrorBody {
            index: e.idx,
            line: e.line,
            account_number: e.account_number,
            field: e.field,
            code: e.code,
            message: e.message,
        })
        .collect();
    Ok(Json(JobErrorList { data, next_cursor }).into_response())
}

/// Every error of a job as CSV, streamed a page at a time.
async fn errors_csv(
    s: AppState,
    who: crate::service::Principal,
    code: String,
    id: String,
) -> ApiResult<axum::response::Response> {
    // Check access (and that the job exists) before the 200 goes out.
    s.service.job(&who, &code, &id).await?;
    let header = job_errors::HEADER.to_owned();
    let state = (s, who, code, id, None::<u64>, false);
    let pages = futures_util::stream::unfold(state, |(s, who, code, id, after, done)| async move {
        if done {
            return None;
        }
        let rows = match s.service.job_errors(&who, &code, &id, after, 1000).await {
            Ok(rows) => rows,
            Err(e) => return Some((Err(std::io::Error::other(e.to_string())), (s, who, code, id, after, true))),
        };
        let last = rows.last().map(|(ord, _)| *ord);
        let bytes = match job_errors::csv_rows(&rows) {
            Ok(bytes) => bytes,
            Err(err) => return Some((Err(std::io::Error::other(err)), (s, who, code, id, after, true))),
        };
        let finished = rows.len() < 1000;
        Some((Ok(axum::body::Bytes::from(bytes)), (s, who, code, id, last.or(after), finished)))
    });
    let head = futures_util::stream::once(async move { Ok::<_, std::io::Error>(axum::body::Bytes::from(header)) });
    let body = Body::from_stream(futures_util::StreamExt::chain(head, pages));
    let mut res = (StatusCode::OK, body).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    Ok(res)
}

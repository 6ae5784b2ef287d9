//! Background jobs over the native API once submitted (`job_submit`):
//! status, list, per-record errors (JSON or CSV) and cancel.

use crate::domain::job::JobStatus;
use crate::http::AppState;
use crate::http::auth::Auth;
use crate::http::path::PathParams;
use crate::http::problem::{ApiResult, Problem};
use crate::http::query::{numbered_position, query};
use crate::service::Job;
use crate::wire::dto::rfc3339;
use crate::wire::job_errors;
use crate::wire::{Fault, FaultKind};
use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

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

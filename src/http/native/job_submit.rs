//! Job submission over the native API (JSON array, NDJSON or CSV, streamed
//! into the job store as it arrives), and the route description a dialect
//! submits through.

use crate::domain::job::{JobKind, JobStatus, OnError};
use crate::http::AppState;
use crate::http::auth::Auth;
use crate::http::idempotency::{self, Errors, NATIVE, request_hash};
use crate::http::path::PathParams;
use crate::http::problem::{ApiError, ApiResult};
use crate::http::query::{query, removal_count};
use crate::service::{Job, JobOptions, RecordFormat, job_scope};
use crate::wire::dto::ContactInput;
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

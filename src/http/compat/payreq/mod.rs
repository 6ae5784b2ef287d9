//! Payreq Delivery (seed 000): its token, the four contact endpoints and
//! job status, under Payreq's own paths, over the same services, jobs,
//! guards, snapshots and idempotency as the native routes. Records are
//! Payreq's kebab-case objects (`wire::payreq`); jobs remember that format,
//! so the worker reads them as sent.

mod error;

use crate::domain::job::{JobKind, JobStatus};
use crate::domain::sync::WriteMode;
use crate::http::AppState;
use crate::http::auth::Auth;
use crate::http::auth::verified_key;
use crate::http::body::{JsonBytes, off_thread};
use crate::http::compat::{Dialect, DialectResult, In, method_not_allowed, no_such_route};
use crate::http::idempotency::{self, Errors, Keyed, request_hash};
use crate::http::native::contacts::{AddQuery, ReplaceQuery};
use crate::http::native::job_submit::{self, JobRoute};
use crate::http::native::tokens::credentials;
use crate::http::path::PathParams;
use crate::http::query::query;
use crate::service::{Job, Principal, RecordFormat, ReplaceOptions, Scope, WriteOutcome};
use crate::wire::dto::rfc3339;
use crate::wire::json::parse_records;
use crate::wire::{ApiError, payreq};
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
pub use error::Payreq;
use error::RecordProblem;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

type Result<T> = DialectResult<Payreq, T>;

/// Payreq's errors, for responses an Idempotency-Key keeps.
const ERRORS: Errors = Errors { respond: Payreq::render, parts: error::parts, content_type: "application/json" };

/// Records shown with a job's status, at most (the rest: the native errors route).
const JOB_ERRORS_SHOWN: usize = 1000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/token", post(token))
        .route("/biller/{code}/contacts/add", post(add))
        .route("/biller/{code}/contacts/replace", post(replace))
        .route("/biller/{code}/contacts/job/add", post(job_add))
        .route("/biller/{code}/contacts/job/replace", post(job_replace))
        .route("/biller/{code}/jobs/{job_id}", get(job))
        .route("/biller/{code}/{*rest}", any(no_such_route::<Payreq>))
        .method_not_allowed_fallback(method_not_allowed::<Payreq>)
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct TokenBody {
    token: String,
    token_type: &'static str,
    expires_in: u64,
    expires_at: String,
}

/// A token for `Authorization: Token <token>`, from HTTP Basic
/// `key_id:secret` or `{"key_id","key_secret"}`.
async fn token(State(s): State<AppState>, req: Request) -> Result<Json<TokenBody>> {
    let (parts, body) = req.into_parts();
    let (key_id, secret) = credentials(&parts.headers, body).await?;
    let who = verified_key(&parts, &s, &key_id, &secret).await?;
    let issued = s.service.issue_token(&who).await?;
    Ok(Json(TokenBody {
        token: issued.token,
        token_type: "Token",
        expires_in: issued.expires_in,
        expires_at: rfc3339(issued.expires_at),
    }))
}

/// What an add or replace did: the processed count and the biller code.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Written {
    biller_code: String,
    processed: u64,
    created: u64,
    updated: u64,
    unchanged: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    removed: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    dry_run: bool,
}

impl Written {
    fn new(code: &str, o: WriteOutcome, replace: bool, dry_run: bool) -> Self {
        let c = o.counts;
        Self {
            biller_code: code.to_owned(),
            processed: c.created + c.updated + c.unchanged,
            created: c.created,
            updated: c.updated,
            unchanged: c.unchanged,
            removed: replace.then_some(c.removed),
            dry_run,
        }
    }
}

/// The request as an Idempotency-Key compares it.
fn hash_of(path: &str, raw: Option<&str>, body: &[u8]) -> [u8; 32] {
    request_hash("POST", path, raw, &Sha256::digest(body))
}

async fn add(
    State(s): State<AppState>,
    In(Auth(who), ..): In<Payreq, Auth>,
    In(PathParams(code), ..): In<Payreq, PathParams<String>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    In(JsonBytes(body), ..): In<Payreq, JsonBytes>,
) -> Response {
    write(WriteMode::Add, s, who, code, raw, headers, body).await
}

async fn replace(
    State(s): State<AppState>,
    In(Auth(who), ..): In<Payreq, Auth>,
    In(PathParams(code), ..): In<Payreq, PathParams<String>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    In(JsonBytes(body), ..): In<Payreq, JsonBytes>,
) -> Response {
    write(WriteMode::Replace, s, who, code, raw, headers, body).await
}

/// An add or replace of the body's records, under its Idempotency-Key.
async fn write(
    mode: WriteMode,
    s: AppState,
    who: Principal,
    code: String,
    raw: Option<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (name, scope) = match mode {
        WriteMode::Add => ("add", Scope::ContactsWrite),
        WriteMode::Replace => ("replace", Scope::ContactsReplace),
    };
    let path = format!("/biller/{code}/contacts/{name}");
    let hash = || hash_of(&path, raw.as_deref(), &body);
    let keyed = Keyed { code: &code, scope, headers: &headers, errors: ERRORS };
    idempotency::run(&s, &who, keyed, hash, async {
        let options = match mode {
            WriteMode::Add => ReplaceOptions { dry_run: query::<AddQuery>(raw.clone())?.dry_run, ..Default::default() },
            WriteMode::Replace => {
                let q: ReplaceQuery = query(raw.clone())?;
                ReplaceOptions { dry_run: q.dry_run, confirm_removals: q.confirm_removals, force_holds: q.force_holds }
            }
        };
        let bytes = body.clone();
        let batch = off_thread(move || parse_records(&bytes, payreq::read_record)).await?;
        let outcome = match mode {
            WriteMode::Add => {
                let via = "POST /biller/{code}/contacts/add";
                s.service.add_contacts(&who, &code, via, batch, options.dry_run).await?
            }
            WriteMode::Replace => {
                let via = "POST /biller/{code}/contacts/replace";
                s.service.replace_contacts(&who, &code, via, batch, options).await?
            }
        };
        Ok((StatusCode::OK, json!(Written::new(&code, outcome, mode == WriteMode::Replace, options.dry_run))))
    })
    .await
}

fn accepted(code: &str, job: &Job) -> (serde_json::Value, String) {
    let body = json!({"job-id": job.id.to_string(), "status": status_of(job.status), "biller-code": code});
    (body, format!("/biller/{code}/jobs/{}", job.id))
}

async fn submit(
    s: AppState,
    auth: std::result::Result<Auth, ApiError>,
    code: String,
    kind: JobKind,
    raw: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let route = JobRoute {
        kind,
        path: format!("/biller/{code}/contacts/job/{kind}"),
        records: RecordFormat::Payreq,
        errors: ERRORS,
        accepted,
    };
    Ok(job_submit::submit(s, auth, code, route, raw, headers, body).await?)
}

async fn job_add(
    State(s): State<AppState>,
    auth: std::result::Result<Auth, ApiError>,
    In(PathParams(code), ..): In<Payreq, PathParams<String>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    submit(s, auth, code, JobKind::Add, raw, headers, body).await
}

async fn job_replace(
    State(s): State<AppState>,
    auth: std::result::Result<Auth, ApiError>,
    In(PathParams(code), ..): In<Payreq, PathParams<String>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    submit(s, auth, code, JobKind::Replace, raw, headers, body).await
}

/// In progress, completed, failed (or cancelled), as the seed words it.
fn status_of(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Receiving | JobStatus::Queued | JobStatus::Validating | JobStatus::Running => "in-progress",
        JobStatus::Completed => "completed",
        JobStatus::Failed => "failed",
        JobStatus::Cancelled => "cancelled",
    }
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct JobStatusBody {
    job_id: String,
    biller_code: String,
    kind: &'static str,
    status: &'static str,
    total: u64,
    processed: u64,
    created: u64,
    updated: u64,
    unchanged: u64,
    removed: u64,
    failed: u64,
    error: Option<String>,
    errors: Vec<RecordProblem>,
    created_at: String,
    finished_at: Option<String>,
}

async fn job(
    State(s): State<AppState>,
    In(Auth(who), ..): In<Payreq, Auth>,
    In(PathParams((code, id)), ..): In<Payreq, PathParams<(String, String)>>,
) -> Result<Response> {
    let j = s.service.job(&who, &code, &id).await?;
    let errors = s.service.job_errors(&who, &code, &id, None, JOB_ERRORS_SHOWN).await?;
    let c = j.counts;
    let body = JobStatusBody {
        job_id: j.id.to_string(),
        biller_code: code,
        kind: j.kind.as_str(),
        status: status_of(j.status),
        total: c.total,
        processed: c.processed,
        created: c.created,
        updated: c.updated,
        unchanged: c.unchanged,
        removed: c.removed,
        failed: c.failed,
        error: j.error,
        errors: errors
            .into_iter()
            .map(|(_, e)| RecordProblem::new(e.idx, e.account_number, &e.field, e.code, &e.message))
            .collect(),
        created_at: rfc3339(j.created_at),
        finished_at: j.finished_at.map(rfc3339),
    };
    Ok(Json(body).into_response())
}

//! Replace snapshots: list, one snapshot, its contacts as a streamed download
//! (JSON, NDJSON or CSV), and restore (a replace job).

use crate::export::{Export, ExportFormat, Source};
use crate::http::AppState;
use crate::http::auth::Auth;
use crate::http::dto::rfc3339;
use crate::http::jobs::{JobAccepted, cursor, page};
use crate::http::path::PathParams;
use crate::http::problem::{ApiResult, Problem};
use crate::http::query::{query, removal_count};
use crate::service::{JobOptions, Snapshot};
use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotBody {
    /// `snap_` and 14 base62 characters.
    pub snapshot_id: String,
    pub biller_code: String,
    /// The replace job that took it; absent for a synchronous replace.
    pub job_id: Option<String>,
    /// Contacts the biller had just before the replace.
    pub contacts: u64,
    pub created_at: String,
}

impl SnapshotBody {
    fn new(code: &str, s: Snapshot) -> Self {
        Self {
            snapshot_id: s.id.to_string(),
            biller_code: code.to_owned(),
            job_id: s.job.map(|j| j.to_string()),
            contacts: s.contacts,
            created_at: rfc3339(s.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotList {
    pub data: Vec<SnapshotBody>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// 1 to 1000 (default 100).
    limit: Option<usize>,
    cursor: Option<String>,
}

/// The biller's replace snapshots, newest first.
#[utoipa::path(get, path = "/v1/billers/{code}/snapshots", tag = "snapshots",
    params(("code" = String, Path, description = "Biller code"), ListQuery),
    responses((status = 200, body = SnapshotList), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("token" = [])))]
pub async fn list(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams(code): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<SnapshotList>> {
    let q: ListQuery = query(raw)?;
    let (limit, before) = page(q.limit, q.cursor.as_deref())?;
    let found = s.service.snapshots(&who, &code, before.map(|b| b as i64), limit + 1).await?;
    let more = found.len() > limit;
    let found: Vec<Snapshot> = found.into_iter().take(limit).collect();
    let next_cursor = if more { found.last().map(|x| cursor(x.seq as u64)) } else { None };
    Ok(Json(SnapshotList { data: found.into_iter().map(|x| SnapshotBody::new(&code, x)).collect(), next_cursor }))
}

/// One snapshot.
#[utoipa::path(get, path = "/v1/billers/{code}/snapshots/{snapshot_id}", tag = "snapshots",
    params(("code" = String, Path, description = "Biller code"), ("snapshot_id" = String, Path, description = "snap_...")),
    responses((status = 200, body = SnapshotBody), (status = 404, body = Problem)),
    security(("token" = [])))]
pub async fn get(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams((code, id)): PathParams<(String, String)>,
) -> ApiResult<Json<SnapshotBody>> {
    let (_, snapshot) = s.service.snapshot(&who, &code, &id).await?;
    Ok(Json(SnapshotBody::new(&code, snapshot)))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DownloadQuery {
    /// `json` (default: an array), `ndjson`, or `csv` (the columns a CSV job takes, ending `TRAILER,N`).
    format: Option<String>,
}

/// A snapshot's contacts, as they were, streamed in account-number order.
#[utoipa::path(get, path = "/v1/billers/{code}/snapshots/{snapshot_id}/contacts", tag = "snapshots",
    params(("code" = String, Path, description = "Biller code"), ("snapshot_id" = String, Path, description = "snap_..."), DownloadQuery),
    responses((status = 200, body = Vec<crate::http::dto::ContactBody>, description = "JSON array; NDJSON or CSV with ?format="),
        (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("token" = [])))]
pub async fn download(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams((code, id)): PathParams<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let q: DownloadQuery = query(raw)?;
    let (format, mime) = match q.format.as_deref() {
        None | Some("json") => (ExportFormat::Json, "application/json"),
        Some("ndjson") => (ExportFormat::Ndjson, "application/x-ndjson"),
        Some("csv") => (ExportFormat::Csv, "text/csv; charset=utf-8"),
        Some(_) => {
            return Err(Problem::new(StatusCode::BAD_REQUEST, "invalid_query", "format is json, ndjson or csv").into());
        }
    };
    // Access and existence are checked before the 200 goes out.
    let (biller, snapshot) = s.service.snapshot(&who, &code, &id).await?;
    let export = Export::new(s.service.clone(), &biller, Source::Snapshot(snapshot), format);
    let body = Body::from_stream(export.into_stream().map_err(|e| std::io::Error::other(e.to_string())));
    let mut res = (StatusCode::OK, body).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{code}-{id}.{}\"",
        q.format.as_deref().unwrap_or("json")
    )) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RestoreQuery {
    /// Validate and count; change nothing.
    #[serde(default)]
    dry_run: bool,
    /// The exact number of removals, when more than the allowed share would go.
    #[serde(default, deserialize_with = "removal_count")]
    confirm_removals: Option<u64>,
}

/// Restores a snapshot: queues a replace job whose records are the snapshot's
/// contacts, validated and guarded like any other replace.
#[utoipa::path(post, path = "/v1/billers/{code}/snapshots/{snapshot_id}/restore", tag = "snapshots",
    params(("code" = String, Path, description = "Biller code"), ("snapshot_id" = String, Path, description = "snap_..."), RestoreQuery),
    responses((status = 202, body = JobAccepted), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("token" = [])))]
pub async fn restore(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams((code, id)): PathParams<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let q: RestoreQuery = query(raw)?;
    let options = JobOptions { dry_run: q.dry_run, confirm_removals: q.confirm_removals, ..JobOptions::default() };
    let job = s.service.restore_snapshot(&who, &code, &id, options).await?;
    Ok(JobAccepted::new(&code, &job).into_response())
}

//! Replace snapshots: list, one snapshot, its contacts as a streamed download
//! (JSON, NDJSON or CSV), and restore (a replace job).

use crate::export::{Export, ExportFormat, Source};
use crate::http::AppState;
use crate::http::auth::Auth;
use crate::http::native::job_submit::JobAccepted;
use crate::http::native::jobs::{cursor, page};
use crate::http::path::PathParams;
use crate::http::problem::{ApiResult, Problem};
use crate::http::query::{query, removal_count};
use crate::service::{JobOptions, Snapshot};
use crate::wire::dto::rfc3339;
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
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The biller's replace snapshots, newest first.
#[utoipa::path(get, path = "/v1/billers/{code}/snapshots", operation_id = "list_snapshots", tag = "snapshots",
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
#[utoipa::path(get, path = "/v1/billers/{code}/snapshots/{snapshot_id}", operation_id = "get_snapshot", tag = "snapshots",
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

/// How a snapshot's contacts come.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DownloadFormat {
    /// A JSON array (the default).
    Json,
    /// One contact per line.
    Ndjson,
    /// The columns a CSV job takes, ending `TRAILER,N`.
    Csv,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DownloadQuery {
    #[param(inline)]
    format: Option<DownloadFormat>,
}

/// A snapshot's contacts, as they were, streamed in account-number order.
#[utoipa::path(get, path = "/v1/billers/{code}/snapshots/{snapshot_id}/contacts", operation_id = "download_snapshot", tag = "snapshots",
    params(("code" = String, Path, description = "Biller code"), ("snapshot_id" = String, Path, description = "snap_..."), DownloadQuery),
    responses((status = 200, description = "A JSON array; NDJSON or CSV with ?format=",
            content((Vec<crate::wire::dto::ContactBody> = "application/json"), (String = "application/x-ndjson"), (String = "text/csv"))),
        (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("token" = [])))]
pub async fn download(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams((code, id)): PathParams<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let q: DownloadQuery = query(raw)?;
    let (format, mime, extension) = match q.format {
        None | Some(DownloadFormat::Json) => (ExportFormat::Json, "application/json", "json"),
        Some(DownloadFormat::Ndjson) => (ExportFormat::Ndjson, "application/x-ndjson", "ndjson"),
        Some(DownloadFormat::Csv) => (ExportFormat::Csv, "text/csv; charset=utf-8", "csv"),
    };
    // Access and existence are checked before the 200 goes out.
    let (biller, snapshot) = s.service.snapshot(&who, &code, &id).await?;
    let export = Export::new(s.service.clone(), &biller, Source::Snapshot(snapshot), format);
    let body = Body::from_stream(export.into_stream().map_err(|e| std::io::Error::other(e.to_string())));
    let mut res = (StatusCode::OK, body).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{code}-{id}.{extension}\"")) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RestoreQuery {
    /// Validate and count; change nothing.
    #[serde(default)]
    dry_run: bool,
    /// The exact number of removals, when more than the allowed share would go.
    #[serde(default, deserialize_with = "removal_count")]
    #[param(value_type = Option<i64>, minimum = 0)]
    confirm_removals: Option<u64>,
    /// Remove contacts with holds too (otherwise such a restore fails, naming them).
    #[serde(default)]
    force_holds: bool,
}

/// Restores a snapshot: queues a replace job whose records are the snapshot's
/// contacts, validated and guarded like any other replace.
#[utoipa::path(post, path = "/v1/billers/{code}/snapshots/{snapshot_id}/restore", operation_id = "restore_snapshot", tag = "snapshots",
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
    let options = JobOptions {
        dry_run: q.dry_run,
        confirm_removals: q.confirm_removals,
        force_holds: q.force_holds,
        ..JobOptions::default()
    };
    let job = s.service.restore_snapshot(&who, &code, &id, options).await?;
    Ok(JobAccepted::new(&code, &job).into_response())
}

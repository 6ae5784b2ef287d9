//! A biller's Contact Field Settings over HTTP: read with `contacts:read`,
//! changed (weighed against its stored contacts first) and its earlier
//! versions read with `admin`.

use crate::domain::field_settings::SettingsDoc;
use crate::http::AppState;
use crate::http::auth::Auth;
use crate::http::body::{JsonBytes, parse};
use crate::http::path::PathParams;
use crate::http::problem::ApiResult;
use crate::http::query::query;
use crate::service::{Scope, SettingsChange};
use crate::wire::dto::ImpactBody;
use crate::wire::dto::rfc3339;
use axum::Json;
use axum::extract::{RawQuery, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoQuery {}

/// The biller's field settings document.
#[utoipa::path(get, path = "/v1/billers/{code}/field-settings", operation_id = "get_field_settings", tag = "billers",
    params(("code" = String, Path, description = "Biller code")),
    responses((status = 200, body = Object)),
    security(("token" = [])))]
pub async fn get(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams(code): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<SettingsDoc>> {
    query::<NoQuery>(raw)?;
    let biller = s.service.authorize(&who, &code, Scope::ContactsRead).await?;
    Ok(Json(biller.settings.doc().clone()))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PutQuery {
    /// Weigh the change against the stored contacts; change nothing.
    #[serde(default)]
    dry_run: bool,
    /// Apply it even though it leaves stored contacts invalid (their next write must then fix them).
    #[serde(default)]
    confirm: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsResult {
    #[schema(value_type = Object)]
    pub settings: SettingsDoc,
    /// False for a dry run.
    pub applied: bool,
    pub impact: ImpactBody,
}

/// Replaces the biller's field settings (scope `admin`). The whole document
/// is checked first, then weighed against every stored contact: a change
/// that would leave any invalid (a field removed or newly required, a
/// tighter length or pattern) is refused with counts unless `confirm=true`.
#[utoipa::path(put, path = "/v1/billers/{code}/field-settings", operation_id = "put_field_settings", tag = "billers",
    params(("code" = String, Path, description = "Biller code"), PutQuery),
    request_body = Object,
    responses((status = 200, body = SettingsResult),
        (status = 409, description = "Stored contacts would be invalid (counts in the body); confirm=true applies it anyway"),
        (status = 422, description = "The settings document is invalid (each problem named)")),
    security(("token" = [])))]
pub async fn put(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams(code): PathParams<String>,
    RawQuery(raw): RawQuery,
    JsonBytes(body): JsonBytes,
) -> ApiResult<Json<SettingsResult>> {
    let q: PutQuery = query(raw)?;
    s.service.authorize(&who, &code, Scope::Admin).await?;
    let doc: SettingsDoc = parse(&body)?;
    let change = SettingsChange { dry_run: q.dry_run, confirm: q.confirm };
    let (settings, impact, applied) = s.service.put_field_settings(&who, &code, doc, change).await?;
    Ok(Json(SettingsResult { settings: settings.doc().clone(), applied, impact: impact.into() }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsVersionBody {
    pub version: i64,
    pub created_at: String,
    /// The key that made it (none for the CLI).
    pub key_id: Option<String>,
    #[schema(value_type = Object)]
    pub settings: SettingsDoc,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsVersions {
    pub data: Vec<SettingsVersionBody>,
}

/// Every settings version the biller had, newest first (scope `admin`).
#[utoipa::path(get, path = "/v1/billers/{code}/field-settings/versions", operation_id = "list_settings_versions", tag = "billers",
    params(("code" = String, Path, description = "Biller code")),
    responses((status = 200, body = SettingsVersions)),
    security(("token" = [])))]
pub async fn versions(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams(code): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<SettingsVersions>> {
    query::<NoQuery>(raw)?;
    let versions = s.service.settings_versions(&who, &code).await?;
    let data = versions
        .into_iter()
        .map(|v| SettingsVersionBody {
            version: v.version,
            created_at: rfc3339(v.created_at),
            key_id: v.key_id.map(|k| k.to_string()),
            settings: v.settings.doc().clone(),
        })
        .collect();
    Ok(Json(SettingsVersions { data }))
}

//! A biller's Contact Field Settings over HTTP: read with `contacts:read`,
//! replace with `admin`.

use crate::domain::field_settings::SettingsDoc;
use crate::http::AppState;
use crate::http::auth::Auth;
use crate::http::body::{JsonBytes, parse};
use crate::http::path::PathParams;
use crate::http::problem::{ApiResult, Problem};
use crate::service::Scope;
use axum::Json;
use axum::extract::State;

/// The biller's field settings document.
#[utoipa::path(get, path = "/v1/billers/{code}/field-settings", operation_id = "get_field_settings", tag = "billers",
    params(("code" = String, Path, description = "Biller code")),
    responses((status = 200, body = Object), (status = 404, body = Problem)),
    security(("token" = [])))]
pub async fn get(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams(code): PathParams<String>,
) -> ApiResult<Json<SettingsDoc>> {
    let biller = s.service.authorize(&who, &code, Scope::ContactsRead).await?;
    Ok(Json(biller.settings.doc().clone()))
}

/// Replaces the biller's field settings (scope `admin`); the whole document is checked first.
#[utoipa::path(put, path = "/v1/billers/{code}/field-settings", operation_id = "put_field_settings", tag = "billers",
    params(("code" = String, Path, description = "Biller code")),
    request_body = Object,
    responses((status = 200, body = Object), (status = 422, description = "The settings document is invalid (each problem named)")),
    security(("token" = [])))]
pub async fn put(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams(code): PathParams<String>,
    JsonBytes(body): JsonBytes,
) -> ApiResult<Json<SettingsDoc>> {
    s.service.authorize(&who, &code, Scope::Admin).await?;
    let doc: SettingsDoc = parse(&body)?;
    let settings = s.service.set_field_settings(&code, doc).await?;
    Ok(Json(settings.doc().clone()))
}

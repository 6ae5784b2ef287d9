//! Liveness and readiness.

use crate::http::AppState;
use crate::http::problem::{ApiResult, Problem};
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

/// The process is up.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "ops", responses((status = 200, body = Object)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The database answers.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "ops", responses((status = 200, body = Object), (status = 500, body = Problem)))]
pub async fn readyz(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    s.service.ready().await?;
    Ok(Json(json!({"status": "ready", "database": s.service.backend()})))
}

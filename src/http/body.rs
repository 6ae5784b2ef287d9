//! Reading request bodies: size limit, content type, stalled bodies.

use crate::http::AppState;
use crate::http::problem::ApiError;
use crate::http::server;
use crate::wire::{Fault, FaultKind};
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::header;

/// Runs CPU-heavy work (parsing up to the body limit) on a blocking thread,
/// so one large request never stalls the async workers.
pub async fn off_thread<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(crate::service::ServiceError::Internal(format!("parsing task failed: {e}")).into()))
}

pub use crate::wire::fault::stalled;

/// Reads a body whole, up to `limit` bytes.
pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let e = e.into_inner();
        if let Some(stalled) = stalled(e.as_ref()) {
            return stalled;
        }
        if server::caused_by::<http_body_util::LengthLimitError>(e.as_ref()) {
            return Fault::new(
                FaultKind::BodyTooLarge,
                format!("the request body is larger than the {limit} byte limit; split it into smaller requests"),
            )
            .into();
        }
        Fault::new(FaultKind::InvalidBody, format!("the request body could not be read: {e}")).into()
    })
}

/// A JSON request body, read whole up to the configured limit.
pub struct JsonBytes(pub Bytes);

impl FromRequest<AppState> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, state: &AppState) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if mime != "application/json" && !mime.ends_with("+json") {
            return Err(
                Fault::new(FaultKind::UnsupportedMediaType, "send the body as Content-Type: application/json").into()
            );
        }
        Ok(Self(read_limited(req.into_body(), state.max_body_bytes).await?))
    }
}

pub use crate::wire::json::{parse, parse_contact, parse_contacts};

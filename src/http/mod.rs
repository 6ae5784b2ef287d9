//! The HTTP edge: routing, request ids, tracing, the extractors and error
//! seam every API shares; the native `/v1` API (`native`) and the provider
//! dialects (`compat`) beside it.

mod auth;
mod body;
mod compat;
pub use compat::instantpay::{Settings as InstantpaySettings, configure as configure_instantpay};
mod idempotency;
mod native;
mod path;
mod problem;
mod query;
mod server;

use crate::service::Service;
use crate::wire::{Fault, FaultKind};
use axum::Router;
use axum::http::{HeaderName, Request};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use native::{billers, catalogue, contact, contacts, job_submit, jobs, ops, snapshots, tokens};
use std::future::Future;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use native::openapi::document as openapi_document;
pub use problem::ApiError;
pub use server::Limits;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What handlers share. axum clones it for every request (once per
/// extractor): behind one `Arc` that is one counter, not one per field.
#[derive(Clone)]
pub struct AppState(std::sync::Arc<App>);

impl From<App> for AppState {
    fn from(app: App) -> Self {
        Self(std::sync::Arc::new(app))
    }
}

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

pub struct App {
    pub service: Service,
    pub max_body_bytes: usize,
    /// Job uploads in progress at once (each holds a blocking thread while it streams).
    pub uploads: std::sync::Arc<tokio::sync::Semaphore>,
    /// The provider dialects served beside the native API.
    pub dialects: std::sync::Arc<[String]>,
    /// Proxies whose `X-Forwarded-For` is believed (`auth::client_ip`).
    pub trusted_proxies: std::sync::Arc<[ipnet::IpNet]>,
}

/// Job uploads one server streams at once; more get 503 and retry.
pub const MAX_CONCURRENT_UPLOADS: usize = 16;

async fn not_found() -> impl IntoResponse {
    ApiError::from(Fault::new(FaultKind::NoSuchRoute, "no such route; see GET /openapi.json"))
}

/// A client's request id is echoed and logged only if it is short and plain;
/// otherwise a fresh one is generated (no log injection through it).
async fn drop_unsafe_request_id<B>(mut req: Request<B>) -> Request<B> {
    let safe = req.headers().get_all(&REQUEST_ID).iter().count() <= 1
        && req.headers().get(&REQUEST_ID).is_none_or(|v| {
            let b = v.as_bytes();
            (1..=64).contains(&b.len())
                && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        });
    if !safe {
        req.headers_mut().remove(&REQUEST_ID);
    }
    req
}

async fn method_not_allowed() -> impl IntoResponse {
    ApiError::from(Fault::new(
        FaultKind::MethodNotAllowed,
        "this route does not take that method; see GET /openapi.json",
    ))
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/openapi.json", get(native::openapi::serve))
        .route("/v1/auth/token", post(tokens::issue))
        .route("/v1/billers/{code}/field-settings", get(billers::get).put(billers::put))
        .route("/v1/billers/{code}/field-settings/versions", get(billers::versions))
        .route("/v1/billers/{code}/tags", get(catalogue::tags).post(catalogue::create_tag))
        .route("/v1/billers/{code}/tags/{tag_id}", delete(catalogue::delete_tag))
        .route("/v1/billers/{code}/contact-types", get(catalogue::contact_types).post(catalogue::add_contact_type))
        .route("/v1/billers/{code}/contacts", get(contacts::list).post(contact::create))
        .route("/v1/billers/{code}/contacts/add", post(contacts::add))
        .route("/v1/billers/{code}/contacts/replace", post(contacts::replace))
        .route("/v1/billers/{code}/contacts/{id}", get(contact::get).patch(contact::patch).delete(contact::delete))
        .route("/v1/billers/{code}/contacts/{id}/crn", post(contact::issue_crn))
        .route("/v1/billers/{code}/contacts/{id}/aliases", post(contact::add_alias))
        .route("/v1/billers/{code}/contacts/{id}/holds", get(catalogue::holds).post(catalogue::place_hold))
        .route("/v1/billers/{code}/contacts/{id}/holds/{hold_id}", delete(catalogue::release_hold))
        .route("/v1/billers/{code}/contacts/{id}/history", get(catalogue::history))
        .route("/v1/billers/{code}/contacts/job/add", post(job_submit::submit_add))
        .route("/v1/billers/{code}/contacts/job/replace", post(job_submit::submit_replace))
        .route("/v1/billers/{code}/jobs", get(jobs::list))
        .route("/v1/billers/{code}/jobs/{job_id}", get(jobs::get))
        .route("/v1/billers/{code}/jobs/{job_id}/errors", get(jobs::errors))
        .route("/v1/billers/{code}/jobs/{job_id}/cancel", post(jobs::cancel))
        .route("/v1/billers/{code}/snapshots", get(snapshots::list))
        .route("/v1/billers/{code}/snapshots/{snapshot_id}", get(snapshots::get))
        .route("/v1/billers/{code}/snapshots/{snapshot_id}/contacts", get(snapshots::download))
        .route("/v1/billers/{code}/snapshots/{snapshot_id}/restore", post(snapshots::restore))
        // Set on the native routes only: each dialect answers its own 405s.
        .method_not_allowed_fallback(method_not_allowed)
        .merge(compat::routes(&state.dialects))
        .fallback(not_found)
        .with_state(state)
        .layer(CatchPanicLayer::custom(panicked))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    // The path only: query strings and headers may carry credentials.
                    let id = req
                        .extensions()
                        .get::<RequestId>()
                        .and_then(|id| id.header_value().to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(axum::middleware::map_request(drop_unsafe_request_id))
}

/// A bug costs its request a 500 (logged with the panic's message), never
/// the connection.
fn panicked(panic: Box<dyn std::any::Any + Send>) -> axum::response::Response {
    let why = panic.downcast_ref::<&str>().copied().or(panic.downcast_ref::<String>().map(String::as_str));
    tracing::error!(panic = why.unwrap_or("?"), "a request handler panicked");
    ApiError::from(crate::service::ServiceError::Internal("the server failed on this request".into())).into_response()
}

/// Serves on a bound listener until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    server::serve(listener, router(state), limits, shutdown).await
}

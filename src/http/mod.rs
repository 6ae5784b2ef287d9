//! The HTTP edge: routing, request ids, tracing, and the native `/v1` API.

mod auth;
mod billers;
mod body;
mod contacts;
mod dto;
mod openapi;
mod ops;
mod problem;
mod tokens;

use crate::service::Service;
use axum::Router;
use axum::http::{HeaderName, Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use std::future::Future;
use tokio::net::TcpListener;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use openapi::document as openapi_document;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone)]
pub struct AppState {
    pub service: Service,
    pub max_body_bytes: usize,
}

async fn not_found() -> impl IntoResponse {
    problem::Problem::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route; see GET /openapi.json",
    )
}

pub fn router(state: AppState) -> Router {
    let contacts = Router::new()
        .route("/", get(contacts::list).post(contacts::create))
        .route("/add", post(contacts::add))
        .route("/replace", post(contacts::replace))
        .route("/{id}", get(contacts::get).delete(contacts::delete));
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/openapi.json", get(ops::openapi))
        .route("/v1/auth/token", post(tokens::issue))
        .route("/v1/billers/{code}/field-settings", get(billers::get).put(billers::put))
        .nest("/v1/billers/{code}/contacts", contacts)
        .fallback(not_found)
        .with_state(state)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            // The path only: query strings and headers may carry credentials.
            let id = req.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        })
        .on_response(DefaultOnResponse::new().level(Level::INFO)))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Serves on a bound listener until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

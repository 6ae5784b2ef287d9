//! The OpenAPI document, generated from the handlers' annotations.

use crate::http::{billers, contacts, dto, jobs, ops, problem, snapshots, tokens};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct TokenAuth;

impl Modify for TokenAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "Token <token> (or Bearer <token>)",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "contactd", description = "Multi-tenant contact directory and sync service for billers"),
    paths(
        tokens::issue,
        contacts::add,
        contacts::replace,
        contacts::create,
        contacts::list,
        contacts::get,
        contacts::delete,
        jobs::submit_add,
        jobs::submit_replace,
        jobs::list,
        jobs::get,
        jobs::errors,
        jobs::cancel,
        snapshots::list,
        snapshots::get,
        snapshots::download,
        snapshots::restore,
        billers::get,
        billers::put,
        ops::healthz,
        ops::readyz,
        ops::openapi,
    ),
    components(schemas(dto::ContactInput, dto::ContactBody, dto::ContactList, dto::WriteResult, dto::TokenRequest, dto::TokenResponse, problem::Problem)),
    modifiers(&TokenAuth)
)]
struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

//! The `Authorization` header: `Token <t>` or `Bearer <t>` on every API route;
//! `Basic key_id:secret` only where a route asks for key credentials.

use crate::http::AppState;
use crate::http::problem::ApiError;
use crate::service::{AuthFailure, Principal, ServiceError};
use crate::wire::{Fault, FaultKind};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// The authenticated caller of a request.
pub struct Auth(pub Principal);

fn scheme<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let (s, rest) = value.split_once(' ')?;
    s.eq_ignore_ascii_case(name).then(|| rest.trim())
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if parts.headers.get_all(AUTHORIZATION).iter().count() > 1 {
            return Err(ServiceError::Unauthenticated(AuthFailure::MalformedToken).into());
        }
        let value = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(ServiceError::Unauthenticated(AuthFailure::MissingCredentials))?
            .to_str()
            .map_err(|_| ServiceError::Unauthenticated(AuthFailure::MalformedToken))?;
        let token = scheme(value, "Token")
            .or_else(|| scheme(value, "Bearer"))
            .ok_or(ServiceError::Unauthenticated(AuthFailure::MalformedToken))?;
        Ok(Auth(state.service.authenticate(token).await?))
    }
}

fn malformed_basic() -> ApiError {
    ApiError::from(Fault::new(FaultKind::MalformedCredentials, "Authorization: Basic needs base64 of key_id:secret"))
}

/// Base64 with or without `=` padding: clients differ.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// `Authorization: Basic base64(key_id:secret)`, if present and well formed.
pub fn basic_credentials(parts: &axum::http::HeaderMap) -> Result<Option<(String, String)>, ApiError> {
    if parts.get_all(AUTHORIZATION).iter().count() > 1 {
        return Err(malformed_basic());
    }
    let Some(value) = parts.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| malformed_basic())?;
    let Some(encoded) = scheme(value, "Basic") else {
        return Ok(None);
    };
    let decoded = LENIENT.decode(encoded).map_err(|_| malformed_basic())?;
    let text = String::from_utf8(decoded).map_err(|_| malformed_basic())?;
    let (id, secret) = text.split_once(':').ok_or_else(malformed_basic)?;
    Ok(Some((id.to_owned(), secret.to_owned())))
}

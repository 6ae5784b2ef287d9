//! `POST /v1/auth/token`: exchange a key id and secret for a time-limited token.

use crate::http::AppState;
use crate::http::auth::{basic_credentials, verified_key};
use crate::http::body::{parse, read_limited};
use crate::http::problem::{ApiResult, Problem};
use crate::wire::dto::{TokenRequest, TokenResponse, rfc3339};
use crate::wire::{Fault, FaultKind};
use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderMap;

/// Issues a token from `{"key_id","key_secret"}` or HTTP Basic `key_id:secret`.
#[utoipa::path(post, path = "/v1/auth/token", operation_id = "issue_token", tag = "auth",
    request_body(content = TokenRequest, description = "Or send HTTP Basic key_id:secret and no body"),
    responses((status = 200, body = TokenResponse), (status = 401, body = Problem),
        (status = 403, body = Problem, description = "The key may not be used from this address (its IP allow-list)"),
        (status = 429, body = Problem)))]
pub async fn issue(State(s): State<AppState>, req: Request) -> ApiResult<Json<TokenResponse>> {
    let (parts, body) = req.into_parts();
    let (key_id, secret) = credentials(&parts.headers, body).await?;
    let who = verified_key(&parts, &s, &key_id, &secret).await?;
    let issued = s.service.issue_token(&who).await?;
    Ok(Json(TokenResponse {
        token: issued.token,
        token_type: "Token",
        expires_in: issued.expires_in,
        expires_at: rfc3339(issued.expires_at),
    }))
}

/// A key id and secret: HTTP Basic, or the JSON body `{"key_id","key_secret"}`.
pub async fn credentials(headers: &HeaderMap, body: Body) -> ApiResult<(String, String)> {
    // Credentials are small: a token request never needs more than this.
    let body = read_limited(body, 16 * 1024).await?;
    Ok(match basic_credentials(headers)? {
        Some(creds) => creds,
        None if body.is_empty() => {
            return Err(Fault::new(
                FaultKind::MissingCredentials,
                "send {\"key_id\",\"key_secret\"} as JSON or HTTP Basic key_id:secret",
            )
            .into());
        }
        None => {
            let req: TokenRequest = parse(&body)?;
            (req.key_id, req.key_secret)
        }
    })
}

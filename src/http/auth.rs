//! The `Authorization` header: `Token <t>` or `Bearer <t>` on every API route;
//! `Basic key_id:secret` only where a route asks for key credentials. And
//! where a request comes from: a key with an IP allow-list works only from
//! there, whatever the scheme.

use crate::http::AppState;
use crate::http::problem::ApiError;
use crate::service::{AuthFailure, Principal, ServiceError};
use crate::wire::{Fault, FaultKind};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use std::net::IpAddr;

/// The authenticated caller of a request.
pub struct Auth(pub Principal);

/// The connection's peer address, put on every request by `server::serve`.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub IpAddr);

/// Where a request comes from: its connection's peer or, when that is a
/// trusted proxy, the nearest address in `X-Forwarded-For` that is not one
/// (read from the right: only the proxies' own entries are believed).
/// `None` when the request came in some other way, or through a trusted
/// proxy that named no untrusted address it can be read as (never the
/// proxy's own, which every client behind it would share). IPv4 clients of
/// an IPv6 socket are their IPv4 addresses.
pub fn client_ip(parts: &Parts, trusted: &[ipnet::IpNet]) -> Option<IpAddr> {
    let peer = parts.extensions.get::<Peer>()?.0.to_canonical();
    let trusted_ip = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !trusted_ip(&peer) {
        return Some(peer);
    }
    let hops = parts.headers.get_all("x-forwarded-for").iter().rev().flat_map(|v| {
        v.to_str().unwrap_or("").rsplit(',').map(|hop| hop.trim().parse::<IpAddr>().ok()).collect::<Vec<_>>()
    });
    for hop in hops {
        // An entry that is not an address ends what can be believed.
        let ip = hop?.to_canonical();
        if !trusted_ip(&ip) {
            return Some(ip);
        }
    }
    None
}

/// Refuses a key with an IP allow-list used from anywhere else.
pub fn placed(who: Principal, parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    if who.allow_ips.is_empty() {
        return Ok(who);
    }
    match client_ip(parts, &state.trusted_proxies) {
        Some(ip) if who.allows(ip) => Ok(who),
        Some(ip) => Err(Fault::new(
            FaultKind::AddressNotAllowed,
            format!("access denied: this key may not be used from {ip} (its IP allow-list)"),
        )
        .into()),
        None => Err(Fault::new(FaultKind::AddressNotAllowed, "access denied: the client's address is unknown").into()),
    }
}

/// The caller's key id and secret checked, then where the call comes from:
/// what every key-credential route (token issue, Basic) does first.
pub async fn verified_key(parts: &Parts, state: &AppState, id: &str, secret: &str) -> Result<Principal, ApiError> {
    placed(state.service.authenticate_key(id, secret).await?, parts, state)
}

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
        Ok(Auth(placed(state.service.authenticate(token).await?, parts, state)?))
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

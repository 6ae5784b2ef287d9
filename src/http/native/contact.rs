//! One contact over the native API: create, read, partial update (JSON
//! Merge Patch), delete, and its BPAY CRN, with the contact's version as a
//! strong `ETag` (`If-Match` makes a write conditional, `If-None-Match` a
//! read).

use crate::domain::account_number::MAX_ACCOUNT_NUMBER_LENGTH;
use crate::domain::{AliasKind, Contact, ContactId, ContactRef};
use crate::http::AppState;
use crate::http::auth::Auth;
use crate::http::body::{JsonBytes, off_thread, parse_contact};
use crate::http::path::PathParams;
use crate::http::problem::ApiResult;
use crate::http::query::{plain, query};
use crate::service::{PatchRequest, Precondition, ServiceError};
use crate::wire::dto::{ContactBody, ContactInput};
use crate::wire::record;
use crate::wire::{Fault, FaultKind};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// `cont_...`, `acct:ACCOUNT_NUMBER`, or a dialect's alias
/// (`pay_advantage:CODE`, `instantpay:ID`).
pub fn contact_ref(raw: &str) -> ApiResult<ContactRef> {
    if let Some(acct) = raw.strip_prefix("acct:") {
        if !acct.is_empty() && acct.chars().count() <= MAX_ACCOUNT_NUMBER_LENGTH && plain(acct) {
            return Ok(ContactRef::AccountNumber(acct.to_owned()));
        }
    } else if let Some(id) = ContactId::parse(raw) {
        return Ok(ContactRef::Id(id));
    } else if let Some((kind, alias)) = raw.split_once(':')
        && let Some(kind) = AliasKind::parse(kind)
        && kind.is_valid(alias)
    {
        return Ok(ContactRef::Alias(kind, alias.to_owned()));
    }
    Err(Fault::new(
        FaultKind::InvalidContactId,
        "a contact is named by its id (cont_ and 14 letters or digits), acct:ACCOUNT_NUMBER, \
         pay_advantage:CODE or instantpay:ID",
    )
    .into())
}

fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// The contact, with its version as its `ETag`.
pub fn with_etag(status: StatusCode, contact: Contact) -> Response {
    let tag = etag(contact.version);
    let mut res = (status, axum::Json(ContactBody::from(contact))).into_response();
    res.headers_mut().insert(header::ETAG, tag);
    res
}

fn bad_header(name: &str) -> crate::http::problem::ApiError {
    Fault::new(FaultKind::InvalidHeader, format!("{name} is * or one entity tag, such as \"3\" (a contact's ETag)"))
        .into()
}

/// An entity tag's version: `"3"` (strong), or with `weak` also `W/"3"`.
fn tag_version(tag: &str, weak: bool) -> Option<Option<i64>> {
    let (is_weak, quoted) = match tag.strip_prefix("W/") {
        Some(rest) => (true, rest),
        None => (false, tag),
    };
    let inner = quoted.strip_prefix('"')?.strip_suffix('"')?;
    // A weak tag never matches strongly (If-Match); a version is digits.
    let version = inner.parse::<i64>().ok().filter(|_| inner.bytes().all(|b| b.is_ascii_digit()));
    Some(if is_weak && !weak { None } else { version })
}

/// `If-Match`: a write that names a version changes the contact only at it.
pub fn if_match(headers: &HeaderMap) -> ApiResult<Precondition> {
    let mut values = headers.get_all(header::IF_MATCH).iter();
    let Some(value) = values.next() else { return Ok(Precondition::None) };
    let text = value.to_str().map_err(|_| bad_header("If-Match"))?.trim();
    if values.next().is_some() || text.contains(',') {
        return Err(bad_header("If-Match"));
    }
    if text == "*" {
        return Ok(Precondition::Any);
    }
    // No tag (RFC 9110's `#entity-tag` list may be empty), or one that can
    // name no version (weak, or not ours), matches none: 412.
    if text.is_empty() {
        return Ok(Precondition::Version(-1));
    }
    Ok(Precondition::Version(tag_version(text, false).ok_or_else(|| bad_header("If-Match"))?.unwrap_or(-1)))
}

/// `If-None-Match`: whether a read of a contact at `version` is "not modified".
fn not_modified(headers: &HeaderMap, version: i64) -> ApiResult<bool> {
    let mut matched = false;
    for value in headers.get_all(header::IF_NONE_MATCH) {
        let text = value.to_str().map_err(|_| bad_header("If-None-Match"))?;
        for tag in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            matched |=
                tag == "*" || tag_version(tag, true).ok_or_else(|| bad_header("If-None-Match"))? == Some(version);
        }
    }
    Ok(matched)
}

/// What a write may also do.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WithParam {
    /// Issue a BPAY CRN for the contact, if it has none.
    Crn,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WithQuery {
    /// `crn`: also issue the contact a BPAY CRN, if it has none.
    #[param(inline)]
    with: Option<WithParam>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoQuery {}

/// Creates one contact; 409 if the account number is taken.
#[utoipa::path(post, path = "/v1/billers/{code}/contacts", operation_id = "create_contact", tag = "contacts",
    params(("code" = String, Path, description = "Biller code"), WithQuery),
    request_body = ContactInput,
    responses((status = 201, body = ContactBody, headers(("ETag" = String, description = "The contact's version"))),
        (status = 409, description = "The account number or CRN is taken, or the biller's settings changed meanwhile"),
        (status = 422, description = "The contact is invalid (each problem named)")),
    security(("token" = [])))]
pub async fn create(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams(code): PathParams<String>,
    RawQuery(raw): RawQuery,
    JsonBytes(body): JsonBytes,
) -> ApiResult<Response> {
    let q: WithQuery = query(raw)?;
    let batch = off_thread(move || parse_contact(&body)).await?;
    let via = "POST /v1/billers/{code}/contacts";
    let with_crn = matches!(q.with, Some(WithParam::Crn));
    let contact = s.service.create_contact(&who, &code, via, batch, with_crn).await?;
    let location = HeaderValue::from_str(&format!("/v1/billers/{code}/contacts/{}", contact.id));
    let mut res = with_etag(StatusCode::CREATED, contact);
    if let Ok(v) = location {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

/// Gets one contact by id or `acct:ACCOUNT_NUMBER`.
#[utoipa::path(get, path = "/v1/billers/{code}/contacts/{id}", operation_id = "get_contact", tag = "contacts",
    params(("code" = String, Path, description = "Biller code"), ("id" = String, Path, description = "cont_... or acct:ACCOUNT_NUMBER"),
        ("If-None-Match" = Option<String>, Header, description = "The contact's ETag: 304 while it is still at that version")),
    responses((status = 200, body = ContactBody, headers(("ETag" = String, description = "The contact's version"))),
        (status = 304, description = "Not modified: still at the version If-None-Match names")),
    security(("token" = [])))]
pub async fn get(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams((code, id)): PathParams<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let contact = s.service.contact(&who, &code, &contact_ref(&id)?).await?;
    if not_modified(&headers, contact.version)? {
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        res.headers_mut().insert(header::ETAG, etag(contact.version));
        return Ok(res);
    }
    Ok(with_etag(StatusCode::OK, contact))
}

/// Changes one contact: a JSON Merge Patch (RFC 7396) of its fields.
#[utoipa::path(patch, path = "/v1/billers/{code}/contacts/{id}", operation_id = "patch_contact", tag = "contacts",
    params(("code" = String, Path, description = "Biller code"), ("id" = String, Path, description = "cont_... or acct:ACCOUNT_NUMBER"),
        ("If-Match" = Option<String>, Header, description = "The contact's ETag: change it only at that version (412 otherwise)"),
        WithQuery),
    request_body(content((Object = "application/merge-patch+json"), (Object = "application/json")),
        description = "Only the fields sent change; null clears one; notes, fields and address merge key by key; phones and tags are replaced whole"),
    responses((status = 200, body = ContactBody, headers(("ETag" = String, description = "The contact's version"))),
        (status = 409, description = "The new account number or CRN is another contact's, the contact's holds forbid deactivating it, or the biller's settings changed meanwhile"),
        (status = 412, description = "If-Match names another version; the body says the current one"),
        (status = 422, description = "The patched contact would be invalid, or the patch names a field it may not (each named)"),
        (status = 428, description = "The biller requires If-Match")),
    security(("token" = [])))]
pub async fn patch(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams((code, id)): PathParams<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    JsonBytes(body): JsonBytes,
) -> ApiResult<Response> {
    let q: WithQuery = query(raw)?;
    let by = contact_ref(&id)?;
    let pre = if_match(&headers)?;
    let record::Unique(value) = crate::http::body::parse(&body)?;
    let serde_json::Value::Object(fields) = value else {
        return Err(Fault::new(FaultKind::InvalidBody, "a patch is a JSON object").into());
    };
    let patch = record::patch_of(fields).map_err(ServiceError::invalid_one)?;
    let via = "PATCH /v1/billers/{code}/contacts/{id}";
    let with_crn = matches!(q.with, Some(WithParam::Crn));
    let request = PatchRequest { patch, pre, with_crn };
    let (contact, _) = s.service.patch_contact(&who, &code, via, &by, request).await?;
    Ok(with_etag(StatusCode::OK, contact))
}

/// Deletes one contact by id or `acct:ACCOUNT_NUMBER`; a contact with holds stays.
#[utoipa::path(delete, path = "/v1/billers/{code}/contacts/{id}", operation_id = "delete_contact", tag = "contacts",
    params(("code" = String, Path, description = "Biller code"), ("id" = String, Path, description = "cont_... or acct:ACCOUNT_NUMBER"),
        ("If-Match" = Option<String>, Header, description = "The contact's ETag: delete it only at that version (412 otherwise)")),
    responses((status = 204),
        (status = 409, description = "The contact has holds (each named)"),
        (status = 412, description = "If-Match names another version; the body says the current one"),
        (status = 428, description = "The biller requires If-Match")),
    security(("token" = [])))]
pub async fn delete(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams((code, id)): PathParams<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    query::<NoQuery>(raw)?;
    let (by, pre) = (contact_ref(&id)?, if_match(&headers)?);
    s.service.delete_contact(&who, &code, "DELETE /v1/billers/{code}/contacts/{id}", &by, pre).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issues the contact a BPAY CRN from the biller's base and check digit
/// rule (201), or returns the one it has (200): a CRN never changes once issued.
#[utoipa::path(post, path = "/v1/billers/{code}/contacts/{id}/crn", operation_id = "issue_crn", tag = "contacts",
    params(("code" = String, Path, description = "Biller code"), ("id" = String, Path, description = "cont_... or acct:ACCOUNT_NUMBER")),
    responses((status = 200, body = ContactBody, description = "It had one already"),
        (status = 201, body = ContactBody, description = "Issued"),
        (status = 409, description = "The CRN made is another contact's"),
        (status = 422, description = "No CRN can be made (e.g. an account number without digits)")),
    security(("token" = [])))]
pub async fn issue_crn(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams((code, id)): PathParams<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    query::<NoQuery>(raw)?;
    let by = contact_ref(&id)?;
    let (contact, issued) = s.service.issue_crn(&who, &code, "POST /v1/billers/{code}/contacts/{id}/crn", &by).await?;
    Ok(with_etag(if issued { StatusCode::CREATED } else { StatusCode::OK }, contact))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAlias {
    /// `pay_advantage` or `instantpay`.
    pub dialect: String,
    /// The id the provider gave the contact: a Pay Advantage `Code` (6 of
    /// 0-9 A-Z) or an Instantpay `_id` (24 lowercase hex characters).
    pub alias: String,
}

/// Gives a contact the id its clients knew it by at the provider the biller
/// moves from (admin), so they keep working: once per contact and dialect,
/// and never an alias ever issued (409).
#[utoipa::path(post, path = "/v1/billers/{code}/contacts/{id}/aliases", operation_id = "add_alias", tag = "contacts",
    params(("code" = String, Path, description = "Biller code"), ("id" = String, Path, description = "cont_... or acct:ACCOUNT_NUMBER")),
    request_body = NewAlias,
    responses((status = 200, body = ContactBody), (status = 409, description = "The alias is taken, or the contact has one")),
    security(("token" = [])))]
pub async fn add_alias(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams((code, id)): PathParams<(String, String)>,
    RawQuery(raw): RawQuery,
    JsonBytes(body): JsonBytes,
) -> ApiResult<Response> {
    query::<NoQuery>(raw)?;
    let by = contact_ref(&id)?;
    let new: NewAlias = crate::http::body::parse(&body)?;
    let kind = AliasKind::parse(&new.dialect).ok_or_else(|| {
        ServiceError::BadRequest(format!(
            "{:?} is no dialect with aliases: use pay_advantage or instantpay",
            new.dialect
        ))
    })?;
    let contact = s.service.add_alias(&who, &code, &by, kind, &new.alias).await?;
    Ok(with_etag(StatusCode::OK, contact))
}

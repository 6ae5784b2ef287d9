//! Native bulk contact routes (add, replace) and the contact list.

use crate::domain::TagId;
use crate::domain::query::{ContactFilter, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MAX_QUERY_LENGTH, PageRequest, TimeRange};
use crate::http::AppState;
use crate::http::auth::Auth;
use crate::http::body::{JsonBytes, off_thread, parse_contacts};
use crate::http::idempotency::{self, Keyed, NATIVE, request_hash};
use crate::http::path::PathParams;
use crate::http::problem::{ApiResult, Problem};
use crate::http::query::{account_position, plain, query, removal_count};
use crate::service::{ReplaceOptions, Scope};
use crate::wire::dto::{ContactInput, ContactList, WriteResult};
use crate::wire::{Fault, FaultKind};
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::IntoParams;

/// Only `?dry_run=` is meaningful on add; anything else is a mistake to report.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AddQuery {
    /// Change nothing; report what would be created, updated and unchanged.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReplaceQuery {
    /// Change nothing; report what would be created, updated, unchanged and removed.
    #[serde(default)]
    pub dry_run: bool,
    /// Confirms a replace that removes more than the biller's allowed share: the exact number.
    #[serde(default, deserialize_with = "removal_count")]
    #[param(value_type = Option<i64>, minimum = 0)]
    pub confirm_removals: Option<u64>,
    /// Remove contacts with holds too (otherwise such a replace is refused, naming them).
    #[serde(default)]
    pub force_holds: bool,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page: the account number it continues after.
    cursor: Option<String>,
    /// Only active (`true`) or inactive (`false`) contacts.
    active: Option<bool>,
    /// Only contacts of this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    contact_type: Option<String>,
    /// Case-insensitive substring of the name or account number.
    q: Option<String>,
    /// Case-insensitive prefix of the name.
    name: Option<String>,
    /// The email, case-insensitively.
    email: Option<String>,
    /// Any of the contact's phone numbers, as sent or in E.164.
    phone: Option<String>,
    reference_id: Option<String>,
    external_id: Option<String>,
    /// A tag id the contact carries.
    tag: Option<String>,
    /// RFC 3339 timestamp: contacts created at or after it.
    #[param(format = DateTime)]
    created_after: Option<String>,
    /// RFC 3339 timestamp: contacts created before it.
    #[param(format = DateTime)]
    created_before: Option<String>,
    /// RFC 3339 timestamp: contacts last changed at or after it.
    #[param(format = DateTime)]
    updated_after: Option<String>,
    /// RFC 3339 timestamp: contacts last changed before it.
    #[param(format = DateTime)]
    updated_before: Option<String>,
    /// The same as `updated_after` (its earlier name).
    #[param(format = DateTime)]
    updated_since: Option<String>,
}

/// Adds or updates contacts by account number.
#[utoipa::path(post, path = "/v1/billers/{code}/contacts/add", operation_id = "add_contacts", tag = "contacts",
    params(("code" = String, Path, description = "Biller code"), AddQuery,
        ("Idempotency-Key" = Option<String>, Header, description = "Same key and request: the original response")),
    request_body = Vec<ContactInput>,
    responses((status = 200, body = WriteResult),
        (status = 409, description = "The biller's settings changed meanwhile, or the Idempotency-Key is in use"),
        (status = 413, description = "More records than a synchronous request takes"),
        (status = 422, description = "Invalid records (each named), or an Idempotency-Key used with another request")),
    security(("token" = [])))]
pub async fn add(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams(code): PathParams<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    JsonBytes(body): JsonBytes,
) -> Response {
    let path = format!("/v1/billers/{code}/contacts/add");
    let hash = || request_hash("POST", &path, raw.as_deref(), &Sha256::digest(&body));
    let keyed = Keyed { code: &code, scope: Scope::ContactsWrite, headers: &headers, errors: NATIVE };
    idempotency::run(&s, &who, keyed, hash, async {
        let q: AddQuery = query(raw.clone())?;
        let bytes = body.clone();
        let batch = off_thread(move || parse_contacts(&bytes)).await?;
        let outcome =
            s.service.add_contacts(&who, &code, "POST /v1/billers/{code}/contacts/add", batch, q.dry_run).await?;
        Ok((StatusCode::OK, json!(WriteResult::new(&code, outcome, false, q.dry_run))))
    })
    .await
}

/// Replaces the biller's whole contact list, all or nothing.
#[utoipa::path(post, path = "/v1/billers/{code}/contacts/replace", operation_id = "replace_contacts", tag = "contacts",
    params(("code" = String, Path, description = "Biller code"), ReplaceQuery,
        ("Idempotency-Key" = Option<String>, Header, description = "Same key and request: the original response")),
    request_body = Vec<ContactInput>,
    responses((status = 200, body = WriteResult),
        (status = 409, description = "The removal guard, a changed setting, or an Idempotency-Key in use"),
        (status = 413, description = "More records than a synchronous request takes"),
        (status = 422, description = "Invalid records (each named), or an Idempotency-Key used with another request")),
    security(("token" = [])))]
pub async fn replace(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams(code): PathParams<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    JsonBytes(body): JsonBytes,
) -> Response {
    let path = format!("/v1/billers/{code}/contacts/replace");
    let hash = || request_hash("POST", &path, raw.as_deref(), &Sha256::digest(&body));
    let keyed = Keyed { code: &code, scope: Scope::ContactsReplace, headers: &headers, errors: NATIVE };
    idempotency::run(&s, &who, keyed, hash, async {
        let q: ReplaceQuery = query(raw.clone())?;
        let bytes = body.clone();
        let batch = off_thread(move || parse_contacts(&bytes)).await?;
        let options =
            ReplaceOptions { dry_run: q.dry_run, confirm_removals: q.confirm_removals, force_holds: q.force_holds };
        let via = "POST /v1/billers/{code}/contacts/replace";
        let outcome = s.service.replace_contacts(&who, &code, via, batch, options).await?;
        Ok((StatusCode::OK, json!(WriteResult::new(&code, outcome, true, q.dry_run))))
    })
    .await
}

/// Lists contacts in account-number order, a page at a time.
#[utoipa::path(get, path = "/v1/billers/{code}/contacts", operation_id = "list_contacts", tag = "contacts",
    params(("code" = String, Path, description = "Biller code"), ListQuery),
    responses((status = 200, body = ContactList), (status = 400, body = Problem)),
    security(("token" = [])))]
pub async fn list(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams(code): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<ContactList>> {
    let q: ListQuery = query(raw)?;
    let bad = |detail: &str| Fault::new(FaultKind::InvalidQuery, detail.to_owned());
    let limit = q.limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if limit == 0 || limit > MAX_PAGE_SIZE {
        return Err(bad(&format!("limit must be 1 to {MAX_PAGE_SIZE}")).into());
    }
    let after = account_position(q.cursor)?;
    let time = |name: &str, value: Option<String>| -> ApiResult<Option<OffsetDateTime>> {
        value
            .map(|t| {
                OffsetDateTime::parse(&t, &Rfc3339).map_err(|_| {
                    bad(&format!("{name} must be an RFC 3339 timestamp such as 2026-01-31T00:00:00Z")).into()
                })
            })
            .transpose()
    };
    let text = |name: &str, value: Option<String>| -> ApiResult<Option<String>> {
        match value {
            Some(v) if v.chars().count() > MAX_QUERY_LENGTH || !plain(&v) => {
                Err(bad(&format!("{name} is at most {MAX_QUERY_LENGTH} characters, with no control characters")).into())
            }
            v => Ok(v.filter(|v| !v.is_empty())),
        }
    };
    if q.contact_type.as_ref().is_some_and(|t| t.chars().count() > 40) {
        return Err(bad("type is at most 40 characters, with no control characters").into());
    }
    let tag = text("tag", q.tag)?;
    if tag.as_deref().is_some_and(|t| TagId::parse(t).is_none()) {
        return Err(bad("tag is a tag id: 24 lowercase hexadecimal characters").into());
    }
    // Both given, both hold: the later one decides.
    let updated_after = time("updated_after", q.updated_after)?.max(time("updated_since", q.updated_since)?);
    let filter = ContactFilter {
        active: q.active,
        contact_type: text("type", q.contact_type)?,
        q: text("q", q.q)?,
        name: text("name", q.name)?,
        email: text("email", q.email)?,
        phone: text("phone", q.phone)?,
        reference_id: text("reference_id", q.reference_id)?,
        external_id: text("external_id", q.external_id)?,
        tag,
        created: TimeRange {
            after: time("created_after", q.created_after)?,
            before: time("created_before", q.created_before)?,
        },
        updated: TimeRange { after: updated_after, before: time("updated_before", q.updated_before)? },
    };
    let page = s.service.contacts(&who, &code, &filter, &PageRequest { after, limit, skip: 0 }).await?;
    Ok(Json(ContactList { data: page.contacts.into_iter().map(Into::into).collect(), next_cursor: page.next_after }))
}

//! Razorpay Contacts (seed 001): `/v1/contacts` with HTTP Basic
//! `key_id:secret` on every request. The biller is the key's own (or the
//! one `X-Contactd-Biller` names). A contact created here has its own id,
//! without `cont_`, as its account number.

mod entity;
mod error;

use crate::domain::contact::PhoneKind;
use crate::domain::query::{ContactFilter, MAX_PAGE_SIZE, PageRequest, TimeRange};
use crate::domain::{Contact, ContactData, ContactId, ContactRef};
use crate::http::AppState;
use crate::http::body::JsonBytes;
use crate::http::compat::{BasicAuth, DialectResult, In, biller_of, method_not_allowed, no_such_route, object};
use crate::http::native::contact::if_match;
use crate::http::path::PathParams;
use crate::http::query::query;
use crate::service::{ContactBatch, PatchRequest, SameContact, ServiceError};
use crate::wire::{Fault, FaultKind};
use axum::Json;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use entity::{Collection, Entity};
pub use error::Razorpay;
use serde::Deserialize;
use time::OffsetDateTime;

type Result<T> = DialectResult<Razorpay, T>;
type Auth = In<Razorpay, BasicAuth>;
type Body = In<Razorpay, JsonBytes>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/contacts", get(list).post(create))
        .route("/v1/contacts/{id}", get(fetch).patch(update))
        .route("/v1/contacts/", any(no_such_route::<Razorpay>))
        .route("/v1/contacts/{id}/{*rest}", any(no_such_route::<Razorpay>))
        .method_not_allowed_fallback(method_not_allowed::<Razorpay>)
}

/// A contact id as Razorpay's clients send it: `cont_` and 14 letters or digits.
fn contact_id(raw: &str) -> Result<ContactRef> {
    ContactId::parse(raw).map(ContactRef::Id).ok_or_else(|| {
        let shown: String = raw.chars().take(64).collect();
        Fault::new(FaultKind::InvalidContactId, format!("{shown} is not a valid id.")).into()
    })
}

fn entity(status: StatusCode, contact: Contact) -> Response {
    (status, Json(Entity::from(contact))).into_response()
}

fn primary(d: &ContactData) -> Option<String> {
    d.phones.iter().find(|p| p.kind == PhoneKind::Primary).map(|p| p.number.clone())
}

/// Razorpay's rule for "the same contact": name, email, contact, type and reference_id all equal.
fn same_contact(a: &ContactData, b: &ContactData) -> bool {
    (&a.name, &a.email, primary(a), &a.contact_type, &a.reference_id)
        == (&b.name, &b.email, primary(b), &b.contact_type, &b.reference_id)
}

/// The contacts that may be the same as `d`, found by index.
fn candidates(d: &ContactData) -> ContactFilter {
    ContactFilter {
        name: Some(d.name.clone()),
        email: d.email.clone(),
        phone: primary(d),
        reference_id: d.reference_id.clone(),
        contact_type: d.contact_type.clone(),
        ..ContactFilter::default()
    }
}

/// Razorpay's create: a contact whose name, email, contact, type and
/// reference_id all equal an existing one's is that one (200), not a new
/// one (201).
async fn create(
    State(s): State<AppState>,
    In(BasicAuth(who), ..): Auth,
    headers: HeaderMap,
    In(JsonBytes(body), ..): Body,
) -> Result<Response> {
    let code = biller_of(&who, &headers)?;
    let patch = entity::read(object(&body)?, false).map_err(ServiceError::invalid_one)?;
    let draft = patch.apply(Default::default());
    let same = SameContact { filter: candidates, equal: same_contact };
    let batch = ContactBatch { records: 1, drafts: vec![(0, draft)], ..ContactBatch::default() };
    let (contact, created) =
        s.service.create_numbered_contact(&who, &code, "POST /v1/contacts", batch, Some(same), false).await?;
    if !created {
        return Ok(entity(StatusCode::OK, contact));
    }
    Ok(entity(StatusCode::CREATED, contact))
}

async fn fetch(
    State(s): State<AppState>,
    In(BasicAuth(who), ..): Auth,
    In(PathParams(id), ..): In<Razorpay, PathParams<String>>,
    headers: HeaderMap,
) -> Result<Response> {
    let code = biller_of(&who, &headers)?;
    let contact = s.service.contact(&who, &code, &contact_id(&id)?).await?;
    Ok(entity(StatusCode::OK, contact))
}

/// Only the parameters sent change; `{"active": false}` deactivates.
async fn update(
    State(s): State<AppState>,
    In(BasicAuth(who), ..): Auth,
    In(PathParams(id), ..): In<Razorpay, PathParams<String>>,
    headers: HeaderMap,
    In(JsonBytes(body), ..): Body,
) -> Result<Response> {
    let code = biller_of(&who, &headers)?;
    let by = contact_id(&id)?;
    // A contact's body is small: read inline, as the native PATCH does (a
    // blocking-thread hop per request cost more than the parse).
    let fields = object(&body)?;
    let patch = entity::read(fields, true).map_err(ServiceError::invalid_one)?;
    // Razorpay's clients send none; a biller that requires it needs it here too.
    let request = PatchRequest { patch, pre: if_match(&headers)?, with_crn: false };
    let (contact, _) = s.service.patch_contact(&who, &code, "PATCH /v1/contacts/{id}", &by, request).await?;
    Ok(entity(StatusCode::OK, contact))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    name: Option<String>,
    email: Option<String>,
    contact: Option<String>,
    reference_id: Option<String>,
    active: Option<String>,
    #[serde(rename = "type")]
    contact_type: Option<String>,
    from: Option<String>,
    to: Option<String>,
    count: Option<String>,
    skip: Option<String>,
}

fn number<T: std::str::FromStr + PartialOrd + std::fmt::Display>(
    name: &str,
    value: Option<String>,
    range: std::ops::RangeInclusive<T>,
) -> Result<Option<T>> {
    value
        .map(|v| match v.parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(Fault::new(
                FaultKind::InvalidQuery,
                format!("The {name} must be a number from {} to {}.", range.start(), range.end()),
            )
            .into()),
        })
        .transpose()
}

/// Seconds since the epoch, as Razorpay's `from` and `to` take them.
fn unix(name: &str, value: Option<String>) -> Result<Option<OffsetDateTime>> {
    // Up to 9999-12-30: `to` is made exclusive by adding a second.
    number(name, value, 0..=253_402_214_399_i64)?
        .map(|t| OffsetDateTime::from_unix_timestamp(t).map_err(|_| Fault::new(FaultKind::InvalidQuery, name).into()))
        .transpose()
}

/// Contacts in a stable order (account number), `count` (default 10, at
/// most 100) after skipping `skip`.
async fn list(
    State(s): State<AppState>,
    In(BasicAuth(who), ..): Auth,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Collection>> {
    let code = biller_of(&who, &headers)?;
    let q: ListQuery = query(raw)?;
    let active = match q.active.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => None,
        Some("1" | "true") => Some(true),
        Some("0" | "false") => Some(false),
        Some(_) => return Err(Fault::new(FaultKind::InvalidQuery, "The active must be 1 or 0.").into()),
    };
    let count = number("count", q.count, 1..=100_usize)?.unwrap_or(10);
    let mut skip = number("skip", q.skip, 0..=10_000_000_usize)?.unwrap_or(0);
    let filter = ContactFilter {
        active,
        contact_type: q.contact_type,
        name: q.name,
        email: q.email,
        phone: q.contact,
        reference_id: q.reference_id,
        // `to` is inclusive in Razorpay's lists; a range here ends before its `before`.
        created: TimeRange {
            after: unix("from", q.from)?,
            before: unix("to", q.to)?.map(|t| t + time::Duration::seconds(1)),
        },
        ..ContactFilter::default()
    };
    let mut items = Vec::with_capacity(count);
    let mut after = None;
    loop {
        let limit = (skip + count - items.len()).min(MAX_PAGE_SIZE);
        let page = s.service.contacts(&who, &code, &filter, &PageRequest { after, limit, skip: 0 }).await?;
        let mut contacts = page.contacts.into_iter();
        let skipped = contacts.by_ref().take(skip).count();
        skip -= skipped;
        items.extend(contacts.take(count - items.len()).map(Entity::from));
        match page.next_after {
            Some(next) if items.len() < count => after = Some(next),
            _ => break,
        }
    }
    Ok(Json(Collection { entity: "collection", count: items.len(), items }))
}

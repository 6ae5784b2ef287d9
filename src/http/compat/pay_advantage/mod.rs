//! Pay Advantage customers (seed 002): a password-grant token, then
//! `Authorization: Bearer` on `/v3/customers`. A customer's `Code` is the
//! contact's Pay Advantage alias, issued on its first use here; a customer
//! created here has its own id, without `cont_`, as its account number.

mod customer;
mod error;
mod read;

use crate::domain::contact::PhoneKind;
use crate::domain::field_settings::NotificationDefaults;
use crate::domain::patch::Change;
use crate::domain::query::{ContactFilter, MAX_PAGE_SIZE, PageRequest};
use crate::domain::{AliasKind, Contact, ContactRef, phone};
use crate::http::AppState;
use crate::http::auth::Auth;
use crate::http::auth::verified_key;
use crate::http::body::{JsonBytes, parse, read_limited};
use crate::http::compat::{DialectResult, In, biller_of, method_not_allowed, no_such_route, object};
use crate::http::native::contact::if_match;
use crate::http::path::PathParams;
use crate::http::query::query;
use crate::service::{ContactBatch, PatchRequest, Principal, ServiceError};
use crate::wire::{Fault, FaultKind};
use axum::Json;
use axum::Router;
use axum::extract::Request;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use customer::Customer;
pub use error::PayAdvantage;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::time::Duration;

type Result<T> = DialectResult<PayAdvantage, T>;
type Bearer = In<PayAdvantage, Auth>;
type Code = In<PayAdvantage, PathParams<String>>;

/// Pay Advantage's tokens last half an hour.
const TOKEN_TTL: Duration = Duration::from_secs(1800);
/// `per_page` at most, as Pay Advantage's lists take it.
const MAX_PER_PAGE: usize = 1000;
/// A sorted list is sorted in memory: at most this many matching customers.
pub const MAX_SORTED: usize = 100_000;

const ALIAS: AliasKind = AliasKind::PayAdvantage;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v3/token", post(token))
        .route("/v3/customers", get(list).post(create))
        .route("/v3/customers/{code}", get(fetch).put(update))
        .route("/v3/customers/{code}/createbpayref", post(create_bpay_ref))
        .route("/v3/{*rest}", any(no_such_route::<PayAdvantage>))
        .method_not_allowed_fallback(method_not_allowed::<PayAdvantage>)
}

#[derive(Debug, Default, Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
}

/// `grant_type=password` with the key id as `username` and its secret as
/// `password`, as JSON or a form.
async fn token(State(s): State<AppState>, req: Request) -> Result<Json<TokenResponse>> {
    let (parts, body) = req.into_parts();
    let body = read_limited(body, 16 * 1024).await?;
    let form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().starts_with("application/x-www-form-urlencoded"));
    let req: TokenRequest = if form {
        query(Some(String::from_utf8_lossy(&body).into_owned()))?
    } else if body.is_empty() {
        TokenRequest::default()
    } else {
        parse(&body)?
    };
    if req.grant_type.as_deref() != Some("password") {
        return Err(Fault::new(FaultKind::InvalidBody, "grant_type must be password").into());
    }
    let (Some(username), Some(password)) = (req.username, req.password) else {
        return Err(
            Fault::new(FaultKind::MissingCredentials, "send username (the key id) and password (its secret)").into()
        );
    };
    let who = verified_key(&parts, &s, &username, &password).await?;
    let issued = s.service.issue_token_lasting(&who, TOKEN_TTL).await?;
    Ok(Json(TokenResponse { access_token: issued.token, token_type: "bearer", expires_in: issued.expires_in }))
}

/// A customer `Code`; any other text names no customer.
fn code_ref(raw: &str) -> Result<ContactRef> {
    if ALIAS.is_valid(raw) {
        Ok(ContactRef::Alias(ALIAS, raw.to_owned()))
    } else {
        Err(ServiceError::NotFound(crate::service::Resource::Contact).into())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WithQuery {
    with: Option<String>,
}

/// `?with=bpayref`: whether a BPAY reference is asked for.
fn with_bpay_ref(raw: Option<String>) -> Result<bool> {
    match query::<WithQuery>(raw)?.with.as_deref() {
        None => Ok(false),
        Some("bpayref") => Ok(true),
        Some(other) => {
            Err(Fault::new(FaultKind::InvalidQuery, format!("with={other} is not supported: use with=bpayref")).into())
        }
    }
}

/// The biller's defaults for the email flags a customer leaves unset.
async fn defaults(s: &AppState, who: &Principal, code: &str) -> Result<NotificationDefaults> {
    Ok(s.service.granted(who, code).await?.settings.doc().notification_defaults)
}

async fn customer(s: &AppState, who: &Principal, code: &str, contact: Contact) -> Result<Customer> {
    let contact = s.service.aliased_one(who, code, ALIAS, contact).await?;
    Ok(Customer::of(contact, defaults(s, who, code).await?))
}

async fn fetch(
    State(s): State<AppState>,
    In(Auth(who), ..): Bearer,
    In(PathParams(id), ..): Code,
    headers: HeaderMap,
) -> Result<Json<Customer>> {
    let biller = biller_of(&who, &headers)?;
    let contact = s.service.contact(&who, &biller, &code_ref(&id)?).await?;
    Ok(Json(customer(&s, &who, &biller, contact).await?))
}

/// Creates a customer (201), with a BPAY reference when `?with=bpayref`.
async fn create(
    State(s): State<AppState>,
    In(Auth(who), ..): Bearer,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    In(JsonBytes(body), ..): In<PayAdvantage, JsonBytes>,
) -> Result<Response> {
    let biller = biller_of(&who, &headers)?;
    let with_crn = with_bpay_ref(raw)?;
    let patch = read::read(object(&body)?, true).map_err(ServiceError::invalid_one)?;
    let batch =
        ContactBatch { records: 1, drafts: vec![(0, patch.apply(Default::default()))], ..ContactBatch::default() };
    let via = "POST /v3/customers";
    let (contact, _) = s.service.create_numbered_contact(&who, &biller, via, batch, None, with_crn).await?;
    Ok((StatusCode::CREATED, Json(customer(&s, &who, &biller, contact).await?)).into_response())
}

/// Only the parameters sent change (`null` clears); `IsActive` false is
/// refused while the customer has holds.
async fn update(
    State(s): State<AppState>,
    In(Auth(who), ..): Bearer,
    In(PathParams(id), ..): Code,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    In(JsonBytes(body), ..): In<PayAdvantage, JsonBytes>,
) -> Result<Json<Customer>> {
    let biller = biller_of(&who, &headers)?;
    let with_crn = with_bpay_ref(raw)?;
    let by = code_ref(&id)?;
    let mut patch = read::read(object(&body)?, false).map_err(ServiceError::invalid_one)?;
    // A business's Name is its business name: whether it is one is stored.
    if let (Change::Set(name), Change::Keep) = (&patch.name, &patch.is_consumer) {
        let stored = s.service.contact(&who, &biller, &by).await?;
        if stored.data.is_consumer == Some(false) {
            patch.business_name = Change::Set(name.clone());
        }
    }
    let request = PatchRequest { patch, pre: if_match(&headers)?, with_crn };
    let (contact, _) = s.service.patch_contact(&who, &biller, "PUT /v3/customers/{code}", &by, request).await?;
    Ok(Json(customer(&s, &who, &biller, contact).await?))
}

/// Gives the customer a BPAY reference, or returns the one it has.
async fn create_bpay_ref(
    State(s): State<AppState>,
    In(Auth(who), ..): Bearer,
    In(PathParams(id), ..): Code,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Customer>> {
    let biller = biller_of(&who, &headers)?;
    let NoQuery {} = query(raw)?;
    let via = "POST /v3/customers/{code}/createbpayref";
    let (contact, _) = s.service.issue_crn(&who, &biller, via, &code_ref(&id)?).await?;
    Ok(Json(customer(&s, &who, &biller, contact).await?))
}

/// A route that takes no query parameters refuses any.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoQuery {}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    page: Option<usize>,
    per_page: Option<usize>,
    sort: Option<String>,
    firstname: Option<String>,
    lastname: Option<String>,
    email: Option<String>,
    mobile: Option<String>,
    isconsumer: Option<bool>,
    isactive: Option<bool>,
}

#[derive(Serialize)]
struct Meta {
    page: usize,
    recs_per_page: usize,
    total_recs: usize,
}

#[derive(Serialize)]
struct Records {
    #[serde(rename = "Records")]
    records: Vec<Customer>,
    #[serde(rename = "Meta")]
    meta: Meta,
}

/// One sort key: a field and its direction (`-` first: descending).
#[derive(Clone, Copy)]
struct SortKey {
    field: &'static str,
    descending: bool,
}

const SORTABLE: [&str; 8] =
    ["name", "firstname", "lastname", "email", "dob", "customref", "datecreated", "dateupdated"];

fn sort_keys(sort: &str) -> Result<Vec<SortKey>> {
    sort.split(',')
        .map(|k| {
            let k = k.trim().to_ascii_lowercase();
            let (descending, name) = match k.strip_prefix('-') {
                Some(n) => (true, n.to_owned()),
                None => (false, k.trim_start_matches('+').to_owned()),
            };
            SORTABLE.iter().find(|s| **s == name).map(|field| SortKey { field, descending }).ok_or_else(|| {
                Fault::new(
                    FaultKind::InvalidQuery,
                    format!("sort by {name} is not supported: use {}", SORTABLE.join(", ")),
                )
                .into()
            })
        })
        .collect()
}

fn fold(s: &Option<String>) -> Option<String> {
    s.as_deref().map(str::to_lowercase)
}

fn compare(a: &Contact, b: &Contact, key: SortKey) -> Ordering {
    let (x, y) = (&a.data, &b.data);
    let order = match key.field {
        "name" => x.name.to_lowercase().cmp(&y.name.to_lowercase()),
        "firstname" => fold(&x.first_name).cmp(&fold(&y.first_name)),
        "lastname" => fold(&x.last_name).cmp(&fold(&y.last_name)),
        "email" => fold(&x.email).cmp(&fold(&y.email)),
        "dob" => x.date_of_birth.cmp(&y.date_of_birth),
        "customref" => x.reference_id.cmp(&y.reference_id),
        "datecreated" => a.created_at.cmp(&b.created_at),
        _ => a.updated_at.cmp(&b.updated_at),
    };
    if key.descending { order.reverse() } else { order }
}

/// Whether `text` holds `part`, ignoring case.
fn holds(text: &Option<String>, part: &Option<String>) -> bool {
    match part {
        None => true,
        Some(p) => text.as_deref().is_some_and(|t| t.to_lowercase().contains(&p.to_lowercase())),
    }
}

/// Customers page by page (zero-based `page`, `per_page` default 100 up to
/// 1000), filtered and, with `sort`, sorted (at most `MAX_SORTED` matching
/// customers); without `sort`, in account-number order.
async fn list(
    State(s): State<AppState>,
    In(Auth(who), ..): Bearer,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Records>> {
    let biller = biller_of(&who, &headers)?;
    let mut q: ListQuery = query(raw)?;
    // An empty filter (`firstname=`) filters nothing, as in the native API.
    for f in [&mut q.firstname, &mut q.lastname, &mut q.email, &mut q.mobile] {
        *f = f.take().filter(|v| !v.is_empty());
    }
    let per_page = q.per_page.unwrap_or(100);
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(Fault::new(FaultKind::InvalidQuery, format!("per_page must be 1 to {MAX_PER_PAGE}")).into());
    }
    let page = q.page.unwrap_or(0);
    let keys = q.sort.as_deref().map(sort_keys).transpose()?;
    // A number in any form its phones are read in (`0412345671`, `0412 345
    // 671`, `+61412345671`) finds it: by its E.164 where it reads as one.
    let mobile_e164 = q.mobile.as_deref().map(|m| phone::parse(m, Some(customer::PHONE_COUNTRY)).map(|p| p.e164));
    let filter = ContactFilter {
        active: q.isactive,
        email: q.email.clone(),
        phone: match &mobile_e164 {
            Some(Ok(e164)) => Some(e164.clone()),
            _ => q.mobile.clone(),
        },
        ..ContactFilter::default()
    };
    let mobile = |c: &Contact| match (&q.mobile, &mobile_e164) {
        (None, _) => true,
        (Some(m), e164) => c.data.phones.iter().any(|p| {
            p.kind == PhoneKind::Mobile
                && (p.number == *m || matches!(e164, Some(Ok(e)) if p.e164.as_deref() == Some(e.as_str())))
        }),
    };
    let wanted = |c: &Contact| {
        holds(&c.data.first_name, &q.firstname)
            && holds(&c.data.last_name, &q.lastname)
            && q.isconsumer.is_none_or(|want| (c.data.is_consumer != Some(false)) == want)
            && mobile(c)
    };
    let first = page.saturating_mul(per_page);
    // Filters the store compiles, without a sort: the database pages and counts.
    let in_memory = q.firstname.is_some() || q.lastname.is_some() || q.isconsumer.is_some() || q.mobile.is_some();
    if keys.is_none() && !in_memory {
        let request = PageRequest { after: None, limit: per_page, skip: first as u64 };
        let found = s.service.contacts(&who, &biller, &filter, &request);
        let (found, total) = tokio::try_join!(found, s.service.count_contacts(&who, &biller, &filter))?;
        return records(&s, &who, &biller, found.contacts, page, per_page, total as usize).await;
    }
    let (mut kept, mut total, mut after) = (Vec::new(), 0usize, None);
    loop {
        let request = PageRequest { after, limit: MAX_PAGE_SIZE, skip: 0 };
        let found = s.service.contacts(&who, &biller, &filter, &request).await?;
        for c in found.contacts.into_iter().filter(&wanted) {
            if keys.is_some() || (first..first.saturating_add(per_page)).contains(&total) {
                kept.push(c);
            }
            total += 1;
        }
        if keys.is_some() && kept.len() > MAX_SORTED {
            return Err(Fault::new(
                FaultKind::InvalidQuery,
                format!("more than {MAX_SORTED} customers match: narrow the filters to sort them"),
            )
            .into());
        }
        match found.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    if let Some(keys) = keys {
        kept.sort_by(|a, b| keys.iter().map(|k| compare(a, b, *k)).find(|o| o.is_ne()).unwrap_or(Ordering::Equal));
        kept = kept.into_iter().skip(first).take(per_page).collect();
    }
    records(&s, &who, &biller, kept, page, per_page, total).await
}

/// A page of customers in Pay Advantage's envelope.
async fn records(
    s: &AppState,
    who: &Principal,
    biller: &str,
    kept: Vec<Contact>,
    page: usize,
    per_page: usize,
    total: usize,
) -> Result<Json<Records>> {
    let flags = defaults(s, who, biller).await?;
    let records =
        s.service.aliased(who, biller, ALIAS, kept).await?.into_iter().map(|c| Customer::of(c, flags)).collect();
    Ok(Json(Records { records, meta: Meta { page, recs_per_page: per_page, total_recs: total } }))
}

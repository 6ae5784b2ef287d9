//! Instantpay contacts (seed 003): `/contacts/profile` with header
//! credentials (`X-Ipay-Client-Id`/`-Secret`: a key id and its secret,
//! `X-Ipay-Auth-Code: 1`, and `X-Ipay-Endpoint-Ip` on the key's allow-list).
//! A contact's `_id` is its Instantpay alias, issued on its first use here;
//! tags are the biller's catalogue ids. A contact added here has its own id,
//! without `cont_`, as its account number.

mod envelope;

use crate::domain::contact::{PhoneDraft, PhoneKind};
use crate::domain::patch::{Change, ContactPatch};
use crate::domain::query::{ContactFilter, MAX_PAGE_SIZE, PageRequest};
use crate::domain::{AliasKind, Contact, ContactRef, ErrorCode, FieldError, phone};
use crate::http::AppState;
use crate::http::auth::verified_key;
use crate::http::body::JsonBytes;
use crate::http::compat::{DialectResult, In, biller_of, method_not_allowed, no_such_route, object};
use crate::http::query::query;
use crate::service::{ContactBatch, PatchRequest, Precondition, Principal, ServiceError};
use crate::wire::dto::rfc3339;
use crate::wire::{ApiError, Fault, FaultKind};
use axum::Router;
use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::any;
pub use envelope::{Instantpay, Settings, configure};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

type Result<T> = DialectResult<Instantpay, T>;
type Auth = In<Instantpay, HeaderAuth>;
type Body = In<Instantpay, JsonBytes>;

const ALIAS: AliasKind = AliasKind::Instantpay;

/// Instantpay's mobile numbers are local digits, read as Indian (its
/// `callingCode: "91"`).
pub const PHONE_COUNTRY: &str = "IN";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/contacts/profile", axum::routing::get(list).post(add).patch(update).delete(remove))
        .route("/contacts/{*rest}", any(no_such_route::<Instantpay>))
        .method_not_allowed_fallback(method_not_allowed::<Instantpay>)
}

/// A header's text, trimmed; `None` when absent or not text.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// Instantpay's header credentials, checked in its order: the key, the
/// auth code, then the endpoint IP against the key's allow-list (a key
/// without one is refused).
pub struct HeaderAuth(pub Principal);

impl FromRequestParts<AppState> for HeaderAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> std::result::Result<Self, Self::Rejection> {
        let h = &parts.headers;
        let (Some(id), Some(secret)) = (header(h, "x-ipay-client-id"), header(h, "x-ipay-client-secret")) else {
            return Err(
                Fault::new(FaultKind::MissingCredentials, "send X-Ipay-Client-Id and X-Ipay-Client-Secret").into()
            );
        };
        if header(h, "x-ipay-auth-code") != Some("1") {
            return Err(Fault::new(FaultKind::MalformedCredentials, "X-Ipay-Auth-Code must be 1").into());
        }
        let who = verified_key(parts, state, id, secret).await?;
        let denied = |why: String| ApiError::from(Fault::new(FaultKind::AddressNotAllowed, why));
        if who.allow_ips.is_empty() {
            return Err(denied("access denied: this key has no IP allow-list (contactd key create --allow-ip)".into()));
        }
        let raw =
            header(h, "x-ipay-endpoint-ip").ok_or_else(|| denied("access denied: send X-Ipay-Endpoint-Ip".into()))?;
        match raw.parse::<std::net::IpAddr>() {
            Ok(ip) if who.allows(ip) => Ok(Self(who)),
            Ok(ip) => Err(denied(format!("access denied: endpoint IP {ip} is not on this key's allow-list"))),
            Err(_) => Err(denied("access denied: X-Ipay-Endpoint-Ip is not an IP address".into())),
        }
    }
}

/// A contact as Instantpay's clients read it, key order as the seed prints it.
#[derive(Serialize)]
struct Profile {
    #[serde(rename = "_id")]
    id: Option<String>,
    #[serde(rename = "userId")]
    user_id: i64,
    name: String,
    email: Option<String>,
    mobile: Option<String>,
    #[serde(rename = "callingCode")]
    calling_code: Option<String>,
    #[serde(rename = "companyName")]
    company_name: Option<String>,
    updated_at: String,
    created_at: String,
    #[serde(rename = "tagId")]
    tag_id: Vec<String>,
}

/// `2023-05-10T08:59:19.384000Z`: microseconds, UTC.
fn stamp(t: time::OffsetDateTime) -> String {
    let text = rfc3339(t);
    let text = text.trim_end_matches('Z');
    match text.split_once('.') {
        Some((secs, frac)) => format!("{secs}.{:0<6}Z", &frac[..frac.len().min(6)]),
        None => format!("{text}.000000Z"),
    }
}

impl Profile {
    fn of(c: Contact, user_id: i64) -> Self {
        let d = c.data;
        let mobile = d.phones.iter().find(|p| p.kind == PhoneKind::Mobile);
        Self {
            id: c.aliases.instantpay,
            user_id,
            name: d.name,
            email: d.email,
            mobile: mobile.map(|p| p.number.clone()),
            calling_code: mobile.and_then(|p| p.e164.as_deref()).and_then(phone::calling_code).map(|c| c.to_string()),
            company_name: d.business_name,
            updated_at: stamp(c.updated_at),
            created_at: stamp(c.created_at),
            tag_id: d.tags,
        }
    }
}

fn missing(key: &str) -> FieldError {
    FieldError::new(key, ErrorCode::MissingRequired, format!("{key} is mandatory"))
}

/// The body's fields as a native patch; `required` must all be there.
/// Every problem is reported at once, in Instantpay's names.
fn read(
    body: Map<String, Value>,
    required: &[&str],
) -> std::result::Result<(ContactPatch, Option<String>), Vec<FieldError>> {
    let mut errors: Vec<FieldError> = required.iter().filter(|k| !body.contains_key(**k)).map(|k| missing(k)).collect();
    let mut p = ContactPatch::default();
    let mut contact_id = None;
    let text = |key: &str, v: Value, errors: &mut Vec<FieldError>| match v {
        Value::String(s) if !s.trim().is_empty() => Some(s),
        Value::String(_) | Value::Null => {
            errors.push(missing(key));
            None
        }
        _ => {
            errors.push(FieldError::new(key, ErrorCode::WrongType, format!("{key} must be a string")));
            None
        }
    };
    for (key, value) in body {
        match key.as_str() {
            "contactId" => match text(&key, value, &mut errors) {
                Some(id) if ALIAS.is_valid(&id) => contact_id = Some(id),
                Some(_) => errors.push(FieldError::new(
                    &key,
                    ErrorCode::InvalidFormat,
                    "contactId is 24 lowercase hexadecimal characters",
                )),
                None => {}
            },
            "name" => p.name = text(&key, value, &mut errors).map(Change::Set).unwrap_or_default(),
            "email" => p.email = text(&key, value, &mut errors).map(Change::Set).unwrap_or_default(),
            "companyName" => {
                p.business_name = match value {
                    Value::Null => Change::Clear,
                    v => text(&key, v, &mut errors).map(Change::Set).unwrap_or_default(),
                }
            }
            "mobile" => {
                if let Some(n) = text(&key, value, &mut errors) {
                    if n.chars().all(|c| c.is_ascii_digit()) {
                        let draft = PhoneDraft {
                            kind: Some(PhoneKind::Mobile.as_str().into()),
                            number: Some(n),
                            country: Some(PHONE_COUNTRY.into()),
                        };
                        p.phone_kinds.insert(PhoneKind::Mobile, Change::Set(draft));
                    } else {
                        errors.push(FieldError::new(
                            &key,
                            ErrorCode::InvalidFormat,
                            "mobile is the local number's digits, such as 9219133921",
                        ));
                    }
                }
            }
            "tagDetails" => match value {
                Value::Array(items) => {
                    let mut tags = Vec::with_capacity(items.len());
                    for (i, item) in items.into_iter().enumerate() {
                        match item.get("tagId") {
                            Some(Value::String(t)) => tags.push(t.clone()),
                            _ => errors.push(FieldError::new(
                                format!("tagDetails[{i}].tagId"),
                                ErrorCode::MissingRequired,
                                format!("tagDetails[{i}].tagId is mandatory"),
                            )),
                        }
                    }
                    p.tags = Change::Set(tags);
                }
                _ => errors.push(FieldError::new(&key, ErrorCode::WrongType, "tagDetails is a list of {\"tagId\"}")),
            },
            _ => errors.push(FieldError::new(
                &key,
                ErrorCode::UnknownField,
                format!("{key} is not a parameter of this call"),
            )),
        }
    }
    if errors.is_empty() { Ok((p, contact_id)) } else { Err(errors) }
}

/// The biller's numeric id: Instantpay's `userId`.
async fn user_id(s: &AppState, who: &Principal, code: &str) -> Result<i64> {
    Ok(s.service.granted(who, code).await?.id)
}

async fn profile(s: &AppState, who: &Principal, code: &str, contact: Contact) -> Result<Profile> {
    let contact = s.service.aliased_one(who, code, ALIAS, contact).await?;
    Ok(Profile::of(contact, user_id(s, who, code).await?))
}

fn ok<T: Serialize>(status: &str, data: Option<T>) -> Response {
    envelope::respond(StatusCode::OK, "TXN", status.to_owned(), data)
}

/// Adds a contact: name, email and mobile, with companyName and tagDetails optional.
async fn add(
    State(s): State<AppState>,
    In(HeaderAuth(who), ..): Auth,
    headers: HeaderMap,
    In(JsonBytes(body), ..): Body,
) -> Result<Response> {
    let code = biller_of(&who, &headers)?;
    let (patch, id) = read(object(&body)?, &["name", "email", "mobile"]).map_err(ServiceError::invalid_one)?;
    if id.is_some() {
        let e = FieldError::new("contactId", ErrorCode::UnknownField, "an added contact is given its contactId");
        return Err(ServiceError::invalid_one(vec![e]).into());
    }
    let batch =
        ContactBatch { records: 1, drafts: vec![(0, patch.apply(Default::default()))], ..ContactBatch::default() };
    let (contact, _) =
        s.service.create_numbered_contact(&who, &code, "POST /contacts/profile", batch, None, false).await?;
    Ok(ok("Contact Added Successfully", Some(profile(&s, &who, &code, contact).await?)))
}

/// Updates a contact: every parameter of the seed's table is mandatory.
async fn update(
    State(s): State<AppState>,
    In(HeaderAuth(who), ..): Auth,
    headers: HeaderMap,
    In(JsonBytes(body), ..): Body,
) -> Result<Response> {
    let code = biller_of(&who, &headers)?;
    let required = ["contactId", "name", "email", "mobile", "tagDetails"];
    let (patch, id) = read(object(&body)?, &required).map_err(ServiceError::invalid_one)?;
    let by = ContactRef::Alias(ALIAS, id.unwrap_or_default());
    let request = PatchRequest { patch, pre: Precondition::None, with_crn: false };
    let (contact, _) = s.service.patch_contact(&who, &code, "PATCH /contacts/profile", &by, request).await?;
    Ok(ok("Contact Updated Successfully", Some(profile(&s, &who, &code, contact).await?)))
}

/// Deletes a contact by `contactId`; `data` is null.
async fn remove(
    State(s): State<AppState>,
    In(HeaderAuth(who), ..): Auth,
    headers: HeaderMap,
    In(JsonBytes(body), ..): Body,
) -> Result<Response> {
    let code = biller_of(&who, &headers)?;
    let (patch, id) = read(object(&body)?, &["contactId"]).map_err(ServiceError::invalid_one)?;
    if patch != ContactPatch::default() {
        let e = FieldError::new("contactId", ErrorCode::UnknownField, "send only contactId");
        return Err(ServiceError::invalid_one(vec![e]).into());
    }
    let by = ContactRef::Alias(ALIAS, id.unwrap_or_default());
    s.service.delete_contact(&who, &code, "DELETE /contacts/profile", &by, Precondition::None).await?;
    Ok(ok::<()>("Contact Deleted Successfully", None))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// From 1.
    page: Option<usize>,
    /// Default 100, at most 1000.
    limit: Option<usize>,
}

/// The biller's contacts, `limit` (default 100, at most 1000) a page from
/// `page` 1, in account-number order.
async fn list(
    State(s): State<AppState>,
    In(HeaderAuth(who), ..): Auth,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let code = biller_of(&who, &headers)?;
    let q: ListQuery = query(raw)?;
    let limit = q.limit.unwrap_or(100);
    let page = q.page.unwrap_or(1);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) || page == 0 {
        return Err(Fault::new(FaultKind::InvalidQuery, format!("page is from 1, limit 1 to {MAX_PAGE_SIZE}")).into());
    }
    let skip = ((page - 1) as u64).saturating_mul(limit as u64);
    let kept = s
        .service
        .contacts(&who, &code, &ContactFilter::default(), &PageRequest { after: None, limit, skip })
        .await?
        .contacts;
    let user = user_id(&s, &who, &code).await?;
    let profiles: Vec<Profile> =
        s.service.aliased(&who, &code, ALIAS, kept).await?.into_iter().map(|c| Profile::of(c, user)).collect();
    Ok(ok("Contacts Fetched Successfully", Some(profiles)))
}

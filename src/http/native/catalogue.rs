//! A biller's catalogues over the native API (tags and contact types,
//! scope `admin`), a contact's holds, and its history.

use crate::domain::TagId;
use crate::domain::history::{Action, Entry};
use crate::domain::holds::Hold;
use crate::http::AppState;
use crate::http::auth::Auth;
use crate::http::body::{JsonBytes, parse};
use crate::http::native::contact::contact_ref;
use crate::http::native::jobs::{cursor, page};
use crate::http::path::PathParams;
use crate::http::problem::ApiResult;
use crate::http::query::query;
use crate::service::ServiceError;
use crate::store::Tag;
use crate::wire::dto::{ContactBody, rfc3339};
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoQuery {}

#[derive(Debug, Serialize, ToSchema)]
pub struct TagBody {
    /// 24 lowercase hex characters: what a contact's `tags` list.
    pub id: String,
    pub name: String,
    pub created_at: String,
}

impl From<Tag> for TagBody {
    fn from(t: Tag) -> Self {
        Self { id: t.id.to_string(), name: t.name, created_at: rfc3339(t.created_at) }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TagList {
    pub data: Vec<TagBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTag {
    /// 1 to 64 characters, unique per biller.
    pub name: String,
    /// 24 lowercase hex characters: a tag id carried over from the provider
    /// the biller moves from (Instantpay's clients keep theirs). Left out: a new one.
    pub id: Option<String>,
}

/// The biller's tag catalogue, by name.
#[utoipa::path(get, path = "/v1/billers/{code}/tags", operation_id = "list_tags", tag = "catalogue",
    params(("code" = String, Path, description = "Biller code")),
    responses((status = 200, body = TagList)),
    security(("token" = [])))]
pub async fn tags(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams(code): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<TagList>> {
    query::<NoQuery>(raw)?;
    let tags = s.service.tags(&who, &code).await?;
    Ok(Json(TagList { data: tags.into_iter().map(Into::into).collect() }))
}

/// Adds a tag: a stable id for a name unique per biller.
#[utoipa::path(post, path = "/v1/billers/{code}/tags", operation_id = "create_tag", tag = "catalogue",
    params(("code" = String, Path, description = "Biller code")),
    request_body = NewTag,
    responses((status = 201, body = TagBody), (status = 409, description = "The name is taken")),
    security(("token" = [])))]
pub async fn create_tag(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams(code): PathParams<String>,
    RawQuery(raw): RawQuery,
    JsonBytes(body): JsonBytes,
) -> ApiResult<(StatusCode, Json<TagBody>)> {
    query::<NoQuery>(raw)?;
    let new: NewTag = parse(&body)?;
    let id = new
        .id
        .map(|id| {
            TagId::parse(&id)
                .ok_or_else(|| ServiceError::BadRequest("a tag id is 24 lowercase hexadecimal characters".into()))
        })
        .transpose()?;
    let tag = s.service.create_tag(&who, &code, &new.name, id).await?;
    Ok((StatusCode::CREATED, Json(tag.into())))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeleteTagQuery {
    /// Take the tag off the contacts that carry it (each a new version, in its history), then delete it.
    #[serde(default)]
    detach: bool,
}

/// Deletes a tag; refused while contacts carry it, unless `detach=true`.
#[utoipa::path(delete, path = "/v1/billers/{code}/tags/{tag_id}", operation_id = "delete_tag", tag = "catalogue",
    params(("code" = String, Path, description = "Biller code"), ("tag_id" = String, Path, description = "The tag's id"), DeleteTagQuery),
    responses((status = 204), (status = 409, description = "Contacts carry it (how many is in the body)")),
    security(("token" = [])))]
pub async fn delete_tag(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams((code, id)): PathParams<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    let q: DeleteTagQuery = query(raw)?;
    s.service.delete_tag(&who, &code, "DELETE /v1/billers/{code}/tags/{tag_id}", &id, q.detach).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactTypes {
    /// Case-sensitive; a contact's `type` must be one of them.
    pub data: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContactType {
    /// 1 to 40 characters, case-sensitive.
    pub name: String,
}

/// The biller's contact types.
#[utoipa::path(get, path = "/v1/billers/{code}/contact-types", operation_id = "list_contact_types", tag = "catalogue",
    params(("code" = String, Path, description = "Biller code")),
    responses((status = 200, body = ContactTypes)),
    security(("token" = [])))]
pub async fn contact_types(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams(code): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<ContactTypes>> {
    query::<NoQuery>(raw)?;
    Ok(Json(ContactTypes { data: s.service.contact_types(&who, &code).await? }))
}

/// Adds a contact type (a new settings version): writes may then use it.
#[utoipa::path(post, path = "/v1/billers/{code}/contact-types", operation_id = "add_contact_type", tag = "catalogue",
    params(("code" = String, Path, description = "Biller code")),
    request_body = NewContactType,
    responses((status = 201, body = ContactTypes), (status = 409, description = "The biller has it already")),
    security(("token" = [])))]
pub async fn add_contact_type(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams(code): PathParams<String>,
    RawQuery(raw): RawQuery,
    JsonBytes(body): JsonBytes,
) -> ApiResult<(StatusCode, Json<ContactTypes>)> {
    query::<NoQuery>(raw)?;
    let new: NewContactType = parse(&body)?;
    let data = s.service.add_contact_type(&who, &code, &new.name).await?;
    Ok((StatusCode::CREATED, Json(ContactTypes { data })))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HoldBody {
    pub hold_id: String,
    pub contact_id: String,
    /// `direct_debit`, `pending_payment`, or the biller's own kind.
    pub kind: String,
    pub reference: Option<String>,
    pub created_at: String,
}

impl From<Hold> for HoldBody {
    fn from(h: Hold) -> Self {
        Self {
            hold_id: h.id.to_string(),
            contact_id: h.contact_id.to_string(),
            kind: h.kind,
            reference: h.reference,
            created_at: rfc3339(h.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HoldList {
    pub data: Vec<HoldBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHold {
    /// `direct_debit`, `pending_payment`, or 1 to 40 of `a-z 0-9 _ -` of the biller's choosing.
    pub kind: String,
    /// The biller's own reference for it (at most 100 characters).
    pub reference: Option<String>,
}

/// A contact's holds.
#[utoipa::path(get, path = "/v1/billers/{code}/contacts/{id}/holds", operation_id = "list_holds", tag = "contacts",
    params(("code" = String, Path, description = "Biller code"), ("id" = String, Path, description = "cont_... or acct:ACCOUNT_NUMBER")),
    responses((status = 200, body = HoldList)),
    security(("token" = [])))]
pub async fn holds(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams((code, id)): PathParams<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<HoldList>> {
    query::<NoQuery>(raw)?;
    let holds = s.service.holds(&who, &code, &contact_ref(&id)?).await?;
    Ok(Json(HoldList { data: holds.into_iter().map(Into::into).collect() }))
}

/// Places a hold: until it is released the contact cannot be deactivated or
/// deleted, and a replace that would remove it is refused unless `force_holds`.
#[utoipa::path(post, path = "/v1/billers/{code}/contacts/{id}/holds", operation_id = "place_hold", tag = "contacts",
    params(("code" = String, Path, description = "Biller code"), ("id" = String, Path, description = "cont_... or acct:ACCOUNT_NUMBER")),
    request_body = NewHold,
    responses((status = 201, body = HoldBody), (status = 409, description = "The contact carries the most holds it may")),
    security(("token" = [])))]
pub async fn place_hold(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams((code, id)): PathParams<(String, String)>,
    RawQuery(raw): RawQuery,
    JsonBytes(body): JsonBytes,
) -> ApiResult<(StatusCode, Json<HoldBody>)> {
    query::<NoQuery>(raw)?;
    let by = contact_ref(&id)?;
    let new: NewHold = parse(&body)?;
    let via = "POST /v1/billers/{code}/contacts/{id}/holds";
    let hold = s.service.place_hold(&who, &code, via, &by, &new.kind, new.reference).await?;
    Ok((StatusCode::CREATED, Json(hold.into())))
}

/// Releases a hold.
#[utoipa::path(delete, path = "/v1/billers/{code}/contacts/{id}/holds/{hold_id}", operation_id = "release_hold", tag = "contacts",
    params(("code" = String, Path, description = "Biller code"), ("id" = String, Path, description = "cont_... or acct:ACCOUNT_NUMBER"),
        ("hold_id" = String, Path, description = "hold_...")),
    responses((status = 204)),
    security(("token" = [])))]
pub async fn release_hold(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams((code, id, hold)): PathParams<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    query::<NoQuery>(raw)?;
    let via = "DELETE /v1/billers/{code}/contacts/{id}/holds/{hold_id}";
    s.service.release_hold(&who, &code, via, &contact_ref(&id)?, &hold).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldChange {
    /// The field as the native API names it (`email`, `address.city`, `fields.contact-id-1`, `notes.k`).
    pub field: String,
    /// Any JSON value, as the field reads (null: it had none).
    pub before: Value,
    /// Any JSON value, as the field reads (null: it has none).
    pub after: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    /// Newest first; pass the last one's as `cursor` for the next page.
    pub seq: i64,
    pub at: String,
    /// `created`, `updated`, `deleted`, `hold_placed` or `hold_released`.
    pub action: &'static str,
    /// The contact's version after it.
    pub version: i64,
    /// The API key that made it (none for the CLI and the inbox).
    pub key_id: Option<String>,
    /// The route (`PATCH /v1/billers/{code}/contacts/{id}`), or the job (`job job_…`).
    pub source: String,
    /// Each field that changed, its value before and after.
    pub changes: Vec<FieldChange>,
    /// For a hold's entry: the hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub hold: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryList {
    pub data: Vec<HistoryEntry>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A contact as the native API shows it, flattened to field paths: what a
/// history entry's changes compare.
fn fields_of(c: &Option<crate::domain::ContactData>) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(data) = c else { return out };
    let body = ContactBody::from(crate::domain::Contact {
        id: crate::domain::ContactId::generate(&mut rand::thread_rng()),
        data: data.clone(),
        version: 0,
        job_id: None,
        aliases: Default::default(),
        created_at: time::OffsetDateTime::UNIX_EPOCH,
        updated_at: time::OffsetDateTime::UNIX_EPOCH,
    });
    let Ok(Value::Object(fields)) = serde_json::to_value(body) else { return out };
    for (k, v) in fields {
        match (k.as_str(), v) {
            ("id" | "version" | "created_at" | "updated_at" | "job_id" | "aliases", _) => {}
            ("address" | "notes" | "fields", Value::Object(inner)) => {
                for (ik, iv) in inner {
                    out.insert(format!("{k}.{ik}"), iv);
                }
            }
            (_, Value::Null) => {}
            (_, Value::Array(a)) if a.is_empty() => {}
            (k, v) => {
                out.insert(k.to_owned(), v);
            }
        }
    }
    out
}

fn changes(e: &Entry) -> Vec<FieldChange> {
    let (before, after) = (fields_of(&e.before), fields_of(&e.after));
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let (b, a) = (before.get(k).cloned().unwrap_or(Value::Null), after.get(k).cloned().unwrap_or(Value::Null));
            (b != a).then(|| FieldChange { field: k.clone(), before: b, after: a })
        })
        .collect()
}

/// A contact's history, newest first: every change, when, by which key,
/// through what, and each field's value before and after. A deleted
/// contact's history stays readable by its id.
#[utoipa::path(get, path = "/v1/billers/{code}/contacts/{id}/history", operation_id = "contact_history", tag = "contacts",
    params(("code" = String, Path, description = "Biller code"), ("id" = String, Path, description = "cont_... or acct:ACCOUNT_NUMBER"), HistoryQuery),
    responses((status = 200, body = HistoryList)),
    security(("token" = [])))]
pub async fn history(
    State(s): State<AppState>,
    Auth(who): Auth,
    PathParams((code, id)): PathParams<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<HistoryList>> {
    let q: HistoryQuery = query(raw)?;
    let (limit, before) = page(q.limit, q.cursor.as_deref())?;
    let found = s.service.history(&who, &code, &contact_ref(&id)?, before.map(|b| b as i64), limit).await?;
    let data = found
        .entries
        .iter()
        .map(|e| HistoryEntry {
            seq: e.seq,
            at: rfc3339(e.at),
            action: e.action.as_str(),
            version: e.version,
            key_id: e.origin.key_id.as_ref().map(|k| k.to_string()),
            source: e.origin.source.clone(),
            changes: match e.action {
                Action::HoldPlaced | Action::HoldReleased => Vec::new(),
                Action::Created | Action::Updated | Action::Deleted => changes(e),
            },
            hold: e
                .hold
                .as_ref()
                .map(|(id, kind, reference)| serde_json::json!({"hold_id": id, "kind": kind, "reference": reference})),
        })
        .collect();
    Ok(Json(HistoryList { data, next_cursor: found.next.map(|n| cursor(n as u64)) }))
}

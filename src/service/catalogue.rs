//! A biller's catalogues and settings: tags, contact types, holds on its
//! contacts, its settings (each change weighed against the stored contacts
//! first) and each contact's history.

use crate::domain::field_settings::SettingsDoc;
use crate::domain::history::{Action, Entry, Origin};
use crate::domain::holds::{self, Hold};
use crate::domain::query::{ContactFilter, PageRequest};
use crate::domain::validate::Rules;
use crate::domain::{BillerSettings, ContactId, ContactRef, HoldId, TagId, validate_contact};
use crate::service::error::{Resource, SettingsImpact};
use crate::service::{Principal, Service, ServiceError, ServiceResult};
use crate::store::{Biller, HistoryFrom, Scope, SettingsVersion, Tag, TagDeleted};
use std::collections::BTreeMap;

/// The longest tag name.
pub const MAX_TAG_NAME: usize = 64;
/// Tags one biller may have.
pub const MAX_TAGS_PER_BILLER: usize = 10_000;
/// The longest contact type.
pub const MAX_CONTACT_TYPE: usize = 40;

/// How a settings change is to be made.
#[derive(Debug, Clone, Copy, Default)]
pub struct SettingsChange {
    /// Weigh it only.
    pub dry_run: bool,
    /// Make it even if it leaves stored contacts invalid.
    pub confirm: bool,
}

/// A page of a contact's history.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    pub entries: Vec<Entry>,
    /// The seq to continue below, when there is more.
    pub next: Option<i64>,
}

fn origin(who: &Principal, via: &str) -> Origin {
    Origin::new(Some(who.key_id.clone()), via)
}

impl Service {
    pub async fn tags(&self, who: &Principal, code: &str) -> ServiceResult<Vec<Tag>> {
        let biller = self.authorize(who, code, Scope::Admin).await?;
        Ok(self.store.tags(biller.id).await?)
    }

    /// Adds a tag to the catalogue: a stable id (a new one, or the one given:
    /// carried over from the provider the biller moves from) and a name
    /// unique per biller.
    pub async fn create_tag(&self, who: &Principal, code: &str, name: &str, id: Option<TagId>) -> ServiceResult<Tag> {
        let biller = self.authorize(who, code, Scope::Admin).await?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_TAG_NAME || name.chars().any(char::is_control) {
            return Err(ServiceError::BadRequest(format!(
                "a tag name is 1 to {MAX_TAG_NAME} characters, with no control characters"
            )));
        }
        if self.store.tags(biller.id).await?.len() >= MAX_TAGS_PER_BILLER {
            return Err(ServiceError::LimitReached(format!(
                "the biller has {MAX_TAGS_PER_BILLER} tags, the most it may; delete one first"
            )));
        }
        let id = id.unwrap_or_else(|| TagId::generate(&mut rand::thread_rng()));
        let tag = Tag { id, name: name.to_owned(), created_at: super::now() };
        self.store.create_tag(biller.id, &tag).await?;
        Ok(tag)
    }

    /// Deletes a tag no contact carries, or (`detach`) takes it off them first.
    pub async fn delete_tag(
        &self,
        who: &Principal,
        code: &str,
        via: &str,
        id: &str,
        detach: bool,
    ) -> ServiceResult<u64> {
        let biller = self.authorize(who, code, Scope::Admin).await?;
        let id = TagId::parse(id).ok_or(ServiceError::NotFound(Resource::Tag))?;
        let deleted = self.store.delete_tag(biller.id, &id, detach, &origin(who, via), super::now()).await?;
        // It moved the biller's settings version on.
        self.biller_changed(code);
        match deleted {
            TagDeleted::NotFound => Err(ServiceError::NotFound(Resource::Tag)),
            TagDeleted::InUse(n) => Err(ServiceError::TagInUse(n)),
            TagDeleted::Deleted(n) => Ok(n),
        }
    }

    pub async fn contact_types(&self, who: &Principal, code: &str) -> ServiceResult<Vec<String>> {
        let biller = self.authorize(who, code, Scope::Admin).await?;
        Ok(biller.settings.doc().contact_types.clone())
    }

    /// Adds a contact type (a new settings version); writes may then use it.
    pub async fn add_contact_type(&self, who: &Principal, code: &str, name: &str) -> ServiceResult<Vec<String>> {
        let biller = self.authorize(who, code, Scope::Admin).await?;
        if name.is_empty()
            || name.chars().count() > MAX_CONTACT_TYPE
            || name.chars().any(char::is_control)
            || name.trim() != name
        {
            return Err(ServiceError::BadRequest(format!(
                "a contact type is 1 to {MAX_CONTACT_TYPE} characters, with no control characters and no surrounding spaces"
            )));
        }
        if biller.settings.allows_type(name) {
            return Err(ServiceError::Conflict(format!("contact type {name:?}")));
        }
        let mut doc = biller.settings.doc().clone();
        doc.contact_types.push(name.to_owned());
        let settings = BillerSettings::parse(doc).map_err(ServiceError::InvalidSettings)?;
        self.store.set_biller_settings(biller.id, &settings, Some(&who.key_id)).await?;
        self.biller_changed(code);
        Ok(settings.doc().contact_types.clone())
    }

    /// Replaces the biller's settings through the API (scope `admin`).
    pub async fn put_field_settings(
        &self,
        who: &Principal,
        code: &str,
        doc: SettingsDoc,
        change: SettingsChange,
    ) -> ServiceResult<(BillerSettings, SettingsImpact, bool)> {
        let biller = self.authorize(who, code, Scope::Admin).await?;
        self.change_settings(&biller, doc, change, Some(&who.key_id)).await
    }

    /// Weighs a settings change against every stored contact first: one
    /// that would leave any invalid is refused (with counts) unless
    /// confirmed; a dry run only reports. Returns the settings, what they do
    /// to the stored contacts, and whether they were applied.
    pub(super) async fn change_settings(
        &self,
        biller: &Biller,
        doc: SettingsDoc,
        change: SettingsChange,
        key: Option<&crate::domain::KeyId>,
    ) -> ServiceResult<(BillerSettings, SettingsImpact, bool)> {
        let settings = BillerSettings::parse(doc).map_err(ServiceError::InvalidSettings)?;
        let impact = self.settings_impact(biller, &settings).await?;
        if change.dry_run {
            return Ok((settings, impact, false));
        }
        if impact.invalid > 0 && !change.confirm {
            return Err(ServiceError::SettingsWouldInvalidate(impact));
        }
        self.store.set_biller_settings(biller.id, &settings, key).await?;
        self.biller_changed(&biller.code);
        Ok((settings, impact, true))
    }

    /// Validates every stored contact of the biller against `settings`, a
    /// page at a time (CPU on a blocking thread).
    async fn settings_impact(&self, biller: &Biller, settings: &BillerSettings) -> ServiceResult<SettingsImpact> {
        let tags = self.all_tags(biller).await?;
        let mut impact = SettingsImpact::default();
        let mut problems: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut after = None;
        loop {
            let page = self
                .store
                .contacts(
                    biller.id,
                    &ContactFilter::default(),
                    &PageRequest { after: after.take(), limit: 1000, skip: 0 },
                )
                .await?;
            let (settings, tags, today) = (settings.clone(), tags.clone(), super::now().date());
            let contacts = page.contacts;
            let found = tokio::task::spawn_blocking(move || {
                let rules = Rules::new(&settings, &tags, today);
                let mut found = Vec::new();
                for c in &contacts {
                    if let Err(errors) = validate_contact(c.data.to_draft(), &rules) {
                        found.push(
                            errors.into_iter().map(|e| (e.field, e.code.as_str().to_owned())).collect::<Vec<_>>(),
                        );
                    }
                }
                (contacts.len() as u64, found)
            })
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
            impact.contacts += found.0;
            impact.invalid += found.1.len() as u64;
            for errors in found.1 {
                for e in errors {
                    *problems.entry(e).or_default() += 1;
                }
            }
            match page.next_after {
                Some(a) => after = Some(a),
                None => break,
            }
        }
        impact.problems = problems.into_iter().map(|((field, code), n)| (field, code, n)).collect();
        Ok(impact)
    }

    /// Every settings version the biller had, newest first.
    pub async fn settings_versions(&self, who: &Principal, code: &str) -> ServiceResult<Vec<SettingsVersion>> {
        let biller = self.authorize(who, code, Scope::Admin).await?;
        Ok(self.store.settings_versions(biller.id).await?)
    }

    /// The id of the contact a reference names.
    async fn contact_id(&self, biller: &Biller, by: &ContactRef) -> ServiceResult<ContactId> {
        match by {
            ContactRef::Id(id) => Ok(id.clone()),
            ContactRef::AccountNumber(_) | ContactRef::Alias(..) => {
                Ok(self.store.contact(biller.id, by).await?.ok_or(ServiceError::NotFound(Resource::Contact))?.id)
            }
        }
    }

    pub async fn holds(&self, who: &Principal, code: &str, by: &ContactRef) -> ServiceResult<Vec<Hold>> {
        let biller = self.authorize(who, code, Scope::ContactsRead).await?;
        let id = self.contact_id(&biller, by).await?;
        if self.store.contact(biller.id, &ContactRef::Id(id.clone())).await?.is_none() {
            return Err(ServiceError::NotFound(Resource::Contact));
        }
        Ok(self.store.holds(biller.id, &id).await?)
    }

    /// Places a hold: the contact cannot be deactivated, deleted, or removed
    /// by a replace (unless forced) until it is released.
    pub async fn place_hold(
        &self,
        who: &Principal,
        code: &str,
        via: &str,
        by: &ContactRef,
        kind: &str,
        reference: Option<String>,
    ) -> ServiceResult<Hold> {
        let biller = self.authorize(who, code, Scope::ContactsWrite).await?;
        if !holds::valid_kind(kind) {
            return Err(ServiceError::BadRequest(format!(
                "a hold's kind is direct_debit, pending_payment, or 1 to {} of a-z 0-9 _ - starting with a letter",
                holds::MAX_KIND
            )));
        }
        let reference = reference.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
        if reference.as_deref().is_some_and(|r| !holds::valid_reference(r)) {
            return Err(ServiceError::BadRequest(format!(
                "a hold's reference is at most {} characters, with no control characters",
                holds::MAX_REFERENCE
            )));
        }
        let id = self.contact_id(&biller, by).await?;
        let hold = Hold {
            id: HoldId::generate(&mut rand::thread_rng()),
            contact_id: id,
            kind: kind.to_owned(),
            reference,
            created_at: super::now(),
        };
        if !self.store.place_hold(biller.id, &hold, &origin(who, via)).await? {
            return Err(ServiceError::NotFound(Resource::Contact));
        }
        Ok(hold)
    }

    pub async fn release_hold(
        &self,
        who: &Principal,
        code: &str,
        via: &str,
        by: &ContactRef,
        hold: &str,
    ) -> ServiceResult<()> {
        let biller = self.authorize(who, code, Scope::ContactsWrite).await?;
        let id = self.contact_id(&biller, by).await?;
        let hold = HoldId::parse(hold).ok_or(ServiceError::NotFound(Resource::Hold))?;
        if !self.store.release_hold(biller.id, &id, &hold, &origin(who, via), super::now()).await? {
            return Err(ServiceError::NotFound(Resource::Hold));
        }
        Ok(())
    }

    /// A contact's history, newest first: each entry with the contact before
    /// and after it. A deleted contact's stays readable by its id; a contact
    /// a job created starts with that job.
    pub async fn history(
        &self,
        who: &Principal,
        code: &str,
        by: &ContactRef,
        before: Option<i64>,
        limit: usize,
    ) -> ServiceResult<HistoryPage> {
        let biller = self.authorize(who, code, Scope::ContactsRead).await?;
        let id = self.contact_id(&biller, by).await?;
        let current = self.store.contact(biller.id, &ContactRef::Id(id.clone())).await?;
        // The page (entries older than the cursor, any position) and one past
        // it; and the oldest row newer than the page, whose `before` is the
        // page's first `after` (none: the contact as it is now).
        let from = HistoryFrom::AtOrBelow(before.map_or(i64::MAX, |b| b - 1));
        let mut rows = self.store.history(biller.id, &id, from, limit + 1).await?;
        let newer = match before {
            Some(b) => self.store.history(biller.id, &id, HistoryFrom::AtOrAbove(b), 1).await?.pop(),
            None => None,
        };
        if rows.is_empty() && newer.is_none() && current.is_none() {
            return Err(ServiceError::NotFound(Resource::Contact));
        }
        let more = rows.len() > limit;
        rows.truncate(limit);
        let mut after = match &newer {
            Some(n) => n.before.clone(),
            None => current.as_ref().map(|c| c.data.clone()),
        };
        let mut entries = Vec::with_capacity(rows.len() + 1);
        for r in &rows {
            let entry_after = match r.action {
                Action::Deleted => None,
                Action::Created | Action::Updated | Action::HoldPlaced | Action::HoldReleased => after.clone(),
            };
            let before_state = match r.action {
                Action::HoldPlaced | Action::HoldReleased => entry_after.clone(),
                Action::Created | Action::Updated | Action::Deleted => r.before.clone(),
            };
            entries.push(Entry {
                seq: r.seq,
                contact_id: id.clone(),
                at: r.at,
                origin: Origin { key_id: r.key_id.clone(), source: r.source.clone() },
                action: r.action,
                version: r.version,
                before: before_state.clone(),
                after: entry_after,
                hold: r.hold.clone(),
            });
            if matches!(r.action, Action::Created | Action::Updated | Action::Deleted) {
                after = r.before.clone();
            }
        }
        // A job's new contacts have no creation row: the job is their first entry.
        let oldest_is_creation = rows.last().is_some_and(|r| r.action == Action::Created);
        if !more
            && !oldest_is_creation
            && let Some(c) = &current
        {
            let job_origin = match &c.job_id {
                Some(job) => match self.store.job(biller.id, job).await? {
                    Some(j) => j.origin,
                    None => Origin::new(None, format!("job {job}")),
                },
                None => Origin::new(None, "before history was kept"),
            };
            entries.push(Entry {
                seq: 0,
                contact_id: id.clone(),
                at: c.created_at,
                origin: job_origin,
                action: Action::Created,
                version: 1,
                before: None,
                after,
                hold: None,
            });
        }
        let next = if more { rows.last().map(|r| r.seq) } else { None };
        Ok(HistoryPage { entries, next })
    }
}

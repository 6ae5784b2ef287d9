//! One contact at a time: create, partial update (merge patch), delete and
//! CRN issue, with conditional writes (`If-Match`) and the biller's holds.

use crate::domain::crn;
use crate::domain::field_settings::CrnBase;
use crate::domain::history::Origin;
use crate::domain::patch::ContactPatch;
use crate::domain::query::{ContactFilter, MAX_PAGE_SIZE, PageRequest};
use crate::domain::validate::Rules;
use crate::domain::{
    Contact, ContactData, ContactId, ContactRef, ErrorCode, FieldError, validate_batch, validate_contact,
};
use crate::service::error::{HeldWrite, Resource};
use crate::service::{ContactBatch, Principal, Service, ServiceError, ServiceResult};
use crate::store::{Biller, MakeCrn, Refused, Scope};
use std::collections::HashSet;

/// What an `If-Match` header asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// No `If-Match`.
    None,
    /// `If-Match: *`: the contact must exist.
    Any,
    /// `If-Match: "<version>"`.
    Version(i64),
}

impl Precondition {
    fn expected(self) -> Option<i64> {
        match self {
            Self::Version(v) => Some(v),
            Self::None | Self::Any => None,
        }
    }
}

/// Who writes, for the history: the key, and the route or dialect call.
fn origin(who: &Principal, via: &str) -> Origin {
    Origin::new(Some(who.key_id.clone()), via)
}

fn refused(e: Refused, write: HeldWrite) -> ServiceError {
    match e {
        Refused::NotFound => ServiceError::NotFound(Resource::Contact),
        Refused::VersionMismatch { current } => ServiceError::PreconditionFailed { current },
        Refused::Invalid(errors) => ServiceError::invalid_one(errors),
        Refused::Held(holds) => ServiceError::ContactHeld { write, holds },
        Refused::CrnFixed(detail) => ServiceError::CrnFixed(detail),
    }
}

impl ServiceError {
    /// One record's problems, as a batch of one reports them.
    pub fn invalid_one(errors: Vec<FieldError>) -> Self {
        let mut batch = crate::domain::BatchErrors::default();
        for error in errors {
            batch.push(crate::domain::RecordError { index: 0, account_number: None, error });
        }
        ServiceError::Invalid { errors: batch, records: 1 }
    }
}

/// A PATCH as the service takes it: the merge patch, its `If-Match`, and
/// whether it also asks for a CRN (`?with=crn`).
#[derive(Debug, Clone)]
pub struct PatchRequest {
    pub patch: ContactPatch,
    pub pre: Precondition,
    pub with_crn: bool,
}

/// Which existing contact a new one is the same as: the candidates a filter
/// made from the new contact (validated: trimmed, normalised) finds, and the
/// rule that compares one with it.
pub struct SameContact {
    pub filter: fn(&ContactData) -> ContactFilter,
    pub equal: fn(&ContactData, &ContactData) -> bool,
}

/// A contact to create: its id, whether it gets a CRN, and what existing
/// contact it would be the same as.
struct NewContact<'a> {
    id: ContactId,
    with_crn: bool,
    same: Option<&'a SameContact>,
}

/// How the biller makes a contact's CRN: from its account number's digits
/// or the biller's sequence, with the biller's check digit.
fn crn_rule(biller: &Biller) -> MakeCrn {
    let (algorithm, base) = (biller.settings.crn_algorithm(), biller.settings.doc().crn.base);
    let make = Box::new(move |contact: &Contact, sequence: i64| {
        let digits = match base {
            CrnBase::AccountNumber => {
                let d: String = contact.data.account_number.as_str().chars().filter(char::is_ascii_digit).collect();
                if d.is_empty() {
                    return Err(
                        "the account number has no digits to make a CRN from (the biller may use the sequence base)"
                            .to_owned(),
                    );
                }
                d
            }
            CrnBase::Sequence => sequence.to_string(),
        };
        crn::generate(algorithm, &digits)
    });
    MakeCrn { make, from_sequence: base == CrnBase::Sequence }
}

/// Refuses, before anything is written, a request that asks for a CRN
/// (`?with=crn`) where none can be made for the contact it would leave.
fn crn_possible(rule: &MakeCrn, contact: &Contact) -> Result<(), Vec<FieldError>> {
    if contact.data.crn.is_some() {
        return Ok(());
    }
    (rule.make)(contact, 1).map(drop).map_err(|why| vec![FieldError::new("crn", ErrorCode::InvalidValue, why)])
}

impl Service {
    fn require_precondition(&self, biller: &Biller, pre: Precondition) -> ServiceResult<()> {
        if biller.settings.require_if_match() && pre == Precondition::None {
            return Err(ServiceError::PreconditionRequired);
        }
        Ok(())
    }

    /// Creates one contact from a batch of one record (so wire errors report
    /// alike); `with_crn`: and issues it a CRN (refused before anything is
    /// written if none can be made for it).
    #[tracing::instrument(skip_all, fields(biller = code))]
    pub async fn create_contact(
        &self,
        who: &Principal,
        code: &str,
        via: &str,
        batch: ContactBatch,
        with_crn: bool,
    ) -> ServiceResult<Contact> {
        self.with_settings(who, code, Scope::ContactsWrite, |biller| {
            self.create_as(biller, who, via, batch.clone(), with_crn)
        })
        .await
    }

    /// Creates one contact whose account number is its own id without the
    /// `cont_` prefix: for dialects whose contacts have no account number
    /// (Razorpay). A number the record names is replaced. With `same`, a
    /// valid contact that equals an existing one is that one (`false`: not
    /// created), as Razorpay's create rule has it. `with_crn` as for
    /// `create_contact`.
    #[tracing::instrument(skip_all, fields(biller = code))]
    pub async fn create_numbered_contact(
        &self,
        who: &Principal,
        code: &str,
        via: &str,
        batch: ContactBatch,
        same: Option<SameContact>,
        with_crn: bool,
    ) -> ServiceResult<(Contact, bool)> {
        let id = ContactId::generate(&mut rand::thread_rng());
        let mut batch = batch;
        for (_, draft) in &mut batch.drafts {
            draft.account_number = Some(id.as_str().trim_start_matches("cont_").to_owned());
        }
        self.with_settings(who, code, Scope::ContactsWrite, |biller| {
            let new = NewContact { id: id.clone(), with_crn, same: same.as_ref() };
            self.create_with_id(biller, who, via, batch.clone(), new)
        })
        .await
    }

    async fn create_as(
        &self,
        biller: Biller,
        who: &Principal,
        via: &str,
        batch: ContactBatch,
        with_crn: bool,
    ) -> ServiceResult<Contact> {
        let id = ContactId::generate(&mut rand::thread_rng());
        Ok(self.create_with_id(biller, who, via, batch, NewContact { id, with_crn, same: None }).await?.0)
    }

    async fn create_with_id(
        &self,
        biller: Biller,
        who: &Principal,
        via: &str,
        batch: ContactBatch,
        new: NewContact<'_>,
    ) -> ServiceResult<(Contact, bool)> {
        let NewContact { id, with_crn, same } = new;
        let tags = self.known_tags(biller.id, batch.drafts.iter().flat_map(|(_, d)| &d.tags)).await?;
        let now = super::now();
        let rules = Rules::new(&biller.settings, &tags, now.date());
        let (valid, mut errors) = validate_batch(batch.drafts, &rules);
        errors.merge(batch.errors);
        let data = match (valid.into_iter().next(), errors.is_empty()) {
            (Some((_, data)), true) => data,
            _ => return Err(ServiceError::Invalid { errors, records: 1 }),
        };
        if let Some(same) = same
            && let Some(existing) = self.find_same(&biller, same, &data).await?
        {
            return Ok((existing, false));
        }
        let contact = Contact {
            id,
            data,
            version: 1,
            job_id: None,
            aliases: Default::default(),
            created_at: now,
            updated_at: now,
        };
        if with_crn {
            crn_possible(&crn_rule(&biller), &contact).map_err(ServiceError::invalid_one)?;
        }
        let crn = with_crn.then(|| crn_rule(&biller));
        let contact = self
            .store
            .create_contact(biller.id, biller.settings_version, &contact, &origin(who, via), crn)
            .await?
            .map_err(|e| refused(e, HeldWrite::Deactivate))?;
        Ok((contact, true))
    }

    /// The first contact `same.filter` finds that `same.equal` takes for the new one.
    async fn find_same(
        &self,
        biller: &Biller,
        same: &SameContact,
        new: &ContactData,
    ) -> ServiceResult<Option<Contact>> {
        let filter = (same.filter)(new);
        let mut after = None;
        loop {
            let page =
                self.store.contacts(biller.id, &filter, &PageRequest { after, limit: MAX_PAGE_SIZE, skip: 0 }).await?;
            if let Some(found) = page.contacts.into_iter().find(|c| (same.equal)(&c.data, new)) {
                return Ok(Some(found));
            }
            match page.next_after {
                Some(next) => after = Some(next),
                None => return Ok(None),
            }
        }
    }

    /// Applies a merge patch to one contact inside the write's transaction:
    /// only what the patch names changes, the result goes through the one
    /// validator, and a contact with holds is not deactivated. Returns the
    /// contact and whether anything changed (an empty patch spends no version).
    #[tracing::instrument(skip_all, fields(biller = code))]
    pub async fn patch_contact(
        &self,
        who: &Principal,
        code: &str,
        via: &str,
        by: &ContactRef,
        request: PatchRequest,
    ) -> ServiceResult<(Contact, bool)> {
        self.with_settings(who, code, Scope::ContactsWrite, |biller| {
            self.patch_as(biller, who, via, by, request.clone())
        })
        .await
    }

    async fn patch_as(
        &self,
        biller: Biller,
        who: &Principal,
        via: &str,
        by: &ContactRef,
        request: PatchRequest,
    ) -> ServiceResult<(Contact, bool)> {
        let PatchRequest { patch, pre, with_crn } = request;
        self.require_precondition(&biller, pre)?;
        let rule = with_crn.then(|| crn_rule(&biller));
        let known = self.known_tags(biller.id, patch.tags_named().iter()).await?;
        let settings = biller.settings.clone();
        let today = super::now().date();
        let decide = Box::new(move |contact: &Contact, holds: &[crate::domain::holds::Hold]| {
            if pre.expected().is_some_and(|v| v != contact.version) {
                return Err(Refused::VersionMismatch { current: contact.version });
            }
            // Nothing asked, nothing written (even where settings changed
            // since would write it differently).
            let data = if patch == ContactPatch::default() {
                contact.data.clone()
            } else {
                // The tags it carries are the catalogue's (a deleted tag is taken off).
                let mut tags = known.clone();
                tags.extend(contact.data.tags.iter().cloned());
                let draft = patch.clone().apply(contact.data.to_draft());
                validate_contact(draft, &Rules::new(&settings, &tags, today)).map_err(Refused::Invalid)?
            };
            if let Some(rule) = &rule {
                crn_possible(rule, &Contact { data: data.clone(), ..contact.clone() }).map_err(Refused::Invalid)?;
            }
            if let (Some(old), Some(new)) = (&contact.data.crn, &data.crn)
                && old != new
            {
                return Err(Refused::CrnFixed(format!(
                    "the contact's CRN {old} is fixed once issued; clear it first (\"crn\": null)"
                )));
            }
            if contact.data.active && !data.active && !holds.is_empty() {
                return Err(Refused::Held(holds.to_vec()));
            }
            Ok(data)
        });
        let updated = self
            .store
            .update_contact(
                biller.id,
                by,
                biller.settings_version,
                &origin(who, via),
                super::now(),
                decide,
                with_crn.then(|| crn_rule(&biller)),
            )
            .await?
            .map_err(|e| refused(e, HeldWrite::Deactivate))?;
        Ok((updated.contact, updated.changed))
    }

    /// Deletes one contact without holds; its history stays readable by its id.
    #[tracing::instrument(skip_all, fields(biller = code))]
    pub async fn delete_contact(
        &self,
        who: &Principal,
        code: &str,
        via: &str,
        by: &ContactRef,
        pre: Precondition,
    ) -> ServiceResult<()> {
        let biller = self.authorize(who, code, Scope::ContactsWrite).await?;
        self.require_precondition(&biller, pre)?;
        self.store
            .delete_contact(biller.id, by, pre.expected(), &origin(who, via), super::now())
            .await?
            .map_err(|e| refused(e, HeldWrite::Delete))
    }

    /// Gives a contact without a BPAY CRN one, from the biller's base (its
    /// account number's digits, or its sequence) and check digit rule; a
    /// contact that has one gets it back unchanged. Returns whether one was issued.
    #[tracing::instrument(skip_all, fields(biller = code))]
    pub async fn issue_crn(
        &self,
        who: &Principal,
        code: &str,
        via: &str,
        by: &ContactRef,
    ) -> ServiceResult<(Contact, bool)> {
        let biller = self.authorize(who, code, Scope::ContactsWrite).await?;
        let make = crn_rule(&biller);
        let issued = self
            .store
            .issue_crn(biller.id, by, &origin(who, via), super::now(), make)
            .await?
            .map_err(|e| refused(e, HeldWrite::Deactivate))?;
        Ok((issued.contact, issued.issued))
    }

    /// The tags a contact write may use: the catalogue's, by id.
    pub(super) async fn all_tags(&self, biller: &Biller) -> ServiceResult<HashSet<String>> {
        Ok(self.store.tags(biller.id).await?.into_iter().map(|t| t.id.as_str().to_owned()).collect())
    }
}

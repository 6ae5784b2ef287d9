//! Aliases: the ids dialects' clients know contacts by, issued on a
//! contact's first use through its dialect (a page of contacts in one go),
//! and carried over from the provider a biller moves from.

use crate::domain::{AliasKind, Contact, ContactRef};
use crate::service::error::Resource;
use crate::service::{Principal, Service, ServiceError, ServiceResult};
use crate::store::Scope;

impl Service {
    /// The contacts with their aliases of `kind`, issuing the ones they lack.
    /// They came from a call that checked its own scope (a read or a write),
    /// so a grant on the biller is all this asks.
    pub async fn aliased(
        &self,
        who: &Principal,
        code: &str,
        kind: AliasKind,
        mut contacts: Vec<Contact>,
    ) -> ServiceResult<Vec<Contact>> {
        let missing: Vec<_> = contacts.iter().filter(|c| c.aliases.get(kind).is_none()).map(|c| c.id.clone()).collect();
        if missing.is_empty() {
            return Ok(contacts);
        }
        let biller = self.granted(who, code).await?;
        let mut issued = self.store.issue_aliases(biller.id, kind, &missing, super::now()).await?;
        for c in &mut contacts {
            if let Some(alias) = issued.remove(&c.id) {
                c.aliases.set(kind, alias);
            }
        }
        Ok(contacts)
    }

    /// One contact with its alias of `kind`, issued if it lacks one.
    pub async fn aliased_one(
        &self,
        who: &Principal,
        code: &str,
        kind: AliasKind,
        c: Contact,
    ) -> ServiceResult<Contact> {
        let mut one = self.aliased(who, code, kind, vec![c]).await?;
        one.pop().ok_or(ServiceError::NotFound(Resource::Contact))
    }

    /// Gives a contact the alias its clients knew it by at the provider the
    /// biller moves from (once per contact and kind; an alias ever issued
    /// is never given again).
    pub async fn add_alias(
        &self,
        who: &Principal,
        code: &str,
        by: &ContactRef,
        kind: AliasKind,
        alias: &str,
    ) -> ServiceResult<Contact> {
        let biller = self.authorize(who, code, Scope::Admin).await?;
        if !kind.is_valid(alias) {
            return Err(ServiceError::BadRequest(format!("a {} alias is {}", kind.as_str(), kind.form())));
        }
        let contact = self.store.contact(biller.id, by).await?.ok_or(ServiceError::NotFound(Resource::Contact))?;
        if !self.store.add_alias(biller.id, kind, &contact.id, alias, super::now()).await? {
            return Err(ServiceError::NotFound(Resource::Contact));
        }
        self.store
            .contact(biller.id, &ContactRef::Id(contact.id))
            .await?
            .ok_or(ServiceError::NotFound(Resource::Contact))
    }
}

//! Contact use cases: bulk add and replace, and single-contact reads and writes.

use crate::domain::query::{ContactFilter, PageRequest};
use crate::domain::sync::{RemovalGuard, WriteMode};
use crate::domain::{BatchErrors, Contact, ContactDraft, ContactId, ContactRef, validate_batch};
use crate::service::error::Resource;
use crate::service::{Principal, Service, ServiceError, ServiceResult};
use crate::store::{ContactPage, Scope, WriteBatch, WriteOutcome};

/// A parsed request body: drafts by position, and the records the wire layer
/// could not even read (wrong JSON types), already as errors.
#[derive(Debug, Default)]
pub struct ContactBatch {
    pub drafts: Vec<(usize, ContactDraft)>,
    pub errors: BatchErrors,
    pub records: usize,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ReplaceOptions {
    pub dry_run: bool,
    pub confirm_removals: Option<u64>,
}

impl Service {
    fn check_size(&self, batch: &ContactBatch) -> ServiceResult<()> {
        let max = self.config.max_sync_records;
        if batch.records > max {
            return Err(ServiceError::TooManyRecords(format!(
                "{} records is more than the {max} a synchronous request takes; split the set into requests of at most {max} records",
                batch.records
            )));
        }
        Ok(())
    }

    async fn write(
        &self,
        who: &Principal,
        code: &str,
        scope: Scope,
        batch: ContactBatch,
        mode: WriteMode,
        options: ReplaceOptions,
    ) -> ServiceResult<WriteOutcome> {
        let biller = self.authorize(who, code, scope).await?;
        self.check_size(&batch)?;
        // Bulk writes of one biller queue here rather than on database connections.
        let lock = self.bulk_lock(biller.id);
        let _turn = lock.lock().await;
        // Validate against the settings as they are now, after the wait.
        let biller = self.biller(code).await?;
        let settings = biller.settings.clone();
        let drafts = batch.drafts;
        let (valid, mut errors) = tokio::task::spawn_blocking(move || validate_batch(drafts, &settings))
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        errors.merge(batch.errors);
        if !errors.is_empty() {
            return Err(ServiceError::Invalid { errors, records: batch.records });
        }
        let guard = (mode == WriteMode::Replace).then_some(RemovalGuard {
            max_share: biller.settings.max_replace_removal(),
            confirm_removals: options.confirm_removals,
        });
        let records = valid.into_iter().map(|(_, data)| data).collect();
        let write = WriteBatch {
            settings_version: biller.settings_version,
            mode,
            records,
            dry_run: options.dry_run,
            guard,
            snapshot: self.snapshot_for(mode, None),
        };
        Ok(self.store.write_contacts(biller.id, write, super::now()).await?)
    }

    /// Upserts by account number; a match's details are replaced by the supplied ones.
    #[tracing::instrument(skip_all, fields(biller = code))]
    pub async fn add_contacts(
        &self,
        who: &Principal,
        code: &str,
        batch: ContactBatch,
        dry_run: bool,
    ) -> ServiceResult<WriteOutcome> {
        let options = ReplaceOptions { dry_run, confirm_removals: None };
        self.write(who, code, Scope::ContactsWrite, batch, WriteMode::Add, options).await
    }

    /// Afterwards the biller holds exactly the supplied contacts; all or nothing, guarded.
    #[tracing::instrument(skip_all, fields(biller = code))]
    pub async fn replace_contacts(
        &self,
        who: &Principal,
        code: &str,
        batch: ContactBatch,
        options: ReplaceOptions,
    ) -> ServiceResult<WriteOutcome> {
        self.write(who, code, Scope::ContactsReplace, batch, WriteMode::Replace, options).await
    }

    #[tracing::instrument(skip_all, fields(biller = code))]
    /// Creates one contact from a batch of one record (so wire errors report alike).
    pub async fn create_contact(&self, who: &Principal, code: &str, batch: ContactBatch) -> ServiceResult<Contact> {
        let biller = self.authorize(who, code, Scope::ContactsWrite).await?;
        let (valid, mut errors) = validate_batch(batch.drafts, &biller.settings);
        errors.merge(batch.errors);
        let data = match (valid.into_iter().next(), errors.is_empty()) {
            (Some((_, data)), true) => data,
            _ => return Err(ServiceError::Invalid { errors, records: 1 }),
        };
        let now = super::now();
        let contact = Contact {
            id: ContactId::generate(&mut rand::thread_rng()),
            data,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        self.store.create_contact(biller.id, biller.settings_version, &contact).await?;
        Ok(contact)
    }

    #[tracing::instrument(skip_all, fields(biller = code))]
    pub async fn contact(&self, who: &Principal, code: &str, by: &ContactRef) -> ServiceResult<Contact> {
        let biller = self.authorize(who, code, Scope::ContactsRead).await?;
        self.store.contact(biller.id, by).await?.ok_or(ServiceError::NotFound(Resource::Contact))
    }

    #[tracing::instrument(skip_all, fields(biller = code))]
    pub async fn contacts(
        &self,
        who: &Principal,
        code: &str,
        filter: &ContactFilter,
        page: &PageRequest,
    ) -> ServiceResult<ContactPage> {
        let biller = self.authorize(who, code, Scope::ContactsRead).await?;
        Ok(self.store.contacts(biller.id, filter, page).await?)
    }

    #[tracing::instrument(skip_all, fields(biller = code))]
    pub async fn delete_contact(&self, who: &Principal, code: &str, by: &ContactRef) -> ServiceResult<()> {
        let biller = self.authorize(who, code, Scope::ContactsWrite).await?;
        let id = match by {
            ContactRef::Id(id) => id.clone(),
            ContactRef::AccountNumber(_) => {
                self.store.contact(biller.id, by).await?.ok_or(ServiceError::NotFound(Resource::Contact))?.id
            }
        };
        if self.store.delete_contact(biller.id, &id).await? {
            Ok(())
        } else {
            Err(ServiceError::NotFound(Resource::Contact))
        }
    }
}

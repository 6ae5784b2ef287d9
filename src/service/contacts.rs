//! Contact use cases: bulk add and replace, reads and lists.

use crate::domain::history::Origin;
use crate::domain::query::{ContactFilter, PageRequest};
use crate::domain::sync::{RemovalGuard, WriteMode};
use crate::domain::validate::Rules;
use crate::domain::{BatchErrors, Contact, ContactDraft, ContactRef, validate_batch};
use crate::service::error::Resource;
use crate::service::{Principal, Service, ServiceError, ServiceResult};
use crate::store::{BillerId, ContactPage, Scope, WriteBatch, WriteOutcome};
use std::collections::HashSet;

/// A parsed request body: drafts by position, and the records the wire layer
/// could not even read (wrong JSON types), already as errors.
#[derive(Debug, Clone, Default)]
pub struct ContactBatch {
    pub drafts: Vec<(usize, ContactDraft)>,
    pub errors: BatchErrors,
    pub records: usize,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ReplaceOptions {
    pub dry_run: bool,
    pub confirm_removals: Option<u64>,
    /// May remove contacts with holds.
    pub force_holds: bool,
}

impl Service {
    fn check_size(&self, code: &str, batch: &ContactBatch, mode: WriteMode) -> ServiceResult<()> {
        let max = self.config.max_sync_records;
        if batch.records > max {
            let endpoint = match mode {
                WriteMode::Add => "contacts/job/add",
                WriteMode::Replace => "contacts/job/replace",
            };
            return Err(ServiceError::TooManyRecords(format!(
                "{} records is more than the {max} a synchronous request takes; send them as a background job (POST /v1/billers/{code}/{endpoint}, any size up to {}), or split them into requests of at most {max}",
                batch.records,
                crate::service::MAX_JOB_RECORDS
            )));
        }
        Ok(())
    }

    /// The ids of the biller's catalogue tags among those `drafts` name.
    pub(super) async fn known_tags<'a>(
        &self,
        biller: BillerId,
        named: impl Iterator<Item = &'a String>,
    ) -> ServiceResult<HashSet<String>> {
        let named: Vec<String> = named.cloned().collect::<HashSet<_>>().into_iter().collect();
        Ok(self.store.known_tags(biller, &named).await?)
    }

    #[allow(clippy::too_many_arguments)]
    async fn write(
        &self,
        who: &Principal,
        code: &str,
        via: &str,
        scope: Scope,
        batch: ContactBatch,
        mode: WriteMode,
        options: ReplaceOptions,
    ) -> ServiceResult<WriteOutcome> {
        let biller = self.authorize(who, code, scope).await?;
        self.check_size(code, &batch, mode)?;
        // Bulk writes of one biller queue here rather than on database connections.
        let lock = self.bulk_lock(biller.id);
        let _turn = lock.lock().await;
        // Validate against the settings as they are now, after the wait.
        let biller = self.biller(code).await?;
        let settings = biller.settings.clone();
        let tags = self.known_tags(biller.id, batch.drafts.iter().flat_map(|(_, d)| &d.tags)).await?;
        let drafts = batch.drafts;
        let today = super::now().date();
        let (valid, mut errors) =
            tokio::task::spawn_blocking(move || validate_batch(drafts, &Rules::new(&settings, &tags, today)))
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
            force_holds: options.force_holds,
            origin: Origin::new(Some(who.key_id.clone()), via),
        };
        Ok(self.store.write_contacts(biller.id, write, super::now()).await?)
    }

    /// Upserts by account number; a match's details are replaced by the
    /// supplied ones (a CRN not named stays).
    #[tracing::instrument(skip_all, fields(biller = code))]
    pub async fn add_contacts(
        &self,
        who: &Principal,
        code: &str,
        via: &str,
        batch: ContactBatch,
        dry_run: bool,
    ) -> ServiceResult<WriteOutcome> {
        let options = ReplaceOptions { dry_run, ..ReplaceOptions::default() };
        self.write(who, code, via, Scope::ContactsWrite, batch, WriteMode::Add, options).await
    }

    /// Afterwards the biller holds exactly the supplied contacts; all or nothing, guarded.
    #[tracing::instrument(skip_all, fields(biller = code))]
    pub async fn replace_contacts(
        &self,
        who: &Principal,
        code: &str,
        via: &str,
        batch: ContactBatch,
        options: ReplaceOptions,
    ) -> ServiceResult<WriteOutcome> {
        self.write(who, code, via, Scope::ContactsReplace, batch, WriteMode::Replace, options).await
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

    /// How many of the biller's contacts match (counted by the database).
    pub async fn count_contacts(&self, who: &Principal, code: &str, filter: &ContactFilter) -> ServiceResult<u64> {
        let biller = self.authorize(who, code, Scope::ContactsRead).await?;
        Ok(self.store.count_contacts(biller.id, filter).await?)
    }
}

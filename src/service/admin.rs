//! Operator use cases: billers, their field settings, and the demo set-up a
//! newcomer gets on first start.

use crate::domain::BillerSettings;
use crate::domain::field_settings::{FieldDef, FieldKind, FieldRole, SettingsDoc};
use crate::service::error::Resource;
use crate::service::{NewKey, Service, ServiceError, ServiceResult, SettingsChange};
use crate::store::{Biller, Scope, StoreError};

pub const DEMO_BILLER: &str = "DEMO";

/// What the first start created, to print once.
#[derive(Debug)]
pub struct Demo {
    pub biller: String,
    pub key: NewKey,
}

fn valid_code(code: &str) -> bool {
    (1..=32).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The Contact Fields of the Payreq seed's example, so its payload works as-is.
fn demo_settings() -> SettingsDoc {
    let field = |key: &str, label: &str, role: FieldRole| FieldDef {
        label: label.into(),
        max_length: Some(100),
        role,
        ..FieldDef::new(key, FieldKind::Text)
    };
    SettingsDoc {
        fields: vec![
            field("contact-id-1", "Customer ID", FieldRole::Id),
            field("contact-id-2", "Name on bill", FieldRole::Auth),
            field("contact-id-3", "Notice or group ID", FieldRole::None),
            field("address-1", "Address", FieldRole::None),
            field("municipality", "Municipality", FieldRole::None),
            field("province", "Province", FieldRole::None),
            field("country", "Country", FieldRole::None),
            field("postal-code", "Postal code", FieldRole::None),
        ],
        ..SettingsDoc::default()
    }
}

impl Service {
    pub async fn create_biller(&self, code: &str, name: &str) -> ServiceResult<Biller> {
        if !valid_code(code) {
            return Err(ServiceError::BadRequest("a biller code is 1 to 32 of A-Z a-z 0-9 - _".into()));
        }
        if name.trim().is_empty() || name.chars().count() > 200 {
            return Err(ServiceError::BadRequest("a biller name is 1 to 200 characters".into()));
        }
        Ok(self.store.create_biller(code, name.trim(), &BillerSettings::default()).await?)
    }

    pub async fn biller(&self, code: &str) -> ServiceResult<Biller> {
        self.store.biller(code).await?.ok_or(ServiceError::NotFound(Resource::Biller))
    }

    pub async fn billers(&self) -> ServiceResult<Vec<Biller>> {
        Ok(self.store.billers().await?)
    }

    /// Replaces a biller's field settings after checking the whole document,
    /// whatever it does to the stored contacts (the operator's, and tests').
    pub async fn set_field_settings(&self, code: &str, doc: SettingsDoc) -> ServiceResult<BillerSettings> {
        let change = SettingsChange { dry_run: false, confirm: true };
        Ok(self.change_field_settings(code, doc, change).await?.0)
    }

    /// An operator's settings change (the CLI), weighed as the API's is.
    pub async fn change_field_settings(
        &self,
        code: &str,
        doc: SettingsDoc,
        change: SettingsChange,
    ) -> ServiceResult<(BillerSettings, crate::service::SettingsImpact, bool)> {
        let biller = self.biller(code).await?;
        self.change_settings(&biller, doc, change, None).await
    }

    /// On a database with no biller, creates `DEMO` and a key with every scope.
    /// Returns `None` when there already is a biller (or another server won the race).
    pub async fn ensure_demo(&self) -> ServiceResult<Option<Demo>> {
        if !self.store.billers().await?.is_empty() {
            return Ok(None);
        }
        let settings = BillerSettings::parse(demo_settings()).map_err(ServiceError::InvalidSettings)?;
        match self.store.create_biller(DEMO_BILLER, "Demo Biller", &settings).await {
            Ok(_) => {}
            Err(StoreError::Conflict(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let key = self.create_key(&[DEMO_BILLER.to_owned()], &Scope::ALL, &[]).await?;
        Ok(Some(Demo { biller: DEMO_BILLER.to_owned(), key }))
    }
}

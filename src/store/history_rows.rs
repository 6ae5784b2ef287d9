//! A stored history row read back, the same on both stores: the contact it
//! was before the change (its document, number and CRN), and for a hold the
//! hold's own details.

use crate::domain::KeyId;
use crate::domain::history::Action;
use crate::domain::holds::Hold;
use crate::store::{HistoryRow, StoreError, StoreResult, codec};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Serialize, Deserialize)]
struct HoldDetail {
    hold_id: String,
    kind: String,
    #[serde(default)]
    reference: Option<String>,
}

/// What a hold row keeps beside it.
pub fn hold_detail(hold: &Hold) -> StoreResult<String> {
    let d = HoldDetail { hold_id: hold.id.to_string(), kind: hold.kind.clone(), reference: hold.reference.clone() };
    serde_json::to_string(&d).map_err(|e| StoreError::Backend(e.to_string()))
}

/// A row's columns, as both stores select them.
pub struct Columns {
    pub seq: i64,
    pub at: OffsetDateTime,
    pub key_id: Option<String>,
    pub source: String,
    pub action: String,
    pub version: i64,
    pub account_number: Option<String>,
    pub crn: Option<String>,
    pub before: Option<String>,
    pub detail: Option<String>,
}

/// The columns `Columns` reads, in order.
pub const HISTORY_COLUMNS: &str = "seq, at, key_id, source, action, version, account_number, crn, before, detail";

pub fn decode(c: Columns) -> StoreResult<HistoryRow> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("history row {}: {what}", c.seq));
    let action = Action::parse(&c.action).ok_or_else(|| corrupt("action"))?;
    let before = match (c.before, c.account_number) {
        (Some(doc), Some(acct)) => Some(codec::decode(acct, &doc, c.crn)?),
        (None, _) => None,
        (Some(_), None) => return Err(corrupt("a document without its account number")),
    };
    let hold = match c.detail.as_deref() {
        Some(d) if matches!(action, Action::HoldPlaced | Action::HoldReleased) => {
            let h: HoldDetail = serde_json::from_str(d).map_err(|_| corrupt("hold"))?;
            Some((h.hold_id, h.kind, h.reference))
        }
        _ => None,
    };
    Ok(HistoryRow {
        seq: c.seq,
        at: c.at,
        key_id: c.key_id.as_deref().and_then(KeyId::parse),
        source: c.source,
        action,
        version: c.version,
        before,
        hold,
    })
}

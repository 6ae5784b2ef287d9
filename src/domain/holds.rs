//! Holds: obligations a biller's systems attach to a contact (a direct
//! debit, a pending payment, or a kind of the biller's own). A contact with
//! a hold cannot be deactivated or deleted, nor removed by a replace unless
//! the replace says `force_holds`.

use crate::domain::ids::{ContactId, HoldId};
use time::OffsetDateTime;

pub const DIRECT_DEBIT: &str = "direct_debit";
pub const PENDING_PAYMENT: &str = "pending_payment";
pub const MAX_KIND: usize = 40;
pub const MAX_REFERENCE: usize = 100;
/// Holds one contact may carry.
pub const MAX_HOLDS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub id: HoldId,
    pub contact_id: ContactId,
    pub kind: String,
    pub reference: Option<String>,
    pub created_at: OffsetDateTime,
}

/// A hold's kind: `direct_debit`, `pending_payment`, or one the biller
/// names, 1 to 40 of `a-z 0-9 _ -` starting with a letter.
pub fn valid_kind(kind: &str) -> bool {
    let mut chars = kind.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && kind.len() <= MAX_KIND
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// A hold's reference: up to 100 characters, no control characters.
pub fn valid_reference(reference: &str) -> bool {
    reference.chars().count() <= MAX_REFERENCE && !reference.chars().any(char::is_control)
}

/// How the holds of one contact read in an error: `direct_debit DD-1 (hold_…)`.
pub fn describe(holds: &[Hold]) -> String {
    let named: Vec<String> = holds
        .iter()
        .map(|h| match &h.reference {
            Some(r) => format!("{} {r} ({})", h.kind, h.id),
            None => format!("{} ({})", h.kind, h.id),
        })
        .collect();
    crate::domain::errors::short_list(&named, 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_plain_names() {
        for ok in [DIRECT_DEBIT, PENDING_PAYMENT, "card-on-file", "x1"] {
            assert!(valid_kind(ok), "{ok}");
        }
        for bad in ["", "Direct", "1x", "a b", "é", &"a".repeat(41)] {
            assert!(!valid_kind(bad), "{bad}");
        }
        assert!(valid_reference("DD-2026-0001") && !valid_reference("a\nb") && !valid_reference(&"r".repeat(101)));
    }
}

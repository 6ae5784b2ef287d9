//! Account numbers (Payreq's biller-account-number): strings, never numbers, so
//! leading zeroes survive every path.

use crate::domain::errors::{ErrorCode, FieldError};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which characters a biller's account numbers may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Charset {
    /// `0-9` only.
    Digits,
    /// `A-Z a-z 0-9`.
    Alphanumeric,
    /// `A-Z a-z 0-9` and `- _ / .`.
    AlphanumericPunct,
}

impl Charset {
    fn allows(self, c: char) -> bool {
        match self {
            Self::Digits => c.is_ascii_digit(),
            Self::Alphanumeric => c.is_ascii_alphanumeric(),
            Self::AlphanumericPunct => c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.'),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Digits => "digits 0-9",
            Self::Alphanumeric => "letters and digits",
            Self::AlphanumericPunct => "letters, digits and - _ / .",
        }
    }
}

/// A biller's account-number rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountNumberRules {
    #[serde(deserialize_with = "whole_number")]
    pub min_length: usize,
    #[serde(deserialize_with = "whole_number")]
    pub max_length: usize,
    pub charset: Charset,
}

/// A count in a settings document: a JSON integer, or a number with no
/// fraction (`20.0`), which JSON Schema counts as the same integer.
pub(crate) fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    let whole = n
        .as_u64()
        .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u32::MAX as f64).map(|f| f as u64));
    whole
        .and_then(|w| usize::try_from(w).ok())
        .ok_or_else(|| serde::de::Error::custom(format!("expected a whole number, got {n}")))
}

/// Hard ceiling whatever a biller configures: keeps index keys small.
pub const MAX_ACCOUNT_NUMBER_LENGTH: usize = 64;

impl Default for AccountNumberRules {
    fn default() -> Self {
        Self { min_length: 1, max_length: 40, charset: Charset::AlphanumericPunct }
    }
}

/// An account number that satisfies its biller's rules.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountNumber(String);

impl AccountNumber {
    pub fn parse(raw: &str, rules: &AccountNumberRules) -> Result<Self, FieldError> {
        const FIELD: &str = "account_number";
        let len = raw.chars().count();
        if len == 0 {
            return Err(FieldError::new(FIELD, ErrorCode::MissingRequired, "account_number is required"));
        }
        if len < rules.min_length || len > rules.max_length {
            return Err(FieldError::new(
                FIELD,
                ErrorCode::InvalidLength,
                format!(
                    "account_number must be {} to {} characters long, got {len}",
                    rules.min_length, rules.max_length
                ),
            ));
        }
        if let Some(bad) = raw.chars().find(|c| !rules.charset.allows(*c)) {
            return Err(FieldError::new(
                FIELD,
                ErrorCode::InvalidCharacters,
                format!("account_number may contain only {}; found {bad:?}", rules.charset.describe()),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// For values read back from the store, which were validated on the way in.
    pub fn from_trusted(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for AccountNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rules(min: usize, max: usize, charset: Charset) -> AccountNumberRules {
        AccountNumberRules { min_length: min, max_length: max, charset }
    }

    #[test]
    fn leading_zeroes_are_kept() {
        let n = AccountNumber::parse("000123", &rules(1, 10, Charset::Digits)).unwrap();
        assert_eq!(n.as_str(), "000123");
    }

    #[test]
    fn length_and_characters_are_enforced() {
        let r = rules(4, 6, Charset::Digits);
        assert_eq!(AccountNumber::parse("123", &r).unwrap_err().code, ErrorCode::InvalidLength);
        assert_eq!(AccountNumber::parse("1234567", &r).unwrap_err().code, ErrorCode::InvalidLength);
        assert_eq!(AccountNumber::parse("12a4", &r).unwrap_err().code, ErrorCode::InvalidCharacters);
        assert_eq!(AccountNumber::parse("", &r).unwrap_err().code, ErrorCode::MissingRequired);
        assert_eq!(
            AccountNumber::parse(" 1234", &rules(1, 9, Charset::AlphanumericPunct)).unwrap_err().code,
            ErrorCode::InvalidCharacters
        );
        assert!(AccountNumber::parse("AB-12/3.x_", &rules(1, 20, Charset::AlphanumericPunct)).is_ok());
        assert!(AccountNumber::parse("AB-12", &rules(1, 20, Charset::Alphanumeric)).is_err());
    }

    proptest! {
        #[test]
        fn digit_strings_round_trip_exactly(s in "[0-9]{1,20}") {
            let n = AccountNumber::parse(&s, &rules(1, 20, Charset::Digits)).unwrap();
            prop_assert_eq!(n.as_str(), s.as_str());
        }

        #[test]
        fn accepted_values_always_meet_the_rules(s in "\\PC{0,30}", min in 1usize..10, extra in 0usize..20) {
            let r = rules(min, min + extra, Charset::Alphanumeric);
            if let Ok(n) = AccountNumber::parse(&s, &r) {
                let len = n.as_str().chars().count();
                prop_assert!(len >= r.min_length && len <= r.max_length);
                prop_assert!(n.as_str().chars().all(|c| c.is_ascii_alphanumeric()));
            }
        }
    }
}

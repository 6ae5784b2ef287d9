//! Aliases: the id forms some providers' clients expect beside a contact's
//! native id (Pay Advantage's 6-character customer `Code`, Instantpay's
//! 24-hex `_id`). Each is made from a per-biller sequence number by a
//! bijection, so two numbers never give one alias and none is ever reused;
//! the store keeps every alias issued, even after its contact is deleted.

use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AliasKind {
    PayAdvantage,
    Instantpay,
}

/// Pay Advantage codes: 6 of `0-9A-Z`.
const CODE_DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const CODE_SPACE: u64 = 36u64.pow(6);
/// Coprime to 36 (odd, digit sum not a multiple of 3): `n * A + B mod 36^6`
/// visits every code once, in an order that does not look like a count.
const CODE_STEP: u64 = 1_580_030_173;
const CODE_OFFSET: u64 = 917_283_541;
/// Odd, so multiplying by it permutes the 64-bit numbers.
const HEX_STEP: u64 = 0x9E37_79B9_7F4A_7C15;

impl AliasKind {
    pub const ALL: [AliasKind; 2] = [Self::PayAdvantage, Self::Instantpay];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PayAdvantage => "pay_advantage",
            Self::Instantpay => "instantpay",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether `alias` has this kind's form.
    pub fn is_valid(self, alias: &str) -> bool {
        match self {
            Self::PayAdvantage => alias.len() == 6 && alias.bytes().all(|b| CODE_DIGITS.contains(&b)),
            Self::Instantpay => {
                alias.len() == 24 && alias.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            }
        }
    }

    /// What this kind's form is, for errors.
    pub fn form(self) -> &'static str {
        match self {
            Self::PayAdvantage => "6 characters 0-9 or A-Z",
            Self::Instantpay => "24 lowercase hexadecimal characters",
        }
    }

    /// The alias of sequence number `n` (from 1), issued at `now`. Distinct
    /// numbers give distinct aliases: a Pay Advantage code is `n` permuted
    /// in base 36 (2 billion codes a biller); an Instantpay id is, as a
    /// MongoDB ObjectId, the issue time's seconds then `n` permuted.
    pub fn make(self, n: u64, now: OffsetDateTime) -> String {
        match self {
            Self::PayAdvantage => {
                let mut v = ((n % CODE_SPACE) * CODE_STEP + CODE_OFFSET) % CODE_SPACE;
                let mut out = [b'0'; 6];
                for slot in out.iter_mut().rev() {
                    *slot = CODE_DIGITS[(v % 36) as usize];
                    v /= 36;
                }
                String::from_utf8_lossy(&out).into_owned()
            }
            Self::Instantpay => {
                let secs = now.unix_timestamp().clamp(0, u32::MAX as i64) as u32;
                format!("{secs:08x}{:016x}", n.wrapping_mul(HEX_STEP))
            }
        }
    }
}

/// A contact's aliases, one of each kind at most.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aliases {
    pub pay_advantage: Option<String>,
    pub instantpay: Option<String>,
}

impl Aliases {
    pub fn get(&self, kind: AliasKind) -> Option<&str> {
        match kind {
            AliasKind::PayAdvantage => self.pay_advantage.as_deref(),
            AliasKind::Instantpay => self.instantpay.as_deref(),
        }
    }

    pub fn set(&mut self, kind: AliasKind, alias: String) {
        match kind {
            AliasKind::PayAdvantage => self.pay_advantage = Some(alias),
            AliasKind::Instantpay => self.instantpay = Some(alias),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn made_aliases_have_their_form_and_never_repeat() {
        let now = OffsetDateTime::now_utc();
        for kind in AliasKind::ALL {
            let made: HashSet<String> = (1..=100_000).map(|n| kind.make(n, now)).collect();
            assert_eq!(made.len(), 100_000, "{kind:?}");
            assert!(made.iter().all(|a| kind.is_valid(a)), "{kind:?}");
        }
    }

    #[test]
    fn forms_are_checked() {
        assert!(AliasKind::PayAdvantage.is_valid("AB12CD"));
        assert!(!AliasKind::PayAdvantage.is_valid("ab12cd"));
        assert!(!AliasKind::PayAdvantage.is_valid("AB12C"));
        assert!(AliasKind::Instantpay.is_valid("645383ba4acec95a32089822"));
        assert!(!AliasKind::Instantpay.is_valid("645383BA4ACEC95A32089822"));
        assert!(!AliasKind::Instantpay.is_valid("645383ba4acec95a3208982"));
    }
}

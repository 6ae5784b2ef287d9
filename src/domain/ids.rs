//! Identifier formats. Generation takes the random source as an argument so the
//! domain stays free of I/O and tests can be deterministic.

use rand::Rng;
use std::fmt;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn random_base62(rng: &mut impl Rng, len: usize) -> String {
    (0..len).map(|_| BASE62[rng.gen_range(0..BASE62.len())] as char).collect()
}

fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

macro_rules! prefixed_id {
    ($name:ident, $prefix:literal, $len:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;
            pub const RANDOM_LEN: usize = $len;

            pub fn generate(rng: &mut impl Rng) -> Self {
                Self(format!("{}{}", $prefix, random_base62(rng, $len)))
            }

            /// Accepts only the exact format this service generates.
            pub fn parse(raw: &str) -> Option<Self> {
                let rest = raw.strip_prefix($prefix)?;
                (rest.len() == $len && is_base62(rest)).then(|| Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(ContactId, "cont_", 14, "A contact's id: `cont_` and 14 base62 characters (Razorpay's form).");

/// Ids for contacts made together (a job's chunk, a sync batch): the first
/// at random, each next one the one after it, read as a base-62 number. They
/// sit side by side in the id index, so a bulk insert writes a few index
/// pages per run instead of a random page per contact (half the time of a
/// million-row load on SQLite). Runs start at random points of 62^14, so two
/// runs' ids meet with odds of about (ids made)^2 / 10^25; and a run's
/// neighbours are ids made in the same call, for the same biller.
pub struct ContactIdRun {
    next: u128,
}

impl ContactIdRun {
    /// Room left after any start for more ids than one run is ever asked for.
    const SPAN: u128 = 1 << 32;

    pub fn new(rng: &mut impl Rng) -> Self {
        let space = (BASE62.len() as u128).pow(ContactId::RANDOM_LEN as u32);
        Self { next: rng.gen_range(0..space - Self::SPAN) }
    }

    pub fn next_id(&mut self) -> ContactId {
        let mut digits = [0u8; ContactId::RANDOM_LEN];
        let mut n = self.next;
        for d in digits.iter_mut().rev() {
            *d = BASE62[(n % 62) as usize];
            n /= 62;
        }
        self.next += 1;
        let mut id = String::from(ContactId::PREFIX);
        id.extend(digits.iter().map(|&b| char::from(b)));
        ContactId(id)
    }
}
prefixed_id!(KeyId, "key_", 16, "An API key's public id: `key_` and 16 random base62 characters.");
prefixed_id!(JobId, "job_", 14, "A background job's id: `job_` and 14 random base62 characters.");
prefixed_id!(SnapshotId, "snap_", 14, "A replace snapshot's id: `snap_` and 14 random base62 characters.");
prefixed_id!(HoldId, "hold_", 14, "A hold's id: `hold_` and 14 random base62 characters.");

/// A catalogue tag's id: 24 lowercase hexadecimal characters, the form
/// Instantpay's clients expect, used in every API.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagId(String);

impl TagId {
    pub const LEN: usize = 24;

    pub fn generate(rng: &mut impl Rng) -> Self {
        let bytes: [u8; Self::LEN / 2] = rng.r#gen();
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == Self::LEN && raw.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            .then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TagId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_ids_parse_back() {
        let mut rng = rand::thread_rng();
        for _ in 0..1000 {
            let id = ContactId::generate(&mut rng);
            assert_eq!(id.as_str().len(), 19);
            assert_eq!(ContactId::parse(id.as_str()), Some(id));
        }
    }

    #[test]
    fn a_run_counts_up_in_base62_and_sorts_in_order() {
        let mut run = ContactIdRun { next: 61 };
        let ids: Vec<ContactId> = (0..3).map(|_| run.next_id()).collect();
        let texts: Vec<&str> = ids.iter().map(|i| i.as_str()).collect();
        assert_eq!(texts, ["cont_0000000000000z", "cont_00000000000010", "cont_00000000000011"]);
        let mut run = ContactIdRun::new(&mut rand::thread_rng());
        let ids: Vec<ContactId> = (0..5000).map(|_| run.next_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "a run's ids are in index order");
        assert!(ids.iter().all(|id| ContactId::parse(id.as_str()).as_ref() == Some(id)));
        let mut top = ContactIdRun { next: 62u128.pow(14) - 1 };
        assert_eq!(top.next_id().as_str(), "cont_zzzzzzzzzzzzzz");
    }

    #[test]
    fn tag_ids_are_24_lowercase_hex() {
        let id = TagId::generate(&mut rand::thread_rng());
        assert_eq!(TagId::parse(id.as_str()), Some(id));
        assert!(TagId::parse("645381c92c8e9e093406ccb2").is_some());
        assert!(TagId::parse("645381C92C8E9E093406CCB2").is_none());
        assert!(TagId::parse("645381c92c8e9e093406ccb").is_none());
        assert!(TagId::parse("645381c92c8e9e093406ccbz").is_none());
    }

    #[test]
    fn rejects_wrong_prefix_length_and_characters() {
        assert!(ContactId::parse("cont_0000000000000").is_none());
        assert!(ContactId::parse("cont_000000000000000").is_none());
        assert!(ContactId::parse("con_00000000000000").is_none());
        assert!(ContactId::parse("cont_0000000000000-").is_none());
        assert!(ContactId::parse("cont_0000000000000é").is_none());
        assert!(ContactId::parse("cont_00000000000001").is_some());
        assert!(KeyId::parse("key_0123456789abcdef").is_some());
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_only_accepts_the_format(s in ".{0,40}") {
            if let Some(id) = ContactId::parse(&s) {
                prop_assert!(id.as_str().starts_with("cont_"));
                prop_assert_eq!(id.as_str().len(), 19);
            }
        }
    }
}

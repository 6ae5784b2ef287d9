//! What this server read from the store a moment ago, trusted for a short
//! while: the token and biller every request needs would otherwise be two
//! database reads before its own. A change made through this server drops
//! what it changed at once; one made through another server (several share
//! one PostgreSQL) is seen within the entry's time to live.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Recent<K, V> {
    ttl: Duration,
    /// At most this many entries: past it the map starts again empty (only
    /// what the store knows is ever kept, so a flood of made-up keys adds nothing).
    max: usize,
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K: Eq + Hash, V: Clone> Recent<K, V> {
    pub fn new(ttl: Duration, max: usize) -> Self {
        Self { ttl, max, entries: Mutex::default() }
    }

    /// The value, if it was read less than the time to live ago.
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        entries.get(key).filter(|(_, at)| at.elapsed() < self.ttl).map(|(v, _)| v.clone())
    }

    pub fn put(&self, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= self.max {
                entries.clear();
            }
            entries.insert(key, (value, Instant::now()));
        }
    }

    pub fn forget(&self, key: &K) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
    }

    /// Drops every entry (after a change whose reach is not one key).
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_for_their_ttl_and_the_map_stays_bounded() {
        let r = Recent::new(Duration::from_millis(50), 3);
        r.put(1, "a");
        assert_eq!(r.get(&1), Some("a"));
        r.forget(&1);
        assert_eq!(r.get(&1), None);
        r.put(1, "a");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(r.get(&1), None, "expired");
        for k in 0..3 {
            r.put(k, "x");
        }
        r.put(9, "y");
        assert_eq!((r.get(&0), r.get(&9)), (None, Some("y")), "full, it started again");
        let off = Recent::new(Duration::ZERO, 3);
        off.put(1, "a");
        assert_eq!(off.get(&1), None, "a zero ttl keeps nothing");
    }
}

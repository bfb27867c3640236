//! What a host instance read from the key-value cache a moment ago. A document that
//! thousands of clients ask for in the same second (the seat status during an on-sale) is
//! then served from the instance's memory instead of a round trip to the store each time,
//! which costs Spin more than the rest of the answer.

use std::collections::HashMap;

/// Entries kept at most; reaching it forgets them all (they are moments old anyway).
const MAX_ENTRIES: usize = 64;
/// Values larger than this are not kept: the documents read thousands of times a second
/// are small (the stadium's seat status is about 2.5 KB), and a layout of hundreds of KB
/// kept in every instance would cost memory for no gain.
const MAX_VALUE_BYTES: usize = 16 * 1024;

#[derive(Debug, Default)]
pub struct RecentReads {
    entries: HashMap<String, Read>,
}

#[derive(Debug)]
struct Read {
    at_ms: i64,
    value: Vec<u8>,
}

impl RecentReads {
    /// Notes what the store holds at `key` as of `now_ms` (read or written by this instance).
    pub fn remember(&mut self, key: &str, value: &[u8], now_ms: i64) {
        if value.len() > MAX_VALUE_BYTES {
            self.entries.remove(key);
            return;
        }
        if self.entries.len() >= MAX_ENTRIES && !self.entries.contains_key(key) {
            self.entries.clear();
        }
        self.entries.insert(
            key.to_owned(),
            Read {
                at_ms: now_ms,
                value: value.to_vec(),
            },
        );
    }

    /// Forgets `key` (this instance deleted it, or the store no longer has it).
    pub fn forget(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// The value at `key` if it was read at most `max_age_ms` before `now_ms`.
    pub fn get(&self, key: &str, max_age_ms: i64, now_ms: i64) -> Option<&[u8]> {
        self.entries
            .get(key)
            .filter(|read| (0..=max_age_ms).contains(&(now_ms - read.at_ms)))
            .map(|read| read.value.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_serves_for_its_age_limit_and_no_longer() {
        let mut reads = RecentReads::default();
        reads.remember("status:1", b"v1", 1_000);
        assert_eq!(reads.get("status:1", 100, 1_000), Some(&b"v1"[..]));
        assert_eq!(reads.get("status:1", 100, 1_100), Some(&b"v1"[..]));
        assert_eq!(reads.get("status:1", 100, 1_101), None);
        assert_eq!(reads.get("status:2", 100, 1_000), None);
        assert_eq!(
            reads.get("status:1", 100, 999),
            None,
            "a clock stepped back does not make a read young"
        );
    }

    #[test]
    fn a_write_replaces_and_a_delete_forgets() {
        let mut reads = RecentReads::default();
        reads.remember("k", b"old", 0);
        reads.remember("k", b"new", 10);
        assert_eq!(reads.get("k", 100, 20), Some(&b"new"[..]));
        reads.forget("k");
        assert_eq!(reads.get("k", 100, 20), None);
    }

    #[test]
    fn a_large_value_is_not_kept_and_drops_an_older_one() {
        let mut reads = RecentReads::default();
        reads.remember("layout", b"small", 0);
        reads.remember("layout", &vec![b'x'; MAX_VALUE_BYTES + 1], 10);
        assert_eq!(reads.get("layout", 100, 20), None);
        reads.remember("layout", &vec![b'x'; MAX_VALUE_BYTES], 30);
        assert_eq!(
            reads.get("layout", 100, 40).map(<[u8]>::len),
            Some(MAX_VALUE_BYTES)
        );
    }

    #[test]
    fn it_stays_small() {
        let mut reads = RecentReads::default();
        for n in 0..MAX_ENTRIES {
            reads.remember(&format!("k{n}"), b"v", 0);
        }
        assert_eq!(reads.entries.len(), MAX_ENTRIES);
        reads.remember("k0", b"again", 0);
        assert_eq!(reads.entries.len(), MAX_ENTRIES, "a known key replaces");
        reads.remember("one more", b"v", 0);
        assert_eq!(reads.entries.len(), 1);
        assert_eq!(reads.get("one more", 100, 0), Some(&b"v"[..]));
    }
}

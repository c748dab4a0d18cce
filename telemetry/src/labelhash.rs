//! The hash of a label set, `&[&str]`, for a family's lookup table.
//!
//! A keyed multiply-fold hash in the style of foldhash/wyhash: 64-bit words of the values are
//! XORed with per-family random secrets and folded through a 64×64→128-bit multiply, 16
//! bytes per multiply. It replaced SipHash-1-3, which cost more than everything else on the
//! labelled lookup path together (`docs/telemetry-client.md`, "Cost of recording").
//!
//! Correctness never depends on it: a lookup compares the label values of every series
//! under the hash. The secrets are random per family, so collisions cannot be precomputed,
//! and a family holds at most `max_series_per_metric` series, which bounds what a collision
//! could cost anyway.
//!
//! Also here: [`short_words`], a value of up to 16 bytes read as two words, which the
//! thread's lookup cache ([`super::lookup`]) keeps and compares instead of the bytes, and
//! [`same_value`], the comparison of two label values that every table lookup makes.

/// Hashes label sets with the secrets of one family.
#[derive(Debug, Clone)]
pub(crate) struct LabelHasher {
    secrets: [u64; 4],
}

/// The 128-bit product of `a` and `b`, its halves XORed.
#[inline]
pub(crate) fn fold(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

#[inline]
pub(crate) fn read8(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

#[inline]
fn read4(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u64::from(u32::from_le_bytes(word))
}

/// A value of at most 16 bytes as two words, exact once its length is known: bytes 0..3 as
/// three of them (the first, the middle, the last), 4..7 as two overlapping 4-byte reads,
/// 8..16 as two overlapping 8-byte reads. Two values of the same length are equal exactly
/// when their words are.
#[inline]
pub(crate) fn short_words(bytes: &[u8]) -> (u64, u64) {
    let len = bytes.len();
    match len {
        0 => (0, 0),
        1..=3 => (
            u64::from(bytes[0]) << 16 | u64::from(bytes[len / 2]) << 8 | u64::from(bytes[len - 1]),
            0,
        ),
        4..=7 => (read4(bytes, 0), read4(bytes, len - 4)),
        _ => (read8(bytes, 0), read8(bytes, len - 8)),
    }
}

/// Whether two label values are equal: their lengths, then for up to 16 bytes their two
/// words ([`short_words`]) without a call to `memcmp`; longer values as slices.
#[inline]
pub(crate) fn same_value(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    if a.len() > 16 {
        return a == b;
    }
    let ((a0, a1), (b0, b1)) = (short_words(a), short_words(b));
    (a0 ^ b0) | (a1 ^ b1) == 0
}

impl LabelHasher {
    /// A hasher with fresh random secrets.
    pub(crate) fn random() -> LabelHasher {
        // An odd multiplier never zeroes the state on its own.
        let mut secrets: [u64; 4] = rand::random();
        for s in &mut secrets {
            *s |= 1;
        }
        LabelHasher { secrets }
    }

    /// The hash of `values`. Each value's length is folded in before its bytes, so
    /// `["ab", ""]` and `["a", "b"]` hash apart; so is the number of values.
    #[inline]
    pub(crate) fn hash(&self, values: &[&str]) -> u64 {
        let [s0, s1, s2, s3] = self.secrets;
        let mut h = s0 ^ values.len() as u64;
        for value in values {
            let bytes = value.as_bytes();
            let len = bytes.len();
            h = fold(h ^ len as u64, s1);
            // At most 16 bytes as two words (overlapping reads are unambiguous once the
            // length is in); longer values 16 bytes per fold, then their last 16 bytes.
            let (lo, hi) = if len <= 16 {
                short_words(bytes)
            } else {
                let mut at = 0;
                while len - at > 16 {
                    h = fold(read8(bytes, at) ^ s2, read8(bytes, at + 8) ^ s3 ^ h);
                    at += 16;
                }
                (read8(bytes, len - 16), read8(bytes, len - 8))
            };
            h = fold(lo ^ s2, hi ^ s3 ^ h);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn equal_sets_hash_equal_and_structure_matters() {
        let h = LabelHasher::random();
        assert_eq!(
            h.hash(&["request", "success"]),
            h.hash(&["request", "success"])
        );
        let distinct: [&[&str]; 8] = [
            &[],
            &[""],
            &["", ""],
            &["ab", ""],
            &["a", "b"],
            &["", "ab"],
            &["ab"],
            &["ba"],
        ];
        let hashes: HashSet<u64> = distinct.iter().map(|v| h.hash(v)).collect();
        assert_eq!(hashes.len(), distinct.len());
    }

    #[test]
    fn every_length_and_byte_position_counts() {
        let h = LabelHasher::random();
        let base: String = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".into();
        let mut seen = HashSet::new();
        for len in 0..=base.len() {
            let s = &base[..len];
            assert!(seen.insert(h.hash(&[s])), "length {len}");
            // Changing any one byte changes the hash.
            for i in 0..len {
                let mut t = s.as_bytes().to_vec();
                t[i] = b'#';
                let t = String::from_utf8(t).expect("ascii");
                assert!(seen.insert(h.hash(&[&t])), "length {len}, byte {i}");
            }
        }
    }

    #[test]
    fn families_hash_differently() {
        let (a, b) = (LabelHasher::random(), LabelHasher::random());
        assert_ne!(a.hash(&["x"]), b.hash(&["x"]));
    }
}

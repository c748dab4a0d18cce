//! Finding a value's classic bucket: Prometheus' `le`, the first bound at least the value.
//!
//! Every observation does this, so it is done from the bits of the `f64` where it can be, as
//! the native buckets do ([`crate::native`]): for a non-negative `f64` the bits order as the
//! values do, so the bits shifted right by some amount number consecutive ranges of values
//! (cells), and when every cell holds at most one bound, a table of cells gives how many
//! bounds lie below a value's cell and the one in it. A value's bucket is then one load and
//! one compare, where counting the 11 default bounds took about 45 instructions.
//!
//! The table is made once per set of bounds and shared by every series with them (a node has
//! thousands of series of a few dozen histograms): [`BucketIndex::of`].

use std::sync::{Mutex, PoisonError};

/// Bounds up to which [`bucket_index`] counts instead of searching.
const COUNTED_BOUNDS: usize = 16;

/// Prometheus' `le`: the index of the first bound >= `v`, or `bounds.len()` (`+Inf`) past
/// the last one; `bounds` ascend. For a usual histogram (up to [`COUNTED_BOUNDS`] bounds) the
/// bounds below `v` are counted, which compiles to compares without branches, where a binary
/// search mispredicts a branch on most observations. The way for bounds that have no
/// [`BucketIndex`] table.
#[inline]
fn bucket_index(bounds: &[f64], v: f64) -> usize {
    if bounds.len() <= COUNTED_BOUNDS {
        bounds.iter().map(|bound| usize::from(*bound < v)).sum()
    } else {
        bounds.partition_point(|bound| *bound < v)
    }
}

/// The bits of an `f64` below its exponent.
const MANTISSA: u64 = (1 << 52) - 1;
/// Mantissa bits a cell may be split by at most: up to 2^8 cells per power of two.
const MAX_CELL_BITS: u32 = 8;
/// Cells a table may have at most (8 bytes each), the two ends included: bounds spread over
/// more powers of two, or too close for this, are counted instead.
const MAX_CELLS: usize = 1024;
/// Bounds a table may hold at most: a cell keeps the count below it in 12 bits.
const MAX_TABLE_BOUNDS: usize = (1 << 12) - 1;

/// The classic buckets' bounds of a histogram, and a table that finds a value's bucket from
/// its bits (see the module's comment) when the bounds allow one: all positive, finite,
/// strictly ascending, at most [`MAX_TABLE_BOUNDS`], and no two in one cell with at most
/// [`MAX_CELLS`] cells.
///
/// Cell `k` of the table (`k >= 1`) holds the non-negative values whose bits shifted right by
/// `shift` are `first + k - 1`: one power of two split by its top `52 - shift` mantissa bits.
/// Each table cell holds how many bounds lie below the cell (bits 52 and up) and the
/// mantissa of the bound inside it, or all ones when there is none (no mantissa is above).
/// Values in a cell share its exponent, so their mantissas order as they do. Cell 0 holds
/// every value below the first cell (negative ones, both zeros and the smallest positive
/// ones), whose bucket is 0 since the bounds are above it; the last cell every value above the
/// last power of two, whose bucket is `+Inf`.
#[derive(Debug)]
pub(crate) struct BucketIndex {
    /// The bounds, ascending.
    bounds: &'static [f64],
    /// The cells, the two ends included; empty when the bounds have no table.
    cells: Box<[u64]>,
    /// A value's cell is its bits shifted right (arithmetically) by this, less `first - 1`,
    /// within `0..cells.len()`.
    shift: u32,
    /// The bits shifted of the first table cell, less one: a value's cell is its shifted bits
    /// less this (signed: negative values' bits are below).
    before_first: i64,
}

impl BucketIndex {
    /// The index of `bounds`, shared: made on first use and kept for the process, one per
    /// distinct set of bounds (bounds are `'static`, a program's own; the table costs at most
    /// [`MAX_CELLS`] words). Taken when a series is made, not when it records.
    pub(crate) fn of(bounds: &'static [f64]) -> &'static BucketIndex {
        static MADE: Mutex<Vec<&'static BucketIndex>> = Mutex::new(Vec::new());
        let mut made = MADE.lock().unwrap_or_else(PoisonError::into_inner);
        // The same slice, or the same bounds (compared as bits: NaN is equal to itself).
        let same = |index: &&&BucketIndex| {
            std::ptr::eq(index.bounds, bounds)
                || index
                    .bounds
                    .iter()
                    .map(|b| b.to_bits())
                    .eq(bounds.iter().map(|b| b.to_bits()))
        };
        if let Some(index) = made.iter().find(same) {
            return index;
        }
        let index: &'static BucketIndex = Box::leak(Box::new(BucketIndex::new(bounds)));
        made.push(index);
        index
    }

    /// The index of `bounds`, its table made now when they allow one.
    fn new(bounds: &'static [f64]) -> BucketIndex {
        let table = (1..=MAX_CELL_BITS + 1).find_map(|bits| Self::table(bounds, 53 - bits));
        match table {
            Some((cells, shift, before_first)) => BucketIndex {
                bounds,
                cells,
                shift,
                before_first,
            },
            None => BucketIndex {
                bounds,
                cells: Box::new([]),
                shift: 0,
                before_first: 0,
            },
        }
    }

    /// The cells, shift and `before_first` of a table for `bounds` with cells of this shift
    /// (52: one power of two per cell, 51: halves...); `None` when the bounds do not allow one.
    fn table(bounds: &[f64], shift: u32) -> Option<(Box<[u64]>, u32, i64)> {
        let (first, last) = (*bounds.first()?, *bounds.last()?);
        let usable = first > 0.0
            && last.is_finite()
            && bounds.len() <= MAX_TABLE_BOUNDS
            && bounds.windows(2).all(|w| w[0] < w[1]);
        if !usable {
            return None;
        }
        let cell_of = |b: f64| b.to_bits() >> shift;
        // A cell holds at most one bound.
        if bounds.windows(2).any(|w| cell_of(w[0]) == cell_of(w[1])) {
            return None;
        }
        // From the first bound's power of two to the last one's end: a shifted value's
        // exponent bits start at bit `52 - shift`.
        let octave = 52 - shift;
        let from = (cell_of(first) >> octave) << octave;
        let to = ((cell_of(last) >> octave) + 1) << octave;
        let table_cells = usize::try_from(to - from).ok()?;
        if table_cells + 2 > MAX_CELLS {
            return None;
        }
        let mut cells = Vec::with_capacity(table_cells + 2);
        // Below the table: bucket 0.
        cells.push(MANTISSA);
        for cell in from..to {
            let below = bounds.iter().filter(|b| cell_of(**b) < cell).count() as u64;
            let inside = bounds.iter().find(|b| cell_of(**b) == cell);
            cells.push(below << 52 | inside.map_or(MANTISSA, |b| b.to_bits() & MANTISSA));
        }
        // Above the table: `+Inf`.
        cells.push((bounds.len() as u64) << 52 | MANTISSA);
        Some((cells.into_boxed_slice(), shift, from as i64 - 1))
    }

    /// The bounds.
    pub(crate) fn bounds(&self) -> &'static [f64] {
        self.bounds
    }

    /// [`BucketIndex::index`] for bounds without a table: out of line, so that the usual
    /// case, a table, keeps few registers and no vector code in the observing function.
    #[cold]
    #[inline(never)]
    fn without_table(&self, v: f64) -> usize {
        bucket_index(self.bounds, v)
    }

    /// Prometheus' `le` for `v` (not NaN): the index of the first bound >= `v`, or
    /// `bounds.len()` (`+Inf`) past the last one; `bounds.partition_point(|b| *b < v)`.
    #[inline]
    pub(crate) fn index(&self, v: f64) -> usize {
        if self.cells.is_empty() {
            return self.without_table(v);
        }
        let bits = v.to_bits();
        // Negative values (sign bit set) shift to negative numbers: cell 0, as do values below
        // the table; values above it to the last cell. No branch.
        let cell = ((bits as i64 >> self.shift) - self.before_first)
            .max(0)
            .min(self.cells.len() as i64 - 1) as usize;
        let cell = self.cells.get(cell).copied().unwrap_or(MANTISSA);
        (cell >> 52) as usize + usize::from(cell & MANTISSA < bits & MANTISSA)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values around every bound and power of two of `bounds`, ends and specials included.
    fn edge_values(bounds: &[f64]) -> Vec<f64> {
        let mut values = vec![
            0.0,
            -0.0,
            5e-324,
            -5e-324,
            f64::MIN_POSITIVE,
            f64::MIN_POSITIVE.next_down(),
            f64::MAX,
            f64::MIN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e-300,
            1e300,
            -1.0,
        ];
        for b in bounds {
            // The bound, its neighbours, the powers of two around it and theirs, negated too.
            let pow = f64::from_bits(b.to_bits() & !MANTISSA);
            for x in [*b, pow, pow * 2.0, b * 0.75, b * 1.5] {
                let mut x = x;
                for _ in 0..3 {
                    x = x.next_down();
                }
                for _ in 0..7 {
                    values.extend([x, -x]);
                    x = x.next_up();
                }
            }
        }
        values.retain(|v| !v.is_nan());
        values
    }

    /// A xorshift generator: random bit patterns and values, reproducible.
    fn random_values(seed: u64, n: usize, bounds: &[f64]) -> Vec<f64> {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (low, high) = (
            bounds.first().copied().unwrap_or(1.0),
            bounds.last().copied().unwrap_or(1.0),
        );
        (0..n)
            .map(|i| match i % 3 {
                // Any bit pattern.
                0 => f64::from_bits(next()),
                // Spread over the bounds' range and a little beyond, log-uniform.
                1 => {
                    let t = (next() >> 11) as f64 / (1u64 << 53) as f64;
                    let (a, b) = (
                        low.abs().max(1e-300).ln() - 2.0,
                        high.abs().max(1e-300).ln() + 2.0,
                    );
                    (a + (b - a) * t).exp()
                }
                // A bound's bits plus or minus a few ulps.
                _ => {
                    let b = bounds.get(next() as usize % bounds.len().max(1)).copied();
                    let b = b.unwrap_or(1.0).to_bits();
                    f64::from_bits(b.wrapping_add(next() % 64).wrapping_sub(32))
                }
            })
            .filter(|v| !v.is_nan())
            .collect()
    }

    fn check(bounds: &'static [f64], want_table: bool) {
        let index = BucketIndex::new(bounds);
        assert_eq!(!index.cells.is_empty(), want_table, "{bounds:?}");
        assert!(index.cells.len() <= MAX_CELLS);
        let mut values = edge_values(bounds);
        values.extend(random_values(bounds.len() as u64 + 7, 200_000, bounds));
        for v in values {
            let want = bounds.partition_point(|b| *b < v);
            assert_eq!(
                index.index(v),
                want,
                "{v:e} ({:#x}) in {bounds:?}",
                v.to_bits()
            );
            assert_eq!(bucket_index(bounds, v), want, "{v:e} counted in {bounds:?}");
        }
        // On a bound itself: that bound's bucket (`le` is inclusive), the first of equal ones.
        for (i, bound) in bounds.iter().enumerate() {
            if i == 0 || bounds[i - 1] < *bound {
                assert_eq!(index.index(*bound), i, "{bound:e}");
            }
        }
    }

    #[test]
    fn bucket_index_counts_and_searches_alike() {
        let short: Vec<f64> = (0..COUNTED_BOUNDS).map(|i| i as f64 * 0.5).collect();
        let long: Vec<f64> = (0..COUNTED_BOUNDS * 3).map(|i| i as f64 * 0.5).collect();
        for bounds in [&short[..], &long[..], &[]] {
            for tenth in -10..300 {
                let v = f64::from(tenth) * 0.1;
                let want = bounds.partition_point(|bound| *bound < v);
                assert_eq!(
                    bucket_index(bounds, v),
                    want,
                    "{v} in {} bounds",
                    bounds.len()
                );
            }
            // On a bound itself: that bound's bucket (`le` is inclusive).
            for (i, bound) in bounds.iter().enumerate() {
                assert_eq!(bucket_index(bounds, *bound), i);
            }
        }
    }

    /// The table finds what `partition_point` finds, for every value near every bound and
    /// power of two (each a few ulps either side, negated too), both zeros, subnormals, the
    /// extremes and infinities, and random bit patterns and values, on bounds of many shapes:
    /// an off-by-one anywhere fails here.
    #[test]
    fn the_table_finds_what_counting_finds() {
        let leak = |v: Vec<f64>| -> &'static [f64] { Box::leak(v.into_boxed_slice()) };
        // Tables.
        check(crate::spec::DEFAULT_SECONDS_BUCKETS, true);
        check(&[1.0], true);
        check(&[0.5, 1.0, 2.0, 4.0, 1024.0], true);
        check(&[1.0, 1.5, 1.75, 2.0, 3.0], true);
        check(&[1e-310, f64::MIN_POSITIVE, 1e-305], true);
        check(&[1e-3, 1.0, 1e3, 1e6, 1e100], true);
        check(&[1e300, f64::MAX], true);
        check(leak((1..=100).map(f64::from).collect()), true);
        check(leak((0..60).map(|i| 1.3f64.powi(i) * 1e-4).collect()), true);
        check(
            leak((1..=64).map(|i| 1.0 + f64::from(i) / 256.0).collect()),
            true,
        );
        // Bounds a table cannot hold: counted or searched, as before.
        check(&[], false);
        check(&[0.0, 1.0], false);
        check(&[-1.0, 0.5, 1.0], false);
        check(&[1.0, f64::INFINITY], false);
        check(&[1.0, 1.0, 2.0], false);
        check(&[1.0, 1.000_000_000_000_000_2], false);
        check(&[1e-300, 1e300], false);
        check(&[5e-324, 1.0], false);
        check(leak((0..4096).map(|i| 1.0 + f64::from(i)).collect()), false);
        // Bounds out of order: no table either (counted, as before).
        assert!(BucketIndex::new(&[2.0, 1.0]).cells.is_empty());
    }

    #[test]
    fn one_index_per_set_of_bounds() {
        static A: [f64; 3] = [1.0, 2.0, 3.0];
        static B: [f64; 3] = [1.0, 2.0, 3.0];
        let a = BucketIndex::of(&A);
        assert!(std::ptr::eq(a, BucketIndex::of(&A)));
        assert!(
            std::ptr::eq(a, BucketIndex::of(&B)),
            "equal bounds, one table"
        );
        assert!(!std::ptr::eq(a, BucketIndex::of(&[1.0, 2.0])));
        let default = BucketIndex::of(crate::spec::DEFAULT_SECONDS_BUCKETS);
        assert_eq!(default.bounds(), crate::spec::DEFAULT_SECONDS_BUCKETS);
        // One power of two per cell suffices for the default bounds: 12 cells and the ends.
        assert_eq!(default.cells.len(), 14);
    }
}

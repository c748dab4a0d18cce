//! Reading the encoding's primitives from a slice in place, exactly as bincode 2's decoder
//! does with the standard configuration and the decode limit: the same values, the same
//! errors (down to their text), and the same accounting of the memory a decode may claim.
//!
//! [`crate::BatchBuf`] decodes `Batch` frames with these instead of through bincode, so that
//! a batch needs no allocation; bincode still decodes every other frame. Keeping the errors
//! identical keeps one behaviour on the wire: a malformed batch is refused with the very
//! error, and after the very byte, that bincode's derived decoder gives. The tests in
//! `tests/batch_buf.rs` hold the two to that on arbitrary and damaged batches.

use bincode::error::{AllowedEnumVariants, DecodeError as BincodeError, IntegerType};

use crate::codec::DECODE_MEMORY_LIMIT;

/// The varint's first byte that is the whole value, at most (docs/wire.md, "Varints").
const SINGLE_BYTE_MAX: u8 = 250;
/// First byte of the 3-byte form (`u16` follows).
const U16_BYTE: u8 = 251;
/// First byte of the 5-byte form (`u32` follows).
const U32_BYTE: u8 = 252;
/// First byte of the 9-byte form (`u64` follows).
const U64_BYTE: u8 = 253;
/// First byte of the 128-bit form, which no field of the wire accepts.
const U128_BYTE: u8 = 254;

/// Why bytes could not be read: each case is one of bincode's errors ([`BincodeError`]),
/// built only once decoding has failed. Plain data, so that reading in a loop carries no
/// error to drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// `UnexpectedEnd`: the input ended `additional` bytes short.
    End { additional: usize },
    /// `InvalidIntegerType`: a varint form wider than its field (bincode names the field's
    /// type `U32` or `U64`; the form by its first byte).
    Width { expected_u64: bool, first: u8 },
    /// `InvalidIntegerType` for an `i32` field (a zigzag `u32` varint): a form wider than
    /// 5 bytes (bincode names the field's type `I32`, the form by its first byte).
    SignedWidth { first: u8 },
    /// `LimitExceeded`: the decode would claim more memory than the limit.
    Limit,
    /// `OutsideUsizeRange`: a length beyond the address space.
    Usize(u64),
    /// `UnexpectedVariant`: a `Value` tag `found` other than 0 to 3.
    ValueTag { found: u32 },
}

/// The variants of `Value`, as bincode's derived decoder names them in its errors.
const VALUE_VARIANTS: AllowedEnumVariants = AllowedEnumVariants::Range { min: 0, max: 3 };

impl From<ReadError> for BincodeError {
    #[cold]
    fn from(e: ReadError) -> BincodeError {
        match e {
            ReadError::End { additional } => BincodeError::UnexpectedEnd { additional },
            ReadError::Width {
                expected_u64,
                first,
            } => BincodeError::InvalidIntegerType {
                expected: if expected_u64 {
                    IntegerType::U64
                } else {
                    IntegerType::U32
                },
                found: match first {
                    U64_BYTE => IntegerType::U64,
                    U128_BYTE => IntegerType::U128,
                    _ => IntegerType::Reserved,
                },
            },
            ReadError::SignedWidth { first } => BincodeError::InvalidIntegerType {
                expected: IntegerType::I32,
                found: match first {
                    U64_BYTE => IntegerType::I64,
                    U128_BYTE => IntegerType::I128,
                    _ => IntegerType::Reserved,
                },
            },
            ReadError::Limit => BincodeError::LimitExceeded,
            ReadError::Usize(len) => BincodeError::OutsideUsizeRange(len),
            ReadError::ValueTag { found } => BincodeError::UnexpectedVariant {
                type_name: "Value",
                allowed: &VALUE_VARIANTS,
                found,
            },
        }
    }
}

/// A read position in a frame body.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// The `N` bytes after the first, which is consumed with them; short input is bincode's
    /// `UnexpectedEnd` with the bytes missing.
    #[inline(always)]
    fn after_first<const N: usize>(&mut self) -> Result<[u8; N], ReadError> {
        match self.rest.get(1..).and_then(<[u8]>::split_first_chunk::<N>) {
            Some((chunk, rest)) => {
                self.rest = rest;
                Ok(*chunk)
            }
            None => Err(unexpected_end(N + 1 - self.rest.len().min(N + 1))),
        }
    }

    /// A `u32` varint (also every enum tag): 1-, 3- or 5-byte form.
    #[inline(always)]
    pub(crate) fn u32(&mut self) -> Result<u32, ReadError> {
        let Some((&first, rest)) = self.rest.split_first() else {
            return Err(unexpected_end(1));
        };
        match first {
            0..=SINGLE_BYTE_MAX => {
                self.rest = rest;
                Ok(u32::from(first))
            }
            U16_BYTE => Ok(u32::from(u16::from_le_bytes(self.after_first()?))),
            U32_BYTE => Ok(u32::from_le_bytes(self.after_first()?)),
            _ => Err(wrong_width(false, first)),
        }
    }

    /// An `i32`: a `u32` varint, zigzag-encoded.
    #[inline(always)]
    pub(crate) fn i32(&mut self) -> Result<i32, ReadError> {
        match self.u32() {
            Ok(n) => Ok(((n >> 1) as i32) ^ -((n & 1) as i32)),
            Err(ReadError::Width { first, .. }) => Err(ReadError::SignedWidth { first }),
            Err(e) => Err(e),
        }
    }

    /// A `u64` varint (also every length): any of the four forms.
    #[inline(always)]
    pub(crate) fn u64(&mut self) -> Result<u64, ReadError> {
        let Some((&first, rest)) = self.rest.split_first() else {
            return Err(unexpected_end(1));
        };
        match first {
            0..=SINGLE_BYTE_MAX => {
                self.rest = rest;
                Ok(u64::from(first))
            }
            U16_BYTE => Ok(u64::from(u16::from_le_bytes(self.after_first()?))),
            U32_BYTE => Ok(u64::from(u32::from_le_bytes(self.after_first()?))),
            U64_BYTE => Ok(u64::from_le_bytes(self.after_first()?)),
            // bincode 2.0.1 reads a varint one of two ways, by whether 9 bytes are left;
            // the first calls the expected type `U32` when it refuses a 128-bit or reserved
            // first byte, the second `U64`. The message is part of the error, so it is kept.
            _ => Err(wrong_width(self.rest.len() < 9, first)),
        }
    }

    /// An `f64`: 8 bytes, little-endian, every bit pattern kept.
    #[inline(always)]
    pub(crate) fn f64(&mut self) -> Result<f64, ReadError> {
        match self.rest.split_first_chunk::<8>() {
            Some((bytes, rest)) => {
                self.rest = rest;
                Ok(f64::from_le_bytes(*bytes))
            }
            None => Err(unexpected_end(8 - self.rest.len())),
        }
    }
}

// The reads are inlined where they are used (reading a varint in place is a compare and a
// load, less than a call), their failures kept out of the way.

#[cold]
fn wrong_width(expected_u64: bool, first: u8) -> ReadError {
    ReadError::Width {
        expected_u64,
        first,
    }
}

#[cold]
fn unexpected_end(additional: usize) -> ReadError {
    ReadError::End { additional }
}

#[cold]
fn limit_exceeded() -> ReadError {
    ReadError::Limit
}

/// The memory a decode has claimed, as bincode counts it against the decode limit: every
/// primitive claims its in-memory size before it is read (a `u64` 8 bytes, however few it
/// takes on the wire), and a container claims its length times its element's size before
/// its elements are read, giving back one element's size as each is read. A claim that
/// takes the count past the limit is bincode's `LimitExceeded`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Claims {
    used: usize,
}

impl Claims {
    /// Claims after `used` bytes (e.g. the frame's tag, a `u32`: 4).
    pub(crate) fn after(used: usize) -> Self {
        Claims { used }
    }

    #[inline]
    pub(crate) fn claim(&mut self, n: usize) -> Result<(), ReadError> {
        match self.used.checked_add(n) {
            Some(used) if used <= DECODE_MEMORY_LIMIT => {
                self.used = used;
                Ok(())
            }
            _ => Err(limit_exceeded()),
        }
    }

    /// Claims `n` bytes known to fit: part of what an element of a claimed container gave
    /// back just before ([`Claims::unclaim_item`]).
    #[inline]
    pub(crate) fn claim_within_share(&mut self, n: usize) {
        debug_assert!(self.used + n <= DECODE_MEMORY_LIMIT);
        self.used += n;
    }

    /// A container of `len` elements of `T` is about to be read.
    #[inline]
    pub(crate) fn claim_items<T>(&mut self, len: usize) -> Result<(), ReadError> {
        match len.checked_mul(size_of::<T>()) {
            Some(bytes) => self.claim(bytes),
            None => Err(limit_exceeded()),
        }
    }

    /// One element of `T` of a claimed container is about to be read.
    #[inline]
    pub(crate) fn unclaim_item<T>(&mut self) {
        self.used = self.used.saturating_sub(size_of::<T>());
    }
}

/// A container's length: a `u64` varint, claimed as one, that must fit a `usize`.
#[inline]
pub(crate) fn read_len(reader: &mut Reader<'_>, claims: &mut Claims) -> Result<usize, ReadError> {
    claims.claim(size_of::<u64>())?;
    let len = reader.u64()?;
    usize::try_from(len).map_err(|_| ReadError::Usize(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What bincode itself says about `bytes` as a `T`, with the codec's configuration.
    fn bincode<T: bincode::Decode<()>>(bytes: &[u8]) -> Result<(T, usize), String> {
        let config = bincode::config::standard().with_limit::<DECODE_MEMORY_LIMIT>();
        bincode::decode_from_slice::<T, _>(bytes, config).map_err(|e| e.to_string())
    }

    fn ours<'a, T>(
        bytes: &'a [u8],
        read: impl Fn(&mut Reader<'a>) -> Result<T, ReadError>,
    ) -> Result<(T, usize), String> {
        let mut reader = Reader::new(bytes);
        let value = read(&mut reader).map_err(|e| BincodeError::from(e).to_string())?;
        Ok((value, bytes.len() - reader.rest().len()))
    }

    /// Every first byte, with every number of bytes behind it (0 to 9, which covers both of
    /// bincode's ways of reading a varint).
    fn inputs() -> Vec<Vec<u8>> {
        let mut all = Vec::new();
        for first in 0..=u8::MAX {
            for behind in 0..=9u8 {
                let mut bytes = vec![first];
                bytes.extend((1..=behind).map(|i| i.wrapping_mul(37)));
                all.push(bytes);
            }
        }
        all.push(Vec::new());
        all
    }

    #[test]
    fn varints_and_floats_read_as_bincode_reads_them() {
        for bytes in inputs() {
            let (u32s, u64s) = (|r: &mut Reader<'_>| r.u32(), |r: &mut Reader<'_>| r.u64());
            assert_eq!(
                ours(&bytes, u32s),
                bincode::<u32>(&bytes),
                "u32 {bytes:02x?}"
            );
            assert_eq!(
                ours(&bytes, u64s),
                bincode::<u64>(&bytes),
                "u64 {bytes:02x?}"
            );
            let i32s = |r: &mut Reader<'_>| r.i32();
            assert_eq!(
                ours(&bytes, i32s),
                bincode::<i32>(&bytes),
                "i32 {bytes:02x?}"
            );
            let float = |r: &mut Reader<'_>| r.f64().map(f64::to_bits);
            let theirs = bincode::<f64>(&bytes).map(|(f, n)| (f.to_bits(), n));
            assert_eq!(ours(&bytes, float), theirs, "f64 {bytes:02x?}");
        }
    }
}

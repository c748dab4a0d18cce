//! The wire's test vectors: the cases, the annotating encoder that writes their files, and
//! the file format. The files themselves are data under `proto/tests/vectors/`.

pub(crate) mod annotate;
pub(crate) mod cases;
pub(crate) mod hexfile;

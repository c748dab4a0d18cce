//! placeholder binary until main is written.
fn main() {}

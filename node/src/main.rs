//! `dawn-node`: placeholder until the run command lands.
fn main() {}

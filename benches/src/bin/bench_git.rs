//! Placeholder until the Git benchmark lands.
fn main() {}

//! Services: the pure lifecycle ([`machine`]) and what ended them ([`policy`]).

pub mod machine;
pub mod policy;

#[cfg(test)]
mod machine_tests;

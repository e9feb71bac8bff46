//! The job engine's pure core (ARCHITECTURE.md §5): job types and their merge algebra, the
//! graph view it needs, and transactions built without side effects and activated in
//! numbered steps. The manager (`crate::manager`) installs and runs what it plans.

pub mod graph;
pub mod transaction;
pub mod types;

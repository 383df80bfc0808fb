//! constnet (docs written with the core)
pub mod data;

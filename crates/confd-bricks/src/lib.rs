//! The bricks nexus ships (DESIGN.md §6), each declared with
//! `#[derive(confd::Brick)]` exactly as a third party would declare its own.
//!
//! Linking this crate registers them: a program that wants them, and has no
//! other use for their types, says `use confd_bricks as _;`.

mod cache;
mod database;
mod history;
mod llm;
mod mounts;
mod permissions;
mod search;
mod uploads;

pub use cache::{CacheBackend, CacheConfig};
pub use database::DatabaseConfig;
pub use llm::{LlmConfig, LlmProvider};
pub use mounts::MountsConfig;
pub use permissions::PermissionsConfig;
pub use search::SearchConfig;
pub use uploads::UploadsConfig;

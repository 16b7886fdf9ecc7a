//! Integration tests of the confd library: one binary, a module per area.
//!
//! They link the shipped bricks, as the `nexus` binary does, to test the
//! library with real declarations.

use confd_bricks as _;

mod cache;
mod errors;
mod fleet;
mod fs_tree;
mod layers;
mod matrix;
mod properties;
mod root_api;
mod schema;
mod secrets;
mod seed;
mod shipped;
mod snapshot;
mod support;
mod typed;
mod watch;

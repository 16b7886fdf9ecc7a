//! Integration tests of the confd library: one binary, a module per area.

mod cache;
mod errors;
mod fleet;
mod fs_tree;
mod layers;
mod matrix;
mod properties;
mod secrets;
mod seed;
mod shipped;
mod support;
mod typed;
mod watch;

//! End-to-end tests of the `nexus` binary with the confd library: one binary,
//! a module per area. Built as the `e2e` test of confd-cli (see its Cargo.toml).
//!
//! The library side links the shipped bricks, as the `nexus` binary does.

use confd_bricks as _;

mod config;
mod config_check;
mod config_misc;
mod config_write;
mod config_write_safety;
mod docs;
#[path = "../crates/confd-fleet/tests/support/mod.rs"]
mod etcd;
mod example_brick;
mod fleet;
#[path = "../crates/confd/tests/fs_tree.rs"]
mod fs_tree;
mod hostile_input;
mod init;
mod long_input;
mod matrix;
mod reload;
mod schema;
mod secrets;
mod snapshot;
mod support;
mod vfs;
mod vfs_access;
mod watch;

//! Integration tests of vfs-etc, one module per area.

mod access;
mod confinement;
mod escape;
mod linux;
mod modes;
mod persistence;
mod properties;
mod readonly;
mod root_api;
mod support;
mod untouched;
mod watching;

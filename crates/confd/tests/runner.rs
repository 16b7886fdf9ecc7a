//! Integration tests of the confd library: one binary, a module per area.

mod errors;
mod layers;
mod shipped;
mod support;
mod typed;

//! Integration tests of the confd library: one binary, a module per area.

mod support;

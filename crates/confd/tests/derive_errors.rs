//! Misuse of `#[derive(confd::Brick)]` is a compile error at the attribute
//! that makes it (DESIGN.md §9). Regenerate the expected messages with
//! `TRYBUILD=overwrite cargo test -p confd --test derive_errors` and review them.

#[test]
fn misuse_is_a_compile_error_at_the_attribute() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}

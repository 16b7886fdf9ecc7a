//! The crate root stays short (issue 13): what a brick and its service use
//! every day is re-exported there; everything else is reached through its
//! public module (`confd::seed::Seeder`, `confd::watch::Watcher`, …).

/// The names `lib.rs` re-exports with `pub use`, a `{…}` group counted by
/// its members.
fn root_reexports(lib_rs: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = lib_rs;
    while let Some(start) = rest.find("\npub use ") {
        let statement = &rest[start + "\npub use ".len()..];
        let end = statement.find(';').expect("a `pub use` ends with `;`");
        let path = &statement[..end];
        match path.find('{') {
            Some(open) => names.extend(
                path[open + 1..path.len() - 1]
                    .split(',')
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                    .map(|name| format!("{}{name}", &path[..open])),
            ),
            None => names.push(path.trim().to_owned()),
        }
        rest = &statement[end..];
    }
    names
}

#[test]
fn the_root_reexports_at_most_twenty_items() {
    let lib_rs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs"))
        .expect("read src/lib.rs");
    let names = root_reexports(&lib_rs);
    assert!(
        names.iter().any(|name| name == "loader::Loader"),
        "parsed: {names:?}"
    );
    assert!(
        names.len() <= 20,
        "{} root re-exports: {names:?}",
        names.len()
    );
}

#[test]
fn the_counter_counts_groups_by_member() {
    let names = root_reexports("//!\npub use a::B;\npub use c::{D, e::F};\n");
    assert_eq!(names, ["a::B", "c::D", "c::e::F"]);
}

/// The modules hold what left the root.
#[test]
fn moved_names_are_reachable_through_their_modules() {
    let _: fn(&std::path::Path) -> Result<confd::seed::SeedReport, confd::seed::SeedError> =
        confd::seed::seed;
    let _ = confd::watch::Watcher::new(confd::Loader::new());
    assert_eq!(confd::secret::REDACTED, "<redacted>");
    assert!(confd::file::is_drop_in_name(b"10-a.toml"));
}

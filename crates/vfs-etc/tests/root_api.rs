//! Issue 13: the crate root re-exported 43 names, internals among them (`Batch`,
//! `RACY_WINDOW_NS`). It holds what a program that mounts `/etc` and makes calls needs; every
//! other name is reached through its public module (`vfs_etc::backend::HostDir`, …).

/// The names `src/lib.rs` re-exports, one `pub use` a line, a `{…}` group by its members.
fn root_reexports() -> Vec<String> {
    let lib_rs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs"))
        .expect("read src/lib.rs");
    let mut names = Vec::new();
    for statement in lib_rs.lines().filter_map(|l| l.strip_prefix("pub use ")) {
        let path = statement.trim_end_matches(';');
        match path.split_once("::{") {
            Some((module, group)) => names.extend(
                group
                    .trim_end_matches('}')
                    .split(',')
                    .map(|name| format!("{module}::{}", name.trim())),
            ),
            None => names.push(path.to_owned()),
        }
    }
    names.sort();
    names
}

#[test]
fn the_root_holds_only_what_a_caller_needs() {
    assert_eq!(
        root_reexports(),
        [
            "access::Caller",
            "access::Right",
            "mount::boot",
            "mount::mount_etc",
            "path::VfsPath",
            "vfs::Session",
            "vfs::Vfs",
            "vfs::WriteMode",
            "watch::watch",
        ]
    );
}

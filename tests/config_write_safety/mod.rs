//! The write path under pressure (issue 12): concurrent writers, a file that
//! changes while it is edited, a commented line that only looks like a
//! default, ownership, line endings, secrets and modes. Each test fails on a
//! write path that loses or misplaces an edit.
//!
//! `races`: writers at once; `placement`: where a set puts its value;
//! `ownership`: owners, modes, secrets; `editing`: `config edit` when it
//! fails; `refusals`: commands refused before they write.

mod editing;
mod ownership;
mod placement;
mod races;
mod refusals;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::{Sandbox, nexus_bin};

/// The text of the copy of an edit that a refusal kept, as its message
/// names it; the copy is removed.
fn take_kept_copy(message: &str) -> String {
    let kept = message
        .split("your version is kept in `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("no kept copy named: {message}"));
    let text = std::fs::read_to_string(kept).unwrap();
    std::fs::remove_file(kept).unwrap();
    text
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Six numeric keys of `cache`, set in parallel (here, and in etcd by
/// `fleet`'s test).
pub(crate) const CACHE_KEYS: [&str; 6] = [
    "permission_ttl",
    "denial_ttl",
    "path_size",
    "list_size",
    "kv_size",
    "exists_size",
];

/// Three rounds of setting every key of [`CACHE_KEYS`] at once, each through
/// `sandbox_for(i)`, asserting after each round that every key of `file`
/// holds its round's value.
fn sets_in_parallel_all_survive<'s>(file: &Path, sandbox_for: impl Fn(usize) -> &'s Sandbox) {
    for round in 1..=3 {
        let children: Vec<_> = CACHE_KEYS
            .iter()
            .enumerate()
            .map(|(i, key)| {
                let sandbox = sandbox_for(i);
                let state = sandbox.state();
                let (target, value) = (format!("cache.{key}"), (round * 100 + i).to_string());
                let args = [
                    "--state-dir",
                    state.to_str().unwrap(),
                    "config",
                    "set",
                    &target,
                    &value,
                ];
                sandbox.command_with(&nexus_bin(), &args).spawn().unwrap()
            })
            .collect();
        for mut child in children {
            assert!(child.wait().unwrap().success());
        }
        let text = std::fs::read_to_string(file).unwrap();
        let config: toml::Table = text.parse().unwrap();
        for (i, key) in CACHE_KEYS.iter().enumerate() {
            assert_eq!(
                config.get(*key).and_then(toml::Value::as_integer),
                Some(i64::try_from(round * 100 + i).unwrap()),
                "round {round}: `{key}` was lost:\n{text}"
            );
        }
    }
}

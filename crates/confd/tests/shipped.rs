//! The shipped default files document every key with its `full` default.

use confd::Profile;
use confd::bricks::registered;

/// The `#key = value` lines of a shipped file, as a table (`#[table]`
/// headers open a table, as they would once uncommented).
fn documented(contents: &str) -> toml::Table {
    let mut text = String::new();
    for line in contents.lines() {
        let Some(setting) = line.strip_prefix('#') else {
            continue;
        };
        // Prose comments start with "# "; settings are "#key = value".
        let header = setting.starts_with('[') && setting.ends_with(']');
        if !header && (setting.starts_with(' ') || setting.is_empty() || !setting.contains(" = ")) {
            continue;
        }
        text.push_str(setting);
        text.push('\n');
    }
    text.parse()
        .unwrap_or_else(|e| panic!("the settings of\n{contents}\nare not TOML: {e}"))
}

#[test]
fn every_registered_brick_ships_a_file_and_nothing_else_ships() {
    let shipped: Vec<&str> = confd::shipped::shipped_files()
        .iter()
        .map(|f| f.name)
        .collect();
    let registered: Vec<&str> = registered().iter().map(|s| s.name()).collect();
    assert_eq!(shipped, registered);
}

#[test]
fn shipped_files_document_every_key_with_its_full_default() {
    for schema in registered() {
        let file = confd::shipped::shipped_file(schema.name()).expect("shipped");
        assert_eq!(
            documented(file.contents),
            schema.defaults(Profile::Full),
            "conf.d/{} documents other keys or values than the brick's full defaults",
            schema.name()
        );
    }
}

#[test]
fn shipped_files_set_nothing_and_document_every_legacy_variable() {
    for file in confd::shipped::shipped_files() {
        let parsed: toml::Table = file.contents.parse().expect("valid TOML");
        assert!(parsed.is_empty(), "conf.d/{} sets something", file.name);
        let schema = confd::bricks::lookup(file.name).expect("registered");
        for alias in schema.env_aliases() {
            for var in alias.vars {
                assert!(
                    file.contents.contains(var),
                    "conf.d/{} does not mention {var}",
                    file.name
                );
            }
        }
    }
}

#[test]
fn seeding_creates_every_file_once_with_its_mode() -> Result<(), Box<dyn std::error::Error>> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    let etc = dir.path().join("etc");
    let report = confd::seed::seed(&etc)?;
    assert_eq!(report.created().count(), registered().len());
    for file in confd::shipped::shipped_files() {
        let path = etc.join("conf.d").join(file.name);
        assert_eq!(std::fs::read_to_string(&path)?, file.contents);
        let mode = std::fs::metadata(&path)?.permissions().mode() & 0o777;
        let want = if confd::shipped::holds_secrets(file.name) {
            0o600
        } else {
            0o644
        };
        assert_eq!(mode, want, "{}", file.name);
    }
    for d in [&etc, &etc.join("conf.d")] {
        assert_eq!(std::fs::metadata(d)?.permissions().mode() & 0o777, 0o755);
    }
    // Create-only: an existing file is kept byte for byte.
    let mounts = etc.join("conf.d/mounts");
    std::fs::write(&mounts, "auto_sync = true\n")?;
    let again = confd::seed::seed(&etc)?;
    assert_eq!(again.created().count(), 0);
    assert_eq!(std::fs::read_to_string(&mounts)?, "auto_sync = true\n");
    // No temporary file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(etc.join("conf.d"))?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    Ok(())
}

/// `seed(etc_dir)` works out the state dir as the parent of `etc`: given any
/// other directory it would seed beside it, so it refuses, naming it.
#[test]
fn seeding_a_directory_not_named_etc_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg");
    std::fs::create_dir(&cfg).unwrap();
    let err = confd::seed::seed(&cfg).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "cannot seed `{}`: not a state dir's `etc`",
            cfg.display()
        )),
        "{err}"
    );
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
}

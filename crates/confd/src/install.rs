//! Installing bricks' JSON Schemas at `$STATE/share/confd/schema/NAME.json`
//! (DESIGN.md §9), for editors and for tools that do not link the brick.
//!
//! A schema file is generated, never a user's: it is created, or replaced
//! when this build's schema differs ([`Upgraded`](SeedAction::Upgraded)),
//! atomically by seeding's writer, with mode 0644 whatever the umask.

use std::collections::BTreeSet;

use crate::bricks::{Brick, Schema, json_schema_text};
use crate::seed::{FILE_MODE, SeedAction, SeedError, SeedReport, Writer, io_err};
use crate::{Profile, StateDir, seed::Seeder, shipped::Shipped};

/// Installs the JSON Schema of each of `schemas` in `state`; in a dry run,
/// only says what it would do. One entry per schema, sorted by name.
///
/// The schemas show the `full` profile's defaults (the others' are in
/// `x-confd-profiles`), so the files do not depend on the profile of the
/// command that installs them.
pub fn install_schemas(
    state: &StateDir,
    schemas: &[&dyn Schema],
    dry_run: bool,
) -> Result<SeedReport, SeedError> {
    let dir = state.schema_dir();
    let mut writer = Writer::new(None);
    let mut schemas = schemas.to_vec();
    schemas.sort_by_key(|s| s.name());
    schemas.dedup_by_key(|s| s.name());
    // Held to the end: removing stale temporary files is only safe when no
    // other run is writing its own.
    let _lock = if dry_run {
        None
    } else {
        writer.make_dir(&dir)?;
        Some(crate::seed::lock_state(state.root())?)
    };
    let bases: BTreeSet<String> = schemas
        .iter()
        .map(|s| format!("{}.json", s.name()))
        .collect();
    let removed = writer.remove_stale(&dir, &bases, dry_run)?;
    let mut files = Vec::new();
    for schema in schemas {
        let target = dir.join(format!("{}.json", schema.name()));
        let text = json_schema_text(schema, Profile::Full);
        let action = match std::fs::symlink_metadata(&target) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => SeedAction::Created,
            Err(e) => return Err(io_err(&target)(e)),
            // A directory, a FIFO or a link someone put there is theirs.
            Ok(meta) if !meta.is_file() => SeedAction::NotSeeded,
            Ok(meta) if meta.len() != text.len() as u64 => SeedAction::Upgraded,
            Ok(_) => {
                let on_disk = std::fs::read(&target).map_err(io_err(&target))?;
                if on_disk == text.as_bytes() {
                    SeedAction::Unchanged
                } else {
                    SeedAction::Upgraded
                }
            }
        };
        if !dry_run && matches!(action, SeedAction::Created | SeedAction::Upgraded) {
            writer.replace(&target, text.as_bytes(), FILE_MODE)?;
        }
        files.push((target, action));
    }
    Ok(SeedReport {
        files,
        removed,
        dry_run,
    })
}

/// Installs brick `T` in `state`, as a brick running in its own process
/// does at start-up: seeds (or upgrades) its default file in `conf.d`, by
/// the same rules as `nexus config init`, and installs its JSON Schema. The
/// report has the default file's entry, then the schema's.
///
/// `T` must be registered (the derive does it; a hand-written impl calls
/// [`register_brick!`](crate::register_brick)): seeding gives a brick that
/// holds secrets mode 0600 by what the registry says of it.
///
/// ```
/// #[derive(serde::Serialize, serde::Deserialize, confd::Brick)]
/// #[brick(name = "courier")]
/// struct Courier {
///     /// Parcels in flight.
///     #[brick(default = 8)]
///     depth: u32,
/// }
///
/// # let dir = tempfile::tempdir()?;
/// let state = confd::StateDir::new(dir.path())?;
/// let report = confd::install::<Courier>(&state)?;
/// assert_eq!(report.created().count(), 2);
/// assert!(state.root().join("etc/conf.d/courier").is_file());
/// assert!(state.root().join("share/confd/schema/courier.json").is_file());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn install<T: Brick>(state: &StateDir) -> Result<SeedReport, InstallError> {
    crate::BrickName::new(T::NAME)?;
    let schema = crate::bricks::schema_of::<T>();
    let registered = crate::bricks::registered()
        .iter()
        .any(|s| s.name() == T::NAME && s.cache_id() == schema.cache_id());
    if !registered {
        return Err(InstallError::NotRegistered {
            brick: T::NAME.to_owned(),
            type_name: std::any::type_name::<T>(),
        });
    }
    let file = crate::shipped::ShippedFile {
        name: T::NAME,
        contents: Box::leak(crate::shipped::default_file(schema).into_boxed_str()),
    };
    let past = [(
        T::NAME.to_owned(),
        T::SHIPPED_HISTORY.iter().map(|h| (*h).to_owned()),
    )];
    let mut report = Seeder::new(state.root())
        .shipped(Shipped::new([file], past))
        .run()?;
    let schemas = install_schemas(state, &[schema], false)?;
    report.files.extend(schemas.files);
    report.removed.extend(schemas.removed);
    Ok(report)
}

/// Why [`install`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The brick's name cannot be a file name.
    #[error(transparent)]
    InvalidName(#[from] crate::brick_name::InvalidBrickName),
    /// The brick type is not in the registry, so seeding cannot tell
    /// whether its file holds secrets.
    #[error("brick `{brick}` is not registered: add `confd::register_brick!({type_name})`")]
    NotRegistered {
        /// The brick's name.
        brick: String,
        /// Its Rust type.
        type_name: &'static str,
    },
    /// Seeding its file or writing its schema failed.
    #[error(transparent)]
    Seed(#[from] SeedError),
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use serde::{Deserialize, Serialize};

    use super::*;

    /// A brick of its own process, holding a secret.
    #[derive(Serialize, Deserialize, crate::Brick)]
    #[brick(name = "courier")]
    struct Courier {
        /// Parcels in flight.
        #[brick(default = 8)]
        depth: u32,
        /// The depot's key.
        #[brick(default = "")]
        key: crate::Secret,
    }

    /// Written by hand and never registered.
    #[derive(Serialize, Deserialize)]
    struct Stray {
        depth: u32,
    }

    impl Brick for Stray {
        const NAME: &'static str = "stray";
        fn defaults(_: Profile) -> Self {
            Stray { depth: 1 }
        }
    }

    fn mode(path: &std::path::Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn install_seeds_one_brick_and_its_schema_then_upgrades_only_the_schema()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let state = StateDir::new(dir.path())?;
        let report = install::<Courier>(&state)?;
        let file = state.root().join("etc/conf.d/courier");
        let schema = state.root().join("share/confd/schema/courier.json");
        assert_eq!(
            report.files,
            [
                (file.clone(), SeedAction::Created),
                (schema.clone(), SeedAction::Created)
            ]
        );
        // Only this brick: no other registered brick's file is seeded.
        let seeded: Vec<_> = std::fs::read_dir(state.conf_d())?.collect();
        assert_eq!(seeded.len(), 1);
        assert_eq!(mode(&file), 0o600, "the file holds a secret");
        assert_eq!(mode(&schema), 0o644);
        assert_eq!(
            std::fs::read_to_string(&schema)?,
            json_schema_text(crate::bricks::schema_of::<Courier>(), Profile::Full)
        );

        std::fs::write(&schema, "{}")?;
        let again = install::<Courier>(&state)?;
        assert_eq!(
            again.files,
            [
                (file, SeedAction::Unchanged),
                (schema.clone(), SeedAction::Upgraded)
            ]
        );
        assert_ne!(std::fs::read_to_string(&schema)?, "{}");
        Ok(())
    }

    #[test]
    fn install_refuses_a_brick_the_registry_does_not_know() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let state = StateDir::new(dir.path())?;
        let err = install::<Stray>(&state).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("brick `stray` is not registered: add `confd::register_brick!("),
            "{err}"
        );
        assert!(!state.root().join("etc").exists(), "nothing written");
        Ok(())
    }

    #[test]
    fn a_dry_run_installs_nothing() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let state = StateDir::new(dir.path())?;
        let schema = crate::bricks::schema_of::<Courier>();
        let report = install_schemas(&state, &[schema], true)?;
        assert_eq!(report.files[0].1, SeedAction::Created);
        assert!(!state.root().join("share").exists());
        Ok(())
    }
}

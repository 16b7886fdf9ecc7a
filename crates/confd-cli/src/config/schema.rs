//! Bricks' schemas as data (DESIGN.md §9): `nexus config schema BRICK`, the
//! schemas `init` installs, and the installed schemas of bricks this binary
//! does not link.
//!
//! Every command finds a brick's schema with `confd::bricks::lookup`: once
//! [`use_installed`] has run, that falls back to
//! `$STATE/share/confd/schema/NAME.json` for a brick no linked crate
//! declares, so loads, typed `--set`s, redaction and unknown-key warnings all
//! know it. Only its rules across keys are missing (they are the brick's
//! code), and `validate` says so.

use std::path::PathBuf;

use confd::BrickName;
use confd::bricks::Schema;

use crate::{Failure, Global};

/// Makes every lookup of a brick's schema in this process fall back to the
/// schemas installed in the state dir `args` name (`--state-dir DIR` or
/// `--state-dir=DIR`, else `$NEXUS_STATE_DIR`, else `~/.nexus`).
///
/// Called on the raw arguments before clap parses them: a `--set` and
/// clap's own error messages must already know which keys of an installed
/// brick are secret. A state dir that does not resolve is left to the
/// command to report.
pub(crate) fn use_installed(args: &[String]) {
    let mut dir: Option<PathBuf> = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            break;
        }
        if arg == "--state-dir" {
            dir = rest.next().map(PathBuf::from);
        } else if let Some(value) = arg.strip_prefix("--state-dir=") {
            dir = Some(PathBuf::from(value));
        }
    }
    let mut loader = confd::Loader::new();
    if let Some(dir) = dir {
        loader = loader.state_dir(dir);
    }
    if let Ok(state) = loader.resolved_state_dir() {
        confd::bricks::use_installed_schemas(&state);
    }
}

/// The schema of `brick`: a linked brick's, or else the one installed for
/// it. The one way the CLI finds a schema, so a brick known only by its
/// installed file is known everywhere.
pub(crate) fn lookup(brick: &str) -> Option<&'static dyn Schema> {
    confd::bricks::lookup(brick)
}

/// Whether `schema` was read from an installed file rather than linked: its
/// rules across keys were not checked.
pub(crate) fn rules_unchecked(schema: &dyn Schema) -> bool {
    !schema.checks_rules()
}

/// Why an installed schema that is there could not be used, if it could not.
pub(crate) fn installed_problem(global: &Global, brick: &BrickName) -> Option<String> {
    if confd::bricks::registered()
        .iter()
        .any(|s| s.name() == brick.as_str())
    {
        return None;
    }
    let state = global.loader().resolved_state_dir().ok()?;
    confd::bricks::InstalledSchema::read(&state, brick)
        .err()
        .map(|e| e.to_string())
}

/// `nexus config schema BRICK`: the brick's JSON Schema (draft 2020-12),
/// `default` showing the active profile's defaults. It is JSON whatever
/// `--format` says: a schema has no other form.
pub(crate) fn schema(global: &Global, brick: &BrickName) -> Result<(), Failure> {
    let Some(schema) = lookup(brick.as_str()) else {
        if let Some(problem) = installed_problem(global, brick) {
            return Err(Failure::Config(problem));
        }
        let registered: Vec<String> = confd::bricks::registered()
            .iter()
            .map(|s| s.name().to_owned())
            .collect();
        let hint = confd::loader::suggest(brick.as_str(), &registered)
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        return Err(Failure::Usage(format!(
            "`{brick}` is not a registered brick and has no installed schema{hint}"
        )));
    };
    let profile = global.loader().resolved_profile()?;
    print!("{}", confd::bricks::json_schema_text(schema, profile));
    Ok(())
}

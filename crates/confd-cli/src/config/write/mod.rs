//! `nexus config set` and `nexus config edit`: the only commands that change a
//! user's file. Both validate the whole result first and replace atomically;
//! on any error the file is untouched.

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use confd::{BrickName, KeyPath};

mod document;

use super::BrickKey;
use crate::{Failure, Global};

/// The file a write goes to: the main file, or `NAME.d/<drop_in>.toml`.
fn target_file(
    global: &Global,
    brick: &BrickName,
    drop_in: Option<&str>,
) -> Result<PathBuf, Failure> {
    let state = global.loader().resolved_state_dir()?;
    let Some(name) = drop_in else {
        return Ok(state.main_file(brick));
    };
    let file = if name.ends_with(".toml") {
        name.to_owned()
    } else {
        format!("{name}.toml")
    };
    // A file name: no `/`, no control character (a name with a line feed
    // or an escape sequence is a trap for every later `ls`), at most
    // NAME_MAX bytes.
    if file.contains('/')
        || file.chars().any(char::is_control)
        || file.len() > 255
        || !confd::is_drop_in_name(file.as_bytes())
    {
        return Err(Failure::Usage(format!(
            "invalid drop-in name `{}`: a drop-in is a file name such as `50-local` (read as `50-local.toml`), not hidden, without `/` or control characters, at most 255 bytes",
            confd::quoted_input(name)
        )));
    }
    Ok(state.drop_in_dir(brick).join(file))
}

/// The mode a write gives `path`: an existing file keeps its own, a new one
/// gets 0600 in a brick that holds secrets and 0644 otherwise. A file that
/// others may read and is about to receive a secret loses those bits, and the
/// returned note says so.
fn mode_for(path: &Path, brick: &BrickName, writes_secret: bool) -> (u32, Option<String>) {
    let mode = match std::fs::metadata(path) {
        Ok(m) => m.permissions().mode() & 0o7777,
        Err(_) if confd::holds_secrets(brick.as_str()) => return (confd::SECRET_FILE_MODE, None),
        Err(_) => return (confd::FILE_MODE, None),
    };
    if writes_secret && mode & 0o077 != 0 {
        let tightened = mode & !0o077;
        let note = format!(
            "`{}` was readable by group or others (mode {mode:04o}) and now holds a secret: its mode is now {tightened:04o}",
            path.display()
        );
        return (tightened, Some(note));
    }
    (mode, None)
}

/// Whether `new` gives a secret key of `brick` a non-empty value that `old`
/// did not have.
fn writes_new_secret(brick: &BrickName, old: &str, new: &str) -> bool {
    let Some(schema) = confd::bricks::lookup(brick.as_str()) else {
        return false;
    };
    let parse = |text: &str| text.parse::<toml::Table>().unwrap_or_default();
    let (old, new) = (parse(old), parse(new));
    schema
        .secret_keys()
        .iter()
        .filter_map(|key| key.parse::<KeyPath>().ok())
        .any(|key| {
            let value = confd::value_at(&new, &key);
            value.is_some_and(|v| v.as_str() != Some("")) && value != confd::value_at(&old, &key)
        })
}

/// Validates `text` as the new content of `path`, returning what it warns
/// of (unknown keys). Only the files are judged: the environment and `--set`
/// of this invocation are left out, so a stray variable cannot block (or
/// excuse) an edit.
fn validate(
    global: &Global,
    brick: &BrickName,
    path: &Path,
    text: &str,
) -> Result<Vec<confd::Warning>, confd::Error> {
    let mut loader = confd::Loader::new()
        .env(std::iter::empty::<(String, String)>())
        .strict(global.strict)
        .state_dir(global.loader().resolved_state_dir()?.root())
        .with_candidate(path, text);
    if let Some(profile) = &global.profile {
        loader = loader.profile(profile);
    }
    loader
        .load(brick.as_str())
        .map(|config| config.warnings().to_vec())
}

/// Holds the state dir's write lock. Every read-modify-write of a user's file
/// happens under it, from the read to the rename, so two commands writing
/// one file take turns and neither loses the other's change; seeding takes
/// it too, so its clean-up never removes a writer's temporary file.
fn lock(global: &Global) -> Result<confd::StateLock, Failure> {
    let state = global.loader().resolved_state_dir()?;
    confd::lock_state(state.root()).map_err(|e| Failure::Config(e.to_string()))
}

/// Writes `text` to `path` atomically (the caller holds the lock), creating
/// `NAME.d` if needed, and prints the note of a tightened mode.
fn write(path: &Path, text: &str, (mode, note): (u32, Option<String>)) -> Result<(), Failure> {
    if let Some(dir) = path.parent() {
        confd::create_dirs(dir).map_err(|e| Failure::Config(e.to_string()))?;
    }
    confd::replace_file(path, text.as_bytes(), mode).map_err(|e| Failure::Config(e.to_string()))?;
    if let Some(note) = note {
        crate::output::warning(&note);
    }
    Ok(())
}

/// The text a brick's file starts from when it does not exist: the shipped
/// default for a main file, so its documentation comes along and the key's
/// commented line can be replaced in place; nothing for a drop-in.
fn starting_text(brick: &BrickName, drop_in: Option<&str>) -> String {
    match drop_in {
        None => {
            confd::shipped_file(brick.as_str()).map_or_else(String::new, |f| f.contents.to_owned())
        }
        Some(_) => String::new(),
    }
}

pub(crate) fn set(
    global: &Global,
    target: &BrickKey,
    raw: &str,
    drop_in: Option<&str>,
) -> Result<(), Failure> {
    let brick = &target.brick;
    let schema = confd::bricks::lookup(brick.as_str());
    let secret = schema.is_some_and(|s| s.is_secret(&target.key));
    let shown = shown_value(raw, secret);
    let shown = shown.as_str();
    let defaults =
        schema.map(|s| s.defaults(global.loader().resolved_profile().unwrap_or_default()));
    let expected = match &defaults {
        Some(defaults) => known_key(global, target, defaults)?,
        None => None,
    };
    let value = confd::parse_typed(raw, expected).map_err(|message| {
        Failure::Usage(format!(
            "invalid value for `{target}`: {message}, found `{shown}`"
        ))
    })?;
    let path = target_file(global, brick, drop_in)?;

    let _lock = lock(global)?;
    let existing = confd::read_config_file(&path)?;
    let original = existing
        .clone()
        .unwrap_or_else(|| starting_text(brick, drop_in));
    let file_problem = |error: confd::Error| {
        Failure::Config(format!(
            "{error}\n`{}` does not load as it is, so nothing was set: fix it first (`nexus config edit {brick}`)",
            path.display()
        ))
    };
    let updated = match document::set_in_document(&original, &target.key, &value) {
        Ok(updated) => updated,
        Err(message) => {
            validate(global, brick, &path, &original).map_err(file_problem)?;
            return Err(Failure::Usage(format!("cannot set `{target}`: {message}")));
        }
    };
    if let Err(error) = validate(global, brick, &path, &updated) {
        // Blame the value only when the file loaded without it.
        validate(global, brick, &path, &original).map_err(file_problem)?;
        return Err(Failure::Usage(value_error(target, shown, &error)));
    }
    if existing.as_deref() == Some(updated.as_str()) {
        println!("unchanged {target} in {}", path.display());
        return Ok(());
    }
    let mode = mode_for(&path, brick, writes_new_secret(brick, &original, &updated));
    write(&path, &updated, mode)?;
    println!("set {target} in {}", path.display());
    // The file is written and valid on its own; say so if what is in force
    // differs: a higher layer overrides the key, or this invocation's
    // environment or `--set` does not load at all.
    match global.loader().load(brick.as_str()) {
        Ok(config) => {
            if let Some(origin) = config.origin_of(&target.key)
                && origin.path() != Some(path.as_path())
            {
                crate::output::warning(&format!(
                    "`{target}` is overridden by `{origin}`: the value just set is not in effect"
                ));
            }
        }
        Err(error) => crate::output::warning(&format!(
            "the file is valid, but the configuration in force is not: {error}"
        )),
    }
    Ok(())
}

/// The default of `target` in a registered brick, which gives its type.
///
/// A key the brick does not know is a warning with a suggestion (an error
/// under `--strict`): it is most often a typo, and the file would carry it
/// silently. A table is refused: its keys are set one by one.
fn known_key<'a>(
    global: &Global,
    target: &BrickKey,
    defaults: &'a toml::Table,
) -> Result<Option<&'a toml::Value>, Failure> {
    if let Some(value) = confd::value_at(defaults, &target.key) {
        if value.is_table() {
            return Err(Failure::Usage(format!(
                "`{target}` is a table: set its keys one by one (`{target}.KEY`)"
            )));
        }
        return Ok(Some(value));
    }
    // The deepest table of the schema on the key's path holds the names to
    // suggest from, and the first segment it lacks is the one to correct.
    let mut table = defaults;
    let mut unknown = None;
    for (depth, segment) in target.key.segments().iter().enumerate() {
        match table.get(segment) {
            Some(toml::Value::Table(inner)) => table = inner,
            Some(_) => {
                let value = target.key.segments()[..=depth].join(".");
                return Err(Failure::Usage(format!(
                    "`{}.{value}` is a value, not a table: `{target}` cannot be set",
                    target.brick
                )));
            }
            None => {
                unknown = Some(segment);
                break;
            }
        }
    }
    let known: Vec<String> = table.keys().cloned().collect();
    let hint = unknown
        .and_then(|name| confd::suggest(name, &known))
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default();
    let message = format!(
        "`{target}` is not a key of the `{}` brick{hint}",
        target.brick
    );
    if global.strict {
        return Err(Failure::Usage(message));
    }
    crate::output::warning(&format!("{message}; setting it anyway"));
    Ok(None)
}

/// The error for a value the brick refuses, pointing at the value given
/// rather than at the line it would have had in the file.
fn value_error(target: &BrickKey, shown: &str, error: &confd::Error) -> String {
    match error {
        confd::Error::InvalidValue { key, message, .. } => {
            format!("invalid value for `{key}`: {message}, found `{shown}`")
        }
        confd::Error::InvalidType {
            key,
            expected,
            found,
            ..
        } => format!("invalid value for `{key}`: expected {expected}, found {found} `{shown}`"),
        confd::Error::Validation { brick, message, .. } => {
            format!("invalid value for `{target}`: `{shown}` breaks a rule of `{brick}`: {message}")
        }
        confd::Error::TooLarge { size, .. } => format!(
            "cannot set `{target}`: the file would be {size} bytes, and configuration files are limited to 1 MiB"
        ),
        other => format!("invalid value for `{target}`: `{shown}`: {other}"),
    }
}

/// A value as messages quote it: never a secret, on one line, cut short.
fn shown_value(raw: &str, secret: bool) -> String {
    if secret {
        confd::REDACTED.to_owned()
    } else {
        confd::quoted_input(raw)
    }
}

/// The editor to run: `$VISUAL`, else `$EDITOR`, else `vi`.
#[allow(clippy::disallowed_methods)] // the editor is the CLI's business, not configuration
fn editor() -> String {
    ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "vi".to_owned())
}

/// `nexus config edit`: the editor works on a copy outside conf.d; the copy
/// replaces the file only when it is valid and the file did not change
/// meanwhile. Whatever stops the edit, the edited copy is kept and named.
pub(crate) fn edit(global: &Global, brick: &BrickName) -> Result<(), Failure> {
    let path = target_file(global, brick, None)?;
    // What the file was when the copy was made: a write that finds anything
    // else there would lose someone's change.
    let mut on_disk = confd::read_config_file(&path)?;
    let mut original = on_disk
        .clone()
        .unwrap_or_else(|| starting_text(brick, None));
    // The copy lives outside conf.d: a crash mid-edit leaves nothing there.
    let scratch = tempfile::Builder::new()
        .prefix(&format!("nexus-{brick}-"))
        .suffix(".toml")
        .tempfile()
        .map_err(|e| Failure::Config(format!("cannot create a temporary copy: {e}")))?;
    std::fs::write(scratch.path(), &original).map_err(|e| {
        Failure::Config(format!("cannot write `{}`: {e}", scratch.path().display()))
    })?;
    let interactive = std::io::stdin().is_terminal();
    // Gives up, keeping the edited copy so no work is lost.
    let give_up = |scratch: tempfile::NamedTempFile, why: &str| {
        let kept = match scratch.keep() {
            Ok((_, kept)) => format!("; your version is kept in `{}`", kept.display()),
            Err(_) => String::new(),
        };
        Failure::Config(format!("{why}: `{}` is unchanged{kept}", path.display()))
    };
    loop {
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{} \"$1\"", editor()))
            .arg("nexus-editor")
            .arg(scratch.path())
            .status()
            .map_err(|e| Failure::Config(format!("cannot run the editor `{}`: {e}", editor())))?;
        if !status.success() {
            return Err(give_up(
                scratch,
                &format!("the editor `{}` failed ({status})", editor()),
            ));
        }
        let edited = std::fs::read_to_string(scratch.path())
            .map_err(|e| Failure::Config(format!("cannot read the edited copy: {e}")))?;
        if edited == original {
            println!("no changes; {} is unchanged", path.display());
            return Ok(());
        }
        match validate(global, brick, &path, &edited) {
            Ok(warnings) => {
                for warning in warnings {
                    crate::output::warning(&warning.to_string());
                }
            }
            Err(error) => {
                let message = error.to_string().replace(
                    &scratch.path().display().to_string(),
                    &path.display().to_string(),
                );
                crate::output::error(&message);
                if interactive && ask("edit again? [Y/n] ") {
                    continue;
                }
                return Err(give_up(scratch, "the edited copy is not valid"));
            }
        }
        let lock = lock(global)?;
        let now = confd::read_config_file(&path)?;
        if now == on_disk {
            let mode = mode_for(&path, brick, writes_new_secret(brick, &original, &edited));
            write(&path, &edited, mode)?;
            println!("updated {}", path.display());
            return Ok(());
        }
        drop(lock);
        crate::output::error(&format!(
            "`{}` changed while you were editing it; this is what changed:",
            path.display()
        ));
        let before = on_disk.as_deref().unwrap_or_default();
        print_change(brick, &path, before, now.as_deref().unwrap_or_default());
        if !(interactive && ask("edit the new version (yours is kept)? [Y/n] ")) {
            return Err(give_up(
                scratch,
                "it changed while you were editing it, and your version would have undone that",
            ));
        }
        // Edit again from what is there now; the user's own version stays
        // beside it, so they can carry their change over.
        let yours = tempfile::Builder::new()
            .prefix(&format!("nexus-{brick}-yours-"))
            .suffix(".toml")
            .tempfile()
            .and_then(|f| f.keep().map_err(|e| e.error))
            .and_then(|(_, kept)| std::fs::write(&kept, &edited).map(|()| kept))
            .map_err(|e| Failure::Config(format!("cannot keep your version: {e}")))?;
        eprintln!("note: your version is kept in `{}`", yours.display());
        on_disk = now;
        original = on_disk
            .clone()
            .unwrap_or_else(|| starting_text(brick, None));
        std::fs::write(scratch.path(), &original).map_err(|e| {
            Failure::Config(format!("cannot write `{}`: {e}", scratch.path().display()))
        })?;
    }
}

/// Prints how a file changed as a unified diff on stderr, with secrets
/// hidden as `config diff` hides them.
fn print_change(brick: &BrickName, path: &Path, before: &str, after: &str) {
    let (before, after) = (
        super::locate::redact_secrets(brick, path, before),
        super::locate::redact_secrets(brick, path, after),
    );
    let diff = similar::TextDiff::from_lines(&before, &after);
    eprint!(
        "{}",
        diff.unified_diff()
            .context_radius(2)
            .header("when you started", "now")
    );
}

/// Asks a yes/no question on the terminal; yes unless the answer starts with n.
fn ask(question: &str) -> bool {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    !answer.trim_start().to_ascii_lowercase().starts_with('n')
}

//! `nexus config set BRICK.key VALUE`.

use std::path::Path;

use super::document;
use super::{
    Invalid, check_brick_name, check_links, lock, mode_for, resolve, starting_text, target_file,
    validate, write, writes_new_secret,
};
use crate::config::BrickKey;
use crate::output::shown_path;
use crate::{Failure, Global};

/// The value of `config set --stdin`: standard input, without one trailing
/// newline, at most the size of a configuration file.
pub(crate) fn value_from_stdin() -> Result<String, Failure> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(confd::file::MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::Config(format!("cannot read the value from standard input: {e}")))?;
    if bytes.len() as u64 > confd::file::MAX_FILE_SIZE {
        return Err(Failure::Usage(
            "the value on standard input is over 1 MiB, the limit of a configuration file"
                .to_owned(),
        ));
    }
    let mut value = String::from_utf8(bytes)
        .map_err(|_| Failure::Usage("the value on standard input is not valid UTF-8".to_owned()))?;
    for ending in ["\r\n", "\n"] {
        if value.ends_with(ending) {
            value.truncate(value.len() - ending.len());
            break;
        }
    }
    Ok(value)
}

/// `raw`, the value given for `target`, typed by the brick's default for the
/// key (one the brick does not know warns, or fails under `--strict`), and
/// the value as a message may show it (never a secret).
pub(crate) fn typed_value(
    global: &Global,
    target: &BrickKey,
    raw: &str,
) -> Result<(toml::Value, String), Failure> {
    let schema = crate::config::schema::lookup(target.brick.as_str());
    let secret = schema.is_some_and(|s| s.is_secret(&target.key));
    let shown = shown_value(raw, secret);
    let defaults =
        schema.map(|s| s.defaults(global.loader().resolved_profile().unwrap_or_default()));
    let expected = match &defaults {
        Some(defaults) => known_key(global, target, defaults)?,
        None => None,
    };
    let value = confd::value::parse_typed(raw, expected).map_err(|message| {
        Failure::Usage(format!(
            "invalid value for `{target}`: {message}, found `{shown}`"
        ))
    })?;
    Ok((value, shown))
}

pub(crate) fn set(
    global: &Global,
    target: &BrickKey,
    raw: &str,
    drop_in: Option<&str>,
) -> Result<(), Failure> {
    let brick = &target.brick;
    let (value, shown) = typed_value(global, target, raw)?;
    let shown = shown.as_str();
    let path = target_file(global, brick, drop_in)?;
    check_brick_name(global, brick, &path)?;
    check_links(global, &path)?;

    let file = resolve(&path);
    let change = Change {
        global,
        target,
        value: &value,
        shown,
        path: &path,
        file: &file,
        drop_in,
    };
    // A refusal is found before the lock is taken, so a refused `set`
    // creates nothing, not even the lock; the change is then made again
    // under the lock, from the file as it is then.
    if change.prepare()?.is_none() {
        report_set(global, target, &path, false);
        return Ok(());
    }
    let _lock = lock(global, &file)?;
    let Some((original, updated)) = change.prepare()? else {
        report_set(global, target, &path, false);
        return Ok(());
    };
    let mode = mode_for(&file, brick, writes_new_secret(brick, &original, &updated));
    write(&path, &file, &updated, mode)?;
    report_set(global, target, &path, true);
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

/// One `set` to make: the key, its value, and the file it goes to.
struct Change<'a> {
    global: &'a Global,
    target: &'a BrickKey,
    value: &'a toml::Value,
    shown: &'a str,
    path: &'a Path,
    file: &'a Path,
    drop_in: Option<&'a str>,
}

impl Change<'_> {
    /// The file's text before and after, from the file as it is now; `None`
    /// when the key already holds the value (`0x100` stays `0x100`). Refused
    /// when the value is not acceptable, or the file does not load as it is.
    fn prepare(&self) -> Result<Option<(String, String)>, Failure> {
        let (global, target, path) = (self.global, self.target, self.path);
        let brick = &target.brick;
        let existing = confd::file::read_config_file(self.file)?;
        let original = existing
            .clone()
            .unwrap_or_else(|| starting_text(brick, self.drop_in));
        let file_problem = |invalid: Invalid| {
            Failure::Config(format!(
                "{}\nthe `{brick}` configuration does not load as it is, so nothing was set: fix the file named above first (`nexus config validate {brick}`)",
                invalid.message
            ))
        };
        if existing.is_some()
            && let Ok(table) = original.parse::<toml::Table>()
            && confd::layer::value_at(&table, &target.key) == Some(self.value)
        {
            return Ok(None);
        }
        let updated = match document::set_in_document(&original, &target.key, self.value) {
            Ok(updated) => updated,
            Err(message) => {
                validate(global, brick, path, &original).map_err(file_problem)?;
                return Err(Failure::Usage(format!("cannot set `{target}`: {message}")));
            }
        };
        if let Err(invalid) = validate(global, brick, path, &updated) {
            // Blame the value only when the file loaded without it.
            validate(global, brick, path, &original).map_err(file_problem)?;
            return Err(Failure::Usage(value_error(
                target,
                self.shown,
                &invalid.error,
            )));
        }
        Ok(Some((original, updated)))
    }
}

/// Says what `set` did, in the output format asked for.
fn report_set(global: &Global, target: &BrickKey, path: &Path, changed: bool) {
    match global.format {
        crate::Format::Text if changed => println!("set {target} in {}", shown_path(path)),
        crate::Format::Text => println!("unchanged {target} in {}", shown_path(path)),
        crate::Format::Json => println!(
            "{:#}",
            serde_json::json!({
                "brick": target.brick.as_str(),
                "key": target.key.to_string(),
                "path": path.display().to_string(),
                "changed": changed,
            })
        ),
    }
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
    if let Some(value) = confd::layer::value_at(defaults, &target.key) {
        if value.is_table() {
            return Err(Failure::Usage(format!(
                "`{target}` is a table: set its keys one by one (`{target}.KEY`)"
            )));
        }
        return Ok(Some(value));
    }
    // A key declared without a default (an unset `Option`): known, untyped.
    let optional = confd::bricks::lookup(target.brick.as_str())
        .is_some_and(|s| s.optional_keys().contains(&target.key.to_string().as_str()));
    if optional {
        return Ok(None);
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
        .and_then(|name| confd::loader::suggest(&name.to_lowercase(), &known))
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
pub(crate) fn value_error(target: &BrickKey, shown: &str, error: &confd::Error) -> String {
    match error {
        // serde's "unknown variant `bogus`" names the value already.
        confd::Error::InvalidValue { key, message, .. }
            if message.contains(&format!("`{shown}`")) =>
        {
            format!(
                "invalid value for `{}`: {message}",
                confd::shown::quoted_input(key)
            )
        }
        confd::Error::InvalidValue { key, message, .. } => {
            format!(
                "invalid value for `{}`: {message}, found `{shown}`",
                confd::shown::quoted_input(key)
            )
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
        confd::secret::REDACTED.to_owned()
    } else {
        confd::shown::quoted_input(raw)
    }
}

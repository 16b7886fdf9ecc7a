//! `nexus config set` and `nexus config edit`: the only commands that change a
//! user's file. Both validate the whole result first and replace atomically;
//! on any error the file is untouched.

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use confd::{BrickName, KeyPath};
use toml_edit::{DocumentMut, Item};

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

/// The mode of a new file: 0600 for bricks holding secrets, else 0644; an
/// existing file keeps its own.
fn mode_for(path: &Path, brick: &BrickName) -> u32 {
    match std::fs::metadata(path) {
        Ok(m) => m.permissions().mode() & 0o7777,
        Err(_) if confd::holds_secrets(brick.as_str()) => confd::SECRET_FILE_MODE,
        Err(_) => confd::FILE_MODE,
    }
}

/// Validates `text` as the new content of `path`. Only the files are judged:
/// the environment and `--set` of this invocation are left out, so a stray
/// variable cannot block (or excuse) an edit.
fn validate(
    global: &Global,
    brick: &BrickName,
    path: &Path,
    text: &str,
) -> Result<(), confd::Error> {
    let mut loader = confd::Loader::new()
        .env(std::iter::empty::<(String, String)>())
        .strict(global.strict)
        .state_dir(global.loader().resolved_state_dir()?.root())
        .with_candidate(path, text);
    if let Some(profile) = &global.profile {
        loader = loader.profile(profile);
    }
    loader.load(brick.as_str()).map(|_| ())
}

/// Writes `text` to `path` atomically, creating `NAME.d` if needed, under
/// the state dir's write lock so a concurrent `init` cannot remove the
/// temporary file mid-write.
fn write(global: &Global, path: &Path, text: &str, mode: u32) -> Result<(), Failure> {
    let state = global.loader().resolved_state_dir()?;
    let _lock = confd::lock_state(state.root()).map_err(|e| Failure::Config(e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::Config(format!("cannot create `{}`: {e}", dir.display())))?;
    }
    confd::replace_file(path, text.as_bytes(), mode).map_err(|e| Failure::Config(e.to_string()))
}

pub(crate) fn set(
    global: &Global,
    target: &BrickKey,
    raw: &str,
    drop_in: Option<&str>,
) -> Result<(), Failure> {
    let brick = &target.brick;
    let path = target_file(global, brick, drop_in)?;
    let existing = confd::read_config_file(&path)?;
    // A new main file starts as the shipped default, so its documentation
    // comes along and the key's commented line can be replaced in place.
    let original = match (&existing, drop_in) {
        (Some(text), _) => text.clone(),
        (None, None) => {
            confd::shipped_file(brick.as_str()).map_or_else(String::new, |f| f.contents.to_owned())
        }
        (None, Some(_)) => String::new(),
    };
    let default = confd::bricks::lookup(brick.as_str())
        .map(|schema| schema.defaults(global.loader().resolved_profile().unwrap_or_default()));
    let expected = default.as_ref().and_then(|d| value_at(d, &target.key));
    let value = confd::parse_typed(raw, expected).map_err(|message| {
        Failure::Usage(format!(
            "invalid value for `{target}`: {message}, found `{}`",
            raw.escape_debug()
        ))
    })?;
    let updated = set_in_document(&original, &target.key, &value).map_err(|message| {
        Failure::Config(format!(
            "cannot set `{target}` in `{}`: {message}",
            path.display()
        ))
    })?;
    validate(global, brick, &path, &updated)?;
    if existing.as_deref() == Some(updated.as_str()) {
        println!("unchanged {target} in {}", path.display());
        return Ok(());
    }
    write(global, &path, &updated, mode_for(&path, brick))?;
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

fn value_at<'a>(table: &'a toml::Table, key: &KeyPath) -> Option<&'a toml::Value> {
    let (last, parents) = key.segments().split_last()?;
    let mut current = table;
    for segment in parents {
        current = current.get(segment)?.as_table()?;
    }
    current.get(last)
}

/// `text` with `key` set to `value`, everything else kept byte for byte.
///
/// A set key keeps its place and trailing comment. An unset top-level key
/// whose shipped documentation line (`#key = default`) is present replaces
/// that line, so the file does not say one thing commented and another below.
fn set_in_document(text: &str, key: &KeyPath, value: &toml::Value) -> Result<String, String> {
    let mut document: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.message().to_owned())?;
    let new_value: toml_edit::Value = value
        .to_string()
        .parse()
        .map_err(|e: toml_edit::TomlError| e.message().to_owned())?;
    let (last, parents) = key.segments().split_last().ok_or("empty key")?;

    let already_set = {
        let mut table: Option<&dyn toml_edit::TableLike> = Some(document.as_table());
        for segment in parents {
            table = table
                .and_then(|t| t.get(segment))
                .and_then(Item::as_table_like);
        }
        table.is_some_and(|t| t.contains_key(last))
    };
    if !already_set && parents.is_empty() {
        let commented = format!("#{last} = ");
        let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
        if let Some(index) = lines.iter().position(|l| l.starts_with(&commented)) {
            let replacement = format!("{last} = {new_value}\n");
            lines[index] = &replacement;
            return Ok(lines.concat());
        }
    }

    let mut table: &mut dyn toml_edit::TableLike = document.as_table_mut();
    for segment in parents {
        let entry = table.entry(segment).or_insert_with(|| {
            let mut t = toml_edit::Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        table = entry
            .as_table_like_mut()
            .ok_or_else(|| format!("`{segment}` is a value, not a table"))?;
    }
    match table.get_mut(last) {
        Some(Item::Value(old)) => {
            let decor = old.decor().clone();
            *old = new_value;
            *old.decor_mut() = decor;
        }
        Some(Item::Table(_) | Item::ArrayOfTables(_)) => {
            return Err(format!("`{key}` is a table; set its keys one by one"));
        }
        _ => {
            table.insert(last, Item::Value(new_value));
        }
    }
    Ok(document.to_string())
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

pub(crate) fn edit(global: &Global, brick: &BrickName) -> Result<(), Failure> {
    let path = target_file(global, brick, None)?;
    let existing = confd::read_config_file(&path)?;
    let original = existing.clone().unwrap_or_else(|| {
        confd::shipped_file(brick.as_str()).map_or_else(String::new, |f| f.contents.to_owned())
    });
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
    loop {
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{} \"$1\"", editor()))
            .arg("nexus-editor")
            .arg(scratch.path())
            .status()
            .map_err(|e| Failure::Config(format!("cannot run the editor `{}`: {e}", editor())))?;
        if !status.success() {
            return Err(Failure::Config(format!(
                "the editor `{}` failed ({status}); `{}` is unchanged",
                editor(),
                path.display()
            )));
        }
        let edited = std::fs::read_to_string(scratch.path())
            .map_err(|e| Failure::Config(format!("cannot read the edited copy: {e}")))?;
        if edited == original {
            println!("no changes; {} is unchanged", path.display());
            return Ok(());
        }
        match validate(global, brick, &path, &edited) {
            Ok(()) => {
                write(global, &path, &edited, mode_for(&path, brick))?;
                println!("updated {}", path.display());
                return Ok(());
            }
            Err(error) => {
                let message = error.to_string().replace(
                    &scratch.path().display().to_string(),
                    &path.display().to_string(),
                );
                crate::output::error(&message);
                if !interactive || !ask("edit again? [Y/n] ") {
                    return Err(Failure::Config(format!(
                        "`{}` is unchanged",
                        path.display()
                    )));
                }
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str, key: &str, value: toml::Value) -> String {
        set_in_document(text, &key.parse().unwrap(), &value).unwrap()
    }

    #[test]
    fn replaces_the_shipped_commented_line() {
        let text = "# Sync at start-up.\n#auto_sync = false\n# after\n";
        assert_eq!(
            set(text, "auto_sync", true.into()),
            "# Sync at start-up.\nauto_sync = true\n# after\n"
        );
    }

    #[test]
    fn keeps_comments_order_and_trailing_comments() {
        let text = "# head\nb = 1 # keep me\na = 2\n";
        assert_eq!(set(text, "b", 5.into()), "# head\nb = 5 # keep me\na = 2\n");
    }

    #[test]
    fn appends_new_keys_and_nested_tables() {
        assert_eq!(set("a = 1\n", "c", "x".into()), "a = 1\nc = \"x\"\n");
        let nested = set("a = 1\n", "server.port", 80.into());
        let parsed: toml::Table = nested.parse().unwrap();
        assert_eq!(parsed["server"]["port"].as_integer(), Some(80));
        assert!(nested.starts_with("a = 1\n"));
    }

    #[test]
    fn an_uncommented_key_wins_over_its_commented_twin() {
        let text = "#a = 1\na = 2\n";
        assert_eq!(set(text, "a", 3.into()), "#a = 1\na = 3\n");
    }
}

//! `nexus config set` and `nexus config edit`: the only commands that change a
//! user's file. Both validate the whole result first and replace atomically;
//! on any error the file is untouched.

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
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

/// The locks held while one file is read, changed and replaced.
struct WriteLock {
    _state: confd::StateLock,
    _dir: std::fs::File,
}

/// Takes the state dir's write lock, then a lock on the directory holding
/// `file` (the resolved one). Every read-modify-write of a user's file
/// happens under both, from the read to the rename, so two commands writing
/// one file take turns and neither loses the other's change: the state dir's
/// lock also keeps seeding's clean-up away from a writer's temporary file,
/// and the directory's orders writers that reach the same file through
/// different state dirs (a symlinked `conf.d` or file). A lock held by
/// another command is waited for, and the wait is announced.
fn lock(global: &Global, file: &Path) -> Result<WriteLock, Failure> {
    let state = global.loader().resolved_state_dir()?;
    let waiting = |what: &Path| {
        eprintln!(
            "waiting for another command writing `{}` to finish…",
            what.display()
        );
    };
    let lock_error = |e: confd::SeedError| match e {
        confd::SeedError::Io { path, source } => Failure::Config(format!(
            "cannot lock `{}` for writing: {source}",
            path.display()
        )),
        other => Failure::Config(other.to_string()),
    };
    let state_lock = match confd::try_lock_state(state.root()).map_err(lock_error)? {
        Some(lock) => lock,
        None => {
            waiting(state.root());
            confd::lock_state(state.root()).map_err(lock_error)?
        }
    };
    let dir = file
        .ancestors()
        .skip(1)
        .find(|d| d.is_dir())
        .unwrap_or(Path::new("/"));
    let dir_error =
        |e: std::io::Error| Failure::Config(format!("cannot lock `{}`: {e}", dir.display()));
    let handle = std::fs::File::open(dir).map_err(dir_error)?;
    match handle.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            waiting(dir);
            handle.lock().map_err(dir_error)?;
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(dir_error(e)),
    }
    Ok(WriteLock {
        _state: state_lock,
        _dir: handle,
    })
}

/// `path` with every symlink resolved, so that the file read is the file
/// replaced even when a link on the way is switched meanwhile (a release
/// switch of `etc`). A file not created yet resolves through its nearest
/// existing directory.
fn resolve(path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    for ancestor in path.ancestors().skip(1) {
        if let (Ok(real), Ok(rest)) = (std::fs::canonicalize(ancestor), path.strip_prefix(ancestor))
        {
            return real.join(rest);
        }
    }
    path.to_owned()
}

/// Writes `text` to `file` atomically (the caller holds the lock), creating
/// `NAME.d` if needed, and warns of what the write changes besides the text:
/// a tightened mode, hard links left with the old content, and a path that
/// no longer leads to `file`.
fn write(
    named: &Path,
    file: &Path,
    text: &str,
    (mode, note): (u32, Option<String>),
) -> Result<(), Failure> {
    if let Some(dir) = file.parent() {
        confd::create_dirs(dir).map_err(|e| Failure::Config(e.to_string()))?;
    }
    let links = std::fs::metadata(file).map_or(1, |m| m.nlink());
    confd::replace_file(file, text.as_bytes(), mode).map_err(|e| Failure::Config(e.to_string()))?;
    if let Some(note) = note {
        crate::output::warning(&note);
    }
    if links > 1 {
        crate::output::warning(&format!(
            "`{}` had {links} hard links: the new file replaces this name only, the other names keep the old content",
            file.display()
        ));
    }
    let now = resolve(named);
    if now != file {
        crate::output::warning(&format!(
            "`{}` now leads to `{}`: the change was written to `{}`, where it led when the command started",
            named.display(),
            now.display(),
            file.display()
        ));
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

/// The value of `config set --stdin`: standard input, without one trailing
/// newline, at most the size of a configuration file.
pub(crate) fn value_from_stdin() -> Result<String, Failure> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(confd::MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::Config(format!("cannot read the value from standard input: {e}")))?;
    if bytes.len() as u64 > confd::MAX_FILE_SIZE {
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

    let file = resolve(&path);
    let _lock = lock(global, &file)?;
    let existing = confd::read_config_file(&file)?;
    let original = existing
        .clone()
        .unwrap_or_else(|| starting_text(brick, drop_in));
    let file_problem = |error: confd::Error| {
        Failure::Config(format!(
            "{error}\nthe `{brick}` configuration does not load as it is, so nothing was set: fix the file named above first (`nexus config validate {brick}`)"
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
        report_set(global, target, &path, false);
        return Ok(());
    }
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

/// Says what `set` did, in the output format asked for.
fn report_set(global: &Global, target: &BrickKey, path: &Path, changed: bool) {
    match global.format {
        crate::Format::Text if changed => println!("set {target} in {}", path.display()),
        crate::Format::Text => println!("unchanged {target} in {}", path.display()),
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
        .and_then(|name| confd::suggest(&name.to_lowercase(), &known))
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
/// meanwhile. Whatever stops the edit once the editor has run, the edited
/// copy is kept and named.
pub(crate) fn edit(global: &Global, brick: &BrickName) -> Result<(), Failure> {
    let path = target_file(global, brick, None)?;
    // The file and its content when the copy was made: a write that finds
    // anything else there would lose someone's change.
    let mut file = resolve(&path);
    let mut on_disk = confd::read_config_file(&file)?;
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
    loop {
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{} \"$1\"", editor()))
            .arg("nexus-editor")
            .arg(scratch.path())
            .status()
            .map_err(|e| Failure::Config(format!("cannot run the editor `{}`: {e}", editor())))?;
        let outcome = if status.success() {
            replace_with_copy(
                global,
                brick,
                &path,
                &file,
                on_disk.as_deref(),
                &original,
                scratch.path(),
                interactive,
            )
        } else {
            Err(Failure::Config(format!(
                "the editor `{}` failed ({status})",
                editor()
            )))
        };
        match outcome {
            Ok(Edited::Done) => return Ok(()),
            Ok(Edited::Again) => {}
            Ok(Edited::Changed { now_file, now }) => {
                // Edit again from what is there now; the user's own version
                // stays beside it, so they can carry their change over.
                let edited = std::fs::read_to_string(scratch.path()).unwrap_or_default();
                let yours = keep_copy(brick, &edited)
                    .map_err(|e| Failure::Config(format!("cannot keep your version: {e}")))?;
                eprintln!("note: your version is kept in `{}`", yours.display());
                (file, on_disk) = (now_file, now);
                original = on_disk
                    .clone()
                    .unwrap_or_else(|| starting_text(brick, None));
                std::fs::write(scratch.path(), &original).map_err(|e| {
                    Failure::Config(format!("cannot write `{}`: {e}", scratch.path().display()))
                })?;
            }
            Err(failure) => {
                let why = match failure {
                    Failure::Config(why) | Failure::Usage(why) => why,
                    Failure::Silent => "the edit was not applied".to_owned(),
                };
                let kept = match scratch.keep() {
                    Ok((_, kept)) => format!("; your version is kept in `{}`", kept.display()),
                    Err(_) => String::new(),
                };
                return Err(Failure::Config(format!(
                    "{why}: `{}` is unchanged{kept}",
                    path.display()
                )));
            }
        }
    }
}

/// What became of one round of the editor.
enum Edited {
    /// Written, or nothing to write.
    Done,
    /// Invalid, and the user wants to edit it again.
    Again,
    /// The file changed meanwhile, and the user wants to edit the new version.
    Changed {
        now_file: PathBuf,
        now: Option<String>,
    },
}

/// Replaces the file with the edited copy if the copy is valid and the file
/// is still what the copy was made from (`file` holding `on_disk`).
#[allow(clippy::too_many_arguments)] // one round's whole state; a struct would only rename it
fn replace_with_copy(
    global: &Global,
    brick: &BrickName,
    path: &Path,
    file: &Path,
    on_disk: Option<&str>,
    original: &str,
    copy: &Path,
    interactive: bool,
) -> Result<Edited, Failure> {
    let edited = std::fs::read_to_string(copy)
        .map_err(|e| Failure::Config(format!("cannot read the edited copy: {e}")))?;
    if edited == original {
        println!("no changes; {} is unchanged", path.display());
        return Ok(Edited::Done);
    }
    match validate(global, brick, path, &edited) {
        Ok(warnings) => {
            for warning in warnings {
                crate::output::warning(&warning.to_string());
            }
        }
        Err(error) => {
            let message = error
                .to_string()
                .replace(&copy.display().to_string(), &path.display().to_string());
            crate::output::error(&message);
            if interactive && ask("edit again? [Y/n] ") {
                return Ok(Edited::Again);
            }
            return Err(Failure::Config("the edited copy is not valid".to_owned()));
        }
    }
    let lock = lock(global, file)?;
    let now_file = resolve(path);
    let now = confd::read_config_file(&now_file)?;
    if now_file == file && now.as_deref() == on_disk {
        let mode = mode_for(file, brick, writes_new_secret(brick, original, &edited));
        write(path, file, &edited, mode)?;
        println!("updated {}", path.display());
        return Ok(Edited::Done);
    }
    drop(lock);
    crate::output::error(&format!(
        "`{}` changed while you were editing it; this is what changed:",
        path.display()
    ));
    print_change(
        brick,
        path,
        on_disk.unwrap_or_default(),
        now.as_deref().unwrap_or_default(),
    );
    if now_file != file {
        eprintln!(
            "note: `{}` now leads to `{}`, not `{}`",
            path.display(),
            now_file.display(),
            file.display()
        );
    }
    if interactive && ask("edit the new version (yours is kept)? [Y/n] ") {
        return Ok(Edited::Changed { now_file, now });
    }
    Err(Failure::Config(
        "it changed while you were editing it, and your version would have undone that".to_owned(),
    ))
}

/// Keeps `text` in a new temporary file of its own and returns its path.
fn keep_copy(brick: &BrickName, text: &str) -> std::io::Result<PathBuf> {
    let (_, kept) = tempfile::Builder::new()
        .prefix(&format!("nexus-{brick}-yours-"))
        .suffix(".toml")
        .tempfile()?
        .keep()
        .map_err(|e| e.error)?;
    std::fs::write(&kept, text)?;
    Ok(kept)
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

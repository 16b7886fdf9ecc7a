//! `nexus config set` and `nexus config edit`: the only commands that change a
//! user's file. Both validate the whole result first and replace atomically;
//! on any error the file is untouched. What they share is here: which file,
//! with which mode, validated how, written under which locks.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use confd::BrickName;

pub(crate) mod document;
pub(crate) mod edit;
pub(crate) mod set;

pub(crate) use edit::edit;
pub(crate) use set::{set, value_from_stdin};

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
        || !confd::file::is_drop_in_name(file.as_bytes())
    {
        return Err(Failure::Usage(format!(
            "invalid drop-in name `{}`: a drop-in is a file name such as `50-local` (read as `50-local.toml`), not hidden, without `/` or control characters, at most 255 bytes",
            confd::shown::quoted_input(name)
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
        Err(_) if confd::shipped::holds_secrets(brick.as_str()) => {
            return (confd::seed::SECRET_FILE_MODE, None);
        }
        Err(_) => return (confd::seed::FILE_MODE, None),
    };
    // With a POSIX ACL the group bits are the ACL's mask: clearing them
    // would lock out the users the ACL names on purpose, so only `other`
    // is taken away and the ACL is left to its owner.
    let has_acl = rustix::fs::getxattr_query(path, "system.posix_acl_access").is_ok();
    let loose = if has_acl { 0o007 } else { 0o077 };
    if writes_secret && mode & loose != 0 {
        let tightened = mode & !loose;
        let who = if has_acl { "others" } else { "group or others" };
        let acl = if has_acl {
            " (its ACL is kept: `getfacl` shows who else may read it)"
        } else {
            ""
        };
        let note = format!(
            "`{}` was readable by {who} (mode {mode:04o}) and now holds a secret: its mode is now {tightened:04o}{acl}",
            path.display()
        );
        return (tightened, Some(note));
    }
    (mode, None)
}

/// Whether `new` gives a key that is secret in `brick` (a declared secret,
/// or a key a secret brick does not know) a non-empty value `old` lacked.
fn writes_new_secret(brick: &BrickName, old: &str, new: &str) -> bool {
    let Some(schema) = crate::config::schema::lookup(brick.as_str()) else {
        return false;
    };
    if schema.secret_keys().is_empty() {
        return false;
    }
    let parse = |text: &str| text.parse::<toml::Table>().unwrap_or_default();
    let (old, new) = (parse(old), parse(new));
    confd::value::leaves(&new).into_iter().any(|(key, value)| {
        value.as_str() != Some("")
            && schema.is_secret(&key)
            && confd::layer::value_at(&old, &key) != Some(value)
    })
}

/// Why a candidate file was refused: the error, and its message with every
/// path named as the user knows it.
pub(super) struct Invalid {
    pub(super) error: confd::Error,
    pub(super) message: String,
}

/// Validates `text` as the new content of `path`, returning what it warns
/// of (unknown keys). Only the files are judged: the environment and `--set`
/// of this invocation are left out, so a stray variable cannot block (or
/// excuse) an edit.
///
/// The file is judged twice: merged with the other files, and on its own,
/// so that a value a drop-in overrides today is still of the right type and
/// allowed (it would be in force the day the drop-in goes). Rules across
/// keys are judged merged only: a file may rely on another for the rest.
fn validate(
    global: &Global,
    brick: &BrickName,
    path: &Path,
    text: &str,
) -> Result<Vec<confd::Warning>, Invalid> {
    let load = |state: &Path, candidate: &Path| {
        let mut loader = confd::Loader::new()
            .env(std::iter::empty::<(String, String)>())
            .strict(global.strict)
            .state_dir(state)
            .with_candidate(candidate, text);
        if let Some(profile) = global.profile {
            loader = loader.with_profile(profile);
        }
        // The fleet's layer is below the file, so rules across keys see it;
        // whether etcd answers is not the file's fault (see `fleet_cmd`).
        if let Some(fleet) = crate::fleet_cmd::lenient_fleet() {
            loader = loader.fleet(fleet);
        }
        loader.load(brick.as_str())
    };
    let as_is = |error: confd::Error| Invalid {
        message: error.to_string(),
        error,
    };
    let state = global.loader().resolved_state_dir().map_err(as_is)?;
    let warnings = load(state.root(), path).map_err(as_is)?.warnings().to_vec();
    let alone = tempfile::tempdir().map_err(|e| Invalid {
        message: format!("cannot create a temporary directory to check the file in: {e}"),
        error: confd::Error::Io {
            path: std::env::temp_dir(),
            error: e,
        },
    })?;
    let alone_path = confd::StateDir::at(alone.path()).main_file(brick);
    match load(alone.path(), &alone_path) {
        Err(error)
            if error
                .problems()
                .iter()
                .any(|p| !matches!(p, confd::Error::Validation { .. })) =>
        {
            let message = error.to_string().replace(
                &alone_path.display().to_string(),
                &path.display().to_string(),
            );
            Err(Invalid { error, message })
        }
        _ => Ok(warnings),
    }
}

/// The locks held while one file is read, changed and replaced.
struct WriteLock {
    _state: confd::seed::StateLock,
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
    let lock_error = |e: confd::seed::SeedError| match e {
        confd::seed::SeedError::Io { path, error } => Failure::Config(format!(
            "cannot lock `{}` for writing: {error}",
            path.display()
        )),
        other => Failure::Config(other.to_string()),
    };
    let state_lock = match confd::seed::try_lock_state(state.root()).map_err(lock_error)? {
        Some(lock) => lock,
        None => {
            super::say_waiting(state.root());
            confd::seed::lock_state(state.root()).map_err(lock_error)?
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
            super::say_waiting(dir);
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
        confd::seed::create_dirs(dir).map_err(|e| Failure::Config(e.to_string()))?;
    }
    let links = std::fs::metadata(file).map_or(1, |m| m.nlink());
    confd::atomic::replace_file(file, text.as_bytes(), mode)
        .map_err(|e| Failure::Config(e.to_string()))?;
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

/// Refuses, as root, a path to `file` that leaves the state dir through a
/// symlink someone else owns: that user could otherwise point root's write
/// at any file (the rule of the kernel's `protected_symlinks`, and of
/// systemd-tmpfiles' "unsafe path transition").
fn check_links(global: &Global, file: &Path) -> Result<(), Failure> {
    if !rustix::process::geteuid().is_root() {
        return Ok(());
    }
    let state = global.loader().resolved_state_dir()?;
    let Ok(real_root) = std::fs::canonicalize(state.root()) else {
        return Ok(());
    };
    for link in file.ancestors().filter(|a| a.starts_with(state.root())) {
        let Ok(meta) = std::fs::symlink_metadata(link) else {
            continue;
        };
        if !meta.file_type().is_symlink() || meta.uid() == 0 {
            continue;
        }
        let leads_out =
            std::fs::canonicalize(link).map_or(true, |target| !target.starts_with(&real_root));
        if leads_out {
            return Err(Failure::Config(format!(
                "`{}` is a symlink that uid {} owns, leading out of the state dir: as root, nexus does not write through it; run the command as that user, or replace the link",
                link.display(),
                meta.uid()
            )));
        }
    }
    Ok(())
}

/// Checks that `brick` is not a likely typo before a write creates its
/// file: a brick that is not registered and has no file yet, with a name
/// close to a registered one (`databse`), is warned about (refused under
/// `--strict`), since the value would go where nothing reads it.
fn check_brick_name(global: &Global, brick: &BrickName, file: &Path) -> Result<(), Failure> {
    if crate::config::schema::lookup(brick.as_str()).is_some() || file.exists() {
        return Ok(());
    }
    let Some(suggestion) = crate::config::schema::likely_meant(brick.as_str()) else {
        return Ok(());
    };
    let message = format!("`{brick}` is not a registered brick (did you mean `{suggestion}`?)");
    if global.strict {
        return Err(Failure::Usage(message));
    }
    crate::output::warning(&format!("{message}; writing it anyway"));
    Ok(())
}

/// The text a brick's file starts from when it does not exist: the shipped
/// default for a main file, so its documentation comes along and the key's
/// commented line can be replaced in place; nothing for a drop-in.
fn starting_text(brick: &BrickName, drop_in: Option<&str>) -> String {
    match drop_in {
        None => confd::shipped::shipped_file(brick.as_str())
            .map_or_else(String::new, |f| f.contents.to_owned()),
        Some(_) => String::new(),
    }
}

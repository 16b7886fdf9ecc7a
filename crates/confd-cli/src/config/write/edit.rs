//! `nexus config edit BRICK`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use confd::BrickName;

use super::{
    check_brick_name, check_links, lock, mode_for, resolve, starting_text, target_file, validate,
    write, writes_new_secret,
};
use crate::output::shown_path;
use crate::{Failure, Global};

/// The editor to run: `$VISUAL`, else `$EDITOR`, else `vi`. A variable that
/// is not UTF-8 is an error naming it, not a silent fall-back to `vi`.
#[allow(clippy::disallowed_methods)] // the editor is the CLI's business, not configuration
pub(crate) fn editor() -> Result<String, Failure> {
    for var in ["VISUAL", "EDITOR"] {
        match std::env::var(var) {
            Ok(editor) if !editor.trim().is_empty() => return Ok(editor),
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(Failure::Config(format!(
                    "environment variable `{var}` is not valid UTF-8: set it to the editor's command"
                )));
            }
            _ => {}
        }
    }
    Ok("vi".to_owned())
}

/// Runs `editor` on `path` and waits for it. The editor is a shell command
/// (`code --wait`, `emacsclient -t`), as git runs `core.editor`; the path is
/// passed as `$1`, never pasted into the command.
pub(crate) fn run_editor(editor: &str, path: &Path) -> Result<std::process::ExitStatus, Failure> {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("nexus-editor")
        .arg(path)
        .status()
        .map_err(|e| Failure::Config(format!("cannot run the editor `{editor}`: {e}")))
}

/// A copy of `text` for the editor to work on, in the temporary directory
/// (outside conf.d and etcd: a crash mid-edit leaves nothing where it is
/// read), named `PREFIX…toml` so the editor highlights TOML.
pub(crate) fn scratch_copy(prefix: &str, text: &str) -> Result<tempfile::NamedTempFile, Failure> {
    let scratch = tempfile::Builder::new()
        .prefix(prefix)
        .suffix(".toml")
        .tempfile()
        .map_err(|e| Failure::Config(format!("cannot create a temporary copy: {e}")))?;
    std::fs::write(scratch.path(), text).map_err(|e| {
        Failure::Config(format!("cannot write `{}`: {e}", scratch.path().display()))
    })?;
    Ok(scratch)
}

/// `nexus config edit`: the editor works on a copy outside conf.d; the copy
/// replaces the file only when it is valid and the file did not change
/// meanwhile. Whatever stops the edit once the editor has run, the edited
/// copy is kept and named.
pub(crate) fn edit(global: &Global, brick: &BrickName) -> Result<(), Failure> {
    let path = target_file(global, brick, None)?;
    check_brick_name(global, brick, &path)?;
    check_links(global, &path)?;
    // The file and its content when the copy was made: a write that finds
    // anything else there would lose someone's change.
    let mut file = resolve(&path);
    let mut on_disk = confd::file::read_config_file(&file)?;
    let mut original = on_disk
        .clone()
        .unwrap_or_else(|| starting_text(brick, None));
    let scratch = scratch_copy(&format!("nexus-{brick}-"), &original)?;
    let interactive = std::io::stdin().is_terminal();
    let editor = editor()?;
    loop {
        let status = run_editor(&editor, scratch.path())?;
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
                "the editor `{editor}` failed ({status})"
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
                    Failure::Silent | Failure::SilentUsage => "the edit was not applied".to_owned(),
                };
                // Only an edit is worth keeping: an untouched copy (the
                // editor failed to start) or a deleted one is not, and a
                // copy of a secret file left in $TMPDIR is a leak.
                let edited =
                    std::fs::read_to_string(scratch.path()).is_ok_and(|text| text != original);
                let kept = match edited.then(|| scratch.keep()) {
                    Some(Ok((_, kept))) => {
                        format!("; your version is kept in `{}`", kept.display())
                    }
                    _ => String::new(),
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
        println!("no changes; {} is unchanged", shown_path(path));
        return Ok(Edited::Done);
    }
    match validate(global, brick, path, &edited) {
        Ok(warnings) => {
            for warning in warnings {
                crate::output::warning(&warning.to_string());
            }
        }
        Err(invalid) => {
            let message = invalid
                .message
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
    let now = confd::file::read_config_file(&now_file)?;
    if now_file == file && now.as_deref() == on_disk {
        let mode = mode_for(file, brick, writes_new_secret(brick, original, &edited));
        write(path, file, &edited, mode)?;
        println!("updated {}", shown_path(path));
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
        crate::config::locate::redact_secrets(brick, path, before),
        crate::config::locate::redact_secrets(brick, path, after),
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
pub(crate) fn ask(question: &str) -> bool {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    !answer.trim_start().to_ascii_lowercase().starts_with('n')
}

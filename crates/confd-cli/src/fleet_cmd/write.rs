//! `nexus fleet set|push|edit`: every write validated against the brick's
//! schema first and committed with a compare-and-swap on the key's
//! `mod_revision`, so a concurrent change is never lost: `set` (one key)
//! re-reads and tries again; a whole text (`push`, `edit`) is refused with
//! both revisions named.

use std::io::IsTerminal;
use std::path::Path;

use confd::BrickName;
use confd::fleet::FleetText;
use confd_fleet::{Client, FleetConfig, Swap};

use super::{checked_node, connect, fleet_config, fleet_texts, key_of};
use crate::config::BrickKey;
use crate::config::write::document::set_in_document;
use crate::config::write::edit::{ask, editor, run_editor, scratch_copy};
use crate::config::write::set::{stdin_text, typed_value, value_error};
use crate::{Failure, Format, Global};

/// How often `set` re-reads a key that keeps changing under it.
const SET_ATTEMPTS: usize = 16;

/// One write: the fleet, the client, the key and the layers below it.
struct Target<'a> {
    global: &'a Global,
    config: FleetConfig,
    client: Client,
    brick: &'a BrickName,
    node: Option<&'a str>,
    key: String,
}

impl<'a> Target<'a> {
    fn new(
        global: &'a Global,
        brick: &'a BrickName,
        node: Option<&'a str>,
    ) -> Result<Self, Failure> {
        let node = checked_node(node)?;
        let config = fleet_config(global)?;
        let key = key_of(&config, brick, node)?;
        unregistered(global, brick)?;
        let client = connect(&config)?;
        Ok(Target {
            global,
            config,
            client,
            brick,
            node,
            key,
        })
    }

    /// The key's text and `mod_revision` now (0 and empty: no key).
    fn current(&self) -> Result<(i64, Option<String>), Failure> {
        let (_, entry) = self
            .client
            .get(&self.key)
            .map_err(|e| Failure::Config(e.to_string()))?;
        let Some(entry) = entry else {
            return Ok((0, None));
        };
        let text = String::from_utf8(entry.value).map_err(|_| {
            Failure::Config(format!(
                "etcd key `{}`@{} is not UTF-8 text: replace it whole with `nexus fleet push {}`",
                self.key, entry.mod_revision, self.brick
            ))
        })?;
        Ok((entry.mod_revision, Some(text)))
    }

    /// Validates `text` as the new value of the key, stacked on the layers
    /// below it (the fleet's, for a node's key), on the profile defaults
    /// and nothing of this host. `label` names the text in errors. Returns
    /// what it warns of.
    fn validate(&self, text: &str, label: &str) -> Result<Vec<String>, (confd::Error, String)> {
        let below: Vec<FleetText> = match self.node {
            Some(_) => {
                fleet_texts(&self.client, &self.config, self.brick, None, None).map_err(|f| {
                    let message = failure_text(f);
                    (
                        confd::Error::Fleet {
                            message: message.clone(),
                        },
                        message,
                    )
                })?
            }
            None => Vec::new(),
        };
        validate_text(self.global, self.brick, below, text, label)
    }

    /// Reports a write (or that nothing changed) in the output format.
    fn report(&self, what: &str, revision: Option<i64>) {
        match self.global.format {
            Format::Text => match revision {
                Some(revision) => println!("{what} in etcd {}@{revision}", self.key),
                None => println!(
                    "unchanged {} in etcd {}",
                    what.trim_start_matches("set "),
                    self.key
                ),
            },
            Format::Json => println!(
                "{:#}",
                serde_json::json!({
                    "brick": self.brick.as_str(),
                    "key": self.key,
                    "node": self.node,
                    "revision": revision,
                    "changed": revision.is_some(),
                })
            ),
        }
    }

    fn swap(&self, text: &str, expected: i64) -> Result<Swap, Failure> {
        self.client
            .put_if(&self.key, text.as_bytes(), expected)
            .map_err(|e| Failure::Config(e.to_string()))
    }
}

/// A brick this program does not know is most often a typo, and a fleet
/// key for it reaches every host: a warning with a suggestion (an error
/// under `--strict`). It is still written otherwise: a product's own bricks
/// may not be linked into this binary.
fn unregistered(global: &Global, brick: &BrickName) -> Result<(), Failure> {
    if confd::bricks::lookup(brick.as_str()).is_some() {
        return Ok(());
    }
    let hint = crate::config::schema::did_you_mean(brick.as_str());
    let message =
        format!("`{brick}` is not a registered brick{hint}: its text is checked as TOML only");
    if global.strict {
        return Err(Failure::Usage(message));
    }
    crate::output::warning(&message);
    Ok(())
}

fn failure_text(failure: Failure) -> String {
    match failure {
        Failure::Config(m) | Failure::Usage(m) => m,
        Failure::Silent | Failure::SilentUsage => "failed".to_owned(),
    }
}

/// Validates `text` as a brick's fleet text above `below`. The text is
/// loaded as the main file of an empty state dir (the same precedence
/// relative to the fleet layers below it), and its path in messages is
/// replaced by `label`.
fn validate_text(
    global: &Global,
    brick: &BrickName,
    below: Vec<FleetText>,
    text: &str,
    label: &str,
) -> Result<Vec<String>, (confd::Error, String)> {
    let fail = |error: confd::Error, message: String| (error, message);
    let empty = tempfile::tempdir().map_err(|e| {
        let message = format!("cannot create a temporary directory to check the text in: {e}");
        fail(
            confd::Error::Io {
                path: std::env::temp_dir(),
                error: e,
            },
            message,
        )
    })?;
    let candidate = confd::StateDir::at(empty.path()).main_file(brick);
    let mut loader = confd::Loader::new()
        .state_dir(empty.path())
        .env(std::iter::empty::<(String, String)>())
        .strict(global.strict)
        .cache(false)
        .fleet(std::sync::Arc::new(super::Fixed(below)))
        .with_candidate(&candidate, text);
    if let Some(profile) = global.profile {
        loader = loader.with_profile(profile);
    }
    match loader.load(brick.as_str()) {
        Ok(config) => Ok(config
            .warnings()
            .iter()
            .map(|w| {
                w.to_string()
                    .replace(&candidate.display().to_string(), label)
            })
            .collect()),
        Err(error) => {
            let message = error
                .to_string()
                .replace(&candidate.display().to_string(), label);
            Err(fail(error, message))
        }
    }
}

/// `nexus fleet set BRICK.key VALUE [--node NODE]`.
pub(crate) fn set(
    global: &Global,
    target: &BrickKey,
    raw: &str,
    node: Option<&str>,
) -> Result<(), Failure> {
    let brick = &target.brick;
    let (value, shown) = typed_value(global, target, raw)?;
    let write = Target::new(global, brick, node)?;
    let label = format!("etcd {}", write.key);
    for _ in 0..SET_ATTEMPTS {
        let (revision, existing) = write.current()?;
        let original = existing.clone().unwrap_or_default();
        if existing.is_some()
            && let Ok(table) = original.parse::<toml::Table>()
            && confd::layer::value_at(&table, &target.key) == Some(&value)
        {
            write.report(&format!("set {target}"), None);
            return Ok(());
        }
        let invalid_now = |(_, message): (confd::Error, String)| {
            Failure::Config(format!(
                "{message}\nthe fleet's `{brick}` does not load as it is, so nothing was set: \
                 fix it with `nexus fleet edit {brick}` first"
            ))
        };
        let updated = match set_in_document(&original, &target.key, &value) {
            Ok(updated) => updated,
            Err(message) => {
                write.validate(&original, &label).map_err(invalid_now)?;
                return Err(Failure::Usage(format!("cannot set `{target}`: {message}")));
            }
        };
        match write.validate(&updated, &label) {
            Ok(warnings) => warnings.iter().for_each(|w| crate::output::warning(w)),
            Err((error, _)) => {
                write.validate(&original, &label).map_err(invalid_now)?;
                return Err(Failure::Usage(value_error(target, &shown, &error)));
            }
        }
        match write.swap(&updated, revision)? {
            Swap::Written(revision) => {
                write.report(&format!("set {target}"), Some(revision));
                return Ok(());
            }
            // Someone changed the text since it was read: set the key again
            // in what is there now, which keeps their change.
            Swap::Conflict(_) => {}
        }
    }
    Err(Failure::Config(format!(
        "`{}` kept changing while `{target}` was set: gave up after {SET_ATTEMPTS} attempts; \
         nothing was written",
        write.key
    )))
}

/// `nexus fleet push BRICK [FILE] [--node NODE]`.
pub(crate) fn push(
    global: &Global,
    brick: &BrickName,
    file: Option<&Path>,
    node: Option<&str>,
) -> Result<(), Failure> {
    let (text, label) = match file {
        Some(path) => {
            let text = confd::file::read_config_file(path)?.ok_or_else(|| {
                Failure::Usage(format!(
                    "`{}` does not exist",
                    crate::output::shown_path(path)
                ))
            })?;
            (text, path.display().to_string())
        }
        None => (stdin_text("standard input")?, "<stdin>".to_owned()),
    };
    let write = Target::new(global, brick, node)?;
    let (revision, existing) = write.current()?;
    if existing.as_deref() == Some(text.as_str()) {
        write.report(&format!("pushed {brick}"), None);
        return Ok(());
    }
    match write.validate(&text, &label) {
        Ok(warnings) => warnings.iter().for_each(|w| crate::output::warning(w)),
        Err((_, message)) => {
            return Err(Failure::Config(format!(
                "{message}\nnothing was pushed: `{}` is unchanged",
                write.key
            )));
        }
    }
    commit_whole(&write, &text, revision, &format!("pushed {brick}"))
}

/// Writes a whole text if the key is still at `revision`; refuses naming
/// both revisions when it is not.
fn commit_whole(write: &Target<'_>, text: &str, revision: i64, what: &str) -> Result<(), Failure> {
    match write.swap(text, revision)? {
        Swap::Written(written) => {
            write.report(what, Some(written));
            Ok(())
        }
        Swap::Conflict(now) => Err(Failure::Config(format!(
            "`{}` changed meanwhile: it was {} when read and is {} now; \
             nothing was written (`nexus fleet show {}` shows the new text)",
            write.key,
            shown_revision(revision),
            shown_revision(now),
            write.brick
        ))),
    }
}

fn shown_revision(revision: i64) -> String {
    if revision == 0 {
        "absent".to_owned()
    } else {
        format!("revision {revision}")
    }
}

/// `nexus fleet edit BRICK [--node NODE]`: the editor works on a temporary
/// copy; an invalid text is offered again (on a terminal), and a key that
/// changed meanwhile is refused with the edited copy kept.
pub(crate) fn edit(global: &Global, brick: &BrickName, node: Option<&str>) -> Result<(), Failure> {
    let write = Target::new(global, brick, node)?;
    let (revision, existing) = write.current()?;
    let original = existing.unwrap_or_else(|| {
        format!(
            "# The fleet's `{brick}` configuration ({}): TOML, as in conf.d/{brick}.\n",
            write.key
        )
    });
    let scratch = scratch_copy(&format!("nexus-fleet-{brick}-"), &original)?;
    let editor = editor()?;
    let label = format!("etcd {}", write.key);
    let keep = |scratch: tempfile::NamedTempFile, why: String| -> Failure {
        match scratch.keep() {
            Ok((_, kept)) => Failure::Config(format!(
                "{why}; your version is kept in `{}`",
                kept.display()
            )),
            Err(_) => Failure::Config(why),
        }
    };
    loop {
        let status = run_editor(&editor, scratch.path())?;
        if !status.success() {
            return Err(Failure::Config(format!(
                "the editor `{editor}` failed ({status}): `{}` is unchanged",
                write.key
            )));
        }
        let edited = confd::file::read_config_file(scratch.path())?.unwrap_or_default();
        if edited == original {
            write.report(&format!("edited {brick}"), None);
            return Ok(());
        }
        match write.validate(&edited, &label) {
            Ok(warnings) => {
                warnings.iter().for_each(|w| crate::output::warning(w));
                return match commit_whole(&write, &edited, revision, &format!("edited {brick}")) {
                    Ok(()) => Ok(()),
                    Err(failure) => Err(keep(scratch, failure_text(failure))),
                };
            }
            Err((_, message)) => {
                crate::output::error(&message);
                if std::io::stdin().is_terminal() && ask("edit again? [Y/n] ") {
                    continue;
                }
                return Err(keep(
                    scratch,
                    format!("the edit is not valid: `{}` is unchanged", write.key),
                ));
            }
        }
    }
}

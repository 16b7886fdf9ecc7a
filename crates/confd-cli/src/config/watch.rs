//! `nexus config watch`: one line per change of bricks' effective
//! configuration, until interrupted.
//!
//! Stdout carries events only, one per line (JSON lines with `--format
//! json`), so it can be piped; the "watching …" banner goes to stderr, and
//! tells a script (or a test) that edits from then on will be seen.

use std::collections::{BTreeSet, HashMap};

use confd::{
    BrickConfig, BrickName, secret::redact, watch::Change, watch::Setting, watch::WatchError,
    watch::WatchEvent, watch::Watcher,
};
use serde_json::{Value as Json, json};

use crate::output::{self, json_origin, json_value};
use crate::{Failure, Format, Global};

pub(crate) fn watch(
    global: &Global,
    bricks: &[BrickName],
    show_secrets: bool,
) -> Result<(), Failure> {
    // This program installs no `tracing` subscriber: the watch's warnings
    // (a directory polled because it cannot be watched) come here instead.
    let set = Watcher::new(global.loader())
        .on_warning(|warning| output::warning(&warning.to_string()))
        .watch_set(bricks.iter().map(BrickName::as_str))
        .map_err(|e| match e {
            WatchError::Load(e) => Failure::from(e),
            other => Failure::Config(other.to_string()),
        })?;
    let mut warned = Warned::default();
    for brick in set.bricks() {
        if let Some(config) = set.current(brick.as_str()) {
            warned.say_new(brick, &config);
        }
    }
    // A brick invalid from the start has its `Invalid` event queued by now:
    // the banner says why, and the event is still printed first.
    let first: Vec<WatchEvent> = set.events().try_iter().collect();
    let status: Vec<String> = set
        .bricks()
        .map(|brick| match set.current(brick.as_str()) {
            Some(config) => {
                let hash = config.effective_hash();
                let shown = confd::watch::shown_hash(brick, &hash, show_secrets).map_or_else(
                    || confd::secret::REDACTED.to_owned(),
                    confd::EffectiveHash::short,
                );
                format!("{brick} ({shown})")
            }
            None => match first.iter().find_map(|e| match e {
                WatchEvent::Invalid(i) if i.brick == *brick => Some(&i.error),
                _ => None,
            }) {
                Some(error) => {
                    let reason = error.to_string();
                    let reason = reason.lines().next().unwrap_or_default().to_owned();
                    format!("{brick} (invalid: {reason})")
                }
                None => format!("{brick} (invalid)"),
            },
        })
        .collect();
    eprintln!("watching {} (Ctrl-C to stop)", status.join(", "));

    for event in first.into_iter().chain(set.events()) {
        if let WatchEvent::Reloaded(reload) = &event {
            warned.say_new(&reload.brick, &reload.config);
        }
        let line = match global.format {
            Format::Text => text(&event, show_secrets),
            Format::Json => json(&event, show_secrets).to_string(),
        };
        // Escaped as every other output is. A line that cannot be written
        // ends the watch: quietly for a closed pipe (`| head -1`), like other
        // tools; with `main`'s error for any other failure (a full disk).
        output::stdout(&format!("{line}\n"));
        if output::stdout_failed() {
            return Ok(());
        }
    }
    Err(Failure::Config("the watch stopped unexpectedly".to_owned()))
}

/// The warnings of each brick's configuration (an unknown key, a deprecated
/// variable) said so far: a reload says only the new ones, as `get` would
/// have said them, rather than every warning again on every save.
#[derive(Default)]
struct Warned(HashMap<BrickName, BTreeSet<String>>);

impl Warned {
    fn say_new(&mut self, brick: &BrickName, config: &BrickConfig) {
        let now: BTreeSet<String> = config.warnings().iter().map(ToString::to_string).collect();
        let before = self
            .0
            .insert(brick.clone(), now.clone())
            .unwrap_or_default();
        for warning in now.difference(&before) {
            output::warning(warning);
        }
    }
}

/// The library's line, which redacts secrets unless asked not to.
fn text(event: &WatchEvent, show_secrets: bool) -> String {
    if show_secrets {
        event.showing_secrets().to_string()
    } else {
        event.to_string()
    }
}

fn json_setting(change: &Change, setting: Option<&Setting>, show_secrets: bool) -> Json {
    let Some(setting) = setting else {
        return Json::Null;
    };
    let value = if change.secret && !show_secrets {
        redact(&setting.value)
    } else {
        setting.value.clone()
    };
    json!({ "value": json_value(&value), "origin": json_origin(&setting.origin) })
}

fn json(event: &WatchEvent, show_secrets: bool) -> Json {
    match event {
        WatchEvent::Reloaded(reload) => {
            let changes: Vec<Json> = reload
                .changes
                .iter()
                .map(|change| {
                    json!({
                        "key": change.key.to_string(),
                        "secret": change.secret,
                        "reload": change.reload,
                        "old": json_setting(change, change.old.as_ref(), show_secrets),
                        "new": json_setting(change, change.new.as_ref(), show_secrets),
                    })
                })
                .collect();
            json!({
                "event": "reloaded",
                "brick": reload.brick.as_str(),
                "hash": json_hash(&reload.brick, Some(&reload.hash), show_secrets),
                "previous_hash": json_hash(&reload.brick, reload.previous.as_ref(), show_secrets),
                "restart": reload.restart,
                "changes": changes,
            })
        }
        WatchEvent::Invalid(invalid) => json!({
            "event": "invalid",
            "brick": invalid.brick.as_str(),
            "serving_hash": json_hash(&invalid.brick, invalid.serving.as_ref(), show_secrets),
            "error": invalid.error.to_string(),
            "problems": invalid.error.problems().iter().map(ToString::to_string).collect::<Vec<_>>(),
        }),
        other => json!({ "event": "other", "brick": other.brick().as_str() }),
    }
}

/// A hash in a JSON line: `"<redacted>"` for a brick that holds secrets
/// unless they are shown (see `confd::watch::shown_hash`), null when there is none.
fn json_hash(brick: &BrickName, hash: Option<&confd::EffectiveHash>, show_secrets: bool) -> Json {
    match hash {
        None => Json::Null,
        Some(hash) => confd::watch::shown_hash(brick, hash, show_secrets)
            .map_or_else(|| json!(confd::secret::REDACTED), |h| json!(h.to_string())),
    }
}

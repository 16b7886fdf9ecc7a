//! `nexus config watch`: one line per change of bricks' effective
//! configuration, until interrupted.
//!
//! Stdout carries events only, one per line (JSON lines with `--format
//! json`), so it can be piped; the "watching …" banner goes to stderr, and
//! tells a script (or a test) that edits from then on will be seen.

use std::io::Write as _;

use confd::{BrickName, Change, Setting, WatchError, WatchEvent, Watcher, redact};
use serde_json::{Value as Json, json};

use crate::output::{json_origin, json_value};
use crate::{Failure, Format, Global};

pub(crate) fn watch(
    global: &Global,
    bricks: &[BrickName],
    show_secrets: bool,
) -> Result<(), Failure> {
    let set = Watcher::new(global.loader())
        .watch_set(bricks.iter().map(BrickName::as_str))
        .map_err(|e| match e {
            WatchError::Load(e) => Failure::from(e),
            other => Failure::Config(other.to_string()),
        })?;
    let status: Vec<String> = set
        .bricks()
        .map(|brick| match set.current(brick.as_str()) {
            Some(config) => format!("{brick} ({})", config.effective_hash().short()),
            None => format!("{brick} (invalid)"),
        })
        .collect();
    eprintln!("watching {} (Ctrl-C to stop)", status.join(", "));

    let mut stdout = std::io::stdout().lock();
    for event in set.events() {
        let line = match global.format {
            Format::Text => text(&event, show_secrets),
            Format::Json => json(&event, show_secrets).to_string(),
        };
        // A closed pipe (`| head -1`) ends the watch quietly, like other tools.
        // Escaped as every other output is (see `output::stdout`).
        if writeln!(stdout, "{}", confd::terminal_safe(&line))
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return Ok(());
        }
    }
    Err(Failure::Config("the watch stopped unexpectedly".to_owned()))
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
                        "old": json_setting(change, change.old.as_ref(), show_secrets),
                        "new": json_setting(change, change.new.as_ref(), show_secrets),
                    })
                })
                .collect();
            json!({
                "event": "reloaded",
                "brick": reload.brick.as_str(),
                "hash": reload.hash.to_string(),
                "previous_hash": reload.previous.map(|h| h.to_string()),
                "changes": changes,
            })
        }
        WatchEvent::Invalid(invalid) => json!({
            "event": "invalid",
            "brick": invalid.brick.as_str(),
            "serving_hash": invalid.serving.map(|h| h.to_string()),
            "error": invalid.error.to_string(),
            "problems": invalid.error.problems().iter().map(ToString::to_string).collect::<Vec<_>>(),
        }),
        other => json!({ "event": "other", "brick": other.brick().as_str() }),
    }
}

//! Live reload: every kind of edit is seen, invalid files keep the last good
//! configuration, equal configurations send nothing, bursts and concurrent
//! writers converge on what is on disk, and `plan` says what to restart.
//!
//! The machine may be slow and busy: every wait polls with a 10 s limit and
//! no test asserts how fast anything is.
//!
//! `edits`: edits of the files themselves, bursts, sets and readers;
//! `moves`: the watched directories moving (releases switched by symlink,
//! `etc` moved away and back).

mod edits;
mod moves;

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use confd::{BrickConfig, watch::WatchEvent, watch::Watcher};
use toml::Value;

use crate::support::State;

const PATIENCE: Duration = Duration::from_secs(10);

/// The next event, failing the test after 10 s.
fn next(events: &Receiver<WatchEvent>) -> WatchEvent {
    events
        .recv_timeout(PATIENCE)
        .unwrap_or_else(|e| panic!("no event within {PATIENCE:?}: {e}"))
}

fn next_reload(events: &Receiver<WatchEvent>) -> confd::watch::Reloaded {
    match next(events) {
        WatchEvent::Reloaded(r) => r,
        other => panic!("expected a reload, got {other:?}"),
    }
}

/// Polls until `done` holds, failing after 10 s.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn value(config: &BrickConfig, key: &str) -> Option<Value> {
    config.value(&key.parse().expect("key path")).cloned()
}

/// Replaces `conf.d/<relative>` atomically, as an editor saves: where a test
/// counts events, an in-place write could be read half-done (an empty file is
/// a real, if brief, change of configuration).
fn save(state: &State, relative: &str, text: &str) {
    let temp = state.write(&format!(".{}.tmp", relative.replace('/', "_")), text);
    std::fs::rename(&temp, state.conf_d().join(relative)).expect("rename");
}

fn watcher(state: &State) -> Watcher {
    Watcher::new(state.loader())
}

//! Live reload: every kind of edit is seen, invalid files keep the last good
//! configuration, equal configurations send nothing, bursts and concurrent
//! writers converge on what is on disk, and `plan` says what to restart.
//!
//! The machine may be slow and busy: every wait polls with a 10 s limit and
//! no test asserts how fast anything is.

use std::collections::HashMap;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use confd::{
    BrickConfig, EffectiveHash, Origin, watch::Action, watch::WatchEvent, watch::Watcher,
    watch::plan,
};
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

#[test]
fn an_edit_reloads_with_changed_keys_their_origins_and_the_new_hash()
-> Result<(), Box<dyn std::error::Error>> {
    let state = State::new();
    let watch = watcher(&state).watch("mounts")?;
    let before = watch.current().effective_hash();
    assert_eq!(
        value(&watch.current(), "auto_sync"),
        Some(Value::Boolean(false))
    );

    let path = state.write("mounts", "auto_sync = true\n");
    let reload = next_reload(watch.events());
    assert_eq!(reload.brick.as_str(), "mounts");
    assert_eq!(reload.previous, Some(before));
    assert_eq!(reload.hash, state.loader().load("mounts")?.effective_hash());
    assert_ne!(reload.hash, before);
    let [change] = &reload.changes[..] else {
        panic!("one change expected: {:?}", reload.changes)
    };
    assert_eq!(change.key.to_string(), "auto_sync");
    let old = change.old.as_ref().expect("an old value");
    let new = change.new.as_ref().expect("a new value");
    assert_eq!(old.value, Value::Boolean(false));
    assert!(matches!(old.origin, Origin::ProfileDefault(_)));
    assert_eq!(new.value, Value::Boolean(true));
    assert_eq!(new.origin.to_string(), format!("{}:1:13", path.display()));
    // `current()` serves the event's configuration.
    assert_eq!(
        value(&watch.current(), "auto_sync"),
        Some(Value::Boolean(true))
    );
    assert_eq!(watch.current().effective_hash(), reload.hash);
    Ok(())
}

#[test]
fn an_editor_save_by_temp_file_and_rename_is_seen() -> Result<(), Box<dyn std::error::Error>> {
    let state = State::new();
    state.write("app", "v = 1\n");
    let watch = watcher(&state).watch("app")?;
    // What vim, VS Code and `sed -i` do: a new inode replaces the old one.
    let temp = state.write(".app.tmp", "v = 2\n");
    std::fs::rename(&temp, state.conf_d().join("app"))?;
    let reload = next_reload(watch.events());
    assert_eq!(value(&reload.config, "v"), Some(Value::Integer(2)));
    // The watch survives the inode change: a second save is seen too.
    let temp = state.write(".app.tmp", "v = 3\n");
    std::fs::rename(&temp, state.conf_d().join("app"))?;
    let reload = next_reload(watch.events());
    assert_eq!(value(&reload.config, "v"), Some(Value::Integer(3)));
    Ok(())
}

#[test]
fn a_delete_and_a_re_create_are_seen() -> Result<(), Box<dyn std::error::Error>> {
    let state = State::new();
    let path = state.write("mounts", "auto_sync = true\n");
    let watch = watcher(&state).watch("mounts")?;
    std::fs::remove_file(&path)?;
    let reload = next_reload(watch.events());
    assert_eq!(
        value(&reload.config, "auto_sync"),
        Some(Value::Boolean(false))
    );
    assert!(matches!(
        reload.config.origin("auto_sync"),
        Some(Origin::ProfileDefault(_))
    ));
    state.write("mounts", "auto_sync = true\n");
    let reload = next_reload(watch.events());
    assert_eq!(
        value(&reload.config, "auto_sync"),
        Some(Value::Boolean(true))
    );
    Ok(())
}

#[test]
fn drop_ins_added_and_removed_are_seen_even_in_a_new_drop_in_dir()
-> Result<(), Box<dyn std::error::Error>> {
    let state = State::new();
    let watch = watcher(&state).watch("mounts")?;
    // `mounts.d` does not exist when the watch starts.
    let drop_in = state.write("mounts.d/50-local.toml", "auto_sync = true\n");
    let reload = next_reload(watch.events());
    assert_eq!(
        value(&reload.config, "auto_sync"),
        Some(Value::Boolean(true))
    );
    assert_eq!(
        reload.changes[0].new.as_ref().map(|s| s.origin.to_string()),
        Some(format!("{}:1:13", drop_in.display()))
    );
    // Now watched: a second drop-in in it is seen, and a removal.
    state.write("mounts.d/60-off.toml", "auto_sync = false\n");
    let reload = next_reload(watch.events());
    assert_eq!(
        value(&reload.config, "auto_sync"),
        Some(Value::Boolean(false))
    );
    std::fs::remove_file(state.conf_d().join("mounts.d/60-off.toml"))?;
    let reload = next_reload(watch.events());
    assert_eq!(
        value(&reload.config, "auto_sync"),
        Some(Value::Boolean(true))
    );
    // Removing the whole directory, then making it again, is seen too.
    std::fs::remove_dir_all(state.conf_d().join("mounts.d"))?;
    let reload = next_reload(watch.events());
    assert_eq!(
        value(&reload.config, "auto_sync"),
        Some(Value::Boolean(false))
    );
    state.write("mounts.d/70-again.toml", "auto_sync = true\n");
    let reload = next_reload(watch.events());
    assert_eq!(
        value(&reload.config, "auto_sync"),
        Some(Value::Boolean(true))
    );
    Ok(())
}

#[test]
fn a_symlink_swapped_for_another_is_seen() -> Result<(), Box<dyn std::error::Error>> {
    let state = State::new();
    let versions = state.root().join("versions");
    std::fs::create_dir(&versions)?;
    std::fs::write(versions.join("a.toml"), "v = \"a\"\n")?;
    std::fs::write(versions.join("b.toml"), "v = \"b\"\n")?;
    let link = state.conf_d().join("app");
    std::os::unix::fs::symlink(versions.join("a.toml"), &link)?;
    let watch = watcher(&state).watch("app")?;
    assert_eq!(
        value(&watch.current(), "v"),
        Some(Value::String("a".into()))
    );
    // `ln -sfn`: a new link under a temporary name renamed over the old one.
    let temp = state.conf_d().join(".app.new-link");
    std::os::unix::fs::symlink(versions.join("b.toml"), &temp)?;
    std::fs::rename(&temp, &link)?;
    let reload = next_reload(watch.events());
    assert_eq!(value(&reload.config, "v"), Some(Value::String("b".into())));
    Ok(())
}

#[test]
fn an_invalid_file_keeps_the_last_good_config_until_fixed() -> Result<(), Box<dyn std::error::Error>>
{
    let state = State::new();
    state.write("cache", "backend = \"null\"\n");
    let watch = watcher(&state).watch("cache")?;
    let good = watch.current().effective_hash();

    save(&state, "cache", "backend = = \"postgres\"\n");
    let path = state.conf_d().join("cache");
    let WatchEvent::Invalid(invalid) = next(watch.events()) else {
        panic!("expected an invalid event")
    };
    assert_eq!(invalid.brick.as_str(), "cache");
    assert_eq!(invalid.serving, Some(good));
    assert_eq!(invalid.error.path(), Some(path.as_path()));
    // Still serving the last good configuration.
    assert_eq!(
        value(&watch.current(), "backend"),
        Some(Value::String("null".into()))
    );
    assert_eq!(watch.current().effective_hash(), good);

    // A value that is the wrong type is invalid too, and reported anew.
    save(&state, "cache", "backend = 5\n");
    let WatchEvent::Invalid(invalid) = next(watch.events()) else {
        panic!("expected an invalid event")
    };
    assert_eq!(invalid.error.key(), Some("cache.backend"));
    assert_eq!(watch.current().effective_hash(), good);

    // Fixed, with the very same values as before: still news.
    save(&state, "cache", "backend = \"null\"  # fixed\n");
    let reload = next_reload(watch.events());
    assert_eq!(reload.hash, good);
    assert_eq!(reload.previous, Some(good));
    assert!(reload.changes.is_empty(), "{:?}", reload.changes);
    Ok(())
}

#[test]
fn comment_whitespace_and_layer_moves_send_no_event() -> Result<(), Box<dyn std::error::Error>> {
    let state = State::new();
    state.write("app", "a = 1\nb = 1\n");
    let watch = watcher(&state).watch("app")?;
    let hash = watch.current().effective_hash();

    save(&state, "app", "# a comment\n\na   =   1 # one\nb = 1\n");
    // `a` moves from the main file to a drop-in with the same value (the
    // drop-in first, so that no moment lacks `a`).
    std::fs::create_dir(state.conf_d().join("app.d"))?;
    save(&state, "app.d/10-a.toml", "a = 1\n");
    save(&state, "app", "b = 1\n");
    let drop_in = state.conf_d().join("app.d/10-a.toml");
    // Let the watcher load the moved value (polling the origin `current()`
    // serves, which is swapped silently), then make a real change.
    wait_until("the moved origin", || {
        watch.current().origin("a").map(ToString::to_string)
            == Some(format!("{}:1:5", drop_in.display()))
    });
    assert_eq!(watch.current().effective_hash(), hash);
    save(&state, "app", "b = 2\n");

    // The first event is the real change: the edits before it sent nothing.
    let reload = next_reload(watch.events());
    assert_eq!(reload.previous, Some(hash));
    let keys: Vec<String> = reload.changes.iter().map(|c| c.key.to_string()).collect();
    assert_eq!(keys, ["b"]);
    Ok(())
}

#[test]
fn a_burst_of_writes_costs_few_reloads_and_ends_on_the_disk_state()
-> Result<(), Box<dyn std::error::Error>> {
    let state = State::new();
    state.write("app", "n = 0\n");
    let debounce = Duration::from_millis(50);
    let watch = watcher(&state).debounce(debounce).watch("app")?;
    let loads_before = watch.loads();

    let started = Instant::now();
    for n in 1..=1000 {
        state.write("app", format!("n = {n}\n"));
    }
    let burst = started.elapsed();
    wait_until("the last write", || {
        value(&watch.current(), "n") == Some(Value::Integer(1000))
    });
    // Nothing after the last write may move it off the disk state.
    std::thread::sleep(debounce * 4);
    assert_eq!(value(&watch.current(), "n"), Some(Value::Integer(1000)));
    let mut last = None;
    while let Ok(event) = watch.events().try_recv() {
        last = Some(event);
    }
    let Some(WatchEvent::Reloaded(last)) = last else {
        panic!("the last event is a reload: {last:?}")
    };
    assert_eq!(last.hash, state.loader().load("app")?.effective_hash());

    // Reloads start one debounce apart at most, so their number follows the
    // length of the burst, not the number of writes (slack for a busy box).
    let loads = watch.loads() - loads_before;
    let bound = (burst.as_millis() / debounce.as_millis()) as u64 + 10;
    assert!(
        loads <= bound && loads < 1000,
        "{loads} loads for 1000 writes in {burst:?} (bound {bound})"
    );
    Ok(())
}

#[test]
fn concurrent_writers_converge_on_the_disk_state() -> Result<(), Box<dyn std::error::Error>> {
    let state = State::new();
    let watch = watcher(&state).watch("app")?;
    let conf_d = state.conf_d();
    std::fs::create_dir_all(conf_d.join("app.d"))?;
    std::thread::scope(|scope| {
        for writer in 0..4 {
            let conf_d = &conf_d;
            scope.spawn(move || {
                for n in 0..200 {
                    // Half write in place, half save by rename; all share `shared`.
                    let text = format!("w{writer} = {n}\nshared = {}\n", writer * 1000 + n);
                    let target = conf_d.join(format!("app.d/{writer}.toml"));
                    if n % 2 == 0 {
                        std::fs::write(&target, text).expect("write");
                    } else {
                        let temp = conf_d.join(format!("app.d/.{writer}.tmp"));
                        std::fs::write(&temp, text).expect("write temp");
                        std::fs::rename(&temp, &target).expect("rename");
                    }
                }
            });
        }
        scope.spawn(|| {
            for n in 0..200 {
                std::fs::write(conf_d.join("app"), format!("main = {n}\n")).expect("write");
            }
        });
    });
    let on_disk = state.loader().load("app")?;
    assert_eq!(value(&on_disk, "shared"), Some(Value::Integer(3199)));
    wait_until("convergence", || {
        watch.current().effective_hash() == on_disk.effective_hash()
    });
    assert_eq!(watch.current().table(), on_disk.table());
    Ok(())
}

#[test]
fn a_missing_conf_d_is_watched_for_until_it_appears() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let state_dir = dir.path().join("not-yet");
    let loader = confd::Loader::new()
        .state_dir(&state_dir)
        .env(std::iter::empty::<(String, String)>());
    let watch = Watcher::new(loader).watch("mounts")?;
    assert_eq!(
        value(&watch.current(), "auto_sync"),
        Some(Value::Boolean(false))
    );
    std::fs::create_dir_all(state_dir.join("etc/conf.d"))?;
    std::fs::write(state_dir.join("etc/conf.d/mounts"), "auto_sync = true\n")?;
    let reload = next_reload(watch.events());
    assert_eq!(
        value(&reload.config, "auto_sync"),
        Some(Value::Boolean(true))
    );
    // From then on conf.d itself is watched: a later edit is seen.
    std::fs::write(state_dir.join("etc/conf.d/mounts"), "auto_sync = false\n")?;
    let reload = next_reload(watch.events());
    assert_eq!(
        value(&reload.config, "auto_sync"),
        Some(Value::Boolean(false))
    );
    Ok(())
}

#[test]
fn an_idle_watch_does_not_reload_on_its_own_reads() -> Result<(), Box<dyn std::error::Error>> {
    // Loading opens the watched files, which inotify reports; reacting to
    // that would reload forever.
    let state = State::new();
    state.write("app", "v = 1\n");
    state.write("app.d/1.toml", "w = 1\n");
    let watch = watcher(&state).watch("app")?;
    state.write("app", "v = 2\n");
    // `fs::write` truncates, then writes, then closes: on a loaded machine
    // those can arrive in separate debounce windows. Wait for the final
    // content, then for stragglers to drain, before counting.
    while next_reload(watch.events()).config.get::<i64>("v")? != Some(2) {}
    std::thread::sleep(Duration::from_millis(300));
    while watch.events().try_recv().is_ok() {}
    let loads = watch.loads();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(watch.loads(), loads, "loads without any edit");
    Ok(())
}

#[test]
fn a_set_names_the_brick_and_plans_what_to_restart() -> Result<(), Box<dyn std::error::Error>> {
    let state = State::new();
    let set = watcher(&state).watch_set(["mounts", "cache", "mounts"])?;
    let names: Vec<&str> = set.bricks().map(|b| b.as_str()).collect();
    assert_eq!(names, ["mounts", "cache"]);
    let applied: HashMap<_, _> = set.hashes().into_iter().collect();
    let keep_all = plan(&set.hashes(), &applied);
    assert!(
        keep_all.iter().all(|(_, a)| *a == Action::Keep),
        "{keep_all:?}"
    );

    state.write("cache", "backend = \"null\"\n");
    let reload = next_reload(set.events());
    assert_eq!(reload.brick.as_str(), "cache");
    let steps: Vec<(String, Action)> = plan(&set.hashes(), &applied)
        .into_iter()
        .map(|(b, a)| (b.to_string(), a))
        .collect();
    assert_eq!(
        steps,
        [
            ("mounts".to_owned(), Action::Keep),
            ("cache".to_owned(), Action::Restart)
        ]
    );

    // A brick added to the set starts; one that left it stops.
    let mut stale = applied.clone();
    stale.remove(&confd::BrickName::new("mounts")?);
    stale.insert(
        confd::BrickName::new("search")?,
        EffectiveHash::from_bytes([0; 32]),
    );
    let actions: Vec<Action> = plan(&set.hashes(), &stale)
        .into_iter()
        .map(|(_, a)| a)
        .collect();
    assert_eq!(actions, [Action::Start, Action::Restart, Action::Stop]);
    Ok(())
}

#[test]
fn a_set_starts_with_invalid_bricks_a_single_watch_refuses()
-> Result<(), Box<dyn std::error::Error>> {
    let state = State::new();
    state.write("uploads", "max_concurrent = \"many\"\n");
    assert!(matches!(
        watcher(&state).watch("uploads"),
        Err(confd::watch::WatchError::Load(_))
    ));

    let set = watcher(&state).watch_set(["mounts", "uploads"])?;
    let WatchEvent::Invalid(invalid) = next(set.events()) else {
        panic!("expected the invalid brick first")
    };
    assert_eq!(invalid.brick.as_str(), "uploads");
    assert_eq!(invalid.serving, None);
    assert!(set.current("uploads").is_none());
    assert!(set.current("mounts").is_some());
    let hashed: Vec<String> = set.hashes().iter().map(|(b, _)| b.to_string()).collect();
    assert_eq!(hashed, ["mounts"]);

    state.write("uploads", "max_concurrent = 8\n");
    let reload = next_reload(set.events());
    assert_eq!(reload.brick.as_str(), "uploads");
    assert_eq!(reload.previous, None);
    assert!(
        reload
            .changes
            .iter()
            .any(|c| c.key.to_string() == "max_concurrent"
                && c.old.is_none()
                && c.new.as_ref().map(|s| &s.value) == Some(&Value::Integer(8))),
        "{:?}",
        reload.changes
    );
    assert!(set.reader("uploads").is_some());
    Ok(())
}

#[test]
fn secrets_are_redacted_in_changes_and_events() -> Result<(), Box<dyn std::error::Error>> {
    let state = State::new();
    let set = watcher(&state).watch_set(["database"])?;
    state.write("database", "url = \"postgresql://user:hunter2@db/nexus\"\n");
    let event = next(set.events());
    let WatchEvent::Reloaded(reload) = &event else {
        panic!("expected a reload")
    };
    assert!(reload.changes.iter().all(|c| c.secret));
    for text in [
        event.to_string(),
        format!("{event:?}"),
        format!("{:?}", reload.changes),
    ] {
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }
    Ok(())
}

#[test]
fn a_reader_follows_reloads_from_another_thread() -> Result<(), Box<dyn std::error::Error>> {
    let state = State::new();
    let watch = watcher(&state).watch("mounts")?;
    let reader = watch.reader();
    let worker = std::thread::spawn(move || {
        wait_until("the worker to see the edit", || {
            reader.current().get::<bool>("auto_sync").ok().flatten() == Some(true)
        });
    });
    state.write("mounts", "auto_sync = true\n");
    worker.join().expect("worker");
    Ok(())
}

// ---------------------------------------------------------------------------
// The watched directories move: `etc` moved away and re-created, symlinks
// along the way switched as releases are. Each test lays out its own state
// dir, since `State` makes `etc/conf.d` plain directories.

/// A temporary directory holding a state dir at `state` (created or not, a
/// symlink or not, as each test lays it out), and a loader on it.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Self {
        Tree {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self, relative: &str) -> std::path::PathBuf {
        self.dir.path().join(relative)
    }

    /// Writes `relative` under the temporary directory, making its parents.
    fn write(&self, relative: &str, text: &str) -> std::path::PathBuf {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
        path
    }

    /// Saves `relative` by temp file and rename, as an editor does.
    fn save(&self, relative: &str, text: &str) {
        let path = self.path(relative);
        let mut temp = path.clone().into_os_string();
        temp.push(".confd-test-tmp");
        std::fs::write(&temp, text).expect("write temp");
        std::fs::rename(&temp, &path).expect("rename");
    }

    /// `ln -sfn TARGET LINK.tmp && mv -T LINK.tmp LINK`: the atomic switch
    /// of a release.
    fn switch(&self, link: &str, target: &str) {
        let link = self.path(link);
        let mut temp = link.clone().into_os_string();
        temp.push(".switch-tmp");
        std::os::unix::fs::symlink(target, &temp)
            .unwrap_or_else(|e| panic!("symlink {}: {e}", link.display()));
        std::fs::rename(&temp, &link).expect("rename over the old link");
    }

    fn loader(&self) -> confd::Loader {
        confd::Loader::new()
            .state_dir(self.path("state"))
            .env(std::iter::empty::<(String, String)>())
    }
}

/// Reads events until a reload whose configuration satisfies `done`,
/// failing after 10 s; returns the events read, that one last.
fn reload_until(
    events: &Receiver<WatchEvent>,
    what: &str,
    done: impl Fn(&BrickConfig) -> bool,
) -> Vec<WatchEvent> {
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(event) => {
                let hit = matches!(&event, WatchEvent::Reloaded(r) if done(&r.config));
                seen.push(event);
                if hit {
                    return seen;
                }
            }
            Err(_) => panic!("no reload to {what} within {PATIENCE:?}; saw {seen:#?}"),
        }
    }
}

fn v_is(expected: i64) -> impl Fn(&BrickConfig) -> bool {
    move |config| value(config, "v") == Some(Value::Integer(expected))
}

/// No reload for a while once things settled: a switch must not leave the
/// watch reloading on its own (the edits before were all waited for).
fn assert_settles(loads: impl Fn() -> u64) {
    std::thread::sleep(Duration::from_millis(300));
    let settled = loads();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(loads(), settled, "loads without any edit");
}

/// `etc`, the release `rel`'s copy under `releases/`, with `app` at `v`.
fn release(tree: &Tree, rel: &str, v: i64) {
    tree.write(
        &format!("state/releases/{rel}/conf.d/app"),
        &format!("v = {v}\n"),
    );
}

#[test]
fn etc_moved_away_and_re_created_is_seen() -> Result<(), Box<dyn std::error::Error>> {
    let tree = Tree::new();
    tree.write("state/etc/conf.d/app", "v = 1\n");
    let watch = Watcher::new(tree.loader()).watch("app")?;

    std::fs::rename(tree.path("state/etc"), tree.path("state/etc.old"))?;
    tree.write("state/etc/conf.d/app", "v = 2\n");
    reload_until(watch.events(), "the new etc", v_is(2));

    // The new tree is the one watched now, the old one no longer.
    tree.save("state/etc.old/conf.d/app", "v = 99\n");
    tree.save("state/etc/conf.d/app", "v = 3\n");
    let seen = reload_until(watch.events(), "an edit in the new etc", v_is(3));
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, WatchEvent::Reloaded(r) if v_is(99)(&r.config))),
        "{seen:#?}"
    );
    assert_settles(|| watch.loads());
    Ok(())
}

#[test]
fn etc_moved_away_and_back_is_still_watched() -> Result<(), Box<dyn std::error::Error>> {
    // The kernel keeps the watches on a moved directory, but the watcher
    // forgets them when it sees the move: coming back must re-arm them.
    let tree = Tree::new();
    tree.write("state/etc/conf.d/app", "v = 1\n");
    let watch = Watcher::new(tree.loader()).watch("app")?;
    std::fs::rename(tree.path("state/etc"), tree.path("state/etc.away"))?;
    std::fs::rename(tree.path("state/etc.away"), tree.path("state/etc"))?;
    // Let the moves be handled before the edit that must be seen.
    std::thread::sleep(Duration::from_millis(200));
    tree.save("state/etc/conf.d/app", "v = 2\n");
    reload_until(watch.events(), "an edit after the round trip", v_is(2));
    Ok(())
}

#[test]
fn a_release_switch_of_a_symlinked_etc_is_seen() -> Result<(), Box<dyn std::error::Error>> {
    let tree = Tree::new();
    release(&tree, "r1", 1);
    release(&tree, "r2", 2);
    tree.switch("state/etc", "releases/r1");
    let watch = Watcher::new(tree.loader()).watch("app")?;
    assert_eq!(value(&watch.current(), "v"), Some(Value::Integer(1)));

    tree.switch("state/etc", "releases/r2");
    let seen = reload_until(watch.events(), "release r2", v_is(2));
    let WatchEvent::Reloaded(reload) = seen.last().expect("a reload") else {
        unreachable!()
    };
    // Origins name the path the loader reads, through the link.
    let origin = reload.config.origin("v").map(ToString::to_string);
    let main = tree.path("state/etc/conf.d/app");
    assert_eq!(origin, Some(format!("{}:1:5", main.display())));

    // Edits in the release in force are seen; in the old one, not.
    tree.save("state/releases/r1/conf.d/app", "v = 11\n");
    tree.save("state/releases/r2/conf.d/app", "v = 22\n");
    let seen = reload_until(watch.events(), "an edit in r2", v_is(22));
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, WatchEvent::Reloaded(r) if v_is(11)(&r.config))),
        "{seen:#?}"
    );
    // And back again.
    tree.switch("state/etc", "releases/r1");
    reload_until(watch.events(), "release r1 again", v_is(11));
    assert_settles(|| watch.loads());
    assert_eq!(value(&watch.current(), "v"), Some(Value::Integer(11)));
    Ok(())
}

#[test]
fn a_switch_of_a_symlink_above_etc_is_seen() -> Result<(), Box<dyn std::error::Error>> {
    // Capistrano's layout: `etc` points into `current`, and `current` is
    // the link switched to each new release.
    let tree = Tree::new();
    tree.write("app/releases/r1/etc/conf.d/app", "v = 1\n");
    tree.write("app/releases/r2/etc/conf.d/app", "v = 2\n");
    tree.switch("app/current", "releases/r1");
    std::fs::create_dir(tree.path("state"))?;
    std::os::unix::fs::symlink(tree.path("app/current/etc"), tree.path("state/etc"))?;
    let watch = Watcher::new(tree.loader()).watch("app")?;
    assert_eq!(value(&watch.current(), "v"), Some(Value::Integer(1)));

    tree.switch("app/current", "releases/r2");
    reload_until(watch.events(), "release r2", v_is(2));
    tree.save("app/releases/r2/etc/conf.d/app", "v = 3\n");
    reload_until(watch.events(), "an edit in r2", v_is(3));
    Ok(())
}

#[test]
fn a_swapped_conf_d_symlink_is_seen() -> Result<(), Box<dyn std::error::Error>> {
    let tree = Tree::new();
    tree.write("shared/a/app", "v = 1\n");
    tree.write("shared/b/app", "v = 2\n");
    std::fs::create_dir_all(tree.path("state/etc"))?;
    // An absolute target, this time.
    let a = tree.path("shared/a");
    tree.switch("state/etc/conf.d", a.to_str().expect("utf-8"));
    let watch = Watcher::new(tree.loader()).watch("app")?;

    let b = tree.path("shared/b");
    tree.switch("state/etc/conf.d", b.to_str().expect("utf-8"));
    reload_until(watch.events(), "conf.d b", v_is(2));
    tree.save("shared/b/app", "v = 3\n");
    reload_until(watch.events(), "an edit in b", v_is(3));
    assert_settles(|| watch.loads());
    Ok(())
}

#[test]
fn a_deleted_and_re_created_conf_d_is_seen() -> Result<(), Box<dyn std::error::Error>> {
    let tree = Tree::new();
    tree.write("state/etc/conf.d/app", "v = 1\n");
    tree.write("state/etc/conf.d/app.d/10-w.toml", "w = 1\n");
    let watch = Watcher::new(tree.loader()).watch("app")?;

    std::fs::remove_dir_all(tree.path("state/etc/conf.d"))?;
    reload_until(watch.events(), "the defaults", |c| value(c, "v").is_none());
    tree.write("state/etc/conf.d/app", "v = 2\n");
    reload_until(watch.events(), "the new conf.d", v_is(2));
    tree.write("state/etc/conf.d/app.d/10-w.toml", "w = 2\n");
    reload_until(watch.events(), "a drop-in in the new conf.d", |c| {
        value(c, "w") == Some(Value::Integer(2))
    });
    Ok(())
}

#[test]
fn a_swapped_drop_in_dir_symlink_is_seen() -> Result<(), Box<dyn std::error::Error>> {
    let tree = Tree::new();
    tree.write("state/etc/conf.d/app", "v = 1\n");
    tree.write("drop-ins/a/10-v.toml", "v = 2\n");
    tree.write("drop-ins/b/10-v.toml", "v = 3\n");
    let watch = Watcher::new(tree.loader()).watch("app")?;

    // A `NAME.d` that appears as a symlink, then is swapped.
    tree.switch("state/etc/conf.d/app.d", "../../../drop-ins/a");
    reload_until(watch.events(), "drop-ins a", v_is(2));
    tree.switch("state/etc/conf.d/app.d", "../../../drop-ins/b");
    reload_until(watch.events(), "drop-ins b", v_is(3));
    // The directory it points to now is watched, the old one no longer.
    tree.write("drop-ins/a/20-v.toml", "v = 98\n");
    tree.write("drop-ins/b/20-v.toml", "v = 4\n");
    let seen = reload_until(watch.events(), "a drop-in added to b", v_is(4));
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, WatchEvent::Reloaded(r) if v_is(98)(&r.config))),
        "{seen:#?}"
    );
    assert_settles(|| watch.loads());
    Ok(())
}

#[test]
fn a_switched_state_dir_symlink_is_seen() -> Result<(), Box<dyn std::error::Error>> {
    let tree = Tree::new();
    tree.write("s1/etc/conf.d/app", "v = 1\n");
    tree.write("s2/etc/conf.d/app", "v = 2\n");
    tree.switch("state", "s1");
    let watch = Watcher::new(tree.loader()).watch("app")?;
    tree.switch("state", "s2");
    reload_until(watch.events(), "state dir s2", v_is(2));
    tree.save("s2/etc/conf.d/app", "v = 3\n");
    reload_until(watch.events(), "an edit in s2", v_is(3));
    Ok(())
}

#[test]
fn a_state_dir_created_after_the_watch_starts_is_seen() -> Result<(), Box<dyn std::error::Error>> {
    let tree = Tree::new();
    let watch = Watcher::new(tree.loader()).watch("app")?;
    // Made elsewhere and switched in whole, as a deploy does.
    tree.write("s1/etc/conf.d/app", "v = 1\n");
    tree.switch("state", "s1");
    reload_until(watch.events(), "the new state dir", v_is(1));
    tree.save("s1/etc/conf.d/app", "v = 2\n");
    reload_until(watch.events(), "an edit in it", v_is(2));
    Ok(())
}

#[test]
fn a_switch_to_an_invalid_release_keeps_the_last_good_one() -> Result<(), Box<dyn std::error::Error>>
{
    let tree = Tree::new();
    release(&tree, "r1", 1);
    tree.write("state/releases/bad/conf.d/app", "v = = 1\n");
    release(&tree, "r2", 2);
    tree.switch("state/etc", "releases/r1");
    let watch = Watcher::new(tree.loader()).watch("app")?;
    let good = watch.current().effective_hash();

    tree.switch("state/etc", "releases/bad");
    let WatchEvent::Invalid(invalid) = next(watch.events()) else {
        panic!("expected an invalid event")
    };
    assert_eq!(invalid.serving, Some(good));
    assert_eq!(
        invalid.error.path(),
        Some(tree.path("state/etc/conf.d/app").as_path())
    );
    assert_eq!(watch.current().effective_hash(), good);

    tree.switch("state/etc", "releases/r2");
    let seen = reload_until(watch.events(), "release r2", v_is(2));
    assert_eq!(seen.len(), 1, "{seen:#?}");
    let WatchEvent::Reloaded(reload) = &seen[0] else {
        unreachable!()
    };
    assert_eq!(reload.previous, Some(good));
    Ok(())
}

#[test]
fn a_switch_while_an_edit_is_debounced_ends_on_the_new_release()
-> Result<(), Box<dyn std::error::Error>> {
    let tree = Tree::new();
    release(&tree, "r1", 1);
    release(&tree, "r2", 2);
    tree.switch("state/etc", "releases/r1");
    let watch = Watcher::new(tree.loader())
        .debounce(Duration::from_millis(200))
        .watch("app")?;
    // The edit's events are still settling when the switch happens.
    tree.save("state/releases/r1/conf.d/app", "v = 5\n");
    tree.switch("state/etc", "releases/r2");
    reload_until(watch.events(), "release r2", v_is(2));
    assert_settles(|| watch.loads());
    assert_eq!(value(&watch.current(), "v"), Some(Value::Integer(2)));
    let late = watch.events().try_recv();
    assert!(late.is_err(), "nothing after the switch settled: {late:?}");
    Ok(())
}

#[test]
fn changes_beside_the_watched_directories_reload_nothing() -> Result<(), Box<dyn std::error::Error>>
{
    // The state dir and `etc` are watched for the entry that leads to
    // `conf.d`, not for everything else in them.
    let tree = Tree::new();
    release(&tree, "r1", 1);
    tree.switch("state/etc", "releases/r1");
    tree.write("state/var/lib/store", "x");
    let watch = Watcher::new(tree.loader()).watch("app")?;
    assert_settles(|| watch.loads());
    let loads = watch.loads();
    for n in 0..20 {
        tree.write("state/var/lib/store", &format!("{n}"));
        tree.write("state/releases/r1/notes", &format!("{n}"));
        tree.write("state/releases/r9/conf.d/app", &format!("v = {n}\n"));
        tree.write(&format!("state/other-{n}"), "x");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(watch.loads(), loads, "loads for files outside the watch");
    Ok(())
}

#[test]
fn a_symlinked_main_file_follows_its_target() -> Result<(), Box<dyn std::error::Error>> {
    // `conf.d/app` points into a release tree whose `current` is switched.
    let tree = Tree::new();
    tree.write("shared/v1/app", "v = 1\n");
    tree.write("shared/v2/app", "v = 2\n");
    tree.switch("shared/current", "v1");
    std::fs::create_dir_all(tree.path("state/etc/conf.d"))?;
    tree.switch("state/etc/conf.d/app", "../../../shared/current/app");
    let watch = Watcher::new(tree.loader()).watch("app")?;

    tree.switch("shared/current", "v2");
    reload_until(watch.events(), "the switched target", v_is(2));
    // The target edited in place, and saved by rename.
    std::fs::write(tree.path("shared/v2/app"), "v = 3\n")?;
    reload_until(watch.events(), "the target edited", v_is(3));
    tree.save("shared/v2/app", "v = 4\n");
    reload_until(watch.events(), "the target saved", v_is(4));
    // The old target is no longer followed.
    tree.save("shared/v1/app", "v = 97\n");
    tree.save("shared/v2/app", "v = 5\n");
    let seen = reload_until(watch.events(), "the target saved again", v_is(5));
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, WatchEvent::Reloaded(r) if v_is(97)(&r.config))),
        "{seen:#?}"
    );
    assert_settles(|| watch.loads());
    Ok(())
}

#[test]
fn a_symlinked_drop_in_follows_its_target() -> Result<(), Box<dyn std::error::Error>> {
    let tree = Tree::new();
    tree.write("state/etc/conf.d/app", "v = 1\n");
    tree.write("shared/10-v.toml", "v = 2\n");
    let watch = Watcher::new(tree.loader()).watch("app")?;
    std::fs::create_dir_all(tree.path("state/etc/conf.d/app.d"))?;
    tree.switch(
        "state/etc/conf.d/app.d/10-v.toml",
        "../../../../shared/10-v.toml",
    );
    reload_until(watch.events(), "the linked drop-in", v_is(2));
    tree.save("shared/10-v.toml", "v = 3\n");
    reload_until(watch.events(), "its target saved", v_is(3));
    Ok(())
}

#[test]
fn a_burst_of_switches_settles_on_the_last_release() -> Result<(), Box<dyn std::error::Error>> {
    let tree = Tree::new();
    release(&tree, "r1", 1);
    release(&tree, "r2", 2);
    tree.switch("state/etc", "releases/r1");
    let watch = Watcher::new(tree.loader()).watch("app")?;
    for n in 0..50 {
        tree.switch(
            "state/etc",
            if n % 2 == 0 {
                "releases/r2"
            } else {
                "releases/r1"
            },
        );
    }
    tree.switch("state/etc", "releases/r2");
    wait_until("the last release", || {
        value(&watch.current(), "v") == Some(Value::Integer(2))
    });
    assert_settles(|| watch.loads());
    assert_eq!(value(&watch.current(), "v"), Some(Value::Integer(2)));
    // Still watching the release in force.
    tree.save("state/releases/r2/conf.d/app", "v = 3\n");
    reload_until(watch.events(), "an edit in r2", v_is(3));
    Ok(())
}

#[test]
fn a_kubernetes_style_data_switch_is_seen() -> Result<(), Box<dyn std::error::Error>> {
    // A ConfigMap volume: `app -> ..data/app`, `..data -> ..v1`, and an
    // update writes `..v2` and switches `..data`.
    let tree = Tree::new();
    tree.write("state/etc/conf.d/..v1/app", "v = 1\n");
    tree.switch("state/etc/conf.d/..data", "..v1");
    tree.switch("state/etc/conf.d/app", "..data/app");
    let watch = Watcher::new(tree.loader()).watch("app")?;
    tree.write("state/etc/conf.d/..v2/app", "v = 2\n");
    tree.switch("state/etc/conf.d/..data", "..v2");
    std::fs::remove_dir_all(tree.path("state/etc/conf.d/..v1"))?;
    reload_until(watch.events(), "the new data", v_is(2));
    assert_settles(|| watch.loads());
    Ok(())
}

#[test]
fn a_dangling_link_on_the_way_is_followed_once_its_target_appears()
-> Result<(), Box<dyn std::error::Error>> {
    // A deploy that makes the links first and the trees after.
    let tree = Tree::new();
    std::fs::create_dir_all(tree.path("state/etc"))?;
    tree.switch("state/etc/conf.d", "../../releases/r1/conf.d");
    let watch = Watcher::new(tree.loader()).watch("app")?;
    tree.write("releases/r1/conf.d/app", "v = 1\n");
    reload_until(watch.events(), "conf.d made at last", v_is(1));

    // Relative to where the link really is, `releases/r1/conf.d`.
    tree.switch("state/etc/conf.d/app.d", "../../../drop-ins/app");
    tree.write("drop-ins/app/10-v.toml", "v = 2\n");
    reload_until(watch.events(), "the drop-ins made at last", v_is(2));
    tree.save("drop-ins/app/10-v.toml", "v = 3\n");
    reload_until(watch.events(), "an edit of a drop-in", v_is(3));
    Ok(())
}

#[test]
fn the_whole_state_dir_deleted_and_re_created_is_seen() -> Result<(), Box<dyn std::error::Error>> {
    let tree = Tree::new();
    tree.write("state/etc/conf.d/app", "v = 1\n");
    let watch = Watcher::new(tree.loader()).watch("app")?;
    std::fs::remove_dir_all(tree.path("state"))?;
    reload_until(watch.events(), "the defaults", |c| value(c, "v").is_none());
    tree.write("state/etc/conf.d/app", "v = 2\n");
    reload_until(watch.events(), "the new state dir", v_is(2));
    tree.save("state/etc/conf.d/app", "v = 3\n");
    reload_until(watch.events(), "an edit in it", v_is(3));
    Ok(())
}

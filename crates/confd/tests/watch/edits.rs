//! Edits of a brick's files: every kind is seen, invalid files keep the last
//! good configuration, equal configurations send nothing, bursts and
//! concurrent writers converge on the disk, a set plans what to restart.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use confd::{EffectiveHash, Origin, watch::Action, watch::WatchEvent, watch::Watcher, watch::plan};
use toml::Value;

use super::{next, next_reload, save, value, wait_until, watcher};
use crate::support::State;

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

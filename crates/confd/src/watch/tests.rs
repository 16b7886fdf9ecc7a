//! Unit tests of the watch engine.
use super::*;
use notify::event::Flag;
use notify_debouncer_full::DebouncedEvent;

fn recv(events: &Receiver<WatchEvent>) -> WatchEvent {
    events
        .recv_timeout(Duration::from_secs(10))
        .expect("an event within 10 s")
}

#[test]
fn a_rescan_reloads_every_brick() -> Result<(), Box<dyn std::error::Error>> {
    // The main files are hard links to files outside conf.d: written
    // through the other name, they change with no event in any watched
    // directory, so only the rescan can bring the new values in.
    let dir = tempfile::tempdir()?;
    let conf_d = dir.path().join("etc/conf.d");
    std::fs::create_dir_all(&conf_d)?;
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside)?;
    for brick in ["one", "two"] {
        std::fs::write(outside.join(brick), "v = 1\n")?;
        std::fs::hard_link(outside.join(brick), conf_d.join(brick))?;
    }
    let loader = Loader::new()
        .state_dir(dir.path())
        .env(std::iter::empty::<(String, String)>());
    let watch = Watcher::new(loader).watch_set(["one", "two"])?;
    for brick in ["one", "two"] {
        // In place: a rename would break the link.
        std::fs::write(outside.join(brick), "v = 2\n")?;
    }
    // Nothing came of it without the rescan.
    std::thread::sleep(Duration::from_millis(200));
    assert!(watch.events().try_recv().is_err());

    let rescan = notify::Event::new(EventKind::Other).set_flag(Flag::Rescan);
    watch.control.send(Msg::Fs(Ok(vec![DebouncedEvent::new(
        rescan,
        Instant::now(),
    )])))?;
    let mut reloaded = Vec::new();
    for _ in 0..2 {
        let WatchEvent::Reloaded(r) = recv(watch.events()) else {
            panic!("expected a reload");
        };
        assert_eq!(r.changes.len(), 1);
        assert_eq!(
            r.changes[0].new.as_ref().map(|s| &s.value),
            Some(&toml::Value::Integer(2))
        );
        reloaded.push(r.brick.to_string());
    }
    reloaded.sort();
    assert_eq!(reloaded, ["one", "two"]);
    Ok(())
}

/// A watch of `bricks` in the state dir `root`, and an engine like its
/// thread's, armed, to test the engine's parts without the thread.
fn engine(
    root: &Path,
    bricks: &[&str],
) -> Result<(BrickSetWatch, Engine), Box<dyn std::error::Error>> {
    let loader = Loader::new()
        .state_dir(root)
        .env(std::iter::empty::<(String, String)>());
    let watch = Watcher::new(loader.clone()).watch_set(bricks)?;
    let (tx, _rx) = mpsc::channel();
    let mut engine = Engine {
        snapshot: None,
        loader,
        state_root: root.to_owned(),
        conf_d: root.join("etc/conf.d"),
        debounce: DEFAULT_DEBOUNCE,
        tracked: Vec::new(),
        shared: Arc::clone(&watch.shared),
        events: tx,
        debouncer: new_debouncer(DEFAULT_DEBOUNCE, None, |_| {})?,
        watched: BTreeMap::new(),
        on_warning: Arc::new(|_| {}),
        told: BTreeSet::new(),
        next_poll: None,
    };
    engine.rearm(true);
    Ok((watch, engine))
}

#[test]
fn a_polled_directory_changes_only_with_what_the_watch_needs_in_it()
-> Result<(), Box<dyn std::error::Error>> {
    // As root every directory can be watched: the fingerprint a polled
    // one would get is tested directly.
    let dir = tempfile::tempdir()?;
    let root = std::fs::canonicalize(dir.path())?;
    let state = root.join("state");
    std::fs::create_dir_all(state.join("etc/conf.d"))?;
    std::fs::create_dir_all(root.join("shared"))?;
    std::fs::write(root.join("shared/relay.toml"), "v = 1\n")?;
    std::os::unix::fs::symlink(
        root.join("shared/relay.toml"),
        state.join("etc/conf.d/relay"),
    )?;
    let (_watch, engine) = engine(&state, &["relay"])?;
    let look = |path: &Path| {
        let role = &engine.watched.get(path).expect("watched").role;
        engine.fingerprint(path, role)
    };
    let (above, shared, conf_d) = (root.clone(), root.join("shared"), state.join("etc/conf.d"));
    let before = (look(&above), look(&shared), look(&conf_d));

    // Other entries made, edited and removed beside the way: nothing.
    std::fs::write(root.join("other"), "x")?;
    std::fs::write(root.join("other"), "xy")?;
    std::fs::create_dir(root.join("other.d"))?;
    std::fs::write(root.join("shared/unrelated"), "x")?;
    std::fs::remove_file(root.join("other"))?;
    assert_eq!(look(&above), before.0);
    assert_eq!(look(&shared), before.1);

    // The linked file edited in place.
    std::fs::write(root.join("shared/relay.toml"), "v = 2\n")?;
    assert_ne!(look(&shared), before.1);
    // Anything made in `conf.d` (a `NAME.d`, an editor's temp file).
    std::fs::write(conf_d.join(".relay.swp"), "")?;
    assert_ne!(look(&conf_d), before.2);
    // The state dir replaced on the way.
    std::fs::rename(&state, root.join("state.old"))?;
    std::fs::create_dir(&state)?;
    assert_ne!(look(&above), before.0);
    Ok(())
}

#[test]
fn notify_errors_read_as_lowercase_reasons_without_debug_output() {
    let io = |errno| notify::Error::io(std::io::Error::from_raw_os_error(errno));
    assert_eq!(notify_reason(&io(13)), "permission denied");
    assert_eq!(notify_reason(&io(24)), "too many open files");
    let limit = notify::Error::new(notify::ErrorKind::MaxFilesWatch).add_path(PathBuf::from("/x"));
    assert_eq!(
        notify_reason(&limit),
        "the inotify watch limit is reached (`fs.inotify.max_user_watches`)"
    );
    let error = WatchError::Notify {
        path: PathBuf::from("/s/etc/conf.d"),
        error: io(24).add_path(PathBuf::from("/s/etc/conf.d")),
    };
    assert_eq!(
        error.to_string(),
        "cannot watch `/s/etc/conf.d`: too many open files"
    );
}

#[test]
fn events_are_attributed_to_their_brick() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let root = std::fs::canonicalize(dir.path())?;
    std::fs::create_dir_all(root.join("etc/conf.d/queue.d"))?;
    std::fs::create_dir_all(root.join("var"))?;
    let (_watch, engine) = engine(&root, &["relay", "queue"])?;
    let attribute = |relative: &str| {
        let mut dirty = Dirty::default();
        engine.attribute(&root.join(relative), &mut dirty);
        (dirty.moved, dirty.all, dirty.bricks)
    };
    let conf_d = "etc/conf.d";
    assert_eq!(
        attribute(&format!("{conf_d}/relay")),
        (false, false, vec![0])
    );
    assert_eq!(
        attribute(&format!("{conf_d}/queue.d/50-x.toml")),
        (false, false, vec![1])
    );
    // Could be anything, so everything reloads.
    assert_eq!(
        attribute(&format!("{conf_d}/.mounts.swp")),
        (false, true, vec![])
    );
    // On the way to a watched directory: look again, reload everything.
    for moved in [
        conf_d,
        "etc",
        "",
        "etc/conf.d/queue.d",
        "etc/conf.d/relay.d",
    ] {
        assert_eq!(attribute(moved), (true, true, vec![]), "{moved:?}");
    }
    // Beside the way: nobody's business.
    assert_eq!(attribute("var"), (false, false, vec![]));
    assert_eq!(attribute("etc/profiles"), (false, false, vec![]));
    // A directory not watched (any more): look again.
    assert_eq!(attribute("var/lib/store"), (true, true, vec![]));
    Ok(())
}

/// A brick with a key it applies live, one it reads at start, and a nested
/// table with one of each, for the restart-or-reload tests.
#[derive(serde::Serialize, serde::Deserialize, crate::Brick)]
#[brick(name = "beacon")]
struct Beacon {
    /// Read at start.
    #[brick(default = "localhost")]
    host: String,
    /// Applied live.
    #[brick(default = 30, reload)]
    ttl: u32,
    /// Nested.
    tls: BeaconTls,
}

#[derive(serde::Serialize, serde::Deserialize, crate::Section)]
struct BeaconTls {
    /// Read at start.
    #[brick(default = true)]
    verify: bool,
    /// Applied live.
    #[brick(default = 5, reload)]
    timeout: u32,
}

/// The next event, a reload, and its line.
fn reloaded(events: &Receiver<WatchEvent>) -> (Reloaded, String) {
    let event = recv(events);
    let line = event.to_string();
    match event {
        WatchEvent::Reloaded(r) => (r, line),
        WatchEvent::Invalid(i) => panic!("expected a reload, got {}", i.error),
    }
}

#[test]
fn a_change_of_reload_keys_only_needs_no_restart() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let conf_d = dir.path().join("etc/conf.d");
    std::fs::create_dir_all(&conf_d)?;
    let loader = Loader::new()
        .state_dir(dir.path())
        .env(std::iter::empty::<(String, String)>());
    let watch = Watcher::new(loader).watch_set(["beacon"])?;
    let mut applied: std::collections::HashMap<_, _> = watch.config_hashes().into_iter().collect();
    let plan_now = |applied: &std::collections::HashMap<BrickName, ConfigHashes>| {
        plan(&watch.config_hashes(), applied)
            .into_iter()
            .map(|(_, action)| action)
            .collect::<Vec<_>>()
    };
    let config = watch.current("beacon").expect("loaded");
    assert!(config.is_reload(&"ttl".parse()?));
    assert!(config.is_reload(&"tls.timeout".parse()?));
    assert!(!config.is_reload(&"tls.verify".parse()?));
    assert!(!config.is_reload(&"tls".parse()?));
    assert_ne!(config.restart_hash(), config.effective_hash());

    // Both live keys, one of them nested: applied live.
    std::fs::write(conf_d.join("beacon"), "ttl = 60\n[tls]\ntimeout = 9\n")?;
    let (event, line) = reloaded(watch.events());
    assert!(!event.restart, "{:?}", event.changes);
    assert!(
        event.changes.iter().all(|c| c.reload),
        "{:?}",
        event.changes
    );
    assert_eq!(event.changes.len(), 2);
    assert!(line.starts_with("reloaded beacon "), "{line}");
    assert!(line.contains(" (live): tls.timeout: 5 -> 9"), "{line}");
    assert_eq!(plan_now(&applied), [Action::Reload]);
    applied = watch.config_hashes().into_iter().collect();
    assert_eq!(plan_now(&applied), [Action::Keep]);

    // A key read at start, beside a live one: a restart.
    std::fs::write(
        conf_d.join("beacon"),
        "ttl = 61\n[tls]\ntimeout = 9\nverify = false\n",
    )?;
    let (event, line) = reloaded(watch.events());
    assert!(event.restart, "{:?}", event.changes);
    assert!(
        line.contains(" (restart): tls.verify: true -> false"),
        "{line}"
    );
    let reload: Vec<(String, bool)> = event
        .changes
        .iter()
        .map(|c| (c.key.to_string(), c.reload))
        .collect();
    assert_eq!(
        reload,
        [("tls.verify".to_owned(), false), ("ttl".to_owned(), true)]
    );
    assert_eq!(plan_now(&applied), [Action::Restart]);
    Ok(())
}

#[test]
fn a_brick_invalid_from_the_start_needs_a_start_once_valid()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let conf_d = dir.path().join("etc/conf.d");
    std::fs::create_dir_all(&conf_d)?;
    std::fs::write(conf_d.join("beacon"), "ttl = = 1\n")?;
    let loader = Loader::new()
        .state_dir(dir.path())
        .env(std::iter::empty::<(String, String)>());
    let watch = Watcher::new(loader).watch_set(["beacon"])?;
    assert!(matches!(recv(watch.events()), WatchEvent::Invalid(_)));
    // Only a reload key differs from the defaults, but nothing ran before:
    // there is nothing to apply it to live.
    std::fs::write(conf_d.join("beacon"), "ttl = 1\n")?;
    let (event, line) = reloaded(watch.events());
    assert_eq!(event.previous, None);
    assert!(event.restart, "{line}");
    assert!(line.contains(" (restart): "), "{line}");
    Ok(())
}

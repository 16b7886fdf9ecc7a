//! The watched directories move: `etc` moved away and re-created, symlinks
//! along the way switched as releases are. Each test lays out its own state
//! dir, since `State` makes `etc/conf.d` plain directories.

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use confd::{BrickConfig, watch::WatchEvent};
use toml::Value;

use confd::watch::Watcher;

use super::{PATIENCE, next, value, wait_until};

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

//! The repeated-load cache never returns a stale value: every kind of change
//! to a brick's files is seen, and an unchanged brick is served from cache.
//!
//! Entries are only kept for files older than the racy window (2 s), so each
//! test waits that long once before it starts.

use std::fs::{File, FileTimes};
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::support::State;

fn settle() {
    std::thread::sleep(Duration::from_millis(2_200));
}

fn kv(state: &State) -> Option<u64> {
    state
        .loader()
        .load("cache")
        .unwrap()
        .get::<u64>("kv_size")
        .unwrap()
}

/// Loads twice and asserts the second load came from the cache.
fn assert_cached(state: &State) -> confd::BrickConfig {
    let first = state.loader().load("cache").unwrap();
    let second = state.loader().load("cache").unwrap();
    assert!(
        first.is_same_load(&second),
        "an unchanged brick was loaded again"
    );
    second
}

fn set_mtime(path: &Path, time: SystemTime) {
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_times(FileTimes::new().set_modified(time))
        .unwrap();
}

#[test]
fn a_size_change_is_seen() {
    let state = State::new();
    let path = state.write("cache", "kv_size = 1\n");
    settle();
    let cached = assert_cached(&state);
    std::fs::write(&path, "kv_size = 22\n").unwrap();
    let reloaded = state.loader().load("cache").unwrap();
    assert!(!reloaded.is_same_load(&cached));
    assert_eq!(reloaded.get::<u64>("kv_size").unwrap(), Some(22));
}

#[test]
fn a_same_size_edit_with_its_mtime_restored_is_seen() {
    let state = State::new();
    let path = state.write("cache", "kv_size = 1\n");
    let old = SystemTime::now() - Duration::from_secs(3600);
    set_mtime(&path, old);
    settle();
    assert_cached(&state);
    std::fs::write(&path, "kv_size = 2\n").unwrap();
    set_mtime(&path, old);
    assert_eq!(
        kv(&state),
        Some(2),
        "the ctime changed even though the mtime did not"
    );
}

#[test]
fn a_replacement_by_rename_is_seen() {
    let state = State::new();
    let path = state.write("cache", "kv_size = 1\n");
    let old = SystemTime::now() - Duration::from_secs(3600);
    set_mtime(&path, old);
    settle();
    assert_cached(&state);
    // What an editor does: write a temp file, give it the same size and
    // mtime, rename it over the original. Only the inode differs.
    let temp = state.write(".cache.swp", "kv_size = 3\n");
    set_mtime(&temp, old);
    std::fs::rename(&temp, &path).unwrap();
    assert_eq!(kv(&state), Some(3));
}

#[test]
fn drop_ins_appearing_and_disappearing_are_seen() {
    let state = State::new();
    state.write("cache", "kv_size = 1\n");
    std::fs::create_dir(state.conf_d().join("cache.d")).unwrap();
    settle();
    assert_cached(&state);
    let drop_in = state.write("cache.d/50-x.toml", "kv_size = 50\n");
    assert_eq!(kv(&state), Some(50));
    settle();
    assert_cached(&state);
    std::fs::remove_file(&drop_in).unwrap();
    assert_eq!(kv(&state), Some(1));
}

#[test]
fn the_drop_in_directory_and_main_file_appearing_are_seen() {
    let state = State::new();
    settle();
    assert_cached(&state);
    assert_eq!(kv(&state), Some(256));
    state.write("cache.d/10-a.toml", "kv_size = 10\n");
    assert_eq!(kv(&state), Some(10));
    let state = State::new();
    settle();
    assert_cached(&state);
    state.write("cache", "kv_size = 7\n");
    assert_eq!(kv(&state), Some(7));
}

#[test]
fn a_symlink_swapped_for_another_is_seen() {
    let state = State::new();
    let a = state.write("a.toml.target", "kv_size = 1\n");
    let b = state.write("b.toml.target", "kv_size = 2\n");
    let old = SystemTime::now() - Duration::from_secs(3600);
    set_mtime(&a, old);
    set_mtime(&b, old);
    std::os::unix::fs::symlink(&a, state.conf_d().join("cache")).unwrap();
    settle();
    assert_cached(&state);
    let link = state.conf_d().join("cache.new-link");
    std::os::unix::fs::symlink(&b, &link).unwrap();
    std::fs::rename(&link, state.conf_d().join("cache")).unwrap();
    assert_eq!(kv(&state), Some(2));
}

#[test]
fn environment_and_overrides_are_part_of_the_key() {
    let state = State::new();
    state.write("cache", "kv_size = 1\n");
    settle();
    assert_cached(&state);
    let env = state
        .loader()
        .env([("NEXUS_CACHE_KV_SIZE", "9")])
        .load("cache")
        .unwrap();
    assert_eq!(env.get::<u64>("kv_size").unwrap(), Some(9));
    let cli = state
        .loader()
        .cli_override("cache.kv_size", "8")
        .load("cache")
        .unwrap();
    assert_eq!(cli.get::<u64>("kv_size").unwrap(), Some(8));
    let lite = state.loader().profile("lite").load("cache").unwrap();
    assert_eq!(lite.profile(), confd::Profile::Lite);
    assert_eq!(kv(&state), Some(1));
}

#[test]
fn a_same_size_rewrite_right_after_a_load_is_seen() {
    // Within one timestamp tick the two versions stat the same; the racy
    // window is what keeps the first load out of the cache.
    let state = State::new();
    let path = state.write("cache", "kv_size = 1\n");
    assert_eq!(kv(&state), Some(1));
    std::fs::write(&path, "kv_size = 2\n").unwrap();
    assert_eq!(kv(&state), Some(2));
}

//! Live reload from an etcd watch: the same events as a file change.

use std::sync::Arc;
use std::time::Duration;

use confd::watch::WatchEvent;
use confd_fleet::EtcdFleet;

use crate::support::{Etcd, Host};

const KEY: &str = "/nexus/conf.d/cache";
/// How long a test waits for an event that must come.
const WAIT: Duration = Duration::from_secs(10);

fn kv_size(watch: &confd::watch::BrickWatch) -> Option<i64> {
    watch.current().get::<i64>("kv_size").expect("kv_size")
}

fn next(watch: &confd::watch::BrickWatch) -> WatchEvent {
    watch
        .events()
        .recv_timeout(WAIT)
        .expect("an event within 10 s")
}

#[test]
fn a_fleet_change_reloads_a_watched_brick() -> Result<(), Box<dyn std::error::Error>> {
    let etcd = Etcd::start();
    etcd.put(KEY, "kv_size = 1\n");
    let host = Host::new(&etcd.endpoints(), "");
    let source = Arc::new(EtcdFleet::new());
    let watch = confd::watch::Watcher::new(host.loader(&source)).watch("cache")?;
    assert_eq!(kv_size(&watch), Some(1));

    let revision = etcd.put(KEY, "kv_size = 2\n");
    let WatchEvent::Reloaded(reloaded) = next(&watch) else {
        panic!("a reload")
    };
    assert_eq!(reloaded.changes.len(), 1);
    assert_eq!(kv_size(&watch), Some(2));
    assert_eq!(
        watch.current().origin("kv_size").unwrap().to_string(),
        format!("etcd {KEY}@{revision}:1:11")
    );

    // A change that changes no value (a comment) makes no event.
    etcd.put(KEY, "# tuned\nkv_size = 2\n");
    // An invalid push keeps the last good configuration.
    etcd.put(KEY, "kv_size = \"lots\"\n");
    let event = next(&watch);
    assert!(matches!(event, WatchEvent::Invalid(_)), "{event}");
    assert_eq!(kv_size(&watch), Some(2));
    // The fix is news, and a node key counts as much as the fleet's.
    etcd.put(KEY, "kv_size = 3\n");
    assert!(matches!(next(&watch), WatchEvent::Reloaded(_)));
    etcd.put("/nexus/nodes/h1/conf.d/cache", "kv_size = 4\n");
    assert!(matches!(next(&watch), WatchEvent::Reloaded(_)));
    assert_eq!(kv_size(&watch), Some(4));
    // Another node's key, and another brick's, are nothing to this watch.
    etcd.put("/nexus/nodes/h2/conf.d/cache", "kv_size = 5\n");
    etcd.put("/nexus/conf.d/mounts", "auto_sync = true\n");
    assert!(
        watch
            .events()
            .recv_timeout(Duration::from_millis(500))
            .is_err()
    );
    // A deleted key falls back to what is below it.
    etcd.client().delete_if(
        "/nexus/nodes/h1/conf.d/cache",
        etcd.client()
            .get("/nexus/nodes/h1/conf.d/cache")?
            .1
            .unwrap()
            .mod_revision,
    )?;
    assert!(matches!(next(&watch), WatchEvent::Reloaded(_)));
    assert_eq!(kv_size(&watch), Some(3));
    Ok(())
}

#[test]
fn a_compacted_revision_is_read_again_and_only_real_changes_reported()
-> Result<(), Box<dyn std::error::Error>> {
    let etcd = Etcd::start();
    etcd.put(KEY, "kv_size = 1\n");
    etcd.put("/nexus/conf.d/mounts", "auto_sync = true\n");
    let host = Host::new(&etcd.endpoints(), "");
    let source = Arc::new(EtcdFleet::new());
    // The bricks are loaded at one revision …
    host.loader(&source).load("cache")?;
    // … the fleet moves on and compacts its history past it …
    etcd.put(KEY, "kv_size = 9\n");
    let revision = etcd.put("/nexus/conf.d/other", "x = 1\n");
    etcd.client().compact(revision)?;
    // … and a watch from the loaded revision must start over.
    let cache = confd::watch::Watcher::new(host.loader(&source)).watch("cache")?;
    let mounts = confd::watch::Watcher::new(host.loader(&source)).watch("mounts")?;
    assert_eq!(
        kv_size(&cache),
        Some(1),
        "the watch starts from what was loaded"
    );
    assert!(matches!(next(&cache), WatchEvent::Reloaded(_)));
    assert_eq!(kv_size(&cache), Some(9));
    // `mounts` did not change: no event.
    assert!(
        mounts
            .events()
            .recv_timeout(Duration::from_millis(500))
            .is_err()
    );
    Ok(())
}

#[test]
fn a_restarted_server_is_reconnected_and_read_again() -> Result<(), Box<dyn std::error::Error>> {
    let mut etcd = Etcd::start();
    etcd.put(KEY, "kv_size = 1\n");
    let host = Host::new(&etcd.endpoints(), "timeout_ms = 500\n");
    let source = Arc::new(EtcdFleet::new());
    let watch = confd::watch::Watcher::new(host.loader(&source)).watch("cache")?;
    etcd.kill(0);
    std::thread::sleep(Duration::from_millis(300));
    etcd.restart(0);
    etcd.wait_healthy(0);
    etcd.put(KEY, "kv_size = 2\n");
    assert!(matches!(next(&watch), WatchEvent::Reloaded(_)));
    assert_eq!(kv_size(&watch), Some(2));
    Ok(())
}

#[test]
fn a_watch_started_offline_catches_up_when_etcd_answers() -> Result<(), Box<dyn std::error::Error>>
{
    let mut etcd = Etcd::start();
    etcd.put(KEY, "kv_size = 1\n");
    let host = Host::new(&etcd.endpoints(), "timeout_ms = 300\n");
    host.loader(&Arc::new(EtcdFleet::new())).load("cache")?;
    etcd.freeze(0);
    let source = Arc::new(EtcdFleet::new());
    let watch = confd::watch::Watcher::new(host.loader(&source)).watch("cache")?;
    assert_eq!(kv_size(&watch), Some(1), "from the cache");
    etcd.thaw(0);
    etcd.put(KEY, "kv_size = 2\n");
    assert!(matches!(next(&watch), WatchEvent::Reloaded(_)));
    assert_eq!(kv_size(&watch), Some(2));
    assert!(watch.current().warnings().is_empty());
    Ok(())
}

#[test]
fn every_watch_of_a_process_shares_one_etcd_stream() -> Result<(), Box<dyn std::error::Error>> {
    let etcd = Etcd::start();
    etcd.put(KEY, "kv_size = 1\n");
    let host = Host::new(&etcd.endpoints(), "");
    let source = Arc::new(EtcdFleet::new());
    let before = etcd.calls(0, "Watch");
    let watches: Vec<confd::watch::BrickWatch> = ["cache", "mounts", "search", "cache"]
        .iter()
        .map(|brick| confd::watch::Watcher::new(host.loader(&source)).watch(brick))
        .collect::<Result<_, _>>()?;
    etcd.put(KEY, "kv_size = 2\n");
    for i in [0, 3] {
        assert!(matches!(next(&watches[i]), WatchEvent::Reloaded(_)));
    }
    assert_eq!(
        etcd.calls(0, "Watch") - before,
        1,
        "one stream for four watches"
    );
    // The last one gone, the stream stops; a new watch starts another.
    drop(watches);
    let watch = confd::watch::Watcher::new(host.loader(&source)).watch("cache")?;
    etcd.put(KEY, "kv_size = 3\n");
    assert!(matches!(next(&watch), WatchEvent::Reloaded(_)));
    assert_eq!(kv_size(&watch), Some(3));
    assert_eq!(etcd.calls(0, "Watch") - before, 2);
    Ok(())
}

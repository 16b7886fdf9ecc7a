//! Three members, and faults: a killed leader, a lost quorum, and the
//! members' return (DESIGN.md §10).

use std::sync::Arc;
use std::time::{Duration, Instant};

use confd::watch::WatchEvent;
use confd_fleet::{EtcdFleet, Swap};

use crate::support::{Etcd, Host};

const KEY: &str = "/nexus/conf.d/cache";

fn kv_size(config: &confd::BrickConfig) -> Option<i64> {
    config.get::<i64>("kv_size").expect("kv_size")
}

/// Writes `text` with a compare-and-swap, as `nexus fleet push` does,
/// retrying while the cluster elects a leader: for at most 30 s, since an
/// election on two loaded cores (a member just frozen was the leader) has
/// taken more than 10.
fn cas_write(etcd: &Etcd, text: &str) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let client = etcd.client();
        let attempt = client.get(KEY).and_then(|(_, entry)| {
            client.put_if(KEY, text.as_bytes(), entry.map_or(0, |e| e.mod_revision))
        });
        match attempt {
            Ok(Swap::Written(revision)) => return revision,
            other => assert!(Instant::now() < deadline, "no write within 30 s: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn loads_and_writes_go_on_when_the_leader_is_killed() -> Result<(), confd::Error> {
    let mut etcd = Etcd::cluster(3);
    cas_write(&etcd, "kv_size = 1\n");
    let host = Host::new(&etcd.endpoints(), "timeout_ms = 2000\n");
    let leader = etcd.leader();
    etcd.kill(leader);
    let revision = cas_write(&etcd, "kv_size = 2\n");
    let started = Instant::now();
    let config = host.loader(&Arc::new(EtcdFleet::new())).load("cache")?;
    assert!(
        started.elapsed() < Duration::from_millis(2700),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(kv_size(&config), Some(2));
    assert_eq!(
        config.origin("kv_size").unwrap().to_string(),
        format!("etcd {KEY}@{revision}:1:11")
    );
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());
    Ok(())
}

#[test]
fn without_a_quorum_loads_use_the_cache_within_the_timeout_and_watchers_catch_up()
-> Result<(), Box<dyn std::error::Error>> {
    let mut etcd = Etcd::cluster(3);
    let revision = cas_write(&etcd, "kv_size = 1\n");
    let host = Host::new(&etcd.endpoints(), "timeout_ms = 500\n");
    let source = Arc::new(EtcdFleet::new());
    let watch = confd::watch::Watcher::new(host.loader(&source)).watch("cache")?;
    assert_eq!(kv_size(&watch.current()), Some(1));

    // Two of three gone: the last member cannot serve a linearizable read.
    etcd.kill(1);
    etcd.kill(2);
    let started = Instant::now();
    let config = host.loader(&Arc::new(EtcdFleet::new())).load("cache")?;
    let waited = started.elapsed();
    assert!(waited < Duration::from_millis(1200), "waited {waited:?}");
    assert_eq!(kv_size(&config), Some(1));
    let warnings: Vec<String> = config.warnings().iter().map(ToString::to_string).collect();
    assert!(
        warnings.len() == 1 && warnings[0].contains(&format!("cached at revision {revision}")),
        "{warnings:?}"
    );

    // Back again: the watcher catches up with a change made meanwhile.
    etcd.restart(1);
    etcd.restart(2);
    etcd.wait_healthy(1);
    etcd.wait_healthy(2);
    cas_write(&etcd, "kv_size = 3\n");
    let event = watch.events().recv_timeout(Duration::from_secs(15))?;
    assert!(matches!(event, WatchEvent::Reloaded(_)), "{event}");
    assert_eq!(kv_size(&watch.current()), Some(3));
    Ok(())
}

#[test]
fn a_hung_member_costs_no_boot_its_fleet_layer() -> Result<(), confd::Error> {
    let mut etcd = Etcd::cluster(3);
    let revision = cas_write(&etcd, "kv_size = 4\n");
    let host = Host::new(&etcd.endpoints(), "timeout_ms = 1500\n");
    // A member that accepts connections and never answers; the others are fine.
    let leader = etcd.leader();
    etcd.freeze((leader + 1) % 3);
    for boot in 0..6 {
        let started = Instant::now();
        let config = host.loader(&Arc::new(EtcdFleet::new())).load("cache")?;
        let waited = started.elapsed();
        assert!(
            waited < Duration::from_millis(2200),
            "boot {boot} waited {waited:?}"
        );
        assert!(
            config.warnings().is_empty(),
            "boot {boot}: {:?}",
            config.warnings()
        );
        assert_eq!(
            config.origin("kv_size").unwrap().to_string(),
            format!("etcd {KEY}@{revision}:1:11")
        );
    }
    Ok(())
}

#[test]
fn a_watch_leaves_a_hung_member_for_another() -> Result<(), Box<dyn std::error::Error>> {
    let mut etcd = Etcd::cluster(3);
    cas_write(&etcd, "kv_size = 0\n");
    let host = Host::new(&etcd.endpoints(), "timeout_ms = 500\n");
    let source = Arc::new(EtcdFleet::new());
    let watch = confd::watch::Watcher::new(host.loader(&source)).watch("cache")?;
    // Whichever member the watch is on, each one hangs in turn.
    for member in 0..3 {
        etcd.freeze(member);
        let value = i64::try_from(member)? + 1;
        cas_write(&etcd, &format!("kv_size = {value}\n"));
        let deadline = Instant::now() + Duration::from_secs(15);
        while kv_size(&watch.current()) != Some(value) {
            assert!(
                Instant::now() < deadline,
                "no reload within 15 s with member {member} hung"
            );
            let _ = watch.events().recv_timeout(Duration::from_millis(200));
        }
        etcd.thaw(member);
    }
    Ok(())
}

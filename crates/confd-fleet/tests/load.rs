//! Loads with the fleet layer from a live one-member cluster.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use confd::Precedence;
use confd_fleet::EtcdFleet;

use crate::support::{Etcd, Host};

#[test]
fn a_load_stacks_the_fleet_and_the_node_under_the_hosts_files() -> Result<(), confd::Error> {
    let etcd = Etcd::start();
    let fleet_rev = etcd.put(
        "/nexus/conf.d/cache",
        "backend = \"postgres\"\nkv_size = 7\npath_size = 9\n",
    );
    let node_rev = etcd.put("/nexus/nodes/h1/conf.d/cache", "kv_size = 8\n");
    etcd.put("/nexus/nodes/h2/conf.d/cache", "kv_size = 99\n");
    let host = Host::new(&etcd.endpoints(), "");
    host.write("cache", "path_size = 10\n");
    let source = Arc::new(EtcdFleet::new());
    let config = host.loader(&source).load("cache")?;
    assert_eq!(
        config.get::<String>("backend")?.as_deref(),
        Some("postgres")
    );
    assert_eq!(
        config.origin("backend").unwrap().to_string(),
        format!("etcd /nexus/conf.d/cache@{fleet_rev}:1:11")
    );
    assert_eq!(
        config.get::<i64>("kv_size")?,
        Some(8),
        "the node's key wins over the fleet's"
    );
    assert_eq!(
        config.origin("kv_size").unwrap().to_string(),
        format!("etcd /nexus/nodes/h1/conf.d/cache@{node_rev}:1:11")
    );
    assert_eq!(
        config.get::<i64>("path_size")?,
        Some(10),
        "the host's file wins"
    );
    assert_eq!(
        config.origin("path_size").unwrap().precedence(),
        Precedence::MainFile
    );
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());
    Ok(())
}

#[test]
fn the_fleet_brick_itself_comes_from_the_local_layers_only() -> Result<(), confd::Error> {
    let etcd = Etcd::start();
    etcd.put("/nexus/conf.d/fleet", "timeout_ms = 5\n");
    let host = Host::new(&etcd.endpoints(), "");
    let source = Arc::new(EtcdFleet::new());
    let config: confd_fleet::FleetConfig = host.loader(&source).load_typed()?;
    assert_eq!(config.timeout_ms, 1000);
    Ok(())
}

#[test]
fn no_endpoints_means_no_fleet_and_no_connection() -> Result<(), confd::Error> {
    let host = Host::new(&[], "");
    host.write("fleet", "# no endpoints\n");
    let source = Arc::new(EtcdFleet::new());
    let started = std::time::Instant::now();
    let config = host.loader(&source).load("cache")?;
    assert_eq!(
        config.origin("backend").unwrap().precedence(),
        Precedence::ProfileDefault
    );
    assert!(config.warnings().is_empty());
    assert!(started.elapsed() < std::time::Duration::from_millis(500));
    assert!(!host.root().join("var/lib/confd/fleet").exists());
    Ok(())
}

#[test]
fn one_read_serves_every_brick_of_a_boot() -> Result<(), confd::Error> {
    let etcd = Etcd::start();
    for brick in ["cache", "mounts", "search"] {
        etcd.put(&format!("/nexus/conf.d/{brick}"), "");
    }
    let host = Host::new(&etcd.endpoints(), "");
    let before = (etcd.calls(0, "Txn"), etcd.calls(0, "Range"));
    let source = Arc::new(EtcdFleet::new());
    let loader = host.loader(&source);
    for brick in [
        "cache",
        "mounts",
        "search",
        "uploads",
        "permissions",
        "llm",
        "database",
    ] {
        loader.load(brick)?;
    }
    for i in 0..100 {
        loader.load(&format!("extra-{i}"))?;
    }
    let after = (etcd.calls(0, "Txn"), etcd.calls(0, "Range"));
    assert_eq!(after.0 - before.0, 1, "one transaction for 107 bricks");
    assert_eq!(after.1 - before.1, 0, "and no other read");
    Ok(())
}

#[test]
fn a_good_read_leaves_the_cache_with_secret_bricks_private() -> Result<(), confd::Error> {
    let etcd = Etcd::start();
    etcd.put("/nexus/conf.d/llm", "model = \"m1\"\n");
    etcd.put("/nexus/conf.d/cache", "kv_size = 3\n");
    let host = Host::new(&etcd.endpoints(), "");
    let source = Arc::new(EtcdFleet::new());
    host.loader(&source).load("llm")?;
    host.loader(&source).load("cache")?;
    let dir = host.root().join("var/lib/confd/fleet");
    let mode = |name: &str| {
        std::fs::metadata(dir.join(name))
            .expect(name)
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("llm"), 0o600);
    assert_eq!(mode("cache"), 0o644);
    let cached = std::fs::read_to_string(dir.join("cache")).expect("cache file");
    assert!(cached.contains("kv_size = 3"), "{cached}");
    // No temporary file is left behind.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    Ok(())
}

#[test]
fn a_value_that_is_not_text_fails_the_load_naming_its_key() {
    let etcd = Etcd::start();
    let revision = etcd
        .client()
        .put("/nexus/conf.d/cache", b"kv_size = \xff\n")
        .expect("put");
    let host = Host::new(&etcd.endpoints(), "");
    let source = Arc::new(EtcdFleet::new());
    let err = host.loader(&source).load("cache").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "etcd key `/nexus/conf.d/cache`@{revision} is not a brick's configuration: \
             it is not UTF-8 text"
        )
    );
}

#[test]
fn a_malformed_fleet_value_names_key_revision_line_and_column() {
    let etcd = Etcd::start();
    let revision = etcd.put("/nexus/conf.d/cache", "kv_size = 1\nbackend =\n");
    let host = Host::new(&etcd.endpoints(), "");
    let source = Arc::new(EtcdFleet::new());
    let err = host.loader(&source).load("cache").unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "malformed TOML at `etcd /nexus/conf.d/cache@{revision}:2:10`"
        )),
        "{err}"
    );
}

#[test]
fn another_prefix_reads_other_keys() -> Result<(), confd::Error> {
    let etcd = Etcd::start();
    etcd.put("/nexus/conf.d/cache", "kv_size = 1\n");
    etcd.put("/prod/eu/conf.d/cache", "kv_size = 2\n");
    let host = Host::new(&etcd.endpoints(), "prefix = \"/prod/eu/\"\n");
    let source = Arc::new(EtcdFleet::new());
    assert_eq!(
        host.loader(&source).load("cache")?.get::<i64>("kv_size")?,
        Some(2)
    );
    Ok(())
}

#[test]
fn a_loader_or_watcher_printed_for_debugging_shows_no_fleet_value()
-> Result<(), Box<dyn std::error::Error>> {
    let etcd = Etcd::start();
    etcd.put("/nexus/conf.d/llm", "api_key = \"sk-live-789\"\n");
    let host = Host::new(&etcd.endpoints(), "");
    let source = Arc::new(EtcdFleet::new());
    let config = host.loader(&source).load("llm")?;
    let watch = confd::watch::Watcher::new(host.loader(&source)).watch("llm")?;
    let printed = format!(
        "{:?} {:?} {:?} {:?}",
        host.loader(&source),
        source,
        config,
        watch
    );
    // Neither as text nor as the numbers of its bytes.
    let bytes: Vec<String> = b"sk-live-789".iter().map(u8::to_string).collect();
    let leaks = |text: &str| text.contains("sk-live-789") || text.contains(&bytes.join(", "));
    assert!(!leaks(&printed), "{printed}");
    let snapshot = confd_fleet::Snapshot::read(
        &etcd.client(),
        &host.loader(&source).without_fleet().load_typed()?,
    )?;
    assert!(!leaks(&format!("{snapshot:?}")));
    let (cached, _) = confd_fleet::cache::load(
        &confd::StateDir::new(host.root())?,
        &confd::BrickName::new("llm")?,
    )?
    .expect("cached");
    assert!(!leaks(&format!("{cached:?}")));
    Ok(())
}

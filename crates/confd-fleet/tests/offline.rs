//! An etcd that does not answer never blocks a boot past `timeout_ms`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use confd_fleet::EtcdFleet;

use crate::support::{Etcd, Host};

/// The slack allowed over the timeout for the rest of a load.
const SLACK: Duration = Duration::from_millis(700);

fn warnings(config: &confd::BrickConfig) -> Vec<String> {
    config.warnings().iter().map(ToString::to_string).collect()
}

#[test]
fn a_stopped_server_costs_the_timeout_and_the_cache_serves() -> Result<(), confd::Error> {
    let mut etcd = Etcd::start();
    let revision = etcd.put("/nexus/conf.d/cache", "kv_size = 5\n");
    let host = Host::new(&etcd.endpoints(), "timeout_ms = 400\n");
    // A first boot reads etcd and leaves the cache.
    host.loader(&Arc::new(EtcdFleet::new())).load("cache")?;

    // The server accepts connections and never answers.
    etcd.freeze(0);
    let source = Arc::new(EtcdFleet::new());
    let started = Instant::now();
    let config = host.loader(&source).load("cache")?;
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_millis(400) + SLACK,
        "waited {waited:?} for a stopped server"
    );
    assert!(
        waited >= Duration::from_millis(350),
        "it did try: {waited:?}"
    );
    assert_eq!(config.get::<i64>("kv_size")?, Some(5));
    assert_eq!(
        config.origin("kv_size").unwrap().to_string(),
        format!("etcd /nexus/conf.d/cache@{revision}:1:11")
    );
    let [warning] = &warnings(&config)[..] else {
        panic!("one warning: {:?}", warnings(&config));
    };
    assert!(
        warning.contains("did not answer within 400 ms")
            && warning.contains(&format!("cached at revision {revision}, "))
            && warning.contains(" s old"),
        "{warning}"
    );

    // The other bricks of the same boot do not wait again.
    let started = Instant::now();
    for brick in ["mounts", "search", "uploads"] {
        host.loader(&source).load(brick)?;
    }
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );

    // `--strict` makes it an error, as fast.
    let started = Instant::now();
    let err = host
        .loader(&Arc::new(EtcdFleet::new()))
        .strict(true)
        .load("cache")
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(400) + SLACK);
    assert!(
        err.to_string()
            .ends_with("`cache` is not loaded with the cached fleet layer under `--strict`"),
        "{err}"
    );
    Ok(())
}

#[test]
fn with_no_cache_a_load_goes_on_without_the_fleet_and_says_so() -> Result<(), confd::Error> {
    let mut etcd = Etcd::start();
    etcd.put("/nexus/conf.d/cache", "kv_size = 5\n");
    let host = Host::new(&etcd.endpoints(), "timeout_ms = 300\n");
    etcd.freeze(0);
    let started = Instant::now();
    let config = host.loader(&Arc::new(EtcdFleet::new())).load("cache")?;
    assert!(started.elapsed() < Duration::from_millis(300) + SLACK);
    assert_eq!(config.get::<i64>("kv_size")?, Some(256));
    assert_eq!(
        warnings(&config),
        [format!(
            "etcd at `{}` did not answer within 300 ms: `cache` loads without the fleet layer \
             (none is cached)",
            etcd.members[0].client_url
        )]
    );
    let err = host
        .loader(&Arc::new(EtcdFleet::new()))
        .strict(true)
        .load("cache")
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("`cache` is not loaded with no fleet layer under `--strict`"),
        "{err}"
    );
    Ok(())
}

#[test]
fn a_refused_connection_falls_back_at_once() -> Result<(), confd::Error> {
    let endpoint = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        format!("http://{}", listener.local_addr().expect("addr"))
    };
    let host = Host::new(&[endpoint], "timeout_ms = 5000\n");
    let started = Instant::now();
    let config = host.loader(&Arc::new(EtcdFleet::new())).load("cache")?;
    assert!(started.elapsed() < Duration::from_millis(5000) + SLACK);
    assert_eq!(warnings(&config).len(), 1);
    Ok(())
}

#[test]
fn a_cache_of_another_prefix_is_not_used() -> Result<(), confd::Error> {
    let mut etcd = Etcd::start();
    etcd.put("/nexus/conf.d/cache", "kv_size = 5\n");
    let host = Host::new(&etcd.endpoints(), "timeout_ms = 300\n");
    host.loader(&Arc::new(EtcdFleet::new())).load("cache")?;
    etcd.freeze(0);
    host.write("fleet.d/10-prefix.toml", "prefix = \"/other\"\n");
    let config = host.loader(&Arc::new(EtcdFleet::new())).load("cache")?;
    assert_eq!(config.get::<i64>("kv_size")?, Some(256));
    assert!(warnings(&config)[0].contains("none is cached"));
    Ok(())
}

/// Every log line of this test binary, from a global subscriber (a
/// thread's own would race with the other tests over tracing's per-callsite
/// interest); a test picks its own lines by its server's address.
fn log() -> String {
    #[derive(Clone, Default)]
    struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    static SINK: std::sync::OnceLock<Sink> = std::sync::OnceLock::new();
    let sink = SINK.get_or_init(|| {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        sink
    });
    String::from_utf8(sink.0.lock().unwrap().clone()).unwrap()
}

#[test]
fn the_fallback_is_logged_once_per_brick_though_the_age_grows() -> Result<(), confd::Error> {
    let mut etcd = Etcd::start();
    etcd.put("/nexus/conf.d/cache", "kv_size = 5\n");
    let host = Host::new(&etcd.endpoints(), "timeout_ms = 200\n");
    host.loader(&Arc::new(EtcdFleet::new())).load("cache")?;
    etcd.freeze(0);
    let source = Arc::new(EtcdFleet::new());
    let mut ages = Vec::new();
    log();
    for _ in 0..2 {
        let config = host.loader(&source).load("cache").expect("load");
        ages.push(warnings(&config));
        std::thread::sleep(Duration::from_millis(1100));
    }
    host.loader(&source).load("mounts").expect("load");
    let endpoint = &etcd.members[0].client_url;
    let log: String = log()
        .lines()
        .filter(|l| l.contains(endpoint.as_str()))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(ages[0], ages[1], "the load's own warning says the age now");
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("did not answer"))
        .collect();
    assert_eq!(
        lines.len(),
        2,
        "once for `cache`, once for `mounts`:\n{log}"
    );
    Ok(())
}

//! The fleet layer's cost, against a real one-member etcd on loopback.
//!
//! - `fleet/cold_load_*` (criterion): one brick loaded cold (no load cache)
//!   without the fleet, and with it through a new source each time (a new
//!   connection and the one transaction a boot makes); `fleet/txn_round_trip`
//!   is that transaction alone on an open connection, the floor.
//! - `fleet/boot_100_bricks` (criterion): a boot of 100 bricks with the fleet
//!   layer; the number of etcd transactions it makes is counted from the
//!   server's metrics and printed (it must be 1).
//! - change → `Reloaded` on 100 watchers in one process (a plain loop, as
//!   confd's watch benchmark): median and p99 over every watcher and change.
//!
//! `cargo bench -p confd-fleet --bench fleet` (needs `etcd` on the `PATH`);
//! with `-- --test`, a smoke run.

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use confd::watch::WatchEvent;
use confd_bricks as _;
use confd_fleet::EtcdFleet;
use criterion::Criterion;

use support::{Etcd, Host};

const WATCHERS: usize = 100;
const CHANGES: usize = 30;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn cold_load(c: &mut Criterion, etcd: &Etcd, host: &Host) {
    let local = || {
        confd::Loader::new()
            .state_dir(host.root())
            .env(std::iter::empty::<(String, String)>())
            .cache(false)
    };
    c.bench_function("fleet/cold_load_without_fleet", |b| {
        b.iter(|| black_box(local().without_fleet().load("cache").expect("load")));
    });
    c.bench_function("fleet/cold_load_with_fleet", |b| {
        b.iter(|| {
            let source = Arc::new(EtcdFleet::new());
            black_box(
                host.loader(&source)
                    .cache(false)
                    .load("cache")
                    .expect("load"),
            )
        });
    });
    let client = etcd.client();
    let dirs = [
        "/nexus/conf.d/".to_owned(),
        "/nexus/nodes/h1/conf.d/".to_owned(),
    ];
    c.bench_function("fleet/txn_round_trip", |b| {
        b.iter(|| black_box(client.read_prefixes(&dirs).expect("read")));
    });
}

fn boot(c: &mut Criterion, etcd: &Etcd, host: &Host) {
    let boot_once = || {
        let source = Arc::new(EtcdFleet::new());
        let loader = host.loader(&source).cache(false);
        for i in 0..100 {
            black_box(loader.load(&format!("brick-{i}")).expect("load"));
        }
    };
    let before = etcd.calls(0, "Txn");
    boot_once();
    let txns = etcd.calls(0, "Txn") - before;
    println!("fleet/boot_100_bricks: {txns} etcd transaction(s) per boot of 100 bricks");
    assert_eq!(txns, 1);
    c.bench_function("fleet/boot_100_bricks", |b| b.iter(boot_once));
}

fn change_to_reloaded(etcd: &Etcd, host: &Host, changes: usize) {
    let source = Arc::new(EtcdFleet::new());
    let watches: Vec<confd::watch::BrickWatch> = (0..WATCHERS)
        .map(|_| {
            confd::watch::Watcher::new(host.loader(&source))
                .watch("cache")
                .expect("watch")
        })
        .collect();
    // Let every watch stream be established.
    std::thread::sleep(Duration::from_millis(500));
    let mut samples = Vec::with_capacity(WATCHERS * changes);
    let mut commits = Vec::with_capacity(changes);
    let client = etcd.client();
    for i in 0..changes {
        let value = 1000 + i as i64;
        let start = Instant::now();
        client
            .put(
                "/nexus/conf.d/cache",
                format!("kv_size = {value}\n").as_bytes(),
            )
            .expect("put");
        commits.push(start.elapsed());
        for watch in &watches {
            loop {
                match watch.events().recv_timeout(Duration::from_secs(10)) {
                    Ok(WatchEvent::Reloaded(r))
                        if r.config.get::<i64>("kv_size").ok().flatten() == Some(value) =>
                    {
                        samples.push(start.elapsed());
                        break;
                    }
                    Ok(_) => {}
                    Err(e) => panic!("no event for change {i}: {e}"),
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    samples.sort();
    commits.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "fleet/change_to_reloaded: {WATCHERS} watchers x {changes} changes: median {:.1} ms, \
         p99 {:.1} ms, max {:.1} ms (of which the write's own commit: median {:.1} ms)",
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.99)),
        ms(samples[samples.len() - 1]),
        ms(percentile(&commits, 0.5)),
    );
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--test");
    let etcd = Etcd::start();
    etcd.put(
        "/nexus/conf.d/cache",
        "backend = \"postgres\"\nkv_size = 7\n",
    );
    etcd.put("/nexus/nodes/h1/conf.d/cache", "path_size = 9\n");
    for i in 0..100 {
        etcd.put(&format!("/nexus/conf.d/brick-{i}"), &format!("n = {i}\n"));
    }
    let host = Host::new(&etcd.endpoints(), "");
    change_to_reloaded(&etcd, &host, if smoke { 2 } else { CHANGES });
    let mut c = Criterion::default().configure_from_args();
    cold_load(&mut c, &etcd, &host);
    boot(&mut c, &etcd, &host);
    c.final_summary();
}

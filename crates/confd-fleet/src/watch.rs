//! Live reload from an etcd watch (DESIGN.md §10): the fleet's and the
//! node's key prefixes watched from the revision the bricks were loaded
//! at, each change applied to the process's snapshot and announced to the
//! confd watch, which reloads the bricks named as it would for a file.
//!
//! A compacted start revision, a lost connection or a member that stopped
//! answering ends the session; the next one re-reads both prefixes whole
//! (one transaction), announces only the bricks whose keys really changed,
//! and watches on from there. Sessions are retried with a bounded back-off
//! (100 ms doubling to 2 s) for as long as the watch lives.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use confd::fleet::FleetChanged;
use confd::{BrickName, FleetLayer};
use etcd_client::{EventType, WatchOptions};

use crate::client::{connect_options, entry, read_prefixes};
use crate::source::{Fleet, Known, lock};
use crate::{FleetConfig, Snapshot, keys};

/// The longest pause between two attempts to reach the fleet again.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Keeps the watch thread running; dropping it stops the thread and waits
/// for it (it stops at once: every wait in it also waits for the stop).
pub(crate) struct Following {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Following {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts following `config`'s fleet for the process's `fleet`.
pub(crate) fn follow(
    root: std::path::PathBuf,
    config: FleetConfig,
    fleet: Arc<Fleet>,
    changed: FleetChanged,
) -> Option<Following> {
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| tracing::warn!("cannot follow the fleet: {e}"))
        .ok()?;
    let thread = std::thread::Builder::new()
        .name("confd-fleet-watch".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                tokio::select! {
                    _ = stopped => {}
                    () = run(&root, &config, &fleet, &changed) => {}
                }
            });
        })
        .map_err(|e| tracing::warn!("cannot follow the fleet: {e}"))
        .ok()?;
    Some(Following {
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// Sessions, one after the other, forever (until the thread is stopped).
async fn run(root: &std::path::Path, config: &FleetConfig, fleet: &Fleet, changed: &FleetChanged) {
    let mut backoff = Duration::from_millis(100);
    // The first session watches from what the bricks were loaded with, if
    // that was a live read; any later one re-reads first.
    let mut reread = !matches!(*lock(&fleet.state), Known::Live(_));
    loop {
        match session(root, config, fleet, changed, reread).await {
            // A session that got as far as watching had a good connection.
            Ok(()) => backoff = Duration::from_millis(100),
            Err(e) => tracing::debug!("fleet watch: {e}"),
        }
        reread = true;
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// The current snapshot, if it is a live one.
fn live(fleet: &Fleet) -> Option<Arc<Snapshot>> {
    match &*lock(&fleet.state) {
        Known::Live(snapshot) => Some(Arc::clone(snapshot)),
        _ => None,
    }
}

/// Replaces the snapshot and says which bricks changed (if any did).
fn publish(fleet: &Fleet, changed: &FleetChanged, new: Snapshot, before: Option<&Snapshot>) {
    let bricks = before.map(|old| old.changed_bricks(&new));
    *lock(&fleet.state) = Known::Live(Arc::new(new));
    match bricks {
        Some(bricks) if bricks.is_empty() => {}
        // Loaded from the cache or without the fleet: any brick may differ.
        None => changed(None),
        Some(bricks) => changed(Some(bricks)),
    }
}

/// `call`, given up after `timeout`.
async fn within<T>(
    timeout: Duration,
    call: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, etcd_client::Error> {
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or_else(|_| {
            Err(etcd_client::Error::WatchError(format!(
                "no answer within {} ms",
                timeout.as_millis()
            )))
        })
}

/// One connection: (re-read,) watch, apply events until something breaks.
/// `Ok` when the watch was established and then ended.
async fn session(
    root: &std::path::Path,
    config: &FleetConfig,
    fleet: &Fleet,
    changed: &FleetChanged,
    reread: bool,
) -> Result<(), etcd_client::Error> {
    let timeout = config.timeout();
    let options = connect_options(timeout).with_require_leader(true);
    let client = within(
        timeout,
        etcd_client::Client::connect(&config.endpoints, Some(options)),
    )
    .await?;
    let dirs = Snapshot::dirs(config);
    let mut snapshot = match (reread, live(fleet)) {
        (false, Some(snapshot)) => Snapshot::clone(&snapshot),
        (_, before) => {
            let (revision, ranges) = within(timeout, read_prefixes(&client, &dirs)).await?;
            let read = Snapshot::from_ranges(&dirs, revision, ranges);
            publish(fleet, changed, read.clone(), before.as_deref());
            read
        }
    };
    let from = snapshot.revision + 1;
    let watch_options = || {
        WatchOptions::new()
            .with_prefix()
            .with_start_revision(from)
            .with_progress_notify()
    };
    let mut watch_client = client.watch_client();
    let mut stream = within(
        timeout,
        watch_client.watch(dirs[0].as_bytes(), Some(watch_options())),
    )
    .await?;
    within(
        timeout,
        stream.watch(dirs[1].as_bytes(), Some(watch_options())),
    )
    .await?;
    loop {
        let Some(response) = stream.message().await? else {
            return Ok(());
        };
        if response.canceled() || response.compact_revision() > 0 {
            // Compacted past our revision (or cancelled by the server):
            // start over from a fresh read.
            return Ok(());
        }
        let mut bricks = BTreeSet::new();
        for event in response.events() {
            let Some(kv) = event.kv() else { continue };
            let entry = entry(kv);
            for (i, layer) in [FleetLayer::Fleet, FleetLayer::Node]
                .into_iter()
                .enumerate()
            {
                let dir = keys::layer_dir(config, layer);
                let Some(brick) = keys::brick_of(&dir, &entry.key) else {
                    continue;
                };
                match event.event_type() {
                    EventType::Put => snapshot.layers[i].insert(brick.clone(), entry.clone()),
                    EventType::Delete => snapshot.layers[i].remove(&brick),
                };
                bricks.insert(brick);
            }
        }
        if let Some(header) = response.header() {
            snapshot.revision = snapshot.revision.max(header.revision());
        }
        if !bricks.is_empty() {
            // The caches of the changed bricks are claimed before the
            // reloads start and written after they are asked for, so no
            // reload waits for the cache's fsync.
            let bricks: Vec<BrickName> = bricks.into_iter().collect();
            let claimed: Vec<&BrickName> = bricks
                .iter()
                .filter(|b| fleet.claim(b, snapshot.revision))
                .collect();
            *lock(&fleet.state) = Known::Live(Arc::new(snapshot.clone()));
            changed(Some(bricks.clone()));
            if let Ok(state) = confd::StateDir::new(root) {
                for brick in claimed {
                    if let Ok(texts) = snapshot.texts(brick) {
                        fleet.write_cache(&state, config, brick, snapshot.revision, &texts);
                    }
                }
            }
        }
    }
}

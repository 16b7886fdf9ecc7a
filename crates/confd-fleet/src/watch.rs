//! Live reload from an etcd watch (DESIGN.md §10): the fleet's and the
//! node's key prefixes watched from the revision the bricks were loaded
//! at, each change applied to the process's snapshot and announced to the
//! confd watches, which reload the bricks named as they would for a file.
//!
//! One thread and one etcd watch stream per fleet and process, however many
//! confd watches follow it: a host costs the cluster one stream. The thread
//! starts with the first follower and stops with the last.
//!
//! A compacted start revision, a lost connection or a member that stopped
//! answering ends the session; the next one re-reads both prefixes whole
//! (one transaction), announces only the bricks whose keys really changed
//! since what the followers were last told, and watches on from there.
//! Sessions are retried with a bounded back-off (100 ms doubling to 2 s)
//! for as long as someone follows.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use confd::fleet::FleetChanged;
use confd::{BrickName, origin::FleetLayer};
use etcd_client::{EventType, WatchOptions};

use crate::client::{connect_options, entry, read_prefixes};
use crate::source::{Fleet, Known, lock};
use crate::{FleetConfig, Snapshot, keys};

/// The longest pause between two attempts to reach the fleet again.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The watches following one fleet, and the thread that follows it for
/// them while there is at least one.
#[derive(Default)]
pub(crate) struct Followers {
    next: u64,
    subscribers: Vec<(u64, FleetChanged)>,
    thread: Option<Thread>,
}

impl std::fmt::Debug for Followers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Followers")
            .field("subscribers", &self.subscribers.len())
            .finish_non_exhaustive()
    }
}

/// The follow thread; dropping it stops the thread and waits for it (it
/// stops at once: every wait in it also waits for the stop).
struct Thread {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for Thread {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// One confd watch following the fleet; dropped, it stops following, and
/// the last one stops the thread.
pub(crate) struct Following {
    fleet: Arc<Fleet>,
    id: u64,
}

impl Drop for Following {
    fn drop(&mut self) {
        let last = {
            let mut followers = lock(&self.fleet.followers);
            followers.subscribers.retain(|(id, _)| *id != self.id);
            if followers.subscribers.is_empty() {
                followers.thread.take()
            } else {
                None
            }
        };
        // Joined outside the lock: the thread takes it to announce changes.
        drop(last);
    }
}

impl Fleet {
    /// Tells every follower that `bricks` (or any, for `None`) changed.
    fn announce(&self, bricks: Option<Vec<BrickName>>) {
        let subscribers: Vec<FleetChanged> = lock(&self.followers)
            .subscribers
            .iter()
            .map(|(_, changed)| Arc::clone(changed))
            .collect();
        for changed in subscribers {
            changed(bricks.clone());
        }
    }
}

/// Follows `config`'s fleet for one more confd watch, starting the thread
/// if it is the first.
pub(crate) fn follow(
    root: std::path::PathBuf,
    config: FleetConfig,
    fleet: Arc<Fleet>,
    changed: FleetChanged,
) -> Option<Following> {
    let mut followers = lock(&fleet.followers);
    if followers.thread.is_none() {
        followers.thread = Some(start(root, config, Arc::clone(&fleet))?);
    }
    followers.next += 1;
    let id = followers.next;
    followers.subscribers.push((id, changed));
    drop(followers);
    Some(Following { fleet, id })
}

fn start(root: std::path::PathBuf, config: FleetConfig, fleet: Arc<Fleet>) -> Option<Thread> {
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let runtime = crate::client::Runtime::new()
        .map_err(|e| tracing::warn!("cannot follow the fleet: {e}"))
        .ok()?;
    let handle = std::thread::Builder::new()
        .name("confd-fleet-watch".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                tokio::select! {
                    _ = stopped => {}
                    () = run(&root, &config, &fleet) => {}
                }
            });
        })
        .map_err(|e| tracing::warn!("cannot follow the fleet: {e}"))
        .ok()?;
    Some(Thread {
        stop: Some(stop),
        handle: Some(handle),
    })
}

/// Sessions, one after the other, forever (until the thread is stopped).
async fn run(root: &std::path::Path, config: &FleetConfig, fleet: &Fleet) {
    let mut backoff = Duration::from_millis(100);
    // What the followers were last told of: they loaded the live snapshot
    // there is now, or (offline) the cache, which any read may differ from.
    let mut told = live(fleet);
    let mut reread = told.is_none();
    // One member at a time, the next after a failure: a hung member is
    // left after one keep-alive timeout, never returned to by chance.
    let mut member = std::process::id() as usize;
    loop {
        let endpoint = &config.endpoints[member % config.endpoints.len().max(1)];
        match session(root, config, endpoint, fleet, &mut told, reread).await {
            // A session that got as far as watching had a good connection.
            Ok(()) => backoff = Duration::from_millis(100),
            Err(e) => {
                tracing::debug!("fleet watch on `{endpoint}`: {e}");
                member = member.wrapping_add(1);
            }
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

/// Makes `new` the process's snapshot unless a newer one is there (a load
/// may have read one meanwhile).
fn store(fleet: &Fleet, new: &Snapshot) {
    let mut state = lock(&fleet.state);
    let newer = match &*state {
        Known::Live(current) => new.revision >= current.revision,
        _ => true,
    };
    if newer {
        *state = Known::Live(Arc::new(new.clone()));
    }
}

/// Stores a fresh read and tells the followers what changed since `told`.
fn publish(fleet: &Fleet, new: Snapshot, told: &mut Option<Arc<Snapshot>>) {
    store(fleet, &new);
    match told.as_deref() {
        // Loaded from the cache or without the fleet: any brick may differ.
        None => fleet.announce(None),
        Some(old) => {
            let bricks = old.changed_bricks(&new);
            if !bricks.is_empty() {
                fleet.announce(Some(bricks));
            }
        }
    }
    *told = Some(Arc::new(new));
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
    endpoint: &str,
    fleet: &Fleet,
    told: &mut Option<Arc<Snapshot>>,
    reread: bool,
) -> Result<(), etcd_client::Error> {
    let timeout = config.timeout();
    let options = connect_options(timeout).with_require_leader(true);
    let client = within(
        timeout,
        etcd_client::Client::connect([endpoint], Some(options)),
    )
    .await?;
    let dirs = Snapshot::dirs(config);
    let mut snapshot = match (reread, told.as_deref()) {
        (false, Some(snapshot)) => snapshot.clone(),
        _ => {
            let (revision, ranges) = within(timeout, read_prefixes(&client, &dirs)).await?;
            let read = Snapshot::from_ranges(&dirs, revision, ranges);
            publish(fleet, read.clone(), told);
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
            store(fleet, &snapshot);
            fleet.announce(Some(bricks.clone()));
            *told = Some(Arc::new(snapshot.clone()));
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

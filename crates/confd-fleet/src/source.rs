//! [`EtcdFleet`], the fleet source that reads etcd: one read of the
//! brick keys of the fleet and of this node per boot, serving every brick,
//! and the offline cache when etcd does not answer in time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use confd::fleet::{FleetLayers, FleetSource, FleetText};
use confd::{BrickName, Error, Loader, StateDir, origin::EtcdKey, origin::FleetLayer};

use crate::cache::{self, Cached};
use crate::client::{Client, Entry};
use crate::{FleetConfig, FleetError, keys};

/// How long a process that found etcd unreachable keeps using the offline
/// cache before a load tries etcd again (a live watch reconnects on its own).
pub const RETRY_AFTER: Duration = Duration::from_secs(30);

/// What etcd held under a fleet's two key prefixes at one revision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The cluster revision of the read.
    pub revision: i64,
    /// Brick name to its entry, for the fleet layer and the node layer.
    pub layers: [BTreeMap<BrickName, Entry>; 2],
}

impl Snapshot {
    /// Reads both layers of `config` in one round trip.
    pub fn read(client: &Client, config: &FleetConfig) -> Result<Self, FleetError> {
        let dirs = Self::dirs(config);
        let (revision, ranges) = client.read_prefixes(&dirs)?;
        Ok(Self::from_ranges(&dirs, revision, ranges))
    }

    /// The two key prefixes a snapshot of `config` reads: the fleet's and
    /// the node's.
    #[must_use]
    pub fn dirs(config: &FleetConfig) -> [String; 2] {
        [
            keys::layer_dir(config, FleetLayer::Fleet),
            keys::layer_dir(config, FleetLayer::Node),
        ]
    }

    /// The snapshot the entries of each of `dirs` make.
    pub(crate) fn from_ranges(dirs: &[String; 2], revision: i64, ranges: Vec<Vec<Entry>>) -> Self {
        let mut snapshot = Snapshot {
            revision,
            layers: Default::default(),
        };
        for (i, (dir, entries)) in dirs.iter().zip(ranges).enumerate() {
            for entry in entries {
                if let Some(brick) = keys::brick_of(dir, &entry.key) {
                    snapshot.layers[i].insert(brick, entry);
                }
            }
        }
        snapshot
    }

    /// The bricks whose entries differ between `self` and `other`.
    #[must_use]
    pub fn changed_bricks(&self, other: &Snapshot) -> Vec<BrickName> {
        let mut changed: Vec<BrickName> = Vec::new();
        for (mine, theirs) in self.layers.iter().zip(&other.layers) {
            for (brick, entry) in mine {
                if theirs.get(brick) != Some(entry) {
                    changed.push(brick.clone());
                }
            }
            for brick in theirs.keys() {
                if !mine.contains_key(brick) {
                    changed.push(brick.clone());
                }
            }
        }
        changed.sort();
        changed.dedup();
        changed
    }

    /// The texts of `brick`, lowest first; a value that is not a brick's
    /// text (not UTF-8, over 1 MiB) is an error naming its key.
    pub fn texts(&self, brick: &BrickName) -> Result<Vec<FleetText>, FleetError> {
        let mut texts = Vec::new();
        for (layer, entries) in [FleetLayer::Fleet, FleetLayer::Node]
            .into_iter()
            .zip(&self.layers)
        {
            if let Some(entry) = entries.get(brick) {
                texts.push(text_of(entry, layer)?);
            }
        }
        Ok(texts)
    }
}

/// An entry's value as a brick's text.
pub(crate) fn text_of(entry: &Entry, layer: FleetLayer) -> Result<FleetText, FleetError> {
    let refuse = |reason: String| FleetError::Value {
        key: entry.key.clone(),
        revision: entry.mod_revision,
        reason,
    };
    if entry.value.len() as u64 > confd::file::MAX_FILE_SIZE {
        return Err(refuse(format!(
            "it is {} bytes: a brick's text is limited to 1 MiB",
            entry.value.len()
        )));
    }
    let text = String::from_utf8(entry.value.clone())
        .map_err(|_| refuse("it is not UTF-8 text".to_owned()))?;
    Ok(FleetText {
        key: EtcdKey {
            key: entry.key.clone(),
            revision: entry.mod_revision,
            layer,
        },
        text,
    })
}

/// A fleet one process talks to: a state dir and its `fleet` settings.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Target {
    pub(crate) root: PathBuf,
    pub(crate) config: FleetConfig,
}

/// What the process knows of one fleet.
#[derive(Debug)]
pub(crate) struct Fleet {
    /// The last good read, or why the last attempt failed and when.
    pub(crate) state: Mutex<Known>,
    /// Bricks whose cache matches the snapshot served (so it is written
    /// once per change, not once per load).
    stored: Mutex<HashMap<BrickName, i64>>,
    /// What was logged about which brick (not the message: it holds an age).
    warned: Mutex<HashSet<(BrickName, String)>>,
    /// The watches following this fleet, and the one thread that does.
    pub(crate) followers: Mutex<crate::watch::Followers>,
}

#[derive(Debug)]
pub(crate) enum Known {
    /// Not asked yet.
    Unknown,
    /// Read at this revision.
    Live(Arc<Snapshot>),
    /// etcd did not answer (at `since`).
    Offline { error: FleetError, since: Instant },
}

/// The fleet source on etcd, for [`confd::fleet::install`] or
/// [`Loader::fleet`]. Cheap to share; every fleet it serves is read once,
/// when the first brick of a boot is loaded.
#[derive(Default)]
pub struct EtcdFleet {
    fleets: Mutex<HashMap<Target, Arc<Fleet>>>,
}

/// The fleets it serves, never their values (a `Loader` or a `Watcher`
/// printed for debugging shows this).
impl std::fmt::Debug for EtcdFleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fleets = lock(&self.fleets);
        f.debug_list()
            .entries(
                fleets
                    .keys()
                    .map(|t| (&t.config.endpoints, t.config.prefix(), &t.config.node)),
            )
            .finish()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl EtcdFleet {
    /// A source that has read nothing yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn fleet(&self, target: &Target) -> Arc<Fleet> {
        Arc::clone(lock(&self.fleets).entry(target.clone()).or_insert_with(|| {
            Arc::new(Fleet {
                state: Mutex::new(Known::Unknown),
                stored: Mutex::default(),
                warned: Mutex::default(),
                followers: Mutex::default(),
            })
        }))
    }

    /// The snapshot of `target`, read now if it was never read (or failed
    /// more than [`RETRY_AFTER`] ago). The lock is held across the read so
    /// that the bricks of a boot loaded in parallel wait for one read
    /// (bounded by the timeout) instead of each making its own.
    fn snapshot(&self, target: &Target) -> (Arc<Fleet>, Result<Arc<Snapshot>, FleetError>) {
        let fleet = self.fleet(target);
        let result = {
            let mut known = lock(&fleet.state);
            let stale = match &*known {
                Known::Unknown => true,
                Known::Live(_) => false,
                Known::Offline { since, .. } => since.elapsed() >= RETRY_AFTER,
            };
            if stale {
                *known = match read(&target.config) {
                    Ok(snapshot) => Known::Live(Arc::new(snapshot)),
                    Err(error) => Known::Offline {
                        error,
                        since: Instant::now(),
                    },
                };
            }
            match &*known {
                Known::Live(snapshot) => Ok(Arc::clone(snapshot)),
                Known::Offline { error, .. } => Err(error.clone()),
                Known::Unknown => unreachable!("read just above"),
            }
        };
        (fleet, result)
    }
}

/// The fleet a load through `local` belongs to, and the state dir; `None`
/// for a host in no fleet.
pub(crate) fn target(local: &Loader) -> Result<Option<(Target, StateDir)>, Error> {
    let config: FleetConfig = local.load_typed()?;
    if !config.is_enabled() {
        return Ok(None);
    }
    let state = local.resolved_state_dir()?;
    Ok(Some((
        Target {
            root: state.root().to_owned(),
            config,
        },
        state,
    )))
}

/// A boot's one read of the fleet, within `timeout_ms` in all: connecting
/// costs no round trip, and the read asks one member at a time (see
/// [`Client`]), so a hung member costs a share of the wait, not the layer.
fn read(config: &FleetConfig) -> Result<Snapshot, FleetError> {
    let client = Client::connect(&config.endpoints, config.timeout())?;
    Snapshot::read(&client, config)
}

impl FleetSource for EtcdFleet {
    fn layers(&self, local: &Loader, brick: &BrickName) -> Result<FleetLayers, Error> {
        // The fleet brick is the host's own: the fleet cannot move itself.
        if brick.as_ref() == "fleet" {
            return Ok(FleetLayers::default());
        }
        let Some((target, state)) = target(local)? else {
            return Ok(FleetLayers::default());
        };
        let (fleet, snapshot) = self.snapshot(&target);
        match snapshot {
            Ok(snapshot) => {
                let texts = snapshot.texts(brick).map_err(|e| Error::Fleet {
                    message: e.to_string(),
                })?;
                fleet.store_cache(&state, &target.config, brick, &snapshot, &texts);
                Ok(FleetLayers {
                    texts,
                    warnings: Vec::new(),
                })
            }
            Err(error) => offline(
                &fleet,
                &state,
                &target.config,
                brick,
                &error,
                local.is_strict(),
            ),
        }
    }

    fn follow(
        &self,
        local: &Loader,
        changed: confd::fleet::FleetChanged,
    ) -> Option<confd::fleet::FollowGuard> {
        let (target, _) = target(local).ok()??;
        let fleet = self.fleet(&target);
        crate::watch::follow(target.root, target.config, fleet, changed)
            .map(|guard| Box::new(guard) as confd::fleet::FollowGuard)
    }
}

impl Fleet {
    fn store_cache(
        &self,
        state: &StateDir,
        config: &FleetConfig,
        brick: &BrickName,
        snapshot: &Snapshot,
        texts: &[FleetText],
    ) {
        if self.claim(brick, snapshot.revision) {
            self.write_cache(state, config, brick, snapshot.revision, texts);
        }
    }

    /// Whether the cache of `brick` still needs writing for `revision`;
    /// marked as written from then on, so one caller writes it.
    pub(crate) fn claim(&self, brick: &BrickName, revision: i64) -> bool {
        let mut stored = lock(&self.stored);
        if stored.get(brick) == Some(&revision) {
            return false;
        }
        stored.insert(brick.clone(), revision);
        true
    }

    /// Writes the cache of `brick`, claimed first.
    pub(crate) fn write_cache(
        &self,
        state: &StateDir,
        config: &FleetConfig,
        brick: &BrickName,
        revision: i64,
        texts: &[FleetText],
    ) {
        let record = Cached::new(config, revision, texts);
        if let Err(message) = cache::store(state, brick, &record) {
            // Another load may try again; a host that cannot keep a cache
            // still boots from etcd, and is told, once.
            lock(&self.stored).remove(brick);
            let message = format!("cannot keep the fleet cache of `{brick}`: {message}");
            self.warn_once(brick, "cache write", &message);
        }
    }

    /// Logs `message` unless this process logged the same `what` about
    /// `brick` already: an age that grows between two loads is no news.
    fn warn_once(&self, brick: &BrickName, what: &str, message: &str) {
        if lock(&self.warned).insert((brick.clone(), what.to_owned())) {
            tracing::warn!("{message}");
        }
    }
}

/// The layers of `brick` while etcd does not answer: the cached ones with
/// a warning, or none with a warning; an error under `--strict`.
fn offline(
    fleet: &Fleet,
    state: &StateDir,
    config: &FleetConfig,
    brick: &BrickName,
    error: &FleetError,
    strict: bool,
) -> Result<FleetLayers, Error> {
    let cached = match cache::load(state, brick) {
        Ok(Some((record, age))) if record.is_for(config) => Some((record, age)),
        Ok(_) => None,
        Err(message) => {
            fleet.warn_once(brick, "cache read", &message);
            None
        }
    };
    let message = match &cached {
        Some((record, age)) => format!(
            "{error}: `{brick}` uses the fleet layer cached at revision {}, {} old",
            record.revision,
            cache::shown_age(*age)
        ),
        None => format!("{error}: `{brick}` loads without the fleet layer (none is cached)"),
    };
    if strict {
        let fallback = if cached.is_some() {
            "the cached fleet layer"
        } else {
            "no fleet layer"
        };
        return Err(Error::Fleet {
            message: format!("{error}: `{brick}` is not loaded with {fallback} under `--strict`"),
        });
    }
    let what = match &cached {
        Some((record, _)) => format!("offline, cached at {}", record.revision),
        None => "offline, nothing cached".to_owned(),
    };
    fleet.warn_once(brick, &what, &message);
    Ok(FleetLayers {
        texts: cached.map(|(record, _)| record.texts()).unwrap_or_default(),
        warnings: vec![message],
    })
}

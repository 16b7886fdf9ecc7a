//! Live reload: watch bricks' configuration files, keep serving the last good
//! configuration, and say exactly which bricks' effective configuration
//! changed.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A brick: a handle whose `current()` is one atomic load.
//! let watch = confd::watch::Watcher::new(confd::Loader::new()).watch("relay")?;
//! let sync_on_start: Option<bool> = watch.current().get("sync_on_start")?;
//!
//! // A supervisor: a set, and what must restart (or only reload).
//! let set = confd::watch::Watcher::new(confd::Loader::new()).watch_set(["relay", "queue"])?;
//! let mut applied = std::collections::HashMap::new();
//! for event in set.events() {
//!     println!("{event}");
//!     for (brick, action) in confd::watch::plan(&set.config_hashes(), &applied) {
//!         // …start, restart, reload or stop `brick`, then record what it now runs:
//!         # let _ = action;
//!         if let Some(config) = set.current(brick.as_str()) {
//!             applied.insert(brick, config.hashes());
//!         }
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # How it works, and why
//!
//! - **Directories, never files.** Editors save by writing a temporary file
//!   and renaming it over the old one, which replaces the inode a file watch
//!   would follow. So the watcher watches `conf.d` itself (not recursively)
//!   and each watched brick's `NAME.d`; deletes, re-creates, drop-ins added
//!   or removed and a symlink swapped for another all show up as events in
//!   one of those directories. A `NAME.d` created later is noticed through
//!   `conf.d` and watched from then on.
//! - **And every directory on the way.** inotify follows inodes, not paths:
//!   once `etc` is moved away, or a symlink on the way to `conf.d` is
//!   switched to another release (`ln -sfn r2 etc.tmp && mv -T etc.tmp
//!   etc`), a watch on the old `conf.d` hears nothing of the new one. So the
//!   path of each watched directory is resolved as the kernel does, link by
//!   link from `/`, and every directory on the way is watched too, for the
//!   one entry that leads on (`etc` in the state dir, `conf.d` in `etc`, a
//!   link's target in the link's directory); other entries there are
//!   ignored. A change to one of those entries, or to a watched directory
//!   itself, resolves every path again, sets every watch anew (notify drops
//!   a watch by itself when it sees its directory moved) and reloads every
//!   brick. A main file or drop-in that is a symlink is followed the same
//!   way, to its target's entry, so editing or switching the target is seen
//!   too.
//! - **Polled when it cannot be watched.** inotify needs read permission on
//!   a directory: a service user may reach `conf.d` through a `0711`
//!   directory it cannot read (its state dir, `etc`, `conf.d` itself, the
//!   directory a symlinked file lives in), or the inotify watch limit may be
//!   reached. Such a directory is polled instead, every [`POLL_INTERVAL`]:
//!   the `stat` of the directory and of the entries the watch needs there
//!   (the one that leads on, the bricks' files, the drop-ins), which search
//!   permission alone allows. Any difference counts as a change on the way.
//!   Only what cannot be watched is polled, and the watch says so once per
//!   directory through [`Watcher::on_warning`] (quietly for a directory
//!   above the state dir, such as a `0711` home, where that is normal).
//! - **Missing directories.** If `conf.d` (or the state dir) does not exist
//!   yet, the deepest existing directory on the way is watched for the
//!   missing entry, until `conf.d` appears; the bricks run on their defaults
//!   meanwhile. If `conf.d` is deleted later, the bricks reload to their
//!   defaults and the watch falls back the same way.
//! - **Reload, don't patch.** Every change reloads the brick through the same
//!   [`Loader`] as the first load (a clone of it: same state dir, profile,
//!   environment and `--set` overrides), so a reload can never disagree with a
//!   fresh start; it bypasses the process-wide load cache, since a reload
//!   only happens because files changed. Events are attributed to bricks by
//!   path: `conf.d/NAME`, `conf.d/NAME.d` and files in it reload `NAME`;
//!   anything else in `conf.d` (editor temp files, a `..data` symlink) and
//!   any change on the way to it reloads every watched brick, which is cheap
//!   and never misses a change.
//! - **Debounced.** File events pass through `notify-debouncer-full` (default
//!   [`DEFAULT_DEBOUNCE`]), and reloads are spaced at least one debounce
//!   apart, so a burst of 1,000 writes costs a handful of reloads. Every event
//!   that arrives during or after a reload causes another one, so the last
//!   configuration loaded is always the one on disk once writes stop.
//! - **Overflow.** When the kernel's event queue overflows (notify's
//!   `Rescan`), or the watcher reports an error, every watch is set anew and
//!   every brick reloads.
//! - **Keep last good.** A load that fails sends [`WatchEvent::Invalid`] and
//!   leaves [`BrickWatch::current`] on the last good configuration. The same
//!   error is reported once, not on every save; the next good load always
//!   sends [`WatchEvent::Reloaded`], even if equal to the last good one, so
//!   every `Invalid` is followed by the news that it is fixed.
//! - **Events only for real changes.** A reload whose [`EffectiveHash`]
//!   equals the last one (a comment or whitespace edit, a value moved to
//!   another layer) sends nothing; `current()` still switches to the new load,
//!   so origins shown by `explain` stay true.
//! - **Reads are lock-free.** `current()` is an `arc-swap` load: no lock, no
//!   file I/O, no allocation; the watch thread swaps in each new
//!   configuration.
//!
//! Events queue on an unbounded channel until read: a brick that only wants
//! `current()` should still drain [`BrickWatch::events`] now and then, or
//! hand [`BrickWatch::reader`] to its workers and read events on one thread.
//! A file written through a hard link elsewhere, or a directory mounted over
//! one on the way, makes no event: inotify does not report those.

mod diff;
mod engine;
mod events;
mod plan;
mod poll;
mod resolve;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

use crate::{BrickConfig, BrickName, EffectiveHash, Error, Loader, hash::ConfigHashes};
use resolve::Step;

pub use diff::{Change, Setting};
use engine::{Engine, Msg, Tracked};
pub use events::{Invalid, Reloaded, WatchEvent, shown_hash};
pub use plan::{Action, plan};

/// How long file events settle before a reload, unless
/// [`Watcher::debounce`] says otherwise. Editors finish a save (write, fsync,
/// rename) well within it, and it keeps edit-to-event latency far under the
/// 50 ms a person notices.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(20);

/// How often a directory that cannot be watched is polled: often enough
/// that a change is seen within a second, seldom enough that polling costs
/// nothing (a few `stat` calls).
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Where a watch's warnings go: [`Watcher::on_warning`], or `tracing`.
type WarningSink = Arc<dyn Fn(&WatchWarning) + Send + Sync>;

/// Starts watches: which loader to reload with and how long to debounce.
#[derive(Clone)]
pub struct Watcher {
    loader: Loader,
    debounce: Duration,
    on_warning: WarningSink,
}

impl fmt::Debug for Watcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watcher")
            .field("loader", &self.loader)
            .field("debounce", &self.debounce)
            .finish_non_exhaustive()
    }
}

/// Something a running watch wants its user to know that is not news about
/// a brick: how it keeps watching when the usual way fails.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WatchWarning {
    /// A directory the watch needs cannot be watched (no read permission,
    /// the inotify watch limit reached): it is polled every `every` instead.
    /// Said once per directory.
    Polling {
        /// The directory, by real path.
        dir: PathBuf,
        /// Why it cannot be watched, lowercase: `permission denied`.
        reason: String,
        /// How often it is polled.
        every: Duration,
    },
    /// The file-system watcher reported an error (its queue overflowed, a
    /// watch was lost): every watch is set again and every brick reloaded.
    Lost {
        /// `conf.d`, as the loader sees it.
        conf_d: PathBuf,
        /// What the watcher said.
        reason: String,
    },
}

impl fmt::Display for WatchWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchWarning::Polling { dir, reason, every } => write!(
                f,
                "cannot watch `{}` ({reason}): checking it every {} ms instead",
                dir.display(),
                every.as_millis()
            ),
            WatchWarning::Lost { conf_d, reason } => write!(
                f,
                "watching `{}`: {reason}; watching everything again",
                conf_d.display()
            ),
        }
    }
}

/// What notify said, as a lowercase reason without its debug dump of paths.
fn notify_reason(error: &notify::Error) -> String {
    match &error.kind {
        // `Permission denied (os error 13)` as `permission denied`; the kind
        // alone would say `uncategorized error` for some (`EMFILE`).
        notify::ErrorKind::Io(e) => {
            let text = e.to_string();
            let text = text.split(" (os error").next().unwrap_or_default();
            let mut chars = text.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_lowercase().chain(chars).collect()
            })
        }
        notify::ErrorKind::Generic(text) => text.clone(),
        notify::ErrorKind::PathNotFound => "no such file or directory".to_owned(),
        notify::ErrorKind::WatchNotFound => "the watch was lost".to_owned(),
        notify::ErrorKind::InvalidConfig(_) => "the watcher refused its settings".to_owned(),
        notify::ErrorKind::MaxFilesWatch => {
            "the inotify watch limit is reached (`fs.inotify.max_user_watches`)".to_owned()
        }
    }
}

/// Why a watch could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// A brick name is invalid, the state dir or profile cannot be resolved,
    /// or (for [`Watcher::watch`]) the brick's configuration is invalid, so
    /// there is no good configuration to serve.
    #[error(transparent)]
    Load(#[from] Error),

    /// The file-system watcher could not start (the inotify instance limit
    /// reached, …). A directory it refuses later is polled instead.
    #[error("cannot watch `{}`: {}", path.display(), notify_reason(error))]
    Notify {
        /// `conf.d`.
        path: PathBuf,
        /// What notify said.
        error: notify::Error,
    },

    /// The watch thread could not be started (the thread limit reached, …).
    #[error("cannot start the watch thread: {0}")]
    Thread(std::io::Error),
}

/// What the watch thread shares with readers: one slot per brick.
struct Shared {
    slots: Vec<Slot>,
    loads: AtomicU64,
}

struct Slot {
    brick: BrickName,
    config: ArcSwapOption<BrickConfig>,
}

/// A cheap, cloneable, thread-safe reader of one watched brick's current
/// configuration, for workers that do not handle events.
#[derive(Clone)]
pub struct ConfigReader {
    shared: Arc<Shared>,
    index: usize,
}

impl ConfigReader {
    /// The configuration in force: one atomic load, no lock, no I/O.
    #[must_use]
    pub fn current(&self) -> Arc<BrickConfig> {
        // A reader is only handed out for a slot that holds a configuration,
        // and the watch thread never empties a slot again.
        self.shared.slots[self.index]
            .config
            .load_full()
            .expect("a reader's slot always holds a configuration")
    }

    /// The brick it reads.
    #[must_use]
    pub fn brick(&self) -> &BrickName {
        &self.shared.slots[self.index].brick
    }
}

impl fmt::Debug for ConfigReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigReader")
            .field("brick", self.brick())
            .finish_non_exhaustive()
    }
}

/// A live view of one brick's configuration; see the [module docs](self).
///
/// Dropping it stops the watch.
#[derive(Debug)]
pub struct BrickWatch {
    set: BrickSetWatch,
    reader: ConfigReader,
}

impl BrickWatch {
    /// The configuration in force: the last one that loaded without error.
    /// One atomic load, no lock, no file I/O.
    #[must_use]
    pub fn current(&self) -> Arc<BrickConfig> {
        self.reader.current()
    }

    /// A thread-safe handle on [`BrickWatch::current`] to give to workers.
    #[must_use]
    pub fn reader(&self) -> ConfigReader {
        self.reader.clone()
    }

    /// The brick watched.
    #[must_use]
    pub fn brick(&self) -> &BrickName {
        self.reader.brick()
    }

    /// The events, in the order they happened.
    #[must_use]
    pub fn events(&self) -> &Receiver<WatchEvent> {
        self.set.events()
    }

    /// How many times the brick's files were loaded since the watch started,
    /// the first load included; for diagnostics.
    #[must_use]
    pub fn loads(&self) -> u64 {
        self.set.loads()
    }
}

/// A live view of several bricks, for a supervisor: every event names its
/// brick, and [`BrickSetWatch::config_hashes`] feeds [`plan`].
///
/// Unlike [`BrickWatch`], it starts even if some bricks are invalid: those
/// have no `current()` and their first event is [`WatchEvent::Invalid`].
/// Dropping it stops the watch.
pub struct BrickSetWatch {
    shared: Arc<Shared>,
    events: Receiver<WatchEvent>,
    control: Sender<Msg>,
    thread: Option<JoinHandle<()>>,
    /// Keeps the fleet source following the fleet, if there is one.
    fleet: Option<crate::fleet::FollowGuard>,
}

impl fmt::Debug for BrickSetWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrickSetWatch")
            .field("bricks", &self.bricks().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl BrickSetWatch {
    /// The configuration in force for `brick`; `None` if it is not watched
    /// or has not loaded without error since the watch started.
    #[must_use]
    pub fn current(&self, brick: &str) -> Option<Arc<BrickConfig>> {
        self.slot(brick)?.config.load_full()
    }

    /// A thread-safe reader of one brick, if it is watched and has a
    /// configuration.
    #[must_use]
    pub fn reader(&self, brick: &str) -> Option<ConfigReader> {
        let index = self
            .shared
            .slots
            .iter()
            .position(|s| s.brick.as_str() == brick)?;
        self.shared.slots[index].config.load().as_ref()?;
        Some(ConfigReader {
            shared: Arc::clone(&self.shared),
            index,
        })
    }

    /// The bricks watched, in the order given.
    pub fn bricks(&self) -> impl Iterator<Item = &BrickName> {
        self.shared.slots.iter().map(|s| &s.brick)
    }

    /// The effective hash of each brick's configuration in force, for
    /// [`plan`] (which then knows no reload: prefer
    /// [`BrickSetWatch::config_hashes`]); bricks without a good
    /// configuration are left out, since they cannot start.
    #[must_use]
    pub fn hashes(&self) -> Vec<(BrickName, EffectiveHash)> {
        self.shared
            .slots
            .iter()
            .filter_map(|s| {
                let config = s.config.load_full()?;
                Some((s.brick.clone(), config.effective_hash()))
            })
            .collect()
    }

    /// Both hashes of each brick's configuration in force, for [`plan`] to
    /// tell a [`Reload`](Action::Reload) from a [`Restart`](Action::Restart);
    /// bricks without a good configuration are left out.
    #[must_use]
    pub fn config_hashes(&self) -> Vec<(BrickName, ConfigHashes)> {
        self.shared
            .slots
            .iter()
            .filter_map(|s| Some((s.brick.clone(), s.config.load_full()?.hashes())))
            .collect()
    }

    /// The events of every brick, in the order they happened.
    #[must_use]
    pub fn events(&self) -> &Receiver<WatchEvent> {
        &self.events
    }

    /// How many brick loads the watch has done, the first ones included;
    /// for diagnostics.
    #[must_use]
    pub fn loads(&self) -> u64 {
        self.shared.loads.load(Ordering::Relaxed)
    }

    fn slot(&self, brick: &str) -> Option<&Slot> {
        self.shared.slots.iter().find(|s| s.brick.as_str() == brick)
    }
}

impl Drop for BrickSetWatch {
    fn drop(&mut self) {
        drop(self.fleet.take());
        let _ = self.control.send(Msg::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Watcher {
    /// Watches with `loader` (cloned into the watch thread for every reload).
    #[must_use]
    pub fn new(loader: Loader) -> Self {
        Watcher {
            loader,
            debounce: DEFAULT_DEBOUNCE,
            on_warning: Arc::new(|warning| tracing::warn!("{warning}")),
        }
    }

    /// Where the watch's warnings go (a directory polled because it cannot be
    /// watched, a watcher error), instead of a `tracing` warning; called on
    /// the thread that starts the watch, then on the watch thread. A program
    /// without a `tracing` subscriber should set it, or its user never hears.
    #[must_use]
    pub fn on_warning(mut self, sink: impl Fn(&WatchWarning) + Send + Sync + 'static) -> Self {
        self.on_warning = Arc::new(sink);
        self
    }

    /// How long file events settle before a reload, and the least time
    /// between two reloads.
    #[must_use]
    pub fn debounce(mut self, debounce: Duration) -> Self {
        self.debounce = debounce.max(Duration::from_millis(1));
        self
    }

    /// Watches one brick. Fails if its configuration does not load now: a
    /// brick needs a good configuration to start with.
    pub fn watch(self, brick: &str) -> Result<BrickWatch, WatchError> {
        let set = self.start(&[brick], true)?;
        let reader = ConfigReader {
            shared: Arc::clone(&set.shared),
            index: 0,
        };
        Ok(BrickWatch { set, reader })
    }

    /// Watches several bricks (duplicates count once). Starts even if some
    /// are invalid; each of those gets an [`WatchEvent::Invalid`] first.
    pub fn watch_set<I, S>(self, bricks: I) -> Result<BrickSetWatch, WatchError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let names: Vec<S> = bricks.into_iter().collect();
        let names: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
        self.start(&names, false)
    }

    fn start(self, names: &[&str], require_valid: bool) -> Result<BrickSetWatch, WatchError> {
        let mut bricks: Vec<BrickName> = Vec::new();
        for name in names {
            let brick = BrickName::new(name).map_err(Error::from)?;
            if !bricks.contains(&brick) {
                bricks.push(brick);
            }
        }
        let state = self.loader.resolved_state_dir()?;
        let shared = Arc::new(Shared {
            slots: bricks
                .iter()
                .map(|brick| Slot {
                    brick: brick.clone(),
                    config: ArcSwapOption::empty(),
                })
                .collect(),
            loads: AtomicU64::new(0),
        });

        let (control, inbox) = mpsc::channel();
        let from_notify = control.clone();
        let debouncer = new_debouncer(self.debounce, None, move |result| {
            let _ = from_notify.send(Msg::Fs(result));
        })
        .map_err(|error| WatchError::Notify {
            path: state.conf_d(),
            error,
        })?;
        let (events_tx, events) = mpsc::channel();
        let snapshot = self
            .loader
            .resolved_snapshot()?
            .map(|path| std::path::absolute(&path).unwrap_or(path));
        let mut engine = Engine {
            snapshot,
            // Absolute once, here: a relative state dir means the one the
            // watch started in.
            state_root: std::path::absolute(state.root())
                .unwrap_or_else(|_| state.root().to_owned()),
            conf_d: state.conf_d(),
            // Every reload follows a change (or an overflow, after which
            // nothing is trusted): read the files, never the load cache.
            loader: self.loader.cache(false),
            debounce: self.debounce,
            tracked: vec![Tracked::default(); bricks.len()],
            shared: Arc::clone(&shared),
            events: events_tx,
            debouncer,
            watched: BTreeMap::new(),
            on_warning: self.on_warning,
            told: BTreeSet::new(),
            next_poll: None,
        };

        // Watch first, then load: a change between the two is then both in
        // the load and in an event, never in neither. The fleet too.
        engine.rearm(true);
        let fleet = engine.loader.fleet_source().and_then(|source| {
            let to_engine = Mutex::new(control.clone());
            let changed: crate::fleet::FleetChanged = Arc::new(move |bricks| {
                let to_engine = to_engine.lock().unwrap_or_else(PoisonError::into_inner);
                let _ = to_engine.send(Msg::Fleet(bricks));
            });
            source.follow(&engine.loader.clone().without_fleet(), changed)
        });
        // The first good load is the starting point, not news; a first bad
        // one is news for a set (its first event) and fatal for one brick.
        for index in 0..bricks.len() {
            match engine.load(index) {
                Ok(config) => {
                    engine.tracked[index].hash = Some(config.effective_hash());
                    shared.slots[index].config.store(Some(Arc::new(config)));
                }
                Err(error) if require_valid => return Err(error.into()),
                Err(error) => engine.settle(index, Err(error)),
            }
        }

        let thread = std::thread::Builder::new()
            .name("confd-watch".to_owned())
            .spawn(move || engine.run(&inbox))
            .map_err(WatchError::Thread)?;
        Ok(BrickSetWatch {
            shared,
            events,
            control,
            thread: Some(thread),
            fleet,
        })
    }
}

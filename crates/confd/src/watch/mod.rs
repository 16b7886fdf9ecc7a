//! Live reload: watch bricks' configuration files, keep serving the last good
//! configuration, and say exactly which bricks' effective configuration
//! changed.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A brick: a handle whose `current()` is one atomic load.
//! let watch = confd::Watcher::new(confd::Loader::new()).watch("mounts")?;
//! let auto_sync: Option<bool> = watch.current().get("auto_sync")?;
//!
//! // A supervisor: a set, and what must restart.
//! let set = confd::Watcher::new(confd::Loader::new()).watch_set(["mounts", "cache"])?;
//! let mut applied = std::collections::HashMap::new();
//! for event in set.events() {
//!     println!("{event}");
//!     for (brick, action) in confd::plan(&set.hashes(), &applied) {
//!         // …start, restart or stop `brick`, then record what it now runs:
//!         # let _ = action;
//!         if let Some(config) = set.current(brick.as_str()) {
//!             applied.insert(brick, config.effective_hash());
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
//!   brick. Directories above the state dir that cannot be watched (a `0711`
//!   home) are done without. A main file or drop-in that is a symlink is
//!   followed the same way, to its target's entry, so editing or switching
//!   the target is seen too.
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
mod plan;
mod resolve;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

use crate::{BrickConfig, BrickName, EffectiveHash, Error, Loader};
use resolve::Step;

pub use diff::{Change, Setting};
pub use plan::{Action, plan};

/// How long file events settle before a reload, unless
/// [`Watcher::debounce`] says otherwise. Editors finish a save (write, fsync,
/// rename) well within it, and it keeps edit-to-event latency far under the
/// 50 ms a person notices.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(20);

/// Starts watches: which loader to reload with and how long to debounce.
#[derive(Clone, Debug)]
pub struct Watcher {
    loader: Loader,
    debounce: Duration,
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

    /// The file-system watcher refused a directory (permission denied, the
    /// inotify watch limit reached, …).
    #[error("cannot watch `{}`: {error}", path.display())]
    Notify {
        /// The directory.
        path: PathBuf,
        /// What notify said.
        error: notify::Error,
    },
}

/// What happened to a watched brick's configuration.
#[derive(Debug)]
#[non_exhaustive]
pub enum WatchEvent {
    /// A new effective configuration is in force.
    Reloaded(Reloaded),
    /// The files no longer load; the last good configuration stays in force.
    Invalid(Invalid),
}

/// A new effective configuration, now served by `current()`.
#[derive(Debug)]
#[non_exhaustive]
pub struct Reloaded {
    /// The brick.
    pub brick: BrickName,
    /// The configuration now in force (the same `Arc` `current()` returns).
    pub config: Arc<BrickConfig>,
    /// The keys whose values changed, sorted; empty when the brick recovers
    /// from [`Invalid`] to a configuration equal to the last good one.
    pub changes: Vec<Change>,
    /// The hash of `config`.
    pub hash: EffectiveHash,
    /// The hash of the configuration it replaces; `None` if the brick had
    /// none (it was invalid since the watch started).
    pub previous: Option<EffectiveHash>,
}

/// A failed reload.
#[derive(Debug)]
#[non_exhaustive]
pub struct Invalid {
    /// The brick.
    pub brick: BrickName,
    /// Why the configuration does not load, naming file, line and key.
    pub error: Error,
    /// The hash of the last good configuration, still in force; `None` if
    /// the brick has never loaded since the watch started.
    pub serving: Option<EffectiveHash>,
}

impl WatchEvent {
    /// The brick the event is about.
    #[must_use]
    pub fn brick(&self) -> &BrickName {
        match self {
            WatchEvent::Reloaded(r) => &r.brick,
            WatchEvent::Invalid(i) => &i.brick,
        }
    }
}

impl WatchEvent {
    /// The event as its `Display` line, but with secret values shown (for
    /// `--show-secrets`).
    #[must_use]
    pub fn showing_secrets(&self) -> impl fmt::Display + '_ {
        EventLine {
            event: self,
            secrets: true,
        }
    }
}

impl fmt::Display for WatchEvent {
    /// One line per event for logs, secrets redacted; an error's snippet is
    /// left out (each problem's first line is kept).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        EventLine {
            event: self,
            secrets: false,
        }
        .fmt(f)
    }
}

/// An event's line, with or without its secret values.
struct EventLine<'a> {
    event: &'a WatchEvent,
    secrets: bool,
}

impl fmt::Display for EventLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.event {
            WatchEvent::Reloaded(r) => {
                write!(f, "reloaded {} {}", r.brick, r.hash.short())?;
                if r.changes.is_empty() {
                    return f.write_str(": valid again, unchanged");
                }
                for (i, change) in r.changes.iter().enumerate() {
                    f.write_str(if i == 0 { ": " } else { "; " })?;
                    if self.secrets && change.secret {
                        let mut shown = change.clone();
                        shown.secret = false;
                        write!(f, "{shown}")?;
                    } else {
                        write!(f, "{change}")?;
                    }
                }
                Ok(())
            }
            WatchEvent::Invalid(i) => {
                let serving = i.serving.map_or("nothing".to_owned(), |h| h.short());
                write!(f, "invalid {} (serving {serving}): ", i.brick)?;
                for (n, problem) in i.error.problems().iter().enumerate() {
                    let text = problem.to_string();
                    let first = text.lines().next().unwrap_or_default();
                    f.write_str(if n == 0 { "" } else { "; " })?;
                    f.write_str(first)?;
                }
                Ok(())
            }
        }
    }
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
/// brick, and [`BrickSetWatch::hashes`] feeds [`plan`].
///
/// Unlike [`BrickWatch`], it starts even if some bricks are invalid: those
/// have no `current()` and their first event is [`WatchEvent::Invalid`].
/// Dropping it stops the watch.
pub struct BrickSetWatch {
    shared: Arc<Shared>,
    events: Receiver<WatchEvent>,
    control: Sender<Msg>,
    thread: Option<JoinHandle<()>>,
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

    /// The hash of each brick's configuration in force, for [`plan`]; bricks
    /// without a good configuration are left out, since they cannot start.
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
        }
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
        let mut engine = Engine {
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
        };

        // Watch first, then load: a change between the two is then both in
        // the load and in an event, never in neither.
        engine.rearm(true, true)?;
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
            .map_err(|e| Error::Io {
                path: state.conf_d(),
                source: e,
            })?;
        Ok(BrickSetWatch {
            shared,
            events,
            control,
            thread: Some(thread),
        })
    }
}

/// What reaches the watch thread.
enum Msg {
    /// A batch of debounced file events, or the watcher's errors.
    Fs(DebounceEventResult),
    /// The handle was dropped.
    Stop,
}

/// The watch thread's memory of a brick.
#[derive(Clone, Default)]
struct Tracked {
    /// The hash of the configuration in force.
    hash: Option<EffectiveHash>,
    /// The text of the last error reported, while the brick is invalid.
    error: Option<String>,
}

/// Which bricks a batch of events asks to reload.
#[derive(Default)]
struct Dirty {
    all: bool,
    /// Something on the way to a watched directory changed, or the watcher
    /// may have lost track: resolve every path again and re-arm every watch.
    moved: bool,
    bricks: Vec<usize>,
}

impl Dirty {
    fn is_empty(&self) -> bool {
        !self.all && !self.moved && self.bricks.is_empty()
    }

    /// Where the files are may have changed: every brick reloads.
    fn moved(&mut self) {
        self.moved = true;
        self.all = true;
    }
}

/// A directory's identity, to notice one replaced under the same name
/// (inotify watches the old inode until told otherwise).
type DirId = (u64, u64);

fn dir_id(path: &Path) -> Option<DirId> {
    std::fs::metadata(path)
        .ok()
        .filter(std::fs::Metadata::is_dir)
        .map(|m| (m.dev(), m.ino()))
}

/// The entries on the way from a symlink `dir/name` to the file it points
/// to (none if it is not a symlink). Watching them, the target's own entry
/// included, sees the link's target edited, replaced or switched, as an
/// edit of the brick's own file would be.
fn linked_file(dir: &Path, name: &OsStr) -> Vec<Step> {
    let mut steps = resolve::resolve_from(dir.to_owned(), Path::new(name)).steps;
    // The first step is `dir/name` itself, which `dir`'s watch covers.
    if steps.len() > 1 {
        steps.remove(0);
    } else {
        steps.clear();
    }
    steps
}

/// The drop-ins in `dir` that are symlinks.
fn linked_drop_ins(dir: &Path) -> Vec<OsString> {
    use std::os::unix::ffi::OsStrExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_symlink()))
        .map(|e| e.file_name())
        .filter(|name| crate::is_drop_in_name(name.as_bytes()))
        .collect()
}

/// Why a directory is watched; one directory can have several reasons.
#[derive(Clone, Debug, Default)]
struct Role {
    /// Its entries on the way to `conf.d` or a `NAME.d` (`etc` in the state
    /// dir, a link's target…): a change to one may move a watched directory.
    leads: BTreeSet<OsString>,
    /// It is `conf.d`: its entries are the bricks' main files and `NAME.d`.
    conf_d: bool,
    /// The bricks (slot indexes) whose `NAME.d` it is.
    drop_ins: Vec<usize>,
    need: Need,
}

/// How much the watch needs a directory, for when it cannot be watched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Need {
    /// Only to see a link switched above the state dir: done without,
    /// quietly (such a directory may well be unreadable, a `0711` home).
    #[default]
    Above,
    /// To see a switch inside the state dir: done without, with a warning.
    Switches,
    /// It holds the files, or is where a missing directory will appear:
    /// nothing is seen without it, so a watch cannot start without it.
    Files,
}

/// A directory the watch thread asked notify to watch.
struct Dir {
    id: DirId,
    role: Role,
    /// `false` when notify refused it and the watch goes on without it.
    armed: bool,
}

/// The watch thread's state.
struct Engine {
    loader: Loader,
    /// The state dir as configured (absolute, links not followed): every
    /// watched directory is found from it again after a change on the way.
    state_root: PathBuf,
    /// `conf.d` as the loader sees it, for messages.
    conf_d: PathBuf,
    debounce: Duration,
    tracked: Vec<Tracked>,
    shared: Arc<Shared>,
    events: Sender<WatchEvent>,
    debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
    /// By real path (no symlink): events name the directory notify watches.
    watched: BTreeMap<PathBuf, Dir>,
}

impl Engine {
    fn run(mut self, inbox: &Receiver<Msg>) {
        let mut last_reload: Option<Instant> = None;
        let mut dirty = Dirty::default();
        loop {
            let Ok(msg) = inbox.recv() else { return };
            if !self.absorb(msg, &mut dirty) {
                return;
            }
            // Reloads start at least one debounce apart: the debouncer emits
            // a batch on every tick while a file keeps changing, and this
            // bounds the reloads of a long burst to its length / debounce.
            if let Some(last) = last_reload {
                let until = last + self.debounce;
                while let Some(left) = until.checked_duration_since(Instant::now()) {
                    match inbox.recv_timeout(left) {
                        Ok(msg) => {
                            if !self.absorb(msg, &mut dirty) {
                                return;
                            }
                        }
                        Err(RecvTimeoutError::Timeout) => break,
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            }
            loop {
                match inbox.try_recv() {
                    Ok(msg) => {
                        if !self.absorb(msg, &mut dirty) {
                            return;
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            if dirty.is_empty() {
                continue;
            }
            let mut batch = std::mem::take(&mut dirty);
            // Watches first, then loads: a change between the two is then in
            // the load or in an event, never in neither.
            match self.rearm(batch.moved, false) {
                // New directories may hold files no event announced.
                Ok(true) => batch.all = true,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!("{e}");
                    batch.all = true;
                }
            }
            if batch.all {
                (0..self.tracked.len()).for_each(|i| self.reload(i));
            } else {
                batch.bricks.sort_unstable();
                batch.bricks.dedup();
                batch.bricks.iter().for_each(|&i| self.reload(i));
            }
            last_reload = Some(Instant::now());
        }
    }

    /// Notes what a message asks to reload; `false` when it says stop.
    fn absorb(&self, msg: Msg, dirty: &mut Dirty) -> bool {
        match msg {
            Msg::Stop => return false,
            Msg::Fs(Ok(events)) => {
                for event in events {
                    if event.need_rescan() {
                        dirty.moved();
                        continue;
                    }
                    // Opens and reads are the loader's own: reacting to them
                    // would reload forever.
                    if matches!(event.kind, EventKind::Access(kind)
                        if kind != AccessKind::Close(AccessMode::Write))
                    {
                        continue;
                    }
                    for path in &event.paths {
                        self.attribute(path, dirty);
                    }
                }
            }
            Msg::Fs(Err(errors)) => {
                for error in errors {
                    tracing::warn!("watching `{}`: {error}", self.conf_d.display());
                }
                dirty.moved();
            }
        }
        true
    }

    /// Notes what an event at `path` asks to reload. The watches are not
    /// recursive, so `path` is a watched directory or an entry of one.
    fn attribute(&self, path: &Path, dirty: &mut Dirty) {
        // The directory itself was moved, deleted or changed mode.
        if self.watched.contains_key(path) {
            return dirty.moved();
        }
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return dirty.moved();
        };
        // From a directory no longer watched (news from before a switch), or
        // one the watcher never asked for: look again rather than guess.
        let Some(dir) = self.watched.get(parent) else {
            return dirty.moved();
        };
        if dir.role.leads.contains(name) {
            return dirty.moved();
        }
        if dir.role.conf_d {
            // Editor temp files, a `..data` link: could be anything.
            match self.brick_named(name) {
                Some(index) => dirty.bricks.push(index),
                None => dirty.all = true,
            }
        }
        dirty.bricks.extend(&dir.role.drop_ins);
        // Anything else is another entry of a directory on the way (a
        // store in `var`, an old release): none of the bricks' business.
    }

    /// The watched brick whose main file (`NAME`) or `NAME.d` is the entry
    /// `name` of `conf.d`.
    fn brick_named(&self, name: &OsStr) -> Option<usize> {
        let name = name.to_str()?;
        let name = name.strip_suffix(".d").unwrap_or(name);
        self.shared
            .slots
            .iter()
            .position(|s| s.brick.as_str() == name)
    }

    /// The directories to watch now, by real path: `conf.d` and the `NAME.d`
    /// that exist, and every directory on the way to them (or, while one is
    /// missing, to where it would be) for the entry that leads on.
    fn wanted(&self) -> BTreeMap<PathBuf, (DirId, Role)> {
        let mut roles: BTreeMap<PathBuf, Role> = BTreeMap::new();
        let mut lead = |steps: &[Step]| {
            for step in steps {
                let role = roles.entry(step.dir.clone()).or_default();
                role.leads.insert(step.name.clone());
            }
        };
        let state = resolve::resolve(&self.state_root);
        lead(&state.steps);
        // Where a missing directory on the way will appear: nothing is seen
        // until it does, so this one is needed.
        let mut waiting = None;
        let mut contents = Vec::new();
        if let Some(root) = &state.dir {
            let conf_d = resolve::resolve_from(root.clone(), Path::new("etc/conf.d"));
            lead(&conf_d.steps);
            if conf_d.dir.is_none() {
                waiting = conf_d.steps.last().map(|s| s.dir.clone());
            }
            if let Some(conf_d) = conf_d.dir {
                for (index, slot) in self.shared.slots.iter().enumerate() {
                    lead(linked_file(&conf_d, OsStr::new(slot.brick.as_str())).as_slice());
                    let name = format!("{}.d", slot.brick);
                    let drop_ins = resolve::resolve_from(conf_d.clone(), Path::new(&name));
                    lead(&drop_ins.steps);
                    if let Some(dir) = drop_ins.dir {
                        for name in linked_drop_ins(&dir) {
                            lead(linked_file(&dir, &name).as_slice());
                        }
                        contents.push((dir, Some(index)));
                    }
                }
                contents.push((conf_d, None));
            }
        } else {
            waiting = state.steps.last().map(|s| s.dir.clone());
        }
        for (dir, brick) in contents {
            let role = roles.entry(dir).or_default();
            match brick {
                Some(index) => role.drop_ins.push(index),
                None => role.conf_d = true,
            }
        }
        roles
            .into_iter()
            .filter_map(|(path, mut role)| {
                role.need = if role.conf_d
                    || !role.drop_ins.is_empty()
                    || waiting.as_ref() == Some(&path)
                {
                    Need::Files
                } else if state.dir.as_ref().is_some_and(|r| path.starts_with(r)) {
                    Need::Switches
                } else {
                    Need::Above
                };
                // Gone already: the next look finds what replaced it.
                let id = dir_id(&path)?;
                Some((path, (id, role)))
            })
            .collect()
    }

    /// Brings the watched directories in line with the disk; `true` if they
    /// changed. `full` starts over: notify drops a watch by itself when it
    /// sees the directory moved or deleted, without saying so, so after any
    /// change on the way every watch is set again. Repeats while directories
    /// move under it (`mkdir -p` can create `etc` and `conf.d` between two
    /// looks). `strict` (at start) makes a refused watch of a directory that
    /// holds the files an error; anything else refused is done without.
    fn rearm(&mut self, full: bool, strict: bool) -> Result<bool, WatchError> {
        let before: Vec<(PathBuf, DirId)> = self
            .watched
            .iter()
            .map(|(p, d)| (p.clone(), d.id))
            .collect();
        if full {
            for (path, dir) in std::mem::take(&mut self.watched) {
                if dir.armed {
                    // Fails when notify or the kernel already dropped it.
                    let _ = self.debouncer.unwatch(&path);
                }
            }
        }
        for _ in 0..8 {
            let wanted = self.wanted();
            let stale: Vec<PathBuf> = self
                .watched
                .iter()
                .filter(|(path, dir)| wanted.get(*path).map(|w| w.0) != Some(dir.id))
                .map(|(path, _)| path.clone())
                .collect();
            let settled = stale.is_empty() && wanted.len() == self.watched.len();
            for path in stale {
                if self.watched.remove(&path).is_some_and(|d| d.armed) {
                    let _ = self.debouncer.unwatch(&path);
                }
            }
            for (path, (id, role)) in wanted {
                if let Some(dir) = self.watched.get_mut(&path) {
                    dir.role = role;
                    continue;
                }
                let armed = match self.debouncer.watch(&path, RecursiveMode::NonRecursive) {
                    Ok(()) => true,
                    // Gone or replaced already: the next round looks afresh.
                    Err(_) if dir_id(&path) != Some(id) => continue,
                    Err(error) if strict && role.need == Need::Files => {
                        return Err(WatchError::Notify { path, error });
                    }
                    Err(error) if role.need == Need::Above => {
                        tracing::debug!("not watching `{}`: {error}", path.display());
                        false
                    }
                    Err(error) => {
                        tracing::warn!("cannot watch `{}`: {error}", path.display());
                        false
                    }
                };
                self.watched.insert(path, Dir { id, role, armed });
            }
            if settled {
                break;
            }
        }
        let after: Vec<(PathBuf, DirId)> = self
            .watched
            .iter()
            .map(|(p, d)| (p.clone(), d.id))
            .collect();
        Ok(before != after)
    }

    fn load(&self, index: usize) -> Result<BrickConfig, Error> {
        self.shared.loads.fetch_add(1, Ordering::Relaxed);
        self.loader.load(self.shared.slots[index].brick.as_str())
    }

    /// Loads a brick again and tells what changed, if anything.
    fn reload(&mut self, index: usize) {
        let result = self.load(index);
        self.settle(index, result);
    }

    /// Puts a load's result in force (or not) and sends the event it makes.
    fn settle(&mut self, index: usize, result: Result<BrickConfig, Error>) {
        let slot = &self.shared.slots[index];
        let tracked = &mut self.tracked[index];
        let event = match result {
            Ok(config) => {
                let hash = config.effective_hash();
                let recovered = tracked.error.take().is_some();
                let config = Arc::new(config);
                // Swapped in even when the values are equal: their origins
                // may have moved, and `explain` should say where they are now.
                let old = slot.config.swap(Some(Arc::clone(&config)));
                let previous = tracked.hash.replace(hash);
                if previous == Some(hash) && !recovered {
                    return;
                }
                let changes = if previous == Some(hash) {
                    Vec::new()
                } else {
                    diff::diff(old.as_deref(), &config)
                };
                WatchEvent::Reloaded(Reloaded {
                    brick: slot.brick.clone(),
                    config,
                    changes,
                    hash,
                    previous,
                })
            }
            Err(error) => {
                let text = error.to_string();
                if tracked.error.as_deref() == Some(text.as_str()) {
                    return;
                }
                tracked.error = Some(text);
                WatchEvent::Invalid(Invalid {
                    brick: slot.brick.clone(),
                    error,
                    serving: tracked.hash,
                })
            }
        };
        // The receiver lives in the handle, which stops this thread before
        // it goes; a send can only fail during that shutdown.
        let _ = self.events.send(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::Flag;
    use notify_debouncer_full::DebouncedEvent;

    fn recv(events: &Receiver<WatchEvent>) -> WatchEvent {
        events
            .recv_timeout(Duration::from_secs(10))
            .expect("an event within 10 s")
    }

    #[test]
    fn a_rescan_reloads_every_brick() -> Result<(), Box<dyn std::error::Error>> {
        // The main files are hard links to files outside conf.d: written
        // through the other name, they change with no event in any watched
        // directory, so only the rescan can bring the new values in.
        let dir = tempfile::tempdir()?;
        let conf_d = dir.path().join("etc/conf.d");
        std::fs::create_dir_all(&conf_d)?;
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside)?;
        for brick in ["one", "two"] {
            std::fs::write(outside.join(brick), "v = 1\n")?;
            std::fs::hard_link(outside.join(brick), conf_d.join(brick))?;
        }
        let loader = Loader::new()
            .state_dir(dir.path())
            .env(std::iter::empty::<(String, String)>());
        let watch = Watcher::new(loader).watch_set(["one", "two"])?;
        for brick in ["one", "two"] {
            // In place: a rename would break the link.
            std::fs::write(outside.join(brick), "v = 2\n")?;
        }
        // Nothing came of it without the rescan.
        std::thread::sleep(Duration::from_millis(200));
        assert!(watch.events().try_recv().is_err());

        let rescan = notify::Event::new(EventKind::Other).set_flag(Flag::Rescan);
        watch.control.send(Msg::Fs(Ok(vec![DebouncedEvent::new(
            rescan,
            Instant::now(),
        )])))?;
        let mut reloaded = Vec::new();
        for _ in 0..2 {
            let WatchEvent::Reloaded(r) = recv(watch.events()) else {
                panic!("expected a reload");
            };
            assert_eq!(r.changes.len(), 1);
            assert_eq!(
                r.changes[0].new.as_ref().map(|s| &s.value),
                Some(&toml::Value::Integer(2))
            );
            reloaded.push(r.brick.to_string());
        }
        reloaded.sort();
        assert_eq!(reloaded, ["one", "two"]);
        Ok(())
    }

    #[test]
    fn events_are_attributed_to_their_brick() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let root = std::fs::canonicalize(dir.path())?;
        std::fs::create_dir_all(root.join("etc/conf.d/cache.d"))?;
        std::fs::create_dir_all(root.join("var"))?;
        let loader = Loader::new()
            .state_dir(&root)
            .env(std::iter::empty::<(String, String)>());
        let watch = Watcher::new(loader.clone()).watch_set(["mounts", "cache"])?;
        // An engine like the watch thread's, to test `attribute` without it.
        let (tx, _rx) = mpsc::channel();
        let mut engine = Engine {
            loader,
            state_root: root.clone(),
            conf_d: root.join("etc/conf.d"),
            debounce: DEFAULT_DEBOUNCE,
            tracked: Vec::new(),
            shared: Arc::clone(&watch.shared),
            events: tx,
            debouncer: new_debouncer(DEFAULT_DEBOUNCE, None, |_| {})?,
            watched: BTreeMap::new(),
        };
        engine.rearm(true, true)?;
        let attribute = |relative: &str| {
            let mut dirty = Dirty::default();
            engine.attribute(&root.join(relative), &mut dirty);
            (dirty.moved, dirty.all, dirty.bricks)
        };
        let conf_d = "etc/conf.d";
        assert_eq!(
            attribute(&format!("{conf_d}/mounts")),
            (false, false, vec![0])
        );
        assert_eq!(
            attribute(&format!("{conf_d}/cache.d/50-x.toml")),
            (false, false, vec![1])
        );
        // Could be anything, so everything reloads.
        assert_eq!(
            attribute(&format!("{conf_d}/.mounts.swp")),
            (false, true, vec![])
        );
        // On the way to a watched directory: look again, reload everything.
        for moved in [
            conf_d,
            "etc",
            "",
            "etc/conf.d/cache.d",
            "etc/conf.d/mounts.d",
        ] {
            assert_eq!(attribute(moved), (true, true, vec![]), "{moved:?}");
        }
        // Beside the way: nobody's business.
        assert_eq!(attribute("var"), (false, false, vec![]));
        assert_eq!(attribute("etc/profiles"), (false, false, vec![]));
        // A directory not watched (any more): look again.
        assert_eq!(attribute("var/lib/store"), (true, true, vec![]));
        Ok(())
    }
}

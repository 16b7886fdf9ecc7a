//! The watch thread: which directories it watches (or polls) on the way to
//! each brick's files, what an event there means, and the reloads it runs.

#[allow(clippy::wildcard_imports)] // the engine is the watch module's inside
use super::*;

use super::poll::{Fingerprint, stamp};

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

/// What reaches the watch thread.
pub(super) enum Msg {
    /// A batch of debounced file events, or the watcher's errors.
    Fs(DebounceEventResult),
    /// The fleet's layers of these bricks (`None`: of any) changed.
    Fleet(Option<Vec<BrickName>>),
    /// The handle was dropped.
    Stop,
}

/// The watch thread's memory of a brick.
#[derive(Clone, Default)]
pub(super) struct Tracked {
    /// The hash of the configuration in force.
    pub(super) hash: Option<EffectiveHash>,
    /// The text of the last error reported, while the brick is invalid.
    pub(super) error: Option<String>,
}

/// Which bricks a batch of events asks to reload.
#[derive(Default)]
pub(super) struct Dirty {
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
        .filter(|name| crate::file::is_drop_in_name(name.as_bytes()))
        .collect()
}

/// Why a directory is watched; one directory can have several reasons.
#[derive(Clone, Debug, Default)]
pub(super) struct Role {
    /// Its entries on the way to `conf.d` or a `NAME.d` (`etc` in the state
    /// dir, a link's target…): a change to one may move a watched directory.
    leads: BTreeSet<OsString>,
    /// It is `conf.d`: its entries are the bricks' main files and `NAME.d`.
    conf_d: bool,
    /// The bricks (slot indexes) whose `NAME.d` it is.
    drop_ins: Vec<usize>,
    need: Need,
}

/// How much the watch needs a directory, for when it cannot be watched and
/// is polled instead: whether to tell the user.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Need {
    /// Only to see a link switched above the state dir: polled quietly
    /// (such a directory is often unreadable on purpose, a `0711` home).
    #[default]
    Above,
    /// It holds the files, is on the way from the state dir to them, or is
    /// where a missing directory will appear: polled, and the user told.
    Needed,
}

/// A directory the watch thread asked notify to watch.
pub(super) struct Dir {
    id: DirId,
    role: Role,
    /// `None` when notify watches it; when notify refused it, what it looked
    /// like at the last look, to poll it instead.
    polled: Option<Fingerprint>,
}

/// The watch thread's state.
pub(super) struct Engine {
    pub(super) loader: Loader,
    /// The state dir as configured (absolute, links not followed): every
    /// watched directory is found from it again after a change on the way.
    pub(super) state_root: PathBuf,
    /// `conf.d` as the loader sees it, for messages.
    pub(super) conf_d: PathBuf,
    /// The configuration snapshot the loads read in place of `conf.d`
    /// (absolute), whose replacement reloads every brick.
    pub(super) snapshot: Option<PathBuf>,
    pub(super) debounce: Duration,
    pub(super) tracked: Vec<Tracked>,
    pub(super) shared: Arc<Shared>,
    pub(super) events: Sender<WatchEvent>,
    pub(super) debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
    /// By real path (no symlink): events name the directory notify watches.
    pub(super) watched: BTreeMap<PathBuf, Dir>,
    pub(super) on_warning: WarningSink,
    /// The directories the user was told are polled, to tell each once.
    pub(super) told: BTreeSet<PathBuf>,
    /// When the polled directories are next looked at; `None` if none is.
    pub(super) next_poll: Option<Instant>,
}

impl Engine {
    pub(super) fn run(mut self, inbox: &Receiver<Msg>) {
        let mut last_reload: Option<Instant> = None;
        let mut dirty = Dirty::default();
        loop {
            // Waits for news, or until the polled directories are due a look.
            let msg = match self.next_poll {
                None => match inbox.recv() {
                    Ok(msg) => Some(msg),
                    Err(_) => return,
                },
                Some(at) => {
                    match inbox.recv_timeout(at.saturating_duration_since(Instant::now())) {
                        Ok(msg) => Some(msg),
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            };
            if let Some(msg) = msg
                && !self.absorb(msg, &mut dirty)
            {
                return;
            }
            self.poll(&mut dirty);
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
            // New directories may hold files no event announced.
            if self.rearm(batch.moved) {
                batch.all = true;
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

    /// Looks at the polled directories if it is time: any difference from
    /// the last look is a change on the way, as an event would be.
    fn poll(&mut self, dirty: &mut Dirty) {
        let Some(at) = self.next_poll else { return };
        let now = Instant::now();
        if now < at {
            return;
        }
        self.next_poll = Some(now + POLL_INTERVAL);
        let changed = self.watched.iter().any(|(path, dir)| {
            dir.polled
                .as_ref()
                .is_some_and(|before| *before != self.fingerprint(path, &dir.role))
        });
        if changed {
            dirty.moved();
        }
    }

    /// What a polled directory looks like: its own stamp, and those of the
    /// entries the watch needs in it. Only lookups by name where the
    /// directory cannot be read (`0711`), so search permission is enough.
    fn fingerprint(&self, path: &Path, role: &Role) -> Fingerprint {
        let mut names: BTreeSet<OsString> = role.leads.clone();
        if role.conf_d {
            for slot in &self.shared.slots {
                names.insert(slot.brick.as_str().into());
                names.insert(format!("{}.d", slot.brick).into());
            }
        }
        if !role.drop_ins.is_empty() {
            use std::os::unix::ffi::OsStrExt;
            // Unreadable, it cannot be loaded either; its own stamp still
            // changes when an entry is added or removed.
            if let Ok(entries) = std::fs::read_dir(path) {
                names.extend(
                    entries
                        .filter_map(Result::ok)
                        .map(|e| e.file_name())
                        .filter(|name| crate::file::is_drop_in_name(name.as_bytes())),
                );
            }
        }
        // Entries made or removed in `conf.d` or a `NAME.d` are the bricks'
        // business (an unreadable `NAME.d` has no other sign of them); in a
        // directory on the way, only the entry that leads on is.
        let contents = role.conf_d || !role.drop_ins.is_empty();
        std::iter::once((OsString::new(), stamp(path, contents)))
            .chain(names.into_iter().map(|name| {
                let stamp = stamp(&path.join(&name), false);
                (name, stamp)
            }))
            .collect()
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
            // The fleet source has the new layers already: reloading reads them.
            Msg::Fleet(None) => dirty.all = true,
            Msg::Fleet(Some(bricks)) => {
                for brick in bricks {
                    if let Some(i) = self.shared.slots.iter().position(|s| s.brick == brick) {
                        dirty.bricks.push(i);
                    }
                }
            }
            Msg::Fs(Err(errors)) => {
                for error in errors {
                    (self.on_warning)(&WatchWarning::Lost {
                        conf_d: self.conf_d.clone(),
                        reason: notify_reason(&error),
                    });
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
        let state = resolve::resolve(&self.state_root);
        for step in &state.steps {
            let role = roles.entry(step.dir.clone()).or_default();
            role.leads.insert(step.name.clone());
        }
        // Every directory on the way from the state dir on, wherever a link
        // leads (a release tree in `/opt`, a shared file's directory): the
        // watch is deaf to a switch or an edit there without it.
        let mut lead = |steps: &[Step]| {
            for step in steps {
                let role = roles.entry(step.dir.clone()).or_default();
                role.leads.insert(step.name.clone());
                role.need = Need::Needed;
            }
        };
        // A snapshot read in place of `conf.d`: every directory on the way
        // to it leads on, the last one to the file itself, so replacing it
        // reloads every brick.
        if let Some(snapshot) = &self.snapshot {
            lead(&resolve::resolve(snapshot).steps);
        }
        // Where a missing directory on the way will appear: nothing is seen
        // until it does, so this one is needed.
        let mut waiting = None;
        let mut contents = Vec::new();
        if let Some(root) = &state.dir {
            let conf_d = resolve::resolve_from(root.clone(), crate::StateDir::conf_d_below_root());
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
                if role.conf_d || !role.drop_ins.is_empty() || waiting.as_ref() == Some(&path) {
                    role.need = Need::Needed;
                }
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
    /// looks). A directory notify refuses is polled instead, and the user
    /// told so once (unless it is only above the state dir). Each polled
    /// directory's fingerprint is taken last, before any load that follows.
    pub(super) fn rearm(&mut self, full: bool) -> bool {
        let before: Vec<(PathBuf, DirId)> = self
            .watched
            .iter()
            .map(|(p, d)| (p.clone(), d.id))
            .collect();
        if full {
            for (path, dir) in std::mem::take(&mut self.watched) {
                if dir.polled.is_none() {
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
                if self
                    .watched
                    .remove(&path)
                    .is_some_and(|d| d.polled.is_none())
                {
                    let _ = self.debouncer.unwatch(&path);
                }
            }
            for (path, (id, role)) in wanted {
                if let Some(dir) = self.watched.get_mut(&path) {
                    dir.role = role;
                    continue;
                }
                let polled = match self.debouncer.watch(&path, RecursiveMode::NonRecursive) {
                    Ok(()) => None,
                    // Gone or replaced already: the next round looks afresh.
                    Err(_) if dir_id(&path) != Some(id) => continue,
                    Err(error) => {
                        let reason = notify_reason(&error);
                        if role.need == Need::Above {
                            tracing::debug!("polling `{}`: {reason}", path.display());
                        } else if self.told.insert(path.clone()) {
                            (self.on_warning)(&WatchWarning::Polling {
                                dir: path.clone(),
                                reason,
                                every: POLL_INTERVAL,
                            });
                        }
                        // Taken below, once the watches settle.
                        Some(Fingerprint::new())
                    }
                };
                self.watched.insert(path, Dir { id, role, polled });
            }
            if settled {
                break;
            }
        }
        let fingerprints: Vec<(PathBuf, Fingerprint)> = self
            .watched
            .iter()
            .filter(|(_, dir)| dir.polled.is_some())
            .map(|(path, dir)| (path.clone(), self.fingerprint(path, &dir.role)))
            .collect();
        self.next_poll = match (fingerprints.is_empty(), self.next_poll) {
            (true, _) => None,
            (false, Some(at)) => Some(at),
            (false, None) => Some(Instant::now() + POLL_INTERVAL),
        };
        for (path, fingerprint) in fingerprints {
            if let Some(dir) = self.watched.get_mut(&path) {
                dir.polled = Some(fingerprint);
            }
        }
        let after: Vec<(PathBuf, DirId)> = self
            .watched
            .iter()
            .map(|(p, d)| (p.clone(), d.id))
            .collect();
        before != after
    }

    pub(super) fn load(&self, index: usize) -> Result<BrickConfig, Error> {
        self.shared.loads.fetch_add(1, Ordering::Relaxed);
        self.loader.load(self.shared.slots[index].brick.as_str())
    }

    /// Loads a brick again and tells what changed, if anything.
    fn reload(&mut self, index: usize) {
        let result = self.load(index);
        self.settle(index, result);
    }

    /// Puts a load's result in force (or not) and sends the event it makes.
    pub(super) fn settle(&mut self, index: usize, result: Result<BrickConfig, Error>) {
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
                // Compared as `plan` compares (by the restart hash, not by
                // the changed keys), so the two never disagree.
                let restart = previous != Some(hash)
                    && old
                        .as_deref()
                        .is_none_or(|old| old.restart_hash() != config.restart_hash());
                WatchEvent::Reloaded(Reloaded {
                    brick: slot.brick.clone(),
                    config,
                    changes,
                    hash,
                    previous,
                    restart,
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

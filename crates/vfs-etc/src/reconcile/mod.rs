//! Keeping a mount's entries true to its backend: the full scan at mount time and on a watcher
//! overflow, the per-path refresh behind the watcher, and the check a read makes.

use std::collections::HashMap;
use std::io;

use crate::backend::{is_absent, is_denied, is_unhashable};
use crate::entry::{Entry, Etag, Kind, Stat, now_ns};
use crate::error::ReconcileError;
use crate::metastore::Batch;
use crate::path::{VfsPath, rel_is_within, rel_join, rel_split};
use crate::router::MountCore;

/// What a scan found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Entries registered for the first time.
    pub added: usize,
    /// Entries whose version was bumped (new stat fields, content or kind).
    pub changed: usize,
    /// Entries updated without a version bump (a directory's times, a first etag).
    pub refreshed: usize,
    /// Entries removed because their path is gone (or is now a symlink).
    pub removed: usize,
    /// Entries left as they were.
    pub unchanged: usize,
    /// Files re-hashed because their stat fields were too close to their last observation
    /// to be trusted (git's racy rule).
    pub rehashed: usize,
    /// Host names left out of the namespace: symlinks, special files, names that are not UTF-8
    /// or hold control characters.
    pub skipped: usize,
    /// Directories that could not be listed (permission denied): they are registered, but
    /// not what is inside them, and addressing anything inside them is `EACCES`.
    pub unreadable: usize,
    /// Entries left out, with everything below them, because their VFS path would be longer
    /// than [`crate::VfsPath::MAX_LEN`] (Linux's `PATH_MAX`): no call could name them, and the
    /// host refuses such paths too. Naming one is `ENAMETOOLONG`.
    pub too_long: usize,
    /// Whether anything was committed to the store. `false` means not one byte was written.
    /// (A process that may not write a [`crate::metastore::RedbMetastore`] commits to its in-memory copy:
    /// `true` then, and still nothing on disk.)
    pub committed: bool,
}

/// What to do with one path.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// The entry is still true.
    Keep,
    /// Store this entry; `bumped` says whether its version grew (or it is new).
    Put { entry: Entry, bumped: bool },
    /// The stat fields match but may hide a same-tick edit: hash the content to decide.
    NeedsHash,
}

/// Decides from an `lstat` alone (the scan's fast path).
pub(crate) fn decide(old: Option<&Entry>, stat: &Stat, observed_ns: i64) -> Decision {
    with_owner(old, stat, decide_stat(old, stat, observed_ns))
}

/// `decision`, with the owner and group of `stat` filled into an entry that is otherwise
/// still true but has none (stored by a version that did not record them): a refresh, not a
/// new version.
fn with_owner(old: Option<&Entry>, stat: &Stat, decision: Decision) -> Decision {
    match (decision, old) {
        (Decision::Keep, Some(old)) if old.owner != Some(stat.owner()) => Decision::Put {
            entry: Entry {
                owner: Some(stat.owner()),
                ..*old
            },
            bumped: false,
        },
        (decision, _) => decision,
    }
}

fn decide_stat(old: Option<&Entry>, stat: &Stat, observed_ns: i64) -> Decision {
    let fresh = |version, etag| Entry {
        kind: stat.kind,
        sig: stat.sig,
        etag,
        version,
        owner: Some(stat.owner()),
        observed_ns,
    };
    let Some(old) = old else {
        return Decision::Put {
            entry: fresh(1, None),
            bumped: true,
        };
    };
    if old.kind != stat.kind {
        return Decision::Put {
            entry: fresh(old.version + 1, None),
            bumped: true,
        };
    }
    match stat.kind {
        // A directory's times move whenever its children do; that is not a change of the
        // directory worth a version, but stat should not show stale times either.
        Kind::Dir if old.sig != stat.sig => Decision::Put {
            entry: fresh(old.version, None),
            bumped: false,
        },
        Kind::Dir => Decision::Keep,
        // The old etag is dropped rather than recomputed: boot stays a stat-only walk, and the
        // next read or stat hashes the file again.
        _ if old.sig != stat.sig => Decision::Put {
            entry: fresh(old.version + 1, None),
            bumped: true,
        },
        _ if old.etag.is_some() && old.is_racy() => Decision::NeedsHash,
        _ => Decision::Keep,
    }
}

/// Whether the etag of file `rel` (whose stat is `stat`) may be kept in the mount's store:
/// only if the user who can read the store ([`crate::Metastore::reader`]) may read the file
/// too, or an etag in the store would let that user confirm a guessed content offline (root's
/// `stat` of a 0600 file in a service's state dir). Otherwise the etag is computed on demand
/// by each reader that proves it can read the file, and never written down.
///
/// Group bits only count when the other bits allow as much, since whether the reader is in
/// the file's group is not known here; every directory of the mount above the file must be
/// searchable by the reader the same way.
pub(crate) fn may_persist_etag(core: &MountCore, rel: &str, stat: &Stat) -> bool {
    let Some(reader) = core.store.reader() else {
        return true;
    };
    if reader == 0 {
        return true;
    }
    let allows = |st: &Stat, owner_bit: u32| {
        let mode = st.sig.mode;
        if st.uid == reader {
            mode & owner_bit != 0
        } else {
            // `owner_bit >> 3` is the group's bit, `>> 6` the others'.
            mode & (owner_bit >> 3) != 0 && mode & (owner_bit >> 6) != 0
        }
    };
    if !allows(stat, 0o400) {
        return false;
    }
    let mut dir = rel;
    while !dir.is_empty() {
        dir = rel_split(dir).0;
        match core.backend.stat(dir) {
            Ok(Some(st)) if allows(&st, 0o100) => {}
            _ => return false,
        }
    }
    true
}

/// `decision` with the etag left out of what is stored if it may not be persisted
/// ([`may_persist_etag`]); `None` when the store already holds what would then be stored.
pub(crate) fn persistable(
    core: &MountCore,
    rel: &str,
    stat: &Stat,
    old: Option<&Entry>,
    decision: Decision,
) -> Decision {
    match decision {
        Decision::Put { entry, bumped }
            if entry.etag.is_some() && !may_persist_etag(core, rel, stat) =>
        {
            without_etag(old, entry, bumped)
        }
        other => other,
    }
}

/// `entry` stored without its etag; `Keep` when that is what `old` already says (its
/// observation time aside, which only matters for a stored etag), so that reading such a
/// file again and again writes nothing.
pub(crate) fn without_etag(old: Option<&Entry>, entry: Entry, bumped: bool) -> Decision {
    let entry = Entry {
        etag: None,
        ..entry
    };
    match old {
        Some(old)
            if (old.kind, old.sig, old.etag, old.version)
                == (entry.kind, entry.sig, entry.etag, entry.version) =>
        {
            Decision::Keep
        }
        _ => Decision::Put { entry, bumped },
    }
}

/// Decides from the content's hash and the `fstat` taken with it (a read, or a racy re-hash).
pub(crate) fn decide_hashed(
    old: Option<&Entry>,
    stat: &Stat,
    etag: Etag,
    observed_ns: i64,
) -> Decision {
    with_owner(old, stat, decide_hashed_only(old, stat, etag, observed_ns))
}

fn decide_hashed_only(old: Option<&Entry>, stat: &Stat, etag: Etag, observed_ns: i64) -> Decision {
    let fresh = |version| Entry {
        kind: stat.kind,
        sig: stat.sig,
        etag: Some(etag),
        version,
        owner: Some(stat.owner()),
        observed_ns,
    };
    let Some(old) = old else {
        return Decision::Put {
            entry: fresh(1),
            bumped: true,
        };
    };
    if old.kind != stat.kind || old.sig != stat.sig {
        return Decision::Put {
            entry: fresh(old.version + 1),
            bumped: true,
        };
    }
    match old.etag {
        Some(known) if known == etag => Decision::Keep,
        // Same stat fields, different bytes: an edit in the same timestamp tick.
        Some(_) => Decision::Put {
            entry: fresh(old.version + 1),
            bumped: true,
        },
        None => Decision::Put {
            entry: fresh(old.version),
            bumped: false,
        },
    }
}

struct Scan<'a> {
    core: &'a MountCore,
    /// Directories found unlistable, for [`MountCore::set_unlisted_below`].
    unlisted: Vec<String>,
    old: HashMap<String, Entry>,
    batch: Batch,
    report: ReconcileReport,
    observed_ns: i64,
}

impl Scan<'_> {
    fn backend_error(&self, rel: &str, error: io::Error) -> ReconcileError {
        ReconcileError::Backend {
            path: self.core.vfs_path(rel),
            error,
        }
    }

    fn apply(&mut self, rel: &str, decision: Decision) {
        match decision {
            Decision::Keep => self.report.unchanged += 1,
            Decision::Put { entry, bumped } => {
                match (bumped, entry.version) {
                    (true, 1) => self.report.added += 1,
                    (true, _) => self.report.changed += 1,
                    (false, _) => self.report.refreshed += 1,
                }
                self.batch.puts.push((rel.to_owned(), entry));
            }
            Decision::NeedsHash => unreachable!("resolved by Scan::visit"),
        }
    }

    /// Registers `rel` (whose `lstat` is `stat`) and, for a directory, everything below it.
    fn visit(&mut self, rel: &str, stat: Stat) -> Result<(), ReconcileError> {
        // One subtree nested deeper than PATH_MAX must not make the whole mount unusable: it
        // is left out and counted (the `mount + "/" + rel` length is what a caller would name).
        if !rel.is_empty() && self.core.point.as_str().len() + 1 + rel.len() > VfsPath::MAX_LEN {
            self.report.too_long += 1;
            return Ok(());
        }
        match stat.kind {
            Kind::File => {
                let old = self.old.remove(rel);
                let mut decision = decide(old.as_ref(), &stat, self.observed_ns);
                if decision == Decision::NeedsHash {
                    self.report.rehashed += 1;
                    decision = match self.core.backend.read(rel) {
                        Ok((bytes, st)) => {
                            let hashed = decide_hashed(
                                old.as_ref(),
                                &st,
                                Etag::of(&bytes),
                                self.observed_ns,
                            );
                            persistable(self.core, rel, &st, old.as_ref(), hashed)
                        }
                        // Gone between stat and open: leave it to the next scan or event.
                        Err(e) if is_absent(&e) => return Ok(()),
                        // Unreadable to this process (or too big to hash): its old etag
                        // cannot be confirmed, so it is dropped for a reader who can hash the
                        // file again.
                        Err(e) if is_unhashable(&e) => {
                            old.map_or(Decision::Keep, |old| Decision::Put {
                                entry: Entry {
                                    etag: None,
                                    owner: Some(stat.owner()),
                                    ..old
                                },
                                bumped: false,
                            })
                        }
                        Err(e) => return Err(self.backend_error(rel, e)),
                    };
                }
                // An etag kept while its owner could read the file, which it may no longer
                // (a directory above it made private since, or a store written by a version
                // without this rule), is dropped: the store holds no etag its reader may not
                // confirm by reading the file.
                if let (Decision::Keep, Some(old)) = (&decision, &old)
                    && old.etag.is_some()
                    && !may_persist_etag(self.core, rel, &stat)
                {
                    decision = Decision::Put {
                        entry: Entry {
                            etag: None,
                            owner: Some(stat.owner()),
                            ..*old
                        },
                        bumped: false,
                    };
                }
                self.apply(rel, decision);
            }
            Kind::Dir => {
                let listing = match self.core.backend.list(rel) {
                    Ok(l) => l,
                    Err(e) if is_absent(&e) => return Ok(()),
                    // The host's own limit, should it be lower than the VFS's.
                    Err(e)
                        if e.raw_os_error()
                            == Some(rustix::io::Errno::NAMETOOLONG.raw_os_error()) =>
                    {
                        self.report.too_long += 1;
                        return Ok(());
                    }
                    // One directory this process may not read must not make the whole mount
                    // unusable: it is registered and counted, and what was known below it is
                    // kept as it was (unknown is not gone).
                    Err(e) if is_denied(&e) && !rel.is_empty() => {
                        let old = self.old.remove(rel);
                        let decision = decide(old.as_ref(), &stat, self.observed_ns);
                        self.apply(rel, decision);
                        self.old.retain(|k, _| !rel_is_within(k, rel));
                        self.unlisted.push(rel.to_owned());
                        self.report.unreadable += 1;
                        return Ok(());
                    }
                    Err(e) => return Err(self.backend_error(rel, e)),
                };
                let old = self.old.remove(rel);
                let decision = decide(old.as_ref(), &stat, self.observed_ns);
                self.apply(rel, decision);
                self.report.skipped += listing.unrepresentable;
                for (name, child) in listing.entries {
                    self.visit(&rel_join(rel, &name), child)?;
                }
            }
            Kind::Symlink | Kind::Other => self.report.skipped += 1,
        }
        Ok(())
    }

    fn finish(mut self, rel: &str) -> Result<ReconcileReport, ReconcileError> {
        let mut gone: Vec<String> = self.old.into_keys().collect();
        gone.sort();
        self.report.removed += gone.len();
        self.batch.deletes = gone;
        if !self.batch.is_empty() {
            let point = self.core.point.clone();
            self.core
                .store
                .commit(&self.batch)
                .map_err(|source| ReconcileError::Store {
                    path: point,
                    source,
                })?;
            self.report.committed = true;
        }
        self.core.set_unlisted_below(rel, self.unlisted);
        Ok(self.report)
    }
}

/// Brings every entry of the mount in line with the backend, in one commit (or none).
pub(crate) fn reconcile_all(core: &MountCore) -> Result<ReconcileReport, ReconcileError> {
    reconcile_subtree(core, "")
}

/// Brings `rel` and everything below it in line with the backend.
fn reconcile_subtree(core: &MountCore, rel: &str) -> Result<ReconcileReport, ReconcileError> {
    let _guard = core.lock();
    // Taken before any stat, so every entry's observation time is no later than the moment
    // its stat fields were read: the racy rule errs towards re-hashing.
    let observed_ns = now_ns();
    let store_error = |source| ReconcileError::Store {
        path: core.vfs_path(rel),
        source,
    };
    let old: HashMap<String, Entry> = core
        .store
        .subtree(rel)
        .map_err(store_error)?
        .into_iter()
        .collect();
    // A mount's first registration is derived from the backend alone (every entry new, at
    // version 1), so a crash that loses it loses nothing the next scan would not redo.
    let first_registration = rel.is_empty() && old.is_empty();
    let mut scan = Scan {
        core,
        unlisted: Vec::new(),
        old,
        batch: Batch {
            deferrable: first_registration,
            ..Batch::default()
        },
        report: ReconcileReport::default(),
        observed_ns,
    };
    match core.backend.stat(rel) {
        // The mount root itself must stay a directory; if it is gone the mount is broken,
        // which is an error to report, not a reason to empty the store.
        Ok(Some(stat)) if rel.is_empty() && stat.kind != Kind::Dir => {
            return Err(scan.backend_error(rel, crate::error::os(rustix::io::Errno::NOTDIR)));
        }
        Ok(Some(stat)) => scan.visit(rel, stat)?,
        Ok(None) if rel.is_empty() => {
            return Err(scan.backend_error(rel, crate::error::os(rustix::io::Errno::NOENT)));
        }
        Ok(None) => {}
        Err(e) if is_absent(&e) && !rel.is_empty() => {}
        Err(e) => return Err(scan.backend_error(rel, e)),
    }
    scan.finish(rel)
}

/// Refreshes the entries for host paths a watcher reported. A path whose parent is not
/// registered is handled by refreshing its highest unregistered ancestor instead, so a new
/// directory is registered with everything already inside it.
pub(crate) fn reconcile_paths(
    core: &MountCore,
    rels: &[String],
) -> Result<ReconcileReport, ReconcileError> {
    let mut targets: Vec<String> = Vec::new();
    for rel in rels {
        let mut target = rel.as_str();
        while !target.is_empty() {
            let parent = rel_split(target).0;
            let known = core
                .store
                .get(parent)
                .map_err(|source| ReconcileError::Store {
                    path: core.vfs_path(parent),
                    source,
                })?;
            if matches!(known, Some(e) if e.kind == Kind::Dir) {
                break;
            }
            target = parent;
        }
        targets.push(target.to_owned());
    }
    targets.sort();
    targets.dedup();
    // A target below another target is covered by it.
    let mut kept: Vec<String> = Vec::new();
    for t in targets {
        if !kept
            .iter()
            .any(|k| k.is_empty() || t.starts_with(&format!("{k}/")))
        {
            kept.push(t);
        }
    }
    let mut total = ReconcileReport::default();
    for rel in kept {
        let r = reconcile_subtree(core, &rel)?;
        total.added += r.added;
        total.changed += r.changed;
        total.refreshed += r.refreshed;
        total.removed += r.removed;
        total.unchanged += r.unchanged;
        total.rehashed += r.rehashed;
        total.skipped += r.skipped;
        total.unreadable += r.unreadable;
        total.too_long += r.too_long;
        total.committed |= r.committed;
    }
    Ok(total)
}

#[cfg(test)]
mod tests;

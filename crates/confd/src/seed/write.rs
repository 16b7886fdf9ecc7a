//! The atomic write sequence, one observable step at a time.
//!
//! Every write goes to a temporary file `.NAME.XXXXXX.tmp` in the target's
//! directory, is synced and given its mode, and only then takes the target's
//! name (a no-replace rename for new files, a plain rename over the old file
//! otherwise), after which the directory is synced. A crash at any point
//! leaves the target absent, old or new — never partial — plus at most one
//! temporary file, which the next run recognises by its name and removes.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{DIR_MODE, SeedError, io_err};

/// Length of the random part of temporary file names; part of the pattern
/// stale-file clean-up recognises, so it is fixed.
const RAND_LEN: usize = 6;

/// One completed step of the write sequence, reported to a
/// [`Seeder::on_step`](super::Seeder::on_step) hook.
///
/// Not a stable API: it exists so tests can stop, or look at the disk,
/// between every two steps.
#[doc(hidden)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeedStep {
    /// A directory (and any missing parent) was created and its parent synced.
    DirCreated(PathBuf),
    /// A stale temporary file of an interrupted run was removed.
    StaleRemoved(PathBuf),
    /// An empty temporary file was created beside its target.
    TempCreated(PathBuf),
    /// The contents were written to the temporary file (not yet durable).
    TempWritten(PathBuf),
    /// The temporary file got its final mode.
    TempModeSet(PathBuf),
    /// The temporary file's data reached the disk.
    TempSynced(PathBuf),
    /// The temporary file took the target's name; the path is the target.
    Installed(PathBuf),
    /// A directory's entries reached the disk.
    DirSynced(PathBuf),
}

impl SeedStep {
    /// The path the step acted on.
    #[must_use]
    pub fn path(&self) -> &Path {
        match self {
            SeedStep::DirCreated(p)
            | SeedStep::StaleRemoved(p)
            | SeedStep::TempCreated(p)
            | SeedStep::TempWritten(p)
            | SeedStep::TempModeSet(p)
            | SeedStep::TempSynced(p)
            | SeedStep::Installed(p)
            | SeedStep::DirSynced(p) => p,
        }
    }
}

/// A hook called after every step; an error it returns fails the step.
pub(crate) type Hook<'h> = Box<dyn FnMut(&SeedStep) -> std::io::Result<()> + 'h>;

/// Performs writes, telling the hook (if any) about each step.
pub(crate) struct Writer<'h> {
    hook: Option<Hook<'h>>,
    /// Whether a new file root creates in someone else's directory takes
    /// that directory's owner (a service's state dir), or stays root's (an
    /// output file the caller asked for anywhere).
    inherit_owner: bool,
}

/// Whether a create-only write found the target already there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Created {
    /// The file was created.
    Yes,
    /// Something already existed at the target; it was left alone.
    AlreadyExists,
}

impl<'h> Writer<'h> {
    pub(crate) fn new(hook: Option<Hook<'h>>) -> Self {
        Writer {
            hook,
            inherit_owner: true,
        }
    }

    /// A writer whose new files belong to the caller wherever they are.
    pub(crate) fn owned_by_caller(mut self) -> Self {
        self.inherit_owner = false;
        self
    }

    fn step(&mut self, step: SeedStep) -> Result<(), SeedError> {
        match &mut self.hook {
            Some(hook) => hook(&step).map_err(|error| SeedError::Io {
                path: step.path().to_owned(),
                error,
            }),
            None => Ok(()),
        }
    }

    /// Creates `dir` and any missing parent with mode 0755 whatever the
    /// umask, syncing each new
    /// directory's parent so the new entries survive a power cut (otherwise
    /// a record could outlive the files it describes).
    pub(crate) fn make_dir(&mut self, dir: &Path) -> Result<(), SeedError> {
        let missing: Vec<&Path> = dir
            .ancestors()
            .take_while(|d| !d.as_os_str().is_empty() && std::fs::symlink_metadata(d).is_err())
            .collect();
        for d in missing.into_iter().rev() {
            match std::fs::DirBuilder::new().mode(DIR_MODE).create(d) {
                // chmod, not only the creation mode: a umask of 000 would
                // otherwise leave a world-writable directory, 077 one that
                // the services reading it cannot enter.
                Ok(()) => {
                    std::fs::set_permissions(d, std::fs::Permissions::from_mode(DIR_MODE))
                        .map_err(io_err(d))?;
                    let new = std::fs::File::open(d).map_err(io_err(d))?;
                    crate::atomic::inherit_owner(&new, parent_of(d)).map_err(io_err(d))?;
                }
                // A concurrent run made it first: just as good.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && d.is_dir() => {}
                Err(e) => return Err(io_err(d)(e)),
            }
            if let Some(parent) = d.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
            self.step(SeedStep::DirCreated(d.to_owned()))?;
        }
        Ok(())
    }

    /// Atomically creates `target` with `contents` and `mode`; never replaces
    /// anything, so a user's file or a concurrent writer always wins.
    pub(crate) fn create(
        &mut self,
        target: &Path,
        contents: &[u8],
        mode: u32,
    ) -> Result<Created, SeedError> {
        let temp = self.temp(target, contents, mode)?;
        match temp.persist_noclobber(target) {
            Ok(_) => {}
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                return Ok(Created::AlreadyExists);
            }
            Err(e) => return Err(io_err(target)(e.error)),
        }
        self.step(SeedStep::Installed(target.to_owned()))?;
        self.sync_parent(target)?;
        Ok(Created::Yes)
    }

    /// Atomically puts `contents` with `mode` at `target`, replacing whatever
    /// file is there: readers see the old file or the new one, never a mix.
    pub(crate) fn replace(
        &mut self,
        target: &Path,
        contents: &[u8],
        mode: u32,
    ) -> Result<(), SeedError> {
        let temp = self.temp(target, contents, mode)?;
        temp.persist(target).map_err(|e| io_err(target)(e.error))?;
        self.step(SeedStep::Installed(target.to_owned()))?;
        self.sync_parent(target)
    }

    /// Makes `side` (`NAME.old`) the very file now at `target`, by a hard
    /// link, so it keeps the user's owner, group, mode and ACL (as dpkg's
    /// `.dpkg-old` does); a previous `side` goes. Where links are refused,
    /// `contents` (the file's bytes) are written to `side` with the file's
    /// own mode instead.
    pub(crate) fn keep_as(
        &mut self,
        target: &Path,
        side: &Path,
        contents: &[u8],
    ) -> Result<(), SeedError> {
        match std::fs::remove_file(side) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(side)(e)),
        }
        match std::fs::hard_link(target, side) {
            Ok(()) => {
                self.step(SeedStep::Installed(side.to_owned()))?;
                self.sync_parent(side)
            }
            Err(_) => {
                let mode = std::fs::metadata(target)
                    .map_err(io_err(target))?
                    .permissions()
                    .mode()
                    & 0o7777;
                self.replace(side, contents, mode)
            }
        }
    }

    /// A complete, synced temporary file beside `target`. Dropped unused (on
    /// an error), it deletes itself.
    fn temp(
        &mut self,
        target: &Path,
        contents: &[u8],
        mode: u32,
    ) -> Result<tempfile::NamedTempFile, SeedError> {
        let dir = parent_of(target);
        if let Ok(existing) = std::fs::metadata(target) {
            crate::atomic::can_keep_owner(&existing).map_err(io_err(target))?;
        }
        let name = target
            .file_name()
            .map_or_else(Default::default, |n| n.to_string_lossy());
        let mut temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .rand_bytes(RAND_LEN)
            .tempfile_in(dir)
            // tempfile adds "at path DIR/.NAME.RANDOM.tmp" to its errors: the
            // message names `dir` already, and the random name means nothing.
            .map_err(|e| io_err(dir)(without_temp_name(e)))?;
        let path = temp.path().to_owned();
        self.step(SeedStep::TempCreated(path.clone()))?;
        temp.write_all(contents).map_err(io_err(&path))?;
        self.step(SeedStep::TempWritten(path.clone()))?;
        // An upgrade replaces a file that may belong to a service user.
        crate::atomic::carry_attributes(temp.as_file(), target, self.inherit_owner)
            .map_err(io_err(target))?;
        // chmod, not the creation mode: the umask must not weaken 0600 nor
        // narrow 0644.
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(io_err(&path))?;
        self.step(SeedStep::TempModeSet(path.clone()))?;
        temp.as_file().sync_all().map_err(io_err(&path))?;
        self.step(SeedStep::TempSynced(path))?;
        Ok(temp)
    }

    fn sync_parent(&mut self, target: &Path) -> Result<(), SeedError> {
        let dir = parent_of(target);
        sync_dir(dir)?;
        self.step(SeedStep::DirSynced(dir.to_owned()))
    }

    /// Removes the temporary files an interrupted run left in `dir` for the
    /// targets named in `bases`, and nothing else; returns their paths.
    pub(crate) fn remove_stale(
        &mut self,
        dir: &Path,
        bases: &BTreeSet<String>,
        dry_run: bool,
    ) -> Result<Vec<PathBuf>, SeedError> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(dir)(e)),
        };
        let mut stale = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err(dir))?;
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if is_file
                && entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| is_stale_temp(n, bases))
            {
                stale.push(entry.path());
            }
        }
        stale.sort();
        if !dry_run {
            for path in &stale {
                match std::fs::remove_file(path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(path)(e)),
                }
                self.step(SeedStep::StaleRemoved(path.clone()))?;
            }
        }
        Ok(stale)
    }
}

fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Whether `file_name` is `.BASE.XXXXXX.tmp` for a `BASE` in `bases`, with
/// six ASCII letters or digits: exactly the names [`Writer`] gives its
/// temporary files.
pub(crate) fn is_stale_temp(file_name: &str, bases: &BTreeSet<String>) -> bool {
    temp_base(file_name).is_some_and(|base| bases.contains(base))
}

/// `BASE` when `file_name` is `.BASE.XXXXXX.tmp` with six ASCII letters or
/// digits: the name [`Writer`] gives a temporary file for `BASE`.
pub(crate) fn temp_base(file_name: &str) -> Option<&str> {
    let middle = file_name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (base, random) = middle.rsplit_once('.')?;
    (random.len() == RAND_LEN && random.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(base)
}

/// Makes the directory entries written so far durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), SeedError> {
    crate::atomic::sync_dir(dir).map_err(io_err(dir))
}

/// tempfile's error without its "… at path DIR/.NAME.RANDOM.tmp": the
/// message names `DIR` already and the random name means nothing. tempfile
/// keeps no way back to the errno (its wrapper's `source` skips it), so the
/// kind ("permission denied") stands for it.
fn without_temp_name(e: std::io::Error) -> std::io::Error {
    if e.raw_os_error().is_some() {
        return e;
    }
    std::io::Error::from(e.kind())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_replaced_file_keeps_its_owner_and_group() -> Result<(), Box<dyn std::error::Error>> {
        // Runs as root (as CI does): an upgrade of a service user's file
        // must not hand it to root.
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("store");
        std::fs::write(&path, "old")?;
        std::os::unix::fs::chown(&path, Some(65534), Some(65534))?;
        Writer::new(None).replace(&path, b"new", 0o600)?;
        let meta = std::fs::metadata(&path)?;
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
        assert_eq!(meta.mode() & 0o7777, 0o600);
        assert_eq!(std::fs::read(&path)?, b"new");
        Ok(())
    }

    #[test]
    fn stale_temp_names_are_recognised_exactly() {
        let bases: BTreeSet<String> = ["relay", "relay.new", "seeded.toml"]
            .map(String::from)
            .into();
        for name in [
            ".relay.a1B2c3.tmp",
            ".relay.new.ZZZZZZ.tmp",
            ".seeded.toml.000000.tmp",
        ] {
            assert!(is_stale_temp(name, &bases), "{name}");
        }
        for name in [
            "relay",
            ".relay.tmp",
            ".relay.a1B2c.tmp",
            ".relay.a1B2c3d.tmp",
            ".relay.a1-2c3.tmp",
            "relay.a1B2c3.tmp",
            ".relay.a1B2c3.tmp~",
            ".queue.a1B2c3.tmp",
            ".relay.old.a1B2c3.tmp",
            ".notes.a1B2c3.tmp",
        ] {
            assert!(!is_stale_temp(name, &bases), "{name}");
        }
    }
}

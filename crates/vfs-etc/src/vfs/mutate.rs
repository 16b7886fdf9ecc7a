//! The calls that change the tree: write, mkdir, unlink, rmdir, rename, each
//! refused in Linux's order before anything changes.

#[allow(clippy::wildcard_imports)] // the mutations are the VFS's own inside
use super::*;

impl Vfs {
    /// The mount and mount-relative path `write` would write to, after all its refusals.
    pub(crate) fn write_target(
        &self,
        who: &Who<'_>,
        path: &VfsPath,
        mode: WriteMode,
    ) -> Result<(&Arc<MountCore>, String), Fail> {
        let private = self.walk_to(path)?;
        // `open("x/", O_CREAT)` is EISDIR whether or not `x` exists (and `x/.`, `x/..` name
        // directories): no file can be created under a directory's spelling.
        if path.requires_dir() {
            return Err(Errno::ISDIR.into());
        }
        if self.is_structural(path) {
            return Err(if mode == WriteMode::CreateNew {
                Errno::EXIST
            } else {
                Errno::ISDIR
            }
            .into());
        }
        let Route::Mount(m, rel) = self.table.route(path) else {
            return Err(Errno::ROFS.into());
        };
        let existing = registered(m, &rel)?;
        match existing {
            Some(_) if mode == WriteMode::CreateNew => return Err(Errno::EXIST.into()),
            Some(e) if e.kind == Kind::Dir => return Err(Errno::ISDIR.into()),
            _ => {}
        }
        if m.access == Access::ReadOnly {
            return Err(Errno::ROFS.into());
        }
        let right = who.right(path);
        // Replacing a secret file's content is an admin's, as reading it is.
        if right < Right::Write
            || existing.is_some_and(|e| private.hides(&e) && right < Right::Admin)
        {
            return Err(Fail::Denied);
        }
        Ok((m, rel))
    }

    pub(crate) fn write_inner(
        &self,
        who: &Who<'_>,
        path: &VfsPath,
        data: &[u8],
        mode: WriteMode,
    ) -> Result<Metadata, Fail> {
        let (m, rel) = self.write_target(who, path, mode)?;
        if data.len() > MAX_FILE_SIZE {
            return Err(Errno::FBIG.into());
        }
        let _guard = m.lock();
        let observed_ns = now_ns();
        let stat = m.backend.write(&rel, data, mode == WriteMode::CreateNew)?;
        let old = m.store.get(&rel)?;
        let entry = Entry {
            kind: Kind::File,
            sig: stat.sig,
            etag: Some(Etag::of(data)),
            version: old.map_or(1, |e| e.version + 1),
            owner: Some(stat.owner()),
            observed_ns,
        };
        let stored = if entry.etag.is_some() && !reconcile::may_persist_etag(m, &rel, &stat) {
            Entry {
                etag: None,
                ..entry
            }
        } else {
            entry
        };
        let mut batch = Batch {
            puts: vec![(rel.clone(), stored)],
            deletes: Vec::new(),
            deferrable: false,
        };
        if old.is_none() {
            refresh_parent(m, &rel, &mut batch)?;
        }
        m.store.commit(&batch)?;
        Ok(Metadata::of(&entry))
    }

    pub(crate) fn mkdir_inner(&self, who: &Who<'_>, path: &VfsPath) -> Result<Metadata, Fail> {
        self.walk_to(path)?;
        if path.tail().is_dot() || self.is_structural(path) {
            return Err(Errno::EXIST.into());
        }
        let Route::Mount(m, rel) = self.table.route(path) else {
            return Err(Errno::ROFS.into());
        };
        if registered(m, &rel)?.is_some() {
            return Err(Errno::EXIST.into());
        }
        if m.access == Access::ReadOnly {
            return Err(Errno::ROFS.into());
        }
        if who.right(path) < Right::Write {
            return Err(Fail::Denied);
        }
        let _guard = m.lock();
        let observed_ns = now_ns();
        let stat = m.backend.mkdir(&rel)?;
        let entry = Entry {
            kind: Kind::Dir,
            sig: stat.sig,
            etag: None,
            version: 1,
            owner: Some(stat.owner()),
            observed_ns,
        };
        let mut batch = Batch {
            puts: vec![(rel.clone(), entry)],
            deletes: Vec::new(),
            deferrable: false,
        };
        refresh_parent(m, &rel, &mut batch)?;
        m.store.commit(&batch)?;
        Ok(Metadata::of(&entry))
    }

    pub(crate) fn unlink_inner(&self, who: &Who<'_>, path: &VfsPath) -> Result<(), Fail> {
        self.walk_to(path)?;
        if path.tail().is_dot() || path.is_root() {
            return Err(Errno::ISDIR.into());
        }
        let home = self.home(path);
        let m = home.writable()?;
        // A mount point or a directory leading to one: a directory.
        if self.is_structural(path) {
            return Err(Errno::ISDIR.into());
        }
        let rel = self.rel_on(m, path).ok_or(Errno::ISDIR)?;
        match registered(m, &rel)? {
            None => return Err(Errno::NOENT.into()),
            Some(e) if e.kind == Kind::Dir => return Err(Errno::ISDIR.into()),
            Some(_) if path.requires_dir() => return Err(Errno::NOTDIR.into()),
            Some(_) => {}
        }
        if who.right(path) < Right::Write {
            return Err(Fail::Denied);
        }
        remove_entry(m, &rel, |backend| backend.unlink(&rel))
    }

    pub(crate) fn rmdir_inner(&self, who: &Who<'_>, path: &VfsPath) -> Result<(), Fail> {
        self.walk_to(path)?;
        match path.tail() {
            Tail::Dot => return Err(Errno::INVAL.into()),
            Tail::DotDot => return Err(Errno::NOTEMPTY.into()),
            Tail::Name | Tail::Slash => {}
        }
        if path.is_root() {
            return Err(Errno::BUSY.into());
        }
        let home = self.home(path);
        let m = home.writable()?;
        if self.is_structural(path) {
            return Err(Errno::BUSY.into());
        }
        let rel = self.rel_on(m, path).ok_or(Errno::BUSY)?;
        match registered(m, &rel)? {
            None => return Err(Errno::NOENT.into()),
            Some(e) if e.kind != Kind::Dir => return Err(Errno::NOTDIR.into()),
            Some(_) => {}
        }
        if who.right(path) < Right::Write {
            return Err(Fail::Denied);
        }
        remove_entry(m, &rel, |backend| backend.rmdir(&rel))
    }

    pub(crate) fn rename_inner(
        &self,
        who: &Who<'_>,
        from: &VfsPath,
        to: &VfsPath,
    ) -> Result<(), Fail> {
        self.walk_to(from)?;
        self.walk_to(to)?;
        // Linux's order: EXDEV between the directories the names are in, EBUSY for `.`,
        // `..` and `/`, EROFS, the source's lookup, and only then EBUSY for a mount point.
        let (home, home_to) = (self.home(from), self.home(to));
        if !home.same_as(&home_to) {
            return Err(Errno::XDEV.into());
        }
        if from.tail().is_dot() || to.tail().is_dot() || from.is_root() || to.is_root() {
            return Err(Errno::BUSY.into());
        }
        let m = home.writable()?;
        if self.is_structural(from) {
            return Err(Errno::BUSY.into());
        }
        let rel_from = self.rel_on(m, from).ok_or(Errno::BUSY)?;
        match registered(m, &rel_from)? {
            None => return Err(Errno::NOENT.into()),
            // `rename("f/", …)` and `rename(f, "g/")` both say the file is not a directory.
            Some(e) if e.kind != Kind::Dir && (from.requires_dir() || to.requires_dir()) => {
                return Err(Errno::NOTDIR.into());
            }
            Some(_) => {}
        }
        if self.is_structural(to) {
            return Err(Errno::BUSY.into());
        }
        let rel_to = self.rel_on(m, to).ok_or(Errno::BUSY)?;
        // A symlink at the destination would be replaced, not followed; it is refused all
        // the same, as every name that is a symlink on the host is.
        registered(m, &rel_to)?;
        if who.right(from) < Right::Write || who.right(to) < Right::Write {
            return Err(Fail::Denied);
        }
        m.backend.rename(&rel_from, &rel_to)?;
        reconcile::reconcile_paths(m, &[rel_from, rel_to]).map_err(|e| match e {
            ReconcileError::Backend { error, .. } => Fail::from(error),
            ReconcileError::Store { source, .. } => Fail::Store(source),
            ReconcileError::NotMounted(_) => Fail::Os(crate::error::os(Errno::NOENT)),
        })?;
        Ok(())
    }
}

/// Removes `rel` from the backend with `remove`, then forgets its entry and
/// refreshes its parent's, under the mount's lock (shared by unlink and rmdir).
fn remove_entry(
    m: &MountCore,
    rel: &str,
    remove: impl FnOnce(&dyn Backend) -> std::io::Result<()>,
) -> Result<(), Fail> {
    let _guard = m.lock();
    remove(m.backend.as_ref())?;
    let mut batch = Batch {
        puts: Vec::new(),
        deletes: vec![rel.to_owned()],
        deferrable: false,
    };
    refresh_parent(m, rel, &mut batch)?;
    m.store.commit(&batch)?;
    Ok(())
}

/// Adds the parent directory's new stat fields to `batch` after a name was created or removed
/// in it (no version bump: see [`reconcile::decide`]).
fn refresh_parent(m: &MountCore, rel: &str, batch: &mut Batch) -> Result<(), Fail> {
    let parent = rel_split(rel).0;
    if let (Some(old), Some(stat)) = (m.store.get(parent)?, m.backend.stat(parent)?)
        && let Decision::Put { entry, .. } = reconcile::decide(Some(&old), &stat, now_ns())
    {
        batch.puts.push((parent.to_owned(), entry));
    }
    Ok(())
}

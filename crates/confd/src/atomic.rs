//! Replacing a file so that a reader, or a crash, sees the old content or the
//! new content and never a mix: write a temporary file in the same directory,
//! sync it, rename it over the target, sync the directory.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// An atomic write failed; the target is unchanged.
#[derive(Debug, thiserror::Error)]
#[error("cannot write `{}`: {source}", path.display())]
pub struct WriteError {
    /// The path that could not be written.
    pub path: PathBuf,
    /// What the operating system said.
    #[source]
    pub source: std::io::Error,
}

/// Replaces (or creates) `path` with `contents` and `mode`, atomically.
///
/// A symlink at `path` is followed, so the file it points to is replaced and
/// the link stays a link (as editors do). The temporary file is hidden
/// (`.NAME.XXXX.tmp`), which the loader and `nexus config doctor` recognise.
///
/// A replaced file keeps its owner and group: root editing a service's file
/// must not leave it unreadable to that service. When the caller may not give
/// the new file that owner (a user writing a file that belongs to someone
/// else), the write is refused and the file is unchanged.
pub fn replace_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), WriteError> {
    let target = match std::fs::canonicalize(path) {
        Ok(resolved) => resolved,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => path.to_owned(),
        Err(source) => {
            return Err(WriteError {
                path: path.to_owned(),
                source,
            });
        }
    };
    let fail = |p: &Path| {
        let p = p.to_owned();
        move |source| WriteError { path: p, source }
    };
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy());
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(fail(dir))?;
    temp.write_all(contents).map_err(fail(temp.path()))?;
    if let Ok(existing) = std::fs::metadata(&target) {
        keep_owner(temp.as_file(), &existing).map_err(fail(&target))?;
    }
    // After the chown, which clears set-id bits.
    temp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(fail(temp.path()))?;
    temp.as_file().sync_all().map_err(fail(temp.path()))?;
    temp.persist(&target).map_err(|e| WriteError {
        path: target.clone(),
        source: e.error,
    })?;
    sync_dir(dir).map_err(fail(dir))
}

/// Gives `file` the owner and group of `existing`, or explains why it cannot.
pub(crate) fn keep_owner(
    file: &std::fs::File,
    existing: &std::fs::Metadata,
) -> std::io::Result<()> {
    let mine = file.metadata()?;
    if (mine.uid(), mine.gid()) == (existing.uid(), existing.gid()) {
        return Ok(());
    }
    std::os::unix::fs::fchown(file, Some(existing.uid()), Some(existing.gid())).map_err(|e| {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            std::io::Error::new(
                e.kind(),
                format!(
                    "it belongs to uid {} gid {}, which this user (uid {} gid {}) cannot give a new file; \
                     run the command as that user or as root (nothing was written)",
                    existing.uid(),
                    existing.gid(),
                    mine.uid(),
                    mine.gid()
                ),
            )
        } else {
            e
        }
    })
}

/// Makes the directory entries written so far (a rename, a link) durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir).and_then(|d| d.sync_all())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_mode_and_leaves_no_temp_file() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("mounts");
        std::fs::write(&path, "old")?;
        replace_file(&path, b"new", 0o600)?;
        assert_eq!(std::fs::read_to_string(&path)?, "new");
        assert_eq!(
            std::fs::metadata(&path)?.permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 1);
        Ok(())
    }

    #[test]
    fn keeps_the_owner_and_group_of_the_file_it_replaces() -> Result<(), Box<dyn std::error::Error>>
    {
        use std::os::unix::fs::MetadataExt;
        // Runs as root (as CI does), so it may hand the file back to nobody.
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("cache");
        std::fs::write(&path, "old")?;
        std::os::unix::fs::chown(&path, Some(65534), Some(65534))?;
        replace_file(&path, b"new", 0o640)?;
        let meta = std::fs::metadata(&path)?;
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
        assert_eq!(meta.mode() & 0o7777, 0o640);
        Ok(())
    }

    #[test]
    fn writes_through_a_symlink() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let real = dir.path().join("real");
        std::fs::write(&real, "old")?;
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("real", &link)?;
        replace_file(&link, b"new", 0o644)?;
        assert!(std::fs::symlink_metadata(&link)?.file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(&real)?, "new");
        Ok(())
    }
}

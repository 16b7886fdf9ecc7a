//! Replacing a file so that a reader, or a crash, sees the old content or the
//! new content and never a mix: write a temporary file in the same directory,
//! sync it, rename it over the target, sync the directory.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// An atomic write failed; the target is unchanged.
#[derive(Debug, thiserror::Error)]
// The cause is in the message, so it is no `source()` as well.
#[error("cannot write `{}`: {error}", path.display())]
pub struct WriteError {
    /// The path that could not be written.
    pub path: PathBuf,
    /// What the operating system said.
    pub error: std::io::Error,
}

/// Replaces (or creates) `path` with `contents` and `mode`, atomically.
///
/// A symlink at `path` is followed, so the file it points to is replaced and
/// the link stays a link (as editors do). The temporary file is hidden
/// (`.NAME.XXXXXX.tmp`), which seeding, the loader and `nexus config doctor`
/// recognise: this is seeding's own writer.
///
/// A replaced file keeps its owner, group and extended attributes (a POSIX
/// ACL that lets a service read it): root editing a service's file must not
/// leave it unreadable to that service. When the caller cannot keep them (a
/// user writing a file that belongs to someone else), the write is refused
/// and the file is unchanged. New files get the attributes of their directory (`carry_attributes`).
pub fn replace_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), WriteError> {
    write_with(crate::seed::Writer::new(None), path, contents, mode)
}

/// [`replace_file`] for an output file the caller names (a snapshot): the
/// same atomic write, but a new file stays the caller's even where root
/// writes into another user's directory.
pub fn write_output_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), WriteError> {
    write_with(
        crate::seed::Writer::new(None).owned_by_caller(),
        path,
        contents,
        mode,
    )
}

fn write_with(
    mut writer: crate::seed::Writer<'_>,
    path: &Path,
    contents: &[u8],
    mode: u32,
) -> Result<(), WriteError> {
    let failed = |error| WriteError {
        path: path.to_owned(),
        error,
    };
    let target = match std::fs::canonicalize(path) {
        Ok(resolved) => resolved,
        // A new file: absolute, so a bare `name` has a directory to sync.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::path::absolute(path).map_err(failed)?
        }
        Err(source) => return Err(failed(source)),
    };
    writer
        .replace(&target, contents, mode)
        .map_err(|e| match e {
            crate::seed::SeedError::Io { path, error } => WriteError { path, error },
            crate::seed::SeedError::Record { path, message } => WriteError {
                path,
                error: std::io::Error::other(message),
            },
        })
}

/// Gives `file`, about to take the place of `target`, what must survive the
/// replacement: the owner, group and extended attributes of the file there.
/// A new file, created by root in a directory that belongs to someone else
/// (a service's state dir), takes that directory's owner and group, so root
/// running a command there does not lock the service out of its own files.
/// The caller sets the mode afterwards: a chown clears set-id bits, and a
/// chmod after the ACL keeps the ACL's mask in line with the mode.
pub(crate) fn carry_attributes(
    file: &std::fs::File,
    target: &Path,
    inherit: bool,
) -> std::io::Result<()> {
    match std::fs::metadata(target) {
        Ok(existing) => {
            keep_owner(file, &existing)?;
            keep_xattrs(file, target)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && inherit => {
            // `name` alone has the parent "": the current directory.
            let dir = target.parent().filter(|p| !p.as_os_str().is_empty());
            inherit_owner(file, dir.unwrap_or(Path::new(".")))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Gives a new entry (`file`, an open handle to it) the owner and group of
/// `dir` when root creates it there and `dir` is not root's.
pub(crate) fn inherit_owner(file: impl std::os::fd::AsFd, dir: &Path) -> std::io::Result<()> {
    if !rustix::process::geteuid().is_root() {
        return Ok(());
    }
    let parent = std::fs::metadata(dir)?;
    if (parent.uid(), parent.gid()) == (0, 0) {
        return Ok(());
    }
    rustix::fs::fchown(
        file,
        Some(rustix::fs::Uid::from_raw(parent.uid())),
        Some(rustix::fs::Gid::from_raw(parent.gid())),
    )
    .map_err(std::io::Error::from)
}

/// Whether this process may give a new file the owner and group of
/// `existing`, asked before anything is created: a refusal then leaves the
/// directory untouched too.
pub(crate) fn can_keep_owner(existing: &std::fs::Metadata) -> std::io::Result<()> {
    let (uid, gid) = (
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    );
    let in_group = gid == existing.gid()
        || rustix::process::getgroups()
            .is_ok_and(|groups| groups.iter().any(|g| g.as_raw() == existing.gid()));
    if uid == 0 || (uid == existing.uid() && in_group) {
        Ok(())
    } else {
        Err(cannot_keep_owner(existing, uid, gid))
    }
}

fn cannot_keep_owner(existing: &std::fs::Metadata, uid: u32, gid: u32) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        format!(
            "it belongs to uid {} gid {}, which this user (uid {uid} gid {gid}) cannot give a new file; \
             run the command as that user or as root (nothing was written)",
            existing.uid(),
            existing.gid(),
        ),
    )
}

/// Gives `file` the owner and group of `existing`, or explains why it cannot.
fn keep_owner(file: &std::fs::File, existing: &std::fs::Metadata) -> std::io::Result<()> {
    let mine = file.metadata()?;
    if (mine.uid(), mine.gid()) == (existing.uid(), existing.gid()) {
        return Ok(());
    }
    std::os::unix::fs::fchown(file, Some(existing.uid()), Some(existing.gid())).map_err(|e| {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            cannot_keep_owner(existing, mine.uid(), mine.gid())
        } else {
            e
        }
    })
}

/// Copies the extended attributes of `existing` to `file`: a POSIX ACL
/// (`system.posix_acl_access`), `user.*` marks. `security.*` labels are left
/// to the kernel, which gives a new file its own.
fn keep_xattrs(file: &std::fs::File, existing: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let size = match rustix::fs::listxattr_query(existing) {
        Ok(size) => size,
        Err(rustix::io::Errno::NOTSUP) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if size == 0 {
        return Ok(());
    }
    let mut names = vec![0u8; size];
    let len = rustix::fs::listxattr(existing, &mut names[..])?;
    for name in names[..len.min(size)].split(|&b| b == 0) {
        let name = std::ffi::OsStr::from_bytes(name);
        if name.is_empty() || name.as_bytes().starts_with(b"security.") {
            continue;
        }
        let mut value = vec![0u8; rustix::fs::getxattr_query(existing, name)?];
        let len = rustix::fs::getxattr(existing, name, &mut value[..])?;
        rustix::fs::fsetxattr(file, name, &value[..len], rustix::fs::XattrFlags::empty()).map_err(
            |e| {
                std::io::Error::new(
                    std::io::Error::from(e).kind(),
                    format!(
                        "cannot give the new file its extended attribute `{}` ({e}); nothing was written",
                        name.to_string_lossy()
                    ),
                )
            },
        )?;
    }
    Ok(())
}

/// Makes the directory entries written so far (a rename, a link) durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir).and_then(|d| d.sync_all())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keeps_extended_attributes_and_an_acl() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("store");
        std::fs::write(&path, "old")?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640))?;
        // An ACL granting `nobody` read (user::rw-, user:65534:r--, group::---,
        // mask::r--, other::---), as `setfacl -m u:nobody:r` makes.
        let mut acl = 2u32.to_le_bytes().to_vec();
        for (tag, perm, id) in [
            (1u16, 6u16, u32::MAX),
            (2, 4, 65534),
            (4, 0, u32::MAX),
            (0x10, 4, u32::MAX),
            (0x20, 0, u32::MAX),
        ] {
            acl.extend(tag.to_le_bytes());
            acl.extend(perm.to_le_bytes());
            acl.extend(id.to_le_bytes());
        }
        let flags = rustix::fs::XattrFlags::empty();
        rustix::fs::setxattr(&path, "system.posix_acl_access", &acl, flags)?;
        rustix::fs::setxattr(&path, "user.origin", b"ansible", flags)?;
        let mode = std::fs::metadata(&path)?.permissions().mode() & 0o7777;
        replace_file(&path, b"new", mode)?;
        let mut value = [0u8; 64];
        let len = rustix::fs::getxattr(&path, "user.origin", &mut value[..])?;
        assert_eq!(&value[..len], b"ansible");
        let len = rustix::fs::getxattr(&path, "system.posix_acl_access", &mut value[..])?;
        assert_eq!(&value[..len], &acl[..]);
        assert_eq!(
            std::fs::metadata(&path)?.permissions().mode() & 0o7777,
            mode
        );
        assert_eq!(std::fs::read(&path)?, b"new");
        Ok(())
    }

    #[test]
    fn replaces_content_and_mode_and_leaves_no_temp_file() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("relay");
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
        let path = dir.path().join("queue");
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

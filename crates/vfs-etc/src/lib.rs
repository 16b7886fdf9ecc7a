//! A small virtual file system that mounts `$NEXUS_STATE_DIR/etc` read-only at `/etc` by
//! registering metadata only.
//!
//! - [`VfsPath`]: absolute, normalised paths; `..` never climbs above `/`.
//! - [`Vfs`]: a mount table with longest-prefix routing and a per-mount [`Access`] flag,
//!   checked before any backend is touched; `read`, `stat`, `read_dir`, `write`, `unlink`,
//!   `mkdir`, `rmdir`, `rename` with Linux's errno order (`EROFS` under a read-only mount,
//!   after `ENOENT` for a missing parent and `EEXIST` for an exclusive create).
//! - [`Metastore`]: where entries (kind, stat fields, etag, version) live —
//!   [`MemoryMetastore`], or [`RedbMetastore`] on disk.
//! - [`Backend`]: where bytes live — [`HostDir`] (a host directory confined by
//!   `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`) or [`MemoryBackend`].
//! - [`mount_etc`]: `$STATE/etc` at `/etc`, read-only, with the store at
//!   `$STATE/var/lib/vfs/vfs-meta.redb` (0600, in a 0700 directory); a reboot with no host change commits nothing.
//! - [`watch`]: keeps entries true as the host directory changes (and the access policy with
//!   them).
//! - [`Caller`], [`Right`], [`Policy`]: who may do what. Every call is made by a caller
//!   (`vfs.as_caller(&caller).read(&path)`), checked against the policy brick `vfs`
//!   (`$STATE/etc/conf.d/vfs`, [`VfsPolicy`]); a host file without `o+r` is readable by
//!   admins only. The model and its table are in the crate's README.
//!
//! Etags are BLAKE3 content hashes computed lazily: boot only `lstat`s, and the first read or
//! `stat` of a file hashes it. Every read re-checks the entry against `fstat` of the opened
//! file and against the hash of the bytes read, so [`FileContents::metadata`] always describes
//! [`FileContents::data`].
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::io::ErrorKind;
//! use vfs_etc::{Caller, VfsPath, WriteMode, boot};
//!
//! let state = tempfile::tempdir()?;
//! std::fs::create_dir_all(state.path().join("etc/conf.d"))?;
//! std::fs::write(state.path().join("etc/conf.d/mounts"), "auto_sync = true\n")?;
//!
//! let (vfs, report) = boot(state.path())?;
//! assert_eq!(report.added, 3); // /etc, /etc/conf.d, /etc/conf.d/mounts
//!
//! // Without `conf.d/vfs`, anonymous local callers may read, anonymous remote ones nothing.
//! let local = vfs.as_caller(&Caller::AnonymousLocal);
//! let mounts: VfsPath = "/etc/conf.d/mounts".parse()?;
//! assert_eq!(local.read(&mounts)?.data, b"auto_sync = true\n");
//! let denied = vfs.as_caller(&Caller::AnonymousRemote).read(&mounts).unwrap_err();
//! assert_eq!(denied.kind(), ErrorKind::PermissionDenied);
//! let err = local.write(&mounts, b"auto_sync = false\n", WriteMode::Replace).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::ReadOnlyFilesystem);
//! assert_eq!(
//!     err.to_string(),
//!     "cannot write `/etc/conf.d/mounts`: read-only file system (os error 30)"
//! );
//!
//! // A second boot finds nothing changed and writes nothing.
//! drop(vfs);
//! assert!(!boot(state.path())?.1.committed);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod access;
mod backend;
mod entry;
mod error;
mod metastore;
mod mount;
mod path;
mod reconcile;
mod router;
mod vfs;
mod watch;

pub use access::{
    AceDecl, AnonymousRights, Caller, GroupDecl, Policy, PolicyError, Right, VfsPolicy, load_policy,
};
pub use backend::{Backend, HostDir, Listing, MemoryBackend};
pub use entry::{Entry, Etag, Kind, Metadata, Owner, RACY_WINDOW_NS, Signature, Stat};
pub use error::{
    MkdirError, MountError, ReadDirError, ReadError, ReconcileError, RenameError, RmdirError,
    StatError, UnlinkError, WriteError,
};
pub use metastore::{Batch, MemoryMetastore, Metastore, MetastoreError, RedbMetastore};
pub use mount::{
    ETC_MOUNT_POINT, MountEtcError, TMP_MOUNT_POINT, boot, etc_mount_point, metastore_path,
    mount_etc, tmp_mount_point,
};
pub use path::{PathError, VfsPath};
pub use reconcile::ReconcileReport;
pub use router::Access;
pub use vfs::{DirEntry, FileContents, MAX_FILE_SIZE, Session, Vfs, WriteMode};
pub use watch::{WatchError, Watcher, watch};

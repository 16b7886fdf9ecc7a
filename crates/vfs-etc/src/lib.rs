//! A small virtual file system that mounts `$NEXUS_STATE_DIR/etc` read-only at `/etc` by
//! registering metadata only.
//!
//! The root holds what a program that mounts `/etc` and makes calls needs ([`boot`],
//! [`mount_etc`], [`Vfs`], [`Session`], [`VfsPath`], [`Caller`], [`Right`], [`WriteMode`],
//! [`watch()`]); the rest is in modules, one subject each:
//!
//! - [`path`]: [`VfsPath`], absolute and normalised; `..` never climbs above `/`.
//! - [`vfs`]: the [`Vfs`], a mount table with longest-prefix routing and a per-mount
//!   [`vfs::Access`] flag, checked before any backend is touched; the calls of a
//!   [`Session`] (`read`, `stat`, `read_dir`, `write`, `unlink`, `mkdir`, `rmdir`, `rename`)
//!   with Linux's errno order (`EROFS` under a read-only mount, after `ENOENT` for a missing
//!   parent and `EEXIST` for an exclusive create).
//! - [`error`]: one error type per call, each with its errno.
//! - [`entry`]: what the VFS keeps per path (kind, stat fields, etag, version).
//! - [`metastore`]: where entries live — [`metastore::MemoryMetastore`], or
//!   [`metastore::RedbMetastore`] on disk.
//! - [`backend`]: where bytes live — [`backend::HostDir`] (a host directory confined by
//!   `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, every refusal an
//!   [`backend::EscapeAttempt`]) or [`backend::MemoryBackend`].
//! - [`reconcile`]: keeping entries true to a backend, and the report of a scan.
//! - [`mount`]: [`mount_etc`], `$STATE/etc` at `/etc`, read-only, with the store at
//!   `$STATE/var/lib/vfs/vfs-meta.redb` (0600, in a 0700 directory); a reboot with no host
//!   change commits nothing.
//! - [`mod@watch`]: keeps entries true as the host directory changes (and the access policy
//!   with them).
//! - [`access`]: who may do what. Every call is made by a [`Caller`]
//!   (`vfs.as_caller(&caller).read(&path)`), checked against the policy brick `vfs`
//!   (`$STATE/etc/conf.d/vfs`, [`access::VfsPolicy`]); a host file without `o+r` is readable
//!   by admins only. The model and its table are in the crate's README.
//!
//! Etags are BLAKE3 content hashes computed lazily: boot only `lstat`s, and the first read or
//! `stat` of a file hashes it. Every read re-checks the entry against `fstat` of the opened
//! file and against the hash of the bytes read, so [`vfs::FileContents::metadata`] always
//! describes [`vfs::FileContents::data`].
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

pub mod access;
pub mod backend;
pub mod entry;
pub mod error;
pub mod metastore;
pub mod mount;
pub mod path;
pub mod reconcile;
mod router;
pub mod vfs;
pub mod watch;

pub use access::{Caller, Right};
pub use mount::{boot, mount_etc};
pub use path::VfsPath;
pub use vfs::{Session, Vfs, WriteMode};
pub use watch::watch;

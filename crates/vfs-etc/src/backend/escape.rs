//! The refusal of a lookup that would leave a host backend's root: one type, one constructor.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// How a refused lookup would have escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Through a symbolic link (the kernel's `ELOOP` under `RESOLVE_NO_SYMLINKS`). Every
    /// symlink is refused, not only those pointing out: one inside can be retargeted between
    /// two calls, and an entry's bytes must not depend on a path the VFS does not track.
    Symlink,
    /// Out of the root by `..` or an absolute path (the kernel's `EXDEV` under
    /// `RESOLVE_BENEATH`). A [`crate::path::VfsPath`] is normalised, so only a direct
    /// [`crate::backend::Backend`] caller can ask for one.
    OutOfRoot,
}

impl fmt::Display for Escape {
    /// The reason as a VFS error's message ends with it, after the VFS path it names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Escape::Symlink => {
                "refused as an escape attempt: it passes through a symbolic link on the host, \
                 which the VFS never follows"
            }
            Escape::OutOfRoot => {
                "refused as an escape attempt: it leads out of its mount's host directory"
            }
        })
    }
}

/// A lookup a host backend refused because it would leave the backend's root: what cap-std
/// calls an escape attempt.
///
/// It travels inside an `io::Error` of kind `PermissionDenied` (as cap-std's does), built by
/// one crate-private constructor alone; [`EscapeAttempt::of`] finds it again. The VFS turns it into the
/// `Escape` variant of the operation's error, whose errno is `EACCES`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}` is refused as an escape attempt: it {} `{}`", self.verb(), root.display())]
pub struct EscapeAttempt {
    root: PathBuf,
    path: String,
    via: Escape,
}

impl EscapeAttempt {
    /// The host directory the lookup was confined to.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path that was asked for, relative to [`EscapeAttempt::root`].
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// How it would have escaped.
    #[must_use]
    pub fn via(&self) -> Escape {
        self.via
    }

    /// The escape attempt `error` reports, if it reports one.
    #[must_use]
    pub fn of(error: &io::Error) -> Option<&EscapeAttempt> {
        error.get_ref().and_then(|inner| inner.downcast_ref())
    }

    fn verb(&self) -> &'static str {
        match self.via {
            Escape::Symlink => "passes through a symbolic link below",
            Escape::OutOfRoot => "leads out of",
        }
    }
}

/// The one constructor of an escape refusal: `rel` (relative to `root`) would have escaped
/// `via` a symlink or `..`. Logged here, with the host paths, so every refusal is logged once;
/// the VFS's own message names only the VFS path (a remote caller learns no host path).
#[cold]
pub(crate) fn escape_attempt(root: &Path, rel: &str, via: Escape) -> io::Error {
    tracing::warn!(
        root = %root.display(),
        path = rel,
        ?via,
        "refused a lookup that leaves the root or passes a symlink"
    );
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        EscapeAttempt {
            root: root.to_owned(),
            path: rel.to_owned(),
            via,
        },
    )
}

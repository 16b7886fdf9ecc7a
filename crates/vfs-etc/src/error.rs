//! One error type per VFS operation. Refusals carry a raw errno so `kind()` matches what
//! Linux would return and the CLI can print the number.

use std::io;

use rustix::io::Errno;

use std::sync::Arc;

use crate::access::PolicyError;
use crate::backend::EscapeAttempt;
use crate::metastore::MetastoreError;
use crate::path::VfsPath;

/// `strerror` text the way this project writes messages: lowercase first letter, number kept
/// ("read-only file system (os error 30)").
pub(crate) fn describe(error: &io::Error) -> String {
    let text = error.to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// An `io::Error` for `code`, as the VFS decides refusals.
pub(crate) fn os(code: Errno) -> io::Error {
    io::Error::from_raw_os_error(code.raw_os_error())
}

/// The accessors and the `io::Error` conversion of an operation's error enum: every one has
/// the outcomes `Os`, `Policy`, `Escape` and `Store` (a single-path operation's and
/// [`RenameError`]), so one definition keeps their errnos identical.
macro_rules! errno_accessors {
    ($name:ident) => {
        impl $name {
            /// The error kind: `ReadOnlyFilesystem` for `EROFS`, `NotFound` for `ENOENT`, …
            #[must_use]
            pub fn kind(&self) -> io::ErrorKind {
                match self {
                    Self::Os { error, .. } => error.kind(),
                    Self::Policy { .. } | Self::Escape { .. } => io::ErrorKind::PermissionDenied,
                    Self::Store { .. } => io::ErrorKind::Other,
                }
            }

            /// The errno, if the operation was refused or failed with one (`EACCES` for an
            /// invalid policy or an escape attempt).
            #[must_use]
            pub fn raw_os_error(&self) -> Option<i32> {
                match self {
                    Self::Os { error, .. } => error.raw_os_error(),
                    Self::Policy { .. } | Self::Escape { .. } => Some(Errno::ACCESS.raw_os_error()),
                    Self::Store { .. } => None,
                }
            }
        }

        impl From<$name> for io::Error {
            fn from(e: $name) -> io::Error {
                match e {
                    // Keep the raw errno: callers match on it.
                    $name::Os { error, .. } => error,
                    e @ ($name::Policy { .. } | $name::Escape { .. }) => {
                        io::Error::new(io::ErrorKind::PermissionDenied, e)
                    }
                    e @ $name::Store { .. } => io::Error::other(e),
                }
            }
        }
    };
}

/// The variant of `Self` for `fail`, with the path fields named (`path`, or `from, to`).
macro_rules! from_fail {
    ($fail:expr, $($field:ident),+) => {
        match $fail {
            crate::error::Fail::Os(error) => Self::Os { $($field,)+ error },
            crate::error::Fail::Denied => Self::Os { $($field,)+ error: crate::error::os(Errno::ACCESS) },
            crate::error::Fail::Policy(policy) => Self::Policy { $($field,)+ policy },
            crate::error::Fail::Escape(attempt) => Self::Escape { $($field,)+ attempt },
            crate::error::Fail::Store(source) => Self::Store { $($field,)+ source },
        }
    };
}

/// Declares the error enum of a single-path operation. They all have the same outcomes (an
/// errno, an invalid policy, an escape attempt, a failing metadata store) and differ only in
/// the verb they print, so one definition keeps their messages and accessors identical.
macro_rules! path_op_error {
    ($(#[$doc:meta])* $name:ident, $verb:literal) => {
        $(#[$doc])*
        #[derive(Debug, thiserror::Error)]
        pub enum $name {
            /// Refused or failed with an errno: decided by the VFS in Linux's order (`ENOENT`,
            /// `EEXIST`, `EROFS`, `EACCES` when the caller lacks the right, …) or returned by
            /// the backend.
            #[error("cannot {} `{path}`: {}", $verb, crate::error::describe(error))]
            Os {
                /// The VFS path.
                path: VfsPath,
                /// The errno, as `io::Error::from_raw_os_error`.
                error: io::Error,
            },
            /// Refused because the access policy could not be loaded: every call fails until
            /// it is fixed (`EACCES`). The message names the policy file, line and column.
            #[error("cannot {} `{path}`: {policy}", $verb)]
            Policy {
                /// The VFS path.
                path: VfsPath,
                /// Why the policy is invalid.
                policy: Arc<PolicyError>,
            },
            /// Refused because the path leads through a symbolic link on the host, or out
            /// of its mount's host directory: an escape attempt (`EACCES`, see
            /// [`EscapeAttempt`]). The message names the VFS path only; the attempt holds the
            /// host paths.
            #[error("cannot {} `{path}`: {}", $verb, attempt.via())]
            Escape {
                /// The VFS path.
                path: VfsPath,
                /// What the host backend refused.
                attempt: EscapeAttempt,
            },
            /// The metadata store failed.
            #[error("cannot {} `{path}`: metadata store failed", $verb)]
            Store {
                /// The VFS path.
                path: VfsPath,
                /// What the store said.
                #[source]
                source: MetastoreError,
            },
        }

        errno_accessors!($name);

        impl $name {
            /// The path the operation was about.
            #[must_use]
            pub fn path(&self) -> &VfsPath {
                match self {
                    Self::Os { path, .. }
                    | Self::Policy { path, .. }
                    | Self::Escape { path, .. }
                    | Self::Store { path, .. } => path,
                }
            }

            pub(crate) fn from_fail(path: &VfsPath, fail: crate::error::Fail) -> Self {
                let path = path.clone();
                from_fail!(fail, path)
            }
        }
    };
}

path_op_error!(
    /// Why [`crate::Session::read`] failed.
    ReadError, "read"
);
path_op_error!(
    /// Why [`crate::Session::stat`] failed.
    StatError, "stat"
);
path_op_error!(
    /// Why [`crate::Session::read_dir`] failed.
    ReadDirError, "list"
);
path_op_error!(
    /// Why [`crate::Session::write`] failed.
    WriteError, "write"
);
path_op_error!(
    /// Why [`crate::Session::unlink`] failed.
    UnlinkError, "remove"
);
path_op_error!(
    /// Why [`crate::Session::mkdir`] failed.
    MkdirError, "create directory"
);
path_op_error!(
    /// Why [`crate::Session::rmdir`] failed.
    RmdirError, "remove directory"
);

/// Why [`crate::Session::rename`] failed.
#[derive(Debug, thiserror::Error)]
pub enum RenameError {
    /// Refused or failed with an errno (`ENOENT`, `EXDEV`, `EROFS`, …).
    #[error("cannot move `{from}` to `{to}`: {}", describe(error))]
    Os {
        /// The source path.
        from: VfsPath,
        /// The destination path.
        to: VfsPath,
        /// The errno, as `io::Error::from_raw_os_error`.
        error: io::Error,
    },
    /// Refused because the access policy could not be loaded (`EACCES`).
    #[error("cannot move `{from}` to `{to}`: {policy}")]
    Policy {
        /// The source path.
        from: VfsPath,
        /// The destination path.
        to: VfsPath,
        /// Why the policy is invalid.
        policy: Arc<PolicyError>,
    },
    /// Refused because one of the paths leads through a symbolic link on the host, or out of
    /// its mount's host directory (`EACCES`, see [`EscapeAttempt`]).
    #[error("cannot move `{from}` to `{to}`: {}", attempt.via())]
    Escape {
        /// The source path.
        from: VfsPath,
        /// The destination path.
        to: VfsPath,
        /// What the host backend refused.
        attempt: EscapeAttempt,
    },
    /// The metadata store failed.
    #[error("cannot move `{from}` to `{to}`: metadata store failed")]
    Store {
        /// The source path.
        from: VfsPath,
        /// The destination path.
        to: VfsPath,
        /// What the store said.
        #[source]
        source: MetastoreError,
    },
}

errno_accessors!(RenameError);

impl RenameError {
    pub(crate) fn from_fail(from: &VfsPath, to: &VfsPath, fail: Fail) -> Self {
        let (from, to) = (from.clone(), to.clone());
        from_fail!(fail, from, to)
    }
}

/// Why a reconcile (a mount's scan, a watcher refresh) failed.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The backend could not be read.
    #[error("cannot scan `{path}`: {}", describe(error))]
    Backend {
        /// The VFS path being scanned.
        path: VfsPath,
        /// The I/O error.
        error: io::Error,
    },
    /// The metadata store failed.
    #[error("cannot scan `{path}`: metadata store failed")]
    Store {
        /// The VFS path being scanned.
        path: VfsPath,
        /// What the store said.
        #[source]
        source: MetastoreError,
    },
    /// No mount has this mount point.
    #[error("nothing is mounted at `{0}`")]
    NotMounted(VfsPath),
}

/// Why [`crate::Vfs::mount`] failed.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// Something is already mounted there.
    #[error("cannot mount at `{0}`: something is already mounted there")]
    AlreadyMounted(VfsPath),
    /// The initial scan failed.
    #[error(transparent)]
    Scan(#[from] ReconcileError),
}

/// An operation's failure before it is given its path: an errno, a denial, an invalid policy,
/// an escape attempt or a store error; each operation's error is built from one by
/// `from_fail`.
#[derive(Debug)]
pub(crate) enum Fail {
    Os(io::Error),
    /// The caller lacks the right (`EACCES`); logged once, where the call ends.
    Denied,
    /// The policy is invalid: every call is refused.
    Policy(Arc<PolicyError>),
    /// The host backend refused the path as an escape attempt.
    Escape(EscapeAttempt),
    Store(MetastoreError),
}

impl From<io::Error> for Fail {
    /// A backend's error: an escape attempt becomes [`Fail::Escape`] here, so no call site can
    /// report one as a plain errno.
    fn from(e: io::Error) -> Self {
        match EscapeAttempt::of(&e) {
            Some(attempt) => Fail::Escape(attempt.clone()),
            None => Fail::Os(e),
        }
    }
}

impl From<MetastoreError> for Fail {
    fn from(e: MetastoreError) -> Self {
        Fail::Store(e)
    }
}

impl From<Errno> for Fail {
    fn from(e: Errno) -> Self {
        Fail::Os(os(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_lowercase_with_the_errno() -> Result<(), crate::path::PathError> {
        let e = WriteError::from_fail(&VfsPath::new("/etc/conf.d/mounts")?, Errno::ROFS.into());
        assert_eq!(
            e.to_string(),
            "cannot write `/etc/conf.d/mounts`: read-only file system (os error 30)"
        );
        assert_eq!(e.kind(), io::ErrorKind::ReadOnlyFilesystem);
        assert_eq!(io::Error::from(e).raw_os_error(), Some(30));
        Ok(())
    }
}

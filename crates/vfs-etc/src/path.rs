//! Absolute, normalised VFS paths that remember what their spelling asks of the file system.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// Why a string is not a VFS path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path does not start with `/`.
    #[error("invalid path `{0}`: must be absolute")]
    NotAbsolute(String),
    /// The path holds NUL or another control character, which no config file name needs and
    /// which would let a name smuggle a terminator or escape sequence into logs and C APIs.
    #[error("invalid path {0:?}: contains a NUL or control character")]
    ControlCharacter(String),
    /// The path is longer than [`VfsPath::MAX_LEN`] bytes (Linux's `PATH_MAX`, less its NUL):
    /// `ENAMETOOLONG` on Linux. The text is not repeated: it is the problem.
    #[error("invalid path: {0} bytes long, more than the 4095 a path may have")]
    TooLong(usize),
    /// A component is longer than [`VfsPath::MAX_NAME_LEN`] bytes (Linux's `NAME_MAX`). Shown
    /// by its first characters only.
    #[error("invalid path: the name `{0}…` is longer than the 255 bytes a name may have")]
    NameTooLong(String),
}

/// How a path's last component is spelled: what Linux decides from the text before it
/// looks at the file system (`LAST_NORM`, `LAST_DOT`, `LAST_DOTDOT` and a trailing slash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Tail {
    /// A plain name (or `/` itself).
    Name,
    /// A name followed by `/`: it must be a directory (`ENOTDIR` for a file), and a file
    /// cannot be created under that spelling (`EISDIR`).
    Slash,
    /// `.`: the directory before it, which must exist.
    Dot,
    /// `..`: the parent of the directory before it.
    DotDot,
}

impl Tail {
    /// Whether the spelling only names a directory.
    pub(crate) fn requires_dir(self) -> bool {
        self != Tail::Name
    }

    /// Whether the last component is `.` or `..`, which no call may create, remove or rename.
    pub(crate) fn is_dot(self) -> bool {
        matches!(self, Tail::Dot | Tail::DotDot)
    }
}

/// An absolute path in the VFS namespace: the normalised name it resolves to, plus what its
/// spelling asks of the file system on the way there.
///
/// Normalisation is lexical and happens once, here: repeated slashes collapse, `.` disappears
/// and `..` removes the previous component but never climbs above `/` (as the kernel treats
/// `/..`). Every later layer can therefore rely on a name with no `.`, `..` or empty component,
/// which is what keeps a mount's relative paths inside the mount.
///
/// Lexical normalisation alone would answer differently from Linux, which walks the path:
/// `/etc/conf.d/mounts/..` is `ENOTDIR` when `mounts` is a file, not `/etc/conf.d`, and
/// `/etc/conf.d/mounts/` is `ENOTDIR` too. So the path also keeps the directories that the
/// walk passes through and then leaves with `..` ([`VfsPath::walked_dirs`]), and how its last
/// component is spelled (trailing slash, `.` or `..`); the VFS checks both as Linux does.
/// Two paths are equal when they name the same thing with the same requirements, whatever
/// their spelling (`//etc/./conf.d` equals `/etc/conf.d`); messages show the spelling given.
#[derive(Clone)]
pub struct VfsPath {
    /// The normalised name: `/`, or `/` and components without `.`, `..` or empty ones.
    name: String,
    /// How the path was spelled, when that differs from `name`: boxed, so the common plain
    /// path (and every error that carries one) stays small.
    spelling: Option<Box<Spelling>>,
}

/// What a spelling other than the plain normalised name asks for and shows.
#[derive(Clone)]
struct Spelling {
    /// Normalised directories the walk enters and leaves again by `..`, in walk order, each
    /// neither an ancestor of the name nor the name itself (those are walked anyway).
    walked: Vec<String>,
    tail: Tail,
    /// For a path ending in `..`: the normalised directory that `..` is looked up in.
    dotdot_in: Option<String>,
    /// The text as given, for messages.
    given: String,
}

impl VfsPath {
    /// The longest path accepted, in bytes: Linux's `PATH_MAX` (4096) less its terminating NUL.
    /// The bound also keeps the walk every call makes (one lookup per component) small.
    pub const MAX_LEN: usize = 4095;

    /// The longest component accepted, in bytes: Linux's `NAME_MAX`.
    pub const MAX_NAME_LEN: usize = 255;

    /// The root, `/`.
    #[must_use]
    pub fn root() -> Self {
        Self::clean("/".to_owned())
    }

    /// A fixed path known to be normalised (the mount points): no parse that could fail, and
    /// so no fallback to hide a typo. A test checks each against [`VfsPath::new`].
    pub(crate) fn fixed(name: &'static str) -> Self {
        debug_assert!(
            Self::new(name).is_ok_and(|p| p.as_given() == name),
            "`{name}` is not a normalised absolute path"
        );
        Self::clean(name.to_owned())
    }

    /// A path from an already normalised name, with no requirement beyond it.
    fn clean(name: String) -> Self {
        Self {
            name,
            spelling: None,
        }
    }

    /// Parses and normalises `s`.
    ///
    /// # Errors
    /// [`PathError`] if `s` is relative, holds a control character, or is too long (as a
    /// whole or in one component).
    pub fn new(s: &str) -> Result<Self, PathError> {
        // Control characters first: `NotAbsolute` prints the text as given, so a relative
        // path holding an escape sequence must be refused by the variant that escapes it.
        if s.chars().any(char::is_control) {
            return Err(PathError::ControlCharacter(s.to_owned()));
        }
        if s.len() > Self::MAX_LEN {
            return Err(PathError::TooLong(s.len()));
        }
        if !s.starts_with('/') {
            return Err(PathError::NotAbsolute(s.to_owned()));
        }
        if let Some(long) = s.split('/').find(|c| c.len() > Self::MAX_NAME_LEN) {
            return Err(PathError::NameTooLong(long.chars().take(24).collect()));
        }
        let mut parts: Vec<&str> = Vec::new();
        let mut walked: Vec<String> = Vec::new();
        let mut tail = Tail::Name;
        let mut dotdot_in = None;
        for part in s.split('/') {
            match part {
                "" => continue,
                "." => tail = Tail::Dot,
                ".." => {
                    // `x/..` looks `..` up inside `x`: `x` must be a directory.
                    if !parts.is_empty() {
                        walked.push(join_parts(&parts));
                    }
                    dotdot_in = Some(join_parts(&parts));
                    parts.pop();
                    tail = Tail::DotDot;
                }
                name => {
                    parts.push(name);
                    tail = Tail::Name;
                }
            }
        }
        if tail == Tail::Name && !parts.is_empty() && s.ends_with('/') {
            tail = Tail::Slash;
        }
        let name = join_parts(&parts);
        // Keep only what the walk would not check anyway: walking into a directory walks its
        // ancestors too, so ancestors of `name` and of another walked directory go.
        let mut kept: Vec<String> = Vec::new();
        for dir in &walked {
            let covered = is_ancestor_or_self(dir, &name)
                || kept.contains(dir)
                || walked
                    .iter()
                    .any(|other| other != dir && is_ancestor_or_self(dir, other));
            if !covered {
                kept.push(dir.clone());
            }
        }
        let spelling = (!kept.is_empty() || tail != Tail::Name || s != name).then(|| {
            Box::new(Spelling {
                walked: kept,
                tail,
                dotdot_in: dotdot_in.filter(|_| tail == Tail::DotDot),
                given: s.to_owned(),
            })
        });
        Ok(Self { name, spelling })
    }

    /// The normalised path as a string, always starting with `/`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The path as it was given, for messages (`/etc/conf.d/mounts/..`).
    #[must_use]
    pub fn as_given(&self) -> &str {
        self.spelling.as_ref().map_or(&self.name, |s| &s.given)
    }

    /// The normalised path without the spelling's requirements: what a lookup keyed by name
    /// (a mount point, a listing) compares.
    #[must_use]
    pub fn normalised(&self) -> VfsPath {
        Self::clean(self.name.clone())
    }

    /// Directories the walk to this path enters and leaves again by `..`, in walk order: each
    /// must exist and be a directory, as Linux requires of every component it walks through.
    pub fn walked_dirs(&self) -> impl Iterator<Item = VfsPath> + '_ {
        self.walked().iter().map(|d| Self::clean(d.clone()))
    }

    fn walked(&self) -> &[String] {
        self.spelling.as_ref().map_or(&[], |s| &s.walked)
    }

    /// Whether the path ends in `/`, `/.` or `/..`, so that it can only name a directory.
    #[must_use]
    pub fn requires_dir(&self) -> bool {
        self.tail().requires_dir()
    }

    pub(crate) fn tail(&self) -> Tail {
        self.spelling.as_ref().map_or(Tail::Name, |s| s.tail)
    }

    /// The directory the last component is looked up in, normalised: the parent of a name,
    /// `x` itself for `x/.` and `x/..`; `None` for `/` (Linux's `LAST_ROOT`). Linux decides
    /// `EXDEV` and `EROFS` for `rename`, `rmdir` and `unlink` by the file system of this
    /// directory, not of the name: `rmdir /etc` is about `/`.
    pub(crate) fn lookup_dir(&self) -> Option<VfsPath> {
        match self.tail() {
            Tail::Dot => Some(self.normalised()),
            Tail::DotDot => Some(Self::clean(
                self.spelling
                    .as_ref()
                    .and_then(|s| s.dotdot_in.clone())
                    .unwrap_or_else(|| "/".to_owned()),
            )),
            Tail::Name | Tail::Slash => self.parent(),
        }
    }

    /// Whether this is `/`.
    #[must_use]
    pub fn is_root(&self) -> bool {
        self.name == "/"
    }

    /// The parent directory of the normalised path; `None` for `/`.
    #[must_use]
    pub fn parent(&self) -> Option<VfsPath> {
        if self.is_root() {
            return None;
        }
        let cut = self.name.rfind('/').unwrap_or(0);
        Some(if cut == 0 {
            Self::root()
        } else {
            Self::clean(self.name[..cut].to_owned())
        })
    }

    /// The last component of the normalised path; `None` for `/`.
    #[must_use]
    pub fn file_name(&self) -> Option<&str> {
        if self.is_root() {
            None
        } else {
            self.name.rsplit('/').next()
        }
    }

    /// Appends one component or a relative path (parsed like [`VfsPath::new`]) to the
    /// normalised path; `""` appends nothing.
    ///
    /// # Errors
    /// [`PathError::ControlCharacter`] if `rel` holds a control character.
    pub fn join(&self, rel: &str) -> Result<VfsPath, PathError> {
        if rel.is_empty() {
            return Ok(self.normalised());
        }
        Self::new(&format!("{}/{rel}", self.name))
    }

    /// The rest of `self` below `prefix`, without a leading slash (`""` when equal), or `None`
    /// when `self` is not `prefix` or below it. Works on whole components of the normalised
    /// paths: `/etcx` is not below `/etc`.
    #[must_use]
    pub fn strip_prefix(&self, prefix: &VfsPath) -> Option<&str> {
        if prefix.is_root() {
            return Some(&self.name[1..]);
        }
        let rest = self.name.strip_prefix(prefix.as_str())?;
        if rest.is_empty() {
            Some("")
        } else {
            rest.strip_prefix('/')
        }
    }

    /// What equality, ordering and hashing compare: everything but the spelling.
    fn identity(&self) -> (&str, &[String], Tail) {
        (&self.name, self.walked(), self.tail())
    }
}

/// `/` and the components, or `/` for none.
fn join_parts(parts: &[&str]) -> String {
    if parts.is_empty() {
        return "/".to_owned();
    }
    let mut out = String::new();
    for part in parts {
        out.push('/');
        out.push_str(part);
    }
    out
}

/// Whether normalised `dir` is `path` or one of its ancestors.
fn is_ancestor_or_self(dir: &str, path: &str) -> bool {
    dir == "/"
        || path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl PartialEq for VfsPath {
    fn eq(&self, other: &Self) -> bool {
        self.identity() == other.identity()
    }
}

impl Eq for VfsPath {}

impl PartialOrd for VfsPath {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for VfsPath {
    fn cmp(&self, other: &Self) -> Ordering {
        self.identity().cmp(&other.identity())
    }
}

impl Hash for VfsPath {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.identity().hash(state);
    }
}

impl FromStr for VfsPath {
    type Err = PathError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// Shows the path as given, as Linux tools name what they were asked about.
impl fmt::Display for VfsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_given())
    }
}

impl fmt::Debug for VfsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_given(), f)
    }
}

impl AsRef<str> for VfsPath {
    fn as_ref(&self) -> &str {
        &self.name
    }
}

/// Joins a mount-relative path and a name (`""` is the mount root).
pub(crate) fn rel_join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// Whether mount-relative `rel` is `dir` or below it (`""` is the mount root, above all).
pub(crate) fn rel_is_within(rel: &str, dir: &str) -> bool {
    dir.is_empty()
        || rel == dir
        || rel
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Splits a non-empty mount-relative path into its parent (`""` for the root) and name.
pub(crate) fn rel_split(rel: &str) -> (&str, &str) {
    match rel.rfind('/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => ("", rel),
    }
}

/// Whether `name` may appear as one component of a [`VfsPath`]; host names that may not are
/// left out of the namespace rather than mangled.
pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<String, PathError> {
        VfsPath::new(s).map(|p| p.name)
    }

    #[test]
    fn normalises() -> Result<(), PathError> {
        assert_eq!(p("/")?, "/");
        assert_eq!(p("//etc///conf.d/")?, "/etc/conf.d");
        assert_eq!(p("/etc/./conf.d/../hosts")?, "/etc/hosts");
        Ok(())
    }

    /// The spelling's requirements survive normalisation: `x/..` needs `x` to be a directory,
    /// a trailing `/`, `.` or `..` needs the last name to be one.
    #[test]
    fn keeps_what_the_walk_requires() -> Result<(), PathError> {
        let walked = |s: &str| -> Result<Vec<String>, PathError> {
            Ok(VfsPath::new(s)?.walked_dirs().map(|d| d.name).collect())
        };
        let tail = |s: &str| VfsPath::new(s).map(|p| p.tail());
        assert_eq!(walked("/etc/conf.d/mounts/..")?, ["/etc/conf.d/mounts"]);
        assert_eq!(p("/etc/conf.d/mounts/..")?, "/etc/conf.d");
        assert_eq!(tail("/etc/conf.d/mounts/..")?, Tail::DotDot);
        assert_eq!(walked("/etc/a/b/../../c")?, ["/etc/a/b"]);
        // Ancestors of the result are walked anyway: nothing extra to keep.
        assert_eq!(walked("/etc/./conf.d/x/../y")?, ["/etc/conf.d/x"]);
        assert!(walked("/etc/conf.d/../conf.d/mounts")?.is_empty());
        assert_eq!(tail("/etc/conf.d/mounts/")?, Tail::Slash);
        assert_eq!(tail("/etc/conf.d/mounts//")?, Tail::Slash);
        assert_eq!(tail("/etc/conf.d/mounts/.")?, Tail::Dot);
        assert_eq!(tail("/etc/conf.d/mounts/./")?, Tail::Dot);
        assert_eq!(tail("/etc/conf.d/mounts")?, Tail::Name);
        assert_eq!(tail("/")?, Tail::Name);
        assert_eq!(tail("//")?, Tail::Name);
        // Equal when the requirements are, whatever the spelling; shown as given.
        assert_eq!(
            VfsPath::new("//etc/./conf.d")?,
            VfsPath::new("/etc/conf.d")?
        );
        assert_ne!(VfsPath::new("/etc/conf.d/")?, VfsPath::new("/etc/conf.d")?);
        assert_ne!(VfsPath::new("/etc/x/..")?, VfsPath::new("/etc")?);
        assert_eq!(VfsPath::new("/etc/x/..")?.to_string(), "/etc/x/..");
        assert_eq!(
            VfsPath::new("/etc/x/..")?.normalised(),
            VfsPath::new("/etc")?
        );
        Ok(())
    }

    /// Linux's `PATH_MAX` and `NAME_MAX`: a path of 100,000 components must not cost a walk of
    /// 100,000 lookups per call.
    #[test]
    fn refuses_paths_and_names_longer_than_linux_allows() -> Result<(), PathError> {
        let longest_name = format!("/{}", "n".repeat(255));
        assert_eq!(p(&longest_name)?, longest_name);
        assert_eq!(
            VfsPath::new(&format!("/{}", "n".repeat(256))),
            Err(PathError::NameTooLong("n".repeat(24)))
        );
        let longest = "/a".repeat(2047) + "/";
        assert_eq!(longest.len(), 4095);
        assert!(VfsPath::new(&longest).is_ok());
        let err = VfsPath::new(&"/a".repeat(50_000)).err();
        assert_eq!(err, Some(PathError::TooLong(100_000)));
        assert_eq!(
            err.map(|e| e.to_string()).unwrap_or_default(),
            "invalid path: 100000 bytes long, more than the 4095 a path may have"
        );
        Ok(())
    }

    #[test]
    fn dot_dot_never_climbs_above_root() -> Result<(), PathError> {
        assert_eq!(p("/..")?, "/");
        assert_eq!(p("/../../etc/../../..")?, "/");
        assert_eq!(p("/etc/../../../tmp/x")?, "/tmp/x");
        Ok(())
    }

    #[test]
    fn rejects_relative_and_control_characters() {
        assert!(matches!(p("etc"), Err(PathError::NotAbsolute(_))));
        assert!(matches!(p(""), Err(PathError::NotAbsolute(_))));
        assert!(matches!(
            p("/etc/a\0b"),
            Err(PathError::ControlCharacter(_))
        ));
        assert!(matches!(
            p("/etc/a\nb"),
            Err(PathError::ControlCharacter(_))
        ));
        assert!(matches!(
            p("/etc/\u{7f}"),
            Err(PathError::ControlCharacter(_))
        ));
    }

    #[test]
    fn parent_name_and_prefix() -> Result<(), PathError> {
        let x = VfsPath::new("/etc/conf.d/mounts")?;
        assert_eq!(x.parent(), Some(VfsPath::new("/etc/conf.d")?));
        assert_eq!(VfsPath::new("/etc")?.parent(), Some(VfsPath::root()));
        assert_eq!(VfsPath::root().parent(), None);
        assert_eq!(x.file_name(), Some("mounts"));
        assert_eq!(
            x.strip_prefix(&VfsPath::new("/etc")?),
            Some("conf.d/mounts")
        );
        assert_eq!(x.strip_prefix(&VfsPath::root()), Some("etc/conf.d/mounts"));
        assert_eq!(
            VfsPath::new("/etcx")?.strip_prefix(&VfsPath::new("/etc")?),
            None
        );
        assert_eq!(
            VfsPath::new("/etc")?.strip_prefix(&VfsPath::new("/etc")?),
            Some("")
        );
        assert_eq!(x.join("../../tmp")?.normalised(), VfsPath::new("/etc/tmp")?);
        assert_eq!(
            x.join("../../../../tmp")?.normalised(),
            VfsPath::new("/tmp")?
        );
        Ok(())
    }

    #[test]
    fn rel_helpers() {
        assert_eq!(rel_join("", "a"), "a");
        assert_eq!(rel_join("a/b", "c"), "a/b/c");
        assert_eq!(rel_split("a/b/c"), ("a/b", "c"));
        assert_eq!(rel_split("a"), ("", "a"));
        assert!(!is_valid_name(".."));
        assert!(!is_valid_name("a\tb"));
        assert!(is_valid_name("mounts.d"));
    }
}

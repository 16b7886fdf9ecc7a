//! Absolute, normalised VFS paths.

use std::fmt;
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
}

/// An absolute, normalised path in the VFS namespace.
///
/// Normalisation is lexical and happens once, here: repeated and trailing slashes collapse,
/// `.` disappears and `..` removes the previous component but never climbs above `/` (as the
/// kernel treats `/..`). Every later layer can therefore rely on a path with no `.`, `..` or
/// empty component, which is what keeps a mount's relative paths inside the mount.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VfsPath(String);

impl VfsPath {
    /// The root, `/`.
    #[must_use]
    pub fn root() -> Self {
        Self("/".to_owned())
    }

    /// Parses and normalises `s`.
    ///
    /// # Errors
    /// [`PathError`] if `s` is relative or holds a control character.
    pub fn new(s: &str) -> Result<Self, PathError> {
        // Control characters first: `NotAbsolute` prints the text as given, so a relative
        // path holding an escape sequence must be refused by the variant that escapes it.
        if s.chars().any(char::is_control) {
            return Err(PathError::ControlCharacter(s.to_owned()));
        }
        if !s.starts_with('/') {
            return Err(PathError::NotAbsolute(s.to_owned()));
        }
        let mut parts: Vec<&str> = Vec::new();
        for part in s.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                name => parts.push(name),
            }
        }
        let mut out = String::with_capacity(s.len());
        for part in &parts {
            out.push('/');
            out.push_str(part);
        }
        if out.is_empty() {
            out.push('/');
        }
        Ok(Self(out))
    }

    /// The path as a string, always starting with `/`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is `/`.
    #[must_use]
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The parent directory; `None` for `/`.
    #[must_use]
    pub fn parent(&self) -> Option<VfsPath> {
        if self.is_root() {
            return None;
        }
        let cut = self.0.rfind('/').unwrap_or(0);
        Some(if cut == 0 {
            Self::root()
        } else {
            Self(self.0[..cut].to_owned())
        })
    }

    /// The last component; `None` for `/`.
    #[must_use]
    pub fn file_name(&self) -> Option<&str> {
        if self.is_root() {
            None
        } else {
            self.0.rsplit('/').next()
        }
    }

    /// Appends one component or a relative path (normalised like [`VfsPath::new`]).
    ///
    /// # Errors
    /// [`PathError::ControlCharacter`] if `rel` holds a control character.
    pub fn join(&self, rel: &str) -> Result<VfsPath, PathError> {
        Self::new(&format!("{}/{rel}", self.0))
    }

    /// The rest of `self` below `prefix`, without a leading slash (`""` when equal), or `None`
    /// when `self` is not `prefix` or below it. Works on whole components: `/etcx` is not below
    /// `/etc`.
    #[must_use]
    pub fn strip_prefix(&self, prefix: &VfsPath) -> Option<&str> {
        if prefix.is_root() {
            return Some(&self.0[1..]);
        }
        let rest = self.0.strip_prefix(prefix.as_str())?;
        if rest.is_empty() {
            Some("")
        } else {
            rest.strip_prefix('/')
        }
    }
}

impl FromStr for VfsPath {
    type Err = PathError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for VfsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for VfsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl AsRef<str> for VfsPath {
    fn as_ref(&self) -> &str {
        &self.0
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
        VfsPath::new(s).map(|p| p.0)
    }

    #[test]
    fn normalises() -> Result<(), PathError> {
        assert_eq!(p("/")?, "/");
        assert_eq!(p("//etc///conf.d/")?, "/etc/conf.d");
        assert_eq!(p("/etc/./conf.d/../hosts")?, "/etc/hosts");
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
        assert_eq!(x.join("../../tmp")?, VfsPath::new("/etc/tmp")?);
        assert_eq!(x.join("../../../../tmp")?, VfsPath::new("/tmp")?);
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

//! Where a watched directory really is, and every directory entry the path
//! to it goes through.
//!
//! inotify watches inodes, not paths: once `etc` is moved away or a symlink
//! on the way to `conf.d` is switched to another release, a watch on the old
//! `conf.d` hears nothing about the new one. So the watcher also watches each
//! directory on the way for the one entry that leads on (`etc` in the state
//! dir, `conf.d` in `etc`, a link's target in the link's directory…), and
//! resolves the path again when one of those entries changes.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// Symlinks followed before giving up, as Linux does (`MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// One entry a path goes through: `name` in the directory `dir`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Step {
    /// A real directory: absolute, no symlink, no `.` or `..`.
    pub dir: PathBuf,
    pub name: OsString,
}

/// A path resolved as the kernel would, step by step.
#[derive(Debug, Default)]
pub(super) struct Resolved {
    /// Every entry looked up, in order, symlinks' targets included; the last
    /// one is where the resolution ended (the directory itself, or what is
    /// missing or not a directory).
    pub steps: Vec<Step>,
    /// The real path of the directory, if the path leads to one.
    pub dir: Option<PathBuf>,
}

/// A path component, owned: the parts of a link's target join the parts
/// still to resolve.
enum Part {
    Root,
    Parent,
    Name(OsString),
}

fn parts(path: &Path) -> impl DoubleEndedIterator<Item = Part> + '_ {
    path.components().filter_map(|c| match c {
        Component::RootDir | Component::Prefix(_) => Some(Part::Root),
        Component::ParentDir => Some(Part::Parent),
        Component::Normal(name) => Some(Part::Name(name.to_owned())),
        Component::CurDir => None,
    })
}

/// Resolves `rest` from the real directory `start` (an absolute `rest`
/// starts from `/`). Never fails: what cannot be looked up ends the
/// resolution there, and the last step says where to wait for it.
pub(super) fn resolve_from(start: PathBuf, rest: &Path) -> Resolved {
    let mut dir = start;
    // A stack, the next part on top.
    let mut todo: Vec<Part> = parts(rest).rev().collect();
    let mut steps = Vec::new();
    let mut links = 0;
    while let Some(part) = todo.pop() {
        let name = match part {
            Part::Root => {
                dir = PathBuf::from("/");
                continue;
            }
            // `dir` holds no symlink, so its parent is the lexical one.
            Part::Parent => {
                dir.pop();
                continue;
            }
            Part::Name(name) => name,
        };
        let next = dir.join(&name);
        steps.push(Step {
            dir: dir.clone(),
            name,
        });
        let Ok(meta) = std::fs::symlink_metadata(&next) else {
            return Resolved { steps, dir: None };
        };
        if meta.file_type().is_symlink() {
            links += 1;
            let Ok(target) = std::fs::read_link(&next) else {
                return Resolved { steps, dir: None };
            };
            if links > MAX_LINKS {
                return Resolved { steps, dir: None };
            }
            // Relative to the link's directory, which `dir` still is.
            todo.extend(parts(&target).rev());
        } else if meta.is_dir() {
            dir = next;
        } else {
            return Resolved { steps, dir: None };
        }
    }
    Resolved {
        steps,
        dir: Some(dir),
    }
}

/// Resolves an absolute path.
pub(super) fn resolve(path: &Path) -> Resolved {
    resolve_from(PathBuf::from("/"), path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn names(resolved: &Resolved, root: &Path) -> Vec<String> {
        resolved
            .steps
            .iter()
            .filter_map(|s| {
                let dir = s.dir.strip_prefix(root).ok()?;
                Some(format!("{}:{}", dir.display(), s.name.to_string_lossy()))
            })
            .collect()
    }

    #[test]
    fn links_are_followed_and_every_entry_on_the_way_is_a_step()
    -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let root = std::fs::canonicalize(tmp.path())?;
        std::fs::create_dir_all(root.join("app/releases/r1/etc/conf.d"))?;
        std::fs::create_dir(root.join("state"))?;
        symlink("releases/r1", root.join("app/current"))?;
        symlink("../app/current/etc", root.join("state/etc"))?;

        let resolved = resolve(&root.join("state/etc/conf.d"));
        assert_eq!(resolved.dir, Some(root.join("app/releases/r1/etc/conf.d")));
        assert_eq!(
            names(&resolved, &root),
            [
                ":state",
                "state:etc",
                ":app",
                "app:current",
                "app:releases",
                "app/releases:r1",
                "app/releases/r1:etc",
                "app/releases/r1/etc:conf.d",
            ]
        );
        Ok(())
    }

    #[test]
    fn a_missing_or_non_directory_entry_ends_the_resolution_there()
    -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let root = std::fs::canonicalize(tmp.path())?;
        let resolved = resolve(&root.join("state/etc/conf.d"));
        assert_eq!(resolved.dir, None);
        assert_eq!(names(&resolved, &root), [":state"]);

        std::fs::create_dir(root.join("state"))?;
        std::fs::write(root.join("state/etc"), "")?;
        let resolved = resolve(&root.join("state/etc/conf.d"));
        assert_eq!(resolved.dir, None);
        assert_eq!(names(&resolved, &root), [":state", "state:etc"]);

        // A dangling link, and a loop of links.
        std::fs::remove_file(root.join("state/etc"))?;
        symlink("gone", root.join("state/etc"))?;
        let resolved = resolve(&root.join("state/etc/conf.d"));
        assert_eq!(resolved.dir, None);
        assert_eq!(
            names(&resolved, &root),
            [":state", "state:etc", "state:gone"]
        );
        std::fs::remove_file(root.join("state/etc"))?;
        symlink("etc", root.join("state/etc"))?;
        let resolved = resolve(&root.join("state/etc/conf.d"));
        assert_eq!(resolved.dir, None);
        assert_eq!(names(&resolved, &root).len(), 2 + MAX_LINKS);
        Ok(())
    }

    #[test]
    fn dot_dot_after_a_link_leaves_the_link_target() -> Result<(), Box<dyn std::error::Error>> {
        // `a/link/..` is the parent of the link's target, not `a`.
        let tmp = tempfile::tempdir()?;
        let root = std::fs::canonicalize(tmp.path())?;
        std::fs::create_dir_all(root.join("a"))?;
        std::fs::create_dir_all(root.join("b/c/d"))?;
        symlink(root.join("b/c"), root.join("a/link"))?;
        let resolved = resolve(&root.join("a/link/../c/./d"));
        assert_eq!(resolved.dir, Some(root.join("b/c/d")));
        Ok(())
    }
}

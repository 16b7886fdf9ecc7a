//! A writable backend that keeps everything in memory (the `/tmp` of the VFS).

use std::collections::BTreeMap;
use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::io::Errno;

use super::{Backend, Listing, errno};
use crate::entry::{Kind, Signature, Stat, now_ns};
use crate::path::rel_split;

#[derive(Debug, Clone)]
struct Node {
    kind: Kind,
    data: Vec<u8>,
    sig: Signature,
}

/// Files and directories in memory, lost when dropped. Implements `rename(2)`'s error rules so
/// that it behaves like a small tmpfs.
#[derive(Debug)]
pub struct MemoryBackend {
    nodes: Mutex<BTreeMap<String, Node>>,
    next_ino: AtomicU64,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBackend {
    /// An empty file system: just the root directory.
    #[must_use]
    pub fn new() -> Self {
        let this = Self {
            nodes: Mutex::new(BTreeMap::new()),
            next_ino: AtomicU64::new(1),
        };
        let root = this.node(Kind::Dir, Vec::new());
        this.lock().insert(String::new(), root);
        this
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Node>> {
        // A panic while holding the lock cannot leave the map half-updated in a way that
        // matters more than losing the data, so keep serving.
        self.nodes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn node(&self, kind: Kind, data: Vec<u8>) -> Node {
        let now = now_ns();
        let mode = if kind == Kind::Dir {
            0o040_755
        } else {
            0o100_644
        };
        let sig = Signature {
            size: data.len() as u64,
            mtime_ns: now,
            ctime_ns: now,
            ino: self.next_ino.fetch_add(1, Ordering::Relaxed),
            dev: 0,
            mode,
        };
        Node { kind, data, sig }
    }
}

fn stat_of(node: &Node) -> Stat {
    Stat {
        kind: node.kind,
        sig: node.sig,
        // Memory belongs to this process.
        uid: rustix::process::geteuid().as_raw(),
        gid: rustix::process::getegid().as_raw(),
    }
}

/// Checks that the parent of `rel` is a directory.
fn check_parent(nodes: &BTreeMap<String, Node>, rel: &str) -> io::Result<()> {
    if rel.is_empty() {
        return Ok(());
    }
    match nodes.get(rel_split(rel).0) {
        None => Err(errno(Errno::NOENT)),
        Some(n) if n.kind != Kind::Dir => Err(errno(Errno::NOTDIR)),
        Some(_) => Ok(()),
    }
}

fn descendants<'a>(
    nodes: &'a BTreeMap<String, Node>,
    rel: &str,
) -> impl Iterator<Item = &'a String> {
    let prefix = if rel.is_empty() {
        String::new()
    } else {
        format!("{rel}/")
    };
    nodes
        .range(prefix.clone()..)
        .map(|(k, _)| k)
        .take_while(move |k| k.starts_with(&prefix))
        .filter(|k| !k.is_empty())
}

fn touch_dir(nodes: &mut BTreeMap<String, Node>, rel: &str) {
    if let Some(dir) = nodes.get_mut(rel_split(rel).0) {
        let now = now_ns();
        dir.sig.mtime_ns = now;
        dir.sig.ctime_ns = now;
    }
}

impl Backend for MemoryBackend {
    fn stat(&self, rel: &str) -> io::Result<Option<Stat>> {
        Ok(self.lock().get(rel).map(stat_of))
    }

    fn list(&self, rel: &str) -> io::Result<Listing> {
        let nodes = self.lock();
        match nodes.get(rel) {
            None => return Err(errno(Errno::NOENT)),
            Some(n) if n.kind != Kind::Dir => return Err(errno(Errno::NOTDIR)),
            Some(_) => {}
        }
        let skip = if rel.is_empty() { 0 } else { rel.len() + 1 };
        let entries = descendants(&nodes, rel)
            .filter(|k| !k[skip..].contains('/'))
            .map(|k| (k[skip..].to_owned(), stat_of(&nodes[k])))
            .collect();
        Ok(Listing {
            entries,
            unrepresentable: 0,
        })
    }

    fn read(&self, rel: &str) -> io::Result<(Vec<u8>, Stat)> {
        match self.lock().get(rel) {
            None => Err(errno(Errno::NOENT)),
            Some(n) if n.kind == Kind::Dir => Err(errno(Errno::ISDIR)),
            Some(n) if n.data.len() > crate::vfs::MAX_FILE_SIZE => Err(errno(Errno::FBIG)),
            Some(n) => Ok((n.data.clone(), stat_of(n))),
        }
    }

    fn write(&self, rel: &str, data: &[u8], create_new: bool) -> io::Result<Stat> {
        let mut nodes = self.lock();
        check_parent(&nodes, rel)?;
        let mut node = match nodes.get(rel) {
            Some(n) if n.kind == Kind::Dir => return Err(errno(Errno::ISDIR)),
            Some(_) if create_new => return Err(errno(Errno::EXIST)),
            Some(n) => {
                let mut n = n.clone();
                let now = now_ns();
                n.data = data.to_vec();
                n.sig.size = data.len() as u64;
                n.sig.mtime_ns = now;
                n.sig.ctime_ns = now;
                n
            }
            None => {
                touch_dir(&mut nodes, rel);
                self.node(Kind::File, data.to_vec())
            }
        };
        node.kind = Kind::File;
        let stat = stat_of(&node);
        nodes.insert(rel.to_owned(), node);
        Ok(stat)
    }

    fn mkdir(&self, rel: &str) -> io::Result<Stat> {
        let mut nodes = self.lock();
        check_parent(&nodes, rel)?;
        if nodes.contains_key(rel) {
            return Err(errno(Errno::EXIST));
        }
        let node = self.node(Kind::Dir, Vec::new());
        let stat = stat_of(&node);
        touch_dir(&mut nodes, rel);
        nodes.insert(rel.to_owned(), node);
        Ok(stat)
    }

    fn unlink(&self, rel: &str) -> io::Result<()> {
        let mut nodes = self.lock();
        check_parent(&nodes, rel)?;
        match nodes.get(rel) {
            None => Err(errno(Errno::NOENT)),
            Some(n) if n.kind == Kind::Dir => Err(errno(Errno::ISDIR)),
            Some(_) => {
                nodes.remove(rel);
                touch_dir(&mut nodes, rel);
                Ok(())
            }
        }
    }

    fn rmdir(&self, rel: &str) -> io::Result<()> {
        let mut nodes = self.lock();
        check_parent(&nodes, rel)?;
        match nodes.get(rel) {
            _ if rel.is_empty() => Err(errno(Errno::BUSY)),
            None => Err(errno(Errno::NOENT)),
            Some(n) if n.kind != Kind::Dir => Err(errno(Errno::NOTDIR)),
            Some(_) if descendants(&nodes, rel).next().is_some() => Err(errno(Errno::NOTEMPTY)),
            Some(_) => {
                nodes.remove(rel);
                touch_dir(&mut nodes, rel);
                Ok(())
            }
        }
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut nodes = self.lock();
        check_parent(&nodes, from)?;
        check_parent(&nodes, to)?;
        if from.is_empty() || to.is_empty() {
            return Err(errno(Errno::BUSY));
        }
        let Some(src) = nodes.get(from).cloned() else {
            return Err(errno(Errno::NOENT));
        };
        if from == to {
            return Ok(());
        }
        if src.kind == Kind::Dir && to.starts_with(&format!("{from}/")) {
            return Err(errno(Errno::INVAL));
        }
        // Onto one of its own ancestors: a directory that holds at least the source, which
        // Linux reports before comparing kinds.
        if from.starts_with(&format!("{to}/")) {
            return Err(errno(Errno::NOTEMPTY));
        }
        if let Some(dst) = nodes.get(to) {
            match (src.kind, dst.kind) {
                (Kind::Dir, Kind::Dir) if descendants(&nodes, to).next().is_some() => {
                    return Err(errno(Errno::NOTEMPTY));
                }
                (Kind::Dir, Kind::Dir) => {}
                (Kind::Dir, _) => return Err(errno(Errno::NOTDIR)),
                (_, Kind::Dir) => return Err(errno(Errno::ISDIR)),
                _ => {}
            }
        }
        let moved: Vec<String> = descendants(&nodes, from).cloned().collect();
        for old in moved {
            if let Some(node) = nodes.remove(&old) {
                nodes.insert(format!("{to}{}", &old[from.len()..]), node);
            }
        }
        let mut node = nodes.remove(from).unwrap_or(src);
        node.sig.ctime_ns = now_ns();
        nodes.insert(to.to_owned(), node);
        touch_dir(&mut nodes, from);
        touch_dir(&mut nodes, to);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: io::Result<impl Sized>) -> Option<i32> {
        r.err().and_then(|e| e.raw_os_error())
    }

    #[test]
    fn behaves_like_a_small_tmpfs() -> io::Result<()> {
        let m = MemoryBackend::new();
        m.mkdir("d")?;
        m.write("d/f", b"1", false)?;
        assert_eq!(
            code(m.write("x/f", b"1", false)),
            Some(Errno::NOENT.raw_os_error())
        );
        assert_eq!(
            code(m.write("d/f/g", b"1", false)),
            Some(Errno::NOTDIR.raw_os_error())
        );
        assert_eq!(
            code(m.write("d", b"1", false)),
            Some(Errno::ISDIR.raw_os_error())
        );
        assert_eq!(
            code(m.write("d/f", b"1", true)),
            Some(Errno::EXIST.raw_os_error())
        );
        assert_eq!(code(m.rmdir("d")), Some(Errno::NOTEMPTY.raw_os_error()));
        assert_eq!(code(m.unlink("d")), Some(Errno::ISDIR.raw_os_error()));
        assert_eq!(
            code(m.rename("d", "d/e")),
            Some(Errno::INVAL.raw_os_error())
        );
        m.rename("d", "e")?;
        assert_eq!(m.read("e/f")?.0, b"1");
        assert_eq!(m.stat("d/f")?, None);
        let names: Vec<String> = m.list("")?.entries.into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["e"]);
        m.unlink("e/f")?;
        m.rmdir("e")?;
        Ok(())
    }
}

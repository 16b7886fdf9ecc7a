//! Reading configuration files the careful way: every refusal names its path,
//! and nothing blocks, follows a loop forever, or reads more than 1 MiB.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::Error;

/// The largest configuration file accepted, in bytes.
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;

pub(crate) fn describe(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

fn io_error(path: &Path, error: std::io::Error) -> Error {
    Error::Io {
        path: path.to_owned(),
        error,
    }
}

/// Reads a configuration file as UTF-8 text; `Ok(None)` when nothing is there.
///
/// A dangling symlink is an error rather than "missing": someone meant a file
/// to be there.
pub fn read_config_file(path: &Path) -> Result<Option<String>, Error> {
    // Open first and check the handle: one fewer system call than a stat
    // before the open, and no window for a swap between check and use.
    // O_NONBLOCK makes opening a FIFO return at once instead of waiting for
    // a writer; the type check below then refuses it.
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match std::fs::symlink_metadata(path) {
                Ok(_) => Err(Error::NotAFile {
                    path: path.to_owned(),
                    found: "a dangling symlink",
                }),
                Err(_) => Ok(None),
            };
        }
        Err(e) => return Err(io_error(path, e)),
    };
    let opened = file.metadata().map_err(|e| io_error(path, e))?;
    if !opened.is_file() {
        return Err(Error::NotAFile {
            path: path.to_owned(),
            found: describe(opened.file_type()),
        });
    }
    if opened.len() > MAX_FILE_SIZE {
        return Err(Error::TooLarge {
            path: path.to_owned(),
            size: opened.len(),
        });
    }
    // Read one byte past the limit so a file that grew since the stat is
    // still refused instead of silently truncated.
    let mut bytes = Vec::with_capacity(opened.len().min(MAX_FILE_SIZE) as usize + 1);
    (&mut file)
        .take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, e))?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(Error::TooLarge {
            path: path.to_owned(),
            size: bytes.len() as u64,
        });
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Some(text)),
        Err(e) => {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            // The prefix is valid UTF-8 by definition.
            let prefix = std::str::from_utf8(valid).unwrap_or_default();
            let (line, column) = crate::layer::LineIndex::new(prefix).position(prefix.len());
            Err(Error::NotUtf8 {
                path: path.to_owned(),
                line,
                column,
            })
        }
    }
}

/// Whether a file in `NAME.d/` is a drop-in: `*.toml`, not hidden. Editor
/// back-ups (`x.toml~`, `.x.toml.swp`, `.#x.toml`) and upgrade leftovers
/// (`x.toml.new`) fail one of the two tests.
pub fn is_drop_in_name(name: &[u8]) -> bool {
    name.ends_with(b".toml") && !name.starts_with(b".") && name.len() > b".toml".len()
}

/// The drop-ins of a brick in the order they apply: byte-wise by file name.
/// A missing directory has none; entries that are not regular files (after
/// following symlinks) are skipped, since only regular `*.toml` files count.
pub(crate) fn list_drop_ins(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    use std::os::unix::ffi::OsStrExt;
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(Error::NotADirectory {
                path: dir.to_owned(),
            });
        }
        Err(e) => return Err(io_error(dir, e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error(dir, e))?;
        let name = entry.file_name();
        if !is_drop_in_name(name.as_bytes()) {
            continue;
        }
        let path = entry.path();
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => found.push(path),
            Ok(_) => {}
            // A symlink loop or an unreadable target is reported, not skipped.
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_error(&path, e));
            }
            Err(_) => {
                return Err(Error::NotAFile {
                    path,
                    found: "a dangling symlink",
                });
            }
        }
    }
    found.sort_by(|a, b| a.as_os_str().as_bytes().cmp(b.as_os_str().as_bytes()));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_in_names() {
        for yes in ["50-x.toml", "a.toml", "x.y.toml"] {
            assert!(is_drop_in_name(yes.as_bytes()), "{yes}");
        }
        for no in [
            ".toml",
            ".hidden.toml",
            "x.toml~",
            ".x.toml.swp",
            ".#x.toml",
            "x.toml.new",
            "x.conf",
            "x.TOML",
        ] {
            assert!(!is_drop_in_name(no.as_bytes()), "{no}");
        }
    }
}

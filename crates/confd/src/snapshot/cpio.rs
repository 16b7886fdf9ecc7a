//! The snapshot as a newc cpio archive, ready to append to an initrd (the
//! kernel unpacks concatenated archives in order), so it rides in on the
//! boot image.

use std::io;

/// Where the snapshot lies inside the archive.
pub const ARCHIVE_PATH: &str = "etc/confd/snapshot.toml";

/// A newc archive holding `etc/`, `etc/confd/` (0755) and
/// [`ARCHIVE_PATH`] with `text` and `mode`, owned by root, every time
/// `mtime` (so identical inputs give identical bytes).
///
/// # Errors
/// Only when the text is over 4 GiB, which newc cannot hold.
pub fn to_cpio(text: &str, mode: u32, mtime: u32) -> io::Result<Vec<u8>> {
    let size = u32::try_from(text.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a snapshot over 4 GiB"))?;
    let mut out = Vec::with_capacity(text.len() + 512);
    let dirs = ["etc", "etc/confd"];
    for (ino, dir) in (1..).zip(dirs) {
        let writer = cpio::newc::Builder::new(dir)
            .ino(ino)
            .mode(0o040_755)
            .nlink(2)
            .mtime(mtime)
            .write(&mut out, 0);
        writer.finish()?;
    }
    let mut writer = cpio::newc::Builder::new(ARCHIVE_PATH)
        .ino(3)
        .mode(0o100_000 | (mode & 0o7777))
        .nlink(1)
        .mtime(mtime)
        .write(&mut out, size);
    io::Write::write_all(&mut writer, text.as_bytes())?;
    writer.finish()?;
    cpio::newc::trailer(&mut out)?;
    Ok(out)
}

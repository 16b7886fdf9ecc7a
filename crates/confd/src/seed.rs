//! Seeding `conf.d` with the shipped defaults: create-only and atomic.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::shipped::{holds_secrets, shipped_files};

/// Mode of an ordinary configuration file.
pub const FILE_MODE: u32 = 0o644;
/// Mode of a file holding secrets (`llm`, `database`).
pub const SECRET_FILE_MODE: u32 = 0o600;
/// Mode of the directories seeding creates.
pub const DIR_MODE: u32 = 0o755;

/// Why seeding stopped. Files already created stay: each is complete.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// An I/O operation on a path failed.
    #[error("cannot seed `{}`: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}

/// What seeding did with one shipped file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedAction {
    /// The file did not exist and was created.
    Created,
    /// Something already existed at the path and was left alone.
    Kept,
}

/// The outcome of [`seed`], one entry per shipped file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// Each shipped file's path and what was done with it, sorted by name.
    pub files: Vec<(PathBuf, SeedAction)>,
}

impl SeedReport {
    /// The files created.
    pub fn created(&self) -> impl Iterator<Item = &Path> {
        self.with(SeedAction::Created)
    }

    /// The files left alone because something was already there.
    pub fn kept(&self) -> impl Iterator<Item = &Path> {
        self.with(SeedAction::Kept)
    }

    fn with(&self, action: SeedAction) -> impl Iterator<Item = &Path> {
        self.files
            .iter()
            .filter(move |(_, a)| *a == action)
            .map(|(p, _)| p.as_path())
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SeedError + '_ {
    move |source| SeedError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Seeds `etc_dir/conf.d` with every shipped default that is not there yet.
///
/// Create-only: an existing file (or symlink, or anything else) is never
/// modified. Each file is written to a temporary file in `conf.d`, synced,
/// given its mode (0644, or 0600 for bricks holding secrets), then linked into
/// place without replacing (so a concurrent seeder or a user's file always
/// wins), and the directory is synced. A crash leaves either no file or the
/// complete file, plus at most a hidden temporary file.
pub fn seed(etc_dir: &Path) -> Result<SeedReport, SeedError> {
    let conf_d = etc_dir.join("conf.d");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(&conf_d)
        .map_err(io_err(&conf_d))?;
    let mut report = SeedReport::default();
    for file in shipped_files() {
        let target = conf_d.join(file.name);
        let action = if std::fs::symlink_metadata(&target).is_ok() {
            SeedAction::Kept
        } else {
            let mode = if holds_secrets(file.name) {
                SECRET_FILE_MODE
            } else {
                FILE_MODE
            };
            write_new(&conf_d, &target, file.contents.as_bytes(), mode)?
        };
        report.files.push((target, action));
    }
    sync_dir(&conf_d)?;
    Ok(report)
}

/// Atomically creates `target` with `contents`, never replacing anything.
pub(crate) fn write_new(
    dir: &Path,
    target: &Path,
    contents: &[u8],
    mode: u32,
) -> Result<SeedAction, SeedError> {
    let name = target
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy());
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io_err(dir))?;
    temp.write_all(contents).map_err(io_err(temp.path()))?;
    temp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io_err(temp.path()))?;
    temp.as_file().sync_all().map_err(io_err(temp.path()))?;
    match temp.persist_noclobber(target) {
        Ok(_) => Ok(SeedAction::Created),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(SeedAction::Kept),
        Err(e) => Err(SeedError::Io {
            path: target.to_owned(),
            source: e.error,
        }),
    }
}

/// Makes the directory entries written so far durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), SeedError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

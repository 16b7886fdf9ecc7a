//! Seeding `conf.d` with the shipped defaults, and upgrading them the way
//! dpkg upgrades conffiles: an untouched default follows the release, an
//! edited file is never replaced.
//!
//! The seeding record (`$STATE/var/lib/confd/seeded.toml`) holds, for each
//! file seeding wrote, the hash of the default it was last given; the shipped
//! history ([`Shipped`]) holds the hash of every version ever shipped. For
//! each shipped file, with `current` the default this release ships:
//!
//! | on disk | record | action |
//! |---|---|---|
//! | absent | none | [`Created`](SeedAction::Created) |
//! | absent | some | [`DeletedByUser`](SeedAction::DeletedByUser): not recreated |
//! | equal to `current` | any | [`Unchanged`](SeedAction::Unchanged) |
//! | anything | `current` (default unchanged) | [`Unchanged`](SeedAction::Unchanged) |
//! | a shipped version | older or none | [`Upgraded`](SeedAction::Upgraded): replaced |
//! | edited | older | [`Kept`](SeedAction::Kept): `NAME.new` written beside it |
//! | edited | none | [`NotSeeded`](SeedAction::NotSeeded): never touched |
//! | not a regular file | any | [`NotSeeded`](SeedAction::NotSeeded): never touched |
//!
//! With `force`, an absent file is created and an edited one is replaced,
//! the user's kept as `NAME.old` ([`Forced`](SeedAction::Forced)).

mod lock;
mod plan;
mod record;
mod write;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub use lock::{StateLock, lock_state, try_lock_state};
pub use write::SeedStep;

use crate::StateDir;
use crate::shipped::{Shipped, content_hash, holds_secrets};
use lock::lock;
use plan::{Found, decide};
use record::Record;
use write::Created;
pub(crate) use write::Writer;

/// Mode of an ordinary configuration file.
pub const FILE_MODE: u32 = 0o644;
/// Mode of a file holding secrets (`vault`, `store`).
pub const SECRET_FILE_MODE: u32 = 0o600;
/// Mode of the directories seeding creates.
pub const DIR_MODE: u32 = 0o755;

/// Why seeding stopped. Every file written so far is complete, and the next
/// run picks up where this one stopped.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// An I/O operation on a path failed.
    // The cause is in the message, so it is no `source()` as well.
    #[error("cannot seed `{}`: {error}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// The seeding record is not one this version can read.
    #[error("cannot read the seeding record `{}`: {message}", path.display())]
    Record {
        /// The record's path.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

/// What seeding did (or, in a dry run, would do) with one shipped file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SeedAction {
    /// The file did not exist and was created.
    Created,
    /// Nothing to do: the file already is the shipped default, or the
    /// default has not changed since the file was seeded (edited or not).
    Unchanged,
    /// The file was an unedited shipped default (of any version) and was
    /// atomically replaced with the new one.
    Upgraded,
    /// The user edited the file and the default changed: the file was kept
    /// and the new default written beside it as `NAME.new`.
    Kept,
    /// Seeding wrote the file once and the user deleted it: not recreated.
    DeletedByUser,
    /// `force`: the shipped default replaced the user's file, which was
    /// kept as `NAME.old`.
    Forced,
    /// Seeding never wrote the file (and it matches no shipped version), or
    /// it is not a regular file: never touched.
    NotSeeded,
}

impl SeedAction {
    /// The action as one lowercase word, as JSON output spells it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SeedAction::Created => "created",
            SeedAction::Unchanged => "unchanged",
            SeedAction::Upgraded => "upgraded",
            SeedAction::Kept => "kept",
            SeedAction::DeletedByUser => "deleted-by-user",
            SeedAction::Forced => "forced",
            SeedAction::NotSeeded => "not-seeded",
        }
    }

    /// The file written beside `path`: `PATH.new` for [`Kept`](Self::Kept),
    /// `PATH.old` for [`Forced`](Self::Forced).
    #[must_use]
    pub fn side_file(self, path: &Path) -> Option<PathBuf> {
        let suffix = match self {
            SeedAction::Kept => NEW_SUFFIX,
            SeedAction::Forced => OLD_SUFFIX,
            _ => return None,
        };
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        Some(PathBuf::from(side))
    }
}

/// The suffix of the newer shipped default written beside an edited file.
const NEW_SUFFIX: &str = ".new";
/// The suffix of the user's file that `init --force` replaced.
const OLD_SUFFIX: &str = ".old";

/// A file that seeding or an atomic write leaves beside the file `of`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leftover<'a> {
    /// `NAME.new`: a newer shipped default beside an edited `NAME`.
    NewDefault {
        /// The file it is beside.
        of: &'a str,
    },
    /// `NAME.old`: the user's `NAME` that `init --force` replaced.
    Replaced {
        /// The file it is beside.
        of: &'a str,
    },
    /// `.NAME.XXXXXX.tmp`: the temporary file of an interrupted write.
    InterruptedWrite {
        /// The file it was to become.
        of: &'a str,
    },
}

impl<'a> Leftover<'a> {
    /// What `file_name` is left over from, if it is a leftover at all.
    ///
    /// ```
    /// use confd::seed::Leftover;
    /// assert_eq!(Leftover::of_name("queue.new"), Some(Leftover::NewDefault { of: "queue" }));
    /// assert_eq!(Leftover::of_name("queue.old"), Some(Leftover::Replaced { of: "queue" }));
    /// assert_eq!(
    ///     Leftover::of_name(".queue.a1B2c3.tmp"),
    ///     Some(Leftover::InterruptedWrite { of: "queue" })
    /// );
    /// assert_eq!(Leftover::of_name(".queue.tmp"), None); // not a name confd gives
    /// assert_eq!(Leftover::of_name("queue"), None);
    /// ```
    #[must_use]
    pub fn of_name(file_name: &'a str) -> Option<Self> {
        if let Some(of) = write::temp_base(file_name) {
            return Some(Leftover::InterruptedWrite { of });
        }
        if let Some(of) = file_name.strip_suffix(NEW_SUFFIX) {
            return Some(Leftover::NewDefault { of });
        }
        file_name
            .strip_suffix(OLD_SUFFIX)
            .map(|of| Leftover::Replaced { of })
    }
}

impl std::fmt::Display for SeedAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of a seeding run, one entry per shipped file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// Each shipped file's path and what was done with it, sorted by name.
    pub files: Vec<(PathBuf, SeedAction)>,
    /// Temporary files of an interrupted run that were removed.
    pub removed: Vec<PathBuf>,
    /// Whether this was a dry run: the report says what would be done, and
    /// nothing was changed.
    pub dry_run: bool,
}

impl SeedReport {
    /// The files created.
    pub fn created(&self) -> impl Iterator<Item = &Path> {
        self.with(|a| a == SeedAction::Created)
    }

    /// The files whose content was left as it was because something was
    /// already there ([`Unchanged`](SeedAction::Unchanged),
    /// [`Kept`](SeedAction::Kept), [`NotSeeded`](SeedAction::NotSeeded)).
    pub fn kept(&self) -> impl Iterator<Item = &Path> {
        self.with(|a| {
            matches!(
                a,
                SeedAction::Unchanged | SeedAction::Kept | SeedAction::NotSeeded
            )
        })
    }

    /// The files given `action`.
    pub fn with_action(&self, action: SeedAction) -> impl Iterator<Item = &Path> {
        self.with(move |a| a == action)
    }

    fn with(&self, keep: impl Fn(SeedAction) -> bool) -> impl Iterator<Item = &Path> {
        self.files
            .iter()
            .filter(move |(_, a)| keep(*a))
            .map(|(p, _)| p.as_path())
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SeedError + '_ {
    move |error| SeedError::Io {
        path: path.to_owned(),
        error,
    }
}

/// Seeds and upgrades `etc_dir/conf.d` with the shipped defaults, keeping the
/// record in `etc_dir/../var/lib/confd` (`etc_dir` is `$STATE/etc`).
///
/// The same as `Seeder::new(state_dir).run()`: see [`Seeder`]. A file the user
/// wrote or edited is never modified. A directory not named `etc` is refused:
/// seeding would write `etc/conf.d` and `var/lib/confd` beside it instead.
pub fn seed(etc_dir: &Path) -> Result<SeedReport, SeedError> {
    if etc_dir.file_name() != Some(std::ffi::OsStr::new("etc")) {
        return Err(SeedError::Io {
            path: etc_dir.to_owned(),
            error: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a state dir's `etc`: seeding writes the state dir's `etc/conf.d` and \
                 `var/lib/confd` (use `Seeder::new(STATE_DIR)`)",
            ),
        });
    }
    let root = etc_dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Seeder::new(root).run()
}

/// Seeds a state dir's `etc/conf.d` with a release's shipped defaults and
/// upgrades those seeded by an earlier release, by dpkg's conffile table (see
/// the table in this module's docs and the README).
///
/// Every write is atomic (temporary file in the same directory, fsync, mode,
/// rename, fsync of the directory); a run that is killed leaves each file
/// absent, old or new, and the next run removes the temporary files it left.
/// Runs on one state dir take turns (an exclusive lock on
/// `$STATE/var/lib/confd/lock`), so concurrent `init`s all succeed.
///
/// ```
/// #[derive(serde::Serialize, serde::Deserialize, confd::Brick)]
/// #[brick(name = "relay")]
/// struct Relay {
///     #[brick(default = "localhost")]
///     host: String,
/// }
/// #[derive(serde::Serialize, serde::Deserialize, confd::Brick)]
/// #[brick(name = "queue")]
/// struct Queue {
///     #[brick(default = 8)]
///     depth: u32,
/// }
///
/// # let dir = tempfile::tempdir()?;
/// let state = dir.path();
/// let report = confd::seed::Seeder::new(state).run()?;
/// assert!(report.files.iter().all(|(_, a)| *a == confd::seed::SeedAction::Created));
///
/// std::fs::remove_file(state.join("etc/conf.d/relay"))?;
/// std::fs::write(state.join("etc/conf.d/queue"), "depth = 2\n")?;
/// let report = confd::seed::Seeder::new(state).run()?;
/// assert_eq!(report.with_action(confd::seed::SeedAction::DeletedByUser).count(), 1);
/// assert_eq!(report.with_action(confd::seed::SeedAction::Unchanged).count(), 1); // edited: kept as it is
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Seeder<'h> {
    state: StateDir,
    shipped: Shipped,
    dry_run: bool,
    force: bool,
    hook: Option<write::Hook<'h>>,
}

impl std::fmt::Debug for Seeder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seeder")
            .field("root", &self.state.root())
            .field("dry_run", &self.dry_run)
            .field("force", &self.force)
            .field("hook", &self.hook.is_some())
            .finish_non_exhaustive()
    }
}

impl<'h> Seeder<'h> {
    /// A seeder for the state dir `state_root` with this build's defaults.
    #[must_use]
    pub fn new(state_root: impl Into<PathBuf>) -> Self {
        Seeder {
            state: StateDir::at(state_root),
            shipped: Shipped::builtin(),
            dry_run: false,
            force: false,
            hook: None,
        }
    }

    /// Seeds another release's defaults instead of this build's (tests use
    /// it to play an upgrade without rebuilding).
    #[must_use]
    pub fn shipped(mut self, shipped: Shipped) -> Self {
        self.shipped = shipped;
        self
    }

    /// Only work out what would be done: change nothing, create no
    /// directory, take no lock.
    #[must_use]
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Install the shipped default over edited files (keeping the user's as
    /// `NAME.old`) and recreate files the user deleted. Files that are not
    /// regular files are still never touched.
    #[must_use]
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Calls `hook` after every step of every write; an error it returns
    /// fails that step. For crash and fault-injection tests.
    #[doc(hidden)]
    #[must_use]
    pub fn on_step(mut self, hook: impl FnMut(&SeedStep) -> std::io::Result<()> + 'h) -> Self {
        self.hook = Some(Box::new(hook));
        self
    }

    /// `$STATE/etc/conf.d`.
    #[must_use]
    pub fn conf_d(&self) -> PathBuf {
        self.state.conf_d()
    }

    /// `$STATE/var/lib/confd`, where the record and the lock live.
    #[must_use]
    pub fn record_dir(&self) -> PathBuf {
        self.state.confd_lib()
    }

    /// `$STATE/var/lib/confd/seeded.toml`.
    #[must_use]
    pub fn record_path(&self) -> PathBuf {
        self.state.seed_record()
    }

    /// Seeds and upgrades; see [`Seeder`].
    pub fn run(self) -> Result<SeedReport, SeedError> {
        let conf_d = self.conf_d();
        let record_dir = self.record_dir();
        let record_path = self.record_path();
        let lock_path = self.state.write_lock();
        let Seeder {
            shipped,
            dry_run,
            force,
            hook,
            ..
        } = self;
        let mut writer = Writer::new(hook);

        // Held until the end of the run: removing stale temporary files is
        // only safe when no other run is writing its own.
        let _lock = if dry_run {
            None
        } else {
            writer.make_dir(&conf_d)?;
            writer.make_dir(&record_dir)?;
            Some(lock(&lock_path)?)
        };

        let mut record = Record::load(&record_path)?;
        let mut bases: BTreeSet<String> = shipped
            .files()
            .iter()
            .map(|f| f.name)
            .chain(record.names())
            .flat_map(|name| {
                [
                    name.to_owned(),
                    format!("{name}{NEW_SUFFIX}"),
                    format!("{name}{OLD_SUFFIX}"),
                ]
            })
            .collect();
        let mut removed = writer.remove_stale(&conf_d, &bases, dry_run)?;
        bases = record_path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .into_iter()
            .collect();
        removed.extend(writer.remove_stale(&record_dir, &bases, dry_run)?);

        let before = record.clone();
        let mut files = Vec::new();
        for file in shipped.files() {
            let target = conf_d.join(file.name);
            let current = file.hash();
            let mode = mode_of(file.name);
            let contents = inspect(&target)?;
            let on_disk_hash = contents.map(|bytes| content_hash(bytes));
            let mut action = decide(
                on_disk_hash.map(|hash| hash.as_str()),
                record.seeded(file.name),
                &current,
                |hash| shipped.was_shipped(file.name, hash),
                force,
            );
            if !dry_run {
                action = apply(
                    &mut writer,
                    action,
                    &target,
                    file.contents.as_bytes(),
                    &contents,
                    mode,
                )?;
            }
            if !matches!(action, SeedAction::DeletedByUser | SeedAction::NotSeeded) {
                record.set_seeded(file.name, current);
            }
            files.push((target, action));
        }
        if !dry_run && record != before {
            // After every file it describes is durable (each write synced
            // its directory): a record ahead of the files could make a
            // file lost in a power cut look deleted by the user.
            writer.replace(&record_path, record.to_text().as_bytes(), FILE_MODE)?;
        }
        Ok(SeedReport {
            files,
            removed,
            dry_run,
        })
    }
}

/// The mode of a brick's file, and of its `.new` and `.old`.
fn mode_of(name: &str) -> u32 {
    if holds_secrets(name) {
        SECRET_FILE_MODE
    } else {
        FILE_MODE
    }
}

/// Creates `dir` and every missing parent with mode 0755 whatever the umask,
/// each new entry made durable; an existing directory is left as it is.
pub fn create_dirs(dir: &Path) -> Result<(), SeedError> {
    Writer::new(None).make_dir(dir)
}

/// What stands at `path`, with a regular file's bytes.
fn inspect(path: &Path) -> Result<Found<Vec<u8>>, SeedError> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Found::Absent),
        Err(e) => Err(io_err(path)(e)),
        Ok(meta) if meta.is_file() => std::fs::read(path).map(Found::File).map_err(io_err(path)),
        Ok(_) => Ok(Found::Other),
    }
}

/// Carries out `action` for `target`; returns what was really done, which
/// differs only if a file appeared between looking and creating.
fn apply(
    writer: &mut Writer<'_>,
    action: SeedAction,
    target: &Path,
    default: &[u8],
    found: &Found<Vec<u8>>,
    mode: u32,
) -> Result<SeedAction, SeedError> {
    match action {
        SeedAction::Created => match writer.create(target, default, mode)? {
            Created::Yes => Ok(SeedAction::Created),
            // The user (or a run of an older confd, which takes no lock) got
            // there first; theirs wins.
            Created::AlreadyExists => match inspect(target)? {
                Found::File(bytes) if bytes == default => Ok(SeedAction::Unchanged),
                _ => Ok(SeedAction::NotSeeded),
            },
        },
        SeedAction::Upgraded => {
            writer.replace(target, default, mode)?;
            Ok(action)
        }
        SeedAction::Kept => {
            let new = action.side_file(target).unwrap_or_default();
            // Rewriting an identical `.new` would only churn its mtime.
            if !matches!(inspect(&new)?, Found::File(bytes) if bytes == default) {
                writer.replace(&new, default, mode)?;
            }
            Ok(action)
        }
        SeedAction::Forced => {
            // The user's file is safe as `.old` before the default takes
            // the name: at no moment is their only copy being replaced.
            let old = action.side_file(target).unwrap_or_default();
            writer.keep_as(target, &old, found.file().map_or(&[][..], Vec::as_slice))?;
            writer.replace(target, default, mode)?;
            Ok(action)
        }
        SeedAction::Unchanged | SeedAction::DeletedByUser | SeedAction::NotSeeded => Ok(action),
    }
}

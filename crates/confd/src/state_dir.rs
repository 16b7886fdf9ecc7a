//! Where configuration lives: `$NEXUS_STATE_DIR`, default `~/.nexus`.

use std::path::{Path, PathBuf};

use crate::BrickName;
use crate::env::{Env, EnvNotUtf8};
use crate::error::{InputSource, NotADir};
use crate::shown::ShownPath;

/// Why the state dir cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateDirError {
    /// No state dir was given and the home directory is unknown.
    #[error(
        "cannot find a home directory for the default state dir `~/.nexus`: set NEXUS_STATE_DIR"
    )]
    NoHomeDir,

    /// The state dir given is blank, or relative where that is refused.
    #[error("invalid state dir `{}` from `{from}`: {reason}", ShownPath(path))]
    Invalid {
        /// The rejected path.
        path: PathBuf,
        /// Where it was given.
        from: InputSource,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A relative state dir cannot be made absolute (the current directory
    /// is gone).
    #[error("cannot make the state dir `{}` absolute: {error}", ShownPath(path))]
    NotAbsolute {
        /// The relative path.
        path: PathBuf,
        /// What the operating system said.
        error: std::io::Error,
    },

    /// Something other than a directory stands where the state dir, its
    /// `etc` or its `etc/conf.d` belongs.
    #[error("{}", NotADir { path, found, is_root: *is_root })]
    NotADirectory {
        /// The offending path.
        path: PathBuf,
        /// What is there instead: "a file", "a FIFO", "a dangling symlink", …
        found: &'static str,
        /// Whether it is the state dir itself, rather than `etc` or `conf.d`.
        is_root: bool,
    },

    /// `NEXUS_STATE_DIR` is not valid UTF-8.
    #[error(transparent)]
    EnvNotUtf8(#[from] EnvNotUtf8),
}

impl StateDirError {
    /// Whether the command line is to blame (exit status 2).
    #[must_use]
    pub fn is_usage(&self) -> bool {
        matches!(self, StateDirError::Invalid { from, .. } if from.is_command_line())
    }
}

/// Where the state dir's location came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StateDirSource {
    /// Given explicitly (`--state-dir`, [`Loader::state_dir`](crate::Loader::state_dir)).
    Explicit,
    /// The `NEXUS_STATE_DIR` environment variable.
    Env,
    /// The default, `~/.nexus`.
    Default,
}

/// A state dir and the paths inside it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StateDir {
    root: PathBuf,
    source: StateDirSource,
}

/// What names an explicit state dir in messages.
const FLAG: InputSource = InputSource::Flag("--state-dir");
/// The variable that names the state dir.
const VAR: &str = "NEXUS_STATE_DIR";

impl StateDir {
    /// A state dir at an explicit path: `~` is expanded, and a relative path
    /// is made absolute against the current directory, as any path argument
    /// of a command is. A blank path is refused.
    pub fn new(root: impl AsRef<Path>) -> Result<Self, StateDirError> {
        let root = expand_tilde(refuse_blank(root.as_ref(), FLAG)?)?;
        let root = std::path::absolute(&root).map_err(|error| StateDirError::NotAbsolute {
            path: root.clone(),
            error,
        })?;
        Ok(StateDir {
            root,
            source: StateDirSource::Explicit,
        })
    }

    /// The state dir at `root` exactly as given: no `~` expansion, no blank check, nothing
    /// made absolute. For code handed a state dir's path that is already resolved (a library
    /// call's `&Path`, a temporary directory) and needs to know where things live in it;
    /// a path from a user goes through [`StateDir::new`].
    #[must_use]
    pub fn at(root: impl Into<PathBuf>) -> Self {
        StateDir {
            root: root.into(),
            source: StateDirSource::Explicit,
        }
    }

    /// `NEXUS_STATE_DIR` from the process environment, else `~/.nexus`.
    pub fn from_env() -> Result<Self, StateDirError> {
        Self::resolve(None, &Env::Process)
    }

    pub(crate) fn resolve(explicit: Option<&Path>, env: &Env) -> Result<Self, StateDirError> {
        if let Some(root) = explicit {
            return Self::new(root);
        }
        if let Some(root) = env.get(VAR)? {
            let root = expand_tilde(refuse_blank(Path::new(&root), InputSource::Env(VAR))?)?;
            // A variable is inherited by services, cron jobs and children
            // that start in other directories: relative, it would name a
            // different state dir for each of them.
            if root.is_relative() {
                return Err(StateDirError::Invalid {
                    path: root,
                    from: InputSource::Env(VAR),
                    reason: "a relative path names a different directory for each program \
                        that inherits the variable: give an absolute path (or `~/…`)",
                });
            }
            return Ok(StateDir {
                root,
                source: StateDirSource::Env,
            });
        }
        Ok(StateDir {
            root: home()?.join(".nexus"),
            source: StateDirSource::Default,
        })
    }

    /// The state dir itself.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the location came from.
    #[must_use]
    pub fn source(&self) -> StateDirSource {
        self.source
    }

    /// `$STATE/etc`, mounted at `/etc` in the VFS.
    #[must_use]
    pub fn etc_dir(&self) -> PathBuf {
        self.root.join("etc")
    }

    /// `$STATE/etc/conf.d`.
    #[must_use]
    pub fn conf_d(&self) -> PathBuf {
        self.root.join(Self::conf_d_below_root())
    }

    /// `etc/conf.d`: [`StateDir::conf_d`] relative to the state dir, for a walk that
    /// resolves it one component at a time (the watcher).
    pub(crate) fn conf_d_below_root() -> &'static Path {
        Path::new("etc/conf.d")
    }

    /// `$STATE/etc/conf.d/NAME`.
    #[must_use]
    pub fn main_file(&self, brick: &BrickName) -> PathBuf {
        self.conf_d().join(brick.as_str())
    }

    /// `$STATE/etc/conf.d/NAME.d`.
    #[must_use]
    pub fn drop_in_dir(&self, brick: &BrickName) -> PathBuf {
        self.conf_d().join(format!("{brick}.d"))
    }

    /// `$STATE/share/confd/schema`, where each brick's JSON Schema is
    /// installed (DESIGN.md §9).
    #[must_use]
    pub fn schema_dir(&self) -> PathBuf {
        self.root.join("share").join("confd").join("schema")
    }

    /// `$STATE/share/confd/schema/NAME.json`.
    #[must_use]
    pub fn schema_file(&self, brick: &BrickName) -> PathBuf {
        self.schema_dir().join(format!("{brick}.json"))
    }

    /// `$STATE/var/lib`, for records that are not configuration: each part that keeps some
    /// has its directory below it ([`StateDir::confd_lib`], [`StateDir::vfs_lib`]).
    #[must_use]
    pub fn var_lib(&self) -> PathBuf {
        self.root.join("var").join("lib")
    }

    /// `$STATE/var/lib/confd`: confd's own records, the seeding record, the state dir's
    /// write lock and the fleet cache.
    #[must_use]
    pub fn confd_lib(&self) -> PathBuf {
        self.var_lib().join("confd")
    }

    /// `$STATE/var/lib/confd/seeded.toml`: what seeding wrote, which decides upgrades.
    #[must_use]
    pub fn seed_record(&self) -> PathBuf {
        self.confd_lib().join("seeded.toml")
    }

    /// `$STATE/var/lib/confd/lock`: held by every writer of the state dir (seeding,
    /// `config set`/`edit`, installs), so they take turns.
    #[must_use]
    pub fn write_lock(&self) -> PathBuf {
        self.confd_lib().join("lock")
    }

    /// `$STATE/var/lib/confd/fleet`: the fleet layers last read from etcd, one file per
    /// brick, for a boot whose etcd does not answer.
    #[must_use]
    pub fn fleet_cache_dir(&self) -> PathBuf {
        self.confd_lib().join("fleet")
    }

    /// `$STATE/var/lib/vfs`: the VFS's directory (0700), holding its metadata store.
    #[must_use]
    pub fn vfs_lib(&self) -> PathBuf {
        self.var_lib().join("vfs")
    }

    /// `$STATE/var/lib/vfs/vfs-meta.redb`: the VFS's metadata store (0600), outside
    /// `$STATE/etc` so that mounting never writes below the directory it mounts.
    #[must_use]
    pub fn vfs_metastore(&self) -> PathBuf {
        self.vfs_lib().join("vfs-meta.redb")
    }

    /// `$STATE/var/lib/vfs-meta.redb`: where earlier versions kept the VFS's store, directly
    /// in the shared `var/lib`; the VFS moves a store found there to
    /// [`StateDir::vfs_metastore`].
    #[must_use]
    pub fn legacy_vfs_metastore(&self) -> PathBuf {
        self.var_lib().join("vfs-meta.redb")
    }

    /// Checks that the state dir, `etc` and `etc/conf.d` are directories
    /// where they exist (missing ones are normal: `init` creates them), so a
    /// file in their place gets one error that says so instead of a
    /// "not a directory" for every file looked up below it.
    pub fn check_layout(&self) -> Result<(), StateDirError> {
        // A file above the state dir (`--state-dir afile/sub`) is named too:
        // every path below it would fail with "not a directory".
        if let Some(blocking) = self
            .root
            .ancestors()
            .skip(1)
            .find_map(|a| std::fs::metadata(a).ok().map(|m| (a, m)))
            .filter(|(_, meta)| !meta.is_dir())
        {
            let (path, meta) = blocking;
            return Err(StateDirError::NotADirectory {
                path: path.to_owned(),
                found: if meta.is_file() {
                    "a file"
                } else {
                    crate::file::describe(meta.file_type())
                },
                is_root: false,
            });
        }
        for (path, is_root) in [
            (self.root.clone(), true),
            (self.etc_dir(), false),
            (self.conf_d(), false),
        ] {
            let found = match std::fs::metadata(&path) {
                Ok(meta) if meta.is_dir() => continue,
                Ok(meta) if meta.is_file() => "a file",
                Ok(meta) => crate::file::describe(meta.file_type()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    match std::fs::symlink_metadata(&path) {
                        Err(_) => return Ok(()),
                        Ok(meta) if meta.file_type().is_symlink() => "a dangling symlink",
                        // Created between the two looks (a concurrent
                        // `init`): judged as it is now.
                        Ok(meta) if meta.is_dir() => continue,
                        Ok(meta) => crate::file::describe(meta.file_type()),
                    }
                }
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
                    "a symlink loop"
                }
                // Permission problems are the command's to report, with the
                // path it could not read.
                Err(_) => return Ok(()),
            };
            return Err(StateDirError::NotADirectory {
                path,
                found,
                is_root,
            });
        }
        Ok(())
    }
}

/// `path`, unless it is empty, white space only, or starts or ends with
/// white space (a quoting mistake: `--state-dir " /srv/nexus"`).
fn refuse_blank(path: &Path, from: InputSource) -> Result<&Path, StateDirError> {
    let text = path.as_os_str().as_encoded_bytes();
    let reason = if text.iter().all(u8::is_ascii_whitespace) {
        "the state dir cannot be blank"
    } else if text.first().is_some_and(u8::is_ascii_whitespace)
        || text.last().is_some_and(u8::is_ascii_whitespace)
    {
        "the path starts or ends with white space (check the quoting)"
    } else {
        return Ok(path);
    };
    Err(StateDirError::Invalid {
        path: path.to_owned(),
        from,
        reason,
    })
}

fn home() -> Result<PathBuf, StateDirError> {
    directories::BaseDirs::new()
        .map(|dirs| dirs.home_dir().to_owned())
        .ok_or(StateDirError::NoHomeDir)
}

fn expand_tilde(path: &Path) -> Result<PathBuf, StateDirError> {
    match path.strip_prefix("~") {
        Ok(rest) => Ok(home()?.join(rest)),
        Err(_) => Ok(path.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn explicit_beats_env_beats_default() -> Result<(), StateDirError> {
        let env = Env::Map(HashMap::from([(
            "NEXUS_STATE_DIR".into(),
            "/from/env".into(),
        )]));
        let explicit = StateDir::resolve(Some(Path::new("/flag")), &env)?;
        assert_eq!(
            (explicit.root(), explicit.source()),
            (Path::new("/flag"), StateDirSource::Explicit)
        );
        let from_env = StateDir::resolve(None, &env)?;
        assert_eq!(
            (from_env.root(), from_env.source()),
            (Path::new("/from/env"), StateDirSource::Env)
        );
        let default = StateDir::resolve(None, &Env::Map(HashMap::new()))?;
        assert!(default.root().ends_with(".nexus"));
        assert_eq!(default.source(), StateDirSource::Default);
        Ok(())
    }

    #[test]
    fn tilde_expands_to_home() -> Result<(), StateDirError> {
        let dir = StateDir::new("~/state")?;
        assert!(dir.root().is_absolute(), "{}", dir.root().display());
        assert!(dir.root().ends_with("state"));
        let other_user = StateDir::new("~user/x")?;
        assert!(other_user.root().is_absolute());
        assert!(other_user.root().ends_with("~user/x"));
        Ok(())
    }

    #[test]
    fn a_relative_flag_is_made_absolute_and_a_relative_variable_refused()
    -> Result<(), StateDirError> {
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(StateDir::new("rel/state")?.root(), cwd.join("rel/state"));
        let env = |v: &str| Env::Map(HashMap::from([("NEXUS_STATE_DIR".into(), v.into())]));
        let err = StateDir::resolve(None, &env("rel/state")).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "invalid state dir `rel/state` from `env NEXUS_STATE_DIR`: a relative path"
            ),
            "{err}"
        );
        assert!(!err.is_usage());
        Ok(())
    }

    #[test]
    fn blank_state_dirs_are_refused_naming_where_they_came_from() {
        for blank in ["", " ", "\t\n", " /srv/x", "/srv/x "] {
            let err = StateDir::new(blank).unwrap_err();
            assert!(err.to_string().contains("from `--state-dir`"), "{err}");
            assert!(err.is_usage(), "{err}");
        }
        let env = Env::Map(HashMap::from([("NEXUS_STATE_DIR".into(), "  ".into())]));
        let err = StateDir::resolve(None, &env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid state dir `  ` from `env NEXUS_STATE_DIR`: the state dir cannot be blank"
        );
    }

    #[test]
    fn every_path_is_below_the_root_where_the_layout_puts_it() {
        let state = StateDir::at("/s");
        let brick = BrickName::new("relay").expect("a valid name");
        for (path, expected) in [
            (state.etc_dir(), "/s/etc"),
            (state.conf_d(), "/s/etc/conf.d"),
            (state.main_file(&brick), "/s/etc/conf.d/relay"),
            (state.drop_in_dir(&brick), "/s/etc/conf.d/relay.d"),
            (
                state.schema_file(&brick),
                "/s/share/confd/schema/relay.json",
            ),
            (state.var_lib(), "/s/var/lib"),
            (state.seed_record(), "/s/var/lib/confd/seeded.toml"),
            (state.write_lock(), "/s/var/lib/confd/lock"),
            (state.fleet_cache_dir(), "/s/var/lib/confd/fleet"),
            (state.vfs_metastore(), "/s/var/lib/vfs/vfs-meta.redb"),
            (state.legacy_vfs_metastore(), "/s/var/lib/vfs-meta.redb"),
        ] {
            assert_eq!(path, Path::new(expected));
        }
        assert_eq!(
            state.root().join(StateDir::conf_d_below_root()),
            state.conf_d()
        );
    }

    /// Issue 13: the layout was also worked out by hand (seeding's `var/lib/confd`, the VFS's
    /// store, the fleet cache, doctor's lists). No library or command source outside this file
    /// joins the state dir's components itself; tests and docs may spell paths out.
    #[test]
    fn no_other_source_works_out_the_layout() {
        let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let by_hand = [
            r#"join("etc")"#,
            r#"join("var")"#,
            r#"join("lib")"#,
            r#"join("share")"#,
            r#"join("conf.d")"#,
            r#"join("vfs")"#,
            r#"join("confd")"#,
            r#""etc/conf.d""#,
            r#""var/lib"#,
            r#""share/confd"#,
            r#""vfs-meta.redb""#,
            r#""seeded.toml""#,
        ];
        let mut offenders = Vec::new();
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&crates)
            .expect("the workspace's crates")
            .map(|e| e.expect("an entry").path().join("src"))
            .collect();
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for path in entries.map(|e| e.expect("an entry").path()) {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if path.is_dir() {
                    if name != "tests" {
                        dirs.push(path);
                    }
                    continue;
                }
                if !name.ends_with(".rs") || name == "tests.rs" || path.ends_with("state_dir.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).expect("a source file");
                // Only the code before its unit tests, and not its doc comments.
                let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
                for (number, line) in code.lines().enumerate() {
                    let line = line.trim_start();
                    if line.starts_with("//") {
                        continue;
                    }
                    if let Some(found) = by_hand.iter().find(|p| line.contains(*p)) {
                        offenders.push(format!("{}:{}: {found}", path.display(), number + 1));
                    }
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "use a `StateDir` method: {offenders:#?}"
        );
    }

    #[test]
    fn a_file_in_place_of_a_directory_is_named() -> Result<(), StateDirError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::new(dir.path())?;
        state.check_layout()?;
        std::fs::create_dir(state.etc_dir()).expect("mkdir");
        std::fs::write(state.conf_d(), "").expect("write");
        let err = state.check_layout().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "`{}` is a file, not a directory: the state dir keeps configuration in `etc/conf.d/`",
                state.conf_d().display()
            )
        );
        let file = StateDir::new(state.conf_d())?;
        let err = file.check_layout().unwrap_err();
        assert!(err.to_string().starts_with("state dir `"), "{err}");
        assert!(
            err.to_string().ends_with("` is a file, not a directory"),
            "{err}"
        );
        Ok(())
    }

    #[test]
    fn a_state_dir_that_is_a_symlink_loop_is_named() -> Result<(), StateDirError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let (x, y) = (dir.path().join("x"), dir.path().join("y"));
        std::os::unix::fs::symlink(&y, &x).expect("symlink");
        std::os::unix::fs::symlink(&x, &y).expect("symlink");
        let err = StateDir::new(&x)?.check_layout().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "state dir `{}` is a symlink loop, not a directory",
                x.display()
            )
        );
        Ok(())
    }
}

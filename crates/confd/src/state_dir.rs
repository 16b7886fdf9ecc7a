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
        self.root.join("etc").join("conf.d")
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

    /// `$STATE/var/lib`, for records that are not configuration.
    #[must_use]
    pub fn var_lib(&self) -> PathBuf {
        self.root.join("var").join("lib")
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
}

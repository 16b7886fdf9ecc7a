//! Where configuration lives: `$NEXUS_STATE_DIR`, default `~/.nexus`.

use std::path::{Path, PathBuf};

use crate::env::Env;
use crate::{BrickName, Error};

/// Where the state dir's location came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateDirSource {
    /// Given explicitly (`--state-dir`, [`Loader::state_dir`](crate::Loader::state_dir)).
    Explicit,
    /// The `NEXUS_STATE_DIR` environment variable.
    Env,
    /// The default, `~/.nexus`.
    Default,
}

/// A state dir and the paths inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateDir {
    root: PathBuf,
    source: StateDirSource,
}

impl StateDir {
    /// A state dir at an explicit path (`~` is expanded).
    pub fn new(root: impl AsRef<Path>) -> Result<Self, Error> {
        Ok(StateDir {
            root: expand_tilde(root.as_ref())?,
            source: StateDirSource::Explicit,
        })
    }

    /// `NEXUS_STATE_DIR` from the process environment, else `~/.nexus`.
    pub fn from_env() -> Result<Self, Error> {
        Self::resolve(None, &Env::Process)
    }

    pub(crate) fn resolve(explicit: Option<&Path>, env: &Env) -> Result<Self, Error> {
        if let Some(root) = explicit {
            return Self::new(root);
        }
        if let Some(root) = env.get("NEXUS_STATE_DIR")? {
            return Ok(StateDir {
                root: expand_tilde(Path::new(&root))?,
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

    /// `$STATE/var/lib`, for records that are not configuration.
    #[must_use]
    pub fn var_lib(&self) -> PathBuf {
        self.root.join("var").join("lib")
    }
}

fn home() -> Result<PathBuf, Error> {
    directories::BaseDirs::new()
        .map(|dirs| dirs.home_dir().to_owned())
        .ok_or(Error::NoHomeDir)
}

fn expand_tilde(path: &Path) -> Result<PathBuf, Error> {
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
    fn explicit_beats_env_beats_default() -> Result<(), Error> {
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
    fn tilde_expands_to_home() -> Result<(), Error> {
        let dir = StateDir::new("~/state")?;
        assert!(dir.root().is_absolute(), "{}", dir.root().display());
        assert!(dir.root().ends_with("state"));
        assert_eq!(StateDir::new("~user/x")?.root(), Path::new("~user/x"));
        Ok(())
    }
}

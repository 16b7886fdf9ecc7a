//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

/// A temporary state dir with `etc/conf.d` created.
pub struct State {
    dir: tempfile::TempDir,
}

impl State {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("etc/conf.d")).expect("conf.d");
        State { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn conf_d(&self) -> PathBuf {
        self.dir.path().join("etc/conf.d")
    }

    /// Writes `conf.d/<relative>`, creating parent directories.
    pub fn write(&self, relative: &str, text: impl AsRef<[u8]>) -> PathBuf {
        let path = self.conf_d().join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
        path
    }

    /// A loader on this state dir with an empty environment.
    pub fn loader(&self) -> confd::Loader {
        confd::Loader::new()
            .state_dir(self.root())
            .env(std::iter::empty::<(String, String)>())
    }

    /// `text` with this state dir's path replaced by `[ROOT]`, for snapshots.
    pub fn redact(&self, text: &str) -> String {
        text.replace(&self.root().display().to_string(), "[ROOT]")
    }
}

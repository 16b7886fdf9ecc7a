//! The offline cache: the last good fleet layers of each brick, kept at
//! `$STATE/var/lib/confd/fleet/NAME` so a host whose etcd does not answer
//! still boots with the fleet's baseline (DESIGN.md §10).
//!
//! One file per brick, written atomically by confd's own writer, 0600 for
//! bricks that hold secrets. A read that finds the same texts again only
//! touches the file's modification time, which is the cache's age: a boot
//! of a hundred unchanged bricks writes nothing.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use confd::fleet::FleetText;
use confd::{BrickName, StateDir, origin::EtcdKey, origin::FleetLayer};

use crate::FleetConfig;

/// The cache's directory in a state dir.
#[must_use]
pub fn dir(state: &StateDir) -> PathBuf {
    state.fleet_cache_dir()
}

/// The cache file of `brick`.
#[must_use]
pub fn path(state: &StateDir, brick: &BrickName) -> PathBuf {
    dir(state).join(brick.as_ref())
}

/// A brick's cached fleet layers: what etcd held for it at `revision`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cached {
    /// The fleet prefix they were read under.
    pub prefix: String,
    /// The node they were read for.
    pub node: String,
    /// The cluster revision of the read.
    pub revision: i64,
    /// The layers, lowest first (none: the fleet had nothing for the brick).
    #[serde(default, rename = "layer")]
    pub layers: Vec<CachedLayer>,
}

/// One cached etcd key. `Debug` shows the text's size, not the text.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedLayer {
    /// `fleet` or `node`.
    pub layer: String,
    /// The full key.
    pub key: String,
    /// Its `mod_revision`.
    pub mod_revision: i64,
    /// Its text.
    pub text: String,
}

impl std::fmt::Debug for CachedLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedLayer")
            .field("layer", &self.layer)
            .field("key", &self.key)
            .field("mod_revision", &self.mod_revision)
            .field("text", &format_args!("<{} bytes>", self.text.len()))
            .finish()
    }
}

impl Cached {
    /// The record of `texts`, read at `revision` for `config`.
    #[must_use]
    pub fn new(config: &FleetConfig, revision: i64, texts: &[FleetText]) -> Self {
        Cached {
            prefix: config.prefix().to_owned(),
            node: config.node.clone(),
            revision,
            layers: texts
                .iter()
                .map(|t| CachedLayer {
                    layer: match t.key.layer {
                        FleetLayer::Fleet => "fleet",
                        FleetLayer::Node => "node",
                    }
                    .to_owned(),
                    key: t.key.key.clone(),
                    mod_revision: t.key.revision,
                    text: t.text.clone(),
                })
                .collect(),
        }
    }

    /// Whether this record was read for the fleet `config` names.
    #[must_use]
    pub fn is_for(&self, config: &FleetConfig) -> bool {
        self.prefix == config.prefix() && self.node == config.node
    }

    /// The cached texts, as a load takes them.
    #[must_use]
    pub fn texts(&self) -> Vec<FleetText> {
        self.layers
            .iter()
            .filter_map(|l| {
                let layer = match l.layer.as_str() {
                    "fleet" => FleetLayer::Fleet,
                    "node" => FleetLayer::Node,
                    _ => return None,
                };
                Some(FleetText {
                    key: EtcdKey {
                        key: l.key.clone(),
                        revision: l.mod_revision,
                        layer,
                    },
                    text: l.text.clone(),
                })
            })
            .collect()
    }
}

const HEADER: &str = "# The last fleet layers read from etcd for this brick (DESIGN.md §10).\n\
                      # Written by confd after every good read; used when etcd does not answer.\n";

/// Stores `record` as the cache of `brick`, unless the same is stored
/// already (then only its age is reset).
pub fn store(state: &StateDir, brick: &BrickName, record: &Cached) -> Result<(), String> {
    let path = path(state, brick);
    let text = format!(
        "{HEADER}{}",
        toml::to_string(record).map_err(|e| e.to_string())?
    );
    if std::fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
        return touch(&path).map_err(|e| format!("cannot touch `{}`: {e}", path.display()));
    }
    let dir = dir(state);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    let mode = if confd::shipped::holds_secrets(brick.as_ref()) {
        0o600
    } else {
        0o644
    };
    confd::atomic::replace_file(&path, text.as_bytes(), mode).map_err(|e| e.to_string())
}

/// The cache of `brick` and its age, if there is a usable one.
pub fn load(state: &StateDir, brick: &BrickName) -> Result<Option<(Cached, Duration)>, String> {
    let path = path(state, brick);
    let Some(text) = confd::file::read_config_file(&path).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let record: Cached = toml::from_str(&text).map_err(|e| {
        format!(
            "cannot read the fleet cache `{}`: {}",
            path.display(),
            e.message()
        )
    })?;
    Ok(Some((record, age(&path))))
}

/// How long ago the cache file was last confirmed by a read.
fn age(path: &Path) -> Duration {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or_default()
}

fn touch(path: &Path) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new().append(true).open(path)?;
    file.set_modified(SystemTime::now())
}

/// An age as people read it: `12 s`, `3 min`, `5 h`, `2 d`.
#[must_use]
pub fn shown_age(age: Duration) -> String {
    let s = age.as_secs();
    match s {
        0..120 => format!("{s} s"),
        120..7200 => format!("{} min", s / 60),
        7200..172_800 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

//! Where a value came from, and the order in which sources win.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::Profile;
use crate::shown::{ShownPath, one_line};

/// The layers of DESIGN.md §3, declared lowest to highest priority.
///
/// The derived `Ord` *is* the merge order: a layer overrides every layer that
/// compares less than it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Precedence {
    /// The brick's built-in defaults for the active profile.
    ProfileDefault,
    /// The fleet's baseline in etcd: `PREFIX/conf.d/NAME` (DESIGN.md §10).
    Fleet,
    /// This host's node in the fleet: `PREFIX/nodes/NODE/conf.d/NAME`.
    FleetNode,
    /// A configuration snapshot taken on a host, read in place of
    /// `$STATE/etc` (`NEXUS_CONFIG_SNAPSHOT`).
    Snapshot,
    /// `$STATE/etc/conf.d/NAME`.
    MainFile,
    /// `$STATE/etc/conf.d/NAME.d/*.toml`, in byte-wise file name order.
    DropIn,
    /// A deprecated environment variable the brick still honours.
    Env,
    /// `--set NAME.key=value` given to the program.
    Cli,
}

impl Precedence {
    /// The layer's machine name, as JSON output carries it (`main-file`).
    #[must_use]
    pub fn id(self) -> &'static str {
        match self {
            Precedence::ProfileDefault => "profile-default",
            Precedence::Fleet => "fleet",
            Precedence::FleetNode => "fleet-node",
            Precedence::Snapshot => "snapshot",
            Precedence::MainFile => "main-file",
            Precedence::DropIn => "drop-in",
            Precedence::Env => "env",
            Precedence::Cli => "cli",
        }
    }
}

/// The layer's name for people, as `explain` lists it (`main file`).
impl std::fmt::Display for Precedence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precedence::ProfileDefault => "profile default",
            Precedence::Fleet => "fleet",
            Precedence::FleetNode => "fleet node",
            Precedence::Snapshot => "snapshot",
            Precedence::MainFile => "main file",
            Precedence::DropIn => "drop-in",
            Precedence::Env => "deprecated env",
            Precedence::Cli => "--set",
        })
    }
}

/// Which of a brick's files a value was read from: the two layers of
/// DESIGN.md §3 that are files, so an origin in a file cannot claim the
/// precedence of the environment or the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// `$STATE/etc/conf.d/NAME`.
    MainFile,
    /// `$STATE/etc/conf.d/NAME.d/*.toml`.
    DropIn,
}

impl FileKind {
    /// The layer files of this kind make.
    #[must_use]
    pub fn precedence(self) -> Precedence {
        match self {
            FileKind::MainFile => Precedence::MainFile,
            FileKind::DropIn => Precedence::DropIn,
        }
    }
}

/// Which of the two fleet layers an etcd key feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FleetLayer {
    /// `PREFIX/conf.d/NAME`, shared by every host.
    Fleet,
    /// `PREFIX/nodes/NODE/conf.d/NAME`, this host's own.
    Node,
}

impl FleetLayer {
    /// The layer keys of this kind make.
    #[must_use]
    pub fn precedence(self) -> Precedence {
        match self {
            FleetLayer::Fleet => Precedence::Fleet,
            FleetLayer::Node => Precedence::FleetNode,
        }
    }
}

/// One etcd key at the revision it was read: where the values of a fleet
/// layer came from, shown as `etcd /nexus/conf.d/relay@42`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EtcdKey {
    /// The full key, prefix included (`/nexus/conf.d/relay`).
    pub key: String,
    /// The key's `mod_revision`: the revision that last changed it.
    pub revision: i64,
    /// Which fleet layer it feeds.
    pub layer: FleetLayer,
}

impl fmt::Display for EtcdKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "etcd {}@{}", one_line(&self.key), self.revision)
    }
}

/// Where one value came from, shown to users as DESIGN.md §3 prescribes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The brick's default for a profile: `profile 'full' default`.
    ProfileDefault(Profile),
    /// A position in a configuration file: `/…/conf.d/NAME:LINE:COL`.
    File {
        /// The file, as it was opened.
        path: Arc<Path>,
        /// Whether it is the main file or a drop-in.
        kind: FileKind,
        /// 1-based line.
        line: u32,
        /// 1-based column, in characters.
        column: u32,
    },
    /// A position in the TOML text of an etcd key (DESIGN.md §10):
    /// `etcd /nexus/conf.d/relay@42:3:9`.
    Etcd {
        /// The key and its revision, shared by every origin of one text.
        key: Arc<EtcdKey>,
        /// 1-based line.
        line: u32,
        /// 1-based column, in characters.
        column: u32,
    },
    /// A deprecated environment variable: `env NEXUS_RELAY_SYNC_ON_START`.
    Env(String),
    /// A value of a configuration snapshot, with where the host found it:
    /// `snapshot FILE (/srv/etc/conf.d/relay:3:9 on the host)`.
    Snapshot {
        /// The snapshot file.
        file: Arc<Path>,
        /// The value's origin on the host, as the host showed it.
        host: String,
    },
    /// A command-line override: `--set relay.sync_on_start=true`. Holds the
    /// text after `--set`, with the value replaced by `<redacted>` for a
    /// secret key, a key under one, and a key unknown to a brick that holds
    /// secrets.
    Cli(String),
}

impl Origin {
    /// The layer this origin belongs to.
    #[must_use]
    pub fn precedence(&self) -> Precedence {
        match self {
            Origin::ProfileDefault(_) => Precedence::ProfileDefault,
            Origin::File { kind, .. } => kind.precedence(),
            Origin::Etcd { key, .. } => key.layer.precedence(),
            Origin::Snapshot { .. } => Precedence::Snapshot,
            Origin::Env(_) => Precedence::Env,
            Origin::Cli(_) => Precedence::Cli,
        }
    }

    /// The file this origin points into, if any.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        match self {
            Origin::File { path, .. } => Some(path),
            _ => None,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::ProfileDefault(profile) => write!(f, "profile '{profile}' default"),
            // Paths and `--set` texts are the user's: shown on one line with
            // control characters escaped, an origin can neither drive a
            // terminal nor shift the columns of `get --show-origin`.
            Origin::File {
                path, line, column, ..
            } => write!(f, "{}:{line}:{column}", ShownPath(path)),
            Origin::Etcd { key, line, column } => write!(f, "{key}:{line}:{column}"),
            Origin::Snapshot { file, host } => {
                write!(
                    f,
                    "snapshot {} ({} on the host)",
                    ShownPath(file),
                    one_line(host)
                )
            }
            Origin::Env(var) => write!(f, "env {}", one_line(var)),
            Origin::Cli(spec) => write!(f, "--set {}", one_line(spec)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_declared_lowest_to_highest() {
        use Precedence::*;
        let mut shuffled = vec![
            Cli,
            DropIn,
            FleetNode,
            Snapshot,
            ProfileDefault,
            Env,
            MainFile,
            Fleet,
        ];
        shuffled.sort();
        // DESIGN.md §10: the host's own files override the fleet, as `/etc`
        // overrides `/usr`; the node's key overrides the fleet's. A
        // snapshot stands in for the host's files (and holds the fleet's
        // values as the host had them).
        assert_eq!(
            shuffled,
            [
                ProfileDefault,
                Fleet,
                FleetNode,
                Snapshot,
                MainFile,
                DropIn,
                Env,
                Cli
            ]
        );
    }

    #[test]
    fn origins_display_as_the_design_says() {
        let file = Origin::File {
            path: Arc::from(Path::new("/s/etc/conf.d/relay")),
            kind: FileKind::MainFile,
            line: 3,
            column: 13,
        };
        assert_eq!(file.to_string(), "/s/etc/conf.d/relay:3:13");
        assert_eq!(
            Origin::ProfileDefault(Profile::Full).to_string(),
            "profile 'full' default"
        );
        assert_eq!(
            Origin::Env("NEXUS_RELAY_SYNC_ON_START".into()).to_string(),
            "env NEXUS_RELAY_SYNC_ON_START"
        );
        let cli = Origin::Cli("relay.sync_on_start=true".into());
        assert_eq!(cli.to_string(), "--set relay.sync_on_start=true");
        let etcd = Origin::Etcd {
            key: Arc::new(EtcdKey {
                key: "/nexus/conf.d/relay".into(),
                revision: 42,
                layer: FleetLayer::Fleet,
            }),
            line: 3,
            column: 9,
        };
        assert_eq!(etcd.to_string(), "etcd /nexus/conf.d/relay@42:3:9");
        assert_eq!(etcd.precedence(), Precedence::Fleet);
    }

    #[test]
    fn origins_show_control_characters_escaped_on_one_line() {
        let cli = Origin::Cli("x.k=a\u{1b}]0;pwned\u{7}\tb\nc".into());
        assert_eq!(
            cli.to_string(),
            "--set x.k=a\\u001B]0;pwned\\u0007\\u0009b\\u000Ac"
        );
        let file = Origin::File {
            path: Arc::from(Path::new("/s/conf.d/x.d/\u{1b}[2J\n.toml")),
            kind: FileKind::DropIn,
            line: 1,
            column: 5,
        };
        assert_eq!(file.to_string(), "/s/conf.d/x.d/\\u001B[2J\\u000A.toml:1:5");
        let text = Origin::Cli("x.k=é 日本".into()).to_string();
        assert_eq!(text, "--set x.k=é 日本");
    }
}

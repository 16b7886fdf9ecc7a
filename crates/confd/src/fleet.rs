//! The seam through which a load receives the fleet layers (DESIGN.md §10).
//!
//! confd knows neither etcd nor any network: a [`FleetSource`] (the
//! `confd-fleet` crate's, or a test's) hands a load the TOML texts of the
//! brick's fleet and fleet-node keys, with their revisions, and the load
//! parses them by the same code as files. A program without fleet support
//! installs none and pays nothing for it.
//!
//! A source is given to one [`Loader`] ([`Loader::fleet`]) or installed for
//! the whole process ([`install`]), so that bricks calling
//! [`get_brick_config`](crate::get_brick_config) get the fleet layer
//! without being told about it.

use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::{BrickName, Error, Loader, origin::EtcdKey};

/// The TOML text of one etcd key, as read at a revision. `Debug` shows
/// its size, not the text, which may hold secrets.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FleetText {
    /// The key, its revision and the layer it feeds.
    pub key: EtcdKey,
    /// The value, which is the TOML text of one brick.
    pub text: String,
}

impl fmt::Debug for FleetText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetText")
            .field("key", &self.key)
            .field("text", &format_args!("<{} bytes>", self.text.len()))
            .finish()
    }
}

/// What a fleet source gives one load: the brick's texts, lowest first
/// (the fleet's, then the node's), and what the load should warn about.
///
/// Both are part of the load's inputs: a load is answered from the
/// process-wide cache only while the source gives the same texts at the same
/// revisions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FleetLayers {
    /// At most one text per [`FleetLayer`](crate::origin::FleetLayer), lowest first.
    pub texts: Vec<FleetText>,
    /// Warnings for this load (the layer came from the offline cache, or
    /// there is none), each a complete message.
    pub warnings: Vec<String>,
}

/// Where loads get their fleet layers from.
///
/// `layers` blocks for at most the source's own timeout: a boot must never
/// wait for a server longer than that. It is called with a loader of the
/// same state dir, profile, environment and overrides that reads only the
/// local layers, from which the source may load its own settings (the
/// `fleet` brick), and which tells whether the load is strict.
pub trait FleetSource: Send + Sync + fmt::Debug {
    /// The fleet layers of `brick` for a load through `local`; an error
    /// fails the load (under `--strict`, an unreachable fleet).
    fn layers(&self, local: &Loader, brick: &BrickName) -> Result<FleetLayers, Error>;

    /// Follows the fleet of `local` for a [`Watcher`](crate::watch::Watcher):
    /// calls `changed` (from any thread) once what [`FleetSource::layers`]
    /// gives has changed, naming the bricks, or none for "any of them".
    /// The watch then reloads those bricks through the same loader, so a
    /// fleet change makes the same events as a file change. Following stops
    /// when the returned guard is dropped; `None` (the default) means there
    /// is nothing to follow.
    fn follow(&self, local: &Loader, changed: FleetChanged) -> Option<FollowGuard> {
        let _ = (local, changed);
        None
    }
}

/// What a source calls when the fleet changed: the bricks whose layers
/// changed, or `None` for every brick (after a reconnection, say).
pub type FleetChanged = Arc<dyn Fn(Option<Vec<BrickName>>) + Send + Sync>;

/// Keeps a source following the fleet; dropping it stops that.
pub type FollowGuard = Box<dyn Send>;

static INSTALLED: OnceLock<Arc<dyn FleetSource>> = OnceLock::new();

/// The source is installed already: a process has one fleet.
#[derive(Debug, thiserror::Error)]
#[error("a fleet source is installed already")]
pub struct AlreadyInstalled;

/// Installs the process-wide fleet source every [`Loader`] uses unless it is
/// given one of its own or told to use none. Once per process: a brick that
/// loaded its configuration from one fleet must not see another's.
pub fn install(source: Arc<dyn FleetSource>) -> Result<(), AlreadyInstalled> {
    INSTALLED.set(source).map_err(|_| AlreadyInstalled)
}

/// The process-wide source, if one is installed.
#[must_use]
pub fn installed() -> Option<&'static Arc<dyn FleetSource>> {
    INSTALLED.get()
}

/// Which source a loader asks.
#[derive(Clone, Debug, Default)]
pub(crate) enum Choice {
    /// The process-wide one, if any.
    #[default]
    Installed,
    /// This one.
    Given(Given),
    /// None: local layers only.
    Off,
}

/// A source given to one loader.
#[derive(Clone, Debug)]
pub(crate) struct Given(pub(crate) Arc<dyn FleetSource>);

// A `Loader` stays unwind-safe with a source in it: the loader only asks the
// source, and a source that panics half way leaves no state of confd's
// broken (its own, behind its own locks, is its business).
impl std::panic::UnwindSafe for Given {}
impl std::panic::RefUnwindSafe for Given {}

impl Choice {
    pub(crate) fn source(&self) -> Option<&Arc<dyn FleetSource>> {
        match self {
            Choice::Installed => installed(),
            Choice::Given(source) => Some(&source.0),
            Choice::Off => None,
        }
    }
}

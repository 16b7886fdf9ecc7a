//! The fleet layer of confd (DESIGN.md §10): a baseline shared by many
//! hosts, kept in etcd, that never blocks a boot.
//!
//! A host names its fleet in the brick `fleet` (`conf.d/fleet`):
//!
//! ```toml
//! endpoints = ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]
//! prefix = "/nexus"       # keys PREFIX/conf.d/NAME and PREFIX/nodes/NODE/conf.d/NAME
//! node = "web-7"          # default: the host name
//! timeout_ms = 1000       # the longest a load waits for etcd
//! ```
//!
//! A program that wants the fleet layer installs the source once, before
//! its first load; every later [`confd::get_brick_config`] and
//! [`confd::Loader`] then stacks the fleet's keys between the profile
//! defaults and the host's main file:
//!
//! ```no_run
//! confd_fleet::install().expect("installed once");
//! let config = confd::get_brick_config("cache")?;
//! # Ok::<(), confd::Error>(())
//! ```
//!
//! The etcd client is async; this crate keeps it inside (a current-thread
//! runtime per connection), so its API, like confd's, is blocking, and a
//! program that does not link this crate carries no async runtime at all.
//!
//! - `brick`: the `fleet` brick;
//! - `keys`: where a brick's layers live in etcd;
//! - `client`: the blocking client, every call bounded by `timeout_ms`;
//! - `source`: [`EtcdFleet`], one read per boot, and the offline fallback;
//! - `cache`: the last good layers at `$STATE/var/lib/confd/fleet/`;
//! - `watch`: live reload from an etcd watch.

#![deny(missing_docs)]

mod brick;
pub mod cache;
mod client;
pub mod keys;
mod source;
mod watch;

use std::sync::{Arc, OnceLock};

pub use brick::{FleetConfig, MAX_TIMEOUT_MS, is_node_name};
pub use client::{Client, Entry, Status, Swap};
pub use source::{EtcdFleet, RETRY_AFTER, Snapshot};

/// What went wrong talking to the fleet.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FleetError {
    /// No member answered within the timeout.
    #[error("etcd at `{endpoints}` did not answer within {timeout_ms} ms")]
    Timeout {
        /// The endpoints asked.
        endpoints: String,
        /// The timeout.
        timeout_ms: u64,
    },
    /// The client or a member refused the request.
    #[error("etcd at `{endpoints}` failed: {message}")]
    Etcd {
        /// The endpoints asked.
        endpoints: String,
        /// What the client said.
        message: String,
    },
    /// The async runtime could not start.
    #[error("cannot start the fleet client: {0}")]
    Runtime(String),
    /// A value in the fleet is not a brick's text.
    #[error("etcd key `{key}`@{revision} is not a brick's configuration: {reason}")]
    Value {
        /// The key.
        key: String,
        /// Its revision.
        revision: i64,
        /// Why.
        reason: String,
    },
}

impl From<FleetError> for confd::Error {
    fn from(e: FleetError) -> Self {
        confd::Error::Fleet {
            message: e.to_string(),
        }
    }
}

/// The process's source, once [`install`]ed.
fn shared() -> &'static Arc<EtcdFleet> {
    static SHARED: OnceLock<Arc<EtcdFleet>> = OnceLock::new();
    SHARED.get_or_init(|| Arc::new(EtcdFleet::new()))
}

/// Installs the etcd fleet source for the whole process (see
/// [`confd::fleet::install`]); once.
pub fn install() -> Result<Arc<EtcdFleet>, confd::fleet::AlreadyInstalled> {
    let source = Arc::clone(shared());
    confd::fleet::install(Arc::clone(&source) as Arc<dyn confd::fleet::FleetSource>)?;
    Ok(source)
}

//! Where a brick's fleet layers live in etcd (DESIGN.md §10):
//! `PREFIX/conf.d/NAME` and `PREFIX/nodes/NODE/conf.d/NAME`.

use confd::{BrickName, origin::FleetLayer};

use crate::FleetConfig;

/// The key prefix of the layer `layer` for `config`, ending in `/`.
#[must_use]
pub fn layer_dir(config: &FleetConfig, layer: FleetLayer) -> String {
    match layer {
        FleetLayer::Fleet => format!("{}/conf.d/", config.prefix()),
        FleetLayer::Node => format!("{}/nodes/{}/conf.d/", config.prefix(), config.node),
    }
}

/// The key of `brick` in the layer `layer`.
#[must_use]
pub fn brick_key(config: &FleetConfig, layer: FleetLayer, brick: &BrickName) -> String {
    format!("{}{brick}", layer_dir(config, layer))
}

/// The key of `brick` in the fleet layer, or in `node`'s layer.
#[must_use]
pub fn key_for(config: &FleetConfig, node: Option<&str>, brick: &BrickName) -> String {
    match node {
        Some(node) => format!("{}/nodes/{node}/conf.d/{brick}", config.prefix()),
        None => brick_key(config, FleetLayer::Fleet, brick),
    }
}

/// The brick a key under `dir` belongs to: a valid brick name directly
/// below it (anything else under the prefix is not ours to read).
#[must_use]
pub fn brick_of(dir: &str, key: &str) -> Option<BrickName> {
    BrickName::new(key.strip_prefix(dir)?).ok()
}

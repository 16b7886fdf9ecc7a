//! `nexus fleet …`: the fleet layer in etcd (DESIGN.md §10), read and
//! written with the same checks as a host's own files.
//!
//! - this module: the subcommands, the connection, the candidate source
//!   that validates a text before it is written;
//! - `write`: `set`, `push`, `edit`, each a compare-and-swap on the key's
//!   revision;
//! - `read`: `show`, `get`, `diff`, `status`.

mod read;
mod write;

use std::sync::Arc;

use clap::Subcommand;
use confd::fleet::{FleetLayers, FleetSource, FleetText};
use confd::{BrickName, Loader, origin::EtcdKey, origin::FleetLayer};
use confd_fleet::{Client, FleetConfig};

use crate::config::KeyArg;
use crate::{Failure, Global};

/// The `fleet` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum FleetCommand {
    /// Set one key in the fleet's text of a brick, keeping its comments and layout
    #[command(after_help = "Examples:\n  \
        nexus fleet set cache.backend postgres\n  \
        nexus fleet set cache.kv_size 512 --node web-7\n\n\
        The result is validated against the brick's schema first; a concurrent change \
        of another key is re-read and kept, never lost.")]
    Set {
        /// `BRICK.key`, e.g. `cache.backend`
        target: KeyArg,
        /// The value, parsed by the key's type
        #[arg(allow_hyphen_values = true, required_unless_present = "stdin")]
        value: Option<String>,
        /// Read the value from standard input (one trailing newline dropped)
        #[arg(long, conflicts_with = "value")]
        stdin: bool,
        /// Write the node layer of NODE instead of the fleet's
        #[arg(long, value_name = "NODE")]
        node: Option<String>,
    },
    /// Replace the fleet's text of a brick with a file (standard input without one)
    #[command(after_help = "Examples:\n  \
        nexus fleet push cache fleet/cache.toml\n  \
        nexus fleet show cache | sed s/auto/null/ | nexus fleet push cache\n\n\
        Refused, with both revisions named, when the key changed since it was read.")]
    Push {
        /// The brick, e.g. `cache`
        #[arg(value_parser = parse_brick)]
        brick: BrickName,
        /// The TOML file [default: standard input]
        file: Option<std::path::PathBuf>,
        /// Write the node layer of NODE instead of the fleet's
        #[arg(long, value_name = "NODE")]
        node: Option<String>,
    },
    /// Edit the fleet's text of a brick in $VISUAL/$EDITOR; validated before it is written
    #[command(after_help = "Example:\n  EDITOR=nano nexus fleet edit cache --node web-7")]
    Edit {
        /// The brick, e.g. `cache`
        #[arg(value_parser = parse_brick)]
        brick: BrickName,
        /// Edit the node layer of NODE instead of the fleet's
        #[arg(long, value_name = "NODE")]
        node: Option<String>,
    },
    /// Print the fleet's text of a brick as stored in etcd
    #[command(after_help = "Example:\n  nexus fleet show cache --node web-7")]
    Show {
        /// The brick, e.g. `cache`
        #[arg(value_parser = parse_brick)]
        brick: BrickName,
        /// Show the node layer of NODE instead of the fleet's
        #[arg(long, value_name = "NODE")]
        node: Option<String>,
        /// Print secret values instead of `<redacted>`
        #[arg(long)]
        show_secrets: bool,
    },
    /// Print one value as the fleet sets it for this host (or NODE)
    #[command(after_help = "Example:\n  nexus fleet get cache.backend --show-origin")]
    Get {
        /// `BRICK.key`, e.g. `cache.backend`
        target: KeyArg,
        /// The node whose view to print [default: this host's `fleet.node`]
        #[arg(long, value_name = "NODE")]
        node: Option<String>,
        /// Print `ORIGIN<TAB>VALUE`
        #[arg(long)]
        show_origin: bool,
        /// Print a secret value instead of `<redacted>`
        #[arg(long)]
        show_secrets: bool,
    },
    /// Show how this host's effective configuration differs from what the fleet sets
    #[command(after_help = "Example:\n  nexus fleet diff cache")]
    Diff {
        /// The brick, e.g. `cache`
        #[arg(value_parser = parse_brick)]
        brick: BrickName,
    },
    /// Print the endpoints, which of them answered, the cluster revision and the cache's age
    #[command(after_help = "Example:\n  nexus fleet status --format json")]
    Status,
}

fn parse_brick(text: &str) -> Result<BrickName, String> {
    BrickName::new(text).map_err(|e| e.to_string())
}

/// Runs a `fleet` subcommand.
pub(crate) fn run(global: &Global, command: FleetCommand) -> Result<(), Failure> {
    global.state_dir()?;
    match command {
        FleetCommand::Set {
            target,
            value,
            stdin,
            node,
        } => {
            let target = target.parsed()?;
            let value = match value {
                Some(value) if !stdin => value,
                _ => crate::config::write::value_from_stdin()?,
            };
            write::set(global, &target, &value, node.as_deref())
        }
        FleetCommand::Push { brick, file, node } => {
            write::push(global, &brick, file.as_deref(), node.as_deref())
        }
        FleetCommand::Edit { brick, node } => write::edit(global, &brick, node.as_deref()),
        FleetCommand::Show {
            brick,
            node,
            show_secrets,
        } => read::show(global, &brick, node.as_deref(), show_secrets),
        FleetCommand::Get {
            target,
            node,
            show_origin,
            show_secrets,
        } => read::get(
            global,
            &target.parsed()?,
            node.as_deref(),
            show_origin,
            show_secrets,
        ),
        FleetCommand::Diff { brick } => read::diff(global, &brick),
        FleetCommand::Status => read::status(global),
    }
}

/// This host's fleet, from its local layers; an error when it is in none.
fn fleet_config(global: &Global) -> Result<FleetConfig, Failure> {
    let config: FleetConfig = global.loader().without_fleet().load_typed()?;
    if !config.is_enabled() {
        let state = global.loader().resolved_state_dir()?;
        return Err(Failure::Config(format!(
            "this host is in no fleet: set `endpoints` in `{}`",
            state.conf_d().join("fleet").display()
        )));
    }
    Ok(config)
}

/// A client of this host's fleet.
fn connect(config: &FleetConfig) -> Result<Client, Failure> {
    Client::connect(&config.endpoints, config.timeout()).map_err(|e| Failure::Config(e.to_string()))
}

/// A node name given with `--node`, checked as the key segment it becomes.
fn checked_node(node: Option<&str>) -> Result<Option<&str>, Failure> {
    match node {
        Some(name) if !confd_fleet::is_node_name(name) => Err(Failure::Usage(format!(
            "invalid node name `{}`: one name of 1 to 253 characters, without `/`, spaces or \
             control characters",
            confd::shown::quoted_input(name)
        ))),
        other => Ok(other),
    }
}

/// The etcd key a write of `brick` goes to, refused for the `fleet` brick
/// (read from the host's local layers only: a key for it would be ignored).
fn key_of(config: &FleetConfig, brick: &BrickName, node: Option<&str>) -> Result<String, Failure> {
    if brick.as_str() == "fleet" {
        return Err(Failure::Usage(
            "the `fleet` brick is read from each host's own files only: a fleet key for it \
             would be ignored"
                .to_owned(),
        ));
    }
    Ok(confd_fleet::keys::key_for(config, node, brick))
}

/// A fleet source with fixed texts: how a text is validated before it is
/// written, and how the fleet's view of one node is loaded.
#[derive(Debug)]
struct Fixed(Vec<FleetText>);

impl FleetSource for Fixed {
    fn layers(&self, _: &Loader, _: &BrickName) -> Result<FleetLayers, confd::Error> {
        Ok(FleetLayers {
            texts: self.0.clone(),
            warnings: Vec::new(),
        })
    }
}

/// The fleet's layers of `brick` for `node` (`None`: the fleet layer
/// alone), with `replace` standing in for the text of `replaced_key`.
fn fleet_texts(
    client: &Client,
    config: &FleetConfig,
    brick: &BrickName,
    node: Option<&str>,
    replace: Option<(&str, &str)>,
) -> Result<Vec<FleetText>, Failure> {
    let mut keys = vec![(
        confd_fleet::keys::key_for(config, None, brick),
        FleetLayer::Fleet,
    )];
    if let Some(node) = node {
        keys.push((
            confd_fleet::keys::key_for(config, Some(node), brick),
            FleetLayer::Node,
        ));
    }
    let mut texts = Vec::new();
    for (key, layer) in keys {
        if let Some((replaced, text)) = replace
            && replaced == key
        {
            texts.push(FleetText {
                key: EtcdKey {
                    key,
                    revision: 0,
                    layer,
                },
                text: text.to_owned(),
            });
            continue;
        }
        let (_, entry) = client
            .get(&key)
            .map_err(|e| Failure::Config(e.to_string()))?;
        if let Some(entry) = entry {
            let text = String::from_utf8(entry.value).map_err(|_| {
                Failure::Config(format!(
                    "etcd key `{key}`@{} is not a brick's configuration: it is not UTF-8 text",
                    entry.mod_revision
                ))
            })?;
            texts.push(FleetText {
                key: EtcdKey {
                    key,
                    revision: entry.mod_revision,
                    layer,
                },
                text,
            });
        }
    }
    Ok(texts)
}

/// The process's fleet source as a file's validation asks it: never
/// strict about etcd's answer (a host file is judged by its text, and an
/// unreachable fleet neither blocks nor excuses an edit; the cached layer
/// stands in), strict or not about everything else as the command is.
pub(crate) fn lenient_fleet() -> Option<Arc<dyn FleetSource>> {
    #[derive(Debug)]
    struct Lenient(&'static Arc<dyn FleetSource>);
    impl FleetSource for Lenient {
        fn layers(&self, local: &Loader, brick: &BrickName) -> Result<FleetLayers, confd::Error> {
            self.0.layers(&local.clone().strict(false), brick)
        }
    }
    confd::fleet::installed().map(|source| Arc::new(Lenient(source)) as Arc<dyn FleetSource>)
}

/// Loads `brick` from the profile defaults and `texts` alone (no host
/// file, no variable, no `--set`): what the fleet says, judged by the
/// brick's schema as a host would judge it.
fn load_fleet_only(
    global: &Global,
    brick: &BrickName,
    texts: Vec<FleetText>,
) -> Result<confd::BrickConfig, confd::Error> {
    let empty = tempfile::tempdir().map_err(|e| confd::Error::Io {
        path: std::env::temp_dir(),
        error: e,
    })?;
    let mut loader = Loader::new()
        .state_dir(empty.path())
        .env(std::iter::empty::<(String, String)>())
        .strict(global.strict)
        .cache(false)
        .fleet(Arc::new(Fixed(texts)));
    if let Some(profile) = global.profile {
        loader = loader.with_profile(profile);
    }
    loader.load(brick.as_str())
}

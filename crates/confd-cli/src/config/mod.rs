//! `nexus config …`: seed, inspect and change conf.d files.

mod init;
mod read;

use std::str::FromStr;

use clap::Subcommand;
use confd::{BrickName, KeyPath};

use crate::{Failure, Global};

/// The `config` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum ConfigCommand {
    /// Seed $STATE/etc/conf.d with the shipped defaults (never overwrites a file)
    #[command(after_help = "Example:\n  nexus --state-dir /tmp/demo config init")]
    Init,
    /// Print a brick's effective configuration as TOML
    #[command(after_help = "Examples:\n  \
        nexus config show mounts\n  \
        nexus config show cache --origin\n  \
        nexus config show database --show-secrets --format json")]
    Show {
        /// The brick, e.g. `mounts`
        #[arg(value_parser = parse_brick)]
        brick: BrickName,
        /// Follow each value with the file:line:col, variable or flag it came from
        #[arg(long)]
        origin: bool,
        /// Print secret values (e.g. `database.url`) instead of `<redacted>`
        #[arg(long)]
        show_secrets: bool,
    },
    /// Print one value as TOML writes it (`true`, `20`, `"auto"`)
    #[command(after_help = "Examples:\n  \
        nexus config get mounts.auto_sync\n  \
        nexus config get cache.backend --show-origin   # ORIGIN<TAB>VALUE, like git config")]
    Get {
        /// `BRICK.key`, e.g. `cache.backend`
        target: BrickKey,
        /// Print `ORIGIN<TAB>VALUE`
        #[arg(long)]
        show_origin: bool,
        /// Print a secret value instead of `<redacted>`
        #[arg(long)]
        show_secrets: bool,
    },
}

/// Runs a `config` subcommand.
pub(crate) fn run(global: &Global, command: ConfigCommand) -> Result<(), Failure> {
    match command {
        ConfigCommand::Init => init::init(global),
        ConfigCommand::Show {
            brick,
            origin,
            show_secrets,
        } => read::show(global, &brick, origin, show_secrets),
        ConfigCommand::Get {
            target,
            show_origin,
            show_secrets,
        } => read::get(global, &target, show_origin, show_secrets),
    }
}

fn parse_brick(text: &str) -> Result<BrickName, String> {
    BrickName::new(text).map_err(|e| e.to_string())
}

/// A `BRICK.key.path` argument.
#[derive(Clone, Debug)]
pub(crate) struct BrickKey {
    pub(crate) brick: BrickName,
    pub(crate) key: KeyPath,
}

impl FromStr for BrickKey {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (brick, key) = text.split_once('.').ok_or_else(|| {
            format!("`{text}` names no key: expected BRICK.key, e.g. `mounts.auto_sync`")
        })?;
        Ok(BrickKey {
            brick: parse_brick(brick)?,
            key: key
                .parse()
                .map_err(|e: confd::InvalidKeyPath| e.to_string())?,
        })
    }
}

impl std::fmt::Display for BrickKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.brick, self.key)
    }
}

/// Loads a brick for a command, printing its warnings on stderr.
pub(crate) fn load(global: &Global, brick: &BrickName) -> Result<confd::BrickConfig, Failure> {
    let config = global.loader().load(brick.as_str())?;
    for warning in config.warnings() {
        crate::output::warning(&warning.to_string());
    }
    Ok(config)
}

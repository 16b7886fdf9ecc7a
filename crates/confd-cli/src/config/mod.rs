//! `nexus config …`: seed, inspect and change conf.d files.

mod check;
mod docs;
mod init;
mod locate;
mod read;
pub(crate) mod schema;
mod snapshot;
mod watch;
pub(crate) mod write;

use std::str::FromStr;

use clap::Subcommand;
use confd::{BrickName, KeyPath};

use crate::{Failure, Global};

/// The `config` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum ConfigCommand {
    /// Seed $STATE/etc/conf.d with the shipped defaults, and upgrade the ones you never edited
    #[command(
        after_help = "An edited file is never replaced: when its default changes, the new one \
        is written beside it as NAME.new. A file you deleted is not recreated.\n\n\
        Examples:\n  \
        nexus --state-dir /tmp/demo config init\n  \
        nexus config init --dry-run\n  \
        nexus config init --force   # yours kept as NAME.old"
    )]
    Init {
        /// Install the shipped default over edited files (keeping yours as
        /// NAME.old) and recreate deleted ones
        #[arg(long)]
        force: bool,
        /// Print what would be done and change nothing
        #[arg(long)]
        dry_run: bool,
    },
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
        target: KeyArg,
        /// Print `ORIGIN<TAB>VALUE`
        #[arg(long)]
        show_origin: bool,
        /// Print a secret value instead of `<redacted>`
        #[arg(long)]
        show_secrets: bool,
    },
    /// Show every layer that sets a key, lowest first, and which one wins
    #[command(after_help = "Example:\n  \
        NEXUS_AUTO_SYNC_MOUNTS=1 nexus config explain mounts.auto_sync")]
    Explain {
        /// `BRICK.key`, e.g. `mounts.auto_sync`
        target: KeyArg,
        /// Print secret values instead of `<redacted>`
        #[arg(long)]
        show_secrets: bool,
    },
    /// Set a key in the brick's file, keeping comments and formatting
    #[command(after_help = "Examples:\n  \
        nexus config set mounts.auto_sync true\n  \
        nexus config set cache.backend dragonfly --drop-in 50-local   # writes conf.d/cache.d/50-local.toml\n  \
        printf %s \"$KEY\" | nexus config set llm.api_key --stdin   # keeps a secret out of the process list\n\n\
        The whole result is validated first; on any error nothing is written.")]
    Set {
        /// `BRICK.key`, e.g. `cache.backend`
        target: KeyArg,
        /// The value, parsed by the key's type (`true`, `300`, `dragonfly`)
        #[arg(allow_hyphen_values = true, required_unless_present = "stdin")]
        value: Option<String>,
        /// Read the value from standard input (one trailing newline dropped):
        /// a secret given as an argument is visible to every user in the
        /// process list
        #[arg(long, conflicts_with = "value")]
        stdin: bool,
        /// Write to `conf.d/BRICK.d/NAME.toml` instead of the main file
        #[arg(long, value_name = "NAME")]
        drop_in: Option<String>,
    },
    /// Edit a brick's file in $VISUAL/$EDITOR; validated before it replaces the file
    #[command(after_help = "Example:\n  EDITOR=nano nexus config edit cache")]
    Edit {
        /// The brick, e.g. `cache`
        #[arg(value_parser = parse_brick)]
        brick: BrickName,
    },
    /// Check bricks' files and report every problem (all bricks by default)
    #[command(after_help = "Examples:\n  \
        nexus config validate\n  \
        nexus config validate uploads cache --format json")]
    Validate {
        /// The bricks to check [default: every registered brick and every file in conf.d]
        #[arg(value_parser = parse_brick)]
        bricks: Vec<BrickName>,
    },
    /// Check the state dir, permissions, environment, leftovers and every brick
    #[command(after_help = "Example:\n  nexus config doctor || echo 'something needs fixing'")]
    Doctor,
    /// Show how a brick's file differs from the shipped default (unified diff)
    #[command(after_help = "Example:\n  nexus config diff cache")]
    Diff {
        /// The brick, e.g. `cache`
        #[arg(value_parser = parse_brick)]
        brick: BrickName,
    },
    /// Print a brick's JSON Schema (draft 2020-12, with confd's x-confd-* keywords)
    #[command(
        after_help = "The schema is JSON whatever --format says; its `default`s are the \
        active profile's. `nexus config init` installs every brick's at \
        $STATE/share/confd/schema/NAME.json, where editors (taplo) and this tool find it.\n\n\
        Examples:\n  \
        nexus config schema cache\n  \
        nexus config schema database --profile cloud | jq '.properties.pool_size'"
    )]
    Schema {
        /// The brick, e.g. `cache`
        #[arg(value_parser = parse_brick)]
        brick: BrickName,
    },
    /// Print where the state dir, etc, conf.d and the VFS metastore are, and why
    #[command(after_help = "Example:\n  NEXUS_STATE_DIR=/srv/nexus nexus config path")]
    Path,
    /// Print a Markdown reference of bricks and their keys, from their declarations
    #[command(
        after_help = "Each key with its documentation, type, default (and the \
        defaults of profiles that differ), environment variables, secret mark and whether \
        a change applies live (reload) or needs a restart. --format json gives the same facts.\n\n\
        Examples:\n  \
        nexus config docs > CONFIG.md\n  \
        nexus config docs cache database\n  \
        nexus config docs --table   # one row per brick, as in the README"
    )]
    Docs {
        /// The bricks [default: every registered brick]
        #[arg(value_parser = parse_brick)]
        bricks: Vec<BrickName>,
        /// One Markdown table, a row per brick, instead of the full reference
        #[arg(long)]
        table: bool,
    },
    /// Print a line each time bricks' effective configuration changes, until interrupted
    #[command(
        after_help = "Each line is `reloaded` (the keys that changed, old -> new, and \
        where the new value comes from; `(live)` when the brick applies them without a \
        restart, as it does for keys it declares `reload`, `(restart)` otherwise) or \
        `invalid` (the files do not load; the last good configuration stays in force). Edits \
        that change no value, such as comments or a key moved to a drop-in, print nothing. \
        JSON lines carry `\"restart\": true|false`.\n\n\
        Examples:\n  \
        nexus config watch mounts cache\n  \
        nexus config watch database --format json | jq .changes"
    )]
    Watch {
        /// The bricks, e.g. `mounts cache`
        #[arg(value_parser = parse_brick, required = true)]
        bricks: Vec<BrickName>,
        /// Print secret values instead of `<redacted>`
        #[arg(long)]
        show_secrets: bool,
    },
    /// Write every brick's effective configuration to one file a sandbox or VM loads
    #[command(
        after_help = "The guest loads it with NEXUS_CONFIG_SNAPSHOT=FILE in place of $STATE/etc: \
        profile defaults < snapshot < the guest's environment < --set. The file is 0600 when it \
        holds a secret value, 0644 otherwise, and byte-identical for identical inputs (no time \
        unless SOURCE_DATE_EPOCH is set).\n\n\
        Examples:\n  \
        nexus config snapshot --output /srv/vm/confd.toml\n  \
        nexus config snapshot --no-secrets --format cpio --output confd.cpio   # cat >> initrd\n  \
        nexus config snapshot --check /srv/vm/confd.toml"
    )]
    Snapshot {
        /// Bricks to include [default: every registered brick]
        #[arg(value_parser = parse_brick)]
        bricks: Vec<BrickName>,
        /// The file to write, atomically
        #[arg(long, short, value_name = "FILE", required_unless_present = "check")]
        output: Option<std::path::PathBuf>,
        /// Leave every secret out and list the withheld keys, for the guest to get another way
        #[arg(long)]
        no_secrets: bool,
        /// Check a snapshot against the bricks linked here and this host's current configuration
        #[arg(long, value_name = "FILE", conflicts_with_all = ["output", "no_secrets", "bricks"])]
        check: Option<std::path::PathBuf>,
    },
}

/// Runs a `config` subcommand.
pub(crate) fn run(global: &Global, command: ConfigCommand) -> Result<(), Failure> {
    // A guest reads a snapshot in place of conf.d: what would change or
    // compare conf.d changes nothing it reads, so it is refused.
    if let Some(file) = global.loader().resolved_snapshot()? {
        match &command {
            ConfigCommand::Init { .. }
            | ConfigCommand::Set { .. }
            | ConfigCommand::Edit { .. }
            | ConfigCommand::Diff { .. } => {
                return Err(Failure::Config(format!(
                    "this process reads its configuration from the snapshot `{}` \
                     (NEXUS_CONFIG_SNAPSHOT), not from conf.d: change it on the host and take a \
                     new snapshot, or override a key here with its environment variable or `--set`",
                    crate::output::shown_path(&file)
                )));
            }
            ConfigCommand::Doctor => return snapshot::doctor(global, &file),
            _ => {}
        }
    }
    // `doctor` reports a broken state dir among its findings, and `path`
    // still says where things are, with a warning.
    match command {
        // Documentation comes from the linked bricks alone: no state dir.
        ConfigCommand::Doctor | ConfigCommand::Docs { .. } => {}
        ConfigCommand::Path => {
            if let Ok(state) = global.loader().resolved_state_dir()
                && let Err(problem) = state.check_layout()
            {
                crate::output::warning(&problem.to_string());
            }
        }
        _ => drop(global.state_dir()?),
    }
    match command {
        ConfigCommand::Init { force, dry_run } => init::init(global, force, dry_run),
        ConfigCommand::Show {
            brick,
            origin,
            show_secrets,
        } => read::show(global, &brick, origin, show_secrets),
        ConfigCommand::Get {
            target,
            show_origin,
            show_secrets,
        } => read::get(global, &target.parsed()?, show_origin, show_secrets),
        ConfigCommand::Explain {
            target,
            show_secrets,
        } => read::explain(global, &target.parsed()?, show_secrets),
        ConfigCommand::Set {
            target,
            value,
            stdin,
            drop_in,
        } => {
            let target = target.parsed()?;
            let value = match value {
                Some(value) if !stdin => value,
                _ => write::value_from_stdin()?,
            };
            write::set(global, &target, &value, drop_in.as_deref())
        }
        ConfigCommand::Edit { brick } => write::edit(global, &brick),
        ConfigCommand::Validate { bricks } => check::validate(global, &bricks),
        ConfigCommand::Doctor => check::doctor(global),
        ConfigCommand::Diff { brick } => locate::diff(global, &brick),
        ConfigCommand::Path => locate::path(global),
        ConfigCommand::Docs { bricks, table } => docs::docs(global, &bricks, table),
        ConfigCommand::Schema { brick } => schema::schema(global, &brick),
        ConfigCommand::Watch {
            bricks,
            show_secrets,
        } => watch::watch(global, &bricks, show_secrets),
        ConfigCommand::Snapshot {
            bricks,
            output,
            no_secrets,
            check,
        } => match (check, output) {
            (Some(file), _) => snapshot::check(global, &file),
            (None, Some(output)) => snapshot::write(global, &bricks, &output, no_secrets),
            (None, None) => Err(Failure::Usage(
                "`config snapshot` needs `--output FILE` or `--check FILE`".to_owned(),
            )),
        },
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

    /// The error quotes the key as far as it reads as one, never what may be
    /// a value glued to it (`llm.api_key=sk-…`, `llm.api_key:sk-…`).
    fn from_str(text: &str) -> Result<Self, String> {
        let fail = |reason: String| {
            let hint = if text.contains('=') {
                " (`config set` takes the value as an argument of its own: `nexus config set BRICK.key VALUE`)"
            } else {
                ""
            };
            format!(
                "invalid key `{}`: {reason}{hint}",
                confd::secret::quotable_key(text)
            )
        };
        let (brick, key) = text
            .split_once('.')
            .ok_or_else(|| fail("expected BRICK.key, e.g. `mounts.auto_sync`".to_owned()))?;
        Ok(BrickKey {
            brick: BrickName::new(brick)
                .map_err(|e| fail(format!("invalid brick name: {}", e.reason)))?,
            key: key.parse().map_err(|e: confd::key_path::InvalidKeyPath| {
                fail(format!("invalid key path: {}", e.reason))
            })?,
        })
    }
}

/// A `BRICK.key` argument, or why it is not one. A bad one is not clap's
/// error: clap's message quotes the whole argument, which may hold a value
/// (`llm.api_key=sk-…`); [`KeyArg::parsed`] reports it quoting the key alone.
#[derive(Clone, Debug)]
pub(crate) struct KeyArg(Result<BrickKey, String>);

impl FromStr for KeyArg {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(KeyArg(text.parse()))
    }
}

impl KeyArg {
    /// The key, or a usage error.
    pub(crate) fn parsed(self) -> Result<BrickKey, Failure> {
        self.0.map_err(Failure::Usage)
    }
}

/// The key as messages quote it. What follows a declared secret key is a
/// value typed after a `.` instead of an `=` (`llm.api_key.sk-…`), so it is
/// never shown: the key stops at the secret, and `…` says there was more.
impl std::fmt::Display for BrickKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&confd::secret::shown_brick_key(
            self.brick.as_str(),
            &self.key,
        ))
    }
}

/// Says that a command waits for another one holding a lock on `what`.
pub(crate) fn say_waiting(what: &std::path::Path) {
    eprintln!(
        "waiting for another command writing `{}` to finish…",
        what.display()
    );
}

/// Loads a brick for a command, printing its warnings on stderr.
pub(crate) fn load(global: &Global, brick: &BrickName) -> Result<confd::BrickConfig, Failure> {
    let config = global.loader().load(brick.as_str())?;
    for warning in config.warnings() {
        crate::output::warning(&warning.to_string());
    }
    // An unregistered brick with nothing set is legal but is usually a typo
    // (`mount` for `mounts`): say so rather than print an empty config.
    let known = schema::lookup(brick.as_str()).is_some();
    if !known && let Some(problem) = schema::installed_problem(global, brick) {
        crate::output::warning(&problem);
    }
    if !known && config.table().is_empty() {
        let registered: Vec<String> = confd::bricks::registered()
            .iter()
            .map(|s| s.name().to_owned())
            .collect();
        let hint = confd::loader::suggest(brick.as_str(), &registered)
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        crate::output::warning(&format!(
            "`{brick}` is not a registered brick and nothing configures it{hint}"
        ));
    }
    Ok(config)
}

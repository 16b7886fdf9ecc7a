//! `nexus`: the operator's command for conf.d configuration and the VFS, as
//! a library, so that a product builds its own `nexus` with its own bricks
//! linked (DESIGN.md §9):
//!
//! ```no_run
//! use confd_bricks as _; // the shipped bricks, if the product wants them
//! // use my_bricks as _;  // and its own
//! fn main() {
//!     confd_cli::main()
//! }
//! ```
//!
//! Every command knows every brick linked into the binary, through
//! `confd::bricks::registered()`.

// This crate's own print macros, shadowing the standard ones in every module
// below: all output goes through `output`, which escapes control characters
// from user input and does not panic on a closed pipe.
macro_rules! print {
    ($($arg:tt)*) => { $crate::output::stdout(&::std::format!($($arg)*)) };
}
macro_rules! println {
    () => { $crate::output::stdout("\n") };
    ($($arg:tt)*) => {
        $crate::output::stdout(&::std::format!("{}\n", ::std::format_args!($($arg)*)))
    };
}
macro_rules! eprint {
    ($($arg:tt)*) => { $crate::output::stderr(&::std::format!($($arg)*)) };
}
macro_rules! eprintln {
    () => { $crate::output::stderr("\n") };
    ($($arg:tt)*) => {
        $crate::output::stderr(&::std::format!("{}\n", ::std::format_args!($($arg)*)))
    };
}

// The unit tests run with the shipped bricks linked, as the stock binary does.
#[cfg(test)]
use confd_bricks as _;

mod command_line;
mod config;
mod fleet_cmd;
mod output;
mod vfs_cmd;

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

/// Configuration of nexus bricks, and the /etc mount of its virtual filesystem.
#[derive(Parser, Debug)]
#[command(name = "nexus", version, propagate_version = true)]
#[command(after_help = "Examples:\n  \
    nexus config init\n  \
    nexus config show mounts --origin\n  \
    nexus --state-dir /srv/nexus config get cache.backend --show-origin")]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Flags accepted before or after any subcommand.
#[derive(Args, Debug, Clone)]
struct Global {
    /// State dir [default: $NEXUS_STATE_DIR, else ~/.nexus]
    #[arg(long, global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Profile whose defaults apply: minimal, embedded, lite, full, cloud
    /// [default: $NEXUS_PROFILE, else full]
    #[arg(long, global = true, value_name = "PROFILE", value_parser = parse_profile)]
    profile: Option<confd::Profile>,
    /// Override a key for this run (repeatable); wins over every other layer
    #[arg(long = "set", global = true, value_name = "BRICK.KEY=VALUE", value_parser = parse_override)]
    overrides: Vec<SetArg>,
    /// Output format (toml and cpio: `config snapshot` only)
    #[arg(long = "format", global = true, value_enum, default_value_t = FormatArg::Text)]
    format_arg: FormatArg,
    /// The output format of every command but `config snapshot`, which
    /// reads `format_arg`; set from it once the command line is parsed.
    #[arg(skip = Format::Text)]
    format: Format,
    /// Treat unknown keys in registered bricks as errors, not warnings
    #[arg(long, global = true)]
    strict: bool,
}

/// The `--format` values.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum FormatArg {
    /// For people.
    Text,
    /// For programs: one JSON document (or one per line for streams).
    Json,
    /// A configuration snapshot as TOML (`config snapshot`'s default).
    Toml,
    /// A configuration snapshot in a newc cpio archive, to append to an initrd.
    Cpio,
}

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// For people.
    Text,
    /// For programs: one JSON document (or one per line for streams).
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Inspect and change brick configuration in $STATE/etc/conf.d
    #[command(subcommand)]
    #[command(after_help = "Examples:\n  nexus config init\n  nexus config show mounts --origin")]
    Config(config::ConfigCommand),
    /// Look at the VFS with $STATE/etc mounted read-only at /etc (and /tmp in memory)
    #[command(
        after_help = "Examples:\n  nexus vfs ls /etc/conf.d\n  nexus vfs cat /etc/conf.d/mounts"
    )]
    Vfs(vfs_cmd::VfsCommand),
    /// Read and write the fleet's configuration in etcd (conf.d/fleet names the fleet)
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  nexus fleet set cache.backend postgres\n  nexus fleet status"
    )]
    Fleet(fleet_cmd::FleetCommand),
    /// Print a shell completion script
    #[command(after_help = "Example:\n  nexus completions bash > /etc/bash_completion.d/nexus")]
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), generated from this command's definition
    #[command(after_help = "Example:\n  nexus man > nexus.1 && man ./nexus.1")]
    Man,
}

fn parse_profile(text: &str) -> Result<confd::Profile, String> {
    text.parse()
        .map_err(|e: confd::profile::UnknownProfile| e.to_string())
}

/// A `--set` argument, or why it is not one. A bad one is not clap's error:
/// clap's message quotes the whole argument, and the value may be a secret;
/// `main` reports it once, quoting the key alone.
#[derive(Clone, Debug)]
struct SetArg(Result<confd::loader::Override, String>);

fn parse_override(text: &str) -> Result<SetArg, std::convert::Infallible> {
    Ok(SetArg(
        text.parse()
            .map_err(|e: confd::error::OverrideError| e.to_string()),
    ))
}

impl Global {
    /// A loader that sees exactly what this invocation was given, passed
    /// as clap parsed it (profile and overrides are not parsed again).
    fn loader(&self) -> confd::Loader {
        let mut loader = confd::Loader::new()
            .strict(self.strict)
            .overrides(self.overrides.iter().filter_map(|o| o.0.clone().ok()));
        if let Some(dir) = &self.state_dir {
            loader = loader.state_dir(dir);
        }
        if let Some(profile) = self.profile {
            loader = loader.with_profile(profile);
        }
        loader
    }

    /// The state dir, refused up front when it (or its `etc` or `conf.d`)
    /// is not a directory, so each command says so once.
    fn state_dir(&self) -> Result<confd::StateDir, Failure> {
        let state = self.loader().resolved_state_dir()?;
        state.check_layout().map_err(confd::Error::from)?;
        Ok(state)
    }
}

/// What a command ended in: the exit status and, for failures, why.
pub(crate) enum Failure {
    /// A problem in files or the environment: exit 1.
    Config(String),
    /// A problem in the command line: exit 2.
    Usage(String),
    /// Problems already reported (by `validate`, `doctor`): exit 1.
    Silent,
    /// Problems already reported that are all in the command line (a bad
    /// `--set` that `validate` found): exit 2, as `show` would give.
    SilentUsage,
}

impl From<confd::Error> for Failure {
    fn from(e: confd::Error) -> Self {
        if e.is_usage() {
            Failure::Usage(e.to_string())
        } else {
            Failure::Config(e.to_string())
        }
    }
}

/// Runs this process's command line, then exits with its status: 0 on
/// success, 1 when the command failed, 2 for a usage error.
pub fn main() {
    // Every write is flushed as it is made (see `output`): nothing is lost
    // by exiting here.
    let status = run();
    std::process::exit(i32::from(status));
}

fn run() -> u8 {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    // Before clap: parsing `--set` and clap's error messages already need to
    // know the secret keys of bricks known only by their installed schema.
    config::schema::use_installed(&args);
    let mut cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return output::clap_error(e, &args),
    };
    cli.global.format = match cli.global.format_arg {
        FormatArg::Json => Format::Json,
        FormatArg::Text | FormatArg::Toml | FormatArg::Cpio => Format::Text,
    };
    let takes_archive_formats = matches!(
        cli.command,
        Command::Config(config::ConfigCommand::Snapshot { .. })
    );
    if !takes_archive_formats && matches!(cli.global.format_arg, FormatArg::Toml | FormatArg::Cpio)
    {
        output::error(
            "`--format toml` and `--format cpio` are for `nexus config snapshot`; other commands print `text` or `json`",
        );
        return 2;
    }
    let bad_overrides: Vec<&String> = cli
        .global
        .overrides
        .iter()
        .filter_map(|o| o.0.as_ref().err())
        .collect();
    if !bad_overrides.is_empty() {
        for message in bad_overrides {
            output::error(message);
        }
        return 2;
    }
    // Every load of this process stacks the fleet's layers (DESIGN.md §10).
    let _ = confd_fleet::install();
    let result = match cli.command {
        Command::Config(cmd) => config::run(&cli.global, cmd),
        Command::Fleet(cmd) => fleet_cmd::run(&cli.global, cmd),
        Command::Vfs(cmd) => cli
            .global
            .state_dir()
            .and_then(|state| vfs_cmd::run(state.root(), cmd, cli.global.format == Format::Json)),
        // Generated into memory first: clap_complete panics on a closed pipe.
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "nexus", &mut script);
            output::stdout_bytes(&script);
            Ok(())
        }
        Command::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .map_err(|e| Failure::Config(format!("cannot render the manual page: {e}")))
                .map(|()| output::stdout_bytes(&page))
        }
    };
    // The command's own failure first; a failed write only matters after a success.
    if result.is_ok()
        && let Some(e) = output::stdout_failure()
    {
        output::error(&format!("cannot write to standard output: {e}"));
        return 1;
    }
    match result {
        Ok(()) => 0,
        Err(Failure::Config(message)) => {
            output::error(&message);
            1
        }
        Err(Failure::Usage(message)) => {
            output::error(&message);
            2
        }
        Err(Failure::Silent) => 1,
        Err(Failure::SilentUsage) => 2,
    }
}

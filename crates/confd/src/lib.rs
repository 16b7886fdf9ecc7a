//! Linux-style `/etc/conf.d` configuration for the bricks of a modular system.
//!
//! Each brick `NAME` reads, lowest priority first:
//!
//! 1. its built-in defaults for the active profile,
//! 2. `$NEXUS_STATE_DIR/etc/conf.d/NAME` (TOML),
//! 3. `$NEXUS_STATE_DIR/etc/conf.d/NAME.d/*.toml`, byte-wise by file name,
//! 4. its deprecated environment variables,
//! 5. `--set NAME.key=value` overrides,
//!
//! and every value remembers where it came from. Loading is plain file I/O
//! with no global set-up, so it works before anything else in the system.
//!
//! A brick declares its configuration once (DESIGN.md §9):
//!
//! ```
//! /// Outgoing mail relay.
//! #[derive(serde::Serialize, serde::Deserialize, confd::Brick)]
//! #[brick(name = "smtp")]
//! struct Smtp {
//!     /// Relay host name.
//!     #[brick(default = "localhost", env = "SMTP_HOST")]
//!     host: String,
//!     /// Relay port.
//!     #[brick(default = 25, profile(cloud = 587))]
//!     port: u16,
//!     /// Password for the relay.
//!     #[brick(default = "")]
//!     password: confd::Secret,
//! }
//!
//! # let dir = tempfile::tempdir().unwrap();
//! # let state = dir.path();
//! std::fs::create_dir_all(state.join("etc/conf.d"))?;
//! std::fs::write(state.join("etc/conf.d/smtp"), "host = \"relay.example\"\n")?;
//!
//! let smtp = confd::Loader::new().state_dir(state).load("smtp")?;
//! assert_eq!(smtp.get::<String>("host")?.as_deref(), Some("relay.example"));
//! assert!(smtp.origin("host").unwrap().to_string().ends_with("conf.d/smtp:1:8"));
//! assert_eq!(smtp.origin("port").unwrap().to_string(), "profile 'full' default");
//!
//! // Typed, with the brick's own rules checked:
//! let typed: Smtp = confd::Loader::new().state_dir(state).profile("cloud").load_typed()?;
//! assert_eq!((typed.host.as_str(), typed.port), ("relay.example", 587));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

// The derive's generated code names `::confd`, also inside this crate's tests.
extern crate self as confd;

mod atomic;
mod brick_name;
pub mod bricks;
mod cache;
mod config;
mod de;
mod env;
mod error;
mod file;
pub mod fleet;
mod hash;
mod install;
mod key_path;
mod layer;
mod loader;
mod origin;
mod profile;
mod secret;
mod seed;
mod shipped;
mod shown;
pub mod snapshot;
mod state_dir;
mod value;
mod watch;

pub use atomic::{WriteError, replace_file, write_output_file};
pub use brick_name::{BrickName, InvalidBrickName, MAX_BRICK_NAME_LEN};
#[doc(hidden)]
pub use bricks::__private;
pub use bricks::{Brick, Section, Violation};
/// `#[derive(confd::Brick)]` and `#[derive(confd::Section)]`: see DESIGN.md §9 and the README.
pub use confd_derive::{Brick, Section};
pub use config::{BrickConfig, Warning};
pub use error::Error;
pub use file::{MAX_FILE_SIZE, is_drop_in_name, read_config_file};
pub use hash::{ConfigHashes, EffectiveHash, InvalidHash};
pub use install::{InstallError, install, install_schemas};
pub use key_path::{InvalidKeyPath, KeyPath, MAX_KEY_PATH_LEN, MAX_KEY_PATH_SEGMENTS};
pub use layer::{Layer, MAX_DEPTH, OriginNode, OriginTable, Snippets, value_at};
pub use loader::{Loader, Override, suggest};
pub use origin::{EtcdKey, FileKind, FleetLayer, Origin, Precedence};
pub use profile::{Profile, UnknownProfile};
pub use secret::{
    REDACTED, RedactedText, Secret, quotable_key, redact, redact_file_text, shown_brick_key,
};
pub use seed::{
    DIR_MODE, FILE_MODE, Leftover, SECRET_FILE_MODE, SeedAction, SeedError, SeedReport, SeedStep,
    Seeder, StateLock, create_dirs, lock_state, seed, try_lock_state,
};
pub use shipped::{
    Shipped, ShippedFile, content_hash, default_file, holds_secrets, shipped_file, shipped_files,
};
pub use shown::{one_line, quoted_input, terminal_safe};
pub use state_dir::{StateDir, StateDirSource};
pub use value::{BOOL_WORDS, leaves, parse_bool, parse_typed};
pub use watch::{
    Action, BrickSetWatch, BrickWatch, Change, ConfigReader, DEFAULT_DEBOUNCE, Invalid,
    POLL_INTERVAL, Reloaded, Setting, WatchError, WatchEvent, WatchWarning, Watcher, plan,
    shown_hash,
};

/// The effective configuration of brick `name`, from `$NEXUS_STATE_DIR`
/// (default `~/.nexus`), the profile in `$NEXUS_PROFILE` (default `full`) and
/// the process environment; no command-line layer.
pub fn get_brick_config(name: &str) -> Result<BrickConfig, Error> {
    Loader::new().load(name)
}

/// The typed configuration of brick `T`, as [`get_brick_config`] finds it.
pub fn load<T: Brick>() -> Result<T, Error> {
    Loader::new().load_typed()
}

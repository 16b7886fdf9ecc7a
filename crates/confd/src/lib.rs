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

// The public modules, one job each (ARCHITECTURE.md). The root re-exports
// only what a brick and its service use every day; everything else is
// reached through its module, e.g. `confd::seed::Seeder`.
pub mod atomic;
pub mod brick_name;
pub mod bricks;
mod cache;
pub mod config;
mod de;
mod env;
pub mod error;
pub mod file;
pub mod fleet;
pub mod hash;
pub mod install;
pub mod key_path;
pub mod layer;
pub mod loader;
pub mod origin;
pub mod profile;
pub mod secret;
pub mod seed;
pub mod shipped;
pub mod shown;
pub mod snapshot;
pub mod state_dir;
pub mod value;
pub mod watch;

pub use brick_name::BrickName;
pub use bricks::{Brick, Section, Violation};
/// `#[derive(confd::Brick)]` and `#[derive(confd::Section)]`: see DESIGN.md §9 and the README.
pub use confd_derive::{Brick, Section};
pub use config::{BrickConfig, Warning};
pub use error::Error;
pub use hash::EffectiveHash;
pub use install::install;
pub use key_path::KeyPath;
pub use loader::Loader;
pub use origin::{Origin, Precedence};
pub use profile::Profile;
pub use secret::Secret;
pub use state_dir::StateDir;

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

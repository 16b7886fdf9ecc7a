//! The typed API: the seven shipped bricks and a brick defined by a user.

use confd::{Brick, Profile};
use confd_bricks::{
    CacheBackend, CacheConfig, DatabaseConfig, LlmConfig, LlmProvider, MountsConfig, UploadsConfig,
};
use serde::{Deserialize, Serialize};

use crate::support::State;

#[test]
fn shipped_bricks_load_typed() -> Result<(), confd::Error> {
    let state = State::new();
    state.write("cache", "backend = \"dragonfly\"\n");
    state.write("llm", "provider = \"openrouter\"\napi_key = \"sk-test\"\n");
    let loader = state.loader();
    let cache: CacheConfig = loader.load_typed()?;
    assert_eq!(cache.backend, CacheBackend::Dragonfly);
    let llm: LlmConfig = loader.load_typed()?;
    assert_eq!(llm.provider, LlmProvider::Openrouter);
    assert_eq!(llm.api_key.expose(), "sk-test");
    assert!(!format!("{llm:?}").contains("sk-test"));
    let mounts: MountsConfig = loader.load_typed()?;
    assert!(!mounts.auto_sync);
    let db: DatabaseConfig = loader.clone().profile("embedded").load_typed()?;
    assert_eq!(db.pool_size, 3);
    let uploads: UploadsConfig = loader.load_typed()?;
    assert_eq!(uploads, UploadsConfig::defaults(Profile::Full));
    Ok(())
}

#[test]
fn an_unknown_enum_variant_names_the_key_and_origin() {
    let state = State::new();
    let path = state.write("cache", "backend = \"redis\"\n");
    let err = state.loader().load("cache").unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "invalid value for `cache.backend` at `{}:1:11`",
            path.display()
        )),
        "{text}"
    );
    assert!(text.contains("unknown variant `redis`"), "{text}");
    assert!(text.contains("`auto`, `dragonfly`, `postgres`"), "{text}");
}

/// A brick defined outside confd.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Greeter {
    greeting: String,
    times: u8,
}

impl Brick for Greeter {
    const NAME: &'static str = "greeter";
    const ENV_ALIASES: &'static [confd::bricks::EnvAlias] =
        &[confd::bricks::EnvAlias::new(&["OLD_GREETING"], "greeting")];

    fn defaults(_: Profile) -> Self {
        Greeter {
            greeting: "hello".into(),
            times: 1,
        }
    }

    fn validate(&self) -> Result<(), confd::bricks::Violation> {
        if self.times == 0 {
            return Err(confd::bricks::Violation {
                message: "times must be at least 1".into(),
                keys: vec!["times"],
            });
        }
        Ok(())
    }
}

#[test]
fn user_bricks_get_defaults_env_aliases_and_rules() -> Result<(), confd::Error> {
    let state = State::new();
    let greeter: Greeter = state.loader().env([("OLD_GREETING", "hi")]).load_typed()?;
    assert_eq!(
        greeter,
        Greeter {
            greeting: "hi".into(),
            times: 1
        }
    );
    let path = state.write("greeter", "times = 0\n");
    let err = state.loader().load_typed::<Greeter>().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "invalid `greeter` configuration: times must be at least 1\n  `greeter.times` at `{}:1:9`",
            path.display()
        )
    );
    Ok(())
}

/// What the derive accepts beyond the shipped bricks: renamed keys, defaults
/// that serde converts (an enum from a string, a list, no value for an
/// `Option`), nested tables with their own marks, per-profile values.
mod derived {
    use serde::{Deserialize, Serialize};

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "kebab-case")]
    pub enum Mode {
        Fast,
        VerySafe,
    }

    /// A relay with everything.
    #[derive(Debug, PartialEq, Serialize, Deserialize, confd::Brick)]
    #[brick(name = "derived-relay")]
    pub struct Relay {
        /// How to run.
        #[brick(default = "very-safe", profile(minimal = "fast"))]
        pub mode: Mode,
        /// Where to send.
        #[brick(default = ["a.example", "b.example"])]
        pub hosts: Vec<String>,
        /// An optional limit.
        #[brick(default = None, env = "DERIVED_RELAY_LIMIT")]
        pub limit: Option<u32>,
        /// Spelt with a dash in the file.
        #[serde(rename = "retry-after")]
        #[brick(default = 5, reload)]
        pub retry_after: u64,
        /// Credentials.
        pub auth: Auth,
    }

    /// How to log in.
    #[derive(Debug, PartialEq, Serialize, Deserialize, confd::Section)]
    pub struct Auth {
        /// The user.
        #[brick(default = "relay")]
        pub user: String,
        /// Its password.
        #[brick(default = "", secret, env = "DERIVED_RELAY_PASSWORD")]
        pub password: String,
    }
}

#[test]
fn the_derive_declares_keys_converts_defaults_and_nests_tables() -> Result<(), confd::Error> {
    use derived::{Mode, Relay};
    let state = State::new();
    let full: Relay = state.loader().load_typed()?;
    assert_eq!(full.mode, Mode::VerySafe);
    assert_eq!(full.hosts, ["a.example", "b.example"]);
    assert_eq!((full.limit, full.retry_after), (None, 5));
    assert_eq!(full.auth.user, "relay");
    let minimal: Relay = state.loader().profile("minimal").load_typed()?;
    assert_eq!(minimal.mode, Mode::Fast);

    state.write("derived-relay", "retry-after = 9\n[auth]\nuser = \"me\"\n");
    let loader = state.loader().env([
        ("DERIVED_RELAY_LIMIT", "3"),
        ("DERIVED_RELAY_PASSWORD", "hunter2"),
    ]);
    let set: Relay = loader.load_typed()?;
    assert_eq!((set.limit, set.retry_after), (Some(3), 9));
    assert_eq!(
        (set.auth.user.as_str(), set.auth.password.as_str()),
        ("me", "hunter2")
    );
    // The nested secret is redacted like any other.
    let config = loader.load("derived-relay")?;
    let shown = config.redacted_table();
    assert_eq!(shown["auth"]["password"].as_str(), Some("<redacted>"));

    let schema = confd::bricks::lookup("derived-relay").expect("registered by the derive");
    let keys: Vec<(&str, bool, bool, bool)> = schema
        .keys()
        .iter()
        .map(|k| (k.path.as_str(), k.secret, k.reload, k.table))
        .collect();
    assert_eq!(
        keys,
        [
            ("mode", false, false, false),
            ("hosts", false, false, false),
            ("limit", false, false, false),
            ("retry-after", false, true, false),
            ("auth", false, false, true),
            ("auth.user", false, false, false),
            ("auth.password", true, false, false),
        ]
    );
    assert_eq!(schema.doc(), "A relay with everything.");
    let file = confd::default_file(schema);
    assert!(file.contains("\n#[auth]\n"), "{file}");
    assert!(
        file.contains("#hosts = [\"a.example\", \"b.example\"]"),
        "{file}"
    );
    assert!(file.contains("minimal \"fast\""), "{file}");
    assert!(file.contains("# Unset by default.\n#limit =\n"), "{file}");
    // A key without a default is still a key of the brick: not unknown.
    state.write("derived-relay", "limit = 7\n");
    let strict: Relay = state.loader().strict(true).load_typed()?;
    assert_eq!(strict.limit, Some(7));
    Ok(())
}

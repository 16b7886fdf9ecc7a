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

/// Regression: a bad value inside an array of tables (`[[route]]`'s `port`) was an error
/// with no position at all ("cannot read the `routes` configuration: …"): origins stop at
/// the array, so the error now points at it and names the element and key in full.
#[test]
fn a_bad_value_inside_an_array_of_tables_points_at_the_array() {
    #[derive(Debug, Serialize, Deserialize)]
    struct Route {
        port: u16,
    }
    #[derive(Debug, Serialize, Deserialize)]
    struct Routes {
        route: Vec<Route>,
    }
    impl Brick for Routes {
        const NAME: &'static str = "routes";
        fn defaults(_: Profile) -> Self {
            Routes { route: Vec::new() }
        }
    }
    let state = State::new();
    let path = state.write(
        "routes",
        "# two routes\n[[route]]\nport = 80\n\n[[route]]\nport = \"http\"\n",
    );
    let err = state.loader().load_typed::<Routes>().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "invalid value for `routes.route[1].port` at `{}:2:1`: invalid type: string \"http\", expected u16",
            path.display()
        )
    );
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
    let file = confd::shipped::default_file(schema);
    // A nested key is a dotted key: uncommenting its one line sets it.
    assert!(file.contains("\n#auth.user = \"relay\"\n"), "{file}");
    assert!(
        file.contains("#hosts = [\"a.example\", \"b.example\"]"),
        "{file}"
    );
    assert!(file.contains("minimal \"fast\""), "{file}");
    assert!(
        file.contains("# Unset by default: add `limit = …` to set it.\n"),
        "{file}"
    );
    // A key without a default is still a key of the brick: not unknown.
    state.write("derived-relay", "limit = 7\n");
    let strict: Relay = state.loader().strict(true).load_typed()?;
    assert_eq!(strict.limit, Some(7));
    Ok(())
}

/// Declarations that once leaked or broke the default file.
mod tricky {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize, confd::Brick)]
    #[brick(name = "tricky")]
    pub struct Tricky {
        /// A secret whose key needs quoting.
        #[serde(rename = "api.key")]
        #[brick(default = "", secret)]
        pub api_key: String,
        /// A banner over several lines.
        #[brick(default = "line one\nline two = 3\n[evil]")]
        pub banner: String,
        /// Limits by name: one key, whose value is a table.
        #[brick(default = BTreeMap::from([("k1".to_owned(), 1), ("k 2".to_owned(), 2)]))]
        pub limits: BTreeMap<String, u32>,
        /// Credentials: secret, all of them.
        #[brick(secret)]
        pub creds: Creds,
    }

    /// Login.
    #[derive(Debug, Serialize, Deserialize, confd::Section)]
    pub struct Creds {
        /// Who.
        #[brick(default = "")]
        pub user: String,
    }
}

#[test]
fn tricky_declarations_keep_secrets_and_a_commented_default_file() -> Result<(), confd::Error> {
    let state = State::new();
    state.write(
        "tricky",
        "\"api.key\" = \"TOPSECRET1\"\n[creds]\nuser = \"TOPSECRET2\"\n",
    );
    let config = state.loader().load("tricky")?;
    let shown = config.redacted_table().to_string();
    assert!(!shown.contains("TOPSECRET"), "{shown}");
    // A table asked for whole hides the secrets in it too.
    let creds: confd::KeyPath = "creds".parse().unwrap();
    let value = config.value(&creds).unwrap().clone();
    assert!(
        !config
            .redacted_value(&creds, &value)
            .to_string()
            .contains("TOPSECRET2")
    );

    let schema = confd::bricks::lookup("tricky").expect("registered");
    let file = confd::shipped::default_file(schema);
    // Every line stays a comment (or blank): nothing a default holds
    // becomes live TOML.
    assert!(
        file.lines().all(|l| l.is_empty() || l.starts_with('#')),
        "{file}"
    );
    assert!(
        file.contains("#banner = \"line one\\nline two = 3\\n[evil]\"\n"),
        "{file}"
    );
    assert!(
        file.contains("#limits = { \"k 2\" = 2, k1 = 1 }\n"),
        "{file}"
    );
    assert!(file.contains("#\"api.key\" = \"\"\n"), "{file}");
    // Uncommented, the settings are the defaults, with nothing twice.
    let settings: String = file
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .filter(|l| !l.starts_with([' ', ':']) && l.contains(" = "))
        .map(|l| format!("{l}\n"))
        .collect();
    let parsed: toml::Table = settings.parse().expect("the uncommented settings are TOML");
    assert_eq!(parsed, schema.defaults(confd::Profile::Full));
    Ok(())
}

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

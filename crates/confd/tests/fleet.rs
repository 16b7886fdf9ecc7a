//! The fleet layers as a load sees them (DESIGN.md §10), through a
//! [`FleetSource`] that hands out fixed texts: their place between the
//! profile defaults and the main file, their origins, their errors, and the
//! cache keyed on their revisions. Against real etcd: `crates/confd-fleet`.

use std::sync::{Arc, Mutex};

use confd::fleet::{FleetLayers, FleetSource, FleetText};
use confd::{BrickName, KeyPath, Loader, Precedence, origin::EtcdKey, origin::FleetLayer};
use indoc::indoc;

use crate::support::State;

/// A source with fixed texts that counts how often it is asked.
#[derive(Debug, Default)]
struct Fixed {
    layers: Mutex<FleetLayers>,
    asked: Mutex<Vec<String>>,
}

impl Fixed {
    fn new(texts: &[(FleetLayer, &str, i64, &str)]) -> Arc<Self> {
        let fixed = Fixed::default();
        fixed.set(texts);
        Arc::new(fixed)
    }

    fn set(&self, texts: &[(FleetLayer, &str, i64, &str)]) {
        let texts = texts
            .iter()
            .map(|(layer, key, revision, text)| FleetText {
                key: EtcdKey {
                    key: (*key).to_owned(),
                    revision: *revision,
                    layer: *layer,
                },
                text: (*text).to_owned(),
            })
            .collect();
        self.layers.lock().unwrap().texts = texts;
    }
}

impl FleetSource for Fixed {
    fn layers(&self, local: &Loader, brick: &BrickName) -> Result<FleetLayers, confd::Error> {
        assert!(
            local.fleet_source().is_none(),
            "the source is handed a loader of the local layers only"
        );
        self.asked.lock().unwrap().push(brick.to_string());
        Ok(self.layers.lock().unwrap().clone())
    }
}

const CACHE_KEY: &str = "/nexus/conf.d/cache";
const NODE_KEY: &str = "/nexus/nodes/h1/conf.d/cache";

#[test]
fn the_fleet_sits_between_the_defaults_and_the_main_file() -> Result<(), confd::Error> {
    let state = State::new();
    let source = Fixed::new(&[
        (
            FleetLayer::Fleet,
            CACHE_KEY,
            42,
            "backend = \"postgres\"\nkv_size = 7\npath_size = 9\n",
        ),
        (FleetLayer::Node, NODE_KEY, 43, "\n  kv_size = 8\n"),
    ]);
    state.write("cache", "path_size = 10\n");
    let config = state.loader().fleet(source).load("cache")?;
    assert_eq!(
        config.get::<String>("backend")?.as_deref(),
        Some("postgres")
    );
    assert_eq!(
        config.origin("backend").unwrap().to_string(),
        "etcd /nexus/conf.d/cache@42:1:11"
    );
    assert_eq!(config.get::<i64>("kv_size")?, Some(8));
    assert_eq!(
        config.origin("kv_size").unwrap().to_string(),
        "etcd /nexus/nodes/h1/conf.d/cache@43:2:13"
    );
    assert_eq!(
        config.origin("kv_size").unwrap().precedence(),
        Precedence::FleetNode
    );
    // The host's own file overrides the fleet.
    assert_eq!(config.get::<i64>("path_size")?, Some(10));
    assert_eq!(
        config.origin("path_size").unwrap().precedence(),
        Precedence::MainFile
    );
    // `explain` lists every layer that sets a key, lowest first.
    let layers: Vec<Precedence> = config
        .explain(&"kv_size".parse::<KeyPath>()?)
        .iter()
        .map(|(_, origin)| origin.precedence())
        .collect();
    assert_eq!(
        layers,
        [
            Precedence::ProfileDefault,
            Precedence::Fleet,
            Precedence::FleetNode
        ]
    );
    Ok(())
}

#[test]
fn a_malformed_fleet_text_is_an_error_naming_key_revision_line_and_column() {
    let state = State::new();
    let source = Fixed::new(&[(FleetLayer::Fleet, CACHE_KEY, 7, "kv_size = 1\nbackend = \n")]);
    let err = state.loader().fleet(source).load("cache").unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("malformed TOML at `etcd /nexus/conf.d/cache@7:2:11`"),
        "{text}"
    );
}

#[test]
fn a_wrong_type_in_the_fleet_names_its_etcd_origin() {
    let state = State::new();
    let source = Fixed::new(&[(FleetLayer::Fleet, CACHE_KEY, 9, "kv_size = \"many\"\n")]);
    let err = state.loader().fleet(source).load("cache").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid type for `cache.kv_size` at `etcd /nexus/conf.d/cache@9:1:11`: \
         expected integer, found string"
    );
}

#[test]
fn a_secret_brick_in_the_fleet_shows_no_value_in_its_errors() {
    let state = State::new();
    let source = Fixed::new(&[(
        FleetLayer::Fleet,
        "/nexus/conf.d/llm",
        3,
        "api_key = \"sk-live-123\" x\n",
    )]);
    let err = state.loader().fleet(source).load("llm").unwrap_err();
    assert!(!err.to_string().contains("sk-live-123"), "{err}");
}

#[test]
fn the_cache_follows_the_fleet_revision() -> Result<(), confd::Error> {
    let state = State::new();
    let source = Fixed::new(&[(FleetLayer::Fleet, CACHE_KEY, 1, "kv_size = 1\n")]);
    let loader = state
        .loader()
        .fleet(Arc::clone(&source) as Arc<dyn FleetSource>);
    assert_eq!(loader.load("cache")?.get::<i64>("kv_size")?, Some(1));
    source.set(&[(FleetLayer::Fleet, CACHE_KEY, 2, "kv_size = 2\n")]);
    let config = loader.load("cache")?;
    assert_eq!(config.get::<i64>("kv_size")?, Some(2));
    assert_eq!(
        config.origin("kv_size").unwrap().to_string(),
        "etcd /nexus/conf.d/cache@2:1:11"
    );
    Ok(())
}

#[test]
fn the_sources_warnings_reach_the_load() -> Result<(), confd::Error> {
    let state = State::new();
    let source = Fixed::new(&[]);
    source.layers.lock().unwrap().warnings =
        vec!["etcd did not answer: using the fleet layer cached at revision 4".into()];
    let config = state.loader().fleet(source).load("mounts")?;
    let warnings: Vec<String> = config.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        ["etcd did not answer: using the fleet layer cached at revision 4"]
    );
    Ok(())
}

#[test]
fn a_loader_without_fleet_never_asks_the_source() -> Result<(), confd::Error> {
    let state = State::new();
    let source = Fixed::new(&[(FleetLayer::Fleet, CACHE_KEY, 1, "kv_size = 1\n")]);
    let config = state
        .loader()
        .fleet(Arc::clone(&source) as Arc<dyn FleetSource>)
        .without_fleet()
        .load("cache")?;
    assert_eq!(config.get::<i64>("kv_size")?, Some(256));
    assert!(source.asked.lock().unwrap().is_empty());
    Ok(())
}

#[test]
fn the_fleet_text_is_checked_for_unknown_keys_like_a_file() -> Result<(), confd::Error> {
    let state = State::new();
    let text = indoc! {r#"
        backend = "null"
        kv_sise = 3
    "#};
    let source = Fixed::new(&[(FleetLayer::Fleet, CACHE_KEY, 5, text)]);
    let config = state
        .loader()
        .fleet(Arc::clone(&source) as Arc<dyn FleetSource>)
        .load("cache")?;
    let warnings: Vec<String> = config.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "unknown key `cache.kv_sise` at `etcd /nexus/conf.d/cache@5:2:11` \
          (did you mean `kv_size`?): the brick ignores it"
        ]
    );
    let strict = state.loader().fleet(source).strict(true).load("cache");
    assert!(strict.is_err());
    Ok(())
}

/// A source that hands out fixed texts and lets the test say "changed".
#[derive(Default)]
struct Followed {
    fixed: Fixed,
    changed: Mutex<Option<confd::fleet::FleetChanged>>,
}

impl std::fmt::Debug for Followed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Followed").finish_non_exhaustive()
    }
}

impl FleetSource for Followed {
    fn layers(&self, local: &Loader, brick: &BrickName) -> Result<FleetLayers, confd::Error> {
        self.fixed.layers(local, brick)
    }

    fn follow(
        &self,
        _: &Loader,
        changed: confd::fleet::FleetChanged,
    ) -> Option<confd::fleet::FollowGuard> {
        *self.changed.lock().unwrap() = Some(changed);
        Some(Box::new(()))
    }
}

impl Followed {
    fn change(&self, texts: &[(FleetLayer, &str, i64, &str)], bricks: Option<Vec<&str>>) {
        self.fixed.set(texts);
        let changed = self.changed.lock().unwrap().clone().expect("followed");
        changed(bricks.map(|b| b.iter().map(|n| BrickName::new(n).unwrap()).collect()));
    }
}

#[test]
fn a_fleet_change_makes_the_same_events_as_a_file_change() -> Result<(), Box<dyn std::error::Error>>
{
    use confd::watch::WatchEvent;
    use std::time::Duration;
    let state = State::new();
    let source = Arc::new(Followed::default());
    source
        .fixed
        .set(&[(FleetLayer::Fleet, CACHE_KEY, 1, "kv_size = 1\n")]);
    let watch = confd::watch::Watcher::new(
        state
            .loader()
            .fleet(Arc::clone(&source) as Arc<dyn FleetSource>),
    )
    .watch("cache")?;
    assert_eq!(watch.current().get::<i64>("kv_size")?, Some(1));

    source.change(
        &[(FleetLayer::Fleet, CACHE_KEY, 2, "kv_size = 2\n")],
        Some(vec!["cache"]),
    );
    let event = watch.events().recv_timeout(Duration::from_secs(5))?;
    let WatchEvent::Reloaded(reloaded) = event else {
        panic!("expected a reload, got {event}");
    };
    assert_eq!(reloaded.changes.len(), 1, "{reloaded:?}");
    assert_eq!(watch.current().get::<i64>("kv_size")?, Some(2));
    assert_eq!(
        watch.current().origin("kv_size").unwrap().to_string(),
        "etcd /nexus/conf.d/cache@2:1:11"
    );

    // An invalid push keeps the last good configuration.
    source.change(
        &[(FleetLayer::Fleet, CACHE_KEY, 3, "kv_size = \"x\"\n")],
        None,
    );
    let event = watch.events().recv_timeout(Duration::from_secs(5))?;
    assert!(matches!(event, WatchEvent::Invalid(_)), "{event}");
    assert_eq!(watch.current().get::<i64>("kv_size")?, Some(2));

    // A change elsewhere (another brick named) reloads nothing here.
    source.change(
        &[(FleetLayer::Fleet, CACHE_KEY, 4, "kv_size = 4\n")],
        Some(vec!["mounts"]),
    );
    assert!(
        watch
            .events()
            .recv_timeout(Duration::from_millis(300))
            .is_err()
    );
    Ok(())
}

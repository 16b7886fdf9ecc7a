//! Every row of DESIGN.md §3: the five layers, their order, merging and
//! type-directed parsing of environment and command-line values.

use confd::{Precedence, Profile};
use indoc::indoc;

use crate::support::State;

fn origin(config: &confd::BrickConfig, key: &str) -> String {
    config.origin(key).expect(key).to_string()
}

#[test]
fn profile_defaults_are_the_lowest_layer() -> Result<(), confd::Error> {
    let state = State::new();
    let config = state.loader().load("mounts")?;
    assert_eq!(config.get::<bool>("auto_sync")?, Some(false));
    assert_eq!(origin(&config, "auto_sync"), "profile 'full' default");
    Ok(())
}

#[test]
fn the_profile_picks_the_defaults() -> Result<(), confd::Error> {
    let state = State::new();
    for (profile, pool) in [
        ("minimal", 1),
        ("embedded", 3),
        ("lite", 8),
        ("full", 20),
        ("cloud", 30),
    ] {
        let config = state.loader().profile(profile).load("database")?;
        assert_eq!(config.get::<u32>("pool_size")?, Some(pool), "{profile}");
        assert_eq!(
            origin(&config, "pool_size"),
            format!("profile '{profile}' default")
        );
    }
    let from_env = state
        .loader()
        .env([("NEXUS_PROFILE", "lite")])
        .load("database")?;
    assert_eq!(from_env.profile(), Profile::Lite);
    let explicit_wins = state
        .loader()
        .env([("NEXUS_PROFILE", "lite")])
        .profile("cloud")
        .load("database")?;
    assert_eq!(explicit_wins.get::<u32>("pool_size")?, Some(30));
    Ok(())
}

#[test]
fn the_main_file_overrides_defaults_with_its_position() -> Result<(), confd::Error> {
    let state = State::new();
    let path = state.write("cache", "# a comment\nbackend = \"postgres\"\n");
    let config = state.loader().load("cache")?;
    assert_eq!(
        config.get::<String>("backend")?.as_deref(),
        Some("postgres")
    );
    assert_eq!(
        origin(&config, "backend"),
        format!("{}:2:11", path.display())
    );
    assert_eq!(origin(&config, "url"), "profile 'full' default");
    Ok(())
}

#[test]
fn drop_ins_apply_in_byte_order_after_the_main_file() -> Result<(), confd::Error> {
    let state = State::new();
    state.write("cache", "permission_ttl = 1\ndenial_ttl = 1\nkv_size = 1\n");
    // Byte-wise, "10-b" sorts before "9-c", and upper case before lower case.
    state.write("cache.d/9-c.toml", "denial_ttl = 9\n");
    let ten = state.write("cache.d/10-b.toml", "denial_ttl = 10\nkv_size = 10\n");
    let upper = state.write("cache.d/A.toml", "path_size = 1\n");
    let nine = state.conf_d().join("cache.d/9-c.toml");
    state.write("cache.d/a.toml", "path_size = 2\n");
    let config = state.loader().load("cache")?;
    assert_eq!(config.get::<u64>("permission_ttl")?, Some(1));
    assert_eq!(config.get::<u64>("kv_size")?, Some(10));
    assert_eq!(
        origin(&config, "kv_size"),
        format!("{}:2:11", ten.display())
    );
    assert_eq!(config.get::<u64>("denial_ttl")?, Some(9));
    assert_eq!(
        origin(&config, "denial_ttl"),
        format!("{}:1:14", nine.display())
    );
    assert_eq!(config.get::<u64>("path_size")?, Some(2));
    assert_ne!(
        origin(&config, "path_size"),
        format!("{}:1:13", upper.display())
    );
    assert_eq!(
        config.origin("kv_size").map(|o| o.precedence()),
        Some(Precedence::DropIn)
    );
    Ok(())
}

#[test]
fn only_regular_toml_drop_ins_are_read() -> Result<(), Box<dyn std::error::Error>> {
    let state = State::new();
    for ignored in [
        ".hidden.toml",
        "x.toml~",
        ".x.toml.swp",
        ".#x.toml",
        "x.toml.new",
        "x.conf",
        "x.toml.dpkg-old",
    ] {
        state.write(
            &format!("mounts.d/{ignored}"),
            "auto_sync = \"not even a bool\"\n",
        );
    }
    std::fs::create_dir_all(state.conf_d().join("mounts.d/dir.toml"))?;
    let config = state.loader().load("mounts")?;
    assert_eq!(origin(&config, "auto_sync"), "profile 'full' default");
    Ok(())
}

#[test]
fn missing_files_and_directories_are_normal() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let config = confd::Loader::new()
        .state_dir(dir.path().join("does/not/exist"))
        .env(std::iter::empty::<(&str, &str)>())
        .load("uploads")?;
    assert_eq!(config.get::<u32>("max_concurrent")?, Some(4));
    Ok(())
}

#[test]
fn env_overrides_files_and_cli_overrides_env() -> Result<(), confd::Error> {
    let state = State::new();
    state.write("mounts", "auto_sync = false\n");
    state.write("mounts.d/50-x.toml", "auto_sync = false\n");
    let env = state
        .loader()
        .env([("NEXUS_AUTO_SYNC_MOUNTS", "1")])
        .load("mounts")?;
    assert_eq!(env.get::<bool>("auto_sync")?, Some(true));
    assert_eq!(origin(&env, "auto_sync"), "env NEXUS_AUTO_SYNC_MOUNTS");

    let cli = state
        .loader()
        .env([("NEXUS_AUTO_SYNC_MOUNTS", "1")])
        .cli_override("mounts.auto_sync", "off")
        .load("mounts")?;
    assert_eq!(cli.get::<bool>("auto_sync")?, Some(false));
    assert_eq!(origin(&cli, "auto_sync"), "--set mounts.auto_sync=off");
    Ok(())
}

#[test]
fn overrides_of_other_bricks_do_not_apply() -> Result<(), confd::Error> {
    let state = State::new();
    let config = state
        .loader()
        .cli_override("cache.kv_size", "1")
        .load("mounts")?;
    assert_eq!(config.table().len(), 1);
    Ok(())
}

#[test]
fn tables_merge_recursively_and_arrays_replace() -> Result<(), confd::Error> {
    let state = State::new();
    state.write(
        "custom",
        indoc! {r#"
            list = [1, 2, 3]
            [server]
            host = "a"
            port = 1
            [server.tls]
            cert = "c"
        "#},
    );
    state.write(
        "custom.d/50-x.toml",
        indoc! {r#"
            list = [9]
            server.port = 2
            server.tls = { key = "k" }
        "#},
    );
    let config = state
        .loader()
        .cli_override("custom.server.extra", "yes")
        .load("custom")?;
    let expected: toml::Table = toml::from_str(indoc! {r#"
        list = [9]
        [server]
        host = "a"
        port = 2
        extra = "yes"
        [server.tls]
        cert = "c"
        key = "k"
    "#})
    .unwrap();
    assert_eq!(config.table(), &expected);
    assert!(origin(&config, "server.host").ends_with("conf.d/custom:3:8"));
    assert!(origin(&config, "server.tls.key").ends_with("custom.d/50-x.toml:3:22"));
    assert!(origin(&config, "list").ends_with("custom.d/50-x.toml:1:8"));
    Ok(())
}

#[test]
fn unregistered_bricks_get_no_defaults_no_env_and_no_key_check() -> Result<(), confd::Error> {
    let state = State::new();
    state.write("my-brick", "anything = 1\n");
    let config = state
        .loader()
        .strict(true)
        .env([("NEXUS_AUTO_SYNC_MOUNTS", "1")])
        .load("my-brick")?;
    assert_eq!(config.table().len(), 1);
    assert!(config.warnings().is_empty());
    let empty = state.loader().load("nothing-here")?;
    assert!(empty.table().is_empty());
    Ok(())
}

#[test]
fn env_and_cli_values_are_parsed_by_the_type_of_their_key() -> Result<(), confd::Error> {
    let state = State::new();
    let config = state
        .loader()
        .env([
            ("ZOEKT_INDEX_DIR", "0123"),
            ("NEXUS_EMBEDDING_MODEL", "true"),
            ("NEXUS_CACHE_DENIAL_TTL", "90"),
        ])
        .load("search")?;
    assert_eq!(config.get::<String>("index_dir")?.as_deref(), Some("0123"));
    assert_eq!(
        config.get::<String>("embedding_model")?.as_deref(),
        Some("true")
    );

    for (word, want) in [
        ("TRUE", true),
        ("yes", true),
        ("On", true),
        ("0", false),
        ("no", false),
        ("OFF", false),
    ] {
        let config = state
            .loader()
            .env([("NEXUS_ENFORCE_PERMISSIONS", word)])
            .load("permissions")?;
        assert_eq!(config.get::<bool>("enforce")?, Some(want), "{word}");
    }
    let cache = state
        .loader()
        .env([("NEXUS_CACHE_DENIAL_TTL", "90")])
        .load("cache")?;
    assert_eq!(cache.table()["denial_ttl"], toml::Value::Integer(90));

    // Keys the brick does not know are TOML literals, else strings.
    let unknown = state
        .loader()
        .cli_override("custom.n", "42")
        .cli_override("custom.list", "[1, 2]")
        .cli_override("custom.s", "hello world")
        .load("custom")?;
    assert_eq!(unknown.table()["n"], toml::Value::Integer(42));
    assert_eq!(
        unknown.table()["list"],
        toml::Value::Array(vec![1.into(), 2.into()])
    );
    assert_eq!(
        unknown.table()["s"],
        toml::Value::String("hello world".into())
    );
    Ok(())
}

#[test]
fn disable_predicate_pushdown_is_inverted() -> Result<(), confd::Error> {
    let state = State::new();
    for (raw, enabled) in [("1", false), ("true", false), ("0", true), ("no", true)] {
        let config = state
            .loader()
            .env([("NEXUS_DISABLE_PREDICATE_PUSHDOWN", raw)])
            .load("search")?;
        assert_eq!(
            config.get::<bool>("enable_predicate_pushdown")?,
            Some(enabled),
            "{raw}"
        );
        assert_eq!(
            origin(&config, "enable_predicate_pushdown"),
            "env NEXUS_DISABLE_PREDICATE_PUSHDOWN"
        );
    }
    Ok(())
}

#[test]
fn legacy_fallback_variables() -> Result<(), confd::Error> {
    let state = State::new();
    let only_old = state
        .loader()
        .env([("DRAGONFLY_URL", "redis://old")])
        .load("cache")?;
    assert_eq!(
        only_old.get::<String>("url")?.as_deref(),
        Some("redis://old")
    );
    assert_eq!(origin(&only_old, "url"), "env DRAGONFLY_URL");

    let both = state
        .loader()
        .env([
            ("DRAGONFLY_URL", "redis://old"),
            ("NEXUS_DRAGONFLY_URL", "redis://new"),
        ])
        .load("cache")?;
    assert_eq!(both.get::<String>("url")?.as_deref(), Some("redis://new"));
    assert_eq!(origin(&both, "url"), "env NEXUS_DRAGONFLY_URL");

    // Empty counts as unset, as in the original `a or b`.
    let empty_new = state
        .loader()
        .env([
            ("DRAGONFLY_URL", "redis://old"),
            ("NEXUS_DRAGONFLY_URL", ""),
        ])
        .load("cache")?;
    assert_eq!(origin(&empty_new, "url"), "env DRAGONFLY_URL");

    let pg = state
        .loader()
        .env([("POSTGRES_URL", "postgresql://pg")])
        .load("database")?;
    assert_eq!(origin(&pg, "url"), "env POSTGRES_URL");
    let pg_both = state
        .loader()
        .env([
            ("POSTGRES_URL", "postgresql://pg"),
            ("NEXUS_DATABASE_URL", "postgresql://nx"),
        ])
        .load("database")?;
    assert_eq!(
        pg_both.get::<String>("url")?.as_deref(),
        Some("postgresql://nx")
    );
    Ok(())
}

#[test]
fn deprecated_variables_warn_naming_the_replacement() -> Result<(), confd::Error> {
    let state = State::new();
    let config = state
        .loader()
        .env([("NEXUS_UPLOAD_MAX_CONCURRENT", "8")])
        .load("uploads")?;
    let warnings: Vec<String> = config.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].contains("NEXUS_UPLOAD_MAX_CONCURRENT"),
        "{warnings:?}"
    );
    assert!(
        warnings[0].contains("`max_concurrent` in `conf.d/uploads`"),
        "{warnings:?}"
    );
    Ok(())
}

/// Counts `tracing` events that mention a variable.
struct Counter {
    needle: &'static str,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

struct MessageVisitor(String);

impl tracing::field::Visit for MessageVisitor {
    fn record_debug(&mut self, _: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{value:?}"));
    }
}

impl tracing::Subscriber for Counter {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut message = MessageVisitor(String::new());
        event.record(&mut message);
        if *event.metadata().level() == tracing::Level::WARN && message.0.contains(self.needle) {
            self.hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn each_deprecated_variable_is_logged_once_per_process() -> Result<(), confd::Error> {
    // This variable is used by no other test in this process.
    let var = "NEXUS_UPLOAD_SESSION_TTL_HOURS";
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let subscriber = Counter {
        needle: var,
        hits: hits.clone(),
    };
    let state = State::new();
    tracing::subscriber::with_default(subscriber, || -> Result<(), confd::Error> {
        for _ in 0..3 {
            let config = state.loader().env([(var, "48")]).load("uploads")?;
            assert_eq!(config.get::<u64>("session_ttl_hours")?, Some(48));
        }
        Ok(())
    })?;
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    Ok(())
}

#[test]
fn every_leaf_has_an_origin() -> Result<(), confd::Error> {
    let state = State::new();
    state.write("uploads", "max_concurrent = 2\n");
    let config = state
        .loader()
        .env([("NEXUS_UPLOAD_CLEANUP_INTERVAL", "60")])
        .cli_override("uploads.session_ttl_hours", "1")
        .load("uploads")?;
    for key in config.table().keys() {
        assert!(config.origin(key).is_some(), "{key} has no origin");
    }
    let layers: Vec<Precedence> = [
        "min_chunk_size",
        "max_concurrent",
        "cleanup_interval_seconds",
        "session_ttl_hours",
    ]
    .iter()
    .map(|k| config.origin(k).unwrap().precedence())
    .collect();
    assert_eq!(
        layers,
        [
            Precedence::ProfileDefault,
            Precedence::MainFile,
            Precedence::Env,
            Precedence::Cli
        ]
    );
    Ok(())
}

#[test]
fn explain_lists_every_layer_lowest_first() -> Result<(), confd::Error> {
    let state = State::new();
    state.write("mounts", "auto_sync = true\n");
    state.write("mounts.d/a.toml", "auto_sync = false\n");
    let config = state
        .loader()
        .env([("NEXUS_AUTO_SYNC_MOUNTS", "yes")])
        .cli_override("mounts.auto_sync", "no")
        .load("mounts")?;
    let layers: Vec<String> = config
        .explain(&"auto_sync".parse().unwrap())
        .iter()
        .map(|(value, origin)| format!("{value} {:?}", origin.precedence()))
        .collect();
    assert_eq!(
        layers,
        [
            "false ProfileDefault",
            "true MainFile",
            "false DropIn",
            "true Env",
            "false Cli"
        ]
    );
    Ok(())
}

/// A `--set` of a whole table merges key by key, as the same table in a
/// drop-in does (DESIGN.md §3), instead of replacing the table below.
#[test]
fn a_set_table_merges_key_by_key() -> Result<(), confd::Error> {
    let state = State::new();
    state.write("zz", "[t]\na = 1\n[t.sub]\nc = 3\n");
    let config = state
        .loader()
        .cli_override("zz.t", "{ x = 1, sub = { d = 4 } }")
        .load("zz")?;
    for (key, value, origin_ends) in [
        ("t.a", 1, "conf.d/zz:2:5"),
        ("t.sub.c", 3, "conf.d/zz:4:5"),
        ("t.x", 1, "{ x = 1, sub = { d = 4 } }"),
        ("t.sub.d", 4, "{ x = 1, sub = { d = 4 } }"),
    ] {
        assert_eq!(config.get::<i64>(key)?, Some(value), "{key}");
        let origin = config
            .origin(key)
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(origin.ends_with(origin_ends), "{key}: {origin}");
    }
    Ok(())
}

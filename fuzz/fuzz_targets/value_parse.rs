//! Environment and command-line value parsing (RELIABILITY.md).
//!
//! `parse_typed` keeps the type of the key's default (a string key keeps any
//! text, a bool key takes exactly the documented words); key paths and
//! `--set` specs round-trip through `Display`; a full load with the text in a
//! deprecated variable and in a `--set` never panics, and never shows a secret
//! given that way.
#![no_main]

use std::sync::OnceLock;

use confd::{KeyPath, Loader, loader::Override, value::parse_bool, value::parse_typed};
use libfuzzer_sys::fuzz_target;
use toml::Value;

/// A marker put in front of every secret, so any echo of one is caught.
const CANARY: &str = "CANARYx9";

fn defaults() -> Vec<Option<Value>> {
    vec![
        None,
        Some(Value::String(String::new())),
        Some(Value::Boolean(false)),
        Some(Value::Integer(0)),
        Some(Value::Float(0.0)),
        Some(Value::Array(vec![])),
        Some(Value::Table(toml::Table::new())),
        Some("d = 1979-05-27".parse::<toml::Table>().expect("date")["d"].clone()),
    ]
}

/// Deprecated variables of every type, and the keys `--set` aims at.
const VARS: [&str; 6] = [
    "NEXUS_AUTO_SYNC_MOUNTS",
    "NEXUS_CACHE_KV_SIZE",
    "NEXUS_CACHE_BACKEND",
    "NEXUS_DISABLE_PREDICATE_PUSHDOWN",
    "NEXUS_UPLOAD_MAX_CHUNK_SIZE",
    "ZOEKT_URL",
];
const TARGETS: [(&str, &str); 8] = [
    ("mounts", "mounts.auto_sync"),
    ("cache", "cache.kv_size"),
    ("cache", "cache.backend"),
    ("search", "search.enable_predicate_pushdown"),
    ("uploads", "uploads.max_chunk_size"),
    ("search", "search.zoekt_url"),
    ("fuzzed", "fuzzed.anything.deep"),
    ("mounts", "mounts.unknown"),
];

fn empty_state() -> &'static std::path::Path {
    static STATE: OnceLock<tempfile::TempDir> = OnceLock::new();
    STATE
        .get_or_init(|| tempfile::tempdir().expect("temp dir"))
        .path()
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let raw = String::from_utf8_lossy(rest);
    let raw = raw.as_ref();

    let all = defaults();
    let default = &all[selector as usize % all.len()];
    let parsed = parse_typed(raw, default.as_ref());
    match (default, &parsed) {
        (Some(Value::String(_)), Ok(v)) => assert_eq!(v.as_str(), Some(raw)),
        (Some(Value::String(_)), Err(e)) => panic!("a string key refused {raw:?}: {e}"),
        (Some(Value::Boolean(_)), result) => {
            assert_eq!(
                result.as_ref().ok().and_then(Value::as_bool),
                parse_bool(raw)
            );
        }
        (Some(Value::Float(_)), Ok(v)) => assert!(v.is_float(), "{v:?}"),
        (Some(d), Ok(v)) => assert!(v.same_type(d), "{d:?} took {v:?}"),
        // The message is the expectation alone, never the (maybe secret) text.
        (Some(d), Err(e)) => assert_eq!(e, &format!("expected {}", d.type_str())),
        (None, result) => assert!(result.is_ok(), "an unknown key refused {raw:?}"),
    }
    if let Some(b) = parse_bool(raw) {
        let word = raw.trim().to_ascii_lowercase();
        assert_eq!(b, ["true", "1", "yes", "on"].contains(&word.as_str()));
    }

    if let Ok(key) = raw.parse::<KeyPath>() {
        assert_eq!(
            key.to_string().parse::<KeyPath>(),
            Ok(key.clone()),
            "{raw:?}"
        );
    }
    if let Ok(spec) = raw.parse::<Override>() {
        let again: Override = format!("{}.{}={}", spec.brick, spec.key, spec.value)
            .parse()
            .expect("a printed override parses");
        assert_eq!(again, spec);
    }

    // The whole path: the text in a deprecated variable and a `--set`.
    let var = VARS[selector as usize % VARS.len()];
    let (brick, target) = TARGETS[(selector as usize / 8) % TARGETS.len()];
    let secret = format!("{CANARY}{raw}");
    let loader = Loader::new()
        .state_dir(empty_state())
        .env([
            (var, raw),
            ("NEXUS_DATABASE_URL", secret.as_str()),
            ("NEXUS_PROFILE", "lite"),
        ])
        .cli_override(target, raw)
        .cli_override("llm.api_key", secret.as_str())
        .cache(false);
    for name in [brick, "database", "llm"] {
        let shown = match loader.load(name) {
            Ok(config) => {
                let _ = config.effective_hash();
                format!("{config}\n{config:?}\n{}", config.redacted_table())
            }
            Err(e) => format!("{e}\n{e:?}"),
        };
        assert!(!shown.contains(CANARY), "a secret leaked: {shown}");
    }
});

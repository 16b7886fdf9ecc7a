//! Property tests of layering (RELIABILITY.md): the winner of every key is the
//! highest layer that sets it, and merging does not depend on how the same
//! content is split across the main file and drop-ins.
//!
//! Case counts are small so CI stays fast; `PROPTEST_CASES=10000 cargo test
//! -p confd --test runner properties` runs more.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::Config;
use toml::{Table, Value};

use crate::oracle::{leaves, value_at};
use crate::support::State;

/// Cases per property unless `PROPTEST_CASES` says otherwise.
const CASES: u32 = 64;

fn config() -> Config {
    // `Config::default()` reads PROPTEST_CASES; only the default is lowered.
    let default = Config::default();
    Config {
        cases: if default.cases == 256 {
            CASES
        } else {
            default.cases
        },
        failure_persistence: None,
        ..default
    }
}

/// Keys from a small alphabet, so layers collide often.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("c".to_owned()),
        Just("d-1".to_owned()),
        Just("dotted.key".to_owned()),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::Integer),
        any::<bool>().prop_map(Value::Boolean),
        "[a-z0-9 é\"\\\\]{0,8}".prop_map(Value::String),
        prop::collection::vec(any::<i32>().prop_map(|i| Value::Integer(i.into())), 0..3)
            .prop_map(Value::Array),
    ]
}

/// A table up to three levels deep.
fn table() -> impl Strategy<Value = Table> {
    let leaf = prop::collection::btree_map(key(), scalar(), 0..4);
    leaf.prop_recursive(2, 24, 4, |inner| {
        prop::collection::btree_map(
            key(),
            prop_oneof![
                2 => scalar(),
                1 => inner.prop_map(|t| Value::Table(t.into_iter().collect())),
            ],
            0..4,
        )
    })
    .prop_map(|m| m.into_iter().collect())
}

fn toml_text(table: &Table) -> String {
    toml::to_string(table).expect("a generated table serializes")
}

/// Writes `docs` as the main file (if `main`) and drop-ins of `brick`, in
/// order; returns their paths.
fn write_layers(state: &State, brick: &str, docs: &[Table], main: bool) -> Vec<PathBuf> {
    docs.iter()
        .enumerate()
        .map(|(i, doc)| {
            let relative = if main && i == 0 {
                brick.to_owned()
            } else {
                // Zero-padded so byte order is content order.
                format!("{brick}.d/{i:03}-part.toml")
            };
            state.write(&relative, toml_text(doc))
        })
        .collect()
}

/// Where a layer of the winner property came from.
#[derive(Clone, Debug, PartialEq)]
enum Source {
    File(PathBuf),
    Cli,
}

proptest! {
    #![proptest_config(config())]

    /// Files then `--set`s: every leaf of the result is credited to, and holds
    /// the value of, the highest layer that sets exactly that key.
    #[test]
    fn the_winner_of_every_key_is_the_highest_layer_that_sets_it(
        docs in prop::collection::vec(table(), 1..5),
        sets in prop::collection::vec((key(), key(), any::<i32>()), 0..3),
    ) {
        let state = State::new();
        let paths = write_layers(&state, "props", &docs, true);
        let mut layers: Vec<(Table, Source)> = docs
            .iter()
            .cloned()
            .zip(paths.into_iter().map(Source::File))
            .collect();
        let mut loader = state.loader().cache(false);
        for (outer, inner, n) in &sets {
            let path = confd::KeyPath::from_segments([outer.as_str(), inner.as_str()]);
            loader = loader.cli_override(format!("props.{path}"), n.to_string());
            let mut t = Table::new();
            let mut sub = Table::new();
            sub.insert(inner.clone(), Value::Integer((*n).into()));
            t.insert(outer.clone(), Value::Table(sub));
            layers.push((t, Source::Cli));
        }
        let config = loader.load("props").expect("valid layers load");
        for leaf in leaves(config.table()) {
            let key = confd::KeyPath::from_segments(leaf.iter().cloned());
            let (value, source) = layers
                .iter()
                .rev()
                .find_map(|(t, s)| value_at(t, &leaf).map(|v| (v, s)))
                .expect("every merged key comes from a layer");
            prop_assert_eq!(config.value(&key), Some(value), "value of {}", key);
            let origin = config.origin_of(&key).expect("an origin");
            match source {
                Source::File(path) => prop_assert_eq!(origin.path(), Some(path.as_path())),
                Source::Cli => prop_assert!(matches!(origin, confd::Origin::Cli(_)), "{}", origin),
            }
            let explained = config.explain(&key);
            let (winner_value, winner) = explained.last().expect("explain lists the winner");
            prop_assert_eq!(winner_value, value);
            prop_assert_eq!(winner, origin);
        }
    }

    /// A shipped brick: profile default < main file < drop-in < env < `--set`
    /// for `cache.kv_size`, with any subset of the layers setting it.
    #[test]
    fn precedence_of_all_five_layers(
        main in proptest::option::of(0i64..1000),
        drop_in in proptest::option::of(0i64..1000),
        env in proptest::option::of(0i64..1000),
        cli in proptest::option::of(0i64..1000),
    ) {
        let state = State::new();
        if let Some(n) = main {
            state.write("cache", format!("kv_size = {n}\n"));
        }
        if let Some(n) = drop_in {
            state.write("cache.d/50-x.toml", format!("kv_size = {n}\n"));
        }
        let mut loader = state.loader().cache(false);
        if let Some(n) = env {
            loader = loader.env([("NEXUS_CACHE_KV_SIZE", n.to_string())]);
        }
        if let Some(n) = cli {
            loader = loader.cli_override("cache.kv_size", n.to_string());
        }
        let config = loader.load("cache").expect("valid layers load");
        let expected = cli.or(env).or(drop_in).or(main).unwrap_or(256);
        prop_assert_eq!(config.get::<i64>("kv_size").expect("kv_size"), Some(expected));
        let origin = config.origin("kv_size").expect("origin").to_string();
        let want = if cli.is_some() {
            format!("--set cache.kv_size={expected}")
        } else if env.is_some() {
            "env NEXUS_CACHE_KV_SIZE".to_owned()
        } else if drop_in.is_some() {
            format!("{}:1:11", state.conf_d().join("cache.d/50-x.toml").display())
        } else if main.is_some() {
            format!("{}:1:11", state.conf_d().join("cache").display())
        } else {
            "profile 'full' default".to_owned()
        };
        prop_assert_eq!(origin, want);
    }

    /// The same content in the same order gives the same merged table,
    /// whether each document is its own file, the first is the main file or
    /// a drop-in, or a document's entries are split across consecutive files.
    ///
    /// (Pre-merging several documents into one file is *not* neutral, and
    /// is not claimed: a scalar that replaces a table, itself replaced by a
    /// table again, wipes the keys below it only when each step is a layer.)
    #[test]
    fn merging_is_independent_of_how_content_is_split_into_files(
        docs in prop::collection::vec(table(), 1..7),
        cuts in prop::collection::vec(0usize..4, 7),
    ) {
        let one_per_file = load_table(&docs, true);
        prop_assert_eq!(&load_table(&docs, false), &one_per_file);
        // A document's keys are distinct, so splitting its entries into
        // consecutive files changes nothing.
        let mut split: Vec<Table> = Vec::new();
        for (doc, cut) in docs.iter().zip(&cuts) {
            let at = (*cut).min(doc.len());
            split.push(doc.iter().take(at).map(|(k, v)| (k.clone(), v.clone())).collect());
            split.push(doc.iter().skip(at).map(|(k, v)| (k.clone(), v.clone())).collect());
        }
        prop_assert_eq!(&load_table(&split, true), &one_per_file);
        prop_assert_eq!(&load_table(&split, false), &one_per_file);
    }
}

/// Loads `docs` as the layers of an unregistered brick.
fn load_table(docs: &[Table], main: bool) -> Table {
    let state = State::new();
    write_layers(&state, "props", docs, main);
    state
        .loader()
        .cache(false)
        .load("props")
        .expect("valid layers load")
        .table()
        .clone()
}

/// The files a property writes are where the loader looks.
#[test]
fn layers_are_written_where_the_loader_reads() {
    let state = State::new();
    let docs: Vec<Table> = vec![
        toml::from_str("a = 1").expect("toml"),
        toml::from_str("a = 2").expect("toml"),
    ];
    let paths = write_layers(&state, "props", &docs, true);
    let config = state.loader().load("props").expect("load");
    assert_eq!(config.get::<i64>("a").expect("a"), Some(2));
    assert_eq!(
        config.origin("a").and_then(|o| o.path()),
        Some(paths[1].as_path())
    );
    assert!(paths[1].starts_with(Path::new(&state.conf_d())));
}

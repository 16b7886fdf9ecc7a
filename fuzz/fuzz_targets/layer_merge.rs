//! Layer merging with provenance over arbitrary TOML documents
//! (RELIABILITY.md).
//!
//! The input is up to five documents separated by NUL bytes: the main file
//! and drop-ins `10.toml`, `20.toml`, … of one brick, written to a scratch
//! state dir and loaded with the real `Loader`. When every document parses on
//! its own, the load of an unregistered brick must succeed, equal a reference
//! merge of the documents' tables (tables key by key, anything else replaced
//! whole), and credit every leaf to the highest document that sets it. Shipped
//! bricks (with schemas, rules and secrets) must load or fail cleanly.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use confd::{KeyPath, Loader, layer::Layer, layer::Snippets, origin::FileKind};
use libfuzzer_sys::fuzz_target;
use toml::{Table, Value};

const BRICKS: [&str; 5] = ["fuzzed", "cache", "uploads", "llm", "database"];

fn state() -> &'static Path {
    static STATE: OnceLock<tempfile::TempDir> = OnceLock::new();
    STATE
        .get_or_init(|| {
            // tmpfs when there is one: the target writes files every run.
            let dir = tempfile::Builder::new()
                .tempdir_in("/dev/shm")
                .or_else(|_| tempfile::tempdir())
                .expect("temp dir");
            std::fs::create_dir_all(dir.path().join("etc/conf.d")).expect("conf.d");
            dir
        })
        .path()
}

/// A reference merge, written independently of the library's.
fn merge(dst: &mut Table, src: &Table) {
    for (key, value) in src {
        match (dst.get_mut(key), value) {
            (Some(Value::Table(lower)), Value::Table(upper)) => merge(lower, upper),
            _ => {
                dst.insert(key.clone(), value.clone());
            }
        }
    }
}

fn value_at<'a>(table: &'a Table, path: &[String]) -> Option<&'a Value> {
    let (last, parents) = path.split_last()?;
    let mut t = table;
    for segment in parents {
        t = t.get(segment)?.as_table()?;
    }
    t.get(last)
}

/// Every leaf path of a table (an empty table counts as a leaf).
fn leaves(table: &Table, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    for (key, value) in table {
        prefix.push(key.clone());
        match value {
            Value::Table(t) if !t.is_empty() => leaves(t, prefix, out),
            _ => out.push(prefix.clone()),
        }
        prefix.pop();
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let brick = BRICKS[selector as usize % BRICKS.len()];
    let docs: Vec<&[u8]> = rest.split(|&b| b == 0).take(5).collect();

    let conf_d = state().join("etc/conf.d");
    let drop_in_dir = conf_d.join(format!("{brick}.d"));
    let _ = std::fs::remove_dir_all(&drop_in_dir);
    let mut paths: Vec<PathBuf> = vec![conf_d.join(brick)];
    std::fs::write(&paths[0], docs[0]).expect("main file");
    if docs.len() > 1 {
        std::fs::create_dir_all(&drop_in_dir).expect("drop-in dir");
    }
    for (i, doc) in docs.iter().enumerate().skip(1) {
        let path = drop_in_dir.join(format!("{}0.toml", i));
        std::fs::write(&path, doc).expect("drop-in");
        paths.push(path);
    }

    let loader = Loader::new()
        .state_dir(state())
        .env(std::iter::empty::<(String, String)>())
        .cache(false);
    let loaded = loader.load(brick);
    // Whatever happened, rendering it must not panic.
    match &loaded {
        Ok(config) => {
            let _ = format!("{config} {config:?}");
            let _ = config.effective_hash();
            let _ = config.redacted_table().to_string();
        }
        Err(e) => {
            let _ = format!("{e} {e:?}");
        }
    }

    // The oracle: each document parsed on its own, then merged by hand.
    let mut layers = Vec::new();
    for (doc, path) in docs.iter().zip(&paths) {
        let Ok(text) = std::str::from_utf8(doc) else {
            assert!(loaded.is_err(), "a non-UTF-8 file loaded");
            return;
        };
        let kind = if layers.is_empty() {
            FileKind::MainFile
        } else {
            FileKind::DropIn
        };
        match Layer::parse(text, path, kind, Snippets::Shown) {
            Ok(layer) => layers.push(layer),
            Err(_) => {
                assert!(loaded.is_err(), "a malformed file loaded");
                return;
            }
        }
    }
    if brick != "fuzzed" {
        return;
    }
    let config = match loaded {
        Ok(config) => config,
        Err(e) => panic!("documents that parse alone failed to load: {e}"),
    };
    let mut expected = Table::new();
    for layer in &layers {
        merge(&mut expected, layer.table());
    }
    assert_eq!(
        format!("{:?}", config.table()),
        format!("{expected:?}"),
        "the merge differs from the reference"
    );
    let mut all = Vec::new();
    leaves(config.table(), &mut Vec::new(), &mut all);
    for leaf in all {
        let key = KeyPath::from_segments(leaf.iter().cloned());
        let winner = layers
            .iter()
            .zip(&paths)
            .rev()
            .find(|(layer, _)| value_at(layer.table(), &leaf).is_some())
            .map(|(_, path)| path)
            .expect("a merged key comes from some document");
        let origin = config
            .origin_of(&key)
            .expect("every merged key has an origin");
        assert_eq!(origin.path(), Some(winner.as_path()), "origin of {key}");
        let explained = config.explain(&key);
        let (_, last) = explained.last().expect("explain lists the winner");
        assert_eq!(last.path(), Some(winner.as_path()), "explain of {key}");
    }
});

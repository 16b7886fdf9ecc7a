//! confd holds no list of bricks (DESIGN.md §9): its sources name none of the
//! shipped bricks, none of their keys and none of their variables.

use std::path::{Path, PathBuf};

use confd_bricks as _;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("confd's sources") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether `word` occurs in `line` with no identifier character either side.
fn has_word(line: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    line.match_indices(word).any(|(at, _)| {
        !line[..at].chars().next_back().is_some_and(is_ident)
            && !line[at + word.len()..].chars().next().is_some_and(is_ident)
    })
}

/// A brick name as a name, not as an English word: quoted, in a path, or
/// before one of its keys (`"cache"`, `conf.d/cache`, `` `cache` ``,
/// `cache.url`).
fn names_brick(line: &str, brick: &str, keys: &[String]) -> bool {
    ["\"", "'", "`", "/", "\".", "(", "["].iter().any(|before| {
        line.match_indices(&format!("{before}{brick}"))
            .any(|(at, m)| {
                !line[at + m.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            })
    }) || keys
        .iter()
        .any(|key| has_word(line, &format!("{brick}.{key}")))
}

#[test]
fn confd_sources_name_no_shipped_brick_key_or_variable() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../confd/src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(
        files.len() > 20,
        "confd's sources not found at {}",
        root.display()
    );

    let mut words: Vec<String> = Vec::new();
    let registered = confd::bricks::registered();
    assert_eq!(registered.len(), 7);
    for schema in registered {
        for key in schema.keys() {
            // Keys like `url` or `model` are ordinary words; the distinctive
            // ones are snake_case.
            if key.path.contains('_') {
                words.push(key.path.clone());
            }
            words.extend(key.env.iter().map(|v| (*v).to_owned()));
        }
    }
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read");
        for (n, line) in text.lines().enumerate() {
            let hit = registered
                .iter()
                .find(|s| {
                    let keys: Vec<String> = s.keys().iter().map(|k| k.path.clone()).collect();
                    names_brick(line, s.name(), &keys)
                })
                .map(|s| s.name().to_owned())
                .or_else(|| words.iter().find(|w| has_word(line, w)).cloned());
            if let Some(hit) = hit {
                found.push(format!(
                    "{}:{}: `{hit}`: {}",
                    file.display(),
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "confd names shipped bricks, keys or variables ({}):\n{}",
        found.len(),
        found.join("\n")
    );
}

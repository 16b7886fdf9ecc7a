use std::path::Path;

use indoc::indoc;
use toml::{Table, Value};

use super::*;
use crate::{Error, KeyPath, Origin, Precedence, origin::FileKind};

fn parse(text: &str) -> Result<Layer, Error> {
    Layer::parse(text, Path::new("/c/x"), FileKind::MainFile, Snippets::Shown)
}

fn origin(layer: &Layer, path: &str) -> String {
    origin_at(layer.origins(), &path.parse().unwrap())
        .unwrap()
        .origin()
        .to_string()
}

#[test]
fn every_leaf_points_at_its_value() -> Result<(), Error> {
    let layer = parse(indoc! {r#"
            a = 1
            [server]
            host = "h"
              port  =  80
            dotted.key = true
            inline = { x = 1.5 }
        "#})?;
    assert_eq!(origin(&layer, "a"), "/c/x:1:5");
    assert_eq!(origin(&layer, "server.host"), "/c/x:3:8");
    assert_eq!(origin(&layer, "server.port"), "/c/x:4:12");
    assert_eq!(origin(&layer, "server.dotted.key"), "/c/x:5:14");
    assert_eq!(origin(&layer, "server.inline.x"), "/c/x:6:16");
    assert_eq!(layer.table()["server"]["inline"]["x"].as_float(), Some(1.5));
    Ok(())
}

#[test]
fn values_match_the_toml_crate() -> Result<(), Error> {
    let text = indoc! {r#"
            hex = 0xff
            oct = 0o17
            bin = 0b101
            under = 1_000
            neg = -5
            f = 6.02e23
            inf = -inf
            s = 'lit'
            ml = """
            two
            lines"""
            d = 1979-05-27T07:32:00Z
            arr = [1, [2, 3], { k = "v" }]
        "#};
    let expected: Table = toml::from_str(text).unwrap();
    assert_eq!(parse(text)?.table(), &expected);
    Ok(())
}

#[test]
fn columns_count_characters_not_bytes() -> Result<(), Error> {
    let layer = parse("\"é\" = 1\n")?;
    assert_eq!(origin(&layer, "\"é\""), "/c/x:1:7");
    Ok(())
}

#[test]
fn malformed_documents_give_position_and_snippet() {
    let err = parse("a = 1\nb = = 2\n").unwrap_err();
    let Error::Malformed {
        line,
        column,
        snippet,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((*line, *column), (2, 5));
    assert_eq!(snippet, "  |\n2 | b = = 2\n  |     ^");
}

#[test]
fn a_huge_line_is_shown_as_a_window_around_the_error() {
    let line = format!("a = [{}, ]]\n", "1, ".repeat(5_000));
    let err = parse(&line).unwrap_err();
    let Error::Malformed {
        snippet, column, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(snippet.len() < 400, "{snippet}");
    let lines: Vec<&str> = snippet.lines().collect();
    let caret = lines[2].find('^').unwrap() - "  | ".len();
    let shown: Vec<char> = lines[1]["1 | ".len()..].chars().collect();
    // The caret still points at the character the parser named.
    let original: Vec<char> = line.chars().collect();
    assert_eq!(shown[caret], original[*column as usize - 1]);
}

#[test]
fn the_snippet_escapes_control_characters_and_keeps_the_caret_in_place() {
    // TOML refuses control characters even in comments: the error
    // points at the first one, and the snippet must show it escaped.
    let err = parse("a = 1\nb = \"\u{7}\" # \u{1b}[2J\n").unwrap_err();
    let Error::Malformed { snippet, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(!err.to_string().contains('\u{1b}'), "{err}");
    assert!(!err.to_string().contains('\u{7}'), "{err}");
    let lines: Vec<&str> = snippet.lines().collect();
    assert_eq!(lines[1], "2 | b = \"\\u0007\" # \\u001B[2J");
    // The parser names the one in the comment; the caret sits under its
    // escape, past the wider escape before it.
    let caret = lines[2].find('^').unwrap();
    assert_eq!(&lines[1][caret..caret + 6], "\\u001B");
}

#[test]
fn secrets_never_reach_the_snippet() {
    let err = Layer::parse(
        "token = \"sk-live-123\" x\n",
        Path::new("/c/vault"),
        FileKind::MainFile,
        Snippets::Redacted,
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(!text.contains("sk-live-123"), "{text}");
    assert!(text.contains("token = <redacted>"), "{text}");
}

#[test]
fn absurd_nesting_is_refused_not_overflowed() {
    let deep = format!("a = {}1{}\n", "[".repeat(10_000), "]".repeat(10_000));
    let err = parse(&deep).unwrap_err();
    assert!(err.to_string().contains("nest deeper than 64"), "{err}");
    let shallow = format!("a = {}1{}\n", "[".repeat(40), "]".repeat(40));
    assert!(parse(&shallow).is_ok());
}

#[test]
fn headers_and_dotted_keys_count_towards_the_depth_limit() {
    let path = |n: usize| vec!["a"; n].join(".");
    // Each form alone stays under the parser's own guard of 80 segments;
    // together they nest past MAX_DEPTH, which only the converter sees.
    for text in [
        format!("[{}]\n{} = 1\n", path(40), path(40)),
        format!("{} = {{ {} = 1 }}\n", path(40), path(30)),
        format!(
            "[{}]\nx = [{}1{}]\n",
            path(60),
            "[".repeat(10),
            "]".repeat(10)
        ),
    ] {
        let err = parse(&text).unwrap_err();
        assert!(err.to_string().contains("nest deeper than 64"), "{err}");
        assert!(
            matches!(err, Error::Malformed { line: 1 | 2, .. }),
            "{err:?}"
        );
    }
    let err = parse(&format!("[{}]\n", path(10_000))).unwrap_err();
    assert!(err.to_string().contains("nest deeper than 64"), "{err}");
    // The deepest accepted value has a key path `get` can address.
    let deepest = format!("[{}]\n{} = 1\n", path(32), path(32));
    let layer = parse(&deepest).expect("64 levels load");
    let key: KeyPath = path(64).parse().expect("64 segments parse");
    assert_eq!(value_at(layer.table(), &key), Some(&Value::Integer(1)));
}

#[test]
fn merge_recurses_into_tables_and_replaces_arrays() -> Result<(), Error> {
    let lower = parse("list = [1, 2]\n[t]\nx = 1\ny = 2\n")?;
    let upper = Layer::parse(
        "list = [3]\n[t]\ny = 20\n",
        Path::new("/c/x.d/a.toml"),
        FileKind::DropIn,
        Snippets::Shown,
    )?;
    let mut merged = Merged::default();
    merged.push(lower);
    merged.push(upper);
    let Merged { table, origins, .. } = merged;
    let expected: Table = toml::from_str("list = [3]\n[t]\nx = 1\ny = 20\n").unwrap();
    assert_eq!(table, expected);
    let at = |p: &str| {
        origin_at(&origins, &p.parse().unwrap())
            .unwrap()
            .origin()
            .to_string()
    };
    assert_eq!(at("t.x"), "/c/x:3:5");
    assert_eq!(at("t.y"), "/c/x.d/a.toml:3:5");
    assert_eq!(at("list"), "/c/x.d/a.toml:1:8");
    Ok(())
}

#[test]
fn a_scalar_replaces_a_table_and_forgets_its_origins() -> Result<(), Error> {
    let lower = parse("[t]\nx = 1\n")?;
    let upper = parse("t = 5\n")?;
    let mut merged = Merged::default();
    merged.push(lower);
    merged.push(upper);
    let Merged { table, origins, .. } = merged;
    assert_eq!(table["t"].as_integer(), Some(5));
    assert!(origin_at(&origins, &"t.x".parse().unwrap()).is_none());
    Ok(())
}

/// One layer of a test stack.
enum Source {
    /// A file's path and text, parsed by the merge itself.
    File(&'static str, &'static str),
    /// A layer built already (environment, `--set`).
    Built(Layer),
}

fn file_layer(path: &str, text: &str) -> Layer {
    let kind = if path.contains(".d/") {
        FileKind::DropIn
    } else {
        FileKind::MainFile
    };
    Layer::parse(text, Path::new(path), kind, Snippets::Shown).unwrap()
}

/// Every key path a layer sets, tables included.
fn paths(origins: &OriginTable, prefix: &mut Vec<String>, out: &mut Vec<KeyPath>) {
    for (key, node) in origins {
        prefix.push(key.clone());
        out.push(KeyPath::from_segments(prefix.iter().cloned()));
        if let OriginNode::Table { children, .. } = node {
            paths(children, prefix, out);
        }
        prefix.pop();
    }
}

/// Merges `sources` (over a shared layer, if `shared`) as a load does, and
/// checks the merged tree against stacking each parsed layer on the last
/// one by one, bottom up; and that each layer comes back whole, answering
/// every key path as it did before the merge moved its values.
fn assert_layers_survive_the_merge(shared: Option<Layer>, sources: Vec<Source>) -> Table {
    let parsed: Vec<Layer> = sources
        .iter()
        .map(|source| match source {
            Source::File(path, text) => file_layer(path, text),
            Source::Built(layer) => layer.clone(),
        })
        .collect();
    let originals: Vec<Layer> = shared.iter().cloned().chain(parsed).collect();
    let mut bottom_up = Merged::default();
    for layer in originals.clone() {
        bottom_up.push(layer);
    }
    let (expected_table, expected_origins, _) = bottom_up.into_parts();

    let mut merged = Merged::default();
    if let Some(layer) = shared {
        merged.push_shared(Arc::new(layer));
    }
    for source in sources {
        match source {
            Source::File(path, text) => {
                let kind = file_layer(path, text).precedence();
                let kind = if kind == Precedence::DropIn {
                    FileKind::DropIn
                } else {
                    FileKind::MainFile
                };
                let source = super::TextSource::File {
                    path: Arc::from(Path::new(path)),
                    kind,
                };
                merged.push_text(text, source, Snippets::Shown).unwrap();
            }
            Source::Built(layer) => merged.push(layer),
        }
    }
    let (table, origins, kept) = merged.into_parts();
    assert_eq!(table, expected_table);
    assert_eq!(origins, expected_origins);

    let mut all = vec![KeyPath::from_segments(["missing".to_owned()])];
    for layer in &originals {
        paths(layer.origins(), &mut Vec::new(), &mut all);
    }
    assert_eq!(kept.len(), originals.len());
    for (kept, original) in kept.iter().zip(&originals) {
        let whole = kept.whole(&table, &origins);
        assert_eq!(whole.table(), original.table());
        assert_eq!(whole.origins(), original.origins());
        assert_eq!(whole.precedence(), original.precedence());
        for path in &all {
            let expected = value_at(original.table(), path)
                .zip(origin_at(original.origins(), path))
                .map(|(value, node)| (value.clone(), node.origin().clone()));
            assert_eq!(kept.at(path, &table, &origins), expected, "{path}");
        }
    }
    table
}

#[test]
fn a_merged_layer_comes_back_whole_whatever_displaced_it() {
    // A table replaced by a scalar, then declared again; tables declared by
    // several layers; values of two layers inside one displaced table.
    let merged = assert_layers_survive_the_merge(
        None,
        vec![
            Source::File(
                "/c/x",
                "list = [1, 2]\n[t]\nx = 1\ny = 2\n[t.u]\nz = 1\n[[arr]]\nq = 1\n",
            ),
            Source::File("/c/x.d/10.toml", "[t]\ny = 20\n[t.u]\nw = 2\n"),
            Source::File("/c/x.d/20.toml", "t = 5\nlist = [3]\n"),
            Source::File("/c/x.d/30.toml", "[t]\nv = 1\n[t.u]\nz = 3\n"),
            Source::File(
                "/c/x.d/40.toml",
                "t.u = { a = 1, b = { c = 2 } }\narr = 7\n",
            ),
        ],
    );
    let expected: Table =
        toml::from_str("list = [3]\narr = 7\n[t]\nv = 1\n[t.u]\na = 1\nb = { c = 2 }\nz = 3\n")
            .unwrap();
    assert_eq!(merged, expected);
}

#[test]
fn a_shared_layer_below_is_the_same_as_one_stacked_first() {
    let defaults: Table =
        toml::from_str("k = 0\n[t]\nx = 0\ny = 0\n[t.u]\nz = 0\n[s]\na = 0\n[r]\nb = 0\n").unwrap();
    let defaults = Layer::from_table(defaults, &Origin::ProfileDefault(crate::Profile::default()));
    let mut cli = Layer::empty(Precedence::Cli);
    cli.insert(
        &"t.u.z".parse().unwrap(),
        Value::Integer(9),
        Origin::Cli("x.t.u.z=9".to_owned()),
    );
    let mut env = Layer::empty(Precedence::Env);
    env.insert(
        &"t.y".parse().unwrap(),
        Value::Integer(8),
        Origin::Env("X_T_Y".to_owned()),
    );
    // `s` is replaced by a scalar and then by a table: none of the
    // defaults' `s` may show through; `r` only by a scalar.
    let merged = assert_layers_survive_the_merge(
        Some(defaults),
        vec![
            Source::File("/c/x", "k = 1\ns = 5\nr = 1\n[t]\nx = 1\n"),
            Source::File("/c/x.d/10.toml", "t = { u = 3 }\n[s]\nc = 1\n"),
            Source::File("/c/x.d/20.toml", "[t.u]\nz = 2\n"),
            Source::Built(env),
            Source::Built(cli),
        ],
    );
    assert_eq!(merged["s"], Value::Table(toml::from_str("c = 1").unwrap()));
    assert_eq!(merged["r"], Value::Integer(1));
}

#[test]
fn a_shared_layer_alone_is_the_merged_tree() {
    let defaults: Table = toml::from_str("k = 0\n[t]\nx = 0\n").unwrap();
    let defaults = Layer::from_table(defaults, &Origin::ProfileDefault(crate::Profile::default()));
    assert_layers_survive_the_merge(
        Some(defaults),
        vec![Source::Built(Layer::empty(Precedence::Cli))],
    );
}

#[test]
fn tables_iterate_in_key_order_as_the_merge_assumes() {
    // `merge::entries` walks a table and its origins side by side: toml's
    // `preserve_order` feature would break that.
    let table: Table = toml::from_str("b = 1\na = 2\n").unwrap();
    let keys: Vec<&str> = table.keys().map(String::as_str).collect();
    assert_eq!(keys, ["a", "b"]);
}

#[test]
fn a_shared_layer_below_shows_through_only_where_no_layer_replaced_its_table() {
    // The defaults wait beneath the merged tree and fill it in at the end:
    // a default table a layer replaced by a scalar (then declared again
    // above) must not show through, at any depth and whoever replaced it;
    // every other default must.
    let defaults: Table =
        toml::from_str("[a]\nx = 0\n[a.b]\ny = 0\nw = 0\n[c]\nd = 0\n[c.e]\nf = 0\n[g]\nh = 0\n")
            .unwrap();
    let defaults = Layer::from_table(defaults, &Origin::ProfileDefault(crate::Profile::default()));
    let mut env = Layer::empty(Precedence::Env);
    env.insert(
        &"c.e".parse().unwrap(),
        Value::Boolean(true),
        Origin::Env("X_C_E".to_owned()),
    );
    let mut cli = Layer::empty(Precedence::Cli);
    cli.insert(
        &"c.e.k".parse().unwrap(),
        Value::Integer(9),
        Origin::Cli("x.c.e.k=9".to_owned()),
    );
    let merged = assert_layers_survive_the_merge(
        Some(defaults),
        vec![
            Source::File("/c/x", "[a]\nb = 1\n"),
            Source::File("/c/x.d/10.toml", "[a.b]\nq = 1\n"),
            Source::File("/c/x.d/20.toml", "g = [1]\n"),
            Source::Built(env),
            Source::Built(cli),
        ],
    );
    let expected: Table =
        toml::from_str("g = [1]\n[a]\nx = 0\n[a.b]\nq = 1\n[c]\nd = 0\n[c.e]\nk = 9\n").unwrap();
    assert_eq!(merged, expected);
}

#[test]
fn positions_match_counting_lines_and_characters_one_by_one() {
    // The line index scans eight bytes at a time: put line breaks at every
    // offset within a word and across words, with multi-byte characters.
    let mut texts = vec![String::new(), "\n".to_owned(), "a".to_owned()];
    for len in 1..40 {
        for step in 1..10 {
            let text: String = (0..len)
                .map(|i| match i % step {
                    0 => '\n',
                    1 if step > 3 => 'é',
                    2 if step > 5 => '日',
                    _ => 'x',
                })
                .collect();
            texts.push(text);
        }
    }
    texts.push("\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n".to_owned());
    // Bytes one off `\n`, and with its low bits and the high bit set.
    texts.push("\u{8a}\u{10a}\n\u{b}\u{b}\u{9}\n\u{a0a}\r\n\u{7f}\n\u{b}".to_owned());
    for text in &texts {
        let index = super::LineIndex::new(text);
        let (mut line, mut column) = (1, 1);
        for (offset, c) in text.char_indices() {
            assert_eq!(
                index.position(offset),
                (line, column),
                "{text:?} at {offset}"
            );
            if c == '\n' {
                (line, column) = (line + 1, 1);
            } else {
                column += 1;
            }
        }
        assert_eq!(
            index.position(text.len()),
            (line, column),
            "{text:?} at its end"
        );
    }
}

//! The documentation drawn from a declaration: types, defaults, secrets, Markdown cells.

use super::*;

#[test]
fn code_spans_hold_any_backticks() {
    assert_eq!(code("a"), "`a`");
    assert_eq!(code("a`b"), "`` a`b ``");
    assert_eq!(code("``"), "``` `` ```");
}

#[test]
fn cells_are_one_line_without_bare_pipes() {
    assert_eq!(cell("a |\nb"), "a \\| b");
}

/// A brick whose secret has a default worth hiding, which no shipped
/// brick has.
#[derive(serde::Serialize, serde::Deserialize, confd::Brick)]
#[brick(name = "docs-vault")]
struct DocsVault {
    /// The token.
    #[brick(default = "s3cret-default", profile(cloud = "cl0ud-default"))]
    token: confd::Secret,
}

#[test]
fn a_secret_default_is_redacted_unless_secrets_are_shown() {
    let schema = confd::bricks::schema_of::<DocsVault>();
    let facts = KeyFacts::of(schema, &"token".parse().unwrap()).unwrap();
    for hidden in [
        facts.explain_text(false),
        serde_json::Value::Object(facts.json_fields(false)).to_string(),
    ] {
        assert!(!hidden.contains("default\""), "{hidden}");
        assert!(hidden.contains("<redacted>"), "{hidden}");
    }
    let schemas = [schema];
    for public in [reference(&schemas), brick_table(&schemas)] {
        assert!(!public.contains("default\""), "{public}");
        assert!(public.contains("<redacted>"), "{public}");
    }
    let shown = facts.explain_text(true);
    assert!(shown.contains("full \"s3cret-default\""), "{shown}");
    assert!(shown.contains("cloud \"cl0ud-default\""), "{shown}");
    assert!(
        serde_json::Value::Object(facts.json_fields(true))
            .to_string()
            .contains("s3cret-default")
    );
}

/// A brick with a nested table, which no shipped brick has.
#[derive(serde::Serialize, serde::Deserialize, confd::Brick)]
#[brick(name = "docs-relay")]
struct DocsRelay {
    /// Relay host.
    #[brick(default = "localhost")]
    host: String,
    /// TLS settings.
    tls: DocsTls,
}

#[derive(serde::Serialize, serde::Deserialize, confd::Section)]
struct DocsTls {
    /// Seconds to wait for a handshake.
    #[brick(default = 5, reload)]
    timeout: u32,
}

#[test]
fn a_nested_table_is_a_table_and_its_keys_are_listed_under_it() {
    let schema = confd::bricks::schema_of::<DocsRelay>();
    let tls = KeyFacts::of(schema, &"tls".parse().unwrap()).unwrap();
    assert!(
        tls.explain_text(false)
            .starts_with("TLS settings.\n  type       table\n")
    );
    let reference = reference(&[schema]);
    let table = reference.split("### `docs-relay.tls`\n").nth(1).unwrap();
    assert!(
        table.starts_with("\nTLS settings.\n\n- type: table\n\n### `docs-relay.tls.timeout`"),
        "{reference}"
    );
    assert!(reference.contains("- reload: yes"), "{reference}");
    let row = brick_table(&[schema]);
    assert!(
        row.contains("`host = \"localhost\"`; `tls.timeout = 5` (reload) | none |"),
        "{row}"
    );
}

#[test]
fn an_optional_key_is_documented_as_unset() {
    let schema = confd::bricks::schema_of::<DocsOptional>();
    let facts = KeyFacts::of(schema, &"proxy".parse().unwrap()).unwrap();
    let text = facts.explain_text(false);
    assert!(text.starts_with("A proxy, if any.\n"), "{text}");
    assert!(
        text.contains("  default    none (unset unless a layer sets it)\n"),
        "{text}"
    );
    assert!(text.contains("  reload     yes"), "{text}");
    let reference = reference(&[schema]);
    assert!(
        reference.contains("- default: none (unset unless a layer sets it)\n"),
        "{reference}"
    );
    let row = brick_table(&[schema]);
    assert!(row.contains("| `proxy` unset (reload) |"), "{row}");
}

/// A brick with an optional key, unset by default.
#[derive(serde::Serialize, serde::Deserialize, confd::Brick)]
#[brick(name = "docs-optional")]
struct DocsOptional {
    /// A proxy, if any.
    #[brick(default = None, reload)]
    proxy: Option<String>,
}

#[test]
fn a_summary_is_the_first_paragraph() {
    assert_eq!(summary("One\ntwo.\n\nMore."), "One two.");
}

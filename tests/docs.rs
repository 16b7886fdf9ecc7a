//! Documentation from the declaration (DESIGN.md §9): `nexus config docs`,
//! the head of `nexus config explain`, and the README's brick table.

use std::path::Path;

use crate::support::Sandbox;

const BEGIN: &str = "<!-- confd docs begin";
const END: &str = "<!-- confd docs end -->";

fn readme_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")
}

/// The README's generated block: the text between the begin marker's line
/// and the end marker.
fn generated_block(readme: &str) -> Option<(usize, usize)> {
    let begin = readme.find(BEGIN)?;
    let start = begin + readme[begin..].find('\n')? + 1;
    let end = start + readme[start..].find(END)?;
    Some((start, end))
}

#[test]
fn the_readme_brick_table_is_the_generation() {
    let sandbox = Sandbox::new();
    let run = sandbox.run_raw(&["config", "docs", "--table"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let path = readme_path();
    let readme = std::fs::read_to_string(&path).unwrap();
    let (start, end) = generated_block(&readme).expect("README.md has the confd docs markers");
    // A test switch, not configuration: confd's Env seam is for loads.
    #[allow(clippy::disallowed_methods)]
    let bless = std::env::var_os("CONFD_BLESS").is_some();
    if bless {
        let updated = format!("{}{}{}", &readme[..start], run.stdout, &readme[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert!(
        readme[start..end] == run.stdout,
        "README.md's brick table differs from `nexus config docs --table`; run \
         `CONFD_BLESS=1 cargo test -p confd-cli --test e2e docs::` and review the diff.\n\
         README:\n{}\ngenerated:\n{}",
        &readme[start..end],
        run.stdout
    );
    // One row per registered brick.
    for schema in confd::bricks::registered() {
        assert!(
            run.stdout.contains(&format!("| `{}` |", schema.name())),
            "{}",
            schema.name()
        );
    }
}

/// The `### brick.key` section of a reference.
fn section<'a>(reference: &'a str, key: &str) -> &'a str {
    let heading = format!("\n### `{key}`\n");
    let start = reference
        .find(&heading)
        .unwrap_or_else(|| panic!("no section for `{key}` in:\n{reference}"));
    let rest = &reference[start + heading.len()..];
    let end = rest.find("\n#").unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn the_reference_has_every_brick_and_key_as_declared() {
    let sandbox = Sandbox::new();
    // No state dir is needed, nor made.
    let run = sandbox.run_raw(&["config", "docs"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(!sandbox.state().exists());
    let reference = run.stdout;
    assert!(
        reference.starts_with("# Configuration reference\n"),
        "{reference}"
    );
    for schema in confd::bricks::registered() {
        let name = schema.name();
        assert!(reference.contains(&format!("\n## `{name}`\n")), "{name}");
        let defaults = schema.defaults(confd::Profile::Full);
        for key in schema.keys() {
            let text = section(&reference, &format!("{name}.{}", key.path));
            assert!(text.contains(key.doc.trim()), "{name}.{}: {text}", key.path);
            for var in key.env {
                assert!(text.contains(&format!("`{var}`")), "{var}: {text}");
            }
            if key.table {
                assert!(text.contains("- type: table"), "{text}");
                continue;
            }
            let path = key.path.parse().unwrap();
            let value = confd::layer::value_at(&defaults, &path).unwrap();
            let shape = schema.shape();
            let described = shape.at(&path).expect("every key has a shape").describe();
            assert!(text.contains(&format!("- type: {described}")), "{text}");
            assert!(text.contains(&format!("`{value}`")), "{text}");
            assert_eq!(text.contains("- secret: "), key.secret, "{text}");
            let reload = if key.reload {
                "- reload: yes"
            } else {
                "- reload: no"
            };
            assert!(text.contains(reload), "{text}");
        }
    }
    let pool = section(&reference, "database.pool_size");
    assert!(
        pool.contains(
            "- defaults by profile: minimal `1`, embedded `3`, lite `8`, full `20`, cloud `30`"
        ),
        "{pool}"
    );
    let ttl = section(&reference, "cache.permission_ttl");
    assert!(ttl.contains("- default: `300`"), "{ttl}");
    assert!(ttl.contains("- reload: yes, applied live"), "{ttl}");
    let pushdown = section(&reference, "search.enable_predicate_pushdown");
    assert!(
        pushdown.contains("`NEXUS_DISABLE_PREDICATE_PUSHDOWN` (inverted"),
        "{pushdown}"
    );
    let url = section(&reference, "database.url");
    assert!(
        url.contains("`NEXUS_DATABASE_URL`, then `POSTGRES_URL`"),
        "{url}"
    );
}

#[test]
fn docs_names_bricks_in_order_once_and_refuses_an_unknown_one() {
    let sandbox = Sandbox::new();
    let run = sandbox.run_raw(&["config", "docs", "uploads", "cache", "uploads"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let sections: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("## "))
        .collect();
    assert_eq!(sections, ["## `uploads`", "## `cache`"]);

    let run = sandbox.run_raw(&["config", "docs", "cahce"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .contains("`cahce` is not a registered brick (did you mean `cache`?)"),
        "{}",
        run.stderr
    );
    let run = sandbox.run_raw(&["config", "docs", "../etc"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
}

#[test]
fn docs_in_json_has_the_same_facts() {
    let sandbox = Sandbox::new();
    let run = sandbox.run_raw(&["--format", "json", "config", "docs", "database"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let docs: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let brick = &docs["bricks"][0];
    assert_eq!(brick["brick"], "database");
    assert_eq!(brick["holds_secrets"], true);
    let keys = brick["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3);
    let pool = keys.iter().find(|k| k["key"] == "pool_size").unwrap();
    assert_eq!(pool["type"], "integer");
    assert_eq!(pool["defaults"]["minimal"], 1);
    assert_eq!(pool["defaults"]["cloud"], 30);
    assert_eq!(pool["reload"], false);
    let url = keys.iter().find(|k| k["key"] == "url").unwrap();
    assert_eq!(url["secret"], true);
    assert_eq!(
        url["env"],
        serde_json::json!(["NEXUS_DATABASE_URL", "POSTGRES_URL"])
    );
}

#[test]
fn explain_begins_with_the_declaration() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["config", "explain", "cache.permission_ttl"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[..7],
        [
            "Seconds a granted permission stays cached.",
            "  type       integer, 0 or more",
            "  default    300",
            "  variables  NEXUS_CACHE_PERMISSION_TTL",
            "  secret     no",
            "  reload     yes: the brick applies a change live, no restart",
            "",
        ]
    );
    // The layers follow, as before.
    assert_eq!(lines[7], "cache.permission_ttl = 300", "{}", run.stdout);
    assert!(lines[8].starts_with("* profile default"), "{}", run.stdout);

    let run = sandbox.run(&[
        "--profile",
        "cloud",
        "config",
        "explain",
        "database.pool_size",
    ]);
    assert!(
        run.stdout.starts_with(
            "Connections in the pool.\n  type       integer (0 to 4294967295)\n  \
             defaults   minimal 1, embedded 3, lite 8, full 20, cloud 30\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("  reload     no: a change needs a restart\n")
    );
    assert!(
        run.stdout.contains("database.pool_size = 30\n"),
        "{}",
        run.stdout
    );

    let run = sandbox.run(&["config", "explain", "search.enable_predicate_pushdown"]);
    assert!(
        run.stdout.contains(
            "  variables  NEXUS_DISABLE_PREDICATE_PUSHDOWN (inverted: a true value sets `false`)\n"
        ),
        "{}",
        run.stdout
    );
    let run = sandbox.run(&["config", "explain", "database.url"]);
    assert!(
        run.stdout
            .contains("  variables  NEXUS_DATABASE_URL, then POSTGRES_URL\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("  secret     yes"), "{}", run.stdout);
}

#[test]
fn explain_in_json_carries_the_declaration() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&[
        "--format",
        "json",
        "config",
        "explain",
        "cache.permission_ttl",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["key"], "cache.permission_ttl");
    assert_eq!(doc["declared"], true);
    assert_eq!(doc["doc"], "Seconds a granted permission stays cached.");
    assert_eq!(doc["type"], "integer");
    for profile in confd::Profile::ALL {
        assert_eq!(doc["defaults"][profile.as_str()], 300, "{doc}");
    }
    assert_eq!(
        doc["env"],
        serde_json::json!(["NEXUS_CACHE_PERMISSION_TTL"])
    );
    assert_eq!(doc["env_inverted"], false);
    assert_eq!(doc["secret"], false);
    assert_eq!(doc["reload"], true);
    assert_eq!(doc["layers"][0]["wins"], true);

    // A key no brick declares: the same fields, empty; the text has no head.
    sandbox.write("cache", "extra = 1\n");
    sandbox.write("queue", "a = 1\n");
    for target in ["cache.extra", "queue.a"] {
        let run = sandbox.run(&["--format", "json", "config", "explain", target]);
        let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(doc["declared"], false, "{doc}");
        assert_eq!(doc["doc"], serde_json::Value::Null, "{doc}");
        assert_eq!(doc["type"], serde_json::Value::Null, "{doc}");
        assert_eq!(doc["reload"], false, "{doc}");
        assert_eq!(doc["layers"][0]["value"], 1, "{doc}");
        let run = sandbox.run(&["config", "explain", target]);
        assert!(
            run.stdout.starts_with(&format!("{target} = 1\n")),
            "{}",
            run.stdout
        );
    }
}

#[test]
fn explain_redacts_a_secret_default_unless_asked() {
    // No shipped secret has a non-empty default: an undeclared key of a
    // brick holding secrets counts as secret, and its layers are redacted;
    // the head of a declared secret shows its (empty) default.
    let sandbox = Sandbox::new();
    sandbox.write("llm.d/50-key.toml", "api_key = \"sk-canary\"\n");
    let run = sandbox.run(&["--format", "json", "config", "explain", "llm.api_key"]);
    assert!(!run.stdout.contains("sk-canary"), "{}", run.stdout);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["secret"], true);
    assert_eq!(doc["defaults"]["full"], "");
    let run = sandbox.run(&["config", "explain", "llm.api_key"]);
    assert!(!run.stdout.contains("sk-canary"), "{}", run.stdout);
}

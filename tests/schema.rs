//! Schemas as data (DESIGN.md §9): `config schema`, the schemas `init`
//! installs, and a brick `nexus` does not link, known from its installed
//! schema alone.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use indoc::indoc;

use crate::support::{Sandbox, nexus_bin};

/// The installed schema of `vault`, a brick the stock `nexus` does not
/// link, as `confd::install::<Vault>` writes it.
const VAULT_SCHEMA: &str = indoc! {r#"
    {
      "$schema": "https://json-schema.org/draft/2020-12/schema",
      "additionalProperties": false,
      "description": "Secrets service.",
      "properties": {
        "address": {
          "default": "http://127.0.0.1:8200",
          "description": "Where the service listens.",
          "type": "string",
          "x-confd-env": ["NEXUS_VAULT_ADDR", "VAULT_ADDR"],
          "x-confd-env-inverted": false,
          "x-confd-reload": false
        },
        "mode": {
          "default": "sealed",
          "enum": ["sealed", "open"],
          "type": "string",
          "x-confd-reload": false
        },
        "port": {
          "default": 8200,
          "maximum": 65535,
          "minimum": 0,
          "type": "integer",
          "x-confd-profiles": {"minimal": 8300},
          "x-confd-reload": true
        },
        "token": {
          "default": "",
          "description": "The service's token.",
          "type": "string",
          "writeOnly": true,
          "x-confd-reload": false
        },
        "tls": {
          "additionalProperties": false,
          "properties": {
            "verify": {
              "default": true,
              "type": "boolean",
              "x-confd-env": ["VAULT_SKIP_VERIFY"],
              "x-confd-env-inverted": true,
              "x-confd-reload": false
            }
          },
          "type": "object"
        }
      },
      "title": "vault",
      "type": "object",
      "x-confd-profile": "full"
    }
"#};

fn with_vault(sandbox: &Sandbox, file: &str) {
    let dir = sandbox.state().join("share/confd/schema");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("vault.json"), VAULT_SCHEMA).unwrap();
    sandbox.write("vault", file);
}

#[test]
fn show_redacts_an_unlinked_bricks_secret_and_fills_its_defaults() {
    let sandbox = Sandbox::new();
    with_vault(&sandbox, "token = \"s.hunter2\"\n");
    let run = sandbox.run(&["config", "show", "vault"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(!run.stdout.contains("hunter2"), "{}", run.stdout);
    assert!(
        run.stdout.contains("token = \"<redacted>\""),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("port = 8200"), "{}", run.stdout);
    assert!(
        run.stdout.contains("[tls]\nverify = true"),
        "{}",
        run.stdout
    );
    let minimal = sandbox.run(&["--profile", "minimal", "config", "get", "vault.port"]);
    assert_eq!(minimal.stdout, "8300\n", "{}", minimal.transcript());
    let get = sandbox.run(&["config", "get", "vault.token"]);
    assert!(!get.stdout.contains("hunter2"), "{}", get.transcript());
    let json = sandbox.run(&["--format", "json", "config", "show", "vault"]);
    assert!(!json.stdout.contains("hunter2"), "{}", json.stdout);
}

#[test]
fn set_and_env_are_typed_by_the_installed_schema() {
    let mut sandbox = Sandbox::new();
    with_vault(&sandbox, "");
    let run = sandbox.run(&["--set", "vault.port=9000", "config", "get", "vault.port"]);
    assert_eq!(run.stdout, "9000\n", "{}", run.transcript());
    let run = sandbox.run(&["--set", "vault.port=nine", "config", "get", "vault.port"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stderr.contains("expected integer"), "{}", run.stderr);
    // The range and the variants are the brick's type's, not TOML's.
    let run = sandbox.run(&["--set", "vault.port=70000", "config", "get", "vault.port"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(
        run.stderr.contains("`vault.port`") && run.stderr.contains("from 0 to 65535"),
        "{}",
        run.stderr
    );
    let run = sandbox.run(&["--set", "vault.mode=ajar", "config", "get", "vault.mode"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(
        run.stderr
            .contains("unknown variant `ajar`, expected one of `sealed`, `open`"),
        "{}",
        run.stderr
    );
    // `config set` parses by the key's type too.
    let run = sandbox.run(&["config", "set", "vault.port", "9100"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        sandbox.read("vault").contains("port = 9100"),
        "{}",
        sandbox.read("vault")
    );
    let run = sandbox.run(&["config", "set", "vault.port", "many"]);
    assert_eq!(run.code, 2, "{}", run.transcript());

    sandbox.env("VAULT_ADDR", "https://vault.internal");
    sandbox.env("VAULT_SKIP_VERIFY", "1");
    let run = sandbox.run(&["config", "show", "vault", "--origin"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        run.stdout.contains("address = \"https://vault.internal\""),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("verify = false"), "{}", run.stdout);
    assert!(run.stdout.contains("VAULT_SKIP_VERIFY"), "{}", run.stdout);
}

#[test]
fn a_secret_set_on_an_unlinked_brick_gets_a_private_file() {
    let sandbox = Sandbox::new();
    with_vault(&sandbox, "");
    std::fs::remove_file(sandbox.conf_d().join("vault")).unwrap();
    let run = sandbox.run_with_stdin(&["config", "set", "vault.token", "--stdin"], b"s.hunter2\n");
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        !run.transcript().contains("hunter2"),
        "{}",
        run.transcript()
    );
    let mode = std::fs::metadata(sandbox.conf_d().join("vault"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // A value typed after a `.` instead of an `=` is never quoted.
    let run = sandbox.run(&["config", "get", "vault.token.s-hunter2"]);
    assert!(
        !run.transcript().contains("hunter2"),
        "{}",
        run.transcript()
    );
}

#[test]
fn an_unknown_key_of_an_unlinked_brick_warns_with_did_you_mean() {
    let sandbox = Sandbox::new();
    let path = sandbox.conf_d().join("vault");
    with_vault(&sandbox, "adress = \"http://x\"\n");
    let run = sandbox.run(&["config", "show", "vault"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        run.stderr.contains(&format!(
            "unknown key `vault.adress` at `{}:1:10`",
            sandbox.redact(&path.display().to_string())
        )) && run.stderr.contains("did you mean `address`?"),
        "{}",
        run.stderr
    );
    let strict = sandbox.run(&["--strict", "config", "show", "vault"]);
    assert_eq!(strict.code, 1, "{}", strict.transcript());
}

#[test]
fn diff_and_edit_know_an_unlinked_brick() {
    let sandbox = Sandbox::new();
    with_vault(&sandbox, "token = \"s.hunter2\"\n");
    let diff = sandbox.run(&["config", "diff", "vault"]);
    assert_eq!(diff.code, 2, "{}", diff.transcript());
    assert!(
        diff.stderr.contains("known from its installed schema"),
        "{}",
        diff.stderr
    );
    // `edit` and `set` validate a candidate by the installed schema.
    let editor = sandbox.editor("ed.sh", "printf 'port = \"high\"\\n' > \"$1\"");
    let mut sandbox = sandbox;
    sandbox.env("EDITOR", &editor);
    let before = sandbox.read("vault");
    let edit = sandbox.run(&["config", "edit", "vault"]);
    assert_ne!(edit.code, 0, "{}", edit.transcript());
    assert_eq!(
        sandbox.read("vault"),
        before,
        "a refused edit changes nothing"
    );
    assert!(
        !edit.transcript().contains("hunter2"),
        "{}",
        edit.transcript()
    );
}

#[test]
fn validate_says_the_rules_of_an_unlinked_brick_were_not_checked() {
    let sandbox = Sandbox::new();
    with_vault(&sandbox, "mode = \"open\"\n");
    let run = sandbox.run(&["config", "validate", "vault"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(run.stdout.contains("ok       vault"), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("`vault`: rules across keys were not checked"),
        "{}",
        run.stderr
    );
    let json = sandbox.run(&["--format", "json", "config", "validate", "vault"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(doc["bricks"][0]["diagnostics"][0]["check"], "rules");
    assert_eq!(doc["bricks"][0]["diagnostics"][0]["severity"], "note");
    // Without arguments, the installed brick is among those checked.
    let all = sandbox.run(&["config", "validate"]);
    assert!(
        all.stdout.contains("ok       vault"),
        "{}",
        all.transcript()
    );
    // A wrong variant in the file names the file, line and column.
    sandbox.write("vault", "mode = \"ajar\"\n");
    let run = sandbox.run(&["config", "validate", "vault"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr.contains("conf.d/vault:1:8") && run.stderr.contains("unknown variant `ajar`"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_broken_installed_schema_is_reported_not_used() {
    let sandbox = Sandbox::new();
    with_vault(&sandbox, "token = \"s.hunter2\"\n");
    std::fs::write(
        sandbox.state().join("share/confd/schema/vault.json"),
        VAULT_SCHEMA.replace("\"title\": \"vault\"", "\"title\": \"vaults\""),
    )
    .unwrap();
    let run = sandbox.run(&["config", "validate", "vault"]);
    assert!(
        run.stderr.contains("cannot use the installed schema `[ROOT]/state/share/confd/schema/vault.json`: its `title` is `vaults`, not `vault`"),
        "{}",
        run.transcript()
    );
    let run = sandbox.run(&["config", "schema", "vault"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
}

#[test]
fn schema_prints_a_linked_or_an_installed_brick() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["config", "schema", "cache"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(doc["title"], "cache");
    assert_eq!(doc["properties"]["backend"]["enum"][1], "dragonfly");
    // The same JSON whatever --format says.
    let json = sandbox.run(&["--format", "json", "config", "schema", "cache"]);
    assert_eq!(json.stdout, run.stdout);
    // The active profile's defaults.
    let cloud = sandbox.run(&["--profile", "minimal", "config", "schema", "database"]);
    let doc: serde_json::Value = serde_json::from_str(&cloud.stdout).expect("JSON");
    assert_eq!(doc["x-confd-profile"], "minimal");

    with_vault(&sandbox, "");
    let run = sandbox.run(&["config", "schema", "vault"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let printed: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let installed: serde_json::Value = serde_json::from_str(VAULT_SCHEMA).unwrap();
    assert_eq!(printed, installed);

    let run = sandbox.run(&["config", "schema", "cahce"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(
        run.stderr.contains("did you mean `cache`?"),
        "{}",
        run.stderr
    );
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn init_installs_every_schema_0644_whatever_the_umask_and_upgrades_a_stale_one() {
    for umask in ["000", "077"] {
        let sandbox = Sandbox::new();
        let state = sandbox.state();
        let output = sandbox
            .command_with(
                Path::new("/bin/sh"),
                &[
                    "-c",
                    &format!("umask {umask} && \"$0\" --state-dir \"$1\" config init"),
                ],
            )
            .arg(nexus_bin())
            .arg(&state)
            .output()
            .unwrap();
        let run = sandbox.finish(output);
        assert_eq!(run.code, 0, "umask {umask}: {}", run.transcript());
        for dir in ["share", "share/confd", "share/confd/schema"] {
            assert_eq!(mode(&state.join(dir)), 0o755, "umask {umask}: `{dir}`");
        }
        for name in [
            "cache",
            "database",
            "llm",
            "mounts",
            "permissions",
            "search",
            "uploads",
        ] {
            let path = state.join(format!("share/confd/schema/{name}.json"));
            assert_eq!(mode(&path), 0o644, "umask {umask}: `{name}`");
            let printed = sandbox.run(&["config", "schema", name]).stdout;
            assert_eq!(std::fs::read_to_string(&path).unwrap(), printed, "{name}");
        }
    }
    let sandbox = Sandbox::new();
    sandbox.init();
    let stale = sandbox.state().join("share/confd/schema/cache.json");
    std::fs::write(&stale, "{}\n").unwrap();
    std::fs::write(stale.with_file_name(".cache.json.Ab12Cd.tmp"), "{").unwrap();
    let run = sandbox.run(&["config", "init"]);
    assert!(
        run.stdout.contains("upgraded [ROOT]/state/share/confd/schema/cache.json\n")
            && run.stdout.contains("unchanged [ROOT]/state/share/confd/schema/llm.json\n")
            && run.stdout.contains(
                "removed  [ROOT]/state/share/confd/schema/.cache.json.Ab12Cd.tmp (stale temporary file)"
            ),
        "{}",
        run.stdout
    );
    assert_ne!(std::fs::read_to_string(&stale).unwrap(), "{}\n");
    let json = sandbox.run(&["--format", "json", "config", "init", "--dry-run"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(doc["files"].as_array().unwrap().len(), 9); // the seven shipped bricks, the fleet's and the VFS policy
    assert_eq!(doc["schemas"].as_array().unwrap().len(), 9);
    assert_eq!(doc["schemas"][0]["name"], "cache.json");
    assert_eq!(doc["schemas"][0]["action"], "unchanged");
}

/// A product binary installs its brick; the stock `nexus`, which does not
/// link it, then knows it from the schema alone.
#[test]
fn the_stock_nexus_knows_a_brick_a_product_installed() {
    let sandbox = Sandbox::new();
    let state = sandbox.state();
    let product = |args: &[&str]| {
        let mut all = vec!["--state-dir", state.to_str().unwrap()];
        all.extend_from_slice(args);
        sandbox.finish(
            sandbox
                .command_with(crate::example_brick::mailer(), &all)
                .output()
                .unwrap(),
        )
    };
    let init = product(&["config", "init"]);
    assert!(
        init.stdout
            .contains("created  [ROOT]/state/share/confd/schema/smtp.json\n"),
        "{}",
        init.transcript()
    );
    let set = product(&["config", "set", "smtp.password", "hunter2"]);
    assert_eq!(set.code, 0, "{}", set.transcript());
    let installed = std::fs::read_to_string(state.join("share/confd/schema/smtp.json")).unwrap();
    assert_eq!(
        sandbox.run(&["config", "schema", "smtp"]).stdout,
        installed,
        "nexus prints the installed schema as the product generates it"
    );

    let show = sandbox.run(&["config", "show", "smtp"]);
    assert_eq!(show.code, 0, "{}", show.transcript());
    assert!(
        show.stdout.contains("password = \"<redacted>\""),
        "{}",
        show.stdout
    );
    assert!(
        !show.transcript().contains("hunter2"),
        "{}",
        show.transcript()
    );
    let pool = sandbox.run(&["--profile", "cloud", "config", "get", "smtp.pool"]);
    assert_eq!(pool.stdout, "16\n", "{}", pool.transcript());
    let port = sandbox.run(&["--set", "smtp.port=100000", "config", "get", "smtp.port"]);
    assert_eq!(port.code, 2, "{}", port.transcript());
    // The product checks its rule across keys; nexus cannot, and says so.
    sandbox.write("smtp.d/50-port.toml", "port = 0\n");
    assert_eq!(product(&["config", "validate", "smtp"]).code, 1);
    let validate = sandbox.run(&["config", "validate", "smtp"]);
    assert_eq!(validate.code, 0, "{}", validate.transcript());
    assert!(
        validate
            .stderr
            .contains("rules across keys were not checked"),
        "{}",
        validate.stderr
    );
}

/// `watch` loads through the same lookup: the installed brick's secret is
/// redacted in its lines.
#[test]
fn watch_redacts_an_unlinked_bricks_secret() {
    let sandbox = Sandbox::new();
    with_vault(&sandbox, "token = \"a\"\n");
    let watching = crate::watch::Watching::start(&sandbox, &["vault"]);
    assert!(
        watching.banner().starts_with("watching vault"),
        "{}",
        watching.banner()
    );
    let temp = sandbox.write(".vault.tmp", "token = \"s.hunter2\"\n");
    std::fs::rename(temp, sandbox.conf_d().join("vault")).unwrap();
    let line = watching.next_line();
    assert!(line.starts_with("reloaded vault "), "{line}");
    assert!(
        line.contains("token: \"<redacted>\" -> \"<redacted>\""),
        "{line}"
    );
    assert!(!line.contains("hunter2"), "{line}");
}

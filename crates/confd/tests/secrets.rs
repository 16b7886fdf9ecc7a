//! Secrets never leak from the library (RELIABILITY.md): with a canary in
//! `llm.api_key` and `database.url` (from files, a drop-in, the environment
//! and `--set`), no `Display`, `Debug`, error, warning, log line at any level
//! or panic message contains it; nor does the error of a malformed override,
//! whatever its key looks like, nor any rendering of a key under a secret or
//! unknown to a brick that holds secrets.

use std::sync::{Arc, Mutex};

use crate::support::State;

const CANARY: &str = "sk-CANARY-5e3cr3t";

/// A writer the log subscriber appends to.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with every log line at TRACE and above captured (on this thread
/// only: no global subscriber), returning what `f` rendered and the logs.
fn with_logs(f: impl FnOnce() -> String) -> String {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let rendered = tracing::subscriber::with_default(subscriber, f);
    let logs = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf8");
    format!("{rendered}\n--- logs\n{logs}")
}

fn assert_no_canary(text: &str) {
    assert!(!text.contains(CANARY), "the canary leaked:\n{text}");
    assert!(
        !text.contains("5e3cr3t"),
        "part of the canary leaked:\n{text}"
    );
}

fn render(result: Result<confd::BrickConfig, confd::Error>) -> String {
    match result {
        Ok(config) => {
            let mut out = format!("{config}\n{config:?}\n{:?}\n", config.redacted_table());
            for warning in config.warnings() {
                out.push_str(&format!("{warning}\n{warning:?}\n"));
            }
            for key in ["api_key", "url", "read_replica_url"] {
                if let Ok(key) = key.parse::<confd::KeyPath>() {
                    for (_, origin) in config.explain(&key) {
                        out.push_str(&format!("{origin} {origin:?}\n"));
                    }
                }
            }
            // A value read into the wrong type names the key, not the value.
            if let Err(e) = config.get::<i64>("api_key") {
                out.push_str(&format!("{e}\n{e:?}\n"));
            }
            if let Err(e) = config.get::<i64>("url") {
                out.push_str(&format!("{e}\n{e:?}\n"));
            }
            out
        }
        Err(e) => format!("{e}\n{e:?}\n"),
    }
}

#[test]
fn no_rendering_of_a_load_shows_the_canary() {
    let state = State::new();
    state.write("llm", format!("api_key = \"{CANARY}\"\nmodel = \"m\"\n"));
    state.write("llm.d/50-key.toml", format!("api_key = \"{CANARY}\"\n"));
    state.write(
        "database",
        format!("url = \"postgresql://u:{CANARY}@h/db\"\nread_replica_url = \"{CANARY}\"\n"),
    );
    let url = format!("postgresql://u:{CANARY}@h/db");
    let out = with_logs(|| {
        let mut out = String::new();
        for brick in ["llm", "database"] {
            out.push_str(&render(state.loader().load(brick)));
            out.push_str(&render(state.loader().strict(true).load(brick)));
            out.push_str(&render(
                state
                    .loader()
                    .env([
                        ("NEXUS_DATABASE_URL", url.as_str()),
                        ("POSTGRES_URL", CANARY),
                    ])
                    .cli_override("llm.api_key", CANARY)
                    .cli_override("database.url", CANARY)
                    .load(brick),
            ));
        }
        let typed = state.loader().load_typed::<confd_bricks::LlmConfig>();
        out.push_str(&format!("{typed:?}\n"));
        let typed = state.loader().load_typed::<confd_bricks::DatabaseConfig>();
        out.push_str(&format!("{typed:?}\n"));
        out
    });
    assert!(
        out.contains("<redacted>"),
        "secrets were not loaded at all:\n{out}"
    );
    assert_no_canary(&out);
}

#[test]
fn no_error_about_a_secret_shows_the_canary() {
    let cases: Vec<(&str, String)> = vec![
        // Malformed on the secret's line, and after it.
        ("llm", format!("api_key = \"{CANARY}\" junk\n")),
        ("llm", format!("api_key = \"{CANARY}\"\nmodel = = 1\n")),
        ("llm", format!("api_key = \"{CANARY}\nmodel = 1\n")),
        ("llm", format!("api_key = '''{CANARY}\n")),
        // Wrong types. (A value under an unknown key, such as a typo'd
        // `api_kee`, is not a declared secret and is shown: RELIABILITY.md.)
        ("llm", format!("api_key = [\"{CANARY}\"]\n")),
        ("llm", format!("api_key = {{ k = \"{CANARY}\" }}\n")),
        (
            "database",
            format!("url = \"{CANARY}\"\npool_size = \"x\"\n"),
        ),
        (
            "database",
            format!("url = 5\nread_replica_url = \"{CANARY}\" x\n"),
        ),
    ];
    let out = with_logs(|| {
        let mut out = String::new();
        for (brick, text) in &cases {
            let state = State::new();
            state.write(brick, text);
            out.push_str(&render(state.loader().load(brick)));
            out.push_str(&render(state.loader().strict(true).load(brick)));
            if *brick == "llm" {
                let typed = state.loader().load_typed::<confd_bricks::LlmConfig>();
                out.push_str(&format!("{typed:?}\n"));
            }
        }
        // Secrets from the environment and the command line of the wrong shape.
        let state = State::new();
        for (k, v) in [("llm.api_key", CANARY), ("database.url", CANARY)] {
            let loader = state.loader().cli_override(k, v);
            out.push_str(&render(loader.clone().load("llm")));
            out.push_str(&render(loader.load("database")));
        }
        let env = state.loader().env([("NEXUS_READ_REPLICA_URL", CANARY)]);
        out.push_str(&render(env.load("database")));
        out
    });
    assert!(out.contains("error") || out.contains("invalid"), "{out}");
    assert_no_canary(&out);
}

/// A panic while a secret is loaded (a brick's own `expect` on a config or
/// an error) carries no secret in its message.
#[test]
fn a_panic_message_about_a_loaded_secret_shows_no_canary() {
    let state = State::new();
    state.write("llm", format!("api_key = \"{CANARY}\"\n"));
    let config = state.loader().load("llm").expect("load");
    let payload = std::panic::catch_unwind(|| panic!("boom with {config:?} and {config}"))
        .expect_err("a panic");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .expect("a formatted message");
    assert!(message.contains("<redacted>"), "{message}");
    assert_no_canary(&message);

    state.write("llm", format!("api_key = \"{CANARY}\" junk\n"));
    let loader = state.loader().cache(false);
    let payload = std::panic::catch_unwind(|| {
        let _ = loader.load("llm").expect("a brick that expects its config");
    })
    .expect_err("a panic");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .expect("a message");
    assert!(message.contains("Malformed"), "{message}");
    assert_no_canary(&message);
}

/// A malformed `--set`, however its key is mangled, quotes its key and never
/// its value: neither the parse of the flag nor a loader given it directly.
#[test]
fn a_malformed_override_never_shows_its_value() {
    let c = CANARY;
    let specs = [
        format!("llm.api_key:{c}"),
        "llm.api_key".to_owned(),
        format!("database.url ={c}"),
        format!("LLM.api_key={c}"),
        format!("llm.\"api_key={c}"),
        format!("database.url:postgresql://u:{c}@h/db?ssl=require"),
        format!("llm.api_key {c}=x"),
        c.to_owned(),
    ];
    let mut out = String::new();
    for spec in &specs {
        let err = spec
            .parse::<confd::loader::Override>()
            .expect_err("a malformed override");
        assert!(confd::Error::from(err.clone()).is_usage(), "{err}");
        assert!(err.to_string().contains("invalid override"), "{err}");
        out.push_str(&format!("{err}\n{err:?}\n"));
    }
    let state = State::new();
    for (key, value) in [("LLM.api_key", c), ("database.url ", c), ("llm", c)] {
        out.push_str(&render(state.loader().cli_override(key, value).load("llm")));
    }
    // A good one does not show its value in `Debug` either.
    let good: confd::loader::Override = format!("llm.api_key={c}").parse().expect("override");
    out.push_str(&format!("{good:?}\n"));
    assert_no_canary(&out);
}

/// A key under a secret (`database.url.sub`), and a key a secret-holding
/// brick does not know (a misspelt `apikey`), are secret in every rendering.
#[test]
fn a_key_under_a_secret_or_unknown_to_its_brick_is_secret() {
    let state = State::new();
    let out = with_logs(|| {
        let mut out = String::new();
        for (key, brick) in [
            ("database.url.sub", "database"),
            ("llm.api_key.a.b", "llm"),
            ("llm.apikey", "llm"),
            ("database.urll", "database"),
        ] {
            let loader = state.loader().cli_override(key, CANARY);
            out.push_str(&render(loader.load(brick)));
            out.push_str(&render(loader.clone().strict(true).load(brick)));
            if let Ok(config) = loader.load(brick) {
                let path: confd::KeyPath = key
                    .split_once('.')
                    .expect("brick.key")
                    .1
                    .parse()
                    .expect("key");
                assert!(config.is_secret(&path), "{key}");
                for (_, origin) in config.explain(&path) {
                    out.push_str(&format!("{origin}\n"));
                }
            }
        }
        state.write("llm", format!("apikey = \"{CANARY}\"\n"));
        state.write("database", format!("[url]\nsub = \"{CANARY}\"\n"));
        out.push_str(&render(state.loader().load("llm")));
        out.push_str(&render(state.loader().load("database")));
        out
    });
    assert_no_canary(&out);
}

/// The deprecation warning of a secret variable points at the brick's file
/// (mode 0600), never at `--set`, whose value every user can read in
/// `/proc/*/cmdline`; other variables keep the `--set` advice.
#[test]
fn the_deprecation_of_a_secret_variable_does_not_advise_set() {
    let state = State::new();
    for var in [
        "NEXUS_DATABASE_URL",
        "POSTGRES_URL",
        "NEXUS_READ_REPLICA_URL",
    ] {
        let config = state
            .loader()
            .env([(var, CANARY)])
            .load("database")
            .expect("load");
        let shown: Vec<String> = config.warnings().iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert!(shown[0].contains(&format!("`{var}`")), "{shown:?}");
        assert!(
            shown[0].contains("`conf.d/database` (mode 0600)"),
            "{shown:?}"
        );
        assert!(!shown[0].contains("or `--set"), "{shown:?}");
    }
    let config = state
        .loader()
        .env([("NEXUS_CACHE_BACKEND", "null")])
        .load("cache")
        .expect("load");
    assert!(
        config.warnings()[0]
            .to_string()
            .contains("(or `--set cache.backend=…`)")
    );
}

/// The snippet of a malformed secret file shows no line inside a string,
/// even one with an `=` in it.
#[test]
fn a_snippet_inside_a_secret_string_is_hidden() {
    let state = State::new();
    let mut out = String::new();
    for text in [
        format!("url = \"\"\"\n{CANARY}=x\\q\n\"\"\"\n"),
        format!("url = '''\n{CANARY}=x'''y\n"),
    ] {
        state.write("database", &text);
        let err = state.loader().load("database").expect_err("malformed");
        assert!(err.to_string().contains("malformed TOML"), "{err}");
        out.push_str(&format!("{err}\n{err:?}\n"));
    }
    assert_no_canary(&out);
}

//! Secrets never leak from the binary (RELIABILITY.md): with a canary in
//! `llm.api_key` and `database.url` (in files, the environment and `--set`),
//! no command prints it, on stdout or stderr, with `RUST_LOG=trace`.
//!
//! The same holds for the forms a hostile operator tries (issue 12): secrets
//! spelt every way TOML allows in `config diff`, a malformed `--set` or
//! `BRICK.key` with the value glued on, a key under a secret or misspelt in
//! a brick that holds secrets, and the advice of a deprecated secret variable.
//!
//! `nexus vfs cat` of the secret files themselves is the one exception: it
//! prints a file's bytes, as `cat` does (the files are mode 0600); its stderr
//! is still checked.

use std::process::Stdio;
use std::time::Duration;

use crate::support::{Run, Sandbox, nexus_bin};

const CANARY: &str = "sk-CANARY-5e3cr3t";

fn assert_clean(args: &[&str], run: &Run) {
    let all = run.transcript();
    assert!(
        !all.contains(CANARY) && !all.contains("5e3cr3t"),
        "`nexus {}` leaked the canary:\n{all}",
        args.join(" ")
    );
}

fn sandbox() -> Sandbox {
    let mut sandbox = Sandbox::new();
    sandbox.env("RUST_LOG", "trace");
    sandbox.init();
    sandbox.write("llm", &format!("api_key = \"{CANARY}\"\nmodel = \"m\"\n"));
    sandbox.write(
        "database",
        &format!("url = \"postgresql://u:{CANARY}@h/db\"\n"),
    );
    sandbox
}

#[test]
fn no_command_prints_the_canary() {
    let mut sandbox = sandbox();
    sandbox.env("NEXUS_READ_REPLICA_URL", CANARY);
    sandbox.env("EDITOR", "true");
    let set_secret = format!("llm.api_key={CANARY}");
    let commands: Vec<Vec<&str>> = vec![
        vec!["config", "show", "llm"],
        vec!["config", "show", "llm", "--origin"],
        vec!["config", "show", "database", "--origin"],
        vec!["--format", "json", "config", "show", "database"],
        vec!["--set", &set_secret, "config", "show", "llm", "--origin"],
        vec!["config", "get", "llm.api_key", "--show-origin"],
        vec!["config", "get", "database.url"],
        vec![
            "config",
            "get",
            "database.read_replica_url",
            "--show-origin",
        ],
        vec!["config", "explain", "llm.api_key"],
        vec!["config", "explain", "database.url"],
        vec!["config", "validate"],
        vec!["--strict", "config", "validate", "llm", "database"],
        vec!["config", "doctor"],
        vec!["config", "diff", "llm"],
        vec!["config", "diff", "database"],
        vec!["config", "set", "llm.model", "other"],
        vec!["config", "set", "llm.api_key", "sk-CANARY-5e3cr3t"],
        vec!["config", "set", "database.pool_size", "not-a-number"],
        vec!["config", "edit", "llm"],
        vec!["vfs", "ls", "/etc/conf.d"],
        vec!["vfs", "stat", "/etc/conf.d/llm"],
        vec!["vfs", "cat", "/etc/conf.d/mounts"],
        vec!["vfs", "write", "/etc/conf.d/llm", "x"],
    ];
    for args in &commands {
        let run = sandbox.run(args);
        assert_clean(args, &run);
    }
    // `cat` prints the file it is asked for; its errors and logs do not.
    let run = sandbox.run(&["vfs", "cat", "/etc/conf.d/llm"]);
    assert!(!run.stderr.contains(CANARY), "{}", run.stderr);

    // A malformed secret file: every command that reports it.
    sandbox.write("llm", &format!("api_key = \"{CANARY}\" junk\n"));
    sandbox.write(
        "database",
        &format!("url = \"{CANARY}\"\npool_size = \"x\"\n"),
    );
    for args in [
        vec!["config", "show", "llm"],
        vec!["config", "get", "llm.api_key"],
        vec!["config", "explain", "llm.api_key"],
        vec!["config", "validate"],
        vec!["config", "doctor"],
        vec!["config", "diff", "llm"],
        vec!["config", "set", "llm.model", "x"],
        vec!["config", "show", "database"],
        vec!["config", "set", "database.url", "sk-CANARY-5e3cr3t"],
    ] {
        let run = sandbox.run(&args);
        assert_clean(&args, &run);
    }
}

#[test]
fn watch_prints_no_canary() {
    let sandbox = sandbox();
    let state = sandbox.state();
    let mut child = sandbox
        .command_with(
            &nexus_bin(),
            &[
                "--state-dir",
                state.to_str().expect("utf8"),
                "config",
                "watch",
                "llm",
                "database",
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn watch");
    std::thread::sleep(Duration::from_millis(700));
    // A reload with a new secret, then a malformed one.
    sandbox.write("llm", &format!("api_key = \"{CANARY}-2\"\nmodel = \"n\"\n"));
    std::thread::sleep(Duration::from_millis(500));
    sandbox.write("llm", &format!("api_key = \"{CANARY}-3\" junk\n"));
    std::thread::sleep(Duration::from_millis(500));
    child.kill().expect("kill");
    let output = child.wait_with_output().expect("output");
    let run = sandbox.finish(output);
    assert!(run.stderr.contains("watching"), "{}", run.transcript());
    assert_clean(&["config", "watch"], &run);
}

/// Files of `llm` and `database` that hold the canary in every way TOML
/// allows (and a few it does not), with a line that must stay visible.
fn secret_files() -> Vec<(&'static str, String)> {
    let c = CANARY;
    let files = [
        ("llm", format!("#api_key = \"{c}\"\n")),
        ("llm", format!("## api_key='{c}'\n")),
        ("llm", format!("# \"api_key\" = \"{c}\"\n")),
        ("llm", format!("\u{feff}api_key = \"{c}\"\n")),
        ("llm", format!("\"api\\u005fkey\" = \"{c}\"\n")),
        ("llm", format!("'api_key' = \"{c}\"\n")),
        (
            "llm",
            format!("api_key = \"{c}\"\r\nprovider = \"openai\"\r\n"),
        ),
        ("llm", format!("api_key = \"\"\"\n{c}\n\"\"\"\n")),
        ("llm", format!("api_key = '''\n{c}'''\n")),
        ("llm", format!("api_key = \"\"\"{c}\\\n  {c}\"\"\"\n")),
        ("llm", format!("api_key.sub = \"{c}\"\n")),
        ("llm", format!("[api_key]\nsub = \"{c}\"\n\"{c}\" = 1\n")),
        ("llm", format!("[llm]\napi_key = \"{c}\"\n")),
        ("llm", format!("llm.api_key = \"{c}\"\n")),
        ("llm", format!("x = {{ api_key = \"{c}\" }}\n")),
        (
            "llm",
            format!("provider = \"openai\" # api_key = \"{c}\"\n"),
        ),
        ("llm", format!("#api_key = \"\"\"\n#{c}\n#\"\"\"\n")),
        ("llm", format!("#api_key = '''\n#{c}\n")),
        ("llm", format!("#[api_key]\n#sub = \"{c}\"\n")),
        ("llm", format!("api_key = \"{c}\" # was {c}\n")),
        // A misspelt key, as `show` hides it; decorated commented keys.
        ("llm", format!("apikey = \"{c}\"\n")),
        ("llm", format!("#API_KEY = \"{c}\"\n")),
        ("llm", format!("#!api_key = \"{c}\n")),
        (
            "llm",
            format!("# a = \"\"\"\n#api_key = \"{c}\"\n# \"\"\"\n"),
        ),
        (
            "llm",
            format!("model = \"\"\"\napi_key = \"{c}\"\n\"\"\"\n"),
        ),
        // Files that do not parse.
        ("llm", format!("api_key = \"{c}\" junk\n")),
        ("llm", format!("api_key = \"\"\"\n{c}\n")),
        ("llm", format!("api_key = [\n\"{c}\",\n")),
        (
            "database",
            format!("url = \"\"\"\npostgresql://u:{c}@h/db\n\"\"\"\n"),
        ),
        ("database", format!("read_replica_url = '''\n{c}\n'''\n")),
        ("database", format!("#url = \"postgresql://u:{c}@h/db\"\n")),
    ];
    // A comment stays visible even in a file that does not parse.
    files
        .into_iter()
        .map(|(brick, text)| {
            let (bom, rest) = match text.strip_prefix('\u{feff}') {
                Some(rest) => ("\u{feff}", rest),
                None => ("", text.as_str()),
            };
            (
                brick,
                format!("{bom}# visible\nprovider = \"openai\"\n{rest}"),
            )
        })
        .collect()
}

#[test]
fn diff_hides_every_form_of_a_secret() {
    let sandbox = sandbox();
    for (brick, text) in secret_files() {
        sandbox.write("llm", "");
        sandbox.write("database", "");
        sandbox.write(brick, &text);
        for args in [
            vec!["config", "diff", brick],
            vec!["--format", "json", "config", "diff", brick],
        ] {
            let run = sandbox.run(&args);
            assert_eq!(run.code, 0, "{text:?}\n{}", run.transcript());
            assert!(
                !run.transcript().contains("5e3cr3t"),
                "`nexus {}` leaked the canary of {text:?}:\n{}",
                args.join(" "),
                run.transcript()
            );
            assert!(run.stdout.contains("<redacted>"), "{}", run.transcript());
            // Not everything is hidden: the diff is still of use.
            assert!(run.stdout.contains("visible"), "{}", run.transcript());
        }
    }
}

#[test]
fn a_malformed_set_never_echoes_its_value() {
    let sandbox = sandbox();
    let c = CANARY;
    let cases = [
        (format!("llm.api_key:{c}"), "`--set llm.api_key…`"),
        (
            format!("database.url ={c}"),
            "`--set database.url =<redacted>`",
        ),
        (
            format!("database.url = {c}"),
            "`--set database.url =<redacted>`",
        ),
        (format!("LLM.api_key={c}"), "`--set LLM.api_key=<redacted>`"),
        (
            format!("Database.URL={c}"),
            "`--set Database.URL=<redacted>`",
        ),
        (
            format!(" llm.api_key={c}"),
            "`--set  llm.api_key=<redacted>`",
        ),
        (
            format!("llm..api_key={c}"),
            "`--set llm..api_key=<redacted>`",
        ),
        (
            format!("database.url:postgresql://u:{c}@h/db?sslmode=require"),
            "`--set database.url…=<redacted>`",
        ),
        (
            format!("llm.api_key {c}=x"),
            "`--set llm.api_key…=<redacted>`",
        ),
        (format!("llm.api_key-{c}"), "`--set llm.…`"),
        (c.to_owned(), "`--set …`"),
        ("llm.api_key".to_owned(), "`--set llm.api_key`"),
    ];
    for (spec, shown) in &cases {
        for args in [
            vec!["--set", spec, "config", "show", "llm"],
            vec!["config", "get", "llm.model", &format!("--set={spec}")],
        ] {
            let run = sandbox.run(&args);
            assert_eq!(run.code, 2, "{spec:?}\n{}", run.transcript());
            assert_clean(&args, &run);
            assert!(run.stdout.is_empty(), "{}", run.transcript());
            // One message, ours, naming the key.
            assert_eq!(run.stderr.lines().count(), 1, "{}", run.transcript());
            assert!(
                run.stderr.starts_with("error: invalid override ") && run.stderr.contains(shown),
                "{spec:?} should show {shown}:\n{}",
                run.transcript()
            );
        }
    }
}

/// `config get|explain|set` take `BRICK.key`; a value glued to it (the easy
/// slip `config set llm.api_key=sk-…`) is not quoted back either.
#[test]
fn a_malformed_key_argument_never_echoes_a_value() {
    let sandbox = sandbox();
    let glued = [
        (format!("llm.api_key={CANARY}"), "`llm.api_key=<redacted>`"),
        (format!("llm.api_key:{CANARY}"), "`llm.api_key…`"),
        (format!("llm.api_key {CANARY}"), "`llm.api_key…`"),
        (format!("LLM.api_key={CANARY}"), "`LLM.api_key=<redacted>`"),
    ];
    for (target, shown) in &glued {
        for args in [
            vec!["config", "get", target],
            vec!["config", "explain", target],
            vec!["config", "set", target, "x"],
        ] {
            let run = sandbox.run(&args);
            assert_eq!(run.code, 2, "{}", run.transcript());
            assert_clean(&args, &run);
            assert_eq!(run.stderr.lines().count(), 1, "{}", run.transcript());
            assert!(run.stderr.contains(shown), "{shown}\n{}", run.transcript());
        }
    }
}

#[test]
fn a_key_under_a_secret_or_unknown_to_its_brick_is_secret_everywhere() {
    let mut sandbox = sandbox();
    sandbox.write("llm", "model = \"m\"\n");
    sandbox.write("database", "");
    let under = format!("database.url.sub={CANARY}");
    let deeper = format!("llm.api_key.a.b={CANARY}");
    let misspelt = format!("llm.apikey={CANARY}");
    let mut commands: Vec<Vec<&str>> = Vec::new();
    for set in [&under, &deeper] {
        for command in [
            vec!["config", "show", "database", "--origin"],
            vec!["config", "show", "llm", "--origin"],
            vec!["--format", "json", "config", "show", "llm"],
            vec!["config", "get", "database.url", "--show-origin"],
            vec!["config", "get", "llm.api_key", "--show-origin"],
            vec!["config", "explain", "database.url"],
            vec!["--format", "json", "config", "explain", "llm.api_key"],
            vec!["config", "validate"],
            vec!["--format", "json", "config", "validate"],
            vec!["config", "doctor"],
        ] {
            commands.push([vec!["--set", set.as_str()], command].concat());
        }
    }
    for command in [
        vec!["config", "show", "llm", "--origin"],
        vec!["--format", "json", "config", "show", "llm"],
        vec!["config", "get", "llm.apikey", "--show-origin"],
        vec!["--format", "json", "config", "get", "llm.apikey"],
        vec!["config", "explain", "llm.apikey"],
        vec!["--strict", "config", "validate", "llm"],
    ] {
        commands.push([vec!["--set", misspelt.as_str()], command].concat());
    }
    for args in &commands {
        let run = sandbox.run(args);
        assert_clean(args, &run);
    }
    // The same from files: a table where a secret belongs, a misspelt key.
    sandbox.env("NEXUS_READ_REPLICA_URL", "");
    sandbox.write(
        "database",
        &format!("[url]\nsub = \"{CANARY}\"\n\"{CANARY}\" = 1\n"),
    );
    sandbox.write("llm", &format!("apikey = \"{CANARY}\"\nmodel = \"m\"\n"));
    for args in [
        vec!["config", "show", "llm", "--origin"],
        vec!["--format", "json", "config", "show", "llm"],
        vec!["config", "get", "llm.apikey"],
        vec!["config", "explain", "llm.apikey"],
        vec!["--format", "json", "config", "show", "database"],
        vec!["config", "get", "database.url"],
        vec!["config", "explain", "database.url"],
        vec!["config", "validate"],
        vec!["config", "doctor"],
    ] {
        let run = sandbox.run(&args);
        assert_clean(&args, &run);
    }
}

#[test]
fn the_deprecation_of_a_secret_variable_advises_the_file_not_set() {
    for var in [
        "NEXUS_DATABASE_URL",
        "POSTGRES_URL",
        "NEXUS_READ_REPLICA_URL",
    ] {
        let mut sandbox = sandbox();
        sandbox.write("database", "");
        sandbox.env(var, CANARY);
        let run = sandbox.run(&["config", "show", "database"]);
        assert_clean(&[var], &run);
        assert!(
            run.stderr.contains(&format!("`{var}` is deprecated"))
                && run.stderr.contains("`conf.d/database` (mode 0600)")
                && !run.stderr.contains("or `--set"),
            "{}",
            run.transcript()
        );
    }
    // A variable that is not secret keeps the `--set` advice.
    let mut sandbox = sandbox();
    sandbox.env("NEXUS_CACHE_BACKEND", "null");
    let run = sandbox.run(&["config", "show", "cache"]);
    assert!(
        run.stderr.contains("(or `--set cache.backend=…`)"),
        "{}",
        run.transcript()
    );
}

/// A `.` typed instead of `=` after a secret key (`llm.api_key.sk-…`): what
/// follows a declared secret is a value, never quoted, in an invalid
/// `--set`, in the origin of a valid one, and in `get|explain|set` messages.
#[test]
fn nothing_after_a_declared_secret_key_is_quoted() {
    let sandbox = sandbox();
    let c = CANARY;
    let dotted = format!("llm.api_key.{c}");
    let dotted_url = format!("database.url.{c}");
    let with_value = format!("{dotted}=1");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--set", &dotted, "config", "show", "llm"],
            "`--set llm.api_key…`",
        ),
        (
            vec!["config", "validate", "--set", &dotted],
            "`--set llm.api_key…`",
        ),
        (
            vec!["--set", &with_value, "config", "show", "llm", "--origin"],
            "`--set llm.api_key…=<redacted>`",
        ),
        (
            vec!["--set", &with_value, "config", "explain", "llm.api_key"],
            "`--set llm.api_key…=<redacted>`",
        ),
        (vec!["config", "get", &dotted], "`llm.api_key…` is not set"),
        (
            vec!["config", "get", &dotted_url],
            "`database.url…` is not set",
        ),
        (
            vec!["config", "explain", &dotted],
            "`llm.api_key…` is not set by any layer",
        ),
        (
            vec!["config", "set", &dotted, "x"],
            "`llm.api_key…` cannot be set",
        ),
        (
            vec!["config", "set", &dotted_url, "x"],
            "`database.url…` cannot be set",
        ),
    ];
    for (args, shown) in &cases {
        let run = sandbox.run(args);
        assert_ne!(run.code, 0, "{}", run.transcript());
        assert_clean(args, &run);
        assert!(run.stderr.contains(shown), "{shown}\n{}", run.transcript());
    }
}

/// A secret typed with a space instead of `=` is an argument clap cannot
/// place: its one-message refusal never quotes what follows a secret key,
/// nor a value glued to `--stdin=`.
#[test]
fn a_refused_command_line_never_quotes_what_follows_a_secret_key() {
    let sandbox = sandbox();
    let c = CANARY;
    let set_glued = "--set=llm.api_key".to_owned();
    let stdin = format!("--stdin={c}");
    let dashed = format!("-{c}");
    let format_glued = format!("--format={c}");
    let cases: Vec<Vec<&str>> = vec![
        vec!["--set", "llm.api_key", c, "config", "show", "llm"],
        vec![&set_glued, c, "config", "show", "llm"],
        vec!["config", "show", "llm", "--set", "llm.api_key", c],
        vec!["config", "show", "llm", "--set", "database.url", c],
        vec!["config", "get", "llm.api_key", c],
        vec!["config", "explain", "database.url", c],
        vec!["config", "set", "llm.api_key", "x", c],
        vec!["config", "get", "llm.api_key", &dashed],
        vec!["config", "get", "llm.api_key", "--", c],
        vec!["config", "get", "llm.api_key", "--format", c],
        vec!["config", "get", "llm.api_key", &format_glued],
        vec!["config", "get", "llm.api_key", "--profile", c],
        vec!["config", "set", "database.url", &stdin],
        vec!["config", "set", "cache.backend", &stdin],
        // The text of a secret file, typed in pieces.
        vec!["vfs", "write", "/etc/conf.d/llm", "api_key", "=", c],
        vec!["vfs", "cat", "/etc/conf.d/database", c],
    ];
    for args in &cases {
        let run = sandbox.run(args);
        assert_eq!(run.code, 2, "{}", run.transcript());
        assert_clean(args, &run);
        assert!(run.stdout.is_empty(), "{}", run.transcript());
        // One message, clap's, with what it refused hidden.
        assert_eq!(
            run.stderr.matches("error:").count(),
            1,
            "{}",
            run.transcript()
        );
        assert!(run.stderr.contains("'<redacted>'"), "{}", run.transcript());
    }
    // What follows a key that is not secret is still quoted.
    let args = ["config", "get", "llm.model", "extra"];
    let run = sandbox.run(&args);
    assert!(
        run.stderr.contains("unexpected argument 'extra'"),
        "{}",
        run.transcript()
    );
}

/// `config diff` of a secret brick reads commented-out lines as TOML, joining
/// those that open a value with the lines after it: work bounded by the
/// file's size, not its lines times the joined bytes (1,040 lines of `#[`
/// and 1,000 bytes took minutes). The run is bounded like the matrix's.
#[test]
fn diff_of_many_commented_openers_is_prompt_and_hides_the_secrets() {
    let sandbox = sandbox();
    let state = sandbox.state();
    let state = state.to_str().expect("utf-8 path");
    let wide = format!("#[{}\n", "a".repeat(1000)).repeat(1040);
    let many = "#[\n".repeat(60_000);
    // A commented secret list longer than what is joined: hidden to the end.
    let item = format!("#  \"{CANARY}-{}\",\n", "x".repeat(200));
    let long_secret = format!(
        "#api_key = [\n{}#]\nmodel = \"visible\"\n",
        item.repeat(200)
    );
    for (text, hidden_lines) in [(wide, 0), (many, 0), (long_secret, 202)] {
        sandbox.write("llm", &text);
        let args = ["--state-dir", state, "config", "diff", "llm"];
        let run = crate::matrix::run_bounded(&sandbox, &args).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(run.code, 0, "{}", run.transcript());
        assert_clean(&args, &run);
        let redacted = run
            .stdout
            .lines()
            .filter(|l| l.contains("<redacted>"))
            .count();
        assert_eq!(
            redacted,
            hidden_lines,
            "{}",
            &run.stdout[..run.stdout.len().min(2000)]
        );
    }
}

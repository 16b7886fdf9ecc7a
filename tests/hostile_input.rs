//! Input that must be refused, not crash (issue 12): unbounded key paths and
//! nesting, control characters on their way to a terminal, and state dirs
//! that are blank, relative or not directories. Every run is bounded in time
//! and memory like the adversarial matrix's, so a crash or a hang fails the
//! test instead of the suite.

use crate::matrix::run_bounded;
use crate::support::{Run, Sandbox};

/// Runs `nexus --state-dir STATE ARGS…`, bounded.
fn run(sandbox: &Sandbox, args: &[&str]) -> Run {
    let state = sandbox.state();
    let mut all = vec!["--state-dir", state.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    run_bounded(sandbox, &all).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// The control characters of `text` other than line feeds and tabs.
fn controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| {
            (c.is_control() && c != '\n' && c != '\t')
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}

fn assert_no_controls(what: &str, run: &Run) {
    let found = controls(&format!("{}{}", run.stdout, run.stderr));
    assert!(
        found.is_empty(),
        "{what}: {found:?} reached the terminal\n{}",
        run.transcript()
    );
}

#[test]
fn a_key_path_of_65000_segments_is_refused_at_once_everywhere() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let deep = format!("mounts{}", ".a".repeat(65_000));
    let set = format!("--set={deep}=1");
    let started = std::time::Instant::now();
    for args in [
        vec![set.as_str(), "config", "show", "mounts"],
        vec!["config", "get", &deep],
        vec!["config", "explain", &deep],
        vec!["config", "set", &deep, "1"],
    ] {
        let run = run(&sandbox, &args);
        assert_eq!(run.code, 2, "{}", run.transcript());
        assert!(
            run.stderr.contains("a key path is at most 1024 bytes"),
            "{}",
            run.transcript()
        );
        // The message quotes the path cut short, not 130 KB of it.
        assert!(run.stderr.len() < 4_000, "{} bytes", run.stderr.len());
    }
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
    assert_eq!(
        std::fs::read_to_string(sandbox.conf_d().join("mounts")).expect("mounts"),
        confd::shipped::shipped_file("mounts")
            .expect("shipped")
            .contents,
        "a refused `set` changed the file"
    );
}

#[test]
fn a_key_path_of_65_segments_is_refused_and_64_is_accepted() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let key = |n: usize| format!("fuzzed{}", ".a".repeat(n));
    let too_deep = run(
        &sandbox,
        &[&format!("--set={}=1", key(65)), "config", "show", "fuzzed"],
    );
    assert_eq!(too_deep.code, 2, "{}", too_deep.transcript());
    assert!(
        too_deep
            .stderr
            .contains("a key path has at most 64 segments"),
        "{}",
        too_deep.transcript()
    );
    let deepest = run(
        &sandbox,
        &[&format!("--set={}=1", key(63)), "config", "get", &key(63)],
    );
    assert_eq!(deepest.code, 0, "{}", deepest.transcript());
    assert_eq!(deepest.stdout, "1\n");
}

#[test]
fn deep_tables_in_a_file_are_refused_naming_the_file() {
    let sandbox = Sandbox::new();
    let path = |n: usize| vec!["a"; n].join(".");
    for text in [
        format!("[{}]\n{} = 1\n", path(40), path(40)),
        format!("[{}]\n", path(10_000)),
        format!("{} = 1\n", path(10_000)),
        format!("x = {}1{}\n", "{ a = ".repeat(10_000), "}".repeat(10_000)),
    ] {
        sandbox.write("fuzzed", &text);
        for command in [["config", "show"], ["config", "validate"]] {
            let run = run(&sandbox, &[command[0], command[1], "fuzzed"]);
            assert_eq!(run.code, 1, "{}", run.transcript());
            assert!(
                run.stderr
                    .contains("malformed TOML at `[ROOT]/state/etc/conf.d/fuzzed:")
                    && run.stderr.contains("nest deeper than 64 levels"),
                "{}",
                run.transcript()
            );
        }
    }
}

#[test]
fn control_characters_from_every_source_are_escaped() {
    const ESC: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J\r\u{9b}1m\u{202e}";
    let mut sandbox = Sandbox::new();
    sandbox.init();
    // A drop-in whose name and key hold escapes, a main file with a bad line.
    // TOML refuses raw control characters, but its escapes make them.
    sandbox.write(
        &format!("mounts.d/50-{ESC}.toml"),
        "\"k\\u001b[2J\" = \"v\\u001b]0;x\\u0007\\u009b\"\n",
    );
    sandbox.write("fuzzed", &format!("ok = 1\n\"x{ESC}\" = = 2\n"));
    let set = format!("--set=mounts.auto_sync=1{ESC}");
    let unknown = format!("--set=mounts.extra=v{ESC}");
    let bad_key = format!("mounts.{ESC}");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "show --origin",
            vec![&unknown, "config", "show", "mounts", "--origin"],
        ),
        (
            "get --show-origin",
            vec![&unknown, "config", "get", "mounts.extra", "--show-origin"],
        ),
        (
            "explain",
            vec![&unknown, "config", "explain", "mounts.extra"],
        ),
        ("a bad --set value", vec![&set, "config", "show", "mounts"]),
        ("a malformed file", vec!["config", "show", "fuzzed"]),
        ("validate", vec!["config", "validate"]),
        ("a brick name clap refuses", vec!["config", "show", ESC]),
        ("a key clap refuses", vec!["config", "get", &bad_key]),
        (
            "set of a bad value",
            vec!["config", "set", "mounts.auto_sync", ESC],
        ),
    ];
    for (what, args) in &cases {
        assert_no_controls(what, &run(&sandbox, args));
    }
    let shown = run(
        &sandbox,
        &[&unknown, "config", "get", "mounts.extra", "--show-origin"],
    );
    assert_eq!(
        shown.stdout,
        "--set mounts.extra=v\\u001B]0;pwned\\u0007\\u001B[2J\\u000D\\u009B1m\\u202E\t\
         \"v\\u001B]0;pwned\\u0007\\u001B[2J\\r\\u009B1m\\u202E\"\n",
        "ORIGIN<TAB>VALUE keeps one tab, ours"
    );
    // The environment and the state dir's own path.
    sandbox.env("NEXUS_PROFILE", ESC);
    sandbox.env("NEXUS_CACHE_KV_SIZE", ESC);
    assert_no_controls(
        "NEXUS_PROFILE",
        &run(&sandbox, &["config", "show", "mounts"]),
    );
    let mut env_only = Sandbox::new();
    env_only.init();
    env_only.env("NEXUS_CACHE_KV_SIZE", ESC);
    assert_no_controls(
        "a bad variable",
        &run(&env_only, &["config", "show", "cache"]),
    );
    let odd_state = sandbox.state().join(ESC);
    let run = run_bounded(
        &Sandbox::new(),
        &[
            "--state-dir",
            odd_state.to_str().expect("utf-8"),
            "config",
            "init",
            "--dry-run",
        ],
    )
    .expect("bounded");
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_no_controls("a state dir path", &run);
}

#[test]
fn other_scripts_and_tabs_print_as_they_are_and_json_stays_json() {
    let sandbox = Sandbox::new();
    sandbox.init();
    sandbox.write(
        "fuzzed",
        "name = \"é 日本\"\ntabbed = 'a\tb'\nodd = \"\\u009b\\u202e\"\n",
    );
    let text = run(&sandbox, &["config", "show", "fuzzed"]);
    assert_eq!(text.code, 0, "{}", text.transcript());
    assert!(text.stdout.contains("name = \"é 日本\""), "{}", text.stdout);
    // TOML writes a tab in a string as `\t`, which reads back as one.
    assert!(
        text.stdout.contains("tabbed = \"a\\tb\""),
        "{}",
        text.stdout
    );
    assert_no_controls("show", &text);
    let json = run(&sandbox, &["--format", "json", "config", "show", "fuzzed"]);
    assert_no_controls("show --format json", &json);
    let document: serde_json::Value = serde_json::from_str(&json.stdout).expect("valid JSON");
    let values = &document["config"];
    assert_eq!(values["name"], "é 日本", "{document}");
    assert_eq!(
        values["odd"], "\u{9b}\u{202e}",
        "escaped, the same characters"
    );
    // A CRLF file's lines keep their ending in `diff`; a lone CR is escaped.
    sandbox.write("cache", "kv_size = 7\r\n# lone\rcr\n");
    let diff = run(&sandbox, &["config", "diff", "cache"]);
    assert!(
        diff.stdout.contains("+kv_size = 7\r\n"),
        "{}",
        diff.transcript()
    );
    assert!(
        diff.stdout.contains("+# lone\\u000D"),
        "{}",
        diff.transcript()
    );
}

#[test]
fn a_blank_state_dir_is_refused_naming_the_flag_or_variable() {
    let mut sandbox = Sandbox::new();
    // (clap itself refuses an empty `--state-dir`, with status 2 too)
    for blank in [" ", "\t", " \n "] {
        let run = run_bounded(
            &sandbox,
            &["--state-dir", blank, "config", "init", "--dry-run"],
        )
        .expect("bounded");
        assert_eq!(run.code, 2, "{}", run.transcript());
        assert!(
            run.stderr
                .contains("from `--state-dir`: the state dir cannot be blank"),
            "{}",
            run.transcript()
        );
        assert!(run.stdout.is_empty(), "{}", run.transcript());
    }
    sandbox.env("NEXUS_STATE_DIR", " ");
    for args in [
        &["config", "init"][..],
        &["config", "path"],
        &["vfs", "ls", "/etc"],
    ] {
        let run = run_bounded(&sandbox, args).expect("bounded");
        assert_eq!(run.code, 1, "{}", run.transcript());
        assert!(
            run.stderr
                .contains("from `env NEXUS_STATE_DIR`: the state dir cannot be blank"),
            "{}",
            run.transcript()
        );
    }
}

#[test]
fn a_relative_state_dir_flag_is_absolute_and_a_relative_variable_refused() {
    let mut sandbox = Sandbox::new();
    let cwd = sandbox.state();
    std::fs::create_dir_all(&cwd).expect("mkdir");
    let output = sandbox
        .command_with(
            &crate::support::nexus_bin(),
            &["--state-dir", "rel", "config", "init"],
        )
        .current_dir(&cwd)
        .output()
        .expect("run");
    let init = sandbox.finish(output);
    assert_eq!(init.code, 0, "{}", init.transcript());
    assert!(cwd.join("rel/etc/conf.d/mounts").is_file());
    assert!(
        init.stdout.contains("[ROOT]/state/rel/etc/conf.d/mounts"),
        "absolute paths in what it says: {}",
        init.transcript()
    );
    sandbox.env("NEXUS_STATE_DIR", "rel");
    let output = sandbox
        .command_with(&crate::support::nexus_bin(), &["config", "show", "mounts"])
        .current_dir(&cwd)
        .output()
        .expect("run");
    let show = sandbox.finish(output);
    assert_eq!(show.code, 1, "{}", show.transcript());
    assert!(
        show.stderr.contains(
            "invalid state dir `rel` from `env NEXUS_STATE_DIR`: a relative path names a different directory"
        ),
        "{}",
        show.transcript()
    );
}

#[test]
fn a_file_in_place_of_the_state_dir_is_named_by_every_command() {
    let commands: [&[&str]; 12] = [
        &["config", "init"],
        &["config", "init", "--dry-run"],
        &["config", "show", "cache"],
        &["config", "get", "cache.kv_size"],
        &["config", "explain", "cache.kv_size"],
        &["config", "set", "cache.kv_size", "5"],
        &["config", "edit", "cache"],
        &["config", "validate"],
        &["config", "diff", "cache"],
        &["config", "watch", "cache"],
        &["vfs", "ls", "/etc"],
        &["vfs", "cat", "/etc/conf.d/cache"],
    ];
    for (file, message) in [
        ("", "state dir `[ROOT]/state` is a file, not a directory"),
        (
            "etc",
            "`[ROOT]/state/etc` is a file, not a directory: \
             the state dir keeps configuration in `etc/conf.d/`",
        ),
        (
            "etc/conf.d",
            "`[ROOT]/state/etc/conf.d` is a file, not a directory: \
             the state dir keeps configuration in `etc/conf.d/`",
        ),
    ] {
        let mut sandbox = Sandbox::new();
        sandbox.env("EDITOR", "true");
        let path = match file {
            "" => sandbox.state(),
            file => sandbox.state().join(file),
        };
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, "not a directory\n").expect("write");
        for args in commands {
            let run = run(&sandbox, args);
            assert_eq!(run.code, 1, "{args:?}: {}", run.transcript());
            assert_eq!(
                run.stderr.lines().collect::<Vec<_>>(),
                [format!("error: {message}").as_str()],
                "{file} {args:?}: one error that says so\n{}",
                run.transcript()
            );
            assert_eq!(
                std::fs::read_to_string(&path).expect("read"),
                "not a directory\n"
            );
        }
        // `path` still says where things are, and warns.
        let path_run = run(&sandbox, &["config", "path"]);
        assert_eq!(path_run.code, 0, "{}", path_run.transcript());
        assert_eq!(path_run.stderr, format!("warning: {message}\n"));
    }
}

#[test]
fn a_closed_or_full_stdout_is_not_a_panic() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let state = sandbox.state();
    let show = [
        "--state-dir",
        state.to_str().expect("utf-8"),
        "config",
        "show",
        "cache",
    ];
    for args in [&show[..], &["completions", "bash"], &["man"]] {
        let mut child = sandbox
            .command_with(&crate::support::nexus_bin(), args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        drop(child.stdout.take());
        let output = child.wait_with_output().expect("wait");
        let closed = sandbox.finish(output);
        assert_eq!(
            closed.code,
            0,
            "{args:?}, a reader that stops early: {}",
            closed.transcript()
        );
        assert!(
            !closed.stderr.contains("panicked"),
            "{}",
            closed.transcript()
        );
        let full = std::fs::File::create("/dev/full").expect("/dev/full");
        let output = sandbox
            .command_with(&crate::support::nexus_bin(), args)
            .stdout(full)
            .output()
            .expect("run");
        let full = sandbox.finish(output);
        assert_eq!(full.code, 1, "{args:?}: {}", full.transcript());
        assert_eq!(
            full.stderr,
            "error: cannot write to standard output: No space left on device (os error 28)\n"
        );
    }
}

#[test]
fn one_huge_line_does_not_pad_every_other_line() {
    let sandbox = Sandbox::new();
    let mut text = format!("big = \"{}\"\n", "x".repeat(500_000));
    for i in 0..2_000 {
        text.push_str(&format!("k{i} = {i}\n"));
    }
    sandbox.write("fuzzed", &text);
    let run = run(&sandbox, &["config", "show", "fuzzed", "--origin"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The document once padded 2,000 lines to half a megabyte each (1 GB).
    assert!(run.stdout.len() < 1_000_000, "{} bytes", run.stdout.len());
    assert!(
        run.stdout.contains("k7 = 7"),
        "origins still follow the values"
    );
}

#[test]
fn a_drop_in_name_with_control_characters_or_too_long_is_refused() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let long = "x".repeat(100_000);
    for name in ["a\nb", "\u{1b}[2J", "tab\there", long.as_str()] {
        let run = run(
            &sandbox,
            &["config", "set", "cache.kv_size", "5", "--drop-in", name],
        );
        assert_eq!(run.code, 2, "{}", run.transcript());
        assert!(
            run.stderr.starts_with("error: invalid drop-in name `"),
            "{}",
            run.transcript()
        );
        assert!(run.stderr.len() < 600, "quoted short: {}", run.stderr.len());
        assert_no_controls("--drop-in", &run);
    }
    assert!(
        !sandbox.conf_d().join("cache.d").exists(),
        "nothing was created"
    );
}

#[test]
fn huge_names_and_values_are_quoted_short_in_errors() {
    let sandbox = Sandbox::new();
    let name = "A".repeat(100_000);
    for args in [
        vec!["config", "show", name.as_str()],
        vec!["config", "get", &format!("{name}.key")],
    ] {
        let run = run(&sandbox, &args);
        assert_eq!(run.code, 2, "{}", run.transcript());
        // `show` quotes the name short; `get` quotes a BRICK.key only as far
        // as it cannot be a value glued to a key (tests/secrets.rs).
        assert!(
            run.stderr.contains("invalid brick name `AAAA")
                || run.stderr.contains("invalid key `…`: invalid brick name"),
            "{}",
            run.transcript()
        );
        assert!(run.stderr.len() < 2_000, "{} bytes", run.stderr.len());
    }
    let mut env = Sandbox::new();
    env.env("NEXUS_CACHE_KV_SIZE", &"9".repeat(100_000));
    let run = run(&env, &["config", "show", "cache"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr.contains("… (100000 bytes)`"),
        "{}",
        run.transcript()
    );
    assert!(run.stderr.len() < 2_000, "{} bytes", run.stderr.len());
}

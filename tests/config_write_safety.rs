//! The write path under pressure (issue 12): concurrent writers, a file that
//! changes while it is edited, a commented line that only looks like a
//! default, ownership, line endings, secrets and modes. Each test fails on a
//! write path that loses or misplaces an edit.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use crate::support::{Sandbox, nexus_bin};

/// The text of the copy of an edit that a refusal kept, as its message
/// names it; the copy is removed.
fn take_kept_copy(message: &str) -> String {
    let kept = message
        .split("your version is kept in `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("no kept copy named: {message}"));
    let text = std::fs::read_to_string(kept).unwrap();
    std::fs::remove_file(kept).unwrap();
    text
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Six numeric keys of `cache`, set in parallel below.
const CACHE_KEYS: [&str; 6] = [
    "permission_ttl",
    "denial_ttl",
    "path_size",
    "list_size",
    "kv_size",
    "exists_size",
];

/// Three rounds of setting every key of [`CACHE_KEYS`] at once, each through
/// `sandbox_for(i)`, asserting after each round that every key of `file`
/// holds its round's value.
fn sets_in_parallel_all_survive<'s>(file: &Path, sandbox_for: impl Fn(usize) -> &'s Sandbox) {
    for round in 1..=3 {
        let children: Vec<_> = CACHE_KEYS
            .iter()
            .enumerate()
            .map(|(i, key)| {
                let sandbox = sandbox_for(i);
                let state = sandbox.state();
                let (target, value) = (format!("cache.{key}"), (round * 100 + i).to_string());
                let args = [
                    "--state-dir",
                    state.to_str().unwrap(),
                    "config",
                    "set",
                    &target,
                    &value,
                ];
                sandbox.command_with(&nexus_bin(), &args).spawn().unwrap()
            })
            .collect();
        for mut child in children {
            assert!(child.wait().unwrap().success());
        }
        let text = std::fs::read_to_string(file).unwrap();
        let config: toml::Table = text.parse().unwrap();
        for (i, key) in CACHE_KEYS.iter().enumerate() {
            assert_eq!(
                config.get(*key).and_then(toml::Value::as_integer),
                Some(i64::try_from(round * 100 + i).unwrap()),
                "round {round}: `{key}` was lost:\n{text}"
            );
        }
    }
}

#[test]
fn concurrent_sets_of_one_file_all_survive() {
    let sandbox = Sandbox::new();
    sandbox.init();
    sets_in_parallel_all_survive(&sandbox.conf_d().join("cache"), |_| &sandbox);
}

#[test]
fn edit_refuses_to_overwrite_a_file_changed_while_the_editor_was_open() {
    let mut sandbox = Sandbox::new();
    sandbox.init();
    let real = sandbox.conf_d().join("cache");
    // The "editor" changes its copy, and meanwhile someone else sets a key.
    let script = sandbox.editor(
        "racing-editor",
        &format!(
            "sed -i 's/^#kv_size = 256/kv_size = 1/' \"$1\"\n\
             sed -i 's/^#list_size = 1024/list_size = 77/' '{}'",
            real.display()
        ),
    );
    sandbox.env("EDITOR", &script);
    let run = sandbox.run(&["config", "edit", "cache"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr.contains("changed while you were editing it"),
        "{}",
        run.stderr
    );
    // What changed is shown, and the other writer's change is still there.
    assert!(run.stderr.contains("+list_size = 77"), "{}", run.stderr);
    let now = sandbox.read("cache");
    assert!(now.contains("\nlist_size = 77\n"), "{now}");
    assert!(!now.contains("\nkv_size = 1\n"), "{now}");
    // The edit itself is not lost: the kept copy is named and holds it.
    let kept = take_kept_copy(&run.stderr);
    assert!(kept.contains("\nkv_size = 1\n"), "{kept}");
}

#[test]
fn an_invalid_edit_keeps_the_edited_copy() {
    let mut sandbox = Sandbox::new();
    sandbox.init();
    let script = sandbox.editor(
        "bad-editor",
        r#"echo 'max_concurrent = "many" # my long edit' >> "$1""#,
    );
    sandbox.env("EDITOR", &script);
    let run = sandbox.run(&["config", "edit", "uploads"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    let kept = take_kept_copy(&run.stderr);
    assert!(kept.contains("# my long edit"));
}

#[test]
fn set_replaces_a_commented_default_only_in_its_own_table() {
    let sandbox = Sandbox::new();
    // A `#kv_size` line inside a multi-line string is part of `url`.
    let url = "url = \"\"\"\n#kv_size = 5\n\"\"\"\n";
    sandbox.write("cache", url);
    let run = sandbox.run(&["config", "set", "cache.kv_size", "9"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(sandbox.read("cache"), format!("{url}kv_size = 9\n"));
    let url_now: toml::Table = sandbox.read("cache").parse().unwrap();
    assert_eq!(url_now["url"].as_str(), Some("#kv_size = 5\n"));
    // The same in a literal string.
    let literal = "url = '''\n#kv_size = 5\n'''\n";
    sandbox.write("cache", literal);
    sandbox.run(&["config", "set", "cache.kv_size", "9"]);
    assert_eq!(sandbox.read("cache"), format!("{literal}kv_size = 9\n"));

    // A commented line under `[server]` is not the default of `foo.port`.
    sandbox.write("web", "[server]\n#port = 80\n");
    let run = sandbox.run(&["config", "set", "web.foo.port", "1"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(
        sandbox.read("web"),
        "[server]\n#port = 80\n\n[foo]\nport = 1\n"
    );
    assert_eq!(
        sandbox.run(&["config", "get", "web.foo.port"]).stdout,
        "1\n"
    );
    // But it is the default of `server.port`.
    sandbox.run(&["config", "set", "web.server.port", "8080"]);
    assert_eq!(
        sandbox.read("web"),
        "[server]\nport = 8080\n\n[foo]\nport = 1\n"
    );
}

#[test]
fn set_puts_a_key_without_a_commented_default_after_the_header_comment() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "mounts",
        "# My mounts, by hand.\n# Second line.\n\n# Some other note.\n",
    );
    let run = sandbox.run(&["config", "set", "mounts.auto_sync", "true"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(
        sandbox.read("mounts"),
        "# My mounts, by hand.\n# Second line.\n\nauto_sync = true\n\n# Some other note.\n"
    );
}

#[test]
fn set_keeps_crlf_line_endings_and_a_byte_order_mark() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "cache",
        "\u{feff}# Windows-edited\r\n#kv_size = 256\r\nbackend = \"null\"\r\n",
    );
    let run = sandbox.run(&["config", "set", "cache.kv_size", "9"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let run = sandbox.run(&["config", "set", "cache.path_size", "10"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(
        sandbox.read("cache"),
        "\u{feff}# Windows-edited\r\nkv_size = 9\r\nbackend = \"null\"\r\npath_size = 10\r\n"
    );
}

#[test]
fn set_keeps_the_owner_group_and_mode_of_a_service_users_file() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let path = sandbox.conf_d().join("cache");
    // As root (CI runs as root): a file that belongs to the service user.
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let run = sandbox.run(&["config", "set", "cache.kv_size", "9"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    assert!(sandbox.read("cache").contains("\nkv_size = 9\n"));
}

#[test]
fn set_refuses_a_file_whose_owner_it_cannot_keep() {
    let sandbox = Sandbox::new();
    sandbox.init();
    // Everything belongs to `nobody` but the file itself, which is root's:
    // nobody may replace it (the directory is theirs), but cannot give the
    // new file root's ownership, so the write must be refused.
    for dir in [
        sandbox.state(),
        sandbox.state().join("etc"),
        sandbox.conf_d(),
        sandbox.state().join("var"),
        sandbox.state().join("var/lib"),
        sandbox.state().join("var/lib/confd"),
    ] {
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
    }
    std::os::unix::fs::chown(
        sandbox.state().join("var/lib/confd/lock"),
        Some(65534),
        None,
    )
    .unwrap();
    let path = sandbox.conf_d().join("cache");
    let before = sandbox.read("cache");
    let dir_mtime = || {
        std::fs::metadata(sandbox.conf_d())
            .unwrap()
            .modified()
            .unwrap()
    };
    let dir_before = dir_mtime();
    let run = sandbox.run_as_nobody(&["config", "set", "cache.kv_size", "9"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr.contains("belongs to uid 0 gid 0"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);
    assert_eq!(sandbox.read("cache"), before);
    assert_eq!(std::fs::metadata(&path).unwrap().uid(), 0);
    // Refused before anything was created: not even a temporary file came
    // and went in conf.d.
    assert_eq!(dir_mtime(), dir_before);
    let leftovers: Vec<_> = std::fs::read_dir(sandbox.conf_d())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_secret_written_into_a_readable_file_makes_it_0600_and_says_so() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let path = sandbox.conf_d().join("llm");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    // A non-secret key leaves the mode as the user chose it.
    let run = sandbox.run(&["config", "set", "llm.model", "big"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(mode(&path), 0o644);
    let run = sandbox.run(&["config", "set", "llm.api_key", "sk-canary-1"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(mode(&path), 0o600);
    assert!(run.stderr.contains("now holds a secret"), "{}", run.stderr);
    assert!(run.stderr.contains("mode is now 0600"), "{}", run.stderr);
    assert!(
        !run.transcript().contains("sk-canary"),
        "{}",
        run.transcript()
    );

    // The same through `edit`, into a drop-in's main file.
    let mut sandbox = Sandbox::new();
    sandbox.init();
    let path = sandbox.conf_d().join("database");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o664)).unwrap();
    let script = sandbox.editor(
        "secret-editor",
        r#"echo 'url = "postgres://u:sk-canary-2@db/x"' >> "$1""#,
    );
    sandbox.env("EDITOR", &script);
    let run = sandbox.run(&["config", "edit", "database"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(mode(&path), 0o600);
    assert!(run.stderr.contains("now holds a secret"), "{}", run.stderr);
}

#[test]
fn set_of_an_unknown_key_warns_with_a_suggestion_and_fails_under_strict() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let before = sandbox.read("cache");
    let strict = sandbox.run(&["--strict", "config", "set", "cache.kv_sise", "5"]);
    assert_eq!(strict.code, 2, "{}", strict.transcript());
    assert!(
        strict.stderr.contains(
            "`cache.kv_sise` is not a key of the `cache` brick (did you mean `kv_size`?)"
        ),
        "{}",
        strict.stderr
    );
    assert_eq!(sandbox.read("cache"), before);
    let lenient = sandbox.run(&["config", "set", "cache.kv_sise", "5"]);
    assert_eq!(lenient.code, 0, "{}", lenient.transcript());
    assert!(
        lenient.stderr.starts_with(
            "warning: `cache.kv_sise` is not a key of the `cache` brick (did you mean `kv_size`?)"
        ),
        "{}",
        lenient.stderr
    );
    // A key under a plain value, and a whole table, are command-line errors.
    let under = sandbox.run(&["config", "set", "cache.backend.sub", "5"]);
    assert_eq!(under.code, 2, "{}", under.transcript());
    assert!(
        under
            .stderr
            .contains("`cache.backend` is a value, not a table"),
        "{}",
        under.stderr
    );
}

#[test]
fn a_bad_value_is_blamed_on_the_value_and_a_broken_file_on_the_file() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let bad = sandbox.run(&["config", "set", "uploads.max_chunk_size", "1"]);
    assert_eq!(bad.code, 2, "{}", bad.transcript());
    assert!(
        bad.stderr.contains("`1` breaks a rule of `uploads`"),
        "{}",
        bad.stderr
    );
    assert!(!bad.stderr.contains("conf.d/uploads:"), "{}", bad.stderr);
    // The file is already broken elsewhere: that is not the value's fault.
    let broken = sandbox.conf_d().join("search");
    std::fs::write(&broken, "zoekt_url = 5\n").unwrap();
    let run = sandbox.run(&["config", "set", "search.index_dir", "/x"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(run.stderr.contains("conf.d/search:1:"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("does not load as it is, so nothing was set"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(&broken).unwrap(), "zoekt_url = 5\n");
}

#[test]
fn every_directory_and_file_confd_creates_has_its_mode_whatever_the_umask() {
    for umask in ["000", "077"] {
        let sandbox = Sandbox::new();
        let state = sandbox.state();
        let script = format!(
            "umask {umask} && \"$0\" --state-dir \"$1\" config set mounts.auto_sync on --drop-in 50-local \
             && \"$0\" --state-dir \"$1\" config set llm.model m --drop-in 50-local \
             && \"$0\" --state-dir \"$1\" config set cache.kv_size 1 \
             && \"$0\" --state-dir \"$1\" config init"
        );
        let output = sandbox
            .command_with(Path::new("/bin/sh"), &["-c", &script])
            .arg(nexus_bin())
            .arg(&state)
            .output()
            .unwrap();
        let run = sandbox.finish(output);
        assert_eq!(run.code, 0, "umask {umask}: {}", run.transcript());
        for dir in [
            "",
            "etc",
            "etc/conf.d",
            "etc/conf.d/mounts.d",
            "var",
            "var/lib",
            "var/lib/confd",
        ] {
            assert_eq!(mode(&state.join(dir)), 0o755, "umask {umask}: `{dir}`");
        }
        for (file, expected) in [
            ("etc/conf.d/mounts.d/50-local.toml", 0o644),
            ("etc/conf.d/llm.d/50-local.toml", 0o600),
            ("etc/conf.d/cache", 0o644),
            ("var/lib/confd/lock", 0o644),
            ("var/lib/confd/seeded.toml", 0o644),
            ("etc/conf.d/database", 0o600),
            ("etc/conf.d/search", 0o644),
        ] {
            assert_eq!(mode(&state.join(file)), expected, "umask {umask}: `{file}`");
        }
    }
}

#[test]
fn set_and_edit_refuse_a_file_over_the_size_limit_before_writing_it() {
    let mut sandbox = Sandbox::new();
    sandbox.init();
    let before = sandbox.read("cache");
    // One argument holds at most 128 KiB: eight of these fit in the file,
    // a ninth would make a file no load accepts.
    let big = "x".repeat(120 * 1024);
    for i in 1..=8 {
        let run = sandbox.run(&["config", "set", &format!("cache.extra{i}"), &big]);
        assert_eq!(run.code, 0, "{}", run.transcript());
    }
    let run = sandbox.run(&["config", "set", "cache.extra9", &big]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stderr.contains("limited to 1 MiB"), "{}", run.stderr);
    assert!(
        run.stderr.len() < 1000,
        "the value is echoed whole: {} bytes",
        run.stderr.len()
    );
    assert_eq!(sandbox.run(&["config", "get", "cache.backend"]).code, 0);
    std::fs::write(sandbox.conf_d().join("cache"), &before).unwrap();
    let script = sandbox.editor(
        "huge-editor",
        "head -c 1100000 /dev/zero | tr '\\0' '#' >> \"$1\"",
    );
    sandbox.env("EDITOR", &script);
    let run = sandbox.run(&["config", "edit", "cache"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr
            .contains("configuration files are limited to 1 MiB"),
        "{}",
        run.stderr
    );
    assert_eq!(sandbox.read("cache"), before);
}

#[test]
fn edit_warns_of_an_unknown_key_with_a_suggestion() {
    let mut sandbox = Sandbox::new();
    sandbox.init();
    let script = sandbox.editor("typo-editor", r#"echo 'kv_sise = 5' >> "$1""#);
    sandbox.env("EDITOR", &script);
    let run = sandbox.run(&["config", "edit", "cache"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(run.stderr.contains("kv_sise"), "{}", run.stderr);
    assert!(
        run.stderr.contains("did you mean `kv_size`?"),
        "{}",
        run.stderr
    );
}

#[test]
fn on_a_terminal_edit_re_offers_the_changed_file_and_keeps_both_changes() {
    assert!(
        Command::new("script").arg("--version").output().is_ok(),
        "this test needs `script` for a pseudo-terminal: apt-get install bsdutils"
    );
    let mut sandbox = Sandbox::new();
    sandbox.init();
    let real = sandbox.conf_d().join("cache");
    let counter = sandbox.state().with_file_name("count");
    // First run: edits its copy while someone else sets `list_size`. Second
    // run (on the new version): makes the edit again.
    let body = format!(
        "if [ -f {c} ]; then sed -i 's/^#kv_size = 256/kv_size = 1/' \"$1\"; \
         else touch {c}; sed -i 's/^#kv_size = 256/kv_size = 1/' \"$1\"; \
         sed -i 's/^#list_size = 1024/list_size = 77/' '{r}'; fi",
        c = counter.display(),
        r = real.display()
    );
    let script = sandbox.editor("racing-twice-editor", &body);
    sandbox.env("EDITOR", &script);
    let command = format!(
        "{} --state-dir {} config edit cache",
        nexus_bin().display(),
        sandbox.state().display()
    );
    let mut child = sandbox
        .command_with(Path::new("script"), &["-qec", &command, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        let _ = stdin.write_all(b"y\n");
    }
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("changed while you were editing it"), "{text}");
    assert!(text.contains("edit the new version"), "{text}");
    let now = sandbox.read("cache");
    assert!(now.contains("\nlist_size = 77\n"), "{text}\n{now}");
    assert!(now.contains("\nkv_size = 1\n"), "{text}\n{now}");
    // The first version is kept, and named.
    let kept = take_kept_copy(&text);
    assert!(kept.contains("\nkv_size = 1\n"));
}

#[test]
fn the_change_shown_by_a_refused_edit_hides_secrets() {
    let mut sandbox = Sandbox::new();
    sandbox.init();
    let real = sandbox.conf_d().join("llm");
    let script = sandbox.editor("racing-secret-editor",
        &format!(
            "echo 'model = \"mine\"' >> \"$1\"\n\
             printf 'api_key = \"\"\"\\nsk-CANARY-1\\n\"\"\"\\n#api_key = \"sk-CANARY-2\"\\n' >> '{}'",
            real.display()
        ),
    );
    sandbox.env("EDITOR", &script);
    let run = sandbox.run(&["config", "edit", "llm"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr.contains("changed while you were editing it"),
        "{}",
        run.stderr
    );
    assert!(!run.transcript().contains("CANARY"), "{}", run.transcript());
    assert!(sandbox.read("llm").contains("sk-CANARY-1"));
}

#[test]
fn sets_through_two_state_dirs_sharing_one_file_all_survive() {
    let a = Sandbox::new();
    let b = Sandbox::new();
    a.init();
    b.init();
    // B's conf.d/cache is a symlink to A's: two state locks, one file.
    let shared = a.conf_d().join("cache");
    std::fs::remove_file(b.conf_d().join("cache")).unwrap();
    std::os::unix::fs::symlink(&shared, b.conf_d().join("cache")).unwrap();
    sets_in_parallel_all_survive(&shared, |i| if i % 2 == 0 { &a } else { &b });
    assert!(
        std::fs::symlink_metadata(b.conf_d().join("cache"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn set_during_a_release_switch_never_writes_one_release_into_another() {
    let sandbox = Sandbox::new();
    let state = sandbox.state();
    for release in ["rel1", "rel2"] {
        std::fs::create_dir_all(state.join(release).join("conf.d")).unwrap();
        std::fs::write(
            state.join(release).join("conf.d/web"),
            format!("release = \"{release}\"\n"),
        )
        .unwrap();
    }
    std::os::unix::fs::symlink("rel1", state.join("etc")).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let switcher = {
        let (state, stop) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut next = "rel2";
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let temp = state.join("etc.tmp");
                let _ = std::fs::remove_file(&temp);
                std::os::unix::fs::symlink(next, &temp).unwrap();
                std::fs::rename(&temp, state.join("etc")).unwrap();
                next = if next == "rel1" { "rel2" } else { "rel1" };
            }
        })
    };
    for i in 0..60 {
        let run = sandbox.run(&["config", "set", &format!("web.k{}", i % 5), &i.to_string()]);
        assert_eq!(run.code, 0, "{}", run.transcript());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    switcher.join().unwrap();
    for release in ["rel1", "rel2"] {
        let text = std::fs::read_to_string(state.join(release).join("conf.d/web")).unwrap();
        let parsed: toml::Table = text.parse().unwrap();
        assert_eq!(
            parsed["release"].as_str(),
            Some(release),
            "{release} holds another release's file:\n{text}"
        );
    }
}

#[test]
fn edit_keeps_the_copy_when_the_write_itself_fails() {
    let mut sandbox = Sandbox::new();
    sandbox.init();
    // The lock cannot be taken: var/lib/confd/lock leads nowhere.
    let lock = sandbox.state().join("var/lib/confd/lock");
    std::fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink("/nonexistent/lock", &lock).unwrap();
    let script = sandbox.editor("good-editor", r#"echo 'kv_size = 7 # precious' >> "$1""#);
    sandbox.env("EDITOR", &script);
    let run = sandbox.run(&["config", "edit", "cache"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    let kept = take_kept_copy(&run.stderr);
    assert!(kept.contains("# precious"));
}

#[test]
fn what_root_creates_in_a_service_users_state_dir_stays_the_services() {
    let sandbox = Sandbox::new();
    let state = sandbox.state();
    std::fs::create_dir(&state).unwrap();
    std::os::unix::fs::chown(&state, Some(65534), Some(65534)).unwrap();
    let run = sandbox.run(&["config", "set", "llm.model", "m", "--drop-in", "50-x"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    for entry in [
        "etc",
        "etc/conf.d",
        "etc/conf.d/llm.d",
        "etc/conf.d/llm.d/50-x.toml",
        "var",
        "var/lib",
        "var/lib/confd",
        "var/lib/confd/lock",
    ] {
        let meta = std::fs::metadata(state.join(entry)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534), "`{entry}`");
    }
    assert_eq!(mode(&state.join("etc/conf.d/llm.d/50-x.toml")), 0o600);
}

#[test]
fn set_stdin_reads_a_secret_that_never_reaches_the_process_list() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let state = sandbox.state();
    let mut child = sandbox
        .command_with(
            &nexus_bin(),
            &[
                "--state-dir",
                state.to_str().unwrap(),
                "config",
                "set",
                "llm.api_key",
                "--stdin",
            ],
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"sk-from-stdin\n")
            .unwrap();
    }
    let run = sandbox.finish(child.wait_with_output().unwrap());
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        !run.transcript().contains("sk-from-stdin"),
        "{}",
        run.transcript()
    );
    let config: toml::Table = sandbox.read("llm").parse().unwrap();
    assert_eq!(config["api_key"].as_str(), Some("sk-from-stdin"));
    // A value and --stdin together are a usage error.
    let both = sandbox.run(&["config", "set", "llm.api_key", "x", "--stdin"]);
    assert_eq!(both.code, 2, "{}", both.transcript());
}

#[test]
fn a_set_or_init_waiting_for_the_lock_says_so() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let state = sandbox.state();
    for args in [
        &["config", "set", "cache.kv_size", "3"][..],
        &["config", "init"][..],
    ] {
        let holder = std::fs::File::open(state.join("var/lib/confd/lock")).unwrap();
        holder.lock().unwrap();
        let mut all = vec!["--state-dir", state.to_str().unwrap()];
        all.extend_from_slice(args);
        let child = sandbox
            .command_with(&nexus_bin(), &all)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(holder);
        let run = sandbox.finish(child.wait_with_output().unwrap());
        assert_eq!(run.code, 0, "{args:?}: {}", run.transcript());
        assert!(
            run.stderr.contains("waiting for another command writing"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn set_speaks_json_and_suggests_across_case() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let run = sandbox.run(&["--format", "json", "config", "set", "cache.kv_size", "5"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["brick"], "cache");
    assert_eq!(json["key"], "kv_size");
    assert_eq!(json["changed"], true);
    let again = sandbox.run(&["--format", "json", "config", "set", "cache.kv_size", "5"]);
    let json: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(json["changed"], false);
    let upper = sandbox.run(&["--strict", "config", "set", "cache.KV_SIZE", "5"]);
    assert_eq!(upper.code, 2, "{}", upper.transcript());
    assert!(
        upper.stderr.contains("did you mean `kv_size`?"),
        "{}",
        upper.stderr
    );
}

#[test]
fn a_value_a_drop_in_overrides_is_still_checked() {
    let mut sandbox = Sandbox::new();
    sandbox.init();
    sandbox.write("cache.d/50-ops.toml", "kv_size = 1\nbackend = \"null\"\n");
    let before = sandbox.read("cache");
    for (key, value) in [("cache.kv_size", "-3"), ("cache.backend", "Dragonfly")] {
        let run = sandbox.run(&["config", "set", key, value]);
        assert_eq!(run.code, 2, "{}", run.transcript());
        // Quoted once: by serde ("unknown variant `Dragonfly`") or by `set`.
        assert_eq!(
            run.stderr.matches(&format!("`{value}`")).count(),
            1,
            "{}",
            run.stderr
        );
    }
    assert_eq!(sandbox.read("cache"), before);
    let script = sandbox.editor("negative-editor", r#"echo 'kv_size = -5' >> "$1""#);
    sandbox.env("EDITOR", &script);
    let run = sandbox.run(&["config", "edit", "cache"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr.contains("[ROOT]/state/etc/conf.d/cache:"),
        "{}",
        run.stderr
    );
    assert_eq!(sandbox.read("cache"), before);
    // A rule across keys may still rely on another file for the rest.
    sandbox.write("uploads.d/50-big.toml", "max_chunk_size = 900000000\n");
    let run = sandbox.run(&["config", "set", "uploads.default_chunk_size", "800000000"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
}

#[test]
fn a_mistyped_brick_is_warned_about_and_refused_under_strict() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let strict = sandbox.run(&["--strict", "config", "set", "databse.pool_size", "3"]);
    assert_eq!(strict.code, 2, "{}", strict.transcript());
    assert!(
        strict
            .stderr
            .contains("`databse` is not a registered brick (did you mean `database`?)"),
        "{}",
        strict.stderr
    );
    assert!(!sandbox.conf_d().join("databse").exists());
    let lenient = sandbox.run(&["config", "set", "databse.pool_size", "3"]);
    assert_eq!(lenient.code, 0, "{}", lenient.transcript());
    assert!(
        lenient.stderr.contains("did you mean `database`?"),
        "{}",
        lenient.stderr
    );
    // A brick of one's own, with a name like no other, is no typo.
    let mine = sandbox.run(&["--strict", "config", "set", "smtp-relay.host", "mx"]);
    assert_eq!(mine.code, 0, "{}", mine.transcript());
    assert!(mine.stderr.is_empty(), "{}", mine.stderr);
}

#[test]
fn a_misspelt_secret_in_a_secret_brick_tightens_the_mode_too() {
    let sandbox = Sandbox::new();
    sandbox.write("llm", "# mine\n");
    let path = sandbox.conf_d().join("llm");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = sandbox.run(&["config", "set", "llm.API_KEY", "sk-canary-3"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(mode(&path), 0o600);
    assert!(run.stderr.contains("now holds a secret"), "{}", run.stderr);
    assert!(
        !run.transcript().contains("sk-canary"),
        "{}",
        run.transcript()
    );
}

#[test]
fn setting_the_value_a_key_already_holds_leaves_the_file_as_written() {
    let sandbox = Sandbox::new();
    sandbox.write("cache", "kv_size = 0x100 # hex on purpose\n");
    let before = std::fs::metadata(sandbox.conf_d().join("cache"))
        .unwrap()
        .modified()
        .unwrap();
    let run = sandbox.run(&["--format", "json", "config", "set", "cache.kv_size", "256"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["changed"], false);
    assert_eq!(sandbox.read("cache"), "kv_size = 0x100 # hex on purpose\n");
    let after = std::fs::metadata(sandbox.conf_d().join("cache"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);
}

#[test]
fn an_editor_that_never_ran_leaves_no_copy_behind() {
    let mut sandbox = Sandbox::new();
    sandbox.init();
    let tmp = sandbox.state().with_file_name("tmp");
    std::fs::create_dir(&tmp).unwrap();
    sandbox
        .env("TMPDIR", tmp.to_str().unwrap())
        .env("EDITOR", "/nonexistent/editor");
    let run = sandbox.run(&["config", "edit", "database"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(!run.stderr.contains("kept in"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "a copy was left behind"
    );
}

#[test]
fn root_does_not_write_through_a_service_users_link_out_of_the_state_dir() {
    let sandbox = Sandbox::new();
    sandbox.init();
    // A file only root may read, outside the state dir.
    let private = sandbox.state().with_file_name("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::write(private.join("database"), "url = \"postgres://root@db/x\"\n").unwrap();
    // In the service's state dir, the service points `cache` at it.
    let link = sandbox.conf_d().join("cache");
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(private.join("database"), &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(65534), None).unwrap();
    let run = sandbox.run(&["config", "set", "cache.kv_size", "5"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr
            .contains("is a symlink that uid 65534 owns, leading out of the state dir"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(private.join("database")).unwrap(),
        "url = \"postgres://root@db/x\"\n"
    );
}

#[test]
fn a_secret_into_a_file_with_an_acl_keeps_the_users_the_acl_names() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let path = sandbox.conf_d().join("llm");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    // `setfacl -m u:nobody:r`: user::rw-, user:65534:r--, group::---,
    // mask::r--, other::--- (the mode then reads 0640).
    let mut acl = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (1u16, 6u16, u32::MAX),
        (2, 4, 65534),
        (4, 0, u32::MAX),
        (0x10, 4, u32::MAX),
        (0x20, 0, u32::MAX),
    ] {
        acl.extend(tag.to_le_bytes());
        acl.extend(perm.to_le_bytes());
        acl.extend(id.to_le_bytes());
    }
    let flags = rustix::fs::XattrFlags::empty();
    rustix::fs::setxattr(&path, "system.posix_acl_access", &acl, flags).unwrap();
    let root = sandbox.state().parent().unwrap().to_owned();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = sandbox.run(&["config", "set", "llm.api_key", "sk-acl"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let mut value = [0u8; 64];
    let len = rustix::fs::getxattr(&path, "system.posix_acl_access", &mut value[..]).unwrap();
    assert_eq!(&value[..len], &acl[..], "the ACL changed");
    // The service the ACL names still reads its file.
    let read = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            "cat",
        ])
        .arg(&path)
        .output()
        .expect("setpriv (util-linux) runs the check as `nobody`");
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    // And doctor does not tell the user to undo that grant.
    let doctor = sandbox.run(&["config", "doctor"]);
    assert!(
        !doctor.stdout.contains("conf.d/llm` holds secrets"),
        "{}",
        doctor.stdout
    );
}

#[test]
fn a_line_feed_in_the_state_dir_cannot_fake_a_line_of_output() {
    let sandbox = Sandbox::new();
    let state = sandbox.state().with_file_name("nl\nfake: line");
    let state = state.to_str().unwrap();
    for args in [
        vec!["--state-dir", state, "config", "init"],
        vec!["--state-dir", state, "config", "set", "cache.kv_size", "3"],
        vec!["--state-dir", state, "config", "path"],
    ] {
        let run = sandbox.run_raw(&args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.transcript());
        assert!(
            !run.stdout.lines().any(|l| l.starts_with("fake: line")),
            "{args:?}: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains("nl\\u000Afake: line"),
            "{args:?}: {}",
            run.stdout
        );
    }
}

#[test]
fn an_editor_variable_that_is_not_utf8_is_named_not_skipped() {
    use std::os::unix::ffi::OsStrExt;
    let sandbox = Sandbox::new();
    sandbox.init();
    let state = sandbox.state();
    let output = sandbox
        .command_with(
            &nexus_bin(),
            &[
                "--state-dir",
                state.to_str().unwrap(),
                "config",
                "edit",
                "cache",
            ],
        )
        .env("EDITOR", std::ffi::OsStr::from_bytes(b"my\xffeditor"))
        .output()
        .unwrap();
    let run = sandbox.finish(output);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stderr
            .contains("environment variable `EDITOR` is not valid UTF-8"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_state_dir_below_a_file_names_the_file() {
    let sandbox = Sandbox::new();
    let file = sandbox.state().with_file_name("afile");
    std::fs::write(&file, "").unwrap();
    let state = file.join("sub");
    for args in [["config", "init"], ["config", "doctor"]] {
        let mut all = vec!["--state-dir", state.to_str().unwrap()];
        all.extend_from_slice(&args);
        let run = sandbox.run_raw(&all);
        assert_eq!(run.code, 1, "{args:?}: {}", run.transcript());
        assert!(
            run.transcript()
                .contains("`[ROOT]/afile` is a file, not a directory"),
            "{args:?}: {}",
            run.transcript()
        );
    }
}

#[test]
fn help_and_version_that_cannot_be_written_fail() {
    let sandbox = Sandbox::new();
    for args in [["--help"], ["--version"]] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let output = sandbox
            .command_with(&nexus_bin(), &args)
            .stdout(full)
            .output()
            .unwrap();
        let run = sandbox.finish(output);
        assert_eq!(run.code, 1, "{args:?}: {}", run.transcript());
        assert!(
            run.stderr.contains("cannot write to standard output"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn a_refused_set_creates_nothing_not_even_the_lock() {
    let sandbox = Sandbox::new();
    for args in [
        ["config", "set", "cache.backend", "bogus"],
        ["config", "set", "uploads.min_chunk_size", "999999999999"],
    ] {
        let run = sandbox.run(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.transcript());
        assert!(!sandbox.state().exists(), "{args:?} created the state dir");
    }
}

//! Writers that race: concurrent sets of one file, through two state dirs,
//! during a release switch, an edit whose file changes under it, and the
//! lock they wait for.

use std::path::Path;
use std::process::Command;

use super::{sets_in_parallel_all_survive, take_kept_copy};
use crate::support::{Sandbox, nexus_bin};

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

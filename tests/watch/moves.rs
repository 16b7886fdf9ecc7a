//! Watched directories switched or moved (a release switch, `etc` moved away,
//! a swapped `conf.d` link), and service users that can search a `0711`
//! directory but not read it, so poll it.

use super::{Watching, polling, shell, watch_as_nobody};
use crate::support::Sandbox;

#[test]
fn a_release_switch_of_a_symlinked_etc_is_seen() {
    let sandbox = Sandbox::new();
    let state = sandbox.state();
    for (release, auto_sync) in [("rel1", "false"), ("rel2", "true"), ("bad", "\"yes\"")] {
        let conf_d = state.join(release).join("conf.d");
        std::fs::create_dir_all(&conf_d).unwrap();
        std::fs::write(conf_d.join("mounts"), format!("auto_sync = {auto_sync}\n")).unwrap();
    }
    shell(&state, "ln -s rel1 etc");
    let watching = Watching::start(&sandbox, &["mounts", "--format", "json"]);

    shell(&state, "ln -sfn rel2 etc.tmp && mv -T etc.tmp etc");
    let line = watching.next_line();
    let event: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(event["event"], "reloaded", "{line}");
    assert_eq!(event["changes"][0]["key"], "auto_sync", "{line}");
    assert_eq!(event["changes"][0]["old"]["value"], false, "{line}");
    assert_eq!(event["changes"][0]["new"]["value"], true, "{line}");
    assert_eq!(
        event["changes"][0]["new"]["origin"]["text"],
        format!("{}:1:13", sandbox.conf_d().join("mounts").display()),
        "{line}"
    );
    let serving = event["hash"].clone();

    // A release with a bad file is reported and the last good one served.
    shell(&state, "ln -sfn bad etc.tmp && mv -T etc.tmp etc");
    let line = watching.next_line();
    let event: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(event["event"], "invalid", "{line}");
    assert_eq!(event["serving_hash"], serving, "{line}");

    // Back to the first release, and an edit in it is seen.
    shell(&state, "ln -sfn rel1 etc.tmp && mv -T etc.tmp etc");
    let line = watching.next_line();
    let event: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(event["event"], "reloaded", "{line}");
    assert_eq!(event["changes"][0]["new"]["value"], false, "{line}");
    std::fs::write(state.join("rel1/conf.d/mounts"), "auto_sync = true\n").unwrap();
    let line = watching.next_line();
    let event: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(event["changes"][0]["new"]["value"], true, "{line}");
}

#[test]
fn etc_moved_away_and_re_created_is_seen() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let watching = Watching::start(&sandbox, &["mounts"]);
    shell(
        &sandbox.state(),
        "mv etc etc.old && mkdir -p etc/conf.d && echo 'auto_sync = true' > etc/conf.d/mounts",
    );
    let line = watching.next_line();
    assert!(line.starts_with("reloaded mounts "), "{line}");
    assert!(line.contains("auto_sync: false -> true"), "{line}");
}

#[test]
fn a_service_user_watches_beneath_a_directory_it_cannot_list() {
    // `/srv/apps` at 0711: the service reaches its state dir but cannot read
    // the directory above it. The watch starts, and sees edits and switches
    // inside the state dir (a switch up there: the next test).
    let sandbox = Sandbox::new();
    let root = sandbox.state().parent().unwrap().to_owned();
    let state = sandbox.state();
    for (release, auto_sync) in [("rel1", "false"), ("rel2", "true")] {
        let conf_d = state.join(release).join("conf.d");
        std::fs::create_dir_all(&conf_d).unwrap();
        std::fs::write(conf_d.join("mounts"), format!("auto_sync = {auto_sync}\n")).unwrap();
    }
    shell(
        &state,
        "ln -s rel1 etc && chown -R nobody: . && chmod 0711 ..",
    );
    // A copy the service user can run wherever the build tree is.
    let nexus = root.join("nexus");
    crate::support::copy_nexus(&nexus);
    let state_arg = state.to_str().unwrap();
    let nexus_arg = nexus.to_str().unwrap();
    let watching = Watching::spawn(sandbox.command_with(
        std::path::Path::new("setpriv"),
        &[
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            nexus_arg,
            "--state-dir",
            state_arg,
            "config",
            "watch",
            "mounts",
        ],
    ));
    shell(&state, "ln -sfn rel2 etc.tmp && mv -T etc.tmp etc");
    let line = watching.next_line();
    assert!(line.contains("auto_sync: false -> true"), "{line}");
    std::fs::write(state.join("rel2/conf.d/mounts"), "auto_sync = false\n").unwrap();
    let line = watching.next_line();
    assert!(line.contains("auto_sync: true -> false"), "{line}");
}

#[test]
fn a_service_user_sees_its_state_dir_symlink_switched_in_a_0711_directory_above() {
    // `/srv/apps/nexus -> nexus-1` in a `0711` `/srv/apps`: polled, quietly
    // (a directory above the state dir is often unreadable on purpose).
    let sandbox = Sandbox::new();
    let root = sandbox.state().parent().unwrap().to_owned();
    for (release, auto_sync) in [("s1", "false"), ("s2", "true")] {
        let conf_d = root.join(release).join("etc/conf.d");
        std::fs::create_dir_all(&conf_d).unwrap();
        std::fs::write(conf_d.join("mounts"), format!("auto_sync = {auto_sync}\n")).unwrap();
    }
    let watching = watch_as_nobody(
        &sandbox,
        "rmdir state && ln -s s1 state && chmod 0711 .",
        &["mounts"],
    );
    assert_eq!(watching.start.len(), 1, "{:?}", watching.start);
    shell(&root, "ln -sfn s2 state.tmp && mv -T state.tmp state");
    let line = watching.next_line();
    assert!(line.contains("auto_sync: false -> true"), "{line}");
}

#[test]
fn a_swapped_conf_d_symlink_is_seen() {
    let sandbox = Sandbox::new();
    let state = sandbox.state();
    for (tree, auto_sync) in [("a", "false"), ("b", "true")] {
        let conf_d = state.join("trees").join(tree);
        std::fs::create_dir_all(&conf_d).unwrap();
        std::fs::write(conf_d.join("mounts"), format!("auto_sync = {auto_sync}\n")).unwrap();
    }
    std::fs::create_dir_all(state.join("etc")).unwrap();
    shell(&state.join("etc"), "ln -s ../trees/a conf.d");
    let watching = Watching::start(&sandbox, &["mounts"]);
    shell(
        &state.join("etc"),
        "ln -sfn ../trees/b conf.d.tmp && mv -T conf.d.tmp conf.d",
    );
    let line = watching.next_line();
    assert!(line.contains("auto_sync: false -> true"), "{line}");
    // The tree swapped in is the one watched now.
    std::fs::write(state.join("trees/b/mounts"), "auto_sync = false\n").unwrap();
    let line = watching.next_line();
    assert!(line.contains("auto_sync: true -> false"), "{line}");
}

#[test]
fn a_service_user_still_hears_edits_once_conf_d_turns_0711() {
    // inotify needs read permission: the watch the service user had on
    // `conf.d` is lost when it is set again after the `chmod`, and edits
    // must still be heard, by polling, with a word on stderr about it.
    let sandbox = Sandbox::new();
    sandbox.init();
    let watching = watch_as_nobody(&sandbox, "true", &["mounts"]);
    assert_eq!(watching.start.len(), 1, "{:?}", watching.start);
    shell(&sandbox.conf_d(), "chmod 0711 .");
    assert_eq!(watching.next_stderr(), polling(&sandbox.conf_d()));
    sandbox.write("mounts", "auto_sync = true\n");
    let line = watching.next_line();
    assert!(line.contains("auto_sync: false -> true"), "{line}");
    // Readable again: watched again, and edits still heard.
    shell(&sandbox.conf_d(), "chmod 0755 .");
    sandbox.write("mounts", "auto_sync = false\n");
    let line = watching.next_line();
    assert!(line.contains("auto_sync: true -> false"), "{line}");
}

#[test]
fn a_service_user_watches_a_conf_d_it_cannot_list_from_the_start() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let watching = watch_as_nobody(&sandbox, "chmod 0711 state/etc/conf.d", &["mounts"]);
    assert_eq!(watching.start[0], polling(&sandbox.conf_d()));
    assert!(
        watching.banner().starts_with("watching mounts ("),
        "{}",
        watching.banner()
    );
    // Saved by an editor (a new inode), then written in place.
    let temp = sandbox.write(".mounts.tmp", "auto_sync = true\n");
    std::fs::rename(temp, sandbox.conf_d().join("mounts")).unwrap();
    let line = watching.next_line();
    assert!(line.contains("auto_sync: false -> true"), "{line}");
    sandbox.write("mounts", "auto_sync = false\n");
    let line = watching.next_line();
    assert!(line.contains("auto_sync: true -> false"), "{line}");
}

#[test]
fn a_service_user_sees_a_release_switch_in_a_0711_state_dir() {
    let sandbox = Sandbox::new();
    let state = sandbox.state();
    for (release, auto_sync) in [("rel1", "false"), ("rel2", "true")] {
        let conf_d = state.join(release).join("conf.d");
        std::fs::create_dir_all(&conf_d).unwrap();
        std::fs::write(conf_d.join("mounts"), format!("auto_sync = {auto_sync}\n")).unwrap();
    }
    let watching = watch_as_nobody(
        &sandbox,
        "ln -s rel1 state/etc && chmod 0711 state",
        &["mounts"],
    );
    assert_eq!(watching.start[0], polling(&state));
    shell(&state, "ln -sfn rel2 etc.tmp && mv -T etc.tmp etc");
    let line = watching.next_line();
    assert!(line.contains("auto_sync: false -> true"), "{line}");
    // The release switched to is the one watched now.
    std::fs::write(state.join("rel2/conf.d/mounts"), "auto_sync = false\n").unwrap();
    let line = watching.next_line();
    assert!(line.contains("auto_sync: true -> false"), "{line}");
}

#[test]
fn a_service_user_sees_a_conf_d_symlink_switched_in_a_0711_etc() {
    let sandbox = Sandbox::new();
    let state = sandbox.state();
    for (tree, auto_sync) in [("a", "false"), ("b", "true")] {
        let conf_d = state.join("trees").join(tree);
        std::fs::create_dir_all(&conf_d).unwrap();
        std::fs::write(conf_d.join("mounts"), format!("auto_sync = {auto_sync}\n")).unwrap();
    }
    let etc = state.join("etc");
    let watching = watch_as_nobody(
        &sandbox,
        "mkdir state/etc && ln -s ../trees/a state/etc/conf.d && chmod 0711 state/etc",
        &["mounts"],
    );
    assert_eq!(watching.start[0], polling(&etc));
    shell(
        &etc,
        "ln -sfn ../trees/b conf.d.tmp && mv -T conf.d.tmp conf.d",
    );
    let line = watching.next_line();
    assert!(line.contains("auto_sync: false -> true"), "{line}");
}

#[test]
fn a_service_user_sees_an_in_place_edit_of_a_linked_file_in_a_0711_directory() {
    // `conf.d/mounts` -> a file in a directory the service user cannot read,
    // even outside the state dir: the file's own entry is polled.
    let sandbox = Sandbox::new();
    sandbox.init();
    let root = sandbox.state().parent().unwrap().to_owned();
    let shared = root.join("shared");
    let watching = watch_as_nobody(
        &sandbox,
        "mkdir shared && echo 'auto_sync = false' > shared/mounts.toml && chmod 0711 shared \
         && ln -sfn ../../../shared/mounts.toml state/etc/conf.d/mounts",
        &["mounts"],
    );
    assert_eq!(watching.start[0], polling(&shared));
    std::fs::write(shared.join("mounts.toml"), "auto_sync = true\n").unwrap();
    let line = watching.next_line();
    assert!(line.contains("auto_sync: false -> true"), "{line}");
}

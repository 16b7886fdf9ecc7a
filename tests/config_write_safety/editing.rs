//! `config edit` when something goes wrong: the edited copy is kept when it
//! is worth keeping (invalid, or the write failed) and only then, unknown
//! keys are warned about, the editor variable is read strictly.

use super::take_kept_copy;
use crate::support::{Sandbox, nexus_bin};

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

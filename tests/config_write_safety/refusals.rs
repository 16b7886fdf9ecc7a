//! Commands refused before they write: a state dir that cannot be, output
//! that cannot be written, and a refused set that creates nothing.

use crate::support::{Sandbox, nexus_bin};

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

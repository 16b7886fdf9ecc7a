//! A huge value or key is quoted cut short in every message about it (issue
//! 12): a 500 KB `backend = "…"` in a file, a 500 KB key, a 100 KB `--set`
//! make messages of a line, not of the input's size.

use crate::support::Sandbox;

/// The most a message about a huge input may take, in bytes.
const SHORT: usize = 2_000;

#[test]
fn a_huge_value_or_key_makes_a_short_message() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let huge = "k".repeat(500_000);
    sandbox.write("cache", &format!("backend = \"{huge}\"\n"));
    for args in [
        vec!["config", "show", "cache"],
        vec!["config", "validate", "cache"],
        vec!["config", "doctor"],
        vec!["config", "explain", "cache.backend"],
        vec!["config", "get", "cache.backend"],
        vec!["config", "set", "cache.kv_size", "10"],
    ] {
        let run = sandbox.run(&args);
        assert_ne!(run.code, 0, "{args:?}");
        // `doctor` reports on stdout.
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(all.len() < SHORT, "{args:?}: {} bytes", all.len());
        assert!(
            all.contains("unknown variant `kkkk") && all.contains("(500000 bytes)`"),
            "{args:?}: {}",
            &all[..all.len().min(SHORT)]
        );
    }
    sandbox.write("cache", &format!("{huge} = 1\n"));
    for args in [
        vec!["config", "show", "cache"],
        vec!["config", "validate", "cache"],
    ] {
        let run = sandbox.run(&args);
        assert!(
            run.stderr.len() < SHORT,
            "{args:?}: {} bytes",
            run.stderr.len()
        );
        assert!(
            run.stderr.contains("warning: unknown key `cache.kkkk")
                && run.stderr.contains("(500006 bytes)`"),
            "{args:?}: {}",
            &run.stderr[..run.stderr.len().min(SHORT)]
        );
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}");
    }
    sandbox.write("cache", "");
    let set = format!("--set=cache.backend={}", &huge[..100_000]);
    for args in [
        vec![set.as_str(), "config", "show", "cache"],
        vec!["config", "set", "cache.backend", &huge[..100_000]],
    ] {
        let run = sandbox.run(&args);
        assert_ne!(run.code, 0, "{args:?}");
        assert!(run.stderr.len() < SHORT, "{} bytes", run.stderr.len());
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    }
}

/// serde's "unknown variant `bogus`" names the value: `set` does not name
/// it a second time.
#[test]
fn set_names_a_refused_value_once() {
    let sandbox = Sandbox::new();
    sandbox.init();
    let run = sandbox.run(&["config", "set", "cache.backend", "bogus"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert_eq!(run.stderr.matches("bogus").count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("unknown variant `bogus`, expected one of"),
        "{}",
        run.stderr
    );
    // A message that does not quote the value still says what was given.
    let run = sandbox.run(&["config", "set", "cache.kv_size", "-5"]);
    assert!(run.stderr.contains("`-5`"), "{}", run.transcript());
}

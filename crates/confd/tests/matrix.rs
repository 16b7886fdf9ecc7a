//! The adversarial matrix against the library's entry points (RELIABILITY.md):
//! every input of `adversarial.rs` × `get_brick_config`, `Loader::load`
//! (uncached, and cached twice) and `Loader::load_typed`.
//!
//! Each input runs in a child process (this test binary again, running the
//! ignored `matrix_child` test) so that a panic, a stack overflow, a hang or a
//! runaway allocation fails the input instead of the whole suite: the child is
//! killed after `adversarial::TIMEOUT` and runs under `setrlimit(RLIMIT_AS)` of
//! `adversarial::MEMORY_LIMIT` (set in a `pre_exec` hook). Loads run on a thread with a
//! 2 MiB stack, the default of a spawned Rust thread, as a brick's would.

#[path = "adversarial.rs"]
mod adversarial;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use adversarial::{Expect, cases, run_bounded, snapshot};

use crate::support::State;

/// The entry points, in the order the child reports them.
const ENTRY_POINTS: [&str; 4] = [
    "get_brick_config",
    "Loader::load",
    "Loader::load (cached, twice)",
    "Loader::load_typed",
];

/// Runs the child for the input laid out in `state`, returns its report lines.
fn run_child(state: &State, env: &[(&str, String)]) -> Result<Vec<String>, String> {
    let exe = std::env::current_exe().expect("current exe");
    let mut command = Command::new(exe);
    command
        .args([
            "matrix::matrix_child",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .args(["--test-threads", "1"])
        .env_clear()
        .env("NEXUS_STATE_DIR", state.root())
        .env("HOME", state.root().join("home"))
        .env("RUST_BACKTRACE", "0")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    let (status, stdout, stderr) = run_bounded(command)?;
    let stdout = String::from_utf8_lossy(&stdout);
    let stderr = String::from_utf8_lossy(&stderr);
    if !status.success() || stderr.contains("panicked") {
        return Err(format!(
            "the child failed ({status}): a panic, an abort or a stack overflow\n{stdout}\n{stderr}"
        ));
    }
    Ok(stdout
        .lines()
        // libtest may print `test … ` on the same line first.
        .filter_map(|l| {
            l.find("MATRIX\t")
                .map(|i| l[i + "MATRIX\t".len()..].to_owned())
        })
        .collect())
}

#[test]
fn every_hostile_input_against_every_library_entry_point() {
    let mut failures = Vec::new();
    let mut cells = 0;
    for case in cases() {
        let state = State::new();
        (case.setup)(&state.conf_d());
        std::fs::write(state.root().join("matrix-brick"), case.brick).expect("brick");
        let overrides: String = case
            .overrides
            .iter()
            .map(|(k, v)| format!("{k}\t{v}\n"))
            .collect();
        std::fs::write(state.root().join("matrix-overrides"), overrides).expect("overrides");
        let before = snapshot(&state.root().join("etc"));
        let started = Instant::now();
        let lines = match run_child(&state, &case.env) {
            Ok(lines) => lines,
            Err(e) => {
                failures.push(format!("{}: {e}", case.name));
                continue;
            }
        };
        eprintln!("{}: {:?}", case.name, started.elapsed());
        assert_eq!(
            snapshot(&state.root().join("etc")),
            before,
            "{}: a load changed a file",
            case.name
        );
        assert_eq!(lines.len(), ENTRY_POINTS.len(), "{}: {lines:?}", case.name);
        let conf_d = state.conf_d().display().to_string();
        for (entry, line) in ENTRY_POINTS.iter().zip(&lines) {
            cells += 1;
            let line = line.replace(&conf_d, "[CONF]");
            let Some((reported, result)) = line.split_once('\t') else {
                panic!("{}: bad report {line:?}", case.name)
            };
            assert_eq!(reported, *entry);
            // `get_brick_config` has no command-line layer.
            let expect = if *entry == "get_brick_config" && !case.overrides.is_empty() {
                Expect::Loads
            } else {
                case.expect.clone()
            };
            let ok = match (&expect, result.split_once('\t')) {
                (Expect::Loads, None) => result == "ok",
                (Expect::Fails(texts), Some(("err", message))) => {
                    texts.iter().all(|t| message.contains(t))
                }
                _ => false,
            };
            if !ok {
                failures.push(format!(
                    "{} × {entry}: expected {expect:?}, got {result}",
                    case.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(cells, cases().len() * ENTRY_POINTS.len());
}

/// The child side of the matrix: loads the brick named in `matrix-brick`
/// through every entry point and prints one `MATRIX` line each. Does nothing
/// unless `NEXUS_STATE_DIR` is set (so a plain `--ignored` run is harmless).
#[test]
#[ignore = "run by every_hostile_input_against_every_library_entry_point"]
fn matrix_child() {
    let Ok(state) = confd::Loader::new().resolved_state_dir() else {
        return;
    };
    if state.source() != confd::state_dir::StateDirSource::Env {
        return;
    }
    let root = state.root().to_owned();
    let report = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || child_loads(&root))
        .expect("spawn")
        .join()
        .expect("the loads panicked");
    let mut out = std::io::stdout().lock();
    for line in report {
        writeln!(out, "MATRIX\t{line}").expect("stdout");
    }
}

fn child_loads(root: &Path) -> Vec<String> {
    let brick = std::fs::read_to_string(root.join("matrix-brick")).expect("brick");
    let overrides = std::fs::read_to_string(root.join("matrix-overrides")).expect("overrides");
    let mut loader = confd::Loader::new();
    for line in overrides.lines() {
        let (key, value) = line.split_once('\t').expect("key\tvalue");
        loader = loader.cli_override(key, value);
    }
    let show = |result: Result<String, confd::Error>| match result {
        // Rendering is part of the entry point: a config that loads must print.
        Ok(_) => "ok".to_owned(),
        Err(e) => format!("err\t{}", e.to_string().replace('\n', "\\n")),
    };
    let render = |c: confd::BrickConfig| format!("{c}{c:?}");
    let mut report = vec![
        format!(
            "get_brick_config\t{}",
            show(confd::get_brick_config(&brick).map(render))
        ),
        format!(
            "Loader::load\t{}",
            show(loader.clone().cache(false).load(&brick).map(render))
        ),
    ];
    let cached = loader.load(&brick).and_then(|first| {
        let second = loader.load(&brick)?;
        assert_eq!(first.table(), second.table(), "a cache hit differs");
        Ok(render(second))
    });
    report.push(format!("Loader::load (cached, twice)\t{}", show(cached)));
    let typed = match brick.as_str() {
        "cache" => loader
            .load_typed::<confd_bricks::CacheConfig>()
            .map(|c| format!("{c:?}")),
        "uploads" => loader
            .load_typed::<confd_bricks::UploadsConfig>()
            .map(|c| format!("{c:?}")),
        "llm" => loader
            .load_typed::<confd_bricks::LlmConfig>()
            .map(|c| format!("{c:?}")),
        // An unregistered brick has no type: its untyped load stands in.
        _ => loader.load(&brick).map(render),
    };
    report.push(format!("Loader::load_typed\t{}", show(typed)));
    report
}

/// A file that changes size while it is read: it always starts with
/// `kv_size = 7`, followed by a varying number of comment lines, growing by
/// appends and shrinking by `ftruncate` (never through an empty file). Every
/// load, cached or not, sees some prefix-complete state of it and must load 7;
/// once the writer stops, a cached load sees the final content.
#[test]
fn a_file_changing_size_while_read_loads_or_fails_cleanly() {
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Stops the writer even when an assertion fails, so the scope can end.
    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }

    const FIRST_LINE: &str = "kv_size = 7\n";
    let state = State::new();
    let path = state.write("cache", FIRST_LINE);
    let stop = AtomicBool::new(false);
    let mut loads = 0;
    std::thread::scope(|scope| {
        let _stop = StopOnDrop(&stop);
        scope.spawn(|| {
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .expect("open");
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                if round.is_multiple_of(64) {
                    file.set_len(FIRST_LINE.len() as u64).expect("shrink");
                } else {
                    let line = format!("# line {round} {}\n", "x".repeat(4096));
                    file.write_all(line.as_bytes()).expect("append");
                }
            }
        });
        for i in 0..300 {
            let loader = state.loader().cache(i % 2 == 0);
            match loader.load("cache") {
                Ok(config) => {
                    assert_eq!(config.get::<i64>("kv_size").expect("kv_size"), Some(7));
                }
                Err(e) => panic!("a load of a changing file failed: {e}"),
            }
            loads += 1;
        }
    });
    assert_eq!(loads, 300);
    std::fs::write(&path, "kv_size = 9\n").expect("final");
    let last = state.loader().load("cache").expect("final load");
    assert_eq!(last.get::<i64>("kv_size").expect("kv_size"), Some(9));
}

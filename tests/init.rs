//! `nexus config init` end to end: dpkg's table one line per file, dry runs,
//! JSON, eight concurrent runs, and SIGKILL at random points.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use insta::assert_snapshot;

use crate::fs_tree::{copy_tree, snapshot, tree};
use crate::support::{Sandbox, nexus_bin};

fn record_path(sandbox: &Sandbox) -> PathBuf {
    sandbox.state().join("var/lib/confd/seeded.toml")
}

/// Makes the seeding record say `name` was seeded from a default this build
/// does not ship, as if an older release had seeded it: the record format is
/// on-disk state, so the test may write it.
fn pretend_seeded_by_an_older_release(sandbox: &Sandbox, name: &str) {
    let path = record_path(sandbox);
    let record = std::fs::read_to_string(&path).expect("record");
    let current = confd::shipped::shipped_file(name).expect("shipped").hash();
    assert!(record.contains(&current), "{record}");
    std::fs::write(&path, record.replace(&current, &"0".repeat(64))).expect("write record");
}

/// A state dir where `init` has every kind of line to print: cache edited
/// under an older default (kept, `.new`), uploads deleted (not recreated),
/// search written by hand before seeding (not ours), mounts untouched, and a
/// temporary file of a killed run.
fn every_cell() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.init();
    let cache = sandbox.conf_d().join("cache");
    let mut edited = std::fs::read_to_string(&cache).expect("cache");
    edited.push_str("backend = \"null\"\n");
    std::fs::write(&cache, &edited).expect("edit");
    pretend_seeded_by_an_older_release(&sandbox, "cache");
    std::fs::remove_file(sandbox.conf_d().join("uploads")).expect("rm");
    let record = std::fs::read_to_string(record_path(&sandbox)).expect("record");
    let search = confd::shipped::shipped_file("search")
        .expect("search")
        .hash();
    let without_search = record.replace(&format!("[files.search]\nseeded = \"{search}\"\n"), "");
    assert_ne!(record, without_search);
    std::fs::write(record_path(&sandbox), without_search).expect("record");
    sandbox.write("search", "zoekt_url = \"http://zoekt:6070\"\n");
    sandbox.write(".mounts.Xy12Zq.tmp", "# /etc/conf.d/mou");
    sandbox
}

#[test]
fn init_prints_one_line_per_file_for_every_cell() {
    let sandbox = every_cell();
    let edited_cache = std::fs::read_to_string(sandbox.conf_d().join("cache")).expect("cache");

    let before = tree(&sandbox.state());
    let dry = sandbox.run(&["config", "init", "--dry-run"]);
    assert_snapshot!("init_dry_run", dry.transcript());
    assert_eq!(
        tree(&sandbox.state()),
        before,
        "--dry-run changed the state dir"
    );

    let run = sandbox.run(&["config", "init"]);
    assert_snapshot!("init_every_cell", run.transcript());
    let shipped_cache = confd::shipped::shipped_file("cache")
        .expect("cache")
        .contents;
    let read = |name: &str| std::fs::read_to_string(sandbox.conf_d().join(name)).ok();
    assert_eq!(
        read("cache").as_deref(),
        Some(edited_cache.as_str()),
        "edited file kept"
    );
    assert_eq!(read("cache.new").as_deref(), Some(shipped_cache));
    assert_eq!(read("uploads"), None, "deleted file recreated");
    assert_eq!(
        read("search").as_deref(),
        Some("zoekt_url = \"http://zoekt:6070\"\n")
    );
    assert_eq!(read(".mounts.Xy12Zq.tmp"), None, "stale temp file left");

    // Nothing left to do: the new default was offered once.
    let again = sandbox.run(&["config", "init"]);
    assert_eq!(again.code, 0);
    assert!(again.stderr.is_empty(), "{}", again.stderr);
    assert!(
        again
            .stdout
            .contains("unchanged [ROOT]/state/etc/conf.d/cache\n"),
        "{}",
        again.stdout
    );
}

#[test]
fn force_installs_the_defaults_and_json_lists_each_file() {
    let sandbox = every_cell();
    let edited_cache = std::fs::read_to_string(sandbox.conf_d().join("cache")).expect("cache");
    let run = sandbox.run(&["--format", "json", "config", "init", "--force"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    let actions: BTreeMap<String, String> = doc["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_owned(),
                f["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: BTreeMap<String, String> = [
        ("cache", "forced"),
        ("database", "unchanged"),
        ("fleet", "unchanged"),
        ("llm", "unchanged"),
        ("mounts", "unchanged"),
        ("permissions", "unchanged"),
        ("search", "forced"),
        ("uploads", "created"),
        ("vfs", "unchanged"),
    ]
    .into_iter()
    .map(|(n, a)| (n.to_owned(), a.to_owned()))
    .collect();
    assert_eq!(actions, want);
    assert_eq!(doc["dry_run"], false);
    assert_eq!(
        doc["removed"][0],
        "[ROOT]/state/etc/conf.d/.mounts.Xy12Zq.tmp"
    );
    assert_eq!(doc["files"][0]["old"], "[ROOT]/state/etc/conf.d/cache.old");
    for file in confd::shipped::shipped_files() {
        let path = sandbox.conf_d().join(file.name);
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            file.contents,
            "{}",
            file.name
        );
    }
    let old = sandbox.conf_d().join("cache.old");
    assert_eq!(
        std::fs::read_to_string(&old).expect("cache.old"),
        edited_cache
    );
    assert_eq!(
        std::fs::metadata(&old).expect("stat").permissions().mode() & 0o777,
        0o644
    );
}

/// Eight `init`s at once on a fresh state dir: all succeed, and every file is
/// created once, complete, identical to the shipped default.
#[test]
fn eight_concurrent_inits_all_succeed_and_agree() {
    for round in 0..5 {
        let sandbox = Sandbox::new();
        let state = sandbox.state();
        let args = ["--state-dir", state.to_str().unwrap(), "config", "init"];
        let children: Vec<_> = (0..8)
            .map(|_| {
                sandbox
                    .command_with(&nexus_bin(), &args)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn nexus")
            })
            .collect();
        let runs: Vec<_> = children
            .into_iter()
            .map(|c| sandbox.finish(c.wait_with_output().expect("wait")))
            .collect();
        for run in &runs {
            assert_eq!(run.code, 0, "round {round}: {}", run.transcript());
        }
        for file in confd::shipped::shipped_files() {
            let path = sandbox.conf_d().join(file.name);
            assert_eq!(std::fs::read_to_string(&path).expect("read"), file.contents);
            let line = format!("created  [ROOT]/state/etc/conf.d/{}\n", file.name);
            let creators = runs.iter().filter(|r| r.stdout.contains(&line)).count();
            assert_eq!(
                creators, 1,
                "round {round}: `{}` created {creators} times",
                file.name
            );
        }
        let names: Vec<String> = std::fs::read_dir(sandbox.conf_d())
            .expect("conf.d")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names.len(),
            confd::shipped::shipped_files().len(),
            "round {round}: {names:?}"
        );
        let record = std::fs::read_to_string(record_path(&sandbox)).expect("record");
        for file in confd::shipped::shipped_files() {
            assert!(record.contains(&file.hash()), "round {round}: {record}");
        }
    }
}

// ---- SIGKILL at random points --------------------------------------------

/// A small xorshift generator: the kill points need spread, not quality,
/// and the seed is printed so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// The three starting points of the kill runs, and the flags of each.
#[derive(Clone, Copy, Debug)]
enum Start {
    /// No state dir: directories, seven creates, the record.
    Fresh,
    /// [`every_cell`]: `.new`, a stale temp file, the record.
    Upgrade,
    /// [`every_cell`] with `--force`: `.old`s, replaces, a create.
    Force,
}

impl Start {
    fn args(self) -> &'static [&'static str] {
        match self {
            Start::Force => &["config", "init", "--force"],
            Start::Fresh | Start::Upgrade => &["config", "init"],
        }
    }
}

#[test]
fn sigkill_at_random_points_never_leaves_a_partial_file() {
    const RUNS: usize = 240;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
        | 1;
    eprintln!("kill schedule seed: {seed}");
    let mut rng = Rng(seed);

    // For each start: the state dir before, and after an uninterrupted run,
    // and the shortest of three such runs (to spread kill points over it;
    // the first run of a binary is slowed by a cold cache).
    let template = every_cell();
    let starts = [Start::Fresh, Start::Upgrade, Start::Force];
    let mut expected = Vec::new();
    for start in starts {
        let mut took = Duration::MAX;
        let mut states = None;
        for _ in 0..3 {
            let sandbox = Sandbox::new();
            if !matches!(start, Start::Fresh) {
                copy_tree(&template.state(), &sandbox.state());
            }
            let before = snapshot(&sandbox.state());
            let began = Instant::now();
            let run = sandbox.run(start.args());
            took = took.min(began.elapsed());
            assert_eq!(run.code, 0, "{}", run.transcript());
            let after = snapshot(&sandbox.state());
            assert!(after.temps.is_empty());
            states = Some((before, after));
        }
        let (before, after) = states.expect("three runs");
        expected.push((before, after, took));
    }

    let (mut killed, mut in_between, mut temps_left) = (0, 0, 0);
    for i in 0..RUNS {
        let which = i % starts.len();
        let (start, (before, after, took)) = (starts[which], &expected[which]);
        let sandbox = Sandbox::new();
        if !matches!(start, Start::Fresh) {
            copy_tree(&template.state(), &sandbox.state());
        }
        let state = sandbox.state();
        let mut args = vec!["--state-dir", state.to_str().unwrap()];
        args.extend_from_slice(start.args());
        let mut child = sandbox
            .command_with(&nexus_bin(), &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nexus");
        // Anywhere from before exec to the usual end.
        let span = took.as_micros() as u64;
        std::thread::sleep(Duration::from_micros(rng.below(span)));
        let _ = child.kill();
        let status = child.wait().expect("wait");
        if status.signal() == Some(9) {
            killed += 1;
        } else {
            assert!(status.success(), "run {i} ({start:?}) failed: {status}");
        }

        let crashed = snapshot(&state);
        for path in crashed
            .files
            .keys()
            .chain(before.files.keys())
            .chain(after.files.keys())
        {
            let now = crashed.files.get(path);
            assert!(
                now == before.files.get(path) || now == after.files.get(path),
                "run {i} ({start:?}, seed {seed}): `{}` is neither old nor new: {:?}",
                path.display(),
                now.map(|b| String::from_utf8_lossy(b).into_owned())
            );
        }
        if crashed.files != before.files && crashed.files != after.files {
            in_between += 1;
        }
        if !crashed.temps.is_empty() {
            temps_left += 1;
        }

        // The next run ignores what the killed one left, removes its
        // temporary files, and ends where an uninterrupted run ends.
        let next = sandbox.run(start.args());
        assert_eq!(next.code, 0, "run {i} ({start:?}): {}", next.transcript());
        assert_eq!(
            &snapshot(&state),
            after,
            "run {i} ({start:?}, seed {seed}) did not converge"
        );
    }
    eprintln!(
        "{RUNS} runs: {killed} killed mid-flight, {in_between} left a state between old and new, \
         {temps_left} left temporary files; every one recovered"
    );
}

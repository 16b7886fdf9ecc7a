//! Seeding and upgrades: every cell of dpkg's conffile table, dry runs, stale
//! temporary files, and a crash (or a failing syscall) between any two steps
//! of the write sequence.
//!
//! Releases are played with [`Shipped::new`]: the "previous-version fixtures"
//! below are three releases of three files, so an upgrade is a second run
//! with a newer set, without rebuilding anything.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::fs_tree::{Snapshot, copy_tree, snapshot, tree};
use confd::{
    seed::SeedAction, seed::SeedReport, seed::Seeder, shipped::Shipped, shipped::ShippedFile,
    shipped::content_hash,
};

use SeedAction::*;

type Result<T = (), E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

const MOUNTS_V1: &str = "# mounts, release 1\n#auto_sync = false\n";
const MOUNTS_V2: &str = "# mounts, release 2: clearer docs\n#auto_sync = false\n";
const MOUNTS_V3: &str = "# mounts, release 3\n\n# Synchronise at start-up.\n#auto_sync = false\n";
const LLM_V1: &str = "# llm, release 1 (secrets)\n#api_key = \"\"\n";
const LLM_V2: &str = "# llm, release 2 (secrets)\n#provider = \"anthropic\"\n#api_key = \"\"\n";
const CACHE_V1: &str = "# cache, never changed\n#backend = \"auto\"\n";

/// Release `n` (1, 2 or 3) of the fixture set: each lists the hashes of the
/// versions before it, as `etc/shipped-history.toml` does for real releases.
fn release(n: u8) -> Shipped {
    let (mounts, llm, past_mounts, past_llm): (_, _, &[&str], &[&str]) = match n {
        1 => (MOUNTS_V1, LLM_V1, &[], &[]),
        2 => (MOUNTS_V2, LLM_V2, &[MOUNTS_V1], &[LLM_V1]),
        _ => (MOUNTS_V3, LLM_V2, &[MOUNTS_V1, MOUNTS_V2], &[LLM_V1]),
    };
    let hashes = |texts: &[&str]| {
        texts
            .iter()
            .map(|t| content_hash(t.as_bytes()))
            .collect::<Vec<_>>()
    };
    Shipped::new(
        [
            ShippedFile {
                name: "cache",
                contents: CACHE_V1,
            },
            ShippedFile {
                name: "llm",
                contents: llm,
            },
            ShippedFile {
                name: "mounts",
                contents: mounts,
            },
        ],
        [
            ("mounts".to_owned(), hashes(past_mounts)),
            ("llm".to_owned(), hashes(past_llm)),
        ],
    )
}

struct State {
    dir: tempfile::TempDir,
}

impl State {
    fn new() -> Self {
        State {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.root().join("etc/conf.d").join(name)
    }

    fn read(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.file(name)).ok()
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.file(name), text).expect("write");
    }

    fn mode(&self, name: &str) -> u32 {
        std::fs::metadata(self.file(name))
            .expect("stat")
            .permissions()
            .mode()
            & 0o777
    }

    fn seeder<'h>(&self, n: u8) -> Seeder<'h> {
        Seeder::new(self.root()).shipped(release(n))
    }

    fn run(&self, n: u8) -> Result<SeedReport, confd::seed::SeedError> {
        self.seeder(n).run()
    }

    fn record(&self) -> String {
        std::fs::read_to_string(self.root().join("var/lib/confd/seeded.toml")).expect("record")
    }
}

/// `name → action` of a report, for compact assertions.
fn actions(report: &SeedReport) -> BTreeMap<String, SeedAction> {
    report
        .files
        .iter()
        .map(|(p, a)| (p.file_name().unwrap().to_string_lossy().into_owned(), *a))
        .collect()
}

fn expect(pairs: &[(&str, SeedAction)]) -> BTreeMap<String, SeedAction> {
    pairs.iter().map(|(n, a)| ((*n).to_owned(), *a)).collect()
}

#[test]
fn a_fresh_state_dir_gets_every_file_with_its_mode_and_a_record_outside_etc() -> Result {
    let state = State::new();
    let report = state.run(1)?;
    assert_eq!(
        actions(&report),
        expect(&[("cache", Created), ("llm", Created), ("mounts", Created)])
    );
    assert_eq!(state.read("mounts").as_deref(), Some(MOUNTS_V1));
    assert_eq!(state.mode("mounts"), 0o644);
    assert_eq!(state.mode("llm"), 0o600);
    // The record is not configuration: nothing but the seeded files in etc.
    let mut in_conf_d: Vec<_> = std::fs::read_dir(state.root().join("etc/conf.d"))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    in_conf_d.sort();
    assert_eq!(in_conf_d, ["cache", "llm", "mounts"]);
    let record = state.record();
    assert!(
        record.contains(&content_hash(MOUNTS_V1.as_bytes())),
        "{record}"
    );
    assert!(
        record.contains(&content_hash(LLM_V1.as_bytes())),
        "{record}"
    );
    Ok(())
}

#[test]
fn an_unchanged_default_changes_nothing_even_in_an_edited_file() -> Result {
    let state = State::new();
    state.run(2)?;
    state.write("mounts", "auto_sync = true\n");
    let before = tree(state.root());
    let report = state.run(2)?;
    assert_eq!(
        actions(&report),
        expect(&[
            ("cache", Unchanged),
            ("llm", Unchanged),
            ("mounts", Unchanged)
        ])
    );
    // Not even the record is rewritten.
    assert_eq!(tree(state.root()), before);
    // cache did not change between releases 1 and 3: edited or not, left alone.
    let state = State::new();
    state.run(1)?;
    state.write("cache", "backend = \"null\"\n");
    assert_eq!(actions(&state.run(3)?)["cache"], Unchanged);
    assert_eq!(state.read("cache").as_deref(), Some("backend = \"null\"\n"));
    Ok(())
}

#[test]
fn a_changed_default_replaces_a_file_the_user_never_edited() -> Result {
    let state = State::new();
    state.run(1)?;
    std::fs::set_permissions(state.file("llm"), std::fs::Permissions::from_mode(0o640))?;
    let report = state.run(2)?;
    assert_eq!(
        actions(&report),
        expect(&[
            ("cache", Unchanged),
            ("llm", Upgraded),
            ("mounts", Upgraded)
        ])
    );
    assert_eq!(state.read("mounts").as_deref(), Some(MOUNTS_V2));
    assert_eq!(state.read("llm").as_deref(), Some(LLM_V2));
    assert_eq!(
        state.mode("llm"),
        0o600,
        "an upgraded file gets its brick's mode"
    );
    assert!(!state.file("mounts.new").exists());
    assert!(state.record().contains(&content_hash(MOUNTS_V2.as_bytes())));
    // And the next run has nothing left to do.
    assert_eq!(actions(&state.run(2)?)["mounts"], Unchanged);
    Ok(())
}

#[test]
fn a_file_matching_an_older_shipped_version_counts_as_unedited() -> Result {
    // Skipping a release: seeded by 1, upgraded straight to 3.
    let state = State::new();
    state.run(1)?;
    assert_eq!(actions(&state.run(3)?)["mounts"], Upgraded);
    assert_eq!(state.read("mounts").as_deref(), Some(MOUNTS_V3));

    // Seeded by 2, but the file is release 1's (restored from a back-up).
    let state = State::new();
    state.run(2)?;
    state.write("mounts", MOUNTS_V1);
    assert_eq!(actions(&state.run(3)?)["mounts"], Upgraded);
    assert_eq!(state.read("mounts").as_deref(), Some(MOUNTS_V3));

    // A state dir from before records existed: an old default is adopted.
    let state = State::new();
    std::fs::create_dir_all(state.root().join("etc/conf.d"))?;
    state.write("mounts", MOUNTS_V1);
    assert_eq!(actions(&state.run(3)?)["mounts"], Upgraded);
    assert_eq!(state.read("mounts").as_deref(), Some(MOUNTS_V3));
    Ok(())
}

#[test]
fn a_changed_default_keeps_an_edited_file_and_writes_new_beside_it() -> Result {
    let state = State::new();
    state.run(1)?;
    let edited = format!("{LLM_V1}api_key = \"sk-mine\"\n");
    state.write("llm", &edited);
    let report = state.run(2)?;
    assert_eq!(actions(&report)["llm"], Kept);
    assert_eq!(
        state.read("llm"),
        Some(edited.clone()),
        "the user's file is kept byte for byte"
    );
    assert_eq!(state.read("llm.new").as_deref(), Some(LLM_V2));
    assert_eq!(state.mode("llm.new"), 0o600, "`.new` gets its brick's mode");
    assert_eq!(
        Kept.side_file(&state.file("llm")),
        Some(state.file("llm.new"))
    );
    // The new default was offered once; like dpkg, it is not offered again.
    assert_eq!(actions(&state.run(2)?)["llm"], Unchanged);
    // The next changed default is offered again, over the stale `.new`.
    state.write("mounts", "auto_sync = true\n");
    assert_eq!(actions(&state.run(3)?)["mounts"], Kept);
    assert_eq!(state.read("mounts.new").as_deref(), Some(MOUNTS_V3));
    Ok(())
}

/// dpkg compares bytes, and so does confd: a comment is something the user
/// typed, and replacing the file would lose it.
#[test]
fn an_edit_that_only_changes_comments_is_an_edit() -> Result {
    let state = State::new();
    state.run(1)?;
    let commented = MOUNTS_V1.replace("# mounts, release 1", "# mounts — see ticket 42");
    assert!(
        commented.parse::<toml::Table>()?.is_empty(),
        "still sets nothing"
    );
    state.write("mounts", &commented);
    assert_eq!(actions(&state.run(2)?)["mounts"], Kept);
    assert_eq!(state.read("mounts"), Some(commented));
    assert_eq!(state.read("mounts.new").as_deref(), Some(MOUNTS_V2));
    Ok(())
}

#[test]
fn a_file_the_user_deleted_is_not_recreated() -> Result {
    let state = State::new();
    state.run(1)?;
    std::fs::remove_file(state.file("mounts"))?;
    std::fs::remove_file(state.file("cache"))?;
    for n in [1, 2, 3] {
        let report = state.run(n)?;
        assert_eq!(actions(&report)["mounts"], DeletedByUser, "release {n}");
        assert_eq!(actions(&report)["cache"], DeletedByUser, "release {n}");
        assert!(!state.file("mounts").exists());
        assert!(!state.file("mounts.new").exists());
    }
    Ok(())
}

#[test]
fn force_installs_the_default_and_keeps_the_users_file_as_old() -> Result {
    let state = State::new();
    state.run(1)?;
    state.write("llm", "api_key = \"sk-mine\"\n");
    std::fs::set_permissions(state.file("llm"), std::fs::Permissions::from_mode(0o640))?;
    // Runs as root (as CI does): a file that belongs to a service user.
    std::os::unix::fs::chown(state.file("llm"), Some(65534), Some(65534))?;
    state.write("cache", "backend = \"null\"\n");
    std::fs::remove_file(state.file("mounts"))?;
    let report = state.seeder(2).force(true).run()?;
    assert_eq!(
        actions(&report),
        expect(&[("cache", Forced), ("llm", Forced), ("mounts", Created)])
    );
    assert_eq!(state.read("llm").as_deref(), Some(LLM_V2));
    assert_eq!(
        state.read("llm.old").as_deref(),
        Some("api_key = \"sk-mine\"\n")
    );
    // `.old` is the user's very file, as dpkg's `.dpkg-old`: its mode and
    // owner are the user's, whatever the brick's default.
    assert_eq!(state.mode("llm.old"), 0o640, "`.old` keeps the user's mode");
    let old = std::fs::metadata(state.file("llm.old"))?;
    assert_eq!((old.uid(), old.gid()), (65534, 65534));
    assert_eq!(
        state.mode("llm"),
        0o600,
        "the new default gets its brick's mode"
    );
    assert_eq!(state.read("cache").as_deref(), Some(CACHE_V1));
    assert_eq!(
        state.read("cache.old").as_deref(),
        Some("backend = \"null\"\n")
    );
    assert_eq!(state.read("mounts").as_deref(), Some(MOUNTS_V2));
    // Forced files are seeded files again: the next upgrade replaces them.
    assert_eq!(actions(&state.run(3)?)["mounts"], Upgraded);
    Ok(())
}

#[test]
fn a_dry_run_reports_the_plan_and_changes_nothing() -> Result {
    let state = State::new();
    state.run(1)?;
    state.write("llm", "api_key = \"sk-mine\"\n");
    std::fs::remove_file(state.file("cache"))?;
    std::fs::write(state.root().join("etc/conf.d/.mounts.AbC123.tmp"), "half")?;
    let before = tree(state.root());
    let plan = state.seeder(2).dry_run(true).run()?;
    assert!(plan.dry_run);
    assert_eq!(
        actions(&plan),
        expect(&[
            ("cache", DeletedByUser),
            ("llm", Kept),
            ("mounts", Upgraded)
        ])
    );
    assert_eq!(plan.removed, [state.file(".mounts.AbC123.tmp")]);
    let forced = state.seeder(2).dry_run(true).force(true).run()?;
    assert_eq!(
        actions(&forced),
        expect(&[("cache", Created), ("llm", Forced), ("mounts", Upgraded)])
    );
    assert_eq!(tree(state.root()), before);
    // The plan is what a real run then does.
    assert_eq!(actions(&state.run(2)?), actions(&plan));

    // On a state dir that does not exist, not even a directory is created.
    let empty = State::new();
    let plan = Seeder::new(empty.root().join("nowhere"))
        .dry_run(true)
        .run()?;
    assert_eq!(plan.created().count(), plan.files.len());
    assert!(!empty.root().join("nowhere").exists());
    Ok(())
}

#[test]
fn files_seeding_did_not_write_are_never_touched() -> Result {
    let state = State::new();
    std::fs::create_dir_all(state.root().join("etc/conf.d/mounts.d"))?;
    // Written by the user before any seeding, matching no shipped version.
    state.write("mounts", "auto_sync = true\n");
    // A symlink where a shipped file belongs, and files of no shipped name.
    std::os::unix::fs::symlink("/dev/null", state.file("llm"))?;
    state.write("mybrick", "x = 1\n");
    state.write("mounts.d/50-local.toml", "auto_sync = false\n");
    state.write(".mounts.tmp", "not ours");
    state.write("mounts.new.bak", "not ours");
    let others = |state: &State| {
        let mut t = tree(state.root());
        // Creating `cache` changes the directory's mtime, and nothing else.
        let conf_d = state.root().join("etc/conf.d");
        t.retain(|p, _| p.starts_with(&conf_d) && *p != conf_d && !p.ends_with("cache"));
        t
    };
    let before = others(&state);
    let report = state.run(2)?;
    assert_eq!(
        actions(&report),
        expect(&[
            ("cache", Created),
            ("llm", NotSeeded),
            ("mounts", NotSeeded)
        ])
    );
    assert_eq!(
        others(&state),
        before,
        "no file but the created one changed"
    );
    assert!(
        !state.record().contains("[files.mounts]"),
        "a file seeding did not write is not recorded"
    );
    // Release 3 changes mounts again: still not ours, still untouched.
    assert_eq!(actions(&state.run(3)?)["mounts"], NotSeeded);
    assert_eq!(others(&state), before);
    // --force takes over a regular file (the user's kept as .old) but never
    // follows or replaces a symlink.
    let report = state.seeder(3).force(true).run()?;
    assert_eq!(actions(&report)["mounts"], Forced);
    assert_eq!(actions(&report)["llm"], NotSeeded);
    assert_eq!(
        state.read("mounts.old").as_deref(),
        Some("auto_sync = true\n")
    );
    assert!(
        std::fs::symlink_metadata(state.file("llm"))?
            .file_type()
            .is_symlink()
    );
    Ok(())
}

#[test]
fn the_next_run_removes_stale_temp_files_it_recognises_and_nothing_else() -> Result {
    let state = State::new();
    state.run(1)?;
    let stale = [
        ".mounts.a1B2c3.tmp",
        ".llm.new.ZZZZZZ.tmp",
        ".cache.old.000000.tmp",
    ];
    let foreign = [
        ".mounts.tmp",
        ".mounts.a1B2c.tmp",
        "mounts.a1B2c3.tmp",
        ".mybrick.a1B2c3.tmp",
        ".mounts.a1B2c3.tmp~",
    ];
    for name in stale.iter().chain(&foreign) {
        state.write(name, "half a fi");
    }
    let record_temp = state.root().join("var/lib/confd/.seeded.toml.qwerty.tmp");
    std::fs::write(&record_temp, "format = ")?;
    let report = state.run(1)?;
    let mut want: Vec<PathBuf> = stale.iter().map(|n| state.file(n)).collect();
    want.sort();
    want.push(record_temp.clone());
    assert_eq!(report.removed, want);
    for name in stale {
        assert!(!state.file(name).exists(), "{name}");
    }
    assert!(!record_temp.exists());
    for name in foreign {
        assert_eq!(state.read(name).as_deref(), Some("half a fi"), "{name}");
    }
    // Stale files played no part in the decisions.
    assert!(report.files.iter().all(|(_, a)| *a == Unchanged));
    Ok(())
}

#[test]
fn a_malformed_record_is_an_error_naming_it() -> Result {
    let state = State::new();
    state.run(1)?;
    std::fs::write(
        state.root().join("var/lib/confd/seeded.toml"),
        "format = 7\n",
    )?;
    let err = state.run(2).expect_err("refused");
    let message = err.to_string();
    assert!(message.contains("var/lib/confd/seeded.toml`"), "{message}");
    assert!(message.contains("format 7"), "{message}");
    assert_eq!(
        state.read("mounts").as_deref(),
        Some(MOUNTS_V1),
        "nothing changed"
    );
    Ok(())
}

#[test]
fn seed_keeps_working_on_an_etc_dir() -> Result {
    let state = State::new();
    let etc = state.root().join("etc");
    assert_eq!(
        confd::seed::seed(&etc)?.created().count(),
        confd::shipped::shipped_files().len()
    );
    assert!(state.root().join("var/lib/confd/seeded.toml").is_file());
    std::fs::remove_file(etc.join("conf.d/mounts"))?;
    let again = confd::seed::seed(&etc)?;
    assert_eq!(
        again.with_action(DeletedByUser).collect::<Vec<_>>(),
        [etc.join("conf.d/mounts")]
    );
    Ok(())
}

// ---- crashes and faults ------------------------------------------------

/// Every file of `crashed` is absent, old or new — never anything else.
fn assert_old_or_new(crashed: &Snapshot, before: &Snapshot, after: &Snapshot, at: &str) {
    let paths = crashed
        .files
        .keys()
        .chain(before.files.keys())
        .chain(after.files.keys());
    for path in paths {
        let now = crashed.files.get(path);
        assert!(
            now == before.files.get(path) || now == after.files.get(path),
            "after {at}: `{}` is neither its old nor its new content: {:?}",
            path.display(),
            now.map(|b| String::from_utf8_lossy(b).into_owned())
        );
    }
}

/// A state dir seeded by release 1, then changed so that release 2 has every
/// kind of write to do: upgrade (mounts), `.new` (llm, edited), create
/// (cache, deleted from the record as if release 1 had not shipped it), and
/// stale temporary files to remove; with `force`, `.old` too.
fn crash_scenario() -> State {
    let state = State::new();
    state.run(1).expect("seed release 1");
    state.write("llm", "api_key = \"sk-mine\"\n");
    std::fs::remove_file(state.file("cache")).expect("rm");
    let record = state.record();
    let cache_entry = format!(
        "[files.cache]\nseeded = \"{}\"\n",
        content_hash(CACHE_V1.as_bytes())
    );
    assert!(record.contains(&cache_entry), "{record}");
    std::fs::write(
        state.root().join("var/lib/confd/seeded.toml"),
        record.replace(&cache_entry, ""),
    )
    .expect("record");
    state.write(".mounts.AbCdEf.tmp", "# mounts, rel");
    std::fs::write(
        state.root().join("var/lib/confd/.seeded.toml.123456.tmp"),
        "form",
    )
    .expect("temp");
    state
}

/// Runs release 2 on `setup()`'s state dir, and between every two steps of
/// its writes checks what a crash there would leave, and that a new run
/// from that point ends exactly where an uninterrupted run does. Returns
/// the number of steps.
fn crash_at_every_step(setup: fn() -> State, force: bool) -> usize {
    let reference = setup();
    let before = snapshot(reference.root());
    reference
        .seeder(2)
        .force(force)
        .run()
        .expect("reference run");
    let after = snapshot(reference.root());
    assert!(after.temps.is_empty());
    assert_ne!(before, after);

    let state = setup();
    let mut steps = Vec::new();
    state
        .seeder(2)
        .force(force)
        .on_step(|step| {
            // What the disk holds if the process died right now.
            let crashed = tempfile::tempdir()?;
            copy_tree(state.root(), crashed.path());
            let at = format!("step {} ({step:?})", steps.len());
            let snap = snapshot(crashed.path());
            assert_old_or_new(&snap, &before, &after, &at);
            // The next run finishes the job and removes what was left.
            Seeder::new(crashed.path())
                .shipped(release(2))
                .force(force)
                .run()
                .expect("run after crash");
            assert_eq!(snapshot(crashed.path()), after, "run after a crash at {at}");
            steps.push(step.clone());
            Ok(())
        })
        .run()
        .expect("observed run");
    assert_eq!(snapshot(state.root()), after);
    steps.len()
}

#[test]
fn a_crash_between_any_two_steps_leaves_old_or_new_and_the_next_run_finishes() {
    let fresh = crash_at_every_step(State::new, false);
    let plain = crash_at_every_step(crash_scenario, false);
    let forced = crash_at_every_step(crash_scenario, true);
    // Fresh: the directories, three creates and the record. Upgrade: two
    // stale files, then upgrade, `.new`, create and record of 6 steps each.
    // Forced: `.old` is a hard link to the user's file (linked, directory
    // synced).
    assert!(fresh >= 4 * 6, "{fresh} steps");
    assert!(plain >= 2 + 4 * 6, "{plain} steps");
    assert!(forced >= plain + 2, "{forced} steps");
    eprintln!(
        "crash points checked: {fresh} (fresh), {plain} (upgrade), {forced} (upgrade --force)"
    );
}

#[test]
fn a_failure_at_any_step_stops_cleanly_and_the_next_run_finishes() {
    let reference = crash_scenario();
    let before = snapshot(reference.root());
    reference.run(2).expect("reference run");
    let after = snapshot(reference.root());
    let mut failures = 0;
    for k in 0.. {
        let state = crash_scenario();
        let mut seen = 0;
        let result = state
            .seeder(2)
            .on_step(|_| {
                seen += 1;
                if seen > k {
                    Err(std::io::Error::other("injected fault"))
                } else {
                    Ok(())
                }
            })
            .run();
        let Err(err) = result else { break };
        failures += 1;
        assert!(err.to_string().contains("injected fault"), "{err}");
        assert_old_or_new(
            &snapshot(state.root()),
            &before,
            &after,
            &format!("fault at step {k}"),
        );
        let report = state.run(2).expect("next run");
        assert_eq!(snapshot(state.root()), after, "after a fault at step {k}");
        assert!(report.removed.iter().all(|p| !p.exists()));
    }
    assert!(failures >= 24, "{failures}");
}

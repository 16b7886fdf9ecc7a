//! A crash (or a failing syscall) between any two steps of the write
//! sequence leaves each file old or new, and the next run finishes the job.

use confd::seed::Seeder;
use confd::shipped::content_hash;

use super::{CACHE_V1, State, release};
use crate::fs_tree::{Snapshot, copy_tree, snapshot};

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

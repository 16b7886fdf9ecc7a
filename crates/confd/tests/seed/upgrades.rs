//! Every cell of dpkg's conffile table, `--force`, dry runs, the record, and
//! the stale temporary files a next run removes.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

use confd::seed::SeedAction::*;
use confd::seed::Seeder;
use confd::shipped::content_hash;

use crate::fs_tree::tree;

use super::{
    CACHE_V1, LLM_V1, LLM_V2, MOUNTS_V1, MOUNTS_V2, MOUNTS_V3, Result, State, actions, expect,
};

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

//! The committed `etc/conf.d/*` are the output of the declarations.

use std::path::Path;

use confd_bricks as _;

/// Regenerate with `CONFD_BLESS=1 cargo test -p confd-bricks --test generated`.
#[test]
fn committed_files_are_the_generation() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/conf.d");
    // A test switch, not configuration: confd's Env seam is for loads.
    #[allow(clippy::disallowed_methods)]
    let bless = std::env::var_os("CONFD_BLESS").is_some();
    let mut stale = Vec::new();
    for file in confd::shipped::shipped_files() {
        let path = dir.join(file.name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != file.contents {
            if bless {
                std::fs::write(&path, file.contents).expect("write the generated file");
            } else {
                stale.push(format!(
                    "{} (committed file's hash {}: append it to src/history.rs if it was ever released)",
                    path.display(),
                    confd::shipped::content_hash(committed.as_bytes())
                ));
            }
        }
    }
    let names: Vec<String> = std::fs::read_dir(&dir)
        .expect("etc/conf.d")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    for name in &names {
        assert!(
            confd::shipped::shipped_file(name).is_some(),
            "etc/conf.d/{name} is committed but no brick declares it"
        );
    }
    assert!(
        stale.is_empty(),
        "these committed files differ from what the declarations generate; run \
         `CONFD_BLESS=1 cargo test -p confd-bricks --test generated` and review the diff:\n{}",
        stale.join("\n")
    );
}

/// The dpkg table of DESIGN.md §5 across the change to generated files: each
/// brick's history holds the hash of every file it shipped before.
#[test]
fn every_brick_declares_its_earlier_files() {
    let shipped = confd::shipped::Shipped::builtin();
    for file in shipped.files() {
        let history = shipped.history(file.name).expect("history");
        assert!(
            history.len() >= 2,
            "`{}` declares no earlier shipped file (its pre-generation default must upgrade)",
            file.name
        );
        assert!(shipped.was_shipped(file.name, &file.hash()));
    }
}

/// An install from before the files were generated: its untouched `cache`
/// default is upgraded to the generated one; an edited one is kept, with
/// the generated default offered beside it.
#[test]
fn a_default_from_before_generation_upgrades_and_an_edited_one_is_kept() {
    let old = include_str!("fixtures/cache-before-generation");
    let current = confd::shipped::shipped_file("cache")
        .expect("cache")
        .contents;
    assert_ne!(old, current);

    let untouched = tempfile::tempdir().expect("temp dir");
    let conf_d = untouched.path().join("etc/conf.d");
    std::fs::create_dir_all(&conf_d).unwrap();
    std::fs::write(conf_d.join("cache"), old).unwrap();
    let report = confd::seed::Seeder::new(untouched.path())
        .run()
        .expect("init");
    let action = |report: &confd::seed::SeedReport| {
        report
            .files
            .iter()
            .find(|(path, _)| path.ends_with("cache"))
            .map(|(_, action)| *action)
    };
    assert_eq!(action(&report), Some(confd::seed::SeedAction::Upgraded));
    assert_eq!(
        std::fs::read_to_string(conf_d.join("cache")).unwrap(),
        current
    );

    let edited = tempfile::tempdir().expect("temp dir");
    let conf_d = edited.path().join("etc/conf.d");
    std::fs::create_dir_all(&conf_d).unwrap();
    let mine = old.replace("#backend = \"auto\"", "backend = \"null\"");
    std::fs::write(conf_d.join("cache"), &mine).unwrap();
    // The old release recorded what it seeded the file with.
    let record = edited.path().join("var/lib/confd");
    std::fs::create_dir_all(&record).unwrap();
    std::fs::write(
        record.join("seeded.toml"),
        format!(
            "format = 1\n[files.cache]\nseeded = \"{}\"\n",
            confd::shipped::content_hash(old.as_bytes())
        ),
    )
    .unwrap();
    let report = confd::seed::Seeder::new(edited.path()).run().expect("init");
    assert_eq!(action(&report), Some(confd::seed::SeedAction::Kept));
    assert_eq!(std::fs::read_to_string(conf_d.join("cache")).unwrap(), mine);
    assert_eq!(
        std::fs::read_to_string(conf_d.join("cache.new")).unwrap(),
        current
    );
}

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
    for file in confd::shipped_files() {
        let path = dir.join(file.name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != file.contents {
            if bless {
                std::fs::write(&path, file.contents).expect("write the generated file");
            } else {
                stale.push(format!(
                    "{} (committed file's hash {}: append it to src/history.rs if it was ever released)",
                    path.display(),
                    confd::content_hash(committed.as_bytes())
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
            confd::shipped_file(name).is_some(),
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
    let shipped = confd::Shipped::builtin();
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

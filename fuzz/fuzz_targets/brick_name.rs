//! Brick-name validation (RELIABILITY.md).
//!
//! A name is accepted exactly when it matches `[a-z0-9][a-z0-9_-]*` in at
//! most 64 bytes; an accepted name is one normal path component; a load by
//! any name either refuses it before touching a file or reads inside
//! `conf.d`; no error message carries a raw control character.
#![no_main]

use std::path::{Component, Path};
use std::sync::OnceLock;

use confd::{BrickName, Error, Loader, brick_name::MAX_BRICK_NAME_LEN};
use libfuzzer_sys::fuzz_target;

fn reference(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_BRICK_NAME_LEN
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn empty_state() -> &'static Path {
    static STATE: OnceLock<tempfile::TempDir> = OnceLock::new();
    STATE
        .get_or_init(|| tempfile::tempdir().expect("temp dir"))
        .path()
}

fuzz_target!(|data: &[u8]| {
    let name = String::from_utf8_lossy(data);
    let name = name.as_ref();
    let checked = BrickName::new(name);
    assert_eq!(checked.is_ok(), reference(name), "{name:?}");
    match &checked {
        Ok(brick) => {
            assert_eq!(brick.as_str(), name);
            let mut components = Path::new(name).components();
            assert!(matches!(components.next(), Some(Component::Normal(_))));
            assert!(
                components.next().is_none(),
                "{name:?} is more than one component"
            );
        }
        Err(e) => {
            let text = e.to_string();
            assert!(!text.chars().any(char::is_control), "{text:?}");
        }
    }

    let loaded = Loader::new()
        .state_dir(empty_state())
        .env(std::iter::empty::<(String, String)>())
        .cache(false)
        .load(name);
    match (&checked, loaded) {
        (Ok(_), Ok(config)) => assert_eq!(config.name(), name),
        (Ok(_), Err(e)) => panic!("valid name {name:?} failed on an empty state dir: {e}"),
        (Err(_), Ok(_)) => panic!("invalid name {name:?} loaded"),
        (Err(_), Err(e)) => assert!(matches!(e, Error::InvalidBrickName(_)), "{e}"),
    }
    let spec = format!("{name}.key=1");
    // `BRICK.key`: the brick is what precedes the first `.`.
    if let (false, Ok(over)) = (
        name.contains(['.', '=']),
        spec.parse::<confd::loader::Override>(),
    ) {
        assert!(checked.is_ok() && over.brick.as_str() == name);
    }
});

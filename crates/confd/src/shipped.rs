//! The default files shipped in `etc/conf.d`, embedded in the library so an
//! installed binary, copied anywhere, can seed them.

use include_dir::{Dir, include_dir};

static SHIPPED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/etc/conf.d");

/// One shipped default file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShippedFile {
    /// The brick name, which is also the file name.
    pub name: &'static str,
    /// The file's text.
    pub contents: &'static str,
}

/// Every shipped default file, sorted by name.
#[must_use]
pub fn shipped_files() -> Vec<ShippedFile> {
    let mut files: Vec<ShippedFile> = SHIPPED
        .files()
        .filter_map(|f| {
            Some(ShippedFile {
                name: f.path().file_name()?.to_str()?,
                contents: f.contents_utf8()?,
            })
        })
        .collect();
    files.sort_by_key(|f| f.name);
    files
}

/// The shipped default file of a brick, if there is one.
#[must_use]
pub fn shipped_file(name: &str) -> Option<ShippedFile> {
    shipped_files().into_iter().find(|f| f.name == name)
}

/// Whether a brick's file holds secrets and is created with mode 0600.
#[must_use]
pub fn holds_secrets(name: &str) -> bool {
    crate::bricks::lookup(name).is_some_and(|s| !s.secret_keys().is_empty())
}

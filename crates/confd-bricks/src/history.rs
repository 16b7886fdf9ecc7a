//! The content hash of every default file shipped for each brick before the
//! current one, oldest first (DESIGN.md §5): `nexus config init` treats a
//! user's file matching one of them as an untouched default and upgrades it.
//! When a declaration changes, the generated file changes: append the old
//! file's hash here (the test `committed_files_are_the_generation` prints
//! it), and never remove one.

pub(crate) const CACHE: &[&str] =
    &["be942525d5f5a27a9e2f18b4d66ef671362df078a8914bc2ec38645e416d54cc"];

pub(crate) const DATABASE: &[&str] =
    &["c5f388cda8ea110c0f82c055df27bc7a6a41580cb750484bfb6676cdbc4a84c3"];

pub(crate) const LLM: &[&str] =
    &["edc40c04fec172305222f4e3c73e8ef7d802a507736f7cfd9c5c6a772f925baa"];

pub(crate) const MOUNTS: &[&str] =
    &["9c45779205f52333280bda22916856a358abba3b63690a9320f039a57372e686"];

pub(crate) const PERMISSIONS: &[&str] =
    &["2a16d9a140eaebe35693b08174dd078c0e05fb456b112e4e80d7576624816bf7"];

pub(crate) const SEARCH: &[&str] =
    &["5405c964635fcc2862dedac638ca53f7de79592083ec4675b745fabaaed56d88"];

pub(crate) const UPLOADS: &[&str] =
    &["6ab43d64d650a7635b918d1f1e322a5a2db567b77e0720d9783a0b770e3c5661"];

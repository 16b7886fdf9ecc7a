//! A property test: no sequence of calls by a caller below admin returns a secret file's
//! bytes or etag.

#[allow(clippy::wildcard_imports)] // the helpers of this directory's `mod.rs`
use super::*;

/// What a caller below admin may try, on names that include the secret files.
#[derive(Debug, Clone)]
enum Step {
    Read(usize),
    Stat(usize),
    List(usize),
    Write(usize, usize, bool),
    Unlink(usize),
    Mkdir(usize),
    Rmdir(usize),
    Rename(usize, usize),
}

const NAMES: [&str; 10] = [
    "/etc/read-secret",
    "/etc/read-public",
    "/tmp/read-secret",
    "/tmp/write-secret",
    "/tmp/read-public",
    "/tmp/new",
    "/tmp/rmdir-secret",
    "/tmp/readdir-secret",
    "/tmp/readdir-secret/inside",
    "/tmp/new/inside",
];

const WRITES: [&[u8]; 3] = [b"", b"mine\n", b"api_key = \"mine\"\n"];

fn step() -> impl Strategy<Value = Step> {
    let name = 0..NAMES.len();
    prop_oneof![
        name.clone().prop_map(Step::Read),
        name.clone().prop_map(Step::Stat),
        name.clone().prop_map(Step::List),
        (name.clone(), 0..WRITES.len(), any::<bool>()).prop_map(|(n, d, x)| Step::Write(n, d, x)),
        name.clone().prop_map(Step::Unlink),
        name.clone().prop_map(Step::Mkdir),
        name.clone().prop_map(Step::Rmdir),
        (name.clone(), name).prop_map(|(a, b)| Step::Rename(a, b)),
    ]
}

proptest! {
    #![proptest_config(Config { cases: 48, ..Config::default() })]

    /// No sequence of calls by a caller below admin (here a writer, the most a non-admin can
    /// be) returns a secret file's bytes, or its etag.
    #[test]
    fn no_caller_below_admin_ever_reads_a_secret(
        right in prop_oneof![Just(Right::Read), Just(Right::Write)],
        who in 0..3usize,
        steps in proptest::collection::vec(step(), 1..24),
    ) {
        let caller = callers()[who].clone();
        let fx = fixture(granting(&caller, right).map_err(TestCaseError::fail)?)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let s = fx.vfs.as_caller(&caller);
        let secret_etag = Etag::of(SECRET);
        let leaks = |data: &[u8]| data.windows(SECRET.len()).any(|w| w == SECRET);
        for step in steps {
            let path = |i: usize| NAMES[i].parse::<VfsPath>().map_err(|e| TestCaseError::fail(e.to_string()));
            match step {
                Step::Read(i) => {
                    if let Ok(f) = s.read(&path(i)?) {
                        prop_assert!(!leaks(&f.data), "{caller} read a secret at {}", NAMES[i]);
                        prop_assert_ne!(f.metadata.etag, Some(secret_etag));
                    }
                }
                Step::Stat(i) => {
                    if let Ok(m) = s.stat(&path(i)?) {
                        prop_assert_ne!(m.etag, Some(secret_etag), "{} stat {}", caller, NAMES[i]);
                    }
                }
                Step::List(i) => { let _ = s.read_dir(&path(i)?); }
                Step::Write(i, d, exclusive) => {
                    let mode = if exclusive { WriteMode::CreateNew } else { WriteMode::Replace };
                    if let Ok(m) = s.write(&path(i)?, WRITES[d], mode) {
                        prop_assert_ne!(m.etag, Some(secret_etag));
                    }
                }
                Step::Unlink(i) => { let _ = s.unlink(&path(i)?); }
                Step::Mkdir(i) => { let _ = s.mkdir(&path(i)?); }
                Step::Rmdir(i) => { let _ = s.rmdir(&path(i)?); }
                Step::Rename(a, b) => { let _ = s.rename(&path(a)?, &path(b)?); }
            }
        }
    }
}

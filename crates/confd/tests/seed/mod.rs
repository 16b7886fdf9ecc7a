//! Seeding and upgrades: every cell of dpkg's conffile table, dry runs, stale
//! temporary files, and a crash (or a failing syscall) between any two steps
//! of the write sequence.
//!
//! Releases are played with [`Shipped::new`]: the "previous-version fixtures"
//! below are three releases of three files, so an upgrade is a second run
//! with a newer set, without rebuilding anything.
//!
//! `upgrades`: dpkg's table, dry runs, records and stale temporary files;
//! `crashes`: a crash or a failing syscall at every step of a write.

mod crashes;
mod upgrades;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use confd::{
    seed::SeedAction, seed::SeedReport, seed::Seeder, shipped::Shipped, shipped::ShippedFile,
    shipped::content_hash,
};

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

//! `mount_etc` over 100, 1,000 and 10,000 files: first boot, unchanged reboot, the original
//! system's rewrite-every-file boot, a bare walk + `lstat` of the same tree as the floor, and
//! one read of a file through the mounted VFS.
//!
//! Run: `cargo bench -p vfs-etc --bench mount_etc`. Results: BENCHMARKS.md.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use vfs_etc::access::{AnonymousRights, Policy, VfsPolicy};
use vfs_etc::backend::HostDir;
use vfs_etc::entry::{Entry, Kind, Signature};
use vfs_etc::metastore::{Batch, Metastore, RedbMetastore};
use vfs_etc::vfs::Access;
use vfs_etc::{Caller, Right, Vfs, VfsPath, WriteMode, mount_etc};

fn root_entry() -> Entry {
    Entry {
        kind: Kind::Dir,
        sig: Signature::default(),
        etag: None,
        version: 1,
        owner: None,
        observed_ns: 0,
    }
}

const SIZES: [usize; 3] = [100, 1_000, 10_000];
const PER_DIR: usize = 100;

/// `$STATE/etc/conf.d/dNNN/fNNNNN`, 100 files per directory, each a small config file.
fn make_tree(state: &Path, n: usize) -> Vec<String> {
    let mut rels = Vec::with_capacity(n);
    for i in 0..n {
        let rel = format!("conf.d/d{:03}/f{i:05}", i / PER_DIR);
        let path = state.join("etc").join(&rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(
            &path,
            format!("# brick {i}\nkey_{i} = \"value {i}\"\nenabled = true\n"),
        )
        .expect("write");
        rels.push(rel);
    }
    rels
}

/// The floor: what any scan must do at least, a recursive `readdir` + `lstat`.
fn bare_walk(dir: &Path) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        let meta = std::fs::symlink_metadata(&path).expect("lstat");
        count += 1;
        if meta.is_dir() {
            count += bare_walk(&path);
        }
    }
    count
}

/// The original system's boot: read every host file and write it back through a writable
/// `/etc`, each write bumping the version and committing to the store.
fn rewrite_boot(state: &Path, store: &Path, rels: &[String]) {
    let mut vfs = Vfs::new();
    let host = HostDir::open_writable(state.join("etc")).expect("open");
    let meta = RedbMetastore::open(store).expect("store");
    let etc: VfsPath = "/etc".parse().expect("path");
    vfs.mount(
        etc.clone(),
        Arc::new(host),
        Arc::new(meta),
        Access::ReadWrite,
    )
    .expect("mount");
    // The original system had no access control: a caller with every right.
    vfs.set_policy(
        Policy::new(&VfsPolicy {
            policy: AnonymousRights {
                anonymous_local: Right::Admin,
                anonymous_remote: Right::None,
            },
            ..VfsPolicy::default()
        })
        .expect("policy"),
    );
    let root = vfs.as_caller(&Caller::AnonymousLocal);
    for rel in rels {
        let bytes = std::fs::read(state.join("etc").join(rel)).expect("read");
        root.write(&etc.join(rel).expect("path"), &bytes, WriteMode::Replace)
            .expect("write");
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    state: PathBuf,
    rewrite_state: PathBuf,
    rels: Vec<String>,
}

fn fixture(n: usize) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let rewrite_state = dir.path().join("rewrite");
    let rels = make_tree(&state, n);
    make_tree(&rewrite_state, n);
    Fixture {
        _dir: dir,
        state,
        rewrite_state,
        rels,
    }
}

fn benches(c: &mut Criterion) {
    let fixtures: Vec<(usize, Fixture)> = SIZES.iter().map(|&n| (n, fixture(n))).collect();
    // Let every mtime fall out of the racy window, as for a config tree edited earlier.
    std::thread::sleep(Duration::from_millis(1_100));

    for (n, fx) in &fixtures {
        settle();
        let mut group = c.benchmark_group(format!("mount_etc/{n}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));

        let etc = fx.state.join("etc");
        group.bench_function("bare_walk_lstat", |b| b.iter(|| black_box(bare_walk(&etc))));

        let store = confd::StateDir::at(&fx.state).vfs_metastore();
        // The fixed part of a durable first boot: create the store file and make one commit
        // durable (redb's create, commit and close each fsync). Independent of the tree size.
        let scratch = fx.state.join("var/lib/scratch.redb");
        group.bench_function("store_create_and_commit", |b| {
            b.iter_batched(
                || {
                    let _ = std::fs::remove_file(&scratch);
                },
                |()| {
                    let s = RedbMetastore::open(&scratch).expect("store");
                    s.commit(&Batch {
                        puts: vec![(String::new(), root_entry())],
                        ..Batch::default()
                    })
                    .expect("commit");
                    s
                },
                BatchSize::PerIteration,
            );
        });

        // Until `/etc` is mounted and serving: the store's file is then still being created
        // in the background. The `Vfs` is returned so that its drop, which waits for that
        // creation and closes the store, is not timed.
        group.bench_function("first_boot", |b| {
            b.iter_batched(
                || {
                    let _ = std::fs::remove_file(&store);
                },
                |()| {
                    let mut vfs = Vfs::new();
                    let report = mount_etc(&mut vfs, &fx.state).expect("boot");
                    (vfs, report)
                },
                BatchSize::PerIteration,
            );
        });

        // Until the store is also on disk (created, first commit durable, renamed into place).
        group.bench_function("first_boot_until_durable", |b| {
            b.iter_batched(
                || {
                    let _ = std::fs::remove_file(&store);
                },
                |()| {
                    let mut vfs = Vfs::new();
                    mount_etc(&mut vfs, &fx.state).expect("boot");
                    vfs.flush().expect("store created");
                    vfs
                },
                BatchSize::PerIteration,
            );
        });

        // A store that has seen the tree and hashed every file, as after a session.
        {
            let _ = std::fs::remove_file(&store);
            let mut vfs = Vfs::new();
            mount_etc(&mut vfs, &fx.state).expect("boot");
            for rel in &fx.rels {
                vfs.as_caller(&Caller::AnonymousLocal)
                    .stat(&format!("/etc/{rel}").parse().expect("path"))
                    .expect("stat");
            }
        }
        let warm = mount_etc(&mut Vfs::new(), &fx.state).expect("boot");
        assert!(!warm.committed && warm.rehashed == 0, "{warm:?}");
        group.bench_function("unchanged_reboot", |b| {
            b.iter(|| {
                let report = mount_etc(&mut Vfs::new(), &fx.state).expect("boot");
                assert!(!report.committed);
                black_box(report)
            });
        });

        // One read of a small file through the mounted VFS, its etag already stored: open,
        // `fstat`, read, hash, compare with the entry.
        let mut vfs = Vfs::new();
        mount_etc(&mut vfs, &fx.state).expect("boot");
        let file: VfsPath = format!("/etc/{}", fx.rels[0]).parse().expect("path");
        // As the default policy's anonymous local caller: the access check is part of it.
        let local = vfs.as_caller(&Caller::AnonymousLocal);
        group.bench_function("read", |b| {
            b.iter(|| black_box(local.read(&file).expect("read")));
        });
        drop(vfs);

        group.finish();
    }

    // The rewrite boots last: they leave thousands of dirty pages whose writeback would slow
    // the fsyncs of whatever runs next.
    for (n, fx) in &fixtures {
        settle();
        let mut group = c.benchmark_group(format!("mount_etc/{n}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        let rewrite_store = confd::StateDir::at(&fx.rewrite_state).vfs_metastore();
        group.bench_function("rewrite_every_file", |b| {
            b.iter(|| rewrite_boot(&fx.rewrite_state, &rewrite_store, &fx.rels));
        });
        group.finish();
    }
}

/// Flushes dirty pages so one benchmark's writeback does not land in the next one's fsyncs.
fn settle() {
    let _ = std::process::Command::new("sync").status();
}

criterion_group!(mount, benches);
criterion_main!(mount);

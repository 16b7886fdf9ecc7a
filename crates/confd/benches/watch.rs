//! Live reload: edit-to-event latency and the cost of `current()`.
//!
//! The latency part is a plain loop, not a criterion benchmark: each sample
//! is one real edit (an editor-style save: temp file, then rename) timed
//! until its `Reloaded` event arrives, with the default debounce. It prints
//! the median, p99 and maximum over `EDITS` edits. The `current()` part is
//! criterion's.
//!
//! `cargo bench -p confd --bench watch`; with `-- --test` (as `cargo test
//! --benches` does) everything runs a few times only, as a smoke test.

use std::hint::black_box;
use std::time::{Duration, Instant};

use confd::{Loader, watch::WatchEvent, watch::Watcher};
use criterion::Criterion;

const EDITS: usize = 250;

fn loader(root: &std::path::Path) -> Loader {
    Loader::new()
        .state_dir(root)
        .env(std::iter::empty::<(String, String)>())
}

/// Saves `conf.d/mounts` the way editors do, so a reload never reads a
/// half-written file.
fn save(conf_d: &std::path::Path, on: bool) {
    let temp = conf_d.join(".mounts.tmp");
    std::fs::write(&temp, format!("auto_sync = {on}\n")).expect("write");
    std::fs::rename(&temp, conf_d.join("mounts")).expect("rename");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn edit_to_event(edits: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let conf_d = dir.path().join("etc/conf.d");
    std::fs::create_dir_all(&conf_d).expect("conf.d");
    save(&conf_d, false);
    let watch = Watcher::new(loader(dir.path()))
        .watch("mounts")
        .expect("watch");

    let mut samples = Vec::with_capacity(edits);
    for i in 0..edits {
        let on = i % 2 == 0;
        let start = Instant::now();
        save(&conf_d, on);
        loop {
            match watch.events().recv_timeout(Duration::from_secs(10)) {
                Ok(WatchEvent::Reloaded(r))
                    if r.config.get::<bool>("auto_sync").ok().flatten() == Some(on) =>
                {
                    samples.push(start.elapsed());
                    break;
                }
                Ok(_) => {}
                Err(e) => panic!("no event for edit {i}: {e}"),
            }
        }
        // Let the edits stand apart, as a person's do, so each sample pays
        // the full debounce rather than riding on the previous one.
        std::thread::sleep(Duration::from_millis(5));
    }
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "watch/edit_to_event: {} edits, debounce {} ms: median {:.1} ms, p99 {:.1} ms, max {:.1} ms, min {:.1} ms",
        samples.len(),
        confd::watch::DEFAULT_DEBOUNCE.as_millis(),
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.99)),
        ms(samples[samples.len() - 1]),
        ms(samples[0]),
    );
}

fn current(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("etc/conf.d")).expect("conf.d");
    let watch = Watcher::new(loader(dir.path()))
        .watch("cache")
        .expect("watch");
    let reader = watch.reader();
    c.bench_function("watch/current", |b| b.iter(|| black_box(watch.current())));
    c.bench_function("watch/reader_current", |b| {
        b.iter(|| black_box(reader.current()))
    });
    // The same read while another thread reads too, as workers would.
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let other = watch.reader();
        let stop = &stop;
        scope.spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                black_box(other.current());
            }
        });
        c.bench_function("watch/current_contended", |b| {
            b.iter(|| black_box(reader.current()))
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--test");
    edit_to_event(if smoke { 5 } else { EDITS });
    let mut c = Criterion::default().configure_from_args();
    current(&mut c);
    c.final_summary();
}

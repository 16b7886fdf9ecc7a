//! Loading a brick: confd against figment, config-rs and the floor (reading
//! the files and `toml::from_str` on each, with no merging), all doing the
//! same layering on the same files in the same run.
//!
//! Fixture (generated here): a brick whose profile defaults have 50 keys in 5
//! nested tables, a main file setting all 50, 3 drop-ins, 2 deprecated
//! environment variables and 1 `--set`; and a state dir of 100 such bricks.
//! The untyped case is the same files under an unregistered name (no
//! defaults, no environment layer), one `--set`, deserialized into a
//! `toml::Table`.
//! Run: `cargo bench -p confd --bench load` (see BENCHMARKS.md).
#![allow(missing_docs, clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use confd::bricks::{EnvAlias, Schema};
use confd::{Brick, BrickConfig, Error, Loader, Profile};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};

/// Ten keys of every TOML type a brick typically has.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Section {
    a: i64,
    b: String,
    c: bool,
    d: f64,
    e: i64,
    f: String,
    g: bool,
    h: i64,
    i: String,
    j: Vec<i64>,
}

impl Default for Section {
    fn default() -> Self {
        Section {
            a: 1,
            b: "default".into(),
            c: false,
            d: 0.5,
            e: 300,
            f: "http://localhost:6070".into(),
            g: true,
            h: 1024,
            i: String::new(),
            j: vec![1, 2, 3],
        }
    }
}

/// A brick of `n` sections (`s0` … `sN`), 10 keys each.
type Sections = BTreeMap<String, Section>;

fn default_sections(n: usize) -> Sections {
    (0..n)
        .map(|i| (format!("s{i}"), Section::default()))
        .collect()
}

/// The two deprecated variables, named so that every peer can map them.
const ENV_A: &str = "BENCH__S0__A";
const ENV_B: &str = "BENCH__S3__C";
const ALIASES: &[EnvAlias] = &[
    EnvAlias::new(&[ENV_A], "s0.a"),
    EnvAlias::new(&[ENV_B], "s3.c"),
];

/// The 50-key brick as a typed brick, for the cached path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
struct Bench(Sections);

impl Brick for Bench {
    const NAME: &'static str = "bench";
    const ENV_ALIASES: &'static [EnvAlias] = ALIASES;
    fn defaults(_: Profile) -> Self {
        Bench(default_sections(5))
    }
}

/// The same brick under any name and size, for the boot and the sweep.
struct RuntimeSchema {
    name: &'static str,
    sections: usize,
}

impl Schema for RuntimeSchema {
    fn name(&self) -> &'static str {
        self.name
    }
    fn defaults(&self, _: Profile) -> toml::Table {
        toml::Table::try_from(default_sections(self.sections)).expect("serializable")
    }
    fn env_aliases(&self) -> &'static [EnvAlias] {
        ALIASES
    }
    fn secret_keys(&self) -> &'static [&'static str] {
        &[]
    }
    fn check(&self, config: &BrickConfig) -> Result<(), Error> {
        config
            .deserialize::<Sections>()
            .map(drop)
            .map_err(Error::from)
    }
    fn cache_id(&self) -> Option<&'static str> {
        Some(self.name)
    }
}

/// A brick's files on disk.
struct Fixture {
    main: PathBuf,
    drop_ins: Vec<PathBuf>,
    drop_in_dir: PathBuf,
}

impl Fixture {
    fn files(&self) -> impl Iterator<Item = &PathBuf> {
        std::iter::once(&self.main).chain(&self.drop_ins)
    }
}

fn write_brick(conf_d: &Path, name: &str, sections: usize) -> Fixture {
    let mut main = String::from("# generated main file\n");
    for s in 0..sections {
        let _ = writeln!(
            main,
            "\n[s{s}]\na = 1{s}\nb = \"main-{s}\"\nc = true\nd = 1.25\ne = 60\nf = \"redis://cache:6379\"\ng = false\nh = 2048\ni = \"x\"\nj = [4, 5]"
        );
    }
    let main_path = conf_d.join(name);
    std::fs::write(&main_path, main).unwrap();
    let dir = conf_d.join(format!("{name}.d"));
    std::fs::create_dir_all(&dir).unwrap();
    let drop_ins: Vec<PathBuf> = (0..3)
        .map(|k| {
            let path = dir.join(format!("{k}0-drop.toml"));
            let s = k % sections;
            std::fs::write(
                &path,
                format!("[s{s}]\ne = {k}\nb = \"drop-in-{k}\"\nj = [{k}]\n"),
            )
            .unwrap();
            path
        })
        .collect();
    Fixture {
        main: main_path,
        drop_ins,
        drop_in_dir: dir,
    }
}

/// A cold typed load of the 50-key brick (the cache is off).
fn confd_load(state: &Path) -> Sections {
    let typed: Bench = Loader::new()
        .state_dir(state)
        .cache(false)
        .cli_override("bench.s4.b", "override")
        .load_typed()
        .unwrap();
    typed.0
}

/// A cold load of a brick with a schema built at run time; the schema's
/// check deserializes it into `Sections`, as the peers' extraction does.
fn confd_load_schema(state: &Path, schema: &RuntimeSchema) -> BrickConfig {
    Loader::new()
        .state_dir(state)
        .cache(false)
        .cli_override(format!("{}.s4.b", schema.name), "override")
        .load_schema(schema)
        .unwrap()
}

/// A cold load of an unregistered brick, deserialized into a plain table.
fn confd_load_untyped(state: &Path) -> toml::Table {
    Loader::new()
        .state_dir(state)
        .cache(false)
        .cli_override("plain.s4.b", "override")
        .load("plain")
        .unwrap()
        .deserialize()
        .unwrap()
}

/// Figment on the unregistered brick's files: no defaults, no environment.
fn figment_load_untyped(fixture: &Fixture) -> toml::Table {
    use figment::Figment;
    use figment::providers::{Format, Serialized, Toml};
    let mut figment = Figment::new();
    for file in fixture.files() {
        figment = figment.merge(Toml::file_exact(file));
    }
    figment
        .merge(Serialized::default("s4.b", "override"))
        .extract()
        .unwrap()
}

/// config-rs on the unregistered brick's files: no defaults, no environment.
fn config_rs_load_untyped(fixture: &Fixture) -> toml::Table {
    use config::{Config, File, FileFormat};
    let mut builder = Config::builder();
    for file in fixture.files() {
        builder = builder.add_source(File::new(file.to_str().unwrap(), FileFormat::Toml));
    }
    builder
        .set_override("s4.b", "override")
        .unwrap()
        .build()
        .unwrap()
        .try_deserialize()
        .unwrap()
}

fn figment_load(fixture: &Fixture, sections: usize) -> Sections {
    use figment::Figment;
    use figment::providers::{Env, Format, Serialized, Toml};
    let mut figment = Figment::from(Serialized::defaults(default_sections(sections)));
    for file in fixture.files() {
        figment = figment.merge(Toml::file_exact(file));
    }
    figment
        .merge(Env::prefixed("BENCH__").split("__"))
        .merge(Serialized::default("s4.b", "override"))
        .extract()
        .unwrap()
}

fn config_rs_load(fixture: &Fixture, sections: usize) -> Sections {
    use config::{Config, Environment, File, FileFormat};
    let mut builder = Config::builder();
    for (section, values) in default_sections(sections) {
        let table = toml::Table::try_from(values).unwrap();
        for (key, value) in table {
            let value: config::Value = match value {
                toml::Value::Integer(i) => i.into(),
                toml::Value::String(s) => s.into(),
                toml::Value::Boolean(b) => b.into(),
                toml::Value::Float(f) => f.into(),
                toml::Value::Array(a) => a
                    .into_iter()
                    .map(|v| v.as_integer().unwrap())
                    .collect::<Vec<_>>()
                    .into(),
                other => panic!("unexpected {other:?}"),
            };
            builder = builder
                .set_default(format!("{section}.{key}"), value)
                .unwrap();
        }
    }
    for file in fixture.files() {
        builder = builder.add_source(File::new(file.to_str().unwrap(), FileFormat::Toml));
    }
    builder
        .add_source(
            Environment::with_prefix("BENCH")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        )
        .set_override("s4.b", "override")
        .unwrap()
        .build()
        .unwrap()
        .try_deserialize()
        .unwrap()
}

/// The floor: read each file and parse it, no merging. Not inlined, so
/// `valgrind --tool=callgrind --toggle-collect=load::floor` can count it.
#[inline(never)]
fn floor(fixture: &Fixture) -> usize {
    fixture
        .files()
        .map(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            toml::from_str::<toml::Table>(&text).unwrap().len()
        })
        .sum()
}

/// One `stat` of each of a brick's files: the floor of a repeated load.
fn stat_floor(fixture: &Fixture) -> u64 {
    std::iter::once(&fixture.main)
        .chain(std::iter::once(&fixture.drop_in_dir))
        .chain(&fixture.drop_ins)
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

fn leak(name: String) -> &'static str {
    Box::leak(name.into_boxed_str())
}

fn benches(c: &mut Criterion) {
    // The process environment is how all three read deprecated variables.
    unsafe {
        std::env::set_var(ENV_A, "77");
        std::env::set_var(ENV_B, "false");
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    let conf_d = state.join("etc/conf.d");
    std::fs::create_dir_all(&conf_d).unwrap();
    let one = write_brick(&conf_d, "bench", 5);
    // Every peer must produce the same configuration before it is timed.
    let expected = confd_load(state);
    assert_eq!(expected["s0"].a, 77, "env layer");
    assert!(!expected["s3"].c, "env layer");
    assert_eq!(expected["s4"].b, "override", "--set layer");
    assert_eq!(expected["s0"].e, 0, "drop-in layer");
    assert_eq!(figment_load(&one, 5), expected, "figment disagrees");
    assert_eq!(config_rs_load(&one, 5), expected, "config-rs disagrees");
    let schema = RuntimeSchema {
        name: "bench",
        sections: 5,
    };
    assert_eq!(
        confd_load_schema(state, &schema)
            .deserialize::<Sections>()
            .unwrap(),
        expected
    );

    let plain = write_brick(&conf_d, "plain", 5);
    let untyped = confd_load_untyped(state);
    assert_eq!(untyped["s4"]["b"].as_str(), Some("override"), "--set layer");
    assert_eq!(untyped["s0"]["e"].as_integer(), Some(0), "drop-in layer");
    assert_eq!(figment_load_untyped(&plain), untyped, "figment disagrees");
    assert_eq!(
        config_rs_load_untyped(&plain),
        untyped,
        "config-rs disagrees"
    );
    let mut cold_untyped = c.benchmark_group("cold_load_untyped_50_keys");
    cold_untyped.bench_function("confd", |b| b.iter(|| black_box(confd_load_untyped(state))));
    cold_untyped.bench_function("figment", |b| {
        b.iter(|| black_box(figment_load_untyped(&plain)))
    });
    cold_untyped.bench_function("config-rs", |b| {
        b.iter(|| black_box(config_rs_load_untyped(&plain)))
    });
    cold_untyped.bench_function("floor_read_parse", |b| b.iter(|| black_box(floor(&plain))));
    cold_untyped.finish();

    let mut cold = c.benchmark_group("cold_load_typed_50_keys");
    cold.bench_function("confd", |b| b.iter(|| black_box(confd_load(state))));
    cold.bench_function("figment", |b| b.iter(|| black_box(figment_load(&one, 5))));
    cold.bench_function("config-rs", |b| {
        b.iter(|| black_box(config_rs_load(&one, 5)))
    });
    cold.bench_function("floor_read_parse", |b| b.iter(|| black_box(floor(&one))));
    cold.finish();

    // Files younger than the racy window are never cached; let them age.
    std::thread::sleep(Duration::from_millis(2_200));
    let loader = Loader::new()
        .state_dir(state)
        .cli_override("bench.s4.b", "override");
    let bench_schema = confd::bricks::schema_of::<Bench>();
    let first = loader.load_schema(bench_schema).unwrap();
    assert!(
        first.is_same_load(&loader.load_schema(bench_schema).unwrap()),
        "repeated load was not cached"
    );
    let mut repeated = c.benchmark_group("repeated_load_unchanged");
    repeated.bench_function("confd", |b| {
        b.iter(|| black_box(loader.load_schema(bench_schema).unwrap()))
    });
    repeated.bench_function("floor_stat_files", |b| {
        b.iter(|| black_box(stat_floor(&one)))
    });
    repeated.finish();

    let bricks: Vec<(&'static str, Fixture)> = (0..100)
        .map(|i| {
            let name = leak(format!("boot-{i:03}"));
            (name, write_brick(&conf_d, name, 5))
        })
        .collect();
    let schemas: Vec<RuntimeSchema> = bricks
        .iter()
        .map(|(name, _)| RuntimeSchema { name, sections: 5 })
        .collect();
    let mut boot = c.benchmark_group("boot_100_bricks");
    boot.sample_size(20);
    boot.bench_function("confd", |b| {
        b.iter(|| {
            schemas
                .iter()
                .map(|s| confd_load_schema(state, s).table().len())
                .sum::<usize>()
        })
    });
    boot.bench_function("figment", |b| {
        b.iter(|| {
            bricks
                .iter()
                .map(|(_, f)| figment_load(f, 5).len())
                .sum::<usize>()
        })
    });
    boot.bench_function("config-rs", |b| {
        b.iter(|| {
            bricks
                .iter()
                .map(|(_, f)| config_rs_load(f, 5).len())
                .sum::<usize>()
        })
    });
    boot.bench_function("floor_read_parse", |b| {
        b.iter(|| bricks.iter().map(|(_, f)| floor(f)).sum::<usize>())
    });
    boot.finish();

    // Load time against number of keys, for the plot in BENCHMARKS.md.
    let mut sweep = c.benchmark_group("keys_sweep");
    sweep.sample_size(20);
    for sections in [5, 10, 20, 50, 100] {
        let keys = sections * 10;
        let name = leak(format!("sweep-{keys}"));
        let fixture = write_brick(&conf_d, name, sections);
        let schema = RuntimeSchema { name, sections };
        sweep.bench_with_input(BenchmarkId::new("confd", keys), &keys, |b, _| {
            b.iter(|| confd_load_schema(state, &schema).table().len())
        });
        sweep.bench_with_input(BenchmarkId::new("figment", keys), &keys, |b, _| {
            b.iter(|| figment_load(&fixture, sections).len())
        });
        sweep.bench_with_input(BenchmarkId::new("config-rs", keys), &keys, |b, _| {
            b.iter(|| config_rs_load(&fixture, sections).len())
        });
        sweep.bench_with_input(BenchmarkId::new("floor", keys), &keys, |b, _| {
            b.iter(|| floor(&fixture))
        });
    }
    sweep.finish();
}

criterion_group! {
    name = load;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(load);

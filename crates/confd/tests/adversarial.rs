//! The hostile inputs of the adversarial matrix (RELIABILITY.md): every bad
//! input of DESIGN.md §4 and a few more, each laid out in a fresh state dir.
//! Shared by the library matrix (`crates/confd/tests/matrix.rs`) and the
//! binary matrix (`tests/matrix.rs`), which include this file by path.

#![allow(dead_code)] // each includer uses its own part

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

/// How deep the "absurdly nested" inputs go.
pub const DEEP: usize = 10_000;

/// How many drop-ins the "many drop-ins" input has.
pub const MANY_DROP_INS: usize = 10_000;

/// What a correct load of an input ends in.
#[derive(Clone, Debug)]
pub enum Expect {
    /// The input is valid: the brick loads.
    Loads,
    /// The load fails with an error holding each of these texts (`[CONF]`
    /// stands for the `conf.d` path).
    Fails(Vec<&'static str>),
}

/// One hostile input.
pub struct Case {
    /// A short name, used in failure messages.
    pub name: &'static str,
    /// The brick it targets.
    pub brick: &'static str,
    /// A key of that brick that `nexus config set` may set.
    pub set_key: &'static str,
    /// Environment variables for the load.
    pub env: Vec<(&'static str, String)>,
    /// `--set` overrides (`brick.key`, value).
    pub overrides: Vec<(String, String)>,
    /// Lays the input out in `conf.d`.
    pub setup: Box<dyn Fn(&Path)>,
    /// What the load must end in.
    pub expect: Expect,
}

fn write(conf_d: &Path, relative: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = conf_d.join(relative);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, bytes).expect("write");
    path
}

fn mkfifo(path: &Path) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .expect("mkfifo");
}

fn case(
    name: &'static str,
    brick: &'static str,
    set_key: &'static str,
    setup: impl Fn(&Path) + 'static,
    expect: Expect,
) -> Case {
    Case {
        name,
        brick,
        set_key,
        env: Vec::new(),
        overrides: Vec::new(),
        setup: Box::new(setup),
        expect,
    }
}

fn fails(texts: &[&'static str]) -> Expect {
    Expect::Fails(texts.to_vec())
}

/// Whether this process can read any file whatever its mode.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Every input, in a fixed order.
pub fn cases() -> Vec<Case> {
    let deep_inline = format!("kv_size = {}1{}\n", "{ a = ".repeat(DEEP), "}".repeat(DEEP));
    let deep_header = format!("[{}a]\nx = 1\n", "a.".repeat(DEEP - 1));
    let deep_array_of_tables = format!("[[{}a]]\nx = 1\n", "a.".repeat(DEEP - 1));
    let deep_dotted = format!("{}a = 1\n", "a.".repeat(DEEP - 1));
    let deep_literal = format!("{}{}", "[".repeat(DEEP), "]".repeat(DEEP));
    let mut all = vec![
        case(
            "malformed_toml",
            "cache",
            "kv_size",
            |c| drop(write(c, "cache", "backend = \"auto\"\nkv_size = = 5\n")),
            fails(&["malformed TOML at `[CONF]/cache:2:11`"]),
        ),
        case(
            "malformed_toml_in_a_drop_in",
            "cache",
            "kv_size",
            |c| drop(write(c, "cache.d/50-x.toml", "[oops\n")),
            fails(&["malformed TOML at `[CONF]/cache.d/50-x.toml:1:"]),
        ),
        case(
            "wrong_type",
            "uploads",
            "max_concurrent",
            |c| drop(write(c, "uploads", "max_concurrent = \"four\"\n")),
            fails(&[
                "invalid type for `uploads.max_concurrent` at `[CONF]/uploads:1:18`",
                "expected integer, found string",
            ]),
        ),
        case(
            "failed_validation",
            "uploads",
            "max_concurrent",
            |c| drop(write(c, "uploads", "min_chunk_size = 900000000\n")),
            fails(&["invalid `uploads` configuration", "[CONF]/uploads:1:18"]),
        ),
        case(
            "unknown_key_is_a_warning",
            "cache",
            "kv_size",
            |c| drop(write(c, "cache", "kv_sise = 1\n")),
            Expect::Loads,
        ),
        case(
            "not_utf8",
            "cache",
            "kv_size",
            |c| drop(write(c, "cache", b"backend = \"\xff\"\n")),
            fails(&["`[CONF]/cache:1:12` is not valid UTF-8"]),
        ),
        case(
            "directory_where_a_file_belongs",
            "cache",
            "kv_size",
            |c| std::fs::create_dir_all(c.join("cache")).expect("mkdir"),
            fails(&["`[CONF]/cache` is a directory"]),
        ),
        case(
            "file_where_the_drop_in_directory_belongs",
            "cache",
            "kv_size",
            |c| drop(write(c, "cache.d", "kv_size = 1\n")),
            fails(&["`[CONF]/cache.d` is not a directory"]),
        ),
        case(
            "over_one_mib",
            "cache",
            "kv_size",
            |c| {
                let mut text = "# padding\n".repeat(110_000);
                text.push_str("kv_size = 1\n");
                drop(write(c, "cache", text));
            },
            fails(&["`[CONF]/cache` is 1100012 bytes", "limited to 1 MiB"]),
        ),
        case(
            "symlink_loop",
            "cache",
            "kv_size",
            |c| {
                symlink("loop-b", c.join("cache")).expect("symlink");
                symlink("cache", c.join("loop-b")).expect("symlink");
            },
            fails(&["`[CONF]/cache`"]),
        ),
        case(
            "dangling_symlink",
            "cache",
            "kv_size",
            |c| symlink("nowhere", c.join("cache")).expect("symlink"),
            fails(&["`[CONF]/cache` is a dangling symlink"]),
        ),
        case(
            "permission_denied",
            "cache",
            "kv_size",
            |c| {
                let path = write(c, "cache", "kv_size = 1\n");
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000))
                    .expect("chmod");
            },
            // Root reads any file: there the input is valid.
            if is_root() {
                Expect::Loads
            } else {
                fails(&["cannot read `[CONF]/cache`", "ermission denied"])
            },
        ),
        case(
            "empty_file",
            "cache",
            "kv_size",
            |c| drop(write(c, "cache", "")),
            Expect::Loads,
        ),
        case(
            "comment_only_file",
            "cache",
            "kv_size",
            |c| drop(write(c, "cache", "# kv_size = 1\n#\n   # nothing\n")),
            Expect::Loads,
        ),
        case(
            "byte_order_mark",
            "cache",
            "kv_size",
            |c| drop(write(c, "cache", "\u{feff}kv_size = 7\n")),
            Expect::Loads,
        ),
        case(
            "crlf_line_endings",
            "cache",
            "kv_size",
            |c| {
                drop(write(
                    c,
                    "cache",
                    "# crlf\r\nkv_size = 7\r\nbackend = \"null\"\r\n",
                ))
            },
            Expect::Loads,
        ),
        case(
            "duplicate_keys",
            "cache",
            "kv_size",
            |c| drop(write(c, "cache", "kv_size = 1\nkv_size = 2\n")),
            fails(&["malformed TOML at `[CONF]/cache:2:1`", "duplicate key"]),
        ),
        case(
            "nul_byte",
            "cache",
            "kv_size",
            |c| drop(write(c, "cache", "kv_size = 1\0\n")),
            fails(&["malformed TOML at `[CONF]/cache:1:"]),
        ),
        case(
            "deep_inline_tables",
            "cache",
            "kv_size",
            move |c| drop(write(c, "cache", &deep_inline)),
            fails(&["[CONF]/cache:1:", "nest deeper than 64"]),
        ),
        case(
            "deep_table_header",
            "fuzzed",
            "x",
            move |c| drop(write(c, "fuzzed", &deep_header)),
            // The TOML parser refuses these itself (its guard stops at 80 segments).
            fails(&[
                "malformed TOML at `[CONF]/fuzzed:1:1`",
                "nest deeper than 64 levels",
            ]),
        ),
        case(
            "deep_array_of_tables",
            "fuzzed",
            "x",
            move |c| drop(write(c, "fuzzed", &deep_array_of_tables)),
            // The TOML parser refuses these itself (its guard stops at 80 segments).
            fails(&[
                "malformed TOML at `[CONF]/fuzzed:1:1`",
                "nest deeper than 64 levels",
            ]),
        ),
        case(
            "deep_dotted_key",
            "fuzzed",
            "x",
            move |c| drop(write(c, "fuzzed", &deep_dotted)),
            // The TOML parser refuses these itself (its guard stops at 80 segments).
            fails(&[
                "malformed TOML at `[CONF]/fuzzed:1:1`",
                "nest deeper than 64 levels",
            ]),
        ),
        case(
            // Each form stays under the TOML parser's guard; together they nest too deep.
            "deep_header_and_dotted_key_together",
            "fuzzed",
            "x",
            |c| {
                let path = vec!["a"; 40].join(".");
                drop(write(c, "fuzzed", format!("[{path}]\n{path} = 1\n")));
            },
            fails(&[
                "malformed TOML at `[CONF]/fuzzed:2:",
                "nest deeper than 64 levels",
            ]),
        ),
        case(
            "deep_inline_tables_under_a_deep_header",
            "fuzzed",
            "x",
            |c| {
                let header = vec!["a"; 50].join(".");
                let inline = format!("{}1{}", "{ b = ".repeat(30), " }".repeat(30));
                drop(write(c, "fuzzed", format!("[{header}]\nk = {inline}\n")));
            },
            fails(&[
                "malformed TOML at `[CONF]/fuzzed:2:",
                "nest deeper than 64 levels",
            ]),
        ),
        case(
            "many_drop_ins",
            "cache",
            "kv_size",
            |c| {
                for i in 0..MANY_DROP_INS {
                    drop(write(
                        c,
                        &format!("cache.d/{i:05}.toml"),
                        format!("kv_size = {i}\n"),
                    ));
                }
            },
            Expect::Loads,
        ),
        case(
            "fifo_as_the_main_file",
            "cache",
            "kv_size",
            |c| mkfifo(&c.join("cache")),
            fails(&["`[CONF]/cache` is a FIFO"]),
        ),
        case(
            "fifo_as_a_drop_in",
            "cache",
            "kv_size",
            |c| mkfifo(&c.join("cache.d/50-fifo.toml")),
            Expect::Loads,
        ),
        case(
            "device_as_the_main_file",
            "cache",
            "kv_size",
            |c| symlink("/dev/null", c.join("cache")).expect("symlink"),
            fails(&["`[CONF]/cache` is a device"]),
        ),
        case(
            "device_as_a_drop_in",
            "cache",
            "kv_size",
            |c| {
                std::fs::create_dir_all(c.join("cache.d")).expect("mkdir");
                symlink("/dev/zero", c.join("cache.d/50-zero.toml")).expect("symlink");
            },
            Expect::Loads,
        ),
        case(
            "secret_in_a_malformed_file",
            "llm",
            "model",
            |c| drop(write(c, "llm", "api_key = \"sk-canary-77\" junk\n")),
            fails(&["malformed TOML at `[CONF]/llm:1:", "api_key = <redacted>"]),
        ),
    ];
    let mut deep_env = case(
        "deep_literal_in_an_env_var",
        "cache",
        "kv_size",
        |_| {},
        fails(&[
            "`cache.kv_size` from `env NEXUS_CACHE_KV_SIZE`",
            "expected integer",
        ]),
    );
    deep_env.env = vec![("NEXUS_CACHE_KV_SIZE", deep_literal.clone())];
    all.push(deep_env);
    let mut deep_set = case(
        "deep_literal_in_a_set",
        "fuzzed",
        "x",
        |_| {},
        // An unknown key takes any literal; one this deep is kept as a string.
        Expect::Loads,
    );
    deep_set.overrides = vec![("fuzzed.x".to_owned(), deep_literal)];
    all.push(deep_set);
    // 65,000 segments: a stack overflow once, and 20,000 took 20 s.
    let mut deep_key = case(
        "deep_key_path_in_a_set",
        "fuzzed",
        "x",
        |_| {},
        fails(&["invalid override", "a key path is at most 1024 bytes"]),
    );
    deep_key.overrides = vec![(format!("fuzzed{}", ".a".repeat(65_000)), "1".to_owned())];
    all.push(deep_key);
    let mut deep_short_key = case(
        "key_path_of_65_segments_in_a_set",
        "fuzzed",
        "x",
        |_| {},
        fails(&["invalid override", "a key path has at most 64 segments"]),
    );
    deep_short_key.overrides = vec![(format!("fuzzed{}", ".a".repeat(65)), "1".to_owned())];
    all.push(deep_short_key);
    // The deepest key path with the deepest literal the TOML parser takes
    // under it: legal, and every renderer must cope on a 2 MiB stack.
    let mut deepest = case(
        "deepest_literal_under_the_deepest_key_in_a_set",
        "fuzzed",
        "x",
        |_| {},
        Expect::Loads,
    );
    let literal = format!("{}1{}", "{ a = [".repeat(39), "] }".repeat(39));
    deepest.overrides = vec![(format!("fuzzed{}", ".a".repeat(64)), literal)];
    all.push(deepest);
    all
}

/// One file or directory of a tree, as it was: kind, size, mtime and, for
/// regular files, a content hash. FIFOs and devices are never opened.
#[derive(Debug, PartialEq, Eq)]
pub struct Seen {
    pub path: PathBuf,
    pub kind: String,
    pub len: u64,
    pub mtime: (i64, i64),
    pub hash: Option<String>,
}

/// Everything below `root`, without following symlinks.
pub fn snapshot(root: &Path) -> Vec<Seen> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let kind = format!("{:?}", meta.file_type());
        // Root reads a mode-000 file too; others cannot and need not.
        let hash = meta
            .is_file()
            .then(|| std::fs::read(&path).ok())
            .flatten()
            .map(|bytes| confd::shipped::content_hash(&bytes).to_string());
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read_dir") {
                stack.push(entry.expect("entry").path());
            }
        }
        out.push(Seen {
            path,
            kind,
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            hash,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// How long one run of an entry point may take before it is killed and its
/// input fails. Generous: this bounds hangs, it does not measure speed.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// The address space a child may map: a debug binary needs well under this;
/// a runaway allocation fails with an allocation error (an abort).
pub const MEMORY_LIMIT: u64 = 2 << 30;

/// Runs `command` with its stdout and stderr captured, under
/// `setrlimit(RLIMIT_AS)` of [`MEMORY_LIMIT`] (set in a `pre_exec` hook), and
/// kills it after [`TIMEOUT`]. Returns how it ended and what it printed.
pub fn run_bounded(
    mut command: std::process::Command,
) -> Result<(std::process::ExitStatus, Vec<u8>, Vec<u8>), String> {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            let limit = rustix::process::Rlimit {
                current: Some(MEMORY_LIMIT),
                maximum: Some(MEMORY_LIMIT),
            };
            rustix::process::setrlimit(rustix::process::Resource::As, limit)
                .map_err(std::io::Error::from)
        });
    }
    let mut child = command.spawn().map_err(|e| format!("cannot spawn: {e}"))?;
    // Drain the pipes while waiting, so a chatty child cannot block on them.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            child.kill().expect("kill");
            let _ = child.wait();
            return Err(format!("ran longer than {TIMEOUT:?} and was killed"));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    Ok((
        status,
        stdout.join().expect("stdout"),
        stderr.join().expect("stderr"),
    ))
}
